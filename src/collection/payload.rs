//! Payload operations (Qdrant's `set_payload`, `overwrite_payload`, `delete_payload`,
//! `clear_payload`) on points chosen by id or by filter.
//!
//! Each operation reads the chosen points and writes them back with their new payloads as
//! one upsert record, under the writer lock: atomic like an upsert (after a crash all of
//! the points have their new payloads or none does), and no write of another thread comes
//! between the read and the write. The vectors are copied as stored, bit for bit.

use serde_json::{Map, Value};

use super::Collection;
use super::read::passing;
use super::version::Loc;
use crate::config::MAX_PAYLOAD_BYTES;
use crate::error::{Error, Result};
use crate::filter::{Filter, payload_object};
use crate::point::{Point, PointId};
use crate::segment::Rows;

/// Which points a payload operation changes (Qdrant's `points` or `filter` selector).
#[derive(Debug, Clone, PartialEq)]
pub enum PointSelector {
    /// These ids (unknown ones are skipped).
    Ids(Vec<PointId>),
    /// Every point that passes the filter when the operation starts.
    Filter(Filter),
}

impl From<Vec<PointId>> for PointSelector {
    fn from(ids: Vec<PointId>) -> Self {
        PointSelector::Ids(ids)
    }
}

impl From<&[PointId]> for PointSelector {
    fn from(ids: &[PointId]) -> Self {
        PointSelector::Ids(ids.to_vec())
    }
}

impl From<Filter> for PointSelector {
    fn from(filter: Filter) -> Self {
        PointSelector::Filter(filter)
    }
}

