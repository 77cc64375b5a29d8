//! Versions of a collection and the one function that commits a change of its segments.
//!
//! A [`Version`] is immutable once published: the live segment's chunks, the frozen
//! segments waiting to be written, the sealed segments with their deletion bitmaps, and
//! the last committed manifest. Readers take the current `Arc<Version>` and search it with
//! no lock held. Writers (under the writer lock) apply a WAL record to a copy of the
//! current version, which shares every chunk, segment and bitmap it does not change, and
//! publish the copy. Every change of the set of segments (a frozen segment written, a
//! rewrite, and with them persisted deletions and the checkpoint) is an [`Edit`] that
//! [`Collection::commit`] applies: deletion sidecars, MANIFEST, swap, then removal of the
//! files nothing names any more. Segment ids are reserved from a counter that every
//! commit's MANIFEST covers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Collection, SEGMENTS_DIR, segment_file, sidecar_file};
use crate::config::CollectionConfig;
use crate::error::Result;
use crate::format::DecodeError;
use crate::io::{Fs, write_atomic};
use crate::manifest::{Manifest, SegmentEntry};
use crate::point::PointId;
use crate::segment::immutable::{ImmutableSegment, SegmentRows};
use crate::segment::live::{LiveRows, LiveSegment};
use crate::segment::{Bitmap, Rows, deletes};
use crate::wal::record::{self, RecordKind, SlotShape, VectorsRow};

/// Frozen segments allowed to wait for their write before writers wait (back-pressure):
/// at most this many full live segments are held in memory besides the live one.
pub const MAX_FROZEN_SEGMENTS: usize = 2;

/// A sealed segment as one version sees it.
#[derive(Debug, Clone)]
pub(super) struct Sealed {
    pub(super) seg: Arc<ImmutableSegment>,
    pub(super) deleted: Arc<Bitmap>,
    /// The bitmap its committed sidecar holds (the same `Arc` when nothing changed since).
    pub(super) persisted: Arc<Bitmap>,
}

impl Sealed {
    /// A segment another version (or a snapshot) also holds.
    pub(super) fn shared(seg: Arc<ImmutableSegment>, deleted: Bitmap) -> Self {
        let deleted = Arc::new(deleted);
        Sealed {
            seg,
            persisted: Arc::clone(&deleted),
            deleted,
        }
    }

    pub(super) fn id(&self) -> u64 {
        self.seg.layout().header.segment_id
    }

    pub(super) fn rows(&self) -> SegmentRows<'_> {
        SegmentRows {
            seg: &self.seg,
            deleted: &self.deleted,
        }
    }

    fn dirty(&self) -> bool {
        !Arc::ptr_eq(&self.deleted, &self.persisted)
    }
}

/// A full live segment, still searched, waiting for the sealer to write it.
#[derive(Debug, Clone)]
pub(super) struct Frozen {
    pub(super) live: LiveSegment,
    /// The last WAL record it holds: the checkpoint its commit makes.
    pub(super) seq: u64,
}

/// One immutable state of the collection.
#[derive(Debug, Clone)]
pub(super) struct Version {
    pub(super) live: LiveSegment,
    /// Oldest first; written and committed in this order.
    pub(super) frozen: Vec<Frozen>,
    /// Sorted by segment id, as in the manifest.
    pub(super) sealed: Vec<Sealed>,
    /// The last committed manifest.
    pub(super) manifest: Arc<Manifest>,
    /// The last WAL record applied.
    pub(super) seq: u64,
    pub(super) points: usize,
}

/// Where the current copy of an id is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Loc {
    Live(usize, usize),
    Frozen(usize, usize, usize),
    Sealed(usize, usize),
}

/// Every row source of a version, for search: the frozen segments' chunks (oldest first),
/// the live segment's, then the sealed segments.
pub(super) struct Views<'a> {
    live: Vec<LiveRows<'a>>,
    /// Chunks of each frozen segment and of the live one, in `live`.
    chunks_per_segment: Vec<usize>,
    sealed: Vec<SegmentRows<'a>>,
}

