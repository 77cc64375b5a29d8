//! Qdrant's filter JSON to [`Filter`] and back. Parsing names where a problem is, as a path
//! from the filter's root (`must[1].range.gt`).

use serde::de::Error as _;
use serde_json::{Map, Value, json};

use super::datetime::{format_micros, parse_micros};
use super::{
    Bound, Condition, FieldCondition, Filter, MAX_FILTER_DEPTH, Match, MatchValue, MinShould,
    Range, ValuesCount, steps,
};
use crate::error::{Error, Result};
use crate::point::PointId;

fn invalid(at: &str, message: impl Into<String>) -> Error {
    Error::InvalidFilter {
        at: if at.is_empty() {
            "the filter".to_owned()
        } else {
            at.to_owned()
        },
        message: message.into(),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

const FILTER_KEYS: [&str; 4] = ["must", "should", "must_not", "min_should"];

impl Filter {
    /// Parses Qdrant's filter JSON. Errors are [`Error::InvalidFilter`], naming the part
    /// that is wrong (`must[0].match`) and what would be right.
    pub fn from_json(value: &Value) -> Result<Filter> {
        filter(value, "", 0)
    }

    /// Parses Qdrant's filter JSON from text.
    pub fn from_json_str(text: &str) -> Result<Filter> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| invalid("", format!("is not valid JSON ({e})")))?;
        Filter::from_json(&value)
    }

    /// The filter as Qdrant's JSON.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (name, list) in [
            ("must", &self.must),
            ("should", &self.should),
            ("must_not", &self.must_not),
        ] {
            if !list.is_empty() {
                out.insert(name.into(), list.iter().map(Condition::to_json).collect());
            }
        }
        if let Some(m) = &self.min_should {
            out.insert(
                "min_should".into(),
                json!({
                    "conditions": m.conditions.iter().map(Condition::to_json).collect::<Vec<_>>(),
                    "min_count": m.min_count,
                }),
            );
        }
        Value::Object(out)
    }
}

impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Filter::from_json(&value).map_err(D::Error::custom)
    }
}

fn object<'v>(value: &'v Value, at: &str, what: &str) -> Result<&'v Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| invalid(at, format!("is {}; {what}", kind(value))))
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the bool {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn filter(value: &Value, at: &str, depth: usize) -> Result<Filter> {
    if depth > MAX_FILTER_DEPTH {
        return Err(invalid(
            at,
            format!("nests filters deeper than {MAX_FILTER_DEPTH} levels; flatten it"),
        ));
    }
    let map = object(
        value,
        at,
        "a filter is an object with must, should, must_not or min_should",
    )?;
    let mut out = Filter::default();
    for (key, v) in map {
        let here = join(at, key);
        match key.as_str() {
            "must" => out.must = conditions(v, &here, depth)?,
            "should" => out.should = conditions(v, &here, depth)?,
            "must_not" => out.must_not = conditions(v, &here, depth)?,
            "min_should" if v.is_null() => {}
            "min_should" => {
                let m = object(
                    v,
                    &here,
                    "min_should is {\"conditions\": [...], \"min_count\": n}",
                )?;
                let list = m.get("conditions").ok_or_else(|| {
                    invalid(
                        &here,
                        "has no conditions; give {\"conditions\": [...], \"min_count\": n}",
                    )
                })?;
                let conditions = conditions(list, &join(&here, "conditions"), depth)?;
                let count_at = join(&here, "min_count");
                let min_count = m
                    .get("min_count")
                    .ok_or_else(|| invalid(&here, "has no min_count"))?
                    .as_u64()
                    .ok_or_else(|| invalid(&count_at, "must be a non-negative integer"))?;
                if let Some(other) = m.keys().find(|k| *k != "conditions" && *k != "min_count") {
                    return Err(invalid(&join(&here, other), "is not a key of min_should"));
                }
                out.min_should = Some(MinShould {
                    conditions,
                    min_count: usize::try_from(min_count).unwrap_or(usize::MAX),
                });
            }
            _ => {
                return Err(invalid(
                    &here,
                    "is not a filter clause; a filter has must, should, must_not and min_should",
                ));
            }
        }
    }
    Ok(out)
}

/// A clause: a list of conditions, one condition, or null (none).
fn conditions(value: &Value, at: &str, depth: usize) -> Result<Vec<Condition>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, c)| condition(c, &format!("{at}[{i}]"), depth))
            .collect(),
        Value::Object(_) => Ok(vec![condition(value, at, depth)?]),
        other => Err(invalid(
            at,
            format!("is {}; give a list of conditions", kind(other)),
        )),
    }
}

