//! AVX2 (+ FMA, F16C, POPCNT) kernels.
//!
//! # Safety
//! Every function here requires a CPU with AVX2, FMA, F16C and POPCNT; they are reached only
//! through `Kernels`, which exists for this ISA only after `has_avx2()` said yes. Callers pass
//! slices of equal length (the `Kernels` wrappers guarantee it).

use std::arch::x86_64::{
    __m128i, __m256, __m256i, _mm_add_ps, _mm_cvtss_f32, _mm_loadl_epi64, _mm_loadu_si128,
    _mm_movehl_ps, _mm_shuffle_ps, _mm_storeu_ps, _mm256_add_epi8, _mm256_add_epi16,
    _mm256_add_epi32, _mm256_add_epi64, _mm256_add_ps, _mm256_and_si256, _mm256_andnot_ps,
    _mm256_blend_epi32, _mm256_broadcastsi128_si256, _mm256_castpd_ps, _mm256_castps_pd,
    _mm256_castps_si256, _mm256_castps256_ps128, _mm256_castsi256_ps, _mm256_castsi256_si128,
    _mm256_cmpgt_epi32, _mm256_cvtepi32_epi64, _mm256_cvtepi32_ps, _mm256_cvtepu8_epi16,
    _mm256_cvtepu8_epi32, _mm256_cvtepu16_epi32, _mm256_cvtph_ps, _mm256_extract_epi64,
    _mm256_extractf128_ps, _mm256_extracti128_si256, _mm256_fmadd_ps, _mm256_hadd_ps,
    _mm256_loadu_ps, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_min_epu32, _mm256_movemask_ps,
    _mm256_mul_ps, _mm256_or_si256, _mm256_permute2x128_si256, _mm256_permute4x64_pd,
    _mm256_sad_epu8, _mm256_set_epi64x, _mm256_set1_epi8, _mm256_set1_epi16, _mm256_set1_epi32,
    _mm256_set1_epi64x, _mm256_set1_ps, _mm256_setr_epi8, _mm256_setr_ps, _mm256_setzero_ps,
    _mm256_setzero_si256, _mm256_shuffle_epi8, _mm256_shuffle_epi32, _mm256_shuffle_ps,
    _mm256_sllv_epi64, _mm256_srai_epi32, _mm256_srli_epi16, _mm256_storeu_ps, _mm256_storeu_si256,
    _mm256_sub_ps, _mm256_unpackhi_epi16, _mm256_unpacklo_epi16, _mm256_xor_si256,
};

use crate::simd::SPLIT_CHUNK;

#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn load_ps(chunk: &[f32; 8]) -> __m256 {
    // SAFETY: `chunk` is 8 readable f32s; loadu has no alignment requirement.
    unsafe { _mm256_loadu_ps(chunk.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn load_si(chunk: &[u64; 4]) -> __m256i {
    // SAFETY: `chunk` is 32 readable bytes; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ps(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// Folds 32-wide blocks with four accumulators, then 8-wide blocks, then a scalar tail.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn fold(
    a: &[f32],
    b: &[f32],
    step: impl Fn(__m256, __m256, __m256) -> __m256,
    tail: impl Fn(f32, f32) -> f32,
) -> f32 {
    let (a32, a_rest) = a.as_chunks::<32>();
    let (b32, b_rest) = b.as_chunks::<32>();
    let mut acc = [_mm256_setzero_ps(); 4];
    for (x, y) in a32.iter().zip(b32) {
        let (x, y) = (x.as_chunks::<8>().0, y.as_chunks::<8>().0);
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc = step(load_ps(x), load_ps(y), *acc);
        }
    }
    let (a8, a_tail) = a_rest.as_chunks::<8>();
    let (b8, b_tail) = b_rest.as_chunks::<8>();
    for (x, y) in a8.iter().zip(b8) {
        acc[0] = step(load_ps(x), load_ps(y), acc[0]);
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut sum = hsum(v);
    for (x, y) in a_tail.iter().zip(b_tail) {
        sum += tail(*x, *y);
    }
    sum
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |x, y, acc| _mm256_fmadd_ps(x, y, acc), |x, y| x * y)
}

/// `dot` of one query with each row, in one call: the exact MaxSim scan and rescoring of
/// a multivector compare a query vector with every vector of a point.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn dot_many(query: &[f32], rows: &[f32], out: &mut [f32]) {
    // Four rows at a time, two accumulators each (eight independent FMA chains), reduced
    // together by three horizontal adds: a short row costs its FMAs, not a reduction each.
    let dim = query.len();
    let (q8, q_tail) = query.as_chunks::<8>();
    let blocks = rows.chunks_exact(4 * dim);
    let rest = blocks.remainder();
    let mut outs = out.chunks_exact_mut(4);
    for (block, o) in blocks.zip(&mut outs) {
        let r: [&[f32]; 4] = [
            &block[..dim],
            &block[dim..2 * dim],
            &block[2 * dim..3 * dim],
            &block[3 * dim..],
        ];
        let [r0, r1, r2, r3] = r.map(|row| row.as_chunks::<8>().0);
        let z = _mm256_setzero_ps();
        let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
        let (mut b0, mut b1, mut b2, mut b3) = (z, z, z, z);
        let pairs = q8.chunks_exact(2);
        let odd = pairs.remainder().first();
        for (p, qp) in pairs.enumerate() {
            let (c, d) = (2 * p, 2 * p + 1);
            let (qa, qb) = (load_ps(&qp[0]), load_ps(&qp[1]));
            a0 = _mm256_fmadd_ps(qa, load_ps(&r0[c]), a0);
            a1 = _mm256_fmadd_ps(qa, load_ps(&r1[c]), a1);
            a2 = _mm256_fmadd_ps(qa, load_ps(&r2[c]), a2);
            a3 = _mm256_fmadd_ps(qa, load_ps(&r3[c]), a3);
            b0 = _mm256_fmadd_ps(qb, load_ps(&r0[d]), b0);
            b1 = _mm256_fmadd_ps(qb, load_ps(&r1[d]), b1);
            b2 = _mm256_fmadd_ps(qb, load_ps(&r2[d]), b2);
            b3 = _mm256_fmadd_ps(qb, load_ps(&r3[d]), b3);
        }
        if let Some(qc) = odd {
            let c = q8.len() - 1;
            let qa = load_ps(qc);
            a0 = _mm256_fmadd_ps(qa, load_ps(&r0[c]), a0);
            a1 = _mm256_fmadd_ps(qa, load_ps(&r1[c]), a1);
            a2 = _mm256_fmadd_ps(qa, load_ps(&r2[c]), a2);
            a3 = _mm256_fmadd_ps(qa, load_ps(&r3[c]), a3);
        }
        let acc = [[a0, b0], [a1, b1], [a2, b2], [a3, b3]];
        let [s0, s1, s2, s3] = acc.map(|[x, y]| _mm256_add_ps(x, y));
        let h = _mm256_hadd_ps(_mm256_hadd_ps(s0, s1), _mm256_hadd_ps(s2, s3));
        let sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
        let mut lanes = [0f32; 4];
        // SAFETY: `lanes` is 4 writable f32s; storeu has no alignment requirement.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), sums) };
        let tail_at = q8.len() * 8;
        for ((o, l), row) in o.iter_mut().zip(lanes).zip(r) {
            let tail: f32 = q_tail
                .iter()
                .zip(row.get(tail_at..).unwrap_or_default())
                .map(|(x, y)| x * y)
                .sum();
            *o = l + tail;
        }
    }
    for (row, o) in rest.chunks_exact(dim).zip(outs.into_remainder()) {
        *o = fold(
            query,
            row,
            |x, y, acc| _mm256_fmadd_ps(x, y, acc),
            |x, y| x * y,
        );
    }
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    fold(
        a,
        b,
        |x, y, acc| {
            let d = _mm256_sub_ps(x, y);
            _mm256_fmadd_ps(d, d, acc)
        },
        |x, y| (x - y) * (x - y),
    )
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn l1(a: &[f32], b: &[f32]) -> f32 {
    let sign = _mm256_set1_ps(-0.0);
    fold(
        a,
        b,
        |x, y, acc| _mm256_add_ps(acc, _mm256_andnot_ps(sign, _mm256_sub_ps(x, y))),
        |x, y| (x - y).abs(),
    )
}

/// The set bits of `x`, by one POPCNT that LLVM cannot turn into vector code: it
/// vectorizes a loop of `_popcnt64` over rows into a `vpshufb` emulation that ran at a
/// quarter of the scalar instruction's speed here.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn popcnt(x: u64) -> u32 {
    let count: u64;
    // SAFETY: `popcnt` reads and writes registers only (the target feature guarantees it);
    // it touches no memory and no stack.
    unsafe {
        std::arch::asm!(
            "popcnt {count}, {x}",
            x = in(reg) x,
            count = lateout(reg) count,
            options(pure, nomem, nostack)
        );
    }
    count as u32
}

