//! Qdrant interchange: a collection written as Qdrant's own request bodies (the
//! collection-creation JSON of `PUT /collections/{name}` and batches of the upsert JSON of
//! `PUT /collections/{name}/points`), read back, or sent to a Qdrant server.
//!
//! An export directory holds `collection.json` (Qdrant's `CreateCollection`),
//! `points-000000.json`, `points-000001.json`, ... (Qdrant's `PointsList`, one batch each)
//! and `vecsieve.json` (the collection's own config, so that reading the export back into a
//! new collection gives the same codes even where Qdrant has no word for them).
//!
//! Mapping: distances and datatypes by Qdrant's names (`Cosine`, `float16`, ...); a
//! multivector gets `multivector_config: {comparator: max_sim}`; named vectors become
//! Qdrant's named vectors (the default vector, in a collection that has named ones, is the
//! vector named `""`); scalar codes become `scalar` int8 quantization with the same
//! quantile; sign-bit codes become `binary` quantization with the same `encoding` and
//! `query_encoding`; rotated codes (RaBitQ), which Qdrant does not have, become `binary`
//! `one_bit` codes with 4-bit queries (its nearest). Payloads must be JSON objects, as
//! Qdrant's are.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};
use vecsieve::{
    BinaryEncoding, Collection, CollectionConfig, Datatype, Distance, Point, PointId, Quantization,
    QueryEncoding, Vector, VectorParams,
};

use crate::{Error, Result};

/// Qdrant's name of a distance.
fn distance_name(d: Distance) -> &'static str {
    match d {
        Distance::Cosine => "Cosine",
        Distance::Dot => "Dot",
        Distance::Euclid => "Euclid",
        _ => "Manhattan",
    }
}

fn datatype_name(d: Datatype) -> &'static str {
    match d {
        Datatype::F32 => "float32",
        Datatype::F16 => "float16",
        _ => "uint8",
    }
}

/// Qdrant's `quantization_config` for `q` (`None` for no quantization).
fn quantization_body(q: Quantization) -> Option<Value> {
    match q {
        Quantization::Binary(b) => {
            let (encoding, query) = match b.encoding {
                BinaryEncoding::TwoBits => ("two_bits", b.query_encoding),
                BinaryEncoding::OneAndHalfBits => ("one_and_half_bits", b.query_encoding),
                BinaryEncoding::RotatedOneBit | BinaryEncoding::RotatedTwoBits => {
                    ("one_bit", QueryEncoding::Scalar4Bits)
                }
                _ => ("one_bit", b.query_encoding),
            };
            let query = match query {
                QueryEncoding::Scalar4Bits => "scalar4bits",
                QueryEncoding::Scalar8Bits => "scalar8bits",
                _ => "default",
            };
            Some(
                json!({"binary": {"always_ram": true, "encoding": encoding, "query_encoding": query}}),
            )
        }
        Quantization::Scalar(s) => {
            let mut scalar = json!({"type": "int8", "always_ram": true});
            if let Some(q) = s.quantile {
                scalar["quantile"] = json!(q);
            }
            Some(json!({ "scalar": scalar }))
        }
        _ => None,
    }
}

/// Qdrant's `VectorParams` for one vector.
fn vector_body(p: &VectorParams) -> Value {
    let mut v = json!({
        "size": p.dim,
        "distance": distance_name(p.distance),
        "datatype": datatype_name(p.datatype),
    });
    if p.multivector.is_some() {
        v["multivector_config"] = json!({"comparator": "max_sim"});
    }
    if let Some(q) = quantization_body(p.quantization) {
        v["quantization_config"] = q;
    }
    v
}

/// Qdrant's collection-creation body (`CreateCollection`) for `config`.
#[must_use]
pub fn collection_body(config: &CollectionConfig) -> Value {
    let vectors = if config.vectors.is_empty() {
        vector_body(&config.default_vector())
    } else {
        let mut map = Map::new();
        map.insert(String::new(), vector_body(&config.default_vector()));
        for (name, p) in &config.vectors {
            map.insert(name.clone(), vector_body(p));
        }
        Value::Object(map)
    };
    json!({ "vectors": vectors })
}

fn vector_value(v: &Vector) -> Value {
    match v {
        Vector::Dense(d) => json!(d),
        Vector::Multi(m) => json!(m),
    }
}

