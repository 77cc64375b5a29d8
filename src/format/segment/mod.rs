//! The immutable segment file codec: parsing and checking ([`parse`], [`Layout`]) here,
//! writing in [`write`](mod@write). Layout: `format-spec/segment.md`.

mod write;

pub use write::{SegmentColumns, SegmentWriter, Sink, encode};

use std::ops::Range;

use super::{
    DecodeError, FORMAT_VERSION, Reader, SEGMENT_FOOTER_MAGIC, SEGMENT_MAGIC,
    check_magic_and_version, crc32, slice,
};
use crate::config::{Datatype, Distance, MAX_DIM};
pub use crate::quant::CodeKind;
use crate::quant::binary::MultiBit;
use crate::quant::scalar::{RangeDesign, ScalarParams};

pub const HEADER_LEN: usize = 64;
pub const FOOTER_LEN: usize = 32;
pub const ENTRY_LEN: usize = 32;
pub const SECTION_ALIGN: usize = 64;
const MAX_SECTIONS: usize = 64;

/// The code kind byte of the segment header (format-spec/segment.md).
impl CodeKind {
    fn code(self) -> u8 {
        match self {
            CodeKind::None => 0,
            CodeKind::OneBit => 1,
            CodeKind::ScalarInt8 => 2,
            CodeKind::TwoBits => 3,
            CodeKind::OneAndHalfBits => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(CodeKind::None),
            1 => Some(CodeKind::OneBit),
            2 => Some(CodeKind::ScalarInt8),
            3 => Some(CodeKind::TwoBits),
            4 => Some(CodeKind::OneAndHalfBits),
            _ => None,
        }
    }
}

/// Section kinds, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Point id kinds (0 numeric, 1 UUID), one byte per row.
    IdKinds = 1,
    /// Point id values, 16 bytes per row.
    IdValues = 2,
    /// WAL sequence number of each row's write.
    Versions = 3,
    /// Original vectors in the stored datatype, row-major.
    Originals = 4,
    /// The codes, `code_kind` per row.
    Codes = 5,
    /// Which rows have a payload, one bit per row.
    PayloadPresent = 6,
    /// Payload end offsets, one u64 per row after a leading 0.
    PayloadOffsets = 7,
    /// Payload bytes, concatenated.
    PayloadBlob = 8,
    /// Scalar int8 quantizer parameters.
    QuantParams = 9,
    /// `‖x‖²` of each row's original (scalar codes).
    Norms = 10,
    /// Per-dimension mean and deviation (multi-bit binary codes).
    BinaryStats = 11,
}

pub const SECTIONS: [Section; 11] = [
    Section::IdKinds,
    Section::IdValues,
    Section::Versions,
    Section::Originals,
    Section::Codes,
    Section::PayloadPresent,
    Section::PayloadOffsets,
    Section::PayloadBlob,
    Section::QuantParams,
    Section::Norms,
    Section::BinaryStats,
];

impl Section {
    /// Its name in errors and reports.
    pub fn name(self) -> &'static str {
        match self {
            Section::IdKinds => "id_kinds",
            Section::IdValues => "id_values",
            Section::Versions => "versions",
            Section::Originals => "originals",
            Section::Codes => "codes",
            Section::PayloadPresent => "payload_present",
            Section::PayloadOffsets => "payload_offsets",
            Section::PayloadBlob => "payload_blob",
            Section::QuantParams => "quant_params",
            Section::Norms => "norms",
            Section::BinaryStats => "binary_stats",
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        SECTIONS.into_iter().find(|s| *s as u32 == code)
    }

    fn index(self) -> usize {
        self as usize - 1
    }
}

/// Decodes a statistics section: `dim` f32 means, then `dim` f32 standard deviations.
pub fn decode_binary_stats(
    bytes: &[u8],
    dim: usize,
    two_bits: bool,
) -> Result<MultiBit, DecodeError> {
    if bytes.len() != 8 * dim {
        return Err(DecodeError::invalid(
            0,
            "binary statistics have the wrong length",
        ));
    }
    let values: Vec<f32> = bytes
        .as_chunks::<4>()
        .0
        .iter()
        .map(|b| f32::from_le_bytes(*b))
        .collect();
    let (mean, std) = values.split_at(dim);
    if values.iter().any(|v| !v.is_finite()) || std.iter().any(|&s| s < 0.0) {
        return Err(DecodeError::invalid(
            0,
            "non-finite mean or negative deviation",
        ));
    }
    Ok(MultiBit {
        two_bits,
        mean: mean.to_vec(),
        std: std.to_vec(),
    })
}