/// The Hamming distance of two codes of equal length, one POPCNT per word.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn popcnt_xor(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| popcnt(x ^ y)).sum()
}

/// Codes of up to 512 bits: one POPCNT per word, the row width a constant so the loop
/// unrolls into plain loads (a runtime width made LLVM emit slow masked loads).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn popcnt_rows<const W: usize>(query: &[u64], codes: &[u64], out: &mut [u32]) {
    let Ok(q) = <&[u64; W]>::try_from(query) else {
        return;
    };
    for (row, o) in codes.as_chunks::<W>().0.iter().zip(out.iter_mut()) {
        *o = popcnt_xor(q, row);
    }
}

/// Codes of 384 bits (6 words), two rows (three 32-byte loads) at a time: the byte
/// popcounts of `row0[0..4]`, `row0[4..6] ++ row1[0..2]` and `row1[2..6]` (each xor the
/// query laid out the same way) are regrouped by 128-bit halves so that the low half sums
/// row 0's bytes and the high half row 1's, then summed per half with one `vpsadbw`. An
/// odd last row takes `popcnt`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn six_word_rows(query: &[u64], codes: &[u64], out: &mut [u32]) {
    let Ok(q) = <&[u64; 6]>::try_from(query) else {
        return;
    };
    let q0 = load_si(&[q[0], q[1], q[2], q[3]]);
    let q1 = load_si(&[q[4], q[5], q[0], q[1]]);
    let q2 = load_si(&[q[2], q[3], q[4], q[5]]);
    let zero = _mm256_setzero_si256();
    let (pairs, _) = codes.as_chunks::<12>();
    let (out_pairs, _) = out.as_chunks_mut::<2>();
    for (pair, o) in pairs.iter().zip(out_pairs.iter_mut()) {
        let (v0, rest) = pair.split_first_chunk::<4>().unwrap_or((&[0; 4], &[]));
        let (v1, rest) = rest.split_first_chunk::<4>().unwrap_or((&[0; 4], &[]));
        let v2 = rest.first_chunk::<4>().unwrap_or(&[0; 4]);
        let c0 = byte_popcounts(_mm256_xor_si256(load_si(v0), q0));
        let c1 = byte_popcounts(_mm256_xor_si256(load_si(v1), q1));
        let c2 = byte_popcounts(_mm256_xor_si256(load_si(v2), q2));
        // Halves: [c0.lo, c2.hi] + [c0.hi, c2.lo] + c1 = [row 0's bytes, row 1's bytes].
        let t = _mm256_add_epi8(
            _mm256_add_epi8(
                _mm256_blend_epi32::<0xF0>(c0, c2),
                _mm256_permute2x128_si256::<0x21>(c0, c2),
            ),
            c1,
        );
        let sums = _mm256_sad_epu8(t, zero);
        let rows = _mm256_add_epi64(sums, _mm256_shuffle_epi32::<0x4E>(sums));
        o[0] = _mm256_extract_epi64::<0>(rows) as u32;
        o[1] = _mm256_extract_epi64::<2>(rows) as u32;
    }
    let done = 2 * pairs.len().min(out_pairs.len());
    if let (Some(row), Some(o)) = (codes.get(6 * done..6 * done + 6), out.get_mut(done)) {
        *o = popcnt_xor(q, row);
    }
}

