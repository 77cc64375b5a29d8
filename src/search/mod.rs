//! The two-stage search of one segment, and the merge across segments.
//!
//! Order everywhere is by `key` (the score, negated for higher-is-better distances, so that
//! smaller is always better) and then by point id, so ties are broken the same way in every
//! segment and in every run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::config::Distance;
use crate::point::PointId;
use crate::quant::binary::{AsymQuery, MultiBit, estimate_score};
use crate::quant::scalar::ScalarQuery;
use crate::segment::{Rows, ScalarCodes};
use crate::simd::Kernels;

/// A query made ready for scoring.
#[derive(Debug)]
pub(crate) struct PreparedQuery {
    /// Normalized for Cosine.
    pub vector: Vec<f32>,
    /// The 1-bit code (empty without binary quantization).
    pub code: Vec<u64>,
    /// Bits per component of an asymmetric binary query; 0 for symmetric Hamming.
    pub asym_bits: u32,
    pub distance: Distance,
    pub kernels: &'static Kernels,
}

/// An asymmetric query is scored on this many times `candidates` rows, the best by
/// symmetric Hamming distance (see [`asym_rerank`]). Measured on the 60k MiniLM set as one
/// segment, 1-bit codes, 8-bit queries, oversampling 3 (recall@10, p50 / symmetric p50):
/// 8: 0.9431, 1.45×; 16: 0.9453, 1.48×; 32: 0.9458, 2.4×; every row: 0.9457, 25×.
pub(crate) const ASYM_POOL_FACTOR: usize = 16;

impl PreparedQuery {
    fn score(&self, row: &[f32]) -> f32 {
        let k = self.kernels;
        match self.distance {
            Distance::Cosine | Distance::Dot => k.dot(&self.vector, row),
            Distance::Euclid => k.l2sq(&self.vector, row).sqrt(),
            Distance::Manhattan => k.l1(&self.vector, row),
        }
    }

    fn key(&self, score: f32) -> f32 {
        if self.distance.higher_is_better() {
            -score
        } else {
            score
        }
    }
}

/// How a segment is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Score every live row with the originals.
    Exact,
    /// Scan the codes, keep `candidates` rows, then rescore them with the originals or
    /// report the code's estimate.
    Binary { candidates: usize, rescore: bool },
    /// Scan the scalar codes (segments without them are scanned exactly), keep
    /// `candidates` rows by estimated score, then rescore them or report the estimates.
    Scalar { candidates: usize, rescore: bool },
}

/// One result before payloads are fetched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub key: f32,
    pub score: f32,
    pub id: PointId,
    /// Index of the segment in the search's segment list.
    pub seg: usize,
    pub row: usize,
}

impl Hit {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then_with(|| self.id.cmp(&other.id))
    }
}

/// Keeps the `limit` best hits; the worst kept is on top.
struct TopK {
    limit: usize,
    heap: BinaryHeap<Worst>,
}

