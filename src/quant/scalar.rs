//! Scalar int8 quantization, trained per segment. Encoding: `format-spec/quantization.md`.
//!
//! Each component `x_i` is stored as a byte `c_i = round((x_i − lo_i) / s_i)` clamped to
//! `0..=255`, so `x_i ≈ lo_i + s_i·c_i`. A dot product with a float query then splits into
//! a per-query constant and an integer dot product:
//!
//! `q·x ≈ Σ q_i·lo_i + Σ (q_i·s_i)·c_i`, with `w_i = q_i·s_i` quantized per query to
//! 16-bit integers `round(w_i / a)`, `a = max|w_i| / 32000`, whose exact integer dot product
//! with the codes the u8 × i16 kernel computes (see [`ScalarParams::prepare`]).
//!
//! The query's own scale `a` is taken from the query, so multiplying a Dot query by any
//! positive factor scales every score alike and never changes the ranking (Qdrant encodes the
//! query on the data's range instead). Euclid adds the stored `‖x‖²` of each vector;
//! Manhattan needs one range for all components (`s_i = s`) and sums `|qc_i − c_i|` on the
//! same grid.

use crate::config::Distance;
use crate::quant::stats::uniform_sample;

/// At most this many vectors are sampled to train a segment's ranges.
pub const SAMPLE_MAX: usize = 10_000;

/// How the ranges are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeDesign {
    /// One `lo_i, s_i` per dimension.
    PerDimension = 0,
    /// One range for every component (required by Manhattan).
    Global = 1,
}

impl RangeDesign {
    /// The design stored as `code`, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(RangeDesign::PerDimension),
            1 => Some(RangeDesign::Global),
            _ => None,
        }
    }

    /// The design a distance uses.
    pub fn for_distance(distance: Distance) -> Self {
        match distance {
            Distance::Manhattan => RangeDesign::Global,
            Distance::Cosine | Distance::Dot | Distance::Euclid => RangeDesign::PerDimension,
        }
    }
}

/// A segment's trained quantizer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarParams {
    /// How the ranges were chosen.
    pub design: RangeDesign,
    /// Vectors in the training sample.
    pub sample_size: u32,
    /// Seed of the sample choice.
    pub seed: u64,
    /// The clipping quantile (1.0: min..max).
    pub quantile: f32,
    /// Lower end of each dimension's range.
    pub lo: Vec<f32>,
    /// Width of one code step in each dimension (0: the dimension is constant).
    pub scale: Vec<f32>,
}

/// Bytes of code per row: the dimension rounded up to 64 (zero padding scores 0).
pub fn code_stride(dim: usize) -> usize {
    dim.div_ceil(64) * 64
}

/// The rows to train on: all of them up to `SAMPLE_MAX`, else a seeded uniform sample
/// (sorted). Deterministic for a given `(n, seed)`.
pub fn sample_rows(n: usize, seed: u64) -> Vec<usize> {
    uniform_sample(n, SAMPLE_MAX, seed)
}

/// The `(lo, hi)` of `values` after dropping `k = floor(m·(1 − quantile)/2)` of the `m`
/// values at each end: clipping by values, whichever vectors they belong to.
fn clipped_range(values: &mut [f32], quantile: f32) -> (f32, f32) {
    let m = values.len();
    if m == 0 {
        return (0.0, 0.0);
    }
    // The tolerance keeps f32 rounding (1 − 0.98 = 0.0199999…) from dropping one value less.
    let share = m as f64 * (1.0 - f64::from(quantile)) / 2.0;
    let k = ((share + 1e-6).floor() as usize).min((m - 1) / 2);
    let (_, lo, _) = values.select_nth_unstable_by(k, f32::total_cmp);
    let lo = *lo;
    let (_, hi, _) = values.select_nth_unstable_by(m - 1 - k, f32::total_cmp);
    (lo, *hi)
}

