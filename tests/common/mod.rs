//! Shared test helpers: a seeded RNG, temp dirs, and the brute-force oracle.
#![allow(dead_code)]

pub mod batches;
pub mod stall;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vecsieve::{Distance, PointId};

/// xorshift64*: deterministic, seedable, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.unit()).collect()
    }
}

/// A deterministic vector for an id (the crash test's writer and checker agree on it).
pub fn vector_for(id: u64, dim: usize) -> Vec<f32> {
    let mut r = Rng::new(id.wrapping_add(0x5EED));
    r.vector(dim)
}

pub fn score(distance: Distance, a: &[f32], b: &[f32]) -> f64 {
    let pairs = a.iter().zip(b).map(|(&x, &y)| (f64::from(x), f64::from(y)));
    match distance {
        Distance::Cosine | Distance::Dot => pairs.map(|(x, y)| x * y).sum(),
        Distance::Euclid => pairs.map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt(),
        Distance::Manhattan => pairs.map(|(x, y)| (x - y).abs()).sum(),
    }
}

/// Brute-force search in f64: best first, ties by lower id.
pub fn brute_force(
    points: &BTreeMap<PointId, Vec<f32>>,
    query: &[f32],
    distance: Distance,
    limit: usize,
) -> Vec<(PointId, f64)> {
    let mut all: Vec<(PointId, f64)> = points
        .iter()
        .map(|(id, v)| (*id, score(distance, query, v)))
        .collect();
    let key = |s: f64| if distance.higher_is_better() { -s } else { s };
    all.sort_by(|a, b| key(a.1).total_cmp(&key(b.1)).then(a.0.cmp(&b.0)));
    all.truncate(limit);
    all
}

pub fn normalize(v: &[f32]) -> Vec<f32> {
    let n = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    v.iter().map(|&x| (f64::from(x) / n) as f32).collect()
}

/// Copies a directory tree (a collection) from `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir`, recursively, in path order.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Every file under `dir` with its bytes, in path order: a directory's state, to compare.
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}
