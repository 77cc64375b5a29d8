//! Filtered search, count, scroll and delete by filter on real payloads: the bundled
//! `data/debian-minilm-384-10k` (Debian package metadata of every point, and exact filtered
//! ground truth for six Qdrant filters, made by `data/make_filtered_subset.py` with its own
//! evaluator). The passing sets are also checked against an oracle written here from each
//! filter's meaning, not through `vecsieve::Filter`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use vecsieve::vecs::{Matrix, read_fvecs, read_ivecs};
use vecsieve::{
    BinaryConfig, Collection, CollectionConfig, Distance, Filter, OpenOptions, PayloadSchema,
    Point, PointId, Quantization, SearchParams,
};

const FILTERS: [&str; 6] = [
    "not_libs_with_homepage",
    "small_packages",
    "shared_libs",
    "same_section",
    "python_team",
    "rare_science_big",
];

/// Queries searched per filter (of 200): enough to measure recall, quick in a debug build.
const QUERIES: usize = 40;

struct Data {
    base: Matrix<f32>,
    queries: Matrix<f32>,
    /// Payload of point `i` as the JSON text stored.
    payloads: Vec<String>,
    filters: BTreeMap<String, Value>,
    same_section: Vec<Value>,
    truth: BTreeMap<String, Matrix<i32>>,
    unfiltered_truth: Matrix<i32>,
}

fn data() -> Data {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/debian-minilm-384-10k");
    let lines = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(dir.join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let payloads = lines("payloads.jsonl")
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            assert_eq!(line["id"], i);
            line["payload"].to_string()
        })
        .collect();
    let filters: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("filtered/filters.json")).unwrap())
            .unwrap();
    let truth = FILTERS
        .iter()
        .map(|name| {
            let m = read_ivecs(&dir.join(format!("filtered/{name}.ivecs"))).unwrap();
            (name.to_string(), m)
        })
        .collect();
    Data {
        base: read_fvecs(&dir.join("base.fvecs")).unwrap(),
        queries: read_fvecs(&dir.join("query.fvecs")).unwrap(),
        payloads,
        filters,
        same_section: lines("filtered/same_section.filters.jsonl"),
        truth,
        unfiltered_truth: read_ivecs(&dir.join("groundtruth.ivecs")).unwrap(),
    }
}

impl Data {
    fn filter_json(&self, name: &str, query: usize) -> &Value {
        if name == "same_section" {
            &self.same_section[query]
        } else {
            &self.filters[name]
        }
    }

    fn filter(&self, name: &str, query: usize) -> Filter {
        Filter::from_json(self.filter_json(name, query)).unwrap()
    }

