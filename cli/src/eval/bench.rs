//! The benchmark behind `vecsieve bench` and `vecsieve demo`.
//!
//! Every figure of one run comes from the same process on the same machine, so the ratios
//! (quantized vs exact latency) are meaningful even on a noisy shared machine; the absolute
//! times are not.

use std::path::PathBuf;
use std::time::Instant;

use super::{Matrix, read_fvecs, read_ivecs};
use vecsieve::Collection;
use vecsieve::{
    BinaryConfig, BinaryEncoding, CollectionConfig, Distance, Durability, Quantization,
    QueryEncoding, ScalarConfig, SearchParams,
};
use vecsieve::{Error, Result};
use vecsieve::{Point, PointId};

/// Which quantization a benchmark configuration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchQuantization {
    /// Exact scan of the originals.
    None,
    /// 1-bit binary codes with rescoring.
    Binary1,
    /// 1-bit codes, queries with 4 bits per component (asymmetric), rescoring.
    Binary1Q4,
    /// 1-bit codes, queries with 8 bits per component (asymmetric), rescoring.
    Binary1Q8,
    /// 1.5-bit binary codes with rescoring.
    Binary15,
    /// 2-bit binary codes with rescoring.
    Binary2,
    /// Scalar int8 codes, scores without rescoring.
    Scalar8,
}

impl BenchQuantization {
    /// The name used on the command line and in the output.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            BenchQuantization::None => "none",
            BenchQuantization::Binary1 => "binary1",
            BenchQuantization::Binary1Q4 => "binary1-q4",
            BenchQuantization::Binary1Q8 => "binary1-q8",
            BenchQuantization::Binary15 => "binary1.5",
            BenchQuantization::Binary2 => "binary2",
            BenchQuantization::Scalar8 => "scalar8",
        }
    }
}

impl BenchQuantization {
    /// Every configuration, cheapest codes first.
    pub const ALL: [BenchQuantization; 7] = [
        BenchQuantization::None,
        BenchQuantization::Binary1,
        BenchQuantization::Binary1Q4,
        BenchQuantization::Binary1Q8,
        BenchQuantization::Binary15,
        BenchQuantization::Binary2,
        BenchQuantization::Scalar8,
    ];

