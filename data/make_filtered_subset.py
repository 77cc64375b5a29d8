#!/usr/bin/env python3
"""Cut the payloads and the filtered ground truth of a subset of debian-minilm-384.

usage: make_filtered_subset.py SRC_DIR DST_DIR N_BASE N_QUERY [K]
       make_filtered_subset.py --check SRC_DIR

The subset's vectors come from make_subset.py (the first N_BASE base rows and the first
N_QUERY queries). This writes beside them, in DST_DIR:

  payloads.jsonl, query_payloads.jsonl         the first N_BASE / N_QUERY payload lines
  filtered/filters.json                        SRC's six filters (Qdrant's filter JSON)
  filtered/same_section.filters.jsonl          the first N_QUERY per-query filters
  filtered/NAME.ivecs                          per query, the top-K base ids (best first,
                                               ties by lower id, by exact dot product)
                                               among the points passing filter NAME,
                                               padded with -1 when fewer pass

The filters are evaluated here by a small evaluator of the conditions they use (match
value/any, range, is_empty; must/should/must_not), written from Qdrant's documented
semantics, independently of vecsieve's. `--check SRC_DIR` evaluates the filters on the
whole source set and compares the top-K with SRC's own filtered ground truth. Needs numpy.
"""
import gzip
import json
import os
import sys

import numpy as np


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(np.float32).copy()


def read_ragged_ivecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    rows, i = [], 0
    while i < len(raw):
        d = raw[i]
        rows.append(raw[i + 1 : i + 1 + d].tolist())
        i += d + 1
    return rows


def write_ivecs(path, rows, k):
    out = np.full((len(rows), k + 1), -1, dtype=np.int32)
    out[:, 0] = k
    for r, ids in enumerate(rows):
        out[r, 1 : 1 + len(ids)] = ids
    out.tofile(path)


def read_jsonl_gz(path, n=None):
    out = []
    with gzip.open(path, "rt") as f:
        for line in f:
            if n is not None and len(out) == n:
                break
            out.append(line)
    return out


def values(payload, key):
    v = payload.get(key)
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def same(a, b):
    # Qdrant compares by type: an integer never equals a bool or a string.
    return type(a) is type(b) and a == b


def condition(c, payload):
    if "must" in c or "should" in c or "must_not" in c:
        return passes(c, payload)
    vals = [v for v in values(payload, c["key"]) if v is not None]
    ok = True
    if "match" in c:
        m = c["match"]
        if "value" in m:
            ok = ok and any(same(v, m["value"]) for v in vals)
        elif "any" in m:
            ok = ok and any(same(v, w) for v in vals for w in m["any"])
        else:
            raise ValueError(f"unsupported match {m}")
    if "range" in c:
        r = c["range"]
        nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        ok = ok and any(
            ("lt" not in r or v < r["lt"])
            and ("lte" not in r or v <= r["lte"])
            and ("gt" not in r or v > r["gt"])
            and ("gte" not in r or v >= r["gte"])
            for v in nums
        )
    if "is_empty" in c:
        ok = ok and ((len(vals) == 0) == c["is_empty"])
    return ok


def passes(f, payload):
    return (
        all(condition(c, payload) for c in f.get("must", []))
        and (not f.get("should") or any(condition(c, payload) for c in f["should"]))
        and not any(condition(c, payload) for c in f.get("must_not", []))
    )


def filtered_truth(base, queries, payloads, filters_per_query, k):
    scores = queries.astype(np.float64) @ base.astype(np.float64).T
    rows = []
    cache = {}
    for q, f in enumerate(filters_per_query):
        key = json.dumps(f, sort_keys=True)
        if key not in cache:
            cache[key] = np.array([passes(f, p) for p in payloads], dtype=bool)
        ok = np.flatnonzero(cache[key])
        s = scores[q, ok]
        order = np.lexsort((ok, -s))[:k]
        rows.append(ok[order].tolist())
    return rows


def load(src, nb, nq):
    base = read_fvecs(os.path.join(src, "base.fvecs"))[:nb]
    queries = read_fvecs(os.path.join(src, "query.fvecs"))[:nq]
    lines = read_jsonl_gz(os.path.join(src, "payloads.jsonl.gz"), nb)
    payloads = [json.loads(l)["payload"] for l in lines]
    with open(os.path.join(src, "filtered", "filters.json")) as f:
        filters = json.load(f)["filters"]
    with open(os.path.join(src, "filtered", "same_section.filters.jsonl")) as f:
        per_query = [json.loads(l) for l in f][: len(queries)]
    return base, queries, lines, payloads, filters, per_query


def per_query_filters(name, spec, per_query, nq):
    return per_query if name == "same_section" else [spec["filter"]] * nq


def check(src, k=100):
    base, queries, _, payloads, filters, per_query = load(src, None, None)
    for name, spec in filters.items():
        want = read_ragged_ivecs(os.path.join(src, "filtered", f"{name}.ivecs"))
        got = filtered_truth(base, queries, payloads, per_query_filters(name, spec, per_query, len(queries)), k)
        same_rows = sum(a == b for a, b in zip(got, want))
        print(f"{name}: {same_rows}/{len(want)} queries identical")


def main():
    if sys.argv[1] == "--check":
        return check(sys.argv[2])
    src, dst, nb, nq = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    k = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    base, queries, lines, payloads, filters, per_query = load(src, nb, nq)
    os.makedirs(os.path.join(dst, "filtered"), exist_ok=True)
    with open(os.path.join(dst, "payloads.jsonl"), "w") as f:
        f.writelines(lines)
    qlines = read_jsonl_gz(os.path.join(src, "query_payloads.jsonl.gz"), nq)
    with open(os.path.join(dst, "query_payloads.jsonl"), "w") as f:
        f.writelines(qlines)
    with open(os.path.join(dst, "filtered", "filters.json"), "w") as f:
        json.dump({name: spec["filter"] for name, spec in filters.items()}, f, indent=1)
    with open(os.path.join(dst, "filtered", "same_section.filters.jsonl"), "w") as f:
        for q in per_query:
            f.write(json.dumps(q) + "\n")
    for name, spec in filters.items():
        rows = filtered_truth(base, queries, payloads, per_query_filters(name, spec, per_query, nq), k)
        write_ivecs(os.path.join(dst, "filtered", f"{name}.ivecs"), rows, k)
        passing = sum(len(r) for r in rows) / len(rows)
        print(f"{name}: mean {passing:.1f} of top-{k} filled")


if __name__ == "__main__":
    main()
