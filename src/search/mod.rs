//! The two-stage search of one segment, and the merge across segments.
//!
//! Order everywhere is by `key` (the score, negated for higher-is-better distances, so that
//! smaller is always better) and then by point id, so ties are broken the same way in every
//! segment and in every run.

pub(crate) mod multi;

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::config::Distance;
use crate::point::PointId;
use crate::quant::binary::{AsymQuery, MultiBit, estimate_score};
use crate::quant::rotated::{BLOCK_ROWS, Rotated, RotatedQuery};
use crate::segment::{Bitmap, RotatedCodes, Rows, ScalarCodes};
use crate::simd::{Kernels, ordered, unordered};

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
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Plan {
    /// Score every live row with the originals.
    Exact,
    /// Scan the codes, keep `candidates` rows, then rescore them with the originals or
    /// report the code's estimate. `bounded`: codes whose estimates carry an error bound
    /// (rotated codes) are rescored nearest lower bound first, until no candidate left can
    /// enter the top `limit` (see [`rotated_search`]).
    Binary {
        candidates: usize,
        rescore: bool,
        bounded: bool,
    },
    /// Scan the scalar codes (segments without them are scanned exactly), keep
    /// `candidates` rows by estimated score, then rescore them or report the estimates.
    /// `sketch_pool`: in segments that keep sign sketches, scan only this fraction of the
    /// rows, the nearest by their sketches (see [`scalar_candidates`]).
    Scalar {
        candidates: usize,
        rescore: bool,
        sketch_pool: Option<f32>,
    },
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
    /// Row `row` of `rows` (segment `seg` of the search) with the search key `key`; its
    /// score is the key read back through the query's distance (the mapping is its own
    /// inverse).
    fn keyed(rows: &dyn Rows, seg: usize, q: &PreparedQuery, row: usize, key: f32) -> Hit {
        Hit {
            key,
            score: q.key(key),
            id: rows.id(row),
            seg,
            row,
        }
    }

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

    /// Whether a hit with this key could be kept: reading its id (a wait on memory for a
    /// scattered row) is left to the few that could.
    fn admits(&self, key: f32) -> bool {
        self.heap.len() < self.limit
            || self
                .heap
                .peek()
                .is_some_and(|top| key.total_cmp(&top.0.key) != Ordering::Greater)
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

/// The best `limit` hits of one block by its scalar codes, or by its originals (the plans
/// [`search_blocks`] does not draw from binary codes).
fn search_block(
    rows: &dyn Rows,
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    plan: Plan,
) -> Vec<Hit> {
    match plan {
        Plan::Scalar {
            candidates,
            rescore,
            sketch_pool,
        } if let Some(codes) = rows.scalar() => {
            let keep = if rescore { candidates } else { limit };
            let estimates = scalar_candidates(rows, &codes, seg, q, keep, sketch_pool);
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
            // Only live rows are scored: under a filter that passes few rows, only those.
            let keyed = live_rows(rows)
                .into_iter()
                .map(|row| {
                    let original = originals.row(row as usize, dim, q.kernels, &mut scratch);
                    (row, q.key(q.score(original)))
                })
                .collect();
            best_by_key(rows, seg, q, keyed, limit)
        }
    }
}

/// The best `limit` hits of one segment: a sealed one is one block of rows, a live or
/// frozen one its chunks (`seg`, `seg + 1`, … in the search's list), searched as if they
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
            bounded,
        } if !blocks.is_empty()
            && let Some(rotated) = blocks
                .iter()
                .map(|rows| Some((*rows, rows.rotated()?)))
                .collect::<Option<Vec<_>>>() =>
        {
            let rescore = match (rescore, bounded) {
                (false, _) => Rescore::Off,
                (true, false) => Rescore::All,
                (true, true) => Rescore::UntilSettled,
            };
            rotated_search(&rotated, seg, q, limit, candidates, rescore)
        }
        Plan::Binary {
            candidates,
            rescore,
            ..
        } if blocks.iter().all(|b| b.code_words() > 0)
            && (blocks.len() == 1 || blocks.iter().all(|b| b.multi_bit().is_none())) =>
        {
            let (picked, bits) = binary_picks(blocks, q, candidates);
            finish_binary(blocks, seg, q, limit, rescore, bits, picked)
        }
        _ => match blocks {
            [rows] => search_block(*rows, seg, q, limit, plan),
            _ => merge(
                blocks
                    .iter()
                    .enumerate()
                    .map(|(block, rows)| search_blocks(&[*rows], seg + block, q, limit, plan))
                    .collect(),
                limit,
            ),
        },
    }
}

/// The binary candidates of `blocks` (one segment: one block, or chunks that share one
/// encoding), nearest first as `(distance, block, row)`: by Hamming distance, or re-ranked
/// with the asymmetric query; and the bits their codes compare.
fn binary_picks(
    blocks: &[&dyn Rows],
    q: &PreparedQuery,
    candidates: usize,
) -> (Vec<(f32, usize, usize)>, usize) {
    let Some(first) = blocks.first() else {
        return (Vec::new(), 0);
    };
    let multi_bit = first.multi_bit();
    let segment_code;
    let code: &[u64] = match multi_bit {
        Some(enc) => {
            let mut c = vec![0u64; first.code_words()];
            enc.encode(&q.vector, &mut c);
            segment_code = c;
            &segment_code
        }
        None => &q.code,
    };
    let picked = if q.asym_bits == 0 {
        let picked = binary_candidates(blocks, code, q, candidates);
        picked
            .into_iter()
            .map(|(h, b, r)| (h as f32, b, r))
            .collect()
    } else {
        let pool = candidates.saturating_mul(ASYM_POOL_FACTOR);
        let pool = binary_candidates(blocks, code, q, pool);
        asym_rerank(blocks, q, &pool, candidates)
    };
    let bits = match multi_bit {
        Some(enc) => MultiBit::bits(enc.two_bits, first.dim()),
        None => first.dim(),
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
            picked.map(|(_, block, rows, row)| (block, rows, row, f32::NEG_INFINITY)),
        );
    }
    let mut hits: Vec<Hit> = picked
        .map(|(h, block, rows, row)| {
            let score = estimate_score(q.distance, h, bits);
            Hit::keyed(rows, seg + block, q, row, q.key(score))
        })
        .collect();
    hits.sort_unstable_by(Hit::cmp);
    hits.truncate(limit);
    hits
}

