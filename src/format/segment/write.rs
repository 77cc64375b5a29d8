//! Writing segment files: [`SegmentWriter`] streams one front to back (the optimizer's and
//! the sealer's builds), [`encode`] writes one from in-memory columns (the golden files).

use std::io;

use super::super::{
    FORMAT_VERSION, SEGMENT_FOOTER_MAGIC, SEGMENT_FORMAT_VERSION, SEGMENT_MAGIC, crc32,
    put_magic_and_version,
};
use super::{
    CodeKind, ENTRY_LEN, FOOTER_LEN, HEADER_LEN, SECTION_ALIGN, SECTIONS, Section, SegmentHeader,
    SlotLayout, encode_rotation, encode_scalar_params, encode_slots,
};
use crate::config::{Datatype, Distance};
use crate::point::PointId;
use crate::quant::binary::MultiBit;
use crate::quant::rotated::{Rotated, RowFactors};
use crate::quant::scalar::ScalarParams;

/// The columns of a segment, rows sorted by id.
#[derive(Debug)]
pub struct SegmentColumns<'a> {
    /// The segment id (its file name).
    pub segment_id: u64,
    /// Components per vector.
    pub dim: usize,
    /// The collection's distance.
    pub distance: Distance,
    /// How originals are stored.
    pub datatype: Datatype,
    /// What the codes section holds.
    pub code_kind: CodeKind,
    /// Point ids, sorted.
    pub ids: &'a [PointId],
    /// WAL sequence number of each row's write.
    pub versions: &'a [u64],
    /// Row-major originals, `dim × datatype.size()` little-endian bytes per row.
    pub originals: &'a [u8],
    /// Row-major codes, `8 · code_kind.words(dim)` bytes per row.
    pub codes: &'a [u8],
    /// Each row's payload.
    pub payloads: &'a [Option<&'a [u8]>],
    /// The quantizer and each row's `‖x‖²`, for `CodeKind::ScalarInt8`.
    pub scalar: Option<(&'a ScalarParams, &'a [f32])>,
    /// Per-dimension statistics, for `CodeKind::TwoBits` and `OneAndHalfBits`.
    pub binary_stats: Option<&'a MultiBit>,
    /// The quantizer and each row's centroid and factors, for `CodeKind::RotatedOneBit`.
    pub rotated: Option<(&'a Rotated, &'a [RowFactors])>,
}

/// One vector slot of a version 2 segment, in memory (the golden files' writer).
#[derive(Debug)]
pub struct SlotColumns<'a> {
    /// Name, shape, code kind and vector count.
    pub layout: SlotLayout,
    /// `rows + 1` offsets into the slot's vectors.
    pub offsets: &'a [u64],
    /// For a multivector, `dim` floats per row: the mean of its vectors.
    pub means: &'a [f32],
    /// Every vector's original, `dim × datatype.size()` bytes each.
    pub originals: &'a [u8],
    /// Every vector's code, `8 · code_kind.words(dim)` bytes each.
    pub codes: &'a [u8],
    /// The quantizer and each vector's `‖x‖²`, for `CodeKind::ScalarInt8`.
    pub scalar: Option<(&'a ScalarParams, &'a [f32])>,
    /// Per-dimension statistics, for `CodeKind::TwoBits` and `OneAndHalfBits`.
    pub binary_stats: Option<&'a MultiBit>,
    /// The quantizer and each row's centroid and factors, for `CodeKind::RotatedOneBit`.
    pub rotated: Option<(&'a Rotated, &'a [RowFactors])>,
}

/// Where a [`SegmentWriter`] puts its bytes: appended in order, except the header, which
/// is known last and written over the placeholder at offset 0.
pub trait Sink {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    fn write_header(&mut self, header: &[u8]) -> io::Result<()>;
}

impl Sink for Vec<u8> {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }

    fn write_header(&mut self, header: &[u8]) -> io::Result<()> {
        let n = header.len().min(self.len());
        self.splice(..n, header.iter().copied());
        Ok(())
    }
}

/// Writes a segment file front to back in one pass: sections are streamed (each CRC is
/// computed as its bytes go by), then the section table and footer; the header, which
/// holds the table's offset and CRC, is written last over a placeholder. Memory use is the
/// table (32 bytes per section), whatever the file's size.
pub struct SegmentWriter<S> {
    sink: S,
    pos: u64,
    table: Vec<u8>,
    sections: u32,
    open: Option<OpenSection>,
    /// 1, or 2 once a `vector_slots` section is written.
    version: u16,
}

struct OpenSection {
    kind: Section,
    slot: u32,
    start: u64,
    crc: crc32fast::Hasher,
}

const ZEROS: [u8; SECTION_ALIGN] = [0; SECTION_ALIGN];

impl<S: Sink> SegmentWriter<S> {
    /// Starts a file: writes the header placeholder.
    pub fn new(mut sink: S) -> io::Result<Self> {
        sink.append(&[0; HEADER_LEN])?;
        Ok(SegmentWriter {
            sink,
            pos: HEADER_LEN as u64,
            table: Vec::with_capacity(SECTIONS.len() * ENTRY_LEN),
            sections: 0,
            open: None,
            version: FORMAT_VERSION,
        })
    }

