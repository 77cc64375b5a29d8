//! Per-dimension mean and standard deviation, accumulated with Welford's method in f64,
//! and seeded uniform sampling.

/// `k` distinct indices below `n` chosen uniformly (all of them when `n ≤ k`), sorted.
/// Floyd's algorithm over a splitmix64 stream seeded with `seed`: deterministic for a given
/// `(n, k, seed)` (the int8 training sample depends on it, `format-spec/quantization.md`).
pub fn uniform_sample(n: usize, k: usize, seed: u64) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    let mut stream = SplitMix64(seed);
    let mut chosen = std::collections::BTreeSet::new();
    for j in n - k..n {
        let t = (stream.next_u64() % (j as u64 + 1)) as usize;
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// The splitmix64 generator (Steele, Lea and Flood): its state advances by
/// `0x9E3779B97F4A7C15` and each output is the state mixed by two xor-shift-multiply
/// rounds. What seeded choices stored in files (samples, rotations) are drawn from, so its
/// outputs for a seed never change.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next output.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Streaming per-dimension statistics.
#[derive(Debug, Clone)]
pub struct Welford {
    n: u64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Welford {
    /// Statistics of `dim`-component vectors, none added yet.
    pub fn new(dim: usize) -> Self {
        Welford {
            n: 0,
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
        }
    }

    /// Adds one vector (extra or missing components are ignored).
    pub fn add(&mut self, v: &[f32]) {
        self.n += 1;
        let n = self.n as f64;
        for ((mean, m2), &x) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(v) {
            let x = f64::from(x);
            let delta = x - *mean;
            *mean += delta / n;
            *m2 += delta * (x - *mean);
        }
    }

    /// `(mean, sample standard deviation)` per dimension, as f32; the deviation is 0 for
    /// fewer than two vectors.
    pub fn finish(&self) -> (Vec<f32>, Vec<f32>) {
        let std = self
            .m2
            .iter()
            .map(|m2| {
                if self.n > 1 {
                    (m2 / (self.n - 1) as f64).sqrt() as f32
                } else {
                    0.0
                }
            })
            .collect();
        (self.mean.iter().map(|&m| m as f32).collect(), std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_gives_the_reference_outputs() {
        // The first outputs for seed 1234567 of the reference C implementation.
        let mut s = SplitMix64(1_234_567);
        assert_eq!(
            [s.next_u64(), s.next_u64(), s.next_u64()],
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
    }

    #[test]
    fn uniform_sample_is_distinct_sorted_and_in_range() {
        let s = uniform_sample(100, 30, 7);
        assert_eq!(s.len(), 30);
        assert!(s.iter().all(|&i| i < 100));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(uniform_sample(5, 5, 1).len(), 5);
        assert_eq!(uniform_sample(3, 10, 1), vec![0, 1, 2]);
    }

    #[test]
    fn matches_the_two_pass_formula() {
        let rows = [[1.0f32, 10.0], [2.0, 10.0], [4.0, 10.0], [9.0, 10.0]];
        let mut w = Welford::new(2);
        for r in &rows {
            w.add(r);
        }
        let (mean, std) = w.finish();
        assert_eq!(mean, [4.0, 10.0]);
        let var = ((1.0f64 - 4.0).powi(2) + 4.0 + 0.0 + 25.0) / 3.0;
        assert!((f64::from(std[0]) - var.sqrt()).abs() < 1e-6);
        assert_eq!(std[1], 0.0);
    }
}
