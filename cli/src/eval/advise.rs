//! The quantization advisor behind `vecsieve advise`: which quantization and oversampling
//! keep recall above a target on the user's own data, and what each costs.
//!
//! Queries are held-out points of the collection (or a given set). The other points are
//! copied, without payloads, into one temporary collection per code family (the user's
//! collection is only read); the exact ground truth comes from an exact scan of the same
//! points. Every mode is measured at each oversampling on the same queries, in the same
//! run, one search thread.

use std::path::PathBuf;
use std::time::Instant;

use super::bench::{BenchQuantization, percentile};
use vecsieve::Collection;
use vecsieve::optimizer::OptimizerConfig;
use vecsieve::tooling as binary;
use vecsieve::tooling::uniform_sample;
use vecsieve::{CollectionConfig, Distance, Durability, SearchParams};
use vecsieve::{Error, Result};
use vecsieve::{Point, PointId, Vector, VectorRef};

/// What to measure.
#[derive(Debug, Clone)]
pub struct AdviseOptions {
    /// Recall@limit the recommendation must reach.
    pub target_recall: f64,
    /// Results per query.
    pub limit: usize,
    /// Held-out queries sampled from the collection (ignored with `queries_given`).
    pub queries: usize,
    /// Queries to use instead of held-out points (every point is then searched).
    pub queries_given: Option<Vec<Vector>>,
    /// The vector to advise on (Qdrant's `using`; `""`: the default vector). A multivector
    /// is measured with multivector queries and `MaxSim`.
    pub using: String,
    /// Oversampling factors to try.
    pub oversampling: Vec<f32>,
    /// Seed of the held-out sample.
    pub seed: u64,
    /// Where the temporary collections go (default: the system's temp directory).
    pub temp_dir: Option<PathBuf>,
}

impl Default for AdviseOptions {
    fn default() -> Self {
        AdviseOptions {
            target_recall: 0.95,
            limit: 10,
            queries: 200,
            queries_given: None,
            using: String::new(),
            oversampling: (1..=8).map(|o| o as f32).collect(),
            seed: 0x5eed,
            temp_dir: None,
        }
    }
}

/// One measured configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AdviseRow {
    /// The configuration (as `vecsieve create --quantization` names it).
    pub mode: BenchQuantization,
    /// Oversampling factor.
    pub oversampling: f32,
    /// Candidates rescored with the originals.
    pub rescore: bool,
    /// Recall@limit averaged over the queries.
    pub recall: f64,
    /// One-sided 95 % lower confidence bound of the recall (normal approximation over
    /// `queries × limit` trials): what "meets the target" is judged on.
    pub recall_low: f64,
    /// Median latency of one query, one thread.
    pub p50_ms: f64,
    /// Bytes of codes scanned per point (originals for `none`): the RAM a search needs
    /// resident; rescoring reads originals on demand.
    pub ram_bytes_per_point: f64,
    /// `recall_low ≥ target`.
    pub meets_target: bool,
}

/// Whether 1-bit codes rank points like the true distance does.
#[derive(Debug, Clone, PartialEq)]
pub struct Suitability {
    /// Spearman rank correlation between Hamming distances of 1-bit codes and true
    /// distances, per query over a sample of points, averaged over queries.
    pub spearman: f64,
    /// Queries × points the correlation was computed over.
    pub pairs: usize,
    /// What it means.
    pub verdict: &'static str,
}

