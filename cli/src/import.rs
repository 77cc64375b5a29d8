//! Importing points from the files embedding pipelines produce: `.fvecs`, `.npy` (2-D,
//! little-endian float32 or float16, C order) and JSONL (one object per line with `id`,
//! `vector` and an optional `payload` object, stored as its JSON bytes). `vector` takes
//! Qdrant's forms: `[..]` (the default vector), `[[..], [..]]` (a default multivector) or
//! `{"name": [..] or [[..], ..]}` (named vectors; `""` is the default one). Rows of
//! `.fvecs`/`.npy` go to the default vector or the one named by `using`, and with an
//! offsets `.npy` (int64, `items + 1` entries) consecutive rows form multivectors.
//!
//! Files are streamed: one batch is in memory at a time. Each batch is one atomic upsert,
//! which checks every point before writing any: a record that cannot be parsed, or a batch
//! that `upsert` refuses (whose records are then checked one by one with
//! [`Collection::validate_point`] to find the bad one), is reported with its line or row, and
//! the collection holds exactly the batches before it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::{Error, Result};
use vecsieve::Collection;
use vecsieve::{Point, PointId, Vector};

/// An input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.fvecs`: per row a little-endian i32 count, then that many f32. Ids are row numbers.
    Fvecs,
    /// `.npy`: a 2-D float32 or float16 array (little-endian, C order). Ids are row numbers.
    Npy,
    /// JSON Lines: `{"id": 7 or "uuid", "vector": [...], "payload": {...}}` per line.
    Jsonl,
}

impl Format {
    /// The format a file name's extension names (`.fvecs`, `.npy`, `.jsonl`/`.ndjson`).
    pub fn from_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("fvecs") => Ok(Format::Fvecs),
            Some("npy") => Ok(Format::Npy),
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            _ => Err(vecsieve::Error::InvalidArgument(format!(
                "cannot tell the format of {} from its extension; use .fvecs, .npy or .jsonl \
                 (or name the format)",
                path.display()
            ))
            .into()),
        }
    }
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Points per upsert (one WAL record, one fsync).
    pub batch: usize,
    /// Id of the first row (or item, with `offsets`) of `.fvecs` and `.npy`.
    pub first_id: u64,
    /// The vector rows of `.fvecs` and `.npy` go to (`None`: the default vector).
    pub using: Option<String>,
    /// An int64 `.npy` of `items + 1` row offsets: item `i` is the multivector of rows
    /// `offsets[i]..offsets[i+1]` of `.fvecs`/`.npy` (the shape of ColBERT/ColPali dumps).
    pub offsets: Option<PathBuf>,
    /// Lines (JSONL) or rows (`.fvecs`, `.npy`; ids stay `first_id + row`) passed over
    /// unread at the start: what a failed import's error says to resume after its last
    /// written record.
    pub skip: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch: 1000,
            first_id: 0,
            using: None,
            offsets: None,
            skip: 0,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Points written.
    pub points: u64,
    /// Upsert calls.
    pub batches: u64,
}

/// Progress of an import: bytes of the input consumed, of its total size.
#[derive(Debug, Clone, Copy)]
pub struct ImportProgress {
    /// Input bytes read so far.
    pub bytes_done: u64,
    /// The input's size.
    pub bytes_total: u64,
    /// Points written so far.
    pub points: u64,
}

/// A record reader over one input file.
trait Records {
    /// The next point, or `None` at the end; `Err(what)` for a malformed record.
    fn next_point(&mut self) -> std::result::Result<Option<Point>, String>;
    /// Passes over the next record without checking it; `false` at the end.
    fn skip_record(&mut self) -> std::result::Result<bool, String> {
        Ok(self.next_point()?.is_some())
    }
    /// Where the last record returned (or failed) is.
    fn position(&self) -> Position;
    /// Input bytes consumed.
    fn bytes_done(&self) -> u64;
}

/// Where a record is in its file.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// A JSONL line, from 1.
    Line(u64),
    /// A row of `.fvecs` or `.npy`, from 0.
    Row(u64),
}

