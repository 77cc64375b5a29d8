//! Reads and deletes by filter: `count`, `scroll` and `delete_by_filter`, over a consistent
//! snapshot of every segment.

use super::Collection;
use super::read::passing;
use crate::config::MAX_LIMIT;
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::filter::index::IndexSpecs;
use crate::point::{Point, PointId};
use crate::segment::Rows;

/// One page of [`Collection::scroll`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScrollPage {
    /// The points, in id order, as [`Collection::get`] returns them.
    pub points: Vec<Point>,
    /// Where the next page starts (pass it as `offset`), or `None` after the last point.
    pub next_offset: Option<PointId>,
}

impl Collection {
    /// The number of points that pass `filter` (every point for `None`). Exact: each
    /// point's payload is read (Qdrant's `count` with `exact: true`).
    pub fn count(&self, filter: Option<&Filter>) -> Result<usize> {
        let Some(filter) = filter else {
            self.check_open()?;
            return Ok(self.len());
        };
        let mut n = 0;
        self.each_passing(filter, |_, _, _| n += 1)?;
        Ok(n)
    }

    /// Up to `limit` points that pass `filter` (every point for `None`), in id order,
    /// starting at id `offset` (inclusive; from the first point for `None`), with the id
    /// the next page starts at: Qdrant's `scroll`. Pages taken one after the other see
    /// the writes made between them.
    ///
    /// Errors: `Error::InvalidArgument` for a `limit` outside `1..=MAX_LIMIT`.
    pub fn scroll(
        &self,
        filter: Option<&Filter>,
        offset: Option<PointId>,
        limit: usize,
    ) -> Result<ScrollPage> {
        if limit == 0 || limit > MAX_LIMIT {
            return Err(Error::InvalidArgument(format!(
                "scroll limit is {limit}; it must be in 1..={MAX_LIMIT}"
            )));
        }
        self.check_open()?;
        let all = Filter::new();
        let filter = filter.unwrap_or(&all);
        let mut found: Vec<(PointId, usize, usize)> = Vec::new();
        let v = self.version();
        let views = v.views();
        let blocks = views.all();
        self.check_sealed(&v)?;
        let specs = self.inner.payload_indexes.read().clone();
        for_each_passing(&blocks, filter, &specs, |block, row, id| {
            if offset.is_none_or(|o| id >= o) {
                found.push((id, block, row));
            }
        });
        // The first `limit + 1` by id: the page and where the next one starts.
        if found.len() > limit + 1 {
            found.select_nth_unstable(limit);
            found.truncate(limit + 1);
        }
        found.sort_unstable();
        let next_offset = found.get(limit).map(|&(id, ..)| id);
        found.truncate(limit);
        let points = found
            .into_iter()
            .map(|(_, block, row)| self.point_at(blocks[block], row))
            .collect();
        Ok(ScrollPage {
            points,
            next_offset,
        })
    }

    /// Deletes every point that passes `filter` (in a snapshot taken when the call starts:
    /// points written meanwhile are not considered) and returns how many were deleted.
    /// One WAL record per batch of ids, as [`delete`](Self::delete).
    pub fn delete_by_filter(&self, filter: &Filter) -> Result<usize> {
        self.check_writable()?;
        let mut ids = Vec::new();
        self.each_passing(filter, |_, _, id| ids.push(id))?;
        self.delete(&ids)
    }

    /// Calls `f(block, row, id)` for every live row that passes `filter`, in a snapshot.
    fn each_passing(&self, filter: &Filter, f: impl FnMut(usize, usize, PointId)) -> Result<()> {
        self.check_open()?;
        let v = self.version();
        self.check_sealed(&v)?;
        let views = v.views();
        let specs = self.inner.payload_indexes.read().clone();
        for_each_passing(&views.all(), filter, &specs, f);
        Ok(())
    }
}

/// Every row of `blocks` that is not deleted and passes `filter`, as `(block, row, id)`.
fn for_each_passing(
    blocks: &[&dyn Rows],
    filter: &Filter,
    specs: &IndexSpecs,
    mut f: impl FnMut(usize, usize, PointId),
) {
    for (b, &rows) in blocks.iter().enumerate() {
        for row in passing(rows, filter, specs).iter_ones() {
            f(b, row, rows.id(row));
        }
    }
}
