//! Rotated codes (the RaBitQ method: Gao & Long, SIGMOD 2024; its 2-bit form from
//! extended RaBitQ, Gao et al. 2024). Each vector is centred on the nearest of its
//! segment's centroids, the residual is rotated by a fixed random orthogonal map, and the
//! code keeps, per rotated component, the level nearest in direction to the residual: its
//! sign (1 bit: levels ±1) or its sign and one of two magnitudes (2 bits: levels ±1, ±3),
//! plus two per-vector factors and the centroid's number. Codes are stored transposed in
//! blocks of 32 rows, one bit plane after the other. A query is rotated once per segment
//! and quantized to 4 bits per component (signed, −7..=7); table lookups on each 4-bit
//! slice of 32 codes at a time ([`Kernels::nibble_lut_sums`], once per plane) give an
//! unbiased estimate of its inner product with each vector's residual, from which the
//! distance is estimated. Encoding: `format-spec/quantization.md` [QNT-7].

use crate::config::Distance;
use crate::quant::stats::SplitMix64;
use crate::simd::{EstimateTerms, Kernels};

/// Rounds of the rotation: random signs, then a Walsh–Hadamard transform of the first
/// (even rounds) or last (odd rounds) `2^⌊log2 dim⌋` components. Measured on the 60k
/// MiniLM set (recall@10 after rescoring at oversampling 3 / 4, 16 centroids, 4-bit
/// queries, 300 queries): 2 rounds 0.975 / 0.990, **4 rounds 0.977 / 0.990**, 6 rounds
/// 0.973 / 0.988, a dense random orthogonal matrix 0.974 / 0.988.
pub const ROTATION_ROUNDS: usize = 4;

/// The seed segment writers draw the rotation's signs from; stored in every segment.
pub const ROTATION_SEED: u64 = 0x5EC7_0001_0000_0001;

/// At most this many centroids per segment (a centroid's number is one byte).
pub const MAX_CENTROIDS: usize = 64;

/// A segment gets one centroid per this many rows (at least one, at most
/// [`MAX_CENTROIDS`]). Measured on the 60k MiniLM set (recall@10 at oversampling 3 / 4,
/// 4-bit queries): 1 centroid 0.965 / 0.978, 16 centroids 0.977 / 0.990, 64 centroids
/// 0.983 / 0.992.
pub const ROWS_PER_CENTROID: usize = 256;

/// Rounds of k-means (Lloyd's) that place the centroids on the training sample.
pub const KMEANS_ROUNDS: usize = 8;

/// A rotated query component is quantized to `−QUERY_LEVEL..=QUERY_LEVEL` (4 bits).
pub const QUERY_LEVEL: i32 = 7;

/// The width of an estimate's error bound for 1-bit and 2-bit codes, in units of
/// `scale·‖q − c‖/√dim` (the row's scale factor, the query's distance to the row's
/// centroid): an estimated inner product `⟨r, q − c⟩` is taken to be within this many of
/// those units of the true one (twice that in squared distance). RaBitQ's analysis puts
/// the error near `√(1 − ⟨ō, o⟩²)·z` units for a standard normal `z`, about `0.6·z` for
/// 1-bit codes; the widths are measured. Over every row for 50 queries (4-bit queries, one
/// segment), the error's 50th / 99th / 99.9th / 99.99th percentiles: debian-minilm-384
/// 1 bit 0.41 / 1.57 / 2.01 / 2.36, 2 bits 0.46 / 1.77 / 2.27 / 2.67; siftsmall (Euclid)
/// 1 bit 0.41 / 1.55 / 1.98 / 2.31, 2 bits 0.45 / 1.72 / 2.22 / 2.61. Rescoring until the
/// bound settles the top 10 from a pool of 80 (200 queries; 100 on siftsmall), recall and
/// rows rescored on average per width:
///
/// | set, bits | 1.0 | 1.5 | 2.0 |
/// |---|---|---|---|
/// | debian, 1 | 0.9965, 30 | 0.9990, 45 | 0.9995, 56 |
/// | debian, 2 | 0.9965, 16 | 0.9995, 20 | 1.0000, 25 |
/// | siftsmall, 1 | 0.9960, 50 | 0.9970, 65 | 0.9970, 73 |
/// | siftsmall, 2 | 0.9880, 21 | 0.9970, 28 | 1.0000, 38 |
pub const BOUND_WIDTH: [f32; 2] = [1.5, 2.0];

