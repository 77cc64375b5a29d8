//! NEON kernels.
//!
//! # Safety
//! NEON is mandatory on aarch64, so these are safe to call on any aarch64 CPU; they are
//! `unsafe fn` only to share the `Kernels` table's signature. Callers pass slices of equal
//! length.

use std::arch::aarch64::{
    float32x4_t, int8x16_t, int32x4_t, uint8x16_t, vabdq_f32, vabdq_u8, vaddlvq_s32, vaddlvq_u8,
    vaddq_f32, vaddq_u8, vaddvq_f32, vaddvq_s32, vaddvq_u32, vaddw_high_u8, vaddw_u8, vandq_u8,
    vcntq_u8, vcvtq_f32_u32, vdupq_n_f32, vdupq_n_s32, vdupq_n_u8, vdupq_n_u16, vdupq_n_u32,
    vdupq_n_u64, veorq_u8, veorq_u64, vfmaq_f32, vget_high_u16, vget_low_s16, vget_low_u8,
    vget_low_u16, vgetq_lane_u32, vld1_u8, vld1q_f32, vld1q_s8, vld1q_s16, vld1q_u8, vld1q_u64,
    vminq_u32, vmlal_high_s16, vmlal_s16, vmovl_high_u8, vmovl_u8, vmovl_u16, vpadalq_u16,
    vpaddlq_u8, vpaddlq_u16, vpaddlq_u32, vqtbl1q_u8, vreinterpretq_s8_u8, vreinterpretq_s16_u16,
    vreinterpretq_u8_u64, vreinterpretq_u32_u64, vshrq_n_u8, vst1q_f32, vst1q_u16, vsubq_f32,
};
use std::arch::aarch64::{
    vandq_u32, vcltq_u32, veorq_u32, vld1q_u32, vld2q_f32, vmulq_f32, vorrq_u32,
    vreinterpretq_s32_u32, vreinterpretq_u32_f32, vreinterpretq_u32_s32, vshrq_n_s32, vst1q_u32,
};

use crate::simd::for_split_parts;

#[inline]
#[target_feature(enable = "neon")]
fn load(chunk: &[f32; 4]) -> float32x4_t {
    // SAFETY: `chunk` is 4 readable f32s; NEON loads have no alignment requirement.
    unsafe { vld1q_f32(chunk.as_ptr()) }
}

#[inline]
#[target_feature(enable = "neon")]
fn fold(
    a: &[f32],
    b: &[f32],
    step: impl Fn(float32x4_t, float32x4_t, float32x4_t) -> float32x4_t,
    tail: impl Fn(f32, f32) -> f32,
) -> f32 {
    let (a16, a_rest) = a.as_chunks::<16>();
    let (b16, b_rest) = b.as_chunks::<16>();
    let mut acc = [vdupq_n_f32(0.0); 4];
    for (x, y) in a16.iter().zip(b16) {
        let (x, y) = (x.as_chunks::<4>().0, y.as_chunks::<4>().0);
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc = step(load(x), load(y), *acc);
        }
    }
    let (a4, a_tail) = a_rest.as_chunks::<4>();
    let (b4, b_tail) = b_rest.as_chunks::<4>();
    for (x, y) in a4.iter().zip(b4) {
        acc[0] = step(load(x), load(y), acc[0]);
    }
    let v = vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
    let mut sum = vaddvq_f32(v);
    for (x, y) in a_tail.iter().zip(b_tail) {
        sum += tail(*x, *y);
    }
    sum
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |x, y, acc| vfmaq_f32(acc, x, y), |x, y| x * y)
}

/// `dot` of one query with each row, in one call.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn dot_many(query: &[f32], rows: &[f32], out: &mut [f32]) {
    for (row, o) in rows.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = fold(query, row, |x, y, acc| vfmaq_f32(acc, x, y), |x, y| x * y);
    }
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    fold(
        a,
        b,
        |x, y, acc| {
            let d = vsubq_f32(x, y);
            vfmaq_f32(acc, d, d)
        },
        |x, y| (x - y) * (x - y),
    )
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn l1(a: &[f32], b: &[f32]) -> f32 {
    fold(
        a,
        b,
        |x, y, acc| vaddq_f32(acc, vabdq_f32(x, y)),
        |x, y| (x - y).abs(),
    )
}

