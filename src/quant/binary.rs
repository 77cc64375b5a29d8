//! Binary quantization: 1-bit, and 2-bit and 1.5-bit codes built from per-dimension
//! statistics. Encodings: `format-spec/quantization.md`.

use crate::config::{Datatype, Distance};

/// Where the level boundaries sit, in standard deviations from the mean. Measured on the
/// 60k MiniLM set (recall@10 at oversampling 1, 2-bit / 1.5-bit): 0.43σ 0.9376 / 0.8902,
/// 0.5σ 0.9399 / 0.8976, 2/3σ (Qdrant's) 0.9332 / 0.8889, 0.8σ 0.9134 / 0.8703.
pub(crate) const LEVEL_SIGMAS: f32 = 0.5;

/// A multi-bit binary encoder: the segment's per-dimension statistics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MultiBit {
    pub two_bits: bool,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl MultiBit {
    /// Words of code per row: a plane of `ceil(dim/64)` words for level ≥ 1, then one of
    /// `ceil(dim/64)` words (2-bit) or `ceil(ceil(dim/2)/64)` words (1.5-bit) for level 2.
    pub(crate) fn words(two_bits: bool, dim: usize) -> usize {
        let plane = dim.div_ceil(64);
        plane
            + if two_bits {
                plane
            } else {
                dim.div_ceil(2).div_ceil(64)
            }
    }

    /// Bits that can differ between two codes.
    pub(crate) fn bits(two_bits: bool, dim: usize) -> usize {
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
    pub(crate) fn encode(&self, v: &[f32], out: &mut [u64]) {
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
pub(crate) fn threshold(datatype: Datatype) -> f32 {
    match datatype {
        Datatype::U8 => 127.0,
        Datatype::F32 | Datatype::F16 => 0.0,
    }
}

/// Writes the 1-bit code of `v` to `out` (`ceil(dim/64)` words): bit `i % 64` of word
/// `i / 64` is 1 iff `v[i] > threshold`. Tail bits are 0.
pub(crate) fn encode_one_bit(v: &[f32], threshold: f32, out: &mut [u64]) {
    out.fill(0);
    for (word, chunk) in out.iter_mut().zip(v.chunks(64)) {
        for (bit, &x) in chunk.iter().enumerate() {
            *word |= u64::from(x > threshold) << bit;
        }
    }
}

/// The score reported for a Hamming distance `h` over codes of `bits` bits when rescoring
/// is off.
///
/// The angle between two vectors is estimated as `θ = π·h/bits` (random-hyperplane
/// estimate); Cosine and Dot report `cos θ`, Euclid the unit-vector chord `2·sin(θ/2)`,
/// Manhattan `h` itself. Each is monotone in `h` in the distance's own direction, so order
/// is always right (higher-is-better scores fall as `h` grows, distances rise).
pub(crate) fn estimate_score(distance: Distance, h: u32, bits: usize) -> f32 {
    let theta = std::f32::consts::PI * h as f32 / bits.max(1) as f32;
    match distance {
        Distance::Cosine | Distance::Dot => theta.cos(),
        Distance::Euclid => 2.0 * (theta / 2.0).sin(),
        Distance::Manhattan => h as f32,
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
    fn estimates_are_monotone_in_the_right_direction() {
        for d in [
            Distance::Cosine,
            Distance::Dot,
            Distance::Euclid,
            Distance::Manhattan,
        ] {
            for h in 0..384 {
                let (a, b) = (estimate_score(d, h, 384), estimate_score(d, h + 1, 384));
                if d.higher_is_better() {
                    assert!(a > b, "{d:?} h={h}");
                } else {
                    assert!(a < b && a >= 0.0, "{d:?} h={h}");
                }
            }
        }
    }
}
