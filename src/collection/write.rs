//! The write path: validate, append to the WAL, apply to a new version, publish; freeze a
//! full live segment (a fresh one takes the next write at once) for the sealer to write
//! and commit; wait while too many frozen segments are waiting (back-pressure).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::validate::stored_point;
use super::version::{Edit, MAX_FROZEN_SEGMENTS, Output, Version};
use super::{Collection, SEGMENTS_DIR, segment_file};
use crate::config::Durability;
use crate::error::{BatchPoint, Error, Result};
use crate::io::write_atomic_with;
use crate::point::{Point, PointId};
use crate::segment::Rows;
use crate::segment::build::{Build, FileSink};
use crate::segment::immutable::ImmutableSegment;
use crate::wal::WalWriter;
use crate::wal::record::{self, MAX_RECORD_BODY, RecordKind, SlotShape, UpsertRow, VectorsRow};

/// Points validated and encoded as one upsert record.
pub(super) struct EncodedPoints<'p> {
    points: &'p [Point],
    /// Each point's vectors in the stored datatype, one entry per slot.
    stored: Vec<Vec<Vec<u8>>>,
    kind: RecordKind,
    body: Vec<u8>,
}

fn rows_of<'a>(points: &'a [Point], stored: &'a [Vec<Vec<u8>>]) -> Vec<VectorsRow<'a>> {
    points
        .iter()
        .zip(stored)
        .map(|(p, v)| VectorsRow {
            id: p.id,
            vectors: v.iter().map(Vec::as_slice).collect(),
            payload: p.payload.as_deref(),
        })
        .collect()
}

