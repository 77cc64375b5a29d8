//! Pure codecs shared by every file: magics, versions, a checked little-endian reader.
//!
//! The byte layouts are specified in `format-spec/`; this code does no I/O so that the fuzz
//! targets and property tests can drive it directly. Indexing that could panic is denied
//! here: every access to untrusted bytes is checked.

#![deny(clippy::indexing_slicing)]

pub(crate) mod segment;

use std::path::Path;

use crate::error::Error;

/// The format version of segment files, deletion sidecars and the MANIFEST this build
/// writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// The newest segment file format version this build reads and writes: 3 for segments
/// with payload indexes, 2 for segments with vector slots (named vectors, multivectors);
/// other single-vector segments are still written as version 1.
pub const SEGMENT_FORMAT_VERSION: u16 = 3;
/// The WAL file format version this build writes and the newest it reads (it reads 1 too).
pub const WAL_FORMAT_VERSION: u16 = 2;

/// Magic of WAL files (`format-spec/wal.md`).
pub const WAL_MAGIC: [u8; 8] = *b"\x89VSW\r\n\x1a\n";
/// Magic of segment files (`format-spec/segment.md`).
pub const SEGMENT_MAGIC: [u8; 8] = *b"\x89VSG\r\n\x1a\n";
/// Magic at the start of a segment file's footer.
pub const SEGMENT_FOOTER_MAGIC: [u8; 8] = *b"VSGEND\r\n";
/// Magic of deletion sidecar files (`format-spec/segment.md`).
pub const DELETES_MAGIC: [u8; 8] = *b"\x89VSD\r\n\x1a\n";
/// Magic of the MANIFEST (`format-spec/manifest.md`).
pub const MANIFEST_MAGIC: [u8; 8] = *b"\x89VSM\r\n\x1a\n";

/// A decoding failure in a byte buffer, before the file name is known. Every offset is
/// the byte offset in the buffer of the field that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer ends inside a field.
    #[error("{field}: needs {needed} bytes, {remaining} remain (truncated?)")]
    Truncated {
        /// Where the field starts.
        offset: u64,
        /// The field.
        field: String,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the buffer.
        remaining: usize,
    },
    /// A checksum does not match the bytes it covers.
    #[error("{what} checksum mismatch")]
    Checksum {
        /// Where the stored checksum (or the covered structure) is.
        offset: u64,
        /// What it covers.
        what: &'static str,
    },
    /// A length or count larger than the format or this build allows.
    #[error("{field} is {value}, more than {max}")]
    TooLarge {
        /// Where the field is.
        offset: u64,
        /// The field.
        field: String,
        /// Its value.
        value: u64,
        /// The largest allowed.
        max: u64,
    },
    /// The buffer was written by a newer format version than this build reads.
    #[error("unsupported version {found} (this build reads up to {max})")]
    UnsupportedVersion {
        /// Where the read version is.
        offset: u64,
        /// The version found.
        found: u16,
        /// The newest this build reads.
        max: u16,
    },
    /// Any other rule of the format broken.
    #[error("{what}")]
    Invalid {
        /// Where.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

impl DecodeError {
    /// A rule of the format broken at `offset`.
    pub(crate) fn invalid(offset: usize, what: impl Into<String>) -> Self {
        DecodeError::Invalid {
            offset: offset as u64,
            what: what.into(),
        }
    }

    /// A checksum over `what` that does not match, stored at `offset`.
    pub(crate) fn checksum(offset: usize, what: &'static str) -> Self {
        DecodeError::Checksum {
            offset: offset as u64,
            what,
        }
    }

    /// Where the failing field is.
    #[must_use]
    pub fn offset(&self) -> u64 {
        match self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::Checksum { offset, .. }
            | DecodeError::TooLarge { offset, .. }
            | DecodeError::UnsupportedVersion { offset, .. }
            | DecodeError::Invalid { offset, .. } => *offset,
        }
    }

    /// The same failure in a buffer that starts `base` bytes into a larger one.
    #[must_use]
    pub(crate) fn shifted(mut self, base: u64) -> Self {
        match &mut self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::Checksum { offset, .. }
            | DecodeError::TooLarge { offset, .. }
            | DecodeError::UnsupportedVersion { offset, .. }
            | DecodeError::Invalid { offset, .. } => *offset += base,
        }
        self
    }

    /// Attaches the file name.
    pub(crate) fn in_file(self, file: &Path) -> Error {
        match self {
            DecodeError::UnsupportedVersion { found, max, .. } => Error::UnsupportedVersion {
                file: file.to_path_buf(),
                found,
                max,
            },
            other => Error::corrupted(file, other.offset(), other.to_string()),
        }
    }
}

