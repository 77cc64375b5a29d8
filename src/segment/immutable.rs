//! Immutable segment files: written once, renamed into place, then memory-mapped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::{Bitmap, Column, Originals, RotatedCodes, Rows, ScalarCodes};
use crate::config::Datatype;
use crate::error::{Error, Result};
use crate::filter::index::{self, BlockIndexes, FilterCache, IndexCache, IndexSpecs};
use crate::format::segment::{self, CodeKind, Layout, Section};
use crate::io::Fs;
use crate::io::{MappedFile, Vfs};
use crate::point::PointId;
use crate::quant::binary::MultiBit;
use crate::quant::rotated::Rotated;
use crate::quant::scalar::ScalarParams;

/// What is known of a segment file's checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// Not checked yet since the collection was opened (the background check is on its
    /// way).
    Unchecked,
    /// Every section CRC, the padding and the id order were checked and hold, or this
    /// process wrote the file.
    Verified,
    /// A check failed: reads that touch the segment return the error.
    Damaged,
}

const UNCHECKED: u8 = 0;
const VERIFIED: u8 = 1;
const DAMAGED: u8 = 2;

/// A failed check, kept so that every later read can report it.
#[derive(Debug, Clone)]
enum Damage {
    Checksum {
        section: &'static str,
        offset: u64,
        end: u64,
        expected: u32,
        got: u32,
    },
    Corrupted {
        offset: u64,
        what: String,
    },
}

/// The quantizer parameters of one vector slot.
#[derive(Debug)]
struct SlotParams {
    scalar: Option<ScalarParams>,
    multi_bit: Option<MultiBit>,
    rotated: Option<Rotated>,
    /// A slot's scalar codes' sign sketches, made on the first search that compares them
    /// (multivector int8 search, or a single vector's `SearchParams::sketch_pool`): the
    /// codes are read once; the sketch costs an eighth of their size in RAM.
    sketch: OnceLock<Vec<u64>>,
}

/// An open segment file. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct ImmutableSegment {
    path: PathBuf,
    map: MappedFile,
    layout: Layout,
    /// The trained quantizer of each vector slot.
    params: Vec<SlotParams>,
    /// `UNCHECKED`, `VERIFIED` or `DAMAGED` (then `damage` says what failed).
    checks: AtomicU8,
    damage: Mutex<Option<Damage>>,
    /// The payload indexes the file holds (schema by key), and each one's values and
    /// bytes in the file.
    persisted_indexes: IndexSpecs,
    persisted_sizes: Vec<(u64, u64)>,
    /// The payload indexes in use: the file's, and those made from payloads for indexes
    /// created after the file was written.
    indexes: IndexCache,
    /// The rows recent filters pass.
    filters: FilterCache,
}

