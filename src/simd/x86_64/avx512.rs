//! AVX-512 kernels (F, BW, VNNI, VPOPCNTDQ, with the AVX2 set).
//!
//! # Safety
//! Every function here requires a CPU with AVX-512 F, BW, VNNI and VPOPCNTDQ, AVX2, FMA, F16C
//! and POPCNT; they are reached only through `Kernels`, which exists for this ISA only after
//! `has_avx512()` said yes. Callers pass slices of equal length.

use std::arch::x86_64::{
    __m128i, __m256i, __m512, __m512i, _mm_loadu_si128, _mm256_add_epi16, _mm256_add_epi32,
    _mm256_castsi256_si128, _mm256_cvtepu16_epi32, _mm256_extracti128_si256, _mm256_loadu_si256,
    _mm256_setzero_si256, _mm256_storeu_si256, _mm256_unpackhi_epi16, _mm256_unpacklo_epi16,
    _mm512_abs_ps, _mm512_add_epi8, _mm512_add_epi16, _mm512_add_epi64, _mm512_add_ps,
    _mm512_and_si512, _mm512_castps_si512, _mm512_castsi512_si256, _mm512_cmpge_epu32_mask,
    _mm512_cmplt_epu32_mask, _mm512_cvtepi32_ps, _mm512_cvtepu8_epi32, _mm512_cvtepu32_ps,
    _mm512_cvtph_ps, _mm512_dpbusd_epi32, _mm512_extracti64x4_epi64, _mm512_fmadd_ps,
    _mm512_loadu_ps, _mm512_loadu_si512, _mm512_mask_blend_ps, _mm512_mask_i32gather_ps,
    _mm512_maskz_loadu_epi8, _mm512_maskz_loadu_epi64, _mm512_maskz_loadu_ps,
    _mm512_maskz_popcnt_epi64, _mm512_mul_ps, _mm512_or_si512, _mm512_permutex2var_ps,
    _mm512_popcnt_epi64, _mm512_reduce_add_epi32, _mm512_reduce_add_epi64, _mm512_reduce_add_ps,
    _mm512_sad_epu8, _mm512_set1_epi8, _mm512_set1_epi16, _mm512_set1_epi32, _mm512_set1_ps,
    _mm512_setr_epi32, _mm512_setzero_ps, _mm512_setzero_si512, _mm512_shuffle_epi8,
    _mm512_shuffle_i64x2, _mm512_srai_epi32, _mm512_srli_epi16, _mm512_storeu_ps,
    _mm512_storeu_si512, _mm512_sub_ps, _mm512_test_epi32_mask, _mm512_xor_si512,
};

use crate::simd::for_split_parts;

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn mask_of(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
}

/// Loads `s` (at most 16 floats) into a vector, zero-filling the rest.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn load_ps(s: &[f32]) -> __m512 {
    let n = s.len().min(16);
    // SAFETY: the mask selects exactly the first `n ≤ s.len()` floats; masked-off lanes are
    // not read (AVX-512 masked loads do not fault on them).
    unsafe { _mm512_maskz_loadu_ps(mask_of(n), s.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn fold(a: &[f32], b: &[f32], step: impl Fn(__m512, __m512, __m512) -> __m512) -> f32 {
    let (a64, a_rest) = a.as_chunks::<64>();
    let (b64, b_rest) = b.as_chunks::<64>();
    let mut acc = [_mm512_setzero_ps(); 4];
    for (x, y) in a64.iter().zip(b64) {
        let (x, y) = (x.as_chunks::<16>().0, y.as_chunks::<16>().0);
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc = step(load_ps(x), load_ps(y), *acc);
        }
    }
    // The rest, 16 at a time; the last chunk is partial and masked (zeros add nothing).
    for (x, y) in a_rest.chunks(16).zip(b_rest.chunks(16)) {
        acc[0] = step(load_ps(x), load_ps(y), acc[0]);
    }
    let v = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(v)
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |x, y, acc| _mm512_fmadd_ps(x, y, acc))
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |x, y, acc| {
        let d = _mm512_sub_ps(x, y);
        _mm512_fmadd_ps(d, d, acc)
    })
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn l1(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |x, y, acc| {
        _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(x, y)))
    })
}