/// The popcount of every byte of `x`, by a nibble table (`vpshufb`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn byte_popcounts(x: __m256i) -> __m256i {
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    nibble_lookups(x, (table, table))
}

/// Each byte's low nibble looked up in `lo_table` plus its high nibble in `hi_table`
/// (`vpshufb` within each 128-bit lane), summed per byte.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn nibble_lookups(x: __m256i, (lo_table, hi_table): (__m256i, __m256i)) -> __m256i {
    let low = _mm256_set1_epi8(0x0f);
    let lo = _mm256_and_si256(x, low);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), low);
    _mm256_add_epi8(
        _mm256_shuffle_epi8(lo_table, lo),
        _mm256_shuffle_epi8(hi_table, hi),
    )
}

/// One row code against every bit plane of an asymmetric query (`row.len()` words per
/// plane), by `popcnt`, each count shifted by its plane's weight.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn weighted_row(planes: &[u64], row: &[u64]) -> u32 {
    let mut total = 0u32;
    for (b, plane) in planes.chunks_exact(row.len()).enumerate() {
        let mut d = 0;
        for (p, c) in plane.iter().zip(row) {
            d += popcnt(p ^ c);
        }
        total += d << b;
    }
    total
}

/// `weighted_row` for every row code, at a width known at compile time (which unrolls
/// into plain loads, as in `popcnt_rows`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn weighted_rows<const W: usize>(planes: &[u64], codes: &[u64], out: &mut [u32]) {
    for (row, o) in codes.as_chunks::<W>().0.iter().zip(out.iter_mut()) {
        *o = weighted_row(planes, row);
    }
}

/// Four or eight bit planes of `W` words held transposed in registers (one 256-bit
/// register per word and four planes, one lane per plane), as `min_transposed` holds
/// queries: each row code word is broadcast once, XORed with every plane, counted with the
/// nibble table; each lane's count is shifted by its plane's weight and the lanes summed.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn weighted_transposed<const W: usize>(planes: &[u64], codes: &[u64], out: &mut [u32]) {
    let zero = _mm256_setzero_si256();
    let planes = planes.as_chunks::<W>().0;
    let two = planes.len() == 8;
    let lane = |p: usize, k: usize| planes.get(p).map_or(0, |plane| plane[k] as i64);
    let a: [__m256i; W] =
        std::array::from_fn(|k| _mm256_set_epi64x(lane(3, k), lane(2, k), lane(1, k), lane(0, k)));
    let b: [__m256i; W] =
        std::array::from_fn(|k| _mm256_set_epi64x(lane(7, k), lane(6, k), lane(5, k), lane(4, k)));
    let (shift_a, shift_b) = (_mm256_set_epi64x(3, 2, 1, 0), _mm256_set_epi64x(7, 6, 5, 4));
    for (r, o) in codes.as_chunks::<W>().0.iter().zip(out.iter_mut()) {
        let (mut bytes_a, mut bytes_b) = (zero, zero);
        for k in 0..W {
            let word = _mm256_set1_epi64x(r[k] as i64);
            bytes_a = _mm256_add_epi8(bytes_a, byte_popcounts(_mm256_xor_si256(a[k], word)));
            if two {
                bytes_b = _mm256_add_epi8(bytes_b, byte_popcounts(_mm256_xor_si256(b[k], word)));
            }
        }
        let mut sum = _mm256_sllv_epi64(_mm256_sad_epu8(bytes_a, zero), shift_a);
        if two {
            sum = _mm256_add_epi64(
                sum,
                _mm256_sllv_epi64(_mm256_sad_epu8(bytes_b, zero), shift_b),
            );
        }
        let lanes = _mm256_extract_epi64::<0>(sum)
            + _mm256_extract_epi64::<1>(sum)
            + _mm256_extract_epi64::<2>(sum)
            + _mm256_extract_epi64::<3>(sum);
        *o = lanes as u32;
    }
}

/// Code bytes whose lookups are summed in 16-bit lanes before they are added to a row's
/// u32 total: a pair of bytes adds at most 4 × 63 to a lane, so 512 bytes stay under
/// 65,536.
const NIBBLE_FLUSH_BYTES: usize = 512;

/// The FastScan-style scan: per code byte, one 32-byte load holds that byte of 32 rows;
/// its low and high nibbles index the byte's two tables (`vpshufb`, each table broadcast
/// to both 128-bit lanes). Lookups of two bytes (at most 4 × 63) are summed in 8-bit lanes,
/// then widened into 16-bit lanes (even rows from the low bytes, odd rows from the high
/// bytes), which are added to u32 lanes in row order every [`NIBBLE_FLUSH_BYTES`] bytes.
/// (Loading each table pair once for two blocks measured slower: 7.1 against 11.0 GB/s.)
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn nibble_lut_sums(luts: &[u8], blocks: &[u8], planes: usize, out: &mut [u32]) {
    let tables = luts.as_chunks::<32>().0;
    let zero = _mm256_setzero_si256();
    for (block, out) in blocks
        .chunks_exact(luts.len() * planes)
        .zip(out.as_chunks_mut::<32>().0)
    {
        let mut totals = [zero; 4];
        for plane in block.chunks_exact(luts.len()) {
            // The planes before weigh twice this one.
            for t in &mut totals {
                *t = _mm256_add_epi32(*t, *t);
            }
            plane_sums(plane, tables, &mut totals);
        }
        for (t, o) in totals.iter().zip(out.as_chunks_mut::<8>().0) {
            // SAFETY: `o` is 8 writable u32s; storeu has no alignment requirement.
            unsafe { _mm256_storeu_si256(o.as_mut_ptr().cast::<__m256i>(), *t) };
        }
    }
}

