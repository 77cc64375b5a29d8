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

/// Every point of a collection that passes a filter, in id order: what
/// [`Collection::iter`] returns.
#[derive(Debug)]
pub struct Points<'a> {
    collection: &'a Collection,
    filter: Option<Filter>,
    /// Where the next page starts; `None` after the last page.
    next: Option<Option<PointId>>,
    page: std::vec::IntoIter<Point>,
}

/// Points [`Points`] reads per [`scroll`](Collection::scroll) page.
const ITER_PAGE: usize = 256;

impl Iterator for Points<'_> {
    type Item = Result<Point>;

    fn next(&mut self) -> Option<Result<Point>> {
        loop {
            if let Some(p) = self.page.next() {
                return Some(Ok(p));
            }
            let offset = self.next?;
            match self
                .collection
                .scroll(self.filter.as_ref(), offset, ITER_PAGE)
            {
                Ok(page) => {
                    self.next = page.next_offset.map(Some);
                    self.page = page.points.into_iter();
                }
                Err(e) => {
                    self.next = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl Collection {
    /// Every point that passes `filter` (every point for `None`), in id order, as
    /// [`get`](Self::get) returns them, read by [`scroll`](Self::scroll) a page of 256 at a
    /// time: each page is a snapshot, so a point written or deleted during the iteration is
    /// seen if and only if the pages after it are read after the write. An error ends the
    /// iteration.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point, PointId};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&(0..1000u64).rev().map(|i| Point::new(i, vec![1.0, i as f32])).collect::<Vec<_>>())?;
    /// let ids: Vec<PointId> = c.iter(None).map(|p| p.map(|p| p.id)).collect::<Result<_, _>>()?;
    /// assert_eq!(ids, (0..1000u64).map(PointId::from).collect::<Vec<_>>());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn iter(&self, filter: Option<&Filter>) -> Points<'_> {
        Points {
            collection: self,
            filter: filter.cloned(),
            next: Some(None),
            page: Vec::new().into_iter(),
        }
    }

    /// The number of points that pass `filter` (every point for `None`). Exact: each
    /// point's payload is read (Qdrant's `count` with `exact: true`).
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Filter, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&(0..10u64)
    ///     .map(|i| Point::new(i, vec![1.0, 0.0]).with_payload(format!(r#"{{"n": {i}}}"#).into_bytes()))
    ///     .collect::<Vec<_>>())?;
    /// let small = Filter::from_json_str(r#"{"must": [{"key": "n", "range": {"lt": 4}}]}"#)?;
    /// assert_eq!((c.count(None)?, c.count(Some(&small))?), (10, 4));
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&(0..25u64).map(|i| Point::new(i, vec![1.0, i as f32])).collect::<Vec<_>>())?;
    /// let (mut offset, mut pages) = (None, 0);
    /// loop {
    ///     let page = c.scroll(None, offset, 10)?;
    ///     pages += 1;
    ///     match page.next_offset {
    ///         Some(next) => offset = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(pages, 3);
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Filter, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&(0..10u64)
    ///     .map(|i| Point::new(i, vec![1.0, 0.0]).with_payload(format!(r#"{{"odd": {}}}"#, i % 2 == 1).into_bytes()))
    ///     .collect::<Vec<_>>())?;
    /// let odd = Filter::from_json_str(r#"{"must": [{"key": "odd", "match": {"value": true}}]}"#)?;
    /// assert_eq!(c.delete_by_filter(&odd)?, 5);
    /// assert_eq!(c.len(), 5);
    /// # Ok(())
    /// # }
    /// ```
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