/// Hamming distances: XOR, per-byte popcount (`cnt`), widening sum across the vector.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn hamming_many(query: &[u64], codes: &[u64], out: &mut [u32]) {
    for (row, o) in codes.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = hamming_one(query, row);
    }
}

/// The Hamming distance of two codes of equal length.
#[inline]
#[target_feature(enable = "neon")]
fn hamming_one(query: &[u64], code: &[u64]) -> u32 {
    let (q2, q_tail) = query.as_chunks::<2>();
    let (r2, r_tail) = code.as_chunks::<2>();
    let mut total = 0u32;
    for (q, r) in q2.iter().zip(r2) {
        // SAFETY: `q` and `r` are 16 readable bytes each.
        let (qv, rv) = unsafe { (vld1q_u8(q.as_ptr().cast()), vld1q_u8(r.as_ptr().cast())) };
        total += u32::from(vaddlvq_u8(vcntq_u8(veorq_u8(qv, rv))));
    }
    for (q, r) in q_tail.iter().zip(r_tail) {
        total += (q ^ r).count_ones();
    }
    total
}

/// `cnt` per byte over 16 bytes at a time, summed across the register.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn count_ones(words: &[u64]) -> u64 {
    let (pairs, tail) = words.as_chunks::<2>();
    let mut total = 0u64;
    for pair in pairs {
        // SAFETY: `pair` is 16 readable bytes.
        let v = unsafe { vld1q_u8(pair.as_ptr().cast()) };
        total += u64::from(vaddlvq_u8(vcntq_u8(v)));
    }
    total + tail.iter().map(|w| u64::from(w.count_ones())).sum::<u64>()
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn hamming_rows(query: &[u64], codes: &[u64], rows: &[u32], out: &mut [u32]) {
    for (&row, o) in rows.iter().zip(out.iter_mut()) {
        *o = crate::simd::code_row(codes, query.len(), row)
            .map_or(u32::MAX, |code| hamming_one(query, code));
    }
}

/// Code bytes whose lookups are summed in 16-bit lanes before they are added to a row's
/// u32 total (each byte adds at most 2 × 63).
const NIBBLE_FLUSH_BYTES: usize = 512;

/// The FastScan-style scan: per code byte, the byte of 16 rows at a time, its nibbles
/// looked up in the byte's two tables with `tbl`, widened into 16-bit lanes and flushed
/// to u32 every [`NIBBLE_FLUSH_BYTES`] bytes.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn nibble_lut_sums(luts: &[u8], blocks: &[u8], planes: usize, out: &mut [u32]) {
    let bytes = luts.len() / 32;
    let low = vdupq_n_u8(0x0F);
    for (block, out) in blocks
        .chunks_exact(32 * bytes * planes)
        .zip(out.chunks_exact_mut(32))
    {
        let mut total = [0u32; 32];
        let tables = luts.as_chunks::<32>().0;
        for plane in block.chunks_exact(32 * bytes) {
            // The planes before weigh twice this one.
            for t in total.iter_mut() {
                *t *= 2;
            }
            plane_sums(plane, tables, low, &mut total);
        }
        out.copy_from_slice(&total);
    }
}

/// Adds one plane's lookups of 32 rows to `total`.
#[target_feature(enable = "neon")]
fn plane_sums(plane: &[u8], tables: &[[u8; 32]], low: uint8x16_t, total: &mut [u32; 32]) {
    let columns = plane.as_chunks::<32>().0;
    for (columns, tables) in columns
        .chunks(NIBBLE_FLUSH_BYTES)
        .zip(tables.chunks(NIBBLE_FLUSH_BYTES))
    {
        // Rows 0..8 and 8..16 of each half of the block.
        let mut acc = [[vdupq_n_u16(0); 2]; 2];
        for (column, table) in columns.iter().zip(tables) {
            // SAFETY: `table` and `column` are 32 readable bytes each.
            let (lo_table, hi_table, first, second) = unsafe {
                (
                    vld1q_u8(table.as_ptr()),
                    vld1q_u8(table.as_ptr().add(16)),
                    vld1q_u8(column.as_ptr()),
                    vld1q_u8(column.as_ptr().add(16)),
                )
            };
            for (c, [x, y]) in [first, second].into_iter().zip(acc.iter_mut()) {
                let a = vqtbl1q_u8(lo_table, vandq_u8(c, low));
                let b = vqtbl1q_u8(hi_table, vshrq_n_u8::<4>(c));
                *x = vaddw_u8(vaddw_u8(*x, vget_low_u8(a)), vget_low_u8(b));
                *y = vaddw_high_u8(vaddw_high_u8(*y, a), b);
            }
        }
        let mut lanes = [0u16; 32];
        for (chunk, v) in lanes
            .as_chunks_mut::<8>()
            .0
            .iter_mut()
            .zip(acc.into_iter().flatten())
        {
            // SAFETY: `chunk` is 16 writable bytes.
            unsafe { vst1q_u16(chunk.as_mut_ptr(), v) };
        }
        for (t, l) in total.iter_mut().zip(lanes) {
            *t += u32::from(l);
        }
    }
}

