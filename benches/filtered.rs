//! Filtered search on real payloads: `cargo bench --bench filtered`.
//!
//! Reads a folder in the layout of the bundled `data/debian-minilm-384-10k` (the default;
//! `VECSIEVE_DATA` names another): `base.fvecs`, `query.fvecs`, `groundtruth.ivecs`,
//! `payloads.jsonl` and `filtered/` (`filters.json`, `same_section.filters.jsonl`,
//! `NAME.ivecs` padded with -1). For the full set, make one with
//! `python data/make_filtered_subset.py ../shared/data/debian-minilm-384 DIR 60703 1000`
//! and link `base.fvecs`, `query.fvecs` and `groundtruth.ivecs` into it. Builds one
//! collection (1-bit codes, payloads as JSON bytes, `Durability::Sync`, batches of 1,000),
//! optimizes it, then for each filter runs `VECSIEVE_QUERIES` queries (default 200): exact
//! filtered search (checked against the filtered ground truth) and binary + rescore at
//! oversampling 4, and the same queries unfiltered, one thread. Prints the ingest rate and,
//! per filter, the passing fraction, recall@10 and p50 next to the unfiltered figures of
//! the same run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use vecsieve::vecs::{read_fvecs, read_ivecs};
use vecsieve::{
    BinaryConfig, Collection, CollectionConfig, Distance, Durability, Filter, Point, PointId,
    Quantization, SearchParams,
};

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

    let tmp = tempfile::tempdir().unwrap();
    let config = CollectionConfig::new(base.dim, Distance::Cosine)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_durability(Durability::Sync)
        .with_search_threads(1);
    let c = Collection::create(tmp.path().join("c"), config).unwrap();
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
    println!(
        "ingest with payloads: {:.0} points/s; optimize {:.2} s; {} segments",
        n as f64 / ingest,
        start.elapsed().as_secs_f64(),
        c.info().unwrap().segments
    );

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
        "\n{:<24} {:>8} {:>12} {:>10} {:>10} {:>10} {:>12}",
        "filter", "passing", "exact ok", "recall@10", "p50 ms", "vs unfilt", "exact p50 ms"
    );
    println!(
        "{:<24} {:>8} {:>12} {:>10.4} {:>10.3} {:>10} {:>12}",
        "(none)", "100.0%", "-", unfiltered_recall, unfiltered_p50, "1.00x", "-"
    );
    for (name, spec) in &filters {
        let ftruth = read_ivecs(&dir.join(format!("filtered/{name}.ivecs")));
        let ftruth = ftruth.unwrap_or_else(|_| panic!("filtered/{name}.ivecs"));
        let (mut times, mut exact_times) = (Vec::new(), Vec::new());
        let (mut found, mut wanted, mut exact_ok, mut passing, mut refused) = (0, 0, 0, 0.0, 0);
        for q in 0..nq {
            let json = same_section
                .get(q)
                .filter(|_| name == "same_section")
                .unwrap_or(spec);
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
            let t = Instant::now();
            let hits = c
                .search_filtered("", queries.row(q), &filter, 10, &exact)
                .unwrap();
            exact_times.push(t.elapsed().as_secs_f64() * 1e3);
            exact_ok += usize::from(hits.iter().map(|h| num(h.id)).eq(want.iter().copied()));
            let t = Instant::now();
            let hits = c
                .search_filtered("", queries.row(q), &filter, 10, &os4)
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
        let p = p50(times);
        println!(
            "{:<24} {:>7.1}% {:>12} {:>10.4} {:>10.3} {:>9.2}x {:>12.3}",
            name,
            100.0 * passing / counted as f64,
            format!("{exact_ok}/{}", nq - refused),
            found as f64 / wanted.max(1) as f64,
            p,
            p / unfiltered_p50,
            p50(exact_times)
        );
    }
}
