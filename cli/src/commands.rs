//! The collection commands: create, import, search, inspect, verify, optimize, advise.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use vecsieve::verify::{self, FileStatus};
use vecsieve::{
    Collection, CollectionConfig, Datatype, Distance, Error, Filter, OpenOptions, PayloadSchema,
    Quantization, ScalarConfig, SearchDefaults, SearchParams, Vector, VectorParams, VectorRef,
};
use vecsieve_cli::Result;
use vecsieve_cli::eval::{AdviseOptions, BenchQuantization};
use vecsieve_cli::import::{self, Format, ImportOptions};
use vecsieve_cli::qdrant;

/// Opens a collection for a command that only looks: no background optimizer.
fn open_quiet(dir: &Path) -> Result<Collection> {
    let c = Collection::open_with_options(
        dir,
        OpenOptions {
            background_optimizer: false,
            ..OpenOptions::default()
        },
    )?;
    warn_about_recovery(&c);
    Ok(c)
}

/// Opens `dir` read-only (`OpenOptions::read_only`): commands that only read work while
/// an application or another command writes the collection, and change nothing on disk.
fn open_reader(dir: &Path) -> Result<Collection> {
    Ok(Collection::open_with_options(
        dir,
        OpenOptions::read_only(),
    )?)
}

/// Tells the user on stderr when opening cut a WAL tail off (the bytes are kept).
fn warn_about_recovery(c: &Collection) {
    if let Some(dropped) = c.recovery_report().dropped {
        eprintln!("warning: WAL recovery: {dropped}");
    }
}

fn print_json(v: &Value) {
    println!("{v}");
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Phase messages of a long command: a spinner on a terminal, plain lines on stderr
/// otherwise (so that logs keep them).
pub struct Phases(ProgressBar);

impl Phases {
    pub fn new() -> Self {
        let pb = ProgressBar::new_spinner();
        if !pb.is_hidden() {
            pb.enable_steady_tick(Duration::from_millis(120));
        }
        Phases(pb)
    }

    pub fn show(&self, line: &str) {
        if self.0.is_hidden() {
            eprintln!("{line}");
        } else {
            self.0.set_message(line.to_string());
        }
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A payload for display: JSON if it parses, else UTF-8 text, else hex.
fn payload_value(p: Option<&[u8]>) -> Value {
    match p {
        None => Value::Null,
        Some(bytes) => {
            serde_json::from_slice(bytes).unwrap_or_else(|_| match std::str::from_utf8(bytes) {
                Ok(s) => Value::String(s.to_string()),
                Err(_) => Value::String(bytes.iter().map(|b| format!("{b:02x}")).collect()),
            })
        }
    }
}

/// The default vector `create` declares.
pub struct DefaultVector {
    pub dim: usize,
    pub distance: Distance,
    pub datatype: Datatype,
    /// `None`: [`Quantization::recommended`].
    pub quantization: Option<Quantization>,
    pub multivector: bool,
    pub pooled_prefilter: Option<f32>,
    pub search_defaults: SearchDefaults,
}

/// A vector as JSON: `[..]`, or `[[..], ..]` for a multivector.
fn vector_value(v: &Vector) -> Value {
    match v {
        Vector::Dense(d) => json!(d),
        Vector::Multi(m) => json!(m),
    }
}

/// Search defaults from `--oversampling` and `--rescore`.
pub fn search_defaults(oversampling: Option<f32>, rescore: Option<bool>) -> SearchDefaults {
    let mut d = SearchDefaults::default();
    d.oversampling = oversampling;
    d.rescore = rescore;
    d
}

/// Parses a `--vector` spec: `name=..,dim=..,distance=..[,datatype=..][,quantization=..]
/// [,scalar-quantile=..][,multivector][,pooled-prefilter=..]`.
fn vector_spec(spec: &str) -> Result<(String, VectorParams)> {
    let bad = |what: String| -> vecsieve_cli::Error {
        Error::InvalidArgument(format!(
            "--vector {spec:?}: {what}; write name=NAME,dim=N,distance=cosine|dot|euclid|manhattan \
             and optionally datatype=f32|f16|u8, quantization=none|binary1|binary1-q4|binary1-q8|\
             binary1.5|binary2|rabitq1|rabitq2|scalar8 (default rabitq1; binary1 for manhattan and \
             multivectors), scalar-quantile=Q, multivector, pooled-prefilter=F, oversampling=F"
        ))
        .into()
    };
    let (mut name, mut dim, mut distance) = (None, None, None);
    let (mut datatype, mut quant, mut quantile) = (Datatype::F32, None, None);
    let (mut multi, mut prefilter, mut oversampling) = (false, None, None);
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let number = |v: &str| {
            v.parse::<f32>()
                .map_err(|_| bad(format!("{key}={v} is not a number")))
        };
        match key {
            "name" => name = Some(value.to_string()),
            "dim" => {
                dim = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| bad(format!("dim={value} is not a whole number")))?,
                )
            }
            "distance" => {
                distance = Some(match value {
                    "cosine" => Distance::Cosine,
                    "dot" => Distance::Dot,
                    "euclid" => Distance::Euclid,
                    "manhattan" => Distance::Manhattan,
                    other => return Err(bad(format!("unknown distance {other}"))),
                });
            }
            "datatype" => {
                datatype = match value {
                    "f32" => Datatype::F32,
                    "f16" => Datatype::F16,
                    "u8" => Datatype::U8,
                    other => return Err(bad(format!("unknown datatype {other}"))),
                };
            }
            "quantization" => {
                quant = Some(
                    BenchQuantization::from_name(value)
                        .ok_or_else(|| bad(format!("unknown quantization {value}")))?,
                );
            }
            "scalar-quantile" => quantile = Some(number(value)?),
            "oversampling" => oversampling = Some(number(value)?),
            "multivector" => multi = true,
            "pooled-prefilter" => {
                multi = true;
                prefilter = Some(number(value)?);
            }
            other => return Err(bad(format!("unknown key {other}"))),
        }
    }
    let name = name.ok_or_else(|| bad("name is missing".into()))?;
    let dim = dim.ok_or_else(|| bad("dim is missing".into()))?;
    let distance = distance.ok_or_else(|| bad("distance is missing".into()))?;
    let quantization = match quant {
        Some(q) => q.quantization(quantile),
        None => Quantization::recommended(distance, multi),
    };
    let search_defaults = search_defaults(oversampling, None);
    let mut params = VectorParams::new(dim, distance)
        .with_datatype(datatype)
        .with_quantization(quantization)
        .with_search_defaults(search_defaults);
    if multi {
        params = params.with_multivector();
    }
    if let Some(f) = prefilter {
        params = params.with_pooled_prefilter(f);
    }
    Ok((name, params))
}