const PARAMS_FIXED: usize = 24;

/// Encodes a scalar quantizer's parameters section.
pub fn encode_scalar_params(p: &ScalarParams) -> Vec<u8> {
    let mut out = Vec::with_capacity(PARAMS_FIXED + 8 * p.lo.len());
    out.push(p.design as u8);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&p.sample_size.to_le_bytes());
    out.extend_from_slice(&p.seed.to_le_bytes());
    out.extend_from_slice(&p.quantile.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for v in p.lo.iter().chain(&p.scale) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes and checks a parameters section for `dim` components.
pub fn decode_scalar_params(bytes: &[u8], dim: usize) -> Result<ScalarParams, DecodeError> {
    if bytes.len() != PARAMS_FIXED + 8 * dim {
        return Err(DecodeError::invalid(
            0,
            "quantizer parameters have the wrong length",
        ));
    }
    let mut r = Reader::new(bytes);
    let design = RangeDesign::from_code(r.u8("range design")?)
        .ok_or_else(|| DecodeError::invalid(0, "unknown range design"))?;
    let _reserved = r.bytes(3, "reserved")?;
    let sample_size = r.u32("sample size")?;
    let seed = r.u64("seed")?;
    let quantile = f32::from_le_bytes(r.array("quantile")?);
    let _reserved = r.u32("reserved")?;
    let mut floats = |what: &str| -> Result<Vec<f32>, DecodeError> {
        (0..dim)
            .map(|_| {
                let at = r.pos();
                let v = f32::from_le_bytes(r.array(what)?);
                v.is_finite()
                    .then_some(v)
                    .ok_or_else(|| DecodeError::invalid(at, format!("{what} is not finite")))
            })
            .collect()
    };
    let lo = floats("range start")?;
    let scale = floats("range step")?;
    if scale.iter().any(|&s| s < 0.0) || !(0.5..=1.0).contains(&quantile) {
        return Err(DecodeError::invalid(
            16,
            "negative range step or quantile outside 0.5..=1",
        ));
    }
    Ok(ScalarParams {
        design,
        sample_size,
        seed,
        quantile,
        lo,
        scale,
    })
}

/// The header fields of a segment.
#[derive(Debug, Clone, Copy)]
pub struct SegmentHeader {
    pub segment_id: u64,
    pub rows: usize,
    pub dim: usize,
    pub distance: Distance,
    pub datatype: Datatype,
    pub code_kind: CodeKind,
}

/// One section as found in the table.
#[derive(Debug, Clone)]
pub struct SectionEntry {
    pub range: Range<usize>,
    pub crc: u32,
}

/// A parsed and bounds-checked segment file.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The fixed header.
    pub header: SegmentHeader,
    table_offset: usize,
    sections: [Option<SectionEntry>; SECTIONS.len()],
}

impl Layout {
    /// Code size per row in 8-byte words.
    pub fn code_words(&self) -> usize {
        self.header.code_kind.words(self.header.dim)
    }

    /// The byte range of a section (empty for an absent optional section).
    pub fn range(&self, s: Section) -> Range<usize> {
        self.entry(s).map_or(0..0, |e| e.range.clone())
    }

    /// Checks every section's CRC; on a mismatch returns the section, stored and computed CRC.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), (Section, u32, u32)> {
        for s in SECTIONS {
            if let Some(e) = self.entry(s) {
                let got = crc32(0, bytes.get(e.range.clone()).unwrap_or_default());
                if got != e.crc {
                    return Err((s, e.crc, got));
                }
            }
        }
        Ok(())
    }

    fn entry(&self, s: Section) -> Option<&SectionEntry> {
        self.sections.get(s.index()).and_then(Option::as_ref)
    }

    /// The offset of the first non-zero byte in the padding between header, sections and
    /// section table (padding MUST be zero, and no CRC covers it).
    pub fn nonzero_padding(&self, bytes: &[u8]) -> Option<usize> {
        let mut used: Vec<Range<usize>> = self
            .sections
            .iter()
            .flatten()
            .map(|e| e.range.clone())
            .collect();
        used.sort_by_key(|r| r.start);
        let mut pos = HEADER_LEN;
        for r in used
            .into_iter()
            .chain(std::iter::once(self.table_offset..self.table_offset))
        {
            if let Some(i) = bytes.get(pos..r.start)?.iter().position(|&b| b != 0) {
                return Some(pos + i);
            }
            pos = pos.max(r.end);
        }
        None
    }
}