/// Rows per block of the transposed code layout.
pub const BLOCK_ROWS: usize = 32;

/// Bytes of the transposed codes of `rows` rows of `code_bytes` bytes: whole blocks of
/// `BLOCK_ROWS` (32) rows, the last one padded with zero codes.
pub fn blocks_len(rows: usize, code_bytes: usize) -> usize {
    rows.div_ceil(BLOCK_ROWS) * BLOCK_ROWS * code_bytes
}

/// Where byte `j` of row `row`'s code (of `code_bytes`) lies among codes transposed in
/// blocks of `BLOCK_ROWS` (32) rows: byte `BLOCK_ROWS·j + r` of the row's block, for its
/// place `r` in the block.
pub fn transposed_at(row: usize, j: usize, code_bytes: usize) -> usize {
    (row / BLOCK_ROWS) * BLOCK_ROWS * code_bytes + BLOCK_ROWS * j + row % BLOCK_ROWS
}

/// Writes row-major codes (`code_bytes` each) transposed in blocks of `BLOCK_ROWS` (32) rows
/// into `out` ([`blocks_len`] bytes, `transposed_at`). Rows past `codes` stay zero.
pub fn transpose_into(codes: &[u8], code_bytes: usize, out: &mut [u8]) {
    out.fill(0);
    for (i, code) in codes.chunks_exact(code_bytes.max(1)).enumerate() {
        for (j, &b) in code.iter().enumerate() {
            if let Some(o) = out.get_mut(transposed_at(i, j, code_bytes)) {
                *o = b;
            }
        }
    }
}

/// A fixed orthogonal map of `dim` components, drawn from a seed (`ROTATION_ROUNDS`
/// rounds of random signs and a Walsh–Hadamard transform): `O(dim·log dim)` per vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    dim: usize,
    /// The largest power of two not above `dim`: the span each transform mixes.
    block: usize,
    /// `ROTATION_ROUNDS × dim` factors, −1 where round `r` flips component `i`'s sign
    /// at its start (bit `i` of the round's words set), else 1.
    signs: Vec<f32>,
}

impl Rotation {
    /// The rotation of `dim` components drawn from `seed`: each round's signs are the next
    /// `ceil(dim/64)` outputs of splitmix64 seeded with `seed`.
    pub fn new(dim: usize, seed: u64) -> Self {
        let words = dim.div_ceil(64);
        let mut stream = SplitMix64(seed);
        let bits: Vec<u64> = (0..ROTATION_ROUNDS * words)
            .map(|_| stream.next_u64())
            .collect();
        let signs = bits
            .chunks_exact(words.max(1))
            .flat_map(|round| {
                (0..dim).map(move |i| {
                    if round.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1) {
                        -1.0
                    } else {
                        1.0
                    }
                })
            })
            .collect();
        let block = if dim == 0 {
            1
        } else {
            1 << (usize::BITS - 1 - dim.leading_zeros())
        };
        Rotation { dim, block, signs }
    }

    /// Rotates `v` (of `dim` components) in place: lengths and inner products are kept.
    pub fn apply(&self, v: &mut [f32]) {
        let scale = 1.0 / (self.block as f32).sqrt();
        for (round, signs) in self.signs.chunks_exact(self.dim.max(1)).enumerate() {
            // Times ±1: a sign flip, exactly.
            for (x, s) in v.iter_mut().zip(signs) {
                *x *= s;
            }
            let span = if round % 2 == 0 {
                v.get_mut(..self.block)
            } else {
                v.get_mut(self.dim.saturating_sub(self.block)..self.dim)
            };
            if let Some(span) = span {
                hadamard(span);
                for x in span.iter_mut() {
                    *x *= scale;
                }
            }
        }
    }
}

