//! Filtered search on real payloads: `cargo bench --bench filtered`.
//!
//! Reads a folder in the layout of the bundled `data/debian-minilm-384-10k` (the default;
//! `VECSIEVE_DATA` names another): `base.fvecs`, `query.fvecs`, `groundtruth.ivecs`,
//! `payloads.jsonl` and `filtered/` (`filters.json`, `same_section.filters.jsonl`,
//! `NAME.ivecs` padded with -1). For the full set, make one with
//! `python data/make_filtered_subset.py ../shared/data/debian-minilm-384 DIR 60703 1000`
//! and link `base.fvecs`, `query.fvecs` and `groundtruth.ivecs` into it. Builds one
//! collection (1-bit codes, payloads as JSON bytes, `Durability::Sync`, batches of 1,000)
//! with payload indexes on `section`, `tags`, `maintainer`, `homepage` (keyword) and
//! `installed_size_kib` (integer), optimizes it, then for each filter runs
//! `VECSIEVE_QUERIES` queries (default 200): exact filtered search (checked against the
//! filtered ground truth) and binary + rescore at oversampling 4, and the same queries
//! unfiltered, one thread. Prints the ingest rate, the indexes' bytes per point and, per
//! filter, the passing fraction, recall@10 and p50 next to the unfiltered figures of the
//! same run. Then the same without indexes (filters read payloads), on at most 20 queries
//! per filter, and the optimize time of both: what building the indexes costs
//! (`VECSIEVE_SKIP_UNINDEXED=1` skips that part; `VECSIEVE_FILTER=NAME` runs one filter;
//! `VECSIEVE_QUANTIZATION=scalar8` uses int8 codes instead of 1-bit ones;
//! `VECSIEVE_UNCACHED=1` makes every query's filter new to the segment's filter cache, by
//! adding `must_not` a section no package has, named after the query).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use vecsieve::vecs::{Matrix, read_fvecs, read_ivecs};
use vecsieve::{
    BinaryConfig, Collection, CollectionConfig, Distance, Durability, Filter, PayloadSchema, Point,
    PointId, Quantization, ScalarConfig, SearchParams,
};

const INDEXES: [(&str, PayloadSchema); 5] = [
    ("section", PayloadSchema::Keyword),
    ("tags", PayloadSchema::Keyword),
    ("maintainer", PayloadSchema::Keyword),
    ("homepage", PayloadSchema::Keyword),
    ("installed_size_kib", PayloadSchema::Integer),
];

/// What every run reads.
struct Data {
    dir: PathBuf,
    base: Matrix<f32>,
    queries: Matrix<f32>,
    truth: Matrix<i32>,
    payloads: Vec<String>,
    filters: BTreeMap<String, Value>,
    same_section: Vec<Value>,
    n: usize,
}

/// 1-bit codes, or int8 ones with `VECSIEVE_QUANTIZATION=scalar8`.
fn quantization() -> Quantization {
    match std::env::var("VECSIEVE_QUANTIZATION").as_deref() {
        Ok("scalar8") => Quantization::Scalar(ScalarConfig::default()),
        _ => Quantization::Binary(BinaryConfig::default()),
    }
}

/// `filter` with `must_not` a section no package has, named after query `q`: the same
/// rows, but a filter no segment has kept.
fn new_to_the_cache(filter: &Value, q: usize) -> Value {
    let mut f = filter.clone();
    let never =
        serde_json::json!({"key": "section", "match": {"value": format!("no-such-section-{q}")}});
    match f.get_mut("must_not").and_then(Value::as_array_mut) {
        Some(list) => list.push(never),
        None => f["must_not"] = serde_json::json!([never]),
    }
    f
}

