//! The immutable segment file codec: parsing and checking ([`parse`], [`Layout`]) here,
//! writing in [`write`](mod@write). Layout: `format-spec/segment.md`.

mod indexes;
mod write;

pub use indexes::{
    decode_payload_indexes, encode_payload_indexes, payload_index_len, payload_indexes_section,
};

pub use write::{
    SegmentColumns, SegmentWriter, Sink, SlotColumns, encode, encode_with_slots,
    rotated_row_sections,
};

use std::ops::Range;

use super::{
    DecodeError, Reader, SEGMENT_FOOTER_MAGIC, SEGMENT_FORMAT_VERSION, SEGMENT_MAGIC,
    check_magic_and_version, crc32, slice,
};
use crate::config::{
    Datatype, Distance, MAX_DIM, MAX_MULTIVECTOR_LEN, MAX_NAMED_VECTORS, MAX_VECTOR_NAME_BYTES,
};
pub use crate::quant::CodeKind;
use crate::quant::binary::MultiBit;
use crate::quant::rotated::{BLOCK_ROWS, MAX_CENTROIDS, Rotated};
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
            CodeKind::RotatedOneBit => 5,
            CodeKind::RotatedTwoBits => 6,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(CodeKind::None),
            1 => Some(CodeKind::OneBit),
            2 => Some(CodeKind::ScalarInt8),
            3 => Some(CodeKind::TwoBits),
            4 => Some(CodeKind::OneAndHalfBits),
            5 => Some(CodeKind::RotatedOneBit),
            6 => Some(CodeKind::RotatedTwoBits),
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
    /// Where each row's vectors of a slot start (version 2).
    VectorOffsets = 12,
    /// The vector slots: name, shape and code kind of each (version 2).
    VectorSlots = 13,
    /// Each row's mean vector of a multivector slot (version 2).
    VectorMeans = 14,
    /// The payload indexes (version 3).
    PayloadIndexes = 15,
    /// The rotation seed, center and centroids of rotated codes.
    Rotation = 16,
    /// Each row's two factors (rotated codes).
    CodeFactors = 17,
    /// Each row's centroid number (rotated codes).
    CodeCentroids = 18,
}

pub const SECTIONS: [Section; 18] = [
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
    Section::VectorOffsets,
    Section::VectorSlots,
    Section::VectorMeans,
    Section::PayloadIndexes,
    Section::Rotation,
    Section::CodeFactors,
    Section::CodeCentroids,
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
            Section::VectorOffsets => "vector_offsets",
            Section::VectorSlots => "vector_slots",
            Section::VectorMeans => "vector_means",
            Section::PayloadIndexes => "payload_indexes",
            Section::Rotation => "rotation",
            Section::CodeFactors => "code_factors",
            Section::CodeCentroids => "code_centroids",
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        SECTIONS.into_iter().find(|s| *s as u32 == code)
    }

    /// Its place in [`SECTIONS`].
    fn index(self) -> usize {
        self as usize - 1
    }

    /// True for the sections a version 2 file has once per vector slot (the slot number
    /// is the table entry's `flags`).
    pub fn per_slot(self) -> bool {
        matches!(
            self,
            Section::Originals
                | Section::Codes
                | Section::QuantParams
                | Section::Norms
                | Section::BinaryStats
                | Section::VectorOffsets
                | Section::VectorMeans
                | Section::Rotation
                | Section::CodeFactors
                | Section::CodeCentroids
        )
    }
}

/// One vector slot of a segment file.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotLayout {
    /// The vector's name (`""`: the default vector).
    pub name: String,
    /// Components per vector.
    pub dim: usize,
    /// How its vectors are compared.
    pub distance: Distance,
    /// How its originals are stored.
    pub datatype: Datatype,
    /// What its codes section holds.
    pub code_kind: CodeKind,
    /// True for a multivector.
    pub multi: bool,
    /// Vectors stored (rows of its originals section).
    pub vectors: usize,
}