pub fn create(dir: &Path, default: DefaultVector, vectors: &[String], json: bool) -> Result<()> {
    let quantization = default.quantization.unwrap_or_else(|| {
        Quantization::recommended(
            default.distance,
            default.multivector || default.pooled_prefilter.is_some(),
        )
    });
    let mut config = CollectionConfig::new(default.dim, default.distance)
        .with_datatype(default.datatype)
        .with_quantization(quantization)
        .with_search_defaults(default.search_defaults);
    if default.multivector {
        config = config.with_multivector();
        if let Some(f) = default.pooled_prefilter {
            config.multivector = config.multivector.map(|m| m.with_pooled_prefilter(f));
        }
    }
    for spec in vectors {
        let (name, params) = vector_spec(spec)?;
        config = config.with_vector(name, params);
    }
    let c = Collection::create(dir, config)?;
    let config = c.config();
    c.close()?;
    if json {
        print_json(&json!({ "created": dir, "config": config }));
    } else {
        println!(
            "created {}: {}",
            dir.display(),
            describe(&config.default_vector())
        );
        print_named_vectors(&config);
    }
    Ok(())
}

pub fn import(
    dir: &Path,
    file: &Path,
    format: Option<Format>,
    opts: ImportOptions,
    json: bool,
) -> Result<()> {
    if file.join("collection.json").is_file() {
        return import_qdrant_export(dir, file, json);
    }
    let format = match format {
        Some(f) => f,
        None => Format::from_path(file)?,
    };
    let c = Collection::open(dir)?;
    warn_about_recovery(&c);
    let size = std::fs::metadata(file).map_err(|e| Error::Io {
        path: file.to_path_buf(),
        source: e,
    })?;
    let pb = bar(
        size.len(),
        "{spinner} [{elapsed_precise}] [{bar:40}] {bytes}/{total_bytes} {msg}",
    );
    let start = Instant::now();
    let result = import::import(&c, file, format, opts, |p| {
        pb.set_position(p.bytes_done);
        let rate = p.points as f64 / start.elapsed().as_secs_f64().max(1e-9);
        pb.set_message(format!("{} points, {rate:.0} points/s", p.points));
    });
    pb.finish_and_clear();
    let report = result?;
    c.close()?;
    let seconds = start.elapsed().as_secs_f64();
    let rate = report.points as f64 / seconds.max(1e-9);
    if json {
        print_json(&json!({
            "points": report.points,
            "batches": report.batches,
            "seconds": seconds,
            "points_per_s": rate,
        }));
    } else {
        println!(
            "imported {} in {} in {seconds:.2} s ({rate:.0} points/s)",
            plural(report.points as usize, "point"),
            plural(report.batches as usize, "batch")
        );
    }
    Ok(())
}

/// One line per named vector of `config`.
fn print_named_vectors(config: &CollectionConfig) {
    for (name, p) in &config.vectors {
        println!("  vector {name:?}: {}", describe(p));
    }
}

