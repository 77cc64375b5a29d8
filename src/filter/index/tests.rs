//! Indexed filters against the filter's own evaluation of every payload (the oracle), and
//! the `payload_indexes` section codec.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::format::segment::{decode_payload_indexes, encode_payload_indexes};
use crate::segment::{Column, Originals};

/// Rows with ids and payloads only.
struct Docs {
    ids: Vec<PointId>,
    payloads: Vec<Option<Vec<u8>>>,
    deleted: Bitmap,
}

impl Rows for Docs {
    fn len(&self) -> usize {
        self.ids.len()
    }
    fn dim(&self) -> usize {
        0
    }
    fn codes(&self) -> &[u64] {
        &[]
    }
    fn code_words(&self) -> usize {
        0
    }
    fn originals(&self) -> Originals<'_> {
        Originals::F32(&[])
    }
    fn deleted(&self) -> &Bitmap {
        &self.deleted
    }
    fn id(&self, row: usize) -> PointId {
        self.ids[row]
    }
    fn payload(&self, row: usize) -> Option<&[u8]> {
        self.payloads[row].as_deref()
    }
    fn version(&self, _: usize) -> u64 {
        0
    }
    fn stored_bytes(&self, _: usize, _: &mut Vec<u8>) {}
    fn column(&self, _: usize) -> Option<Column<'_>> {
        None
    }
}

const KEYS: [&str; 4] = ["k", "n", "o.x", "k[]"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "a",
            "b",
            "c",
            "2024-01-01T00:00:00Z",
            "2024-06-01T12:00:00+02:00",
            "2024-06-01T10:00:00Z"
        ])
        .prop_map(|s| json!(s)),
        (-2i64..3).prop_map(|i| json!(i)),
        prop::sample::select(vec![0.5, -1.5, 2.0, -0.0]).prop_map(|f| json!(f)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => scalar(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
    ]
}

fn doc() -> impl Strategy<Value = Option<Vec<u8>>> {
    let fields = (
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
    );
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(b"opaque".to_vec())),
        8 => fields.prop_map(|(k, n, t, b, x)| {
            let mut m = serde_json::Map::new();
            for (key, v) in [("k", k), ("n", n), ("t", t), ("b", b)] {
                if let Some(v) = v {
                    m.insert(key.into(), v);
                }
            }
            if let Some(x) = x {
                m.insert("o".into(), json!({ "x": x }));
            }
            Some(serde_json::to_vec(&Value::Object(m)).unwrap())
        }),
    ]
}

fn match_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "z"]).prop_map(|s| json!(s)),
        (-2i64..3).prop_map(|i| json!(i)),
        any::<bool>().prop_map(|b| json!(b)),
    ]
}

fn field_condition() -> BoxedStrategy<Value> {
    let key = prop::sample::select(KEYS.to_vec());
    // Bounds from the values the documents hold, so that they meet them exactly.
    let bound = prop_oneof![
        prop::sample::select(vec![-2.0, -1.0, 0.0, 1.0, 2.0, 0.5, -1.5]).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "2024-01-01T00:00:00Z",
            "2024-06-01T10:00:00Z",
            "2024-06-01T12:00:00+02:00"
        ])
        .prop_map(|s| json!(s)),
    ];
    let part = prop_oneof![
        2 => (prop::sample::select(vec!["gt", "gte", "lt", "lte"]), bound.clone())
            .prop_map(|(a, x)| json!({"range": {a: x}})),
        1 => match_value().prop_map(|v| json!({"match": {"value": v}})),
        1 => prop::collection::vec(match_value(), 0..3).prop_map(|v| json!({"match": {"any": v}})),
        1 => prop::collection::vec(match_value(), 0..3).prop_map(|v| json!({"match": {"except": v}})),
        1 => (prop::sample::select(vec!["gt", "gte", "lt", "lte"]), bound.clone(), prop::sample::select(vec!["gt", "gte", "lt", "lte"]), bound)
            .prop_map(|(a, x, b, y)| {
                // Bounds of one type: both numbers or both datetimes.
                let y = if x.is_string() == y.is_string() { y } else { x.clone() };
                json!({"range": {a: x, b: y}})
            }),
        1 => (0usize..3).prop_map(|n| json!({"values_count": {"gte": n}})),
        1 => any::<bool>().prop_map(|b| json!({"is_empty": b})),
        1 => any::<bool>().prop_map(|b| json!({"is_null": b})),
    ];
    (key, part)
        .prop_map(|(key, part)| {
            let mut c = part.as_object().unwrap().clone();
            c.insert("key".into(), json!(key));
            Value::Object(c)
        })
        .boxed()
}