/// The rotated codes' estimates, 4 rows at a time: sums converted to f32, the rows'
/// `[add, scale]` pairs split by `ld2`, the centroid table read entry by entry, the key
/// computed with separate multiplies and adds (the scalar form's roundings; no `fmla`)
/// and mapped to its ordered `u32` without a branch.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn rotated_keys(
    terms: &crate::simd::EstimateTerms,
    sums: &[u32],
    factors: &[[f32; 2]],
    centroids: &[u8],
    out: &mut [u32],
) {
    let base = vdupq_n_f32(terms.base);
    let step = vdupq_n_f32(terms.step);
    let two = vdupq_n_f32(2.0);
    let sign = vdupq_n_u32(1 << 31);
    let (sums4, sums_tail) = sums.as_chunks::<4>();
    let (factors4, factors_tail) = factors.as_chunks::<4>();
    let (centroids4, centroids_tail) = centroids.as_chunks::<4>();
    let (out4, out_tail) = out.as_chunks_mut::<4>();
    for (((o, s), f), c) in out4.iter_mut().zip(sums4).zip(factors4).zip(centroids4) {
        let t = c.map(|i| terms.table[usize::from(i)]);
        // SAFETY: `s` is 4 readable u32s, `f` 8 readable f32s, `t` 4 readable f32s, `o` 4
        // writable u32s.
        unsafe {
            let sum = vcvtq_f32_u32(vld1q_u32(s.as_ptr()));
            let ip = vaddq_f32(base, vmulq_f32(step, sum));
            let pairs = vld2q_f32(f.as_ptr().cast::<f32>());
            let (add, scale) = (pairs.0, pairs.1);
            let t = vld1q_f32(t.as_ptr());
            let key = if terms.euclid {
                vsubq_f32(vaddq_f32(add, t), vmulq_f32(vmulq_f32(two, scale), ip))
            } else {
                vsubq_f32(vsubq_f32(t, add), vmulq_f32(scale, ip))
            };
            let bits = vreinterpretq_u32_f32(key);
            let negative = vreinterpretq_u32_s32(vshrq_n_s32::<31>(vreinterpretq_s32_u32(bits)));
            vst1q_u32(o.as_mut_ptr(), veorq_u32(bits, vorrq_u32(negative, sign)));
        }
    }
    crate::simd::scalar::rotated_keys(terms, sums_tail, factors_tail, centroids_tail, out_tail);
}

/// Codes of up to this many words take the vector path of [`min_hamming_many`] (31 words
/// of popcounts fit a byte: 31 × 8 < 256).
const MIN_HAMMING_MAX_WORDS: usize = 31;