/// One point as Qdrant's `PointStruct`.
///
/// Errors: a payload that is not a JSON object (Qdrant's payloads are).
pub fn point_body(p: &Point, named: bool) -> vecsieve::Result<Value> {
    let id = match p.id {
        PointId::Num(n) => json!(n),
        other => json!(other.to_string()),
    };
    let vector = if named {
        let mut map = Map::new();
        if !p.vector.is_empty() {
            map.insert(String::new(), json!(p.vector));
        }
        for (name, v) in &p.vectors {
            map.insert(name.clone(), vector_value(v));
        }
        Value::Object(map)
    } else {
        match p.vectors.get("") {
            Some(v) => vector_value(v),
            None => json!(p.vector),
        }
    };
    let mut body = json!({ "id": id, "vector": vector });
    if let Some(bytes) = &p.payload {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v @ Value::Object(_)) => body["payload"] = v,
            _ => {
                return Err(vecsieve::Error::InvalidArgument(format!(
                    "point {}'s payload is not a JSON object, and Qdrant's payloads are; \
                     store JSON objects to export the collection",
                    p.id
                )));
            }
        }
    }
    Ok(body)
}

/// What an export or a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transfer {
    /// Points written or sent.
    pub points: u64,
    /// Batches (files or requests).
    pub batches: u64,
    /// Requests sent again after a failure (push only).
    pub retries: u64,
}

/// The name of batch file `n` of an export.
fn batch_file(n: u64) -> String {
    format!("points-{n:06}.json")
}

/// Calls `f` with each batch of the collection's points as Qdrant's `PointsList` body
/// (with the batch's number and length); stops at its first error.
fn each_batch(
    c: &Collection,
    batch: usize,
    mut f: impl FnMut(u64, &Value, usize) -> vecsieve::Result<()>,
) -> Result<Transfer> {
    let named = !c.config().vectors.is_empty();
    let mut t = Transfer::default();
    c.for_each_point(batch.max(1), |points| {
        let body = points
            .iter()
            .map(|p| point_body(p, named))
            .collect::<vecsieve::Result<Vec<Value>>>()?;
        f(t.batches, &json!({ "points": body }), points.len())?;
        t.points += points.len() as u64;
        t.batches += 1;
        Ok(())
    })?;
    Ok(t)
}

fn write_json(path: &Path, v: &Value) -> vecsieve::Result<()> {
    std::fs::write(path, serde_json::to_vec(v).unwrap_or_default()).map_err(|e| {
        vecsieve::Error::Io {
            path: path.to_path_buf(),
            source: e,
        }
    })
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|e| vecsieve::Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        vecsieve::Error::InvalidArgument(format!("{} is not valid JSON: {e}", path.display()))
            .into()
    })
}

