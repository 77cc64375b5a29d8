//! 1-bit binary quantization. Encoding: `format-spec/quantization.md`.

use crate::config::{Datatype, Distance};

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

/// The score reported for a Hamming distance `h` over `dim` bits when rescoring is off.
///
/// The angle between two vectors is estimated as `θ = π·h/dim` (random-hyperplane
/// estimate); Cosine and Dot report `cos θ`, Euclid the unit-vector chord `2·sin(θ/2)`,
/// Manhattan `h` itself. Each is monotone in `h` in the distance's own direction, so order
/// is always right (higher-is-better scores fall as `h` grows, distances rise).
pub(crate) fn estimate_score(distance: Distance, h: u32, dim: usize) -> f32 {
    let theta = std::f32::consts::PI * h as f32 / dim as f32;
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