/// Adds one plane's lookups of 32 rows to `totals` (rows 0..8, 8..16, 16..24, 24..32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn plane_sums(plane: &[u8], tables: &[[u8; 32]], totals: &mut [__m256i; 4]) {
    let zero = _mm256_setzero_si256();
    let columns = plane.as_chunks::<32>().0;
    for (columns, tables) in columns
        .chunks(NIBBLE_FLUSH_BYTES)
        .zip(tables.chunks(NIBBLE_FLUSH_BYTES))
    {
        let (mut even, mut odd) = (zero, zero);
        let (pairs, last) = columns.as_chunks::<2>();
        let (table_pairs, last_table) = tables.as_chunks::<2>();
        for (pair, tables) in pairs.iter().zip(table_pairs) {
            let v = _mm256_add_epi8(
                lookup(&pair[0], broadcast_tables(&tables[0])),
                lookup(&pair[1], broadcast_tables(&tables[1])),
            );
            (even, odd) = widen_add(even, odd, v);
        }
        if let (Some(column), Some(table)) = (last.first(), last_table.first()) {
            (even, odd) = widen_add(even, odd, lookup(column, broadcast_tables(table)));
        }
        // Rows 0..8 and 16..24, then 8..16 and 24..32, as u16 in row order.
        let lo = _mm256_unpacklo_epi16(even, odd);
        let hi = _mm256_unpackhi_epi16(even, odd);
        let parts = [
            _mm256_castsi256_si128(lo),
            _mm256_castsi256_si128(hi),
            _mm256_extracti128_si256::<1>(lo),
            _mm256_extracti128_si256::<1>(hi),
        ];
        for (t, part) in totals.iter_mut().zip(parts) {
            *t = _mm256_add_epi32(*t, _mm256_cvtepu16_epi32(part));
        }
    }
}

/// A byte's two 16-byte tables, each in both 128-bit lanes (`vpshufb` looks up within
/// each lane).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn broadcast_tables(table: &[u8; 32]) -> (__m256i, __m256i) {
    // SAFETY: `table` is 32 readable bytes; the loads have no alignment requirement.
    unsafe {
        (
            _mm256_broadcastsi128_si256(_mm_loadu_si128(table.as_ptr().cast::<__m128i>())),
            _mm256_broadcastsi128_si256(_mm_loadu_si128(table.as_ptr().add(16).cast::<__m128i>())),
        )
    }
}

/// The two lookups of one code byte of 32 rows, summed per row (8-bit lanes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn lookup(column: &[u8; 32], tables: (__m256i, __m256i)) -> __m256i {
    // SAFETY: `column` is 32 readable bytes; loadu has no alignment requirement.
    let c = unsafe { _mm256_loadu_si256(column.as_ptr().cast::<__m256i>()) };
    nibble_lookups(c, tables)
}

/// Adds the 8-bit lanes of `v` to 16-bit lanes: even bytes to `even`, odd ones to `odd`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn widen_add(even: __m256i, odd: __m256i, v: __m256i) -> (__m256i, __m256i) {
    let low_bytes = _mm256_set1_epi16(0x00FF);
    (
        _mm256_add_epi16(even, _mm256_and_si256(v, low_bytes)),
        _mm256_add_epi16(odd, _mm256_srli_epi16::<8>(v)),
    )
}

/// The rotated codes' estimates, 8 rows at a time: sums converted to f32, the rows'
/// `[add, scale]` pairs split by two shuffles and a lane permute, the centroid table read
/// entry by entry, the key computed with separate multiplies and adds (the scalar form's
/// roundings) and mapped to its ordered `u32` without a branch.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn rotated_keys(
    terms: &crate::simd::EstimateTerms,
    sums: &[u32],
    factors: &[[f32; 2]],
    centroids: &[u8],
    out: &mut [u32],
) {
    let base = _mm256_set1_ps(terms.base);
    let step = _mm256_set1_ps(terms.step);
    let two = _mm256_set1_ps(2.0);
    let sign = _mm256_set1_epi32(i32::MIN);
    let (sums8, sums_tail) = sums.as_chunks::<8>();
    let (factors8, factors_tail) = factors.as_chunks::<8>();
    let (centroids8, centroids_tail) = centroids.as_chunks::<8>();
    let (out8, out_tail) = out.as_chunks_mut::<8>();
    for (((o, s), f), c) in out8.iter_mut().zip(sums8).zip(factors8).zip(centroids8) {
        // SAFETY: `s` is 8 readable u32s, `f` 16 readable f32s, `c` 8 readable bytes, `o`
        // 8 writable u32s (unaligned loads and stores).
        unsafe {
            let sum = _mm256_cvtepi32_ps(_mm256_loadu_si256(s.as_ptr().cast::<__m256i>()));
            let ip = _mm256_add_ps(base, _mm256_mul_ps(step, sum));
            let pairs = f.as_ptr().cast::<f32>();
            let lo = _mm256_loadu_ps(pairs);
            let hi = _mm256_loadu_ps(pairs.add(8));
            // [a0 a1 a4 a5 | a2 a3 a6 a7], then the middle 64-bit lanes swapped.
            let add = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
            let scale = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
            let add = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                add,
            )));
            let scale = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                scale,
            )));
            // Eight table reads by index (a gather is slower than this on AMD Zen 2).
            let t = c.map(|i| terms.table[usize::from(i)]);
            let t = _mm256_setr_ps(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
            let key = if terms.euclid {
                _mm256_sub_ps(
                    _mm256_add_ps(add, t),
                    _mm256_mul_ps(_mm256_mul_ps(two, scale), ip),
                )
            } else {
                _mm256_sub_ps(_mm256_sub_ps(t, add), _mm256_mul_ps(scale, ip))
            };
            let bits = _mm256_castps_si256(key);
            let mask = _mm256_or_si256(_mm256_srai_epi32::<31>(bits), sign);
            _mm256_storeu_si256(
                o.as_mut_ptr().cast::<__m256i>(),
                _mm256_xor_si256(bits, mask),
            );
        }
    }
    crate::simd::scalar::rotated_keys(terms, sums_tail, factors_tail, centroids_tail, out_tail);
}

