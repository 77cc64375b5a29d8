//! The optimizer's rewrites: [`Collection::optimize`] and the plan loop the background
//! worker shares, building a replacement segment without locks (inputs checked first) and
//! publishing it in one MANIFEST commit.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{
    Collection, OptimizeReport, SEGMENTS_DIR, Sealed, segment_file, segment_meta, sidecar_file,
};
use crate::error::{Error, Result};
use crate::io::{Fs, write_atomic};
use crate::manifest::SegmentEntry;
use crate::optimizer::{self, Task};
use crate::point::PointId;
use crate::segment::immutable::{ImmutableSegment, SegmentRows};
use crate::segment::{Bitmap, Rows, deletes};
use crate::wal::WalWriter;

/// A rewrite built by `build_rewrite`, waiting for `publish_rewrite`.
struct PreparedRewrite {
    inputs: Vec<u64>,
    /// Each input and the deletion bitmap the build saw.
    snapshots: Vec<(Arc<ImmutableSegment>, Bitmap)>,
    /// The output (`None` when no row was live).
    seg: Option<ImmutableSegment>,
    /// The output's id, reserved when the build started.
    id: u64,
}

impl Collection {
    /// Runs the optimizer to a fixpoint: seals the live segment, then rewrites segments
    /// whose codes differ from the quantization, vacuums segments with many deleted rows,
    /// and merges small segments, per `CollectionConfig::optimizer`.
    ///
    /// Each new segment is built without blocking writes or searches; only its publication
    /// (one MANIFEST commit, re-applying deletes that arrived meanwhile) takes the write
    /// lock briefly. A failed build is abandoned (the collection stays usable) and the
    /// error returned; a failed publication poisons the collection.
    pub fn optimize(&self) -> Result<OptimizeReport> {
        self.with_writer(|w| self.checkpoint(w).inspect_err(|_| self.poison()))?;
        self.run_plan()
    }

