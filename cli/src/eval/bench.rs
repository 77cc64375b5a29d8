//! The benchmark behind `vecsieve bench` and `vecsieve demo`.
//!
//! Every figure of one run comes from the same process on the same machine, so the ratios
//! (quantized vs exact latency) are meaningful even on a noisy shared machine; the absolute
//! times are not.

use std::path::PathBuf;
use std::time::Instant;

use super::{Matrix, read_fvecs, read_ivecs};
use vecsieve::Collection;
use vecsieve::vecs::{MultiVectors, read_multivectors};
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
    /// Rotated 1-bit codes (RaBitQ: centroids, rotation, per-vector factors, 4-bit
    /// queries) with rescoring.
    Rabitq1,
    /// Rotated 2-bit codes (extended RaBitQ) with rescoring.
    Rabitq2,
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
            BenchQuantization::Rabitq1 => "rabitq1",
            BenchQuantization::Rabitq2 => "rabitq2",
            BenchQuantization::Scalar8 => "scalar8",
        }
    }
}

impl BenchQuantization {
    /// Every configuration, cheapest codes first.
    pub const ALL: [BenchQuantization; 9] = [
        BenchQuantization::None,
        BenchQuantization::Binary1,
        BenchQuantization::Binary1Q4,
        BenchQuantization::Binary1Q8,
        BenchQuantization::Binary15,
        BenchQuantization::Binary2,
        BenchQuantization::Rabitq1,
        BenchQuantization::Rabitq2,
        BenchQuantization::Scalar8,
    ];

    /// The configuration named `name` (as [`name`](Self::name) writes it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.name() == name)
    }

    /// The configuration whose codes `quantization` is (a scalar quantile aside).
    #[must_use]
    pub fn of(quantization: &Quantization) -> Option<Self> {
        let same = |a: &Quantization, b: &Quantization| match (a, b) {
            (Quantization::Scalar(_), Quantization::Scalar(_)) => true,
            _ => a == b,
        };
        Self::ALL
            .into_iter()
            .find(|q| same(&q.quantization(None), quantization))
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
            BenchQuantization::Rabitq1 => {
                Quantization::Binary(binary.with_encoding(BinaryEncoding::RotatedOneBit))
            }
            BenchQuantization::Rabitq2 => {
                Quantization::Binary(binary.with_encoding(BinaryEncoding::RotatedTwoBits))
            }
            BenchQuantization::Scalar8 => {
                Quantization::Scalar(scalar_quantile.map_or_else(ScalarConfig::default, |q| {
                    ScalarConfig::default().with_quantile(q)
                }))
            }
        }
    }
}

/// An evaluation set: dense vectors (`base.fvecs`, `query.fvecs`) or multivectors
/// (`base_vectors.npy` + `base_offsets.npy`, `query_vectors.npy` + `query_offsets.npy`,
/// searched with `MaxSim`), with `groundtruth.ivecs` either way.
enum Set {
    Dense {
        base: Matrix<f32>,
        queries: Matrix<f32>,
    },
    Multi {
        base: MultiVectors,
        queries: MultiVectors,
    },
}

impl Set {
    fn read(dir: &std::path::Path) -> Result<Set> {
        if dir.join("base_vectors.npy").exists() {
            let read = |v: &str, o: &str| read_multivectors(&dir.join(v), &dir.join(o));
            return Ok(Set::Multi {
                base: read("base_vectors.npy", "base_offsets.npy")?,
                queries: read("query_vectors.npy", "query_offsets.npy")?,
            });
        }
        Ok(Set::Dense {
            base: read_fvecs(&dir.join("base.fvecs"))?,
            queries: read_fvecs(&dir.join("query.fvecs"))?,
        })
    }

    fn dim(&self) -> usize {
        match self {
            Set::Dense { base, .. } => base.dim,
            Set::Multi { base, .. } => base.vectors.dim,
        }
    }

    fn query_dim(&self) -> usize {
        match self {
            Set::Dense { queries, .. } => queries.dim,
            Set::Multi { queries, .. } => queries.vectors.dim,
        }
    }