struct Worst(Hit);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.0.cmp(&other.0) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl TopK {
    fn new(limit: usize) -> Self {
        TopK {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    fn push(&mut self, hit: Hit) {
        if self.heap.len() < self.limit {
            self.heap.push(Worst(hit));
        } else if let Some(mut top) = self.heap.peek_mut()
            && hit.cmp(&top.0) == Ordering::Less
        {
            *top = Worst(hit);
        }
    }

    fn into_sorted(self) -> Vec<Hit> {
        let mut v: Vec<Hit> = self.heap.into_iter().map(|w| w.0).collect();
        v.sort_unstable_by(Hit::cmp);
        v
    }
}

/// The best `limit` hits of one segment.
pub(crate) fn search_segment(
    rows: &dyn Rows,
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    plan: Plan,
) -> Vec<Hit> {
    match plan {
        Plan::Binary {
            candidates,
            rescore,
        } if rows.code_words() > 0 => {
            let (picked, bits) = binary_picks(rows, q, candidates);
            let picked = picked.into_iter().map(|(d, row)| (d, 0, row)).collect();
            finish_binary(&[rows], seg, q, limit, rescore, bits, picked)
        }
        Plan::Scalar {
            candidates,
            rescore,
        } if let Some(codes) = rows.scalar() => {
            let estimates = scalar_candidates(
                rows,
                &codes,
                seg,
                q,
                if rescore { candidates } else { limit },
            );
            if rescore {
                rescore_rows(rows, seg, q, limit, estimates.into_iter().map(|h| h.row))
            } else {
                estimates
            }
        }
        _ => {
            let originals = rows.originals();
            let dim = rows.dim();
            let mut scratch = Vec::new();
            let keys: Vec<f32> = (0..rows.len())
                .map(|row| q.key(q.score(originals.row(row, dim, q.kernels, &mut scratch))))
                .collect();
            best_by_key(rows, seg, q, &keys, limit)
        }
    }
}

/// The best `limit` hits of one segment held as several blocks of rows (the chunks of a
/// live or frozen segment, `seg`, `seg + 1`, … in the search's list), searched as if they
/// were one: binary candidates are drawn from one pool across the blocks, so no more rows
/// are rescored than for a single block.
pub(crate) fn search_blocks(
    blocks: &[&dyn Rows],
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    plan: Plan,
) -> Vec<Hit> {
    match plan {
        Plan::Binary {
            candidates,
            rescore,
        } if blocks
            .iter()
            .all(|b| b.code_words() > 0 && b.multi_bit().is_none()) =>
        {
            let mut picked = Vec::new();
            for (block, rows) in blocks.iter().enumerate() {
                let (mine, _) = binary_picks(*rows, q, candidates);
                picked.extend(mine.into_iter().map(|(d, row)| (d, block, row)));
            }
            // Nearest first, ties in row order across the blocks, as in one block.
            picked.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
            picked.truncate(candidates);
            let bits = blocks.first().map_or(0, |b| b.dim());
            finish_binary(blocks, seg, q, limit, rescore, bits, picked)
        }
        _ => merge(
            blocks
                .iter()
                .enumerate()
                .map(|(block, rows)| search_segment(*rows, seg + block, q, limit, plan))
                .collect(),
            limit,
        ),
    }
}

/// The binary candidates of one block, nearest first as `(distance, row)`: by Hamming
/// distance, or re-ranked with the asymmetric query; and the bits its codes compare.
fn binary_picks(
    rows: &dyn Rows,
    q: &PreparedQuery,
    candidates: usize,
) -> (Vec<(f32, usize)>, usize) {
    let multi_bit = rows.multi_bit();
    let segment_code;
    let code: &[u64] = match multi_bit {
        Some(enc) => {
            let mut c = vec![0u64; rows.code_words()];
            enc.encode(&q.vector, &mut c);
            segment_code = c;
            &segment_code
        }
        None => &q.code,
    };
    let picked: Vec<(f32, usize)> = if q.asym_bits == 0 {
        let picked = binary_candidates(rows, code, q, candidates);
        picked.into_iter().map(|(h, r)| (h as f32, r)).collect()
    } else {
        let pool = candidates.saturating_mul(ASYM_POOL_FACTOR);
        let pool = binary_candidates(rows, code, q, pool);
        asym_rerank(rows, q, &pool, candidates)
    };
    let bits = match multi_bit {
        Some(enc) => MultiBit::bits(enc.two_bits, rows.dim()),
        None => rows.dim(),
    };
    (picked, bits)
}

/// The best `limit` hits among binary candidates `(distance, block, row)`: rescored with
/// the originals, or ranked by the estimate their codes give (`bits` per code).
fn finish_binary(
    blocks: &[&dyn Rows],
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    rescore: bool,
    bits: usize,
    picked: Vec<(f32, usize, usize)>,
) -> Vec<Hit> {
    let picked = picked
        .into_iter()
        .filter_map(|(d, block, row)| Some((d, block, *blocks.get(block)?, row)));
    if rescore {
        return rescore_picks(
            seg,
            q,
            limit,
            picked.map(|(_, block, rows, row)| (block, rows, row)),
        );
    }
    let mut hits: Vec<Hit> = picked
        .map(|(h, block, rows, row)| {
            let score = estimate_score(q.distance, h, bits);
            Hit {
                key: q.key(score),
                score,
                id: rows.id(row),
                seg: seg + block,
                row,
            }
        })
        .collect();
    hits.sort_unstable_by(Hit::cmp);
    hits.truncate(limit);
    hits
}

/// The `keep` live rows with the smallest keys (ties broken by id), best first. Linear:
/// ids are decoded only for the selected rows and the ties at the boundary.
fn best_by_key(
    rows: &dyn Rows,
    seg: usize,
    q: &PreparedQuery,
    keys: &[f32],
    keep: usize,
) -> Vec<Hit> {
    let deleted = rows.deleted();
    let key = |r: u32| keys.get(r as usize).copied().unwrap_or(f32::INFINITY);
    let mut live: Vec<u32> = (0..keys.len() as u32)
        .filter(|&r| deleted.ones() == 0 || !deleted.get(r as usize))
        .collect();
    if keep == 0 {
        return Vec::new();
    }
    if live.len() > keep {
        live.select_nth_unstable_by(keep - 1, |a, b| key(*a).total_cmp(&key(*b)));
        let threshold = live.get(keep - 1).map_or(f32::INFINITY, |&r| key(r));
        let (head, tail) = live.split_at(keep);
        let ties = tail
            .iter()
            .filter(|&&r| key(r).total_cmp(&threshold).is_eq());
        live = head.iter().chain(ties).copied().collect();
    }
    let mut hits: Vec<Hit> = live
        .into_iter()
        .map(|r| {
            let k = key(r);
            Hit {
                key: k,
                score: if q.distance.higher_is_better() { -k } else { k },
                id: rows.id(r as usize),
                seg,
                row: r as usize,
            }
        })
        .collect();
    hits.sort_unstable_by(Hit::cmp);
    hits.truncate(keep);
    hits
}

/// The `keep` live rows with the best scalar-code estimates, best first.
fn scalar_candidates(
    rows: &dyn Rows,
    codes: &ScalarCodes<'_>,
    seg: usize,
    q: &PreparedQuery,
    keep: usize,
) -> Vec<Hit> {
    let n = rows.len();
    let sq = codes.params.prepare(&q.vector, q.distance, codes.stride);
    let norm = |row: usize| codes.norms.get(row).copied().unwrap_or(0.0);
    let keys: Vec<f32> = if q.distance == Distance::Manhattan {
        let mut out = vec![0u32; n];
        q.kernels.l1_u8_many(&sq.l1_codes, codes.codes, &mut out);
        out.iter()
            .enumerate()
            .map(|(row, &r)| q.key(sq.score(q.distance, i64::from(r), norm(row))))
            .collect()
    } else {
        let mut out = vec![[0i32; 2]; n];
        q.kernels
            .dot_u8i8x2_many(&sq.hi, &sq.lo, codes.codes, &mut out);
        out.iter()
            .enumerate()
            .map(|(row, &[h, l])| {
                let raw = ScalarQuery::combine(h, l);
                q.key(sq.score(q.distance, raw, norm(row)))
            })
            .collect()
    };
    best_by_key(rows, seg, q, &keys, keep)
}

fn rescore_rows(
    rows: &dyn Rows,
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    which: impl Iterator<Item = usize>,
) -> Vec<Hit> {
    rescore_picks(seg, q, limit, which.map(|row| (0, rows, row)))
}

/// The best `limit` of `(block, rows, row)` by the score of the originals; block `b` is
/// `seg + b` in the search's list.
fn rescore_picks<'a>(
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    which: impl Iterator<Item = (usize, &'a dyn Rows, usize)>,
) -> Vec<Hit> {
    let mut scratch = Vec::new();
    let mut top = TopK::new(limit);
    for (block, rows, row) in which {
        let originals = rows.originals();
        let score = q.score(originals.row(row, rows.dim(), q.kernels, &mut scratch));
        top.push(Hit {
            key: q.key(score),
            score,
            id: rows.id(row),
            seg: seg + block,
            row,
        });
    }
    top.into_sorted()
}

/// Scores `pool` with the asymmetric query and keeps the best `keep`, as
/// `(distance / (2^bits − 1), row)`, nearest first (ties: lower row first).
///
/// A cascade: the symmetric scan picked `pool` (`ASYM_POOL_FACTOR` × the candidates); its
/// codes are gathered and each query bit plane is one Hamming pass over them, so the
/// weighted popcounts cost a few passes over a few hundred rows instead of `bits` passes
/// over the segment. With a pool of every row it is the full asymmetric scan.
fn asym_rerank(
    rows: &dyn Rows,
    q: &PreparedQuery,
    pool: &[(u32, usize)],
    keep: usize,
) -> Vec<(f32, usize)> {
    let words = rows.code_words();
    let codes = rows.codes();
    let mut gathered = Vec::with_capacity(pool.len() * words);
    for &(_, row) in pool {
        gathered.extend_from_slice(
            codes
                .get(row * words..(row + 1) * words)
                .unwrap_or_default(),
        );
    }
    let asym = AsymQuery::new(&q.vector, rows.multi_bit(), words, q.asym_bits);
    let mut total = vec![0u32; pool.len()];
    let mut pass = vec![0u32; pool.len()];
    for b in 0..asym.bits {
        q.kernels
            .hamming_many(asym.plane(b, words), &gathered, &mut pass);
        for (t, p) in total.iter_mut().zip(&pass) {
            *t += p << b;
        }
    }
    let mut scored: Vec<(u32, usize)> = total.into_iter().zip(pool.iter().map(|p| p.1)).collect();
    scored.sort_unstable();
    scored.truncate(keep);
    let levels = asym.levels() as f32;
    scored
        .into_iter()
        .map(|(d, r)| (d as f32 / levels, r))
        .collect()
}

/// The `candidates` live rows nearest in Hamming distance (ties: lower row first), as
/// `(distance, row)`. Linear: one pass for distances, one histogram, one collection pass.
fn binary_candidates(
    rows: &dyn Rows,
    code: &[u64],
    q: &PreparedQuery,
    candidates: usize,
) -> Vec<(u32, usize)> {
    let n = rows.len();
    let deleted = rows.deleted();
    let mut dist = vec![0u32; n];
    q.kernels.hamming_many(code, rows.codes(), &mut dist);
    let is_deleted = |row: usize| deleted.ones() > 0 && deleted.get(row);
    let mut hist = vec![0usize; rows.code_words() * 64 + 1];
    for (row, &d) in dist.iter().enumerate() {
        if !is_deleted(row)
            && let Some(slot) = hist.get_mut(d as usize)
        {
            *slot += 1;
        }
    }
    let mut below = 0;
    let mut threshold = hist.len();
    for (d, &count) in hist.iter().enumerate() {
        if below + count >= candidates {
            threshold = d;
            break;
        }
        below += count;
    }
    let mut at_threshold = candidates.saturating_sub(below);
    let mut out = Vec::with_capacity(candidates.min(n));
    for (row, &d) in dist.iter().enumerate() {
        if d as usize > threshold || is_deleted(row) {
            continue;
        }
        if (d as usize) < threshold {
            out.push((d, row));
        } else if at_threshold > 0 {
            at_threshold -= 1;
            out.push((d, row));
        }
    }
    out
}

/// Merges per-segment results into the best `limit`.
pub(crate) fn merge(lists: Vec<Vec<Hit>>, limit: usize) -> Vec<Hit> {
    let mut all: Vec<Hit> = lists.into_iter().flatten().collect();
    all.sort_unstable_by(Hit::cmp);
    all.truncate(limit);
    all
}
