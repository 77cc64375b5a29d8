//! Filters on points' ids and JSON payloads, with Qdrant's vocabulary and semantics.
//!
//! A [`Filter`] is what Qdrant's `filter` JSON says: `must` (every condition holds),
//! `should` (at least one holds, when there are any), `must_not` (none holds) and
//! `min_should` (at least `min_count` of its conditions hold); a condition is a field
//! condition (`match`, `range`, `values_count`, `is_empty`, `is_null` on a key), `is_empty`
//! / `is_null` on their own, `has_id`, `nested` (a filter over the objects of an array) or
//! a filter. It (de)serializes as Qdrant's JSON, so a filter written for Qdrant is pasted
//! as is ([`Filter::from_json`] reports what is wrong and where).
//!
//! A payload is the JSON object a point's payload bytes hold; payload bytes that are not a
//! JSON object (opaque bytes written before filters existed) have no fields.
//!
//! # Keys and values
//! A key is a path: `a.b` reads field `b` of object `a`; `tags[]` the elements of array
//! `tags`; `a[].b` field `b` of every object in array `a`; `a[2]` one element. Where a path
//! meets an array without `[]`, it goes through every element (so `a.b` also reads the
//! objects of an array `a`). The values at a key are what the path reaches, with arrays
//! flattened: a plain array field matches when any element matches.
//!
//! # Conditions
//! - `match`: `{"value": v}` (a string, integer or bool; an integer never matches a
//!   float), `{"any": [..]}` (any of them), `{"except": [..]}` (a value that is none of
//!   them; a key without values also matches), `{"text": "s"}` (a string containing `s`).
//! - `range`: `lt`, `lte`, `gt`, `gte` numbers, compared with numeric values; or RFC 3339
//!   datetimes (strings), compared with string values that parse as datetimes (at the same
//!   instant whatever their offsets). A value outside the type never matches.
//! - `values_count`: bounds on the number of non-null values at the key.
//! - `is_empty`: the key has no non-null value (missing, `null`, `[]`, `[null]`).
//! - `is_null`: the key holds `null` (or an array holding `null`); a missing key is not.
//! - `has_id`: the point's id is one of the list (integers or UUID strings).
//! - `nested`: `{"key": k, "filter": f}`: some object of the array at `k` satisfies `f` on
//!   its own (all of `f`'s conditions on the same element).
//!
//! # Indexed and unindexed keys
//! A filter passes the same points whether its keys are indexed or not
//! ([`Collection::create_payload_index`](crate::Collection::create_payload_index)). An
//! index answers the conditions on its key that its values decide
//! ([`PayloadSchema`](crate::PayloadSchema) lists them) without reading payloads; every
//! other condition is checked on the payloads of the points the answered ones leave, so a
//! filter on unindexed keys parses every payload of the collection once per search.

mod datetime;
pub(crate) mod index;
mod parse;

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::point::PointId;

/// Nesting deeper than this is refused when parsing (a filter is evaluated recursively).
pub const MAX_FILTER_DEPTH: usize = 32;

/// A boolean combination of conditions (Qdrant's `Filter`). The empty filter matches every
/// point.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// Every condition holds.
    pub must: Vec<Condition>,
    /// At least one condition holds (ignored when empty).
    pub should: Vec<Condition>,
    /// No condition holds.
    pub must_not: Vec<Condition>,
    /// At least `min_count` of its conditions hold.
    pub min_should: Option<MinShould>,
}

/// Qdrant's `min_should`: at least `min_count` of `conditions` hold.
#[derive(Debug, Clone, PartialEq)]
pub struct MinShould {
    /// The conditions counted.
    pub conditions: Vec<Condition>,
    /// How many must hold.
    pub min_count: usize,
}

/// One condition of a [`Filter`].
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Conditions on the values at a key.
    Field(FieldCondition),
    /// The key has no non-null value.
    IsEmpty {
        /// The key.
        key: String,
    },
    /// The key holds `null`.
    IsNull {
        /// The key.
        key: String,
    },
    /// The point's id is one of these.
    HasId(BTreeSet<PointId>),
    /// Some object of the array at `key` satisfies `filter` on its own.
    Nested {
        /// The array's key.
        key: String,
        /// The filter each element is tried against.
        filter: Box<Filter>,
    },
    /// A nested boolean combination.
    Filter(Filter),
}

