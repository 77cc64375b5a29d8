//! Distance and code kernels, selected once per process by runtime CPU detection.
//!
//! `scalar` holds a portable kernel for every operation: it is the oracle the SIMD kernels are
//! tested against (integers bit-exact, floats within `2·n·ε·Σ|terms|`). The ISA-specific
//! kernels live in one folder per architecture (`x86_64/avx2.rs`, `x86_64/avx512.rs`,
//! `aarch64/neon.rs`, whose int8 kernel also has an `sdot` form for CPUs with dotprod) and are reached only through [`Kernels`], a table of function pointers
//! that exists only for ISAs the CPU supports. [`Kernels::detect`] picks the best one.
//!
//! Setting `VECSIEVE_FORCE_ISA=scalar` (or another [`Isa`] name) before the first search
//! forces that kernel set; CI runs the test suite once with the scalar kernels forced.

#![allow(unsafe_code)]

#[cfg(target_arch = "aarch64")]
mod aarch64;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use std::sync::OnceLock;

/// An instruction-set level with its own kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust, every platform.
    Scalar,
    /// x86_64 with AVX2, FMA, F16C and POPCNT.
    Avx2,
    /// x86_64 with the AVX2 set plus AVX-512 F, BW, VNNI and VPOPCNTDQ.
    Avx512,
    /// aarch64 NEON (Advanced SIMD), part of every aarch64 CPU.
    Neon,
    /// NEON plus the dot-product instructions (`sdot`) for the int8 kernels.
    NeonDotprod,
}

impl Isa {
    /// The lower-case name used by `VECSIEVE_FORCE_ISA`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
            Isa::NeonDotprod => "neon-dotprod",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "scalar" => Some(Isa::Scalar),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            "neon" => Some(Isa::Neon),
            "neon-dotprod" => Some(Isa::NeonDotprod),
            _ => None,
        }
    }
}

type HammingManyFn = unsafe fn(&[u64], &[u64], &mut [u32]);
type HammingRowsFn = unsafe fn(&[u64], &[u64], &[u32], &mut [u32]);
type MinHammingManyFn = unsafe fn(&[u64], &[u64], usize, &mut [u32]);
type WeightedHammingManyFn = unsafe fn(&[u64], &[u64], usize, &mut [u32]);
type MaxDotU8I16ManyFn = unsafe fn(&[i16], &[u8], usize, &mut [i64]);
type DotManyFn = unsafe fn(&[f32], &[f32], &mut [f32]);
type PairFn = unsafe fn(&[f32], &[f32]) -> f32;
type F16ToF32Fn = unsafe fn(&[u16], &mut [f32]);
type U8ToF32Fn = unsafe fn(&[u8], &mut [f32]);
type DotU8I16ManyFn = unsafe fn(&[i16], &[u8], &mut [i64]);
type L1U8ManyFn = unsafe fn(&[u8], &[u8], &mut [u32]);
type CountOnesFn = unsafe fn(&[u64]) -> u64;
type NibbleLutSumsFn = unsafe fn(&[u8], &[u8], usize, &mut [u32]);
type RotatedKeysFn = unsafe fn(&EstimateTerms, &[u32], &[[f32; 2]], &[u8], &mut [u32]);
type BelowFn = unsafe fn(&[u32], u32, &mut [u64]);

/// How [`Kernels::rotated_keys`] turns a row's lookup sum `S` into its estimated key:
/// `ip = base + step·S`, then `add + table[c] − 2·scale·ip` (`euclid`) or
/// `table[c] − add − scale·ip`, with the row's factors `[add, scale]` and centroid `c`,
/// each operation rounded in f32 in that order (no fused multiply-add, so every ISA gives
/// the same bits).
#[derive(Debug, Clone)]
pub struct EstimateTerms {
    /// Per centroid number.
    pub table: [f32; 256],
    /// `ip`'s offset.
    pub base: f32,
    /// `ip` per unit of lookup sum.
    pub step: f32,
    /// The squared-distance form (else the negated inner product).
    pub euclid: bool,
}

impl EstimateTerms {
    /// The key of one row (the scalar form, which every kernel matches bit for bit).
    #[inline]
    #[must_use]
    pub fn key(&self, sum: u32, [add, scale]: [f32; 2], centroid: u8) -> f32 {
        let ip = self.base + self.step * sum as f32;
        let t = self.table[usize::from(centroid)];
        if self.euclid {
            add + t - 2.0 * scale * ip
        } else {
            t - add - scale * ip
        }
    }
}

/// `key` as a `u32` in the same order: a negative float's bits all flipped, a positive
/// one's sign bit set (a NaN sorts by its bits).
#[inline]
#[must_use]
pub fn ordered(key: f32) -> u32 {
    let bits = key.to_bits();
    bits ^ (((bits as i32) >> 31) as u32 | 1 << 31)
}

/// The inverse of [`ordered`].
#[must_use]
pub fn unordered(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 {
        key & !(1 << 31)
    } else {
        !key
    })
}

/// The largest table entry [`Kernels::nibble_lut_sums`] takes.
pub const NIBBLE_LUT_MAX: u8 = 63;

/// The largest query value [`Kernels::dot_u8i16_many`] takes: `256·127 + 127`, the largest
/// that splits into two i8 bytes `256·hi + lo` with `lo` in `−128..=127`.
pub const QUERY16_MAX: i16 = 32_639;

/// Query components the i8-instruction forms of [`Kernels::dot_u8i16_many`] split at a
/// time, on the stack (a multiple of 64, their widest chunk).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const SPLIT_CHUNK: usize = 1024;

/// Runs `part(start, hi, lo)` over the query split into its i8 bytes ([`split_query16`]),
/// [`SPLIT_CHUNK`] components at a time on the stack; `start` is the part's first component.
/// The forms of [`Kernels::dot_u8i16_many`] built on i8 dot instructions go through it.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline]
fn for_split_parts(query: &[i16], mut part: impl FnMut(usize, &[i8], &[i8])) {
    let (mut hi, mut lo) = ([0i8; SPLIT_CHUNK], [0i8; SPLIT_CHUNK]);
    for (p, q) in query.chunks(SPLIT_CHUNK).enumerate() {
        let (hi, lo) = (&mut hi[..q.len()], &mut lo[..q.len()]);
        split_query16(q, hi, lo);
        part(p * SPLIT_CHUNK, hi, lo);
    }
}

