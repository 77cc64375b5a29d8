#!/usr/bin/env python3
"""vecsieve next to faiss's 1-bit, 2-bit and int8 indexes, on one data set, in one run.

    pip install -r benches/peers-requirements.txt
    cargo build --release
    python benches/peers.py DIR [--oversampling 2,3,4] [--distance cosine] [--queries N]

DIR holds base.fvecs, query.fvecs and groundtruth.ivecs (the layout of data/ and of
../shared/data). Every engine answers one query at a time on one thread, and every
quantized configuration keeps `10 × oversampling` candidates that are then rescored with
the exact distance to the originals (faiss's candidates by numpy, in the timed loop;
vecsieve's by its own rescoring). Printed per configuration: recall@10 against the ground
truth, p50 latency and bytes per vector of the codes searched first (faiss's `code_size`,
its RaBitQ factors included; vecsieve's code bytes).

faiss configurations: sign bits scanned by Hamming distance (IndexBinaryFlat, the method
vecsieve's plain binary codes share with Qdrant), RaBitQ with 1 and 2 bits per dimension
(IndexRaBitQ: centred, rotated codes with per-vector factors, 4-bit queries) and their
FastScan forms (IndexRaBitQFastScan: 32 codes interleaved, lookup tables in registers),
and per-dimension int8 codes (IndexScalarQuantizer, `SQ8`: min..max per dimension, the
ranges vecsieve's `scalar8` trains). Qdrant Edge (qdrant-edge-py, Qdrant's embedded
engine) with int8 and 1-bit binary quantization, one segment without an HNSW graph (m 0),
so that it scans its codes and rescores `limit × oversampling` candidates itself, as
vecsieve does. vecsieve's come from `vecsieve bench --json` on the same folder (one segment);
its rows marked `adaptive` rescore the same pool only until the codes' error bound settles
the top 10 (`SearchParams::adaptive`), and its `scalar8+sketch` rows scan with int8 codes
only the `--sketch-pool` fraction of the rows nearest by the codes' sign sketches
(`SearchParams::sketch_pool`).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np


def fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:].view(np.float32).copy()


def ivecs(path):
    a = np.fromfile(path, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:].copy()


def exact_scores(base, rows, q, distance):
    """Higher is nearer."""
    x = base[rows]
    if distance == "euclid":
        return -((x - q) ** 2).sum(axis=1)
    return x @ q


def result(engine, config, os_, found, times, bytes_per_vector):
    """One printed row: recall@10 from `found` true neighbours over all queries, p50 of
    `times` (seconds)."""
    row = {
        "engine": engine,
        "config": config,
        "oversampling": os_,
        "recall_at_10": found / (10 * len(times)),
        "p50_ms": 1e3 * float(np.median(times)),
        "bytes_per_vector": bytes_per_vector,
    }
    print(f"  {engine} {config} os {os_}: {row['recall_at_10']:.4f}", file=sys.stderr)
    return row


def measure(name, bytes_per_vector, candidates_of, base, queries, truth, distance, oversampling):
    rows = []
    for os_ in oversampling:
        k = 10 * os_
        times, found = [], 0
        for i, q in enumerate(queries):
            t = time.perf_counter()
            cand = candidates_of(q, k)
            cand = cand[cand >= 0]
            top = cand[np.argsort(-exact_scores(base, cand, q, distance))[:10]]
            times.append(time.perf_counter() - t)
            found += len(set(top.tolist()) & set(truth[i].tolist()))
        rows.append(result("faiss", name, os_, found, times, bytes_per_vector))
    return rows


def faiss_rows(base, queries, truth, distance, oversampling):
    faiss.omp_set_num_threads(1)
    metric = faiss.METRIC_L2 if distance == "euclid" else faiss.METRIC_INNER_PRODUCT
    d = base.shape[1]
    out = []

    signs = np.packbits(base > 0, axis=1)
    binary = faiss.IndexBinaryFlat(d)
    binary.add(signs)

    def binary_candidates(q, k):
        _, ids = binary.search(np.packbits(q > 0)[None, :], k)
        return ids[0]

    out += measure(
        "IndexBinaryFlat (sign bits)", d // 8, binary_candidates, base, queries, truth,
        distance, oversampling,
    )
    for label, factory in [
        ("RaBitQ 1-bit", "RaBitQ"),
        ("RaBitQ FastScan 1-bit", "RaBitQfs"),
        ("RaBitQ 2-bit", "RaBitQ2"),
        ("RaBitQ FastScan 2-bit", "RaBitQfs2"),
        ("SQ8 (int8 per dimension)", "SQ8"),
    ]:
        index = faiss.index_factory(d, factory, metric)
        index.train(base)
        index.add(base)

        def candidates(q, k, index=index):
            _, ids = index.search(q[None, :], k)
            return ids[0]

        if hasattr(index, "qb"):
            label += f" (qb {index.qb})"
        out += measure(
            label, index.code_size, candidates, base, queries, truth, distance, oversampling,
        )
    return out


def qdrant_edge_rows(base, queries, truth, distance, oversampling):
    import qdrant_edge as qe

    metric = {"cosine": qe.Distance.Cosine, "dot": qe.Distance.Dot, "euclid": qe.Distance.Euclid}
    d = base.shape[1]
    words = (d + 63) // 64
    out = []
    for label, quantization, code_bytes_ in [
        ("Qdrant Edge int8", qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, always_ram=True), d),
        ("Qdrant Edge binary 1-bit", qe.BinaryQuantizationConfig(always_ram=True), 8 * words),
    ]:
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=d, distance=metric[distance]),
            quantization_config=quantization,
            hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10),
            optimizers=qe.EdgeOptimizersConfig(default_segment_number=1, indexing_threshold=1000),
        )
        with tempfile.TemporaryDirectory() as path:
            shard = qe.EdgeShard.create(path, config)
            for start in range(0, len(base), 1000):
                batch = range(start, min(start + 1000, len(base)))
                shard.update(
                    qe.UpdateOperation.upsert_points([qe.Point(i, base[i].tolist()) for i in batch])
                )
            shard.optimize()
            for os_ in oversampling:
                params = qe.SearchParams(
                    quantization=qe.QuantizationSearchParams(rescore=True, oversampling=float(os_))
                )
                times, found = [], 0
                for i, q in enumerate(queries):
                    request = qe.QueryRequest(
                        limit=10, query=qe.Query.Nearest(q.tolist()), params=params
                    )
                    t = time.perf_counter()
                    hits = shard.query(request)
                    times.append(time.perf_counter() - t)
                    found += len({h.id for h in hits} & set(truth[i].tolist()))
                out.append(result("qdrant", label, os_, found, times, code_bytes_))
            shard.close()
    return out


def code_bytes(config, dim):
    """Bytes per vector of vecsieve's codes: rabitq1 and rabitq2 add two f32 factors and a
    centroid number to their bit planes; scalar8's rows are padded to 64 bytes and carry
    an f32 norm; scalar8+sketch keeps a 1-bit sketch of each code beside it (in RAM)."""
    words = (dim + 63) // 64
    if config == "scalar8":
        return 64 * words + 4
    if config == "scalar8+sketch":
        return 64 * words + 4 + 8 * words
    if config == "binary2":
        return 16 * words
    if config == "rabitq1":
        return 8 * words + 9
    if config == "rabitq2":
        return 16 * words + 9
    return 8 * words


def vecsieve_rows(binary, data, dim, distance, oversampling, sketch_pool):
    cmd = [
        str(binary), "bench", "--data", str(data), "--distance", distance, "--threads", "1",
        "--segment-mib", "100000", "--json",
        "--quantization", "binary1,binary1-q4,binary1-q8,binary2,rabitq1,rabitq2,scalar8",
        "--oversampling", ",".join(str(o) for o in oversampling), "--adaptive",
    ]
    if sketch_pool and distance in ("cosine", "dot"):
        cmd += ["--sketch-pool", str(sketch_pool)]
    print(" ".join(cmd), file=sys.stderr)
    rows = []
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in lines.splitlines():
        r = json.loads(line)
        rows.append(
            {
                "engine": "vecsieve",
                "config": r["config"] + (" adaptive" if r["adaptive"] else ""),
                "oversampling": int(r["oversampling"]),
                "recall_at_10": r["recall_at_10"],
                "p50_ms": r["p50_ms"],
                "bytes_per_vector": code_bytes(r["config"], dim),
            }
        )
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument(
        "--queries", type=int, default=None,
        help="faiss answers only the first N queries (vecsieve bench answers all)",
    )
    ap.add_argument("--oversampling", default="2,3,4")
    ap.add_argument("--distance", default="cosine", choices=["cosine", "dot", "euclid"])
    ap.add_argument(
        "--sketch-pool", type=float, default=0.05,
        help="vecsieve scalar8 is also searched scanning this fraction of the rows with int8 "
        "codes, the nearest by sign sketches (rows scalar8+sketch; 0 turns them off)",
    )
    ap.add_argument(
        "--vecsieve",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "target/release/vecsieve",
    )
    args = ap.parse_args()
    oversampling = [int(o) for o in args.oversampling.split(",")]
    base = fvecs(args.data / "base.fvecs")
    queries = fvecs(args.data / "query.fvecs")[: args.queries]
    truth = ivecs(args.data / "groundtruth.ivecs")[: len(queries), :10]
    if args.distance == "cosine":
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(
        f"{len(base)} points, {len(queries)} queries, dim {base.shape[1]}, {args.distance}, "
        f"faiss {faiss.__version__}, numpy {np.__version__}",
    )
    rows = faiss_rows(base, queries, truth, args.distance, oversampling)
    rows += qdrant_edge_rows(base, queries, truth, args.distance, oversampling)
    rows += vecsieve_rows(
        args.vecsieve, args.data, base.shape[1], args.distance, oversampling, args.sketch_pool
    )
    print(f"{'engine':<9} {'config':<32} {'os':>3} {'recall@10':>10} {'p50 ms':>8} {'code B':>7}")
    for r in sorted(rows, key=lambda r: (r["oversampling"], r["engine"], r["config"])):
        print(
            f"{r['engine']:<9} {r['config']:<32} {r['oversampling']:>3} "
            f"{r['recall_at_10']:>10.4f} {r['p50_ms']:>8.3f} {r['bytes_per_vector']:>7}"
        )


if __name__ == "__main__":
    main()