impl ImmutableSegment {
    /// Maps the file and checks header, footer, section table and every length against the
    /// file size. Section CRCs are checked by [`verify`](Self::verify).
    pub(crate) fn open(vfs: &dyn Vfs, path: &Path) -> Result<Self> {
        let map = vfs.map_file(path)?;
        let layout = segment::parse(map.bytes()).map_err(|e| e.in_file(path))?;
        let mut params = Vec::with_capacity(layout.slots.len());
        for (n, slot) in layout.slots.iter().enumerate() {
            let scalar = match slot.code_kind {
                CodeKind::ScalarInt8 => {
                    let range = layout.range_at(Section::QuantParams, n);
                    let bytes = map.bytes().get(range.clone()).unwrap_or_default();
                    let params = segment::decode_scalar_params(bytes, slot.dim)
                        .map_err(|e| e.shifted(range.start as u64).in_file(path))?;
                    Some(params)
                }
                CodeKind::None
                | CodeKind::OneBit
                | CodeKind::TwoBits
                | CodeKind::OneAndHalfBits
                | CodeKind::RotatedOneBit
                | CodeKind::RotatedTwoBits => None,
            };
            let multi_bit = match slot.code_kind {
                CodeKind::TwoBits | CodeKind::OneAndHalfBits => {
                    let range = layout.range_at(Section::BinaryStats, n);
                    let bytes = map.bytes().get(range.clone()).unwrap_or_default();
                    let two_bits = slot.code_kind == CodeKind::TwoBits;
                    let stats = segment::decode_binary_stats(bytes, slot.dim, two_bits)
                        .map_err(|e| e.shifted(range.start as u64).in_file(path))?;
                    Some(stats)
                }
                CodeKind::None
                | CodeKind::OneBit
                | CodeKind::ScalarInt8
                | CodeKind::RotatedOneBit
                | CodeKind::RotatedTwoBits => None,
            };
            let rotated = if let Some(bits) = slot.code_kind.rotated_bits() {
                let range = layout.range_at(Section::Rotation, n);
                let bytes = map.bytes().get(range.clone()).unwrap_or_default();
                let params = segment::decode_rotation(bytes, slot.dim, bits)
                    .map_err(|e| e.shifted(range.start as u64).in_file(path))?;
                Some(params)
            } else {
                None
            };
            params.push(SlotParams {
                scalar,
                multi_bit,
                rotated,
                sketch: OnceLock::new(),
            });
        }
        let indexes = IndexCache::default();
        let range = layout.range(Section::PayloadIndexes);
        let fields = if range.is_empty() {
            Vec::new()
        } else {
            let bytes = map.bytes().get(range.clone()).unwrap_or_default();
            segment::decode_payload_indexes(bytes, layout.header.rows)
                .map_err(|e| e.shifted(range.start as u64).in_file(path))?
        };
        let persisted_indexes: IndexSpecs =
            fields.iter().map(|f| (f.key.clone(), f.schema)).collect();
        let persisted_sizes = fields
            .iter()
            .map(|f| (f.keys.len() as u64, segment::payload_index_len(f) as u64))
            .collect();
        indexes.get(&persisted_indexes, |_| fields);
        let seg = ImmutableSegment {
            path: path.to_path_buf(),
            map,
            layout,
            params,
            checks: AtomicU8::new(UNCHECKED),
            damage: Mutex::new(None),
            persisted_indexes,
            persisted_sizes,
            indexes,
            filters: FilterCache::default(),
        };
        // Typed views need natural alignment; sections are 64-aligned in a page-aligned map.
        let aligned = bytemuck::try_cast_slice::<u8, u64>(seg.section(Section::Versions)).is_ok()
            && seg.layout.slots.iter().enumerate().all(|(n, slot)| {
                let at = |s| seg.section_at(s, n);
                bytemuck::try_cast_slice::<u8, u64>(at(Section::Codes)).is_ok()
                    && bytemuck::try_cast_slice::<u8, f32>(at(Section::Norms)).is_ok()
                    && bytemuck::try_cast_slice::<u8, u64>(at(Section::VectorOffsets)).is_ok()
                    && bytemuck::try_cast_slice::<u8, f32>(at(Section::VectorMeans)).is_ok()
                    && match slot.datatype {
                        Datatype::F32 => {
                            bytemuck::try_cast_slice::<u8, f32>(at(Section::Originals)).is_ok()
                        }
                        Datatype::F16 => {
                            bytemuck::try_cast_slice::<u8, u16>(at(Section::Originals)).is_ok()
                        }
                        Datatype::U8 => true,
                    }
            });
        if !aligned {
            return Err(Error::corrupted(path, 0, "section not aligned in memory"));
        }
        Ok(seg)
    }