/// The MaxSim scan of binary codes: two query codes are held transposed in registers (one
/// 128-bit register per code word, one lane per query); each row code word is broadcast,
/// XORed with both, counted with `cnt` per byte and summed over the words, widened once
/// per row, and kept as a running minimum per lane. Every row code is read once per two
/// queries.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn min_hamming_many(
    queries: &[u64],
    codes: &[u64],
    words: usize,
    out: &mut [u32],
) {
    if words > MIN_HAMMING_MAX_WORDS {
        return crate::simd::scalar::min_hamming_many(queries, codes, words, out);
    }
    let tiles = queries.chunks_exact(2 * words);
    let rest = tiles.remainder();
    let mut outs = out.chunks_exact_mut(2);
    for (tile, o) in tiles.zip(&mut outs) {
        let mut transposed = [vdupq_n_u64(0); MIN_HAMMING_MAX_WORDS];
        for (k, t) in transposed.iter_mut().enumerate().take(words) {
            let pair = [
                tile.get(k).copied().unwrap_or(0),
                tile.get(words + k).copied().unwrap_or(0),
            ];
            // SAFETY: `pair` is 16 readable bytes.
            *t = unsafe { vld1q_u64(pair.as_ptr()) };
        }
        let mut mins = vdupq_n_u32(u32::MAX);
        for row in codes.chunks_exact(words) {
            let mut bytes = vdupq_n_u8(0);
            for (t, &c) in transposed.iter().zip(row) {
                let x = veorq_u64(*t, vdupq_n_u64(c));
                bytes = vaddq_u8(bytes, vcntq_u8(vreinterpretq_u8_u64(x)));
            }
            let counts = vpaddlq_u32(vpaddlq_u16(vpaddlq_u8(bytes)));
            // The high 32 bits of each count are 0, so lanes 0 and 2 hold the minima.
            mins = vminq_u32(mins, vreinterpretq_u32_u64(counts));
        }
        if let [a, b] = o {
            *a = vgetq_lane_u32::<0>(mins);
            *b = vgetq_lane_u32::<2>(mins);
        }
    }
    crate::simd::scalar::min_hamming_many(rest, codes, words, outs.into_remainder());
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn f16_to_f32(src: &[u16], dst: &mut [f32]) {
    // Half-precision vector conversions need the unstable `f16` type in `std::arch`;
    // `half` uses the FP16 instructions when the target enables them.
    for (s, d) in src.iter().zip(dst.iter_mut()) {
        *d = half::f16::from_bits(*s).to_f32();
    }
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn u8_to_f32(src: &[u8], dst: &mut [f32]) {
    let (s8, s_tail) = src.as_chunks::<8>();
    let (d8, d_tail) = dst.as_chunks_mut::<8>();
    for (s, d) in s8.iter().zip(d8.iter_mut()) {
        // SAFETY: `s` is 8 readable bytes.
        let wide = vmovl_u8(unsafe { vld1_u8(s.as_ptr()) });
        let (lo, hi) = (
            vmovl_u16(vget_low_u16(wide)),
            vmovl_u16(vget_high_u16(wide)),
        );
        let (d0, d1) = d.split_at_mut(4);
        // SAFETY: `d0` and `d1` are 4 writable f32s each.
        unsafe {
            vst1q_f32(d0.as_mut_ptr(), vcvtq_f32_u32(lo));
            vst1q_f32(d1.as_mut_ptr(), vcvtq_f32_u32(hi));
        }
    }
    for (s, d) in s_tail.iter().zip(d_tail.iter_mut()) {
        *d = f32::from(*s);
    }
}

/// Chunks of 16 codes whose products [`dot_u8i16_many`] sums in i32 lanes before adding
/// them to the row's i64 total: each lane of its two accumulators takes two products per
/// chunk, at most `2 × 255 × 32,768`, so 128 chunks stay under 2^31.
const DOT16_SAFE_CHUNKS: usize = 128;

/// u8 codes · a 16-bit query: each chunk of 16 codes is loaded and widened once and
/// multiplied with the query's chunk (`smlal`), the i32 lanes added to an i64 total every
/// [`DOT16_SAFE_CHUNKS`] chunks.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn dot_u8i16_many(query: &[i16], codes: &[u8], out: &mut [i64]) {
    let stride = query.len();
    let (q16, q_tail) = query.as_chunks::<16>();
    for (row, o) in codes.chunks_exact(stride).zip(out.iter_mut()) {
        let (r16, r_tail) = row.as_chunks::<16>();
        let mut total = 0i64;
        for (qs, rs) in q16
            .chunks(DOT16_SAFE_CHUNKS)
            .zip(r16.chunks(DOT16_SAFE_CHUNKS))
        {
            let (mut a0, mut a1) = (vdupq_n_s32(0), vdupq_n_s32(0));
            for (q, r) in qs.iter().zip(rs) {
                // SAFETY: `q` is 16 readable i16s, `r` 16 readable bytes.
                let (q_lo, q_hi, rv) = unsafe {
                    (
                        vld1q_s16(q.as_ptr()),
                        vld1q_s16(q.as_ptr().add(8)),
                        vld1q_u8(r.as_ptr()),
                    )
                };
                let r_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(rv)));
                let r_hi = vreinterpretq_s16_u16(vmovl_high_u8(rv));
                a0 = vmlal_s16(a0, vget_low_s16(r_lo), vget_low_s16(q_lo));
                a1 = vmlal_high_s16(a1, r_lo, q_lo);
                a0 = vmlal_s16(a0, vget_low_s16(r_hi), vget_low_s16(q_hi));
                a1 = vmlal_high_s16(a1, r_hi, q_hi);
            }
            total += vaddlvq_s32(a0) + vaddlvq_s32(a1);
        }
        for (q, r) in q_tail.iter().zip(r_tail) {
            total += i64::from(*q) * i64::from(*r);
        }
        *o = total;
    }
}