/// The rows of `rows` that are live (not deleted, passing the filter), in order.
fn live_rows(rows: &dyn Rows) -> Vec<u32> {
    rows.deleted().clear_rows(rows.len())
}

/// The `keep` of `keyed` (rows and their keys) with the smallest keys (ties broken by id),
/// best first. Linear: ids are decoded only for the selected rows and the ties at the
/// boundary.
fn best_by_key(
    rows: &dyn Rows,
    seg: usize,
    q: &PreparedQuery,
    mut keyed: Vec<(u32, f32)>,
    keep: usize,
) -> Vec<Hit> {
    if keep == 0 {
        return Vec::new();
    }
    if keyed.len() > keep {
        keyed.select_nth_unstable_by(keep - 1, |a, b| a.1.total_cmp(&b.1));
        let threshold = keyed.get(keep - 1).map_or(f32::INFINITY, |&(_, k)| k);
        let (head, tail) = keyed.split_at(keep);
        let ties = tail
            .iter()
            .filter(|&&(_, k)| k.total_cmp(&threshold).is_eq());
        keyed = head.iter().chain(ties).copied().collect();
    }
    let mut hits: Vec<Hit> = keyed
        .into_iter()
        .map(|(r, k)| Hit::keyed(rows, seg, q, r as usize, k))
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
    sketch_fraction: Option<f32>,
) -> Vec<Hit> {
    let sq = codes.params.prepare(&q.vector, q.distance, codes.stride);
    let norm = |row: usize| codes.norms.get(row).copied().unwrap_or(0.0);
    let key = |row: usize, raw: i64| ordered(q.key(sq.score(q.distance, raw, norm(row))));
    let scan = CodeRows {
        codes: codes.codes,
        stride: codes.stride,
        n: rows.len(),
        deleted: rows.deleted(),
        kernels: q.kernels,
    };
    let picked = if q.distance == Distance::Manhattan {
        let kernel = |c: &[u8], out: &mut [u32]| q.kernels.l1_u8_many(&sq.l1_codes, c, out);
        let key = |row, raw: u32| key(row, i64::from(raw));
        nearest_codes(scan, kernel, key, keep)
    } else {
        let kernel = |c: &[u8], out: &mut [i64]| q.kernels.dot_u8i16_many(&sq.codes, c, out);
        match sketch_fraction.and_then(|f| sketch_pool(rows, q, f, keep)) {
            Some(pool) => nearest_gathered(scan, &pool, kernel, key, keep),
            None => nearest_codes(scan, kernel, key, keep),
        }
    };
    let mut hits: Vec<Hit> = picked
        .into_iter()
        .map(|(k, row)| Hit::keyed(rows, seg, q, row, unordered(k)))
        .collect();
    hits.sort_unstable_by(Hit::cmp);
    hits
}

/// Codes a scan compares: `n` rows of `stride` bytes, the rows it must not report, and the
/// kernels its selection uses ([`Nearest::offer_all`]).
#[derive(Clone, Copy)]
struct CodeRows<'a> {
    codes: &'a [u8],
    stride: usize,
    n: usize,
    deleted: &'a Bitmap,
    kernels: &'a Kernels,
}

/// The `keep` rows of `scan.codes` not in `scan.deleted` with the smallest
/// `key(row, kernel output)`, as `(key, row)` in row order. Among equal keys the
/// lower rows are kept (a sealed segment's rows are in id order, so the lower ids).
/// Linear and in L1: outputs and keys are taken [`SCAN_ROWS`] rows at a time and offered
/// to one [`Nearest`]. Where at most one row in [`SPARSE_FRACTION`] is live, only the live
/// rows' codes are gathered, [`GATHER_ROWS`] at a time, and compared; otherwise every code
/// is.
fn nearest_codes<O: Copy + Default>(
    scan: CodeRows<'_>,
    kernel: impl Fn(&[u8], &mut [O]),
    key: impl Fn(usize, O) -> u32,
    keep: usize,
) -> Vec<(u32, usize)> {
    let CodeRows {
        codes,
        stride,
        n,
        deleted,
        kernels,
    } = scan;
    if deleted.ones() > n - n / SPARSE_FRACTION {
        return nearest_gathered(scan, &deleted.clear_rows(n), kernel, key, keep);
    }
    let mut nearest = Nearest::new(keep);
    let mut out = [O::default(); SCAN_ROWS];
    let stride = stride.max(1);
    let mut keys = [0u32; SCAN_ROWS];
    let check = deleted.ones() > 0;
    for (c, run) in codes.chunks(SCAN_ROWS * stride).enumerate() {
        let first = c * SCAN_ROWS;
        let len = (run.len() / stride).min(n.saturating_sub(first));
        let out = &mut out[..len];
        kernel(run, out);
        let keys = &mut keys[..len];
        for (i, (k, &o)) in keys.iter_mut().zip(out.iter()).enumerate() {
            *k = key(first + i, o);
        }
        nearest.offer_all(kernels, keys, first as u32, |i| {
            check && deleted.get(first + i)
        });
    }
    nearest
        .finish(|at| (0, at))
        .into_iter()
        .map(|(k, _, row)| (k, row))
        .collect()
}

/// The `keep` of `rows` (ascending row numbers of `scan.codes`) with the smallest
/// `key(row, kernel output)`, as [`nearest_codes`] gives them: their codes are gathered
/// [`GATHER_ROWS`] at a time and compared.
fn nearest_gathered<O: Copy + Default>(
    scan: CodeRows<'_>,
    rows: &[u32],
    kernel: impl Fn(&[u8], &mut [O]),
    key: impl Fn(usize, O) -> u32,
    keep: usize,
) -> Vec<(u32, usize)> {
    let stride = scan.stride.max(1);
    let mut nearest = Nearest::new(keep);
    let mut out = [O::default(); GATHER_ROWS];
    let mut gathered = Vec::with_capacity(GATHER_ROWS * stride);
    let code = |row: u32| {
        let at = (row as usize).saturating_mul(stride);
        scan.codes.get(at..at.saturating_add(stride))
    };
    for (c, chunk) in rows.chunks(GATHER_ROWS).enumerate() {
        gathered.clear();
        for (i, &row) in chunk.iter().enumerate() {
            // Scattered rows: each is asked for a few rows ahead, so their loads overlap.
            if let Some(ahead) = rows.get(c * GATHER_ROWS + i + GATHER_AHEAD) {
                crate::simd::prefetch(code(*ahead).unwrap_or_default());
            }
            match code(row) {
                Some(code) => gathered.extend_from_slice(code),
                None => gathered.resize(gathered.len() + stride, 0),
            }
        }
        let out = &mut out[..chunk.len()];
        kernel(&gathered, out);
        for (&row, &o) in chunk.iter().zip(out.iter()) {
            nearest.offer(key(row as usize, o), row);
        }
    }
    nearest
        .finish(|at| (0, at))
        .into_iter()
        .map(|(k, _, row)| (k, row))
        .collect()
}

