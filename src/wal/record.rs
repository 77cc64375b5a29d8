//! WAL framing and record bodies (pure). Layout: `format-spec/wal.md`.

#![deny(clippy::indexing_slicing)]

use crate::config::Datatype;
use crate::format::{
    DecodeError, Reader, WAL_FORMAT_VERSION, WAL_MAGIC, align_up, check_magic_and_version, crc32,
    put_magic_and_version, slice,
};
use crate::point::PointId;

pub const FILE_HEADER_LEN: usize = 32;
/// The record header of version 2 files (version 1 headers lack `synced_seq`: 24 bytes).
pub const RECORD_HEADER_LEN: usize = 32;
const V1_RECORD_HEADER_LEN: usize = 24;
/// The largest record body: one `upsert` or `delete` batch must encode to at most this.
pub const MAX_RECORD_BODY: usize = 256 << 20;

/// Record kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Inserts or replaces points.
    Upsert = 1,
    /// Deletes points by id.
    Delete = 2,
    /// Inserts or replaces points of a collection with named vectors or multivectors.
    UpsertVectors = 3,
}

impl RecordKind {
    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(RecordKind::Upsert),
            2 => Some(RecordKind::Delete),
            3 => Some(RecordKind::UpsertVectors),
            _ => None,
        }
    }
}

/// What a WAL file's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// The file's number (its name).
    pub number: u64,
    /// Random per file; seeds every record CRC.
    pub salt: u32,
    /// The format version of its records (1 or 2).
    pub version: u16,
}

impl FileHeader {
    /// Bytes of each record header in this file.
    fn record_header_len(self) -> usize {
        if self.version == 1 {
            V1_RECORD_HEADER_LEN
        } else {
            RECORD_HEADER_LEN
        }
    }
}

/// The 32-byte header that starts every WAL file (written at the current version).
pub fn encode_file_header(file_number: u64, salt: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_HEADER_LEN);
    put_magic_and_version(&mut out, &WAL_MAGIC, WAL_FORMAT_VERSION);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&file_number.to_le_bytes());
    out.extend_from_slice(&salt.to_le_bytes());
    let crc = crc32(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Parses a WAL file header (version 1 or 2).
pub fn parse_file_header(bytes: &[u8]) -> Result<FileHeader, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = check_magic_and_version(&mut r, &WAL_MAGIC, "WAL file", WAL_FORMAT_VERSION)?;
    let _reserved = r.u32("reserved")?;
    let file_number = r.u64("file_number")?;
    let salt = r.u32("salt")?;
    let crc = r.u32("header_crc")?;
    if crc32(0, slice(bytes, 0..28, "WAL header")?) != crc {
        return Err(DecodeError::checksum(28, "WAL file header"));
    }
    Ok(FileHeader {
        number: file_number,
        salt,
        version,
    })
}

/// The record CRC: seeded with the salt, over the header except its `crc` field, then the
/// body (`format-spec/wal.md` [WAL-2]).
pub fn record_crc(salt: u32, header: &[u8], body: &[u8]) -> u32 {
    let (len, rest) = header.split_at(4.min(header.len()));
    let (_crc, covered) = rest.split_at(4.min(rest.len()));
    let mut h = crc32fast::Hasher::new_with_initial(salt);
    h.update(len);
    h.update(covered);
    h.update(body);
    h.finalize()
}

/// The fields of a record's header besides its length and CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    /// The record's sequence number.
    pub seq: u64,
    /// Every record with a sequence number up to this one was durable (synced, or covered
    /// by a checkpoint) before this record was written. Below `seq`.
    pub synced_seq: u64,
    /// What the body holds.
    pub kind: RecordKind,
}

/// Appends one framed record (current version) to `out` and returns its CRC (the next
/// record's `prev_crc`).
pub fn encode_record(
    out: &mut Vec<u8>,
    salt: u32,
    prev_crc: u32,
    meta: RecordMeta,
    body: &[u8],
) -> u32 {
    let RecordMeta {
        seq,
        synced_seq,
        kind,
    } = meta;
    let header_with = |crc: u32| {
        let mut h = [0u8; RECORD_HEADER_LEN];
        let fields = (body.len() as u32)
            .to_le_bytes()
            .into_iter()
            .chain(crc.to_le_bytes())
            .chain(seq.to_le_bytes())
            .chain([kind as u8, 0, 0, 0])
            .chain(prev_crc.to_le_bytes())
            .chain(synced_seq.to_le_bytes());
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
pub struct ScannedRecord<'a> {
    pub offset: usize,
    pub seq: u64,
    /// `None` in version 1 files, which do not record it.
    pub synced_seq: Option<u64>,
    pub kind: RecordKind,
    pub body: &'a [u8],
}

/// What follows the first invalid record of a file: records valid on their own
/// ([WAL-4] conditions 1–3) at 8-aligned offsets after it, with a `seq` above the last
/// valid record's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Beyond {
    /// How many.
    pub records: u64,
    /// The highest `synced_seq` among them (version 2 files).
    pub max_synced_seq: Option<u64>,
}