/// A vector's settings in the command line's own words: `dim 384, cosine, f32 originals,
/// rabitq1 codes, searched with oversampling 4 (built-in default)`.
fn describe(p: &VectorParams) -> String {
    let lower = |d: &dyn std::fmt::Debug| format!("{d:?}").to_lowercase();
    let codes = match (BenchQuantization::of(&p.quantization), p.quantization) {
        (Some(BenchQuantization::None), _) => "no codes (exact scans)".to_string(),
        (
            Some(q),
            Quantization::Scalar(ScalarConfig {
                quantile: Some(f), ..
            }),
        ) => {
            format!("{} codes (quantile {f})", q.name())
        }
        (Some(q), _) => format!("{} codes", q.name()),
        (None, q) => format!("{q:?}"),
    };
    let d = p.search_defaults;
    let (oversampling, origin) = match d.oversampling {
        Some(o) => (o, "stored"),
        None => (p.quantization.default_oversampling(), "built-in default"),
    };
    let rescore = match d.rescore {
        Some(true) => ", rescored (stored)",
        Some(false) => ", not rescored (stored)",
        None => "",
    };
    let search = match p.quantization {
        Quantization::None => String::new(),
        _ => format!(", searched with oversampling {oversampling} ({origin}){rescore}"),
    };
    format!(
        "dim {}, {}, {} originals, {codes}{search}{}",
        p.dim,
        lower(&p.distance),
        lower(&p.datatype),
        multi_note(p.multivector)
    )
}

/// `, multivector (MaxSim)` (with its pooled first stage), or nothing.
fn multi_note(m: Option<vecsieve::MultiVectorConfig>) -> String {
    match m {
        None => String::new(),
        Some(m) => match m.pooled_prefilter {
            Some(f) => format!(", multivector (MaxSim, pooled first stage keeps {f})"),
            None => ", multivector (MaxSim)".into(),
        },
    }
}

/// Where the query comes from.
pub struct Query {
    pub vector: Option<String>,
    pub vector_file: Option<PathBuf>,
    pub row: usize,
    pub offsets: Option<PathBuf>,
    pub using: String,
}

fn query_vector(c: &Collection, q: &Query) -> Result<Vector> {
    if let Some(text) = &q.vector {
        if text.trim_start().starts_with('[') {
            let value: Value = serde_json::from_str(text).map_err(|e| {
                Error::InvalidArgument(format!(
                    "--vector is not JSON ({e}); pass [0.1, 0.2, ..] or [[..], [..]]"
                ))
            })?;
            let mut point = vecsieve::Point::without_vectors(0);
            import::json_vectors(&mut point, value).map_err(Error::InvalidArgument)?;
            return point
                .get_vector("")
                .map(owned)
                .ok_or_else(|| Error::InvalidArgument("--vector is empty".into()).into());
        }
        return text
            .split(',')
            .map(|s| {
                s.trim().parse::<f32>().map_err(|_| {
                    Error::InvalidArgument(format!(
                        "--vector component {s:?} is not a number; pass comma-separated numbers"
                    ))
                })
            })
            .collect::<std::result::Result<Vec<f32>, _>>()
            .map(Vector::Dense)
            .map_err(Into::into);
    }
    let Some(path) = &q.vector_file else {
        return Err(Error::InvalidArgument(
            "give the query with --vector 0.1,0.2,... or --vector-file FILE".into(),
        )
        .into());
    };
    let opts = ImportOptions {
        using: (!q.using.is_empty()).then(|| q.using.clone()),
        offsets: q.offsets.clone(),
        ..ImportOptions::default()
    };
    let points = import::read_points(c, path, Format::from_path(path)?, q.row + 1, &opts)?;
    let n = points.len();
    let point = points.into_iter().nth(q.row).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "--row {} but {} holds {n} vectors",
            q.row,
            path.display()
        ))
    })?;
    point.get_vector(&q.using).map(owned).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "row {} of {} has no vector {:?}",
            q.row,
            path.display(),
            q.using
        ))
        .into()
    })
}

fn owned(v: VectorRef<'_>) -> Vector {
    match v {
        VectorRef::Dense(d) => Vector::Dense(d.to_vec()),
        VectorRef::Multi(m) => Vector::Multi(m.to_vec()),
    }
}

/// `--filter`'s JSON as a filter.
fn parse_filter(text: Option<&str>) -> Result<Option<Filter>> {
    text.map(|t| {
        Filter::from_json_str(t)
            .map_err(|e| Error::InvalidArgument(format!("--filter: {e}")).into())
    })
    .transpose()
}

pub fn search(
    dir: &Path,
    q: &Query,
    limit: usize,
    params: SearchParams,
    filter: Option<&str>,
    json: bool,
) -> Result<()> {
    let filter = parse_filter(filter)?;
    let c = open_reader(dir)?;
    let vector = query_vector(&c, q)?;
    let start = Instant::now();
    let hits = match &filter {
        Some(f) => c.search_filtered(&q.using, &vector, f, limit, &params)?,
        None => c.search_using(&q.using, &vector, limit, &params)?,
    };
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if json {
        let hits: Vec<Value> = hits
            .iter()
            .map(|h| {
                let mut hit = json!({
                    "id": h.id.to_string(),
                    "score": h.score,
                    "payload": payload_value(h.payload.as_deref()),
                });
                if let Some(v) = &h.vector {
                    hit["vector"] = vector_value(v);
                }
                hit
            })
            .collect();
        print_json(&json!({ "hits": hits, "ms": ms }));
    } else {
        println!("{:>38}  {:>12}  payload", "id", "score");
        for h in &hits {
            println!(
                "{:>38}  {:>12.6}  {}",
                h.id.to_string(),
                h.score,
                payload_value(h.payload.as_deref())
            );
            if let Some(v) = &h.vector {
                println!("{:>38}  {:>12}  vector {}", "", "", vector_value(v));
            }
        }
        println!("{} in {ms:.3} ms", plural(hits.len(), "hit"));
    }
    Ok(c.close()?)
}