/// The rows a search with [`SearchParams::sketch_pool`] `fraction` scans with int8 codes:
/// the `max(⌈fraction × rows⌉, keep)` live rows whose codes' sign sketches are nearest the
/// query's signs in Hamming distance (ties: the lower row), ascending. `None` where the
/// block keeps no sketches (a live segment) or the pool would hold every live row.
/// (Filtered searches count the rows a filter fails as deleted, so the pool is drawn from
/// the passing rows.)
///
/// [`SearchParams::sketch_pool`]: crate::SearchParams::sketch_pool
fn sketch_pool(rows: &dyn Rows, q: &PreparedQuery, fraction: f32, keep: usize) -> Option<Vec<u32>> {
    let sketch = rows.scalar_sketch();
    let (n, deleted) = (rows.len(), rows.deleted());
    let pool = ((n as f64 * f64::from(fraction)).ceil() as usize).max(keep);
    if sketch.is_empty() || pool >= n.saturating_sub(deleted.ones()) {
        return None;
    }
    let mut signs = vec![0u64; rows.dim().div_ceil(64)];
    crate::quant::binary::encode_one_bit(&q.vector, 0.0, &mut signs);
    let mut nearest = Nearest::new(pool);
    nearest.offer_hamming(q.kernels, &signs, sketch, (n, deleted), 0);
    let mut pooled: Vec<u32> = nearest
        .finish(|at| (0, at))
        .into_iter()
        .map(|(_, _, row)| row as u32)
        .collect();
    pooled.sort_unstable();
    Some(pooled)
}

/// A segment where at most one row in this many is live (not deleted, passing a filter)
/// has only its live rows' codes read: 1-bit codes in place, int8 codes gathered. Above
/// it every code is compared and the live rows kept among the nearest. Measured on
/// debian-minilm-384 (60,703 rows, rescoring at oversampling 4, AVX2, p50 against the
/// same query unfiltered):
/// - int8: live rows gathered, 34 % live 0.73×, 12.7 % 0.31×, 0.7 % 0.04×; at 74 %
///   gathered 1.35× (copying a 384-byte code costs about half of comparing it), every
///   code compared 1.00×;
/// - 1-bit: live rows read in place, 34 % 1.04–1.09×, 74 % 1.30×; every code compared,
///   34 % 1.40× (the nearest rows seen are mostly not live, so the bound on distances
///   tightens late), 74 % 1.01–1.09×.
const SPARSE_FRACTION: usize = 2;

/// Rows gathered at a time by [`scan_live`]: their codes stay in the CPU's L1/L2 cache.
const GATHER_ROWS: usize = 256;

/// How many rows ahead [`nearest_gathered`] asks for the codes it will gather.
const GATHER_AHEAD: usize = 8;

fn rescore_rows(
    rows: &dyn Rows,
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    which: impl Iterator<Item = usize>,
) -> Vec<Hit> {
    rescore_picks(
        seg,
        q,
        limit,
        which.map(|row| (0, rows, row, f32::NEG_INFINITY)),
    )
}

/// The best `limit` of `(block, rows, row, bound)` by the score of the originals; block
/// `b` is `seg + b` in the search's list. `bound` is a key no nearer than the row's own
/// (`-∞`: none known); given in increasing order, rescoring stops at the first that no
/// longer beats the `limit`-th best key rescored.
fn rescore_picks<'a>(
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    which: impl Iterator<Item = (usize, &'a dyn Rows, usize, f32)>,
) -> Vec<Hit> {
    let mut scratch = Vec::new();
    let mut top = TopK::new(limit);
    let which: Vec<(usize, &dyn Rows, usize, f32)> = which.collect();
    let prefetch = |i: usize| {
        if let Some(&(_, rows, row, _)) = which.get(i) {
            rows.originals().prefetch_row(row, rows.dim());
            rows.prefetch_id(row);
        }
    };
    (0..RESCORE_AHEAD).for_each(prefetch);
    for (i, &(block, rows, row, bound)) in which.iter().enumerate() {
        if !top.admits(bound) {
            break;
        }
        prefetch(i + RESCORE_AHEAD);
        let originals = rows.originals();
        let score = q.score(originals.row(row, rows.dim(), q.kernels, &mut scratch));
        let key = q.key(score);
        if top.admits(key) {
            top.push(Hit {
                key,
                score,
                id: rows.id(row),
                seg: seg + block,
                row,
            });
        }
    }
    top.into_sorted()
}

/// How many rows ahead rescoring asks for the originals it will read: scattered over the
/// segment, each is a wait on memory otherwise. Measured on debian-minilm-384 (60,703
/// rows, AVX2, 120 rows rescored per query under a filter): 0.144 → 0.133 ms p50 in three
/// runs of 1,000 queries; 2 and 8 measured alike.
const RESCORE_AHEAD: usize = 4;

/// Scores `pool` with the asymmetric query and keeps the best `keep`, as
/// `(distance / (2^bits − 1), block, row)`, nearest first (ties: earlier block, then lower
/// row, first).
///
/// A cascade: the symmetric scan picked `pool` (`ASYM_POOL_FACTOR` × the candidates); its
/// codes are gathered and scored against every query bit plane in one pass, so the
/// weighted popcounts cost a pass over a few hundred rows instead of `bits` passes over
/// the segment. With a pool of every row it is the full asymmetric scan.
fn asym_rerank(
    blocks: &[&dyn Rows],
    q: &PreparedQuery,
    pool: &[(u32, usize, usize)],
    keep: usize,
) -> Vec<(f32, usize, usize)> {
    let Some(first) = blocks.first() else {
        return Vec::new();
    };
    let words = first.code_words();
    let mut gathered = Vec::with_capacity(pool.len() * words);
    for &(_, block, row) in pool {
        let codes = blocks.get(block).map(|b| b.codes()).unwrap_or_default();
        gathered.extend_from_slice(
            codes
                .get(row * words..(row + 1) * words)
                .unwrap_or_default(),
        );
    }
    let asym = AsymQuery::new(&q.vector, first.multi_bit(), words, q.asym_bits);
    let mut total = vec![0u32; pool.len()];
    q.kernels
        .weighted_hamming_many(&asym.planes, &gathered, words, &mut total);
    let mut scored: Vec<(u32, usize, usize)> = total
        .into_iter()
        .zip(pool)
        .map(|(d, &(_, block, row))| (d, block, row))
        .collect();
    scored.sort_unstable();
    scored.truncate(keep);
    let levels = asym.levels() as f32;
    scored
        .into_iter()
        .map(|(d, block, row)| (d as f32 / levels, block, row))
        .collect()
}