/// Conditions on the values at one key (Qdrant's `FieldCondition`); every one given must
/// hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldCondition {
    /// The key (see the module docs for paths).
    pub key: String,
    /// `match`.
    pub matches: Option<Match>,
    /// `range`.
    pub range: Option<Range>,
    /// `values_count`.
    pub values_count: Option<ValuesCount>,
    /// `is_empty`: `Some(true)` as [`Condition::IsEmpty`], `Some(false)` its negation.
    pub is_empty: Option<bool>,
    /// `is_null`: `Some(true)` as [`Condition::IsNull`], `Some(false)` its negation.
    pub is_null: Option<bool>,
}

/// Qdrant's `match`.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// `{"value": v}`.
    Value(MatchValue),
    /// `{"any": [..]}`.
    Any(Vec<MatchValue>),
    /// `{"except": [..]}`.
    Except(Vec<MatchValue>),
    /// `{"text": s}`: a string value containing `s`.
    Text(String),
}

/// A value `match` compares with: a keyword, an integer or a bool.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchValue {
    /// A string, compared exactly.
    Keyword(String),
    /// An integer; matches integer values only.
    Integer(i64),
    /// A bool.
    Bool(bool),
}

/// Bounds of a `range` condition: all numbers or all datetimes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Range {
    /// Below.
    pub lt: Option<Bound>,
    /// At or below.
    pub lte: Option<Bound>,
    /// Above.
    pub gt: Option<Bound>,
    /// At or above.
    pub gte: Option<Bound>,
}

/// One bound of a [`Range`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// A finite number.
    Number(f64),
    /// A datetime, as microseconds since the Unix epoch (UTC).
    Datetime(i64),
}

/// Bounds on the number of values at a key (Qdrant's `values_count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ValuesCount {
    /// Fewer than.
    pub lt: Option<usize>,
    /// At most.
    pub lte: Option<usize>,
    /// More than.
    pub gt: Option<usize>,
    /// At least.
    pub gte: Option<usize>,
}

impl Filter {
    /// The filter that matches every point.
    #[must_use]
    pub fn new() -> Self {
        Filter::default()
    }

    /// Adds a `must` condition.
    #[must_use]
    pub fn must(mut self, condition: impl Into<Condition>) -> Self {
        self.must.push(condition.into());
        self
    }

    /// Adds a `should` condition.
    #[must_use]
    pub fn should(mut self, condition: impl Into<Condition>) -> Self {
        self.should.push(condition.into());
        self
    }

    /// Adds a `must_not` condition.
    #[must_use]
    pub fn must_not(mut self, condition: impl Into<Condition>) -> Self {
        self.must_not.push(condition.into());
        self
    }

    /// Sets `min_should`.
    #[must_use]
    pub fn min_should(mut self, conditions: Vec<Condition>, min_count: usize) -> Self {
        self.min_should = Some(MinShould {
            conditions,
            min_count,
        });
        self
    }

    /// Whether the point with `id` and `payload` (a JSON object, or `None` for a point
    /// without one) passes the filter.
    #[must_use]
    pub fn matches(&self, id: PointId, payload: Option<&Map<String, Value>>) -> bool {
        let empty = Map::new();
        let root = payload.unwrap_or(&empty);
        self.check(Some(id), root)
    }

    /// Whether a point with `id` and payload bytes `payload` passes the filter: the bytes
    /// are parsed as a JSON object (bytes that are not one have no fields).
    #[must_use]
    pub fn matches_bytes(&self, id: PointId, payload: Option<&[u8]>) -> bool {
        if self.is_id_only() {
            return self.check(Some(id), &Map::new());
        }
        let map = payload.and_then(payload_object);
        self.matches(id, map.as_ref())
    }

    /// True when no condition reads the payload (the filter needs only ids).
    pub(crate) fn is_id_only(&self) -> bool {
        self.conditions().all(|c| match c {
            Condition::HasId(_) => true,
            Condition::Filter(f) => f.is_id_only(),
            _ => false,
        })
    }

    fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.must
            .iter()
            .chain(&self.should)
            .chain(&self.must_not)
            .chain(self.min_should.iter().flat_map(|m| &m.conditions))
    }

    /// `id` is `None` inside `nested` (`has_id` does not apply to an array element).
    fn check(&self, id: Option<PointId>, root: &Map<String, Value>) -> bool {
        let holds = |c: &Condition| c.check(id, root);
        self.must.iter().all(holds)
            && (self.should.is_empty() || self.should.iter().any(holds))
            && !self.must_not.iter().any(holds)
            && self.min_should.as_ref().is_none_or(|m| {
                m.conditions
                    .iter()
                    .filter(|c| holds(c))
                    .take(m.min_count)
                    .count()
                    >= m.min_count
            })
    }
}

