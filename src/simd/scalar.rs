//! Portable kernels: the reference every SIMD kernel is tested against.
//!
//! Callers (the [`Kernels`](super::Kernels) wrappers) pass slices of equal length.

/// See [`Kernels::count_ones`](super::Kernels::count_ones).
pub fn count_ones(words: &[u64]) -> u64 {
    words.iter().map(|w| u64::from(w.count_ones())).sum()
}

/// See [`Kernels::nibble_lut_sums`](super::Kernels::nibble_lut_sums).
pub fn nibble_lut_sums(luts: &[u8], blocks: &[u8], planes: usize, out: &mut [u32]) {
    let bytes = luts.len() / 32;
    for (block, out) in blocks
        .chunks_exact((32 * bytes * planes).max(1))
        .zip(out.chunks_exact_mut(32))
    {
        for (r, o) in out.iter_mut().enumerate() {
            *o = block.chunks_exact(32 * bytes).fold(0, |before, plane| {
                let sum: u32 = luts
                    .as_chunks::<32>()
                    .0
                    .iter()
                    .zip(plane.iter().skip(r).step_by(32))
                    .map(|(t, &b)| {
                        u32::from(t[usize::from(b & 15)]) + u32::from(t[16 + usize::from(b >> 4)])
                    })
                    .sum();
                2 * before + sum
            });
        }
    }
}

/// See [`Kernels::rotated_keys`](super::Kernels::rotated_keys).
pub fn rotated_keys(
    terms: &super::EstimateTerms,
    sums: &[u32],
    factors: &[[f32; 2]],
    centroids: &[u8],
    out: &mut [u32],
) {
    for (((o, &sum), &f), &c) in out.iter_mut().zip(sums).zip(factors).zip(centroids) {
        *o = super::ordered(terms.key(sum, f, c));
    }
}

/// See [`Kernels::below`](super::Kernels::below). Callers pass `keys.len().div_ceil(64)`
/// words.
pub fn below(keys: &[u32], bound: u32, out: &mut [u64]) {
    for (o, chunk) in out.iter_mut().zip(keys.chunks(64)) {
        *o = (0..)
            .zip(chunk)
            .fold(0, |m, (i, &k)| m | u64::from(k < bound) << i);
    }
}

/// See [`Kernels::hamming_many`](super::Kernels::hamming_many).
pub fn hamming_many(query: &[u64], codes: &[u64], out: &mut [u32]) {
    for (row, o) in codes.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = query
            .iter()
            .zip(row)
            .map(|(q, c)| (q ^ c).count_ones())
            .sum();
    }
}

/// See [`Kernels::hamming_rows`](super::Kernels::hamming_rows).
pub fn hamming_rows(query: &[u64], codes: &[u64], rows: &[u32], out: &mut [u32]) {
    let stride = query.len();
    for (&row, o) in rows.iter().zip(out.iter_mut()) {
        *o = super::code_row(codes, stride, row).map_or(u32::MAX, |code| {
            query
                .iter()
                .zip(code)
                .map(|(q, c)| (q ^ c).count_ones())
                .sum()
        });
    }
}

/// See [`Kernels::min_hamming_many`](super::Kernels::min_hamming_many).
pub fn min_hamming_many(queries: &[u64], codes: &[u64], words: usize, out: &mut [u32]) {
    for (query, o) in queries.chunks_exact(words).zip(out.iter_mut()) {
        *o = codes
            .chunks_exact(words)
            .map(|row| {
                query
                    .iter()
                    .zip(row)
                    .map(|(q, c)| (q ^ c).count_ones())
                    .sum()
            })
            .min()
            .unwrap_or(u32::MAX);
    }
}

/// See [`Kernels::weighted_hamming_many`](super::Kernels::weighted_hamming_many).
pub fn weighted_hamming_many(planes: &[u64], codes: &[u64], words: usize, out: &mut [u32]) {
    for (row, o) in codes.chunks_exact(words).zip(out.iter_mut()) {
        *o = planes
            .chunks_exact(words)
            .enumerate()
            .map(|(b, plane)| {
                let d: u32 = plane
                    .iter()
                    .zip(row)
                    .map(|(p, c)| (p ^ c).count_ones())
                    .sum();
                d << b
            })
            .sum();
    }
}

/// See [`Kernels::dot`](super::Kernels::dot).
#[must_use]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// See [`Kernels::dot_many`](super::Kernels::dot_many).
pub fn dot_many(query: &[f32], rows: &[f32], out: &mut [f32]) {
    for (row, o) in rows.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = dot(query, row);
    }
}

/// See [`Kernels::l2sq`](super::Kernels::l2sq).
#[must_use]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = x - y;
            d * d
        })
        .sum()
}

/// See [`Kernels::l1`](super::Kernels::l1).
#[must_use]
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

/// See [`Kernels::f16_to_f32`](super::Kernels::f16_to_f32).
pub fn f16_to_f32(src: &[u16], dst: &mut [f32]) {
    for (s, d) in src.iter().zip(dst.iter_mut()) {
        *d = half::f16::from_bits(*s).to_f32();
    }
}

/// See [`Kernels::u8_to_f32`](super::Kernels::u8_to_f32).
pub fn u8_to_f32(src: &[u8], dst: &mut [f32]) {
    for (s, d) in src.iter().zip(dst.iter_mut()) {
        *d = f32::from(*s);
    }
}

/// See [`Kernels::dot_u8i16_many`](super::Kernels::dot_u8i16_many).
pub fn dot_u8i16_many(query: &[i16], codes: &[u8], out: &mut [i64]) {
    for (row, o) in codes.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = query
            .iter()
            .zip(row)
            .map(|(&q, &c)| i64::from(q) * i64::from(c))
            .sum();
    }
}

/// See [`Kernels::max_dot_u8i16_many`](super::Kernels::max_dot_u8i16_many).
pub fn max_dot_u8i16_many(queries: &[i16], codes: &[u8], stride: usize, out: &mut [i64]) {
    for (query, o) in queries.chunks_exact(stride).zip(out.iter_mut()) {
        *o = codes
            .chunks_exact(stride)
            .map(|row| {
                query
                    .iter()
                    .zip(row)
                    .map(|(&q, &c)| i64::from(q) * i64::from(c))
                    .sum()
            })
            .max()
            .unwrap_or(i64::MIN);
    }
}

/// The end of one row of the SIMD int8 MaxSim scans: adds the products of the row's tail
/// (its codes from `tail_at` on, past the last whole vector chunk) to each query's
/// `total`, and keeps each query's larger of `best` and `total`.
pub(crate) fn finish_max_dot_row<const N: usize>(
    queries: &[&[i16]; N],
    tail: &[u8],
    tail_at: usize,
    mut total: [i64; N],
    best: &mut [i64; N],
) {
    for ((t, q), b) in total.iter_mut().zip(queries).zip(best.iter_mut()) {
        for (c, x) in tail.iter().zip(q.get(tail_at..).unwrap_or_default()) {
            *t += i64::from(*x) * i64::from(*c);
        }
        *b = (*b).max(*t);
    }
}

/// See [`Kernels::l1_u8_many`](super::Kernels::l1_u8_many).
pub fn l1_u8_many(query: &[u8], codes: &[u8], out: &mut [u32]) {
    for (row, o) in codes.chunks_exact(query.len()).zip(out.iter_mut()) {
        *o = query
            .iter()
            .zip(row)
            .map(|(&q, &c)| u32::from(q.abs_diff(c)))
            .sum();
    }
}