/// The unnormalized Walsh–Hadamard transform of `v` (a power of two long), in place.
fn hadamard(v: &mut [f32]) {
    let mut h = 1;
    while h < v.len() {
        for pair in v.chunks_exact_mut(2 * h) {
            let (a, b) = pair.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (s, t) = (*x + *y, *x - *y);
                *x = s;
                *y = t;
            }
        }
        h *= 2;
    }
}

/// What a rotated code stores beside its bits: the centroid's number and two factors.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RowFactors {
    /// The centroid the vector is centred on.
    pub centroid: u8,
    /// `[add, scale]`: the estimate is `add + table[centroid] ± scale·ip` (see
    /// `RotatedQuery::key`).
    pub factors: [f32; 2],
}

/// A segment's rotated-code quantizer: the rotation and the centroids.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The rotation's seed.
    pub seed: u64,
    /// Components per vector.
    pub dim: usize,
    /// Bits per component: 1 (levels ±1) or 2 (levels ±1, ±3).
    pub bits: u32,
    /// The mean of the segment's training sample: queries are rotated as `P(q − center)`.
    pub center: Vec<f32>,
    /// `k × dim`: the centroids vectors are centred on.
    pub centroids: Vec<f32>,
    rotation: Rotation,
    /// `k × dim`: `P(c_k − center)`.
    offsets: Vec<f32>,
}

/// Equal when the defining parameters are: the rotation and the offsets derive from them.
impl PartialEq for Rotated {
    fn eq(&self, other: &Self) -> bool {
        (self.seed, self.dim, self.bits) == (other.seed, other.dim, other.bits)
            && self.center == other.center
            && self.centroids == other.centroids
    }
}

impl Rotated {
    /// The quantizer of `bits` (1 or 2) bits per component with these parameters
    /// (`centroids` holds whole `dim`-vectors).
    pub fn new(seed: u64, dim: usize, bits: u32, center: Vec<f32>, centroids: Vec<f32>) -> Self {
        let rotation = Rotation::new(dim, seed);
        let mut offsets = Vec::with_capacity(centroids.len());
        for c in centroids.chunks_exact(dim.max(1)) {
            let mut o: Vec<f32> = c.iter().zip(&center).map(|(c, m)| c - m).collect();
            rotation.apply(&mut o);
            offsets.extend_from_slice(&o);
        }
        Rotated {
            seed,
            dim,
            bits: bits.clamp(1, 2),
            center,
            centroids,
            rotation,
            offsets,
        }
    }

    /// The quantizer of the live segment's rotated codes, which has no rows to train on:
    /// the rotation of every segment, the origin as center and only centroid.
    pub fn live(dim: usize, bits: u32) -> Self {
        Rotated::new(ROTATION_SEED, dim, bits, vec![0.0; dim], vec![0.0; dim])
    }

    /// Trains the centroids on `sample` (vectors of `dim`) for a segment of `rows` rows:
    /// the center is the sample's mean, and `clamp(rows / ROWS_PER_CENTROID, 1, 64)`
    /// centroids (at most one per sampled vector) start at evenly spaced sampled vectors
    /// and move by [`KMEANS_ROUNDS`] rounds of Lloyd's algorithm (a centroid left without
    /// vectors stays where it is).
    pub fn train(
        dim: usize,
        bits: u32,
        rows: usize,
        sample: &[Vec<f32>],
        kernels: &Kernels,
    ) -> Self {
        let mut center = vec![0.0f64; dim];
        for v in sample {
            for (s, &x) in center.iter_mut().zip(v) {
                *s += f64::from(x);
            }
        }
        let n = sample.len().max(1) as f64;
        let center: Vec<f32> = center.iter().map(|s| (s / n) as f32).collect();
        let k = (rows / ROWS_PER_CENTROID)
            .clamp(1, MAX_CENTROIDS)
            .min(sample.len().max(1));
        let mut centroids = vec![0.0f32; k * dim];
        for (j, c) in centroids.chunks_exact_mut(dim.max(1)).enumerate() {
            match sample.get(j * sample.len() / k) {
                Some(v) if v.len() == dim => c.copy_from_slice(v),
                _ => c.copy_from_slice(&center),
            }
        }
        let mut assigned = vec![0usize; sample.len()];
        for _ in 0..KMEANS_ROUNDS {
            for (a, v) in assigned.iter_mut().zip(sample) {
                *a = nearest(&centroids, dim, v, kernels);
            }
            let mut sums = vec![0.0f64; k * dim];
            let mut counts = vec![0usize; k];
            for (&a, v) in assigned.iter().zip(sample) {
                if let Some(s) = sums.get_mut(a * dim..(a + 1) * dim) {
                    for (s, &x) in s.iter_mut().zip(v) {
                        *s += f64::from(x);
                    }
                }
                if let Some(c) = counts.get_mut(a) {
                    *c += 1;
                }
            }
            for ((c, s), &count) in centroids
                .chunks_exact_mut(dim.max(1))
                .zip(sums.chunks_exact(dim.max(1)))
                .zip(&counts)
            {
                if count > 0 {
                    for (c, s) in c.iter_mut().zip(s) {
                        *c = (s / count as f64) as f32;
                    }
                }
            }
        }
        Rotated::new(ROTATION_SEED, dim, bits, center, centroids)
    }

