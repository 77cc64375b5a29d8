//! Qdrant interchange checked against Qdrant's own code and a recording server:
//! `vecsieve export` bodies validate as the request models of the official `qdrant-client`
//! (pinned in `qdrant-requirements.txt`), load into its local mode and give the same exact
//! top-10 as vecsieve on the bundled set; `vecsieve import` reads an export back point for
//! point; `vecsieve push` sends them to a server in batches, with retries and the API key.
//!
//! The qdrant-client tests need `python3 -m pip install -r cli/tests/qdrant-requirements.txt`;
//! without it they are skipped with a note, unless `VECSIEVE_REQUIRE_QDRANT_CLIENT=1` (CI
//! sets it, after installing the package) makes a missing package a failure.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use support::{data_dir, json, s, vecsieve};
use vecsieve::vecs::read_fvecs;
use vecsieve::{
    Collection, CollectionConfig, Distance, Point, PointId, SearchParams, VectorParams,
};

/// True when `python3` can import qdrant_client; false (after a note) when it cannot and
/// the environment does not require it.
fn qdrant_client_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import qdrant_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("VECSIEVE_REQUIRE_QDRANT_CLIENT").as_deref() != Ok("1"),
            "qdrant-client is required: python3 -m pip install -r cli/tests/qdrant-requirements.txt"
        );
        eprintln!(
            "SKIPPED: python3 cannot import qdrant_client (pip install -r cli/tests/qdrant-requirements.txt)"
        );
    }
    ok
}

/// Runs `qdrant_check.py` on an export: its JSON answer.
fn qdrant_check(export: &Path, queries: usize) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qdrant_check.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(export)
        .arg(data_dir().join("query.fvecs"))
        .arg(queries.to_string())
        .arg("10")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "qdrant_check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The bundled set in a collection created with the command line's defaults, with JSON