/// Loads the first `min(8, s.len())` words of `s`, zero-filling the rest.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn load_words(s: &[u64]) -> __m512i {
    let n = s.len().min(8);
    let mask = if n >= 8 { u8::MAX } else { (1u8 << n) - 1 };
    // SAFETY: the mask selects exactly the first `n ≤ s.len()` words; masked-off lanes are
    // not read.
    unsafe { _mm512_maskz_loadu_epi64(mask, s.as_ptr().cast::<i64>()) }
}

/// One full 64-byte load at `codes[start..]` when it fits, else a masked load of `words`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn load_row_chunk(codes: &[u64], start: usize, words: usize) -> __m512i {
    match codes.get(start..start + 8) {
        // SAFETY: `w` is 64 readable bytes; loadu has no alignment requirement.
        Some(w) => unsafe { _mm512_loadu_si512(w.as_ptr().cast()) },
        None => load_words(codes.get(start..start + words).unwrap_or_default()),
    }
}

/// Codes of up to 512 bits: one chunk per row.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn hamming_one_chunk(query: &[u64], codes: &[u64], out: &mut [u32]) {
    let stride = query.len();
    let mask = if stride == 8 {
        u8::MAX
    } else {
        (1u8 << stride) - 1
    };
    let q = load_words(query);
    for (i, o) in out.iter_mut().enumerate() {
        let row = load_row_chunk(codes, i * stride, stride);
        let counts = _mm512_maskz_popcnt_epi64(mask, _mm512_xor_si512(q, row));
        *o = _mm512_reduce_add_epi64(counts) as u32;
    }
}

/// Codes of 513 to 1,024 bits: a full first chunk and a partial second one per row.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn hamming_two_chunks(query: &[u64], codes: &[u64], out: &mut [u32]) {
    let stride = query.len();
    let rest = stride - 8;
    let mask = if rest == 8 {
        u8::MAX
    } else {
        (1u8 << rest) - 1
    };
    let q0 = load_words(query);
    let q1 = load_words(query.get(8..).unwrap_or_default());
    for (i, o) in out.iter_mut().enumerate() {
        let base = i * stride;
        let r0 = load_row_chunk(codes, base, 8);
        let r1 = load_row_chunk(codes, base + 8, rest);
        let c0 = _mm512_popcnt_epi64(_mm512_xor_si512(q0, r0));
        let c1 = _mm512_maskz_popcnt_epi64(mask, _mm512_xor_si512(q1, r1));
        *o = _mm512_reduce_add_epi64(_mm512_add_epi64(c0, c1)) as u32;
    }
}

/// Query chunks kept on the stack: codes up to this many 8-word chunks (8,192 bits).
const QUERY_CHUNKS: usize = 16;