/// Splits 16-bit query values (at most [`QUERY16_MAX`]) into the two bytes the i8 dot
/// instructions take: `v = 256·hi + lo`, `lo = ((v + 128) mod 256) − 128`. Writes
/// `min` of the three lengths.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn split_query16(query: &[i16], hi: &mut [i8], lo: &mut [i8]) {
    for ((&v, h), l) in query.iter().zip(hi.iter_mut()).zip(lo.iter_mut()) {
        let low = v as i8;
        *l = low;
        *h = ((i32::from(v) - i32::from(low)) >> 8) as i8;
    }
}

/// One set of kernels. Obtain it from [`Kernels::detect`] or [`Kernels::for_isa`]; a
/// `Kernels` for an ISA exists only when the CPU supports that ISA, which is what makes its
/// safe methods sound.
#[derive(Debug)]
pub struct Kernels {
    isa: Isa,
    hamming_many: HammingManyFn,
    hamming_rows: HammingRowsFn,
    min_hamming_many: MinHammingManyFn,
    weighted_hamming_many: WeightedHammingManyFn,
    max_dot_u8i16_many: MaxDotU8I16ManyFn,
    dot: PairFn,
    dot_many: DotManyFn,
    l2sq: PairFn,
    l1: PairFn,
    f16_to_f32: F16ToF32Fn,
    u8_to_f32: U8ToF32Fn,
    dot_u8i16_many: DotU8I16ManyFn,
    l1_u8_many: L1U8ManyFn,
    count_ones: CountOnesFn,
    nibble_lut_sums: NibbleLutSumsFn,
    rotated_keys: RotatedKeysFn,
    below: BelowFn,
}

static SCALAR: Kernels = Kernels {
    isa: Isa::Scalar,
    count_ones: scalar::count_ones,
    nibble_lut_sums: scalar::nibble_lut_sums,
    rotated_keys: scalar::rotated_keys,
    below: scalar::below,
    hamming_many: scalar::hamming_many,
    hamming_rows: scalar::hamming_rows,
    min_hamming_many: scalar::min_hamming_many,
    weighted_hamming_many: scalar::weighted_hamming_many,
    max_dot_u8i16_many: scalar::max_dot_u8i16_many,
    dot: scalar::dot,
    dot_many: scalar::dot_many,
    l2sq: scalar::l2sq,
    l1: scalar::l1,
    f16_to_f32: scalar::f16_to_f32,
    u8_to_f32: scalar::u8_to_f32,
    dot_u8i16_many: scalar::dot_u8i16_many,
    l1_u8_many: scalar::l1_u8_many,
};

#[cfg(target_arch = "x86_64")]
static AVX2: Kernels = Kernels {
    isa: Isa::Avx2,
    count_ones: x86_64::avx2::count_ones,
    nibble_lut_sums: x86_64::avx2::nibble_lut_sums,
    rotated_keys: x86_64::avx2::rotated_keys,
    below: x86_64::avx2::below,
    hamming_many: x86_64::avx2::hamming_many,
    hamming_rows: x86_64::avx2::hamming_rows,
    min_hamming_many: x86_64::avx2::min_hamming_many,
    weighted_hamming_many: x86_64::avx2::weighted_hamming_many,
    max_dot_u8i16_many: x86_64::avx2::max_dot_u8i16_many,
    dot: x86_64::avx2::dot,
    dot_many: x86_64::avx2::dot_many,
    l2sq: x86_64::avx2::l2sq,
    l1: x86_64::avx2::l1,
    f16_to_f32: x86_64::avx2::f16_to_f32,
    u8_to_f32: x86_64::avx2::u8_to_f32,
    dot_u8i16_many: x86_64::avx2::dot_u8i16_many,
    l1_u8_many: x86_64::avx2::l1_u8_many,
};

#[cfg(target_arch = "x86_64")]
static AVX512: Kernels = Kernels {
    isa: Isa::Avx512,
    count_ones: x86_64::avx2::count_ones,
    nibble_lut_sums: x86_64::avx512::nibble_lut_sums,
    rotated_keys: x86_64::avx512::rotated_keys,
    below: x86_64::avx512::below,
    hamming_many: x86_64::avx512::hamming_many,
    // Rows read one by one: one POPCNT per word, as the AVX2 form does.
    hamming_rows: x86_64::avx2::hamming_rows,
    // Every AVX-512 CPU here has AVX2 (`has_avx512` requires it); the AVX2 MaxSim scans
    // are used until AVX-512 forms (vpopcntq over 8 transposed queries, VNNI) can be
    // measured on such a machine.
    min_hamming_many: x86_64::avx2::min_hamming_many,
    weighted_hamming_many: x86_64::avx2::weighted_hamming_many,
    max_dot_u8i16_many: x86_64::avx2::max_dot_u8i16_many,
    dot: x86_64::avx512::dot,
    dot_many: x86_64::avx2::dot_many,
    l2sq: x86_64::avx512::l2sq,
    l1: x86_64::avx512::l1,
    f16_to_f32: x86_64::avx512::f16_to_f32,
    u8_to_f32: x86_64::avx512::u8_to_f32,
    dot_u8i16_many: x86_64::avx512::dot_u8i16_many,
    l1_u8_many: x86_64::avx512::l1_u8_many,
};

#[cfg(target_arch = "aarch64")]
static NEON_DOTPROD: Kernels = Kernels {
    isa: Isa::NeonDotprod,
    dot_u8i16_many: aarch64::neon::dot_u8i16_many_dotprod,
    ..NEON
};

