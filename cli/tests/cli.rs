//! The `vecsieve` binary end to end on the bundled real data: create → import each format
//! → search → inspect → verify → corrupt a byte → verify fails naming the file → advise,
//! whose recommendation is re-measured with `bench`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use vecsieve_cli::eval::{Matrix, read_fvecs};

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use support::{data_dir, json, s, vecsieve};

/// `vecsieve create DIR --dim D --distance DIST --json`, whose output it returns.
fn create(dir: &Path, dim: usize, distance: &str) -> Value {
    json(&[
        "create",
        s(dir),
        "--dim",
        &dim.to_string(),
        "--distance",
        distance,
        "--json",
    ])
}

/// Writes rows `range` of `m` as a 2-D `.npy` array (float32, or float16 with `half`).
fn write_npy(path: &Path, m: &Matrix<f32>, range: std::ops::Range<usize>, half: bool) {
    let descr = if half { "<f2" } else { "<f4" };
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, {}), }}",
        range.len(),
        m.dim
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for i in range {
        for &x in m.row(i) {
            if half {
                bytes.extend_from_slice(&half::f16::from_f32(x).to_le_bytes());
            } else {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn jsonl_line(id: &str, v: &[f32], payload: &str) -> String {
    let comps: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
    format!(
        "{{\"id\": {id}, \"vector\": [{}], \"payload\": {payload}}}\n",
        comps.join(",")
    )
}

#[test]
fn create_import_search_inspect_verify_corrupt_advise() {
    let data = data_dir();
    let base = read_fvecs(&data.join("base.fvecs")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");

    let created = create(&dir, 384, "cosine");
    assert_eq!(created["config"]["dim"], 384);

    // .fvecs: the first 6,000 rows (ids 0..6000), from a prefix of the bundled file.
    let fvecs = tmp.path().join("part.fvecs");
    let all = std::fs::read(data.join("base.fvecs")).unwrap();
    std::fs::write(&fvecs, &all[..6000 * (4 + 4 * 384)]).unwrap();
    let r = json(&["import", s(&dir), s(&fvecs), "--json"]);
    assert_eq!(
        (r["points"].as_u64(), r["batches"].as_u64()),
        (Some(6000), Some(6))
    );

    // .npy float32 (ids 6000..8000) and float16 (ids 8000..9000).
    let npy = tmp.path().join("part.npy");
    write_npy(&npy, &base, 6000..8000, false);
    let r = json(&["import", s(&dir), s(&npy), "--first-id", "6000", "--json"]);
    assert_eq!(r["points"], 2000);
    write_npy(&npy, &base, 8000..9000, true);
    let r = json(&["import", s(&dir), s(&npy), "--first-id", "8000", "--json"]);
    assert_eq!(r["points"], 1000);

    // JSONL with payloads (ids 9000..10000) and one UUID id.
    let jsonl = tmp.path().join("part.jsonl");
    let mut text = String::new();
    for i in 9000..10_000 {
        text += &jsonl_line(&i.to_string(), base.row(i), &format!("{{\"row\": {i}}}"));
    }
    text += &jsonl_line(
        "\"67e55044-10b1-426f-9247-bb680e5fe0c8\"",
        base.row(5),
        "{\"copy_of\": 5}",
    );
    std::fs::write(&jsonl, text).unwrap();
    let r = json(&["import", s(&dir), s(&jsonl), "--json"]);
    assert_eq!(r["points"], 1001);

    // Search: the exact top hit of a stored point's vector is that point (or its copy).
    let query: Vec<String> = base.row(9500).iter().map(|x| x.to_string()).collect();
    let hits = json(&[
        "search",
        s(&dir),
        "--vector",
        &query.join(","),
        "--limit",
        "3",
        "--exact",
        "--json",
    ]);
    assert_eq!(hits["hits"][0]["id"], "9500");
    assert_eq!(hits["hits"][0]["payload"]["row"], 9500);
    // A sketch pool is for int8 codes: on these binary codes it is refused, saying so.
    let out = vecsieve(&[
        "search",
        s(&dir),
        "--vector",
        &query.join(","),
        "--sketch-pool",
        "0.1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sketch_pool applies to scalar int8"), "{err}");
    // The quantized search agrees with a brute-force oracle on the bundled queries.
    let queries = read_fvecs(&data.join("query.fvecs")).unwrap();
    let hits = json(&[
        "search",
        s(&dir),
        "--vector-file",
        s(&data.join("query.fvecs")),
        "--row",
        "3",
        "--limit",
        "10",
        "--oversampling",
        "4",
        "--json",
    ]);
    let points: std::collections::BTreeMap<vecsieve::PointId, Vec<f32>> = (0..base.rows())
        .map(|i| (vecsieve::PointId::Num(i as u64), base.row(i).to_vec()))
        .collect();
    let oracle: Vec<String> =
        common::brute_force(&points, queries.row(3), vecsieve::Distance::Cosine, 10)
            .into_iter()
            .map(|(id, _)| id.to_string())
            .collect();
    let got: Vec<String> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    let found = oracle.iter().filter(|i| got.contains(i)).count();
    assert!(found >= 8, "{got:?} vs {oracle:?}");

    let info = json(&["inspect", s(&dir), "--json"]);
    assert_eq!(info["points"], 10_001);
    assert_eq!(info["config"]["distance"], "cosine");
    // One segment per import (each closes its handle): 6,000, 2,000, 1,000 and 1,001 rows
    // are too different in size for a tiered merge, so optimize finds nothing to do.
    let optimized = json(&["optimize", s(&dir), "--json"]);
    assert_eq!(optimized["segments"], 4, "{optimized}");
    let info = json(&["inspect", s(&dir), "--json"]);
    let segments = info["segments"].as_array().unwrap();
    let rows: Vec<u64> = segments
        .iter()
        .map(|g| g["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [6000, 2000, 1000, 1001]);
    // `create` without --quantization gives rotated 1-bit codes.
    assert!(
        segments.iter().all(|g| g["encoding"] == "rabitq1"),
        "{info}"
    );

    let verified = json(&["verify", s(&dir), "--json"]);
    assert_eq!(verified["ok"], true, "{verified}");

    // Flip one byte in the middle of the segment (its originals): verify exits 1 and names
    // the segment file and the damaged section's byte range.
    let seg_path = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg_path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&seg_path, &bytes).unwrap();
    let out = vecsieve(&["verify", s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let name = seg_path.file_name().unwrap().to_str().unwrap();
    assert!(
        text.contains("DAMAGED") && text.contains(name) && text.contains("originals"),
        "{text}"
    );
    bytes[at] ^= 0x40;
    std::fs::write(&seg_path, &bytes).unwrap();

    // The advisor's recommendation meets the target when `bench` re-measures it on the
    // bundled queries and ground truth.
    let plot = tmp.path().join("curves.svg");
    let advice = json(&[
        "advise",
        s(&dir),
        "--queries",
        "100",
        "--oversampling",
        "1,2,4,8",
        "--plot",
        s(&plot),
        "--apply",
        "--json",
    ]);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("binary2") && svg.contains("polyline"));
    let rho = advice["suitability"]["spearman"].as_f64().unwrap();
    assert!(rho > 0.5, "{}", advice["suitability"]);
    let rec = &advice["recommended"];
    let mode = rec["mode"].as_str().unwrap();
    let os = rec["oversampling"].as_f64().unwrap().to_string();
    // The default target: 0.95.
    assert!(rec["recall_low"].as_f64().unwrap() >= 0.95, "{rec}");
    // --apply stored the recommendation: the codes, rewritten in place, and the search
    // defaults.
    let info = json(&["inspect", s(&dir), "--json"]);
    assert_eq!(
        info["config"]["search_defaults"]["oversampling"],
        rec["oversampling"]
    );
    assert_eq!(info["config"]["search_defaults"]["rescore"], rec["rescore"]);
    let segments = info["segments"].as_array().unwrap();
    // Segments name their stored codes (a query encoding is chosen per search).
    let stored = mode.trim_end_matches("-q4").trim_end_matches("-q8");
    assert!(
        segments.iter().all(|g| g["encoding"] == stored),
        "{info} {rec}"
    );
    let out = vecsieve(&[
        "bench",
        "--data",
        s(&data),
        "--quantization",
        mode,
        "--oversampling",
        &os,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let measured: Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert!(
        measured["recall_at_10"].as_f64().unwrap() >= 0.95,
        "advised {rec}, bench measured {measured}"
    );
}

#[test]
fn a_malformed_line_names_its_line_and_keeps_only_whole_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    create(&dir, 3, "dot");
    let mut text = String::new();
    for i in 0..25 {
        text += &jsonl_line(&i.to_string(), &[1.0, i as f32, 0.5], "null");
    }
    text += "{\"id\": 25, \"vector\": [1.0, 2.0]}\n"; // line 26: wrong dimension
    text += &jsonl_line("26", &[1.0, 1.0, 1.0], "null");
    let input = tmp.path().join("bad.jsonl");
    std::fs::write(&input, &text).unwrap();
    let out = vecsieve(&["import", s(&dir), s(&input), "--batch", "10"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 26")
            && err.contains("20 points before it were imported")
            && err.contains("import the rest with --skip 20"),
        "{err}"
    );
    let info = json(&["inspect", s(&dir), "--json"]);
    assert_eq!(info["points"], 20);
    // Fixing line 26 and resuming with the --skip the message gave imports the rest.
    let fixed = text.replace(
        "{\"id\": 25, \"vector\": [1.0, 2.0]}",
        "{\"id\": 25, \"vector\": [1.0, 2.0, 3.0]}",
    );
    std::fs::write(&input, &fixed).unwrap();
    let r = json(&["import", s(&dir), s(&input), "--skip", "20", "--json"]);
    assert_eq!(r["points"], 7, "{r}");
    assert_eq!(json(&["inspect", s(&dir), "--json"])["points"], 27);
    // Broken JSON on line 3 names line 3 and its column, not serde's line within the line.
    let broken = tmp.path().join("broken.jsonl");
    std::fs::write(&broken, "\n\n{\"id\": 1, \"vector\": [1,2,3]\n").unwrap();
    let err =
        String::from_utf8_lossy(&vecsieve(&["import", s(&dir), s(&broken)]).stderr).into_owned();
    assert!(
        err.contains("line 3: EOF while parsing an object at column 27") && !err.contains("line 2"),
        "{err}"
    );
    std::fs::write(&broken, "{\"id\": 1, \"vector\": [1,x,3]}\n").unwrap();
    let err =
        String::from_utf8_lossy(&vecsieve(&["import", s(&dir), s(&broken)]).stderr).into_owned();
    assert!(err.contains("line 1: expected value at column 24"), "{err}");
    // Rows skipped keep their ids: .fvecs rows 2.. get ids first-id + 2, ...
    let rows = tmp.path().join("rows.fvecs");
    let mut bytes = Vec::new();
    for i in 0..5 {
        bytes.extend_from_slice(&3i32.to_le_bytes());
        for x in [1.0f32, i as f32, 2.0] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(&rows, &bytes).unwrap();
    let r = json(&[
        "import",
        s(&dir),
        s(&rows),
        "--first-id",
        "100",
        "--skip",
        "2",
        "--json",
    ]);
    assert_eq!(r["points"], 3);
    let page = json(&["scroll", s(&dir), "--offset", "100", "--json"]);
    let ids: Vec<&str> = page["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["102", "103", "104"]);

    // Broken JSON, a bad id, a truncated .fvecs, a huge length prefix and a 3-D .npy are
    // each reported.
    for (name, content, want) in [
        (
            "a.jsonl",
            b"{\"id\": 1, \"vector\": [1,2,3]\n".to_vec(),
            "line 1",
        ),
        (
            "b.jsonl",
            b"{\"id\": -4, \"vector\": [1,2,3]}\n".to_vec(),
            "line 1",
        ),
        (
            "c.fvecs",
            [3i32.to_le_bytes(), 1f32.to_le_bytes()].concat(),
            "row 0",
        ),
        (
            // The campaign's defect 9: a length prefix of 2^31 read as a negative count.
            "e.fvecs",
            (1u32 << 31).to_le_bytes().to_vec(),
            "row 0: the row has 2147483648 components",
        ),
        (
            "d.npy",
            [
                &b"\x93NUMPY\x01\x00\x46\x00"[..],
                format!(
                    "{:<69}\n",
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 1), }"
                )
                .as_bytes(),
            ]
            .concat(),
            "2-D",
        ),
    ] {
        let p = tmp.path().join(name);
        std::fs::write(&p, content).unwrap();
        let out = vecsieve(&["import", s(&dir), s(&p)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{name}: {err}");
    }
    assert_eq!(json(&["inspect", s(&dir), "--json"])["points"], 30);

    // A NaN in row 5 of an .fvecs file: the batch holding it is refused and named by row.
    let other = tmp.path().join("d");
    create(&other, 3, "dot");
    let mut fvecs = Vec::new();
    for r in 0..7 {
        fvecs.extend_from_slice(&3i32.to_le_bytes());
        let x = if r == 5 { f32::NAN } else { r as f32 + 1.0 };
        for v in [x, 1.0, 2.0] {
            fvecs.extend_from_slice(&v.to_le_bytes());
        }
    }
    let p = tmp.path().join("nan.fvecs");
    std::fs::write(&p, fvecs).unwrap();
    let out = vecsieve(&["import", s(&other), s(&p), "--batch", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("row 5") && err.contains("4 points"),
        "{err}"
    );
    assert_eq!(json(&["inspect", s(&other), "--json"])["points"], 4);
}

#[test]
fn verify_notes_what_open_repairs_and_fails_on_a_damaged_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    create(&dir, 3, "dot");
    let input = tmp.path().join("p.jsonl");
    let text: String = (0..5)
        .map(|i| jsonl_line(&i.to_string(), &[1.0, i as f32, 0.5], "null"))
        .collect();
    std::fs::write(&input, text).unwrap();
    // Without closing: the points stay in the WAL (a crash-like exit would do the same).
    let c = vecsieve::Collection::open(&dir).unwrap();
    vecsieve_cli::import::import(
        &c,
        &input,
        vecsieve_cli::import::Format::Jsonl,
        vecsieve_cli::import::ImportOptions {
            batch: 2,
            ..Default::default()
        },
        |_| {},
    )
    .unwrap();
    drop(c);
    let wal = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let clean = std::fs::read(&wal).unwrap();
    // A torn tail and a stray file are notes: the next open repairs them.
    let mut torn = clean.clone();
    torn.extend_from_slice(&[0x11; 13]);
    std::fs::write(&wal, &torn).unwrap();
    std::fs::write(dir.join("segments/0000000000000009.seg.tmp"), b"partial").unwrap();
    let out = vecsieve(&["verify", s(&dir)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("the next open will cut its tail") && text.contains("seg.tmp"),
        "{text}"
    );
    // inspect reads it without repairing anything: the tail stays.
    let out = vecsieve(&["inspect", s(&dir), "--json"]);
    assert!(out.status.success());
    assert_eq!(std::fs::read(&wal).unwrap(), torn, "inspect left the tail");
    // import (of nothing) opens it for writing: recovery cuts the tail, says so on
    // stderr, and inspect lists the kept bytes.
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = vecsieve(&["import", s(&dir), s(&empty)]);
    assert!(out.status.success());
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("WAL recovery") && warning.contains(".torn"),
        "{warning}"
    );
    let out = vecsieve(&["inspect", s(&dir), "--json"]);
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        info["kept_wal_tails"].as_array().map(Vec::len),
        Some(1),
        "{info}"
    );
    assert_eq!(std::fs::read(&wal).unwrap(), clean, "the tail was cut");
    // A flipped byte inside the first record (followed by valid ones) is damage.
    let mut bad = clean.clone();
    bad[40] ^= 1;
    std::fs::write(&wal, &bad).unwrap();
    let out = vecsieve(&["verify", s(&dir), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let damaged: Vec<&Value> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "damaged")
        .collect();
    assert_eq!(damaged.len(), 1, "{report}");
    assert_eq!(damaged[0]["path"].as_str().unwrap(), s(&wal));
    // verify changed nothing.
    assert_eq!(std::fs::read(&wal).unwrap(), bad);
}

/// The campaign's defect 8: `search` and `inspect` ended with a seal, a MANIFEST and a new
/// WAL file. A command that only reads changes nothing on disk.
#[test]
fn read_only_commands_change_nothing_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    create(&dir, 3, "dot");
    let c = vecsieve::Collection::open(&dir).unwrap();
    c.upsert(&[vecsieve::Point::new(1, vec![1.0, 0.0, 0.5])])
        .unwrap();
    c.seal().unwrap();
    // Records left in the WAL, as after a crash.
    c.upsert(&[vecsieve::Point::new(2, vec![0.0, 1.0, 0.5])])
        .unwrap();
    drop(c);
    let before = common::tree(&dir);
    for args in [
        vec!["search", s(&dir), "--vector", "1,0,0"],
        vec!["search", s(&dir), "--vector", "1,0,0", "--json"],
        vec!["inspect", s(&dir)],
        vec!["inspect", s(&dir), "--json"],
        vec!["verify", s(&dir)],
    ] {
        let out = vecsieve(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(common::tree(&dir), before, "{args:?} changed the directory");
    }
    // Nor while a writer holds the collection (whose open replayed the WAL and wrote its
    // process id in LOCK): they read it beside the writer.
    let holder = vecsieve::Collection::open(&dir).unwrap();
    let held = common::tree(&dir);
    for args in [
        vec!["search", s(&dir), "--vector", "1,0,0"],
        vec!["inspect", s(&dir)],
        vec!["verify", s(&dir)],
        vec!["count", s(&dir)],
    ] {
        let out = vecsieve(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(common::tree(&dir), held, "{args:?} changed the directory");
    }
    drop(holder);
}

/// Multivectors end to end on the bundled token cut: `create --multivector`, `import` of
/// `.npy` vectors + offsets, `search` with a multivector query (from the file, and as
/// JSON), exact results equal to the ground truth; then named vectors from Qdrant-style
/// JSONL (`{"name": [[..]]}`), searched with `--using`.
#[test]
fn multivectors_import_from_npy_and_jsonl_and_search_with_using() {
    let tmp = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/debian-minilm-tokens-200");
    let f = |name: &str| data.join(name).to_str().unwrap().to_string();
    let dir = tmp.path().join("tokens");
    json(&[
        "create",
        s(&dir),
        "--dim",
        "384",
        "--distance",
        "cosine",
        "--datatype",
        "f16",
        "--multivector",
        "--quantization",
        "binary1",
        "--json",
    ]);
    let imported = json(&[
        "import",
        s(&dir),
        &f("base_vectors.npy"),
        "--offsets",
        &f("base_offsets.npy"),
        "--batch",
        "64",
        "--json",
    ]);
    assert_eq!(imported["points"], 200);
    let truth = vecsieve::vecs::read_ivecs(&data.join("groundtruth.ivecs")).unwrap();
    for row in [0usize, 7] {
        let hits = json(&[
            "search",
            s(&dir),
            "--vector-file",
            &f("query_vectors.npy"),
            "--offsets",
            &f("query_offsets.npy"),
            "--row",
            &row.to_string(),
            "--exact",
            "--limit",
            "5",
            "--json",
        ]);
        let ids: Vec<String> = hits["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = truth.row(row)[..5].iter().map(|i| i.to_string()).collect();
        assert_eq!(ids, want, "query {row}");
    }
    // The advisor measures the multivector with held-out multivector queries and MaxSim.
    let advice = json(&[
        "advise",
        s(&dir),
        "--queries",
        "20",
        "--oversampling",
        "1,2",
        "--json",
    ]);
    let rows = advice["rows"].as_array().unwrap();
    assert!(rows.len() >= 5, "{advice}");
    assert!(
        rows.iter().any(|r| r["recall"].as_f64().unwrap() >= 0.9),
        "{advice}"
    );
    // A dense query to a multivector is refused with the vector named.
    let out = vecsieve(&["search", s(&dir), "--vector", "1,0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("it is a multivector"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let named = tmp.path().join("named");
    json(&[
        "create",
        s(&named),
        "--dim",
        "3",
        "--distance",
        "cosine",
        "--vector",
        "name=colbert,dim=2,distance=dot,quantization=scalar8,multivector",
        "--json",
    ]);
    let lines = tmp.path().join("points.jsonl");
    std::fs::write(
        &lines,
        concat!(
            r#"{"id": 1, "vector": {"": [1, 0, 0], "colbert": [[1, 0], [0, 1]]}, "payload": {"t": "a"}}"#,
            "\n",
            r#"{"id": 2, "vector": {"colbert": [[0.5, 0.5]]}}"#,
            "\n",
            r#"{"id": 3, "vector": [0, 1, 0]}"#,
            "\n"
        ),
    )
    .unwrap();
    assert_eq!(
        json(&["import", s(&named), s(&lines), "--json"])["points"],
        3
    );
    let hits = json(&[
        "search",
        s(&named),
        "--using",
        "colbert",
        "--vector",
        "[[1, 0], [0, 1]]",
        "--exact",
        "--json",
    ]);
    let got: Vec<(String, f64)> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["id"].as_str().unwrap().to_string(),
                h["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("1".to_string(), 2.0), ("2".to_string(), 1.0)]);
    let hits = json(&[
        "search",
        s(&named),
        "--vector",
        "0,1,0",
        "--exact",
        "--json",
    ]);
    assert_eq!(hits["hits"][0]["id"], "3");
    let out = vecsieve(&["search", s(&named), "--using", "nope", "--vector", "1,0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no vector named \"nope\""));
}

/// Filters on the command line: JSONL payloads imported as JSON, `search --filter`,
/// `count`, `scroll` with pages, and a malformed filter named in the CLI's terms.
#[test]
fn filters_search_count_and_scroll_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    create(&dir, 2, "cosine");
    let file = tmp.path().join("p.jsonl");
    let mut lines = String::new();
    for i in 0..30u32 {
        let section = if i % 3 == 0 { "python" } else { "libs" };
        let payload = format!("{{\"section\": \"{section}\", \"size\": {i}}}");
        let v = [1.0, i as f32 / 10.0];
        lines.push_str(&jsonl_line(&i.to_string(), &v, &payload));
    }
    std::fs::write(&file, lines).unwrap();
    json(&["import", s(&dir), s(&file), "--json"]);
    let python = r#"{"must": [{"key": "section", "match": {"value": "python"}}], "must_not": [{"key": "size", "range": {"lt": 6}}]}"#;
    let hits = json(&[
        "search",
        s(&dir),
        "--vector",
        "1,0",
        "--filter",
        python,
        "--exact",
        "--json",
    ]);
    let ids: Vec<&str> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    // Python packages of size ≥ 6, nearest to (1, 0) first: 6, 9, 12, ...
    assert_eq!(ids, ["6", "9", "12", "15", "18", "21", "24", "27"]);
    assert_eq!(hits["hits"][0]["payload"]["section"], "python");
    assert_eq!(
        json(&["count", s(&dir), "--filter", python, "--json"])["count"],
        8
    );
    assert_eq!(json(&["count", s(&dir), "--json"])["count"], 30);
    let page = json(&[
        "scroll",
        s(&dir),
        "--filter",
        python,
        "--limit",
        "5",
        "--json",
    ]);
    assert_eq!(page["points"].as_array().unwrap().len(), 5);
    assert_eq!(page["next_offset"], "21");
    let page = json(&[
        "scroll",
        s(&dir),
        "--filter",
        python,
        "--offset",
        "21",
        "--json",
    ]);
    let ids: Vec<&str> = page["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["21", "24", "27"]);
    assert!(page["next_offset"].is_null());
    let out = vecsieve(&[
        "count",
        s(&dir),
        "--filter",
        r#"{"must": [{"key": "size", "range": {"gt": "big"}}]}"#,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--filter") && err.contains("must[0].range.gt"),
        "{err}"
    );
    let out = vecsieve(&["scroll", s(&dir), "--offset", "seven"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--offset \"seven\" is not a point id"));
    // Indexed, the same answers; `inspect` lists the indexes with their sizes.
    let made = json(&["create-index", s(&dir), "section", "keyword", "--json"]);
    assert_eq!(made["values"], 30, "{made}");
    assert!(made["disk_bytes"].as_u64().unwrap() > 0);
    json(&["create-index", s(&dir), "size", "integer", "--json"]);
    assert_eq!(
        json(&["count", s(&dir), "--filter", python, "--json"])["count"],
        8
    );
    let info = json(&["inspect", s(&dir), "--json"]);
    let indexes = info["payload_indexes"].as_array().unwrap();
    assert_eq!(indexes.len(), 2, "{info}");
    assert_eq!(indexes[0]["key"], "section");
    assert_eq!(indexes[1]["schema"], "integer");
    assert!(info["disk"]["payload_indexes"].as_u64().unwrap() > 0);
    let text = String::from_utf8_lossy(&vecsieve(&["inspect", s(&dir)]).stdout).into_owned();
    assert!(
        text.contains("payload indexes (2)") && text.contains("keyword"),
        "{text}"
    );
    let out = vecsieve(&["create-index", s(&dir), "size", "number"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not one of keyword, integer"));
    json(&["delete-index", s(&dir), "size", "--json"]);
    let info = json(&["inspect", s(&dir), "--json"]);
    assert_eq!(info["payload_indexes"].as_array().unwrap().len(), 1);
    let out = vecsieve(&["delete-index", s(&dir), "size"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no payload index on \"size\""));
    assert_eq!(
        json(&["count", s(&dir), "--filter", python, "--json"])["count"],
        8
    );
}

/// The hits' ids of a `search --json` output.
fn hit_ids(hits: &Value) -> Vec<String> {
    hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// Runs a command that must fail with status 1 and returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = vecsieve(args);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn configure_changes_codes_in_place_and_stores_search_defaults() {
    let data = data_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let created = json(&[
        "create",
        s(&dir),
        "--dim",
        "384",
        "--distance",
        "cosine",
        "--oversampling",
        "3",
        "--json",
    ]);
    assert_eq!(created["config"]["search_defaults"]["oversampling"], 3.0);
    let fvecs = tmp.path().join("part.fvecs");
    let all = std::fs::read(data.join("base.fvecs")).unwrap();
    std::fs::write(&fvecs, &all[..3000 * (4 + 4 * 384)]).unwrap();
    json(&["import", s(&dir), s(&fvecs), "--json"]);
    let queries = s(&data.join("query.fvecs")).to_string();
    let search = |extra: &[&str]| {
        let mut args = vec!["search", s(&dir), "--vector-file", &queries, "--row", "7"];
        args.extend_from_slice(extra);
        args.push("--json");
        hit_ids(&json(&args))
    };
    // Searches without --oversampling use the stored 3.
    assert_eq!(search(&[]), search(&["--oversampling", "3"]));

    // New codes in place: every segment is rewritten; the oversampling stored for the old
    // codes is cleared, so the new codes' built-in default applies.
    let r = json(&[
        "configure",
        s(&dir),
        "--quantization",
        "binary1-q8",
        "--json",
    ]);
    assert_eq!(r["cleared_oversampling"], 3.0, "{r}");
    assert!(r["requantized_segments"].as_u64().unwrap() >= 1, "{r}");
    let info = json(&["inspect", s(&dir), "--json"]);
    let segments = info["segments"].as_array().unwrap();
    assert!(
        segments.iter().all(|g| g["encoding"] == "binary1"),
        "{info}"
    );
    assert_eq!(
        info["config"]["quantization"]["query_encoding"],
        "scalar8_bits"
    );
    assert!(info["config"].get("search_defaults").is_none(), "{info}");
    assert_eq!(search(&[]), search(&["--oversampling", "4"]));

    // Stored defaults, and what a search says overrides them.
    json(&[
        "configure",
        s(&dir),
        "--oversampling",
        "6",
        "--rescore",
        "false",
        "--json",
    ]);
    let text = String::from_utf8_lossy(&vecsieve(&["inspect", s(&dir)]).stdout).into_owned();
    assert!(
        text.contains("binary1-q8 codes, searched with oversampling 6 (stored), not rescored"),
        "{text}"
    );
    assert_eq!(
        search(&[]),
        search(&["--oversampling", "6", "--rescore", "false"])
    );
    assert_ne!(search(&[]), search(&["--rescore", "true"]));

    // Refusals say what to do.
    let err = fails(&["configure", s(&dir)]);
    assert!(
        err.contains("nothing to change: give --quantization"),
        "{err}"
    );
    let err = fails(&["configure", s(&dir), "--oversampling", "0.5"]);
    assert!(
        err.contains("oversampling is 0.5; it must be a finite number in 1..="),
        "{err}"
    );
    let err = fails(&[
        "configure",
        s(&dir),
        "--using",
        "nope",
        "--oversampling",
        "2",
    ]);
    assert!(err.contains("no vector named \"nope\""), "{err}");
}

/// A command's stdout and stderr, and whether it succeeded.
fn text(args: &[&str], cwd: Option<&Path>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vecsieve"));
    cmd.args(args);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn messages_speak_to_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let missing = tmp.path().join("nowhere");

    // A missing collection: how to make one with this command line.
    let (ok, _, err) = text(&["search", s(&missing), "--vector", "1,2"], None);
    assert!(!ok);
    assert!(
        err.contains(&format!("no collection at {}", missing.display()))
            && err.contains(&format!("vecsieve create {} --dim N", missing.display()))
            && !err.contains("Collection::create"),
        "{err}"
    );

    // Creating shows the config in the command line's names, not Rust's Debug.
    let (ok, out, _) = text(
        &["create", s(&dir), "--dim", "2", "--distance", "dot"],
        None,
    );
    assert!(ok);
    assert!(
        out.contains("dim 2, dot, f32 originals, rabitq1 codes, searched with oversampling 4 (built-in default)")
            && !out.contains("Binary(") && !out.contains("Dot,"),
        "{out}"
    );

    // A missing input file is about the file, not the collection.
    let (ok, _, err) = text(&["import", s(&dir), s(&missing.join("x.fvecs"))], None);
    assert!(!ok);
    assert!(
        err.contains("cannot use")
            && err.contains("x.fvecs")
            && err.contains("check the path")
            && !err.contains("reopen the collection"),
        "{err}"
    );
    let (ok, _, err) = text(
        &[
            "search",
            s(&dir),
            "--vector-file",
            s(&missing.join("q.fvecs")),
        ],
        None,
    );
    assert!(
        !ok && err.contains("cannot use") && err.contains("q.fvecs"),
        "{err}"
    );

    // Counts agree with their nouns.
    let one = tmp.path().join("one.jsonl");
    std::fs::write(&one, "{\"id\": 1, \"vector\": [1.0, 2.0]}\n").unwrap();
    let (ok, out, _) = text(&["import", s(&dir), s(&one)], None);
    assert!(
        ok && out.contains("imported 1 point in 1 batch in"),
        "{out}"
    );
    let (ok, out, _) = text(&["inspect", s(&dir)], None);
    assert!(
        ok && out.contains("  1 point (") && out.contains("segments (1)"),
        "{out}"
    );
    let (ok, out, _) = text(
        &["search", s(&dir), "--vector", "1,2", "--limit", "1"],
        None,
    );
    assert!(ok && out.contains("1 hit in"), "{out}");
    let (ok, out, _) = text(&["verify", s(&dir)], None);
    assert!(ok && out.contains("files checked, no damage"), "{out}");
    // No payloads, no payload bytes.
    let info = json(&["inspect", s(&dir), "--json"]);
    assert_eq!(info["disk"]["payloads"], 0, "{info}");

    // A collection open elsewhere: which process holds it and what to do, in shell terms.
    let held = vecsieve::Collection::open(&dir).unwrap();
    let (ok, _, err) = text(&["import", s(&dir), s(&one)], None);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "is open for writing in process {}",
            std::process::id()
        )) && !err.contains("Collection handle"),
        "{err}"
    );
    // Commands that only read work meanwhile, and see what the holder wrote.
    held.upsert(&[vecsieve::Point::new(2, vec![2.0, 1.0])])
        .unwrap();
    assert_eq!(json(&["count", s(&dir), "--json"])["count"], 2);
    let (ok, out, err) = text(
        &["search", s(&dir), "--vector", "1,2", "--limit", "2"],
        None,
    );
    assert!(ok && out.contains("2 hits in"), "{out}{err}");
    let (ok, out, _) = text(&["verify", s(&dir)], None);
    assert!(
        ok && out.contains(&format!(
            "checked beside the writer (process {})",
            std::process::id()
        )),
        "{out}"
    );
    drop(held);

    // The demo outside a clone says where its data comes from.
    let (ok, _, err) = text(&["demo"], Some(tmp.path()));
    assert!(!ok);
    assert!(
        err.contains("data/debian-minilm-384-10k") && err.contains("--data DIR"),
        "{err}"
    );
}

/// Another process reads while this one writes: each `count` (its own read-only open) sees
/// whole batches, never fewer than the one before, while the writer ingests, seals and
/// merges.
#[test]
fn a_reader_process_sees_whole_batches_while_a_writer_ingests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let config = vecsieve::CollectionConfig::new(4, vecsieve::Distance::Euclid)
        .with_live_segment_max_bytes(8 << 10)
        .with_optimizer(vecsieve::optimizer::OptimizerConfig {
            merge_factor: 2,
            ..Default::default()
        });
    let writer = vecsieve::Collection::create(&dir, config).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ingest = {
        let (writer, done) = (writer.clone(), std::sync::Arc::clone(&done));
        std::thread::spawn(move || {
            for b in 0..1000u64 {
                let batch: Vec<vecsieve::Point> = (b * 50..(b + 1) * 50)
                    .map(|i| vecsieve::Point::new(i, vec![i as f32, 1.0, 2.0, 3.0]))
                    .collect();
                writer.upsert(&batch).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let mut counts = Vec::new();
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        let n = json(&["count", s(&dir), "--json"])["count"]
            .as_u64()
            .unwrap();
        assert_eq!(n % 50, 0, "a reader saw part of a batch: {n}");
        assert!(
            counts.last().is_none_or(|&last| n >= last),
            "{counts:?} then {n}"
        );
        counts.push(n);
    }
    ingest.join().unwrap();
    assert_eq!(json(&["count", s(&dir), "--json"])["count"], 50_000);
    assert!(counts.len() >= 3, "{counts:?}");
    writer.close().unwrap();
}

/// `vecsieve backup` copies a collection an application holds and writes, as one state,
/// verified; the copy opens as a collection and later writes do not reach it.
#[test]
fn backup_copies_a_held_collection_that_opens_as_a_normal_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let writer = vecsieve::Collection::create(
        &dir,
        vecsieve::CollectionConfig::new(2, vecsieve::Distance::Dot),
    )
    .unwrap();
    let points = |ids: std::ops::Range<u64>| -> Vec<vecsieve::Point> {
        ids.map(|i| vecsieve::Point::new(i, vec![1.0, i as f32]))
            .collect()
    };
    writer.upsert(&points(0..500)).unwrap();
    writer.seal().unwrap();
    writer.upsert(&points(500..700)).unwrap();
    let dest = tmp.path().join("backup");
    let r = json(&["backup", s(&dir), s(&dest), "--json"]);
    assert_eq!(r["points"], 700, "{r}");
    writer.upsert(&points(700..800)).unwrap();
    assert_eq!(json(&["count", s(&dest), "--json"])["count"], 700);
    assert_eq!(json(&["verify", s(&dest), "--json"])["ok"], true);
    let (ok, out, _) = text(
        &["backup", s(&dir), s(&tmp.path().join("b2")), "--hard-link"],
        None,
    );
    assert!(
        ok && out.contains("backed up 800 points to") && out.contains("verified"),
        "{out}"
    );
    let (ok, _, err) = text(&["backup", s(&dir), s(&dest)], None);
    assert!(
        !ok && err.contains("already holds a collection or other files"),
        "{err}"
    );
    writer.close().unwrap();
    // The copy is a normal collection: writable once opened.
    let copy = vecsieve::Collection::open(&dest).unwrap();
    copy.upsert(&points(900..901)).unwrap();
    assert_eq!(copy.len(), 701);
}

/// `inspect` (a read-only look) says what the optimizer has to do, in words.
#[test]
fn inspect_names_the_optimizers_pending_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let config = vecsieve::CollectionConfig::new(2, vecsieve::Distance::Dot).with_optimizer(
        vecsieve::optimizer::OptimizerConfig {
            background: false,
            vacuum_min_deleted: 1,
            ..Default::default()
        },
    );
    let c = vecsieve::Collection::create(&dir, config).unwrap();
    let points: Vec<vecsieve::Point> = (0..100u64)
        .map(|i| vecsieve::Point::new(i, vec![1.0, i as f32]))
        .collect();
    c.upsert(&points).unwrap();
    c.seal().unwrap();
    c.delete(0..50u64).unwrap();
    c.close().unwrap();
    let (ok, out, _) = text(&["inspect", s(&dir)], None);
    assert!(
        ok && out.contains("optimizer: to do: vacuum segment 1"),
        "{out}"
    );
    let info = json(&["inspect", s(&dir), "--json"]);
    assert_eq!(
        info["optimizer"]["planned"][0], "vacuum segment 1",
        "{info}"
    );
    json(&["optimize", s(&dir), "--json"]);
    let (_, out, _) = text(&["inspect", s(&dir)], None);
    assert!(out.contains("optimizer: nothing to do"), "{out}");
}
