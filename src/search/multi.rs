//! Search over one vector slot located through offsets: named vectors and multivectors.
//!
//! A row's score is `MaxSim`: for each query vector its best match among the row's
//! vectors, summed (a dense named vector is the case of one query vector and one row
//! vector, where this is the plain score). The quantized plans compute the same sum on the
//! codes' estimates, keep `candidates` rows, and rescore them with the originals.
//!
//! Work per row is `query vectors × row vectors` pair scores. The row's codes are read
//! from memory once and stay in L1 while every query vector is compared with them.
//!
//! The 1-bit MaxSim kernel is the cheapest pair score, so every other code family runs as
//! a cascade: a 1-bit MaxSim over every row picks a pool of a few times the rows kept,
//! and the family's own estimate ranks the pool. Asymmetric queries compare their 1-bit
//! codes first; 1.5- and 2-bit codes their first bit plane (level ≥ 1); int8 codes the
//! 1-bit sign sketches of the codes (a sealed multivector column makes them on first use,
//! see [`Column::sketch`]). On debian-minilm-tokens (AVX2) the first step is most of the
//! time and the pool costs no measurable recall (the pool constants below).

use super::{Hit, Plan, TopK};
use crate::config::Distance;
use crate::quant::binary::{AsymQuery, MultiBit, encode_one_bit, estimate_score};
use crate::quant::scalar::ScalarQuery;
use crate::segment::{Column, Originals, Rows, ScalarCodes};
use crate::simd::Kernels;

/// The cascade's pool for asymmetric multivector queries, in candidates. A point's
/// symmetric MaxSim sums one estimate per query vector, so it ranks points better than a
/// single vector's Hamming distance does (`ASYM_POOL_FACTOR` is 16 there). Measured on
/// debian-minilm-tokens, 1-bit codes, 8-bit queries, oversampling 2 (recall@10, p50, one
/// run each, AVX2, before the transposed weighted-popcount kernel): 16: 0.9860, 42.5 ms;
/// 4: 0.9860, 19.4 ms; 2: 0.9865, 18.2 ms; with that kernel 4: 0.9860, 16.6 ms; 2:
/// 0.9865, 13.9 ms.
const MULTI_ASYM_POOL_FACTOR: usize = 2;

/// The cascade's pool for multi-bit codes, whose first step compares only the first bit
/// plane (level ≥ 1, one bit per component). Measured as above, oversampling 2: 1.5-bit
/// 4: 0.9650, 12.4 ms; 2: 0.9645, 12.1 ms (17.5 ms scanning the whole codes); 2-bit 4:
/// 0.9825, 12.6 ms; 2: 0.9800, 12.3 ms (19.0 ms, 0.9825 scanning the whole codes).
const MULTI_PLANE_POOL_FACTOR: usize = 4;

/// The cascade's pool for scalar int8 codes of a multivector, whose first step compares
/// the codes' 1-bit sign sketches (kept in RAM, an eighth of the codes). Measured as above
/// (the int8 scan of every row: 0.9975, 67.3 ms without rescoring): without rescoring 4:
/// 0.9950, 11.4 ms; 8: 0.9970, 13.3 ms; with rescoring at oversampling 2, 4: 0.9995,
/// 15.6 ms; 8: 1.0000, 19.3 ms.
const MULTI_SKETCH_POOL_FACTOR: usize = 4;

/// A query for one slot: one or more vectors (normalized for Cosine) and their 1-bit codes.
#[derive(Debug)]
pub(crate) struct SlotQuery {
    pub vectors: Vec<Vec<f32>>,
    /// The 1-bit code of each query vector, back to back (empty without binary codes).
    pub codes: Vec<u64>,
    /// Bits per component of the asymmetric form (0: symmetric Hamming).
    pub asym_bits: u32,
    pub distance: Distance,
    pub kernels: &'static Kernels,
    /// The fraction of rows the mean-pooled first stage keeps before the code scan
    /// (`None`: scan every row).
    pub pooled_prefilter: Option<f32>,
}

impl SlotQuery {
    fn pair(&self, q: &[f32], v: &[f32]) -> f32 {
        let k = self.kernels;
        match self.distance {
            Distance::Cosine | Distance::Dot => k.dot(q, v),
            Distance::Euclid => k.l2sq(q, v).sqrt(),
            Distance::Manhattan => k.l1(q, v),
        }
    }