    fn len(&self) -> usize {
        match self {
            Set::Dense { base, .. } => base.rows(),
            Set::Multi { base, .. } => base.len(),
        }
    }

    fn queries(&self) -> usize {
        match self {
            Set::Dense { queries, .. } => queries.rows(),
            Set::Multi { queries, .. } => queries.len(),
        }
    }

    fn multi(&self) -> bool {
        matches!(self, Set::Multi { .. })
    }

    fn point(&self, i: usize) -> Point {
        match self {
            Set::Dense { base, .. } => Point::new(i as u64, base.row(i).to_vec()),
            Set::Multi { base, .. } => Point::new_multi(i as u64, base.item(i)),
        }
    }

    fn search(
        &self,
        c: &Collection,
        i: usize,
        limit: usize,
        params: &SearchParams,
    ) -> Result<Vec<vecsieve::ScoredPoint>> {
        match self {
            Set::Dense { queries, .. } => c.search(queries.row(i), limit, params),
            Set::Multi { queries, .. } => c.search_using("", &queries.item(i), limit, params),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// A folder with `base.fvecs`, `query.fvecs` and `groundtruth.ivecs`, or a multivector
    /// set (`base_vectors.npy`, `base_offsets.npy`, `query_vectors.npy`,
    /// `query_offsets.npy`, `groundtruth.ivecs`: scored with `MaxSim`).
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
    /// Multivector sets: each quantized configuration is also built with the mean-pooled
    /// first stage keeping this fraction of the points (its rows are named `…+pooled`).
    pub pooled_prefilter: Option<f32>,
    /// Rotated configurations (`rabitq1`, `rabitq2`) are also searched adaptively
    /// ([`SearchParams::adaptive`]) at each oversampling, as the candidate pool.
    pub adaptive: bool,
    /// `scalar8` is also searched with this [`SearchParams::sketch_pool`] at each
    /// oversampling (rows named `scalar8+sketch`).
    pub sketch_pool: Option<f32>,
}

/// One measured configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// `none` or `binary1` (`binary1+pooled` with the mean-pooled first stage).
    pub config: String,
    /// Oversampling factor (1 for exact).
    pub oversampling: f32,
    /// Whether candidates were rescored with the originals (binary: always; scalar: when
    /// oversampling is above 1, since without rescoring oversampling changes nothing).
    pub rescore: bool,
    /// Whether rescoring stopped once the codes' error bound settled the results
    /// ([`SearchParams::adaptive`]).
    pub adaptive: bool,
    /// The [`SearchParams::sketch_pool`] of the search, if any.
    pub sketch_pool: Option<f32>,
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
    /// The pure code scan of one segment as large as the set, same run: the median time
    /// of the configuration's code kernel alone over that many rows (see [`scan_ms`]);
    /// `None` for configurations it does not cover.
    pub scan_ms: Option<f64>,
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
    set: &Set,
    truth: &Matrix<i32>,
    limit: usize,
    params: &SearchParams,
) -> Result<Timed> {
    let n = set.queries();
    let mut lat = Vec::with_capacity(n);
    let mut found = 0usize;
    let total = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let hits = set.search(c, i, limit, params)?;
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
        recall: found as f64 / (n * 10) as f64,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        qps: n as f64 / elapsed,
    })
}

