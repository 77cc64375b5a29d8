//! Entry points for the `fuzz/` targets: each feeds arbitrary bytes to a decoder and checks
//! that it returns an error, or a value that survives encode → decode unchanged (reserved
//! fields are ignored on read, so bytes may differ there). Not a stable API.
//!
//! Each entry point decodes the bytes twice: as given, and with every checksum recomputed
//! to match them (the `fix_*` functions), so that mutations reach the decoders behind the
//! checksums instead of stopping at the first CRC.

#![allow(clippy::indexing_slicing)]

use std::path::Path;

use crate::config::Datatype;
use crate::format::{crc32, segment};
use crate::io::{SimVfs, Vfs};
use crate::manifest::Manifest;
use crate::segment::immutable::{ImmutableSegment, SegmentRows};
use crate::segment::{Bitmap, Rows, deletes};
use crate::wal::record::{self, FILE_HEADER_LEN, ScanEnd};

/// `bytes[at..at + n]`, if in bounds (offsets come from the input: never overflow).
fn field(bytes: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    bytes.get(at..at.checked_add(n)?)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(field(bytes, at, 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u64::from_le_bytes(field(bytes, at, 8)?.try_into().ok()?)).ok()
}

/// Writes the CRC-32 of `bytes[range]` at `at`, where both are in bounds.
fn put_crc(bytes: &mut [u8], range: std::ops::Range<usize>, at: usize) {
    if let Some(crc) = bytes.get(range).map(|b| crc32(0, b))
        && let Some(end) = at.checked_add(4)
        && let Some(slot) = bytes.get_mut(at..end)
    {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
}

/// A segment file with every section CRC, the table CRC, the header CRC and the footer
/// CRC recomputed (`format-spec/segment.md` [SEG-1], [SEG-2]).
#[must_use]
pub fn fix_segment_crcs(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let (Some(count), Some(table)) = (u32_at(&b, 44), u64_at(&b, 48)) else {
        return b;
    };
    let count = (count as usize).min(64);
    for entry in (0..count).map(|i| table.saturating_add(i * 32)) {
        let (offset, len) = (
            u64_at(&b, entry.saturating_add(8)),
            u64_at(&b, entry.saturating_add(16)),
        );
        if let (Some(offset), Some(len)) = (offset, len) {
            put_crc(
                &mut b,
                offset..offset.saturating_add(len),
                entry.saturating_add(24),
            );
        }
    }
    put_crc(&mut b, table..table.saturating_add(count * 32), 56);
    put_crc(&mut b, 0..60, 60);
    let footer = b.len().saturating_sub(32);
    put_crc(&mut b, footer..footer + 28, footer + 28);
    b
}

/// A WAL file with its header CRC, and every record's `prev_crc` and CRC, recomputed
/// front to back (`format-spec/wal.md` [WAL-1], [WAL-2]).
#[must_use]
pub fn fix_wal_crcs(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    put_crc(&mut b, 0..28, 28);
    let (Some(salt), Some(version)) = (u32_at(&b, 24), b.get(8)) else {
        return b;
    };
    let header_len = if *version == 1 { 24 } else { 32 };
    let (mut pos, mut chain) = (FILE_HEADER_LEN, salt);
    while let Some(body_len) = u32_at(&b, pos).map(|n| n as usize) {
        let body_start = pos + header_len;
        if body_len > record::MAX_RECORD_BODY || body_start + body_len > b.len() {
            break;
        }
        b[pos + 20..pos + 24].copy_from_slice(&chain.to_le_bytes());
        let crc = record::record_crc(
            salt,
            &b[pos..body_start],
            &b[body_start..body_start + body_len],
        );
        b[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        chain = crc;
        pos = body_start + body_len.div_ceil(8) * 8;
    }
    b
}

/// A file whose last four bytes are the CRC-32 of the rest (MANIFEST, deletion sidecar),
/// with that CRC recomputed.
#[must_use]
pub fn fix_trailing_crc(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let end = b.len().saturating_sub(4);
    put_crc(&mut b, 0..end, end);
    b
}

/// The bytes of a hex dump as `format-spec/vectors/*.hex` holds them (`offset: xx xx ...`
/// per line); what is not a hex byte is skipped.
#[must_use]
pub fn parse_hex_dump(text: &str) -> Vec<u8> {
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .flat_map(|(_, hex)| hex.split_whitespace())
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect()
}

/// A WAL file, as given and with its checksums fixed ([`fix_wal_crcs`]).
pub fn wal_file(bytes: &[u8]) {
    wal_file_once(bytes);
    wal_file_once(&fix_wal_crcs(bytes));
}

/// A WAL file: header, then records up to the first invalid one.
fn wal_file_once(bytes: &[u8]) {
    let Some(Ok(file)) = bytes.get(..FILE_HEADER_LEN).map(record::parse_file_header) else {
        return;
    };
    let (records, end) = record::scan(bytes, file);
    // Re-encoded at the current version. A version 1 record (no `synced_seq`) gets 0; one
    // with seq 0, which only a version 1 file can hold (first in its file), has no
    // `synced_seq` below it and is left out.
    let kept: Vec<&record::ScannedRecord<'_>> = records.iter().filter(|r| r.seq > 0).collect();
    let mut rebuilt = record::encode_file_header(file.number, file.salt);
    let mut prev = file.salt;
    for r in &kept {
        let meta = record::RecordMeta {
            seq: r.seq,
            synced_seq: r.synced_seq.unwrap_or(0),
            kind: r.kind,
        };
        prev = record::encode_record(&mut rebuilt, file.salt, prev, meta, r.body);
        if let Ok(rows) = record::decode_upsert(r.body, 2, Datatype::F32) {
            let again = record::encode_upsert(2, Datatype::F32, &rows);
            assert_eq!(
                record::decode_upsert(&again, 2, Datatype::F32).ok(),
                Some(rows)
            );
        }
        // The golden kind 3 record's slots: a dense 2-d f32 vector and a 2-d f16 multivector.
        let shapes = [
            record::SlotShape {
                dim: 2,
                datatype: Datatype::F32,
                multi: false,
            },
            record::SlotShape {
                dim: 2,
                datatype: Datatype::F16,
                multi: true,
            },
        ];
        if let Ok(rows) = record::decode_upsert_vectors(r.body, &shapes) {
            let again = record::encode_upsert_vectors(&shapes, &rows);
            assert_eq!(
                record::decode_upsert_vectors(&again, &shapes).ok(),
                Some(rows)
            );
        }
        if let Ok(ids) = record::decode_delete(r.body) {
            let again = record::encode_delete(&ids);
            assert_eq!(record::decode_delete(&again).ok(), Some(ids));
        }
    }
    let current = record::parse_file_header(&rebuilt).unwrap_or(file);
    let (again, again_end) = record::scan(&rebuilt, current);
    assert_eq!(again.len(), kept.len());
    for (a, r) in again.iter().zip(&kept) {
        assert_eq!((a.seq, a.kind, a.body), (r.seq, r.kind, r.body));
        assert!(file.version == 1 || a.synced_seq == r.synced_seq);
    }
    assert_eq!(again_end, ScanEnd::Clean);
    if let ScanEnd::Invalid { offset, .. } = end {
        assert!(offset <= bytes.len());
    }
}

/// A segment file, as given and with its checksums fixed ([`fix_segment_crcs`]).
pub fn segment_file(bytes: &[u8]) {
    segment_file_once(bytes);
    segment_file_once(&fix_segment_crcs(bytes));
}

/// A segment file: parse, verify, then open it as the engine does (through a file system in
/// memory) and read every row through the bounds-checked accessors search and `get` use.
fn segment_file_once(bytes: &[u8]) {
    let Ok(layout) = segment::parse(bytes) else {
        return;
    };
    let _ = layout.verify(bytes);
    let _ = layout.nonzero_padding(bytes);
    let two_bits = layout.header.code_kind == segment::CodeKind::TwoBits;
    if two_bits || layout.header.code_kind == segment::CodeKind::OneAndHalfBits {
        let stats = bytes
            .get(layout.range(segment::Section::BinaryStats))
            .unwrap_or_default();
        if let Ok(s) = segment::decode_binary_stats(stats, layout.header.dim, two_bits) {
            assert_eq!(s.mean.len(), layout.header.dim);
        }
    }
    if let Some(bits) = layout.header.code_kind.rotated_bits() {
        let section = bytes.get(layout.range(segment::Section::Rotation));
        let decoded = section.map(|b| segment::decode_rotation(b, layout.header.dim, bits));
        if let Some(Ok(r)) = decoded {
            assert_eq!(Some(segment::encode_rotation(&r).as_slice()), section);
        }
    }
    if layout.header.code_kind == segment::CodeKind::ScalarInt8 {
        let params = bytes.get(layout.range(segment::Section::QuantParams));
        if let Some(Ok(p)) = params.map(|b| segment::decode_scalar_params(b, layout.header.dim)) {
            let again = segment::encode_scalar_params(&p);
            assert_eq!(
                segment::decode_scalar_params(&again, layout.header.dim),
                Ok(p)
            );
        }
    }
    let indexes = bytes
        .get(layout.range(segment::Section::PayloadIndexes))
        .unwrap_or_default();
    if !indexes.is_empty()
        && let Ok(fields) = segment::decode_payload_indexes(indexes, layout.header.rows)
    {
        assert_eq!(segment::encode_payload_indexes(&fields), indexes);
    }
    for s in segment::SECTIONS {
        assert!(layout.range(s).end <= bytes.len());
    }
    read_every_row(bytes);
}

fn read_every_row(bytes: &[u8]) {
    let vfs = SimVfs::new();
    let (dir, path) = (Path::new("/f"), Path::new("/f/s.seg"));
    let written = vfs
        .create_dir_all(dir)
        .and_then(|()| vfs.create(path))
        .and_then(|f| f.write_all(bytes));
    let Ok(seg) = written
        .map_err(drop)
        .and_then(|()| ImmutableSegment::open(&vfs, path).map_err(drop))
    else {
        return;
    };
    let _ = seg.verify();
    let deleted = Bitmap::with_len(seg.rows());
    let rows = SegmentRows {
        seg: &seg,
        deleted: &deleted,
    };
    let mut vector = Vec::new();
    for r in 0..rows.len() {
        let _ = (rows.id(r), rows.version(r), rows.payload(r));
        vector.clear();
        rows.stored_bytes(r, &mut vector);
        assert!(vector.len() <= bytes.len());
    }
    let _ = (
        rows.codes().len(),
        rows.scalar().is_some(),
        rows.multi_bit().is_some(),
    );
    // Every vector slot: each row's vectors, codes and mean stay inside the file.
    let mut slot = 0;
    while let Some(column) = rows.column(slot) {
        for r in 0..rows.len() {
            let range = column.range(r);
            vector.clear();
            column.stored_bytes(r, &mut vector);
            assert!(vector.len() <= bytes.len());
            let _ = (column.mean(r), range.len());
        }
        slot += 1;
    }
}

/// A MANIFEST, as given and with its checksum fixed.
pub fn manifest(bytes: &[u8]) {
    for b in [bytes, &fix_trailing_crc(bytes)] {
        if let Ok(m) = Manifest::decode(b) {
            assert_eq!(Manifest::decode(&m.encode()), Ok(m));
        }
    }
}

/// A deletion sidecar of a segment with `rows` rows, whose id is the one the sidecar names
/// (so real sidecars decode), as given and with its checksum fixed.
pub fn deletion_sidecar(bytes: &[u8], rows: u16) {
    let rows = usize::from(rows);
    let id = u64_at(bytes, 16).map_or(1, |id| id as u64);
    for b in [bytes, &fix_trailing_crc(bytes)] {
        if let Ok(words) = deletes::decode(b, id, rows) {
            assert_eq!(
                deletes::decode(&deletes::encode(id, rows, &words), id, rows),
                Ok(words)
            );
        }
    }
}

/// True when `bytes` is a whole, valid input of fuzz target `target` as given: every
/// checksum matches and the decoder accepts it (the seed corpora are checked with it).
#[must_use]
pub fn decodes(target: &str, bytes: &[u8]) -> bool {
    match target {
        "wal_file" => bytes
            .get(..FILE_HEADER_LEN)
            .and_then(|h| record::parse_file_header(h).ok())
            .is_some_and(|file| record::scan(bytes, file).1 == ScanEnd::Clean),
        "segment_file" => segment::parse(bytes).is_ok_and(|l| l.verify(bytes).is_ok()),
        "manifest" => Manifest::decode(bytes).is_ok(),
        "deletion_sidecar" => match bytes {
            [a, b, rest @ ..] => {
                let id = u64_at(rest, 16).map_or(1, |id| id as u64);
                deletes::decode(rest, id, usize::from(u16::from_le_bytes([*a, *b]))).is_ok()
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("format-spec/vectors")
            .join(name);
        parse_hex_dump(&std::fs::read_to_string(path).unwrap())
    }

    /// The second input the fuzzer found: a section table offset near `u64::MAX`, which
    /// the segment fix-up once added to without a check.
    #[test]
    fn a_table_offset_near_the_end_of_the_address_space_is_handled() {
        let mut bytes = golden("segment-0000000000000003.hex");
        bytes[48..56].copy_from_slice(&(u64::MAX - 20).to_le_bytes());
        segment_file(&bytes);
        assert_eq!(fix_segment_crcs(&bytes).len(), bytes.len());
    }

    /// The first input the fuzzer found: a version 1 record with seq 0, which the harness
    /// once re-encoded at version 2 (where seq 0 cannot be valid) and then expected valid.
    #[test]
    fn a_version_1_record_with_seq_0_is_handled() {
        let mut bytes = golden("wal-v1-0000000000000001.hex");
        bytes[40..48].copy_from_slice(&0u64.to_le_bytes());
        wal_file(&bytes);
        let fixed = fix_wal_crcs(&bytes);
        let file = record::parse_file_header(&fixed).unwrap();
        let (records, _) = record::scan(&fixed, file);
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [0]);
    }
}