    fn key(&self, score: f32) -> f32 {
        if self.distance.higher_is_better() {
            -score
        } else {
            score
        }
    }

    /// The better of two pair scores.
    fn better(&self, a: f32, b: f32) -> f32 {
        if self.distance.higher_is_better() {
            a.max(b)
        } else {
            a.min(b)
        }
    }

    fn worst(&self) -> f32 {
        if self.distance.higher_is_better() {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        }
    }

    /// Exact `MaxSim` of the query with vectors `range` of `column`. The row's vectors are
    /// taken in tiles of about 16 KiB (converted to f32 once, borrowed when stored as
    /// f32), and every query vector is compared with a tile while it is in L1: in one
    /// kernel call per query vector and tile for Cosine and Dot, pair by pair for Euclid
    /// and Manhattan.
    pub(crate) fn exact(
        &self,
        column: &Column<'_>,
        range: std::ops::Range<usize>,
        scratch: &mut Scratch,
    ) -> f32 {
        let dim = column.dim.max(1);
        let tile = (EXACT_TILE_BYTES / (4 * dim)).max(1);
        scratch.best.clear();
        scratch.best.resize(self.vectors.len(), self.worst());
        let mut start = range.start;
        while start < range.end {
            let end = (start + tile).min(range.end);
            let values = start * dim..end * dim;
            let rows: &[f32] = match column.originals {
                Originals::F32(v) => v.get(values).unwrap_or_default(),
                Originals::F16(v) => {
                    let src = v.get(values).unwrap_or_default();
                    scratch.floats.resize(src.len(), 0.0);
                    self.kernels.f16_to_f32(src, &mut scratch.floats);
                    &scratch.floats
                }
                Originals::U8(v) => {
                    let src = v.get(values).unwrap_or_default();
                    scratch.floats.resize(src.len(), 0.0);
                    self.kernels.u8_to_f32(src, &mut scratch.floats);
                    &scratch.floats
                }
            };
            for (q, best) in self.vectors.iter().zip(scratch.best.iter_mut()) {
                if self.distance.higher_is_better() {
                    scratch.scores.resize(end - start, 0.0);
                    self.kernels.dot_many(q, rows, &mut scratch.scores);
                    *best = scratch.scores.iter().copied().fold(*best, f32::max);
                } else {
                    for v in rows.chunks_exact(dim) {
                        *best = self.better(*best, self.pair(q, v));
                    }
                }
            }
            start = end;
        }
        scratch.best.iter().sum()
    }
}

/// Bytes of f32 row vectors the exact MaxSim scan compares with every query vector at once.
const EXACT_TILE_BYTES: usize = 16 << 10;

/// How a block's codes are scored for one query.
enum CodeScorer<'a> {
    /// Binary codes: per query vector its code (or bit planes, asymmetric), and the bits
    /// per code the estimate divides by.
    Binary {
        codes: Vec<u64>,
        words: usize,
        asym: Vec<AsymQuery>,
        bits: usize,
        /// Multi-bit codes: each query vector's first plane (`first_words` words), which
        /// the cascade's first step compares with the rows' first planes (0 words for
        /// 1-bit codes).
        first: Vec<u64>,
        first_words: usize,
    },
    Scalar {
        codes: ScalarCodes<'a>,
        queries: Vec<ScalarQuery>,
        /// Cosine and Dot: each query's 16-bit codes (`256·hi + lo`), back to back, for the
        /// int8 MaxSim kernel.
        wide: Vec<i16>,
        /// When the column keeps sign sketches of its codes: each query vector's 1-bit
        /// code (`ceil(dim/64)` words), which the cascade's first step compares with them.
        signs: Vec<u64>,
    },
}