    /// The configuration named `name` (as [`name`](Self::name) writes it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.name() == name)
    }

    /// The collection quantization it stands for (`scalar_quantile` for `Scalar8`).
    #[must_use]
    pub fn quantization(self, scalar_quantile: Option<f32>) -> Quantization {
        let binary = BinaryConfig::default();
        match self {
            BenchQuantization::None => Quantization::None,
            BenchQuantization::Binary1 => Quantization::Binary(binary),
            BenchQuantization::Binary1Q4 => {
                Quantization::Binary(binary.with_query_encoding(QueryEncoding::Scalar4Bits))
            }
            BenchQuantization::Binary1Q8 => {
                Quantization::Binary(binary.with_query_encoding(QueryEncoding::Scalar8Bits))
            }
            BenchQuantization::Binary15 => {
                Quantization::Binary(binary.with_encoding(BinaryEncoding::OneAndHalfBits))
            }
            BenchQuantization::Binary2 => {
                Quantization::Binary(binary.with_encoding(BinaryEncoding::TwoBits))
            }
            BenchQuantization::Scalar8 => {
                Quantization::Scalar(scalar_quantile.map_or_else(ScalarConfig::default, |q| {
                    ScalarConfig::default().with_quantile(q)
                }))
            }
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// A folder with `base.fvecs`, `query.fvecs` and `groundtruth.ivecs`.
    pub data: PathBuf,
    /// Configurations to build.
    pub quantizations: Vec<BenchQuantization>,
    /// Oversampling factors to try with each quantized configuration.
    pub oversampling: Vec<f32>,
    /// Results per query (at least 10: recall@10 is measured).
    pub limit: usize,
    /// Distance of the collection (the data set's README says which).
    pub distance: Distance,
    /// Points per `upsert` call while building.
    pub batch: usize,
    /// Search threads of the collection (1: single-threaded latency).
    pub threads: usize,
    /// The quantile of scalar configurations (`None`: min..max).
    pub scalar_quantile: Option<f32>,
    /// The live segment's size limit (`None`: the default, 32 MiB); a large value puts
    /// the whole set in one segment.
    pub segment_bytes: Option<u64>,
}

/// One measured configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// `none` or `binary1`.
    pub config: &'static str,
    /// Oversampling factor (1 for exact).
    pub oversampling: f32,
    /// Whether candidates were rescored with the originals (binary: always; scalar: when
    /// oversampling is above 1, since without rescoring oversampling changes nothing).
    pub rescore: bool,
    /// Fraction of the true top-10 found in the first `limit` results, averaged over queries.
    pub recall_at_10: f64,
    /// Median latency of one query, one client thread.
    pub p50_ms: f64,
    /// 99th-percentile latency.
    pub p99_ms: f64,
    /// Queries per second, one client thread.
    pub qps: f64,
    /// Seconds to upsert the whole base set (`Durability::Sync`, batches of `batch`).
    pub build_s: f64,
    /// Points per second while building.
    pub ingest_points_per_s: f64,
    /// Bytes of the collection directory after close.
    pub disk_bytes: u64,
    /// Heap bytes of the open collection.
    pub ram_bytes: u64,
    /// Bytes of originals + codes + payload alone (the floor for `disk_bytes`).
    pub data_bytes: u64,
    /// p50 of the exact scan of the same collection, same run.
    pub exact_p50_ms: f64,
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

struct Timed {
    recall: f64,
    p50: f64,
    p99: f64,
    qps: f64,
}

fn run_queries(
    c: &Collection,
    queries: &Matrix<f32>,
    truth: &Matrix<i32>,
    limit: usize,
    params: &SearchParams,
) -> Result<Timed> {
    let mut lat = Vec::with_capacity(queries.rows());
    let mut found = 0usize;
    let total = Instant::now();
    for i in 0..queries.rows() {
        let t = Instant::now();
        let hits = c.search(queries.row(i), limit, params)?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        let want = &truth.row(i)[..10.min(truth.dim)];
        found += hits
            .iter()
            .filter(|h| match h.id {
                PointId::Num(n) => want.iter().any(|&w| i64::from(w) == n as i64),
                PointId::Uuid(_) => false,
            })
            .count();
    }
    let elapsed = total.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    Ok(Timed {
        recall: found as f64 / (queries.rows() * 10) as f64,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        qps: queries.rows() as f64 / elapsed,
    })
}

/// Runs the benchmark; `progress` receives a line before each phase.
pub fn run(opts: &BenchOptions, mut progress: impl FnMut(&str)) -> Result<Vec<BenchRow>> {
    if opts.limit < 10 {
        return Err(Error::InvalidArgument(
            "limit must be at least 10 to measure recall@10".into(),
        ));
    }
    let base = read_fvecs(&opts.data.join("base.fvecs"))?;
    let queries = read_fvecs(&opts.data.join("query.fvecs"))?;
    let truth = read_ivecs(&opts.data.join("groundtruth.ivecs"))?;
    if queries.rows() == 0 {
        return Err(Error::InvalidArgument(format!(
            "{}: query.fvecs holds no query",
            opts.data.display()
        )));
    }
    if queries.dim != base.dim || truth.rows() < queries.rows() || truth.dim < 10 {
        return Err(Error::InvalidArgument(format!(
            "{}: query dim, ground truth rows or ground truth depth (≥ 10) do not fit the base set",
            opts.data.display()
        )));
    }
    let mut out = Vec::new();
    for &quant in &opts.quantizations {
        let tmp = tempfile::tempdir().map_err(|e| crate::io_error(std::env::temp_dir(), e))?;
        let path = tmp.path().join("bench");
        let quantization = quant.quantization(opts.scalar_quantile);
        let mut config = CollectionConfig::new(base.dim, opts.distance)
            .with_quantization(quantization)
            .with_durability(Durability::Sync)
            .with_search_threads(opts.threads);
        if let Some(bytes) = opts.segment_bytes {
            config = config.with_live_segment_max_bytes(bytes);
        }
        progress(&format!(
            "[{}] ingesting {} points in batches of {}",
            quant.name(),
            base.rows(),
            opts.batch
        ));
        let c = Collection::create(&path, config)?;
        let start = Instant::now();
        let mut batch = Vec::with_capacity(opts.batch);
        for i in 0..base.rows() {
            batch.push(Point::new(i as u64, base.row(i).to_vec()));
            if batch.len() == opts.batch || i + 1 == base.rows() {
                c.upsert(&batch)?;
                batch.clear();
            }
        }
        c.close()?;
        let build_s = start.elapsed().as_secs_f64();
        let c = Collection::open(&path)?;
        let info = c.info()?;
        let data_bytes = info.disk.originals + info.disk.codes + info.disk.payloads;
        progress(&format!(
            "[{}] exact scan of {} queries",
            quant.name(),
            queries.rows()
        ));
        let exact_params = SearchParams::default().with_exact(true);
        run_queries(&c, &queries, &truth, opts.limit, &exact_params)?;
        let exact = run_queries(&c, &queries, &truth, opts.limit, &exact_params)?;
        let row = |t: &Timed, os: f32, rescore: bool| BenchRow {
            config: quant.name(),
            oversampling: os,
            rescore,
            recall_at_10: t.recall,
            p50_ms: t.p50,
            p99_ms: t.p99,
            qps: t.qps,
            build_s,
            ingest_points_per_s: base.rows() as f64 / build_s,
            disk_bytes: info.disk.total,
            ram_bytes: info.ram.total,
            data_bytes,
            exact_p50_ms: exact.p50,
        };
        match quant {
            BenchQuantization::None => out.push(row(&exact, 1.0, true)),
            BenchQuantization::Binary1
            | BenchQuantization::Binary1Q4
            | BenchQuantization::Binary1Q8
            | BenchQuantization::Binary15
            | BenchQuantization::Binary2
            | BenchQuantization::Scalar8 => {
                for &os in &opts.oversampling {
                    progress(&format!("[{}] oversampling {os}", quant.name()));
                    let rescore = quant != BenchQuantization::Scalar8 || os > 1.0;
                    let params = SearchParams::default()
                        .with_oversampling(os)
                        .with_rescore(rescore);
                    let t = run_queries(&c, &queries, &truth, opts.limit, &params)?;
                    out.push(row(&t, os, rescore));
                }
            }
        }
        c.close()?;
    }
    Ok(out)
}