/// The `candidates` live rows of `blocks` nearest in Hamming distance (ties: earlier
/// block, then lower row, first), as `(distance, block, row)`. Linear: one pass for
/// distances and one that selects ([`Nearest`]), however many blocks. Where some rows are
/// not live (deleted, or rejected by a filter), only the live rows' codes are read, in
/// place, and only their distances ranked.
fn binary_candidates(
    blocks: &[&dyn Rows],
    code: &[u64],
    q: &PreparedQuery,
    candidates: usize,
) -> Vec<(u32, usize, usize)> {
    let n: usize = blocks.iter().map(|b| b.len()).sum();
    let excluded: usize = blocks.iter().map(|b| b.deleted().ones()).sum();
    let mut nearest = Nearest::new(candidates);
    // Distances are taken `SCAN_ROWS` at a time into a buffer that stays in L1.
    let mut dist = [0u32; SCAN_ROWS];
    if excluded > n - n / SPARSE_FRACTION {
        // Positions index the live rows of every block, in order.
        let live: Vec<Vec<u32>> = blocks.iter().map(|&b| live_rows(b)).collect();
        let mut at = 0u32;
        for (b, rows) in blocks.iter().zip(&live) {
            for rows in rows.chunks(SCAN_ROWS) {
                let out = &mut dist[..rows.len()];
                q.kernels.hamming_rows(code, b.codes(), rows, out);
                for &d in out.iter() {
                    nearest.offer(d, at);
                    at += 1;
                }
            }
        }
        let starts = starts(live.iter().map(Vec::len));
        return nearest.finish(|at| {
            let (block, i) = place(&starts, at);
            let row = live.get(block).and_then(|l| l.get(i)).copied();
            (block, row.map_or(usize::MAX, |r| r as usize))
        });
    }
    // Positions index the rows of every block, in order.
    let starts = starts(blocks.iter().map(|b| b.len()));
    for (b, &start) in blocks.iter().zip(&starts) {
        nearest.offer_hamming(q.kernels, code, b.codes(), (b.len(), b.deleted()), start);
    }
    nearest.finish(|at| place(&starts, at))
}

/// What a search does with the candidates its codes picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rescore {
    /// Report the codes' estimates.
    Off,
    /// Rescore every candidate with the originals.
    All,
    /// Rescore candidates nearest lower bound first, until the next one's bound cannot
    /// beat the `limit`-th best rescored (RaBitQ's re-ranking).
    UntilSettled,
}

