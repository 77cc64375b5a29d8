//! A writer's history for tests that check the states other handles see: batch `b`
//! upserts ids `b·SIZE..(b+1)·SIZE` (one WAL record), then deletes the ids of batch
//! `b − LAG` divisible by `EVERY` (another record).

use std::collections::BTreeMap;

use vecsieve::{Collection, Point, PointId};

use super::vector_for;

/// The history's shape.
#[derive(Debug, Clone, Copy)]
pub struct Batches {
    pub size: u64,
    pub lag: u64,
    pub every: u64,
    pub dim: usize,
}

impl Batches {
    /// The ids batch `b` deletes.
    fn deleted_by(&self, b: u64) -> impl Iterator<Item = u64> + use<> {
        let (size, every) = (self.size, self.every);
        let from = b.checked_sub(self.lag).map(|a| a * size..(a + 1) * size);
        from.into_iter().flatten().filter(move |i| i % every == 0)
    }

    /// Writes batch `b` to `c`.
    pub fn write(&self, c: &Collection, b: u64) {
        let points: Vec<Point> = (b * self.size..(b + 1) * self.size)
            .map(|id| Point::new(id, vector_for(id, self.dim)))
            .collect();
        c.upsert(&points).unwrap();
        let gone: Vec<u64> = self.deleted_by(b).collect();
        if !gone.is_empty() {
            c.delete(gone).unwrap();
        }
    }

    /// The points after `n` batches, the last one's deletes not yet made when `pending`.
    pub fn state(&self, n: u64, pending: bool) -> BTreeMap<PointId, Vec<f32>> {
        let mut m = BTreeMap::new();
        for b in 0..n {
            for id in b * self.size..(b + 1) * self.size {
                m.insert(PointId::Num(id), vector_for(id, self.dim));
            }
            if !(pending && b + 1 == n) {
                for id in self.deleted_by(b) {
                    m.remove(&PointId::Num(id));
                }
            }
        }
        m
    }

    /// The batches a state holds, from its newest id.
    pub fn count(&self, ids: impl IntoIterator<Item = PointId>) -> u64 {
        ids.into_iter()
            .filter_map(PointId::as_num)
            .max()
            .map_or(0, |top| top / self.size + 1)
    }

    /// The state `ids` is, as `(batches, pending)`; `None` if it is no state of the
    /// history.
    pub fn which(&self, ids: &[PointId]) -> Option<(u64, bool)> {
        let n = self.count(ids.iter().copied());
        [false, true].into_iter().find_map(|pending| {
            let keys: Vec<PointId> = self.state(n, pending).into_keys().collect();
            (keys == ids).then_some((n, pending))
        })
    }
}
