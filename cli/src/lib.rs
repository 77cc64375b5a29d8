//! The library half of the `vecsieve` command line: the importers (`.fvecs`, `.npy`,
//! JSONL) and the evaluation tools behind `vecsieve bench`, `bench-optimizer`, `demo` and
//! `advise`. It uses the engine's public API only. Not a stable API.

use std::path::PathBuf;

pub mod eval;
pub mod import;
pub mod qdrant;

/// `Result` with the command line's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in a command: an engine error, or a malformed input file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine refused (its message says what to do).
    #[error(transparent)]
    Engine(#[from] vecsieve::Error),

    /// An input file being imported is malformed at `at` (a line or row number). Every
    /// batch before the one holding it was written; nothing after.
    #[error("{} {at}: {what}; {}", file.display(), resume_note(*imported, *resume))]
    BadInput {
        /// The input file.
        file: PathBuf,
        /// Where: `line N` (JSONL, from 1), `row N` (fvecs, npy, from 0) or `header`.
        at: String,
        /// What is wrong.
        what: String,
        /// Points imported before the failing batch.
        imported: u64,
        /// The `--skip` that resumes the import after the last record written (lines of a
        /// JSONL file, rows of `.fvecs`/`.npy`), for an import that can resume.
        resume: Option<u64>,
    },
}

fn resume_note(imported: u64, resume: Option<u64>) -> String {
    let points = if imported == 1 { "point" } else { "points" };
    match resume {
        Some(0) => "nothing was imported; fix the input and import it again".into(),
        Some(skip) => format!(
            "{imported} {points} before it were imported; fix the input and import the rest \
             with --skip {skip}"
        ),
        None => "nothing was imported; fix the input and run the command again".into(),
    }
}

/// An I/O error on `path`, in the engine's error type.
pub(crate) fn io_error(path: impl Into<PathBuf>, source: std::io::Error) -> vecsieve::Error {
    vecsieve::Error::Io {
        path: path.into(),
        source,
    }
}