impl Collection {
    /// Inserts or replaces points. The batch is atomic: after a crash either all of it or
    /// none of it is there. Returns once durable per the collection's [`Durability`].
    ///
    /// When the live segment fills, it is frozen (still searched) and written by a
    /// background thread while writes go on; if [`MAX_FROZEN_SEGMENTS`] are already
    /// waiting to be written, `upsert` waits for one (back-pressure).
    ///
    /// Errors (nothing is written): `Error::DimensionMismatch` and `Error::InvalidVector`
    /// ([`VectorProblem`](crate::VectorProblem): NaN, infinite, a zero vector with Cosine,
    /// out of range for the datatype), each naming the point's index in the batch and its
    /// id ([`BatchPoint`]); `Error::InvalidArgument` (payload over
    /// `MAX_PAYLOAD_BYTES`, batch over 256 MiB encoded), `Error::Poisoned`,
    /// `Error::Closed`.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point, SearchParams};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let path = tmp.path().join("c");
    /// let c = Collection::create(&path, CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&[
    ///     Point::new(1, vec![1.0, 0.0]).with_payload(br#"{"lang": "rust"}"#.to_vec()),
    ///     Point::new(2, vec![0.0, 1.0]),
    /// ])?;
    /// // The same id again replaces the point.
    /// c.upsert(&[Point::new(2, vec![0.5, 0.5])])?;
    /// assert_eq!(c.len(), 2);
    /// // A bad point refuses the whole batch, naming it.
    /// let err = c.upsert(&[Point::new(3, vec![1.0, 0.0]), Point::new(4, vec![f32::NAN, 0.0])]);
    /// assert!(matches!(err, Err(vecsieve::Error::InvalidVector { .. })));
    /// assert_eq!(c.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn upsert(&self, points: &[Point]) -> Result<()> {
        self.check_writable()?;
        if points.is_empty() {
            return Ok(());
        }
        let encoded = self.encode_points(points)?;
        let seq = self.with_writer(|w| self.append_points(w, &encoded))?;
        self.wait_durable(seq)
    }

    /// Validates and encodes `points` as one upsert record.
    pub(super) fn encode_points<'p>(&self, points: &'p [Point]) -> Result<EncodedPoints<'p>> {
        let config = &self.inner.config;
        let mut stored = Vec::with_capacity(points.len());
        for (i, p) in points.iter().enumerate() {
            let point = BatchPoint { index: i, id: p.id };
            stored.push(stored_point(config, Some(point), p)?);
        }
        self.encode_stored(points, stored)
    }

    /// Encodes `points` (ids and payloads) with `stored`, each point's vectors in the
    /// stored datatype (one entry per slot), as one upsert record.
    pub(super) fn encode_stored<'p>(
        &self,
        points: &'p [Point],
        stored: Vec<Vec<Vec<u8>>>,
    ) -> Result<EncodedPoints<'p>> {
        let config = &self.inner.config;
        let rows = rows_of(points, &stored);
        // A single-vector collection keeps the version 1 record (kind 1).
        let (kind, body) = if config.is_single_dense() {
            let legacy: Vec<UpsertRow<'_>> = rows
                .iter()
                .map(|r| UpsertRow {
                    id: r.id,
                    vector: r.vectors.first().copied().unwrap_or_default(),
                    payload: r.payload,
                })
                .collect();
            let body = record::encode_upsert(config.dim, config.datatype, &legacy);
            (RecordKind::Upsert, body)
        } else {
            let body = record::encode_upsert_vectors(&SlotShape::of(config), &rows);
            (RecordKind::UpsertVectors, body)
        };
        if body.len() > MAX_RECORD_BODY {
            return Err(Error::InvalidArgument(format!(
                "the batch encodes to {} bytes, over the {MAX_RECORD_BODY}-byte limit; split it",
                body.len()
            )));
        }
        Ok(EncodedPoints {
            points,
            stored,
            kind,
            body,
        })
    }

    /// Appends encoded points as one record and applies it (under the writer lock).
    pub(super) fn append_points(&self, w: &mut WalWriter, e: &EncodedPoints<'_>) -> Result<u64> {
        let rows = rows_of(e.points, &e.stored);
        let (seq, _) = self.append_and_apply(w, e.kind, &e.body, |v, seq| {
            v.apply_upsert(seq, &rows);
            0
        })?;
        Ok(seq)
    }

    /// Checks a point as [`upsert`](Self::upsert) would (dimension, finite components,
    /// datatype range, zero vectors with Cosine, payload size) without writing it: importers
    /// use it to name the bad record of a batch that `upsert` refused.
    pub fn validate_point(&self, point: &Point) -> Result<()> {
        stored_point(&self.inner.config, None, point).map(drop)
    }

    /// Deletes the points with these ids (anything that iterates over ids or things that
    /// convert into them: `&[PointId]`, a `Vec<u64>`, a range of numbers) in one atomic,
    /// durable write, and returns how many existed. Unknown ids are not an error; repeated
    /// ones count once.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point, PointId};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&(0..10u64).map(|i| Point::new(i, vec![1.0, i as f32])).collect::<Vec<_>>())?;
    /// assert_eq!(c.delete(0..3u64)?, 3);
    /// assert_eq!(c.delete(&[PointId::from(3), PointId::from(99)])?, 1);
    /// assert_eq!(c.delete(vec![4u64, 4])?, 1);
    /// assert_eq!(c.len(), 5);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: `Error::Closed`, `Error::Poisoned`, `Error::Io` (the write is not applied).
    pub fn delete<I>(&self, ids: I) -> Result<usize>
    where
        I: IntoIterator,
        I::Item: Into<PointId>,
    {
        let ids: Vec<PointId> = ids.into_iter().map(Into::into).collect();
        let written = self.with_writer(|w| {
            let present: Vec<PointId> = {
                let v = self.version();
                let mut seen = std::collections::HashSet::new();
                ids.iter()
                    .copied()
                    .filter(|&id| seen.insert(id) && v.locate(id).is_some())
                    .collect()
            };
            if present.is_empty() {
                return Ok(None);
            }
            let body = record::encode_delete(&present);
            let (seq, n) = self.append_and_apply(w, RecordKind::Delete, &body, |v, seq| {
                v.apply_delete(seq, &present)
            })?;
            Ok(Some((seq, n)))
        })?;
        let Some((seq, n)) = written else {
            return Ok(0);
        };
        self.wait_durable(seq)?;
        Ok(n)
    }

    /// Appends a record, applies it to a copy of the current version, freezes the live
    /// segment if it is full, and publishes the copy. Any I/O error poisons the collection.
    pub(super) fn append_and_apply(
        &self,
        w: &mut WalWriter,
        kind: RecordKind,
        body: &[u8],
        apply: impl FnOnce(&mut Version, u64) -> usize,
    ) -> Result<(u64, usize)> {
        let inner = &self.inner;
        let seq = w
            .append(kind, body, inner.group.durable_seq())
            .inspect_err(|_| self.poison())?;
        self.wake_optimizer();
        let mut next = Version::clone(&self.version());
        let n = apply(&mut next, seq);
        let full = next.live.data_bytes() >= inner.config.live_segment_max_bytes;
        if full {
            next.freeze();
        }
        self.install(next);
        if full {
            self.wake_sealer();
        }
        Ok((seq, n))
    }

    pub(super) fn poison(&self) {
        self.inner.poisoned.store(true, Ordering::SeqCst);
        // Writers waiting for the sealer must not wait for a sealer that stopped.
        self.inner.frozen_written.notify_all();
    }

    pub(super) fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    pub(super) fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.inner.read_only {
            return Err(Error::ReadOnly);
        }
        if self.inner.poisoned.load(Ordering::SeqCst) {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    pub(super) fn wait_durable(&self, seq: u64) -> Result<()> {
        match self.inner.config.durability {
            Durability::Sync => self.sync_wal(seq),
            Durability::Buffered => Ok(()),
        }
    }

    pub(super) fn sync_wal(&self, seq: u64) -> Result<()> {
        let inner = &self.inner;
        inner.group.sync_to(seq, &inner.poisoned, || {
            inner
                .writer
                .lock()
                .as_ref()
                .and_then(WalWriter::sync_target)
        })
    }

    /// Makes every acknowledged write durable (syncs the WAL).
    pub fn flush(&self) -> Result<()> {
        self.check_writable()?;
        let seq = match self.inner.writer.lock().as_ref() {
            Some(w) => w.last_seq(),
            None => return Err(Error::Closed),
        };
        self.sync_wal(seq)
    }

    /// Seals the live segment into an immutable segment file now (it is also sealed when
    /// full and on close), persisting deletions and emptying the WAL of what it covers.
    /// Returns once every frozen segment is written and committed.
    pub fn seal(&self) -> Result<()> {
        self.with_writer(|_| {
            self.freeze_live();
            Ok(())
        })?;
        self.seal_frozen().inspect_err(|_| self.poison())
    }

    /// Freezes the live segment (if it holds anything no checkpoint covers). The caller
    /// holds the writer lock.
    pub(super) fn freeze_live(&self) {
        let mut next = Version::clone(&self.version());
        if next.freeze() {
            self.install(next);
        }
    }

    /// Writes and commits the frozen segments, oldest first, until none is left. One
    /// thread at a time (the sealer, or `seal`, `close`, `optimize` and
    /// `set_quantization` on the caller's thread). The caller poisons on error.
    pub(super) fn seal_frozen(&self) -> Result<()> {
        let _one = self.inner.sealing.lock();
        loop {
            let v = self.version();
            let Some(frozen) = v.frozen.first() else {
                return Ok(());
            };
            let rows = frozen.live.sorted_live_rows();
            let output = if rows.is_empty() {
                None
            } else {
                let views = frozen.live.views();
                let sources: Vec<&dyn Rows> = views.iter().map(|r| r as &dyn Rows).collect();
                let id = self.reserve_segment_id();
                Some(Output {
                    seg: self.write_segment_file(&sources, &rows, id, false)?,
                    before: frozen.live.deletions(),
                })
            };
            self.commit(Edit::Seal {
                seq: frozen.seq,
                output,
            })?;
        }
    }

    /// Streams segment file `id` (tmp + fsync + rename + fsync dir) and maps it. A
    /// rewrite (`background`) encodes on the optimizer's pool, reports progress and stops
    /// when the optimizer is cancelled.
    pub(super) fn write_segment_file(
        &self,
        sources: &[&dyn Rows],
        rows: &[(usize, usize)],
        id: u64,
        background: bool,
    ) -> Result<ImmutableSegment> {
        let inner = &self.inner;
        let vfs = &*inner.vfs;
        let seg_dir = inner.dir.join(SEGMENTS_DIR);
        let rt = &inner.optimizer;
        let config = inner.current_config();
        let build = Build {
            sources,
            rows,
            id,
            config: &config,
            kernels: inner.kernels,
            pool: rt.pool.as_ref().filter(|_| background),
            progress: background.then_some(&rt.progress),
            cancel: background.then_some(&rt.worker.stop),
        };
        let name = segment_file(id);
        let written = write_atomic_with(vfs, &seg_dir, &name, |file| {
            build.write(FileSink::new(file)).map(drop)
        });
        match written {
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::Interrupted
                    && rt.worker.stop.load(Ordering::SeqCst) =>
            {
                return Err(Error::Closed);
            }
            written => written?,
        }
        let path = seg_dir.join(&name);
        let seg = ImmutableSegment::open(vfs, &path).inspect_err(|_| {
            // This build renamed the file into place: it is ours to remove (best effort: an
            // unnamed file is removed by the next open). `write_atomic_with` removed a
            // partial temporary file itself; nothing else is ever removed on failure.
            let _ = vfs.remove(&path);
        })?;
        // Its checksums were computed from the bytes this build wrote.
        seg.mark_verified();
        Ok(seg)
    }

    pub(super) fn wake_optimizer(&self) {
        self.inner.optimizer.worker.wake();
    }

    fn wake_sealer(&self) {
        self.inner.sealer.wake();
    }

    /// Runs `f` holding the writer lock, after checking (before and under the lock) that
    /// the collection is open and not poisoned, and after waiting while
    /// [`MAX_FROZEN_SEGMENTS`] frozen segments wait for the sealer.
    pub(super) fn with_writer<T>(&self, f: impl FnOnce(&mut WalWriter) -> Result<T>) -> Result<T> {
        self.check_writable()?;
        let mut guard = self.inner.writer.lock();
        self.check_writable()?;
        while self.version().frozen.len() >= MAX_FROZEN_SEGMENTS {
            self.wake_sealer();
            // A commit changes the version under this lock, so its signal cannot be
            // missed; a poisoning (which may happen on a thread that holds this lock, so
            // it signals without it) is seen at the latest one timeout later.
            self.inner
                .frozen_written
                .wait_for(&mut guard, Duration::from_millis(20));
            self.check_writable()?;
        }
        let Some(w) = guard.as_mut() else {
            return Err(Error::Closed);
        };
        f(w)
    }
}