/// Trains on `sample` (`sample.len() / dim` row-major vectors) with every value in
/// memory: the oracle of the streaming `Trainer` and the golden files' trainer.
pub fn train(
    dim: usize,
    sample: &[f32],
    quantile: Option<f32>,
    design: RangeDesign,
    seed: u64,
) -> ScalarParams {
    let quantile = quantile.unwrap_or(1.0);
    let ranges = sample_ranges(dim, &mut sample.to_vec(), quantile, design);
    params_from_ranges(
        &ranges,
        design,
        (sample.len() / dim.max(1)) as u32,
        seed,
        quantile,
    )
}

/// The clipped range of each dimension of a row-major sample (the same range repeated for
/// `Global`).
fn sample_ranges(
    dim: usize,
    sample: &mut [f32],
    quantile: f32,
    design: RangeDesign,
) -> Vec<(f32, f32)> {
    match design {
        RangeDesign::PerDimension => (0..dim)
            .map(|i| {
                let mut column: Vec<f32> = sample.iter().skip(i).step_by(dim).copied().collect();
                clipped_range(&mut column, quantile)
            })
            .collect(),
        RangeDesign::Global => vec![clipped_range(sample, quantile); dim],
    }
}

/// The quantizer for `(lo, hi)` ranges of each dimension.
fn params_from_ranges(
    ranges: &[(f32, f32)],
    design: RangeDesign,
    sample_size: u32,
    seed: u64,
    quantile: f32,
) -> ScalarParams {
    let mut lo = Vec::with_capacity(ranges.len());
    let mut scale = Vec::with_capacity(ranges.len());
    for &(l, h) in ranges {
        let s = (h - l) / 255.0;
        lo.push(l);
        scale.push(if s.is_finite() && s > 0.0 { s } else { 0.0 });
    }
    ScalarParams {
        design,
        sample_size,
        seed,
        quantile,
        lo,
        scale,
    }
}

/// Trains a quantizer on sample vectors fed one at a time. Without clipping (quantile 1)
/// it keeps only running minima and maxima; clipping needs the values, so it keeps the
/// sample (at most `SAMPLE_MAX` vectors).
pub struct Trainer {
    dim: usize,
    quantile: f32,
    design: RangeDesign,
    seed: u64,
    rows: u32,
    /// Running `(min, max)` per dimension (one pair for `Global`), without clipping.
    ranges: Vec<(f32, f32)>,
    /// The sample, row-major, with clipping.
    kept: Vec<f32>,
}

impl Trainer {
    /// A trainer for `rows` sample vectors (the capacity it reserves when it keeps them).
    pub fn new(
        dim: usize,
        quantile: Option<f32>,
        design: RangeDesign,
        seed: u64,
        rows: usize,
    ) -> Self {
        let quantile = quantile.unwrap_or(1.0);
        let kept = if quantile < 1.0 {
            Vec::with_capacity(rows.min(SAMPLE_MAX).saturating_mul(dim))
        } else {
            Vec::new()
        };
        Trainer {
            dim,
            quantile,
            design,
            seed,
            rows: 0,
            ranges: Vec::new(),
            kept,
        }
    }

    /// Adds one sample vector (`dim` components).
    pub fn add(&mut self, v: &[f32]) {
        self.rows += 1;
        if self.quantile < 1.0 {
            self.kept.extend_from_slice(v);
            return;
        }
        let widen = |(lo, hi): &mut (f32, f32), x: f32| {
            if x.total_cmp(lo).is_lt() {
                *lo = x;
            }
            if x.total_cmp(hi).is_gt() {
                *hi = x;
            }
        };
        match self.design {
            RangeDesign::PerDimension => {
                if self.ranges.is_empty() {
                    self.ranges = v.iter().map(|&x| (x, x)).collect();
                }
                for (r, &x) in self.ranges.iter_mut().zip(v) {
                    widen(r, x);
                }
            }
            RangeDesign::Global => {
                if let (None, Some(&x)) = (self.ranges.first(), v.first()) {
                    self.ranges.push((x, x));
                }
                if let Some(r) = self.ranges.first_mut() {
                    v.iter().for_each(|&x| widen(r, x));
                }
            }
        }
    }