/// The search of blocks that all have rotated codes (a sealed segment, or the live
/// segment's chunks): one pool of `candidates` across them, then rescoring (or their
/// estimates as scores). The query is prepared once per distinct quantizer.
///
/// [`Rescore::UntilSettled`] orders the pool by each estimate's lower bound
/// ([`RotatedQuery::lower_bound`]) and stops at the first candidate whose bound is above
/// the `limit`-th best score rescored so far: with the bound holding, no candidate left,
/// and no row outside the pool with a bound at least as far, could enter the result.
fn rotated_search(
    blocks: &[(&dyn Rows, RotatedCodes<'_>)],
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    candidates: usize,
    rescore: Rescore,
) -> Vec<Hit> {
    let mut prepared: Vec<(&Rotated, RotatedQuery)> = Vec::new();
    let mut scans = Vec::with_capacity(blocks.len());
    for &(rows, codes) in blocks {
        let at = match prepared.iter().position(|(p, _)| *p == codes.params) {
            Some(at) => at,
            None => {
                let rq = codes.params.prepare(q.distance, &q.vector, q.kernels);
                prepared.push((codes.params, rq));
                prepared.len() - 1
            }
        };
        scans.push((rows, codes, at));
    }
    let scans: Vec<(&dyn Rows, RotatedCodes<'_>, &RotatedQuery)> = scans
        .into_iter()
        .filter_map(|(rows, codes, at)| Some((rows, codes, &prepared.get(at)?.1)))
        .collect();
    let picked = rotated_candidates(&scans, q.kernels, candidates);
    let bounds = picked.iter().filter_map(|&(key, block, row)| {
        let (rows, codes, rq) = scans.get(block)?;
        let bound = match rescore {
            Rescore::UntilSettled => q.key(rq.score(rq.lower_bound(key, codes.row(row)))),
            _ => f32::NEG_INFINITY,
        };
        Some((block, *rows, row, bound))
    });
    match rescore {
        Rescore::All => rescore_picks(seg, q, limit, bounds),
        Rescore::UntilSettled => {
            let mut bounds: Vec<_> = bounds.collect();
            bounds.sort_by(|a, b| a.3.total_cmp(&b.3));
            rescore_picks(seg, q, limit, bounds.into_iter())
        }
        Rescore::Off => {
            let mut hits: Vec<Hit> = picked
                .into_iter()
                .take(limit)
                .filter_map(|(key, block, row)| {
                    let (rows, _, rq) = scans.get(block)?;
                    Some(Hit::keyed(*rows, seg + block, q, row, q.key(rq.score(key))))
                })
                .collect();
            hits.sort_unstable_by(Hit::cmp);
            hits
        }
    }
}

/// The `candidates` live rows of `scans` (blocks with their codes and prepared query)
/// with the smallest estimated keys (ties: earlier block, then lower row), nearest first,
/// as `(key, block, row)`. The codes are scanned a run of up to [`SCAN_ROWS`] rows (whole
/// blocks of 32) at a time, skipping blocks of 32 without a live row; each row's lookup
/// sum becomes an estimate through its factors, and one [`Nearest`] keeps the best of
/// every block under a running bound.
fn rotated_candidates(
    scans: &[(&dyn Rows, RotatedCodes<'_>, &RotatedQuery)],
    kernels: &Kernels,
    candidates: usize,
) -> Vec<(f32, usize, usize)> {
    let starts = starts(scans.iter().map(|(rows, ..)| rows.len()));
    let mut nearest = Nearest::new(candidates);
    let mut sums = [0u32; SCAN_ROWS];
    let mut keys = [0u32; SCAN_ROWS];
    for (&(rows, codes, rq), &start) in scans.iter().zip(&starts) {
        let n = rows.len();
        let deleted = rows.deleted();
        let block_len = BLOCK_ROWS * codes.params.code_bytes();
        let blocks = n.div_ceil(BLOCK_ROWS);
        // True when some row of block `b` is live.
        let live_block = |b: usize| {
            let word = deleted.words().get(b / 2).copied().unwrap_or(0) >> (32 * (b % 2));
            let rows_in = (n - b * BLOCK_ROWS).min(BLOCK_ROWS);
            (!word as u32) & (u32::MAX >> (32 - rows_in)) != 0
        };
        let check = deleted.ones() > 0;
        let mut b = 0;
        while b < blocks {
            if check && !live_block(b) {
                b += 1;
                continue;
            }
            // A run of live blocks, at most SCAN_ROWS rows.
            let mut end = b + 1;
            while end < blocks && end - b < SCAN_ROWS / BLOCK_ROWS && (!check || live_block(end)) {
                end += 1;
            }
            let run = codes
                .blocks
                .get(b * block_len..end * block_len)
                .unwrap_or_default();
            let out = &mut sums[..(end - b) * BLOCK_ROWS];
            rq.lookup_sums(kernels, run, out);
            let first = b * BLOCK_ROWS;
            let last = (end * BLOCK_ROWS).min(n);
            let factors = codes.factors.get(first..last).unwrap_or_default();
            let centroids = codes.centroids.get(first..last).unwrap_or_default();
            // Estimates in one pass (no branch), then the few below the bound offered.
            let keys = &mut keys[..factors.len().min(centroids.len())];
            kernels.rotated_keys(&rq.terms, out, factors, centroids, keys);
            let at = (start + first) as u32;
            nearest.offer_all(kernels, keys, at, |i| check && deleted.get(first + i));
            b = end;
        }
    }
    let mut picked: Vec<(f32, usize, usize)> = nearest
        .finish(|at| place(&starts, at))
        .into_iter()
        .map(|(key, block, row)| (unordered(key), block, row))
        .collect();
    picked.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    picked
}

/// Rows whose Hamming distances are taken at a time by [`binary_candidates`]: 4 KiB of
/// distances, read back from L1 while the next codes stream in, instead of a distance
/// per row of the segment written to memory and read again.
const SCAN_ROWS: usize = 1024;

/// The block holding position `at` of rows laid end to end from `starts` (see [`starts`]),
/// and `at`'s offset in it.
fn place(starts: &[usize], at: usize) -> (usize, usize) {
    let block = starts.partition_point(|&s| s <= at).saturating_sub(1);
    (block, at - starts.get(block).copied().unwrap_or(0))
}

/// Where each of blocks of these lengths starts among their rows laid end to end.
fn starts(lens: impl Iterator<Item = usize>) -> Vec<usize> {
    lens.scan(0, |at, len| {
        let start = *at;
        *at += len;
        Some(start)
    })
    .collect()
}

/// The `keep` smallest of a stream of `(distance, position)` offered in increasing
/// position, ties to the earlier: one comparison per offer. What it holds is cut back to
/// the best `keep` whenever it reaches twice that, and from then on only a distance below
/// the worst one kept can enter (an equal one loses the tie to every one kept). Distances
/// come in random order, so the bound tightens within the first few hundred offers and
/// almost every later one is a single, predictable comparison: no histogram of every
/// distance and no second pass over them. Each offer is kept as one `u64`, distance above
/// position, so a cut compares integers. Positions are a segment's rows (or its live
/// ones), fewer than 2^32 (the segment format's limit on rows).
struct Nearest {
    keep: usize,
    kept: Vec<u64>,
    /// Only distances below this enter (`u32::MAX`, a row that is not there, never does).
    bound: u32,
}

impl Nearest {
    fn new(keep: usize) -> Self {
        Nearest {
            keep,
            kept: Vec::with_capacity(2 * keep),
            bound: if keep == 0 { 0 } else { u32::MAX },
        }
    }

    #[inline]
    fn offer(&mut self, d: u32, at: u32) {
        if d < self.bound {
            self.kept.push(u64::from(d) << 32 | u64::from(at));
            if self.kept.len() >= 2 * self.keep {
                self.cut();
            }
        }
    }

    /// Offers each of `keys` at positions `at, at + 1, …`, except those `skip` rejects (by
    /// index in `keys`), which is asked only of keys below the bound. The keys below the
    /// bound are first marked by one vector kernel ([`Kernels::below`]), so the usual key,
    /// not below it, costs no comparison and no branch of its own; a key marked against a
    /// bound that has since tightened is compared again before it is offered.
    #[inline]
    fn offer_all(
        &mut self,
        kernels: &Kernels,
        keys: &[u32],
        at: u32,
        skip: impl Fn(usize) -> bool,
    ) {
        let mut marks = [0u64; SCAN_ROWS / 64];
        for (c, chunk) in keys.chunks(SCAN_ROWS).enumerate() {
            let marks = &mut marks[..chunk.len().div_ceil(64)];
            kernels.below(chunk, self.bound, marks);
            for (w, &word) in marks.iter().enumerate() {
                let mut word = word;
                while word != 0 {
                    let i = SCAN_ROWS * c + 64 * w + word.trailing_zeros() as usize;
                    word &= word - 1;
                    let k = keys.get(i).copied().unwrap_or(u32::MAX);
                    if k < self.bound && !skip(i) {
                        self.offer(k, at + i as u32);
                    }
                }
            }
        }
    }

    /// Offers the Hamming distances of `code` to each of the `n` row codes in `codes`
    /// (`code.len()` words each) at positions `start, start + 1, …`, skipping the rows in
    /// `deleted`, which is asked only of rows near enough to enter. Distances are taken
    /// [`SCAN_ROWS`] rows at a time into a buffer that stays in L1.
    fn offer_hamming(
        &mut self,
        kernels: &Kernels,
        code: &[u64],
        codes: &[u64],
        (n, deleted): (usize, &Bitmap),
        start: usize,
    ) {
        let words = code.len().max(1);
        let check = deleted.ones() > 0;
        let mut dist = [0u32; SCAN_ROWS];
        for (chunk, codes) in codes.chunks(SCAN_ROWS * words).enumerate() {
            let first = chunk * SCAN_ROWS;
            let out = &mut dist[..(codes.len() / words).min(n.saturating_sub(first))];
            kernels.hamming_many(code, codes, out);
            let at = (start + first) as u32;
            self.offer_all(kernels, out, at, |i| check && deleted.get(first + i));
        }
    }

    /// Keeps the best `keep` (by distance, then position).
    fn cut(&mut self) {
        if self.keep > 0 && self.kept.len() > self.keep {
            self.kept.select_nth_unstable(self.keep - 1);
            self.kept.truncate(self.keep);
            self.bound = self
                .kept
                .get(self.keep - 1)
                .map_or(u32::MAX, |&k| (k >> 32) as u32);
        }
    }

    /// The best `keep` offered, by position, as `(distance, block, row)` with `locate`
    /// giving a position's block and row.
    fn finish(mut self, locate: impl Fn(usize) -> (usize, usize)) -> Vec<(u32, usize, usize)> {
        self.cut();
        self.kept.sort_unstable_by_key(|&k| k as u32);
        self.kept
            .into_iter()
            .map(|k| {
                let (block, row) = locate(k as u32 as usize);
                ((k >> 32) as u32, block, row)
            })
            .collect()
    }
}

/// Merges per-segment results into the best `limit`.
pub(crate) fn merge(lists: Vec<Vec<Hit>>, limit: usize) -> Vec<Hit> {
    let mut all: Vec<Hit> = lists.into_iter().flatten().collect();
    all.sort_unstable_by(Hit::cmp);
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Datatype;
    use crate::quant::binary::{encode_one_bit, threshold};
    use crate::segment::Bitmap;
    use crate::segment::live::{ColumnShape, LiveChunk, LiveRows};

    const DIM: usize = 64;

    fn vector(seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..DIM)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn chunk(rows: std::ops::Range<u64>) -> LiveChunk {
        let mut c = LiveChunk::new(&[ColumnShape {
            rotated: None,
            dim: DIM,
            datatype: Datatype::F32,
            code_words: 1,
            offsets: false,
            means: false,
        }]);
        for i in rows {
            let bytes: Vec<u8> = vector(i).iter().flat_map(|x| x.to_le_bytes()).collect();
            c.push(i + 1, PointId::Num(i), &[&bytes], None);
        }
        c
    }

    /// The candidates are the live rows nearest in Hamming distance, ties to the earlier
    /// row, whether few rows are live (codes gathered) or many (every code compared).
    #[test]
    fn binary_candidates_are_the_nearest_live_rows_at_every_density() {
        // The second block spans several scans of `SCAN_ROWS`.
        let chunks = [chunk(0..300), chunk(300..2900)];
        for keep_one_in in [1u64, 2, 3, 5, 40, 1000] {
            let deleted: Vec<Bitmap> = [(0u64, 300u64), (300, 2900)]
                .iter()
                .map(|&(from, to)| {
                    let mut b = Bitmap::with_len((to - from) as usize);
                    for i in (from..to).filter(|i| (i * 7919) % keep_one_in != 0) {
                        b.set((i - from) as usize);
                    }
                    b
                })
                .collect();
            let views: Vec<LiveRows<'_>> = chunks
                .iter()
                .zip(&deleted)
                .map(|(chunk, deleted)| LiveRows { chunk, deleted })
                .collect();
            let blocks: Vec<&dyn Rows> = views.iter().map(|b| b as &dyn Rows).collect();
            for seed in 7000..7010 {
                let v = vector(seed);
                let mut code = vec![0u64; 1];
                encode_one_bit(&v, threshold(Datatype::F32), &mut code);
                let q = PreparedQuery {
                    vector: v,
                    code: code.clone(),
                    asym_bits: 0,
                    distance: Distance::Dot,
                    kernels: crate::simd::Kernels::detect(),
                };
                let mut oracle: Vec<(u32, usize, usize)> = Vec::new();
                for (block, b) in blocks.iter().enumerate() {
                    for row in (0..b.len()).filter(|&r| !b.deleted().get(r)) {
                        let c = b.codes()[row];
                        oracle.push(((c ^ code[0]).count_ones(), block, row));
                    }
                }
                oracle.sort_unstable();
                for candidates in [1, 10, 37, 2000] {
                    let mut want: Vec<_> = oracle.iter().copied().take(candidates).collect();
                    want.sort_unstable_by_key(|&(_, block, row)| (block, row));
                    let got = binary_candidates(&blocks, &code, &q, candidates);
                    assert_eq!(
                        got, want,
                        "1 in {keep_one_in} live, {candidates} candidates"
                    );
                }
            }
        }
    }

    /// The rotated scan's candidates are the live rows with the smallest estimates (ties
    /// to the lower row), at every density and with 1 and 2 bits: blocks of 32 without a
    /// live row skipped, runs of several scans, a last block part full. The oracle scores
    /// each row alone from its row-major code and the tables' definition.
    #[test]
    fn rotated_candidates_are_the_best_estimated_live_rows_at_every_density() {
        for bits in [1, 2] {
            rotated_candidates_match_the_oracle(bits);
        }
    }

    /// `n` rows of test vectors (Euclid) with `bits`-bit rotated codes trained on them.
    struct RotatedRows {
        chunk: LiveChunk,
        params: Rotated,
        /// Each row's code, row-major.
        row_major: Vec<u8>,
        terms: Vec<crate::quant::rotated::RowFactors>,
        blocks: Vec<u8>,
        factors: Vec<[f32; 2]>,
        centroids: Vec<u8>,
    }

    impl RotatedRows {
        fn new(bits: u32, n: u64) -> Self {
            use crate::quant::rotated::{blocks_len, transpose_into};
            let kernels = crate::simd::Kernels::detect();
            let vectors: Vec<Vec<f32>> = (0..n).map(vector).collect();
            let params = Rotated::train(DIM, bits, n as usize, &vectors, kernels);
            let stride = params.code_bytes();
            let (mut row_major, mut terms) = (Vec::new(), Vec::new());
            for v in &vectors {
                let mut code = vec![0u64; stride / 8];
                terms.push(params.encode(Distance::Euclid, v, kernels, &mut code));
                row_major.extend(code.iter().flat_map(|w| w.to_le_bytes()));
            }
            let mut blocks = vec![0u8; blocks_len(n as usize, stride)];
            transpose_into(&row_major, stride, &mut blocks);
            RotatedRows {
                chunk: chunk(0..n),
                factors: terms.iter().map(|t| t.factors).collect(),
                centroids: terms.iter().map(|t| t.centroid).collect(),
                params,
                row_major,
                terms,
                blocks,
            }
        }

        fn codes(&self) -> RotatedCodes<'_> {
            RotatedCodes {
                params: &self.params,
                blocks: &self.blocks,
                factors: &self.factors,
                centroids: &self.centroids,
            }
        }
    }

    fn rotated_candidates_match_the_oracle(bits: u32) {
        let kernels = crate::simd::Kernels::detect();
        let n = 2_500u64;
        let fixture = RotatedRows::new(bits, n);
        let (c, params, row_major, terms) = (
            &fixture.chunk,
            &fixture.params,
            &fixture.row_major,
            &fixture.terms,
        );
        let stride = params.code_bytes();
        assert_eq!(stride, 8 * bits as usize);
        let codes = fixture.codes();
        for keep_one_in in [1u64, 2, 3, 40, 1000] {
            let mut deleted = Bitmap::with_len(n as usize);
            for i in (0..n).filter(|i| (i * 7919) % keep_one_in != 0) {
                deleted.set(i as usize);
            }
            let rows = LiveRows {
                chunk: c,
                deleted: &deleted,
            };
            for seed in 9000..9004 {
                let rq = params.prepare(Distance::Euclid, &vector(seed), kernels);
                let mut oracle: Vec<(f32, usize)> = (0..n as usize)
                    .filter(|&r| !deleted.get(r))
                    .map(|r| {
                        // Plane p's bytes weigh 2^(bits − 1 − p).
                        let sum: u32 = row_major[stride * r..stride * (r + 1)]
                            .iter()
                            .enumerate()
                            .map(|(j, &b)| {
                                let t = &rq.luts[32 * (j % 8)..32 * (j % 8) + 32];
                                let weight = 1 << (bits as usize - 1 - j / 8);
                                weight
                                    * (u32::from(t[usize::from(b & 15)])
                                        + u32::from(t[16 + usize::from(b >> 4)]))
                            })
                            .sum();
                        (rq.key(sum, terms[r]), r)
                    })
                    .collect();
                oracle.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let one = [(&rows as &dyn Rows, codes, &rq)];
                // The same block twice: one pool across blocks, ties to the earlier one.
                let two = [one[0], one[0]];
                let mut both: Vec<(f32, usize, usize)> = oracle
                    .iter()
                    .flat_map(|&(key, row)| [(key, 0, row), (key, 1, row)])
                    .collect();
                both.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
                for candidates in [1, 10, 37, 3000] {
                    let want: Vec<_> = oracle
                        .iter()
                        .map(|&(key, row)| (key, 0, row))
                        .take(candidates)
                        .collect();
                    let got = rotated_candidates(&one, kernels, candidates);
                    assert_eq!(
                        got, want,
                        "{bits} bits, 1 in {keep_one_in} live, {candidates} candidates"
                    );
                    let want: Vec<_> = both.iter().copied().take(candidates).collect();
                    let got = rotated_candidates(&two, kernels, candidates);
                    assert_eq!(
                        got, want,
                        "two blocks, {bits} bits, 1 in {keep_one_in} live"
                    );
                }
            }
        }
    }

    /// Rescoring with bounds walks the candidates in bound order and stops at the first
    /// bound that no longer beats the `limit`-th best rescored: with bounds that hold, the
    /// result is the best `limit` of every candidate (brute force); a candidate whose bound
    /// lies (above its true key, past the stop) is never read, where rescoring every
    /// candidate finds it.
    #[test]
    fn bounded_rescoring_stops_at_the_first_bound_that_cannot_enter() {
        let n = 300u64;
        let c = chunk(0..n);
        let deleted = Bitmap::with_len(n as usize);
        let rows = LiveRows {
            chunk: &c,
            deleted: &deleted,
        };
        let q = PreparedQuery {
            vector: vector(5000),
            code: Vec::new(),
            asym_bits: 0,
            distance: Distance::Dot,
            kernels: crate::simd::Kernels::detect(),
        };
        let exact: Vec<f32> = (0..n).map(|r| q.key(q.score(&vector(r)))).collect();
        let mut by_key: Vec<usize> = (0..n as usize).collect();
        by_key.sort_by(|&a, &b| exact[a].total_cmp(&exact[b]));
        let ids = |hits: Vec<Hit>| -> Vec<PointId> { hits.iter().map(|h| h.id).collect() };
        let best = |skip: Option<usize>| -> Vec<PointId> {
            by_key
                .iter()
                .filter(|&&r| Some(r) != skip)
                .take(10)
                .map(|&r| PointId::Num(r as u64))
                .collect()
        };
        // Bounds below each true key by varying margins, in increasing order.
        let mut picks: Vec<(usize, &dyn Rows, usize, f32)> = (0..n as usize)
            .map(|r| (0, &rows as &dyn Rows, r, exact[r] - (r % 7) as f32 * 0.3))
            .collect();
        picks.sort_by(|a, b| a.3.total_cmp(&b.3));
        assert_eq!(
            ids(rescore_picks(0, &q, 10, picks.iter().copied())),
            best(None)
        );
        // The nearest row's bound lies: far above its key, last in bound order.
        let liar = by_key[0];
        for p in picks.iter_mut().filter(|p| p.2 == liar) {
            p.3 = f32::MAX;
        }
        picks.sort_by(|a, b| a.3.total_cmp(&b.3));
        assert_eq!(
            ids(rescore_picks(0, &q, 10, picks.iter().copied())),
            best(Some(liar))
        );
        let all = picks
            .iter()
            .map(|&(b, r, row, _)| (b, r, row, f32::NEG_INFINITY));
        assert_eq!(ids(rescore_picks(0, &q, 10, all)), best(None));
    }

    /// Rescoring rotated candidates until the bound settles the top `limit` finds what
    /// rescoring every candidate finds whenever the bound holds for every candidate
    /// (checked against the originals, query by query), with 1 and 2 bits.
    #[test]
    fn bounded_rotated_search_matches_full_rescoring_where_the_bound_holds() {
        let kernels = crate::simd::Kernels::detect();
        for bits in [1, 2] {
            let fixture = RotatedRows::new(bits, 2_000);
            let deleted = Bitmap::with_len(2_000);
            let rows = LiveRows {
                chunk: &fixture.chunk,
                deleted: &deleted,
            };
            let blocks = [(&rows as &dyn Rows, fixture.codes())];
            let mut held = 0;
            for seed in 9000..9030 {
                let q = PreparedQuery {
                    vector: vector(seed),
                    code: Vec::new(),
                    asym_bits: 0,
                    distance: Distance::Euclid,
                    kernels,
                };
                let rq = fixture.params.prepare(Distance::Euclid, &q.vector, kernels);
                let picked = rotated_candidates(&[(&rows, fixture.codes(), &rq)], kernels, 80);
                let holds = picked.iter().all(|&(key, _, row)| {
                    let bound = rq.lower_bound(key, fixture.codes().row(row));
                    bound <= kernels.l2sq(&q.vector, &vector(row as u64))
                });
                if !holds {
                    continue;
                }
                held += 1;
                let search = |rescore| {
                    rotated_search(&blocks, 0, &q, 10, 80, rescore)
                        .iter()
                        .map(|h| (h.id, h.score))
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    search(Rescore::UntilSettled),
                    search(Rescore::All),
                    "{bits} bits, query {seed}"
                );
            }
            assert!(
                held >= 10,
                "{bits} bits: the bound held for only {held} queries"
            );
        }
    }

    /// The scalar scan keeps the live rows with the smallest keys, ties to the lower row,
    /// whether their codes are gathered (few live, across several gather batches) or every
    /// code is compared (many live, across several runs of `SCAN_ROWS`). The oracle scores
    /// each live row alone and sorts.
    #[test]
    fn scalar_scan_keeps_the_best_live_rows_at_every_density() {
        let (rows, stride) = (2500usize, 5usize);
        let codes: Vec<u8> = (0..rows * stride).map(|i| (i * 37 % 251) as u8).collect();
        let weights = [3i64, -1, 4, -1, 5];
        let kernel = |c: &[u8], out: &mut [i64]| {
            for (row, o) in c.chunks_exact(stride).zip(out.iter_mut()) {
                *o = row
                    .iter()
                    .zip(&weights)
                    .map(|(&b, w)| i64::from(b) * w)
                    .sum();
            }
        };
        // Keys with many ties: the kernel's output folded onto a few hundred values,
        // shifted by the row so that the row takes part.
        let key = |row: usize, raw: i64| ((raw + row as i64 % 3).rem_euclid(300)) as u32;
        for keep_one_in in [1usize, 2, 3, 5, 40, 1000, usize::MAX] {
            let mut deleted = Bitmap::with_len(rows);
            for i in
                (0..rows).filter(|i| keep_one_in == usize::MAX || (i * 7919) % keep_one_in != 0)
            {
                deleted.set(i);
            }
            let mut oracle: Vec<(u32, usize)> = (0..rows)
                .filter(|&row| !deleted.get(row))
                .map(|row| {
                    let mut one = [0i64];
                    kernel(&codes[row * stride..(row + 1) * stride], &mut one);
                    (key(row, one[0]), row)
                })
                .collect();
            oracle.sort_unstable();
            for keep in [0, 1, 10, 37, 3000] {
                let want: Vec<(u32, usize)> = oracle.iter().copied().take(keep).collect();
                let scan = CodeRows {
                    codes: &codes,
                    stride,
                    n: rows,
                    deleted: &deleted,
                    kernels: Kernels::detect(),
                };
                let mut got = nearest_codes(scan, kernel, key, keep);
                got.sort_unstable();
                assert_eq!(got, want, "1 in {keep_one_in} live, keep {keep}");
            }
        }
    }

    /// Searching a segment's rows as many blocks (chunks) gives the hits of searching them
    /// as one block: the same candidates, the same order, the same scores.
    #[test]
    fn blocks_search_like_one_segment() {
        let cuts = [0u64, 1, 8, 308, 320, 1000];
        let chunks: Vec<LiveChunk> = cuts.windows(2).map(|w| chunk(w[0]..w[1])).collect();
        let whole = chunk(0..1000);
        // Every 7th row is deleted, in the chunks and in the whole.
        let deleted_in = |from: u64, to: u64| {
            let mut b = Bitmap::default();
            for i in (from..to).filter(|i| i % 7 == 3) {
                b.set((i - from) as usize);
            }
            b
        };
        let chunk_deleted: Vec<Bitmap> = cuts.windows(2).map(|w| deleted_in(w[0], w[1])).collect();
        let whole_deleted = deleted_in(0, 1000);
        let blocks: Vec<LiveRows<'_>> = chunks
            .iter()
            .zip(&chunk_deleted)
            .map(|(chunk, deleted)| LiveRows { chunk, deleted })
            .collect();
        let blocks: Vec<&dyn Rows> = blocks.iter().map(|b| b as &dyn Rows).collect();
        let one = LiveRows {
            chunk: &whole,
            deleted: &whole_deleted,
        };
        for (asym_bits, rescore, candidates) in
            [(0, true, 40), (0, false, 40), (4, true, 25), (0, true, 1)]
        {
            for seed in 5000..5020 {
                let v = vector(seed);
                let mut code = vec![0u64; 1];
                encode_one_bit(&v, threshold(Datatype::F32), &mut code);
                let q = PreparedQuery {
                    vector: v,
                    code,
                    asym_bits,
                    distance: Distance::Dot,
                    kernels: crate::simd::Kernels::detect(),
                };
                let plan = Plan::Binary {
                    candidates,
                    rescore,
                    bounded: false,
                };
                let split: Vec<(PointId, f32)> = search_blocks(&blocks, 0, &q, 10, plan)
                    .iter()
                    .map(|h| (h.id, h.score))
                    .collect();
                let single: Vec<(PointId, f32)> = search_blocks(&[&one], 0, &q, 10, plan)
                    .iter()
                    .map(|h| (h.id, h.score))
                    .collect();
                assert_eq!(
                    split, single,
                    "asym {asym_bits} rescore {rescore} query {seed}"
                );
            }
        }
    }
}
