//! The optimizer's rewrites: [`Collection::optimize`] and the plan loop the background
//! worker shares, building a replacement segment without locks (inputs checked first) and
//! publishing it in one MANIFEST commit.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::version::{Edit, Output};
use super::{Collection, OptimizeReport, SEGMENTS_DIR, segment_file, segment_meta};
use crate::error::{Error, Result};
use crate::io::Fs;
use crate::optimizer::{self, Task};
use crate::point::PointId;
use crate::segment::immutable::{ImmutableSegment, SegmentRows};
use crate::segment::{Bitmap, Rows};

/// A rewrite built by `build_rewrite`, waiting for its commit.
struct PreparedRewrite {
    inputs: Vec<u64>,
    output: Option<Output>,
}

impl Collection {
    /// Runs the optimizer to a fixpoint: seals the live segment, then rewrites segments
    /// whose codes differ from the quantization, vacuums segments with many deleted rows,
    /// and merges small segments, per `CollectionConfig::optimizer`.
    ///
    /// Each new segment is built without blocking writes or searches and published by one
    /// commit, which re-applies deletes that arrived meanwhile; only the commit's final
    /// swap takes the write lock, briefly. A failed build is abandoned (the collection
    /// stays usable) and the error returned; a failed commit poisons the collection.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// for i in 0..4u64 {
    ///     c.upsert(&[Point::new(i, vec![1.0, i as f32])])?;
    ///     c.seal()?; // one small segment each
    /// }
    /// c.delete(0..2u64)?;
    /// let report = c.optimize()?;
    /// println!("merged {}, vacuumed {}", report.merged, report.vacuumed);
    /// assert_eq!(c.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn optimize(&self) -> Result<OptimizeReport> {
        self.seal()?;
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
                let st = self.version();
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
                if rt.worker.stop.load(Ordering::SeqCst) {
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
                self.check_writable()?;
                let output = self.reserve_segment_id();
                let prepared = match self.build_rewrite(&inputs, output) {
                    // An input failed its check (and is now known damaged): plan again
                    // without it.
                    Err(Error::ChecksumMismatch { .. } | Error::Corrupted { .. }) => {
                        continue 'plan;
                    }
                    prepared => prepared?,
                };
                if rt.worker.stop.load(Ordering::SeqCst) {
                    // Closing: the output this build wrote is never published, so it goes
                    // now, while `close` still waits for `optimizing`.
                    if prepared.output.is_some() {
                        let path = inner.dir.join(SEGMENTS_DIR).join(segment_file(output));
                        drop(prepared);
                        let _ = inner.vfs.remove(&path);
                    }
                    return Err(Error::Closed);
                }
                self.check_writable()?;
                self.commit(Edit::Rewrite {
                    inputs: prepared.inputs,
                    output: prepared.output,
                })
                .inspect_err(|_| self.poison())?;
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

    /// Builds the replacement of segments `inputs` (their live rows, sorted by id, with
    /// the current codes) as segment `id` (reserved by the caller) with no lock held: the
    /// inputs and their deletion bitmaps come from the current version. The caller holds
    /// `optimizing`. An error leaves only an unnamed file, removed on the next open.
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
        let snapshots: Vec<(Arc<ImmutableSegment>, Arc<Bitmap>)> = self
            .version()
            .sealed
            .iter()
            .filter(|s| inputs.contains(&s.id()))
            .map(|s| (Arc::clone(&s.seg), Arc::clone(&s.deleted)))
            .collect();
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
            inputs: snapshots
                .iter()
                .map(|(seg, _)| seg.layout().header.segment_id)
                .collect(),
            output: seg.map(|seg| Output {
                seg,
                before: snapshots.iter().map(|(_, d)| Arc::clone(d)).collect(),
            }),
        })
    }
}