    /// The quantizer: ranges over the sample, clipped at the quantile.
    pub fn finish(mut self) -> ScalarParams {
        let dim = self.dim;
        let ranges = if self.quantile < 1.0 {
            sample_ranges(dim, &mut self.kept, self.quantile, self.design)
        } else {
            match self.design {
                RangeDesign::PerDimension => self.ranges,
                RangeDesign::Global => {
                    vec![self.ranges.first().copied().unwrap_or_default(); dim]
                }
            }
        };
        let mut ranges = ranges;
        ranges.resize(dim, (0.0, 0.0));
        params_from_ranges(&ranges, self.design, self.rows, self.seed, self.quantile)
    }
}

impl ScalarParams {
    /// The 1-bit sign sketch of every code row (`stride` bytes each): bit `i` of a row's
    /// `ceil(dim/64)` words is 1 iff the value code `c` stands for, `lo_i + c·scale_i`, is
    /// above 0, the bit [`encode_one_bit`](crate::quant::binary::encode_one_bit) with
    /// threshold 0 gives the original. Multivector search compares these sketches first
    /// (see `search::multi`).
    pub fn sign_sketch(&self, codes: &[u8], stride: usize) -> Vec<u64> {
        let dim = self.lo.len();
        let words = dim.div_ceil(64);
        // The least code whose value is above 0, per dimension (256: none).
        let first_positive: Vec<u16> = self
            .lo
            .iter()
            .zip(&self.scale)
            .map(|(&lo, &scale)| {
                (0u16..256)
                    .find(|&c| lo + f32::from(c) * scale > 0.0)
                    .unwrap_or(256)
            })
            .collect();
        let rows = codes.len() / stride.max(1);
        let mut out = vec![0u64; rows * words];
        for (row, sketch) in codes
            .chunks_exact(stride.max(1))
            .zip(out.chunks_exact_mut(words))
        {
            for (i, (&c, &t)) in row.iter().zip(&first_positive).enumerate() {
                sketch[i / 64] |= u64::from(u16::from(c) >= t) << (i % 64);
            }
        }
        out
    }

    /// Writes the codes of `v` to `out` (`code_stride(dim)` bytes, zero padded).
    pub fn encode(&self, v: &[f32], out: &mut [u8]) {
        out.fill(0);
        for (((o, &x), &lo), &s) in out.iter_mut().zip(v).zip(&self.lo).zip(&self.scale) {
            if s > 0.0 {
                *o = ((x - lo) / s).round().clamp(0.0, 255.0) as u8;
            }
        }
    }

    /// Prepares a query (already normalized for Cosine) for this segment.
    ///
    /// `w_i = q_i·s_i` is quantized to 16-bit integers `round(w_i / alpha)`,
    /// `alpha = max|w_i| / QUERY_LEVELS`, so that `Σ w_i·c_i ≈ alpha·Σ v_i·c_i` with the
    /// integer sum exact ([`Kernels::dot_u8i16_many`](crate::simd::Kernels::dot_u8i16_many)).
    /// (An 8-bit query made the query's rounding error several times larger than the
    /// data's: recall@10 0.986 instead of 0.994 on the 60k MiniLM set.)
    pub fn prepare(&self, q: &[f32], distance: Distance, stride: usize) -> ScalarQuery {
        let mut codes = vec![0i16; stride];
        let mut l1_codes = vec![0u8; stride];
        let (alpha, base) = match distance {
            Distance::Cosine | Distance::Dot | Distance::Euclid => {
                let w: Vec<f32> = q.iter().zip(&self.scale).map(|(x, s)| x * s).collect();
                let alpha = w.iter().fold(0.0f32, |m, x| m.max(x.abs())) / QUERY_LEVELS;
                if alpha > 0.0 {
                    for (c, x) in codes.iter_mut().zip(&w) {
                        *c = (x / alpha).round().clamp(-QUERY_LEVELS, QUERY_LEVELS) as i16;
                    }
                }
                let base: f64 = q
                    .iter()
                    .zip(&self.lo)
                    .map(|(x, l)| f64::from(*x) * f64::from(*l))
                    .sum();
                (alpha, base)
            }
            Distance::Manhattan => {
                // A component outside the range is coded at the range's end; its distance to
                // the range is added exactly: |q − x̂| = dist(q, [lo, hi]) + |clamp(q) − x̂|.
                self.encode(q, &mut l1_codes);
                let outside: f64 = q
                    .iter()
                    .zip(self.lo.iter().zip(&self.scale))
                    .map(|(&x, (&lo, &s))| {
                        let hi = lo + 255.0 * s;
                        f64::from((lo - x).max(0.0) + (x - hi).max(0.0))
                    })
                    .sum();
                (self.scale.first().copied().unwrap_or(0.0), outside)
            }
        };
        ScalarQuery {
            codes,
            l1_codes,
            base: base as f32,
            alpha,
            norm2: q.iter().map(|x| x * x).sum(),
        }
    }
}

