//! Binary quantization: 1-bit, and 2-bit and 1.5-bit codes built from per-dimension
//! statistics. Encodings: `format-spec/quantization.md`.

use crate::config::{Datatype, Distance};

/// Where the level boundaries sit, in standard deviations from the mean. Measured on the
/// 60k MiniLM set (recall@10 at oversampling 1, 2-bit / 1.5-bit): 0.43σ 0.9376 / 0.8902,
/// 0.5σ 0.9399 / 0.8976, 2/3σ (Qdrant's) 0.9332 / 0.8889, 0.8σ 0.9134 / 0.8703.
pub const LEVEL_SIGMAS: f32 = 0.5;

/// A multi-bit binary encoder: the segment's per-dimension statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiBit {
    /// Two bits per component (else one and a half).
    pub two_bits: bool,
    /// Per-dimension mean of the segment's vectors.
    pub mean: Vec<f32>,
    /// Per-dimension standard deviation.
    pub std: Vec<f32>,
}

impl MultiBit {
    /// Words of code per row: a plane of `ceil(dim/64)` words for level ≥ 1, then one of
    /// `ceil(dim/64)` words (2-bit) or `ceil(ceil(dim/2)/64)` words (1.5-bit) for level 2.
    pub fn words(two_bits: bool, dim: usize) -> usize {
        let plane = dim.div_ceil(64);
        plane
            + if two_bits {
                plane
            } else {
                dim.div_ceil(2).div_ceil(64)
            }
    }

    /// Bits that can differ between two codes.
    pub fn bits(two_bits: bool, dim: usize) -> usize {
        dim + if two_bits { dim } else { dim.div_ceil(2) }
    }

    /// The level of component `i`: 0 below `mean − T·std`, 2 from `mean + T·std`, else 1
    /// (always 1 for a constant component).
    fn level(&self, i: usize, x: f32) -> u8 {
        let (Some(&m), Some(&s)) = (self.mean.get(i), self.std.get(i)) else {
            return 1;
        };
        if s <= 0.0 {
            return 1;
        }
        let z = (x - m) / s;
        if z >= LEVEL_SIGMAS {
            2
        } else if z <= -LEVEL_SIGMAS {
            0
        } else {
            1
        }
    }

    /// Writes the code of `v`: the Hamming distance of two codes is the sum of their level
    /// differences (2-bit), or that with each pair's upper level shared (1.5-bit).
    pub fn encode(&self, v: &[f32], out: &mut [u64]) {
        out.fill(0);
        let plane = v.len().div_ceil(64);
        let (low, high) = out.split_at_mut(plane.min(out.len()));
        for (i, &x) in v.iter().enumerate() {
            let level = self.level(i, x);
            if level >= 1
                && let Some(w) = low.get_mut(i / 64)
            {
                *w |= 1 << (i % 64);
            }
            let j = if self.two_bits { i } else { i / 2 };
            if level == 2
                && let Some(w) = high.get_mut(j / 64)
            {
                *w |= 1 << (j % 64);
            }
        }
    }
}

/// The value above which a component's bit is 1: 0 for float data, 127 for `U8` data
/// (whose components are `0..=255`, so 127 is their midpoint).
pub fn threshold(datatype: Datatype) -> f32 {
    match datatype {
        Datatype::U8 => 127.0,
        Datatype::F32 | Datatype::F16 => 0.0,
    }
}

/// Writes the 1-bit code of `v` to `out` (`ceil(dim/64)` words): bit `i % 64` of word
/// `i / 64` is 1 iff `v[i] > threshold`. Tail bits are 0.
pub fn encode_one_bit(v: &[f32], threshold: f32, out: &mut [u64]) {
    out.fill(0);
    for (word, chunk) in out.iter_mut().zip(v.chunks(64)) {
        for (bit, &x) in chunk.iter().enumerate() {
            *word |= u64::from(x > threshold) << bit;
        }
    }
}

/// A query coded against binary codes asymmetrically: `bits` planes of `stride` words,
/// plane `b` holding bit `b` of every code position's quantized query weight.
#[derive(Debug, Clone, PartialEq)]
pub struct AsymQuery {
    pub bits: u32,
    pub planes: Vec<u64>,
}

impl AsymQuery {
    /// Codes the query weights for a segment's code layout.
    ///
    /// Each code bit position `j` gets a weight `w_j`: the query component for 1-bit codes,
    /// `q_i·σ_i` for both planes of multi-bit codes (the data's level steps scale with
    /// `σ_i`), and the larger of a pair's weights for the shared plane of 1.5-bit codes.
    /// Weights are quantized to `u_j = round((w_j + m)/(2m)·(2^bits − 1))`,
    /// `m = max|w_j|`; unused positions get 0. Then
    /// `Σ_b 2^b·popcount(code XOR plane_b)` ranks like `−Σ_j w_j·(2·bit_j − 1)`: the query
    /// against the code's ±1 (1-bit) or level (multi-bit) values.
    pub fn new(q: &[f32], multi_bit: Option<&MultiBit>, stride: usize, bits: u32) -> Self {
        let dim = q.len();
        let mut weights = vec![None::<f32>; stride * 64];
        match multi_bit {
            None => {
                for (slot, &x) in weights.iter_mut().zip(q) {
                    *slot = Some(x);
                }
            }
            Some(enc) => {
                let w: Vec<f32> = q.iter().zip(&enc.std).map(|(x, s)| x * s).collect();
                let second = dim.div_ceil(64) * 64;
                for (i, &x) in w.iter().enumerate() {
                    if let Some(slot) = weights.get_mut(i) {
                        *slot = Some(x);
                    }
                    let (j, x) = if enc.two_bits {
                        (second + i, x)
                    } else {
                        (second + i / 2, w.get(i ^ 1).map_or(x, |y| x.max(*y)))
                    };
                    if let Some(slot) = weights.get_mut(j) {
                        *slot = Some(x);
                    }
                }
            }
        }
        let m = weights.iter().flatten().fold(0.0f32, |m, w| m.max(w.abs()));
        let levels = ((1u32 << bits) - 1) as f32;
        let mut planes = vec![0u64; bits as usize * stride];
        for (j, w) in weights.iter().enumerate() {
            let Some(w) = w else { continue };
            let u = if m > 0.0 {
                ((w + m) / (2.0 * m) * levels).round() as u32
            } else {
                0
            };
            for b in 0..bits as usize {
                if u >> b & 1 == 1
                    && let Some(word) = planes.get_mut(b * stride + j / 64)
                {
                    *word |= 1 << (j % 64);
                }
            }
        }
        AsymQuery { bits, planes }
    }

