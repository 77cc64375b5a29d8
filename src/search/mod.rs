//! The two-stage search of one segment, and the merge across segments.
//!
//! Order everywhere is by `key` (the score, negated for higher-is-better distances, so that
//! smaller is always better) and then by point id, so ties are broken the same way in every
//! segment and in every run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::config::Distance;
use crate::point::PointId;
use crate::quant::binary::estimate_score;
use crate::segment::Rows;
use crate::simd::Kernels;

/// A query made ready for scoring.
#[derive(Debug)]
pub(crate) struct PreparedQuery {
    /// Normalized for Cosine.
    pub vector: Vec<f32>,
    /// The 1-bit code (empty without binary quantization).
    pub code: Vec<u64>,
    pub distance: Distance,
    pub kernels: &'static Kernels,
}

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
            let picked = binary_candidates(rows, q, candidates);
            if rescore {
                rescore_rows(rows, seg, q, limit, picked.into_iter().map(|(_, r)| r))
            } else {
                let dim = rows.dim();
                let mut hits: Vec<Hit> = picked
                    .into_iter()
                    .map(|(h, row)| {
                        let score = estimate_score(q.distance, h, dim);
                        Hit {
                            key: q.key(score),
                            score,
                            id: rows.id(row),
                            seg,
                            row,
                        }
                    })
                    .collect();
                hits.sort_unstable_by(Hit::cmp);
                hits.truncate(limit);
                hits
            }
        }
        _ => {
            let deleted = rows.deleted();
            let live = (0..rows.len()).filter(|&r| !deleted.get(r));
            rescore_rows(rows, seg, q, limit, live)
        }
    }
}

fn rescore_rows(
    rows: &dyn Rows,
    seg: usize,
    q: &PreparedQuery,
    limit: usize,
    which: impl Iterator<Item = usize>,
) -> Vec<Hit> {
    let originals = rows.originals();
    let dim = rows.dim();
    let mut scratch = Vec::new();
    let mut top = TopK::new(limit);
    for row in which {
        let score = q.score(originals.row(row, dim, q.kernels, &mut scratch));
        top.push(Hit {
            key: q.key(score),
            score,
            id: rows.id(row),
            seg,
            row,
        });
    }
    top.into_sorted()
}

/// The `candidates` live rows nearest in Hamming distance (ties: lower row first), as
/// `(distance, row)`. Linear: one pass for distances, one histogram, one collection pass.
fn binary_candidates(rows: &dyn Rows, q: &PreparedQuery, candidates: usize) -> Vec<(u32, usize)> {
    let n = rows.len();
    let deleted = rows.deleted();
    let mut dist = vec![0u32; n];
    q.kernels.hamming_many(&q.code, rows.codes(), &mut dist);
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
