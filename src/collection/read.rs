//! The read path: `get`, `for_each_point` and `search` over the live segment and every
//! sealed one (refusing a segment whose checksum check failed).

use std::ops::Range;

use rayon::prelude::*;

use super::Collection;
use super::validate::query_vectors;
use super::version::{Loc, Version};
use crate::config::{
    ADAPTIVE_OVERSAMPLING, MAX_LIMIT, MAX_OVERSAMPLING, Quantization, SearchParams, VectorSlot,
};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::filter::index::{self, IndexSpecs};
use crate::point::{Point, PointId, ScoredPoint, Vector, VectorRef};
use crate::quant;
use crate::search::multi::{self, SlotQuery};
use crate::search::{self, Plan, PreparedQuery};
use crate::segment::{Bitmap, Masked, Rows};

impl Collection {
    /// The point with `id`, as stored (normalized for Cosine, rounded for F16).
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&[Point::new(7, vec![0.5, 2.0]).with_payload(b"{}".to_vec())])?;
    /// let p = c.get(7)?.expect("stored");
    /// assert_eq!((p.vector, p.payload), (vec![0.5, 2.0], Some(b"{}".to_vec())));
    /// assert!(c.get(8)?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: `Error::Closed`, `Error::Corrupted` (the point's segment failed its check).
    pub fn get(&self, id: impl Into<PointId>) -> Result<Option<Point>> {
        self.check_open()?;
        let v = self.version();
        self.point_in(&v, id.into())
    }

    /// The points with these ids, in the order given (`None` for an id not stored), all
    /// read from one snapshot: a write made meanwhile is seen for every id or for none.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&[Point::new(1, vec![1.0, 0.0]), Point::new(2, vec![0.0, 1.0])])?;
    /// let got = c.get_many([2u64, 5, 1])?;
    /// let ids: Vec<_> = got.iter().map(|p| p.as_ref().map(|p| p.id)).collect();
    /// assert_eq!(ids, [Some(2.into()), None, Some(1.into())]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: as [`get`](Self::get).
    pub fn get_many<I>(&self, ids: I) -> Result<Vec<Option<Point>>>
    where
        I: IntoIterator,
        I::Item: Into<PointId>,
    {
        self.check_open()?;
        let v = self.version();
        ids.into_iter()
            .map(|id| self.point_in(&v, id.into()))
            .collect()
    }

    fn point_in(&self, v: &Version, id: PointId) -> Result<Option<Point>> {
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
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&(0..100u64).map(|i| Point::new(i, vec![1.0, i as f32])).collect::<Vec<_>>())?;
    /// let mut seen = 0;
    /// c.for_each_point(32, |batch| {
    ///     seen += batch.len();
    ///     Ok(())
    /// })?;
    /// assert_eq!(seen, 100);
    /// # Ok(())
    /// # }
    /// ```
    pub fn for_each_point(
        &self,
        batch: usize,
        mut f: impl FnMut(&[Point]) -> Result<()>,
    ) -> Result<()> {
        self.check_open()?;
        let batch = batch.max(1);
        let v = self.version();
        self.check_sealed(&v)?;
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

    /// Refuses a snapshot holding a segment whose checksum check failed.
    pub(super) fn check_sealed(&self, v: &Version) -> Result<()> {
        for s in &v.sealed {
            s.seg.checked()?;
        }
        Ok(())
    }

    pub(super) fn point_at(&self, rows: &dyn Rows, row: usize) -> Point {
        let mut point = Point::without_vectors(rows.id(row));
        point.payload = rows.payload(row).map(<[u8]>::to_vec);
        for (n, slot) in self.inner.config.slots().into_iter().enumerate() {
            match self.vector_at(rows, row, n, slot.is_multi()) {
                Some(Vector::Dense(v)) if n == 0 => point.vector = v,
                Some(v) => {
                    point.vectors.insert(slot.name, v);
                }
                None => {}
            }
        }
        point
    }

    /// Row `row`'s vector of slot `slot` (a multivector when `multi`), as stored; `None`
    /// when the row has none.
    fn vector_at(&self, rows: &dyn Rows, row: usize, slot: usize, multi: bool) -> Option<Vector> {
        let column = rows.column(slot)?;
        let mut vectors: Vec<Vec<f32>> = column
            .range(row)
            .map(|i| {
                let mut v = Vec::new();
                column
                    .originals
                    .row_into(i, column.dim, self.inner.kernels, &mut v);
                v
            })
            .collect();
        if multi {
            (!vectors.is_empty()).then_some(Vector::Multi(vectors))
        } else {
            vectors.pop().map(Vector::Dense)
        }
    }

    /// The `limit` points nearest to `query` by the default vector, best first.
    ///
    /// With binary quantization the codes are scanned first and the best
    /// `ceil(limit × oversampling)` are rescored with the originals (unless `rescore` is
    /// off); `exact` or `ignore_quantization` scan the originals of every point. With
    /// `adaptive`, rotated codes' candidates are rescored nearest lower bound first until
    /// the bound settles the top `limit`.
    ///
    /// ```
    /// use vecsieve::{BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Distance};
    /// use vecsieve::{Point, Quantization, SearchParams};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let codes = BinaryConfig::default().with_encoding(BinaryEncoding::RotatedOneBit);
    /// let config = CollectionConfig::new(4, Distance::Cosine)
    ///     .with_quantization(Quantization::Binary(codes));
    /// let collection = Collection::create(dir.path().join("docs"), config)?;
    /// collection.upsert(&[
    ///     Point::new(1, vec![0.1, 0.9, 0.2, 0.0]),
    ///     Point::new(2, vec![0.8, 0.1, 0.0, 0.3]),
    /// ])?;
    /// // Rescore until the codes' error bound settles the best 1.
    /// let params = SearchParams::default().with_adaptive(true);
    /// let hits = collection.search(&[0.1, 1.0, 0.1, 0.0], 1, &params)?;
    /// assert_eq!(hits[0].id, 1.into());
    /// # Ok::<(), vecsieve::Error>(())
    /// ```
    ///
    /// Errors: `Error::DimensionMismatch`, `Error::InvalidVector` (NaN, infinite, zero with
    /// Cosine, a dense query for a default multivector), `Error::InvalidArgument` (`limit`
    /// 0 or over `MAX_LIMIT`, oversampling below 1, above `MAX_OVERSAMPLING` or not
    /// finite, `adaptive` with `rescore` off), `Error::Closed`.
    pub fn search(
        &self,
        query: &[f32],
        limit: usize,
        params: &SearchParams,
    ) -> Result<Vec<ScoredPoint>> {
        self.search_using("", query, limit, params)
    }

    /// The `limit` points nearest to `query` by the vector called `using` (Qdrant's
    /// `using`; `""` is the default vector), best first. Points without that vector are
    /// not among the results.
    ///
    /// A multivector is searched with a multivector query and scored with `MaxSim`
    /// ([`MultiVectorComparator`](crate::MultiVectorComparator)): on the quantized codes
    /// first, then the best `ceil(limit × oversampling)` points are rescored with the
    /// originals, with the same defaults as single vectors.
    ///
    /// Errors: as [`search`](Self::search), plus `Error::UnknownVector`, and
    /// `Error::InvalidVector` for a dense query to a multivector or the reverse, an empty
    /// multivector, or more than [`MAX_MULTIVECTOR_LEN`](crate::MAX_MULTIVECTOR_LEN)
    /// vectors.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point, SearchParams, VectorParams};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let config = CollectionConfig::new(2, Distance::Cosine)
    ///     .with_vector("title", VectorParams::new(3, Distance::Dot));
    /// let c = Collection::create(tmp.path().join("c"), config)?;
    /// c.upsert(&[
    ///     Point::new(1, vec![1.0, 0.0]).with_vector("title", vec![0.0, 0.0, 1.0]),
    ///     Point::new(2, vec![0.0, 1.0]).with_vector("title", vec![1.0, 0.0, 0.0]),
    /// ])?;
    /// let hits = c.search_using("title", &[0.9, 0.1, 0.0], 1, &SearchParams::default())?;
    /// assert_eq!(hits[0].id, 2.into());
    /// # Ok(())
    /// # }
    /// ```
    pub fn search_using<'q>(
        &self,
        using: &str,
        query: impl Into<VectorRef<'q>>,
        limit: usize,
        params: &SearchParams,
    ) -> Result<Vec<ScoredPoint>> {
        self.search_inner(using, query.into(), None, limit, params)
    }

    /// The `limit` points nearest to `query` by the vector called `using` among the points
    /// that pass `filter` (Qdrant's `filter` on a search), best first.
    ///
    /// Candidates are chosen among the passing points, never by filtering a top `limit`
    /// afterwards: each segment's rows that fail the filter are skipped by the code scan
    /// (and the exact scan) as deleted rows are, so an exact search returns exactly the
    /// filtered nearest points and a quantized one has the recall it has without a filter
    /// on the passing points. Fields are read from the payloads (each point's payload is
    /// parsed once per search; see [`Filter`] for the semantics).
    ///
    /// Errors: as [`search_using`](Self::search_using).
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Filter, Point, SearchParams};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Cosine))?;
    /// c.upsert(&[
    ///     Point::new(1, vec![1.0, 0.0]).with_payload(br#"{"section": "games"}"#.to_vec()),
    ///     Point::new(2, vec![0.9, 0.2]).with_payload(br#"{"section": "python"}"#.to_vec()),
    /// ])?;
    /// let python = Filter::from_json_str(r#"{"must": [{"key": "section", "match": {"value": "python"}}]}"#)?;
    /// let hits = c.search_filtered("", &[1.0, 0.0], &python, 10, &SearchParams::default())?;
    /// assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [2.into()]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn search_filtered<'q>(
        &self,
        using: &str,
        query: impl Into<VectorRef<'q>>,
        filter: &Filter,
        limit: usize,
        params: &SearchParams,
    ) -> Result<Vec<ScoredPoint>> {
        self.search_inner(using, query.into(), Some(filter), limit, params)
    }

    fn search_inner(
        &self,
        using: &str,
        query: VectorRef<'_>,
        filter: Option<&Filter>,
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
        let slot_index = config.slot_of(using)?;
        let slots = config.slots();
        let slot = &slots[slot_index];
        let stored = slot.params.search_defaults;
        let rescore = params.rescore.or(stored.rescore);
        let oversampling =
            params
                .oversampling
                .or(stored.oversampling)
                .unwrap_or(if params.adaptive {
                    ADAPTIVE_OVERSAMPLING
                } else {
                    slot.params.quantization.default_oversampling()
                });
        if params.adaptive && rescore == Some(false) {
            return Err(Error::InvalidArgument(
                "adaptive search rescores candidates until the error bound settles the top \
                 `limit`, so it cannot run with rescore off; drop one of the two"
                    .into(),
            ));
        }
        if !oversampling.is_finite() || !(1.0..=MAX_OVERSAMPLING).contains(&oversampling) {
            return Err(Error::InvalidArgument(format!(
                "oversampling is {oversampling}; it must be a finite number in 1..={MAX_OVERSAMPLING}"
            )));
        }
        if let Some(f) = params.sketch_pool {
            check_sketch_pool(f, slot, config.is_single_dense())?;
        }
        let mut vectors = query_vectors(slot, query)?;
        let slot_config = config.for_slot(slot);
        let plan = match slot.params.quantization {
            Quantization::Binary(_) if !params.exact && !params.ignore_quantization => {
                Plan::Binary {
                    candidates: candidates(limit, oversampling),
                    rescore: rescore.unwrap_or(true),
                    bounded: params.adaptive,
                }
            }
            Quantization::Scalar(_) if !params.exact && !params.ignore_quantization => {
                Plan::Scalar {
                    candidates: candidates(limit, oversampling),
                    rescore: rescore.unwrap_or(params.adaptive),
                    sketch_pool: params.sketch_pool,
                }
            }
            _ => Plan::Exact,
        };
        let single = config.is_single_dense();
        let dense = if single {
            let vector = vectors.pop().unwrap_or_default();
            let (code, asym_bits) = quant::query_codes(&slot_config, &vector);
            Some(PreparedQuery {
                vector,
                code,
                asym_bits,
                distance: config.distance,
                kernels: inner.kernels,
            })
        } else {
            None
        };
        let live_words = quant::live_code_words(&slot_config);
        let mut codes = Vec::with_capacity(vectors.len() * live_words);
        let mut asym_bits = 0;
        for v in &vectors {
            let (code, bits) = quant::query_codes(&slot_config, v);
            codes.extend_from_slice(&code);
            asym_bits = bits;
        }
        let slot_query = SlotQuery {
            vectors,
            codes,
            asym_bits,
            distance: slot.params.distance,
            kernels: inner.kernels,
            pooled_prefilter: slot.params.multivector.and_then(|m| m.pooled_prefilter),
        };
        let v = self.version();
        self.check_open()?;
        self.check_sealed(&v)?;
        let views = v.views();
        let unfiltered = views.all();
        let masked: Vec<Masked<'_>> = match filter {
            Some(f) => unfiltered
                .iter()
                .map(|&rows| Masked::new(rows, passing(rows, f, &config.payload_indexes)))
                .collect(),
            None => Vec::new(),
        };
        let all: Vec<&dyn Rows> = if filter.is_some() {
            masked.iter().map(|m| m as &dyn Rows).collect()
        } else {
            unfiltered
        };
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
            let plan = if filter.is_some() {
                filtered_plan(blocks, plan)
            } else {
                plan
            };
            match &dense {
                Some(q) => search::search_blocks(blocks, g.start, q, limit, plan),
                None => multi::search_slot(blocks, g.start, slot_index, &slot_query, limit, plan),
            }
        };
        let lists: Vec<_> = if inner.pool.current_num_threads() == 1 || groups.len() <= 1 {
            // Waking a pool thread costs more than it saves for one segment.
            groups.iter().map(run).collect()
        } else {
            inner.pool.install(|| groups.par_iter().map(run).collect())
        };
        let multi = slot.is_multi();
        Ok(search::merge(lists, limit)
            .into_iter()
            .map(|h| ScoredPoint {
                id: h.id,
                score: h.score,
                payload: params
                    .with_payload
                    .then(|| all[h.seg].payload(h.row).map(<[u8]>::to_vec))
                    .flatten(),
                vector: params
                    .with_vector
                    .then(|| self.vector_at(all[h.seg], h.row, slot_index, multi))
                    .flatten(),
            })
            .collect())
    }

    /// [`search`](Self::search) for each of `queries`, run side by side on the
    /// collection's search threads (`CollectionConfig::search_threads`), results in the
    /// order of the queries (Qdrant's `search_batch`).
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point, SearchParams};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Cosine))?;
    /// c.upsert(&[Point::new(1, vec![1.0, 0.0]), Point::new(2, vec![0.0, 1.0])])?;
    /// let queries = [vec![0.9, 0.1], vec![0.2, 0.8]];
    /// let results = c.search_batch(&queries, 1, &SearchParams::default())?;
    /// assert_eq!((results[0][0].id, results[1][0].id), (1.into(), 2.into()));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: as [`search`](Self::search), for the first query (in order) that fails.
    pub fn search_batch<Q>(
        &self,
        queries: &[Q],
        limit: usize,
        params: &SearchParams,
    ) -> Result<Vec<Vec<ScoredPoint>>>
    where
        Q: AsRef<[f32]> + Sync,
    {
        let queries: Vec<VectorRef<'_>> = queries.iter().map(|q| q.as_ref().into()).collect();
        self.search_batch_using("", &queries, limit, params)
    }

    /// [`search_using`](Self::search_using) for each of `queries` (dense or multivector
    /// queries of the vector called `using`), side by side as
    /// [`search_batch`](Self::search_batch).
    ///
    /// Errors: as [`search_using`](Self::search_using), for the first query that fails.
    pub fn search_batch_using(
        &self,
        using: &str,
        queries: &[VectorRef<'_>],
        limit: usize,
        params: &SearchParams,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        self.check_open()?;
        let run = |q: &VectorRef<'_>| self.search_inner(using, *q, None, limit, params);
        if self.inner.pool.current_num_threads() == 1 || queries.len() <= 1 {
            queries.iter().map(run).collect()
        } else {
            self.inner
                .pool
                .install(|| queries.par_iter().map(run).collect())
        }
    }
}

