//! Public API behaviour: lifecycle, reopen, bad input, concurrency.

mod common;

use common::{Rng, normalize};
use vecsieve::{
    BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Datatype, Distance, Durability,
    Error, MAX_DIM, MAX_LIMIT, MAX_PAYLOAD_BYTES, Point, PointId, Quantization, ScalarConfig,
    SearchDefaults, SearchParams, VectorParams,
};

fn binary(dim: usize, distance: Distance) -> CollectionConfig {
    CollectionConfig::new(dim, distance)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_search_threads(1)
}

/// Optimizer thresholds with the background thread off (tests that want to see small
/// segments, or call `optimize` themselves).
fn manual_optimizer() -> vecsieve::optimizer::OptimizerConfig {
    vecsieve::optimizer::OptimizerConfig {
        background: false,
        ..Default::default()
    }
}

/// Upserts points `0..n` one call each (random vectors from `seed`, payload = the id's low
/// byte if asked) and returns id → vector.
fn fill(
    c: &Collection,
    n: u64,
    dim: usize,
    seed: u64,
    payload: bool,
) -> std::collections::BTreeMap<u64, Vec<f32>> {
    let mut rng = Rng::new(seed);
    let mut want = std::collections::BTreeMap::new();
    for id in 0..n {
        let v = rng.vector(dim);
        want.insert(id, v.clone());
        let p = Point::new(id, v);
        c.upsert(&[if payload {
            p.with_payload(vec![id as u8])
        } else {
            p
        }])
        .unwrap();
    }
    want
}

#[test]
fn handles_are_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Collection>();
    fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<Error>();
}

/// spec: DIR-1, DIR-3.
#[test]
fn lifecycle_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    assert!(matches!(Collection::open(&path), Err(Error::NotFound(_))));
    let c = Collection::create(&path, binary(4, Distance::Dot)).unwrap();
    assert!(matches!(
        Collection::create(&path, binary(4, Distance::Dot)),
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(Collection::open(&path), Err(Error::Locked { .. })));
    let other = dir.path().join("not-a-collection");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"hello").unwrap();
    assert!(matches!(
        Collection::open(&other),
        Err(Error::NotACollection(_))
    ));
    assert!(matches!(
        Collection::create(&other, binary(4, Distance::Dot)),
        Err(Error::AlreadyExists(_))
    ));
    c.close().unwrap();
    c.close().unwrap();
    assert!(matches!(
        c.search(&[1.0; 4], 1, &SearchParams::default()),
        Err(Error::Closed)
    ));
    assert!(matches!(
        c.upsert(&[Point::new(1, vec![1.0; 4])]),
        Err(Error::Closed)
    ));
    let c2 = Collection::open(&path).unwrap();
    assert_eq!(c2.len(), 0);
}

#[test]
fn close_on_one_clone_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collection::create(dir.path(), binary(2, Distance::Dot)).unwrap();
    let clone = c.clone();
    c.close().unwrap();
    assert!(matches!(clone.info(), Err(Error::Closed)));
    assert!(matches!(clone.scroll(None, None, 1), Err(Error::Closed)));
    assert!(matches!(clone.count(None), Err(Error::Closed)));
    let ids = vec![PointId::Num(1)];
    assert!(matches!(clone.clear_payload(ids), Err(Error::Closed)));
    assert!(matches!(
        clone.create_payload_index("a", vecsieve::PayloadSchema::Keyword),
        Err(Error::Closed)
    ));
    Collection::open(dir.path()).unwrap();
}