fn key_of(map: &Map<String, Value>, at: &str) -> Result<String> {
    let here = join(at, "key");
    let key = map
        .get("key")
        .ok_or_else(|| invalid(at, "has no key"))?
        .as_str()
        .ok_or_else(|| invalid(&here, "must be a string such as \"city\" or \"a.b[].c\""))?;
    if steps(key).is_none() {
        return Err(invalid(
            &here,
            format!(
                "{key:?} is not a key path; use field names joined by '.', each optionally \
                 followed by [] or [n] (\"tags[]\", \"a.b[0].c\")"
            ),
        ));
    }
    Ok(key.to_owned())
}

fn condition(value: &Value, at: &str, depth: usize) -> Result<Condition> {
    let map = object(value, at, "a condition is an object")?;
    if map.contains_key("key") {
        return field_condition(map, at).map(Condition::Field);
    }
    if map.keys().any(|k| FILTER_KEYS.contains(&k.as_str())) {
        return filter(value, at, depth + 1).map(Condition::Filter);
    }
    let Some((name, inner)) = map.iter().next().filter(|_| map.len() == 1) else {
        return Err(invalid(
            at,
            "is not a condition; give {\"key\": ..., \"match\"|\"range\"|...}, \
             {\"is_empty\": {\"key\": ...}}, {\"is_null\": ...}, {\"has_id\": [...]}, \
             {\"nested\": ...} or a filter",
        ));
    };
    let here = join(at, name);
    match name.as_str() {
        "is_empty" | "is_null" => {
            let m = object(inner, &here, "give {\"key\": ...}")?;
            let key = key_of(m, &here)?;
            Ok(if name == "is_empty" {
                Condition::IsEmpty { key }
            } else {
                Condition::IsNull { key }
            })
        }
        "has_id" => {
            let items = inner
                .as_array()
                .ok_or_else(|| invalid(&here, "must be a list of point ids"))?;
            let ids = items
                .iter()
                .enumerate()
                .map(|(i, v)| point_id(v, &format!("{here}[{i}]")))
                .collect::<Result<_>>()?;
            Ok(Condition::HasId(ids))
        }
        "nested" => {
            let m = object(inner, &here, "give {\"key\": ..., \"filter\": {...}}")?;
            let key = key_of(m, &here)?;
            let f = m
                .get("filter")
                .ok_or_else(|| invalid(&here, "has no filter"))?;
            let filter = filter(f, &join(&here, "filter"), depth + 1)?;
            Ok(Condition::Nested {
                key,
                filter: Box::new(filter),
            })
        }
        "filter" => filter(inner, &here, depth + 1).map(Condition::Filter),
        "has_vector" => Err(invalid(&here, "is not supported yet")),
        _ => Err(invalid(&here, "is not a condition vecsieve knows")),
    }
}

fn point_id(value: &Value, at: &str) -> Result<PointId> {
    match value {
        Value::Number(n) => n.as_u64().map(PointId::Num),
        Value::String(s) if s.len() == 36 => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        invalid(
            at,
            format!(
                "is {}; a point id is a non-negative integer or a UUID string",
                kind(value)
            ),
        )
    })
}