/// The rows of `rows` that are not deleted and pass `filter`: the block's payload indexes
/// of `specs` answer the conditions they can (made on first use), payloads the others. An
/// immutable segment keeps the rows of its recent filters (see `FilterCache`).
pub(super) fn passing(rows: &dyn Rows, filter: &Filter, specs: &IndexSpecs) -> Bitmap {
    let indexes = || {
        if index::uses_index(filter, specs) {
            rows.payload_indexes(specs)
        } else {
            None
        }
    };
    match rows.filter_cache() {
        Some(cache) => {
            let matching = cache.get(filter, || {
                index::matching(rows, filter, indexes().as_deref())
            });
            let mut pass = Bitmap::clone(&matching);
            pass.and_not(rows.deleted());
            pass
        }
        None => index::passing(rows, filter, indexes().as_deref()),
    }
}

/// Under a filter, a code scan rescores its candidates times `√(rows / passing)`, capped
/// at this: the filtered top `limit` sits `rows / passing` times deeper in the segment's
/// ranking, where codes separate less, and rescoring a row costs about 0.3–0.5 µs (its
/// original is a wait on memory) against the scan's few nanoseconds per passing code.
/// Measured on debian-minilm-384 (60,703 points, 1-bit codes + rescoring at oversampling
/// 4, 200 queries, unfiltered recall@10 0.8985), recall without the factor → with it:
/// 74 % passing (× 1.16) 0.9010 → 0.9175, 34 % (× 1.71) 0.8725 → 0.9370, 12.7 % (capped)
/// 0.8300 → 0.9150, 4.1 % 0.7990 → 0.9075, 0.7 % 0.8120 → 0.9325; capped at 3 instead,
/// 0.9425, 0.9460 and 0.9715 for the last three, at 0.31–0.33× the unfiltered p50 instead
/// of 0.27× at 0.7 %. With the factor, every filter recalls more than the unfiltered
/// search; `rows / passing` itself (not its root) rescored 1.35× and 2× as many at 74 % and
/// 34 % for 0.9265 and 0.9510.
pub const FILTER_MAX_DEPTH: f64 = 2.0;