/// Hamming distances with VPOPCNTDQ, eight words per instruction.
///
/// Each 8-word chunk of a row is read with a full 64-byte load when that stays inside
/// `codes` (running into the next row), and the words past the row are masked off in the
/// popcount, not in the load: masked loads ran at a third of the read bandwidth from DRAM.
/// Only chunks too close to the end of `codes` load with a mask. The query's chunks are
/// loaded once. Codes up to 1,024 bits take unrolled paths.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn hamming_many(query: &[u64], codes: &[u64], out: &mut [u32]) {
    let stride = query.len();
    if stride <= 8 {
        return hamming_one_chunk(query, codes, out);
    }
    if stride <= 16 {
        return hamming_two_chunks(query, codes, out);
    }
    let chunks = stride.div_ceil(8);
    let mut q = [_mm512_setzero_si512(); QUERY_CHUNKS];
    for (slot, chunk) in q.iter_mut().zip(query.chunks(8)) {
        *slot = load_words(chunk);
    }
    for (i, o) in out.iter_mut().enumerate() {
        let base = i * stride;
        let mut acc = _mm512_setzero_si512();
        for c in 0..chunks {
            let start = base + 8 * c;
            let words = (stride - 8 * c).min(8);
            let mask = if words == 8 {
                u8::MAX
            } else {
                (1u8 << words) - 1
            };
            let row = load_row_chunk(codes, start, words);
            let qv = match q.get(c) {
                Some(v) => *v,
                None => load_words(query.get(8 * c..8 * c + words).unwrap_or_default()),
            };
            acc = _mm512_add_epi64(
                acc,
                _mm512_maskz_popcnt_epi64(mask, _mm512_xor_si512(qv, row)),
            );
        }
        *o = _mm512_reduce_add_epi64(acc) as u32;
    }
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn f16_to_f32(src: &[u16], dst: &mut [f32]) {
    let (s16, s_tail) = src.as_chunks::<16>();
    let (d16, d_tail) = dst.as_chunks_mut::<16>();
    for (s, d) in s16.iter().zip(d16.iter_mut()) {
        // SAFETY: `s` is 32 readable bytes; loadu has no alignment requirement.
        let h = unsafe { _mm256_loadu_si256(s.as_ptr().cast::<__m256i>()) };
        // SAFETY: `d` is 16 writable f32s; storeu has no alignment requirement.
        unsafe { _mm512_storeu_ps(d.as_mut_ptr(), _mm512_cvtph_ps(h)) };
    }
    for (s, d) in s_tail.iter().zip(d_tail.iter_mut()) {
        *d = half::f16::from_bits(*s).to_f32();
    }
}

/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn u8_to_f32(src: &[u8], dst: &mut [f32]) {
    let (s16, s_tail) = src.as_chunks::<16>();
    let (d16, d_tail) = dst.as_chunks_mut::<16>();
    for (s, d) in s16.iter().zip(d16.iter_mut()) {
        // SAFETY: `s` is 16 readable bytes; loadu has no alignment requirement.
        let bytes = unsafe { _mm_loadu_si128(s.as_ptr().cast::<__m128i>()) };
        let v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
        // SAFETY: `d` is 16 writable f32s; storeu has no alignment requirement.
        unsafe { _mm512_storeu_ps(d.as_mut_ptr(), v) };
    }
    for (s, d) in s_tail.iter().zip(d_tail.iter_mut()) {
        *d = f32::from(*s);
    }
}

/// Loads the first `min(64, s.len())` bytes of `s`, zero-filling the rest.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn load_bytes(s: &[u8]) -> __m512i {
    let n = s.len().min(64);
    let mask = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    // SAFETY: the mask selects exactly the first `n ≤ s.len()` bytes; masked-off lanes are
    // not read.
    unsafe { _mm512_maskz_loadu_epi8(mask, s.as_ptr().cast::<i8>()) }
}

/// Loads 64 bytes without a mask (masked loads are slow when streaming from DRAM).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn load_full(chunk: &[u8; 64]) -> __m512i {
    // SAFETY: `chunk` is 64 readable bytes; loadu has no alignment requirement.
    unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) }
}

/// u8 codes · a 16-bit query with VNNI (`vpdpbusd`, u8 × i8 summed in i32 without
/// saturation): the query is split into its two i8 bytes `256·hi + lo`, part by part on the
/// stack (`for_split_parts`), and each row's chunk is read once for both.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn dot_u8i16_many(query: &[i16], codes: &[u8], out: &mut [i64]) {
    let stride = query.len();
    out.fill(0);
    for_split_parts(query, |start, hi, lo| {
        let (h64, h_tail) = bytemuck::cast_slice::<i8, u8>(hi).as_chunks::<64>();
        let (l64, l_tail) = bytemuck::cast_slice::<i8, u8>(lo).as_chunks::<64>();
        for (row, o) in codes.chunks_exact(stride).zip(out.iter_mut()) {
            let (r64, r_tail) = row[start..start + hi.len()].as_chunks::<64>();
            let (mut acc_h, mut acc_l) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for ((h, l), r) in h64.iter().zip(l64).zip(r64) {
                let c = load_full(r);
                acc_h = _mm512_dpbusd_epi32(acc_h, c, load_full(h));
                acc_l = _mm512_dpbusd_epi32(acc_l, c, load_full(l));
            }
            if !h_tail.is_empty() {
                let c = load_bytes(r_tail);
                acc_h = _mm512_dpbusd_epi32(acc_h, c, load_bytes(h_tail));
                acc_l = _mm512_dpbusd_epi32(acc_l, c, load_bytes(l_tail));
            }
            *o += 256 * i64::from(_mm512_reduce_add_epi32(acc_h))
                + i64::from(_mm512_reduce_add_epi32(acc_l));
        }
    });
}