fn condition() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        6 => field_condition(),
        1 => prop::sample::select(KEYS.to_vec()).prop_map(|k| json!({"is_empty": {"key": k}})),
        1 => prop::sample::select(KEYS.to_vec()).prop_map(|k| json!({"is_null": {"key": k}})),
        1 => prop::collection::vec(0u64..12, 0..4).prop_map(|ids| json!({"has_id": ids})),
        1 => field_condition().prop_map(|c| json!({"nested": {"key": "o", "filter": {"must": [c]}}})),
    ];
    // Mostly plain conditions: a nested filter or `min_should` leaves its part of the
    // filter to the payloads.
    leaf.prop_recursive(1, 6, 3, |inner| {
        filter_of(inner.boxed()).prop_map(|f| json!({ "filter": f }))
    })
    .boxed()
}

fn filter_of(c: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    (
        prop::collection::vec(c.clone(), 0..3),
        prop::collection::vec(c.clone(), 0..2),
        prop::collection::vec(c.clone(), 0..2),
        prop::option::weighted(0.1, (prop::collection::vec(c, 1..3), 0usize..3)),
    )
        .prop_map(|(must, should, must_not, min)| {
            let mut f = json!({"must": must, "should": should, "must_not": must_not});
            if let Some((conditions, min_count)) = min {
                f["min_should"] = json!({"conditions": conditions, "min_count": min_count});
            }
            f
        })
        .boxed()
}

fn specs() -> impl Strategy<Value = IndexSpecs> {
    prop::collection::btree_map(
        prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
        prop::sample::select(PayloadSchema::ALL.to_vec()),
        1..4,
    )
}

fn docs(payloads: Vec<Option<Vec<u8>>>, deleted: &[usize]) -> Docs {
    let mut d = Bitmap::with_len(payloads.len());
    for &r in deleted {
        if r < payloads.len() {
            d.set(r);
        }
    }
    Docs {
        ids: (0..payloads.len() as u64).map(PointId::Num).collect(),
        payloads,
        deleted: d,
    }
}

