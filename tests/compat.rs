//! Collections written by earlier formats open and search exactly as the code that wrote
//! them did (`tests/fixtures/README.md` says how each fixture was made).

mod common;

use std::path::Path;

use vecsieve::{Collection, PointId, SearchParams};

/// The top 5 of one search: `(id, score)`.
type Top5 = [(u64, f32); 5];

/// Results of the code that wrote the fixture (AVX2 kernels): per query id, the top 5 of an
/// exact search, a 1-bit search rescored at oversampling 2, and one without rescoring.
const RECORDED: [(u64, [Top5; 3]); 3] = [
    (
        0,
        [
            [
                (0, 2.348_878_9),
                (4, 1.511_516_1),
                (13, 1.293_238),
                (10, 1.229_183_9),
                (26, 1.160_194_9),
            ],
            [
                (0, 2.348_878_9),
                (4, 1.511_516_1),
                (13, 1.293_238),
                (10, 1.229_183_9),
                (37, 0.959_902_6),
            ],
            [
                (0, 1.0),
                (4, 0.707_106_77),
                (10, 0.707_106_77),
                (13, 0.707_106_77),
                (23, 0.707_106_77),
            ],
        ],
    ),
    (
        7,
        [
            [
                (27, 0.657_003_05),
                (7, 0.592_461_1),
                (6, 0.545_469_2),
                (16, 0.536_480_84),
                (19, 0.469_237_66),
            ],
            [
                (27, 0.657_003_05),
                (7, 0.592_461_1),
                (19, 0.469_237_66),
                (18, 0.466_397_88),
                (20, 0.458_505_63),
            ],
            [
                (7, 1.0),
                (2, 0.707_106_77),
                (8, 0.707_106_77),
                (18, 0.707_106_77),
                (14, 0.382_683_43),
            ],
        ],
    ),
    (
        36,
        [
            [
                (36, 0.708_119_15),
                (28, 0.552_310_2),
                (29, 0.544_501_66),
                (5, 0.407_473_33),
                (33, 0.407_417_4),
            ],
            [
                (36, 0.708_119_15),
                (29, 0.544_501_66),
                (5, 0.407_473_33),
                (33, 0.407_417_4),
                (27, 0.394_855_4),
            ],
            [
                (36, 1.0),
                (6, 0.707_106_77),
                (29, 0.707_106_77),
                (30, 0.707_106_77),
                (5, 0.382_683_43),
            ],
        ],
    ),
];

