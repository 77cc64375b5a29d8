//! The `fvecs` / `ivecs` formats of ANN evaluation sets (SIFT, the bundled MiniLM sets),
//! and NumPy's `.npy` arrays (multivector sets: vectors plus per-item offsets).
//!
//! `fvecs`/`ivecs` are a sequence of records: a little-endian `i32` count, then that many
//! little-endian `f32` (fvecs) or `i32` (ivecs) values. All records of a file have the same
//! count. `.npy` is NumPy's documented format (a header dict, then C-order data); the
//! readers take little-endian `f2`/`f4` matrices and `i8` (int64) vectors.

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

/// Multivectors stored flat: item `i` owns rows `offsets[i]..offsets[i + 1]` of `vectors`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiVectors {
    /// Every vector, item after item.
    pub vectors: Matrix<f32>,
    /// `items + 1` increasing row offsets, starting at 0 and ending at the row count.
    pub offsets: Vec<usize>,
}

impl MultiVectors {
    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// True without items.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `i`'s vectors (empty past the end).
    #[must_use]
    pub fn item(&self, i: usize) -> Vec<Vec<f32>> {
        let (Some(&start), Some(&end)) = (self.offsets.get(i), self.offsets.get(i + 1)) else {
            return Vec::new();
        };
        (start..end).map(|r| self.vectors.row(r).to_vec()).collect()
    }
}

/// Reads a vectors `.npy` (float16 or float32 `[rows, dim]`) and an offsets `.npy`
/// (int64 `[items + 1]`) into multivectors.
pub fn read_multivectors(vectors: &Path, offsets: &Path) -> Result<MultiVectors> {
    let m = read_npy_matrix(vectors)?;
    let raw = read_npy_i64(offsets)?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, &o) in raw.iter().enumerate() {
        let o = usize::try_from(o)
            .ok()
            .filter(|&o| o <= m.rows() && out.last().is_none_or(|&p| p <= o) && (i > 0 || o == 0))
            .ok_or_else(|| {
                Error::corrupted(
                    offsets,
                    i as u64 * 8,
                    format!(
                        "offset {o} is negative, decreasing or past the {} vectors",
                        m.rows()
                    ),
                )
            })?;
        out.push(o);
    }
    if out.last() != Some(&m.rows()) {
        return Err(Error::corrupted(
            offsets,
            0,
            format!("the offsets do not end at the {} vectors", m.rows()),
        ));
    }
    Ok(MultiVectors {
        vectors: m,
        offsets: out,
    })
}

/// An `.npy` header: the dtype string, and the shape.
fn npy_header(path: &Path, bytes: &[u8]) -> Result<(String, Vec<usize>, usize)> {
    let bad = |at: usize, what: &str| Error::corrupted(path, at as u64, what.to_string());
    if bytes.get(..6) != Some(b"\x93NUMPY") {
        return Err(bad(0, "not a .npy file (bad magic)"));
    }
    let major = bytes.get(6).copied().unwrap_or(0);
    let (len, start) = match major {
        1 => (
            bytes
                .get(8..10)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))),
            10,
        ),
        2 | 3 => (
            bytes
                .get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            12,
        ),
        _ => (None, 0),
    };
    let len = len.ok_or_else(|| bad(6, "unsupported .npy version"))?;
    let header = bytes
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad(start, "header cut short"))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header
            .get(at..)?
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| bad(start, "no descr in the header"))?;
    if field("fortran_order").is_none_or(|r| !r.starts_with("False")) {
        return Err(bad(
            start,
            "only C-order arrays are read (fortran_order must be False)",
        ));
    }
    let shape = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| bad(start, "no shape in the header"))?;
    let shape: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(start, "bad shape in the header"))?;
    Ok((descr.to_string(), shape, start + len))
}

/// Reads a float16 or float32 `.npy` matrix (`[rows, dim]`) as f32.
pub fn read_npy_matrix(path: &Path) -> Result<Matrix<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (descr, shape, at) = npy_header(path, &bytes)?;
    let [rows, dim] = shape[..] else {
        return Err(Error::corrupted(
            path,
            0,
            "a vectors .npy must be 2-dimensional",
        ));
    };
    if dim == 0 || dim > MAX_DIM {
        return Err(Error::corrupted(
            path,
            0,
            format!("dimension {dim} is out of 1..={MAX_DIM}"),
        ));
    }
    let size = match descr.as_str() {
        "<f2" => 2,
        "<f4" => 4,
        other => {
            return Err(Error::corrupted(
                path,
                0,
                format!("dtype {other} is not read; use little-endian float16 or float32"),
            ));
        }
    };
    let body = bytes.get(at..).unwrap_or_default();
    if Some(body.len()) != rows.checked_mul(dim).and_then(|n| n.checked_mul(size)) {
        return Err(Error::corrupted(
            path,
            at as u64,
            format!("{} data bytes for a [{rows}, {dim}] array", body.len()),
        ));
    }
    let data = if size == 2 {
        body.chunks_exact(2)
            .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect()
    } else {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    Ok(Matrix { dim, data })
}

/// Reads an int64 `.npy` vector.
pub fn read_npy_i64(path: &Path) -> Result<Vec<i64>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (descr, shape, at) = npy_header(path, &bytes)?;
    let [n] = shape[..] else {
        return Err(Error::corrupted(
            path,
            0,
            "an offsets .npy must be 1-dimensional",
        ));
    };
    if descr != "<i8" {
        return Err(Error::corrupted(
            path,
            0,
            format!("dtype {descr} is not read; offsets must be little-endian int64"),
        ));
    }
    let body = bytes.get(at..).unwrap_or_default();
    if Some(body.len()) != n.checked_mul(8) {
        return Err(Error::corrupted(
            path,
            at as u64,
            "data length does not match the shape",
        ));
    }
    Ok(body
        .as_chunks::<8>()
        .0
        .iter()
        .map(|b| i64::from_le_bytes(*b))
        .collect())
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
