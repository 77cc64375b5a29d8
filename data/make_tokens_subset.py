#!/usr/bin/env python3
"""Cut a small multivector evaluation set out of debian-minilm-tokens and recompute exact
MaxSim ground truth.

usage: make_tokens_subset.py SRC_DIR DST_DIR N_DOCS N_QUERIES [K]

Takes the first N_DOCS documents and the first N_QUERIES queries of SRC_DIR (float16
token vectors + int64 offsets, `.npy`), and writes the same files for the cut to DST_DIR,
with groundtruth.ivecs (top-K document ids by exact float64 MaxSim over the float16
values, best first, ties by lower id) and groundtruth_scores.fvecs. Needs numpy.
"""
import os
import sys

import numpy as np


def write_vecs(path, arr):
    arr = np.ascontiguousarray(arr.astype(np.float32))
    n, d = arr.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = arr.view(np.int32)
    out.tofile(path)


def cut(vectors, offsets, n):
    offsets = offsets[: n + 1]
    return vectors[: offsets[-1]], offsets


def main():
    src, dst, nd, nq = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    k = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    load = lambda name: np.load(os.path.join(src, name))
    base, base_off = cut(load("base_vectors.npy"), load("base_offsets.npy"), nd)
    query, query_off = cut(load("query_vectors.npy"), load("query_offsets.npy"), nq)
    b64 = base.astype(np.float64)
    scores = np.empty((nq, nd))
    for qi in range(nq):
        q = query[query_off[qi] : query_off[qi + 1]].astype(np.float64)
        sims = q @ b64.T
        for d in range(nd):
            scores[qi, d] = sims[:, base_off[d] : base_off[d + 1]].max(axis=1).sum()
    k = min(k, nd)
    order = np.lexsort((np.broadcast_to(np.arange(nd), scores.shape), -scores), axis=1)[:, :k]
    top = np.take_along_axis(scores, order, axis=1)
    os.makedirs(dst, exist_ok=True)
    np.save(os.path.join(dst, "base_vectors.npy"), base.astype(np.float16))
    np.save(os.path.join(dst, "base_offsets.npy"), base_off.astype(np.int64))
    np.save(os.path.join(dst, "query_vectors.npy"), query.astype(np.float16))
    np.save(os.path.join(dst, "query_offsets.npy"), query_off.astype(np.int64))
    write_vecs(os.path.join(dst, "groundtruth.ivecs"), order.astype(np.int32).view(np.float32))
    write_vecs(os.path.join(dst, "groundtruth_scores.fvecs"), top)


if __name__ == "__main__":
    main()
