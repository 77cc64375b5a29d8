//! The one error type of the crate.
//!
//! Every variant says what went wrong and what the caller can do about it. Errors that come
//! from a file name the file (and, for corruption, the byte offset).

use std::io;
use std::path::PathBuf;

use crate::point::PointId;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in vecsieve.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused an I/O operation (disk full, permissions, hardware error).
    /// If this happened on a write or sync path the collection is also poisoned: reopen it.
    #[error("I/O error on {}: {source}; check free space and permissions, then reopen the collection", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A file's bytes do not follow the format: a damaged disk, a truncated copy or an
    /// outside edit. Nothing was changed; restore the collection from a backup.
    #[error("{} is corrupted at byte offset {offset}: {what}; restore the collection from a backup", file.display())]
    Corrupted {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first inconsistency found.
        offset: u64,
        /// What was wrong.
        what: String,
    },

    /// A section's CRC32 does not match its bytes: found by `verify`, by the check every
    /// segment gets after `open`, or by a rewrite checking its inputs. Every later read
    /// that touches the segment returns this error; the rewrite is not published.
    #[error("{} section `{section}` (bytes {offset}..{end}) fails its checksum (stored {expected:#010x}, computed {got:#010x}); restore the collection from a backup", file.display())]
    ChecksumMismatch {
        /// The damaged file.
        file: PathBuf,
        /// The section whose bytes changed.
        section: &'static str,
        /// Byte offset of the section in the file.
        offset: u64,
        /// Byte offset just past the section.
        end: u64,
        /// CRC32 stored in the file.
        expected: u32,
        /// CRC32 of the bytes as read.
        got: u32,
    },

    /// A file was written by a newer vecsieve whose format this version cannot read.
    #[error("{} has format version {found}, this build reads versions up to {max}; upgrade vecsieve", file.display())]
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// The version found in the file.
        found: u16,
        /// The newest version this build understands.
        max: u16,
    },

    /// A vector does not have the collection's dimension.
    #[error("{}{}", BatchPoint::prefix(point.as_ref()), dimension_message(vector.as_deref(), *expected, *got))]
    DimensionMismatch {
        /// The vector's declared dimension.
        expected: usize,
        /// The vector's length.
        got: usize,
        /// The point of an `upsert` batch it belongs to (`None` for a query).
        point: Option<BatchPoint>,
        /// Which named vector or sub-vector (`None`: the default dense vector).
        vector: Option<Box<VectorAt>>,
    },

    /// A point or a search names a vector the collection does not declare.
    #[error(
        "the collection has no vector named {name:?}; its vectors are: {}",
        known_vectors(known)
    )]
    UnknownVector {
        /// The name given.
        name: String,
        /// The names the collection declares (the default vector is `""`).
        known: Vec<String>,
    },

    /// A vector cannot be stored or searched as given: which one, and why.
    #[error("invalid vector: {0}")]
    InvalidVector(InvalidVector),

    /// An argument is out of its documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A filter (Qdrant's filter JSON, or one built in code) cannot be used: where, and why.
    #[error("invalid filter: {at} {message}")]
    InvalidFilter {
        /// The part of the filter, as a path from its root (`must[1].range.gt`), or
        /// `the filter`.
        at: String,
        /// What is wrong with it and what would be right.
        message: String,
    },

    /// `config.json` is missing a field, has a wrong one, or holds an invalid value.
    #[error("invalid collection config {}: {message}", path.display())]
    InvalidConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// `create` found a collection (or other files) already in the directory.
    #[error("{} already holds a collection or other files; open it, or create in an empty directory", .0.display())]
    AlreadyExists(PathBuf),

    /// `open` found no directory at the path.
    #[error("no collection at {}: the directory does not exist; create it with Collection::create", .0.display())]
    NotFound(PathBuf),

    /// `open` found a directory that is not a vecsieve collection.
    #[error("{} is not a vecsieve collection (no MANIFEST); check the path", .0.display())]
    NotACollection(PathBuf),

    /// Another handle (in this process or another) owns the collection directory: the one
    /// writer. Readers open it with `OpenOptions::read_only` whoever holds it.
    #[error("{} is held by {}; close that handle first, share one Collection handle (it is Clone), or open with OpenOptions::read_only to read while it writes", path.display(), holder_text(*holder))]
    Locked {
        /// The collection directory.
        path: PathBuf,
        /// The process id the holder wrote in `LOCK`, when it could be read.
        holder: Option<u32>,
    },

    /// A write (or a change of settings) on a handle opened with `OpenOptions::read_only`.
    #[error(
        "this handle was opened read-only (OpenOptions::read_only); write through the collection's one writable handle"
    )]
    ReadOnly,

    /// Not enough free disk space for an optimizer task; it was not started and will be
    /// tried again later. Free some space.
    #[error("{needed} bytes are needed on {} for a segment rewrite, {available} are free; free some disk space", dir.display())]
    InsufficientSpace {
        /// The segments directory.
        dir: PathBuf,
        /// Bytes the task needs (its inputs' size).
        needed: u64,
        /// Bytes free.
        available: u64,
    },

    /// An earlier WAL write or fsync failed. The collection refuses further writes because
    /// the state on disk is unknown; reads still work. Drop every handle and reopen.
    #[error(
        "an earlier write or fsync failed, so the collection refuses writes; drop every handle and reopen it"
    )]
    Poisoned,

    /// The collection was closed through another clone of its handle.
    #[error("the collection is closed; open it again")]
    Closed,
}