pub fn count(dir: &Path, filter: Option<&str>, json: bool) -> Result<()> {
    let filter = parse_filter(filter)?;
    let c = open_reader(dir)?;
    let start = Instant::now();
    let n = c.count(filter.as_ref())?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if json {
        print_json(&json!({ "count": n, "ms": ms }));
    } else {
        println!(
            "{n} {} in {ms:.3} ms",
            if n == 1 { "point" } else { "points" }
        );
    }
    Ok(c.close()?)
}

pub fn scroll(
    dir: &Path,
    filter: Option<&str>,
    offset: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<()> {
    let filter = parse_filter(filter)?;
    let offset = offset
        .map(|o| {
            o.parse::<vecsieve::PointId>().map_err(|_| {
                Error::InvalidArgument(format!(
                    "--offset {o:?} is not a point id; pass a number or a UUID"
                ))
            })
        })
        .transpose()?;
    let c = open_reader(dir)?;
    let page = c.scroll(filter.as_ref(), offset, limit)?;
    if json {
        let points: Vec<Value> = page
            .points
            .iter()
            .map(|p| json!({ "id": p.id.to_string(), "payload": payload_value(p.payload.as_deref()) }))
            .collect();
        print_json(&json!({
            "points": points,
            "next_offset": page.next_offset.map(|id| id.to_string()),
        }));
    } else {
        println!("{:>38}  payload", "id");
        for p in &page.points {
            println!(
                "{:>38}  {}",
                p.id.to_string(),
                payload_value(p.payload.as_deref())
            );
        }
        match page.next_offset {
            Some(id) => println!("next page: --offset {id}"),
            None => println!("last page"),
        }
    }
    Ok(c.close()?)
}

pub fn inspect(dir: &Path, json: bool) -> Result<()> {
    let c = open_reader(dir)?;
    let info = c.info()?;
    let status = c.optimizer_status();
    let segments: Vec<Value> = info
        .segment_list
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "rows": s.rows,
                "deleted": s.deleted,
                "encoding": s.encoding,
                "bytes": s.bytes,
                "checksums": format!("{:?}", s.checksums).to_lowercase(),
            })
        })
        .collect();
    let d = &info.disk;
    let r = &info.ram;
    let indexes: Vec<Value> = info
        .payload_indexes
        .iter()
        .map(|i| {
            json!({
                "key": i.key,
                "schema": i.schema.name(),
                "values": i.values,
                "disk_bytes": i.disk_bytes,
                "ram_bytes": i.ram_bytes,
                "segments_with_it": i.segments_with_it,
            })
        })
        .collect();
    if json {
        print_json(&json!({
            "path": dir,
            "points": info.points,
            "live_points": info.live_points,
            "kernels": info.kernels,
            "config": info.config,
            "segments": segments,
            "kept_wal_tails": info.kept_wal_tails,
            "disk": {
                "ids": d.ids, "originals": d.originals, "codes": d.codes,
                "payloads": d.payloads, "payload_indexes": d.payload_indexes,
                "deletions": d.deletions, "wal": d.wal, "other": d.other, "total": d.total,
            },
            "ram": {
                "live_segment": r.live_segment,
                "deletion_bitmaps": r.deletion_bitmaps,
                "search_sketches": r.search_sketches,
                "payload_indexes": r.payload_indexes,
                "filter_cache": r.filter_cache,
                "total": r.total,
            },
            "payload_indexes": indexes,
            "optimizer": {
                "running": status.running.as_ref().map(ToString::to_string),
                "planned": status.queued.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "points_done": status.points_done,
                "points_total": status.points_total,
                "queued": status.queued.len(),
                "completed": status.completed,
            },
        }));
        return Ok(c.close()?);
    }
    let cfg = &info.config;
    println!("collection {}", dir.display());
    println!(
        "  {}; {} durability, kernels {}",
        describe(&cfg.default_vector()),
        format!("{:?}", cfg.durability).to_lowercase(),
        info.kernels,
    );
    print_named_vectors(cfg);
    println!(
        "  {} ({} in the live segment, not yet sealed)",
        plural(info.points, "point"),
        info.live_points
    );
    println!("\nsegments ({}):", info.segment_list.len());
    println!(
        "  {:>18} {:>10} {:>10} {:>10} {:>12}  checksums",
        "id", "rows", "deleted", "encoding", "bytes"
    );
    for s in &info.segment_list {
        println!(
            "  {:>18} {:>10} {:>10} {:>10} {:>12}  {}",
            format!("{:016x}", s.id),
            s.rows,
            s.deleted,
            s.encoding,
            s.bytes,
            format!("{:?}", s.checksums).to_lowercase()
        );
    }
    if !info.kept_wal_tails.is_empty() {
        println!(
            "\nWAL tails recovery cut off and kept ({}; look at them, then delete them):",
            info.kept_wal_tails.len()
        );
        for p in &info.kept_wal_tails {
            println!("  {}", p.display());
        }
    }
    if !info.payload_indexes.is_empty() {
        println!("\npayload indexes ({}):", info.payload_indexes.len());
        println!(
            "  {:<24} {:<9} {:>10} {:>12} {:>12} {:>9}",
            "key", "schema", "values", "disk bytes", "RAM bytes", "segments"
        );
        for i in &info.payload_indexes {
            println!(
                "  {:<24} {:<9} {:>10} {:>12} {:>12} {:>9}",
                i.key,
                i.schema.name(),
                i.values,
                i.disk_bytes,
                i.ram_bytes,
                format!("{}/{}", i.segments_with_it, info.segments)
            );
        }
    }
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    println!("\ndisk (MiB):");
    for (name, v) in [
        ("ids", d.ids),
        ("originals", d.originals),
        ("codes", d.codes),
        ("payloads", d.payloads),
        ("payload indexes", d.payload_indexes),
        ("deletions", d.deletions),
        ("wal", d.wal),
        ("other", d.other),
        ("total", d.total),
    ] {
        println!("  {name:<12} {:>10.2}", mib(v));
    }
    println!("\nmemory (heap, MiB; segment files are memory-mapped, not counted):");
    println!("  {:<17} {:>10.2}", "live segment", mib(r.live_segment));
    println!(
        "  {:<17} {:>10.2}",
        "deletion bitmaps",
        mib(r.deletion_bitmaps)
    );
    if r.search_sketches > 0 {
        println!(
            "  {:<17} {:>10.2}",
            "search sketches",
            mib(r.search_sketches)
        );
    }
    if r.payload_indexes > 0 {
        println!(
            "  {:<17} {:>10.2}",
            "payload indexes",
            mib(r.payload_indexes)
        );
    }
    if r.filter_cache > 0 {
        println!("  {:<17} {:>10.2}", "filter cache", mib(r.filter_cache));
    }
    println!("  {:<17} {:>10.2}", "total", mib(r.total));
    if status.queued.is_empty() {
        println!("\noptimizer: nothing to do");
    } else {
        let tasks: Vec<String> = status.queued.iter().map(ToString::to_string).collect();
        println!(
            "\noptimizer: to do: {} (the writer's background optimizer does it, or `vecsieve \
             optimize` now)",
            tasks.join("; ")
        );
    }
    Ok(c.close()?)
}