    /// Whether point `id` passes filter `name` (for query `query`), from the filter's
    /// meaning.
    fn oracle(&self, name: &str, query: usize, id: usize) -> bool {
        let p: Value = serde_json::from_str(&self.payloads[id]).unwrap();
        let section = p["section"].as_str();
        let size = p["installed_size_kib"].as_i64();
        match name {
            "same_section" => {
                let want = &self.same_section[query]["must"][0]["match"]["value"];
                section.is_some() && p["section"] == *want
            }
            "small_packages" => size.is_some_and(|s| s < 100),
            "shared_libs" => p["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == "role::shared-lib")),
            "python_team" => {
                p["maintainer"] == "Debian Python Team <team+python@tracker.debian.org>"
            }
            "not_libs_with_homepage" => {
                !p["homepage"].is_null()
                    && !matches!(section, Some("libs" | "libdevel" | "oldlibs"))
            }
            "rare_science_big" => {
                size.is_some_and(|s| s >= 5000)
                    && matches!(section, Some("science" | "electronics"))
            }
            _ => unreachable!(),
        }
    }
}

/// 10,000 points with payloads, 1-bit codes; sealed in several segments with a live tail.
fn build(d: &Data, dir: &Path) -> Collection {
    let config = CollectionConfig::new(384, Distance::Cosine)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_live_segment_max_bytes(4 << 20);
    let c = Collection::create(dir, config).unwrap();
    let points: Vec<Point> = (0..d.base.rows())
        .map(|i| {
            Point::new(i as u64, d.base.row(i).to_vec())
                .with_payload(d.payloads[i].clone().into_bytes())
        })
        .collect();
    for chunk in points.chunks(1000) {
        c.upsert(chunk).unwrap();
    }
    c
}

fn num(id: PointId) -> i32 {
    match id {
        PointId::Num(n) => n as i32,
        PointId::Uuid(_) => panic!("uuid"),
    }
}

#[test]
fn debian_filters_search_exactly_and_recall_like_unfiltered_search() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let c = build(&d, &dir.path().join("c"));
    let info = c.info().unwrap();
    assert!(info.segments >= 2 && info.live_points > 0, "{info:?}");
    // Some keys indexed, some read from payloads (`maintainer`, `homepage`): every filter
    // mixes both or uses one alone. `indexed_filters_pass_what_unindexed_ones_pass` covers
    // each key both ways.
    c.create_payload_index("section", PayloadSchema::Keyword)
        .unwrap();
    c.create_payload_index("installed_size_kib", PayloadSchema::Integer)
        .unwrap();
    let exact = SearchParams::default().with_exact(true).with_payload(true);
    let quantized = SearchParams::default().with_oversampling(4.0);
    let recall = |hits: &[vecsieve::ScoredPoint], want: &[i32]| -> usize {
        let want: Vec<i32> = want.iter().copied().filter(|&i| i >= 0).take(10).collect();
        hits.iter().filter(|h| want.contains(&num(h.id))).count()
    };
    let mut unfiltered = 0;
    for q in 0..QUERIES {
        let hits = c.search(d.queries.row(q), 10, &quantized).unwrap();
        unfiltered += recall(&hits, &d.unfiltered_truth.row(q)[..10]);
    }
    let unfiltered = unfiltered as f64 / (QUERIES * 10) as f64;
    for name in FILTERS {
        let truth = &d.truth[name];
        let (mut found, mut wanted) = (0, 0);
        for q in 0..QUERIES {
            let filter = d.filter(name, q);
            let want: Vec<i32> = truth
                .row(q)
                .iter()
                .copied()
                .filter(|&i| i >= 0)
                .take(10)
                .collect();
            // Exact search returns exactly the filtered ground truth, every hit passing.
            let hits = c
                .search_filtered("", d.queries.row(q), &filter, 10, &exact)
                .unwrap();
            let got: Vec<i32> = hits.iter().map(|h| num(h.id)).collect();
            assert_eq!(got, want, "{name} query {q}");
            for h in &hits {
                assert!(d.oracle(name, q, num(h.id) as usize), "{name}: {}", h.id);
                assert_eq!(
                    h.payload.as_deref(),
                    Some(d.payloads[num(h.id) as usize].as_bytes())
                );
            }
            // Quantized: candidates come from the passing points only.
            let hits = c
                .search_filtered("", d.queries.row(q), &filter, 10, &quantized)
                .unwrap();
            assert_eq!(hits.len(), want.len(), "{name} query {q}");
            assert!(hits.iter().all(|h| d.oracle(name, q, num(h.id) as usize)));
            found += recall(&hits, &want);
            wanted += want.len();
        }
        let r = found as f64 / wanted.max(1) as f64;
        eprintln!("{name}: recall@10 {r:.4} (unfiltered {unfiltered:.4}), binary1 os 4");
        assert!(
            r >= unfiltered - 0.01,
            "{name}: recall@10 {r} against {unfiltered} unfiltered"
        );
    }
}