/// How a scan of one file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte after the header belongs to a valid record.
    Clean,
    /// The record at `offset` is invalid; `beyond` describes the records after it.
    Invalid {
        /// Byte offset of the bad record.
        offset: usize,
        /// What is wrong with it.
        reason: String,
        /// What follows it.
        beyond: Beyond,
    },
}

/// A record's framing, checked on its own.
struct Frame<'a> {
    seq: u64,
    synced_seq: Option<u64>,
    kind: RecordKind,
    prev_crc: u32,
    crc: u32,
    body: &'a [u8],
    end: usize,
}

/// A record checked on its own: its length fits, its CRC (seeded by the salt) matches, its
/// kind is known and (version 2) its `synced_seq` is below its `seq`.
fn frame_at(bytes: &[u8], pos: usize, file: FileHeader) -> Result<Frame<'_>, String> {
    let header_len = file.record_header_len();
    let header = bytes
        .get(pos..pos + header_len)
        .ok_or("record header cut short")?;
    let mut r = Reader::new(header);
    let mut fields = || -> Result<_, DecodeError> {
        Ok((
            r.u32("body_len")? as usize,
            r.u32("crc")?,
            r.u64("seq")?,
            r.u8("kind")?,
            r.array::<3>("reserved")?,
            r.u32("prev_crc")?,
            if file.version == 1 {
                None
            } else {
                Some(r.u64("synced_seq")?)
            },
        ))
    };
    let (body_len, crc, seq, kind_code, reserved, prev_crc, synced_seq) =
        fields().map_err(|e| e.to_string())?;
    if body_len > MAX_RECORD_BODY {
        return Err(format!("record length {body_len} exceeds the maximum"));
    }
    let body_start = pos + header_len;
    let end = body_start + align_up(body_len, 8);
    let body = bytes
        .get(body_start..body_start + body_len)
        .filter(|_| end <= bytes.len())
        .ok_or("record body cut short")?;
    let padding = bytes.get(body_start + body_len..end).unwrap_or_default();
    if reserved != [0; 3] || padding.iter().any(|&b| b != 0) {
        return Err("non-zero reserved or padding bytes".into());
    }
    if record_crc(file.salt, header, body) != crc {
        return Err("record checksum mismatch".into());
    }
    let kind = RecordKind::from_code(kind_code).ok_or("unknown record kind")?;
    if synced_seq.is_some_and(|s| s >= seq) {
        return Err(format!("synced_seq is not below seq {seq}"));
    }
    Ok(Frame {
        seq,
        synced_seq,
        kind,
        prev_crc,
        crc,
        body,
        end,
    })
}

/// Scans the records of a WAL file whose header is `file`. Stops at the first record that
/// breaks the validity predicate of `format-spec/wal.md` [WAL-4].
pub fn scan(bytes: &[u8], file: FileHeader) -> (Vec<ScannedRecord<'_>>, ScanEnd) {
    let mut records = Vec::new();
    let mut pos = FILE_HEADER_LEN;
    let mut chain = file.salt;
    let mut last_seq: Option<u64> = None;
    while pos < bytes.len() {
        let checked = frame_at(bytes, pos, file).and_then(|f| {
            if f.prev_crc != chain {
                return Err("record does not chain to the previous one".into());
            }
            if let Some(last) = last_seq
                && Some(f.seq) != last.checked_add(1)
            {
                return Err(format!("sequence {} does not follow {last}", f.seq));
            }
            Ok(f)
        });
        match checked {
            Ok(f) => {
                records.push(ScannedRecord {
                    offset: pos,
                    seq: f.seq,
                    synced_seq: f.synced_seq,
                    kind: f.kind,
                    body: f.body,
                });
                chain = f.crc;
                last_seq = Some(f.seq);
                pos = f.end;
            }
            Err(reason) => {
                let mut beyond = Beyond::default();
                for p in (pos + 8..bytes.len()).step_by(8) {
                    if let Ok(f) = frame_at(bytes, p, file)
                        && last_seq.is_none_or(|last| f.seq > last)
                    {
                        beyond.records += 1;
                        beyond.max_synced_seq = beyond.max_synced_seq.max(f.synced_seq);
                    }
                }
                return (
                    records,
                    ScanEnd::Invalid {
                        offset: pos,
                        reason,
                        beyond,
                    },
                );
            }
        }
    }
    (records, ScanEnd::Clean)
}