pub fn verify(dir: &Path, json: bool) -> Result<bool> {
    let report = verify::verify_dir(dir)?;
    if json {
        let files: Vec<Value> = report
            .files
            .iter()
            .map(|f| {
                let (status, detail) = match &f.status {
                    FileStatus::Ok => ("ok", Value::Null),
                    FileStatus::Note(n) => ("note", Value::String(n.clone())),
                    FileStatus::Damaged(e) => ("damaged", Value::String(e.to_string())),
                };
                json!({ "path": f.path, "bytes": f.bytes, "status": status, "detail": detail })
            })
            .collect();
        print_json(&json!({ "ok": report.is_ok(), "writer": report.writer, "files": files }));
    } else {
        for f in &report.files {
            match &f.status {
                FileStatus::Ok => println!("ok       {} ({} bytes)", f.path.display(), f.bytes),
                FileStatus::Note(n) => println!("note     {}: {n}", f.path.display()),
                FileStatus::Damaged(e) => println!("DAMAGED  {e}"),
            }
        }
        if let Some(pid) = report.writer {
            println!(
                "checked beside the writer (process {pid}) that holds the collection: files \
                 it was writing show as notes"
            );
        }
        let damaged = report.damaged().count();
        if damaged == 0 {
            println!("{} checked, no damage", plural(report.files.len(), "file"));
        } else {
            println!(
                "{} files checked, {damaged} damaged: restore the collection from a backup",
                report.files.len()
            );
        }
    }
    Ok(report.is_ok())
}

pub fn backup(dir: &Path, dest: &Path, hard_link: bool, json: bool) -> Result<()> {
    let c = open_reader(dir)?;
    let report = c.backup(dest, vecsieve::BackupOptions { hard_link })?;
    c.close()?;
    if json {
        print_json(&json!({
            "dest": dest,
            "files": report.files,
            "linked": report.linked,
            "bytes_copied": report.bytes_copied,
            "points": report.points,
            "restarts": report.restarts,
            "seconds": report.seconds,
        }));
    } else {
        println!(
            "backed up {} to {} in {:.2} s: {} ({} hard-linked), {:.2} MiB copied, verified",
            plural(report.points, "point"),
            dest.display(),
            report.seconds,
            plural(report.files, "file"),
            report.linked,
            report.bytes_copied as f64 / f64::from(1u32 << 20)
        );
    }
    Ok(())
}