    /// Centroids.
    pub fn centroid_count(&self) -> usize {
        self.centroids.len() / self.dim.max(1)
    }

    /// Writes the code of `x` to `out` (`bits` planes of `ceil(dim/64)` words: bit `i % 64`
    /// of a plane's word `i / 64` belongs to component `i`) and returns its centroid and
    /// factors for `distance`. Plane 0 holds the signs of the rotated residual `u` (set iff
    /// `u_i > 0`). With 2 bits, the `k` components of largest `|u_i|` (ties: lower `i`
    /// first) get level ±3 and the others ±1, `k` the smallest maximizing the cosine
    /// between the levels and `u`, and plane 1 holds bit `l` of the level's number
    /// `2·sign + l` (level `2·(2·sign + l) − 3`).
    pub fn encode(
        &self,
        distance: Distance,
        x: &[f32],
        kernels: &Kernels,
        out: &mut [u64],
    ) -> RowFactors {
        out.fill(0);
        let k = nearest(&self.centroids, self.dim, x, kernels);
        let c = self
            .centroids
            .get(k * self.dim..(k + 1) * self.dim)
            .unwrap_or_default();
        let mut r: Vec<f32> = x.iter().zip(c).map(|(x, c)| x - c).collect();
        let norm = f64::from(kernels.dot(&r, &r)).sqrt();
        self.rotation.apply(&mut r);
        let offset = self
            .offsets
            .get(k * self.dim..(k + 1) * self.dim)
            .unwrap_or_default();
        let levels = self.levels(&r);
        let words = self.dim.div_ceil(64);
        // ⟨ȳ, P r⟩ and ⟨ȳ, P(c_k − center)⟩ for the levels ȳ.
        let (mut ip, mut correction) = (0.0f64, 0.0f64);
        for (i, ((&u, &o), &level)) in r.iter().zip(offset).zip(&levels).enumerate() {
            ip += f64::from(u) * f64::from(level);
            correction += f64::from(o) * f64::from(level);
            let number = (level + 3) / 2;
            for (plane, bit) in [(0, number >> 1), (1, number & 1)] {
                if plane < self.bits as usize
                    && bit == 1
                    && let Some(w) = out.get_mut(plane * words + i / 64)
                {
                    *w |= 1 << (i % 64);
                }
            }
        }
        let root = (self.dim.max(1) as f64).sqrt();
        // ‖r‖ / ⟨ȳ/‖ȳ‖, r̂⟩ · 1/‖ȳ‖ · √dim = ‖r‖²·√dim / ⟨ȳ, P r⟩ (0 for a vector on its
        // centroid, whose estimate is then exact).
        let scale = if ip > 0.0 {
            norm * norm * root / ip
        } else {
            0.0
        };
        let correction = correction / root;
        let add = match distance {
            Distance::Euclid | Distance::Manhattan => norm * norm + 2.0 * scale * correction,
            Distance::Cosine | Distance::Dot => f64::from(kernels.dot(x, c)) - scale * correction,
        };
        RowFactors {
            centroid: k as u8,
            factors: [add as f32, scale as f32],
        }
    }