/// Σ|q − c| over bytes with `vpsadbw`, 64 bytes per instruction.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn l1_u8_many(query: &[u8], codes: &[u8], out: &mut [u32]) {
    let stride = query.len();
    let (q64, q_tail) = query.as_chunks::<64>();
    for (row, o) in codes.chunks_exact(stride).zip(out.iter_mut()) {
        let (r64, r_tail) = row.as_chunks::<64>();
        let mut acc = _mm512_setzero_si512();
        for (q, r) in q64.iter().zip(r64) {
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(load_full(q), load_full(r)));
        }
        if !q_tail.is_empty() {
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(load_bytes(q_tail), load_bytes(r_tail)));
        }
        *o = _mm512_reduce_add_epi64(acc) as u32;
    }
}

/// Code bytes whose lookups are summed in 16-bit lanes before they are added to a row's
/// u32 total. A 16-bit lane gathers a row's even code bytes in the low half of the
/// register and its odd ones in the high half, at most 2 × 63 per byte, so each half stays
/// under 32,768 over 512 bytes and their sum under 65,536.
const NIBBLE_FLUSH_BYTES: usize = 512;

/// The FastScan-style scan two code bytes per instruction: one 64-byte load holds bytes
/// `j` and `j + 1` of a block's 32 rows, and the pair's four 16-byte tables (one 64-byte
/// load) are spread by two lane shuffles so that a `vpshufb` looks byte `j` up in the low
/// 256 bits and byte `j + 1` in the high ones (an odd last byte pairs with zero tables).
/// Lookups of two pairs are summed in 8-bit lanes, widened into 16-bit lanes as in the
/// AVX2 form, and the two halves are added before the u32 totals every
/// [`NIBBLE_FLUSH_BYTES`] bytes. Measured in cache (`cargo bench --bench kernels`, AMD
/// Zen 5): 1.3–1.4× the AVX2 form; tables spread once per call into a buffer ran no faster
/// in the kernel and cost an allocation per call in search.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn nibble_lut_sums(luts: &[u8], blocks: &[u8], planes: usize, out: &mut [u32]) {
    let bytes = luts.len() / 32;
    // An odd last byte's tables pair with zero ones.
    let padded;
    let luts = if luts.len().is_multiple_of(64) {
        luts
    } else {
        padded = padded_to(luts, luts.len().next_multiple_of(64));
        padded.as_slice()
    };
    let tables = luts.as_chunks::<64>().0;
    let plane_len = 32 * bytes;
    // Each plane is read a pair of bytes at a time: an odd last byte's pair runs 32 bytes
    // into the next plane (its tables are zero), or past the end of `blocks` for the very
    // last plane, which is then read from a zero-padded copy.
    let span = 64 * tables.len();
    for (b, out) in out.as_chunks_mut::<32>().0.iter_mut().enumerate() {
        let mut totals = [_mm256_setzero_si256(); 4];
        for p in 0..planes {
            // The planes before weigh twice this one.
            for t in &mut totals {
                *t = _mm256_add_epi32(*t, *t);
            }
            let start = (b * planes + p) * plane_len;
            let padded;
            let plane = match blocks.get(start..start + span) {
                Some(plane) => plane,
                None => {
                    padded = padded_to(blocks.get(start..).unwrap_or_default(), span);
                    padded.as_slice()
                }
            };
            pair_sums(plane.as_chunks::<64>().0, tables, &mut totals);
        }
        for (t, o) in totals.iter().zip(out.as_chunks_mut::<8>().0) {
            // SAFETY: `o` is 8 writable u32s; storeu has no alignment requirement.
            unsafe { _mm256_storeu_si256(o.as_mut_ptr().cast::<__m256i>(), *t) };
        }
    }
}