/// `import DIR EXPORT`: the batches of a `vecsieve export` directory, into the collection
/// in `dir`, created from the export's config when `dir` does not exist yet.
fn import_qdrant_export(dir: &Path, export: &Path, json: bool) -> Result<()> {
    let c = if dir.join("MANIFEST").exists() {
        Collection::open(dir)?
    } else {
        Collection::create(dir, qdrant::export_config(export)?)?
    };
    warn_about_recovery(&c);
    let start = Instant::now();
    let pb = bar(0, "{spinner} [{elapsed_precise}] {pos} points {msg}");
    let result = qdrant::import_export(&c, export, |n| pb.set_position(n));
    pb.finish_and_clear();
    let t = result?;
    c.close()?;
    report_transfer("imported", &t, start, json);
    Ok(())
}

/// Prints what an export, import or push moved.
fn report_transfer(verb: &str, t: &qdrant::Transfer, start: Instant, json: bool) {
    let seconds = start.elapsed().as_secs_f64();
    if json {
        print_json(&json!({
            "points": t.points,
            "batches": t.batches,
            "retries": t.retries,
            "seconds": seconds,
        }));
    } else {
        println!(
            "{verb} {} in {} in {seconds:.2} s{}",
            plural(t.points as usize, "point"),
            plural(t.batches as usize, "batch"),
            if t.retries > 0 {
                format!(" ({} retried)", plural(t.retries as usize, "request"))
            } else {
                String::new()
            }
        );
    }
}

pub fn export(dir: &Path, out: &Path, batch: usize, json: bool) -> Result<()> {
    send_points(dir, "exported", json, |c, progress| {
        qdrant::export(c, out, batch, progress)
    })
}

pub fn push(dir: &Path, server: &qdrant::Server, batch: usize, json: bool) -> Result<()> {
    send_points(dir, "pushed", json, |c, progress| {
        qdrant::push(c, server, batch, progress)
    })
}

/// Opens `dir` read-only and runs `send` on it with a progress bar of its points.
fn send_points(
    dir: &Path,
    verb: &str,
    json: bool,
    send: impl FnOnce(&Collection, &mut dyn FnMut(u64)) -> Result<qdrant::Transfer>,
) -> Result<()> {
    let c = open_reader(dir)?;
    let start = Instant::now();
    let pb = bar(
        c.len() as u64,
        "{spinner} [{elapsed_precise}] [{bar:40}] {pos}/{len} points",
    );
    let result = send(&c, &mut |n| pb.set_position(n));
    pb.finish_and_clear();
    let t = result?;
    c.close()?;
    report_transfer(verb, &t, start, json);
    Ok(())
}

pub fn optimize(dir: &Path, json: bool) -> Result<()> {
    let c = open_quiet(dir)?;
    let start = Instant::now();
    let report = optimize_with_progress(&c)?;
    let segments = c.info()?.segments;
    c.close()?;
    let seconds = start.elapsed().as_secs_f64();
    if json {
        print_json(&json!({
            "merged": report.merged,
            "vacuumed": report.vacuumed,
            "requantized": report.requantized,
            "segments": segments,
            "seconds": seconds,
        }));
    } else {
        println!(
            "merged {}, vacuumed {}, requantized {} in {seconds:.2} s; {} now",
            plural(report.merged, "segment"),
            report.vacuumed,
            report.requantized,
            plural(segments, "segment")
        );
    }
    Ok(())
}

/// What `configure` changes: `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// The vector (`""`: the default one).
    pub using: String,
    pub quantization: Option<Quantization>,
    pub oversampling: Option<f32>,
    pub rescore: Option<bool>,
}

/// Changes a collection's quantization in place (rewriting its segments with the new codes,
/// with progress) and its stored search defaults.
pub fn configure(dir: &Path, changes: &Changes, json: bool) -> Result<()> {
    let start = Instant::now();
    let applied = apply_changes(dir, changes)?;
    let seconds = start.elapsed().as_secs_f64();
    let using = changes.using.as_str();
    if json {
        print_json(&json!({
            "vector": using,
            "params": applied.params,
            "requantized_segments": applied.requantized,
            "cleared_oversampling": applied.cleared,
            "seconds": seconds,
        }));
    } else {
        let which = if using.is_empty() {
            String::new()
        } else {
            format!(" vector {using:?}")
        };
        println!("{}{which}: {}", dir.display(), describe(&applied.params));
        if applied.requantized > 0 {
            println!(
                "requantized {} in {seconds:.2} s",
                plural(applied.requantized, "segment")
            );
        }
        if let Some(o) = applied.cleared {
            println!(
                "the stored oversampling {o} was for the previous codes and is cleared; give \
                 --oversampling to store one for these"
            );
        }
    }
    Ok(())
}

/// What [`apply_changes`] did.
struct Applied {
    /// The vector's parameters now.
    params: VectorParams,
    /// Segments rewritten with new codes.
    requantized: usize,
    /// A stored oversampling cleared because the codes changed.
    cleared: Option<f32>,
}