/// The keys below `bound`, 8 per compare: unsigned order by flipping the sign bits, the
/// lanes' masks gathered by `vmovmskps`.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn below(keys: &[u32], bound: u32, out: &mut [u64]) {
    let sign = _mm256_set1_epi32(i32::MIN);
    let b = _mm256_xor_si256(_mm256_set1_epi32(bound as i32), sign);
    let (keys64, tail) = keys.as_chunks::<64>();
    for (o, chunk) in out.iter_mut().zip(keys64) {
        *o = (0..8).zip(chunk.as_chunks::<8>().0).fold(0, |m, (j, k)| {
            // SAFETY: `k` is 8 readable u32s; loadu has no alignment requirement.
            let v = unsafe { _mm256_loadu_si256(k.as_ptr().cast::<__m256i>()) };
            let lt = _mm256_cmpgt_epi32(b, _mm256_xor_si256(v, sign));
            m | u64::from(_mm256_movemask_ps(_mm256_castsi256_ps(lt)) as u8) << (8 * j)
        });
    }
    if let Some(o) = out.get_mut(keys64.len()..) {
        crate::simd::scalar::below(tail, bound, o);
    }
}

/// Weighted Hamming distances at a width known at compile time: the transposed form for
/// four or eight planes (the asymmetric 4- and 8-bit queries), `weighted_rows` otherwise.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn weighted_fixed<const W: usize>(planes: &[u64], codes: &[u64], out: &mut [u32]) {
    if planes.len() == 4 * W || planes.len() == 8 * W {
        weighted_transposed::<W>(planes, codes, out);
    } else {
        weighted_rows::<W>(planes, codes, out);
    }
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn weighted_hamming_many(
    planes: &[u64],
    codes: &[u64],
    words: usize,
    out: &mut [u32],
) {
    match words {
        1 => weighted_fixed::<1>(planes, codes, out),
        2 => weighted_fixed::<2>(planes, codes, out),
        3 => weighted_fixed::<3>(planes, codes, out),
        4 => weighted_fixed::<4>(planes, codes, out),
        5 => weighted_fixed::<5>(planes, codes, out),
        6 => weighted_fixed::<6>(planes, codes, out),
        7 => weighted_fixed::<7>(planes, codes, out),
        8 => weighted_fixed::<8>(planes, codes, out),
        9 => weighted_fixed::<9>(planes, codes, out),
        12 => weighted_fixed::<12>(planes, codes, out),
        _ => {
            for (row, o) in codes.chunks_exact(words).zip(out.iter_mut()) {
                *o = weighted_row(planes, row);
            }
        }
    }
}

/// Codes of up to this many words take the vector path of [`min_hamming_many`] (31 words
/// of popcounts fit a byte: 31 × 8 < 256).
const MIN_HAMMING_MAX_WORDS: usize = 31;

/// The MaxSim scan of binary codes longer than 8 words (`min_transposed` serves the
/// others): four query codes are held transposed (one 256-bit register per code word, one
/// lane per query), and each row code is broadcast and compared with the four at once:
/// XOR, nibble-table popcount (vpshufb) summed over the words per byte, one vpsadbw per
/// row, and a running minimum per lane. Every row code is read once per four queries (from
/// L1: one multivector's codes), never per query.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn min_hamming_wide(
    queries: &[u64],
    codes: &[u64],
    words: usize,
    out: &mut [u32],
) {
    if words > MIN_HAMMING_MAX_WORDS {
        return crate::simd::scalar::min_hamming_many(queries, codes, words, out);
    }
    let zero = _mm256_setzero_si256();
    let tiles = queries.chunks_exact(4 * words);
    let rest = tiles.remainder();
    let mut outs = out.chunks_exact_mut(4);
    for (tile, o) in tiles.zip(&mut outs) {
        let mut transposed = [zero; MIN_HAMMING_MAX_WORDS];
        for (k, t) in transposed.iter_mut().enumerate().take(words) {
            let lane = |q: usize| tile.get(q * words + k).copied().unwrap_or(0) as i64;
            *t = _mm256_set_epi64x(lane(3), lane(2), lane(1), lane(0));
        }
        let mut mins = _mm256_set1_epi32(-1);
        for row in codes.chunks_exact(words) {
            let mut bytes = zero;
            for (t, &c) in transposed.iter().zip(row) {
                let x = _mm256_xor_si256(*t, _mm256_set1_epi64x(c as i64));
                bytes = _mm256_add_epi8(bytes, byte_popcounts(x));
            }
            // Counts sit in the low 32 bits of each 64-bit lane (the high halves are 0, so
            // their running minimum is 0 and the low halves hold the answer).
            mins = _mm256_min_epu32(mins, _mm256_sad_epu8(bytes, zero));
        }
        let lanes = [
            _mm256_extract_epi64::<0>(mins),
            _mm256_extract_epi64::<1>(mins),
            _mm256_extract_epi64::<2>(mins),
            _mm256_extract_epi64::<3>(mins),
        ];
        for (o, l) in o.iter_mut().zip(lanes) {
            *o = l as u32;
        }
    }
    crate::simd::scalar::min_hamming_many(rest, codes, words, outs.into_remainder());
}