impl<'a> CodeScorer<'a> {
    fn new(q: &SlotQuery, column: &Column<'a>, plan: Plan) -> Option<Self> {
        match plan {
            Plan::Binary { .. } if column.code_words > 0 => {
                let words = column.code_words;
                let codes = match column.multi_bit {
                    Some(enc) => {
                        let mut c = vec![0u64; q.vectors.len() * words];
                        for (v, out) in q.vectors.iter().zip(c.chunks_exact_mut(words)) {
                            enc.encode(v, out);
                        }
                        c
                    }
                    None => q.codes.clone(),
                };
                let asym = if q.asym_bits > 0 {
                    q.vectors
                        .iter()
                        .map(|v| AsymQuery::new(v, column.multi_bit, words, q.asym_bits))
                        .collect()
                } else {
                    Vec::new()
                };
                let bits = match column.multi_bit {
                    Some(enc) => MultiBit::bits(enc.two_bits, column.dim),
                    None => column.dim,
                };
                // Multi-bit codes start with the plane of "level ≥ 1" bits.
                let first_words = if column.multi_bit.is_some() {
                    column.dim.div_ceil(64).min(words)
                } else {
                    0
                };
                let first = codes
                    .chunks_exact(words)
                    .flat_map(|c| c.get(..first_words).unwrap_or_default())
                    .copied()
                    .collect();
                Some(CodeScorer::Binary {
                    codes,
                    words,
                    asym,
                    bits,
                    first,
                    first_words,
                })
            }
            Plan::Scalar { .. } if let Some(codes) = column.scalar => {
                let queries: Vec<ScalarQuery> = q
                    .vectors
                    .iter()
                    .map(|v| codes.params.prepare(v, q.distance, codes.stride))
                    .collect();
                let wide = if q.distance.higher_is_better() {
                    queries
                        .iter()
                        .flat_map(|sq| sq.codes.iter().copied())
                        .collect()
                } else {
                    Vec::new()
                };
                let signs = if column.sketch.is_some() {
                    let words = column.dim.div_ceil(64);
                    let mut signs = vec![0u64; q.vectors.len() * words];
                    for (v, out) in q.vectors.iter().zip(signs.chunks_exact_mut(words)) {
                        encode_one_bit(v, 0.0, out);
                    }
                    signs
                } else {
                    Vec::new()
                };
                Some(CodeScorer::Scalar {
                    queries,
                    codes,
                    wide,
                    signs,
                })
            }
            _ => None,
        }
    }

    /// Whether the scorer runs as a cascade: asymmetric queries, and multi-bit codes,
    /// whose first step compares only the codes' first bit planes.
    fn is_cascade(&self) -> bool {
        match self {
            CodeScorer::Binary {
                asym, first_words, ..
            } => !asym.is_empty() || *first_words > 0,
            CodeScorer::Scalar { signs, .. } => !signs.is_empty(),
        }
    }

    /// The cascade's pool, in multiples of the rows kept.
    fn pool_factor(&self) -> usize {
        match self {
            CodeScorer::Binary { first_words, .. } if *first_words > 0 => MULTI_PLANE_POOL_FACTOR,
            CodeScorer::Binary { .. } => MULTI_ASYM_POOL_FACTOR,
            CodeScorer::Scalar { .. } => MULTI_SKETCH_POOL_FACTOR,
        }
    }

    /// The cascade's first step: the Hamming estimate on the codes' first planes
    /// (multi-bit codes), or on the whole codes (1-bit codes with asymmetric queries).
    fn estimate_first(
        &self,
        q: &SlotQuery,
        column: &Column<'_>,
        range: std::ops::Range<usize>,
        scratch: &mut Scratch,
    ) -> f32 {
        match self {
            CodeScorer::Binary {
                first,
                first_words,
                words,
                ..
            } if *first_words > 0 => {
                let row_codes = rows_of(column.codes, range, *words);
                scratch.plane.clear();
                for r in row_codes.chunks_exact(*words) {
                    scratch
                        .plane
                        .extend_from_slice(r.get(..*first_words).unwrap_or_default());
                }
                symmetric(
                    q,
                    first,
                    &scratch.plane,
                    *first_words,
                    column.dim,
                    &mut scratch.mins,
                )
            }
            CodeScorer::Binary {
                codes, words, bits, ..
            } => {
                let row_codes = rows_of(column.codes, range, *words);
                symmetric(q, codes, row_codes, *words, *bits, &mut scratch.mins)
            }
            CodeScorer::Scalar { signs, .. } if !signs.is_empty() => {
                let words = column.dim.div_ceil(64);
                let row_codes = rows_of(column.sketch(), range, words);
                symmetric(q, signs, row_codes, words, column.dim, &mut scratch.mins)
            }
            CodeScorer::Scalar { .. } => self.estimate(q, column, range, scratch),
        }
    }

