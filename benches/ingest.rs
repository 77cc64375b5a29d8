//! Ingest under many seals: `Durability::Sync` upserts in batches of 1,000 into a collection
//! with 4 MiB live segments, so a seal follows every few batches.
//!
//! `cargo bench --bench ingest [-- DATA_DIR]` (default `data/debian-minilm-384-10k`; the
//! issue's figures use `../shared/data/debian-minilm-384`). Three phases, one collection
//! each, binary 1-bit codes, background optimizer off (so the searched segment set is the
//! one the seals made):
//! 1. ingest alone: points/s and upsert latency p50/p99/max;
//! 2. ingest with a search thread (limit 10, default parameters, the set's own queries in
//!    a loop): search p50/p99 while the ingest runs, and p99 over the searches made once
//!    half the points were in (the collection is smaller before, so searches are faster);
//! 3. the same searches on the finished collection, nothing else running (idle).
//!
//! Uses only the public API, so the same file builds against older versions of the crate
//! for side-by-side runs (`benches/ingest-side-by-side.sh`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vecsieve::optimizer::OptimizerConfig;
use vecsieve::vecs::{Matrix, read_fvecs};
use vecsieve::{
    BinaryConfig, Collection, CollectionConfig, Distance, Durability, Point, Quantization,
    SearchParams,
};

const BATCH: usize = 1000;
const SEGMENT_BYTES: u64 = 4 << 20;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

fn create(dir: &Path, dim: usize) -> Collection {
    let config = CollectionConfig::new(dim, Distance::Cosine)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_durability(Durability::Sync)
        .with_live_segment_max_bytes(SEGMENT_BYTES)
        .with_search_threads(1)
        .with_optimizer(OptimizerConfig {
            background: false,
            ..OptimizerConfig::default()
        });
    Collection::create(dir, config).unwrap()
}

/// Upserts every row in batches; returns each batch's latency (ms) and the wall time.
fn ingest(c: &Collection, base: &Matrix<f32>) -> (Vec<f64>, Duration) {
    let started = Instant::now();
    let mut latencies = Vec::new();
    for start in (0..base.rows()).step_by(BATCH) {
        let points: Vec<Point> = (start..(start + BATCH).min(base.rows()))
            .map(|i| Point::new(i as u64, base.row(i).to_vec()))
            .collect();
        let t = Instant::now();
        c.upsert(&points).unwrap();
        latencies.push(ms(t.elapsed()));
    }
    (latencies, started.elapsed())
}

/// Searches the queries in a loop until `stop` (or `rounds` passes when `stop` is `None`);
/// returns each search's latency (ms) and the points the collection held when it began.
fn search_loop(
    c: &Collection,
    queries: &Matrix<f32>,
    stop: Option<&AtomicBool>,
    rounds: usize,
) -> Vec<(f64, usize)> {
    let params = SearchParams::default();
    let mut latencies = Vec::new();
    for round in 0.. {
        if stop.is_none() && round == rounds {
            break;
        }
        for q in 0..queries.rows() {
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return latencies;
            }
            let points = c.len();
            let t = Instant::now();
            c.search(queries.row(q), 10, &params).unwrap();
            latencies.push((ms(t.elapsed()), points));
        }
    }
    latencies
}

fn main() {
    let data = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/debian-minilm-384-10k"),
            PathBuf::from,
        );
    let base = read_fvecs(&data.join("base.fvecs")).unwrap();
    let queries = read_fvecs(&data.join("query.fvecs")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    println!(
        "{} points × {} in batches of {BATCH}, Sync, {} MiB live segments",
        base.rows(),
        base.dim,
        SEGMENT_BYTES >> 20
    );

    let alone = create(&tmp.path().join("alone"), base.dim);
    let (mut upserts, wall) = ingest(&alone, &base);
    let segments = alone.info().unwrap().segments;
    alone.close().unwrap();
    println!(
        "ingest alone: {:.0} points/s, upsert p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (p99/p50 {:.2}), {segments} segments",
        base.rows() as f64 / wall.as_secs_f64(),
        quantile(&mut upserts, 0.5),
        quantile(&mut upserts, 0.99),
        quantile(&mut upserts, 1.0),
        quantile(&mut upserts, 0.99) / quantile(&mut upserts, 0.5),
    );

    let c = create(&tmp.path().join("searched"), base.dim);
    let stop = Arc::new(AtomicBool::new(false));
    let searcher = {
        let (c, queries, stop) = (c.clone(), queries.clone(), Arc::clone(&stop));
        std::thread::spawn(move || search_loop(&c, &queries, Some(&stop), 0))
    };
    let (mut upserts, wall) = ingest(&c, &base);
    stop.store(true, Ordering::SeqCst);
    let busy = searcher.join().unwrap();
    let rounds = busy.len().div_ceil(queries.rows()).max(1);
    let mut idle: Vec<f64> = search_loop(&c, &queries, None, rounds)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    let mut late: Vec<f64> = busy
        .iter()
        .filter(|&&(_, points)| points >= base.rows() / 2)
        .map(|&(l, _)| l)
        .collect();
    let mut busy: Vec<f64> = busy.into_iter().map(|(l, _)| l).collect();
    println!(
        "ingest with searches: {:.0} points/s, upsert p50 {:.2} ms, p99 {:.2} ms",
        base.rows() as f64 / wall.as_secs_f64(),
        quantile(&mut upserts, 0.5),
        quantile(&mut upserts, 0.99),
    );
    let (busy_p99, idle_p99) = (quantile(&mut busy, 0.99), quantile(&mut idle, 0.99));
    let late_p99 = quantile(&mut late, 0.99);
    println!(
        "search during ingest: {} searches, p50 {:.3} ms, p99 {:.3} ms; in its second half: {} searches, p99 {:.3} ms; idle: {} searches, p50 {:.3} ms, p99 {:.3} ms (p99 ratios {:.2}, second half {:.2})",
        busy.len(),
        quantile(&mut busy, 0.5),
        busy_p99,
        late.len(),
        late_p99,
        idle.len(),
        quantile(&mut idle, 0.5),
        idle_p99,
        busy_p99 / idle_p99,
        late_p99 / idle_p99,
    );
    c.close().unwrap();
}
