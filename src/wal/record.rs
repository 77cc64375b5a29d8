//! WAL framing and record bodies (pure). Layout: `format-spec/wal.md`.

#![deny(clippy::indexing_slicing)]

use crate::config::Datatype;
use crate::format::{
    DecodeError, Reader, WAL_MAGIC, align_up, check_magic_and_version, crc32,
    put_magic_and_version, slice,
};
use crate::point::PointId;

pub(crate) const FILE_HEADER_LEN: usize = 32;
pub(crate) const RECORD_HEADER_LEN: usize = 24;
/// The largest record body: one `upsert` or `delete` batch must encode to at most this.
pub const MAX_RECORD_BODY: usize = 256 << 20;

/// Record kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    Upsert = 1,
    Delete = 2,
}

impl RecordKind {
    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(RecordKind::Upsert),
            2 => Some(RecordKind::Delete),
            _ => None,
        }
    }
}

/// The 32-byte header that starts every WAL file.
pub(crate) fn encode_file_header(file_number: u64, salt: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_HEADER_LEN);
    put_magic_and_version(&mut out, &WAL_MAGIC);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&file_number.to_le_bytes());
    out.extend_from_slice(&salt.to_le_bytes());
    let crc = crc32(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Parses a WAL file header: `(file_number, salt)`.
pub(crate) fn parse_file_header(bytes: &[u8]) -> Result<(u64, u32), DecodeError> {
    let mut r = Reader::new(bytes);
    check_magic_and_version(&mut r, &WAL_MAGIC, "WAL file")?;
    let _reserved = r.u32("reserved")?;
    let file_number = r.u64("file_number")?;
    let salt = r.u32("salt")?;
    let crc = r.u32("header_crc")?;
    if crc32(0, slice(bytes, 0..28, "WAL header")?) != crc {
        return Err(DecodeError::new(28, "WAL file header checksum mismatch"));
    }
    Ok((file_number, salt))
}

fn record_crc(salt: u32, header: &[u8; RECORD_HEADER_LEN], body: &[u8]) -> u32 {
    let (len, rest) = header.split_at(4);
    let (_crc, covered) = rest.split_at(4);
    let mut h = crc32fast::Hasher::new_with_initial(salt);
    h.update(len);
    h.update(covered);
    h.update(body);
    h.finalize()
}

/// Appends one framed record to `out` and returns its CRC (the next record's `prev_crc`).
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    salt: u32,
    prev_crc: u32,
    seq: u64,
    kind: RecordKind,
    body: &[u8],
) -> u32 {
    let header_with = |crc: u32| {
        let mut h = [0u8; RECORD_HEADER_LEN];
        let fields = (body.len() as u32)
            .to_le_bytes()
            .into_iter()
            .chain(crc.to_le_bytes())
            .chain(seq.to_le_bytes())
            .chain([kind as u8, 0, 0, 0])
            .chain(prev_crc.to_le_bytes());
        for (slot, byte) in h.iter_mut().zip(fields) {
            *slot = byte;
        }
        h
    };
    let crc = record_crc(salt, &header_with(0), body);
    out.extend_from_slice(&header_with(crc));
    out.extend_from_slice(body);
    out.resize(out.len() + (align_up(body.len(), 8) - body.len()), 0);
    crc
}

/// One valid record found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScannedRecord<'a> {
    pub offset: usize,
    pub seq: u64,
    pub kind: RecordKind,
    pub body: &'a [u8],
}

/// How a scan of one file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// Every byte after the header belongs to a valid record.
    Clean,
    /// The record at `offset` is invalid. `valid_after` tells whether a valid record with a
    /// higher sequence number follows it (then this is corruption, not a torn tail).
    Invalid {
        offset: usize,
        reason: String,
        valid_after: bool,
    },
}