/// The int8 MaxSim scan: each row chunk of 16 codes is loaded and widened once and
/// multiplied with two 16-bit queries' chunks (`smlal`, exact i32 sums, flushed to i64 every
/// 128 chunks); the running maximum per query is kept in i64.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn max_dot_u8i16_many(
    queries: &[i16],
    codes: &[u8],
    stride: usize,
    out: &mut [i64],
) {
    const SAFE_CHUNKS: usize = 128;
    let tiles = queries.chunks_exact(2 * stride);
    let rest = tiles.remainder();
    let mut outs = out.chunks_exact_mut(2);
    for (tile, o) in tiles.zip(&mut outs) {
        let q: [&[i16]; 2] = [&tile[..stride], &tile[stride..]];
        let mut best = [i64::MIN; 2];
        for row in codes.chunks_exact(stride) {
            let (r16, r_tail) = row.as_chunks::<16>();
            let mut total = [0i64; 2];
            for (block_index, block) in r16.chunks(SAFE_CHUNKS).enumerate() {
                let mut acc = [vdupq_n_s32(0); 2];
                let base = block_index * SAFE_CHUNKS * 16;
                for (i, r) in block.iter().enumerate() {
                    // SAFETY: `r` is 16 readable bytes.
                    let rv = unsafe { vld1q_u8(r.as_ptr()) };
                    let r_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(rv)));
                    let r_hi = vreinterpretq_s16_u16(vmovl_high_u8(rv));
                    let at = base + i * 16;
                    for (a, qk) in acc.iter_mut().zip(&q) {
                        let chunk: &[i16; 16] = qk
                            .get(at..at + 16)
                            .and_then(|c| c.try_into().ok())
                            .unwrap_or(&[0; 16]);
                        // SAFETY: `chunk` is 32 readable bytes.
                        let (q_lo, q_hi) = unsafe {
                            (vld1q_s16(chunk.as_ptr()), vld1q_s16(chunk.as_ptr().add(8)))
                        };
                        *a = vmlal_s16(*a, vget_low_s16(r_lo), vget_low_s16(q_lo));
                        *a = vmlal_high_s16(*a, r_lo, q_lo);
                        *a = vmlal_s16(*a, vget_low_s16(r_hi), vget_low_s16(q_hi));
                        *a = vmlal_high_s16(*a, r_hi, q_hi);
                    }
                }
                for (t, a) in total.iter_mut().zip(acc) {
                    *t += vaddlvq_s32(a);
                }
            }
            crate::simd::scalar::finish_max_dot_row(&q, r_tail, r16.len() * 16, total, &mut best);
        }
        o.copy_from_slice(&best);
    }
    crate::simd::scalar::max_dot_u8i16_many(rest, codes, stride, outs.into_remainder());
}

/// Σ|q − c| over bytes (`uabd`, pairwise widening adds).
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn l1_u8_many(query: &[u8], codes: &[u8], out: &mut [u32]) {
    let stride = query.len();
    let (q16, q_tail) = query.as_chunks::<16>();
    for (row, o) in codes.chunks_exact(stride).zip(out.iter_mut()) {
        let (r16, r_tail) = row.as_chunks::<16>();
        let mut acc = vdupq_n_u32(0);
        for (q, r) in q16.iter().zip(r16) {
            // SAFETY: `q` and `r` are 16 readable bytes each.
            let (qv, rv) = unsafe { (vld1q_u8(q.as_ptr()), vld1q_u8(r.as_ptr())) };
            acc = vpadalq_u16(acc, vpaddlq_u8(vabdq_u8(qv, rv)));
        }
        let mut total = vaddvq_u32(acc);
        for (q, r) in q_tail.iter().zip(r_tail) {
            total += u32::from(q.abs_diff(*r));
        }
        *o = total;
    }
}

