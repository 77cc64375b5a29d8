//! The library half of the `vecsieve` command line: the importers (`.fvecs`, `.npy`,
//! JSONL) and the evaluation tools behind `vecsieve bench`, `bench-optimizer`, `demo` and
//! `advise`. It uses the engine's public API only. Not a stable API.

use std::path::PathBuf;

use vecsieve::Error;

pub mod eval;
pub mod import;

/// An I/O error on `path`, in the engine's error type.
pub(crate) fn io_error(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source,
    }
}
