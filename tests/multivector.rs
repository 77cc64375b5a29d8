//! Named vectors and multivectors (`MaxSim`): a model test against a brute-force oracle
//! through writes, deletes, seals, merges and reopens; recall on real token embeddings in
//! every code family; and every bad input refused without writing anything.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Rng, normalize, score};
use vecsieve::vecs::{MultiVectors, read_ivecs, read_multivectors};
use vecsieve::{
    BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Condition, Datatype, Distance,
    Error, Filter, MAX_MULTIVECTOR_LEN, Point, PointId, Quantization, QueryEncoding, ScalarConfig,
    SearchParams, Vector, VectorParams, VectorProblem,
};

/// `Σ_i best_j score(q_i, d_j)` in f64: the oracle of every multivector search.
fn maxsim(distance: Distance, q: &[Vec<f32>], d: &[Vec<f32>]) -> f64 {
    q.iter()
        .map(|qi| {
            let scores = d.iter().map(|dj| score(distance, qi, dj));
            if distance.higher_is_better() {
                scores.fold(f64::NEG_INFINITY, f64::max)
            } else {
                scores.fold(f64::INFINITY, f64::min)
            }
        })
        .sum()
}

/// The stored form of a vector of `params` (normalized for Cosine).
fn stored(params: &VectorParams, v: &[f32]) -> Vec<f32> {
    if params.distance == Distance::Cosine {
        normalize(v)
    } else {
        v.to_vec()
    }
}

/// Each point's vectors by name (`""` the default), as stored, each a list (one for dense).
type Model = BTreeMap<PointId, BTreeMap<String, Vec<Vec<f32>>>>;

/// Checks that an exact search of `name` (and a quantized search whose candidates are
/// every point, rescored) returns the oracle's best `limit`, scores within `tol`.
fn check_search(
    c: &Collection,
    model: &Model,
    name: &str,
    params: &VectorParams,
    query: &Vector,
    limit: usize,
) {
    let q: Vec<Vec<f32>> = match query {
        Vector::Dense(v) => vec![stored(params, v)],
        Vector::Multi(m) => m.iter().map(|v| stored(params, v)).collect(),
    };
    let key = |s: f64| {
        if params.distance.higher_is_better() {
            -s
        } else {
            s
        }
    };
    let mut expected: Vec<(PointId, f64)> = model
        .iter()
        .filter_map(|(id, vectors)| Some((*id, maxsim(params.distance, &q, vectors.get(name)?))))
        .collect();
    expected.sort_by(|a, b| key(a.1).total_cmp(&key(b.1)).then(a.0.cmp(&b.0)));
    expected.truncate(limit);
    let all = (model.len() as f32 / limit as f32).max(1.0);
    let runs = [
        SearchParams::default().with_exact(true),
        SearchParams::default()
            .with_oversampling(all)
            .with_rescore(true),
    ];
    for p in runs {
        let hits = c.search_using(name, query, limit, &p).unwrap();
        assert_eq!(hits.len(), expected.len(), "{name} {p:?}");
        for (hit, (_, want)) in hits.iter().zip(&expected) {
            let tol = 1e-4 * want.abs().max(1.0);
            assert!(
                (f64::from(hit.score) - want).abs() < tol,
                "{name} {p:?}: score {} where the oracle's is {want}",
                hit.score
            );
            let own = maxsim(params.distance, &q, &model[&hit.id][name]);
            assert!(
                (f64::from(hit.score) - own).abs() < tol,
                "{name}: {}",
                hit.id
            );
        }
    }
}

fn random_point(rng: &mut Rng, id: u64, slots: &[(String, VectorParams)]) -> Point {
    let mut p = Point::without_vectors(id);
    while p.vectors.is_empty() && p.vector.is_empty() {
        for (name, params) in slots {
            if rng.below(4) == 0 {
                continue;
            }
            let v = if params.multivector.is_some() {
                let n = 1 + rng.below(5) as usize;
                Vector::Multi((0..n).map(|_| rng.vector(params.dim)).collect())
            } else {
                Vector::Dense(rng.vector(params.dim))
            };
            p = p.with_vector(name.clone(), v);
        }
    }
    if rng.below(2) == 0 {
        p = p.with_payload(id.to_le_bytes().to_vec());
    }
    p
}

