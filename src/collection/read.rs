//! The read path: `get`, `for_each_point` and `search` over the live segment and every
//! sealed one (refusing a segment whose checksum check failed).

use std::ops::Range;

use rayon::prelude::*;

use super::Collection;
use super::validate::query_vector;
use super::version::Loc;
use crate::config::{MAX_LIMIT, MAX_OVERSAMPLING, Quantization, SearchParams};
use crate::error::{Error, Result};
use crate::point::{Point, PointId, ScoredPoint};
use crate::quant;
use crate::search::{self, Plan, PreparedQuery};
use crate::segment::Rows;

impl Collection {
    /// The point with `id`, as stored (normalized for Cosine, rounded for F16).
    pub fn get(&self, id: impl Into<PointId>) -> Result<Option<Point>> {
        self.check_open()?;
        let id = id.into();
        let v = self.version();
        let Some(loc) = v.locate(id) else {
            return Ok(None);
        };
        Ok(Some(match loc {
            Loc::Sealed(i, row) => {
                v.sealed[i].seg.checked()?;
                self.point_at(&v.sealed[i].rows(), row)
            }
            Loc::Live(part, row) => self.point_at(&v.live.views()[part], row),
            Loc::Frozen(f, part, row) => self.point_at(&v.frozen[f].live.views()[part], row),
        }))
    }

    /// Calls `f` with every stored point, `batch` at a time (vectors as stored: normalized
    /// for Cosine, rounded for F16), segment by segment in id order, then the live
    /// segment's. A consistent snapshot: writes made meanwhile are not seen, and `f` may
    /// write to the collection. Stops at the first error of `f`.
    pub fn for_each_point(
        &self,
        batch: usize,
        mut f: impl FnMut(&[Point]) -> Result<()>,
    ) -> Result<()> {
        self.check_open()?;
        let batch = batch.max(1);
        let v = self.version();
        for s in &v.sealed {
            s.seg.checked()?;
        }
        let sealed = v.sealed.iter().flat_map(|s| {
            let view = s.rows();
            (0..s.seg.rows())
                .filter(|&r| !s.deleted.get(r))
                .map(move |r| self.point_at(&view, r))
        });
        // Frozen and live rows, by id (at most one live copy of an id among them).
        let mut in_memory: Vec<Point> = Vec::new();
        for live in v.frozen.iter().map(|f| &f.live).chain([&v.live]) {
            let views = live.views();
            in_memory.extend(
                live.sorted_live_rows()
                    .into_iter()
                    .map(|(p, r)| self.point_at(&views[p], r)),
            );
        }
        in_memory.sort_by_key(|p| p.id);
        let mut points = Vec::with_capacity(batch);
        for p in sealed.chain(in_memory) {
            points.push(p);
            if points.len() == batch {
                f(&points)?;
                points.clear();
            }
        }
        if !points.is_empty() {
            f(&points)?;
        }
        Ok(())
    }

    fn point_at(&self, rows: &dyn Rows, row: usize) -> Point {
        let mut vector = Vec::new();
        rows.originals()
            .row_into(row, rows.dim(), self.inner.kernels, &mut vector);
        Point {
            id: rows.id(row),
            vector,
            payload: rows.payload(row).map(<[u8]>::to_vec),
        }
    }

    /// The `limit` points nearest to `query`, best first.
    ///
    /// With binary quantization the codes are scanned first and the best
    /// `ceil(limit × oversampling)` are rescored with the originals (unless `rescore` is
    /// off); `exact` or `ignore_quantization` scan the originals of every point.
    ///
    /// Errors: `Error::DimensionMismatch`, `Error::InvalidVector` (NaN, infinite, zero with
    /// Cosine), `Error::InvalidArgument` (`limit` 0 or over `MAX_LIMIT`, oversampling below
    /// 1, above `MAX_OVERSAMPLING` or not finite), `Error::Closed`.
    pub fn search(
        &self,
        query: &[f32],
        limit: usize,
        params: &SearchParams,
    ) -> Result<Vec<ScoredPoint>> {
        self.check_open()?;
        let inner = &self.inner;
        let config = &inner.current_config();
        if limit == 0 || limit > MAX_LIMIT {
            return Err(Error::InvalidArgument(format!(
                "limit is {limit}; it must be in 1..={MAX_LIMIT}"
            )));
        }
        let oversampling = params.oversampling.unwrap_or(1.0);
        if !oversampling.is_finite() || !(1.0..=MAX_OVERSAMPLING).contains(&oversampling) {
            return Err(Error::InvalidArgument(format!(
                "oversampling is {oversampling}; it must be a finite number in 1..={MAX_OVERSAMPLING}"
            )));
        }
        let vector = query_vector(config, query)?;
        let plan = match config.quantization {
            Quantization::Binary(_) if !params.exact && !params.ignore_quantization => {
                Plan::Binary {
                    candidates: candidates(limit, oversampling),
                    rescore: params.rescore.unwrap_or(true),
                }
            }
            Quantization::Scalar(_) if !params.exact && !params.ignore_quantization => {
                Plan::Scalar {
                    candidates: candidates(limit, oversampling),
                    rescore: params.rescore.unwrap_or(false),
                }
            }
            _ => Plan::Exact,
        };
        let (code, asym_bits) = quant::query_codes(config, &vector);
        let q = PreparedQuery {
            vector,
            code,
            asym_bits,
            distance: config.distance,
            kernels: inner.kernels,
        };
        let v = self.version();
        self.check_open()?;
        for s in &v.sealed {
            s.seg.checked()?;
        }
        let views = v.views();
        let all = views.all();
        // Each segment is one group of sources: a sealed one is one, a live or frozen one
        // is its chunks, searched with one candidate pool.
        let groups: Vec<Range<usize>> = views
            .groups()
            .into_iter()
            .filter(|g| {
                all.get(g.clone())
                    .is_some_and(|b| b.iter().any(|r| r.len() > 0))
            })
            .collect();
        let run = |g: &Range<usize>| {
            let blocks = all.get(g.clone()).unwrap_or_default();
            search::search_blocks(blocks, g.start, &q, limit, plan)
        };
        let lists: Vec<_> = if inner.pool.current_num_threads() == 1 || groups.len() <= 1 {
            // Waking a pool thread costs more than it saves for one segment.
            groups.iter().map(run).collect()
        } else {
            inner.pool.install(|| groups.par_iter().map(run).collect())
        };
        Ok(search::merge(lists, limit)
            .into_iter()
            .map(|h| ScoredPoint {
                id: h.id,
                score: h.score,
                payload: params
                    .with_payload
                    .then(|| all[h.seg].payload(h.row).map(<[u8]>::to_vec))
                    .flatten(),
            })
            .collect())
    }
}

/// Candidates taken from the quantized scan: `ceil(limit × oversampling)` above 1.
fn candidates(limit: usize, oversampling: f32) -> usize {
    if oversampling > 1.0 {
        (limit as f64 * f64::from(oversampling)).ceil() as usize
    } else {
        limit
    }
}
