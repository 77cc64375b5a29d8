//! Segment maintenance: a pure policy ([`plan`]) over segment metadata.
//!
//! The policy does no I/O and holds no lock: it is unit-tested on literal metadata lists.
//! `Collection` carries the tasks out: on its background worker after writes, or to a
//! fixpoint in `Collection::optimize`.

use serde::{Deserialize, Serialize};

/// Thresholds of the optimizer. Stored in `config.json` (absent fields take defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Segments of similar size (within a factor of `merge_factor`) are merged once there
    /// are `merge_factor` of them.
    pub merge_factor: usize,
    /// Past this many segments, the smallest are merged regardless of tiers.
    pub max_segments: usize,
    /// No merge produces a segment larger than this (live bytes).
    pub max_segment_bytes: u64,
    /// A segment with at least this share of deleted rows is rewritten without them.
    pub vacuum_deleted_ratio: f32,
    /// ... and at least this many deleted rows.
    pub vacuum_min_deleted: u64,
    /// Run the optimizer by itself on a background thread after writes.
    pub background: bool,
    /// Threads that encode a new segment's codes (1 = the worker's own thread; more use
    /// a pool of that size, separate from the search pool).
    pub threads: usize,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            merge_factor: 4,
            max_segments: 16,
            max_segment_bytes: 256 << 20,
            vacuum_deleted_ratio: 0.2,
            vacuum_min_deleted: 1000,
            background: true,
            threads: 1,
        }
    }
}

/// What the policy knows of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentMeta {
    /// The segment's id.
    pub id: u64,
    /// Rows in the file.
    pub rows: u64,
    /// Rows marked deleted.
    pub deleted: u64,
    /// Bytes per row in the file (originals, codes, ids, payloads on average).
    pub row_bytes: u64,
    /// False when its codes differ from the collection's quantization, or the payload
    /// indexes it holds from the collection's.
    pub matches_config: bool,
}

impl SegmentMeta {
    fn live_bytes(&self) -> u64 {
        (self.rows - self.deleted.min(self.rows)) * self.row_bytes
    }
}

/// What the optimizer is doing (see `Collection::optimizer_status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptimizerStatus {
    /// The task being carried out.
    pub running: Option<Task>,
    /// Points of the running task written so far.
    pub points_done: u64,
    /// Points the running task writes in all.
    pub points_total: u64,
    /// Tasks planned after the running one.
    pub queued: Vec<Task>,
    /// Tasks completed since the collection was opened.
    pub completed: u64,
}

/// One unit of work. A segment appears in at most one task of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Rewrite with the collection's current codes and payload indexes.
    Requantize(u64),
    /// Rewrite without the deleted rows (dropped when nothing is left).
    Vacuum(u64),
    /// Combine these segments into one.
    Merge(Vec<u64>),
}

/// `requantize segment 3`, `vacuum segment 4`, `merge segments 1, 2, 5`.
impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Task::Requantize(id) => write!(f, "requantize segment {id}"),
            Task::Vacuum(id) => write!(f, "vacuum segment {id}"),
            Task::Merge(ids) => {
                let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
                write!(f, "merge segments {}", ids.join(", "))
            }
        }
    }
}