    /// The level of each component of the rotated residual `u`: its sign (1 bit), or its
    /// sign times 3 for the `k` components of largest magnitude and 1 for the rest, `k`
    /// maximizing `(Σ|u_i| + 2·Σ_top-k |u_i|) / √(dim + 8k)` (2 bits).
    fn levels(&self, u: &[f32]) -> Vec<i32> {
        let sign = |x: f32| if x > 0.0 { 1 } else { -1 };
        let mut levels: Vec<i32> = u.iter().map(|&x| sign(x)).collect();
        if self.bits < 2 {
            return levels;
        }
        // Largest magnitude first, ties to the lower component: a magnitude's bits (never
        // negative) sort like it, so one key per component sorts as integers.
        let mut order: Vec<u64> = u
            .iter()
            .enumerate()
            .map(|(i, x)| u64::from(!x.abs().to_bits()) << 32 | i as u64)
            .collect();
        order.sort_unstable();
        let magnitude = |key: u64| f32::from_bits(!(key >> 32) as u32);
        let total: f64 = u.iter().map(|x| f64::from(x.abs())).sum();
        let (mut top, mut best) = (0.0f64, (total / (u.len() as f64).sqrt(), 0));
        for (k, &key) in (1..).zip(&order) {
            top += f64::from(magnitude(key));
            let cosine = (total + 2.0 * top) / ((u.len() + 8 * k) as f64).sqrt();
            if cosine > best.0 {
                best = (cosine, k);
            }
        }
        for &key in order.iter().take(best.1) {
            if let Some(l) = levels.get_mut((key & u64::from(u32::MAX)) as usize) {
                *l *= 3;
            }
        }
        levels
    }

    /// Bytes of one bit plane of a code: `ceil(dim/64)` u64 words.
    pub fn plane_bytes(&self) -> usize {
        8 * self.dim.div_ceil(64)
    }

    /// Bytes of one code: `bits` planes.
    pub fn code_bytes(&self) -> usize {
        self.bits as usize * self.plane_bytes()
    }

    /// Prepares `q` (normalized for Cosine) for scanning this quantizer's codes.
    pub fn prepare(&self, distance: Distance, q: &[f32], kernels: &Kernels) -> RotatedQuery {
        let words = self.plane_bytes() / 8;
        let mut w: Vec<f32> = q.iter().zip(&self.center).map(|(q, m)| q - m).collect();
        self.rotation.apply(&mut w);
        // u_i = round(w_i / m · 7): w ≈ (m/7)·u.
        let m = w.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let level = QUERY_LEVEL as f32;
        let mut u = vec![0i32; 64 * words];
        for (u, &x) in u.iter_mut().zip(&w) {
            *u = if m > 0.0 {
                (x / m * level).round() as i32
            } else {
                0
            };
        }
        // Per code byte, two tables: entry e of nibble g is the sum of u over the set bits
        // of e (components 4g..4g + 4), plus 4·QUERY_LEVEL so that it is never negative.
        let bias = 4 * QUERY_LEVEL;
        let mut luts = vec![0u8; 32 * 8 * words];
        for (table, nibble) in luts.chunks_exact_mut(16).zip(u.chunks_exact(4)) {
            // Entry e is entry e-without-its-lowest-bit plus that bit's value.
            let mut sums = [0i32; 16];
            for e in 1..16usize {
                let bit = e.trailing_zeros() as usize;
                sums[e] = sums[e & (e - 1)] + nibble.get(bit).copied().unwrap_or(0);
            }
            for (entry, sum) in table.iter_mut().zip(sums) {
                *entry = (sum + bias) as u8;
            }
        }
        let groups = (16 * words) as f32;
        let total: i32 = u.iter().sum();
        // A level is 2·n − top for its number n = Σ_p 2^(bits−1−p)·bit_p (top = 2^bits − 1),
        // so ⟨ȳ, u⟩ = 2·(S − top·bias·groups) − top·Σu for the planes' lookup sums
        // S_p weighted into S = Σ_p 2^(bits−1−p)·S_p, and ip = ⟨ȳ, w⟩/√dim ≈ (m/7)·⟨ȳ, u⟩/√dim.
        let top = ((1i32 << self.bits) - 1) as f32;
        let unit = m / level / (self.dim.max(1) as f32).sqrt();
        let euclid = !distance.higher_is_better();
        // A centroid number the segment does not have gets a table entry no estimate
        // can beat.
        let mut table = [f32::INFINITY; 256];
        for (t, c) in table
            .iter_mut()
            .zip(self.centroids.chunks_exact(self.dim.max(1)))
        {
            *t = if euclid {
                kernels.l2sq(q, c)
            } else {
                -(kernels.dot(q, c) - kernels.dot(c, c))
            };
        }
        // The bound's width per unit of a row's scale: BOUND_WIDTH·‖q − c_k‖/√dim, twice
        // that for squared distances (the estimate enters them as −2·⟨r, q − c_k⟩).
        let mut margins = [0.0f32; 256];
        let width = BOUND_WIDTH[usize::from(self.bits >= 2)] / (self.dim.max(1) as f32).sqrt()
            * if euclid { 2.0 } else { 1.0 };
        for (m, c) in margins
            .iter_mut()
            .zip(self.centroids.chunks_exact(self.dim.max(1)))
        {
            *m = width * kernels.l2sq(q, c).sqrt();
        }
        RotatedQuery {
            luts,
            margins,
            planes: self.bits as usize,
            terms: EstimateTerms {
                table,
                base: unit * top * (-2.0 * bias as f32 * groups - total as f32),
                step: 2.0 * unit,
                euclid,
            },
        }
    }
}