fn field_condition(map: &Map<String, Value>, at: &str) -> Result<FieldCondition> {
    let mut out = FieldCondition {
        key: key_of(map, at)?,
        ..FieldCondition::default()
    };
    for (name, v) in map {
        let here = join(at, name);
        match name.as_str() {
            "key" => {}
            "match" if !v.is_null() => out.matches = Some(match_of(v, &here)?),
            "range" if !v.is_null() => out.range = Some(range_of(v, &here)?),
            "values_count" if !v.is_null() => out.values_count = Some(values_count(v, &here)?),
            "is_empty" | "is_null" if !v.is_null() => {
                let b = v
                    .as_bool()
                    .ok_or_else(|| invalid(&here, "must be true or false"))?;
                if name == "is_empty" {
                    out.is_empty = Some(b);
                } else {
                    out.is_null = Some(b);
                }
            }
            "match" | "range" | "values_count" | "is_empty" | "is_null" => {}
            "geo_bounding_box" | "geo_radius" | "geo_polygon" | "datetime_range" => {
                return Err(invalid(&here, "is not supported yet"));
            }
            _ => {
                return Err(invalid(
                    &here,
                    "is not a field condition; use match, range, values_count, is_empty or is_null",
                ));
            }
        }
    }
    if out.matches.is_none()
        && out.range.is_none()
        && out.values_count.is_none()
        && out.is_empty.is_none()
        && out.is_null.is_none()
    {
        return Err(invalid(
            at,
            "has a key but no condition; add match, range, values_count, is_empty or is_null",
        ));
    }
    Ok(out)
}

fn match_value(v: &Value, at: &str) -> Result<MatchValue> {
    match v {
        Value::String(s) => Ok(MatchValue::Keyword(s.clone())),
        Value::Bool(b) => Ok(MatchValue::Bool(*b)),
        Value::Number(n) if let Some(i) = n.as_i64() => Ok(MatchValue::Integer(i)),
        other => Err(invalid(
            at,
            format!(
                "is {}; match compares strings, integers and bools (use range for other numbers)",
                kind(other)
            ),
        )),
    }
}

fn match_of(v: &Value, at: &str) -> Result<Match> {
    let m = object(
        v,
        at,
        "match is {\"value\": ...}, {\"any\": [...]}, {\"except\": [...]} or {\"text\": ...}",
    )?;
    let Some((name, inner)) = m.iter().next().filter(|_| m.len() == 1) else {
        return Err(invalid(
            at,
            "must hold exactly one of value, any, except, text",
        ));
    };
    let here = join(at, name);
    let list = |inner: &Value| -> Result<Vec<MatchValue>> {
        inner
            .as_array()
            .ok_or_else(|| invalid(&here, "must be a list of strings, integers or bools"))?
            .iter()
            .enumerate()
            .map(|(i, x)| match_value(x, &format!("{here}[{i}]")))
            .collect()
    };
    match name.as_str() {
        "value" => Ok(Match::Value(match_value(inner, &here)?)),
        "any" => Ok(Match::Any(list(inner)?)),
        "except" => Ok(Match::Except(list(inner)?)),
        "text" => inner
            .as_str()
            .map(|s| Match::Text(s.to_owned()))
            .ok_or_else(|| invalid(&here, "must be a string")),
        _ => Err(invalid(
            &here,
            "is not a match kind; use value, any, except or text",
        )),
    }
}

fn range_of(v: &Value, at: &str) -> Result<Range> {
    let m = object(v, at, "range is {\"gte\": ..., \"lt\": ...}")?;
    let mut out = Range::default();
    for (name, bound) in m {
        let here = join(at, name);
        let b = match bound {
            Value::Null => continue,
            Value::Number(n) => match n.as_f64().filter(|x| x.is_finite()) {
                Some(x) => Bound::Number(x),
                None => return Err(invalid(&here, "must be a finite number")),
            },
            Value::String(s) => Bound::Datetime(parse_micros(s).ok_or_else(|| {
                invalid(
                    &here,
                    format!("{s:?} is not an RFC 3339 datetime such as \"2024-05-01T12:00:00Z\""),
                )
            })?),
            other => {
                return Err(invalid(
                    &here,
                    format!("is {}; give a number or an RFC 3339 datetime", kind(other)),
                ));
            }
        };
        match name.as_str() {
            "lt" => out.lt = Some(b),
            "lte" => out.lte = Some(b),
            "gt" => out.gt = Some(b),
            "gte" => out.gte = Some(b),
            _ => return Err(invalid(&here, "is not a bound; use lt, lte, gt or gte")),
        }
    }
    let bounds: Vec<Bound> = [out.lt, out.lte, out.gt, out.gte]
        .into_iter()
        .flatten()
        .collect();
    if bounds.is_empty() {
        return Err(invalid(at, "has no bound; give lt, lte, gt or gte"));
    }
    let datetimes = bounds
        .iter()
        .filter(|b| matches!(b, Bound::Datetime(_)))
        .count();
    if datetimes != 0 && datetimes != bounds.len() {
        return Err(invalid(
            at,
            "mixes numbers and datetimes; give all bounds as one or the other",
        ));
    }
    Ok(out)
}