/// One point of an upsert record, with its vector already in the stored datatype.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsertRow<'a> {
    /// The point's id.
    pub id: PointId,
    /// `dim × datatype.size()` little-endian bytes.
    pub vector: &'a [u8],
    /// Its payload, if any.
    pub payload: Option<&'a [u8]>,
}

const UPSERT_ROW_FIXED: usize = 24;

/// Encodes an upsert batch body.
pub fn encode_upsert(dim: usize, datatype: Datatype, rows: &[UpsertRow<'_>]) -> Vec<u8> {
    let per_row = UPSERT_ROW_FIXED + dim * datatype.size();
    let mut out = Vec::with_capacity(12 + rows.len() * per_row);
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    out.push(datatype.code());
    out.extend_from_slice(&[0u8; 3]);
    for row in rows {
        put_row_head(&mut out, row.id, row.payload);
        out.extend_from_slice(row.vector);
        out.extend_from_slice(row.payload.unwrap_or_default());
    }
    out
}

/// A row's fixed part: `id_kind | has_payload | reserved (2) | payload_len | id_value`.
fn put_row_head(out: &mut Vec<u8>, id: PointId, payload: Option<&[u8]>) {
    out.push(id.kind_code());
    out.push(u8::from(payload.is_some()));
    out.extend_from_slice(&[0u8; 2]);
    out.extend_from_slice(&(payload.map_or(0, <[u8]>::len) as u32).to_le_bytes());
    out.extend_from_slice(&id.value().to_le_bytes());
}

/// A row's fixed part as read: where it starts, the id, the payload flag and length.
struct RowHead {
    at: usize,
    id: PointId,
    has_payload: u8,
    payload_len: usize,
}

fn read_row_head(r: &mut Reader<'_>) -> Result<RowHead, DecodeError> {
    let at = r.pos();
    let id_kind = r.u8("id kind")?;
    let has_payload = r.u8("payload flag")?;
    let _reserved = r.bytes(2, "reserved")?;
    let payload_len = r.u32("payload length")? as usize;
    let id_value = r.u128("id value")?;
    let id = PointId::from_parts(id_kind, id_value)
        .ok_or_else(|| DecodeError::invalid(at, "invalid point id"))?;
    Ok(RowHead {
        at,
        id,
        has_payload,
        payload_len,
    })
}

/// The payload a row's head announces.
fn read_payload<'a>(r: &mut Reader<'a>, head: &RowHead) -> Result<Option<&'a [u8]>, DecodeError> {
    match head.has_payload {
        0 if head.payload_len == 0 => Ok(None),
        1 => Ok(Some(r.bytes(head.payload_len, "payload")?)),
        _ => Err(DecodeError::invalid(head.at + 1, "invalid payload flag")),
    }
}

/// A body MUST end exactly after its last row.
fn expect_end(r: &Reader<'_>) -> Result<(), DecodeError> {
    if r.remaining() != 0 {
        return Err(DecodeError::invalid(
            r.pos(),
            "trailing bytes after the last row",
        ));
    }
    Ok(())
}

/// Decodes an upsert batch body written for a collection of `dim` and `datatype`.
pub fn decode_upsert(
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
        return Err(DecodeError::invalid(
            4,
            "record written for another dim or datatype",
        ));
    }
    let vector_len = dim * datatype.size();
    let mut rows = Vec::with_capacity(count.min(r.remaining() / (UPSERT_ROW_FIXED + vector_len)));
    for _ in 0..count {
        let head = read_row_head(&mut r)?;
        let vector = r.bytes(vector_len, "vector")?;
        rows.push(UpsertRow {
            id: head.id,
            vector,
            payload: read_payload(&mut r, &head)?,
        });
    }
    expect_end(&r)?;
    Ok(rows)
}

/// The shape of one vector slot of a collection, as an upsert-vectors record states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotShape {
    /// Components per vector.
    pub dim: usize,
    /// How components are stored.
    pub datatype: Datatype,
    /// True for a multivector (`1..=MAX_MULTIVECTOR_LEN` vectors); a dense slot holds 0 or 1.
    pub multi: bool,
}