/// The nearest of `centroids` (whole `dim`-vectors) to `v` in Euclidean distance, the
/// first of equals.
fn nearest(centroids: &[f32], dim: usize, v: &[f32], kernels: &Kernels) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (j, c) in centroids.chunks_exact(dim.max(1)).enumerate() {
        let d = kernels.l2sq(v, c);
        if d < best.0 {
            best = (d, j);
        }
    }
    best.1
}

/// A query rotated and quantized for one segment's codes.
#[derive(Debug, Clone)]
pub struct RotatedQuery {
    /// Two 16-byte tables per byte of a code's plane for [`Kernels::nibble_lut_sums`].
    pub luts: Vec<u8>,
    /// Per centroid number, the error bound of a row's key per unit of its scale factor
    /// ([`BOUND_WIDTH`]); 0 past the segment's centroids.
    pub margins: [f32; 256],
    /// Bit planes per code.
    pub planes: usize,
    /// What turns a row's lookup sum `S` into its key ([`Kernels::rotated_keys`]):
    /// `ip = base + step·S` is the estimate of `⟨x̄, P(q − center)⟩`, and the table holds
    /// per centroid number `‖q − c_k‖²` (Euclid) or `−(⟨q, c_k⟩ − ‖c_k‖²)` (Cosine, Dot),
    /// `+∞` past the segment's centroids.
    pub terms: EstimateTerms,
}

impl RotatedQuery {
    /// The lookup sums `S = Σ_p 2^(planes−1−p)·S_p` of the rows of whole blocks of codes
    /// (each block its planes one after the other) into `out`, as many as
    /// [`Kernels::nibble_lut_sums`] fills.
    pub fn lookup_sums(&self, kernels: &Kernels, blocks: &[u8], out: &mut [u32]) {
        kernels.nibble_lut_sums(&self.luts, blocks, self.planes, out);
    }

    /// The estimated key (smaller is nearer) of a row with lookup sum `sum`: the
    /// estimated squared distance for Euclid, the negated estimated inner product for
    /// Cosine and Dot.
    #[inline]
    pub fn key(&self, sum: u32, row: RowFactors) -> f32 {
        self.terms.key(sum, row.factors, row.centroid)
    }

    /// A key no larger than the true one of a row estimated at `key`, as far as the error
    /// bound holds ([`BOUND_WIDTH`]): `key − scale·margin[centroid]`.
    pub fn lower_bound(&self, key: f32, row: RowFactors) -> f32 {
        key - row.factors[1] * self.margins[usize::from(row.centroid)]
    }