/// A record's framing checked on its own: its length fits, its CRC (seeded by the salt)
/// matches and its kind is known. Returns `(seq, kind, prev_crc, crc, body, end)`.
#[allow(clippy::type_complexity)]
fn frame_at(
    bytes: &[u8],
    pos: usize,
    salt: u32,
) -> Result<(u64, RecordKind, u32, u32, &[u8], usize), String> {
    let header: [u8; RECORD_HEADER_LEN] = bytes
        .get(pos..pos + RECORD_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or("record header cut short")?;
    let mut r = Reader::new(&header);
    let mut fields = || -> Result<_, DecodeError> {
        Ok((
            r.u32("body_len")? as usize,
            r.u32("crc")?,
            r.u64("seq")?,
            r.u8("kind")?,
            r.array::<3>("reserved")?,
            r.u32("prev_crc")?,
        ))
    };
    let (body_len, crc, seq, kind_code, reserved, prev_crc) = fields().map_err(|e| e.what)?;
    if body_len > MAX_RECORD_BODY {
        return Err(format!("record length {body_len} exceeds the maximum"));
    }
    let body_start = pos + RECORD_HEADER_LEN;
    let end = body_start + align_up(body_len, 8);
    let body = bytes
        .get(body_start..body_start + body_len)
        .filter(|_| end <= bytes.len())
        .ok_or("record body cut short")?;
    let padding = bytes.get(body_start + body_len..end).unwrap_or_default();
    if reserved != [0; 3] || padding.iter().any(|&b| b != 0) {
        return Err("non-zero reserved or padding bytes".into());
    }
    if record_crc(salt, &header, body) != crc {
        return Err("record checksum mismatch".into());
    }
    let kind = RecordKind::from_code(kind_code).ok_or("unknown record kind")?;
    Ok((seq, kind, prev_crc, crc, body, end))
}

/// Scans the records of a WAL file (header already parsed). Stops at the first record that
/// breaks the validity predicate of `format-spec/wal.md` [WAL-4].
pub(crate) fn scan(bytes: &[u8], salt: u32) -> (Vec<ScannedRecord<'_>>, ScanEnd) {
    let mut records = Vec::new();
    let mut pos = FILE_HEADER_LEN;
    let mut chain = salt;
    let mut last_seq: Option<u64> = None;
    while pos < bytes.len() {
        let checked = frame_at(bytes, pos, salt).and_then(|(seq, kind, prev, crc, body, end)| {
            if prev != chain {
                return Err("record does not chain to the previous one".into());
            }
            if let Some(last) = last_seq
                && Some(seq) != last.checked_add(1)
            {
                return Err(format!("sequence {seq} does not follow {last}"));
            }
            Ok((seq, kind, crc, body, end))
        });
        match checked {
            Ok((seq, kind, crc, body, end)) => {
                records.push(ScannedRecord {
                    offset: pos,
                    seq,
                    kind,
                    body,
                });
                chain = crc;
                last_seq = Some(seq);
                pos = end;
            }
            Err(reason) => {
                let valid_after = (pos + 8..bytes.len()).step_by(8).any(|p| {
                    frame_at(bytes, p, salt)
                        .is_ok_and(|(seq, ..)| last_seq.is_none_or(|last| seq > last))
                });
                return (
                    records,
                    ScanEnd::Invalid {
                        offset: pos,
                        reason,
                        valid_after,
                    },
                );
            }
        }
    }
    (records, ScanEnd::Clean)
}

/// One point of an upsert record, with its vector already in the stored datatype.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UpsertRow<'a> {
    pub id: PointId,
    /// `dim × datatype.size()` little-endian bytes.
    pub vector: &'a [u8],
    pub payload: Option<&'a [u8]>,
}

const UPSERT_ROW_FIXED: usize = 24;

/// Encodes an upsert batch body.
pub(crate) fn encode_upsert(dim: usize, datatype: Datatype, rows: &[UpsertRow<'_>]) -> Vec<u8> {
    let per_row = UPSERT_ROW_FIXED + dim * datatype.size();
    let mut out = Vec::with_capacity(12 + rows.len() * per_row);
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    out.push(datatype.code());
    out.extend_from_slice(&[0u8; 3]);
    for row in rows {
        out.push(row.id.kind_code());
        out.push(u8::from(row.payload.is_some()));
        out.extend_from_slice(&[0u8; 2]);
        out.extend_from_slice(&(row.payload.map_or(0, <[u8]>::len) as u32).to_le_bytes());
        out.extend_from_slice(&row.id.value().to_le_bytes());
        out.extend_from_slice(row.vector);
        out.extend_from_slice(row.payload.unwrap_or_default());
    }
    out
}

/// Decodes an upsert batch body written for a collection of `dim` and `datatype`.
pub(crate) fn decode_upsert(
    body: &[u8],
    dim: usize,
    datatype: Datatype,
) -> Result<Vec<UpsertRow<'_>>, DecodeError> {
    let mut r = Reader::new(body);
    let count = r.u32("row count")? as usize;
    let body_dim = r.u32("dim")? as usize;
    let body_type = r.u8("datatype")?;
    let _reserved = r.bytes(3, "reserved")?;
    if body_dim != dim || body_type != datatype.code() {
        return Err(DecodeError::new(
            4,
            "record written for another dim or datatype",
        ));
    }
    let vector_len = dim * datatype.size();
    let mut rows = Vec::with_capacity(count.min(r.remaining() / (UPSERT_ROW_FIXED + vector_len)));
    for _ in 0..count {
        let at = r.pos();
        let id_kind = r.u8("id kind")?;
        let has_payload = r.u8("payload flag")?;
        let _reserved = r.bytes(2, "reserved")?;
        let payload_len = r.u32("payload length")? as usize;
        let id_value = r.u128("id value")?;
        let id = PointId::from_parts(id_kind, id_value)
            .ok_or_else(|| DecodeError::new(at, "invalid point id"))?;
        let vector = r.bytes(vector_len, "vector")?;
        let payload = match has_payload {
            0 if payload_len == 0 => None,
            1 => Some(r.bytes(payload_len, "payload")?),
            _ => return Err(DecodeError::new(at + 1, "invalid payload flag")),
        };
        rows.push(UpsertRow {
            id,
            vector,
            payload,
        });
    }
    if r.remaining() != 0 {
        return Err(DecodeError::new(
            r.pos(),
            "trailing bytes after the last row",
        ));
    }
    Ok(rows)
}