/// The advisor's findings.
#[derive(Debug, Clone)]
pub struct Advice {
    /// Points searched (the collection minus held-out queries).
    pub points: usize,
    /// Queries used.
    pub queries: usize,
    /// Results per query.
    pub limit: usize,
    /// The target.
    pub target_recall: f64,
    /// p50 of the exact scan, same run.
    pub exact_p50_ms: f64,
    /// Every configuration measured.
    pub rows: Vec<AdviseRow>,
    /// Index in `rows` of the cheapest configuration meeting the target (least RAM, then
    /// lowest p50); `None` if none does (then only an exact scan reaches it).
    pub recommended: Option<usize>,
    /// The binarization check.
    pub suitability: Suitability,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// Points sampled for the suitability check.
const SUITABILITY_POINTS: usize = 1000;
/// Queries used for the suitability check.
const SUITABILITY_QUERIES: usize = 50;

/// Measures every mode on the collection's points. `progress` receives a line per phase.
pub fn advise(
    collection: &Collection,
    opts: &AdviseOptions,
    mut progress: impl FnMut(&str),
) -> Result<Advice> {
    let start = Instant::now();
    if !(0.0..=1.0).contains(&opts.target_recall) {
        return Err(Error::InvalidArgument(format!(
            "target recall {} must be in 0..=1",
            opts.target_recall
        )));
    }
    if opts.limit == 0 || opts.limit > 1000 {
        return Err(Error::InvalidArgument(format!(
            "limit {} must be in 1..=1000",
            opts.limit
        )));
    }
    if opts.oversampling.iter().any(|o| !(1.0..=100.0).contains(o)) {
        return Err(Error::InvalidArgument(
            "oversampling factors must be in 1..=100".into(),
        ));
    }
    let full = collection.config();
    let config = match full.vectors.get(&opts.using) {
        Some(p) => *p,
        None if opts.using.is_empty() => full.default_vector(),
        None => {
            return Err(vecsieve::Error::UnknownVector {
                name: opts.using.clone(),
                known: full.vectors.keys().cloned().collect(),
            });
        }
    };
    let n = collection.len();
    let held_out: Vec<usize> = match &opts.queries_given {
        Some(_) => Vec::new(),
        None => {
            if opts.queries == 0 || opts.queries * 2 > n {
                return Err(Error::InvalidArgument(format!(
                    "{} held-out queries from {n} points: ask for at least 1 and at most half \
                     the points, or pass a query file",
                    opts.queries
                )));
            }
            uniform_sample(n, opts.queries, opts.seed)
        }
    };
    let suitability_rows = uniform_sample(n, SUITABILITY_POINTS, opts.seed ^ 0xa5a5);

    let tmp = match &opts.temp_dir {
        Some(d) => tempfile::tempdir_in(d).map_err(|e| crate::io_error(d, e))?,
        None => tempfile::tempdir().map_err(|e| crate::io_error(std::env::temp_dir(), e))?,
    };
    // One collection per code family; the query encodings of 1-bit codes share one.
    // Rotated codes estimate Euclidean distances and inner products of dense vectors.
    let rotated = config.distance != Distance::Manhattan && config.multivector.is_none();
    let families = [
        BenchQuantization::Binary1,
        BenchQuantization::Binary15,
        BenchQuantization::Binary2,
        BenchQuantization::Rabitq1,
        BenchQuantization::Rabitq2,
        BenchQuantization::Scalar8,
    ]
    .into_iter()
    .filter(|&q| rotated || !matches!(q, BenchQuantization::Rabitq1 | BenchQuantization::Rabitq2));
    let mut copies = Vec::new();
    for q in families {
        let mut c = CollectionConfig::new(config.dim, config.distance)
            .with_datatype(config.datatype)
            .with_quantization(q.quantization(None));
        c.multivector = config.multivector;
        let c = c
            .with_durability(Durability::Buffered)
            .with_search_threads(1)
            .with_optimizer(OptimizerConfig {
                background: false,
                ..OptimizerConfig::default()
            });
        copies.push((q, Collection::create(tmp.path().join(q.name()), c)?));
    }

    progress(&format!(
        "copying {n} points into {} temporary collections",
        copies.len()
    ));
    let mut held_queries: Vec<Vector> = Vec::new();
    let mut sampled: Vec<Vec<f32>> = Vec::new();
    let mut index = 0usize;
    let mut kept = Vec::with_capacity(1000);
    collection.for_each_point(1000, |batch| {
        kept.clear();
        for p in batch {
            // Points without the vector are left out (they are never among its results).
            let Some(v) = p.get_vector(&opts.using) else {
                continue;
            };
            let v = match v {
                VectorRef::Dense(d) => Vector::Dense(d.to_vec()),
                VectorRef::Multi(m) => Vector::Multi(m.to_vec()),
            };
            if suitability_rows.binary_search(&index).is_ok() {
                match &v {
                    Vector::Dense(d) => sampled.push(d.clone()),
                    Vector::Multi(m) => sampled.extend(m.iter().take(4).cloned()),
                }
            }
            if held_out.binary_search(&index).is_ok() {
                held_queries.push(v);
            } else {
                kept.push(Point::without_vectors(p.id).with_vector("", v));
            }
            index += 1;
        }
        for (_, c) in &copies {
            c.upsert(&kept)?;
        }
        Ok(())
    })?;
    let queries: &[Vector] = opts.queries_given.as_deref().unwrap_or(&held_queries);
    for (_, c) in &copies {
        c.seal()?;
    }
    let points = copies.first().map_or(0, |(_, c)| c.len());

    progress(&format!("exact ground truth for {} queries", queries.len()));
    let reference = &copies.first().ok_or(Error::Closed)?.1;
    let exact = SearchParams::default().with_exact(true);
    let mut truth: Vec<Vec<PointId>> = Vec::with_capacity(queries.len());
    let mut exact_lat = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        let hits = reference.search_using("", q, opts.limit, &exact)?;
        exact_lat.push(t.elapsed().as_secs_f64() * 1e3);
        truth.push(hits.into_iter().map(|h| h.id).collect());
    }
    exact_lat.sort_by(f64::total_cmp);