fn mul(a: usize, b: usize, at: usize) -> Result<usize, DecodeError> {
    a.checked_mul(b)
        .ok_or_else(|| DecodeError::invalid(at, "size overflows"))
}

/// Parses the header, footer and section table, and checks every length and offset against
/// the file size and the row count. Cheap: reads no section body except payload offsets.
pub fn parse(bytes: &[u8]) -> Result<Layout, DecodeError> {
    if bytes.len() < HEADER_LEN + FOOTER_LEN {
        return Err(DecodeError::invalid(
            0,
            format!(
                "file is {} bytes, shorter than header + footer",
                bytes.len()
            ),
        ));
    }
    let mut r = Reader::new(bytes);
    check_magic_and_version(&mut r, &SEGMENT_MAGIC, "segment file", FORMAT_VERSION)?;
    let header_len = r.u32("header_len")?;
    let segment_id = r.u64("segment_id")?;
    let rows = r.len_u64(u32::MAX as usize, "row_count")?;
    let dim = r.len_u32(MAX_DIM, "dim")?;
    let distance = Distance::from_code(r.u8("distance")?)
        .ok_or_else(|| DecodeError::invalid(36, "unknown distance code"))?;
    let datatype = Datatype::from_code(r.u8("datatype")?)
        .ok_or_else(|| DecodeError::invalid(37, "unknown datatype code"))?;
    let code_kind = CodeKind::from_code(r.u8("code_kind")?)
        .ok_or_else(|| DecodeError::invalid(38, "unknown code kind"))?;
    let _reserved = r.u8("reserved")?;
    let code_words = r.len_u32(MAX_DIM, "code_words")?;
    let section_count = r.len_u32(MAX_SECTIONS, "section_count")?;
    let table_offset = r.len_u64(bytes.len(), "table_offset")?;
    let table_crc = r.u32("table_crc")?;
    let header_crc = r.u32("header_crc")?;
    if crc32(0, slice(bytes, 0..60, "header")?) != header_crc {
        return Err(DecodeError::checksum(60, "header"));
    }
    if header_len as usize != HEADER_LEN {
        return Err(DecodeError::invalid(12, "header_len is not 64"));
    }
    if dim == 0 {
        return Err(DecodeError::invalid(32, "dim is 0"));
    }
    if code_words != code_kind.words(dim) {
        return Err(DecodeError::invalid(40, "code_words does not match dim"));
    }

    let footer_at = bytes.len() - FOOTER_LEN;
    let mut f = Reader::new(slice(bytes, footer_at..bytes.len(), "footer")?);
    let fat = |e: DecodeError| e.shifted(footer_at as u64);
    if f.array::<8>("footer magic").map_err(fat)? != SEGMENT_FOOTER_MAGIC {
        return Err(DecodeError::invalid(
            footer_at,
            "bad footer magic (truncated file?)",
        ));
    }
    let file_len = f.u64("file_len").map_err(fat)?;
    let footer_table = f.u64("table_offset").map_err(fat)?;
    let _reserved = f.u32("reserved").map_err(fat)?;
    let footer_crc = f.u32("footer_crc").map_err(fat)?;
    if crc32(0, slice(bytes, footer_at..footer_at + 28, "footer")?) != footer_crc {
        return Err(DecodeError::checksum(footer_at + 28, "footer"));
    }
    if file_len != bytes.len() as u64 {
        return Err(DecodeError::invalid(
            footer_at + 8,
            format!("footer says {file_len} bytes, file has {}", bytes.len()),
        ));
    }
    if footer_table != table_offset as u64 {
        return Err(DecodeError::invalid(
            footer_at + 16,
            "footer and header disagree on table offset",
        ));
    }
    let table_end = table_offset
        .checked_add(section_count * ENTRY_LEN)
        .filter(|&end| end <= footer_at && table_offset >= HEADER_LEN)
        .ok_or_else(|| DecodeError::invalid(48, "section table out of bounds"))?;
    let table = slice(bytes, table_offset..table_end, "section table")?;
    if crc32(0, table) != table_crc {
        return Err(DecodeError::checksum(table_offset, "section table"));
    }

    let mut sections: [Option<SectionEntry>; SECTIONS.len()] = Default::default();
    let mut t = Reader::new(table);
    for i in 0..section_count {
        let at = table_offset + i * ENTRY_LEN;
        let kind_code = t.u32("section kind")?;
        let _flags = t.u32("section flags")?;
        let offset = t.len_u64(bytes.len(), "section offset")?;
        let length = t.len_u64(bytes.len(), "section length")?;
        let crc = t.u32("section crc")?;
        let _reserved = t.u32("reserved")?;
        let kind = Section::from_code(kind_code)
            .ok_or_else(|| DecodeError::invalid(at, format!("unknown section kind {kind_code}")))?;
        let end = offset
            .checked_add(length)
            .filter(|&end| end <= table_offset && offset >= HEADER_LEN)
            .ok_or_else(|| {
                DecodeError::invalid(at, format!("section {} out of bounds", kind.name()))
            })?;
        if offset % SECTION_ALIGN != 0 {
            return Err(DecodeError::invalid(
                at,
                format!("section {} misaligned", kind.name()),
            ));
        }
        let slot = sections
            .get_mut(kind.index())
            .ok_or_else(|| DecodeError::invalid(at, "section kind out of range"))?;
        if slot.is_some() {
            return Err(DecodeError::invalid(
                at,
                format!("section {} twice", kind.name()),
            ));
        }
        *slot = Some(SectionEntry {
            range: offset..end,
            crc,
        });
    }

    let expected = |s: Section| -> Result<Option<usize>, DecodeError> {
        Ok(match s {
            Section::IdKinds => Some(rows),
            Section::IdValues => Some(mul(rows, 16, 24)?),
            Section::Versions => Some(mul(rows, 8, 24)?),
            Section::Originals => Some(mul(mul(rows, dim, 24)?, datatype.size(), 24)?),
            Section::Codes => Some(mul(mul(rows, code_words, 24)?, 8, 24)?),
            Section::PayloadPresent => Some(mul(rows.div_ceil(64), 8, 24)?),
            Section::PayloadOffsets => Some(mul(rows + 1, 8, 24)?),
            Section::PayloadBlob => None,
            Section::QuantParams => Some(PARAMS_FIXED + 8 * dim),
            Section::Norms => Some(mul(rows, 4, 24)?),
            Section::BinaryStats => Some(mul(dim, 8, 32)?),
        })
    };
    for s in SECTIONS {
        let entry = sections.get(s.index()).and_then(Option::as_ref);
        let required = match s {
            Section::Codes => code_kind != CodeKind::None,
            Section::QuantParams | Section::Norms => code_kind == CodeKind::ScalarInt8,
            Section::BinaryStats => {
                matches!(code_kind, CodeKind::TwoBits | CodeKind::OneAndHalfBits)
            }
            _ => true,
        };
        if !required {
            if entry.is_some() {
                return Err(DecodeError::invalid(
                    38,
                    format!("section {} without its code kind", s.name()),
                ));
            }
            continue;
        }
        let entry = entry.ok_or_else(|| {
            DecodeError::invalid(table_offset, format!("section {} missing", s.name()))
        })?;
        if let Some(len) = expected(s)?
            && entry.range.len() != len
        {
            return Err(DecodeError::invalid(
                table_offset,
                format!(
                    "section {} is {} bytes, expected {len}",
                    s.name(),
                    entry.range.len()
                ),
            ));
        }
    }

    let mut ranges: Vec<Range<usize>> =
        sections.iter().flatten().map(|e| e.range.clone()).collect();
    ranges.sort_by_key(|r| r.start);
    if ranges
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.end > b.start))
    {
        return Err(DecodeError::invalid(table_offset, "sections overlap"));
    }
    let layout = Layout {
        header: SegmentHeader {
            segment_id,
            rows,
            dim,
            distance,
            datatype,
            code_kind,
        },
        table_offset,
        sections,
    };
    let offsets_range = layout.range(Section::PayloadOffsets);
    let blob_len = layout.range(Section::PayloadBlob).len() as u64;
    let mut prev = 0u64;
    let offsets = slice(bytes, offsets_range.clone(), "payload offsets")?;
    for (i, word) in offsets.as_chunks::<8>().0.iter().enumerate() {
        let off = u64::from_le_bytes(*word);
        if off < prev || off > blob_len || (i == 0 && off != 0) {
            return Err(DecodeError::invalid(
                offsets_range.start + i * 8,
                "payload offsets not increasing within the blob",
            ));
        }
        prev = off;
    }
    if prev != blob_len {
        return Err(DecodeError::invalid(
            offsets_range.end,
            "payload blob length mismatch",
        ));
    }
    Ok(layout)
}