    /// Checks every section's CRC, the padding, and the ids (sorted, unique, well formed),
    /// now, and records the verdict ([`checked`](Self::checked) reports a failure from
    /// then on).
    pub(crate) fn verify(&self) -> Result<()> {
        match self.find_damage() {
            None => {
                let _ = self.checks.compare_exchange(
                    UNCHECKED,
                    VERIFIED,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                Ok(())
            }
            Some(damage) => {
                let error = self.error(&damage);
                *self.damage.lock() = Some(damage);
                self.checks.store(DAMAGED, Ordering::SeqCst);
                Err(error)
            }
        }
    }

    /// [`verify`](Self::verify) unless a verdict is known: the background check, and the
    /// input check of a rewrite once the segment is known damaged.
    pub(crate) fn verify_once(&self) -> Result<()> {
        match self.checks.load(Ordering::SeqCst) {
            UNCHECKED => self.verify(),
            _ => self.checked(),
        }
    }

    /// `Err` (`ChecksumMismatch` or `Corrupted`) once a check found the file damaged: the
    /// one atomic load every read of the segment pays.
    pub(crate) fn checked(&self) -> Result<()> {
        if self.checks.load(Ordering::SeqCst) != DAMAGED {
            return Ok(());
        }
        match &*self.damage.lock() {
            Some(damage) => Err(self.error(damage)),
            None => Ok(()),
        }
    }

    /// Marks a file this process just wrote (its CRCs were computed from these bytes).
    pub(crate) fn mark_verified(&self) {
        self.checks.store(VERIFIED, Ordering::SeqCst);
    }

    pub(crate) fn checksum_status(&self) -> ChecksumStatus {
        match self.checks.load(Ordering::SeqCst) {
            UNCHECKED => ChecksumStatus::Unchecked,
            VERIFIED => ChecksumStatus::Verified,
            _ => ChecksumStatus::Damaged,
        }
    }

    fn find_damage(&self) -> Option<Damage> {
        if let Err((section, range, expected, got)) = self.layout.verify(self.map.bytes()) {
            return Some(Damage::Checksum {
                section: section.name(),
                offset: range.start as u64,
                end: range.end as u64,
                expected,
                got,
            });
        }
        if let Some(at) = self.layout.nonzero_padding(self.map.bytes()) {
            return Some(Damage::Corrupted {
                offset: at as u64,
                what: "non-zero padding".into(),
            });
        }
        self.misordered_id().map(|offset| Damage::Corrupted {
            offset,
            what: "ids not strictly increasing or malformed".into(),
        })
    }

    fn error(&self, damage: &Damage) -> Error {
        match damage.clone() {
            Damage::Checksum {
                section,
                offset,
                end,
                expected,
                got,
            } => Error::ChecksumMismatch {
                file: self.path.clone(),
                section,
                offset,
                end,
                expected,
                got,
            },
            Damage::Corrupted { offset, what } => Error::corrupted(&self.path, offset, what),
        }
    }

    /// The file's size in bytes.
    pub(crate) fn file_len(&self) -> u64 {
        self.map.bytes().len() as u64
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    fn section(&self, s: Section) -> &[u8] {
        self.section_at(s, 0)
    }

    fn section_at(&self, s: Section, slot: usize) -> &[u8] {
        self.map
            .bytes()
            .get(self.layout.range_at(s, slot))
            .unwrap_or_default()
    }

    /// Bytes of each part of the file: `(ids + versions + vector offsets, originals,
    /// codes, payloads)`, over every vector slot.
    pub(crate) fn section_bytes(&self) -> (u64, u64, u64, u64) {
        let len = |s| self.layout.range(s).len() as u64;
        let slots = |s| {
            (0..self.layout.slots.len())
                .map(|n| self.layout.range_at(s, n).len() as u64)
                .sum::<u64>()
        };
        (
            len(Section::IdKinds)
                + len(Section::IdValues)
                + len(Section::Versions)
                + slots(Section::VectorOffsets)
                + len(Section::PayloadPresent)
                + len(Section::PayloadOffsets),
            slots(Section::Originals),
            slots(Section::Codes)
                + slots(Section::Rotation)
                + slots(Section::CodeFactors)
                + slots(Section::CodeCentroids),
            len(Section::PayloadBlob),
        )
    }

    fn id_value(&self, row: usize) -> u128 {
        self.section(Section::IdValues)
            .get(row * 16..row * 16 + 16)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map_or(0, u128::from_le_bytes)
    }

    fn id_kind(&self, row: usize) -> u8 {
        self.section(Section::IdKinds)
            .get(row)
            .copied()
            .unwrap_or(u8::MAX)
    }

    /// The row holding `id`, by binary search over the sorted ids.
    pub(crate) fn find(&self, id: PointId) -> Option<usize> {
        let key = (id.kind_code(), id.value());
        let (mut lo, mut hi) = (0, self.layout.header.rows);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match (self.id_kind(mid), self.id_value(mid)).cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Checks what `open` leaves to `verify`-time: ids sorted, unique and well formed.
    /// Returns the file offset of the first bad id.
    fn misordered_id(&self) -> Option<u64> {
        let mut prev: Option<(u8, u128)> = None;
        for row in 0..self.layout.header.rows {
            let key = (self.id_kind(row), self.id_value(row));
            if PointId::from_parts(key.0, key.1).is_none() || prev.is_some_and(|p| p >= key) {
                return Some(self.layout.range(Section::IdKinds).start as u64 + row as u64);
            }
            prev = Some(key);
        }
        None
    }

    pub(crate) fn rows(&self) -> usize {
        self.layout.header.rows
    }

    /// The payload indexes the file holds.
    pub(crate) fn persisted_indexes(&self) -> &IndexSpecs {
        &self.persisted_indexes
    }

    /// Each payload index the file holds: key, `(value, row)` pairs, bytes in the file.
    pub(crate) fn persisted_index_sizes(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        self.persisted_indexes
            .keys()
            .zip(&self.persisted_sizes)
            .map(|(k, &(values, bytes))| (k.as_str(), values, bytes))
    }

    /// Heap bytes of the rows its recent filters pass.
    pub(crate) fn filter_cache_bytes(&self) -> u64 {
        self.filters.heap_bytes() as u64
    }

    /// The sign sketches of vector slot 0's scalar codes (see [`Rows::scalar_sketch`]),
    /// made on first use and kept with the slot's, which multivector search shares.
    pub(crate) fn scalar_sketch(&self) -> &[u64] {
        match (self.params.first(), self.column(0).and_then(|c| c.scalar)) {
            (Some(p), Some(codes)) => codes.sketch_in(&p.sketch),
            _ => &[],
        }
    }

    /// Heap bytes of the sign sketches searches have made (see [`Column::sketch`]).
    pub(crate) fn sketch_bytes(&self) -> u64 {
        self.params
            .iter()
            .filter_map(|p| p.sketch.get())
            .map(|s| s.len() as u64 * 8)
            .sum()
    }

    /// The scalar quantizer of slot `slot`, for scalar int8 codes.
    pub(crate) fn scalar_params(&self, slot: usize) -> Option<&ScalarParams> {
        self.params.get(slot)?.scalar.as_ref()
    }

    /// Vector slot `slot` as search reads it.
    fn column(&self, n: usize) -> Option<Column<'_>> {
        let slot = self.layout.slots.get(n)?;
        let params = self.params.get(n)?;
        let at = |s| self.section_at(s, n);
        let binary = slot.code_kind.is_binary();
        let bytes = at(Section::Originals);
        Some(Column {
            dim: slot.dim,
            originals: match slot.datatype {
                Datatype::F32 => {
                    Originals::F32(bytemuck::try_cast_slice(bytes).unwrap_or_default())
                }
                Datatype::F16 => {
                    Originals::F16(bytemuck::try_cast_slice(bytes).unwrap_or_default())
                }
                Datatype::U8 => Originals::U8(bytes),
            },
            codes: if binary {
                bytemuck::try_cast_slice(at(Section::Codes)).unwrap_or_default()
            } else {
                &[]
            },
            code_words: if binary { slot.code_words() } else { 0 },
            scalar: params.scalar.as_ref().map(|p| ScalarCodes {
                params: p,
                codes: at(Section::Codes),
                stride: slot.code_words() * 8,
                norms: bytemuck::try_cast_slice(at(Section::Norms)).unwrap_or_default(),
            }),
            multi_bit: params.multi_bit.as_ref(),
            rotated: params.rotated.as_ref().map(|p| RotatedCodes {
                params: p,
                blocks: at(Section::Codes),
                factors: bytemuck::try_cast_slice(at(Section::CodeFactors)).unwrap_or_default(),
                centroids: at(Section::CodeCentroids),
            }),
            offsets: self
                .layout
                .has_slots()
                .then(|| bytemuck::try_cast_slice(at(Section::VectorOffsets)).unwrap_or_default()),
            means: slot
                .multi
                .then(|| bytemuck::try_cast_slice(at(Section::VectorMeans)).unwrap_or_default()),
            sketch: (slot.multi && params.scalar.is_some()).then_some(&params.sketch),
        })
    }
}

/// A sealed segment with its deletion bitmap: what search scans.
#[derive(Debug)]
pub(crate) struct SegmentRows<'a> {
    pub seg: &'a ImmutableSegment,
    pub deleted: &'a Bitmap,
}

impl Rows for SegmentRows<'_> {
    fn len(&self) -> usize {
        self.seg.layout.header.rows
    }

