//! The `fvecs` / `ivecs` formats of ANN evaluation sets (SIFT, the bundled MiniLM sets).
//!
//! Both formats are a sequence of records: a little-endian `i32` count, then that many
//! little-endian `f32` (fvecs) or `i32` (ivecs) values. All records of a file have the same
//! count.

use std::path::Path;

use crate::config::MAX_DIM;
use crate::error::{Error, Result};

/// Rows of equal length, stored flat.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix<T> {
    /// Values per row.
    pub dim: usize,
    /// `rows × dim` values, row-major.
    pub data: Vec<T>,
}

impl<T> Matrix<T> {
    /// Number of rows.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Row `i` (empty past the end).
    #[must_use]
    pub fn row(&self, i: usize) -> &[T] {
        self.data
            .get(i * self.dim..(i + 1) * self.dim)
            .unwrap_or_default()
    }
}

fn read_vecs<T>(path: &Path, from_le: fn([u8; 4]) -> T) -> Result<Matrix<T>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut dim = None;
    let mut data = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let word = |at: usize| -> Result<[u8; 4]> {
            bytes
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| Error::corrupted(path, at as u64, "record cut short"))
        };
        let n = i32::from_le_bytes(word(pos)?);
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n > 0 && n <= MAX_DIM)
            .ok_or_else(|| Error::corrupted(path, pos as u64, format!("bad row length {n}")))?;
        if *dim.get_or_insert(n) != n {
            return Err(Error::corrupted(
                path,
                pos as u64,
                "rows of different lengths",
            ));
        }
        for i in 0..n {
            data.push(from_le(word(pos + 4 + 4 * i)?));
        }
        pos += 4 + 4 * n;
    }
    Ok(Matrix {
        dim: dim.unwrap_or(0),
        data,
    })
}

/// Reads an `.fvecs` file.
pub fn read_fvecs(path: &Path) -> Result<Matrix<f32>> {
    read_vecs(path, f32::from_le_bytes)
}

/// Reads an `.ivecs` file.
pub fn read_ivecs(path: &Path) -> Result<Matrix<i32>> {
    read_vecs(path, i32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_rejects() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.fvecs");
        let mut bytes = Vec::new();
        for row in [[1.0f32, 2.0], [3.0, 4.0]] {
            bytes.extend_from_slice(&2i32.to_le_bytes());
            for x in row {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        std::fs::write(&p, &bytes).unwrap();
        let m = read_fvecs(&p).unwrap();
        assert_eq!((m.dim, m.rows(), m.row(1)), (2, 2, &[3.0, 4.0][..]));
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(matches!(read_fvecs(&p), Err(Error::Corrupted { .. })));
        bytes[0..4].copy_from_slice(&(-1i32).to_le_bytes());
        std::fs::write(&p, &bytes).unwrap();
        assert!(matches!(read_fvecs(&p), Err(Error::Corrupted { .. })));
    }
}