impl Views<'_> {
    pub(super) fn all(&self) -> Vec<&dyn Rows> {
        let live = self.live.iter().map(|v| v as &dyn Rows);
        live.chain(self.sealed.iter().map(|v| v as &dyn Rows))
            .collect()
    }

    /// The place in [`all`](Self::all) of chunk `part` of frozen segment `frozen` (oldest
    /// first), or of the live segment for `None`.
    pub(super) fn live_of(&self, frozen: Option<usize>, part: usize) -> usize {
        let segment = frozen.unwrap_or(self.chunks_per_segment.len().saturating_sub(1));
        self.chunks_per_segment.iter().take(segment).sum::<usize>() + part
    }

    /// How many of [`all`](Self::all) are chunks of the live and frozen segments (the
    /// sealed segments follow them).
    pub(super) fn live_blocks(&self) -> usize {
        self.live.len()
    }

    /// The sources of each segment, as ranges of [`all`](Self::all).
    pub(super) fn groups(&self) -> Vec<std::ops::Range<usize>> {
        let mut groups = Vec::with_capacity(self.chunks_per_segment.len() + self.sealed.len());
        let mut at = 0;
        for &n in &self.chunks_per_segment {
            groups.push(at..at + n);
            at += n;
        }
        groups.extend((at..at + self.sealed.len()).map(|i| i..i + 1));
        groups
    }
}

impl Version {
    pub(super) fn new(
        live: LiveSegment,
        sealed: Vec<Sealed>,
        manifest: Manifest,
        points: usize,
    ) -> Self {
        Version {
            live,
            frozen: Vec::new(),
            sealed,
            seq: manifest.checkpoint_seq,
            manifest: Arc::new(manifest),
            points,
        }
    }

    pub(super) fn views(&self) -> Views<'_> {
        let mut live = Vec::new();
        let mut chunks_per_segment = Vec::with_capacity(self.frozen.len() + 1);
        for segment in self.frozen.iter().map(|f| &f.live).chain([&self.live]) {
            let chunks = segment.views();
            chunks_per_segment.push(chunks.len());
            live.extend(chunks);
        }
        Views {
            live,
            chunks_per_segment,
            sealed: self.sealed.iter().map(Sealed::rows).collect(),
        }
    }

    pub(super) fn locate(&self, id: PointId) -> Option<Loc> {
        if let Some((p, r)) = self.live.find(id) {
            return Some(Loc::Live(p, r));
        }
        for (f, frozen) in self.frozen.iter().enumerate().rev() {
            if let Some((p, r)) = frozen.live.find(id) {
                return Some(Loc::Frozen(f, p, r));
            }
        }
        self.sealed.iter().enumerate().rev().find_map(|(i, s)| {
            s.seg
                .find(id)
                .filter(|&row| !s.deleted.get(row))
                .map(|row| Loc::Sealed(i, row))
        })
    }

    /// Marks the current copy of `id` deleted; true if there was one.
    fn remove(&mut self, id: PointId) -> bool {
        let removed = match self.locate(id) {
            Some(Loc::Live(p, r)) => self.live.delete_at(p, r),
            Some(Loc::Frozen(f, p, r)) => self.frozen[f].live.delete_at(p, r),
            Some(Loc::Sealed(i, row)) => Arc::make_mut(&mut self.sealed[i].deleted).set(row),
            None => false,
        };
        self.points -= usize::from(removed);
        removed
    }

    pub(super) fn apply_upsert(&mut self, seq: u64, rows: &[VectorsRow<'_>]) {
        for row in rows {
            self.remove(row.id);
            self.live.push(seq, row.id, &row.vectors, row.payload);
            self.points += 1;
        }
        self.live.finish_write();
        self.seq = seq;
    }

    pub(super) fn apply_delete(&mut self, seq: u64, ids: &[PointId]) -> usize {
        let n = ids.iter().filter(|&&id| self.remove(id)).count();
        self.seq = seq;
        n
    }

    pub(super) fn apply_record(
        &mut self,
        config: &CollectionConfig,
        seq: u64,
        kind: RecordKind,
        body: &[u8],
    ) -> Result<(), DecodeError> {
        match kind {
            RecordKind::Upsert => {
                let rows = record::decode_upsert(body, config.dim, config.datatype)?;
                let rows: Vec<VectorsRow<'_>> = rows.iter().map(VectorsRow::from).collect();
                self.apply_upsert(seq, &rows);
            }
            RecordKind::UpsertVectors => {
                let rows = record::decode_upsert_vectors(body, &SlotShape::of(config))?;
                self.apply_upsert(seq, &rows);
            }
            RecordKind::Delete => {
                self.apply_delete(seq, &record::decode_delete(body)?);
            }
        }
        Ok(())
    }

    /// The last record a commit already covers or a frozen segment will.
    fn covered_seq(&self) -> u64 {
        self.frozen
            .last()
            .map_or(self.manifest.checkpoint_seq, |f| f.seq)
    }

    /// Freezes the live segment (a fresh one takes the next writes) if it holds rows or
    /// records no checkpoint covers yet; true if it did.
    pub(super) fn freeze(&mut self) -> bool {
        if self.live.live_count() == 0 && self.seq == self.covered_seq() {
            return false;
        }
        let fresh = self.live.empty_like();
        self.frozen.push(Frozen {
            live: std::mem::replace(&mut self.live, fresh),
            seq: self.seq,
        });
        true
    }
}