    /// The estimated `MaxSim` of the query with vectors `range` of `column`.
    fn estimate(
        &self,
        q: &SlotQuery,
        column: &Column<'_>,
        range: std::ops::Range<usize>,
        scratch: &mut Scratch,
    ) -> f32 {
        let n = range.len();
        match self {
            CodeScorer::Binary {
                asym,
                codes,
                words,
                bits,
                ..
            } if asym.is_empty() => {
                let row_codes = rows_of(column.codes, range, *words);
                symmetric(q, codes, row_codes, *words, *bits, &mut scratch.mins)
            }
            CodeScorer::Binary {
                words, asym, bits, ..
            } => {
                let w = *words;
                let row_codes = rows_of(column.codes, range, w);
                scratch.dist.resize(n, 0);
                let mut total = 0.0;
                for a in asym {
                    q.kernels
                        .weighted_hamming_many(&a.planes, row_codes, w, &mut scratch.dist);
                    let d = scratch.dist.iter().copied().min().unwrap_or(0);
                    let h = d as f32 / a.levels() as f32;
                    total += estimate_score(q.distance, h, *bits);
                }
                total
            }
            CodeScorer::Scalar {
                codes,
                queries,
                wide,
                ..
            } if !wide.is_empty() => {
                // Cosine, Dot: the estimate grows with the integer dot product, so each
                // query's best vector is the one with the largest.
                let stride = codes.stride;
                let row_codes = rows_of(codes.codes, range, stride);
                scratch.raw.resize(queries.len(), 0);
                q.kernels
                    .max_dot_u8i16_many(wide, row_codes, stride, &mut scratch.raw);
                queries
                    .iter()
                    .zip(&scratch.raw)
                    .map(|(sq, &raw)| sq.score(q.distance, raw, 0.0))
                    .sum()
            }
            CodeScorer::Scalar { codes, queries, .. } => {
                let stride = codes.stride;
                let row_codes = rows_of(codes.codes, range.clone(), stride);
                let norm = |j: usize| codes.norms.get(range.start + j).copied().unwrap_or(0.0);
                let mut total = 0.0;
                for sq in queries {
                    let mut best = q.worst();
                    if q.distance == Distance::Manhattan {
                        scratch.dist.resize(n, 0);
                        q.kernels
                            .l1_u8_many(&sq.l1_codes, row_codes, &mut scratch.dist);
                        for (j, &r) in scratch.dist.iter().enumerate() {
                            best = q.better(best, sq.score(q.distance, i64::from(r), norm(j)));
                        }
                    } else {
                        scratch.dots.resize(n, 0);
                        q.kernels
                            .dot_u8i16_many(&sq.codes, row_codes, &mut scratch.dots);
                        for (j, &raw) in scratch.dots.iter().enumerate() {
                            best = q.better(best, sq.score(q.distance, raw, norm(j)));
                        }
                    }
                    total += best;
                }
                total
            }
        }
    }
}

/// The symmetric `MaxSim` estimate: for each query code (`words` words each in
/// `queries`), its least Hamming distance to the row codes, as a score over `bits` bits,
/// summed.
fn symmetric(
    q: &SlotQuery,
    queries: &[u64],
    row_codes: &[u64],
    words: usize,
    bits: usize,
    mins: &mut Vec<u32>,
) -> f32 {
    mins.resize(queries.len() / words.max(1), 0);
    q.kernels.min_hamming_many(queries, row_codes, words, mins);
    mins.iter()
        .map(|&h| estimate_score(q.distance, h as f32, bits))
        .sum()
}

/// Rows `range` of `stride` items each (empty if out of bounds).
fn rows_of<T>(items: &[T], range: std::ops::Range<usize>, stride: usize) -> &[T] {
    items
        .get(range.start * stride..range.end * stride)
        .unwrap_or_default()
}

#[derive(Default)]
pub(crate) struct Scratch {
    best: Vec<f32>,
    floats: Vec<f32>,
    scores: Vec<f32>,
    mins: Vec<u32>,
    raw: Vec<i64>,
    dist: Vec<u32>,
    dots: Vec<i64>,
    plane: Vec<u64>,
}