fn apply_changes(dir: &Path, changes: &Changes) -> Result<Applied> {
    if changes.quantization.is_none() && changes.oversampling.is_none() && changes.rescore.is_none()
    {
        return Err(Error::InvalidArgument(
            "nothing to change: give --quantization, --oversampling and/or --rescore".into(),
        )
        .into());
    }
    let c = open_quiet(dir)?;
    let using = changes.using.as_str();
    let before = vector_params(&c.config(), using)?;
    let mut defaults = before.search_defaults;
    let mut requantized = 0;
    let mut cleared = None;
    if let Some(q) = changes.quantization.filter(|q| *q != before.quantization) {
        if !using.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "vector {using:?} keeps the quantization it was created with; only the default \
                 vector's can change (--oversampling and --rescore apply to any vector)"
            ))
            .into());
        }
        c.set_quantization(q)?;
        requantized = optimize_with_progress(&c)?.requantized;
        // An oversampling stored for the old codes says nothing about the new ones.
        if changes.oversampling.is_none() {
            cleared = defaults.oversampling.take();
        }
    }
    if changes.oversampling.is_some() {
        defaults.oversampling = changes.oversampling;
    }
    if changes.rescore.is_some() {
        defaults.rescore = changes.rescore;
    }
    if defaults != before.search_defaults {
        c.set_search_defaults(using, defaults)?;
    }
    let params = vector_params(&c.config(), using)?;
    c.close()?;
    Ok(Applied {
        params,
        requantized,
        cleared,
    })
}

/// `1 segment`, `2 segments`, `1 batch`, `2 batches`.
fn plural(n: usize, noun: &str) -> String {
    let suffix = match (n, noun.ends_with("ch")) {
        (1, _) => "",
        (_, true) => "es",
        (_, false) => "s",
    };
    format!("{n} {noun}{suffix}")
}

/// The parameters of the vector called `using` (`""`: the default one).
fn vector_params(config: &CollectionConfig, using: &str) -> Result<VectorParams> {
    if using.is_empty() {
        return Ok(config.default_vector());
    }
    config.vectors.get(using).copied().ok_or_else(|| {
        Error::UnknownVector {
            name: using.to_string(),
            known: config.vectors.keys().cloned().collect(),
        }
        .into()
    })
}