/// `acc += sdot(a, b)`: four lanes, each the sum of four i8 × i8 products.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn sdot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: the `sdot` instruction exists on CPUs with the dotprod feature, which this
    // function requires; it reads and writes only the named registers.
    unsafe {
        core::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack),
        );
    }
    acc
}

/// u8 codes · a 16-bit query with `sdot` (dotprod): the query is split into its two i8
/// bytes `256·hi + lo`, part by part on the stack (`for_split_parts`); codes are
/// shifted to `c − 128` (an XOR with 0x80) so that the signed dot product applies, and
/// `128·Σq` is added back. Each row's chunk is read once for both bytes.
///
/// # Safety
/// Requires a CPU with the dotprod feature (checked by `has_dotprod`).
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn dot_u8i16_many_dotprod(query: &[i16], codes: &[u8], out: &mut [i64]) {
    let stride = query.len();
    out.fill(0);
    let flip = vdupq_n_u8(0x80);
    for_split_parts(query, |start, hi, lo| {
        let (h16, h_tail) = hi.as_chunks::<16>();
        let (l16, l_tail) = lo.as_chunks::<16>();
        let sum = |q: &[[i8; 16]]| -> i32 { q.iter().flatten().map(|&x| i32::from(x)).sum() };
        let (shift_h, shift_l) = (128 * sum(h16), 128 * sum(l16));
        for (row, o) in codes.chunks_exact(stride).zip(out.iter_mut()) {
            let (r16, r_tail) = row[start..start + hi.len()].as_chunks::<16>();
            let (mut acc_h, mut acc_l) = (vdupq_n_s32(0), vdupq_n_s32(0));
            for ((h, l), r) in h16.iter().zip(l16).zip(r16) {
                // SAFETY: `h`, `l` and `r` are 16 readable bytes each.
                let (hv, lv, rv) = unsafe {
                    (
                        vld1q_s8(h.as_ptr()),
                        vld1q_s8(l.as_ptr()),
                        vld1q_u8(r.as_ptr()),
                    )
                };
                let centered = vreinterpretq_s8_u8(veorq_u8(rv, flip));
                acc_h = sdot(acc_h, centered, hv);
                acc_l = sdot(acc_l, centered, lv);
            }
            let (mut th, mut tl) = (vaddvq_s32(acc_h) + shift_h, vaddvq_s32(acc_l) + shift_l);
            for ((h, l), r) in h_tail.iter().zip(l_tail).zip(r_tail) {
                th += i32::from(*h) * i32::from(*r);
                tl += i32::from(*l) * i32::from(*r);
            }
            *o += 256 * i64::from(th) + i64::from(tl);
        }
    });
}

/// The keys below `bound`, 4 per compare: each lane's all-ones mask keeps its own bit
/// (1, 2, 4, 8) and the lanes are summed.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn below(keys: &[u32], bound: u32, out: &mut [u64]) {
    let b = vdupq_n_u32(bound);
    // SAFETY: four readable u32s on the stack.
    let bits = unsafe { vld1q_u32([1u32, 2, 4, 8].as_ptr()) };
    let (keys64, tail) = keys.as_chunks::<64>();
    for (o, chunk) in out.iter_mut().zip(keys64) {
        *o = (0..16).zip(chunk.as_chunks::<4>().0).fold(0, |m, (j, k)| {
            // SAFETY: `k` is 4 readable u32s; NEON loads have no alignment requirement.
            let v = unsafe { vld1q_u32(k.as_ptr()) };
            m | u64::from(vaddvq_u32(vandq_u32(vcltq_u32(v, b), bits))) << (4 * j)
        });
    }
    if let Some(o) = out.get_mut(keys64.len()..) {
        crate::simd::scalar::below(tail, bound, o);
    }
}