/// A cursor over untrusted bytes: every read checks the remaining length.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| DecodeError::Truncated {
                offset: self.pos as u64,
                field: what.to_owned(),
                needed: n,
                remaining: self.remaining(),
            })?;
        let out = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u128(&mut self, what: &str) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array(what)?))
    }

    /// A `u64` length or count that must fit in `usize` and be at most `max`.
    pub(crate) fn len_u64(&mut self, max: usize, what: &str) -> Result<usize, DecodeError> {
        let at = self.pos;
        let v = self.u64(what)?;
        bounded(at, v, max, what)
    }

    /// A `u32` length or count that must be at most `max`.
    pub(crate) fn len_u32(&mut self, max: usize, what: &str) -> Result<usize, DecodeError> {
        let at = self.pos;
        let v = self.u32(what)?;
        bounded(at, u64::from(v), max, what)
    }
}

fn bounded(at: usize, v: u64, max: usize, what: &str) -> Result<usize, DecodeError> {
    usize::try_from(v)
        .ok()
        .filter(|&v| v <= max)
        .ok_or_else(|| DecodeError::TooLarge {
            offset: at as u64,
            field: what.to_owned(),
            value: v,
            max: max as u64,
        })
}

/// Checks a magic and the `read_version` / `write_version` pair that follows every magic
/// against `max`, the newest version this build reads of that kind of file; returns the
/// `read_version`.
pub(crate) fn check_magic_and_version(
    r: &mut Reader<'_>,
    magic: &[u8; 8],
    what: &str,
    max: u16,
) -> Result<u16, DecodeError> {
    let found = r.array::<8>("magic")?;
    if &found != magic {
        return Err(DecodeError::invalid(
            0,
            format!("not a vecsieve {what} (bad magic)"),
        ));
    }
    let at = r.pos();
    let read_version = r.u16("read_version")?;
    let _write_version = r.u16("write_version")?;
    if read_version == 0 {
        return Err(DecodeError::invalid(at, "read_version is 0"));
    }
    if read_version > max {
        return Err(DecodeError::UnsupportedVersion {
            offset: at as u64,
            found: read_version,
            max,
        });
    }
    Ok(read_version)
}

/// Appends a magic and `version` as both the read and the write version.
pub(crate) fn put_magic_and_version(out: &mut Vec<u8>, magic: &[u8; 8], version: u16) {
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
}

/// `bytes[range]`, or a decode error naming `what` if the range is out of bounds.
pub(crate) fn slice<'a>(
    bytes: &'a [u8],
    range: std::ops::Range<usize>,
    what: &str,
) -> Result<&'a [u8], DecodeError> {
    let start = range.start;
    bytes
        .get(range)
        .ok_or_else(|| DecodeError::invalid(start, format!("{what} out of bounds")))
}

/// Rounds `x` up to a multiple of `align` (a power of two).
pub(crate) fn align_up(x: usize, align: usize) -> usize {
    x.div_ceil(align) * align
}

/// CRC-32/IEEE (what `crc32fast` computes) of `bytes`, continuing from `init`.
pub(crate) fn crc32(init: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(init);
    h.update(bytes);
    h.finalize()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_are_typed_and_keep_their_messages() {
        let mut r = Reader::new(&[1, 2, 3]);
        let e = r.u32("body_len").unwrap_err();
        assert_eq!(
            e,
            DecodeError::Truncated {
                offset: 0,
                field: "body_len".into(),
                needed: 4,
                remaining: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "body_len: needs 4 bytes, 3 remain (truncated?)"
        );
        let mut r = Reader::new(&[9, 0, 0, 0]);
        let e = r.len_u32(8, "count").unwrap_err();
        assert!(matches!(
            e,
            DecodeError::TooLarge {
                value: 9,
                max: 8,
                ..
            }
        ));
        assert_eq!(e.shifted(100).offset(), 100);
        let mut newer = WAL_MAGIC.to_vec();
        newer.extend_from_slice(&[9, 0, 9, 0]);
        let e = check_magic_and_version(&mut Reader::new(&newer), &WAL_MAGIC, "WAL file", 2)
            .unwrap_err();
        assert!(matches!(
            e.clone().in_file(Path::new("x")),
            Error::UnsupportedVersion {
                found: 9,
                max: 2,
                ..
            }
        ));
        assert_eq!(e.offset(), 8);
        assert_eq!(
            DecodeError::checksum(60, "header").to_string(),
            "header checksum mismatch"
        );
    }

    #[test]
    fn crc_check_value() {
        // spec: README "Checksums": CRC-32 of "123456789" is 0xCBF43926.
        assert_eq!(crc32(0, b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.u32("x").is_err());
        assert_eq!(r.u16("y"), Ok(0x0201));
        assert!(r.bytes(usize::MAX, "z").is_err());
        assert_eq!(r.u8("w"), Ok(3));
        assert!(r.u8("v").is_err());
    }
}