/// spec: WAL-1, WAL-2 (version 1 files are still read).
#[test]
fn a_collection_with_a_version_1_wal_opens_and_searches_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-collection"),
        &dir,
    );
    let c = Collection::open(&dir).unwrap();
    assert_eq!(c.recovery_report().replayed_records, 3);
    assert_eq!(c.recovery_report().dropped, None);
    let gone = [3, 17, 31];
    assert_eq!(c.len(), 40 - gone.len());
    for id in 0..40u64 {
        let got = c.get(id).unwrap();
        if gone.contains(&id) {
            assert!(got.is_none(), "id {id}");
            continue;
        }
        let p = got.unwrap();
        assert_eq!(p.vector, common::vector_for(id, 8), "id {id}");
        assert_eq!(p.payload.unwrap(), format!("p{id}").into_bytes(), "id {id}");
    }
    let modes = [
        SearchParams::default().with_exact(true),
        SearchParams::default().with_oversampling(2.0),
        SearchParams::default().with_rescore(false),
    ];
    let check = |c: &Collection, when: &str| {
        for (q, per_mode) in RECORDED {
            for (params, want) in modes.iter().zip(per_mode) {
                let hits = c.search(&common::vector_for(q, 8), 5, params).unwrap();
                let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
                let want_ids: Vec<PointId> = want.iter().map(|&(id, _)| PointId::Num(id)).collect();
                assert_eq!(ids, want_ids, "{when}: query {q}, {params:?}");
                // The recorded scores come from the AVX2 kernels; another ISA sums in
                // another order, which may change the last bit.
                for (h, &(_, score)) in hits.iter().zip(&want) {
                    assert!(
                        (h.score - score).abs() <= 1e-6 * score.abs().max(1.0),
                        "{when}: query {q}, {params:?}: score {} recorded {score}",
                        h.score
                    );
                }
            }
        }
    };
    check(&c, "as opened");
    // New writes go to a version 2 WAL file beside the version 1 one; a checkpoint then
    // covers both.
    c.upsert(&[vecsieve::Point::new(1000, common::vector_for(1000, 8))])
        .unwrap();
    c.delete([PointId::Num(1000)]).unwrap();
    drop(c);
    let c = Collection::open(&dir).unwrap();
    check(&c, "after a reopen");
    c.close().unwrap();
    let c = Collection::open(&dir).unwrap();
    check(&c, "after a checkpoint");
    c.verify().unwrap();
    // A payload index rewrites the segments as version 3 files (with the one vector as a
    // slot): searches and the opaque payload bytes stay exactly as they were, and opaque
    // payloads have no fields.
    c.create_payload_index("x", vecsieve::PayloadSchema::Keyword)
        .unwrap();
    c.optimize().unwrap();
    c.close().unwrap();
    let c = Collection::open(&dir).unwrap();
    let info = c.info().unwrap();
    assert_eq!(info.payload_indexes[0].segments_with_it, info.segments);
    check(&c, "rewritten with a payload index");
    for id in (0..40u64).filter(|id| !gone.contains(id)) {
        let p = c.get(id).unwrap().unwrap();
        assert_eq!(p.payload.unwrap(), format!("p{id}").into_bytes(), "id {id}");
    }
    let empty = vecsieve::Filter::new().must(vecsieve::Condition::IsEmpty { key: "x".into() });
    assert_eq!(c.count(Some(&empty)).unwrap(), c.len());
    c.verify().unwrap();
}

/// The version 2 fixture's collection: a default dense vector (8-d, Dot, 1-bit codes), a
/// multivector "m" (6-d, Cosine, f16, int8 codes) and a dense "e" (5-d, Euclid, no codes).
fn v2_point(id: u64) -> vecsieve::Point {
    let mut p = vecsieve::Point::new(id, common::vector_for(id, 8))
        .with_payload(format!("p{id}").into_bytes());
    if !id.is_multiple_of(3) {
        let n = 1 + id as usize % 4;
        let m: Vec<Vec<f32>> = (0..n)
            .map(|j| common::vector_for(id * 10 + j as u64, 6))
            .collect();
        p = p.with_vector("m", m);
    }
    if id.is_multiple_of(2) {
        p = p.with_vector("e", common::vector_for(id + 500, 5));
    }
    p
}

/// Every search the version 2 fixture records: per slot and query, the top 5 of an exact
/// search and of the slot's quantized default, as `"slot q mode: id:score ..."` lines.
fn v2_results(c: &Collection) -> Vec<String> {
    use vecsieve::Vector;
    let mut out = Vec::new();
    for q in [0u64, 7, 36] {
        let queries = [
            ("", Vector::Dense(common::vector_for(q, 8))),
            (
                "m",
                Vector::Multi((0..3).map(|j| common::vector_for(q * 10 + j, 6)).collect()),
            ),
            ("e", Vector::Dense(common::vector_for(q + 500, 5))),
        ];
        for (slot, query) in &queries {
            for (mode, params) in [
                ("exact", SearchParams::default().with_exact(true)),
                ("quantized", SearchParams::default().with_oversampling(2.0)),
            ] {
                let hits = c.search_using(slot, query, 5, &params).unwrap();
                out.push(recorded_line(format!("{slot:?} {q} {mode}"), &hits));
            }
        }
    }
    out
}