/// Checks `key` as the key of a payload index: a key path (see the module docs) of at
/// most [`MAX_INDEX_KEY_BYTES`](crate::config::MAX_INDEX_KEY_BYTES) bytes.
pub(crate) fn check_index_key(key: &str) -> crate::error::Result<()> {
    use crate::config::MAX_INDEX_KEY_BYTES;
    if key.len() > MAX_INDEX_KEY_BYTES || steps(key).is_none() {
        return Err(crate::error::Error::InvalidArgument(format!(
            "{key:?} is not a payload index key; give a key path of at most \
             {MAX_INDEX_KEY_BYTES} bytes, field names joined by '.', each optionally followed \
             by [] or [n] (\"section\", \"meta.tags[]\"), as filters name it"
        )));
    }
    Ok(())
}

/// The JSON object payload bytes hold, if they hold one.
pub(crate) fn payload_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

impl Condition {
    /// A `match` on `key` with one value (Qdrant's `MatchValue`).
    pub fn matches(key: impl Into<String>, value: impl Into<MatchValue>) -> Self {
        Condition::matching(key, Match::Value(value.into()))
    }

    /// A `match` on `key` with any of `values` (Qdrant's `MatchAny`).
    pub fn matches_any<V: Into<MatchValue>>(
        key: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Condition::matching(
            key,
            Match::Any(values.into_iter().map(Into::into).collect()),
        )
    }

    /// A `match` on `key` with none of `values` (Qdrant's `MatchExcept`).
    pub fn matches_except<V: Into<MatchValue>>(
        key: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Condition::matching(
            key,
            Match::Except(values.into_iter().map(Into::into).collect()),
        )
    }

    /// Any `match` on `key`.
    pub fn matching(key: impl Into<String>, matches: Match) -> Self {
        Condition::Field(FieldCondition {
            key: key.into(),
            matches: Some(matches),
            ..FieldCondition::default()
        })
    }

    /// A `range` on `key`.
    pub fn range(key: impl Into<String>, range: Range) -> Self {
        Condition::Field(FieldCondition {
            key: key.into(),
            range: Some(range),
            ..FieldCondition::default()
        })
    }

    /// `has_id`.
    pub fn has_id(ids: impl IntoIterator<Item = PointId>) -> Self {
        Condition::HasId(ids.into_iter().collect())
    }

    fn check(&self, id: Option<PointId>, root: &Map<String, Value>) -> bool {
        match self {
            Condition::Field(f) => f.check(root),
            Condition::IsEmpty { key } => is_empty(&values_at(root, key)),
            Condition::IsNull { key } => is_null(&values_at(root, key)),
            Condition::HasId(ids) => id.is_some_and(|id| ids.contains(&id)),
            Condition::Nested { key, filter } => values_at(root, key)
                .into_iter()
                .any(|v| v.as_object().is_some_and(|o| filter.check(None, o))),
            Condition::Filter(f) => f.check(id, root),
        }
    }
}

impl From<FieldCondition> for Condition {
    fn from(f: FieldCondition) -> Self {
        Condition::Field(f)
    }
}

impl From<Filter> for Condition {
    fn from(f: Filter) -> Self {
        Condition::Filter(f)
    }
}

impl From<&str> for MatchValue {
    fn from(s: &str) -> Self {
        MatchValue::Keyword(s.to_owned())
    }
}

impl From<String> for MatchValue {
    fn from(s: String) -> Self {
        MatchValue::Keyword(s)
    }
}

impl From<i64> for MatchValue {
    fn from(v: i64) -> Self {
        MatchValue::Integer(v)
    }
}

impl From<bool> for MatchValue {
    fn from(v: bool) -> Self {
        MatchValue::Bool(v)
    }
}

impl MatchValue {
    fn equals(&self, v: &Value) -> bool {
        match (self, v) {
            (MatchValue::Keyword(s), Value::String(x)) => s == x,
            (MatchValue::Integer(i), Value::Number(n)) => n.as_i64() == Some(*i),
            (MatchValue::Bool(b), Value::Bool(x)) => b == x,
            _ => false,
        }
    }
}

impl Range {
    /// Numeric bounds: `gte ≤ x < lt` style, each optional.
    #[must_use]
    pub fn numbers(gt: Option<f64>, gte: Option<f64>, lt: Option<f64>, lte: Option<f64>) -> Self {
        Range {
            lt: lt.map(Bound::Number),
            lte: lte.map(Bound::Number),
            gt: gt.map(Bound::Number),
            gte: gte.map(Bound::Number),
        }
    }