#[cfg(target_arch = "aarch64")]
static NEON: Kernels = Kernels {
    isa: Isa::Neon,
    count_ones: aarch64::neon::count_ones,
    nibble_lut_sums: aarch64::neon::nibble_lut_sums,
    rotated_keys: aarch64::neon::rotated_keys,
    below: aarch64::neon::below,
    hamming_many: aarch64::neon::hamming_many,
    hamming_rows: aarch64::neon::hamming_rows,
    min_hamming_many: aarch64::neon::min_hamming_many,
    // `count_ones` compiles to NEON's `cnt` here: the portable form is the NEON one.
    weighted_hamming_many: scalar::weighted_hamming_many,
    max_dot_u8i16_many: aarch64::neon::max_dot_u8i16_many,
    dot: aarch64::neon::dot,
    dot_many: aarch64::neon::dot_many,
    l2sq: aarch64::neon::l2sq,
    l1: aarch64::neon::l1,
    f16_to_f32: aarch64::neon::f16_to_f32,
    u8_to_f32: aarch64::neon::u8_to_f32,
    dot_u8i16_many: aarch64::neon::dot_u8i16_many,
    l1_u8_many: aarch64::neon::l1_u8_many,
};

impl Kernels {
    /// The best kernels this CPU supports, or the ones `VECSIEVE_FORCE_ISA` names. Decided
    /// once per process.
    pub fn detect() -> &'static Kernels {
        static CHOSEN: OnceLock<&'static Kernels> = OnceLock::new();
        CHOSEN.get_or_init(|| {
            let forced = std::env::var("VECSIEVE_FORCE_ISA")
                .ok()
                .and_then(|name| Isa::from_name(name.trim()))
                .and_then(Kernels::for_isa);
            forced.unwrap_or_else(|| {
                Isa::available()
                    .into_iter()
                    .filter_map(Kernels::for_isa)
                    .next_back()
                    .unwrap_or(&SCALAR)
            })
        })
    }

    /// The kernels of `isa`, or `None` if this CPU lacks it.
    #[must_use]
    pub fn for_isa(isa: Isa) -> Option<&'static Kernels> {
        match isa {
            Isa::Scalar => Some(&SCALAR),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86_64::has_avx2().then_some(&AVX2),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => x86_64::has_avx512().then_some(&AVX512),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => None,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => Some(&NEON),
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDotprod => aarch64::has_dotprod().then_some(&NEON_DOTPROD),
            #[cfg(not(target_arch = "aarch64"))]
            Isa::Neon | Isa::NeonDotprod => None,
        }
    }

    /// Which kernels this set is.
    #[must_use]
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Hamming distance of `query` to each row of `codes` (rows of `query.len()` words):
    /// `out[r] = Σ popcount(query[w] ^ codes[r·stride + w])`. Fills
    /// `min(out.len(), codes.len() / stride)` entries.
    pub fn hamming_many(&self, query: &[u64], codes: &[u64], out: &mut [u32]) {
        let Some((codes, out)) = whole_rows(query.len(), codes, out) else {
            return;
        };
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.hamming_many)(query, codes, out) }
    }

    /// The bits set in `words`: the size of a set of rows (a filter's, the deleted ones).
    pub fn count_ones(&self, words: &[u64]) -> u64 {
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.count_ones)(words) }
    }

    /// Table lookups summed over codes stored in blocks of 32 rows (the rotated codes'
    /// scan): `luts` holds a 16-byte table per nibble of a code plane (two per byte,
    /// `luts.len() / 32` bytes per plane), and each block of `blocks` holds `planes` (at
    /// least 1) planes of 32 codes transposed, one after the other (byte `32·j + r` of a
    /// plane is byte `j` of its row `r`). A plane's sum for row `r` is
    /// `Σ_j luts[32·j + (byte & 15)] + luts[32·j + 16 + (byte >> 4)]`, and
    /// `out[32·b + r]` weighs block `b`'s planes as binary digits, the first highest:
    /// `Σ_p 2^(planes−1−p)·sum_p`. Fills `min(out.len(), 32 × blocks)` entries, whole
    /// blocks only. Table entries must be at most [`NIBBLE_LUT_MAX`] (the SIMD forms sum
    /// two bytes' lookups in 8 bits); the sums are exact u32 while they fit one.
    pub fn nibble_lut_sums(&self, luts: &[u8], blocks: &[u8], planes: usize, out: &mut [u32]) {
        let bytes = luts.len() / 32;
        let planes = planes.max(1);
        if bytes == 0 {
            return;
        }
        let luts = &luts[..32 * bytes];
        let n = (blocks.len() / (32 * bytes * planes)).min(out.len() / 32);
        let (blocks, out) = (&blocks[..n * 32 * bytes * planes], &mut out[..32 * n]);
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.nibble_lut_sums)(luts, blocks, planes, out) }
    }

    /// Marks the keys below `bound`, 64 to a word: bit `i % 64` of `out[i / 64]` is set
    /// when `keys[i] < bound` and clear otherwise (also past the last key), for as many
    /// keys as `out` has room for. What a scan's selection reads instead of comparing each
    /// key with its bound in turn.
    pub fn below(&self, keys: &[u32], bound: u32, out: &mut [u64]) {
        let n = keys.len().min(64 * out.len());
        let (marked, past) = out.split_at_mut(n.div_ceil(64));
        past.fill(0);
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.below)(&keys[..n], bound, marked) }
    }

    /// The rotated codes' estimates as ordered keys ([`ordered`]):
    /// `out[i] = ordered(terms.key(sums[i], factors[i], centroids[i]))`, for the shortest
    /// of the four slices.
    pub fn rotated_keys(
        &self,
        terms: &EstimateTerms,
        sums: &[u32],
        factors: &[[f32; 2]],
        centroids: &[u8],
        out: &mut [u32],
    ) {
        let n = out
            .len()
            .min(sums.len())
            .min(factors.len())
            .min(centroids.len());
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe {
            (self.rotated_keys)(
                terms,
                &sums[..n],
                &factors[..n],
                &centroids[..n],
                &mut out[..n],
            );
        }
    }

    /// Hamming distance of `query` to the chosen rows of `codes` (rows of `query.len()`
    /// words): `out[i]` is the distance to row `rows[i]`, or `u32::MAX` where that row is
    /// not in `codes`. Fills `min(out.len(), rows.len())` entries. The scan of the rows a
    /// filter passes: only their codes are read, in place.
    pub fn hamming_rows(&self, query: &[u64], codes: &[u64], rows: &[u32], out: &mut [u32]) {
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`); the
        // kernels read a row only after checking it lies in `codes`.
        unsafe { (self.hamming_rows)(query, codes, rows, out) }
    }

    /// The MaxSim scan of binary codes: for each query code `i` (`words` words each, back
    /// to back in `queries`), `out[i] = min_j Σ popcount(query_i ^ code_j)` over the row
    /// codes of `codes` (`words` words each), or `u32::MAX` without rows. The SIMD forms
    /// keep several query codes in registers and read each row code once per group of
    /// queries. Fills `min(out.len(), queries.len() / words)` entries.
    pub fn min_hamming_many(&self, queries: &[u64], codes: &[u64], words: usize, out: &mut [u32]) {
        if words == 0 {
            out.fill(u32::MAX);
            return;
        }
        let n = out.len().min(queries.len() / words);
        let (queries, out) = (&queries[..n * words], &mut out[..n]);
        let codes = &codes[..codes.len() / words * words];
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.min_hamming_many)(queries, codes, words, out) }
    }

    /// An asymmetric binary query against row codes: `planes` holds the query's bit planes
    /// (`words` words each, least significant first), and `out[j] = Σ_b popcount(plane_b ^
    /// code_j) << b` for each row code `j` of `codes` (`words` words each). The planes'
    /// weighted Hamming distance is the asymmetric estimate's integer part. Fills `min(out.len(),
    /// rows)` entries; at most 16 planes (the sums fit u32).
    pub fn weighted_hamming_many(
        &self,
        planes: &[u64],
        codes: &[u64],
        words: usize,
        out: &mut [u32],
    ) {
        if words == 0 {
            out.fill(0);
            return;
        }
        let bits = (planes.len() / words).min(16);
        let planes = &planes[..bits * words];
        let n = out.len().min(codes.len() / words);
        let (codes, out) = (&codes[..n * words], &mut out[..n]);
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.weighted_hamming_many)(planes, codes, words, out) }
    }

    /// The int8 MaxSim scan: for each 16-bit query `i` (`stride` values each, back to back
    /// in `queries`), `out[i] = max_j Σ_k queries[i][k]·codes[j][k]` over the rows of u8
    /// `codes` (`stride` bytes each), exact in i64, or `i64::MIN` without rows. Each row
    /// chunk is read and widened once per group of queries. Fills
    /// `min(out.len(), queries.len() / stride)` entries.
    pub fn max_dot_u8i16_many(
        &self,
        queries: &[i16],
        codes: &[u8],
        stride: usize,
        out: &mut [i64],
    ) {
        if stride == 0 {
            out.fill(i64::MIN);
            return;
        }
        let n = out.len().min(queries.len() / stride);
        let (queries, out) = (&queries[..n * stride], &mut out[..n]);
        let codes = &codes[..codes.len() / stride * stride];
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.max_dot_u8i16_many)(queries, codes, stride, out) }
    }

    /// `Σ a_i·b_i` over the common length.
    #[must_use]
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = same_len(a, b);
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.dot)(a, b) }
    }

    /// `out[r] = dot(query, row r)` for the rows of `rows` (`query.len()` floats each), in
    /// one call. Fills `min(out.len(), rows.len() / query.len())` entries.
    pub fn dot_many(&self, query: &[f32], rows: &[f32], out: &mut [f32]) {
        let Some((rows, out)) = whole_rows(query.len(), rows, out) else {
            return;
        };
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.dot_many)(query, rows, out) }
    }

    /// `Σ (a_i − b_i)²` over the common length.
    #[must_use]
    pub fn l2sq(&self, a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = same_len(a, b);
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.l2sq)(a, b) }
    }

    /// `Σ |a_i − b_i|` over the common length.
    #[must_use]
    pub fn l1(&self, a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = same_len(a, b);
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.l1)(a, b) }
    }

    /// Integer dot products of a 16-bit query with each row of u8 `codes` (rows of
    /// `query.len()` bytes): `out[r] = Σ query[i]·c_ri`, exact in i64 at any length. Query
    /// values must lie in `i16::MIN..=`[`QUERY16_MAX`]: the forms built on i8 dot
    /// instructions (VNNI, `sdot`) split each into two bytes, `256·hi + lo`. Each row is
    /// read once. Fills `min(out.len(), codes.len() / stride)` entries.
    pub fn dot_u8i16_many(&self, query: &[i16], codes: &[u8], out: &mut [i64]) {
        let Some((codes, out)) = whole_rows(query.len(), codes, out) else {
            return;
        };
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.dot_u8i16_many)(query, codes, out) }
    }

    /// L1 distances `Σ |query[i] − codes[r·stride + i]|` of bytes, like `dot_u8i16_many`.
    pub fn l1_u8_many(&self, query: &[u8], codes: &[u8], out: &mut [u32]) {
        let Some((codes, out)) = whole_rows(query.len(), codes, out) else {
            return;
        };
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.l1_u8_many)(query, codes, out) }
    }

    /// Converts IEEE half floats (as bits) to `f32`, exactly, over the common length.
    pub fn f16_to_f32(&self, src: &[u16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let (src, dst) = (&src[..n], &mut dst[..n]);
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.f16_to_f32)(src, dst) }
    }

    /// Converts bytes to `f32`, exactly, over the common length.
    pub fn u8_to_f32(&self, src: &[u8], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let (src, dst) = (&src[..n], &mut dst[..n]);
        // SAFETY: a Kernels exists only for an ISA this CPU supports (see `for_isa`).
        unsafe { (self.u8_to_f32)(src, dst) }
    }
}