/// A collection with named vectors and a multivector, written by the code that introduced
/// segment version 2 and WAL record kind 3 (two segments, a sidecar, and kind 3 records no
/// checkpoint covers), opens and searches as that code did. `VECSIEVE_WRITE_FIXTURES=1`
/// rewrites it and its recorded results (only after a deliberate format change).
#[test]
fn a_version_2_collection_with_named_and_multi_vectors_opens_and_searches_as_recorded() {
    use vecsieve::{
        BinaryConfig, CollectionConfig, Datatype, Distance, Quantization, ScalarConfig,
        VectorParams, optimizer::OptimizerConfig,
    };
    let (_tmp, dir, want) = fixture("v2-multivector", v2_results, |fixture| {
        let config = CollectionConfig::new(8, Distance::Dot)
            .with_quantization(Quantization::Binary(BinaryConfig::default()))
            .with_vector(
                "m",
                VectorParams::new(6, Distance::Cosine)
                    .with_datatype(Datatype::F16)
                    .with_multivector()
                    .with_quantization(Quantization::Scalar(ScalarConfig::default())),
            )
            .with_vector("e", VectorParams::new(5, Distance::Euclid))
            .with_search_threads(1)
            .with_optimizer(OptimizerConfig {
                background: false,
                ..OptimizerConfig::default()
            });
        let c = Collection::create(fixture, config).unwrap();
        c.upsert(&(0..30).map(v2_point).collect::<Vec<_>>())
            .unwrap();
        c.seal().unwrap();
        c.delete([PointId::Num(3), PointId::Num(17)]).unwrap();
        c.upsert(&(30..35).map(v2_point).collect::<Vec<_>>())
            .unwrap();
        c.seal().unwrap();
        c.upsert(&(35..40).map(v2_point).collect::<Vec<_>>())
            .unwrap();
        c.delete([PointId::Num(31)]).unwrap();
        c.upsert(&[v2_point(5)]).unwrap();
        drop(c); // not closed: the last three records stay in the WAL
    });
    let c = Collection::open(&dir).unwrap();
    assert_eq!(c.recovery_report().replayed_records, 3);
    assert_eq!(c.len(), 37);
    for id in [0u64, 5, 7, 36] {
        let p = c.get(id).unwrap().unwrap();
        assert_eq!(p.vector, common::vector_for(id, 8), "id {id}");
        assert_eq!(
            p.vectors.contains_key("m"),
            !id.is_multiple_of(3),
            "id {id}"
        );
        assert_eq!(p.vectors.contains_key("e"), id.is_multiple_of(2), "id {id}");
    }
    let check = |c: &Collection, when: &str, only_exact: bool| {
        assert_same_results(&v2_results(c), &want, when, only_exact);
    };
    check(&c, "as opened", false);
    c.close().unwrap();
    let c = Collection::open(&dir).unwrap();
    check(&c, "after a checkpoint", false);
    // A rewrite trains new quantizers: the estimates change, exact results do not.
    c.optimize().unwrap();
    check(&c, "after a rewrite", true);
    c.verify().unwrap();
}

/// The fixture `tests/fixtures/{name}` copied into a fresh directory (returned with the
/// temporary directory that holds it), and the search lines recorded beside it in
/// `{name}.results`. With `VECSIEVE_WRITE_FIXTURES` set, `write` first rebuilds the fixture
/// in place and `results` records the lines from a copy opened as written (only after a
/// deliberate format change; see tests/fixtures/README.md).
fn fixture(
    name: &str,
    results: impl Fn(&Collection) -> Vec<String>,
    write: impl FnOnce(&Path),
) -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let fixture = root.join(name);
    let recorded = root.join(format!("{name}.results"));
    if std::env::var_os("VECSIEVE_WRITE_FIXTURES").is_some() {
        let _ = std::fs::remove_dir_all(&fixture);
        write(&fixture);
        let tmp = tempfile::tempdir().unwrap();
        common::copy_dir(&fixture, &tmp.path().join("c"));
        let c = Collection::open(tmp.path().join("c")).unwrap();
        std::fs::write(&recorded, results(&c).join("\n") + "\n").unwrap();
    }
    let want = std::fs::read_to_string(&recorded)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    common::copy_dir(&fixture, &dir);
    (tmp, dir, want)
}