#[test]
fn bad_input_is_a_typed_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collection::create(dir.path().join("c"), binary(3, Distance::Cosine)).unwrap();
    c.upsert(&[Point::new(1, vec![1.0, 0.0, 0.0])]).unwrap();
    let bad: Vec<(Vec<f32>, &str)> = vec![
        (vec![f32::NAN, 0.0, 1.0], "NaN"),
        (vec![f32::INFINITY, 0.0, 1.0], "inf"),
        (vec![1.0, 2.0], "short"),
        (vec![1.0, 2.0, 3.0, 4.0], "long"),
        (vec![0.0, 0.0, 0.0], "zero with cosine"),
    ];
    for (v, what) in &bad {
        // The bad point comes second: the whole batch must be rejected.
        let batch = [Point::new(2, vec![0.0, 1.0, 0.0]), Point::new(3, v.clone())];
        let err = c.upsert(&batch).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidVector(_) | Error::DimensionMismatch { .. }
            ),
            "{what}: {err}"
        );
        assert!(!err.to_string().is_empty());
        let err = c.search(v, 1, &SearchParams::default()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidVector(_) | Error::DimensionMismatch { .. }
            ),
            "{what}"
        );
    }
    assert_eq!(c.len(), 1);
    assert_eq!(c.get(2).unwrap(), None);
    let q = [1.0, 0.0, 0.0];
    for limit in [0, MAX_LIMIT + 1] {
        assert!(matches!(
            c.search(&q, limit, &SearchParams::default()),
            Err(Error::InvalidArgument(_))
        ));
    }
    for os in [0.5, 0.0, -1.0, f32::NAN, f32::INFINITY, 1e9] {
        let p = SearchParams::default().with_oversampling(os);
        assert!(
            matches!(c.search(&q, 1, &p), Err(Error::InvalidArgument(_))),
            "os {os}"
        );
    }
    // Adaptive search rescores until the bound settles: it cannot run without rescoring.
    let p = SearchParams::default()
        .with_adaptive(true)
        .with_rescore(false);
    match c.search(&q, 1, &p) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("rescore off"), "{m}"),
        other => panic!("adaptive without rescoring: {other:?}"),
    }
    assert_eq!(c.search(&q, 1, &p.with_rescore(true)).unwrap().len(), 1);
    // A sketch pool is a fraction of the rows, and only int8 codes of one dense vector
    // under Cosine or Dot have sketches.
    let scalar = |distance| {
        CollectionConfig::new(3, distance)
            .with_quantization(Quantization::Scalar(ScalarConfig::default()))
    };
    let s = Collection::create(dir.path().join("s"), scalar(Distance::Cosine)).unwrap();
    s.upsert(&[Point::new(1, vec![1.0, 0.0, 0.0])]).unwrap();
    for f in [0.0, -0.5, 1.5, f32::NAN, f32::INFINITY] {
        let p = SearchParams::default().with_sketch_pool(f);
        match s.search(&q, 1, &p) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("fraction"), "{f}: {m}"),
            other => panic!("sketch pool {f}: {other:?}"),
        }
    }
    assert_eq!(
        s.search(&q, 1, &SearchParams::default().with_sketch_pool(0.5))
            .unwrap()
            .len(),
        1
    );
    let e = Collection::create(dir.path().join("e"), scalar(Distance::Euclid)).unwrap();
    e.upsert(&[Point::new(1, vec![1.0, 0.0, 0.0])]).unwrap();
    for (what, coll) in [("binary", &c), ("euclid", &e)] {
        match coll.search(&q, 1, &SearchParams::default().with_sketch_pool(0.5)) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("Cosine or Dot"), "{what}: {m}"),
            other => panic!("sketch pool on {what}: {other:?}"),
        }
    }
    let big = Point::new(9, vec![1.0, 0.0, 0.0]).with_payload(vec![0; MAX_PAYLOAD_BYTES + 1]);
    assert!(matches!(c.upsert(&[big]), Err(Error::InvalidArgument(_))));
    // A payload operation that would make a payload too big changes nothing.
    let huge = serde_json::json!({"s": "x".repeat(MAX_PAYLOAD_BYTES)});
    let one = vec![PointId::Num(1)];
    let err = c
        .set_payload(huge.as_object().unwrap(), one.clone())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(c.get(1).unwrap().unwrap().payload, None);
    // Unknown ids are skipped; a key nobody has changes nothing.
    assert_eq!(c.clear_payload(vec![PointId::Num(77)]).unwrap(), 0);
    assert_eq!(c.delete_payload_keys(&["nope"], one).unwrap(), 0);
    for dim in [0, MAX_DIM + 1] {
        let e = Collection::create(
            dir.path().join(format!("d{dim}")),
            binary(dim, Distance::Dot),
        );
        assert!(matches!(e, Err(Error::InvalidArgument(_))), "dim {dim}");
    }
    let u8cos = CollectionConfig::new(2, Distance::Cosine).with_datatype(Datatype::U8);
    assert!(matches!(
        Collection::create(dir.path().join("u"), u8cos),
        Err(Error::InvalidArgument(_))
    ));
    // Rotated codes estimate Euclidean distances and inner products, so Manhattan and
    // multivectors are refused with what to use instead.
    let rotated = |encoding| Quantization::Binary(BinaryConfig::default().with_encoding(encoding));
    for (name, config) in [
        BinaryEncoding::RotatedOneBit,
        BinaryEncoding::RotatedTwoBits,
    ]
    .into_iter()
    .flat_map(|e| {
        [
            (
                "Manhattan",
                CollectionConfig::new(8, Distance::Manhattan).with_quantization(rotated(e)),
            ),
            (
                "multivector",
                CollectionConfig::new(8, Distance::Dot)
                    .with_quantization(rotated(e))
                    .with_multivector(),
            ),
        ]
    }) {
        match Collection::create(dir.path().join(name), config) {
            Err(Error::InvalidArgument(m)) => {
                assert!(m.contains(name) && m.contains("use one_bit"), "{m}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    c.close().unwrap();
    let c = Collection::open(dir.path().join("c")).unwrap();
    assert_eq!(c.len(), 1);
}

/// Issue 10: an invalid point's error is typed: the point's index in the batch, its id
/// and the reason; a query's names no point.
#[test]
fn invalid_points_name_their_index_id_and_reason() {
    use vecsieve::{BatchPoint, InvalidVector, PointId, VectorProblem};
    let dir = tempfile::tempdir().unwrap();
    let c = Collection::create(dir.path().join("c"), binary(3, Distance::Cosine)).unwrap();
    let at = |index, id| {
        Some(BatchPoint {
            index,
            id: PointId::Num(id),
        })
    };
    let upsert_error = |v: Vec<f32>| {
        let batch = [Point::new(2, vec![0.0, 1.0, 0.0]), Point::new(7, v)];
        c.upsert(&batch).unwrap_err()
    };
    match upsert_error(vec![0.0, f32::NAN, 1.0]) {
        Error::InvalidVector(InvalidVector {
            point,
            vector: None,
            reason:
                VectorProblem::NotFinite {
                    component: 1,
                    value,
                },
        }) => {
            assert_eq!(point, at(1, 7));
            assert!(value.is_nan());
        }
        other => panic!("{other:?}"),
    }
    match upsert_error(vec![0.0; 3]) {
        Error::InvalidVector(e) => {
            assert_eq!(e.point, at(1, 7));
            assert_eq!(e.reason, VectorProblem::ZeroWithCosine);
            assert_eq!(
                e.to_string(),
                "point 1 (id 7): a zero vector has no direction, so it cannot be used with Cosine"
            );
        }
        other => panic!("{other:?}"),
    }
    match upsert_error(vec![1.0; 4]) {
        Error::DimensionMismatch {
            expected: 3,
            got: 4,
            point,
            vector: None,
        } => assert_eq!(point, at(1, 7)),
        other => panic!("{other:?}"),
    }
    match c.search(&[f32::INFINITY, 0.0, 0.0], 1, &SearchParams::default()) {
        Err(Error::InvalidVector(e)) => assert_eq!(e.point, None),
        other => panic!("{other:?}"),
    }
    let u8c = Collection::create(
        dir.path().join("u8"),
        CollectionConfig::new(2, Distance::Euclid).with_datatype(Datatype::U8),
    )
    .unwrap();
    match u8c.upsert(&[Point::new(4, vec![0.0, 1.5])]) {
        Err(Error::InvalidVector(e)) => {
            assert_eq!(e.point, at(0, 4));
            assert_eq!(
                e.reason,
                VectorProblem::NotU8 {
                    component: 1,
                    value: 1.5
                }
            );
        }
        other => panic!("{other:?}"),
    }
    let f16c = Collection::create(
        dir.path().join("f16"),
        CollectionConfig::new(2, Distance::Dot).with_datatype(Datatype::F16),
    )
    .unwrap();
    match f16c.validate_point(&Point::new(5, vec![1e6, 0.0])) {
        Err(Error::InvalidVector(e)) => {
            assert_eq!(e.point, None);
            assert_eq!(
                e.reason,
                VectorProblem::BeyondF16 {
                    component: 0,
                    value: 1e6
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.len(), 0, "no bad batch wrote anything");
}

#[test]
fn datatype_range_errors() {
    let dir = tempfile::tempdir().unwrap();
    let u8c = Collection::create(
        dir.path().join("u8"),
        CollectionConfig::new(2, Distance::Euclid).with_datatype(Datatype::U8),
    )
    .unwrap();
    for v in [[1.5, 2.0], [-1.0, 0.0], [256.0, 0.0]] {
        assert!(matches!(
            u8c.upsert(&[Point::new(1, v.to_vec())]),
            Err(Error::InvalidVector(_))
        ));
    }
    u8c.upsert(&[Point::new(1, vec![0.0, 255.0])]).unwrap();
    assert_eq!(u8c.get(1).unwrap().unwrap().vector, vec![0.0, 255.0]);
    let f16c = Collection::create(
        dir.path().join("f16"),
        CollectionConfig::new(2, Distance::Dot).with_datatype(Datatype::F16),
    )
    .unwrap();
    assert!(matches!(
        f16c.upsert(&[Point::new(1, vec![1e6, 0.0])]),
        Err(Error::InvalidVector(_))
    ));
    f16c.upsert(&[Point::new(1, vec![0.1, 3.0])]).unwrap();
    let got = f16c.get(1).unwrap().unwrap().vector;
    assert_eq!(got, vec![half::f16::from_f32(0.1).to_f32(), 3.0]);
}

#[test]
fn get_returns_what_is_stored_and_delete_counts() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collection::create(dir.path(), binary(3, Distance::Cosine)).unwrap();
    c.upsert(&[
        Point::new(1, vec![3.0, 4.0, 0.0]).with_payload(b"one".to_vec()),
        Point::new(PointId::Uuid(0xABCD), vec![0.0, 0.0, 2.0]),
    ])
    .unwrap();
    let p = c.get(1).unwrap().unwrap();
    assert_eq!(p.vector, normalize(&[3.0, 4.0, 0.0]));
    assert_eq!(p.payload.as_deref(), Some(&b"one"[..]));
    assert_eq!(c.get(PointId::Uuid(0xABCD)).unwrap().unwrap().payload, None);
    assert_eq!(c.get(7).unwrap(), None);
    // Overwrite replaces vector and payload.
    c.upsert(&[Point::new(1, vec![0.0, 1.0, 0.0])]).unwrap();
    let p = c.get(1).unwrap().unwrap();
    assert_eq!((p.vector, p.payload), (vec![0.0, 1.0, 0.0], None));
    assert_eq!(c.len(), 2);
    assert_eq!(
        c.delete([PointId::Num(1), PointId::Num(1), PointId::Num(99)])
            .unwrap(),
        1
    );
    assert_eq!(c.delete([PointId::Num(1)]).unwrap(), 0);
    assert_eq!(c.len(), 1);
    assert_eq!(
        PointId::Uuid(0xABCD).to_string(),
        "00000000-0000-0000-0000-00000000abcd"
    );
}

fn reopen_keeps_everything(close: bool, durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let config = binary(16, Distance::Dot)
        .with_durability(durability)
        .with_live_segment_max_bytes(8192);
    let c = Collection::create(dir.path(), config).unwrap();
    let mut rng = Rng::new(7);
    let mut want = std::collections::BTreeMap::new();
    for batch in 0..30u64 {
        let points: Vec<Point> = (0..7)
            .map(|i| {
                let id = (batch * 5 + i) % 100;
                Point::new(id, rng.vector(16)).with_payload(id.to_le_bytes().to_vec())
            })
            .collect();
        c.upsert(&points).unwrap();
        for p in points {
            want.insert(p.id, p.vector);
        }
        if batch % 4 == 3 {
            let gone = [PointId::Num(batch * 3 % 100), PointId::Num(batch % 100)];
            c.delete(gone).unwrap();
            for id in gone {
                want.remove(&id);
            }
        }
    }
    c.flush().unwrap();
    assert!(
        c.info().unwrap().segments > 0,
        "the small live segment must have sealed"
    );
    if close {
        c.close().unwrap();
    } else {
        drop(c);
    }
    let c = Collection::open(dir.path()).unwrap();
    assert_eq!(c.len(), want.len());
    for (id, v) in &want {
        let p = c
            .get(*id)
            .unwrap()
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(&p.vector, v);
        let PointId::Num(n) = id else { unreachable!() };
        assert_eq!(p.payload, Some(n.to_le_bytes().to_vec()));
    }
    for id in 0..100u64 {
        if !want.contains_key(&PointId::Num(id)) {
            assert_eq!(c.get(id).unwrap(), None, "{id} resurrected");
        }
    }
    c.verify().unwrap();
}

#[test]
fn reopen_after_close() {
    reopen_keeps_everything(true, Durability::Sync);
}

#[test]
fn reopen_after_drop_without_close() {
    reopen_keeps_everything(false, Durability::Sync);
}

#[test]
fn reopen_after_drop_buffered() {
    reopen_keeps_everything(false, Durability::Buffered);
}

#[test]
fn concurrent_writers_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collection::create(
        dir.path(),
        binary(8, Distance::Euclid).with_live_segment_max_bytes(16 << 10),
    )
    .unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(t);
                for b in 0..40u64 {
                    let pts: Vec<Point> = (0..5)
                        .map(|i| Point::new(t * 1000 + b * 5 + i, rng.vector(8)))
                        .collect();
                    c.upsert(&pts).unwrap();
                    let hits = c
                        .search(
                            &rng.vector(8),
                            5,
                            &SearchParams::default().with_oversampling(2.0),
                        )
                        .unwrap();
                    assert!(hits.windows(2).all(|w| w[0].score <= w[1].score));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.len(), 800);
    drop(c);
    let c = Collection::open(dir.path()).unwrap();
    assert_eq!(c.len(), 800);
}

/// spec: DIR-2.
#[test]
fn config_json_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    Collection::create(dir.path(), binary(4, Distance::Dot))
        .unwrap()
        .close()
        .unwrap();
    let path = dir.path().join("config.json");
    let good = std::fs::read_to_string(&path).unwrap();
    for (bad, needle) in [
        (good.replace("\"dim\": 4,", ""), "dim"),
        (good.replace("\"dot\"", "\"hamming\""), "hamming"),
        (good.replace("\"dim\": 4", "\"dim\": 0"), "dim"),
        (
            good.replace("\"dim\": 4", "\"dim\": 4, \"colour\": 1"),
            "colour",
        ),
        ("{".to_string(), "EOF"),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let err = Collection::open(dir.path()).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
        assert!(
            err.to_string().contains(needle),
            "{err} should mention {needle}"
        );
    }
    std::fs::write(&path, &good).unwrap();
    Collection::open(dir.path()).unwrap();
}

#[test]
fn search_results_are_ordered_and_payloads_optional() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collection::create(dir.path(), binary(8, Distance::Manhattan)).unwrap();
    let mut rng = Rng::new(3);
    let pts: Vec<Point> = (0..50u64)
        .map(|i| Point::new(i, rng.vector(8)).with_payload(vec![i as u8]))
        .collect();
    c.upsert(&pts).unwrap();
    let q = rng.vector(8);
    let plain = c
        .search(&q, 5, &SearchParams::default().with_exact(true))
        .unwrap();
    assert!(plain.iter().all(|h| h.payload.is_none()));
    let with = c
        .search(
            &q,
            5,
            &SearchParams::default().with_exact(true).with_payload(true),
        )
        .unwrap();
    for h in &with {
        let PointId::Num(n) = h.id else {
            unreachable!()
        };
        assert_eq!(h.payload, Some(vec![n as u8]));
    }
    assert!(with.windows(2).all(|w| w[0].score <= w[1].score));
    // Without rescoring, estimates keep the distance's direction (lower first, non-negative).
    let est = c
        .search(&q, 5, &SearchParams::default().with_rescore(false))
        .unwrap();
    assert!(est.windows(2).all(|w| w[0].score <= w[1].score) && est[0].score >= 0.0);
    assert_eq!(
        c.search(&q, 1000, &SearchParams::default()).unwrap().len(),
        50
    );
}

/// spec: DIR-5.
#[test]
fn set_quantization_rebuilds_segments_and_keeps_every_point() {
    let dir = tempfile::tempdir().unwrap();
    // The background optimizer would merge the small segments this test wants to see.
    let config = binary(8, Distance::Dot)
        .with_live_segment_max_bytes(4096)
        .with_optimizer(manual_optimizer());
    let c = Collection::create(dir.path(), config).unwrap();
    let mut want = fill(&c, 300, 8, 11, true);
    let gone: Vec<PointId> = (0..300).step_by(7).map(PointId::Num).collect();
    c.delete(&gone).unwrap();
    for id in gone {
        let PointId::Num(n) = id else { unreachable!() };
        want.remove(&n);
    }
    let check = |c: &Collection| {
        assert_eq!(c.len(), want.len());
        for (id, v) in &want {
            let p = c.get(*id).unwrap().unwrap();
            assert_eq!(
                (&p.vector, p.payload.as_deref()),
                (v, Some(&[*id as u8][..]))
            );
        }
        let q = [0.3, -0.2, 0.9, 0.1, -0.5, 0.4, 0.0, 0.7];
        let exact = c
            .search(&q, 10, &SearchParams::default().with_exact(true))
            .unwrap();
        let mut oracle: Vec<(f32, u64)> = want
            .iter()
            .map(|(id, v)| (-v.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>(), *id))
            .collect();
        oracle.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let ids: Vec<PointId> = exact.iter().map(|h| h.id).collect();
        let want_ids: Vec<PointId> = oracle.iter().take(10).map(|o| PointId::Num(o.1)).collect();
        assert_eq!(ids, want_ids);
    };
    check(&c);
    let segments_before = c.info().unwrap().segments;
    assert!(segments_before > 1);
    c.set_quantization(Quantization::Scalar(ScalarConfig::default()))
        .unwrap();
    let info = c.info().unwrap();
    assert!(matches!(info.config.quantization, Quantization::Scalar(_)));
    // Older segments keep their 1-bit codes until the optimizer runs; searches stay exact.
    assert!(info.disk.codes < 64 * want.len() as u64);
    check(&c);
    let report = c.optimize().unwrap();
    // The live segment was sealed (with the old codes) before the config changed.
    assert!(report.requantized >= segments_before, "{report:?}");
    // Every segment now holds int8 codes: 64 bytes per row at dimension 8.
    assert_eq!(c.info().unwrap().disk.codes, 64 * want.len() as u64);
    check(&c);
    let two = BinaryConfig::default().with_encoding(BinaryEncoding::TwoBits);
    c.set_quantization(Quantization::Binary(two)).unwrap();
    c.optimize().unwrap();
    assert_eq!(c.info().unwrap().disk.codes, 16 * want.len() as u64);
    check(&c);
    c.close().unwrap();
    let c = Collection::open(dir.path()).unwrap();
    assert_eq!(c.config().quantization, Quantization::Binary(two));
    check(&c);
    c.verify().unwrap();
}

#[test]
fn optimize_merges_and_vacuums_without_losing_points() {
    let dir = tempfile::tempdir().unwrap();
    let optimizer = vecsieve::optimizer::OptimizerConfig {
        vacuum_min_deleted: 10,
        ..manual_optimizer()
    };
    let config = binary(16, Distance::Euclid)
        .with_live_segment_max_bytes(4096)
        .with_optimizer(optimizer);
    let c = Collection::create(dir.path(), config).unwrap();
    let mut want = fill(&c, 2000, 16, 5, false);
    let before = c.info().unwrap();
    assert!(before.segments > 16, "{} segments", before.segments);
    let report = c.optimize().unwrap();
    let after = c.info().unwrap();
    assert!(
        report.merged > 0 && after.segments <= 16,
        "{report:?}, {} segments",
        after.segments
    );
    assert_eq!(
        c.optimize().unwrap(),
        vecsieve::OptimizeReport::default(),
        "not a fixpoint"
    );
    // Delete 30 %, optimize: deleted rows are vacuumed and the files shrink.
    let gone: Vec<PointId> = (0..2000).filter(|i| i % 10 < 3).map(PointId::Num).collect();
    c.delete(&gone).unwrap();
    for id in &gone {
        let PointId::Num(n) = id else { unreachable!() };
        want.remove(n);
    }
    let report = c.optimize().unwrap();
    assert!(report.vacuumed > 0, "{report:?}");
    let shrunk = c.info().unwrap();
    assert!(
        shrunk.disk.originals <= after.disk.originals * 71 / 100,
        "{} vs {}",
        shrunk.disk.originals,
        after.disk.originals
    );
    assert_eq!(shrunk.disk.deletions, 0);
    for (id, v) in &want {
        assert_eq!(&c.get(*id).unwrap().unwrap().vector, v);
    }
    assert_eq!(c.len(), want.len());
    c.close().unwrap();
    let c = Collection::open(dir.path()).unwrap();
    assert_eq!(c.len(), want.len());
    c.verify().unwrap();
}

#[test]
fn the_background_optimizer_settles_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let optimizer = vecsieve::optimizer::OptimizerConfig {
        max_segments: 4,
        ..Default::default()
    };
    let config = binary(8, Distance::Dot)
        .with_live_segment_max_bytes(4096)
        .with_optimizer(optimizer);
    let c = Collection::create(dir.path(), config).unwrap();
    let mut rng = Rng::new(21);
    let mut want = std::collections::BTreeMap::new();
    for id in 0..1500u64 {
        let v = rng.vector(8);
        want.insert(id, v.clone());
        c.upsert(&[Point::new(id, v)]).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = c.optimizer_status();
        assert!(status.points_done <= status.points_total, "{status:?}");
        if c.info().unwrap().segments <= 4 && status.running.is_none() {
            assert!(status.completed > 0, "{status:?}");
            assert!(
                status.points_done == 0 && status.points_total == 0,
                "{status:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not settled: {status:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let q = [0.3, -0.2, 0.9, 0.1, -0.5, 0.4, 0.0, 0.7];
    let dot = |v: &Vec<f32>| v.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>();
    let best = *want
        .iter()
        .max_by(|a, b| dot(a.1).total_cmp(&dot(b.1)))
        .unwrap()
        .0;
    // set_quantization returns at once; the worker rewrites every segment with int8 codes
    // (64 bytes per row at dimension 8) while searches stay exact.
    c.set_quantization(Quantization::Scalar(ScalarConfig::default()))
        .unwrap();
    while c.info().unwrap().disk.codes != 64 * want.len() as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "not requantized: {:?}",
            c.optimizer_status()
        );
        let hit = &c.search(&q, 1, &SearchParams::default()).unwrap()[0];
        assert_eq!(hit.id, PointId::Num(best));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for (id, v) in &want {
        assert_eq!(&c.get(*id).unwrap().unwrap().vector, v);
    }
    drop(c);
    // Dropping the last handle stops the optimizer and frees the directory at once.
    let c = Collection::open(dir.path()).unwrap();
    assert_eq!(c.len(), want.len());
}

#[test]
fn for_each_point_walks_every_stored_point_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = binary(8, Distance::Dot)
        .with_live_segment_max_bytes(4096)
        .with_optimizer(manual_optimizer());
    let c = Collection::create(dir.path(), config).unwrap();
    let mut want = fill(&c, 300, 8, 5, true);
    let gone: Vec<PointId> = (0..300).step_by(9).map(PointId::Num).collect();
    c.delete(&gone).unwrap();
    for id in &gone {
        let PointId::Num(n) = id else { unreachable!() };
        want.remove(n);
    }
    // Overwrites: the live segment holds the newest copies.
    for id in [1u64, 100, 250] {
        let v = vec![id as f32; 8];
        c.upsert(&[Point::new(id, v.clone()).with_payload(vec![id as u8])])
            .unwrap();
        want.insert(id, v);
    }
    assert!(c.info().unwrap().segments > 1 && c.info().unwrap().live_points > 0);
    let mut seen = std::collections::BTreeMap::new();
    c.for_each_point(7, |batch| {
        assert!(!batch.is_empty() && batch.len() <= 7);
        for p in batch {
            let PointId::Num(n) = p.id else {
                unreachable!()
            };
            assert_eq!(p.payload.as_deref(), Some(&[n as u8][..]));
            assert!(seen.insert(n, p.vector.clone()).is_none(), "{n} twice");
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, want);
    // An error from the callback stops the walk and is returned.
    let mut calls = 0;
    let err = c.for_each_point(7, |_| {
        calls += 1;
        Err(Error::Closed)
    });
    assert!(matches!(err, Err(Error::Closed)) && calls == 1);
}

/// The ids of a search's hits.
fn ids(c: &Collection, using: &str, q: &[f32], params: &SearchParams) -> Vec<PointId> {
    c.search_using(using, q, 10, params)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn stored_search_defaults_fill_what_a_search_leaves_unset_and_survive_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c");
    let config = binary(32, Distance::Cosine).with_vector(
        "title",
        VectorParams::new(32, Distance::Dot)
            .with_quantization(Quantization::Binary(BinaryConfig::default())),
    );
    let c = Collection::create(&path, config).unwrap();
    let mut rng = Rng::new(9);
    let points: Vec<Point> = (0..2000u64)
        .map(|i| Point::new(i, rng.vector(32)).with_vector("title", rng.vector(32)))
        .collect();
    c.upsert(&points).unwrap();
    let q = rng.vector(32);
    let at = |os: f32| SearchParams::default().with_oversampling(os);
    // Nothing stored: the codes' built-in default (8 for sign bits).
    assert_eq!(
        Quantization::Binary(BinaryConfig::default()).default_oversampling(),
        8.0
    );
    assert_eq!(
        ids(&c, "", &q, &SearchParams::default()),
        ids(&c, "", &q, &at(8.0))
    );
    // Sign bits at oversampling 1 and 8 disagree on random vectors: the test can tell.
    assert_ne!(ids(&c, "", &q, &at(1.0)), ids(&c, "", &q, &at(8.0)));

    c.set_search_defaults("", SearchDefaults::default().with_oversampling(1.0))
        .unwrap();
    c.set_search_defaults(
        "title",
        SearchDefaults::default()
            .with_oversampling(2.0)
            .with_rescore(false),
    )
    .unwrap();
    let check = |c: &Collection| {
        assert_eq!(
            ids(c, "", &q, &SearchParams::default()),
            ids(c, "", &q, &at(1.0))
        );
        // A search's own value wins over the stored one.
        assert_ne!(
            ids(c, "", &q, &at(8.0)),
            ids(c, "", &q, &SearchParams::default())
        );
        let unrescored = at(2.0).with_rescore(false);
        let got = c
            .search_using("title", &q, 10, &SearchParams::default())
            .unwrap();
        let want = c.search_using("title", &q, 10, &unrescored).unwrap();
        assert_eq!(
            got.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>(),
            want.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>()
        );
        let config = c.config();
        assert_eq!(config.search_defaults.oversampling, Some(1.0));
        assert_eq!(config.vectors["title"].search_defaults.rescore, Some(false));
    };
    check(&c);
    c.close().unwrap();
    let c = Collection::open(&path).unwrap();
    check(&c);

    // Bad values and names are typed errors that change nothing.
    for bad in [0.5, f32::NAN, f32::INFINITY, 1e6] {
        let err = c
            .set_search_defaults("", SearchDefaults::default().with_oversampling(bad))
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument(m) if m.contains("default oversampling")),
            "{err}"
        );
    }
    let err = c
        .set_search_defaults("nope", SearchDefaults::default())
        .unwrap_err();
    assert!(matches!(err, Error::UnknownVector { .. }), "{err}");
    assert_eq!(c.config().search_defaults.oversampling, Some(1.0));
    // Clearing restores the built-in default.
    c.set_search_defaults("", SearchDefaults::default())
        .unwrap();
    assert_eq!(
        ids(&c, "", &q, &SearchParams::default()),
        ids(&c, "", &q, &at(8.0))
    );
    c.close().unwrap();
    let text = std::fs::read_to_string(path.join("config.json")).unwrap();
    assert!(
        text.contains("\"title\"") && text.matches("search_defaults").count() == 1,
        "{text}"
    );
}

#[test]
fn batch_search_many_gets_iteration_and_iterator_deletes_agree_with_a_model() {
    let tmp = tempfile::tempdir().unwrap();
    let config = CollectionConfig::new(16, Distance::Cosine)
        .with_vector("t", VectorParams::new(8, Distance::Dot))
        .with_search_threads(2)
        .with_live_segment_max_bytes(64 << 10);
    let c = Collection::create(tmp.path().join("c"), config).unwrap();
    let mut rng = Rng::new(41);
    let mut model = std::collections::BTreeMap::new();
    for i in 0..600u64 {
        let id = if i % 7 == 0 {
            PointId::uuid(u128::from(i) << 64 | 0xabc)
        } else {
            PointId::from(i)
        };
        let p = Point::new(id, rng.vector(16))
            .with_vector("t", rng.vector(8))
            .with_payload(format!("{{\"i\": {i}}}").into_bytes());
        model.insert(id, p.clone());
        c.upsert(&[p]).unwrap();
    }
    // Deletes from a range, a Vec of ids (with a repeat and an unknown id) and a slice.
    let n = c.delete(1..4u64).unwrap();
    let v = vec![
        PointId::from(8),
        PointId::from(8),
        PointId::uuid(7 << 64 | 0xabc),
        9999.into(),
    ];
    let m = c.delete(v.clone()).unwrap();
    let k = c.delete(&[PointId::from(10)][..]).unwrap();
    assert_eq!((n, m, k), (3, 2, 1));
    for id in (1..4u64)
        .map(PointId::from)
        .chain(v)
        .chain([PointId::from(10)])
    {
        model.remove(&id);
    }
    assert_eq!(c.len(), model.len());

    // get_many: one answer per id, in order, the same as get.
    let asked: Vec<PointId> = [0u64, 2, 5, 9999]
        .map(PointId::from)
        .into_iter()
        .chain([PointId::uuid(14 << 64 | 0xabc)])
        .collect();
    let got = c.get_many(&asked).unwrap();
    assert_eq!(got.len(), asked.len());
    for (id, p) in asked.iter().zip(&got) {
        assert_eq!(p, &c.get(*id).unwrap(), "{id}");
        assert_eq!(p.is_some(), model.contains_key(id), "{id}");
    }

    // iter: every point in id order, each as get returns it, across segments and pages.
    let all: Vec<Point> = c.iter(None).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        all.iter().map(|p| p.id).collect::<Vec<_>>(),
        model.keys().copied().collect::<Vec<_>>()
    );
    for p in all.iter().step_by(37) {
        assert_eq!(Some(p), c.get(p.id).unwrap().as_ref());
    }
    let filter =
        vecsieve::Filter::from_json_str(r#"{"must": [{"key": "i", "range": {"lt": 300}}]}"#)
            .unwrap();
    let some: Vec<PointId> = c.iter(Some(&filter)).map(|p| p.unwrap().id).collect();
    assert_eq!(some.len(), c.count(Some(&filter)).unwrap());
    assert!(some.windows(2).all(|w| w[0] < w[1]));

    // search_batch: each result is the single search's; hits carry their stored vectors.
    let queries: Vec<Vec<f32>> = (0..9).map(|_| rng.vector(16)).collect();
    let params = SearchParams::default().with_vector(true).with_payload(true);
    let batch = c.search_batch(&queries, 5, &params).unwrap();
    for (q, hits) in queries.iter().zip(&batch) {
        assert_eq!(hits, &c.search(q, 5, &params).unwrap());
        for h in hits {
            let stored = c.get(h.id).unwrap().unwrap();
            assert_eq!(h.vector, Some(vecsieve::Vector::Dense(stored.vector)));
        }
    }
    let named: Vec<Vec<f32>> = (0..3).map(|_| rng.vector(8)).collect();
    let refs: Vec<vecsieve::VectorRef<'_>> = named.iter().map(Into::into).collect();
    let batch = c
        .search_batch_using("t", &refs, 3, &params.with_exact(true))
        .unwrap();
    for (q, hits) in named.iter().zip(&batch) {
        assert_eq!(
            hits,
            &c.search_using("t", q, 3, &params.with_exact(true)).unwrap()
        );
        let stored = c.get(hits[0].id).unwrap().unwrap();
        assert_eq!(hits[0].vector.as_ref(), stored.vectors.get("t"));
    }
    // Without with_vector, no vectors; a bad query fails the batch with its error.
    assert!(
        c.search(&queries[0], 5, &SearchParams::default())
            .unwrap()
            .iter()
            .all(|h| h.vector.is_none())
    );
    let bad = [queries[0].clone(), vec![1.0; 3]];
    let err = c
        .search_batch(&bad, 5, &SearchParams::default())
        .unwrap_err();
    assert!(matches!(err, Error::DimensionMismatch { .. }), "{err}");
}