fn build_for(rows: &Docs, specs: &IndexSpecs) -> BlockIndexes {
    let specs: Vec<(String, PayloadSchema)> = specs.iter().map(|(k, &s)| (k.clone(), s)).collect();
    BlockIndexes {
        fields: build(&specs, rows.len(), |r| rows.payload(r)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    /// Whatever is indexed, a filter passes exactly the rows its evaluation on each
    /// payload passes.
    #[test]
    fn indexed_filters_pass_what_payloads_pass(
        payloads in prop::collection::vec(doc(), 0..24),
        deleted in prop::collection::vec(0usize..24, 0..4),
        filter in filter_of(condition()),
        specs in specs(),
    ) {
        let rows = docs(payloads, &deleted);
        let filter = Filter::from_json(&filter).unwrap();
        let indexes = build_for(&rows, &specs);
        let oracle: Vec<usize> = (0..rows.len())
            .filter(|&r| !rows.deleted.get(r) && filter.matches_bytes(rows.id(r), rows.payload(r)))
            .collect();
        let got: Vec<usize> = passing(&rows, &filter, Some(&indexes)).iter_ones().collect();
        prop_assert_eq!(&got, &oracle, "filter {:?} specs {:?}", filter, specs);
        let unindexed: Vec<usize> = passing(&rows, &filter, None).iter_ones().collect();
        prop_assert_eq!(unindexed, oracle);
    }

    /// The section decodes to the indexes it encodes.
    #[test]
    fn the_section_round_trips(
        payloads in prop::collection::vec(doc(), 0..40),
        specs in specs(),
    ) {
        let rows = docs(payloads, &[]);
        let fields = build_for(&rows, &specs).fields;
        let bytes = encode_payload_indexes(&fields);
        prop_assert_eq!(bytes.len(), fields.iter().map(crate::format::segment::payload_index_len).sum::<usize>() + 8);
        prop_assert_eq!(decode_payload_indexes(&bytes, rows.len()).unwrap(), fields);
    }

    /// Damaged sections are refused or decode to indexes that encode back to them; never a
    /// panic.
    #[test]
    fn damaged_sections_never_panic(
        payloads in prop::collection::vec(doc(), 1..30),
        specs in specs(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let rows = docs(payloads, &[]);
        let mut bytes = encode_payload_indexes(&build_for(&rows, &specs).fields);
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        // What decodes is canonical: it encodes back to the same bytes.
        for b in [&bytes[..], &bytes[..cut.index(bytes.len())]] {
            if let Ok(fields) = decode_payload_indexes(b, rows.len()) {
                prop_assert_eq!(encode_payload_indexes(&fields), b);
            }
        }
    }
}

#[test]
fn keys_encode_in_order() {
    let ints = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
    assert!(ints.windows(2).all(|w| encode_int(w[0]) < encode_int(w[1])));
    assert!(ints.iter().all(|&i| decode_int(encode_int(i)) == i));
    let floats = [f64::MIN, -2.5, -1e-300, 0.0, 1e-300, 3.0, f64::MAX];
    assert!(
        floats
            .windows(2)
            .all(|w| encode_float(w[0]) < encode_float(w[1]))
    );
    assert!(floats.iter().all(|&f| decode_float(encode_float(f)) == f));
    assert_eq!(encode_float(-0.0), encode_float(0.0));
}

#[test]
fn an_integer_index_leaves_ranges_over_floats_to_payloads() {
    let rows = docs(
        vec![
            Some(br#"{"n": 1}"#.to_vec()),
            Some(br#"{"n": 1.5}"#.to_vec()),
            Some(br#"{"n": [3, null]}"#.to_vec()),
        ],
        &[],
    );
    let specs = IndexSpecs::from([("n".to_owned(), PayloadSchema::Integer)]);
    let indexes = build_for(&rows, &specs);
    assert!(indexes.fields[0].other_numbers);
    let f = Filter::from_json(&json!({"must": [{"key": "n", "range": {"gte": 1.2}}]})).unwrap();
    let got: Vec<usize> = passing(&rows, &f, Some(&indexes)).iter_ones().collect();
    assert_eq!(got, [1, 2]);
    let null = Filter::from_json(&json!({"must": [{"is_null": {"key": "n"}}]})).unwrap();
    assert_eq!(
        passing(&rows, &null, Some(&indexes))
            .iter_ones()
            .collect::<Vec<_>>(),
        [2]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Ranges over a numeric index large enough for prefix bitmaps pass the rows the
    /// payloads pass, at every width and wherever the ends fall between the prefixes
    /// (rows holding one value each, several with the same value, some none); a row
    /// holding two values keeps the index off prefixes, and its ranges stay exact.
    #[test]
    fn wide_ranges_pass_what_payloads_pass(
        values in prop::collection::vec(prop::option::of(-50i64..50), 64..400),
        two_at in prop::option::of(0usize..64),
        bounds in prop::collection::vec((-60i64..60, -60i64..60), 8),
        schema in prop::sample::select(vec![PayloadSchema::Integer, PayloadSchema::Float]),
    ) {
        let payloads = values
            .iter()
            .enumerate()
            .map(|(r, v)| match (v, two_at == Some(r)) {
                (Some(v), true) => Some(json!({"n": [v, v + 30]}).to_string().into_bytes()),
                (Some(v), false) => Some(json!({"n": v}).to_string().into_bytes()),
                (None, _) => Some(b"{}".to_vec()),
            })
            .collect();
        let rows = docs(payloads, &[]);
        let indexes = build_for(&rows, &IndexSpecs::from([("n".to_owned(), schema)]));
        let index = &indexes.fields[0];
        let single = two_at.is_none_or(|r| values[r].is_none());
        prop_assert_eq!(!index.prefixes.is_empty(), single && index.keys.len() >= 64);
        for (a, b) in bounds {
            for range in [json!({"gte": a, "lt": b}), json!({"gt": a}), json!({"lte": b})] {
                let f = Filter::from_json(&json!({"must": [{"key": "n", "range": range}]}))
                    .unwrap();
                let oracle: Vec<usize> = (0..rows.len())
                    .filter(|&r| f.matches_bytes(rows.id(r), rows.payload(r)))
                    .collect();
                let got: Vec<usize> = passing(&rows, &f, Some(&indexes)).iter_ones().collect();
                prop_assert_eq!(got, oracle, "{}", range);
            }
        }
    }
}