impl Isa {
    /// Every ISA this CPU supports, worst first.
    #[must_use]
    pub fn available() -> Vec<Isa> {
        let mut isas = vec![Isa::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if x86_64::has_avx2() {
                isas.push(Isa::Avx2);
            }
            if x86_64::has_avx512() {
                isas.push(Isa::Avx512);
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            isas.push(Isa::Neon);
            if aarch64::has_dotprod() {
                isas.push(Isa::NeonDotprod);
            }
        }
        isas
    }
}

/// The rows a batch kernel fills: `min(out.len(), codes.len() / stride)` whole rows of
/// `codes` and as many outputs. `None` (with `out` zeroed) for a zero stride.
fn whole_rows<'c, 'o, T, O: Default + Copy>(
    stride: usize,
    codes: &'c [T],
    out: &'o mut [O],
) -> Option<(&'c [T], &'o mut [O])> {
    if stride == 0 {
        out.fill(O::default());
        return None;
    }
    let rows = out.len().min(codes.len() / stride);
    let (out, _) = out.split_at_mut(rows);
    let (codes, _) = codes.split_at(rows * stride);
    Some((codes, out))
}

/// Asks the CPU to start loading `data` into its caches, one request per 64-byte line. A
/// hint: nothing is read, and a CPU may ignore it. Rescoring reads originals scattered
/// over the segment; requested a few rows ahead, their loads overlap instead of waiting
/// one after another.
pub(crate) fn prefetch<T>(data: &[T]) {
    let start = data.as_ptr().cast::<u8>();
    let bytes = std::mem::size_of_val(data);
    for offset in (0..bytes).step_by(64) {
        let line = start.wrapping_add(offset);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults and reads nothing into the program; `line` lies
        // within `data` (SSE, which has the instruction, is part of x86_64).
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.cast());
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `prfm` is a hint that never faults and changes no register or memory;
        // `line` lies within `data`.
        unsafe {
            std::arch::asm!(
                "prfm pldl1keep, [{0}]",
                in(reg) line,
                options(nostack, preserves_flags, readonly)
            );
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let _ = line;
    }
}

/// Row `row` of `codes` (rows of `stride` words), if it is there.
fn code_row(codes: &[u64], stride: usize, row: u32) -> Option<&[u64]> {
    let start = (row as usize).checked_mul(stride)?;
    codes.get(start..start.checked_add(stride)?)
}

fn same_len<'a>(a: &'a [f32], b: &'a [f32]) -> (&'a [f32], &'a [f32]) {
    let n = a.len().min(b.len());
    (&a[..n], &b[..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn simd_sets() -> Vec<&'static Kernels> {
        Isa::available()
            .into_iter()
            .filter_map(Kernels::for_isa)
            .collect()
    }

    /// A query code of `stride` words and `words` code words, pseudo-random from `seed`.
    fn query_and_codes(stride: usize, words: usize, seed: u64) -> (Vec<u64>, Vec<u64>) {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let query = (0..stride).map(|_| next()).collect();
        (query, (0..words).map(|_| next()).collect())
    }

    /// `2·n·ε·Σ|terms|`: the worst-case error of two different summation orders.
    fn tolerance(n: usize, abs_terms: f32) -> f32 {
        2.0 * n as f32 * f32::EPSILON * abs_terms + f32::MIN_POSITIVE
    }

    fn floats(max_len: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>, usize)> {
        (0..=max_len, 0usize..8).prop_flat_map(|(n, off)| {
            (
                prop::collection::vec(-100.0f32..100.0, n + off),
                prop::collection::vec(-100.0f32..100.0, n + off),
                Just(off),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn float_kernels_match_scalar((a, b, off) in floats(1024)) {
            let (a, b) = (&a[off..], &b[off..]);
            let n = a.len();
            let abs_dot: f32 = a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum();
            for k in simd_sets() {
                let (d, s) = (k.dot(a, b), SCALAR.dot(a, b));
                prop_assert!((d - s).abs() <= tolerance(n, abs_dot), "{:?} dot {d} vs {s}", k.isa());
                // dot_many over rows that are pieces of b, with a's prefix as the query.
                if n >= 4 {
                    let q = &a[..n / 4];
                    let rows = &b[..n / 4 * 4];
                    let (mut got, mut want) = (vec![0f32; 4], vec![0f32; 4]);
                    k.dot_many(q, rows, &mut got);
                    SCALAR.dot_many(q, rows, &mut want);
                    for (r, (g, w)) in got.iter().zip(&want).enumerate() {
                        let row = &rows[r * q.len()..(r + 1) * q.len()];
                        let abs: f32 = q.iter().zip(row).map(|(x, y)| (x * y).abs()).sum();
                        prop_assert!((g - w).abs() <= tolerance(q.len(), abs), "{:?} dot_many {g} vs {w}", k.isa());
                    }
                }
                let (d, s) = (k.l2sq(a, b), SCALAR.l2sq(a, b));
                prop_assert!((d - s).abs() <= tolerance(n, s), "{:?} l2sq {d} vs {s}", k.isa());
                let (d, s) = (k.l1(a, b), SCALAR.l1(a, b));
                prop_assert!((d - s).abs() <= tolerance(n, s), "{:?} l1 {d} vs {s}", k.isa());
            }
        }

        #[test]
        fn hamming_matches_scalar(
            stride in 1usize..=20,
            rows in 0usize..=40,
            off in 0usize..4,
            seed in any::<u64>(),
        ) {
            let (query, codes) = query_and_codes(stride, rows * stride + off, seed);
            let codes = &codes[off..];
            let mut want = vec![0u32; rows];
            SCALAR.hamming_many(&query, codes, &mut want);
            for (r, w) in want.iter().enumerate() {
                let direct: u32 = query.iter().zip(&codes[r * stride..]).map(|(a, b)| (a ^ b).count_ones()).sum();
                prop_assert_eq!(*w, direct);
            }
            for k in simd_sets() {
                let mut got = vec![0u32; rows];
                k.hamming_many(&query, codes, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", k.isa());
            }
        }

        #[test]
        fn count_ones_matches_scalar(
            words in proptest::collection::vec(any::<u64>(), 0..80),
            off in 0usize..4,
        ) {
            let words = words.get(off..).unwrap_or_default();
            let want = SCALAR.count_ones(words);
            // Bit by bit, as an oracle independent of `count_ones` itself.
            let bits = words.iter().map(|w| (0..64).filter(|b| w >> b & 1 == 1).count() as u64);
            prop_assert_eq!(want, bits.sum::<u64>());
            for k in simd_sets() {
                prop_assert_eq!(k.count_ones(words), want, "{:?}", k.isa());
            }
        }

        #[test]
        fn hamming_rows_matches_scalar(
            stride in 1usize..=20,
            rows in 0usize..=40,
            picks in proptest::collection::vec(0u32..48, 0..60),
            off in 0usize..4,
            seed in any::<u64>(),
        ) {
            let (query, codes) = query_and_codes(stride, rows * stride + off, seed);
            let codes = &codes[off..];
            let mut all = vec![0u32; rows];
            SCALAR.hamming_many(&query, codes, &mut all);
            // Rows past the end (picks reach 47 of at most 40 rows) come out as u32::MAX.
            let want: Vec<u32> = picks
                .iter()
                .map(|&r| all.get(r as usize).copied().unwrap_or(u32::MAX))
                .collect();
            for k in simd_sets() {
                let mut got = vec![7u32; picks.len()];
                k.hamming_rows(&query, codes, &picks, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", k.isa());
            }
        }

        #[test]
        fn min_hamming_matches_scalar(
            words in 1usize..=34,
            queries in 0usize..=11,
            rows in 0usize..=40,
            off in 0usize..4,
            seed in any::<u64>(),
        ) {
            let mut x = seed | 1;
            let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let q: Vec<u64> = (0..queries * words + off).map(|_| next()).collect();
            let q = &q[off..];
            let codes: Vec<u64> = (0..rows * words + off).map(|_| next()).collect();
            let codes = &codes[off..];
            let mut want = vec![0u32; queries];
            SCALAR.min_hamming_many(q, codes, words, &mut want);
            for (i, w) in want.iter().enumerate() {
                let mut one = vec![0u32; rows];
                SCALAR.hamming_many(&q[i * words..(i + 1) * words], codes, &mut one);
                prop_assert_eq!(*w, one.into_iter().min().unwrap_or(u32::MAX));
            }
            for k in simd_sets() {
                let mut got = vec![0u32; queries];
                k.min_hamming_many(q, codes, words, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", k.isa());
            }
        }

        #[test]
        fn weighted_hamming_matches_scalar(
            words in 1usize..=14,
            bits in 0usize..=8,
            rows in 0usize..=30,
            off in 0usize..4,
            seed in any::<u64>(),
        ) {
            let mut x = seed | 1;
            let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let planes: Vec<u64> = (0..bits * words + off).map(|_| next()).collect();
            let planes = &planes[off..];
            let codes: Vec<u64> = (0..rows * words + off).map(|_| next()).collect();
            let codes = &codes[off..];
            let mut want = vec![0u32; rows];
            SCALAR.weighted_hamming_many(planes, codes, words, &mut want);
            let mut pass = vec![0u32; rows];
            let mut direct = vec![0u32; rows];
            for (b, plane) in planes.chunks_exact(words).enumerate() {
                SCALAR.hamming_many(plane, codes, &mut pass);
                for (d, p) in direct.iter_mut().zip(&pass) {
                    *d += p << b;
                }
            }
            prop_assert_eq!(&want, &direct);
            for k in simd_sets() {
                let mut got = vec![0u32; rows];
                k.weighted_hamming_many(planes, codes, words, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", k.isa());
            }
        }

        #[test]
        fn nibble_lut_sums_match_scalar(
            bytes in 1usize..=40,
            blocks in 0usize..=3,
            planes in 1usize..=3,
            off in 0usize..4,
            saturated in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let stride = 32 * bytes * planes;
            let mut x = seed | 1;
            let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 };
            let luts: Vec<u8> = (0..32 * bytes + off)
                .map(|_| if saturated { NIBBLE_LUT_MAX } else { next() % (NIBBLE_LUT_MAX + 1) })
                .collect();
            let luts = &luts[off..];
            let codes: Vec<u8> = (0..blocks * stride + off).map(|_| next()).collect();
            let codes = &codes[off..];
            // The definition, row by row: byte j of row r sits at 32·j + r of its block's
            // plane, and plane p weighs 2^(planes − 1 − p).
            let mut direct = vec![0u32; 32 * blocks];
            for (i, d) in direct.iter_mut().enumerate() {
                for p in 0..planes {
                    let plane = &codes[(i / 32) * stride + p * 32 * bytes..];
                    let weight = 1 << (planes - 1 - p);
                    for j in 0..bytes {
                        let b = usize::from(plane[32 * j + i % 32]);
                        *d += weight
                            * (u32::from(luts[32 * j + (b & 15)])
                                + u32::from(luts[32 * j + 16 + (b >> 4)]));
                    }
                }
            }
            let mut want = vec![0u32; 32 * blocks];
            SCALAR.nibble_lut_sums(luts, codes, planes, &mut want);
            prop_assert_eq!(&want, &direct);
            for k in simd_sets() {
                let mut got = vec![0u32; 32 * blocks];
                k.nibble_lut_sums(luts, codes, planes, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", k.isa());
            }
        }

        #[test]
        fn below_matches_scalar(
            len in 0usize..=200,
            words in 0usize..=5,
            bound_at in 0usize..=200,
            seed in any::<u64>(),
        ) {
            let mut x = seed | 1;
            let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u32 };
            // Keys around the bound and at the ends of u32, so that the sign bit matters.
            let keys: Vec<u32> = (0..len)
                .map(|i| match i % 4 {
                    0 => next(),
                    1 => u32::MAX - next() % 3,
                    2 => next() % 3,
                    _ => next() % 64 + (1 << 31) - 32,
                })
                .collect();
            let bound = keys.get(bound_at).copied().unwrap_or(1 << 31);
            let mut want = vec![u64::MAX; words];
            SCALAR.below(&keys, bound, &mut want);
            for (w, &word) in want.iter().enumerate() {
                for b in 0..64 {
                    let i = 64 * w + b;
                    let set = keys.get(i).is_some_and(|&k| k < bound);
                    prop_assert_eq!(word >> b & 1 == 1, set, "key {}", i);
                }
            }
            for k in simd_sets() {
                let mut got = vec![u64::MAX; words];
                k.below(&keys, bound, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", k.isa());
            }
        }

        #[test]
        fn rotated_keys_match_scalar(
            rows in 0usize..=40,
            euclid in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut x = seed | 1;
            let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let mut float = move || (next() % 20_001) as f32 / 1000.0 - 10.0;
            let mut table = [0.0; 256];
            for t in &mut table {
                *t = float();
            }
            let terms = EstimateTerms { table, base: float(), step: float() / 100.0, euclid };
            let sums: Vec<u32> = (0..rows).map(|i| (i as u32).wrapping_mul(2_654_435_761) % 6000).collect();
            let factors: Vec<[f32; 2]> = (0..rows).map(|_| [float(), float().abs()]).collect();
            // Mostly the 64 centroids a segment can have, now and then any byte.
            let far = seed as usize % 40;
            let centroids: Vec<u8> = (0..rows)
                .map(|i| if i == far { (i * 97 % 256) as u8 } else { (i * 37 % 64) as u8 })
                .collect();
            let mut want = vec![0u32; rows];
            SCALAR.rotated_keys(&terms, &sums, &factors, &centroids, &mut want);
            for (i, w) in want.iter().enumerate() {
                prop_assert_eq!(*w, ordered(terms.key(sums[i], factors[i], centroids[i])));
            }
            for k in simd_sets() {
                let mut got = vec![0u32; rows];
                k.rotated_keys(&terms, &sums, &factors, &centroids, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", k.isa());
            }
        }

        #[test]
        fn max_dot_u8i16_matches_scalar(
            stride in 1usize..=70,
            queries in 0usize..=9,
            rows in 0usize..=12,
            seed in any::<u64>(),
        ) {
            let mut x = seed | 1;
            let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let q: Vec<i16> = (0..queries * stride).map(|_| next() as i16).collect();
            let codes: Vec<u8> = (0..rows * stride).map(|_| next() as u8).collect();
            let mut want = vec![0i64; queries];
            SCALAR.max_dot_u8i16_many(&q, &codes, stride, &mut want);
            for k in simd_sets() {
                let mut got = vec![0i64; queries];
                k.max_dot_u8i16_many(&q, &codes, stride, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", k.isa());
            }
        }

        #[test]
        fn conversions_match_scalar(bits in prop::collection::vec(any::<u16>(), 0..=1024), off in 0usize..8) {
            let src = &bits[off.min(bits.len())..];
            let bytes: Vec<u8> = src.iter().map(|b| b.to_le_bytes()[0]).collect();
            let mut want = vec![0f32; src.len()];
            SCALAR.f16_to_f32(src, &mut want);
            let mut want8 = vec![0f32; src.len()];
            SCALAR.u8_to_f32(&bytes, &mut want8);
            for k in simd_sets() {
                let mut got = vec![0f32; src.len()];
                k.f16_to_f32(src, &mut got);
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{:?} f16 {g} vs {w}", k.isa());
                }
                let mut got8 = vec![0f32; src.len()];
                k.u8_to_f32(&bytes, &mut got8);
                prop_assert_eq!(&got8, &want8);
            }
        }
    }

    /// Rows long enough that the i32 lanes are flushed to i64, at the extremes of both
    /// operands.
    #[test]
    fn ordered_keys_sort_like_the_floats_and_come_back() {
        let keys = [
            f32::NEG_INFINITY,
            -3.5e30,
            -2.0,
            -1e-40,
            -0.0,
            0.0,
            1e-40,
            0.5,
            7.0e12,
            f32::INFINITY,
        ];
        for pair in keys.windows(2) {
            assert!(ordered(pair[0]) < ordered(pair[1]), "{pair:?}");
        }
        for k in keys {
            assert_eq!(unordered(ordered(k)).to_bits(), k.to_bits());
        }
    }

    #[test]
    fn nibble_lut_sums_are_exact_past_the_16_bit_flush() {
        // 2,000 code bytes of tables at their largest: 252,000 per row, far past a u16 lane.
        let bytes = 2000;
        let luts = vec![NIBBLE_LUT_MAX; 32 * bytes];
        let codes: Vec<u8> = (0..2 * 32 * bytes).map(|i| (i * 7) as u8).collect();
        for k in std::iter::once(&SCALAR).chain(simd_sets()) {
            let mut got = vec![0u32; 64];
            k.nibble_lut_sums(&luts, &codes, 1, &mut got);
            let want = 2 * u32::from(NIBBLE_LUT_MAX) * bytes as u32;
            assert_eq!(got, vec![want; 64], "{:?}", k.isa());
        }
    }

    #[test]
    fn max_dot_u8i16_is_exact_on_long_rows_of_extremes() {
        let stride = 16 * 300 + 5;
        let q: Vec<i16> = (0..3 * stride)
            .map(|i| if i % 7 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let codes: Vec<u8> = (0..2 * stride)
            .map(|i| if i % 3 == 0 { 0 } else { 255 })
            .collect();
        let mut want = vec![0i64; 3];
        SCALAR.max_dot_u8i16_many(&q, &codes, stride, &mut want);
        for k in simd_sets() {
            let mut got = vec![0i64; 3];
            k.max_dot_u8i16_many(&q, &codes, stride, &mut got);
            assert_eq!(got, want, "{:?}", k.isa());
        }
    }

    #[test]
    fn every_length_and_offset_up_to_1024() {
        let a: Vec<f32> = (0..1100)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let b: Vec<f32> = (0..1100)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 5.0)
            .collect();
        for k in simd_sets() {
            for off in 0..8 {
                for n in 0..=1024 {
                    let (x, y) = (&a[off..off + n], &b[off..off + n]);
                    let s = SCALAR.l2sq(x, y);
                    let d = k.l2sq(x, y);
                    assert!(
                        (d - s).abs() <= tolerance(n, s),
                        "{:?} n={n} off={off}",
                        k.isa()
                    );
                    let s = SCALAR.l1(x, y);
                    assert!(
                        (k.l1(x, y) - s).abs() <= tolerance(n, s),
                        "{:?} n={n}",
                        k.isa()
                    );
                    let abs: f32 = x.iter().zip(y).map(|(p, q)| (p * q).abs()).sum();
                    assert!((k.dot(x, y) - SCALAR.dot(x, y)).abs() <= tolerance(n, abs));
                }
            }
        }
    }

    #[test]
    fn conversions_and_hamming_at_every_length_and_offset() {
        let bits: Vec<u16> = (0..1100u32)
            .map(|i| (i.wrapping_mul(40_503) >> 3) as u16)
            .collect();
        let bytes: Vec<u8> = bits.iter().map(|b| b.to_le_bytes()[1]).collect();
        let words: Vec<u64> = (0..1100u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        for k in simd_sets() {
            for off in 0..8 {
                for n in 0..=1024 {
                    let (mut want, mut got) = (vec![0f32; n], vec![0f32; n]);
                    SCALAR.f16_to_f32(&bits[off..off + n], &mut want);
                    k.f16_to_f32(&bits[off..off + n], &mut got);
                    assert!(
                        want.iter()
                            .zip(&got)
                            .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
                    );
                    SCALAR.u8_to_f32(&bytes[off..off + n], &mut want);
                    k.u8_to_f32(&bytes[off..off + n], &mut got);
                    assert_eq!(want, got, "{:?} u8 n={n} off={off}", k.isa());
                }
            }
            // Code lengths 1..=16 words (up to 1024 bits), 3 rows, every word offset.
            for stride in 1..=16 {
                for off in 0..8 {
                    let query = &words[1000..1000 + stride];
                    let codes = &words[off..off + 3 * stride];
                    let (mut want, mut got) = ([0u32; 3], [0u32; 3]);
                    SCALAR.hamming_many(query, codes, &mut want);
                    k.hamming_many(query, codes, &mut got);
                    assert_eq!(want, got, "{:?} stride={stride} off={off}", k.isa());
                }
            }
        }
    }

    #[test]
    fn integer_code_kernels_at_every_length_and_offset() {
        let codes: Vec<u8> = (0..4200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let query_u8: Vec<u8> = (0..1100u32)
            .map(|i| (i.wrapping_mul(40_503) >> 5) as u8)
            .collect();
        let query_i16: Vec<i16> = (0..1100u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 16) as i16)
            .map(|v| v.min(QUERY16_MAX))
            .collect();
        for k in simd_sets() {
            for stride in 1..=300 {
                for off in [0, 1, 7, 33] {
                    let rows = &codes[off..off + 3 * stride];
                    let query = &query_i16[off..off + stride];
                    let (mut want, mut got) = ([0i64; 3], [0i64; 3]);
                    SCALAR.dot_u8i16_many(query, rows, &mut want);
                    k.dot_u8i16_many(query, rows, &mut got);
                    assert_eq!(want, got, "{:?} dot stride={stride} off={off}", k.isa());
                    let (mut want, mut got) = ([0u32; 3], [0u32; 3]);
                    SCALAR.l1_u8_many(&query_u8[..stride], rows, &mut want);
                    k.l1_u8_many(&query_u8[..stride], rows, &mut got);
                    assert_eq!(want, got, "{:?} l1 stride={stride} off={off}", k.isa());
                }
            }
        }
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn every_query16_value_splits_into_two_exact_bytes() {
        let values: Vec<i16> = (i16::MIN..=QUERY16_MAX).collect();
        let (mut hi, mut lo) = (vec![0i8; values.len()], vec![0i8; values.len()]);
        split_query16(&values, &mut hi, &mut lo);
        for ((&v, &h), &l) in values.iter().zip(&hi).zip(&lo) {
            assert_eq!(256 * i32::from(h) + i32::from(l), i32::from(v), "{v}");
        }
    }

    #[test]
    fn integer_code_kernels_do_not_overflow_at_the_largest_dimension() {
        // The extreme rows: every code 255 against every query value at either end of its
        // range (or 0 for L1).
        let n = crate::config::MAX_DIM;
        let (codes, q_u8) = (vec![255u8; n], vec![0u8; n]);
        for k in std::iter::once(&SCALAR).chain(simd_sets()) {
            for v in [i16::MIN, QUERY16_MAX] {
                let mut dot = [0i64; 1];
                k.dot_u8i16_many(&vec![v; n], &codes, &mut dot);
                assert_eq!(dot[0], i64::from(v) * 255 * n as i64, "{:?}", k.isa());
            }
            let mut l1 = [0u32; 1];
            k.l1_u8_many(&q_u8, &codes, &mut l1);
            assert_eq!(u64::from(l1[0]), 255 * n as u64, "{:?}", k.isa());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn integer_code_kernels_match_scalar(
            stride in 1usize..=1024,
            rows in 0usize..=6,
            seed in any::<u64>(),
        ) {
            let mut x = seed | 1;
            let mut next = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 };
            let q_u8: Vec<u8> = (0..stride).map(|_| next()).collect();
            let q16: Vec<i16> = q_u8
                .iter()
                .map(|&b| i16::from_le_bytes([b.rotate_left(3), b]).min(QUERY16_MAX))
                .collect();
            let codes: Vec<u8> = (0..rows * stride).map(|_| next()).collect();
            let (mut want_d, mut want_l) = (vec![0i64; rows], vec![0u32; rows]);
            SCALAR.dot_u8i16_many(&q16, &codes, &mut want_d);
            SCALAR.l1_u8_many(&q_u8, &codes, &mut want_l);
            for k in simd_sets() {
                let (mut d, mut l) = (vec![0i64; rows], vec![0u32; rows]);
                k.dot_u8i16_many(&q16, &codes, &mut d);
                k.l1_u8_many(&q_u8, &codes, &mut l);
                prop_assert_eq!(&d, &want_d, "{:?}", k.isa());
                prop_assert_eq!(&l, &want_l, "{:?}", k.isa());
            }
        }
    }

    #[test]
    fn forced_isa_names_round_trip() {
        for isa in [
            Isa::Scalar,
            Isa::Avx2,
            Isa::Avx512,
            Isa::Neon,
            Isa::NeonDotprod,
        ] {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
        }
        assert_eq!(Isa::from_name("sse9"), None);
    }
}