/// A segment built for an edit, and what its build read.
#[derive(Debug)]
pub(super) struct Output {
    pub(super) seg: ImmutableSegment,
    /// The deletion bitmaps of the inputs (in the edit's input order, per chunk for a
    /// frozen segment) when the build read them.
    pub(super) before: Vec<Arc<Bitmap>>,
}

/// One change of the set of segments.
#[derive(Debug)]
pub(super) enum Edit {
    /// The oldest frozen segment was written as `output` (`None` when none of its rows is
    /// live): the checkpoint moves to its last record.
    Seal { seq: u64, output: Option<Output> },
    /// Sealed segments `inputs` were rewritten as `output` (`None` when no row was live).
    Rewrite {
        inputs: Vec<u64>,
        output: Option<Output>,
    },
}

impl Edit {
    fn output(&self) -> Option<&Output> {
        match self {
            Edit::Seal { output, .. } | Edit::Rewrite { output, .. } => output.as_ref(),
        }
    }

    fn removes(&self, id: u64) -> bool {
        matches!(self, Edit::Rewrite { inputs, .. } if inputs.contains(&id))
    }

    /// The output's deletions in version `v`: rows of the inputs deleted in `v` but not when
    /// the build read them (a delete or an overwrite that arrived meanwhile), found by id.
    fn carried(&self, v: &Version) -> Bitmap {
        let Some(out) = self.output() else {
            return Bitmap::default();
        };
        let mut carried = Bitmap::with_len(out.seg.rows());
        let mut carry = |view: &dyn Rows, before: &Bitmap| {
            for (w, &now) in view.deleted().words().iter().enumerate() {
                // Words past the end of `before` (a chunk's bitmap grows) had no deletion.
                let mut fresh = now & !before.words().get(w).copied().unwrap_or(0);
                while fresh != 0 {
                    let row = w * 64 + fresh.trailing_zeros() as usize;
                    fresh &= fresh - 1;
                    if let Some(r) = out.seg.find(view.id(row)) {
                        carried.set(r);
                    }
                }
            }
        };
        match self {
            Edit::Seal { .. } => {
                if let Some(f) = v.frozen.first() {
                    for (view, before) in f.live.views().iter().zip(&out.before) {
                        carry(view, before);
                    }
                }
            }
            Edit::Rewrite { inputs, .. } => {
                for (id, before) in inputs.iter().zip(&out.before) {
                    if let Some(s) = v.sealed.iter().find(|s| s.id() == *id) {
                        carry(&s.rows(), before);
                    }
                }
            }
        }
        carried
    }
}

impl Collection {
    /// The current version.
    pub(super) fn version(&self) -> Arc<Version> {
        Arc::clone(&self.inner.version.read())
    }

    /// Publishes `next`. The caller holds the writer lock.
    pub(super) fn install(&self, next: Version) {
        *self.inner.version.write() = Arc::new(next);
    }

