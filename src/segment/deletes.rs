//! Deletion sidecar files: a segment's deletion bitmap as of a checkpoint.
//! Layout: `format-spec/segment.md` "Deletion sidecar".

#![deny(clippy::indexing_slicing)]

use crate::format::{
    DELETES_MAGIC, DecodeError, FORMAT_VERSION, Reader, check_magic_and_version, crc32,
    put_magic_and_version, slice,
};

const HEADER_LEN: usize = 32;

/// Encodes the bitmap `words` of segment `segment_id` with `rows` rows.
pub fn encode(segment_id: u64, rows: usize, words: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + words.len() * 8 + 4);
    put_magic_and_version(&mut out, &DELETES_MAGIC, FORMAT_VERSION);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&segment_id.to_le_bytes());
    out.extend_from_slice(&(rows as u64).to_le_bytes());
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    let crc = crc32(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a sidecar that must belong to `segment_id` with `rows` rows (both known from the
/// already validated segment file, so nothing here is sized by the sidecar's own bytes).
pub fn decode(bytes: &[u8], segment_id: u64, rows: usize) -> Result<Vec<u64>, DecodeError> {
    let words = rows.div_ceil(64);
    let expected = HEADER_LEN + words * 8 + 4;
    if bytes.len() != expected {
        return Err(DecodeError::invalid(
            0,
            format!("sidecar is {} bytes, expected {expected}", bytes.len()),
        ));
    }
    let mut r = Reader::new(bytes);
    check_magic_and_version(&mut r, &DELETES_MAGIC, "deletion sidecar", FORMAT_VERSION)?;
    let _reserved = r.u32("reserved")?;
    if r.u64("segment_id")? != segment_id {
        return Err(DecodeError::invalid(
            16,
            "sidecar belongs to another segment",
        ));
    }
    if r.u64("row_count")? != rows as u64 {
        return Err(DecodeError::invalid(
            24,
            "sidecar row count differs from its segment",
        ));
    }
    let mut out = Vec::with_capacity(words);
    for _ in 0..words {
        out.push(r.u64("bitmap word")?);
    }
    let at = r.pos();
    if r.u32("crc")? != crc32(0, slice(bytes, 0..at, "sidecar")?) {
        return Err(DecodeError::checksum(at, "sidecar"));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let words = vec![0b1011, 1 << 63, 5];
        let bytes = encode(9, 150, &words);
        assert_eq!(decode(&bytes, 9, 150), Ok(words));
        assert!(decode(&bytes, 8, 150).is_err());
        assert!(decode(&bytes, 9, 149).is_err());
        assert!(decode(&bytes[..bytes.len() - 1], 9, 150).is_err());
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        assert!(decode(&flipped, 9, 150).is_err());
    }
}
