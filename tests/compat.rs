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
    c.delete(&[PointId::Num(1000)]).unwrap();
    drop(c);
    let c = Collection::open(&dir).unwrap();
    check(&c, "after a reopen");
    c.close().unwrap();
    let c = Collection::open(&dir).unwrap();
    check(&c, "after a checkpoint");
    c.verify().unwrap();
}