    fn pad_to(&mut self, align: u64) -> io::Result<()> {
        let pad = (self.pos.div_ceil(align) * align - self.pos) as usize;
        self.sink.append(ZEROS.get(..pad).unwrap_or_default())?;
        self.pos += pad as u64;
        Ok(())
    }

    /// Ends the open section (if any) and starts `kind`, 64-byte aligned.
    pub fn section(&mut self, kind: Section) -> io::Result<()> {
        self.section_at(kind, 0)
    }

    /// Starts section `kind` of vector slot `slot` (version 2; slot 0 is also the
    /// version 1 section). Writing a `vector_slots` section makes the file version 2 (at
    /// least), a `payload_indexes` section version 3.
    pub fn section_at(&mut self, kind: Section, slot: usize) -> io::Result<()> {
        self.close_section();
        self.pad_to(SECTION_ALIGN as u64)?;
        match kind {
            Section::VectorSlots => self.version = self.version.max(2),
            Section::PayloadIndexes => self.version = SEGMENT_FORMAT_VERSION,
            _ => {}
        }
        self.open = Some(OpenSection {
            kind,
            slot: slot as u32,
            start: self.pos,
            crc: crc32fast::Hasher::new(),
        });
        Ok(())
    }

    /// Appends bytes to the open section.
    pub fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(open) = &mut self.open {
            open.crc.update(bytes);
        }
        self.sink.append(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn close_section(&mut self) {
        if let Some(open) = self.open.take() {
            self.table
                .extend_from_slice(&(open.kind as u32).to_le_bytes());
            self.table.extend_from_slice(&open.slot.to_le_bytes());
            self.table.extend_from_slice(&open.start.to_le_bytes());
            self.table
                .extend_from_slice(&(self.pos - open.start).to_le_bytes());
            self.table
                .extend_from_slice(&open.crc.finalize().to_le_bytes());
            self.table.extend_from_slice(&0u32.to_le_bytes());
            self.sections += 1;
        }
    }

    /// Ends the last section, writes the table, the footer and the header; returns the sink.
    pub fn finish(mut self, h: &SegmentHeader) -> io::Result<S> {
        self.close_section();
        self.pad_to(8)?;
        let table_offset = self.pos;
        let table = std::mem::take(&mut self.table);
        self.sink.append(&table)?;
        self.pos += table.len() as u64;

        let mut header = Vec::with_capacity(HEADER_LEN);
        put_magic_and_version(&mut header, &SEGMENT_MAGIC, self.version);
        header.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        header.extend_from_slice(&h.segment_id.to_le_bytes());
        header.extend_from_slice(&(h.rows as u64).to_le_bytes());
        header.extend_from_slice(&(h.dim as u32).to_le_bytes());
        header.push(h.distance.code());
        header.push(h.datatype.code());
        header.push(h.code_kind.code());
        header.push(0);
        header.extend_from_slice(&(h.code_kind.words(h.dim) as u32).to_le_bytes());
        header.extend_from_slice(&self.sections.to_le_bytes());
        header.extend_from_slice(&table_offset.to_le_bytes());
        header.extend_from_slice(&crc32(0, &table).to_le_bytes());
        let header_crc = crc32(0, &header);
        header.extend_from_slice(&header_crc.to_le_bytes());

        let file_len = self.pos + FOOTER_LEN as u64;
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        footer.extend_from_slice(&SEGMENT_FOOTER_MAGIC);
        footer.extend_from_slice(&file_len.to_le_bytes());
        footer.extend_from_slice(&table_offset.to_le_bytes());
        footer.extend_from_slice(&0u32.to_le_bytes());
        let footer_crc = crc32(0, &footer);
        footer.extend_from_slice(&footer_crc.to_le_bytes());
        self.sink.append(&footer)?;
        self.sink.write_header(&header)?;
        Ok(self.sink)
    }
}

/// The `id_kinds`, `id_values`, `versions` and payload sections of `ids`, `versions` and
/// `payloads`, in file order.
fn row_sections(
    ids: &[PointId],
    versions: &[u64],
    payloads: &[Option<&[u8]>],
) -> [(Section, Vec<u8>); 6] {
    let rows = ids.len();
    let kinds: Vec<u8> = ids.iter().map(|id| id.kind_code()).collect();
    let values: Vec<u8> = ids.iter().flat_map(|id| id.value().to_le_bytes()).collect();
    let versions: Vec<u8> = versions.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut present = vec![0u64; rows.div_ceil(64)];
    let mut offsets = Vec::with_capacity((rows + 1) * 8);
    let mut blob = Vec::new();
    offsets.extend_from_slice(&0u64.to_le_bytes());
    for (row, p) in payloads.iter().enumerate() {
        if let Some(p) = p {
            if let Some(word) = present.get_mut(row / 64) {
                *word |= 1 << (row % 64);
            }
            blob.extend_from_slice(p);
        }
        offsets.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    }
    let present: Vec<u8> = present.iter().flat_map(|w| w.to_le_bytes()).collect();
    [
        (Section::IdKinds, kinds),
        (Section::IdValues, values),
        (Section::Versions, versions),
        (Section::PayloadPresent, present),
        (Section::PayloadOffsets, offsets),
        (Section::PayloadBlob, blob),
    ]
}

/// The quantizer sections of one slot, in file order.
fn quantizer_sections(
    scalar: Option<(&ScalarParams, &[f32])>,
    binary_stats: Option<&MultiBit>,
    rotated: Option<(&Rotated, &[RowFactors])>,
) -> Vec<(Section, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(stats) = binary_stats {
        let values = stats.mean.iter().chain(&stats.std);
        out.push((
            Section::BinaryStats,
            values.flat_map(|v| v.to_le_bytes()).collect(),
        ));
    }
    if let Some((params, rows)) = rotated {
        out.push((Section::Rotation, encode_rotation(params)));
        out.extend(rotated_row_sections(rows));
    }
    if let Some((params, norms)) = scalar {
        out.push((Section::QuantParams, encode_scalar_params(params)));
        out.push((
            Section::Norms,
            norms.iter().flat_map(|n| n.to_le_bytes()).collect(),
        ));
    }
    out
}

/// The `code_factors` and `code_centroids` sections of rotated codes.
pub fn rotated_row_sections(rows: &[RowFactors]) -> [(Section, Vec<u8>); 2] {
    let factors = rows
        .iter()
        .flat_map(|r| r.factors)
        .flat_map(f32::to_le_bytes)
        .collect();
    let centroids = rows.iter().map(|r| r.centroid).collect();
    [
        (Section::CodeFactors, factors),
        (Section::CodeCentroids, centroids),
    ]
}

/// Encodes a whole version 2 segment file (vector slots) from in-memory columns: the
/// rows' sections, then per slot its offsets, originals, codes and quantizer, then the
/// slot table. The header describes slot 0.
pub fn encode_with_slots(
    segment_id: u64,
    ids: &[PointId],
    versions: &[u64],
    payloads: &[Option<&[u8]>],
    slots: &[SlotColumns<'_>],
    payload_indexes: Option<&[u8]>,
) -> io::Result<Vec<u8>> {
    let mut w = SegmentWriter::new(Vec::new())?;
    for (kind, body) in row_sections(ids, versions, payloads) {
        w.section(kind)?;
        w.put(&body)?;
    }
    if let Some(body) = payload_indexes {
        w.section(Section::PayloadIndexes)?;
        w.put(body)?;
    }
    for (n, slot) in slots.iter().enumerate() {
        let offsets: Vec<u8> = slot.offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
        let mut bodies = vec![(Section::VectorOffsets, offsets)];
        if slot.layout.multi {
            let means = slot.means.iter().flat_map(|x| x.to_le_bytes()).collect();
            bodies.push((Section::VectorMeans, means));
        }
        bodies.push((Section::Originals, slot.originals.to_vec()));
        if slot.layout.code_kind != CodeKind::None {
            bodies.push((Section::Codes, slot.codes.to_vec()));
        }
        bodies.extend(quantizer_sections(
            slot.scalar,
            slot.binary_stats,
            slot.rotated,
        ));
        for (kind, body) in bodies {
            w.section_at(kind, n)?;
            w.put(&body)?;
        }
    }
    let layouts: Vec<SlotLayout> = slots.iter().map(|s| s.layout.clone()).collect();
    w.section(Section::VectorSlots)?;
    w.put(&encode_slots(&layouts))?;
    let first = layouts.first().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "a segment needs a vector slot")
    })?;
    w.finish(&SegmentHeader {
        segment_id,
        rows: ids.len(),
        dim: first.dim,
        distance: first.distance,
        datatype: first.datatype,
        code_kind: first.code_kind,
    })
}

/// Encodes a whole segment file from in-memory columns (the golden files' writer).
pub fn encode(c: &SegmentColumns<'_>) -> io::Result<Vec<u8>> {
    let [kinds, values, versions, present, offsets, blob] =
        row_sections(c.ids, c.versions, c.payloads);
    let mut bodies: Vec<(Section, Vec<u8>)> = vec![
        kinds,
        values,
        versions,
        (Section::Originals, c.originals.to_vec()),
    ];
    if c.code_kind != CodeKind::None {
        bodies.push((Section::Codes, c.codes.to_vec()));
    }
    bodies.extend([present, offsets, blob]);
    bodies.extend(quantizer_sections(c.scalar, c.binary_stats, c.rotated));
    let mut w = SegmentWriter::new(Vec::new())?;
    for (kind, body) in &bodies {
        w.section(*kind)?;
        w.put(body)?;
    }
    w.finish(&SegmentHeader {
        segment_id: c.segment_id,
        rows: c.ids.len(),
        dim: c.dim,
        distance: c.distance,
        datatype: c.datatype,
        code_kind: c.code_kind,
    })
}
