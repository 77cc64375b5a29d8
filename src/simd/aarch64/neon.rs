//! NEON kernels.
//!
//! # Safety
//! NEON is mandatory on aarch64, so these are safe to call on any aarch64 CPU; they are
//! `unsafe fn` only to share the `Kernels` table's signature. Callers pass slices of equal
//! length.

use std::arch::aarch64::{
    float32x4_t, vabdq_f32, vaddlvq_u8, vaddq_f32, vaddvq_f32, vcntq_u8, vcvtq_f32_u32,
    vdupq_n_f32, veorq_u8, vfmaq_f32, vget_high_u16, vget_low_u16, vld1_u8, vld1q_f32, vld1q_u8,
    vmovl_u8, vmovl_u16, vst1q_f32, vsubq_f32,
};

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
    let stride = query.len();
    let (q2, q_tail) = query.as_chunks::<2>();
    for (row, o) in codes.chunks_exact(stride).zip(out.iter_mut()) {
        let (r2, r_tail) = row.as_chunks::<2>();
        let mut total = 0u32;
        for (q, r) in q2.iter().zip(r2) {
            // SAFETY: `q` and `r` are 16 readable bytes each.
            let (qv, rv) = unsafe { (vld1q_u8(q.as_ptr().cast()), vld1q_u8(r.as_ptr().cast())) };
            total += u32::from(vaddlvq_u8(vcntq_u8(veorq_u8(qv, rv))));
        }
        for (q, r) in q_tail.iter().zip(r_tail) {
            total += (q ^ r).count_ones();
        }
        *o = total;
    }
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