fn values_count(v: &Value, at: &str) -> Result<ValuesCount> {
    let m = object(v, at, "values_count is {\"gte\": n, \"lt\": n}")?;
    let mut out = ValuesCount::default();
    for (name, bound) in m {
        let here = join(at, name);
        if bound.is_null() {
            continue;
        }
        let n = bound
            .as_u64()
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .ok_or_else(|| invalid(&here, "must be a non-negative integer"))?;
        match name.as_str() {
            "lt" => out.lt = Some(n),
            "lte" => out.lte = Some(n),
            "gt" => out.gt = Some(n),
            "gte" => out.gte = Some(n),
            _ => return Err(invalid(&here, "is not a bound; use lt, lte, gt or gte")),
        }
    }
    if out == ValuesCount::default() {
        return Err(invalid(at, "has no bound; give lt, lte, gt or gte"));
    }
    Ok(out)
}

impl Condition {
    fn to_json(&self) -> Value {
        match self {
            Condition::Field(f) => f.to_json(),
            Condition::IsEmpty { key } => json!({"is_empty": {"key": key}}),
            Condition::IsNull { key } => json!({"is_null": {"key": key}}),
            Condition::HasId(ids) => {
                let ids: Vec<Value> = ids
                    .iter()
                    .map(|id| match id {
                        PointId::Num(n) => json!(n),
                        PointId::Uuid(_) => json!(id.to_string()),
                    })
                    .collect();
                json!({ "has_id": ids })
            }
            Condition::Nested { key, filter } => {
                json!({"nested": {"key": key, "filter": filter.to_json()}})
            }
            Condition::Filter(f) => f.to_json(),
        }
    }
}

impl MatchValue {
    fn to_json(&self) -> Value {
        match self {
            MatchValue::Keyword(s) => json!(s),
            MatchValue::Integer(i) => json!(i),
            MatchValue::Bool(b) => json!(b),
        }
    }
}

impl Bound {
    fn to_json(self) -> Value {
        match self {
            Bound::Number(x) => json!(x),
            Bound::Datetime(t) => json!(format_micros(t)),
        }
    }
}

impl FieldCondition {
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("key".into(), json!(self.key));
        if let Some(m) = &self.matches {
            let list = |l: &[MatchValue]| l.iter().map(MatchValue::to_json).collect::<Vec<_>>();
            out.insert(
                "match".into(),
                match m {
                    Match::Value(v) => json!({"value": v.to_json()}),
                    Match::Any(l) => json!({"any": list(l)}),
                    Match::Except(l) => json!({"except": list(l)}),
                    Match::Text(s) => json!({"text": s}),
                },
            );
        }
        if let Some(r) = &self.range {
            let mut m = Map::new();
            for (name, b) in [("lt", r.lt), ("lte", r.lte), ("gt", r.gt), ("gte", r.gte)] {
                if let Some(b) = b {
                    m.insert(name.into(), b.to_json());
                }
            }
            out.insert("range".into(), Value::Object(m));
        }
        if let Some(c) = &self.values_count {
            let mut m = Map::new();
            for (name, b) in [("lt", c.lt), ("lte", c.lte), ("gt", c.gt), ("gte", c.gte)] {
                if let Some(b) = b {
                    m.insert(name.into(), json!(b));
                }
            }
            out.insert("values_count".into(), Value::Object(m));
        }
        if let Some(b) = self.is_empty {
            out.insert("is_empty".into(), json!(b));
        }
        if let Some(b) = self.is_null {
            out.insert("is_null".into(), json!(b));
        }
        Value::Object(out)
    }
}
