//! The `payload_indexes` section (format-spec/segment.md, "Payload indexes").

use crate::config::{MAX_PAYLOAD_INDEXES, PayloadSchema};
use crate::filter::index::FieldIndex;
use crate::format::{DecodeError, Reader};
use crate::segment::Bitmap;

/// Bytes of a directory entry before its key.
const ENTRY_FIXED: usize = 24;

fn pad8(out: &mut Vec<u8>) {
    out.resize(out.len().div_ceil(8) * 8, 0);
}

fn body(f: &FieldIndex) -> Vec<u8> {
    let mut out = Vec::new();
    let dict_bytes: usize = f.dict.iter().map(String::len).sum();
    out.extend_from_slice(&(f.keys.len() as u64).to_le_bytes());
    out.extend_from_slice(&(f.dict.len() as u64).to_le_bytes());
    out.extend_from_slice(&(dict_bytes as u64).to_le_bytes());
    let mut end = 0u32;
    for s in &f.dict {
        end += s.len() as u32;
        out.extend_from_slice(&end.to_le_bytes());
    }
    for s in &f.dict {
        out.extend_from_slice(s.as_bytes());
    }
    pad8(&mut out);
    for k in &f.keys {
        out.extend_from_slice(&k.to_le_bytes());
    }
    for r in &f.rows_of {
        out.extend_from_slice(&r.to_le_bytes());
    }
    pad8(&mut out);
    let words = f.rows.div_ceil(64);
    for bitmap in [&f.non_empty, &f.null] {
        for i in 0..words {
            let w = bitmap.words().get(i).copied().unwrap_or(0);
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out
}

/// Bytes of `f`'s body and directory entry in a `payload_indexes` section.
pub fn payload_index_len(f: &FieldIndex) -> usize {
    let dict: usize = f.dict.iter().map(String::len).sum();
    ENTRY_FIXED
        + f.key.len().div_ceil(8) * 8
        + 24
        + (4 * f.dict.len() + dict).div_ceil(8) * 8
        + (12 * f.keys.len()).div_ceil(8) * 8
        + 16 * f.rows.div_ceil(64)
}

/// The `payload_indexes` section of `specs` (key, schema; sorted by key) over rows with
/// `payloads` (the golden files' writer).
pub fn payload_indexes_section(
    specs: &[(String, PayloadSchema)],
    payloads: &[Option<&[u8]>],
) -> Vec<u8> {
    let fields = crate::filter::index::build(specs, payloads.len(), |row| {
        payloads.get(row).copied().flatten()
    });
    encode_payload_indexes(&fields)
}

/// Encodes the `payload_indexes` section of `fields` (sorted by key, at most
/// `MAX_PAYLOAD_INDEXES`).
pub fn encode_payload_indexes(fields: &[FieldIndex]) -> Vec<u8> {
    let bodies: Vec<Vec<u8>> = fields.iter().map(body).collect();
    let directory: usize = fields
        .iter()
        .map(|f| ENTRY_FIXED + f.key.len().div_ceil(8) * 8)
        .sum();
    let mut out = Vec::new();
    out.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut at = 8 + directory;
    for (f, b) in fields.iter().zip(&bodies) {
        out.extend_from_slice(&(at as u64).to_le_bytes());
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.push(f.schema.code());
        out.push(u8::from(f.other_numbers));
        out.extend_from_slice(&(f.key.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(f.key.as_bytes());
        pad8(&mut out);
        at += b.len();
    }
    for b in bodies {
        out.extend_from_slice(&b);
    }
    out
}

fn invalid(at: usize, what: impl Into<String>) -> DecodeError {
    DecodeError::invalid(at, what)
}

fn skip_padding(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let pad = r.pos().div_ceil(8) * 8 - r.pos();
    let at = r.pos();
    if r.bytes(pad, "padding")?.iter().any(|&b| b != 0) {
        return Err(invalid(at, "non-zero padding"));
    }
    Ok(())
}

fn bitmap(r: &mut Reader<'_>, rows: usize, what: &str) -> Result<Bitmap, DecodeError> {
    let at = r.pos();
    let words: Vec<u64> = r
        .bytes(rows.div_ceil(64) * 8, what)?
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    Bitmap::from_words(words, rows).ok_or_else(|| invalid(at, format!("{what} past the rows")))
}

/// Decodes and checks a `payload_indexes` section of a segment of `rows` rows (offsets
/// relative to the section).
pub fn decode_payload_indexes(bytes: &[u8], rows: usize) -> Result<Vec<FieldIndex>, DecodeError> {
    let mut r = Reader::new(bytes);
    let count = r.len_u32(MAX_PAYLOAD_INDEXES, "index_count")?;
    if r.u32("reserved")? != 0 {
        return Err(invalid(4, "reserved field is not zero"));
    }
    let mut entries: Vec<(usize, usize, PayloadSchema, bool, &str)> = Vec::with_capacity(count);
    for _ in 0..count {
        let entry_at = r.pos();
        let offset = r.len_u64(bytes.len(), "body_offset")?;
        let len = r.len_u64(bytes.len(), "body_len")?;
        let schema = PayloadSchema::from_code(r.u8("schema")?)
            .ok_or_else(|| invalid(entry_at + 16, "unknown schema code"))?;
        let flags = r.u8("flags")?;
        if flags > 1 {
            return Err(invalid(entry_at + 17, "unknown flags"));
        }
        let key_len = usize::from(r.u16("key_len")?);
        if r.u32("reserved")? != 0 {
            return Err(invalid(entry_at + 20, "reserved field is not zero"));
        }
        let key = std::str::from_utf8(r.bytes(key_len, "key")?)
            .ok()
            .filter(|k| crate::filter::check_index_key(k).is_ok())
            .ok_or_else(|| invalid(entry_at + ENTRY_FIXED, "key is not a key path"))?;
        if entries.last().is_some_and(|e| e.4 >= key) {
            return Err(invalid(entry_at, "keys are not in ascending order"));
        }
        skip_padding(&mut r)?;
        entries.push((offset, len, schema, flags == 1, key));
    }
    // The bodies follow the directory back to back, in its order, to the section's end.
    let mut at = r.pos();
    let mut fields: Vec<FieldIndex> = Vec::with_capacity(count);
    for (offset, len, schema, other_numbers, key) in entries {
        let end = at
            .checked_add(len)
            .filter(|&e| offset == at && e <= bytes.len())
            .ok_or_else(|| invalid(at, "index bodies are not back to back after the directory"))?;
        let body = bytes.get(at..end).unwrap_or_default();
        let field = decode_body(body, rows, key, schema, other_numbers)
            .map_err(|e| e.shifted(at as u64))?;
        fields.push(field);
        at = end;
    }
    if at != bytes.len() {
        return Err(invalid(at, "bytes after the last index"));
    }
    Ok(fields)
}

fn decode_body(
    bytes: &[u8],
    rows: usize,
    key: &str,
    schema: PayloadSchema,
    other_numbers: bool,
) -> Result<FieldIndex, DecodeError> {
    let mut r = Reader::new(bytes);
    // Each entry takes 12 bytes, each dictionary string at least 4: bounded by the body.
    let entries = r.len_u64(bytes.len() / 12, "entry_count")?;
    let dict_count = r.len_u64(bytes.len() / 4, "dict_count")?;
    let dict_bytes = r.len_u64(bytes.len(), "dict_bytes")?;
    let strings = matches!(schema, PayloadSchema::Keyword | PayloadSchema::Uuid);
    if !strings && dict_count + dict_bytes > 0 {
        return Err(invalid(8, "a dictionary in an index of non-strings"));
    }
    let ends_at = r.pos();
    let ends: Vec<usize> = r
        .bytes(dict_count * 4, "dict_ends")?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()) as usize)
        .collect();
    let blob_at = r.pos();
    let blob = r.bytes(dict_bytes, "dict_blob")?;
    let mut dict: Vec<String> = Vec::with_capacity(dict_count);
    let mut start = 0;
    for (i, &end) in ends.iter().enumerate() {
        let s = blob
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| {
                invalid(
                    ends_at + 4 * i,
                    "dictionary string out of bounds or not UTF-8",
                )
            })?;
        if dict.last().is_some_and(|p| p.as_str() >= s) {
            return Err(invalid(
                blob_at + start,
                "dictionary not in ascending order",
            ));
        }
        dict.push(s.to_owned());
        start = end;
    }
    if start != dict_bytes {
        return Err(invalid(blob_at, "dictionary bytes left over"));
    }
    skip_padding(&mut r)?;
    let keys_at = r.pos();
    let keys: Vec<u64> = r
        .bytes(entries * 8, "keys")?
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    let rows_at = r.pos();
    let rows_of: Vec<u32> = r
        .bytes(entries * 4, "rows")?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    skip_padding(&mut r)?;
    let mut prev: Option<(u64, u32)> = None;
    for (i, (&k, &row)) in keys.iter().zip(&rows_of).enumerate() {
        if row as usize >= rows {
            return Err(invalid(rows_at + 4 * i, "row out of range"));
        }
        let valid = match schema {
            PayloadSchema::Keyword | PayloadSchema::Uuid => k < dict.len() as u64,
            PayloadSchema::Bool => k <= 1,
            PayloadSchema::Float => {
                // An encoding of a finite number (NaN and infinities never come from JSON).
                let f = f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k });
                f.is_finite()
            }
            PayloadSchema::Integer | PayloadSchema::Datetime => true,
        };
        if !valid {
            return Err(invalid(keys_at + 8 * i, "key outside its schema"));
        }
        if prev.is_some_and(|p| p >= (k, row)) {
            return Err(invalid(keys_at + 8 * i, "entries not in ascending order"));
        }
        prev = Some((k, row));
    }
    let non_empty = bitmap(&mut r, rows, "non_empty")?;
    let null = bitmap(&mut r, rows, "null")?;
    if r.remaining() != 0 {
        return Err(invalid(r.pos(), "bytes after the null bitmap"));
    }
    Ok(FieldIndex {
        key: key.to_owned(),
        schema,
        rows,
        non_empty,
        null,
        other_numbers,
        dict,
        keys,
        rows_of,
        dense: Vec::new(),
        starts: Vec::new(),
        prefixes: Vec::new(),
    }
    .with_lookups())
}