    fn is_datetime(&self) -> bool {
        [self.lt, self.lte, self.gt, self.gte]
            .iter()
            .flatten()
            .any(|b| matches!(b, Bound::Datetime(_)))
    }

    fn holds(&self, v: &Value) -> bool {
        let x = if self.is_datetime() {
            match v {
                Value::String(s) => match datetime::parse_micros(s) {
                    Some(t) => t as f64,
                    None => return false,
                },
                _ => return false,
            }
        } else {
            match v.as_f64() {
                Some(x) => x,
                None => return false,
            }
        };
        let at = |b: Option<Bound>| {
            b.map(|b| match b {
                Bound::Number(n) => n,
                Bound::Datetime(t) => t as f64,
            })
        };
        at(self.lt).is_none_or(|b| x < b)
            && at(self.lte).is_none_or(|b| x <= b)
            && at(self.gt).is_none_or(|b| x > b)
            && at(self.gte).is_none_or(|b| x >= b)
    }
}

impl ValuesCount {
    fn holds(&self, n: usize) -> bool {
        self.lt.is_none_or(|b| n < b)
            && self.lte.is_none_or(|b| n <= b)
            && self.gt.is_none_or(|b| n > b)
            && self.gte.is_none_or(|b| n >= b)
    }
}

impl FieldCondition {
    fn check(&self, root: &Map<String, Value>) -> bool {
        let values = values_at(root, &self.key);
        let present = || values.iter().filter(|v| !v.is_null());
        self.matches.as_ref().is_none_or(|m| match m {
            Match::Value(want) => present().any(|v| want.equals(v)),
            Match::Any(set) => present().any(|v| set.iter().any(|w| w.equals(v))),
            Match::Except(set) => {
                is_empty(&values) || present().any(|v| !set.iter().any(|w| w.equals(v)))
            }
            Match::Text(s) => present().any(|v| v.as_str().is_some_and(|x| x.contains(s.as_str()))),
        }) && self
            .range
            .as_ref()
            .is_none_or(|r| present().any(|v| r.holds(v)))
            && self
                .values_count
                .as_ref()
                .is_none_or(|c| c.holds(present().count()))
            && self.is_empty.is_none_or(|want| is_empty(&values) == want)
            && self.is_null.is_none_or(|want| is_null(&values) == want)
    }
}

fn is_empty(values: &[&Value]) -> bool {
    values.iter().all(|v| v.is_null())
}

fn is_null(values: &[&Value]) -> bool {
    values.iter().any(|v| v.is_null())
}

/// One step of a key path.
enum Step<'k> {
    Field(&'k str),
    /// `[]`: every element of an array.
    Each,
    /// `[n]`: one element.
    Index(usize),
}

/// The steps of `key`, or `None` if it is malformed (an empty field, an unclosed or
/// non-numeric bracket).
fn steps(key: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if name.is_empty() {
            return None;
        }
        out.push(Step::Field(name));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let inside = rest.get(1..close)?;
            out.push(if inside.is_empty() {
                Step::Each
            } else {
                Step::Index(inside.parse().ok()?)
            });
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(out)
}

/// The values at `key` in `root`, arrays flattened (see the module docs). A malformed key
/// (rejected when parsing a filter) reaches nothing.
fn values_at<'a>(root: &'a Map<String, Value>, key: &str) -> Vec<&'a Value> {
    let Some(steps) = steps(key) else {
        return Vec::new();
    };
    let mut current: Vec<&Value> = Vec::new();
    let mut first = true;
    for step in &steps {
        let mut next = Vec::new();
        match step {
            Step::Field(name) if first => next.extend(root.get(*name)),
            Step::Field(name) => {
                for v in &current {
                    collect_field(v, name, &mut next);
                }
            }
            Step::Each => {
                for v in &current {
                    if let Value::Array(items) = v {
                        next.extend(items.iter());
                    }
                }
            }
            Step::Index(i) => {
                for v in &current {
                    if let Value::Array(items) = v {
                        next.extend(items.get(*i));
                    }
                }
            }
        }
        first = false;
        current = next;
    }
    let mut out = Vec::with_capacity(current.len());
    for v in current {
        match v {
            Value::Array(items) => out.extend(items.iter()),
            other => out.push(other),
        }
    }
    out
}

/// Field `name` of `v`, or of every object inside the array `v` (recursively).
fn collect_field<'a>(v: &'a Value, name: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) => out.extend(o.get(name)),
        Value::Array(items) => {
            for item in items {
                collect_field(item, name, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
