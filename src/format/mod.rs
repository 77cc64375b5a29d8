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

/// A decoding failure in a byte buffer, before the file name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset in the buffer of the field that failed.
    pub offset: u64,
    /// What was wrong.
    pub what: String,
    /// The buffer's version was newer than this build reads: `(found, newest readable)`.
    pub unsupported_version: Option<(u16, u16)>,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, what: impl Into<String>) -> Self {
        DecodeError {
            offset: offset as u64,
            what: what.into(),
            unsupported_version: None,
        }
    }

    /// Attaches the file name.
    pub(crate) fn in_file(self, file: &Path) -> Error {
        match self.unsupported_version {
            Some((found, max)) => Error::UnsupportedVersion {
                file: file.to_path_buf(),
                found,
                max,
            },
            None => Error::corrupted(file, self.offset, self.what),
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
            .ok_or_else(|| {
                DecodeError::new(
                    self.pos,
                    format!(
                        "{what}: needs {n} bytes, {} remain (truncated?)",
                        self.remaining()
                    ),
                )
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
        .ok_or_else(|| DecodeError::new(at, format!("{what} is {v}, more than {max}")))
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
        return Err(DecodeError::new(
            0,
            format!("not a vecsieve {what} (bad magic)"),
        ));
    }
    let at = r.pos();
    let read_version = r.u16("read_version")?;
    let _write_version = r.u16("write_version")?;
    if read_version == 0 {
        return Err(DecodeError::new(at, "read_version is 0"));
    }
    if read_version > max {
        let mut e = DecodeError::new(at, "unsupported version");
        e.unsupported_version = Some((read_version, max));
        return Err(e);
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
        .ok_or_else(|| DecodeError::new(start, format!("{what} out of bounds")))
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
