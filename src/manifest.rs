//! The MANIFEST: the single commit point of a collection. Layout: `format-spec/manifest.md`.

#![deny(clippy::indexing_slicing)]

use std::path::Path;

use crate::error::Result;
use crate::format::{
    DecodeError, FORMAT_VERSION, MANIFEST_MAGIC, Reader, check_magic_and_version, crc32,
    put_magic_and_version, slice,
};
use crate::io::Fs;
use crate::io::{Vfs, write_atomic};

/// The largest number of segments a manifest may list.
const MAX_SEGMENTS: usize = 1 << 20;

/// One immutable segment named by the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentEntry {
    /// The segment id (its file name).
    pub id: u64,
    /// Rows in the segment file.
    pub rows: u64,
    /// Generation of its deletion sidecar; 0 means no sidecar (nothing deleted).
    pub del_gen: u64,
}

/// The committed state of a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Increases with every commit; names the sidecars it writes.
    pub generation: u64,
    /// Every WAL record with a sequence number up to this one is reflected in the segments.
    pub checkpoint_seq: u64,
    /// The next segment id to hand out.
    pub next_segment_id: u64,
    /// The segments, by id.
    pub segments: Vec<SegmentEntry>,
}

impl Manifest {
    /// The manifest of a new collection.
    pub fn empty() -> Self {
        Manifest {
            generation: 1,
            checkpoint_seq: 0,
            next_segment_id: 1,
            segments: Vec::new(),
        }
    }

    /// The MANIFEST file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let body_len = 32 + self.segments.len() * 24;
        let mut out = Vec::with_capacity(16 + body_len + 4);
        put_magic_and_version(&mut out, &MANIFEST_MAGIC, FORMAT_VERSION);
        out.extend_from_slice(&(body_len as u32).to_le_bytes());
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.checkpoint_seq.to_le_bytes());
        out.extend_from_slice(&self.next_segment_id.to_le_bytes());
        out.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for s in &self.segments {
            out.extend_from_slice(&s.id.to_le_bytes());
            out.extend_from_slice(&s.rows.to_le_bytes());
            out.extend_from_slice(&s.del_gen.to_le_bytes());
        }
        let crc = crc32(0, &out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a MANIFEST file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        check_magic_and_version(&mut r, &MANIFEST_MAGIC, "MANIFEST", FORMAT_VERSION)?;
        let body_len = r.len_u32(bytes.len(), "body_len")?;
        if bytes.len() != 16 + body_len + 4 {
            return Err(DecodeError::invalid(
                12,
                format!(
                    "body_len {body_len} does not match the file size {}",
                    bytes.len()
                ),
            ));
        }
        let crc_at = 16 + body_len;
        let stored = Reader::new(slice(bytes, crc_at..crc_at + 4, "crc")?).u32("crc")?;
        if crc32(0, slice(bytes, 0..crc_at, "body")?) != stored {
            return Err(DecodeError::checksum(crc_at, "MANIFEST"));
        }
        let generation = r.u64("generation")?;
        let checkpoint_seq = r.u64("checkpoint_seq")?;
        let next_segment_id = r.u64("next_segment_id")?;
        let count = r.len_u32(MAX_SEGMENTS, "segment_count")?;
        let _reserved = r.u32("reserved")?;
        if body_len != 32 + count * 24 {
            return Err(DecodeError::invalid(
                40,
                "segment_count does not match body_len",
            ));
        }
        let mut segments = Vec::with_capacity(count);
        let mut prev = 0;
        for _ in 0..count {
            let at = r.pos();
            let entry = SegmentEntry {
                id: r.u64("segment id")?,
                rows: r.u64("row count")?,
                del_gen: r.u64("deletion generation")?,
            };
            if entry.id <= prev || entry.id >= next_segment_id {
                return Err(DecodeError::invalid(
                    at,
                    "segment ids not increasing below next_segment_id",
                ));
            }
            prev = entry.id;
            segments.push(entry);
        }
        Ok(Manifest {
            generation,
            checkpoint_seq,
            next_segment_id,
            segments,
        })
    }

    /// Reads `dir/MANIFEST`.
    pub fn read(vfs: &dyn Vfs, dir: &Path) -> Result<Self> {
        let path = dir.join("MANIFEST");
        let bytes = vfs.read_file(&path)?;
        Manifest::decode(&bytes).map_err(|e| e.in_file(&path))
    }

    /// Replaces `dir/MANIFEST` atomically: write a temporary file, fsync it, rename it over
    /// the old one, fsync the directory.
    pub fn write(&self, vfs: &dyn Vfs, dir: &Path) -> Result<()> {
        write_atomic(vfs, dir, "MANIFEST", &self.encode())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_truncation_fails() {
        let m = Manifest {
            generation: 3,
            checkpoint_seq: 99,
            next_segment_id: 5,
            segments: vec![
                SegmentEntry {
                    id: 1,
                    rows: 10,
                    del_gen: 0,
                },
                SegmentEntry {
                    id: 4,
                    rows: 7,
                    del_gen: 2,
                },
            ],
        };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes), Ok(m));
        for cut in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(Manifest::decode(&b).is_err(), "flip {i}");
        }
    }
}
