//! ColPali-shaped MaxSim benchmark: `cargo bench --bench maxsim`.
//!
//! Pages of 1,030 × 128-d vectors and queries of 20 × 128-d, as ColPali produces them, are
//! generated (no ColPali model runs here) with the structure that makes late interaction
//! meaningful: 200 topics, each a random unit direction; a page belongs to one topic and
//! each of its vectors is `normalize(0.6·topic + 0.8·noise)` with Gaussian noise, so pages
//! of one topic share a direction but no two vectors are alike. A query picks a page and
//! takes 20 of its vectors, each mixed with fresh noise (`normalize(v + 0.5·noise)`), so
//! the page it came from should rank first and pages of its topic next. Ground truth is
//! the engine's own exact MaxSim scan of the same collection, in the same run.
//!
//! One collection (default multivector, Cosine, f16 originals, 1-bit codes), one segment,
//! one search thread. Printed, all from this one run: exact MaxSim p50, binary MaxSim
//! (Qdrant's `rescore=true, oversampling=2.0`) p50 and recall@10 against the exact scan,
//! the scan alone (no rescoring), the MaxSim kernel's vector pairs per second next to the
//! machine's popcount throughput (the plain Hamming kernel over a large array), the same
//! pairs through one `hamming_many` per query vector (the kernel it replaces), and RAM and
//! disk per page.
//!
//! `VECSIEVE_PAGES` (default 2000) and `VECSIEVE_QUERIES` (default 30) set the sizes.

use std::time::Instant;

use vecsieve::simd::Kernels;
use vecsieve::{
    BinaryConfig, Collection, CollectionConfig, Datatype, Distance, Durability, Point, PointId,
    Quantization, SearchParams,
};

const DIM: usize = 128;
const PAGE_VECTORS: usize = 1030;
const QUERY_VECTORS: usize = 20;
const TOPICS: usize = 200;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    /// A standard normal sample (Box–Muller).
    fn gauss(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    fn unit(&mut self) -> Vec<f32> {
        normalize((0..DIM).map(|_| self.gauss()).collect())
    }
}