/// Writes the collection to `out` (created if missing; it must hold no export) as
/// Qdrant's request bodies, `batch` points per file, calling `progress` with the points
/// written so far.
pub fn export(
    c: &Collection,
    out: &Path,
    batch: usize,
    mut progress: impl FnMut(u64),
) -> Result<Transfer> {
    std::fs::create_dir_all(out).map_err(|e| vecsieve::Error::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    if out.join("collection.json").exists() {
        return Err(vecsieve::Error::AlreadyExists(out.to_path_buf()).into());
    }
    let config = c.config();
    write_json(&out.join("vecsieve.json"), &json!(config))?;
    let mut done = 0;
    let t = each_batch(c, batch, |n, body, len| {
        write_json(&out.join(batch_file(n)), body)?;
        done += len as u64;
        progress(done);
        Ok(())
    })?;
    // Last, so that a directory with `collection.json` holds a whole export.
    write_json(&out.join("collection.json"), &collection_body(&config))?;
    Ok(t)
}

/// The config an export describes (its `vecsieve.json`). An export another tool wrote
/// has none: create the collection to match its `collection.json` first.
pub fn export_config(out: &Path) -> Result<CollectionConfig> {
    let own = out.join("vecsieve.json");
    if own.exists() {
        return serde_json::from_value(read_json(&own)?).map_err(|e| {
            vecsieve::Error::InvalidArgument(format!("{}: {e}", own.display())).into()
        });
    }
    Err(vecsieve::Error::InvalidArgument(format!(
        "{} has no vecsieve.json; create the collection with `vecsieve create` to match its \
         collection.json, then import into it",
        out.display()
    ))
    .into())
}

/// Upserts every batch file of the export in `out` into `c`, in order, calling `progress`
/// with the points imported so far.
pub fn import_export(
    c: &Collection,
    out: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Transfer> {
    let mut t = Transfer::default();
    loop {
        let path = out.join(batch_file(t.batches));
        if !path.exists() {
            return Ok(t);
        }
        let body = read_json(&path)?;
        let bad = |what: String| Error::BadInput {
            file: path.clone(),
            at: "points".into(),
            what,
            imported: t.points,
            resume: None,
        };
        let list = body
            .get("points")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("the file is not a Qdrant PointsList {\"points\": [..]}".into()))?;
        let mut points = Vec::with_capacity(list.len());
        for p in list {
            let id = match p.get("id") {
                Some(Value::Number(n)) => n.as_u64().map(PointId::Num),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| bad(format!("point {p} has no integer or UUID id")))?;
            let mut point = Point::without_vectors(id);
            crate::import::json_vectors(&mut point, p.get("vector").cloned().unwrap_or_default())
                .map_err(&bad)?;
            if let Some(payload) = p.get("payload").filter(|v| !v.is_null()) {
                point.payload = Some(serde_json::to_vec(payload).unwrap_or_default());
            }
            points.push(point);
        }
        c.upsert(&points)?;
        t.points += points.len() as u64;
        t.batches += 1;
        progress(t.points);
    }
}

/// How `push` reaches a Qdrant server.
#[derive(Debug, Clone)]
pub struct Server {
    /// The server's address, e.g. `http://localhost:6333`.
    pub url: String,
    /// The collection to create there.
    pub collection: String,
    /// Sent as Qdrant's `api-key` header.
    pub api_key: Option<String>,
    /// Attempts per request before giving up (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; it doubles each time.
    pub backoff: Duration,
}

/// PUTs `body` to `url`, retrying connection failures, 429 and 5xx answers; returns the
/// number of retries.
fn put(agent: &ureq::Agent, server: &Server, url: &str, body: &Value) -> vecsieve::Result<u64> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut wait = server.backoff;
    let mut retries = 0;
    loop {
        let mut req = agent.put(url).header("content-type", "application/json");
        if let Some(key) = &server.api_key {
            req = req.header("api-key", key);
        }
        let failure = match req.send(&bytes[..]) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                if (200..300).contains(&status) {
                    return Ok(retries);
                }
                let mut text = String::new();
                let _ = resp
                    .body_mut()
                    .as_reader()
                    .take(4096)
                    .read_to_string(&mut text);
                let message = format!("PUT {url} answered {status}: {}", text.trim());
                if status != 429 && status < 500 {
                    return Err(vecsieve::Error::InvalidArgument(message));
                }
                message
            }
            Err(e) => format!("PUT {url} failed: {e}"),
        };
        if retries + 1 >= u64::from(server.attempts.max(1)) {
            return Err(vecsieve::Error::InvalidArgument(format!(
                "{failure}; gave up after {} attempts",
                retries + 1
            )));
        }
        std::thread::sleep(wait);
        wait = wait.saturating_mul(2);
        retries += 1;
    }
}

/// Creates the collection on the server (Qdrant's `PUT /collections/{name}`) and uploads
/// the points in batches (`PUT /collections/{name}/points?wait=true`), calling `progress`
/// with the points sent so far.
pub fn push(
    c: &Collection,
    server: &Server,
    batch: usize,
    mut progress: impl FnMut(u64),
) -> Result<Transfer> {
    if server.url.starts_with("https://") {
        return Err(vecsieve::Error::InvalidArgument(
            "this build of vecsieve speaks plain HTTP only; reach the server through \
             http:// (a local port, or a TLS-terminating proxy)"
                .into(),
        )
        .into());
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!(
        "{}/collections/{}",
        server.url.trim_end_matches('/'),
        server.collection
    );
    let mut retries = put(&agent, server, &base, &collection_body(&c.config()))?;
    let points_url = format!("{base}/points?wait=true");
    let mut done = 0;
    let mut t = each_batch(c, batch, |_, body, len| {
        retries += put(&agent, server, &points_url, body)?;
        done += len as u64;
        progress(done);
        Ok(())
    })?;
    t.retries = retries;
    Ok(t)
}