    /// Plans and carries out tasks until the plan is empty (or the collection closes).
    pub(super) fn run_plan(&self) -> Result<OptimizeReport> {
        let inner = &self.inner;
        let rt = &inner.optimizer;
        let _busy = inner.optimizing.lock();
        let mut report = OptimizeReport::default();
        let result = (|| 'plan: loop {
            // Segments known to be damaged are left out: they cannot be rewritten, and the
            // others must not wait for them. The damage is returned once the rest is done.
            let (metas, damage) = {
                let st = inner.state.read();
                let config = inner.current_config();
                let damage = st.sealed.iter().find_map(|s| s.seg.checked().err());
                let metas = st
                    .sealed
                    .iter()
                    .filter(|s| s.seg.checked().is_ok())
                    .map(|s| segment_meta(s, &config))
                    .collect::<Vec<_>>();
                (metas, damage)
            };
            let tasks = optimizer::plan(&metas, &inner.config.optimizer);
            if tasks.is_empty() {
                return damage.map_or_else(|| Ok(report.clone()), Err);
            }
            for (i, task) in tasks.iter().enumerate() {
                if rt.cancel.load(Ordering::SeqCst) {
                    return Err(Error::Closed);
                }
                let inputs = match task {
                    Task::Requantize(id) | Task::Vacuum(id) => vec![*id],
                    Task::Merge(ids) => ids.clone(),
                };
                let total: u64 = metas
                    .iter()
                    .filter(|m| inputs.contains(&m.id))
                    .map(|m| m.rows - m.deleted.min(m.rows))
                    .sum();
                rt.progress.store(0, Ordering::SeqCst);
                {
                    let mut status = rt.status.lock();
                    status.running = Some(task.clone());
                    status.points_total = total;
                    status.queued = tasks.get(i + 1..).unwrap_or_default().to_vec();
                }
                let output = self.with_writer(|w| Ok(self.reserve_segment_id(w)))?;
                let prepared = match self.build_rewrite(&inputs, output) {
                    // An input failed its check (and is now known damaged): plan again
                    // without it.
                    Err(Error::ChecksumMismatch { .. } | Error::Corrupted { .. }) => {
                        continue 'plan;
                    }
                    prepared => prepared?,
                };
                if rt.cancel.load(Ordering::SeqCst) {
                    // Closing: the output this build wrote is never published, so it goes
                    // now, while `close` still waits for `optimizing`.
                    if prepared.seg.is_some() {
                        let path = inner.dir.join(SEGMENTS_DIR).join(segment_file(output));
                        drop(prepared);
                        let _ = inner.vfs.remove(&path);
                    }
                    return Err(Error::Closed);
                }
                self.with_writer(|w| {
                    self.publish_rewrite(w, prepared)
                        .inspect_err(|_| self.poison())
                })?;
                rt.status.lock().completed += 1;
                match task {
                    Task::Requantize(_) => report.requantized += 1,
                    Task::Vacuum(_) => report.vacuumed += 1,
                    Task::Merge(ids) => report.merged += ids.len(),
                }
                std::thread::yield_now();
            }
        })();
        let mut status = rt.status.lock();
        status.running = None;
        status.queued.clear();
        status.points_total = 0;
        drop(status);
        result
    }

    /// Reserves a segment id. Only holders of the writer lock (`_w`) may change the
    /// manifest in memory: a checkpoint clones it and writes its clone back.
    fn reserve_segment_id(&self, _w: &mut WalWriter) -> u64 {
        let mut st = self.inner.state.write();
        let id = st.manifest.next_segment_id;
        st.manifest.next_segment_id += 1;
        id
    }

    /// Builds the replacement of segments `inputs` (their live rows, sorted by id, with
    /// the current codes) as segment `id` (reserved by the caller) without holding the
    /// writer lock: the inputs are snapshotted (shared segment, copy of the deletion
    /// bitmap) under a short state lock. The caller holds `optimizing`. An error leaves
    /// only an unnamed file, removed on the next open.
    fn build_rewrite(&self, inputs: &[u64], id: u64) -> Result<PreparedRewrite> {
        let inner = &self.inner;
        let vfs = &*inner.vfs;
        let seg_dir = inner.dir.join(SEGMENTS_DIR);
        // The output is at most as large as the inputs: they must fit in the free space.
        let needed: u64 = inputs
            .iter()
            .map(|&i| vfs.file_size(&seg_dir.join(segment_file(i))).unwrap_or(0))
            .sum();
        let available = vfs.free_space_at(&seg_dir)?;
        if available < needed {
            return Err(Error::InsufficientSpace {
                dir: seg_dir,
                needed,
                available,
            });
        }
        let snapshots = inner.state.read().snapshot(|id| inputs.contains(&id));
        // Never launder damage: every input is checked now (a segment already known to be
        // damaged fails at once), so a flipped bit fails the task with the input's file and
        // section instead of being copied under fresh checksums.
        for (seg, _) in &snapshots {
            seg.checked()?;
            seg.verify()?;
        }
        let views: Vec<SegmentRows<'_>> = snapshots
            .iter()
            .map(|(seg, deleted)| SegmentRows { seg, deleted })
            .collect();
        let mut rows: Vec<(PointId, usize, usize)> = Vec::new();
        for (i, v) in views.iter().enumerate() {
            let live = (0..v.len()).filter(|&r| !v.deleted.get(r));
            rows.extend(live.map(|r| (v.id(r), i, r)));
        }
        rows.sort_unstable_by_key(|&(id, ..)| id);
        let rows: Vec<(usize, usize)> = rows.into_iter().map(|(_, i, r)| (i, r)).collect();
        let seg = if rows.is_empty() {
            None
        } else {
            let dyn_views: Vec<&dyn Rows> = views.iter().map(|v| v as &dyn Rows).collect();
            Some(self.write_segment_file(&dyn_views, &rows, id, true)?)
        };
        inner
            .optimizer
            .progress
            .store(rows.len() as u64, Ordering::SeqCst);
        drop(views);
        Ok(PreparedRewrite {
            inputs: inputs.to_vec(),
            snapshots,
            seg,
            id,
        })
    }

    /// Publishes a rewrite: deletions and overwrites that reached the inputs during the
    /// build are re-applied to the output (and written to its deletion sidecar in the same
    /// commit, so no checkpoint can have dropped them from the WAL first), one MANIFEST
    /// commit swaps the segments, then the old files are removed (open searches keep their
    /// mapping). The caller holds the writer lock (`_w`).
    fn publish_rewrite(&self, _w: &mut WalWriter, p: PreparedRewrite) -> Result<()> {
        let inner = &self.inner;
        let vfs = &*inner.vfs;
        let seg_dir = inner.dir.join(SEGMENTS_DIR);
        let (old, manifest, sealed) = {
            let st = inner.state.read();
            let rows = p.seg.as_ref().map_or(0, ImmutableSegment::rows);
            let mut deleted = Bitmap::with_len(rows);
            if let Some(seg) = &p.seg {
                for (input, before) in &p.snapshots {
                    let input_id = input.layout().header.segment_id;
                    let Some(now) = st
                        .sealed
                        .iter()
                        .find(|s| s.seg.layout().header.segment_id == input_id)
                    else {
                        continue;
                    };
                    let view = SegmentRows {
                        seg: input,
                        deleted: before,
                    };
                    for r in (0..input.rows()).filter(|&r| now.deleted.get(r) && !before.get(r)) {
                        if let Some(row) = seg.find(view.id(r)) {
                            deleted.set(row);
                        }
                    }
                }
            }
            let mut manifest = st.manifest.clone();
            manifest.generation += 1;
            let old: Vec<SegmentEntry> = manifest
                .segments
                .iter()
                .filter(|e| p.inputs.contains(&e.id))
                .copied()
                .collect();
            manifest.segments.retain(|e| !p.inputs.contains(&e.id));
            let sealed = match p.seg {
                Some(seg) => {
                    let del_gen = if deleted.ones() > 0 {
                        let bytes = deletes::encode(p.id, seg.rows(), deleted.words());
                        let name = sidecar_file(p.id, manifest.generation);
                        write_atomic(vfs, &seg_dir, &name, &bytes)?;
                        manifest.generation
                    } else {
                        0
                    };
                    manifest.segments.push(SegmentEntry {
                        id: p.id,
                        rows: seg.rows() as u64,
                        del_gen,
                    });
                    manifest.segments.sort_by_key(|e| e.id);
                    Some(Sealed {
                        seg: Arc::new(seg),
                        deleted,
                        dirty: false,
                    })
                }
                None => None,
            };
            (old, manifest, sealed)
        };
        manifest.write(vfs, &inner.dir)?;
        {
            let mut st = inner.state.write();
            st.sealed
                .retain(|s| !p.inputs.contains(&s.seg.layout().header.segment_id));
            if let Some(s) = sealed {
                st.sealed.push(s);
                st.sealed.sort_by_key(|s| s.seg.layout().header.segment_id);
            }
            st.manifest = manifest;
        }
        for e in old {
            let mut garbage = vec![segment_file(e.id)];
            if e.del_gen > 0 {
                garbage.push(sidecar_file(e.id, e.del_gen));
            }
            for name in garbage {
                let path = seg_dir.join(name);
                vfs.remove_file(&path)?;
            }
        }
        Ok(())
    }
}