/// The plan for one segment's blocks under a filter: the code scan (of the passing rows
/// only, see `search::binary_candidates`) with the rescored candidates multiplied by
/// `√(rows / passing)`, at most [`FILTER_MAX_DEPTH`]. Exact search stays exact (it scores
/// the passing rows' originals). When no more rows pass than are rescored, rescoring
/// scores them all: the result is exact.
fn filtered_plan(blocks: &[&dyn Rows], plan: Plan) -> Plan {
    let rows: usize = blocks.iter().map(|b| b.len()).sum();
    let passing: usize = blocks
        .iter()
        .map(|b| b.len().saturating_sub(b.deleted().ones()))
        .sum();
    let depth = (rows as f64 / passing.max(1) as f64)
        .sqrt()
        .min(FILTER_MAX_DEPTH);
    let deeper = |c: usize| (c as f64 * depth).ceil() as usize;
    match plan {
        Plan::Binary {
            candidates,
            rescore: true,
            bounded,
        } => Plan::Binary {
            candidates: deeper(candidates),
            rescore: true,
            bounded,
        },
        Plan::Scalar {
            candidates,
            rescore: true,
            sketch_pool,
        } => Plan::Scalar {
            candidates: deeper(candidates),
            rescore: true,
            sketch_pool,
        },
        other => other,
    }
}

