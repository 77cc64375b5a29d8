//! Helpers the command line's tests share: the bundled data and running the binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The bundled 10k set.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/debian-minilm-384-10k")
}

/// Runs `vecsieve` with `args`.
pub fn vecsieve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vecsieve"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs a command that must succeed and print one JSON document.
pub fn json(args: &[&str]) -> Value {
    let out = vecsieve(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