/// `c.optimize()` with a progress bar.
fn optimize_with_progress(c: &Collection) -> Result<vecsieve::OptimizeReport> {
    let pb = bar(
        0,
        "{spinner} [{elapsed_precise}] [{bar:40}] {pos}/{len} points {msg}",
    );
    let report = std::thread::scope(|s| {
        let worker = s.spawn(|| c.optimize());
        while !worker.is_finished() {
            let st = c.optimizer_status();
            if let Some(task) = &st.running {
                pb.set_length(st.points_total);
                pb.set_position(st.points_done);
                pb.set_message(format!("{task:?}, {} queued", st.queued.len()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    pb.finish_and_clear();
    Ok(report?)
}

/// `create-index`: creates the index, then rewrites every segment with it (with progress).
pub fn create_index(dir: &Path, key: &str, schema: &str, json: bool) -> Result<()> {
    let schema = PayloadSchema::from_name(schema).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "schema {schema:?} is not one of keyword, integer, float, bool, uuid, datetime"
        ))
    })?;
    let c = open_quiet(dir)?;
    let start = Instant::now();
    c.create_payload_index(key, schema)?;
    let report = optimize_with_progress(&c)?;
    let info = c.info()?;
    c.close()?;
    let seconds = start.elapsed().as_secs_f64();
    let index = info.payload_indexes.iter().find(|i| i.key == key);
    let (values, disk) = index.map_or((0, 0), |i| (i.values, i.disk_bytes));
    if json {
        print_json(&json!({
            "key": key,
            "schema": schema.name(),
            "values": values,
            "disk_bytes": disk,
            "segments_rewritten": report.requantized,
            "seconds": seconds,
        }));
    } else {
        println!(
            "payload index on {key:?} ({schema}): {values} values, {:.2} MiB on disk; {} \
             rewritten with it in {seconds:.2} s",
            disk as f64 / f64::from(1u32 << 20),
            plural(report.requantized, "segment")
        );
    }
    Ok(())
}

/// `delete-index`: drops the index and rewrites the segments without it.
pub fn delete_index(dir: &Path, key: &str, json: bool) -> Result<()> {
    let c = open_quiet(dir)?;
    if !c.payload_indexes().contains_key(key) {
        return Err(Error::InvalidArgument(format!(
            "there is no payload index on {key:?}; `vecsieve inspect {}` lists them",
            dir.display()
        ))
        .into());
    }
    c.delete_payload_index(key)?;
    let report = optimize_with_progress(&c)?;
    c.close()?;
    if json {
        print_json(&json!({ "key": key, "segments_rewritten": report.requantized }));
    } else {
        println!(
            "payload index on {key:?} dropped; {} rewritten without it",
            plural(report.requantized, "segment")
        );
    }
    Ok(())
}

pub fn advise(
    dir: &Path,
    mut opts: AdviseOptions,
    query_file: Option<&Path>,
    query_offsets: Option<&Path>,
    apply: bool,
    plot: Option<&Path>,
    json: bool,
) -> Result<()> {
    let c = open_reader(dir)?;
    if let Some(path) = query_file {
        let read = ImportOptions {
            using: (!opts.using.is_empty()).then(|| opts.using.clone()),
            offsets: query_offsets.map(Path::to_path_buf),
            ..ImportOptions::default()
        };
        let points = import::read_points(&c, path, Format::from_path(path)?, usize::MAX, &read)?;
        let using = opts.using.clone();
        opts.queries_given = Some(
            points
                .iter()
                .filter_map(|p| p.get_vector(&using).map(owned))
                .collect(),
        );
    }
    let phases = Phases::new();
    let advice = vecsieve_cli::eval::advise(&c, &opts, |line| phases.show(line));
    phases.finish();
    let advice = advice?;
    c.close()?;
    if let Some(path) = plot {
        std::fs::write(path, vecsieve_cli::eval::plot_svg(&advice)).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
    }
    let recommended = advice.recommended.and_then(|i| advice.rows.get(i));
    let applied = match (apply, recommended) {
        (false, _) => None,
        (true, None) => {
            return Err(Error::InvalidArgument(format!(
                "--apply: no quantized mode reaches recall {} here, so nothing was changed; \
                 lower --target-recall or keep the collection as it is",
                advice.target_recall
            ))
            .into());
        }
        (true, Some(r)) => Some(apply_changes(
            dir,
            &Changes {
                using: opts.using.clone(),
                quantization: Some(r.mode.quantization(None)),
                oversampling: Some(r.oversampling),
                rescore: Some(r.rescore),
            },
        )?),
    };
    if json {
        let row = |r: &vecsieve_cli::eval::AdviseRow| {
            json!({
                "mode": r.mode.name(),
                "oversampling": r.oversampling,
                "rescore": r.rescore,
                "recall": r.recall,
                "recall_low": r.recall_low,
                "p50_ms": r.p50_ms,
                "ram_bytes_per_point": r.ram_bytes_per_point,
                "meets_target": r.meets_target,
            })
        };
        print_json(&json!({
            "points": advice.points,
            "queries": advice.queries,
            "limit": advice.limit,
            "target_recall": advice.target_recall,
            "exact_p50_ms": advice.exact_p50_ms,
            "rows": advice.rows.iter().map(row).collect::<Vec<_>>(),
            "recommended": recommended.map(row),
            "applied": applied.as_ref().map(|a| json!({
                "params": a.params,
                "requantized_segments": a.requantized,
            })),
            "suitability": {
                "spearman": advice.suitability.spearman,
                "pairs": advice.suitability.pairs,
                "verdict": advice.suitability.verdict,
            },
            "seconds": advice.seconds,
        }));
        return Ok(());
    }
    println!(
        "{} points, {} queries, recall@{} against an exact scan (target {}, judged on a 95 % lower bound)\n",
        advice.points, advice.queries, advice.limit, advice.target_recall
    );
    println!(
        "{:<11} {:>4} {:>7} {:>8} {:>8} {:>9} {:>10} {:>6}",
        "mode", "os", "rescore", "recall", "low", "p50 ms", "RAM B/pt", "meets"
    );
    for r in &advice.rows {
        println!(
            "{:<11} {:>4} {:>7} {:>8.4} {:>8.4} {:>9.3} {:>10.1} {:>6}",
            r.mode.name(),
            r.oversampling,
            if r.rescore { "yes" } else { "no" },
            r.recall,
            r.recall_low,
            r.p50_ms,
            r.ram_bytes_per_point,
            if r.meets_target { "yes" } else { "" }
        );
    }
    println!(
        "\nbinarization check: Spearman {:.3} between 1-bit Hamming and true distances over {} pairs: {}",
        advice.suitability.spearman, advice.suitability.pairs, advice.suitability.verdict
    );
    match recommended {
        Some(r) => {
            let using = if opts.using.is_empty() {
                String::new()
            } else {
                format!(" --using {}", opts.using)
            };
            let how = if applied.is_some() {
                String::new()
            } else {
                format!(
                    "\n  apply it with --apply, or: vecsieve configure {}{using} --quantization {} \
                     --oversampling {} --rescore {}",
                    dir.display(),
                    r.mode.name(),
                    r.oversampling,
                    r.rescore
                )
            };
            println!(
                "\nrecommended: {} at oversampling {}{} (recall {:.4}, p50 {:.3} ms vs {:.3} ms exact, {:.1} bytes of codes per point){how}",
                r.mode.name(),
                r.oversampling,
                if r.rescore {
                    " with rescoring"
                } else {
                    " without rescoring"
                },
                r.recall,
                r.p50_ms,
                advice.exact_p50_ms,
                r.ram_bytes_per_point,
            );
        }
        None => println!(
            "\nno quantized mode reaches {} here: keep quantization none (exact scan) or lower the target",
            advice.target_recall
        ),
    }
    if let Some(a) = &applied {
        println!(
            "\napplied: {} (requantized {})",
            describe(&a.params),
            plural(a.requantized, "segment")
        );
    }
    if let Some(path) = plot {
        println!("plot written to {}", path.display());
    }
    println!("({:.1} s)", advice.seconds);
    Ok(())
}