    let mut rows = Vec::new();
    let trials = (queries.len() * opts.limit) as f64;
    let mut measure =
        |mode: BenchQuantization, c: &Collection, os: f32, rescore: bool, ram: f64| -> Result<()> {
            let params = SearchParams::default()
                .with_oversampling(os)
                .with_rescore(rescore);
            let mut lat = Vec::with_capacity(queries.len());
            let mut found = 0usize;
            for (q, want) in queries.iter().zip(&truth) {
                let t = Instant::now();
                let hits = c.search_using("", q, opts.limit, &params)?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                found += hits.iter().filter(|h| want.contains(&h.id)).count();
            }
            lat.sort_by(f64::total_cmp);
            let recall = found as f64 / trials.max(1.0);
            let recall_low = recall - 1.645 * (recall * (1.0 - recall) / trials.max(1.0)).sqrt();
            rows.push(AdviseRow {
                mode,
                oversampling: os,
                rescore,
                recall,
                recall_low,
                p50_ms: percentile(&lat, 0.5),
                ram_bytes_per_point: ram,
                meets_target: recall_low >= opts.target_recall,
            });
            Ok(())
        };
    for (family, c) in &copies {
        let ram = c.info()?.disk.codes as f64 / points.max(1) as f64;
        let modes: &[BenchQuantization] = match family {
            BenchQuantization::Binary1 => &[
                BenchQuantization::Binary1,
                BenchQuantization::Binary1Q4,
                BenchQuantization::Binary1Q8,
            ],
            other => std::slice::from_ref(other),
        };
        for &mode in modes {
            if mode != *family {
                // A query encoding of 1-bit codes: no segment is rewritten.
                c.set_quantization(mode.quantization(None))?;
            }
            progress(&format!("measuring {}", mode.name()));
            if mode == BenchQuantization::Scalar8 {
                measure(mode, c, 1.0, false, ram)?;
            }
            for &os in &opts.oversampling {
                measure(mode, c, os, true, ram)?;
            }
        }
    }
    // Originals per point, as stored (a multivector's every vector).
    let originals = reference.info()?.disk.originals as f64 / points.max(1) as f64;
    rows.push(AdviseRow {
        mode: BenchQuantization::None,
        oversampling: 1.0,
        rescore: false,
        recall: 1.0,
        recall_low: 1.0,
        p50_ms: percentile(&exact_lat, 0.5),
        ram_bytes_per_point: originals,
        meets_target: true,
    });
    let recommended = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.meets_target && r.mode != BenchQuantization::None)
        .min_by(|(_, a), (_, b)| {
            a.ram_bytes_per_point
                .total_cmp(&b.ram_bytes_per_point)
                .then(a.p50_ms.total_cmp(&b.p50_ms))
        })
        .map(|(i, _)| i);

    progress("binarization check");
    // The suitability check compares single vectors: a multivector's first vectors.
    let dense_queries: Vec<Vec<f32>> = queries
        .iter()
        .filter_map(|q| match q {
            Vector::Dense(d) => Some(d.clone()),
            Vector::Multi(m) => m.first().cloned(),
        })
        .collect();
    let suitability = suitability(&dense_queries, &sampled, config.distance, config.datatype);
    for (_, c) in copies {
        c.close()?;
    }
    Ok(Advice {
        points,
        queries: queries.len(),
        limit: opts.limit,
        target_recall: opts.target_recall,
        exact_p50_ms: percentile(&exact_lat, 0.5),
        rows,
        recommended,
        suitability,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Average ranks (ties share the mean of their positions).
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Pearson correlation of two rank vectors (Spearman's rho with ties handled); 0 when a
/// side is constant.
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let mut cov = 0.0;
    let mut va = 0.0;
    let mut vb = 0.0;
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// Spearman correlation between 1-bit Hamming distances and true distances.
fn suitability(
    queries: &[Vec<f32>],
    points: &[Vec<f32>],
    distance: Distance,
    datatype: vecsieve::Datatype,
) -> Suitability {
    let threshold = binary::threshold(datatype);
    let bits = |v: &[f32]| {
        let mut code = vec![0u64; v.len().div_ceil(64)];
        binary::encode_one_bit(v, threshold, &mut code);
        code
    };
    let point_bits: Vec<Vec<u64>> = points.iter().map(|p| bits(p)).collect();
    let mut total = 0.0;
    let mut counted = 0usize;
    for q in queries.iter().take(SUITABILITY_QUERIES) {
        let qb = bits(q);
        let hamming: Vec<f64> = point_bits
            .iter()
            .map(|pb| {
                pb.iter()
                    .zip(&qb)
                    .map(|(a, b)| (a ^ b).count_ones())
                    .sum::<u32>() as f64
            })
            .collect();
        // Lower is closer on both sides.
        let truth: Vec<f64> = points
            .iter()
            .map(|p| {
                let pairs = q.iter().zip(p).map(|(a, b)| (f64::from(*a), f64::from(*b)));
                match distance {
                    Distance::Cosine | Distance::Dot => -pairs.map(|(a, b)| a * b).sum::<f64>(),
                    Distance::Euclid => pairs.map(|(a, b)| (a - b).powi(2)).sum::<f64>(),
                    Distance::Manhattan => pairs.map(|(a, b)| (a - b).abs()).sum::<f64>(),
                }
            })
            .collect();
        if points.len() > 1 {
            total += spearman(&hamming, &truth);
            counted += 1;
        }
    }
    let rho = if counted == 0 {
        0.0
    } else {
        total / counted as f64
    };
    let verdict = if rho >= 0.7 {
        "suited: 1-bit codes rank points much like the true distance; binary quantization with rescoring should hold recall at small oversampling"
    } else if rho >= 0.4 {
        "partly suited: 1-bit codes keep a coarse order; expect to need 2-bit codes or large oversampling, or use scalar8"
    } else {
        "not suited: 1-bit codes barely follow the true distance (uncentered or low-dimensional data?); use scalar8"
    };
    Suitability {
        spearman: rho,
        pairs: counted * points.len(),
        verdict,
    }
}

/// The recall-vs-oversampling curves, one per mode, as an SVG document.
#[must_use]
pub fn plot_svg(advice: &Advice) -> String {
    const W: f64 = 760.0;
    const H: f64 = 460.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 200.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 60.0;
    const COLORS: [&str; 7] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    ];
    let curves: Vec<(BenchQuantization, Vec<(f64, f64)>)> = BenchQuantization::ALL
        .into_iter()
        .filter(|m| *m != BenchQuantization::None)
        .map(|m| {
            let pts = advice
                .rows
                .iter()
                .filter(|r| r.mode == m && r.rescore)
                .map(|r| (f64::from(r.oversampling), r.recall))
                .collect();
            (m, pts)
        })
        .filter(|(_, pts): &(_, Vec<_>)| !pts.is_empty())
        .collect();
    let all = curves.iter().flat_map(|(_, p)| p.iter());
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max).max(2.0);
    let y_min = all
        .map(|p| p.1)
        .fold(advice.target_recall, f64::min)
        .min(1.0);
    let y_min = ((y_min - 0.02) * 20.0).floor() / 20.0;
    let y_min = y_min.clamp(0.0, 0.95);
    let px = |x: f64| LEFT + (x - 1.0) / (x_max - 1.0) * (W - LEFT - RIGHT);
    let py = |y: f64| TOP + (1.0 - (y - y_min) / (1.0 - y_min)) * (H - TOP - BOTTOM);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">recall@{} vs \
         oversampling ({} points, {} queries)</text>\n",
        (W - RIGHT + LEFT) / 2.0,
        advice.limit,
        advice.points,
        advice.queries
    );
    let (x0, x1, y0, y1) = (px(1.0), px(x_max), py(y_min), py(1.0));
    s += &format!(
        "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"black\"/>\n\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\" stroke=\"black\"/>\n"
    );
    let mut x = 1.0;
    while x <= x_max + 1e-9 {
        s += &format!(
            "<line x1=\"{0}\" y1=\"{y0}\" x2=\"{0}\" y2=\"{1}\" stroke=\"black\"/>\
             <text x=\"{0}\" y=\"{2}\" text-anchor=\"middle\">{x}</text>\n",
            px(x),
            y0 + 5.0,
            y0 + 20.0
        );
        x += 1.0;
    }
    let mut y = y_min;
    while y <= 1.0 + 1e-9 {
        s += &format!(
            "<line x1=\"{x0}\" y1=\"{0}\" x2=\"{x1}\" y2=\"{0}\" stroke=\"#ddd\"/>\
             <text x=\"{1}\" y=\"{2}\" text-anchor=\"end\">{y:.2}</text>\n",
            py(y),
            x0 - 6.0,
            py(y) + 4.0
        );
        y += 0.05;
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">oversampling</text>\n\
         <text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">recall</text>\n",
        (x0 + x1) / 2.0,
        H - 15.0,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
    let ty = py(advice.target_recall);
    s += &format!(
        "<line x1=\"{x0}\" y1=\"{ty}\" x2=\"{x1}\" y2=\"{ty}\" stroke=\"#888\" \
         stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{}\" fill=\"#555\">target {}</text>\n",
        x1 - 80.0,
        ty - 5.0,
        advice.target_recall
    );
    for (i, (mode, pts)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            path.join(" ")
        );
        for &(x, y) in pts {
            s += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>\n",
                px(x),
                py(y)
            );
        }
        let ly = TOP + 20.0 + 20.0 * i as f64;
        s += &format!(
            "<line x1=\"{0}\" y1=\"{ly}\" x2=\"{1}\" y2=\"{ly}\" stroke=\"{color}\" \
             stroke-width=\"3\"/><text x=\"{2}\" y=\"{3}\">{4}</text>\n",
            W - RIGHT + 20.0,
            W - RIGHT + 45.0,
            W - RIGHT + 52.0,
            ly + 4.0,
            mode.name()
        );
    }
    s += "</svg>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_monotone_and_reversed_orders() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [10.0, 20.0, 25.0, 40.0, 41.0];
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        let r: Vec<f64> = b.iter().map(|x| -x).collect();
        assert!((spearman(&a, &r) + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&a, &[3.0; 5]), 0.0);
        // Ties share their mean rank.
        assert_eq!(ranks(&[5.0, 1.0, 5.0, 0.0]), vec![2.5, 1.0, 2.5, 0.0]);
    }
}