    /// The top of the weighted distance's range, `2^bits − 1`.
    pub fn levels(&self) -> u32 {
        (1 << self.bits) - 1
    }
}

/// The score reported for a Hamming distance `h` over codes of `bits` bits when rescoring
/// is off.
///
/// The angle between two vectors is estimated as `θ = π·h/bits` (random-hyperplane
/// estimate); Cosine and Dot report `cos θ`, Euclid the unit-vector chord `2·sin(θ/2)`,
/// Manhattan `h` itself. Each is monotone in `h` in the distance's own direction, so order
/// is always right (higher-is-better scores fall as `h` grows, distances rise).
pub fn estimate_score(distance: Distance, h: f32, bits: usize) -> f32 {
    let theta = std::f32::consts::PI * h / bits.max(1) as f32;
    match distance {
        Distance::Cosine | Distance::Dot => theta.cos(),
        Distance::Euclid => 2.0 * (theta / 2.0).sin(),
        Distance::Manhattan => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_layout() {
        let mut v = vec![-1.0f32; 70];
        v[0] = 0.5;
        v[63] = 2.0;
        v[64] = 0.0;
        v[69] = 1.0;
        let mut out = [u64::MAX; 2];
        encode_one_bit(&v, 0.0, &mut out);
        assert_eq!(out, [1 | 1 << 63, 1 << 5]);
    }

    #[test]
    fn multi_bit_codes_measure_level_differences() {
        let enc = |two_bits| MultiBit {
            two_bits,
            mean: vec![0.0; 4],
            std: vec![1.0, 1.0, 1.0, 0.0],
        };
        let mut a = [0u64; 2];
        let mut b = [0u64; 2];
        // Levels: a = [2, 0, 1, 1], b = [0, 0, 2, 1] (the constant last dimension is 1).
        enc(true).encode(&[1.0, -1.0, 0.0, 5.0], &mut a);
        enc(true).encode(&[-1.0, -0.9, 0.7, -5.0], &mut b);
        assert_eq!(a, [0b1101, 0b0001]);
        let h: u32 = a.iter().zip(&b).map(|(x, y)| (x ^ y).count_ones()).sum();
        // Level differences per component: 2, 0, 1, 0.
        assert_eq!(h, 3);
        // 1.5-bit: the upper planes of pairs (0,1) and (2,3) are shared.
        let (mut a, mut b) = ([0u64; 2], [0u64; 2]);
        enc(false).encode(&[1.0, -1.0, 0.0, 5.0], &mut a);
        enc(false).encode(&[-1.0, -0.9, 0.7, -5.0], &mut b);
        assert_eq!((a, b), ([0b1101, 0b01], [0b1100, 0b10]));
        assert_eq!(
            (MultiBit::words(true, 384), MultiBit::words(false, 384)),
            (12, 9)
        );
        assert_eq!(
            (MultiBit::bits(true, 384), MultiBit::bits(false, 385)),
            (768, 578)
        );
    }

    #[test]
    fn weighted_popcounts_equal_the_weight_sum() {
        // Σ_b 2^b·popcount(code XOR plane_b) = Σ_j (bit_j ? L − u_j : u_j) for every code.
        let q: Vec<f32> = (0..70)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let stride = 2;
        for bits in [4u32, 8] {
            let a = AsymQuery::new(&q, None, stride, bits);
            let levels = a.levels();
            let m = q.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let u: Vec<u32> = q
                .iter()
                .map(|w| ((w + m) / (2.0 * m) * levels as f32).round() as u32)
                .collect();
            for seed in 0..50u64 {
                let code = [seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), seed << 7 & 0x3F];
                let mut weighted = [0u32];
                crate::simd::scalar::weighted_hamming_many(&a.planes, &code, stride, &mut weighted);
                let weighted = weighted[0];
                let direct: u32 = u
                    .iter()
                    .enumerate()
                    .map(|(j, &uj)| {
                        if code[j / 64] >> (j % 64) & 1 == 1 {
                            levels - uj
                        } else {
                            uj
                        }
                    })
                    .sum();
                assert_eq!(weighted, direct, "bits {bits} seed {seed}");
            }
        }
    }

    #[test]
    fn estimates_are_monotone_in_the_right_direction() {
        for d in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            for h in 0..384 {
                let h = h as f32;
                let (a, b) = (estimate_score(d, h, 384), estimate_score(d, h + 1.0, 384));
                if d.higher_is_better() {
                    assert!(a > b, "{d:?} h={h}");
                } else {
                    assert!(a < b && a >= 0.0, "{d:?} h={h}");
                }
            }
        }
    }
}