/// payloads on every tenth point and UUID ids on a few.
fn bundled(dir: &Path) -> Collection {
    let out = vecsieve(&["create", s(dir), "--dim", "384", "--distance", "cosine"]);
    assert!(out.status.success());
    let base = read_fvecs(&data_dir().join("base.fvecs")).unwrap();
    let c = Collection::open(dir).unwrap();
    let points: Vec<Point> = (0..base.rows())
        .map(|i| {
            let id = if i % 1000 == 999 {
                PointId::uuid(0xabcd_0000_0000_0000_0000_0000_0000_0000 | i as u128)
            } else {
                PointId::Num(i as u64)
            };
            let p = Point::new(id, base.row(i).to_vec());
            if i % 10 == 0 {
                p.with_payload(format!(r#"{{"row": {i}, "tags": ["a", "b"]}}"#).into_bytes())
            } else {
                p
            }
        })
        .collect();
    for chunk in points.chunks(1000) {
        c.upsert(chunk).unwrap();
    }
    c
}

#[test]
fn an_export_is_qdrants_own_bodies_and_its_exact_search_agrees() {
    if !qdrant_client_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let c = bundled(&dir);
    c.close().unwrap();
    let export = tmp.path().join("export");
    let r = json(&["export", s(&dir), s(&export), "--json"]);
    assert_eq!(r["points"], 10_000);
    let checked = qdrant_check(&export, 30);
    assert_eq!(checked["points"], 10_000);
    // Qdrant's exact top 10 (its local mode) against vecsieve's, query by query.
    let c = Collection::open_with_options(&dir, vecsieve::OpenOptions::read_only()).unwrap();
    let queries = read_fvecs(&data_dir().join("query.fvecs")).unwrap();
    let exact = SearchParams::default().with_exact(true);
    for (i, theirs) in checked["ids"].as_array().unwrap().iter().enumerate() {
        let theirs: BTreeSet<String> = theirs
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let ours: BTreeSet<String> = c
            .search(queries.row(i), 10, &exact)
            .unwrap()
            .iter()
            .map(|h| h.id.to_string())
            .collect();
        assert_eq!(ours, theirs, "query {i}");
    }
    assert_eq!(checked["ids"].as_array().unwrap().len(), 30);
}

#[test]
fn named_vectors_and_multivectors_export_as_qdrants_named_vectors() {
    if !qdrant_client_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let config = CollectionConfig::new(4, Distance::Cosine)
        .with_vector(
            "colbert",
            VectorParams::new(3, Distance::Dot)
                .with_multivector()
                .with_quantization(vecsieve::Quantization::Scalar(Default::default())),
        )
        .with_vector("title", VectorParams::new(2, Distance::Euclid));
    let c = Collection::create(&dir, config).unwrap();
    c.upsert(&[
        Point::new(1, vec![1.0, 0.0, 0.0, 1.0])
            .with_vector("colbert", vec![vec![1.0, 2.0, 3.0], vec![0.0, 1.0, 0.0]])
            .with_vector("title", vec![0.5, 0.5]),
        Point::without_vectors(2).with_vector("title", vec![1.0, 0.0]),
    ])
    .unwrap();
    c.close().unwrap();
    let export = tmp.path().join("export");
    json(&["export", s(&dir), s(&export), "--json"]);
    let body: Value =
        serde_json::from_slice(&std::fs::read(export.join("collection.json")).unwrap()).unwrap();
    assert_eq!(
        body["vectors"]["colbert"]["multivector_config"]["comparator"],
        "max_sim"
    );
    assert_eq!(
        body["vectors"]["colbert"]["quantization_config"]["scalar"]["type"],
        "int8"
    );
    assert_eq!(body["vectors"]["title"]["distance"], "Euclid");
    assert_eq!(qdrant_check(&export, 0)["points"], 2);
}

#[test]
fn import_reads_an_export_back_point_for_point() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let c = bundled(&dir);
    c.delete(0..5u64).unwrap();
    c.close().unwrap();
    let export = tmp.path().join("export");
    json(&["export", s(&dir), s(&export), "--batch", "700", "--json"]);
    let copy = tmp.path().join("copy");
    let r = json(&["import", s(&copy), s(&export), "--json"]);
    assert_eq!(
        (r["points"].as_u64(), r["batches"].as_u64()),
        (Some(9995), Some(15))
    );
    let a = Collection::open_with_options(&dir, vecsieve::OpenOptions::read_only()).unwrap();
    let b = Collection::open_with_options(&copy, vecsieve::OpenOptions::read_only()).unwrap();
    assert_eq!(a.config(), b.config());
    let points = |c: &Collection| -> Vec<Point> { c.iter(None).map(Result::unwrap).collect() };
    let (pa, pb) = (points(&a), points(&b));
    assert_eq!(pa.len(), pb.len());
    for (x, y) in pa.iter().zip(&pb) {
        // Cosine vectors are normalized again on import: equal within a rounding.
        assert_eq!(x.id, y.id);
        let close = x
            .vector
            .iter()
            .zip(&y.vector)
            .all(|(a, b)| (a - b).abs() <= 1e-7);
        assert!(close && x.vector.len() == y.vector.len(), "{}", x.id);
        let parse = |p: &Option<Vec<u8>>| {
            p.as_ref()
                .map(|b| serde_json::from_slice::<Value>(b).unwrap())
        };
        assert_eq!(parse(&x.payload), parse(&y.payload), "{}", x.id);
    }
    // A payload that is not a JSON object cannot go to Qdrant, and the export says so.
    let bad = tmp.path().join("bad");
    let c = Collection::create(&bad, CollectionConfig::new(2, Distance::Dot)).unwrap();
    c.upsert(&[Point::new(3, vec![1.0, 0.0]).with_payload(b"raw bytes".to_vec())])
        .unwrap();
    c.close().unwrap();
    let out = vecsieve(&["export", s(&bad), s(&tmp.path().join("bad-export"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("point 3's payload is not a JSON object"),
        "{err}"
    );
}

/// One request the recording server received.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    api_key: Option<String>,
    body: Value,
}

/// A server on a local port that records every request and answers `status(n)` to the
/// n-th (from 0), with a Qdrant-like JSON body.
fn recording_server(
    status: impl Fn(usize) -> u16 + Send + 'static,
) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let (mut length, mut api_key) = (0, None);
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "content-length" => length = v.trim().parse().unwrap(),
                        "api-key" => api_key = Some(v.trim().to_string()),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            seen.lock().unwrap().push(Request {
                method,
                path,
                api_key,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            let code = status(n);
            let answer = r#"{"result":true,"status":"ok","time":0.001}"#;
            let reply = format!(
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (url, log)
}

#[test]
fn push_creates_the_collection_and_sends_batches_with_retries_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let c = Collection::create(&dir, CollectionConfig::new(3, Distance::Cosine)).unwrap();
    let points: Vec<Point> = (0..250u64)
        .map(|i| Point::new(i, vec![1.0, i as f32, 2.0]).with_payload(br#"{"k": 1}"#.to_vec()))
        .collect();
    c.upsert(&points).unwrap();
    c.close().unwrap();
    // The second request (the first batch) fails once with 503.
    let (url, log) = recording_server(|n| if n == 1 { 503 } else { 200 });
    let args = [
        "push",
        s(&dir),
        "--url",
        &url,
        "--collection",
        "docs",
        "--api-key",
        "secret",
        "--batch",
        "100",
        "--json",
    ];
    let r = json(&args);
    assert_eq!(
        (
            r["points"].as_u64(),
            r["batches"].as_u64(),
            r["retries"].as_u64()
        ),
        (Some(250), Some(3), Some(1))
    );
    let requests = log.lock().unwrap().clone();
    assert_eq!(requests.len(), 5, "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|q| q.method == "PUT" && q.api_key.as_deref() == Some("secret"))
    );
    assert_eq!(requests[0].path, "/collections/docs");
    assert_eq!(requests[0].body["vectors"]["size"], 3);
    assert_eq!(requests[0].body["vectors"]["distance"], "Cosine");
    let mut ids = Vec::new();
    for q in &requests[1..] {
        assert_eq!(q.path, "/collections/docs/points?wait=true");
    }
    // The retried batch is sent twice, identically; each point arrives once otherwise.
    assert_eq!(requests[1].body, requests[2].body);
    for q in &requests[2..] {
        let batch = q.body["points"].as_array().unwrap();
        assert!(batch.len() <= 100);
        ids.extend(batch.iter().map(|p| p["id"].as_u64().unwrap()));
        assert!(batch.iter().all(|p| p["payload"]["k"] == 1));
    }
    assert_eq!(ids, (0..250).collect::<Vec<_>>());

    // A server that keeps failing: the command gives up, saying after how many attempts.
    let (url, _) = recording_server(|n| if n == 0 { 200 } else { 500 });
    let out = vecsieve(&[
        "push",
        s(&dir),
        "--url",
        &url,
        "--collection",
        "docs",
        "--attempts",
        "2",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("answered 500")
            && err.contains("gave up after 2 attempts"),
        "{err}"
    );
    // A 4xx answer is not retried.
    let (url, log) = recording_server(|_| 400);
    let out = vecsieve(&["push", s(&dir), "--url", &url, "--collection", "docs"]);
    assert!(!out.status.success());
    assert_eq!(log.lock().unwrap().len(), 1);
}