impl Collection {
    /// Sets the keys of `payload` on the chosen points, keeping their other keys
    /// (Qdrant's `set_payload`). A point whose payload is not a JSON object (bytes written
    /// as they are) gets `payload` as its payload. Returns how many points were changed.
    ///
    /// Errors: `Error::InvalidArgument` when a new payload would exceed
    /// [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES) or the points encode to more than
    /// one WAL record can hold (choose fewer points), `Error::Closed`, `Error::Poisoned`.
    ///
    /// ```
    /// # use vecsieve::{Collection, CollectionConfig, Distance, Point, PointId, PointSelector};
    /// # let dir = tempfile::tempdir()?;
    /// # let c = Collection::create(dir.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&[Point::new(1u64, vec![1.0, 0.0]).with_payload(br#"{"a": 1}"#.to_vec())])?;
    /// let new = serde_json::json!({"b": "x"});
    /// c.set_payload(new.as_object().unwrap(), PointSelector::Ids(vec![PointId::Num(1)]))?;
    /// let p = c.get(1u64)?.unwrap();
    /// assert_eq!(p.payload.as_deref(), Some(br#"{"a":1,"b":"x"}"#.as_slice()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_payload(
        &self,
        payload: &Map<String, Value>,
        points: impl Into<PointSelector>,
    ) -> Result<usize> {
        self.change_payloads(&points.into(), |old| {
            let mut map = old.and_then(payload_object).unwrap_or_default();
            for (k, v) in payload {
                map.insert(k.clone(), v.clone());
            }
            Some(map)
        })
    }

    /// Replaces the chosen points' payloads with `payload` (Qdrant's `overwrite_payload`).
    /// Returns how many points were changed. Errors as [`set_payload`](Self::set_payload).
    pub fn overwrite_payload(
        &self,
        payload: &Map<String, Value>,
        points: impl Into<PointSelector>,
    ) -> Result<usize> {
        self.change_payloads(&points.into(), |_| Some(payload.clone()))
    }

    /// Removes `keys` from the chosen points' payloads (Qdrant's `delete_payload`): a key
    /// is a top-level field or a path through objects (`a.b` removes field `b` of object
    /// `a`). Points whose payload is not a JSON object, or has none of the keys, are left
    /// as they are. Returns how many points were changed. Errors as
    /// [`set_payload`](Self::set_payload).
    pub fn delete_payload_keys(
        &self,
        keys: &[&str],
        points: impl Into<PointSelector>,
    ) -> Result<usize> {
        self.change_payloads(&points.into(), |old| {
            let mut map = old.and_then(payload_object)?;
            let removed = keys.iter().filter(|k| remove_path(&mut map, k)).count();
            (removed > 0).then_some(map)
        })
    }

    /// Removes the chosen points' payloads (Qdrant's `clear_payload`). Returns how many
    /// points had one. Errors as [`set_payload`](Self::set_payload).
    pub fn clear_payload(&self, points: impl Into<PointSelector>) -> Result<usize> {
        self.rewrite_payloads(&points.into(), |old| old.map(|_| None))
    }

    /// Rewrites the chosen points whose payload `change` turns into a new JSON object.
    fn change_payloads(
        &self,
        points: &PointSelector,
        change: impl Fn(Option<&[u8]>) -> Option<Map<String, Value>>,
    ) -> Result<usize> {
        self.rewrite_payloads(points, |old| {
            let new = change(old)?;
            let bytes = Value::Object(new).to_string().into_bytes();
            (old != Some(bytes.as_slice())).then_some(Some(bytes))
        })
    }

    /// Writes back, as one upsert record, every chosen point for which `change` gives a
    /// new payload (`Some(None)`: no payload; `None`: leave the point as it is).
    fn rewrite_payloads(
        &self,
        points: &PointSelector,
        change: impl Fn(Option<&[u8]>) -> Option<Option<Vec<u8>>>,
    ) -> Result<usize> {
        self.check_writable()?;
        let slots = self.inner.config.slots().len();
        let specs = self.inner.payload_indexes.read().clone();
        let written = self.with_writer(|w| {
            let v = self.version();
            self.check_sealed(&v)?;
            let views = v.views();
            let blocks = views.all();
            // (block, row) of each chosen point's current copy.
            let mut chosen: Vec<(usize, usize)> = Vec::new();
            match points {
                PointSelector::Ids(ids) => {
                    let mut seen = std::collections::HashSet::new();
                    for &id in ids.iter().filter(|&&id| seen.insert(id)) {
                        let at = match v.locate(id) {
                            Some(Loc::Sealed(i, row)) => (views.live_blocks() + i, row),
                            Some(Loc::Live(part, row)) => (views.live_of(None, part), row),
                            Some(Loc::Frozen(f, part, row)) => (views.live_of(Some(f), part), row),
                            None => continue,
                        };
                        chosen.push(at);
                    }
                }
                PointSelector::Filter(filter) => {
                    for (b, &rows) in blocks.iter().enumerate() {
                        chosen.extend(passing(rows, filter, &specs).iter_ones().map(|r| (b, r)));
                    }
                }
            }
            let mut new_points = Vec::new();
            let mut stored = Vec::new();
            for (b, row) in chosen {
                let Some(&rows) = blocks.get(b) else {
                    continue;
                };
                let Some(payload) = change(rows.payload(row)) else {
                    continue;
                };
                if let Some(p) = &payload
                    && p.len() > MAX_PAYLOAD_BYTES
                {
                    return Err(Error::InvalidArgument(format!(
                        "the new payload of point {} is {} bytes, the maximum is \
                         {MAX_PAYLOAD_BYTES}",
                        rows.id(row),
                        p.len()
                    )));
                }
                let mut point = Point::without_vectors(rows.id(row));
                point.payload = payload;
                new_points.push(point);
                stored.push(stored_vectors(rows, row, slots));
            }
            if new_points.is_empty() {
                return Ok(None);
            }
            let n = new_points.len();
            let encoded = self.encode_stored(&new_points, stored)?;
            Ok(Some((self.append_points(w, &encoded)?, n)))
        })?;
        let Some((seq, n)) = written else {
            return Ok(0);
        };
        self.wait_durable(seq)?;
        Ok(n)
    }
}

/// Row `row`'s vectors as stored, one entry per slot (empty for a slot it has no vector
/// in).
fn stored_vectors(rows: &dyn Rows, row: usize, slots: usize) -> Vec<Vec<u8>> {
    (0..slots)
        .map(|n| {
            let mut out = Vec::new();
            if let Some(c) = rows.column(n) {
                c.stored_bytes(row, &mut out);
            }
            out
        })
        .collect()
}

/// Removes the field at `path` (field names joined by `.`, through objects); true if it
/// was there.
fn remove_path(map: &mut Map<String, Value>, path: &str) -> bool {
    match path.split_once('.') {
        None => map.remove(path).is_some(),
        Some((head, rest)) => match map.get_mut(head) {
            Some(Value::Object(inner)) => remove_path(inner, rest),
            _ => false,
        },
    }
}