/// The point of an `upsert` batch an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPoint {
    /// Its position in the batch.
    pub index: usize,
    /// Its id.
    pub id: PointId,
}

impl BatchPoint {
    /// `point <index> (id <id>): `, or nothing.
    pub(crate) fn prefix(point: Option<&BatchPoint>) -> String {
        point.map_or_else(String::new, |p| {
            format!("point {} (id {}): ", p.index, p.id)
        })
    }
}

fn dimension_message(at: Option<&VectorAt>, expected: usize, got: usize) -> String {
    match at {
        None => format!("vector has {got} components but the collection's dimension is {expected}"),
        Some(_) => format!(
            "{}{got} components given, but its dimension is {expected}",
            VectorAt::prefix(at)
        ),
    }
}

fn known_vectors(known: &[String]) -> String {
    std::iter::once("the default vector (\"\")".to_string())
        .chain(known.iter().map(|k| format!("{k:?}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which vector of a point or query an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorAt {
    /// The vector's name (`""`: the default vector).
    pub name: String,
    /// The position of the sub-vector in a multivector.
    pub sub_vector: Option<usize>,
}

impl VectorAt {
    /// `vector "name", sub-vector 3: `, or nothing for the default dense vector.
    pub(crate) fn prefix(at: Option<&VectorAt>) -> String {
        let Some(at) = at else {
            return String::new();
        };
        let name = crate::config::describe_vector(&at.name);
        match at.sub_vector {
            Some(i) => format!("{name}, sub-vector {i}: "),
            None => format!("{name}: "),
        }
    }
}

/// A vector that cannot be stored or searched ([`Error::InvalidVector`]).
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidVector {
    /// The point of an `upsert` batch it belongs to (`None` for a query).
    pub point: Option<BatchPoint>,
    /// Which named vector or sub-vector (`None`: the default dense vector).
    pub vector: Option<Box<VectorAt>>,
    /// What is wrong with it.
    pub reason: VectorProblem,
}

impl std::fmt::Display for InvalidVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = VectorAt::prefix(self.vector.as_deref());
        write!(
            f,
            "{}{at}{}",
            BatchPoint::prefix(self.point.as_ref()),
            self.reason
        )
    }
}

/// Why a vector is invalid.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VectorProblem {
    /// A component is NaN or infinite.
    #[error("component {component} is {value}; every component must be finite")]
    NotFinite {
        /// Its index.
        component: usize,
        /// Its value.
        value: f32,
    },
    /// The vector is zero (or its norm overflows) and the distance is Cosine.
    #[error("a zero vector has no direction, so it cannot be used with Cosine")]
    ZeroWithCosine,
    /// A component is beyond the F16 range.
    #[error("component {component} is {value}, beyond the F16 range (±65504); use F32")]
    BeyondF16 {
        /// Its index.
        component: usize,
        /// Its value.
        value: f32,
    },
    /// A component is not a whole number in `0..=255` in a U8 collection.
    #[error("component {component} is {value}; U8 collections take whole numbers in 0..=255")]
    NotU8 {
        /// Its index.
        component: usize,
        /// Its value.
        value: f32,
    },
    /// A multivector holds no vector.
    #[error("the multivector is empty; it must hold at least one vector")]
    EmptyMultivector,
    /// A multivector holds more vectors than allowed.
    #[error("the multivector holds {count} vectors; at most {max} are allowed")]
    TooManyVectors {
        /// Vectors given.
        count: usize,
        /// [`MAX_MULTIVECTOR_LEN`](crate::MAX_MULTIVECTOR_LEN).
        max: usize,
    },
    /// A dense vector was given for a multivector.
    #[error("it is a multivector; give a list of vectors (Vector::Multi)")]
    ExpectedMultivector,
    /// A multivector was given for a dense vector.
    #[error("it is a dense vector; give one vector (Vector::Dense), not a multivector")]
    ExpectedDense,
    /// A point of a collection with named vectors carries none.
    #[error("the point has no vector; give at least one of the collection's vectors")]
    NoVectors,
}

/// `process 123 (this process)`, `process 123` or `another open handle`.
fn holder_text(holder: Option<u32>) -> String {
    match holder {
        Some(pid) if pid == std::process::id() => format!("process {pid} (this process)"),
        Some(pid) => format!("process {pid}"),
        None => "another open handle".into(),
    }
}

impl Error {
    /// The file or directory the error names, if any.
    #[must_use]
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Corrupted { file, .. }
            | Error::ChecksumMismatch { file, .. }
            | Error::UnsupportedVersion { file, .. } => Some(file),
            Error::Io { path, .. } | Error::InvalidConfig { path, .. } => Some(path),
            Error::AlreadyExists(p)
            | Error::NotFound(p)
            | Error::NotACollection(p)
            | Error::Locked { path: p, .. } => Some(p),
            Error::InsufficientSpace { dir, .. } => Some(dir),
            Error::DimensionMismatch { .. }
            | Error::UnknownVector { .. }
            | Error::InvalidVector(_)
            | Error::InvalidArgument(_)
            | Error::InvalidFilter { .. }
            | Error::Poisoned
            | Error::ReadOnly
            | Error::Closed => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupted(
        file: impl Into<PathBuf>,
        offset: u64,
        what: impl Into<String>,
    ) -> Self {
        Error::Corrupted {
            file: file.into(),
            offset,
            what: what.into(),
        }
    }
}
