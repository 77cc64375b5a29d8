//! Per-dimension mean and standard deviation, accumulated with Welford's method in f64.

/// Streaming per-dimension statistics.
#[derive(Debug, Clone)]
pub(crate) struct Welford {
    n: u64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Welford {
    pub(crate) fn new(dim: usize) -> Self {
        Welford {
            n: 0,
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
        }
    }

    /// Adds one vector (extra or missing components are ignored).
    pub(crate) fn add(&mut self, v: &[f32]) {
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
    pub(crate) fn finish(&self) -> (Vec<f32>, Vec<f32>) {
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
