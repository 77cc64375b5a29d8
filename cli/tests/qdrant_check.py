"""Checks a `vecsieve export` against Qdrant's own code (the qdrant-client package pinned in
qdrant-requirements.txt): every body must validate as the request model Qdrant's API takes,
and the export, loaded into the client's local mode (the same API, in process), must give
exact top-k results. Prints {"ids": [[...], ...]} for the queries, one list per query.

usage: qdrant_check.py EXPORT_DIR QUERIES.fvecs N_QUERIES LIMIT
"""
import json
import pathlib
import sys
import tempfile

import numpy as np
from qdrant_client import QdrantClient, models


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(np.float32)


def main():
    export, queries, n, limit = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    create = models.CreateCollection(**json.loads((export / "collection.json").read_text()))
    batches = []
    i = 0
    while (export / f"points-{i:06}.json").exists():
        batches.append(models.PointsList(**json.loads((export / f"points-{i:06}.json").read_text())))
        i += 1
    with tempfile.TemporaryDirectory() as tmp:
        client = QdrantClient(path=tmp)
        client.create_collection("c", vectors_config=create.vectors, quantization_config=create.quantization_config)
        for b in batches:
            client.upsert("c", points=b.points)
        q = read_fvecs(queries)[:n]
        ids = []
        for row in q:
            hits = client.query_points(
                "c", query=row.tolist(), limit=limit, search_params=models.SearchParams(exact=True)
            ).points
            ids.append([str(h.id) for h in hits])
        client.close()
    print(json.dumps({"ids": ids, "points": sum(len(b.points) for b in batches), "batches": len(batches)}))


if __name__ == "__main__":
    main()