    /// Reserves a segment id for a build; the next commit's MANIFEST covers it.
    pub(super) fn reserve_segment_id(&self) -> u64 {
        self.inner.next_segment_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Commits `edit`: writes the deletion sidecars of every segment whose deletions
    /// changed (after syncing the WAL through the records that made them, so no deletion
    /// outlives its record), writes the MANIFEST, publishes the new version, then removes
    /// the files nothing names (replaced segments and sidecars, and WAL files the
    /// checkpoint covers). Commits are serialized; writes go on meanwhile and are carried
    /// into the published version. The caller poisons the collection on error.
    pub(super) fn commit(&self, edit: Edit) -> Result<()> {
        let inner = &self.inner;
        let vfs = &*inner.vfs;
        let seg_dir = inner.dir.join(SEGMENTS_DIR);
        let _one = inner.commit.lock();
        let base = self.version();
        self.sync_wal(base.seq)?;
        let mut manifest = (*base.manifest).clone();
        manifest.generation += 1;
        manifest.next_segment_id = manifest
            .next_segment_id
            .max(inner.next_segment_id.load(Ordering::SeqCst));
        let generation = manifest.generation;
        let mut garbage = Vec::new();
        let mut written = Vec::new();
        for s in &base.sealed {
            let Some(entry) = manifest.segments.iter_mut().find(|e| e.id == s.id()) else {
                continue;
            };
            if edit.removes(s.id()) {
                garbage.push(segment_file(entry.id));
            } else if s.dirty() {
                let bytes = deletes::encode(entry.id, s.seg.rows(), s.deleted.words());
                write_atomic(vfs, &seg_dir, &sidecar_file(entry.id, generation), &bytes)?;
                written.push((entry.id, Arc::clone(&s.deleted)));
            } else {
                continue;
            }
            if entry.del_gen > 0 {
                garbage.push(sidecar_file(entry.id, entry.del_gen));
            }
            entry.del_gen = generation;
        }
        manifest.segments.retain(|e| !edit.removes(e.id));
        let carried = Arc::new(edit.carried(&base));
        if let Some(out) = edit.output() {
            let id = out.seg.layout().header.segment_id;
            let del_gen = if carried.ones() > 0 {
                let bytes = deletes::encode(id, out.seg.rows(), carried.words());
                write_atomic(vfs, &seg_dir, &sidecar_file(id, generation), &bytes)?;
                generation
            } else {
                0
            };
            manifest.segments.push(SegmentEntry {
                id,
                rows: out.seg.rows() as u64,
                del_gen,
            });
            manifest.segments.sort_by_key(|e| e.id);
        }
        if let Edit::Seal { seq, .. } = edit {
            manifest.checkpoint_seq = seq;
        }
        manifest.write(vfs, &inner.dir)?;
        // Files the new MANIFEST no longer names, deleted once it is published.
        let mut unnamed = Vec::new();
        {
            let mut writer = inner.writer.lock();
            let cur = self.version();
            let now = edit.carried(&cur);
            let mut next = (*cur).clone();
            for (id, bitmap) in written {
                if let Some(s) = next.sealed.iter_mut().find(|s| s.id() == id) {
                    s.persisted = bitmap;
                }
            }
            let (checkpoint, output) = match edit {
                Edit::Seal { seq, output } => {
                    // The frozen segment this edit wrote is the oldest (seals are serialized).
                    if next.frozen.first().is_some_and(|f| f.seq == seq) {
                        next.frozen.remove(0);
                    }
                    (Some(seq), output)
                }
                Edit::Rewrite { inputs, output } => {
                    next.sealed.retain(|s| !inputs.contains(&s.id()));
                    (None, output)
                }
            };
            if let Some(out) = output {
                next.sealed.push(sealed_output(out, carried, now));
            }
            next.sealed.sort_by_key(Sealed::id);
            next.manifest = Arc::new(manifest);
            self.install(next);
            let mut pins = inner.backup_pins.lock();
            if let Some(seq) = checkpoint {
                inner.group.mark_durable(seq);
                if let Some(w) = writer.as_mut() {
                    let kept = w.release_through(seq, pins.0 > 0)?;
                    pins.1.extend(kept);
                }
            }
            let garbage = garbage.into_iter().map(|name| seg_dir.join(name));
            if pins.0 > 0 {
                pins.1.extend(garbage);
            } else {
                unnamed.extend(garbage);
            }
        }
        inner.frozen_written.notify_all();
        for path in unnamed {
            vfs.remove_file(&path)?;
        }
        Ok(())
    }
}

/// The published form of an edit's output: deleted rows as of the version it joins, and
/// the sidecar's bitmap as persisted.
fn sealed_output(out: Output, persisted: Arc<Bitmap>, now: Bitmap) -> Sealed {
    let deleted = if now.words() == persisted.words() {
        Arc::clone(&persisted)
    } else {
        Arc::new(now)
    };
    Sealed {
        seg: Arc::new(out.seg),
        deleted,
        persisted,
    }
}