    /// The score reported for `key` without rescoring: the estimated distance (Euclid,
    /// never negative) or inner product.
    pub fn score(&self, key: f32) -> f32 {
        if self.terms.euclid {
            key.max(0.0).sqrt()
        } else {
            -key
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut s = SplitMix64(seed);
        (0..n)
            .map(|i| {
                (0..dim)
                    .map(|j| {
                        let u = (s.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                        // Clustered and off-centre, like real embeddings.
                        u + if (i + j) % 3 == 0 { 0.8 } else { 0.1 }
                    })
                    .collect()
            })
            .collect()
    }

    /// The scan's lookup sum for one row-major code (every plane).
    fn lookup_sum(rq: &RotatedQuery, code: &[u64]) -> u32 {
        let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut block = vec![0u8; blocks_len(1, bytes.len())];
        transpose_into(&bytes, bytes.len(), &mut block);
        let mut out = [0u32; BLOCK_ROWS];
        rq.lookup_sums(Kernels::detect(), &block, &mut out);
        out[0]
    }

    #[test]
    fn transposed_blocks_hold_byte_j_of_row_r_at_32j_plus_r() {
        let codes: Vec<u8> = (0..33 * 3).map(|i| i as u8 + 1).collect();
        let mut out = vec![0u8; blocks_len(33, 3)];
        assert_eq!(out.len(), 2 * 32 * 3);
        transpose_into(&codes, 3, &mut out);
        assert_eq!(&out[..3], &[1, 4, 7]);
        assert_eq!((out[32], out[64 + 31]), (2, 3 * 31 + 3));
        // Row 32 starts the second block; its other rows are zero.
        assert_eq!((out[96], out[97], out[128], out[160]), (97, 0, 98, 99));
    }

    fn mean_std(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn the_rotation_keeps_lengths_and_inner_products() {
        for dim in [1, 2, 3, 64, 100, 384, 1000] {
            let rot = Rotation::new(dim, 9);
            let v = vectors(2, dim, dim as u64);
            let (mut a, mut b) = (v[0].clone(), v[1].clone());
            rot.apply(&mut a);
            rot.apply(&mut b);
            let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(x, y)| x * y).sum::<f32>();
            let tol = 1e-4 * dot(&v[0], &v[0]).max(1.0);
            assert!((dot(&a, &a) - dot(&v[0], &v[0])).abs() < tol, "dim {dim}");
            assert!((dot(&a, &b) - dot(&v[0], &v[1])).abs() < tol, "dim {dim}");
            if dim >= 64 {
                assert_ne!(a, v[0], "dim {dim}: the rotation moves vectors");
            }
        }
    }

    /// Per bit count, the estimates' largest bias and noise over the queries, as shares
    /// of the spread of the exact values (Euclid, then Dot).
    fn estimate_errors(bits: u32) -> [(f64, f64); 2] {
        let kernels = Kernels::detect();
        let dim = 256;
        let data = vectors(2000, dim, 1);
        let queries = vectors(20, dim, 2);
        let q = Rotated::train(dim, bits, data.len(), &data, kernels);
        assert_eq!(q.centroid_count(), 7);
        [Distance::Euclid, Distance::Dot].map(|distance| {
            let rows: Vec<(Vec<u64>, RowFactors)> = data
                .iter()
                .map(|v| {
                    let mut code = vec![0u64; q.code_bytes() / 8];
                    let f = q.encode(distance, v, kernels, &mut code);
                    (code, f)
                })
                .collect();
            // Per query: the estimates' error (mean and spread) against the spread of the
            // exact values over the rows.
            let (mut bias, mut noise) = (0.0f64, 0.0f64);
            for query in &queries {
                let rq = q.prepare(distance, query, kernels);
                let mut errors = Vec::new();
                let mut exacts = Vec::new();
                for ((code, f), v) in rows.iter().zip(&data) {
                    let w = [lookup_sum(&rq, code)];
                    let exact = match distance {
                        Distance::Euclid => kernels.l2sq(query, v),
                        _ => -kernels.dot(query, v),
                    };
                    errors.push(f64::from(rq.key(w[0], *f) - exact));
                    exacts.push(f64::from(exact));
                }
                let (e_mean, e_std) = mean_std(&errors);
                let (_, x_std) = mean_std(&exacts);
                bias = bias.max(e_mean.abs() / x_std);
                noise = noise.max(e_std / x_std);
            }
            println!("{bits} bits, {distance:?}: bias {bias:.4}, noise {noise:.4} of the spread");
            (bias, noise)
        })
    }

    #[test]
    fn estimates_follow_the_exact_distances() {
        let one = estimate_errors(1);
        let two = estimate_errors(2);
        for ((bias1, noise1), (bias2, noise2)) in one.into_iter().zip(two) {
            assert!(bias1 < 0.02 && noise1 < 0.2, "1 bit: {bias1} {noise1}");
            // The second bit about halves the noise (measured: 0.053 against 0.107).
            assert!(
                bias2 < 0.02 && noise2 < 0.6 * noise1,
                "2 bits: {bias2} {noise2}"
            );
        }
    }

    /// The 2-bit levels are the ones of `k` largest magnitudes with the best cosine, over
    /// every `k` (brute force), and the 2-bit code's first plane is the 1-bit code.
    #[test]
    fn two_bit_levels_have_the_best_cosine_and_keep_the_signs() {
        let kernels = Kernels::detect();
        let dim = 100;
        let data = vectors(50, dim, 5);
        let one = Rotated::train(dim, 1, data.len(), &data, kernels);
        let two = Rotated::new(one.seed, dim, 2, one.center.clone(), one.centroids.clone());
        for v in &data {
            let mut r = v.clone();
            r.iter_mut().zip(&one.centroids).for_each(|(x, c)| *x -= c);
            let levels = two.levels(&r);
            let cosine = |l: &[i32]| {
                let ip: f64 = l
                    .iter()
                    .zip(&r)
                    .map(|(&l, &u)| f64::from(l) * f64::from(u))
                    .sum();
                ip / l.iter().map(|&l| f64::from(l * l)).sum::<f64>().sqrt()
            };
            let mut by_magnitude: Vec<usize> = (0..dim).collect();
            by_magnitude.sort_by(|&a, &b| r[b].abs().total_cmp(&r[a].abs()));
            let got = cosine(&levels);
            for k in 0..=dim {
                let mut l = one.levels(&r);
                by_magnitude.iter().take(k).for_each(|&i| l[i] *= 3);
                assert!(got >= cosine(&l) - 1e-9, "k = {k}");
            }
            assert!(got > cosine(&one.levels(&r)) + 1e-3);
            let (mut c1, mut c2) = (vec![0u64; 2], vec![0u64; 4]);
            let f1 = one.encode(Distance::Dot, v, kernels, &mut c1);
            two.encode(Distance::Dot, v, kernels, &mut c2);
            assert_eq!(c1, c2[..2]);
            assert_eq!(c2[1] >> (dim - 64), 0, "no bit past dim in plane 0");
            assert_eq!(c2[3] >> (dim - 64), 0, "no bit past dim in plane 1");
            assert!(f1.factors[1] > 0.0);
        }
    }

    #[test]
    fn a_vector_on_its_centroid_is_estimated_exactly() {
        let kernels = Kernels::detect();
        let c = vec![0.5f32, -1.0, 2.0, 0.25];
        for bits in [1, 2] {
            let q = Rotated::new(3, 4, bits, vec![0.0; 4], c.clone());
            let mut code = vec![0u64; bits as usize];
            let f = q.encode(Distance::Euclid, &c, kernels, &mut code);
            // Every level is −1: number 1, the low plane's bit set.
            let want = if bits == 1 { vec![0] } else { vec![0, 0b1111] };
            assert_eq!((code.clone(), f.factors), (want, [0.0, 0.0]));
            let query = [1.0f32, 1.0, 1.0, 1.0];
            let rq = q.prepare(Distance::Euclid, &query, kernels);
            let w = [lookup_sum(&rq, &code)];
            assert!((rq.key(w[0], f) - kernels.l2sq(&query, &c)).abs() < 1e-5);
            // A centroid number the segment does not have never wins.
            let stray = RowFactors { centroid: 9, ..f };
            assert_eq!(rq.key(w[0], stray), f32::INFINITY);
        }
    }
}