/// Four query codes of `W` words held in registers; each row code is loaded once and
/// compared with the four by `popcnt`: the queries `min_transposed` leaves over (fewer
/// than eight).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn min_popcnt<const W: usize>(queries: &[u64], codes: &[u64], out: &mut [u32]) {
    let rows = codes.as_chunks::<W>().0;
    let queries = queries.as_chunks::<W>().0;
    let distance = |q: &[u64; W], r: &[u64; W]| -> u32 {
        let mut d = 0;
        for k in 0..W {
            d += (q[k] ^ r[k]).count_ones();
        }
        d
    };
    let groups = queries.chunks_exact(4);
    let rest = groups.remainder();
    let mut outs = out.chunks_exact_mut(4);
    for (g, o) in groups.zip(&mut outs) {
        let (a, b, c, d) = (g[0], g[1], g[2], g[3]);
        let mut m = [u32::MAX; 4];
        for r in rows {
            m[0] = m[0].min(distance(&a, r));
            m[1] = m[1].min(distance(&b, r));
            m[2] = m[2].min(distance(&c, r));
            m[3] = m[3].min(distance(&d, r));
        }
        o.copy_from_slice(&m);
    }
    for (q, o) in rest.iter().zip(outs.into_remainder()) {
        *o = rows
            .iter()
            .map(|r| distance(q, r))
            .min()
            .unwrap_or(u32::MAX);
    }
}

/// Eight query codes of `W` words held transposed in registers (two 256-bit registers per
/// word, one lane per query); each row code word is broadcast once and compared with the
/// eight: XOR, nibble-table popcount summed over the words per byte, one `vpsadbw` per
/// register, and a running minimum per lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn min_transposed<const W: usize>(queries: &[u64], codes: &[u64], out: &mut [u32]) {
    let zero = _mm256_setzero_si256();
    let rows = codes.as_chunks::<W>().0;
    let queries = queries.as_chunks::<W>().0;
    let groups = queries.chunks_exact(8);
    let rest = groups.remainder();
    let mut outs = out.chunks_exact_mut(8);
    for (g, o) in groups.zip(&mut outs) {
        let lane = |q: usize, k: usize| g[q][k] as i64;
        let a: [__m256i; W] = std::array::from_fn(|k| {
            _mm256_set_epi64x(lane(3, k), lane(2, k), lane(1, k), lane(0, k))
        });
        let b: [__m256i; W] = std::array::from_fn(|k| {
            _mm256_set_epi64x(lane(7, k), lane(6, k), lane(5, k), lane(4, k))
        });
        let (mut min_a, mut min_b) = (_mm256_set1_epi32(-1), _mm256_set1_epi32(-1));
        for r in rows {
            let (mut bytes_a, mut bytes_b) = (zero, zero);
            for k in 0..W {
                let word = _mm256_set1_epi64x(r[k] as i64);
                bytes_a = _mm256_add_epi8(bytes_a, byte_popcounts(_mm256_xor_si256(a[k], word)));
                bytes_b = _mm256_add_epi8(bytes_b, byte_popcounts(_mm256_xor_si256(b[k], word)));
            }
            min_a = _mm256_min_epu32(min_a, _mm256_sad_epu8(bytes_a, zero));
            min_b = _mm256_min_epu32(min_b, _mm256_sad_epu8(bytes_b, zero));
        }
        let lanes = [
            _mm256_extract_epi64::<0>(min_a),
            _mm256_extract_epi64::<1>(min_a),
            _mm256_extract_epi64::<2>(min_a),
            _mm256_extract_epi64::<3>(min_a),
            _mm256_extract_epi64::<0>(min_b),
            _mm256_extract_epi64::<1>(min_b),
            _mm256_extract_epi64::<2>(min_b),
            _mm256_extract_epi64::<3>(min_b),
        ];
        for (o, l) in o.iter_mut().zip(lanes) {
            *o = l as u32;
        }
    }
    let rest: Vec<u64> = rest.iter().flatten().copied().collect();
    min_popcnt::<W>(&rest, codes, outs.into_remainder());
}

/// The MaxSim scan of binary codes: codes of up to 8 words (512-d at 1 bit) take
/// `min_transposed` (eight queries at a time, `popcnt` for the rest), longer ones
/// `min_hamming_wide`, and past 31 words the scalar form.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn min_hamming_many(
    queries: &[u64],
    codes: &[u64],
    words: usize,
    out: &mut [u32],
) {
    match words {
        1 => min_transposed::<1>(queries, codes, out),
        2 => min_transposed::<2>(queries, codes, out),
        3 => min_transposed::<3>(queries, codes, out),
        4 => min_transposed::<4>(queries, codes, out),
        5 => min_transposed::<5>(queries, codes, out),
        6 => min_transposed::<6>(queries, codes, out),
        7 => min_transposed::<7>(queries, codes, out),
        8 => min_transposed::<8>(queries, codes, out),
        12 => min_transposed::<12>(queries, codes, out),
        // SAFETY: same contract.
        _ => unsafe { min_hamming_wide(queries, codes, words, out) },
    }
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn hamming_many(query: &[u64], codes: &[u64], out: &mut [u32]) {
    let stride = query.len();
    match stride {
        1 => return popcnt_rows::<1>(query, codes, out),
        2 => return popcnt_rows::<2>(query, codes, out),
        3 => return popcnt_rows::<3>(query, codes, out),
        4 => return popcnt_rows::<4>(query, codes, out),
        5 => return popcnt_rows::<5>(query, codes, out),
        6 => return six_word_rows(query, codes, out),
        7 => return popcnt_rows::<7>(query, codes, out),
        8 => return popcnt_rows::<8>(query, codes, out),
        _ => {}
    }
    // Nibble-table popcount (vpshufb), summed per row with vpsadbw.
    let zero = _mm256_setzero_si256();
    let (q4, q_tail) = query.as_chunks::<4>();
    for (row, o) in codes.chunks_exact(stride).zip(out.iter_mut()) {
        let (r4, r_tail) = row.as_chunks::<4>();
        let mut acc = zero;
        for (q, r) in q4.iter().zip(r4) {
            let x = _mm256_xor_si256(load_si(q), load_si(r));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(byte_popcounts(x), zero));
        }
        let lanes = [
            _mm256_extract_epi64::<0>(acc),
            _mm256_extract_epi64::<1>(acc),
            _mm256_extract_epi64::<2>(acc),
            _mm256_extract_epi64::<3>(acc),
        ];
        let mut total: u32 = lanes.iter().map(|&l| l as u32).sum();
        for (q, r) in q_tail.iter().zip(r_tail) {
            total += (q ^ r).count_ones();
        }
        *o = total;
    }
}