/// Refuses a [`SearchParams::sketch_pool`] that is not a fraction, or that the search
/// could not apply: it takes the int8 codes of a collection's one dense vector, compared
/// by Cosine or Dot (sign sketches rank centred embeddings, not Euclidean points).
fn check_sketch_pool(f: f32, slot: &VectorSlot, single_dense: bool) -> Result<()> {
    if !f.is_finite() || f <= 0.0 || f > 1.0 {
        return Err(Error::InvalidArgument(format!(
            "sketch_pool is {f}; it must be the fraction of rows to scan with int8 codes, \
             above 0 and at most 1"
        )));
    }
    let scalar = matches!(slot.params.quantization, Quantization::Scalar(_));
    if !scalar || !single_dense || !slot.params.distance.higher_is_better() {
        return Err(Error::InvalidArgument(
            "sketch_pool applies to scalar int8 quantization of a collection's one dense \
             vector under Cosine or Dot; leave it unset here"
                .into(),
        ));
    }
    Ok(())
}

/// Candidates taken from the quantized scan: `ceil(limit × oversampling)` above 1.
fn candidates(limit: usize, oversampling: f32) -> usize {
    if oversampling > 1.0 {
        (limit as f64 * f64::from(oversampling)).ceil() as usize
    } else {
        limit
    }
}