/// `bytes` followed by zeros up to `len`.
fn padded_to(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(len, 0);
    v
}

/// Looks each column pair of a plane up in its tables (see [`nibble_lut_sums`]), summed
/// per row in 8-bit lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn pair_lookup(columns: &[u8; 64], table: &[u8; 64]) -> __m512i {
    let low = _mm512_set1_epi8(0x0f);
    let t = load_full(table);
    let lo_table = _mm512_shuffle_i64x2::<0b10_10_00_00>(t, t);
    let hi_table = _mm512_shuffle_i64x2::<0b11_11_01_01>(t, t);
    let c = load_full(columns);
    _mm512_add_epi8(
        _mm512_shuffle_epi8(lo_table, _mm512_and_si512(c, low)),
        _mm512_shuffle_epi8(hi_table, _mm512_and_si512(_mm512_srli_epi16::<4>(c), low)),
    )
}

/// Adds 8-bit lanes of `v` to 16-bit lanes: even bytes to `even`, odd ones to `odd`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn widen_add(even: __m512i, odd: __m512i, v: __m512i) -> (__m512i, __m512i) {
    let low_bytes = _mm512_set1_epi16(0x00FF);
    (
        _mm512_add_epi16(even, _mm512_and_si512(v, low_bytes)),
        _mm512_add_epi16(odd, _mm512_srli_epi16::<8>(v)),
    )
}