/// Encodes a delete batch body.
pub(crate) fn encode_delete(ids: &[PointId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + ids.len() * 24);
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for id in ids {
        out.push(id.kind_code());
        out.extend_from_slice(&[0u8; 7]);
        out.extend_from_slice(&id.value().to_le_bytes());
    }
    out
}

/// Decodes a delete batch body.
pub(crate) fn decode_delete(body: &[u8]) -> Result<Vec<PointId>, DecodeError> {
    let mut r = Reader::new(body);
    let count = r.u32("id count")? as usize;
    let _reserved = r.u32("reserved")?;
    let mut ids = Vec::with_capacity(count.min(r.remaining() / 24));
    for _ in 0..count {
        let at = r.pos();
        let kind = r.u8("id kind")?;
        let _reserved = r.bytes(7, "reserved")?;
        let value = r.u128("id value")?;
        ids.push(
            PointId::from_parts(kind, value)
                .ok_or_else(|| DecodeError::new(at, "invalid point id"))?,
        );
    }
    if r.remaining() != 0 {
        return Err(DecodeError::new(
            r.pos(),
            "trailing bytes after the last id",
        ));
    }
    Ok(ids)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn file(records: &[(u64, &[u8])], salt: u32) -> Vec<u8> {
        let mut out = encode_file_header(7, salt);
        let mut prev = salt;
        for (seq, body) in records {
            prev = encode_record(&mut out, salt, prev, *seq, RecordKind::Upsert, body);
        }
        out
    }

    #[test]
    fn round_trip_and_clean_end() {
        let bytes = file(&[(5, b"abc"), (6, b""), (7, &[9u8; 17])], 0xdead_beef);
        assert_eq!(parse_file_header(&bytes), Ok((7, 0xdead_beef)));
        let (recs, end) = scan(&bytes, 0xdead_beef);
        assert_eq!(end, ScanEnd::Clean);
        let got: Vec<_> = recs.iter().map(|r| (r.seq, r.body.to_vec())).collect();
        assert_eq!(
            got,
            vec![(5, b"abc".to_vec()), (6, vec![]), (7, vec![9u8; 17])]
        );
        assert!(recs.iter().all(|r| r.offset % 8 == 0));
    }

    #[test]
    fn wrong_salt_is_invalid() {
        let bytes = file(&[(1, b"abc")], 1);
        let (recs, end) = scan(&bytes, 2);
        assert!(recs.is_empty());
        assert!(matches!(end, ScanEnd::Invalid { offset: 32, .. }));
    }

    #[test]
    fn torn_tail_vs_middle_corruption() {
        let bytes = file(&[(1, b"first"), (2, b"second"), (3, b"third")], 42);
        let (recs, _) = scan(&bytes, 42);
        let third = recs[2].offset;
        // Torn: cut inside the last record.
        let (recs_cut, end) = scan(&bytes[..bytes.len() - 3], 42);
        assert_eq!(recs_cut.len(), 2);
        assert!(
            matches!(end, ScanEnd::Invalid { offset, valid_after: false, .. } if offset == third)
        );
        // Middle: flip a byte of the second record's body; the third stays valid.
        let mut bad = bytes.clone();
        bad[recs[1].offset + RECORD_HEADER_LEN] ^= 0x40;
        let (recs_bad, end) = scan(&bad, 42);
        assert_eq!(recs_bad.len(), 1);
        assert!(matches!(
            end,
            ScanEnd::Invalid {
                valid_after: true,
                ..
            }
        ));
    }

    #[test]
    fn bodies_round_trip_and_reject_garbage() {
        let v1 = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let rows = vec![
            UpsertRow {
                id: PointId::Num(3),
                vector: &v1,
                payload: Some(b"{}"),
            },
            UpsertRow {
                id: PointId::Uuid(u128::MAX),
                vector: &v1,
                payload: None,
            },
        ];
        let body = encode_upsert(2, Datatype::F32, &rows);
        assert_eq!(decode_upsert(&body, 2, Datatype::F32).unwrap(), rows);
        assert!(decode_upsert(&body, 3, Datatype::F32).is_err());
        assert!(decode_upsert(&body[..body.len() - 1], 2, Datatype::F32).is_err());
        let ids = vec![PointId::Num(1), PointId::Uuid(7)];
        assert_eq!(decode_delete(&encode_delete(&ids)).unwrap(), ids);
        let mut huge = encode_delete(&ids);
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_delete(&huge).is_err());
    }
}
