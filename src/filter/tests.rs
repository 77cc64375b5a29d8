use serde_json::json;

use super::*;

fn payload(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// Parses `filter` JSON and evaluates it on point 7 with `doc`.
fn eval(filter: Value, doc: Value) -> bool {
    let f = Filter::from_json(&filter).unwrap();
    // Every parsed filter serializes back to JSON that parses to itself.
    assert_eq!(Filter::from_json(&f.to_json()).unwrap(), f, "{filter}");
    f.matches(PointId::Num(7), Some(&payload(doc)))
}

fn must(c: Value) -> Value {
    json!({ "must": [c] })
}

#[test]
fn match_value_keyword_integer_bool_and_arrays() {
    let doc = json!({"city": "London", "n": 5, "f": 5.0, "ok": true, "tags": ["a", "b"],
                     "mixed": [1, "1", true], "nil": null});
    let m = |key: &str, v: Value| {
        eval(
            must(json!({"key": key, "match": {"value": v}})),
            doc.clone(),
        )
    };
    assert!(m("city", json!("London")));
    assert!(!m("city", json!("london")));
    assert!(m("n", json!(5)));
    // An integer match never matches a float value, nor a string.
    assert!(!m("f", json!(5)));
    assert!(m("ok", json!(true)) && !m("ok", json!(false)));
    // A plain array matches when any element does; `tags[]` is the same.
    assert!(m("tags", json!("b")) && m("tags[]", json!("a")) && !m("tags", json!("c")));
    // Mixed types compare by type.
    assert!(m("mixed", json!(1)) && m("mixed", json!("1")) && m("mixed", json!(true)));
    assert!(!m("mixed", json!(false)));
    // Missing keys and nulls match nothing.
    assert!(!m("absent", json!("x")) && !m("nil", json!("x")));
}

#[test]
fn match_any_and_except() {
    let any = |doc: Value| {
        eval(
            must(json!({"key": "c", "match": {"any": ["red", "blue", 3]}})),
            doc,
        )
    };
    assert!(any(json!({"c": "red"})) && any(json!({"c": 3})) && any(json!({"c": ["x", "blue"]})));
    assert!(!any(json!({"c": "green"})) && !any(json!({})) && !any(json!({"c": []})));
    let except = |doc: Value| {
        eval(
            must(json!({"key": "c", "match": {"except": ["red", "blue"]}})),
            doc,
        )
    };
    assert!(except(json!({"c": "green"})));
    assert!(!except(json!({"c": "red"})));
    // An array matches when some element is none of the values; a key without values
    // matches (it holds none of them).
    assert!(except(json!({"c": ["red", "green"]})) && !except(json!({"c": ["red", "blue"]})));
    assert!(except(json!({})) && except(json!({"c": null})) && except(json!({"c": []})));
}

#[test]
fn text_match_is_a_substring() {
    let t = |doc: Value| eval(must(json!({"key": "d", "match": {"text": "vector"}})), doc);
    assert!(t(json!({"d": "a vector store"})) && t(json!({"d": ["x", "vectors"]})));
    assert!(!t(json!({"d": "Vector"})) && !t(json!({"d": 1})) && !t(json!({})));
}

#[test]
fn numeric_ranges_on_integers_floats_and_arrays() {
    let r = |range: Value, doc: Value| eval(must(json!({"key": "x", "range": range})), doc);
    assert!(r(json!({"gte": 1, "lt": 2}), json!({"x": 1})));
    assert!(!r(json!({"gte": 1, "lt": 2}), json!({"x": 2})));
    assert!(r(json!({"gt": 1.5}), json!({"x": 1.75})));
    assert!(r(json!({"lte": -3}), json!({"x": -3.0})));
    // Any element in range; strings, bools, nulls and missing keys never are.
    assert!(r(json!({"gt": 10}), json!({"x": [1, 20]})));
    assert!(!r(json!({"gt": 0}), json!({"x": "5"})));
    assert!(!r(json!({"gt": 0}), json!({"x": true})));
    assert!(!r(json!({"gt": 0}), json!({"x": null})) && !r(json!({"gt": 0}), json!({})));
    // Large integers compare as f64 (exact below 2^53).
    assert!(r(
        json!({"gte": 9_007_199_254_740_992i64}),
        json!({"x": 9_007_199_254_740_992i64})
    ));
}

#[test]
fn datetime_ranges_compare_instants_across_offsets() {
    let r = |range: Value, doc: Value| eval(must(json!({"key": "t", "range": range})), doc);
    let after = json!({"gt": "2024-01-01T00:00:00Z"});
    assert!(r(after.clone(), json!({"t": "2024-01-01T00:00:01Z"})));
    assert!(!r(after.clone(), json!({"t": "2024-01-01T00:00:00Z"})));
    // 01:00+02:00 is 23:00 the previous day in UTC.
    assert!(!r(after.clone(), json!({"t": "2024-01-01T01:00:00+02:00"})));
    assert!(r(after.clone(), json!({"t": "2023-12-31T20:00:00-05:00"})));
    assert!(r(json!({"lte": "2024-01-01"}), json!({"t": "2023-12-31"})));
    // Values that are not datetimes, and numbers, are outside a datetime range.
    assert!(!r(after.clone(), json!({"t": "yesterday"})));
    assert!(!r(after, json!({"t": 1_800_000_000})));
}

#[test]
fn is_empty_is_null_and_values_count() {
    let empty = |doc: Value| eval(must(json!({"is_empty": {"key": "r"}})), doc);
    assert!(empty(json!({})) && empty(json!({"r": null})) && empty(json!({"r": []})));
    assert!(empty(json!({"r": [null]})));
    assert!(!empty(json!({"r": ""})) && !empty(json!({"r": [0]})) && !empty(json!({"r": {}})));
    let null = |doc: Value| eval(must(json!({"is_null": {"key": "r"}})), doc);
    assert!(null(json!({"r": null})) && null(json!({"r": [1, null]})));
    assert!(!null(json!({})) && !null(json!({"r": []})) && !null(json!({"r": 0})));
    // The field-condition forms, including their negation (as the Debian filters use).
    let not_empty = |doc: Value| eval(must(json!({"key": "r", "is_empty": false})), doc);
    assert!(not_empty(json!({"r": "x"})) && !not_empty(json!({})));
    let count = |c: Value, doc: Value| eval(must(json!({"key": "r", "values_count": c})), doc);
    assert!(count(json!({"gte": 2}), json!({"r": [1, 2]})));
    assert!(!count(json!({"gte": 2}), json!({"r": [1, null]})));
    assert!(count(json!({"lt": 1}), json!({})) && count(json!({"lte": 1}), json!({"r": "x"})));
    assert!(count(json!({"gt": 0, "lt": 3}), json!({"r": [[1], 2]})));
}

#[test]
fn nested_paths_and_arrays_of_objects() {
    let doc = json!({"a": {"b": {"c": 1}}, "cities": [{"name": "Oslo", "pop": 700},
                     {"name": "Bergen", "pop": 285}], "grid": [[1, 2], [3]]});
    let m = |key: &str, v: Value| {
        eval(
            must(json!({"key": key, "match": {"value": v}})),
            doc.clone(),
        )
    };
    assert!(m("a.b.c", json!(1)) && !m("a.b", json!(1)) && !m("a.c", json!(1)));
    assert!(m("cities[].name", json!("Bergen")) && m("cities.name", json!("Oslo")));
    assert!(m("cities[1].name", json!("Bergen")) && !m("cities[0].name", json!("Bergen")));
    assert!(!m("cities[5].name", json!("Oslo")));
    assert!(m("grid[]", json!(3)) && m("grid[0]", json!(2)));
    // `nested` holds every condition on one element: no city is Oslo with pop < 500.
    let nested = |f: Value| {
        eval(
            must(json!({"nested": {"key": "cities", "filter": f}})),
            doc.clone(),
        )
    };
    let oslo_small = json!({"must": [{"key": "name", "match": {"value": "Oslo"}},
                                     {"key": "pop", "range": {"lt": 500}}]});
    assert!(!nested(oslo_small.clone()));
    // The same conditions on the flattened key hold (each on some city).
    assert!(eval(
        json!({"must": [{"key": "cities[].name", "match": {"value": "Oslo"}},
                                 {"key": "cities[].pop", "range": {"lt": 500}}]}),
        doc.clone()
    ));
    assert!(nested(
        json!({"must": [{"key": "name", "match": {"value": "Bergen"}},
                                   {"key": "pop", "range": {"lt": 500}}]})
    ));
}

#[test]
fn clauses_min_should_nesting_and_ids() {
    let doc = json!({"city": "London", "color": "red"});
    let c = |k: &str, v: &str| json!({"key": k, "match": {"value": v}});
    assert!(eval(json!({}), doc.clone()));
    assert!(eval(
        json!({"should": [c("city", "Paris"), c("color", "red")]}),
        doc.clone()
    ));
    assert!(!eval(
        json!({"should": [c("city", "Paris"), c("color", "blue")]}),
        doc.clone()
    ));
    assert!(!eval(
        json!({"must_not": [c("city", "Paris"), c("color", "red")]}),
        doc.clone()
    ));
    assert!(eval(json!({"must_not": [c("city", "Paris")]}), doc.clone()));
    let min = |n: usize| {
        json!({"min_should": {"conditions": [c("city", "London"), c("color", "red"),
                                              c("color", "blue")], "min_count": n}})
    };
    assert!(eval(min(2), doc.clone()) && !eval(min(3), doc.clone()) && eval(min(0), doc.clone()));
    // A filter as a condition, in either of Qdrant's forms.
    let inner = json!({"should": [c("city", "Paris"), c("city", "London")]});
    assert!(eval(
        json!({"must": [inner.clone(), c("color", "red")]}),
        doc.clone()
    ));
    assert!(eval(
        json!({"must_not": [{"filter": {"must": [c("city", "Paris")]}}]}),
        doc.clone()
    ));
    // A single condition may stand for a list.
    assert!(eval(json!({"must": c("city", "London")}), doc.clone()));
    let uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
    assert!(eval(
        json!({"must": [{"has_id": [1, 7, uuid]}]}),
        doc.clone()
    ));
    assert!(!eval(json!({"must": [{"has_id": [1, uuid]}]}), doc.clone()));
    let f = Filter::from_json(&json!({"must": [{"has_id": [uuid]}]})).unwrap();
    assert!(f.matches(uuid.parse().unwrap(), None));
    assert!(f.is_id_only());
    // A point without a payload has no fields.
    let absent = Filter::from_json(&json!({"must": [{"is_empty": {"key": "x"}}]})).unwrap();
    assert!(absent.matches(PointId::Num(1), None));
    assert!(absent.matches_bytes(PointId::Num(1), Some(b"opaque \xff bytes")));
    assert!(!absent.matches_bytes(PointId::Num(1), Some(br#"{"x": 1}"#)));
}

#[test]
fn builders_match_the_json_forms() {
    let built = Filter::new()
        .must(Condition::matches("city", "London"))
        .must(Condition::range(
            "n",
            Range::numbers(None, Some(1.0), Some(5.0), None),
        ))
        .should(Condition::matches_any("tags", ["a", "b"]))
        .must_not(Condition::matches_except("n", [3i64]))
        .must_not(Condition::has_id([PointId::Num(2)]));
    let parsed = Filter::from_json(&json!({
        "must": [{"key": "city", "match": {"value": "London"}},
                 {"key": "n", "range": {"gte": 1.0, "lt": 5.0}}],
        "should": [{"key": "tags", "match": {"any": ["a", "b"]}}],
        "must_not": [{"key": "n", "match": {"except": [3]}}, {"has_id": [2]}],
    }))
    .unwrap();
    assert_eq!(built, parsed);
    let text = serde_json::to_string(&built).unwrap();
    let back: Filter = serde_json::from_str(&text).unwrap();
    assert_eq!(back, built);
}

#[test]
fn invalid_filters_name_the_offending_part() {
    let err = |v: Value| match Filter::from_json(&v) {
        Err(crate::Error::InvalidFilter { at, message }) => format!("{at}: {message}"),
        other => panic!("{v}: {other:?}"),
    };
    assert!(err(json!([])).starts_with("the filter: is an array"));
    assert!(
        err(json!({"must": [{"key": "x"}]})).starts_with("must[0]: has a key but no condition")
    );
    assert!(err(json!({"must": [{"key": 3, "match": {"value": 1}}]})).starts_with("must[0].key:"));
    assert!(
        err(json!({"must": [{"key": "a..b", "match": {"value": 1}}]})).contains("not a key path")
    );
    assert!(
        err(json!({"must": [{"key": "a[x]", "match": {"value": 1}}]})).contains("not a key path")
    );
    assert!(
        err(json!({"should": [{}, {"key": "x", "match": {"value": 1.5}}]}))
            .starts_with("should[0]: is not a condition")
    );
    assert!(
        err(json!({"must": [{"key": "x", "match": {"value": 1.5}}]}))
            .starts_with("must[0].match.value: is the number 1.5")
    );
    assert!(
        err(json!({"must": [{"key": "x", "match": {"value": 1, "any": [1]}}]}))
            .contains("exactly one")
    );
    assert!(
        err(json!({"must": [{"key": "x", "match": {"any": [1, [2]]}}]}))
            .starts_with("must[0].match.any[1]:")
    );
    assert!(
        err(json!({"must": [{"key": "x", "range": {"gt": "soon"}}]}))
            .starts_with("must[0].range.gt: \"soon\" is not an RFC 3339")
    );
    assert!(
        err(json!({"must": [{"key": "x", "range": {"gt": 1, "lt": "2024-01-01"}}]}))
            .contains("mixes numbers and datetimes")
    );
    assert!(
        err(json!({"must": [{"key": "x", "range": {"between": 1}}]}))
            .starts_with("must[0].range.between:")
    );
    assert!(err(json!({"must": [{"key": "x", "range": {}}]})).contains("no bound"));
    assert!(
        err(json!({"must": [{"key": "x", "values_count": {"gt": -1}}]}))
            .starts_with("must[0].values_count.gt:")
    );
    assert!(err(json!({"must": [{"has_id": [1, -2]}]})).starts_with("must[0].has_id[1]:"));
    assert!(err(json!({"must": [{"has_id": ["not-a-uuid"]}]})).starts_with("must[0].has_id[0]:"));
    assert!(err(json!({"must": [{"key": "x", "geo_radius": {}}]})).contains("not supported"));
    assert!(err(json!({"maybe": []})).starts_with("maybe: is not a filter clause"));
    assert!(
        err(json!({"min_should": {"conditions": []}})).starts_with("min_should: has no min_count")
    );
    assert!(
        err(json!({"must": [{"nested": {"key": "a", "filter": {"must": 3}}}]}))
            .starts_with("must[0].nested.filter.must: is the number 3")
    );
    let mut deep = json!({});
    for _ in 0..40 {
        deep = json!({"must": [deep]});
    }
    assert!(err(deep).contains("deeper than 32"));
    // Through serde, the message is the same.
    let e = serde_json::from_str::<Filter>(r#"{"must": [{"key": "x"}]}"#).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid filter: must[0] has a key but no condition"),
        "{e}"
    );
}
