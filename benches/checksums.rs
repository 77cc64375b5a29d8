//! What the segment checksum check costs: `open` with the check in the background against
//! `open` that checks every segment before returning, how long the background check takes
//! (and its GB/s), and search p50 while it runs against after it finished.
//!
//! `cargo bench --bench checksums [-- DATA_DIR]` (default `data/debian-minilm-384-10k`; for
//! the full set, `../shared/data/debian-minilm-384`). One binary-1-bit collection of the
//! set's `base.fvecs` in 32 MiB segments, searched with its own `query.fvecs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vecsieve::vecs::read_fvecs;
use vecsieve::{
    BinaryConfig, ChecksumStatus, Collection, CollectionConfig, Distance, OpenOptions, Point,
    Quantization, SearchParams,
};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn all_checked(c: &Collection) -> bool {
    c.info()
        .unwrap()
        .segment_list
        .iter()
        .all(|s| s.checksums != ChecksumStatus::Unchecked)
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
    let dir = tmp.path().join("c");
    let config = CollectionConfig::new(base.dim, Distance::Cosine)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_search_threads(1);
    let c = Collection::create(&dir, config).unwrap();
    for start in (0..base.rows()).step_by(1000) {
        let points: Vec<Point> = (start..(start + 1000).min(base.rows()))
            .map(|i| Point::new(i as u64, base.row(i).to_vec()))
            .collect();
        c.upsert(&points).unwrap();
    }
    c.close().unwrap();
    let info = Collection::open(&dir).unwrap().info().unwrap();
    let bytes: u64 = info.segment_list.iter().map(|s| s.bytes).sum();
    println!(
        "{} points, {} segments, {:.1} MiB of segment files ({})",
        info.points,
        info.segments,
        bytes as f64 / (1 << 20) as f64,
        info.kernels
    );
    let params = SearchParams::default().with_oversampling(4.0);
    let search_ms = |c: &Collection, n: usize| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let q = queries.row(i % queries.rows());
                let t = Instant::now();
                c.search(q, 10, &params).unwrap();
                ms(t.elapsed())
            })
            .collect()
    };
    for round in 0..3 {
        // Background check (the default).
        let t = Instant::now();
        let c = Collection::open(&dir).unwrap();
        let open_bg = ms(t.elapsed());
        let mut during = Vec::new();
        while !all_checked(&c) {
            during.extend(search_ms(&c, 1));
        }
        let checked = ms(t.elapsed());
        let after = search_ms(&c, queries.rows());
        drop(c);
        // Every segment checked before open returns.
        let t = Instant::now();
        let eager = OpenOptions {
            verify_segments_on_open: true,
            ..OpenOptions::default()
        };
        let c = Collection::open_with_options(&dir, eager).unwrap();
        let open_eager = ms(t.elapsed());
        assert!(all_checked(&c));
        drop(c);
        println!(
            "round {round}: open {open_bg:.2} ms (check in background, done after {checked:.1} \
             ms, {:.2} GB/s); open {open_eager:.1} ms checking first; search p50 {:.3} ms \
             during the check ({} queries) vs {:.3} ms after",
            bytes as f64 / (open_eager / 1e3) / 1e9,
            p50(during.clone()),
            during.len(),
            p50(after)
        );
    }
}