/// The best `limit` rows of one segment (`blocks`: a sealed one, or a live segment's
/// chunks, `seg`, `seg + 1`, … in the search's list) by `MaxSim` on slot `slot`. Rows
/// without a vector in the slot are skipped.
pub(crate) fn search_slot(
    blocks: &[&dyn Rows],
    seg: usize,
    slot: usize,
    q: &SlotQuery,
    limit: usize,
    plan: Plan,
) -> Vec<Hit> {
    let (candidates, rescore) = match plan {
        Plan::Exact => (limit, true),
        Plan::Binary {
            candidates,
            rescore,
            ..
        }
        | Plan::Scalar {
            candidates,
            rescore,
            ..
        } => (candidates, rescore),
    };
    let mut scratch = Scratch::default();
    let pooled_query: Option<Vec<f32>> = q
        .pooled_prefilter
        .filter(|_| q.distance.higher_is_better() && plan != Plan::Exact)
        .map(|_| {
            let mut sum = vec![0.0f32; q.vectors.first().map_or(0, Vec::len)];
            for v in &q.vectors {
                for (s, x) in sum.iter_mut().zip(v) {
                    *s += x;
                }
            }
            sum
        });
    let mut exact = TopK::new(limit);
    let keep = if rescore { candidates } else { limit };
    let mut estimated = TopK::new(keep);
    // The cascade's first step keeps a pool of rows that its second step ranks (sized by
    // the first cascading scorer: every block of one segment has the same codes).
    let mut pool: Option<TopK> = None;
    let mut scorers = Vec::with_capacity(blocks.len());
    let mut any_estimate = false;
    for (block, rows) in blocks.iter().enumerate() {
        let Some(column) = rows.column(slot) else {
            scorers.push(None);
            continue;
        };
        let scorer = CodeScorer::new(q, &column, plan);
        let deleted = rows.deleted();
        let mut scan: Vec<usize> = (0..rows.len())
            .filter(|&row| {
                !(column.range(row).is_empty() || deleted.ones() > 0 && deleted.get(row))
            })
            .collect();
        if let (Some(sum), Some(f), Some(_)) = (&pooled_query, q.pooled_prefilter, &scorer)
            && column.means.is_some()
        {
            let keep = ((scan.len() as f64 * f64::from(f)).ceil() as usize).max(candidates);
            if keep < scan.len() {
                let proxy = |row: usize| -> f32 {
                    column
                        .mean(row)
                        .map_or(f32::NEG_INFINITY, |m| q.kernels.dot(sum, m))
                };
                let mut scored: Vec<(f32, usize)> = scan.iter().map(|&r| (proxy(r), r)).collect();
                scored.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0));
                scored.truncate(keep);
                scan = scored.into_iter().map(|(_, r)| r).collect();
                scan.sort_unstable();
            }
        }
        let cascade = scorer.as_ref().is_some_and(CodeScorer::is_cascade);
        for row in scan {
            let range = column.range(row);
            let (score, into) = match &scorer {
                Some(s) if cascade => (
                    s.estimate_first(q, &column, range, &mut scratch),
                    pool.get_or_insert_with(|| TopK::new(keep.saturating_mul(s.pool_factor()))),
                ),
                Some(s) => (s.estimate(q, &column, range, &mut scratch), &mut estimated),
                None => (q.exact(&column, range, &mut scratch), &mut exact),
            };
            any_estimate |= scorer.is_some();
            into.push(Hit {
                key: q.key(score),
                score,
                id: rows.id(row),
                seg: seg + block,
                row,
            });
        }
        scorers.push(scorer);
    }
    for hit in pool.map(TopK::into_sorted).unwrap_or_default() {
        let block = hit.seg - seg;
        let (Some(Some(scorer)), Some(column)) = (
            scorers.get(block),
            blocks.get(block).and_then(|rows| rows.column(slot)),
        ) else {
            continue;
        };
        let score = scorer.estimate(q, &column, column.range(hit.row), &mut scratch);
        estimated.push(Hit {
            key: q.key(score),
            score,
            ..hit
        });
    }
    if any_estimate {
        for hit in estimated.into_sorted() {
            let hit = if rescore {
                let Some(column) = blocks.get(hit.seg - seg).and_then(|rows| rows.column(slot))
                else {
                    continue;
                };
                let score = q.exact(&column, column.range(hit.row), &mut scratch);
                Hit {
                    key: q.key(score),
                    score,
                    ..hit
                }
            } else {
                hit
            };
            exact.push(hit);
        }
    }
    exact.into_sorted()
}