/// One POPCNT per word, four running sums (a single one would chain every add).
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn count_ones(words: &[u64]) -> u64 {
    let (fours, tail) = words.as_chunks::<4>();
    let mut sums = [0u64; 4];
    for four in fours {
        for (s, &w) in sums.iter_mut().zip(four) {
            *s += u64::from(popcnt(w));
        }
    }
    sums.iter().sum::<u64>() + tail.iter().map(|&w| u64::from(popcnt(w))).sum::<u64>()
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn hamming_rows(query: &[u64], codes: &[u64], rows: &[u32], out: &mut [u32]) {
    match query.len() {
        1 => popcnt_at::<1>(query, codes, rows, out),
        2 => popcnt_at::<2>(query, codes, rows, out),
        3 => popcnt_at::<3>(query, codes, rows, out),
        4 => popcnt_at::<4>(query, codes, rows, out),
        5 => popcnt_at::<5>(query, codes, rows, out),
        6 => popcnt_at::<6>(query, codes, rows, out),
        7 => popcnt_at::<7>(query, codes, rows, out),
        8 => popcnt_at::<8>(query, codes, rows, out),
        stride => {
            for (&row, o) in rows.iter().zip(out.iter_mut()) {
                *o = crate::simd::code_row(codes, stride, row)
                    .map_or(u32::MAX, |code| popcnt_xor(query, code));
            }
        }
    }
}

/// [`hamming_rows`] for codes of up to 512 bits, the width a constant (see
/// [`popcnt_rows`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn popcnt_at<const W: usize>(query: &[u64], codes: &[u64], rows: &[u32], out: &mut [u32]) {
    let Ok(q) = <&[u64; W]>::try_from(query) else {
        return;
    };
    let codes = codes.as_chunks::<W>().0;
    for (&row, o) in rows.iter().zip(out.iter_mut()) {
        *o = codes
            .get(row as usize)
            .map_or(u32::MAX, |code| popcnt_xor(q, code));
    }
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn f16_to_f32(src: &[u16], dst: &mut [f32]) {
    let (s8, s_tail) = src.as_chunks::<8>();
    let (d8, d_tail) = dst.as_chunks_mut::<8>();
    for (s, d) in s8.iter().zip(d8.iter_mut()) {
        // SAFETY: `s` is 16 readable bytes; loadu has no alignment requirement.
        let h = unsafe { _mm_loadu_si128(s.as_ptr().cast::<__m128i>()) };
        // SAFETY: `d` is 8 writable f32s; storeu has no alignment requirement.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), _mm256_cvtph_ps(h)) };
    }
    for (s, d) in s_tail.iter().zip(d_tail.iter_mut()) {
        *d = half::f16::from_bits(*s).to_f32();
    }
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn u8_to_f32(src: &[u8], dst: &mut [f32]) {
    let (s8, s_tail) = src.as_chunks::<8>();
    let (d8, d_tail) = dst.as_chunks_mut::<8>();
    for (s, d) in s8.iter().zip(d8.iter_mut()) {
        // SAFETY: `s` is 8 readable bytes, exactly what loadl_epi64 reads.
        let bytes = unsafe { _mm_loadl_epi64(s.as_ptr().cast::<__m128i>()) };
        let v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
        // SAFETY: `d` is 8 writable f32s; storeu has no alignment requirement.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), v) };
    }
    for (s, d) in s_tail.iter().zip(d_tail.iter_mut()) {
        *d = f32::from(*s);
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn load16(chunk: &[u8; 16]) -> __m128i {
    // SAFETY: `chunk` is 16 readable bytes; loadu has no alignment requirement.
    unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) }
}

/// Rows of 16-byte chunks an i32 lane may sum before it is flushed to i64: each chunk adds
/// two products of at most 255 × 32,768 to a lane.
const I32_SAFE_CHUNKS: usize = 128;

/// The int8 MaxSim scan: four 16-bit query codes at a time against every row; each row
/// chunk of 16 codes is loaded and widened once and multiplied with the four queries'
/// chunks (`vpmaddwd`, exact i32 pair sums, flushed to i64 every 128 chunks); the running
/// maximum per query is kept in i64.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn max_dot_u8i16_many(
    queries: &[i16],
    codes: &[u8],
    stride: usize,
    out: &mut [i64],
) {
    let tiles = queries.chunks_exact(4 * stride);
    let rest = tiles.remainder();
    let mut outs = out.chunks_exact_mut(4);
    let zero = _mm256_setzero_si256();
    let hsum = |v: __m256i| -> i64 {
        let lanes: [i32; 8] = bytemuck::cast(v);
        lanes.iter().map(|&l| i64::from(l)).sum()
    };
    for (tile, o) in tiles.zip(&mut outs) {
        let q: [&[i16]; 4] = [
            &tile[..stride],
            &tile[stride..2 * stride],
            &tile[2 * stride..3 * stride],
            &tile[3 * stride..],
        ];
        let mut best = [i64::MIN; 4];
        for row in codes.chunks_exact(stride) {
            let (r16, r_tail) = row.as_chunks::<16>();
            let mut total = [0i64; 4];
            for (block_index, block) in r16.chunks(I32_SAFE_CHUNKS).enumerate() {
                let mut acc = [zero; 4];
                let base = block_index * I32_SAFE_CHUNKS * 16;
                for (i, r) in block.iter().enumerate() {
                    let codes16 = _mm256_cvtepu8_epi16(load16(r));
                    let at = base + i * 16;
                    for (a, qk) in acc.iter_mut().zip(&q) {
                        let chunk: &[i16; 16] = qk
                            .get(at..at + 16)
                            .and_then(|c| c.try_into().ok())
                            .unwrap_or(&[0; 16]);
                        // SAFETY: `chunk` is 32 readable bytes; loadu has no alignment
                        // requirement.
                        let qv = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) };
                        *a = _mm256_add_epi32(*a, _mm256_madd_epi16(codes16, qv));
                    }
                }
                for (t, a) in total.iter_mut().zip(acc) {
                    *t += hsum(a);
                }
            }
            crate::simd::scalar::finish_max_dot_row(&q, r_tail, r16.len() * 16, total, &mut best);
        }
        o.copy_from_slice(&best);
    }
    crate::simd::scalar::max_dot_u8i16_many(rest, codes, stride, outs.into_remainder());
}