/// The history the version 3 fixtures share: 400 points sealed, two of them deleted, 200
/// more sealed, two more deleted, and the handle dropped without `close` (the last delete
/// stays in the WAL, no checkpoint covers it).
fn write_two_segments(c: Collection, point: fn(u64) -> vecsieve::Point) {
    c.upsert(&(0..400).map(point).collect::<Vec<_>>()).unwrap();
    c.seal().unwrap();
    c.delete([PointId::Num(3), PointId::Num(17)]).unwrap();
    c.upsert(&(400..600).map(point).collect::<Vec<_>>())
        .unwrap();
    c.seal().unwrap();
    c.delete([PointId::Num(31), PointId::Num(450)]).unwrap();
    drop(c);
}

/// One recorded search: `"head: id:score id:score ..."`.
fn recorded_line(head: String, hits: &[vecsieve::ScoredPoint]) -> String {
    let hits: Vec<String> = hits
        .iter()
        .map(|h| format!("{}:{}", h.id, h.score))
        .collect();
    format!("{head}: {}", hits.join(" "))
}

/// Recorded search lines (`"head: id:score ..."`) against those of the code that wrote a
/// fixture: the same lines, ids and order, and scores within 1e-5 relative (they were
/// recorded with the AVX2 kernels; another ISA sums in another order). With `only_exact`,
/// only the lines of exact searches.
fn assert_same_results(got: &[String], want: &[String], when: &str, only_exact: bool) {
    assert_eq!(got.len(), want.len(), "{when}");
    for (got, want) in got.iter().zip(want) {
        if only_exact && !got.contains(" exact: ") {
            continue;
        }
        let parse = |line: &str| -> (String, Vec<(String, f32)>) {
            let (head, hits) = line.split_once(": ").unwrap_or((line, ""));
            let hits = hits
                .split_whitespace()
                .map(|h| {
                    let (id, score) = h.split_once(':').unwrap();
                    (id.to_string(), score.parse().unwrap())
                })
                .collect();
            (head.to_string(), hits)
        };
        let (g, w) = (parse(got), parse(want));
        assert_eq!(g.0, w.0);
        let ids = |v: &[(String, f32)]| v.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&g.1), ids(&w.1), "{when}: {}", g.0);
        for ((_, a), (_, b)) in g.1.iter().zip(&w.1) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{when}: {}: {a} vs {b}",
                g.0
            );
        }
    }
}