#[test]
fn count_scroll_and_delete_by_filter_agree_with_the_oracle() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let c = build(&d, &path);
    let all: Vec<usize> = (0..d.base.rows()).collect();
    for name in FILTERS {
        let q = 3;
        let filter = d.filter(name, q);
        let want: Vec<i32> = all
            .iter()
            .filter(|&&i| d.oracle(name, q, i))
            .map(|&i| i as i32)
            .collect();
        assert_eq!(c.count(Some(&filter)).unwrap(), want.len(), "{name}");
        // Pages of 700 in id order, each starting where the previous one said.
        let mut got = Vec::new();
        let mut offset = None;
        loop {
            let page = c.scroll(Some(&filter), offset, 700).unwrap();
            assert!(page.points.len() <= 700);
            got.extend(page.points.iter().map(|p| num(p.id)));
            match page.next_offset {
                Some(next) => {
                    assert_eq!(page.points.len(), 700);
                    offset = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(got, want, "{name}");
    }
    assert_eq!(c.count(None).unwrap(), 10_000);
    let first = c.scroll(None, Some(PointId::Num(9_998)), 5).unwrap();
    assert_eq!(
        first.points.iter().map(|p| num(p.id)).collect::<Vec<_>>(),
        [9_998, 9_999]
    );
    assert_eq!(first.next_offset, None);
    // Scrolled points are whole: vector and payload as stored.
    let p = &c.scroll(None, Some(PointId::Num(17)), 1).unwrap().points[0];
    assert_eq!(p.payload.as_deref(), Some(d.payloads[17].as_bytes()));
    assert_eq!(p.vector.len(), 384);
    assert!(matches!(
        c.scroll(None, None, 0),
        Err(vecsieve::Error::InvalidArgument(_))
    ));
    // Delete by filter, then reopen: the points are gone and the rest stay.
    let rare = d.filter("rare_science_big", 0);
    let n = c.count(Some(&rare)).unwrap();
    assert!(n > 10, "{n}");
    assert_eq!(c.delete_by_filter(&rare).unwrap(), n);
    assert_eq!(c.count(Some(&rare)).unwrap(), 0);
    c.close().unwrap();
    let c = Collection::open(&path).unwrap();
    assert_eq!(c.count(Some(&rare)).unwrap(), 0);
    assert_eq!(c.len(), 10_000 - n);
    let libs = d.filter("shared_libs", 0);
    let libs_left = all
        .iter()
        .filter(|&&i| d.oracle("shared_libs", 0, i) && !d.oracle("rare_science_big", 0, i))
        .count();
    assert_eq!(c.count(Some(&libs)).unwrap(), libs_left);
}

/// The indexes of the issue's bar: keys and schemas.
const INDEXES: [(&str, PayloadSchema); 5] = [
    ("section", PayloadSchema::Keyword),
    ("tags", PayloadSchema::Keyword),
    ("maintainer", PayloadSchema::Keyword),
    ("installed_size_kib", PayloadSchema::Integer),
    ("homepage", PayloadSchema::Keyword),
];

/// What every filter passes (count and ids through `scroll`) and its exact top 10 for a
/// few queries.
fn answers(c: &Collection, d: &Data) -> Vec<(usize, Vec<i32>, Vec<i32>)> {
    let exact = SearchParams::default().with_exact(true);
    let mut out = Vec::new();
    for name in FILTERS {
        for q in [0, 5, 11] {
            let filter = d.filter(name, q);
            let page = c.scroll(Some(&filter), None, 10_000).unwrap();
            let ids = page.points.iter().map(|p| num(p.id)).collect();
            let hits = c
                .search_filtered("", d.queries.row(q), &filter, 10, &exact)
                .unwrap();
            let top = hits.iter().map(|h| num(h.id)).collect();
            out.push((c.count(Some(&filter)).unwrap(), ids, top));
        }
    }
    out
}

#[test]
fn indexed_filters_pass_what_unindexed_ones_pass() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let c = build(&d, &path);
    // Without the background optimizer, the sealed segments keep their files as they are.
    c.close().unwrap();
    let quiet = OpenOptions {
        background_optimizer: false,
        ..OpenOptions::default()
    };
    let c = Collection::open_with_options(&path, quiet).unwrap();
    let unindexed = answers(&c, &d);
    // The oracle agrees (counts of every filter for query 0).
    for (i, name) in FILTERS.iter().enumerate() {
        let want = (0..d.base.rows()).filter(|&p| d.oracle(name, 0, p)).count();
        assert_eq!(unindexed[3 * i].0, want, "{name}");
    }
    // Indexes made from payloads by sealed segments and live chunks alike (reopened, so
    // that no segment answers from the filters it kept).
    for (key, schema) in INDEXES {
        c.create_payload_index(key, schema).unwrap();
    }
    c.close().unwrap();
    let c = Collection::open_with_options(&path, quiet).unwrap();
    assert_eq!(answers(&c, &d), unindexed);
    let info = c.info().unwrap();
    assert_eq!(info.payload_indexes.len(), 5);
    assert!(info.payload_indexes.iter().all(|i| i.segments_with_it == 0));
    assert!(
        info.payload_indexes.iter().all(|i| i.ram_bytes > 0),
        "{info:?}"
    );
    // The optimizer writes them into every segment; they open from there.
    c.optimize().unwrap();
    let info = c.info().unwrap();
    assert!(info.segments >= 1);
    for i in &info.payload_indexes {
        assert_eq!(i.segments_with_it, info.segments, "{i:?}");
        assert!(i.disk_bytes > 0 && i.values > 0, "{i:?}");
    }
    // Each section: an 8-byte count, then each index.
    let disk: u64 = info.payload_indexes.iter().map(|i| i.disk_bytes).sum();
    assert_eq!(info.disk.payload_indexes, disk + 8 * info.segments as u64);
    assert_eq!(answers(&c, &d), unindexed);
    c.close().unwrap();
    let c = Collection::open(&path).unwrap();
    assert_eq!(c.payload_indexes().len(), 5);
    assert_eq!(answers(&c, &d), unindexed);
    // Writes after the indexes exist: deletes and new copies are seen through them.
    let small = d.filter("small_packages", 0);
    let before = c.count(Some(&small)).unwrap();
    let p = Point::new(1u64, d.base.row(1).to_vec())
        .with_payload(br#"{"installed_size_kib": 5, "section": "libs"}"#.to_vec());
    c.upsert(&[p]).unwrap();
    let was_small = d.oracle("small_packages", 0, 1);
    assert_eq!(
        c.count(Some(&small)).unwrap(),
        before + usize::from(!was_small)
    );
    // Dropped: filters read payloads again, and the optimizer rewrites without them.
    for (key, _) in INDEXES {
        c.delete_payload_index(key).unwrap();
    }
    c.delete([PointId::Num(1)]).unwrap();
    c.optimize().unwrap();
    let info = c.info().unwrap();
    assert!(
        info.payload_indexes.is_empty() && info.disk.payload_indexes == 0,
        "{info:?}"
    );
    assert_eq!(
        c.count(Some(&small)).unwrap(),
        before - usize::from(was_small)
    );
    // Keys that are not key paths are refused.
    assert!(matches!(
        c.create_payload_index("a..b", PayloadSchema::Keyword),
        Err(vecsieve::Error::InvalidArgument(_))
    ));
}

/// Each immutable segment keeps the rows of at most `FILTER_CACHE_ENTRIES` recent filters,
/// and a kept filter still sees the deletions made after it was kept.
#[test]
fn kept_filters_are_bounded_and_see_later_deletions() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let c = build(&d, &dir.path().join("c"));
    c.optimize().unwrap();
    let info = c.info().unwrap();
    assert_eq!(info.ram.filter_cache, 0);
    let rows: u64 = info.segment_list.iter().map(|s| s.rows).sum();
    let below = |kib: u64| {
        Filter::from_json(
            &serde_json::json!({"must": [{"key": "installed_size_kib", "range": {"lt": kib}}]}),
        )
        .unwrap()
    };
    for kib in 1..=40 {
        let want = (0..d.base.rows())
            .filter(|&i| {
                let p: Value = serde_json::from_str(&d.payloads[i]).unwrap();
                p["installed_size_kib"].as_u64().is_some_and(|s| s < kib)
            })
            .count();
        assert_eq!(c.count(Some(&below(kib))).unwrap(), want, "lt {kib}");
    }
    let kept = c.info().unwrap().ram.filter_cache;
    let bitmap_bytes: u64 = info
        .segment_list
        .iter()
        .map(|s| s.rows.div_ceil(64) * 8)
        .sum();
    assert!(
        kept > 0 && kept <= vecsieve::FILTER_CACHE_ENTRIES as u64 * bitmap_bytes,
        "{kept} bytes for {rows} rows"
    );
    // Deleting half of what a kept filter passes: its count, scroll and search follow.
    let f = below(40);
    let ids: Vec<PointId> = c
        .scroll(Some(&f), None, 10_000)
        .unwrap()
        .points
        .iter()
        .map(|p| p.id)
        .step_by(2)
        .collect();
    let before = c.count(Some(&f)).unwrap();
    c.delete(&ids).unwrap();
    assert_eq!(c.count(Some(&f)).unwrap(), before - ids.len());
    let left = c.scroll(Some(&f), None, 10_000).unwrap().points;
    assert_eq!(left.len(), before - ids.len());
    assert!(left.iter().all(|p| !ids.contains(&p.id)));
    let exact = SearchParams::default().with_exact(true);
    let hits = c
        .search_filtered("", d.queries.row(0), &f, 100, &exact)
        .unwrap();
    assert!(hits.iter().all(|h| !ids.contains(&h.id)));
    assert_eq!(hits.len(), 100.min(before - ids.len()));
}