/// A point's vectors by name; `as_stored` applies the collection's normalization (for a
/// point given to `upsert`, not one `get` returned).
fn model_entry(
    point: &Point,
    slots: &[(String, VectorParams)],
    as_stored: bool,
) -> BTreeMap<String, Vec<Vec<f32>>> {
    let mut out = BTreeMap::new();
    for (name, params) in slots {
        let keep = |v: &[f32]| {
            if as_stored {
                stored(params, v)
            } else {
                v.to_vec()
            }
        };
        let vectors = match point.get_vector(name) {
            Some(vecsieve::VectorRef::Dense(v)) => vec![keep(v)],
            Some(vecsieve::VectorRef::Multi(m)) => m.iter().map(|v| keep(v)).collect(),
            None => continue,
        };
        out.insert(name.clone(), vectors);
    }
    out
}

fn config_with(quantization: Quantization) -> (CollectionConfig, Vec<(String, VectorParams)>) {
    let default = VectorParams::new(8, Distance::Cosine)
        .with_multivector()
        .with_quantization(quantization);
    let named = [
        (
            "dense".to_string(),
            VectorParams::new(5, Distance::Euclid).with_quantization(quantization),
        ),
        (
            "l1".to_string(),
            VectorParams::new(6, Distance::Manhattan)
                .with_multivector()
                .with_datatype(Datatype::F16)
                .with_quantization(quantization),
        ),
        (
            "tokens".to_string(),
            VectorParams::new(70, Distance::Dot)
                .with_multivector()
                .with_pooled_prefilter(0.5)
                .with_quantization(quantization),
        ),
    ];
    let mut config = CollectionConfig::new(8, Distance::Cosine)
        .with_multivector()
        .with_quantization(quantization)
        .with_live_segment_max_bytes(24 << 10);
    for (name, params) in &named {
        config = config.with_vector(name.clone(), *params);
    }
    let mut slots = vec![(String::new(), default)];
    slots.extend(named);
    (config, slots)
}

/// F16 vectors of the model are rounded as the collection stores them.
fn round_f16(entry: &mut BTreeMap<String, Vec<Vec<f32>>>) {
    if let Some(vectors) = entry.get_mut("l1") {
        for v in vectors {
            for x in v {
                *x = half::f16::from_f32(*x).to_f32();
            }
        }
    }
}