fn p50(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms.get(ms.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let dir = std::env::var("VECSIEVE_DATA").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/debian-minilm-384-10k"),
        PathBuf::from,
    );
    let queries_wanted: usize = std::env::var("VECSIEVE_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let base = read_fvecs(&dir.join("base.fvecs")).unwrap();
    let queries = read_fvecs(&dir.join("query.fvecs")).unwrap();
    let truth = read_ivecs(&dir.join("groundtruth.ivecs")).unwrap();
    let payloads: Vec<String> = std::fs::read_to_string(dir.join("payloads.jsonl"))
        .expect("payloads.jsonl (gunzip -k payloads.jsonl.gz)")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["payload"].to_string())
        .collect();
    let filters: BTreeMap<String, Value> = {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("filtered/filters.json")).unwrap(),
        )
        .unwrap();
        // The shared folder's file wraps each filter with its statistics.
        let map = v.get("filters").cloned().unwrap_or(v);
        map.as_object()
            .unwrap()
            .iter()
            .map(|(k, f)| {
                (
                    k.clone(),
                    f.get("filter").cloned().unwrap_or_else(|| f.clone()),
                )
            })
            .collect()
    };
    let same_section: Vec<Value> =
        std::fs::read_to_string(dir.join("filtered/same_section.filters.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let nq = queries_wanted.min(queries.rows());
    let n = base.rows().min(payloads.len());
    println!(
        "filtered search: {} points, {nq} queries, {} filters, kernels {}",
        n,
        filters.len(),
        vecsieve::simd::Kernels::detect().isa().name()
    );
    let d = Data {
        dir,
        base,
        queries,
        truth,
        payloads,
        filters,
        same_section,
        n,
    };
    let indexed = run(&d, true, nq);
    if std::env::var("VECSIEVE_SKIP_UNINDEXED").is_ok() {
        return;
    }
    let unindexed = run(&d, false, nq.min(20));
    println!(
        "\noptimize: {indexed:.2} s with the indexes, {unindexed:.2} s without: {:.2} s to build them",
        indexed - unindexed
    );
}

/// Builds the collection (with the indexes or not), searches it, prints the figures;
/// returns the optimize time in seconds.
fn run(d: &Data, indexes: bool, nq: usize) -> f64 {
    let Data {
        dir,
        base,
        queries,
        truth,
        payloads,
        filters,
        same_section,
        n,
    } = d;
    let n = *n;
    println!(
        "\n== {} ==",
        if indexes {
            "with payload indexes"
        } else {
            "without payload indexes (filters read payloads)"
        }
    );

    let tmp = tempfile::tempdir().unwrap();
    let config = CollectionConfig::new(base.dim, Distance::Cosine)
        .with_quantization(quantization())
        .with_durability(Durability::Sync)
        .with_search_threads(1);
    let c = Collection::create(tmp.path().join("c"), config).unwrap();
    if indexes {
        for (key, schema) in INDEXES {
            c.create_payload_index(key, schema).unwrap();
        }
    }
    let start = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for (i, payload) in payloads.iter().enumerate().take(n) {
        batch.push(
            Point::new(i as u64, base.row(i).to_vec()).with_payload(payload.clone().into_bytes()),
        );
        if batch.len() == 1000 || i + 1 == n {
            c.upsert(&batch).unwrap();
            batch.clear();
        }
    }
    let ingest = start.elapsed().as_secs_f64();
    let start = Instant::now();
    c.optimize().unwrap();
    let optimize = start.elapsed().as_secs_f64();
    let info = c.info().unwrap();
    println!(
        "ingest with payloads: {:.0} points/s; optimize {optimize:.2} s; {} segments",
        n as f64 / ingest,
        info.segments
    );
    for i in &info.payload_indexes {
        println!(
            "index {:<20} {:<8} {:>8} values  {:>6.2} bytes/point on disk  {:>6.2} in RAM",
            i.key,
            i.schema.name(),
            i.values,
            i.disk_bytes as f64 / n as f64,
            i.ram_bytes as f64 / n as f64
        );
    }

    let os4 = SearchParams::default().with_oversampling(4.0);
    let exact = SearchParams::default().with_exact(true);
    let num = |id: PointId| match id {
        PointId::Num(n) => n as i32,
        PointId::Uuid(_) => -1,
    };
    let mut times = Vec::new();
    let mut found = 0;
    for q in 0..nq {
        let t = Instant::now();
        let hits = c.search(queries.row(q), 10, &os4).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        found += hits
            .iter()
            .filter(|h| truth.row(q)[..10].contains(&num(h.id)))
            .count();
    }
    let unfiltered_p50 = p50(times);
    let unfiltered_recall = found as f64 / (nq * 10) as f64;
    println!(
        "\n{:<24} {:>8} {:>12} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "filter",
        "passing",
        "exact ok",
        "recall@10",
        "p50 ms",
        "unfilt ms",
        "ratio",
        "exact p50 ms"
    );
    println!(
        "{:<24} {:>8} {:>12} {:>10.4} {:>10.3} {:>10.3} {:>10} {:>12}",
        "(none)", "100.0%", "-", unfiltered_recall, unfiltered_p50, unfiltered_p50, "1.00x", "-"
    );
    let only = std::env::var("VECSIEVE_FILTER").ok();
    let uncached = std::env::var("VECSIEVE_UNCACHED").is_ok();
    for (name, spec) in filters.iter() {
        if only.as_ref().is_some_and(|o| o != name) {
            continue;
        }
        let ftruth = read_ivecs(&dir.join(format!("filtered/{name}.ivecs")));
        let ftruth = ftruth.unwrap_or_else(|_| panic!("filtered/{name}.ivecs"));
        let (mut times, mut unfiltered_times, mut exact_times) =
            (Vec::new(), Vec::new(), Vec::new());
        let (mut found, mut wanted, mut exact_ok, mut passing, mut refused) = (0, 0, 0, 0.0, 0);
        let mut asked = Vec::new();
        for q in 0..nq {
            let json = same_section
                .get(q)
                .filter(|_| name == "same_section")
                .unwrap_or(spec);
            let unique;
            let json = if uncached {
                unique = new_to_the_cache(json, q);
                &unique
            } else {
                json
            };
            // A query package without a section asks for `"value": null`, which Qdrant's
            // filter language (and vecsieve's) refuses; its ground truth is empty.
            let Ok(filter) = Filter::from_json(json) else {
                refused += 1;
                continue;
            };
            if q < 10 || name == "same_section" {
                passing += c.count(Some(&filter)).unwrap() as f64 / n as f64;
            }
            let want: Vec<i32> = ftruth
                .row(q)
                .iter()
                .copied()
                .filter(|&i| i >= 0)
                .take(10)
                .collect();
            asked.push((q, filter, want));
        }
        for (q, filter, want) in &asked {
            let t = Instant::now();
            let hits = c
                .search_filtered("", queries.row(*q), filter, 10, &exact)
                .unwrap();
            exact_times.push(t.elapsed().as_secs_f64() * 1e3);
            exact_ok += usize::from(hits.iter().map(|h| num(h.id)).eq(want.iter().copied()));
        }
        // Filtered and unfiltered in turn, so that both see the same state of the caches
        // (an exact search in between would evict the codes before one and not the other).
        for (q, filter, want) in &asked {
            let t = Instant::now();
            c.search(queries.row(*q), 10, &os4).unwrap();
            unfiltered_times.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let hits = c
                .search_filtered("", queries.row(*q), filter, 10, &os4)
                .unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
            found += hits.iter().filter(|h| want.contains(&num(h.id))).count();
            wanted += want.len();
        }
        let counted = if name == "same_section" {
            nq - refused
        } else {
            nq.min(10)
        };
        let (p, u) = (p50(times), p50(unfiltered_times));
        println!(
            "{:<24} {:>7.1}% {:>12} {:>10.4} {:>10.3} {:>10.3} {:>9.2}x {:>12.3}",
            name,
            100.0 * passing / counted as f64,
            format!("{exact_ok}/{}", nq - refused),
            found as f64 / wanted.max(1) as f64,
            p,
            u,
            p / u,
            p50(exact_times)
        );
    }
    optimize
}