/// Adds one plane's lookups (its column pairs, one per table pair) to `totals` (rows
/// 0..8, 8..16, 16..24, 24..32).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
fn pair_sums(columns: &[[u8; 64]], tables: &[[u8; 64]], totals: &mut [__m256i; 4]) {
    for (columns, tables) in columns
        .chunks(NIBBLE_FLUSH_BYTES / 2)
        .zip(tables.chunks(NIBBLE_FLUSH_BYTES / 2))
    {
        let (mut even, mut odd) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let (quads, last) = columns.as_chunks::<2>();
        let (table_quads, last_table) = tables.as_chunks::<2>();
        for (quad, t) in quads.iter().zip(table_quads) {
            let v = _mm512_add_epi8(pair_lookup(&quad[0], &t[0]), pair_lookup(&quad[1], &t[1]));
            (even, odd) = widen_add(even, odd, v);
        }
        if let (Some(column), Some(t)) = (last.first(), last_table.first()) {
            (even, odd) = widen_add(even, odd, pair_lookup(column, t));
        }
        let even = _mm256_add_epi16(
            _mm512_castsi512_si256(even),
            _mm512_extracti64x4_epi64::<1>(even),
        );
        let odd = _mm256_add_epi16(
            _mm512_castsi512_si256(odd),
            _mm512_extracti64x4_epi64::<1>(odd),
        );
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

/// The rotated codes' estimates, 16 rows at a time: as the AVX2 form (separate multiplies
/// and adds, the scalar form's roundings; the ordered `u32` without a branch), with the
/// rows' `[add, scale]` pairs split by two two-register permutes and the centroid table's
/// first 64 entries (every centroid a segment has, [`MAX_CENTROIDS`]) looked up by two
/// more. Scalar reads of the table, as the AVX2 form does them, and a gather both measured
/// no faster than AVX2 (AMD Zen 5).
///
/// [`MAX_CENTROIDS`]: crate::quant::rotated::MAX_CENTROIDS
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn rotated_keys(
    terms: &crate::simd::EstimateTerms,
    sums: &[u32],
    factors: &[[f32; 2]],
    centroids: &[u8],
    out: &mut [u32],
) {
    let base = _mm512_set1_ps(terms.base);
    let step = _mm512_set1_ps(terms.step);
    let two = _mm512_set1_ps(2.0);
    let sign = _mm512_set1_epi32(i32::MIN);
    let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // The table's first 64 entries in registers, 16 each.
    let table: [__m512; 4] = std::array::from_fn(|i| load_ps(&terms.table[16 * i..16 * i + 16]));
    let (bit5, sixty_four) = (_mm512_set1_epi32(32), _mm512_set1_epi32(64));
    let (sums16, sums_tail) = sums.as_chunks::<16>();
    let (factors16, factors_tail) = factors.as_chunks::<16>();
    let (centroids16, centroids_tail) = centroids.as_chunks::<16>();
    let (out16, out_tail) = out.as_chunks_mut::<16>();
    for (((o, s), f), c) in out16.iter_mut().zip(sums16).zip(factors16).zip(centroids16) {
        // SAFETY: `s` is 16 readable u32s, `f` 32 readable f32s, `c` 16 readable bytes, `o`
        // 16 writable u32s (unaligned loads and stores).
        unsafe {
            let sum = _mm512_cvtepu32_ps(_mm512_loadu_si512(s.as_ptr().cast()));
            let ip = _mm512_add_ps(base, _mm512_mul_ps(step, sum));
            let pairs = f.as_ptr().cast::<f32>();
            let lo = _mm512_loadu_ps(pairs);
            let hi = _mm512_loadu_ps(pairs.add(16));
            let add = _mm512_permutex2var_ps(lo, evens, hi);
            let scale = _mm512_permutex2var_ps(lo, odds, hi);
            let index = _mm512_cvtepu8_epi32(_mm_loadu_si128(c.as_ptr().cast::<__m128i>()));
            let t = _mm512_mask_blend_ps(
                _mm512_test_epi32_mask(index, bit5),
                _mm512_permutex2var_ps(table[0], index, table[1]),
                _mm512_permutex2var_ps(table[2], index, table[3]),
            );
            // Centroid numbers past the permutes' 64 entries (none in segments this
            // engine writes) are read from the table by a gather.
            let far = _mm512_cmpge_epu32_mask(index, sixty_four);
            let t = if far == 0 {
                t
            } else {
                _mm512_mask_i32gather_ps::<4>(t, far, index, terms.table.as_ptr())
            };
            let key = if terms.euclid {
                _mm512_sub_ps(
                    _mm512_add_ps(add, t),
                    _mm512_mul_ps(_mm512_mul_ps(two, scale), ip),
                )
            } else {
                _mm512_sub_ps(_mm512_sub_ps(t, add), _mm512_mul_ps(scale, ip))
            };
            let bits = _mm512_castps_si512(key);
            let mask = _mm512_or_si512(_mm512_srai_epi32::<31>(bits), sign);
            _mm512_storeu_si512(o.as_mut_ptr().cast(), _mm512_xor_si512(bits, mask));
        }
    }
    crate::simd::scalar::rotated_keys(terms, sums_tail, factors_tail, centroids_tail, out_tail);
}

/// The keys below `bound`, 16 per unsigned compare into a mask register.
///
/// # Safety
/// See the module docs.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vpopcntdq,avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn below(keys: &[u32], bound: u32, out: &mut [u64]) {
    let b = _mm512_set1_epi32(bound as i32);
    let (keys64, tail) = keys.as_chunks::<64>();
    for (o, chunk) in out.iter_mut().zip(keys64) {
        *o = (0..4).zip(chunk.as_chunks::<16>().0).fold(0, |m, (j, k)| {
            // SAFETY: `k` is 16 readable u32s; loadu has no alignment requirement.
            let v = unsafe { _mm512_loadu_si512(k.as_ptr().cast()) };
            m | u64::from(_mm512_cmplt_epu32_mask(v, b)) << (16 * j)
        });
    }
    if let Some(o) = out.get_mut(keys64.len()..) {
        crate::simd::scalar::below(tail, bound, o);
    }
}