/// The largest magnitude of a query's 16-bit codes (within
/// [`QUERY16_MAX`](crate::simd::QUERY16_MAX), which the kernels take).
const QUERY_LEVELS: f32 = 32_000.0;

/// A query encoded for one segment's quantizer.
#[derive(Debug, Clone)]
pub struct ScalarQuery {
    /// The 16-bit query codes `v_i` (Cosine, Dot, Euclid), at most 32,000 in magnitude.
    pub codes: Vec<i16>,
    /// The query on the segment's global grid (Manhattan).
    pub l1_codes: Vec<u8>,
    /// `Σ q_i·lo_i` (Manhattan: the summed distance of out-of-range components to the range).
    pub base: f32,
    /// The query's own scale (Dot, Cosine, Euclid) or the grid step `s` (Manhattan).
    pub alpha: f32,
    /// `‖q‖²`.
    pub norm2: f32,
}

impl ScalarQuery {
    /// The estimated score, on the distance's own scale: `raw` is the integer dot product
    /// (or L1 sum for Manhattan), `norm2` the stored `‖x‖²` of the vector.
    pub fn score(&self, distance: Distance, raw: i64, norm2: f32) -> f32 {
        match distance {
            Distance::Cosine | Distance::Dot => self.base + self.alpha * raw as f32,
            Distance::Euclid => {
                let dot = self.base + self.alpha * raw as f32;
                (self.norm2 - 2.0 * dot + norm2).max(0.0).sqrt()
            }
            Distance::Manhattan => self.base + self.alpha * raw as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn sign_sketch_is_the_sign_code_of_the_dequantized_values() {
        // 70 dimensions (two sketch words, one partial), one of them constant.
        let dim = 70;
        let data: Vec<f32> = (0..dim * 50)
            .map(|i| {
                if i % dim == 5 {
                    0.25
                } else {
                    ((i * 7919 % 1000) as f32 / 450.0) - 1.1
                }
            })
            .collect();
        let p = train(dim, &data, Some(0.95), RangeDesign::PerDimension, 3);
        let stride = code_stride(dim);
        let mut codes = vec![0u8; 50 * stride];
        for (v, out) in data.chunks_exact(dim).zip(codes.chunks_exact_mut(stride)) {
            p.encode(v, out);
        }
        let sketch = p.sign_sketch(&codes, stride);
        assert_eq!(sketch.len(), 50 * 2);
        for (row, words) in codes.chunks_exact(stride).zip(sketch.chunks_exact(2)) {
            let values: Vec<f32> = (0..dim)
                .map(|i| p.lo[i] + f32::from(row[i]) * p.scale[i])
                .collect();
            let mut want = [0u64; 2];
            crate::quant::binary::encode_one_bit(&values, 0.0, &mut want);
            assert_eq!(words, want);
        }
        assert!(sketch.iter().any(|&w| w != 0) && sketch.iter().any(|&w| w != u64::MAX));
    }

    #[test]
    fn quantile_trims_values_not_vectors() {
        // One dimension: 98 values in 0..1 and two outliers. Clipping at 0.98 drops exactly
        // the outliers' share of values.
        let mut v: Vec<f32> = (0..98).map(|i| i as f32 / 97.0).collect();
        v.push(-100.0);
        v.push(100.0);
        let p = train(1, &v, Some(0.98), RangeDesign::PerDimension, 0);
        assert!(p.lo[0] >= 0.0 && p.lo[0] < 0.05, "{:?}", p.lo);
        let hi = p.lo[0] + 255.0 * p.scale[0];
        assert!(hi <= 1.0 + 1e-6 && hi > 0.95, "{hi}");
        let full = train(1, &v, None, RangeDesign::PerDimension, 0);
        assert_eq!(full.lo[0], -100.0);
    }

    #[test]
    fn dot_estimate_is_close_and_scale_invariant() {
        let dim = 48;
        let data: Vec<f32> = (0..dim * 200)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let p = train(dim, &data, None, RangeDesign::PerDimension, 1);
        let q: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let stride = code_stride(dim);
        let mut codes = vec![0u8; stride];
        let x = &data[..dim];
        p.encode(x, &mut codes);
        let prepared = p.prepare(&q, Distance::Dot, stride);
        let raw: i64 = prepared
            .codes
            .iter()
            .zip(&codes)
            .map(|(a, b)| i64::from(*a) * i64::from(*b))
            .sum();
        let est = prepared.score(Distance::Dot, raw, 0.0);
        assert!((est - dot(&q, x)).abs() < 0.02, "{est} vs {}", dot(&q, x));
        // Scaling the query by 1000 scales the estimate by 1000 (ranking unchanged).
        let big: Vec<f32> = q.iter().map(|x| x * 1000.0).collect();
        let prepared_big = p.prepare(&big, Distance::Dot, stride);
        assert_eq!(prepared_big.codes, prepared.codes);
        let est_big = prepared_big.score(Distance::Dot, raw, 0.0);
        assert!((est_big / 1000.0 - est).abs() < 1e-3 * est.abs().max(1.0));
    }

    #[test]
    fn sampling_is_deterministic_and_bounded() {
        assert_eq!(sample_rows(5, 1), vec![0, 1, 2, 3, 4]);
        let a = sample_rows(50_000, 7);
        assert_eq!(a.len(), SAMPLE_MAX);
        assert_eq!(a, sample_rows(50_000, 7));
        assert_ne!(a, sample_rows(50_000, 8));
        assert!(a.windows(2).all(|w| w[0] < w[1]) && *a.last().unwrap() < 50_000);
    }

    #[test]
    fn constant_dimension_encodes_to_zero() {
        let p = train(2, &[1.0, 5.0, 1.0, 6.0], None, RangeDesign::PerDimension, 0);
        assert_eq!(p.scale[0], 0.0);
        let mut out = [9u8; 64];
        p.encode(&[1.0, 6.0], &mut out);
        assert_eq!(&out[..3], &[0, 255, 0]);
    }

    #[test]
    fn streaming_trainer_equals_training_on_the_whole_sample() {
        let dim = 7;
        let data: Vec<f32> = (0..dim * 300)
            .map(|i| ((i * 7919) % 1013) as f32 / 97.0 - 5.0 + if i % 11 == 0 { -0.0 } else { 0.0 })
            .collect();
        for design in [RangeDesign::PerDimension, RangeDesign::Global] {
            for quantile in [None, Some(1.0), Some(0.9)] {
                let mut t = Trainer::new(dim, quantile, design, 3, data.len() / dim);
                data.chunks_exact(dim).for_each(|row| t.add(row));
                assert_eq!(
                    t.finish(),
                    train(dim, &data, quantile, design, 3),
                    "{design:?} {quantile:?}"
                );
            }
            let empty = Trainer::new(dim, None, design, 3, 0).finish();
            assert_eq!(empty, train(dim, &[], None, design, 3));
        }
    }
}