/// The sum of eight i32 lanes, in i64.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
fn hsum_i64(v: __m256i) -> i64 {
    let wide = _mm256_add_epi64(
        _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
        _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(v)),
    );
    _mm256_extract_epi64::<0>(wide)
        + _mm256_extract_epi64::<1>(wide)
        + _mm256_extract_epi64::<2>(wide)
        + _mm256_extract_epi64::<3>(wide)
}

/// u8 codes · a 16-bit query, 32 codes per load without widening them: the codes' even
/// bytes (`and`) and odd bytes (a 16-bit shift) are already i16 lanes, multiplied with the
/// query's even and odd components (`vpmaddwd`, pairs summed in i32). The query is laid out
/// so once per call, [`SPLIT_CHUNK`] components at a time on the stack; each part's lanes
/// (at most `2 × 32 × 2 × 255 × 32,768` < 2^31) are added to the rows' i64 totals.
/// Measured in cache (`cargo bench --bench kernels`, 4 MiB, AMD Zen 2, alternating runs):
/// 21.4–21.9 GB/s, against 9.7–10.2 for the query in two i8 halves (two `vpmaddwd` per 16
/// codes, as the VNNI and `sdot` forms take it) and 17.2 for widening 16 codes at a time
/// with `vpmovzxbw`.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn dot_u8i16_many(query: &[i16], codes: &[u8], out: &mut [i64]) {
    let stride = query.len();
    let low_bytes = _mm256_set1_epi16(0x00FF);
    let mut laid = [[0i16; 32]; SPLIT_CHUNK / 32];
    out.fill(0);
    for (part, q) in query.chunks(SPLIT_CHUNK).enumerate() {
        let (q32, q_tail) = q.as_chunks::<32>();
        for (l, c) in laid.iter_mut().zip(q32) {
            for j in 0..16 {
                l[j] = c[2 * j];
                l[16 + j] = c[2 * j + 1];
            }
        }
        let laid = &laid[..q32.len()];
        let start = part * SPLIT_CHUNK;
        for (row, o) in codes.chunks_exact(stride).zip(out.iter_mut()) {
            let (r32, r_tail) = row[start..start + q.len()].as_chunks::<32>();
            let (mut even, mut odd) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for (l, r) in laid.iter().zip(r32) {
                // SAFETY: `r` is 32 readable bytes and `l` 32 readable i16s; loadu has no
                // alignment requirement.
                let (c, q_even, q_odd) = unsafe {
                    (
                        _mm256_loadu_si256(r.as_ptr().cast::<__m256i>()),
                        _mm256_loadu_si256(l.as_ptr().cast::<__m256i>()),
                        _mm256_loadu_si256(l.as_ptr().add(16).cast::<__m256i>()),
                    )
                };
                let (c_even, c_odd) = (_mm256_and_si256(c, low_bytes), _mm256_srli_epi16::<8>(c));
                even = _mm256_add_epi32(even, _mm256_madd_epi16(c_even, q_even));
                odd = _mm256_add_epi32(odd, _mm256_madd_epi16(c_odd, q_odd));
            }
            let mut total = hsum_i64(_mm256_add_epi32(even, odd));
            for (q, r) in q_tail.iter().zip(r_tail) {
                total += i64::from(*q) * i64::from(*r);
            }
            *o += total;
        }
    }
}

/// Σ|q − c| over bytes with `vpsadbw`.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn l1_u8_many(query: &[u8], codes: &[u8], out: &mut [u32]) {
    let stride = query.len();
    let (q32, q_tail) = query.as_chunks::<32>();
    for (row, o) in codes.chunks_exact(stride).zip(out.iter_mut()) {
        let (r32, r_tail) = row.as_chunks::<32>();
        let mut acc = _mm256_setzero_si256();
        for (q, r) in q32.iter().zip(r32) {
            // SAFETY: `q` and `r` are 32 readable bytes each; loadu has no alignment
            // requirement.
            let (qv, rv) = unsafe {
                (
                    _mm256_loadu_si256(q.as_ptr().cast::<__m256i>()),
                    _mm256_loadu_si256(r.as_ptr().cast::<__m256i>()),
                )
            };
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(qv, rv));
        }
        let lanes: [u64; 4] = bytemuck::cast(acc);
        let mut total = lanes.iter().sum::<u64>() as u32;
        for (q, r) in q_tail.iter().zip(r_tail) {
            total += u32::from(q.abs_diff(*r));
        }
        *o = total;
    }
}
