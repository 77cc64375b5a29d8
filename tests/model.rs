//! A proptest state machine: random upserts (payloads: opaque bytes or JSON objects),
//! overwrites, deletes, searches, filtered exact searches, counts and scrolls, flushes,
//! seals and reopens (clean and by drop) against a brute-force in-memory oracle. Filters
//! come from a small family whose meaning the oracle evaluates itself (`Spec::passes`).
//! `VECSIEVE_MODEL_CASES=2000 cargo nextest run --release --profile campaign --test model`
//! runs a longer campaign.
//!
//! Vectors have small whole-number components, so Dot, Euclid and Manhattan scores are exact
//! in f32 and exact search must return the oracle's ids in the oracle's order. Cosine
//! normalizes, so there scores are compared within 1e-5 and ids up to near-ties.

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use vecsieve::optimizer::OptimizerConfig;
use vecsieve::{
    BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Datatype, Distance, PayloadSchema,
    Point, PointId, Quantization, QueryEncoding, ScalarConfig, SearchParams,
};

const DIM: usize = 8;

#[derive(Debug, Clone)]
enum Op {
    Upsert(Vec<(u64, Vec<i8>, Option<Vec<u8>>)>),
    Delete(Vec<u64>),
    Search {
        query: Vec<i8>,
        limit: usize,
        exact: bool,
        oversampling: f32,
        rescore: Option<bool>,
    },
    Get(u64),
    /// An exact search among the points passing a filter.
    FilteredSearch {
        query: Vec<i8>,
        limit: usize,
        spec: Spec,
    },
    Count(Spec),
    Scroll {
        spec: Spec,
        offset: Option<u64>,
        limit: usize,
    },
    /// A payload operation on the points chosen by id or by a filter.
    Payload(PayloadOp, Choose),
    /// A payload index on `k` (integer or float), `t` (keyword) or `t[]` (keyword).
    CreateIndex(&'static str, PayloadSchema),
    DropIndex(&'static str),
    Flush,
    Seal,
    Optimize,
    Reopen {
        clean: bool,
    },
}

/// Qdrant's payload operations.
#[derive(Debug, Clone)]
enum PayloadOp {
    /// `set_payload({"k": n})`.
    SetK(i64),
    /// `overwrite_payload({"t": tags})`.
    OverwriteTags(Vec<&'static str>),
    /// `delete_payload_keys(["k"])`.
    DeleteK,
    /// `clear_payload`.
    Clear,
}

#[derive(Debug, Clone)]
enum Choose {
    Ids(Vec<u64>),
    Filter(Spec),
}

impl PayloadOp {
    /// The new payload of a point whose payload is `old`, or `None` to leave it as it is
    /// (written here from the operation's meaning, with serde_json's own encoding).
    fn apply(&self, old: Option<&[u8]>) -> Option<Option<Vec<u8>>> {
        let object = || -> Option<serde_json::Map<String, serde_json::Value>> {
            match serde_json::from_slice(old?) {
                Ok(serde_json::Value::Object(m)) => Some(m),
                _ => None,
            }
        };
        let bytes = |m: serde_json::Map<String, serde_json::Value>| {
            serde_json::to_vec(&serde_json::Value::Object(m)).unwrap()
        };
        let changed = |new: Vec<u8>| (old != Some(new.as_slice())).then_some(Some(new));
        match self {
            PayloadOp::SetK(n) => {
                let mut m = object().unwrap_or_default();
                m.insert("k".into(), (*n).into());
                changed(bytes(m))
            }
            PayloadOp::OverwriteTags(t) => {
                let mut m = serde_json::Map::new();
                m.insert("t".into(), t.clone().into());
                changed(bytes(m))
            }
            PayloadOp::DeleteK => {
                let mut m = object()?;
                m.remove("k")?;
                Some(Some(bytes(m)))
            }
            PayloadOp::Clear => old.map(|_| None),
        }
    }
}

/// A filter and, independently, what it means.
#[derive(Debug, Clone)]
enum Spec {
    /// `k` equals the integer.
    KIs(i64),
    /// `k` is below the number.
    KBelow(f64),
    /// `t` holds any of the tags.
    TagAny(Vec<&'static str>),
    /// `k` is not the integer (`must_not`), or the point has no `k`.
    KNot(i64),
    /// `t` has no values.
    NoTags,
    /// The id is one of these.
    Ids(Vec<u64>),
    /// `k` is 0 or `t` holds "a" (`should`).
    ZeroOrA,
}

impl Spec {
    fn filter(&self) -> vecsieve::Filter {
        let json = match self {
            Spec::KIs(n) => serde_json::json!({"must": [{"key": "k", "match": {"value": n}}]}),
            Spec::KBelow(x) => serde_json::json!({"must": [{"key": "k", "range": {"lt": x}}]}),
            Spec::TagAny(tags) => {
                serde_json::json!({"must": [{"key": "t[]", "match": {"any": tags}}]})
            }
            Spec::KNot(n) => serde_json::json!({"must_not": [{"key": "k", "match": {"value": n}}]}),
            Spec::NoTags => serde_json::json!({"must": [{"is_empty": {"key": "t"}}]}),
            Spec::Ids(ids) => serde_json::json!({"must": [{"has_id": ids}]}),
            Spec::ZeroOrA => serde_json::json!({"should": [{"key": "k", "match": {"value": 0}},
                                                           {"key": "t", "match": {"value": "a"}}]}),
        };
        vecsieve::Filter::from_json(&json).unwrap()
    }

    fn passes(&self, id: PointId, payload: Option<&[u8]>) -> bool {
        let fields: Option<serde_json::Value> = payload
            .and_then(|p| serde_json::from_slice(p).ok())
            .filter(serde_json::Value::is_object);
        let k = fields.as_ref().and_then(|f| f["k"].as_i64());
        let tags: Vec<String> = fields
            .as_ref()
            .and_then(|f| f["t"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        match self {
            Spec::KIs(n) => k == Some(*n),
            Spec::KBelow(x) => k.is_some_and(|k| (k as f64) < *x),
            Spec::TagAny(want) => tags.iter().any(|t| want.contains(&t.as_str())),
            Spec::KNot(n) => k != Some(*n),
            Spec::NoTags => tags.is_empty(),
            Spec::Ids(ids) => ids.iter().any(|&i| PointId::Num(i) == id),
            Spec::ZeroOrA => k == Some(0) || tags.iter().any(|t| t == "a"),
        }
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    let tags = prop::sample::subsequence(vec!["a", "b", "c"], 1..3);
    prop_oneof![
        (0i64..4).prop_map(Spec::KIs),
        (-0.5f64..4.5).prop_map(Spec::KBelow),
        tags.prop_map(Spec::TagAny),
        (0i64..4).prop_map(Spec::KNot),
        Just(Spec::NoTags),
        prop::collection::vec(0u64..40, 0..6).prop_map(Spec::Ids),
        Just(Spec::ZeroOrA),
    ]
}

/// Payloads: none, opaque bytes, or a JSON object with an integer `k` and tags `t`.
fn payload() -> impl Strategy<Value = Option<Vec<u8>>> {
    let json = (
        prop::option::of(0i64..4),
        prop::sample::subsequence(vec!["a", "b", "c"], 0..3),
    )
        .prop_map(|(k, t)| {
            let mut m = serde_json::Map::new();
            if let Some(k) = k {
                m.insert("k".into(), k.into());
            }
            if !t.is_empty() {
                m.insert("t".into(), t.into());
            }
            Some(serde_json::Value::Object(m).to_string().into_bytes())
        });
    prop_oneof![
        1 => Just(None),
        1 => prop::collection::vec(any::<u8>(), 0..6).prop_map(Some),
        3 => json,
    ]
}

fn vector() -> impl Strategy<Value = Vec<i8>> {
    prop::collection::vec(-4i8..=4, DIM).prop_filter("non-zero", |v| v.iter().any(|&x| x != 0))
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u64..40;
    prop_oneof![
        6 => prop::collection::vec((id.clone(), vector(), payload()), 1..6).prop_map(Op::Upsert),
        2 => prop::collection::vec(id.clone(), 1..4).prop_map(Op::Delete),
        4 => (vector(), 1usize..12, any::<bool>(), prop_oneof![Just(1.0f32), Just(2.5), Just(1000.0)], prop::option::of(any::<bool>()))
            .prop_map(|(query, limit, exact, oversampling, rescore)| Op::Search { query, limit, exact, oversampling, rescore }),
        2 => id.clone().prop_map(Op::Get),
        2 => (vector(), 1usize..12, spec()).prop_map(|(query, limit, spec)| Op::FilteredSearch { query, limit, spec }),
        1 => spec().prop_map(Op::Count),
        1 => (spec(), prop::option::of(id.clone()), 1usize..8).prop_map(|(spec, offset, limit)| Op::Scroll { spec, offset, limit }),
        2 => (
            prop_oneof![
                (0i64..4).prop_map(PayloadOp::SetK),
                prop::sample::subsequence(vec!["a", "b", "c"], 0..3).prop_map(PayloadOp::OverwriteTags),
                Just(PayloadOp::DeleteK),
                Just(PayloadOp::Clear),
            ],
            prop_oneof![
                prop::collection::vec(id.clone(), 0..5).prop_map(Choose::Ids),
                spec().prop_map(Choose::Filter),
            ],
        )
            .prop_map(|(op, choose)| Op::Payload(op, choose)),
        1 => prop::sample::select(vec![
            ("k", PayloadSchema::Integer),
            ("k", PayloadSchema::Float),
            ("t", PayloadSchema::Keyword),
            ("t[]", PayloadSchema::Keyword),
        ])
        .prop_map(|(key, schema)| Op::CreateIndex(key, schema)),
        1 => prop::sample::select(vec!["k", "t", "t[]"]).prop_map(Op::DropIndex),
        1 => Just(Op::Flush),
        1 => Just(Op::Seal),
        1 => Just(Op::Optimize),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

fn to_f32(v: &[i8], datatype: Datatype) -> Vec<f32> {
    // U8 collections take 0..=255: shift the components up.
    let shift = if datatype == Datatype::U8 { 4.0 } else { 0.0 };
    v.iter().map(|&x| f32::from(x) + shift).collect()
}

/// What the engine stores: F16 rounds each component to nearest.
fn stored(v: &[f32], datatype: Datatype) -> Vec<f32> {
    match datatype {
        Datatype::F16 => v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect(),
        _ => v.to_vec(),
    }
}

fn run(config: CollectionConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let distance = config.distance;
    let datatype = config.datatype;
    let cosine = distance == Distance::Cosine;
    let quantization = config.quantization;
    let mut c = Some(Collection::create(&path, config).unwrap());
    let mut oracle: BTreeMap<PointId, (Vec<f32>, Option<Vec<u8>>)> = BTreeMap::new();
    for op in ops {
        let coll = c.as_ref().unwrap();
        match op {
            Op::Upsert(batch) => {
                let points: Vec<Point> = batch
                    .iter()
                    .map(|(id, v, p)| {
                        let pt = Point::new(*id, to_f32(v, datatype));
                        match p {
                            Some(p) => pt.with_payload(p.clone()),
                            None => pt,
                        }
                    })
                    .collect();
                coll.upsert(&points).unwrap();
                for p in points {
                    let v = if cosine {
                        common::normalize(&p.vector)
                    } else {
                        p.vector
                    };
                    oracle.insert(p.id, (stored(&v, datatype), p.payload));
                }
            }
            Op::Delete(ids) => {
                let ids: Vec<PointId> = ids.into_iter().map(PointId::Num).collect();
                let mut unique = ids.clone();
                unique.sort();
                unique.dedup();
                let expected = unique.iter().filter(|id| oracle.contains_key(id)).count();
                prop_assert_eq!(coll.delete(&ids).unwrap(), expected);
                for id in unique {
                    oracle.remove(&id);
                }
            }
            Op::Search {
                query,
                limit,
                exact,
                oversampling,
                rescore,
            } => {
                let q = to_f32(&query, datatype);
                let vectors: BTreeMap<PointId, Vec<f32>> =
                    oracle.iter().map(|(id, (v, _))| (*id, v.clone())).collect();
                let qn = if cosine {
                    common::normalize(&q)
                } else {
                    q.clone()
                };
                let want = common::brute_force(&vectors, &qn, distance, limit);
                let mut params = SearchParams::default()
                    .with_exact(exact)
                    .with_oversampling(oversampling)
                    .with_payload(true);
                if let Some(r) = rescore {
                    params = params.with_rescore(r);
                }
                let got = coll.search(&q, limit, &params).unwrap();
                // Scores are exact when the originals are used: an exact scan, no quantization,
                // or rescoring (on by default for binary, off for scalar).
                let (rescored, scalar) = match quantization {
                    Quantization::Binary(_) => (exact || rescore.unwrap_or(true), false),
                    Quantization::Scalar(_) => (exact || rescore.unwrap_or(false), !exact),
                    _ => (true, false),
                };
                // With every point a candidate, rescored results are exact results.
                let complete = exact || (rescored && limit as f32 * oversampling >= 40.0);
                if complete {
                    prop_assert_eq!(got.len(), want.len());
                }
                for (i, h) in got.iter().enumerate() {
                    let (v, payload) = oracle.get(&h.id).expect("hit is a live point");
                    let truth = common::score(distance, &qn, v);
                    let err = (f64::from(h.score) - truth).abs();
                    if rescored {
                        prop_assert!(
                            err <= 1e-5 * truth.abs().max(1.0),
                            "score of {:?}: {} vs {}",
                            h.id,
                            h.score,
                            truth
                        );
                    } else if scalar {
                        // Components are whole numbers in −4..=4: the codes' step is 8/255.
                        prop_assert!(
                            err <= 0.05 * truth.abs().max(10.0),
                            "scalar estimate of {:?}: {} vs {}",
                            h.id,
                            h.score,
                            truth
                        );
                    }
                    prop_assert_eq!(&h.payload, payload);
                    if complete {
                        prop_assert!(
                            (f64::from(h.score) - want[i].1).abs()
                                <= 1e-5 * want[i].1.abs().max(1.0)
                        );
                        if !cosine {
                            prop_assert_eq!(h.id, want[i].0, "rank {}", i);
                        }
                    }
                }
                let better = |a: f32, b: f32| {
                    if distance.higher_is_better() {
                        a >= b
                    } else {
                        a <= b
                    }
                };
                prop_assert!(got.windows(2).all(|w| better(w[0].score, w[1].score)));
            }
            Op::Get(id) => {
                let got = coll.get(id).unwrap();
                match oracle.get(&PointId::Num(id)) {
                    None => prop_assert_eq!(got, None),
                    Some((v, payload)) => {
                        let got = got.unwrap();
                        prop_assert_eq!(&got.payload, payload);
                        prop_assert_eq!(&got.vector, v);
                    }
                }
            }
            Op::FilteredSearch { query, limit, spec } => {
                let q = to_f32(&query, datatype);
                let qn = if cosine {
                    common::normalize(&q)
                } else {
                    q.clone()
                };
                let passing: BTreeMap<PointId, Vec<f32>> = oracle
                    .iter()
                    .filter(|(id, (_, p))| spec.passes(**id, p.as_deref()))
                    .map(|(id, (v, _))| (*id, v.clone()))
                    .collect();
                let want = common::brute_force(&passing, &qn, distance, limit);
                let params = SearchParams::default().with_exact(true);
                let got = coll
                    .search_filtered("", &q, &spec.filter(), limit, &params)
                    .unwrap();
                prop_assert_eq!(got.len(), want.len(), "{:?}", spec);
                for (h, (id, score)) in got.iter().zip(&want) {
                    prop_assert!(
                        passing.contains_key(&h.id),
                        "{:?} does not pass {:?}",
                        h.id,
                        spec
                    );
                    prop_assert!((f64::from(h.score) - score).abs() <= 1e-5 * score.abs().max(1.0));
                    if !cosine {
                        prop_assert_eq!(h.id, *id);
                    }
                }
            }
            Op::Count(spec) => {
                let want = oracle
                    .iter()
                    .filter(|(id, (_, p))| spec.passes(**id, p.as_deref()))
                    .count();
                prop_assert_eq!(
                    coll.count(Some(&spec.filter())).unwrap(),
                    want,
                    "{:?}",
                    spec
                );
            }
            Op::Scroll {
                spec,
                offset,
                limit,
            } => {
                let offset = offset.map(PointId::Num);
                let passing: Vec<PointId> = oracle
                    .iter()
                    .filter(|(id, (_, p))| {
                        offset.is_none_or(|o| **id >= o) && spec.passes(**id, p.as_deref())
                    })
                    .map(|(id, _)| *id)
                    .collect();
                let page = coll.scroll(Some(&spec.filter()), offset, limit).unwrap();
                let got: Vec<PointId> = page.points.iter().map(|p| p.id).collect();
                prop_assert_eq!(&got[..], &passing[..passing.len().min(limit)], "{:?}", spec);
                prop_assert_eq!(page.next_offset, passing.get(limit).copied());
                for p in &page.points {
                    prop_assert_eq!(&p.payload, &oracle[&p.id].1);
                }
            }
            Op::Payload(op, choose) => {
                let chosen: Vec<PointId> = match &choose {
                    Choose::Ids(ids) => {
                        let mut ids: Vec<PointId> = ids.iter().map(|&i| PointId::Num(i)).collect();
                        ids.sort();
                        ids.dedup();
                        ids.retain(|id| oracle.contains_key(id));
                        ids
                    }
                    Choose::Filter(spec) => oracle
                        .iter()
                        .filter(|(id, (_, p))| spec.passes(**id, p.as_deref()))
                        .map(|(id, _)| *id)
                        .collect(),
                };
                let mut want = 0;
                for id in chosen {
                    let entry = oracle.get_mut(&id).unwrap();
                    if let Some(new) = op.apply(entry.1.as_deref()) {
                        entry.1 = new;
                        want += 1;
                    }
                }
                let selector = match choose {
                    Choose::Ids(ids) => {
                        vecsieve::PointSelector::Ids(ids.into_iter().map(PointId::Num).collect())
                    }
                    Choose::Filter(spec) => vecsieve::PointSelector::Filter(spec.filter()),
                };
                let map = |v: serde_json::Value| v.as_object().unwrap().clone();
                let got = match &op {
                    PayloadOp::SetK(n) => {
                        coll.set_payload(&map(serde_json::json!({"k": n})), selector)
                    }
                    PayloadOp::OverwriteTags(t) => {
                        coll.overwrite_payload(&map(serde_json::json!({"t": t})), selector)
                    }
                    PayloadOp::DeleteK => coll.delete_payload_keys(&["k"], selector),
                    PayloadOp::Clear => coll.clear_payload(selector),
                }
                .unwrap();
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::CreateIndex(key, schema) => coll.create_payload_index(key, schema).unwrap(),
            Op::DropIndex(key) => coll.delete_payload_index(key).unwrap(),
            Op::Flush => coll.flush().unwrap(),
            Op::Seal => coll.seal().unwrap(),
            Op::Optimize => {
                coll.optimize().unwrap();
            }
            Op::Reopen { clean } => {
                let old = c.take().unwrap();
                if clean {
                    old.close().unwrap();
                }
                drop(old);
                c = Some(Collection::open(&path).unwrap());
            }
        }
        prop_assert_eq!(c.as_ref().unwrap().len(), oracle.len());
    }
    c.unwrap().verify().unwrap();
    Ok(())
}

/// Every config of the model test, with the background optimizer `background` (off, a
/// failing case replays exactly; on, it runs beside the operations).
fn configs(background: bool) -> Vec<CollectionConfig> {
    let binary = Quantization::Binary(BinaryConfig::default());
    let scalar = Quantization::Scalar(ScalarConfig::default());
    let clipped = Quantization::Scalar(ScalarConfig::default().with_quantile(0.95));
    let two = Quantization::Binary(BinaryConfig::default().with_encoding(BinaryEncoding::TwoBits));
    let one_half =
        Quantization::Binary(BinaryConfig::default().with_encoding(BinaryEncoding::OneAndHalfBits));
    let asym8 = Quantization::Binary(
        BinaryConfig::default().with_query_encoding(QueryEncoding::Scalar8Bits),
    );
    let asym4_two = Quantization::Binary(
        BinaryConfig::default()
            .with_encoding(BinaryEncoding::TwoBits)
            .with_query_encoding(QueryEncoding::Scalar4Bits),
    );
    let rotated =
        Quantization::Binary(BinaryConfig::default().with_encoding(BinaryEncoding::RotatedOneBit));
    let rotated2 =
        Quantization::Binary(BinaryConfig::default().with_encoding(BinaryEncoding::RotatedTwoBits));
    [
        (Distance::Dot, Datatype::F32, binary),
        (Distance::Euclid, Datatype::F16, Quantization::None),
        (Distance::Manhattan, Datatype::U8, binary),
        (Distance::Euclid, Datatype::F32, binary),
        (Distance::Cosine, Datatype::F32, binary),
        (Distance::Cosine, Datatype::F16, Quantization::None),
        (Distance::Dot, Datatype::F32, scalar),
        (Distance::Euclid, Datatype::F16, scalar),
        (Distance::Manhattan, Datatype::U8, scalar),
        (Distance::Cosine, Datatype::F32, clipped),
        (Distance::Dot, Datatype::F32, two),
        (Distance::Euclid, Datatype::F16, one_half),
        (Distance::Dot, Datatype::F32, asym8),
        (Distance::Cosine, Datatype::F32, asym4_two),
        (Distance::Dot, Datatype::F32, rotated),
        (Distance::Euclid, Datatype::F16, rotated),
        (Distance::Cosine, Datatype::F32, rotated2),
    ]
    .into_iter()
    .map(|(d, t, q)| {
        CollectionConfig::new(DIM, d)
            .with_datatype(t)
            .with_quantization(q)
            .with_live_segment_max_bytes(4096)
            .with_search_threads(1)
            .with_optimizer(OptimizerConfig {
                merge_factor: 2,
                max_segments: 3,
                vacuum_min_deleted: 1,
                background,
                ..OptimizerConfig::default()
            })
    })
    .collect()
}

/// Cases per model test: `default`, or `VECSIEVE_MODEL_CASES` for a longer campaign.
fn cases(default: u32) -> u32 {
    std::env::var("VECSIEVE_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(48),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/proptest-regressions/model.txt"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_oracle(config in prop::sample::select(configs(false)), ops in prop::collection::vec(op(), 1..60)) {
        run(config, ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(16),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The same with the background optimizer merging and vacuuming beside the operations
    /// (a failure here may not replay: its timing is the machine's).
    #[test]
    fn engine_matches_oracle_with_the_background_optimizer(config in prop::sample::select(configs(true)), ops in prop::collection::vec(op(), 1..60)) {
        run(config, ops)?;
    }
}
