//! AVX-512 kernels (F, BW, VNNI, VPOPCNTDQ, with the AVX2 set).
//!
//! # Safety
//! Every function here requires a CPU with AVX-512 F, BW, VNNI and VPOPCNTDQ, AVX2, FMA, F16C
//! and POPCNT; they are reached only through `Kernels`, which exists for this ISA only after
//! `has_avx512()` said yes. Callers pass slices of equal length.

use std::arch::x86_64::{
    __m128i, __m256i, __m512, __m512i, _mm_loadu_si128, _mm256_loadu_si256, _mm512_abs_ps,
    _mm512_add_epi64, _mm512_add_ps, _mm512_cvtepi32_ps, _mm512_cvtepu8_epi32, _mm512_cvtph_ps,
    _mm512_dpbusd_epi32, _mm512_fmadd_ps, _mm512_loadu_si512, _mm512_maskz_loadu_epi8,
    _mm512_maskz_loadu_epi64, _mm512_maskz_loadu_ps, _mm512_maskz_popcnt_epi64,
    _mm512_popcnt_epi64, _mm512_reduce_add_epi32, _mm512_reduce_add_epi64, _mm512_reduce_add_ps,
    _mm512_sad_epu8, _mm512_setzero_ps, _mm512_setzero_si512, _mm512_storeu_ps, _mm512_sub_ps,
    _mm512_xor_si512,
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