/// The median time (ms, of 51 runs after one warm-up) of the code kernel a `quant` search
/// of `rows` dense vectors of `dim` scans first, alone over codes of that size: Hamming
/// distances for `binary1` (and the symmetric first stage of `binary1-q4`/`-q8`), nibble
/// lookups of every plane for `rabitq1`/`rabitq2`, u8 × 16-bit dot products for
/// `scalar8`. No estimate, selection or rescoring: what end-to-end search compares with.
/// `None` for the other configurations.
pub fn scan_ms(quant: BenchQuantization, rows: usize, dim: usize) -> Option<f64> {
    let kernels = vecsieve::simd::Kernels::detect();
    let words = dim.div_ceil(64);
    let noise = |i: usize| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut scan: Box<dyn FnMut()> = match quant {
        BenchQuantization::Binary1
        | BenchQuantization::Binary1Q4
        | BenchQuantization::Binary1Q8 => {
            let codes: Vec<u64> = (0..rows * words).map(noise).collect();
            let query: Vec<u64> = (0..words).map(|i| noise(i + 7)).collect();
            let mut out = vec![0u32; rows];
            Box::new(move || kernels.hamming_many(&query, std::hint::black_box(&codes), &mut out))
        }
        BenchQuantization::Rabitq1 | BenchQuantization::Rabitq2 => {
            let planes = if quant == BenchQuantization::Rabitq1 {
                1
            } else {
                2
            };
            let blocks = rows.div_ceil(32) * 32;
            let codes: Vec<u8> = (0..blocks * 8 * words * planes)
                .map(|i| noise(i) as u8)
                .collect();
            let luts: Vec<u8> = (0..32 * 8 * words).map(|i| (noise(i) % 57) as u8).collect();
            let mut out = vec![0u32; blocks];
            Box::new(move || {
                kernels.nibble_lut_sums(&luts, std::hint::black_box(&codes), planes, &mut out)
            })
        }
        BenchQuantization::Scalar8 => {
            let row = dim.next_multiple_of(64);
            let codes: Vec<u8> = (0..rows * row).map(|i| noise(i) as u8).collect();
            let query: Vec<i16> = (0..row).map(|i| (noise(i) % 2001) as i16 - 1000).collect();
            let mut out = vec![0i64; rows];
            Box::new(move || kernels.dot_u8i16_many(&query, std::hint::black_box(&codes), &mut out))
        }
        _ => return None,
    };
    scan();
    let mut times: Vec<f64> = (0..51)
        .map(|_| {
            let t = Instant::now();
            scan();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Some(percentile(&times, 0.5))
}

/// Runs the benchmark; `progress` receives a line before each phase.
pub fn run(opts: &BenchOptions, mut progress: impl FnMut(&str)) -> Result<Vec<BenchRow>> {
    if opts.limit < 10 {
        return Err(Error::InvalidArgument(
            "limit must be at least 10 to measure recall@10".into(),
        ));
    }
    let set = Set::read(&opts.data)?;
    let truth = read_ivecs(&opts.data.join("groundtruth.ivecs"))?;
    if set.queries() == 0 {
        return Err(Error::InvalidArgument(format!(
            "{}: the set holds no query",
            opts.data.display()
        )));
    }
    if set.query_dim() != set.dim() || truth.rows() < set.queries() || truth.dim < 10 {
        return Err(Error::InvalidArgument(format!(
            "{}: query dim, ground truth rows or ground truth depth (≥ 10) do not fit the base set",
            opts.data.display()
        )));
    }
    let mut out = Vec::new();
    let pooled = opts.pooled_prefilter.filter(|_| set.multi());
    let runs: Vec<(BenchQuantization, Option<f32>)> = opts
        .quantizations
        .iter()
        .flat_map(|&q| {
            let extra = pooled.filter(|_| q != BenchQuantization::None);
            std::iter::once((q, None)).chain(extra.map(|f| (q, Some(f))))
        })
        .collect();
    for (quant, prefilter) in runs {
        let name = match prefilter {
            Some(_) => format!("{}+pooled", quant.name()),
            None => quant.name().to_string(),
        };
        let tmp = tempfile::tempdir().map_err(|e| crate::io_error(std::env::temp_dir(), e))?;
        let path = tmp.path().join("bench");
        let quantization = quant.quantization(opts.scalar_quantile);
        let mut config = CollectionConfig::new(set.dim(), opts.distance)
            .with_quantization(quantization)
            .with_durability(Durability::Sync)
            .with_search_threads(opts.threads);
        if let Some(bytes) = opts.segment_bytes {
            config = config.with_live_segment_max_bytes(bytes);
        }
        if set.multi() {
            config = config.with_multivector();
            if let Some(f) = prefilter {
                config.multivector = config.multivector.map(|m| m.with_pooled_prefilter(f));
            }
        }
        progress(&format!(
            "[{name}] ingesting {} points in batches of {}",
            set.len(),
            opts.batch
        ));
        let c = Collection::create(&path, config)?;
        let start = Instant::now();
        let mut batch = Vec::with_capacity(opts.batch);
        for i in 0..set.len() {
            batch.push(set.point(i));
            if batch.len() == opts.batch || i + 1 == set.len() {
                c.upsert(&batch)?;
                batch.clear();
            }
        }
        c.close()?;
        let build_s = start.elapsed().as_secs_f64();
        let c = Collection::open(&path)?;
        let info = c.info()?;
        let data_bytes = info.disk.originals + info.disk.codes + info.disk.payloads;
        progress(&format!("[{name}] exact scan of {} queries", set.queries()));
        let exact_params = SearchParams::default().with_exact(true);
        run_queries(&c, &set, &truth, opts.limit, &exact_params)?;
        let exact = run_queries(&c, &set, &truth, opts.limit, &exact_params)?;
        let scan = if set.multi() {
            None
        } else {
            scan_ms(quant, set.len(), set.dim())
        };
        let row = |t: &Timed, os: f32, params: &SearchParams| BenchRow {
            config: name.clone(),
            oversampling: os,
            rescore: params.rescore.unwrap_or(true),
            adaptive: params.adaptive,
            sketch_pool: params.sketch_pool,
            recall_at_10: t.recall,
            p50_ms: t.p50,
            p99_ms: t.p99,
            qps: t.qps,
            build_s,
            ingest_points_per_s: set.len() as f64 / build_s,
            disk_bytes: info.disk.total,
            ram_bytes: info.ram.total,
            data_bytes,
            exact_p50_ms: exact.p50,
            scan_ms: scan,
        };
        match quant {
            BenchQuantization::None => out.push(row(&exact, 1.0, &exact_params)),
            BenchQuantization::Binary1
            | BenchQuantization::Binary1Q4
            | BenchQuantization::Binary1Q8
            | BenchQuantization::Binary15
            | BenchQuantization::Binary2
            | BenchQuantization::Rabitq1
            | BenchQuantization::Rabitq2
            | BenchQuantization::Scalar8 => {
                for &os in &opts.oversampling {
                    progress(&format!("[{name}] oversampling {os}"));
                    let rescore = quant != BenchQuantization::Scalar8 || os > 1.0;
                    let params = SearchParams::default()
                        .with_oversampling(os)
                        .with_rescore(rescore);
                    let t = run_queries(&c, &set, &truth, opts.limit, &params)?;
                    out.push(row(&t, os, &params));
                }
                let rotated = matches!(
                    quant,
                    BenchQuantization::Rabitq1 | BenchQuantization::Rabitq2
                );
                for &os in opts
                    .oversampling
                    .iter()
                    .filter(|_| opts.adaptive && rotated)
                {
                    progress(&format!("[{name}] adaptive, oversampling {os}"));
                    let params = SearchParams::default()
                        .with_oversampling(os)
                        .with_adaptive(true);
                    let t = run_queries(&c, &set, &truth, opts.limit, &params)?;
                    out.push(row(&t, os, &params));
                }
                let sketched = opts
                    .sketch_pool
                    .filter(|_| quant == BenchQuantization::Scalar8 && !set.multi());
                if let Some(f) = sketched {
                    for &os in &opts.oversampling {
                        progress(&format!("[{name}] sketch pool {f}, oversampling {os}"));
                        let params = SearchParams::default()
                            .with_oversampling(os)
                            .with_rescore(os > 1.0)
                            .with_sketch_pool(f);
                        let t = run_queries(&c, &set, &truth, opts.limit, &params)?;
                        let mut r = row(&t, os, &params);
                        r.config = format!("{name}+sketch");
                        // The sketches are made by the first such search and kept.
                        r.ram_bytes = c.info()?.ram.total;
                        out.push(r);
                    }
                }
            }
        }
        c.close()?;
    }
    Ok(out)
}