impl SlotShape {
    /// The slots of `config`, in slot order.
    pub(crate) fn of(config: &crate::config::CollectionConfig) -> Vec<SlotShape> {
        config
            .slots()
            .iter()
            .map(|s| SlotShape {
                dim: s.params.dim,
                datatype: s.params.datatype,
                multi: s.is_multi(),
            })
            .collect()
    }

    fn vector_bytes(self) -> usize {
        self.dim * self.datatype.size()
    }
}

/// One point of an upsert-vectors record: its vectors per slot (empty: absent; a
/// multivector's vectors back to back), already in stored form.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorsRow<'a> {
    /// The point's id.
    pub id: PointId,
    /// One entry per slot.
    pub vectors: Vec<&'a [u8]>,
    /// Its payload, if any.
    pub payload: Option<&'a [u8]>,
}

impl<'a> From<&UpsertRow<'a>> for VectorsRow<'a> {
    fn from(row: &UpsertRow<'a>) -> Self {
        VectorsRow {
            id: row.id,
            vectors: vec![row.vector],
            payload: row.payload,
        }
    }
}

/// Encodes an upsert-vectors batch body (kind 3) for a collection whose slots are
/// `shapes`.
pub fn encode_upsert_vectors(shapes: &[SlotShape], rows: &[VectorsRow<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    out.extend_from_slice(&(shapes.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0u8; 2]);
    for shape in shapes {
        out.extend_from_slice(&(shape.dim as u32).to_le_bytes());
        out.push(shape.datatype.code());
        out.push(u8::from(shape.multi));
        out.extend_from_slice(&[0u8; 2]);
    }
    for row in rows {
        put_row_head(&mut out, row.id, row.payload);
        for (shape, v) in shapes.iter().zip(&row.vectors) {
            let count = v.len() / shape.vector_bytes().max(1);
            out.extend_from_slice(&(count as u32).to_le_bytes());
        }
        for v in &row.vectors {
            out.extend_from_slice(v);
        }
        out.extend_from_slice(row.payload.unwrap_or_default());
    }
    out
}

/// Decodes an upsert-vectors batch body written for a collection whose slots are `shapes`.
pub fn decode_upsert_vectors<'a>(
    body: &'a [u8],
    shapes: &[SlotShape],
) -> Result<Vec<VectorsRow<'a>>, DecodeError> {
    let mut r = Reader::new(body);
    let count = r.u32("row count")? as usize;
    let slot_count = usize::from(r.u16("slot count")?);
    let _reserved = r.bytes(2, "reserved")?;
    if slot_count != shapes.len() {
        return Err(DecodeError::invalid(
            4,
            "record written for another set of vectors",
        ));
    }
    for shape in shapes {
        let at = r.pos();
        let dim = r.u32("dim")? as usize;
        let datatype = r.u8("datatype")?;
        let multi = r.u8("multivector flag")?;
        let _reserved = r.bytes(2, "reserved")?;
        if dim != shape.dim || datatype != shape.datatype.code() || multi != u8::from(shape.multi) {
            return Err(DecodeError::invalid(
                at,
                "record written for another dim, datatype or vector kind",
            ));
        }
    }
    let min_row = UPSERT_ROW_FIXED + 4 * slot_count;
    let mut rows = Vec::with_capacity(count.min(r.remaining() / min_row.max(1)));
    for _ in 0..count {
        let head = read_row_head(&mut r)?;
        let mut counts = Vec::with_capacity(slot_count);
        for shape in shapes {
            let c = r.u32("vector count")? as usize;
            let max = if shape.multi {
                crate::config::MAX_MULTIVECTOR_LEN
            } else {
                1
            };
            if c > max {
                return Err(DecodeError::invalid(r.pos() - 4, "too many vectors"));
            }
            counts.push(c);
        }
        if counts.iter().all(|&c| c == 0) {
            return Err(DecodeError::invalid(head.at, "a point without any vector"));
        }
        let mut vectors = Vec::with_capacity(slot_count);
        for (shape, &c) in shapes.iter().zip(&counts) {
            vectors.push(r.bytes(c * shape.vector_bytes(), "vectors")?);
        }
        rows.push(VectorsRow {
            id: head.id,
            vectors,
            payload: read_payload(&mut r, &head)?,
        });
    }
    expect_end(&r)?;
    Ok(rows)
}

