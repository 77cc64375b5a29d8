//! The optimizer's measurements behind `vecsieve bench-optimizer`: ingest with the
//! background optimizer on, settle, search while it vacuums, and the effect of deletions.

use std::path::Path;
use std::time::{Duration, Instant};

use super::read_fvecs;
use vecsieve::Collection;
use vecsieve::{BinaryConfig, CollectionConfig, Distance, Durability, Quantization, SearchParams};
use vecsieve::{Error, Result};
use vecsieve::{Point, PointId};

/// What `run_optimizer` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerBench {
    /// Points per second while ingesting (Sync, batches of 1,000, optimizer running).
    pub ingest_points_per_s: f64,
    /// Segments after the optimizer settled, and the policy's cap.
    pub settled_segments: usize,
    /// The policy's `max_segments`.
    pub max_segments: usize,
    /// Directory bytes / (originals + codes + payloads) after settling.
    pub disk_ratio: f64,
    /// Search p50 (ms) with the optimizer idle.
    pub idle_p50_ms: f64,
    /// Search p50 (ms) while the optimizer rewrites segments.
    pub busy_p50_ms: f64,
    /// Searches measured while it was busy.
    pub busy_searches: usize,
    /// Originals bytes after / before deleting 30 % and settling.
    pub originals_after_delete: f64,
    /// recall@10 of the quantized search against the exact search, before deleting.
    pub recall_before: f64,
    /// The same after deleting 30 % and settling.
    pub recall_after: f64,
}

fn settle(c: &Collection) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut idle_since = Instant::now();
    let mut last = c.optimizer_status().completed;
    while Instant::now() < deadline {
        let s = c.optimizer_status();
        if s.running.is_some() || s.completed != last {
            idle_since = Instant::now();
            last = s.completed;
        } else if idle_since.elapsed() > Duration::from_millis(1500) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(Error::InvalidArgument(
        "the optimizer did not settle in 10 minutes".into(),
    ))
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn self_recall(c: &Collection, queries: &[Vec<f32>]) -> Result<f64> {
    let (exact, approx) = (
        SearchParams::default().with_exact(true),
        SearchParams::default().with_oversampling(4.0),
    );
    let mut found = 0;
    for q in queries {
        let want: Vec<PointId> = c.search(q, 10, &exact)?.iter().map(|h| h.id).collect();
        found += c
            .search(q, 10, &approx)?
            .iter()
            .filter(|h| want.contains(&h.id))
            .count();
    }
    Ok(found as f64 / (queries.len() * 10).max(1) as f64)
}

/// Runs the optimizer measurements on `data/base.fvecs` and `data/query.fvecs` with
/// `segment_bytes` live segments (small, so that there is work to do).
pub fn run_optimizer(
    data: &Path,
    segment_bytes: u64,
    progress: impl Fn(&str),
) -> Result<OptimizerBench> {
    let base = read_fvecs(&data.join("base.fvecs"))?;
    let queries = read_fvecs(&data.join("query.fvecs"))?;
    let queries: Vec<Vec<f32>> = (0..queries.rows().min(200))
        .map(|i| queries.row(i).to_vec())
        .collect();
    if queries.is_empty() || queries[0].len() != base.dim {
        return Err(Error::InvalidArgument(format!(
            "{}: query.fvecs must hold queries of the base set's dimension",
            data.display()
        )));
    }
    let tmp = tempfile::tempdir().map_err(|e| crate::io_error(std::env::temp_dir(), e))?;
    let config = CollectionConfig::new(base.dim, Distance::Cosine)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_durability(Durability::Sync)
        .with_live_segment_max_bytes(segment_bytes)
        .with_search_threads(1);
    let max_segments = config.optimizer.max_segments;
    let c = Collection::create(tmp.path().join("c"), config)?;
    progress("ingesting with the background optimizer on");
    let start = Instant::now();
    for start in (0..base.rows()).step_by(1000) {
        let points: Vec<Point> = (start..(start + 1000).min(base.rows()))
            .map(|i| Point::new(i as u64, base.row(i).to_vec()))
            .collect();
        c.upsert(&points)?;
    }
    let ingest = base.rows() as f64 / start.elapsed().as_secs_f64();
    progress("waiting for the optimizer to settle");
    c.seal()?;
    settle(&c)?;
    let info = c.info()?;
    let data_bytes = info.disk.originals + info.disk.codes + info.disk.payloads;
    let params = SearchParams::default().with_oversampling(4.0);
    let time = |q: &[f32]| -> Result<f64> {
        let t = Instant::now();
        c.search(q, 10, &params)?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    for q in &queries {
        time(q)?;
    }
    let idle: Vec<f64> = queries.iter().map(|q| time(q)).collect::<Result<_>>()?;
    let recall_before = self_recall(&c, &queries)?;
    progress("deleting 30 % and searching while the optimizer vacuums");
    let gone: Vec<PointId> = (0..base.rows() as u64)
        .filter(|i| i % 10 < 3)
        .map(PointId::Num)
        .collect();
    c.delete(&gone)?;
    c.seal()?;
    let mut busy = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while busy.len() < 2000 && Instant::now() < deadline {
        let status = c.optimizer_status();
        if status.running.is_none() && !busy.is_empty() && status.queued.is_empty() {
            break;
        }
        if status.running.is_some() {
            busy.push(time(&queries[busy.len() % queries.len()])?);
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    settle(&c)?;
    let after = c.info()?;
    let recall_after = self_recall(&c, &queries)?;
    Ok(OptimizerBench {
        ingest_points_per_s: ingest,
        settled_segments: info.segments,
        max_segments,
        disk_ratio: info.disk.total as f64 / data_bytes.max(1) as f64,
        idle_p50_ms: p50(idle),
        busy_searches: busy.len(),
        busy_p50_ms: p50(busy),
        originals_after_delete: after.disk.originals as f64 / info.disk.originals.max(1) as f64,
        recall_before,
        recall_after,
    })
}