impl SlotLayout {
    /// Code size per vector in 8-byte words.
    pub fn code_words(&self) -> usize {
        self.code_kind.words(self.dim)
    }
}

const SLOT_FIXED: usize = 24;

/// Encodes the `vector_slots` section.
pub fn encode_slots(slots: &[SlotLayout]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(slots.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for s in slots {
        out.extend_from_slice(&(s.vectors as u64).to_le_bytes());
        out.extend_from_slice(&(s.dim as u32).to_le_bytes());
        out.push(s.distance.code());
        out.push(s.datatype.code());
        out.push(s.code_kind.code());
        out.push(u8::from(s.multi));
        out.extend_from_slice(&(s.name.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(s.name.as_bytes());
    }
    out
}

/// Decodes the `vector_slots` section (offsets relative to it).
pub fn decode_slots(bytes: &[u8]) -> Result<Vec<SlotLayout>, DecodeError> {
    let mut r = Reader::new(bytes);
    let count = r.len_u32(MAX_NAMED_VECTORS + 1, "slot count")?;
    let _reserved = r.u32("reserved")?;
    let mut slots: Vec<SlotLayout> = Vec::with_capacity(count.min(r.remaining() / SLOT_FIXED));
    for i in 0..count {
        let at = r.pos();
        let vectors = r.len_u64(u32::MAX as usize, "vector count")?;
        let dim = r.len_u32(MAX_DIM, "dim")?;
        let distance = Distance::from_code(r.u8("distance")?)
            .ok_or_else(|| DecodeError::invalid(at + 12, "unknown distance code"))?;
        let datatype = Datatype::from_code(r.u8("datatype")?)
            .ok_or_else(|| DecodeError::invalid(at + 13, "unknown datatype code"))?;
        let code_kind = CodeKind::from_code(r.u8("code_kind")?)
            .ok_or_else(|| DecodeError::invalid(at + 14, "unknown code kind"))?;
        let multi = match r.u8("multivector flag")? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::invalid(at + 15, "invalid multivector flag")),
        };
        let name_len = r.len_u32(MAX_VECTOR_NAME_BYTES, "name length")?;
        let _reserved = r.u32("reserved")?;
        let name = std::str::from_utf8(r.bytes(name_len, "name")?)
            .map_err(|_| DecodeError::invalid(at + SLOT_FIXED, "vector name is not UTF-8"))?
            .to_string();
        if dim == 0 {
            return Err(DecodeError::invalid(at + 8, "dim is 0"));
        }
        let ordered = match slots.last() {
            None => name.is_empty(),
            Some(prev) => i > 0 && !name.is_empty() && prev.name < name,
        };
        if !ordered {
            return Err(DecodeError::invalid(
                at + SLOT_FIXED,
                "vector names not in order (the default one first, then by name)",
            ));
        }
        slots.push(SlotLayout {
            name,
            dim,
            distance,
            datatype,
            code_kind,
            multi,
            vectors,
        });
    }
    if r.remaining() != 0 {
        return Err(DecodeError::invalid(
            r.pos(),
            "trailing bytes after the last slot",
        ));
    }
    Ok(slots)
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

/// The fixed part of a `rotation` section: seed, centroid count, reserved.
const ROTATION_FIXED: usize = 16;

/// Encodes a rotated-code quantizer's `rotation` section.
pub fn encode_rotation(r: &Rotated) -> Vec<u8> {
    let mut out = Vec::with_capacity(ROTATION_FIXED + 4 * (r.center.len() + r.centroids.len()));
    out.extend_from_slice(&r.seed.to_le_bytes());
    out.extend_from_slice(&(r.centroid_count() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for v in r.center.iter().chain(&r.centroids) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes and checks a `rotation` section for `dim` components of `bits` bits (1 or 2:
/// the code kind's).
pub fn decode_rotation(bytes: &[u8], dim: usize, bits: u32) -> Result<Rotated, DecodeError> {
    let mut r = Reader::new(bytes);
    let seed = r.u64("rotation seed")?;
    let at = r.pos();
    let count = r.len_u32(MAX_CENTROIDS, "centroid count")?;
    if count == 0 {
        return Err(DecodeError::invalid(at, "no centroid"));
    }
    let _reserved = r.u32("reserved")?;
    if r.remaining() != 4 * dim * (count + 1) {
        return Err(DecodeError::invalid(
            0,
            "rotation section has the wrong length for its centroids",
        ));
    }
    let mut floats = |n: usize| -> Result<Vec<f32>, DecodeError> {
        (0..n)
            .map(|_| {
                let at = r.pos();
                let v = f32::from_le_bytes(r.array("centroid")?);
                if v.is_finite() {
                    Ok(v)
                } else {
                    Err(DecodeError::invalid(at, "non-finite centroid"))
                }
            })
            .collect()
    };
    let center = floats(dim)?;
    let centroids = floats(dim * count)?;
    Ok(Rotated::new(seed, dim, bits, center, centroids))
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
    /// The format version the file needs (1: one dense vector per row; 2: vector slots).
    pub version: u16,
    /// The vector slots: for version 1, one slot made from the header (row `r` is
    /// vector `r`, without offsets).
    pub slots: Vec<SlotLayout>,
    table_offset: usize,
    sections: SectionTable,
}

/// The sections of a file by slot and kind: found in O(1), since reads look sections up
/// per row (ids, versions, payloads).
#[derive(Debug, Clone, Default)]
struct SectionTable {
    by_slot: Vec<[Option<SectionEntry>; SECTIONS.len()]>,
}

impl SectionTable {
    fn get(&self, s: Section, slot: usize) -> Option<&SectionEntry> {
        self.by_slot.get(slot)?.get(s.index())?.as_ref()
    }

    /// Adds a section (`slot` is at most `MAX_NAMED_VECTORS`); false if it is there already.
    fn insert(&mut self, s: Section, slot: usize, entry: SectionEntry) -> bool {
        if self.by_slot.len() <= slot {
            self.by_slot.resize_with(slot + 1, Default::default);
        }
        match self
            .by_slot
            .get_mut(slot)
            .and_then(|k| k.get_mut(s.index()))
        {
            Some(e) if e.is_none() => {
                *e = Some(entry);
                true
            }
            _ => false,
        }
    }

    /// Every section as `(kind, slot, entry)`.
    fn iter(&self) -> impl Iterator<Item = (Section, usize, &SectionEntry)> {
        self.by_slot.iter().enumerate().flat_map(|(slot, kinds)| {
            SECTIONS
                .iter()
                .zip(kinds)
                .filter_map(move |(k, e)| Some((*k, slot, e.as_ref()?)))
        })
    }
}

impl Layout {
    /// Code size per row in 8-byte words.
    pub fn code_words(&self) -> usize {
        self.header.code_kind.words(self.header.dim)
    }

    /// The byte range of a section of slot 0 or of the segment (empty for an absent
    /// optional section).
    pub fn range(&self, s: Section) -> Range<usize> {
        self.range_at(s, 0)
    }

    /// The byte range of section `s` of vector slot `slot`.
    pub fn range_at(&self, s: Section, slot: usize) -> Range<usize> {
        self.entry(s, slot).map_or(0..0, |e| e.range.clone())
    }

    /// True when rows locate their vectors through offsets (version 2).
    pub fn has_slots(&self) -> bool {
        self.version >= 2
    }

    /// Checks every section's CRC; on a mismatch returns the section, its byte range, and
    /// the stored and computed CRC.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), (Section, Range<usize>, u32, u32)> {
        for (s, _, e) in self.sections.iter() {
            let got = crc32(0, bytes.get(e.range.clone()).unwrap_or_default());
            if got != e.crc {
                return Err((s, e.range.clone(), e.crc, got));
            }
        }
        Ok(())
    }

    fn entry(&self, s: Section, slot: usize) -> Option<&SectionEntry> {
        self.sections.get(s, slot)
    }

    /// The offset of the first non-zero byte in the padding between header, sections and
    /// section table (padding MUST be zero, and no CRC covers it).
    pub fn nonzero_padding(&self, bytes: &[u8]) -> Option<usize> {
        let mut used: Vec<Range<usize>> = self
            .sections
            .iter()
            .map(|(_, _, e)| e.range.clone())
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
    let version = check_magic_and_version(
        &mut r,
        &SEGMENT_MAGIC,
        "segment file",
        SEGMENT_FORMAT_VERSION,
    )?;
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

    let mut sections = SectionTable::default();
    let mut t = Reader::new(table);
    for i in 0..section_count {
        let at = table_offset + i * ENTRY_LEN;
        let kind_code = t.u32("section kind")?;
        let flags = t.u32("section flags")? as usize;
        let offset = t.len_u64(bytes.len(), "section offset")?;
        let length = t.len_u64(bytes.len(), "section length")?;
        let crc = t.u32("section crc")?;
        let _reserved = t.u32("reserved")?;
        let kind = Section::from_code(kind_code)
            .filter(|k| match k {
                Section::VectorOffsets | Section::VectorSlots | Section::VectorMeans => {
                    version >= 2
                }
                Section::PayloadIndexes => version >= 3,
                _ => true,
            })
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
        // Version 1 readers ignored flags; only version 2 gives them a meaning.
        let slot = if version >= 2 { flags } else { 0 };
        if slot > 0 && !kind.per_slot() || slot > MAX_NAMED_VECTORS {
            return Err(DecodeError::invalid(
                at + 4,
                format!("section {} has an invalid slot {slot}", kind.name()),
            ));
        }
        let entry = SectionEntry {
            range: offset..end,
            crc,
        };
        if !sections.insert(kind, slot, entry) {
            return Err(DecodeError::invalid(
                at,
                format!("section {} twice", kind.name()),
            ));
        }
    }
    let find = |s: Section, slot: usize| sections.get(s, slot);

    let slots = if version >= 2 {
        let entry = find(Section::VectorSlots, 0)
            .ok_or_else(|| DecodeError::invalid(table_offset, "section vector_slots missing"))?;
        let range = entry.range.clone();
        let slots = decode_slots(slice(bytes, range.clone(), "vector slots")?)
            .map_err(|e| e.shifted(range.start as u64))?;
        let Some(first) = slots.first() else {
            return Err(DecodeError::invalid(range.start, "no vector slot"));
        };
        if (first.dim, first.distance, first.datatype, first.code_kind)
            != (dim, distance, datatype, code_kind)
        {
            return Err(DecodeError::invalid(
                range.start,
                "slot 0 disagrees with the header",
            ));
        }
        slots
    } else {
        vec![SlotLayout {
            name: String::new(),
            dim,
            distance,
            datatype,
            code_kind,
            multi: false,
            vectors: rows,
        }]
    };

    let segment_sections = [
        Section::IdKinds,
        Section::IdValues,
        Section::Versions,
        Section::PayloadPresent,
        Section::PayloadOffsets,
        Section::PayloadBlob,
    ];
    let expected_len = |s: Section| -> Result<Option<usize>, DecodeError> {
        Ok(match s {
            Section::IdKinds => Some(rows),
            Section::IdValues => Some(mul(rows, 16, 24)?),
            Section::Versions => Some(mul(rows, 8, 24)?),
            Section::PayloadPresent => Some(mul(rows.div_ceil(64), 8, 24)?),
            Section::PayloadOffsets => Some(mul(rows + 1, 8, 24)?),
            _ => None,
        })
    };
    let check = |s: Section, slot: usize, required: bool, len: Option<usize>| {
        let entry = find(s, slot);
        if !required {
            return match entry {
                Some(_) => Err(DecodeError::invalid(
                    38,
                    format!("section {} without its code kind", s.name()),
                )),
                None => Ok(()),
            };
        }
        let entry = entry.ok_or_else(|| {
            DecodeError::invalid(table_offset, format!("section {} missing", s.name()))
        })?;
        match len {
            Some(len) if entry.range.len() != len => Err(DecodeError::invalid(
                table_offset,
                format!(
                    "section {} is {} bytes, expected {len}",
                    s.name(),
                    entry.range.len()
                ),
            )),
            _ => Ok(()),
        }
    };
    for s in segment_sections {
        check(s, 0, true, expected_len(s)?)?;
    }
    for (n, slot) in slots.iter().enumerate() {
        let (v, d, kind) = (slot.vectors, slot.dim, slot.code_kind);
        let scalar = kind == CodeKind::ScalarInt8;
        let words = kind.words(d);
        check(
            Section::Originals,
            n,
            true,
            Some(mul(mul(v, d, 24)?, slot.datatype.size(), 24)?),
        )?;
        // Rotated codes are stored in whole blocks of 32 rows.
        let rotated = kind.rotated_bits().is_some();
        let coded = if rotated {
            v.div_ceil(BLOCK_ROWS) * BLOCK_ROWS
        } else {
            v
        };
        check(
            Section::Codes,
            n,
            kind != CodeKind::None,
            Some(mul(mul(coded, words, 24)?, 8, 24)?),
        )?;
        check(Section::QuantParams, n, scalar, Some(PARAMS_FIXED + 8 * d))?;
        check(Section::Norms, n, scalar, Some(mul(v, 4, 24)?))?;
        check(
            Section::BinaryStats,
            n,
            matches!(kind, CodeKind::TwoBits | CodeKind::OneAndHalfBits),
            Some(mul(d, 8, 32)?),
        )?;
        check(Section::Rotation, n, rotated, None)?;
        check(Section::CodeFactors, n, rotated, Some(mul(v, 8, 24)?))?;
        check(Section::CodeCentroids, n, rotated, Some(v))?;
        check(
            Section::VectorOffsets,
            n,
            version >= 2,
            Some(mul(rows + 1, 8, 24)?),
        )?;
        check(
            Section::VectorMeans,
            n,
            version >= 2 && slot.multi,
            Some(mul(mul(rows, d, 24)?, 4, 24)?),
        )?;
    }
    if let Some((k, n, _)) = sections.iter().find(|(_, n, _)| *n >= slots.len()) {
        return Err(DecodeError::invalid(
            table_offset,
            format!("section {} of slot {n}, which is not declared", k.name()),
        ));
    }

    let mut ranges: Vec<Range<usize>> = sections.iter().map(|(_, _, e)| e.range.clone()).collect();
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
        version,
        slots,
        table_offset,
        sections,
    };
    for (n, slot) in layout
        .slots
        .iter()
        .enumerate()
        .filter(|_| layout.has_slots())
    {
        let range = layout.range_at(Section::VectorOffsets, n);
        let offsets = slice(bytes, range.clone(), "vector offsets")?;
        let max_run = if slot.multi { MAX_MULTIVECTOR_LEN } else { 1 } as u64;
        let mut prev = 0u64;
        for (i, word) in offsets.as_chunks::<8>().0.iter().enumerate() {
            let off = u64::from_le_bytes(*word);
            if off < prev || off - prev > max_run || (i == 0 && off != 0) {
                return Err(DecodeError::invalid(
                    range.start + i * 8,
                    "vector offsets not increasing, or a row with too many vectors",
                ));
            }
            prev = off;
        }
        if prev != slot.vectors as u64 {
            return Err(DecodeError::invalid(
                range.end,
                "vector offsets do not end at the slot's vector count",
            ));
        }
    }
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