impl Position {
    /// Records from the start of the file through this one: the `--skip` that resumes
    /// after it.
    fn through(self) -> u64 {
        match self {
            Position::Line(n) => n,
            Position::Row(n) => n + 1,
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// Imports `path` into `collection`, calling `progress` after each batch.
///
/// Errors: [`Error::BadInput`] names the line or row of the first malformed record (the
/// batches before it are written); any error of `upsert` (the collection is unchanged by
/// the failed batch).
pub fn import(
    collection: &Collection,
    path: &Path,
    format: Format,
    opts: ImportOptions,
    mut progress: impl FnMut(ImportProgress),
) -> Result<ImportReport> {
    let bytes_total = std::fs::metadata(path)
        .map_err(|e| crate::io_error(path, e))?
        .len();
    let mut records = open_records(collection, path, format, &opts)?;
    if opts.skip > 0 && opts.offsets.is_some() {
        return Err(vecsieve::Error::InvalidArgument(
            "--skip passes over lines and rows; it cannot resume an import grouped by --offsets"
                .into(),
        )
        .into());
    }
    // What `--skip` resumes after the last batch written.
    let mut resume = opts.skip;
    for _ in 0..opts.skip {
        let more = records
            .skip_record()
            .map_err(|what| bad_input(path, records.position(), what, 0, Some(0)))?;
        if !more {
            break;
        }
    }
    let batch_size = opts.batch.max(1);
    let mut report = ImportReport {
        points: 0,
        batches: 0,
    };
    let mut batch = Vec::with_capacity(batch_size);
    let mut positions = Vec::with_capacity(batch_size);
    loop {
        let next = records.next_point().map_err(|what| {
            bad_input(path, records.position(), what, report.points, Some(resume))
        })?;
        let end = next.is_none();
        if let Some(p) = next {
            batch.push(p);
            positions.push(records.position());
        }
        if batch.len() == batch_size || (end && !batch.is_empty()) {
            // `upsert` checks every point before it writes anything; only when it refuses
            // the batch are the points checked one by one to name the bad record.
            collection.upsert(&batch).map_err(|e| {
                let bad = batch
                    .iter()
                    .zip(&positions)
                    .find_map(|(p, at)| collection.validate_point(p).err().map(|e| (*at, e)));
                match bad {
                    Some((at, e)) => {
                        bad_input(path, at, e.to_string(), report.points, Some(resume))
                    }
                    None => e.into(),
                }
            })?;
            resume = positions
                .last()
                .map_or(resume, |at: &Position| at.through());
            report.points += batch.len() as u64;
            report.batches += 1;
            batch.clear();
            positions.clear();
            progress(ImportProgress {
                bytes_done: records.bytes_done(),
                bytes_total,
                points: report.points,
            });
        }
        if end {
            return Ok(report);
        }
    }
}

/// Reads the first `max` points of `path` (all of them with `usize::MAX`; they are held
/// in memory), each checked against `collection`'s dimension and rules like an import.
pub fn read_points(
    collection: &Collection,
    path: &Path,
    format: Format,
    max: usize,
    opts: &ImportOptions,
) -> Result<Vec<Point>> {
    let mut points = Vec::new();
    let mut records = open_records(collection, path, format, opts)?;
    while points.len() < max {
        let next = records
            .next_point()
            .map_err(|what| bad_input(path, records.position(), what, 0, None))?;
        let Some(p) = next else { break };
        collection
            .validate_point(&p)
            .map_err(|e| bad_input(path, records.position(), e.to_string(), 0, None))?;
        points.push(p);
    }
    Ok(points)
}

fn open_records(
    collection: &Collection,
    path: &Path,
    format: Format,
    opts: &ImportOptions,
) -> Result<Box<dyn Records>> {
    let file = File::open(path).map_err(|e| crate::io_error(path, e))?;
    let reader = BufReader::with_capacity(1 << 20, file);
    let config = collection.config();
    let using = opts.using.clone().unwrap_or_default();
    let dim = if using.is_empty() {
        config.dim
    } else {
        config
            .vectors
            .get(&using)
            .ok_or_else(|| vecsieve::Error::UnknownVector {
                name: using.clone(),
                known: config.vectors.keys().cloned().collect(),
            })?
            .dim
    };
    let grouped = opts.offsets.is_some();
    let first_row_id = if grouped { 0 } else { opts.first_id };
    let rows: Box<dyn Records> = match format {
        Format::Fvecs => Box::new(RowFile::fvecs(reader, dim, first_row_id)),
        Format::Npy => Box::new(
            RowFile::npy(reader, dim, first_row_id)
                .map_err(|what| bad_input(path, "header", what, 0, None))?,
        ),
        Format::Jsonl => {
            if grouped || !using.is_empty() {
                return Err(vecsieve::Error::InvalidArgument(
                    "--offsets and --using apply to .fvecs and .npy rows; JSONL lines name                      their vectors themselves"
                        .into(),
                )
                .into());
            }
            return Ok(Box::new(Jsonl {
                reader,
                line: 0,
                bytes: 0,
                text: String::new(),
            }));
        }
    };
    Ok(match &opts.offsets {
        Some(offsets_path) => {
            let offsets = vecsieve::vecs::read_npy_i64(offsets_path)?;
            Box::new(Grouped {
                rows,
                offsets,
                item: 0,
                first_id: opts.first_id,
                using,
            })
        }
        None => Box::new(Retarget { rows, using }),
    })
}

/// Rows of the default vector moved to the vector called `using` (unchanged for `""`).
struct Retarget {
    rows: Box<dyn Records>,
    using: String,
}

impl Records for Retarget {
    fn next_point(&mut self) -> std::result::Result<Option<Point>, String> {
        Ok(self.rows.next_point()?.map(|p| {
            if self.using.is_empty() {
                p
            } else {
                Point::without_vectors(p.id).with_vector(self.using.clone(), p.vector)
            }
        }))
    }

    fn position(&self) -> Position {
        self.rows.position()
    }

    fn bytes_done(&self) -> u64 {
        self.rows.bytes_done()
    }
}

/// Consecutive rows grouped into multivectors by an offsets array.
struct Grouped {
    rows: Box<dyn Records>,
    offsets: Vec<i64>,
    item: usize,
    first_id: u64,
    using: String,
}

impl Records for Grouped {
    fn next_point(&mut self) -> std::result::Result<Option<Point>, String> {
        let (Some(&start), Some(&end)) =
            (self.offsets.get(self.item), self.offsets.get(self.item + 1))
        else {
            return match self.rows.next_point()? {
                None => Ok(None),
                Some(_) => Err(format!(
                    "the file holds more rows than the offsets' last entry ({})",
                    self.offsets.last().copied().unwrap_or(0)
                )),
            };
        };
        if (self.item == 0 && start != 0) || end < start {
            return Err(format!(
                "offsets {start}..{end} of item {} do not start at 0 or decrease",
                self.item
            ));
        }
        let mut vectors = Vec::new();
        for _ in start..end {
            match self.rows.next_point()? {
                Some(p) => vectors.push(p.vector),
                None => {
                    return Err(format!(
                        "the file ends before row {end} that item {} needs",
                        self.item
                    ));
                }
            }
        }
        let id = self.first_id.saturating_add(self.item as u64);
        self.item += 1;
        Ok(Some(
            Point::without_vectors(id).with_vector(self.using.clone(), vectors),
        ))
    }

    fn position(&self) -> Position {
        self.rows.position()
    }

    fn bytes_done(&self) -> u64 {
        self.rows.bytes_done()
    }
}

fn from_json_vector(v: serde_json::Value) -> std::result::Result<Vector, String> {
    let bad = || {
        "a vector must be a list of numbers or, for a multivector, a list of lists of numbers"
            .to_string()
    };
    let list = match v {
        serde_json::Value::Array(list) => list,
        _ => return Err(bad()),
    };
    let numbers = |items: Vec<serde_json::Value>| -> std::result::Result<Vec<f32>, String> {
        items
            .into_iter()
            .map(|x| x.as_f64().map(|f| f as f32).ok_or_else(bad))
            .collect()
    };
    if list.first().is_some_and(serde_json::Value::is_array) {
        list.into_iter()
            .map(|row| match row {
                serde_json::Value::Array(items) => numbers(items),
                _ => Err(bad()),
            })
            .collect::<std::result::Result<_, _>>()
            .map(Vector::Multi)
    } else {
        numbers(list).map(Vector::Dense)
    }
}

/// Sets `point`'s vectors from a JSON `vector` field in Qdrant's forms: `[..]`,
/// `[[..], ..]` or `{"name": ..}`.
pub fn json_vectors(point: &mut Point, v: serde_json::Value) -> std::result::Result<(), String> {
    match v {
        serde_json::Value::Object(map) => {
            for (name, v) in map {
                match from_json_vector(v)? {
                    Vector::Dense(d) if name.is_empty() => point.vector = d,
                    other => {
                        point.vectors.insert(name, other);
                    }
                }
            }
        }
        other => match from_json_vector(other)? {
            Vector::Dense(d) => point.vector = d,
            multi => {
                point.vectors.insert(String::new(), multi);
            }
        },
    }
    Ok(())
}

fn bad_input(
    file: &Path,
    at: impl std::fmt::Display,
    what: String,
    imported: u64,
    resume: Option<u64>,
) -> Error {
    Error::BadInput {
        file: PathBuf::from(file),
        at: at.to_string(),
        what,
        imported,
        resume,
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` at a clean end of input (no byte read).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::result::Result<bool, String> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err("the file ends in the middle of a record".into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
    Ok(true)
}

/// Fixed-size rows of floats: `.fvecs` (each row prefixed by its i32 length) or the body
/// of an `.npy` array (a known row count, float32 or float16).
struct RowFile<R> {
    reader: R,
    raw: Vec<u8>,
    dim: usize,
    /// `.fvecs`: every row starts with its length.
    length_prefix: bool,
    /// `.npy`: the header's row count.
    rows: Option<u64>,
    half: bool,
    /// The next row to read.
    row: u64,
    /// The row last read or being read.
    at: u64,
    first_id: u64,
    bytes: u64,
}

impl<R: Read> RowFile<R> {
    fn fvecs(reader: R, dim: usize, first_id: u64) -> Self {
        RowFile {
            reader,
            raw: Vec::new(),
            dim,
            length_prefix: true,
            rows: None,
            half: false,
            row: 0,
            at: 0,
            first_id,
            bytes: 0,
        }
    }

    /// Parses an `.npy` header (versions 1 to 3) and positions the reader at the first row.
    fn npy(mut reader: R, dim: usize, first_id: u64) -> std::result::Result<Self, String> {
        let mut magic = [0u8; 8];
        if !read_full(&mut reader, &mut magic)? || &magic[..6] != b"\x93NUMPY" {
            return Err("not an .npy file (bad magic)".into());
        }
        let header_len = match magic[6] {
            1 => {
                let mut b = [0u8; 2];
                read_full(&mut reader, &mut b)?;
                usize::from(u16::from_le_bytes(b))
            }
            2 | 3 => {
                let mut b = [0u8; 4];
                read_full(&mut reader, &mut b)?;
                u32::from_le_bytes(b) as usize
            }
            v => return Err(format!(".npy version {v} is not supported (1, 2 or 3)")),
        };
        if header_len > 1 << 16 {
            return Err(format!("header of {header_len} bytes is too long"));
        }
        let mut header = vec![0u8; header_len];
        if !read_full(&mut reader, &mut header)? {
            return Err("the file ends inside its header".into());
        }
        let header = String::from_utf8_lossy(&header);
        let field = |key: &str| -> std::result::Result<String, String> {
            let at = header
                .find(&format!("'{key}'"))
                .ok_or_else(|| format!("header has no '{key}'"))?;
            let rest = header[at + key.len() + 2..].trim_start();
            let rest = rest.strip_prefix(':').unwrap_or(rest).trim_start();
            let end = if rest.starts_with('(') {
                rest.find(')').map(|i| i + 1)
            } else {
                rest.find([',', '}'])
            };
            Ok(rest[..end.unwrap_or(rest.len())].trim().to_string())
        };
        let half = match field("descr")?.trim_matches(['\'', '"']) {
            "<f4" => false,
            "<f2" => true,
            other => {
                return Err(format!(
                    "dtype {other} is not supported; save the array as float32 ('<f4') or \
                     float16 ('<f2')"
                ));
            }
        };
        if field("fortran_order")? != "False" {
            return Err("the array is in Fortran order; save it in C order".into());
        }
        let shape = field("shape")?;
        let dims: Vec<u64> = shape
            .trim_matches(['(', ')'])
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u64>().map_err(|_| format!("bad shape {shape}")))
            .collect::<std::result::Result<_, _>>()?;
        let [rows, cols] = dims[..] else {
            return Err(format!(
                "the array has shape {shape}; it must be 2-D (rows, dim)"
            ));
        };
        if cols != dim as u64 {
            return Err(format!(
                "the rows have {cols} components but the collection's dimension is {dim}"
            ));
        }
        Ok(RowFile {
            length_prefix: false,
            rows: Some(rows),
            half,
            ..RowFile::fvecs(reader, dim, first_id)
        })
    }
}

impl<R: Read> Records for RowFile<R> {
    fn next_point(&mut self) -> std::result::Result<Option<Point>, String> {
        self.at = self.row;
        if self.length_prefix {
            let mut count = [0u8; 4];
            if !read_full(&mut self.reader, &mut count)? {
                return Ok(None);
            }
            // The format says i32, but a count is never negative: read as u32, a prefix
            // of 2^31 reads as what it is instead of a negative count.
            let n = u32::from_le_bytes(count);
            if usize::try_from(n).ok() != Some(self.dim) {
                return Err(format!(
                    "the row has {n} components but the collection's dimension is {}",
                    self.dim
                ));
            }
            self.bytes += 4;
        } else if Some(self.row) == self.rows {
            let mut extra = [0u8; 1];
            return match read_full(&mut self.reader, &mut extra)? {
                false => Ok(None),
                true => Err("bytes after the last row of the array".into()),
            };
        }
        let width = if self.half { 2 } else { 4 };
        self.raw.resize(width * self.dim, 0);
        if !read_full(&mut self.reader, &mut self.raw)? {
            return Err(match self.rows {
                Some(rows) => format!("the file ends before row {} of {rows}", self.row),
                None => "the file ends after a row's length".into(),
            });
        }
        self.bytes += self.raw.len() as u64;
        let vector = if self.half {
            self.raw
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect()
        } else {
            self.raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        };
        let id = self.first_id.saturating_add(self.row);
        self.row += 1;
        Ok(Some(Point::new(id, vector)))
    }

    fn position(&self) -> Position {
        Position::Row(self.at)
    }

    fn bytes_done(&self) -> u64 {
        self.bytes
    }
}

/// The longest JSONL line read: a 65,536-component vector in decimal and a 16 MiB
/// payload fit; a file without line breaks stops here instead of being read whole.
const MAX_LINE_BYTES: u64 = 64 << 20;

struct Jsonl<R> {
    reader: R,
    line: u64,
    bytes: u64,
    text: String,
}

/// One JSONL line.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPoint {
    id: serde_json::Value,
    vector: serde_json::Value,
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

impl<R: BufRead> Jsonl<R> {
    /// Reads the next line into `text` (`false` at the end), counting it.
    fn read_line(&mut self) -> std::result::Result<bool, String> {
        self.text.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES + 1)
            .read_line(&mut self.text)
            .map_err(|e| format!("read failed (is the file UTF-8?): {e}"))?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if n as u64 > MAX_LINE_BYTES {
            return Err(format!(
                "the line is longer than {MAX_LINE_BYTES} bytes (is the file JSON Lines?)"
            ));
        }
        self.bytes += n as u64;
        Ok(true)
    }
}

impl<R: BufRead> Records for Jsonl<R> {
    fn skip_record(&mut self) -> std::result::Result<bool, String> {
        self.read_line()
    }

    fn next_point(&mut self) -> std::result::Result<Option<Point>, String> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            if !self.text.trim().is_empty() {
                break;
            }
        }
        let p: JsonPoint = serde_json::from_str(&self.text).map_err(|e| {
            // serde_json counts lines within this one line's text (its newline makes a
            // second); say the column in the file's line instead.
            let text = e.to_string();
            let what = text
                .rsplit_once(" at line ")
                .map_or(text.as_str(), |(w, _)| w);
            let line = self.text.trim_end_matches(['\n', '\r']);
            let column = if e.line() <= 1 {
                e.column()
            } else {
                line.chars().count()
            };
            format!(
                "{what} at column {column} (each line must be an object {{\"id\": 7 or \
                 \"<uuid>\", \"vector\": [..] or [[..], ..] or {{\"name\": ..}}, \"payload\": \
                 {{..}}}})"
            )
        })?;
        let id = match &p.id {
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(PointId::Num)
                .ok_or_else(|| format!("id {n} is not a non-negative integer below 2^64"))?,
            serde_json::Value::String(s) => s.parse::<PointId>().map_err(|e| e.to_string())?,
            other => return Err(format!("id {other} must be a number or a UUID string")),
        };
        let payload = match p.payload {
            None | Some(serde_json::Value::Null) => None,
            Some(v @ serde_json::Value::Object(_)) => {
                Some(serde_json::to_vec(&v).map_err(|e| e.to_string())?)
            }
            Some(other) => return Err(format!("payload {other} must be a JSON object")),
        };
        let mut point = Point::without_vectors(id);
        json_vectors(&mut point, p.vector)?;
        point.payload = payload;
        Ok(Some(point))
    }

    fn position(&self) -> Position {
        Position::Line(self.line)
    }

    fn bytes_done(&self) -> u64 {
        self.bytes
    }
}