fn normalize(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn mix(a: &[f32], wa: f32, b: &[f32], wb: f32) -> Vec<f32> {
    normalize(a.iter().zip(b).map(|(x, y)| wa * x + wb * y).collect())
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> vecsieve::Result<()> {
    let pages = env("VECSIEVE_PAGES", 2000);
    let n_queries = env("VECSIEVE_QUERIES", 30);
    let kernels = Kernels::detect();
    println!(
        "ColPali-shaped MaxSim: {pages} pages × {PAGE_VECTORS} × {DIM}-d, {n_queries} queries \
         × {QUERY_VECTORS}, kernels {}",
        kernels.isa().name()
    );
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let topics: Vec<Vec<f32>> = (0..TOPICS).map(|_| rng.unit()).collect();
    let topic_of: Vec<usize> = (0..pages).map(|_| rng.next() as usize % TOPICS).collect();
    let page = |rng: &mut Rng, p: usize| -> Vec<Vec<f32>> {
        (0..PAGE_VECTORS)
            .map(|_| mix(&topics[topic_of[p]], 0.6, &rng.unit(), 0.8))
            .collect()
    };

    let dir = tempfile::tempdir().map_err(|e| vecsieve::Error::InvalidArgument(e.to_string()))?;
    let config = CollectionConfig::new(DIM, Distance::Cosine)
        .with_multivector()
        .with_datatype(Datatype::F16)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_durability(Durability::Buffered)
        .with_live_segment_max_bytes(4 << 30)
        .with_search_threads(1);
    let c = Collection::create(dir.path().join("colpali"), config)?;
    let start = Instant::now();
    let mut queries: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut page_rng = Rng(0x5EED);
    for first in (0..pages).step_by(16) {
        let batch: Vec<Point> = (first..(first + 16).min(pages))
            .map(|p| {
                let vectors = page(&mut page_rng, p);
                if queries.len() < n_queries && p % (pages / n_queries).max(1) == 0 {
                    queries.push(
                        vectors
                            .iter()
                            .step_by(PAGE_VECTORS / QUERY_VECTORS)
                            .take(QUERY_VECTORS)
                            .map(|v| mix(v, 1.0, &rng.unit(), 0.5))
                            .collect(),
                    );
                }
                Point::new_multi(p as u64, vectors)
            })
            .collect();
        c.upsert(&batch)?;
    }
    c.seal()?;
    println!(
        "built in {:.1} s (one segment: {})",
        start.elapsed().as_secs_f64(),
        c.info()?.segments == 1
    );
    let info = c.info()?;
    println!(
        "RAM {:.1} KiB per page (heap {:.1} MiB; the segment file is mapped: {:.1} MiB on disk, \
         {:.1} KiB per page, of which codes {:.1} KiB)",
        info.ram.total as f64 / pages as f64 / 1024.0,
        info.ram.total as f64 / (1 << 20) as f64,
        info.disk.total as f64 / (1 << 20) as f64,
        info.disk.total as f64 / pages as f64 / 1024.0,
        info.disk.codes as f64 / pages as f64 / 1024.0,
    );

    let run = |params: &SearchParams| -> vecsieve::Result<(f64, Vec<Vec<PointId>>)> {
        let mut lat = Vec::new();
        let mut ids = Vec::new();
        for q in &queries {
            let t = Instant::now();
            let hits = c.search_using("", q, 10, params)?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            ids.push(hits.into_iter().map(|h| h.id).collect());
        }
        Ok((p50(lat), ids))
    };
    let (exact_ms, truth) = run(&SearchParams::default().with_exact(true))?;
    let recall = |ids: &[Vec<PointId>]| -> f64 {
        let found: usize = ids
            .iter()
            .zip(&truth)
            .map(|(got, want)| got.iter().filter(|id| want.contains(id)).count())
            .sum();
        found as f64 / (10 * truth.len()) as f64
    };
    let qdrant = SearchParams::default()
        .with_oversampling(2.0)
        .with_rescore(true);
    let (binary_ms, binary_ids) = run(&qdrant)?;
    let (scan_ms, scan_ids) = run(&SearchParams::default().with_rescore(false))?;
    println!("exact MaxSim            p50 {exact_ms:9.2} ms");
    println!(
        "binary os 2 + rescore   p50 {binary_ms:9.2} ms  recall@10 {:.3}  {:.1}× below exact",
        recall(&binary_ids),
        exact_ms / binary_ms
    );
    println!(
        "binary scan, no rescore p50 {scan_ms:9.2} ms  recall@10 {:.3}  (rescoring {:.2} ms = {:.0}% of the query)",
        recall(&scan_ids),
        binary_ms - scan_ms,
        100.0 * (binary_ms - scan_ms) / binary_ms
    );

    // The kernel alone: 20 query codes against every page's 1,030 codes.
    let words = DIM / 64;
    let codes: Vec<u64> = (0..pages * PAGE_VECTORS * words)
        .map(|_| rng.next())
        .collect();
    let query: Vec<u64> = (0..QUERY_VECTORS * words).map(|_| rng.next()).collect();
    let mut mins = vec![0u32; QUERY_VECTORS];
    let mut best = f64::INFINITY;
    let mut checksum = 0u64;
    for _ in 0..3 {
        let t = Instant::now();
        for page in codes.chunks(PAGE_VECTORS * words) {
            kernels.min_hamming_many(&query, page, words, &mut mins);
            checksum += u64::from(mins[0]);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let pairs = (pages * PAGE_VECTORS * QUERY_VECTORS) as f64;
    let mut per_query = f64::INFINITY;
    let mut dist = vec![0u32; PAGE_VECTORS];
    for _ in 0..3 {
        let t = Instant::now();
        for page in codes.chunks(PAGE_VECTORS * words) {
            for q in query.chunks(words) {
                kernels.hamming_many(q, page, &mut dist);
                checksum += u64::from(dist.iter().copied().min().unwrap_or(0));
            }
        }
        per_query = per_query.min(t.elapsed().as_secs_f64());
    }
    let mut out = vec![0u32; codes.len() / words];
    let mut popcount = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        kernels.hamming_many(&query[..words], &codes, &mut out);
        checksum += u64::from(out[0]);
        popcount = popcount.min(t.elapsed().as_secs_f64());
    }
    println!(
        "MaxSim kernel: {:.2} G vector pairs/s ({} words each); one hamming_many per query \
         vector: {:.2} G pairs/s; popcount throughput (hamming_many over {:.0} MiB): {:.2} G \
         words/s = {:.2} G pairs/s (checksum {checksum})",
        pairs / best / 1e9,
        words,
        pairs / per_query / 1e9,
        (codes.len() * 8) as f64 / (1 << 20) as f64,
        codes.len() as f64 / popcount / 1e9,
        (codes.len() / words) as f64 / popcount / 1e9,
    );
    c.close()
}