/// The rotated fixture's point `id`: a 16-d vector and a JSON payload whose `kind`
/// (indexed) cycles through `a`, `b`, `c`.
fn rotated_point(id: u64) -> vecsieve::Point {
    let kind = ["a", "b", "c"][(id % 3) as usize];
    vecsieve::Point::new(id, common::vector_for(id, 16))
        .with_payload(format!(r#"{{"kind":"{kind}","n":{id}}}"#).into_bytes())
}

/// Every search the rotated fixture records: per query, the top 5 of an exact search, a
/// rescored one at oversampling 2, one without rescoring (the codes' own estimates), and
/// a rescored one filtered on the indexed `kind`.
fn rotated_results(c: &Collection) -> Vec<String> {
    let filter = vecsieve::Filter::from_json(
        &serde_json::json!({"must": [{"key": "kind", "match": {"value": "b"}}]}),
    )
    .unwrap();
    let mut out = Vec::new();
    for q in [0u64, 11, 123] {
        let query = common::vector_for(q + 1000, 16);
        let quantized = SearchParams::default().with_oversampling(2.0);
        for (mode, params, filtered) in [
            ("exact", SearchParams::default().with_exact(true), false),
            ("rescored", quantized, false),
            ("estimated", quantized.with_rescore(false), false),
            ("filtered", quantized, true),
        ] {
            let hits = if filtered {
                c.search_filtered("", &query, &filter, 5, &params)
            } else {
                c.search(&query, 5, &params)
            }
            .unwrap();
            out.push(recorded_line(format!("{q} {mode}"), &hits));
        }
    }
    out
}

/// A collection with rotated 1-bit codes (`code_kind` 5) and a payload index (segment
/// version 3), written by the main before rotated 2-bit codes (`df3b030`): two segments,
/// a sidecar, and delete records no checkpoint covers. It opens and searches as that code
/// did, estimates included. `VECSIEVE_WRITE_FIXTURES=1` rewrites it (only after a
/// deliberate format change; see tests/fixtures/README.md).
#[test]
fn a_rotated_collection_with_a_payload_index_opens_and_searches_as_recorded() {
    use vecsieve::{
        BinaryConfig, BinaryEncoding, CollectionConfig, Distance, PayloadSchema, Quantization,
        optimizer::OptimizerConfig,
    };
    let (tmp, dir, want) = fixture("v3-rotated", rotated_results, |fixture| {
        let rotated = BinaryConfig::default().with_encoding(BinaryEncoding::RotatedOneBit);
        let config = CollectionConfig::new(16, Distance::Euclid)
            .with_quantization(Quantization::Binary(rotated))
            .with_search_threads(1)
            .with_optimizer(OptimizerConfig {
                background: false,
                ..OptimizerConfig::default()
            });
        let c = Collection::create(fixture, config).unwrap();
        c.create_payload_index("kind", PayloadSchema::Keyword)
            .unwrap();
        write_two_segments(c, rotated_point);
    });
    // A read-only open (added after the fixture was written) sees the same state, replays
    // the delete no checkpoint covers in memory only and changes no byte of the old
    // collection, whose config.json has no search defaults; a backup of it opens and
    // searches as recorded too.
    let before = common::tree(&dir);
    let r = Collection::open_with_options(&dir, vecsieve::OpenOptions::read_only()).unwrap();
    assert_eq!((r.len(), r.recovery_report().replayed_records), (596, 1));
    assert!(r.config().search_defaults.is_unset());
    assert_same_results(&rotated_results(&r), &want, "read-only", false);
    let backup = tmp.path().join("backup");
    r.backup(&backup, vecsieve::BackupOptions::default())
        .unwrap();
    drop(r);
    assert_eq!(common::tree(&dir), before, "a reader changed the fixture");
    let b = Collection::open(&backup).unwrap();
    assert_same_results(&rotated_results(&b), &want, "backup", false);
    b.close().unwrap();
    let c = Collection::open(&dir).unwrap();
    assert_eq!(c.recovery_report().replayed_records, 1);
    assert_eq!(c.len(), 596);
    assert_eq!(c.info().unwrap().segments, 2);
    assert_same_results(&rotated_results(&c), &want, "as opened", false);
    // Adaptive rescoring (search only, added after the fixture was written) reads the old
    // segments' codes and factors and settles on what rescoring the whole pool gave.
    for q in [0u64, 11, 123] {
        let query = common::vector_for(q + 1000, 16);
        let params = SearchParams::default()
            .with_oversampling(2.0)
            .with_adaptive(true);
        let hits = c.search(&query, 5, &params).unwrap();
        let head = format!("{q} rescored");
        let recorded: Vec<String> = want
            .iter()
            .filter(|l| l.starts_with(&format!("{head}: ")))
            .cloned()
            .collect();
        assert_same_results(&[recorded_line(head, &hits)], &recorded, "adaptive", false);
    }
    c.close().unwrap();
    let c = Collection::open(&dir).unwrap();
    assert_same_results(&rotated_results(&c), &want, "after a checkpoint", false);
    // A rewrite trains new centroids: the estimates change, exact results do not.
    c.optimize().unwrap();
    assert_same_results(&rotated_results(&c), &want, "after a rewrite", true);
    c.verify().unwrap();
}

/// The scalar fixture's point `id`: a 16-d default vector (Dot, int8 codes), a 12-d named
/// `e` (Euclid, int8 codes) on two points of three, and a JSON payload whose `kind`
/// cycles through `a`, `b`, `c`.
fn scalar_point(id: u64) -> vecsieve::Point {
    let kind = ["a", "b", "c"][(id % 3) as usize];
    let mut p = vecsieve::Point::new(id, common::vector_for(id, 16))
        .with_payload(format!(r#"{{"kind":"{kind}"}}"#).into_bytes());
    if !id.is_multiple_of(3) {
        p = p.with_vector("e", common::vector_for(id + 2000, 12));
    }
    p
}

/// Every search the scalar fixture records: per vector and query, the top 5 of an exact
/// search, a rescored one at oversampling 2, one without rescoring (the int8 estimates),
/// and (default vector) an unrescored one filtered to a third of the points, which reads
/// only the live rows' codes.
fn scalar_results(c: &Collection) -> Vec<String> {
    use vecsieve::Vector;
    let filter = vecsieve::Filter::from_json(
        &serde_json::json!({"must": [{"key": "kind", "match": {"value": "b"}}]}),
    )
    .unwrap();
    let mut out = Vec::new();
    for q in [0u64, 11, 123] {
        let queries = [
            ("", common::vector_for(q + 1000, 16)),
            ("e", common::vector_for(q + 3000, 12)),
        ];
        for (slot, query) in &queries {
            let quantized = SearchParams::default().with_oversampling(2.0);
            for (mode, params, filtered) in [
                ("exact", SearchParams::default().with_exact(true), false),
                ("rescored", quantized.with_rescore(true), false),
                ("estimated", quantized.with_rescore(false), false),
                ("filtered", quantized.with_rescore(false), true),
            ] {
                let hits = match (filtered, slot.is_empty()) {
                    (true, true) => c.search_filtered(slot, query, &filter, 5, &params),
                    (true, false) => continue,
                    (false, _) => c.search_using(slot, &Vector::Dense(query.clone()), 5, &params),
                }
                .unwrap();
                out.push(recorded_line(format!("{slot:?} {q} {mode}"), &hits));
            }
        }
    }
    out
}

/// A collection with int8 codes on a dense default vector and a named vector, written by
/// the main before the u8 × 16-bit kernel and the streamed scalar selection (`978ec3f`):
/// two segments, a sidecar, and a delete record no checkpoint covers. It opens and
/// searches as that code did, int8 estimates and a filtered (gathered) scan included.
/// `VECSIEVE_WRITE_FIXTURES=1` rewrites it (only after a deliberate format change; see
/// tests/fixtures/README.md).
#[test]
fn a_scalar_collection_opens_and_searches_as_recorded() {
    use vecsieve::{
        CollectionConfig, Distance, Quantization, ScalarConfig, VectorParams,
        optimizer::OptimizerConfig,
    };
    let (_tmp, dir, want) = fixture("v3-scalar", scalar_results, |fixture| {
        let config = CollectionConfig::new(16, Distance::Dot)
            .with_quantization(Quantization::Scalar(ScalarConfig::default()))
            .with_vector(
                "e",
                VectorParams::new(12, Distance::Euclid)
                    .with_quantization(Quantization::Scalar(ScalarConfig::default())),
            )
            .with_search_threads(1)
            .with_optimizer(OptimizerConfig {
                background: false,
                ..OptimizerConfig::default()
            });
        let c = Collection::create(fixture, config).unwrap();
        write_two_segments(c, scalar_point);
    });
    let c = Collection::open(&dir).unwrap();
    assert_eq!(c.recovery_report().replayed_records, 1);
    assert_eq!(c.len(), 596);
    assert_same_results(&scalar_results(&c), &want, "as opened", false);
    c.close().unwrap();
    let c = Collection::open(&dir).unwrap();
    assert_same_results(&scalar_results(&c), &want, "after a checkpoint", false);
    c.verify().unwrap();
}