#[test]
fn named_and_multi_vectors_match_brute_force_through_seals_merges_and_reopens() {
    let quantizations = [
        Quantization::None,
        Quantization::Binary(BinaryConfig::default()),
        Quantization::Binary(
            BinaryConfig::default()
                .with_encoding(BinaryEncoding::TwoBits)
                .with_query_encoding(QueryEncoding::Scalar4Bits),
        ),
        Quantization::Binary(BinaryConfig::default().with_encoding(BinaryEncoding::OneAndHalfBits)),
        Quantization::Scalar(ScalarConfig::default().with_quantile(0.99)),
    ];
    for (round, quantization) in quantizations.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let (config, slots) = config_with(quantization);
        let mut c = Collection::create(&path, config).unwrap();
        let mut rng = Rng::new(round as u64 + 11);
        let mut model = Model::new();
        for step in 0..12 {
            let batch: Vec<Point> = (0..25)
                .map(|_| {
                    let id = rng.below(120);
                    random_point(&mut rng, id, &slots)
                })
                .collect();
            c.upsert(&batch).unwrap();
            for p in &batch {
                let mut entry = model_entry(p, &slots, true);
                round_f16(&mut entry);
                model.insert(p.id, entry);
            }
            let gone: Vec<PointId> = (0..5).map(|_| PointId::Num(rng.below(120))).collect();
            c.delete(&gone).unwrap();
            for id in &gone {
                model.remove(id);
            }
            match step % 4 {
                1 => c.seal().unwrap(),
                2 => {
                    c.optimize().unwrap();
                }
                3 => {
                    c.close().unwrap();
                    c = Collection::open(&path).unwrap();
                }
                _ => {}
            }
            assert_eq!(c.len(), model.len());
            for (name, params) in &slots {
                let query = if params.multivector.is_some() {
                    let n = 1 + rng.below(4) as usize;
                    Vector::Multi((0..n).map(|_| rng.vector(params.dim)).collect())
                } else {
                    Vector::Dense(rng.vector(params.dim))
                };
                check_search(&c, &model, name, params, &query, 7);
            }
        }
        // `get` and `for_each_point` return every vector as stored.
        let mut seen = 0;
        c.for_each_point(16, |points| {
            for p in points {
                assert_eq!(model_entry(p, &slots, false), model[&p.id], "{}", p.id);
                seen += 1;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, model.len());
        let (id, entry) = model.iter().next().unwrap();
        let p = c.get(*id).unwrap().unwrap();
        assert_eq!(&model_entry(&p, &slots, false), entry);
        assert_eq!(p.payload.is_some(), p.payload == Some(id_bytes(*id)));
        // A payload operation on every point (sealed and live) writes each point back
        // with its vectors bit for bit, in every slot.
        c.upsert(&[random_point(&mut rng, 500, &slots)]).unwrap();
        let mut entry = model_entry(&c.get(500u64).unwrap().unwrap(), &slots, false);
        round_f16(&mut entry);
        model.insert(PointId::Num(500), entry);
        let tag = serde_json::json!({"tagged": true});
        let all = vecsieve::PointSelector::Filter(vecsieve::Filter::new());
        assert_eq!(
            c.set_payload(tag.as_object().unwrap(), all).unwrap(),
            model.len()
        );
        let mut seen = 0;
        c.for_each_point(16, |points| {
            for p in points {
                assert_eq!(model_entry(p, &slots, false), model[&p.id], "{}", p.id);
                assert_eq!(p.payload.as_deref(), Some(br#"{"tagged":true}"#.as_slice()));
                seen += 1;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, model.len());
        c.verify().unwrap();
        c.close().unwrap();
    }
}

fn id_bytes(id: PointId) -> Vec<u8> {
    match id {
        PointId::Num(n) => n.to_le_bytes().to_vec(),
        PointId::Uuid(_) => Vec::new(),
    }
}

#[test]
fn bad_multivectors_and_names_are_typed_errors_that_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = CollectionConfig::new(3, Distance::Cosine).with_vector(
        "colbert",
        VectorParams::new(2, Distance::Cosine).with_multivector(),
    );
    let c = Collection::create(dir.path().join("c"), config).unwrap();
    c.upsert(&[Point::new(1, vec![1.0, 0.0, 0.0])]).unwrap();
    let bad = |p: Point| {
        let batch = [Point::new(2, vec![0.0, 1.0, 0.0]), p];
        let e = c.upsert(&batch).unwrap_err();
        assert_eq!(c.len(), 1, "{e}");
        e
    };
    let problem = |e: Error| match e {
        Error::InvalidVector(v) => (v.vector.map(|a| (a.name, a.sub_vector)), v.reason),
        other => panic!("{other:?}"),
    };
    let named = |name: &str, sub| Some((name.to_string(), sub));
    assert_eq!(
        problem(bad(
            Point::new(3, vec![1.0, 0.0, 0.0]).with_vector("colbert", Vec::<Vec<f32>>::new())
        )),
        (named("colbert", None), VectorProblem::EmptyMultivector)
    );
    let too_many = vec![vec![1.0, 0.0]; MAX_MULTIVECTOR_LEN + 1];
    assert_eq!(
        problem(bad(
            Point::without_vectors(3).with_vector("colbert", too_many)
        )),
        (
            named("colbert", None),
            VectorProblem::TooManyVectors {
                count: MAX_MULTIVECTOR_LEN + 1,
                max: MAX_MULTIVECTOR_LEN
            }
        )
    );
    assert_eq!(
        problem(bad(
            Point::without_vectors(3).with_vector("colbert", vec![1.0, 0.0])
        )),
        (named("colbert", None), VectorProblem::ExpectedMultivector)
    );
    assert_eq!(
        problem(bad(
            Point::without_vectors(3).with_vector("", vec![vec![1.0, 0.0, 0.0]])
        )),
        (None, VectorProblem::ExpectedDense)
    );
    match problem(bad(
        Point::without_vectors(3).with_vector("colbert", vec![vec![1.0, 0.0], vec![0.0, f32::NAN]])
    )) {
        (
            at,
            VectorProblem::NotFinite {
                component: 1,
                value,
            },
        ) if value.is_nan() => {
            assert_eq!(at, named("colbert", Some(1)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        problem(bad(
            Point::without_vectors(3).with_vector("colbert", vec![vec![0.0, 0.0]])
        )),
        (named("colbert", Some(0)), VectorProblem::ZeroWithCosine)
    );
    assert_eq!(
        problem(bad(Point::without_vectors(3))),
        (None, VectorProblem::NoVectors)
    );
    match bad(Point::without_vectors(3).with_vector("colbert", vec![vec![1.0, 0.0, 0.0]])) {
        Error::DimensionMismatch {
            expected: 2,
            got: 3,
            vector,
            point,
        } => {
            assert_eq!(
                vector.map(|v| (v.name, v.sub_vector)),
                named("colbert", Some(0))
            );
            assert_eq!(point.map(|p| p.index), Some(1));
        }
        other => panic!("{other:?}"),
    }
    match bad(Point::without_vectors(3).with_vector("nope", vec![1.0])) {
        Error::UnknownVector { name, known } => {
            assert_eq!(
                (name.as_str(), known),
                ("nope", vec!["colbert".to_string()])
            );
        }
        other => panic!("{other:?}"),
    }
    let params = SearchParams::default();
    assert!(matches!(
        c.search_using("nope", &[1.0f32, 0.0, 0.0][..], 1, &params),
        Err(Error::UnknownVector { .. })
    ));
    assert_eq!(
        problem(
            c.search_using("colbert", &[1.0f32, 0.0][..], 1, &params)
                .unwrap_err()
        ),
        (named("colbert", None), VectorProblem::ExpectedMultivector)
    );
    assert_eq!(
        problem(
            c.search_using("", &vec![vec![1.0f32, 0.0, 0.0]], 1, &params)
                .unwrap_err()
        ),
        (None, VectorProblem::ExpectedDense)
    );
    assert_eq!(
        problem(
            c.search_using("colbert", &Vec::<Vec<f32>>::new(), 1, &params)
                .unwrap_err()
        ),
        (named("colbert", None), VectorProblem::EmptyMultivector)
    );
    // A point may lack a named vector: it is absent from searches on that vector.
    let hits = c
        .search_using("colbert", &vec![vec![1.0f32, 0.0]], 5, &params)
        .unwrap();
    assert!(hits.is_empty());
    let msg = bad(Point::without_vectors(3)
        .with_vector("colbert", vec![vec![1.0, 0.0], vec![0.0, f32::INFINITY]]))
    .to_string();
    assert_eq!(
        msg,
        "invalid vector: point 1 (id 3): vector \"colbert\", sub-vector 1: component 1 is inf; \
         every component must be finite"
    );
    // Config errors name the vector.
    let e = Collection::create(
        dir.path().join("d"),
        CollectionConfig::new(3, Distance::Dot)
            .with_vector("x", VectorParams::new(0, Distance::Dot)),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid argument: dim of vector \"x\" is 0; it must be in 1..=65536"
    );
}

/// The bundled cut of debian-minilm-tokens (`data/make_tokens_subset.py`).
struct Tokens {
    docs: MultiVectors,
    queries: MultiVectors,
    truth: vecsieve::vecs::Matrix<i32>,
}

fn tokens() -> Tokens {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/debian-minilm-tokens-200");
    let read = |v: &str, o: &str| read_multivectors(&dir.join(v), &dir.join(o)).unwrap();
    Tokens {
        docs: read("base_vectors.npy", "base_offsets.npy"),
        queries: read("query_vectors.npy", "query_offsets.npy"),
        truth: read_ivecs(&dir.join("groundtruth.ivecs")).unwrap(),
    }
}

fn mean_pooled(vectors: &[Vec<f32>]) -> Vec<f32> {
    let mut sum = vec![0.0f32; vectors[0].len()];
    for v in vectors {
        for (s, x) in sum.iter_mut().zip(v) {
            *s += x;
        }
    }
    sum
}

fn recall(t: &Tokens, c: &Collection, params: &SearchParams) -> f64 {
    let mut found = 0;
    for q in 0..t.queries.len() {
        let hits = c
            .search_using("tokens", &t.queries.item(q), 10, params)
            .unwrap();
        let truth = &t.truth.row(q)[..10];
        found += hits
            .iter()
            .filter(|h| matches!(h.id, PointId::Num(n) if truth.contains(&(n as i32))))
            .count();
    }
    found as f64 / (10 * t.queries.len()) as f64
}

#[test]
fn token_embeddings_recall_in_every_code_family_live_and_sealed() {
    let t = tokens();
    let cases = [
        (
            "binary1",
            Quantization::Binary(BinaryConfig::default()),
            2.0,
            None,
            0.95,
        ),
        (
            "binary1-q8",
            Quantization::Binary(
                BinaryConfig::default().with_query_encoding(QueryEncoding::Scalar8Bits),
            ),
            2.0,
            None,
            0.97,
        ),
        (
            "binary2",
            Quantization::Binary(BinaryConfig::default().with_encoding(BinaryEncoding::TwoBits)),
            2.0,
            None,
            0.97,
        ),
        (
            "binary1.5",
            Quantization::Binary(
                BinaryConfig::default().with_encoding(BinaryEncoding::OneAndHalfBits),
            ),
            2.0,
            None,
            0.95,
        ),
        (
            "scalar8",
            Quantization::Scalar(ScalarConfig::default().with_quantile(0.99)),
            1.0,
            Some(false),
            0.97,
        ),
        (
            "binary1-pooled",
            Quantization::Binary(BinaryConfig::default()),
            2.0,
            None,
            0.95,
        ),
    ];
    for (case, (name, quantization, oversampling, rescore, bar)) in cases.into_iter().enumerate() {
        // The last case adds the mean-pooled first stage (a fifth of the points scanned).
        let prefilter = (case == cases.len() - 1).then_some(0.2);
        let dir = tempfile::tempdir().unwrap();
        let mut tokens = VectorParams::new(384, Distance::Cosine)
            .with_datatype(Datatype::F16)
            .with_multivector()
            .with_quantization(quantization);
        if let Some(f) = prefilter {
            tokens = tokens.with_pooled_prefilter(f);
        }
        let config = CollectionConfig::new(384, Distance::Cosine)
            .with_datatype(Datatype::F16)
            .with_vector("tokens", tokens);
        let c = Collection::create(dir.path().join(name), config).unwrap();
        let points: Vec<Point> = (0..t.docs.len())
            .map(|i| {
                let item = t.docs.item(i);
                Point::new(i as u64, mean_pooled(&item)).with_vector("tokens", item)
            })
            .collect();
        for batch in points.chunks(64) {
            c.upsert(batch).unwrap();
        }
        let mut params = SearchParams::default().with_oversampling(oversampling);
        if let Some(r) = rescore {
            params = params.with_rescore(r);
        }
        // Exact MaxSim equals the ground truth, live and sealed (checked once: it does not
        // depend on the codes).
        let exact = SearchParams::default().with_exact(true);
        if case == 0 {
            assert_eq!(recall(&t, &c, &exact), 1.0, "{name} live exact");
        }
        c.seal().unwrap();
        assert_eq!(c.info().unwrap().segments, 1);
        if case == 0 {
            assert_eq!(recall(&t, &c, &exact), 1.0, "{name} sealed exact");
        }
        assert_eq!(c.info().unwrap().ram.search_sketches, 0, "{name}");
        let got = recall(&t, &c, &params);
        eprintln!("{name}: recall@10 {got:.4} (oversampling {oversampling}, rescore {rescore:?})");
        assert!(got >= bar, "{name}: recall@10 {got} below {bar}");
        // int8 multivector codes get 1-bit sign sketches (6 words per 384-d vector) on the
        // first search, reported as RAM.
        let vectors = *t.docs.offsets.last().unwrap() as u64;
        let sketches = if name == "scalar8" {
            vectors * 6 * 8
        } else {
            0
        };
        assert_eq!(c.info().unwrap().ram.search_sketches, sketches, "{name}");
        // The dense mean-pooled vector of the same points is searchable beside it.
        let dense = c
            .search(&mean_pooled(&t.queries.item(0)), 3, &exact)
            .unwrap();
        assert_eq!(dense.len(), 3);
    }
}

/// A filter applies to multivector search as to dense search: exact MaxSim among the
/// passing points equals the brute-force oracle's, sealed and live, through the code scan
/// (a third pass) and through the planner's exact scan (a few ids pass).
#[test]
fn filters_apply_to_multivector_search() {
    let t = tokens();
    let dir = tempfile::tempdir().unwrap();
    let config = CollectionConfig::new(384, Distance::Cosine)
        .with_multivector()
        .with_quantization(Quantization::Binary(BinaryConfig::default()));
    let c = Collection::create(dir.path().join("m"), config).unwrap();
    let docs: Vec<Vec<Vec<f32>>> = (0..t.docs.len()).map(|i| t.docs.item(i)).collect();
    let points: Vec<Point> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Point::new_multi(i as u64, d.clone())
                .with_payload(format!("{{\"topic\": {}}}", i % 3).into_bytes())
        })
        .collect();
    c.upsert(&points[..120]).unwrap();
    c.seal().unwrap();
    c.upsert(&points[120..]).unwrap();
    let third = Filter::new().must(Condition::matches("topic", 1i64));
    let few = Filter::new().must(Condition::has_id([3, 50, 77, 130, 199].map(PointId::Num)));
    let passes = |f: &Filter, i: usize| {
        f.matches_bytes(PointId::Num(i as u64), points[i].payload.as_deref())
    };
    for q in 0..6 {
        let query = t.queries.item(q);
        let qn: Vec<Vec<f32>> = query.iter().map(|v| normalize(v)).collect();
        for filter in [&third, &few] {
            let mut want: Vec<(f64, usize)> = (0..docs.len())
                .filter(|&i| passes(filter, i))
                .map(|i| {
                    let d: Vec<Vec<f32>> = docs[i].iter().map(|v| normalize(v)).collect();
                    (maxsim(Distance::Cosine, &qn, &d), i)
                })
                .collect();
            want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            want.truncate(10);
            let want: Vec<PointId> = want.iter().map(|&(_, i)| PointId::Num(i as u64)).collect();
            for params in [
                SearchParams::default().with_exact(true),
                SearchParams::default().with_oversampling(100.0),
            ] {
                let hits = c.search_filtered("", &query, filter, 10, &params).unwrap();
                let got: Vec<PointId> = hits.iter().map(|h| h.id).collect();
                assert_eq!(got, want, "query {q} {params:?}");
            }
        }
    }
}