/// The tasks that bring `segments` closer to the policy. Requantize first, then vacuum,
/// then merges; no segment is used twice. Every task strictly lowers
/// `(mismatched segments, deleted rows, segment count)`, so re-planning after each task
/// reaches an empty plan.
#[must_use]
pub fn plan(segments: &[SegmentMeta], config: &OptimizerConfig) -> Vec<Task> {
    let mut tasks = Vec::new();
    let mut free: Vec<SegmentMeta> = Vec::new();
    for s in segments {
        let deleted = s.deleted.min(s.rows);
        let ratio = if s.rows == 0 {
            1.0
        } else {
            deleted as f32 / s.rows as f32
        };
        if !s.matches_config {
            tasks.push(Task::Requantize(s.id));
        } else if s.rows == deleted
            || (deleted >= config.vacuum_min_deleted && ratio >= config.vacuum_deleted_ratio)
        {
            tasks.push(Task::Vacuum(s.id));
        } else {
            free.push(*s);
        }
    }
    free.sort_by_key(|s| (s.live_bytes(), s.id));
    let factor = config.merge_factor.max(2);
    let fits = |group: &[SegmentMeta]| {
        group.iter().map(SegmentMeta::live_bytes).sum::<u64>() <= config.max_segment_bytes
    };
    // Tiered: a run of `factor` segments whose sizes stay within `factor` of the smallest.
    let mut i = 0;
    while i + factor <= free.len() {
        let group = &free[i..i + factor];
        let smallest = group[0].live_bytes().max(1);
        if group[factor - 1].live_bytes() <= smallest.saturating_mul(factor as u64) && fits(group) {
            tasks.push(Task::Merge(group.iter().map(|s| s.id).collect()));
            i += factor;
        } else {
            i += 1;
        }
    }
    // Too many segments overall: merge the smallest ones that are still free.
    let planned: usize = tasks.len();
    let used: Vec<u64> = tasks
        .iter()
        .flat_map(|t| match t {
            Task::Merge(ids) => ids.clone(),
            Task::Requantize(id) | Task::Vacuum(id) => vec![*id],
        })
        .collect();
    let rest: Vec<SegmentMeta> = free.into_iter().filter(|s| !used.contains(&s.id)).collect();
    let merges = tasks.iter().filter(|t| matches!(t, Task::Merge(_))).count();
    let count_after = segments.len() - merges * (factor - 1);
    if planned == 0 && count_after > config.max_segments {
        let excess = count_after - config.max_segments + 1;
        let mut group: Vec<SegmentMeta> = Vec::new();
        for s in rest {
            if group.len() > excess || !fits(&[group.as_slice(), &[s]].concat()) {
                break;
            }
            group.push(s);
        }
        if group.len() >= 2 {
            tasks.push(Task::Merge(group.iter().map(|s| s.id).collect()));
        }
    }
    tasks
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn seg(id: u64, rows: u64, deleted: u64) -> SegmentMeta {
        SegmentMeta {
            id,
            rows,
            deleted,
            row_bytes: 1000,
            matches_config: true,
        }
    }

    /// Applies a task to the metadata as the executor would.
    fn apply(segments: &mut Vec<SegmentMeta>, task: &Task, next_id: &mut u64) {
        let take = |segments: &mut Vec<SegmentMeta>, id: u64| {
            let i = segments.iter().position(|s| s.id == id).unwrap();
            segments.remove(i)
        };
        let mut out = |rows: u64, segments: &mut Vec<SegmentMeta>| {
            if rows > 0 {
                *next_id += 1;
                segments.push(seg(*next_id, rows, 0));
            }
        };
        match task {
            Task::Requantize(id) | Task::Vacuum(id) => {
                let s = take(segments, *id);
                out(s.rows - s.deleted, segments);
            }
            Task::Merge(ids) => {
                let rows = ids
                    .iter()
                    .map(|id| {
                        let s = take(segments, *id);
                        s.rows - s.deleted
                    })
                    .sum();
                out(rows, segments);
            }
        }
    }

    fn settle(
        mut segments: Vec<SegmentMeta>,
        config: &OptimizerConfig,
    ) -> (Vec<SegmentMeta>, usize) {
        let mut next_id = 1000;
        let mut steps = 0;
        loop {
            let tasks = plan(&segments, config);
            if tasks.is_empty() {
                return (segments, steps);
            }
            let mut seen = std::collections::HashSet::new();
            for t in &tasks {
                let ids = match t {
                    Task::Merge(ids) => ids.clone(),
                    Task::Requantize(i) | Task::Vacuum(i) => vec![*i],
                };
                for id in ids {
                    assert!(seen.insert(id), "segment {id} in two tasks: {tasks:?}");
                }
            }
            for t in &tasks {
                apply(&mut segments, t, &mut next_id);
            }
            steps += 1;
            assert!(steps < 100, "no convergence: {segments:?}");
        }
    }

    #[test]
    fn requantize_and_vacuum_come_first_and_empty_segments_go() {
        let mut odd = seg(1, 100, 0);
        odd.matches_config = false;
        let segs = vec![odd, seg(2, 5000, 2000), seg(3, 5000, 10), seg(4, 10, 10)];
        let tasks = plan(&segs, &OptimizerConfig::default());
        assert_eq!(
            tasks,
            vec![Task::Requantize(1), Task::Vacuum(2), Task::Vacuum(4)]
        );
    }

    #[test]
    fn similar_small_segments_merge_in_tiers() {
        let segs: Vec<_> = (1..=9).map(|i| seg(i, 1000 + i, 0)).collect();
        let tasks = plan(&segs, &OptimizerConfig::default());
        assert_eq!(
            tasks,
            vec![Task::Merge(vec![1, 2, 3, 4]), Task::Merge(vec![5, 6, 7, 8])]
        );
        // A big one does not merge with small ones.
        let segs = vec![
            seg(1, 10, 0),
            seg(2, 10, 0),
            seg(3, 10, 0),
            seg(4, 100_000, 0),
        ];
        assert!(plan(&segs, &OptimizerConfig::default()).is_empty());
    }

    #[test]
    fn merges_respect_the_size_cap() {
        let config = OptimizerConfig {
            max_segment_bytes: 3_500_000,
            ..OptimizerConfig::default()
        };
        let segs: Vec<_> = (1..=4).map(|i| seg(i, 1000, 0)).collect();
        assert!(plan(&segs, &config).is_empty());
    }

    #[test]
    fn too_many_segments_are_merged_down_to_the_cap() {
        let config = OptimizerConfig {
            max_segments: 5,
            ..OptimizerConfig::default()
        };
        // Sizes too far apart for tiers: only the count rule applies.
        let segs: Vec<_> = (0..10)
            .map(|i| seg(i + 1, 10u64.pow((i % 5) as u32 + 1) + i, 0))
            .collect();
        let (after, _) = settle(segs, &config);
        assert!(after.len() <= 5, "{after:?}");
    }

    #[test]
    fn settles_from_many_shapes() {
        let config = OptimizerConfig::default();
        for n in [0u64, 1, 3, 4, 17, 64, 200] {
            let segs: Vec<_> = (0..n)
                .map(|i| seg(i + 1, 500 + (i * 7919) % 3000, (i * 31) % 500))
                .collect();
            let total: u64 = segs.iter().map(|s| s.rows - s.deleted).sum();
            let (after, steps) = settle(segs, &config);
            let left: u64 = after.iter().map(|s| s.rows - s.deleted).sum();
            assert_eq!(left, total, "rows lost or duplicated");
            assert!(
                after.len() as u64 <= config.max_segments as u64 || n <= 16,
                "{n}: {} segments",
                after.len()
            );
            assert!(plan(&after, &config).is_empty());
            assert!(steps < 20, "{n}: {steps} steps");
        }
    }
}
