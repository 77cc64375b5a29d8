//! The collection commands: create, import, search, inspect, verify, optimize, advise.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use vecsieve::verify::{self, FileStatus};
use vecsieve::{
    Collection, CollectionConfig, Datatype, Distance, Error, Filter, OpenOptions, PayloadSchema,
    Quantization, SearchParams, Vector, VectorParams, VectorRef,
};
use vecsieve_cli::Result;
use vecsieve_cli::eval::{AdviseOptions, BenchQuantization};
use vecsieve_cli::import::{self, Format, ImportOptions};

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
    pub quantization: Quantization,
    pub multivector: bool,
    pub pooled_prefilter: Option<f32>,
}

/// Parses a `--vector` spec: `name=..,dim=..,distance=..[,datatype=..][,quantization=..]
/// [,scalar-quantile=..][,multivector][,pooled-prefilter=..]`.
fn vector_spec(spec: &str) -> Result<(String, VectorParams)> {
    let bad = |what: String| -> vecsieve_cli::Error {
        Error::InvalidArgument(format!(
            "--vector {spec:?}: {what}; write name=NAME,dim=N,distance=cosine|dot|euclid|manhattan \
             and optionally datatype=f32|f16|u8, quantization=none|binary1|binary1-q4|binary1-q8|\
             binary1.5|binary2|rabitq1|rabitq2|scalar8, scalar-quantile=Q, multivector, pooled-prefilter=F"
        ))
        .into()
    };
    let (mut name, mut dim, mut distance) = (None, None, None);
    let (mut datatype, mut quant, mut quantile) = (Datatype::F32, BenchQuantization::None, None);
    let (mut multi, mut prefilter) = (false, None);
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
                quant = BenchQuantization::from_name(value)
                    .ok_or_else(|| bad(format!("unknown quantization {value}")))?;
            }
            "scalar-quantile" => quantile = Some(number(value)?),
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
    let mut params = VectorParams::new(dim, distance)
        .with_datatype(datatype)
        .with_quantization(quant.quantization(quantile));
    if multi {
        params = params.with_multivector();
    }
    if let Some(f) = prefilter {
        params = params.with_pooled_prefilter(f);
    }
    Ok((name, params))
}

pub fn create(dir: &Path, default: DefaultVector, vectors: &[String], json: bool) -> Result<()> {
    let mut config = CollectionConfig::new(default.dim, default.distance)
        .with_datatype(default.datatype)
        .with_quantization(default.quantization);
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
            "created {}: dim {}, {:?}, {:?} originals, {:?}{}",
            dir.display(),
            config.dim,
            config.distance,
            config.datatype,
            config.quantization,
            multi_note(config.multivector)
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
            "imported {} points in {} batches in {seconds:.2} s ({rate:.0} points/s)",
            report.points, report.batches
        );
    }
    Ok(())
}

/// One line per named vector of `config`.
fn print_named_vectors(config: &CollectionConfig) {
    for (name, p) in &config.vectors {
        println!(
            "  vector {name:?}: dim {}, {:?}, {:?} originals, {:?}{}",
            p.dim,
            p.distance,
            p.datatype,
            p.quantization,
            multi_note(p.multivector)
        );
    }
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
    let c = open_quiet(dir)?;
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
                json!({
                    "id": h.id.to_string(),
                    "score": h.score,
                    "payload": payload_value(h.payload.as_deref()),
                })
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
        }
        println!("{} hits in {ms:.3} ms", hits.len());
    }
    Ok(c.close()?)
}

pub fn count(dir: &Path, filter: Option<&str>, json: bool) -> Result<()> {
    let filter = parse_filter(filter)?;
    let c = open_quiet(dir)?;
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
    let c = open_quiet(dir)?;
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
    let c = open_quiet(dir)?;
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
                "running": status.running.as_ref().map(|t| format!("{t:?}")),
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
        "  dim {}, {:?}, {:?} originals, {:?}, {:?} durability, kernels {}{}",
        cfg.dim,
        cfg.distance,
        cfg.datatype,
        cfg.quantization,
        cfg.durability,
        info.kernels,
        multi_note(cfg.multivector)
    );
    print_named_vectors(cfg);
    println!(
        "  {} points ({} in the live segment, not yet sealed)",
        info.points, info.live_points
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
    println!(
        "\noptimizer: {} completed this session, {}",
        status.completed,
        match &status.running {
            Some(t) => format!(
                "running {t:?} ({}/{} points), {} queued",
                status.points_done,
                status.points_total,
                status.queued.len()
            ),
            None => "idle".into(),
        }
    );
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
        print_json(&json!({ "ok": report.is_ok(), "files": files }));
    } else {
        for f in &report.files {
            match &f.status {
                FileStatus::Ok => println!("ok       {} ({} bytes)", f.path.display(), f.bytes),
                FileStatus::Note(n) => println!("note     {}: {n}", f.path.display()),
                FileStatus::Damaged(e) => println!("DAMAGED  {e}"),
            }
        }
        let damaged = report.damaged().count();
        if damaged == 0 {
            println!("{} files checked, no damage", report.files.len());
        } else {
            println!(
                "{} files checked, {damaged} damaged: restore the collection from a backup",
                report.files.len()
            );
        }
    }
    Ok(report.is_ok())
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
            "merged {} segments, vacuumed {}, requantized {} in {seconds:.2} s; {segments} segments now",
            report.merged, report.vacuumed, report.requantized
        );
    }
    Ok(())
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
            segments(report.requantized)
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
            segments(report.requantized)
        );
    }
    Ok(())
}

/// "1 segment", "2 segments".
fn segments(n: usize) -> String {
    format!("{n} segment{}", if n == 1 { "" } else { "s" })
}

pub fn advise(
    dir: &Path,
    mut opts: AdviseOptions,
    query_file: Option<&Path>,
    query_offsets: Option<&Path>,
    plot: Option<&Path>,
    json: bool,
) -> Result<()> {
    let c = open_quiet(dir)?;
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
            let create_flag = match r.mode {
                BenchQuantization::None => "none",
                m => m.name(),
            };
            println!(
                "\nrecommended: {} at oversampling {}{} (recall {:.4}, p50 {:.3} ms vs {:.3} ms exact, {:.1} bytes of codes per point)\n  \
                 vecsieve create DIR ... --quantization {create_flag}; search with --oversampling {}{}",
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
                r.oversampling,
                if r.rescore {
                    " --rescore true"
                } else {
                    " --rescore false"
                },
            );
        }
        None => println!(
            "\nno quantized mode reaches {} here: keep quantization none (exact scan) or lower the target",
            advice.target_recall
        ),
    }
    if let Some(path) = plot {
        println!("plot written to {}", path.display());
    }
    println!("({:.1} s)", advice.seconds);
    Ok(())
}