/// Encodes a delete batch body.
pub fn encode_delete(ids: &[PointId]) -> Vec<u8> {
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
pub fn decode_delete(body: &[u8]) -> Result<Vec<PointId>, DecodeError> {
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
                .ok_or_else(|| DecodeError::invalid(at, "invalid point id"))?,
        );
    }
    if r.remaining() != 0 {
        return Err(DecodeError::invalid(
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

    fn header(salt: u32) -> FileHeader {
        FileHeader {
            number: 7,
            salt,
            version: WAL_FORMAT_VERSION,
        }
    }

    /// A file of upsert records `(seq, synced_seq, body)`.
    fn file(records: &[(u64, u64, &[u8])], salt: u32) -> Vec<u8> {
        let mut out = encode_file_header(7, salt);
        let mut prev = salt;
        for &(seq, synced_seq, body) in records {
            let meta = RecordMeta {
                seq,
                synced_seq,
                kind: RecordKind::Upsert,
            };
            prev = encode_record(&mut out, salt, prev, meta, body);
        }
        out
    }

    #[test]
    fn round_trip_and_clean_end() {
        let bytes = file(
            &[(5, 4, b"abc"), (6, 4, b""), (7, 6, &[9u8; 17])],
            0xdead_beef,
        );
        assert_eq!(parse_file_header(&bytes), Ok(header(0xdead_beef)));
        let (recs, end) = scan(&bytes, header(0xdead_beef));
        assert_eq!(end, ScanEnd::Clean);
        let got: Vec<_> = recs
            .iter()
            .map(|r| (r.seq, r.synced_seq, r.body.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (5, Some(4), b"abc".to_vec()),
                (6, Some(4), vec![]),
                (7, Some(6), vec![9u8; 17])
            ]
        );
        assert!(recs.iter().all(|r| r.offset % 8 == 0));
    }

    #[test]
    fn wrong_salt_is_invalid() {
        let bytes = file(&[(1, 0, b"abc")], 1);
        let (recs, end) = scan(&bytes, header(2));
        assert!(recs.is_empty());
        assert!(matches!(end, ScanEnd::Invalid { offset: 32, .. }));
    }

    #[test]
    fn what_follows_an_invalid_record_is_counted_with_its_sync_claims() {
        // Record 3 was written after records up to 2 were synced.
        let bytes = file(&[(1, 0, b"first"), (2, 0, b"second"), (3, 2, b"third")], 42);
        let (recs, _) = scan(&bytes, header(42));
        let third = recs[2].offset;
        // Cut inside the last record: nothing follows it.
        let (recs_cut, end) = scan(&bytes[..bytes.len() - 3], header(42));
        assert_eq!(recs_cut.len(), 2);
        assert_eq!(
            end,
            ScanEnd::Invalid {
                offset: third,
                reason: "record body cut short".into(),
                beyond: Beyond::default()
            }
        );
        // Flip a byte of the second record's body: the third, valid on its own, follows
        // and says that the second was synced before it was written.
        let mut bad = bytes.clone();
        bad[recs[1].offset + RECORD_HEADER_LEN] ^= 0x40;
        let (recs_bad, end) = scan(&bad, header(42));
        assert_eq!(recs_bad.len(), 1);
        assert!(matches!(
            end,
            ScanEnd::Invalid {
                beyond: Beyond {
                    records: 1,
                    max_synced_seq: Some(2)
                },
                ..
            }
        ));
    }

    #[test]
    fn version_1_files_still_scan() {
        // A version 1 file: 24-byte record headers without `synced_seq`.
        let salt = 9;
        let mut bytes = encode_file_header(7, salt);
        bytes[8..12].copy_from_slice(&[1, 0, 1, 0]);
        let crc = crc32(0, &bytes[..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        let body = b"abc";
        let mut h = Vec::new();
        h.extend_from_slice(&(body.len() as u32).to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        h.extend_from_slice(&5u64.to_le_bytes());
        h.extend_from_slice(&[1, 0, 0, 0]);
        h.extend_from_slice(&salt.to_le_bytes());
        let crc = record_crc(salt, &h, body);
        h[4..8].copy_from_slice(&crc.to_le_bytes());
        bytes.extend_from_slice(&h);
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(&[0; 5]);
        let file = parse_file_header(&bytes).unwrap();
        assert_eq!(file.version, 1);
        let (recs, end) = scan(&bytes, file);
        assert_eq!(end, ScanEnd::Clean);
        assert_eq!((recs[0].seq, recs[0].synced_seq), (5, None));
        assert_eq!(recs[0].body, body);
    }

    #[test]
    fn a_sync_claim_at_or_above_its_own_seq_is_invalid() {
        let bytes = file(&[(5, 5, b"abc")], 3);
        assert!(matches!(
            scan(&bytes, header(3)).1,
            ScanEnd::Invalid { offset: 32, .. }
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