    fn dim(&self) -> usize {
        self.seg.layout.header.dim
    }

    fn codes(&self) -> &[u64] {
        self.seg.column(0).map_or(&[], |c| c.codes)
    }

    fn version(&self, row: usize) -> u64 {
        self.seg
            .section(Section::Versions)
            .get(row * 8..row * 8 + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    }

    fn stored_bytes(&self, row: usize, out: &mut Vec<u8>) {
        if let Some(c) = self.seg.column(0) {
            c.stored_bytes(row, out);
        }
    }

    fn multi_bit(&self) -> Option<&MultiBit> {
        self.seg.params.first()?.multi_bit.as_ref()
    }

    fn scalar(&self) -> Option<ScalarCodes<'_>> {
        self.seg.column(0)?.scalar
    }

    fn scalar_sketch(&self) -> &[u64] {
        self.seg.scalar_sketch()
    }

    fn rotated(&self) -> Option<RotatedCodes<'_>> {
        self.seg.column(0)?.rotated
    }

    fn code_words(&self) -> usize {
        self.seg.column(0).map_or(0, |c| c.code_words)
    }

    fn originals(&self) -> Originals<'_> {
        self.seg
            .column(0)
            .map_or(Originals::F32(&[]), |c| c.originals)
    }

    fn deleted(&self) -> &Bitmap {
        self.deleted
    }

    fn id(&self, row: usize) -> PointId {
        PointId::from_parts(self.seg.id_kind(row), self.seg.id_value(row))
            .unwrap_or(PointId::Num(u64::MAX))
    }

    fn prefetch_id(&self, row: usize) {
        let kinds = self.seg.section(Section::IdKinds);
        crate::simd::prefetch(kinds.get(row..=row).unwrap_or_default());
        let values = self.seg.section(Section::IdValues);
        crate::simd::prefetch(values.get(row * 16..row * 16 + 16).unwrap_or_default());
    }

    fn payload(&self, row: usize) -> Option<&[u8]> {
        let present = self.seg.section(Section::PayloadPresent);
        let word = present.get(row / 64 * 8..row / 64 * 8 + 8)?;
        let word = u64::from_le_bytes(word.try_into().ok()?);
        if word >> (row % 64) & 1 == 0 {
            return None;
        }
        let offsets = self.seg.section(Section::PayloadOffsets);
        let at = |i: usize| -> Option<usize> {
            let b = offsets.get(i * 8..i * 8 + 8)?;
            usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok()
        };
        let (start, end) = (at(row)?, at(row + 1)?);
        self.seg.section(Section::PayloadBlob).get(start..end)
    }

    fn column(&self, slot: usize) -> Option<Column<'_>> {
        self.seg.column(slot)
    }

    fn row_of(&self, id: PointId) -> Option<usize> {
        self.seg.find(id)
    }

    fn payload_indexes(&self, specs: &IndexSpecs) -> Option<Arc<BlockIndexes>> {
        Some(self.seg.indexes.get(specs, |missing| {
            index::build(missing, self.len(), |row| self.payload(row))
        }))
    }

    fn cached_payload_indexes(&self) -> Option<Arc<BlockIndexes>> {
        self.seg.indexes.cached()
    }

    fn filter_cache(&self) -> Option<&FilterCache> {
        Some(&self.seg.filters)
    }
}
