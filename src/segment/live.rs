//! The live segment: the in-memory rows that take every write after the WAL.
//!
//! It is a list of chunks that never change once a version of the collection that holds
//! them is published: readers search a version's chunks with no lock while the writer
//! builds the next version. A write appends to the last chunk only when no published
//! version holds it yet (a fresh chunk of this write), else starts a new chunk. Chunks
//! under an eighth of the capacity are then merged at the tail, each no more than twice
//! the size of the one after it (rows past a full chunk go on in a new one), so a live
//! segment of `r` rows has at most about `8r / chunk_rows + log2(chunk_rows)` chunks, each
//! row is copied `O(log chunk_rows)` times however small the writes are, and rows of
//! large writes are not copied at all. Search draws one candidate pool across a
//! segment's chunks, so their number costs little. Deleted rows are marked in a bitmap
//! per chunk (copied on write, `rows / 8` bytes) and dropped when their chunk is merged.
//!
//! Chunks keep originals in the stored datatype (so sealing changes no score), ids,
//! versions, payloads and the 1-bit codes. Durability comes from the WAL.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Bitmap, Column, Originals, RotatedCodes, Rows, decode_stored, mean_of};
use crate::config::{Datatype, Distance};
use crate::filter::index::{self, BlockIndexes, IndexCache, IndexSpecs};
use crate::point::PointId;
use crate::quant;
use crate::quant::rotated::{Rotated, RowFactors, blocks_len, transposed_at};
use crate::simd::Kernels;

/// Bytes of originals and codes a chunk holds at most (at least 16 rows).
const CHUNK_BYTES: usize = 4 << 20;

#[derive(Debug, Clone)]
enum OriginalsBuf {
    F32(Vec<f32>),
    F16(Vec<u16>),
    U8(Vec<u8>),
}

impl OriginalsBuf {
    fn with_capacity(datatype: Datatype, values: usize) -> Self {
        match datatype {
            Datatype::F32 => OriginalsBuf::F32(Vec::with_capacity(values)),
            Datatype::F16 => OriginalsBuf::F16(Vec::with_capacity(values)),
            Datatype::U8 => OriginalsBuf::U8(Vec::with_capacity(values)),
        }
    }

    fn view(&self) -> Originals<'_> {
        match self {
            OriginalsBuf::F32(v) => Originals::F32(v),
            OriginalsBuf::F16(v) => Originals::F16(v),
            OriginalsBuf::U8(v) => Originals::U8(v),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            OriginalsBuf::F32(v) => v.capacity() * 4,
            OriginalsBuf::F16(v) => v.capacity() * 2,
            OriginalsBuf::U8(v) => v.capacity(),
        }
    }
}

/// The layout of one vector slot in the live segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColumnShape {
    pub dim: usize,
    pub datatype: Datatype,
    /// 1-bit code words per vector (0: no codes).
    pub code_words: usize,
    /// Rotated codes of these bits per component, with the factors of this distance (one
    /// vector per row only).
    pub rotated: Option<(u32, Distance)>,
    /// False for the one dense vector of a single-vector collection (row `r` is vector
    /// `r`); true when vectors are located through offsets (named vectors, multivectors).
    pub offsets: bool,
    /// True for a multivector: each row also keeps the mean of its vectors.
    pub means: bool,
}

impl ColumnShape {
    fn vector_bytes(self) -> usize {
        let rotated = self.rotated.map_or(0, |(bits, _)| {
            bits as usize * 8 * self.dim.div_ceil(64) + ROTATED_ROW_BYTES
        });
        self.dim * self.datatype.size() + self.code_words * 8 + rotated
    }
}

/// Bytes a rotated code keeps beside its bits: two f32 factors and a centroid number.
const ROTATED_ROW_BYTES: usize = 9;

/// A live column's rotated codes: the codes transposed in blocks of 32 rows as a sealed
/// segment stores them, written row by row as rows arrive, and each row's terms.
#[derive(Debug, Clone)]
struct LiveRotated {
    params: Rotated,
    distance: Distance,
    blocks: Vec<u8>,
    factors: Vec<[f32; 2]>,
    centroids: Vec<u8>,
}

impl LiveRotated {
    fn new(dim: usize, bits: u32, distance: Distance, rows: usize) -> Self {
        let params = Rotated::live(dim, bits);
        LiveRotated {
            blocks: Vec::with_capacity(blocks_len(rows, params.code_bytes())),
            params,
            distance,
            factors: Vec::with_capacity(rows),
            centroids: Vec::with_capacity(rows),
        }
    }

    /// Appends a row's code (its `code_bytes` bytes in row order) and terms.
    fn push(&mut self, code: impl IntoIterator<Item = u8>, terms: RowFactors) {
        let row = self.factors.len();
        let stride = self.params.code_bytes();
        self.blocks.resize(blocks_len(row + 1, stride), 0);
        for (j, b) in code.into_iter().enumerate().take(stride) {
            if let Some(o) = self.blocks.get_mut(transposed_at(row, j, stride)) {
                *o = b;
            }
        }
        self.factors.push(terms.factors);
        self.centroids.push(terms.centroid);
    }

    /// Encodes and appends vector `v`.
    fn encode(&mut self, v: &[f32], kernels: &Kernels) {
        let mut words = vec![0u64; self.params.code_bytes() / 8];
        let terms = self.params.encode(self.distance, v, kernels, &mut words);
        self.push(words.iter().flat_map(|w| w.to_le_bytes()), terms);
    }

    /// Appends row `row` of `from` (same parameters).
    fn copy_row(&mut self, from: &LiveRotated, row: usize) {
        let stride = self.params.code_bytes();
        let code = (0..stride).map(|j| {
            let at = transposed_at(row, j, stride);
            from.blocks.get(at).copied().unwrap_or(0)
        });
        let terms = RowFactors {
            centroid: from.centroids.get(row).copied().unwrap_or(0),
            factors: from.factors.get(row).copied().unwrap_or_default(),
        };
        self.push(code, terms);
    }

    fn heap_bytes(&self) -> usize {
        self.blocks.capacity() + self.factors.capacity() * 8 + self.centroids.capacity()
    }

    fn view(&self) -> RotatedCodes<'_> {
        RotatedCodes {
            params: &self.params,
            blocks: &self.blocks,
            factors: &self.factors,
            centroids: &self.centroids,
        }
    }
}

/// One vector slot of a chunk: originals and 1-bit codes of its vectors, and for an
/// offsets column where each row's vectors start.
#[derive(Debug, Clone)]
struct LiveColumn {
    shape: ColumnShape,
    originals: OriginalsBuf,
    codes: Vec<u64>,
    /// `rows + 1` entries: row `r`'s vectors are `offsets[r]..offsets[r + 1]`.
    offsets: Vec<u64>,
    /// `dim` floats per row for a multivector: the mean of its vectors.
    means: Vec<f32>,
    rotated: Option<LiveRotated>,
}

impl LiveColumn {
    fn with_capacity(shape: ColumnShape, vectors: usize) -> Self {
        LiveColumn {
            shape,
            originals: OriginalsBuf::with_capacity(shape.datatype, vectors * shape.dim),
            codes: Vec::with_capacity(vectors * shape.code_words),
            offsets: if shape.offsets { vec![0] } else { Vec::new() },
            means: Vec::with_capacity(if shape.means { vectors * shape.dim } else { 0 }),
            rotated: shape
                .rotated
                .map(|(bits, distance)| LiveRotated::new(shape.dim, bits, distance, vectors)),
        }
    }

    fn vectors(&self) -> usize {
        let values = match &self.originals {
            OriginalsBuf::F32(v) => v.len(),
            OriginalsBuf::F16(v) => v.len(),
            OriginalsBuf::U8(v) => v.len(),
        };
        values / self.shape.dim.max(1)
    }

    /// Appends one row's vectors: `bytes` holds 0 or more vectors in the stored datatype
    /// (exactly one for a column without offsets).
    fn push(&mut self, bytes: &[u8], kernels: &Kernels) {
        let (dim, datatype, words) = (self.shape.dim, self.shape.datatype, self.shape.code_words);
        let mut sum = vec![0.0f32; if self.shape.means { dim } else { 0 }];
        let mut count = 0;
        for vector in bytes.chunks_exact(dim * datatype.size()) {
            let floats = decode_stored(vector, datatype);
            for (s, x) in sum.iter_mut().zip(&floats) {
                *s += x;
            }
            count += 1;
            match &mut self.originals {
                OriginalsBuf::F32(v) => v.extend_from_slice(&floats),
                OriginalsBuf::F16(v) => v.extend(
                    vector
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]])),
                ),
                OriginalsBuf::U8(v) => v.extend_from_slice(vector),
            }
            if words > 0 {
                let start = self.codes.len();
                self.codes.resize(start + words, 0);
                quant::binary::encode_one_bit(
                    &floats,
                    quant::binary::threshold(datatype),
                    &mut self.codes[start..],
                );
            }
            if let Some(r) = &mut self.rotated {
                r.encode(&floats, kernels);
            }
        }
        if self.shape.offsets {
            self.offsets.push(self.vectors() as u64);
        }
        if self.shape.means {
            mean_of(&mut sum, count);
            self.means.extend_from_slice(&sum);
        }
    }

    /// The vectors of row `row`.
    fn range(&self, row: usize) -> std::ops::Range<usize> {
        if self.shape.offsets {
            let at = |i: usize| self.offsets.get(i).map_or(0, |&o| o as usize);
            at(row)..at(row + 1)
        } else {
            row..row + 1
        }
    }

    /// Appends row `row` of `from` (same shape), codes included.
    fn copy_row(&mut self, from: &LiveColumn, row: usize) {
        let (dim, words) = (self.shape.dim, self.shape.code_words);
        let vectors = from.range(row);
        let range = vectors.start * dim..vectors.end * dim;
        match (&mut self.originals, &from.originals) {
            (OriginalsBuf::F32(to), OriginalsBuf::F32(v)) => to.extend_from_slice(&v[range]),
            (OriginalsBuf::F16(to), OriginalsBuf::F16(v)) => to.extend_from_slice(&v[range]),
            (OriginalsBuf::U8(to), OriginalsBuf::U8(v)) => to.extend_from_slice(&v[range]),
            _ => unreachable!("chunks of one live segment share a datatype"),
        }
        self.codes
            .extend_from_slice(&from.codes[vectors.start * words..vectors.end * words]);
        if let (Some(to), Some(r)) = (&mut self.rotated, &from.rotated) {
            to.copy_row(r, row);
        }
        if self.shape.offsets {
            self.offsets.push(self.vectors() as u64);
        }
        if self.shape.means {
            self.means
                .extend_from_slice(&from.means[row * dim..(row + 1) * dim]);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.originals.heap_bytes()
            + self.codes.capacity() * 8
            + self.offsets.capacity() * 8
            + self.means.capacity() * 4
            + self.rotated.as_ref().map_or(0, LiveRotated::heap_bytes)
    }

    fn view(&self) -> Column<'_> {
        Column {
            dim: self.shape.dim,
            originals: self.originals.view(),
            codes: &self.codes,
            code_words: self.shape.code_words,
            scalar: None,
            multi_bit: None,
            offsets: self.shape.offsets.then_some(self.offsets.as_slice()),
            means: self.shape.means.then_some(self.means.as_slice()),
            rotated: self.rotated.as_ref().map(LiveRotated::view),
            sketch: None,
        }
    }
}

/// Rows appended together; immutable once a published version holds it.
#[derive(Debug, Clone)]
pub(crate) struct LiveChunk {
    columns: Vec<LiveColumn>,
    ids: Vec<PointId>,
    versions: Vec<u64>,
    payloads: Vec<Option<Box<[u8]>>>,
    /// Row of the newest copy of each id in this chunk (it may be deleted).
    index: HashMap<PointId, u32>,
    payload_bytes: usize,
    /// Payload indexes of the chunk's rows, made by the first filter on an indexed key
    /// once the chunk is published (it never changes after that).
    payload_indexes: IndexCache,
}

impl LiveChunk {
    pub(crate) fn new(shapes: &[ColumnShape]) -> Self {
        Self::with_capacity(shapes, 0)
    }

    /// A chunk with room for `rows` rows (of one vector per slot).
    fn with_capacity(shapes: &[ColumnShape], rows: usize) -> Self {
        LiveChunk {
            columns: shapes
                .iter()
                .map(|&shape| LiveColumn::with_capacity(shape, rows))
                .collect(),
            ids: Vec::with_capacity(rows),
            versions: Vec::with_capacity(rows),
            payloads: Vec::with_capacity(rows),
            index: HashMap::with_capacity(rows),
            payload_bytes: 0,
            payload_indexes: IndexCache::default(),
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.ids.len()
    }

    /// Appends a point whose vectors (one entry per slot) are in the stored datatype.
    pub(crate) fn push(
        &mut self,
        seq: u64,
        id: PointId,
        vectors: &[&[u8]],
        payload: Option<&[u8]>,
    ) {
        let row = self.ids.len();
        for (column, bytes) in self.columns.iter_mut().zip(vectors) {
            column.push(bytes, Kernels::detect());
        }
        self.push_encoded(seq, id, row, payload);
    }

    /// Appends row `row` of `from` (same layout), codes included.
    fn copy_row(&mut self, from: &LiveChunk, row: usize) {
        for (to, column) in self.columns.iter_mut().zip(&from.columns) {
            to.copy_row(column, row);
        }
        let at = self.ids.len();
        self.push_encoded(from.versions[row], from.ids[row], at, from.payload(row));
    }

    fn push_encoded(&mut self, seq: u64, id: PointId, row: usize, payload: Option<&[u8]>) {
        self.ids.push(id);
        self.versions.push(seq);
        self.payload_bytes += payload.map_or(0, <[u8]>::len);
        self.payloads.push(payload.map(Box::from));
        self.index.insert(id, row as u32);
        // Only an unpublished chunk grows, so no index was made yet; this keeps it so.
        self.payload_indexes = IndexCache::default();
    }

    fn payload(&self, row: usize) -> Option<&[u8]> {
        self.payloads.get(row).and_then(|p| p.as_deref())
    }

    fn vector_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(|c| c.vectors() * c.shape.vector_bytes())
            .sum()
    }

    fn heap_bytes(&self) -> usize {
        let index = self.index.capacity() * (std::mem::size_of::<(PointId, u32)>() + 1);
        self.columns
            .iter()
            .map(LiveColumn::heap_bytes)
            .sum::<usize>()
            + self.ids.capacity() * std::mem::size_of::<PointId>()
            + self.versions.capacity() * 8
            + self.payloads.capacity() * std::mem::size_of::<Option<Box<[u8]>>>()
            + self.payload_bytes
            + index
            + self.payload_indexes.heap_bytes()
    }

    fn first(&self) -> Option<&LiveColumn> {
        self.columns.first()
    }
}

/// One chunk of a live segment with its deleted rows.
#[derive(Debug, Clone)]
struct Part {
    chunk: Arc<LiveChunk>,
    deleted: Arc<Bitmap>,
}

/// What search and builds read of a chunk: its rows and the deleted ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveRows<'a> {
    pub chunk: &'a LiveChunk,
    pub deleted: &'a Bitmap,
}

/// A live (or frozen) segment as one version of the collection sees it. Cloning it shares
/// every chunk.
#[derive(Debug, Clone)]
pub(crate) struct LiveSegment {
    shapes: Vec<ColumnShape>,
    chunk_rows: usize,
    parts: Vec<Part>,
    live: usize,
    data_bytes: u64,
}

impl LiveSegment {
    /// A segment whose rows hold one vector per slot of `shapes`.
    pub(crate) fn new(shapes: Vec<ColumnShape>) -> Self {
        let row_bytes: usize = shapes.iter().map(|s| s.vector_bytes()).sum();
        LiveSegment {
            shapes,
            chunk_rows: (CHUNK_BYTES / row_bytes.max(1)).max(16),
            parts: Vec::new(),
            live: 0,
            data_bytes: 0,
        }
    }

    /// A segment of the same layout with no rows.
    pub(crate) fn empty_like(&self) -> Self {
        LiveSegment::new(self.shapes.clone())
    }

    /// Appends a point whose vectors (one entry per slot, a multivector's back to back) are
    /// in the stored datatype. The caller has already deleted any older copy of the id.
    /// Call [`finish_write`](Self::finish_write) after the last point of a write.
    pub(crate) fn push(
        &mut self,
        seq: u64,
        id: PointId,
        vectors: &[&[u8]],
        payload: Option<&[u8]>,
    ) {
        let chunk_rows = self.chunk_rows;
        let writable = self
            .parts
            .last_mut()
            .and_then(|p| Arc::get_mut(&mut p.chunk))
            .is_some_and(|c| c.rows() < chunk_rows && c.vector_bytes() < CHUNK_BYTES);
        if !writable {
            self.parts.push(Part {
                chunk: Arc::new(LiveChunk::new(&self.shapes)),
                deleted: Arc::new(Bitmap::default()),
            });
        }
        if let Some(chunk) = self
            .parts
            .last_mut()
            .and_then(|p| Arc::get_mut(&mut p.chunk))
        {
            chunk.push(seq, id, vectors, payload);
        }
        self.live += 1;
        let vector_bytes: usize = self
            .shapes
            .iter()
            .zip(vectors)
            .map(|(shape, v)| {
                let stored = shape.dim * shape.datatype.size();
                let count = v.len() / stored.max(1);
                v.len() + count * (shape.vector_bytes() - stored)
            })
            .sum();
        self.data_bytes += (vector_bytes + 16 + 8 + payload.map_or(0, <[u8]>::len)) as u64;
    }

    /// Merges small chunks at the tail while one is not full and at most twice the size of
    /// the next, and the next is under an eighth of the capacity, dropping their deleted
    /// rows; rows past a full chunk go on in a new one.
    pub(crate) fn finish_write(&mut self) {
        let cap = self.chunk_rows;
        while let [.., a, b] = self.parts.as_slice() {
            let (ra, rb) = (a.chunk.rows(), b.chunk.rows());
            // A chunk of an eighth of the capacity is big enough to search on its own.
            if ra >= cap || ra > 2 * rb || rb >= cap / 8 {
                break;
            }
            let tail = self.parts.split_off(self.parts.len() - 2);
            let mut left: usize = tail.iter().map(|p| p.chunk.rows() - p.deleted.ones()).sum();
            let mut merged: Vec<LiveChunk> = Vec::new();
            for p in &tail {
                for row in (0..p.chunk.rows()).filter(|&r| !p.deleted.get(r)) {
                    if merged.last().is_none_or(|c| c.rows() == cap) {
                        merged.push(LiveChunk::with_capacity(&self.shapes, left.min(cap)));
                    }
                    if let Some(chunk) = merged.last_mut() {
                        chunk.copy_row(&p.chunk, row);
                        left -= 1;
                    }
                }
            }
            self.parts.extend(merged.into_iter().map(|chunk| Part {
                chunk: Arc::new(chunk),
                deleted: Arc::new(Bitmap::default()),
            }));
        }
    }

    /// The chunk and row of the current copy of `id`.
    pub(crate) fn find(&self, id: PointId) -> Option<(usize, usize)> {
        self.parts.iter().enumerate().rev().find_map(|(i, p)| {
            let row = *p.chunk.index.get(&id)? as usize;
            (!p.deleted.get(row)).then_some((i, row))
        })
    }

    /// Marks row `row` of chunk `part` deleted; true if it was not.
    pub(crate) fn delete_at(&mut self, part: usize, row: usize) -> bool {
        let Some(p) = self.parts.get_mut(part) else {
            return false;
        };
        let removed = Arc::make_mut(&mut p.deleted).set(row);
        self.live -= usize::from(removed);
        removed
    }

    /// Rows not deleted.
    pub(crate) fn live_count(&self) -> usize {
        self.live
    }

    /// Bytes of originals, codes and payloads held (what the seal threshold counts).
    pub(crate) fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Heap bytes in use, including the id indexes.
    pub(crate) fn heap_bytes(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| (p.chunk.heap_bytes() + p.deleted.heap_bytes()) as u64)
            .sum()
    }

    /// Each chunk with its deleted rows, oldest first.
    pub(crate) fn views(&self) -> Vec<LiveRows<'_>> {
        self.parts
            .iter()
            .map(|p| LiveRows {
                chunk: &p.chunk,
                deleted: &p.deleted,
            })
            .collect()
    }

    /// Each chunk's deleted rows, in the order of [`views`](Self::views).
    pub(crate) fn deletions(&self) -> Vec<Arc<Bitmap>> {
        self.parts.iter().map(|p| Arc::clone(&p.deleted)).collect()
    }

    /// `(chunk, row)` of every live row, sorted by id: the row order of the segment this
    /// one seals into.
    pub(crate) fn sorted_live_rows(&self) -> Vec<(usize, usize)> {
        let mut rows: Vec<(PointId, usize, usize)> = Vec::with_capacity(self.live);
        for (i, p) in self.parts.iter().enumerate() {
            let live = (0..p.chunk.rows()).filter(|&r| !p.deleted.get(r));
            rows.extend(live.map(|r| (p.chunk.ids[r], i, r)));
        }
        rows.sort_unstable_by_key(|&(id, ..)| id);
        rows.into_iter().map(|(_, i, r)| (i, r)).collect()
    }
}

impl Rows for LiveRows<'_> {
    fn len(&self) -> usize {
        self.chunk.ids.len()
    }

    fn dim(&self) -> usize {
        self.chunk.first().map_or(0, |c| c.shape.dim)
    }

    fn codes(&self) -> &[u64] {
        self.chunk.first().map_or(&[], |c| &c.codes)
    }

    fn code_words(&self) -> usize {
        self.chunk.first().map_or(0, |c| c.shape.code_words)
    }

    fn rotated(&self) -> Option<RotatedCodes<'_>> {
        self.chunk.first()?.rotated.as_ref().map(LiveRotated::view)
    }

    fn originals(&self) -> Originals<'_> {
        self.chunk
            .first()
            .map_or(Originals::F32(&[]), |c| c.originals.view())
    }

    fn deleted(&self) -> &Bitmap {
        self.deleted
    }

    fn id(&self, row: usize) -> PointId {
        self.chunk.ids[row]
    }

    fn payload(&self, row: usize) -> Option<&[u8]> {
        self.chunk.payload(row)
    }

    fn version(&self, row: usize) -> u64 {
        self.chunk.versions[row]
    }

    fn stored_bytes(&self, row: usize, out: &mut Vec<u8>) {
        if let Some(c) = self.chunk.first() {
            c.view().stored_bytes(row, out);
        }
    }

    fn column(&self, slot: usize) -> Option<Column<'_>> {
        self.chunk.columns.get(slot).map(LiveColumn::view)
    }

    fn row_of(&self, id: PointId) -> Option<usize> {
        self.chunk.index.get(&id).map(|&r| r as usize)
    }

    fn payload_indexes(&self, specs: &IndexSpecs) -> Option<Arc<BlockIndexes>> {
        Some(self.chunk.payload_indexes.get(specs, |missing| {
            index::build(missing, self.len(), |row| self.chunk.payload(row))
        }))
    }

    fn cached_payload_indexes(&self) -> Option<Arc<BlockIndexes>> {
        self.chunk.payload_indexes.cached()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: ColumnShape = ColumnShape {
        rotated: None,
        dim: 2,
        datatype: Datatype::F32,
        code_words: 1,
        offsets: false,
        means: false,
    };

    fn vector(i: u64) -> Vec<u8> {
        [i as f32, 1.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect()
    }

    fn write(seg: &mut LiveSegment, ids: std::ops::Range<u64>) {
        for i in ids {
            if let Some((p, r)) = seg.find(PointId::Num(i % 50)) {
                seg.delete_at(p, r);
            }
            seg.push(i + 1, PointId::Num(i % 50), &[&vector(i)], None);
        }
        seg.finish_write();
    }

    #[test]
    fn published_chunks_never_change_and_tail_chunks_stay_logarithmic() {
        let mut seg = LiveSegment::new(vec![SHAPE]);
        assert_eq!(seg.chunk_rows, CHUNK_BYTES / 16);
        seg.chunk_rows = 64;
        let mut copies: Vec<LiveSegment> = Vec::new();
        for w in 0..400u64 {
            write(&mut seg, w * 3..w * 3 + 3);
            copies.push(seg.clone());
            let rows: usize = seg.parts.iter().map(|p| p.chunk.rows()).sum();
            let bound = 8 * rows / 64 + 8;
            assert!(
                seg.parts.len() <= bound,
                "{} chunks of {rows} rows after write {w}",
                seg.parts.len()
            );
        }
        // One-row writes of distinct ids: the tail stays logarithmic while rows pile up.
        let mut grow = LiveSegment::new(vec![SHAPE]);
        grow.chunk_rows = 64;
        let mut published = grow.clone();
        for i in 0..2000u64 {
            grow.push(i + 1, PointId::Num(1000 + i), &[&vector(i)], None);
            grow.finish_write();
            assert_eq!(published.live_count() + 1, grow.live_count());
            published = grow.clone();
            let bound = 8 * (i as usize + 1) / 64 + 8;
            assert!(
                grow.parts.len() <= bound,
                "{} chunks after {i}",
                grow.parts.len()
            );
        }
        // Every earlier version still sees exactly what it saw when it was published.
        for (w, old) in copies.iter().enumerate() {
            let last = w as u64 * 3 + 2;
            let seen: Vec<u64> = old
                .sorted_live_rows()
                .iter()
                .map(|&(p, r)| old.views()[p].version(r) - 1)
                .collect();
            let mut expected: Vec<u64> = (0..=last).rev().take(50.min(last as usize + 1)).collect();
            expected.sort_unstable_by_key(|i| i % 50);
            assert_eq!(seen, expected, "version after write {w}");
            assert_eq!(old.live_count(), expected.len());
        }
    }

    /// Rows copied when tail chunks merge keep their rotated codes and factors: every live
    /// row's code, read back from its chunk's transposed blocks, is its vector's encoding.
    #[test]
    fn merged_chunks_keep_each_rows_rotated_code() {
        let dim = 100;
        let shape = ColumnShape {
            rotated: Some((2, Distance::Dot)),
            dim,
            datatype: Datatype::F32,
            code_words: 0,
            offsets: false,
            means: false,
        };
        let floats = |i: u64| -> Vec<f32> {
            (0..dim as u64)
                .map(|j| ((i * 31 + j * 17) % 23) as f32 - 11.0)
                .collect()
        };
        let mut seg = LiveSegment::new(vec![shape]);
        seg.chunk_rows = 64;
        // Each write publishes (a clone holds its chunks), so the next one starts a chunk
        // and the tail's small chunks are merged by copying rows.
        let mut published = Vec::new();
        for w in 0..60u64 {
            for i in w * 5..w * 5 + 5 {
                if let Some((p, r)) = seg.find(PointId::Num(i % 120)) {
                    seg.delete_at(p, r);
                }
                let bytes: Vec<u8> = floats(i).iter().flat_map(|x| x.to_le_bytes()).collect();
                seg.push(i + 1, PointId::Num(i % 120), &[&bytes], None);
            }
            seg.finish_write();
            published.push(seg.clone());
        }
        assert!(seg.parts.len() > 1);
        let params = Rotated::live(dim, 2);
        let stride = params.code_bytes();
        let mut checked = 0;
        for (p, r) in seg.sorted_live_rows() {
            let view = seg.views()[p];
            let codes = view.rotated().unwrap();
            let mut words = vec![0u64; stride / 8];
            let want = params.encode(
                Distance::Dot,
                &floats(view.version(r) - 1),
                Kernels::detect(),
                &mut words,
            );
            let got: Vec<u8> = (0..stride)
                .map(|j| codes.blocks[transposed_at(r, j, stride)])
                .collect();
            let want_bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(got, want_bytes, "row {r} of chunk {p}");
            assert_eq!(
                (codes.factors[r], codes.centroids[r]),
                (want.factors, want.centroid)
            );
            checked += 1;
        }
        assert_eq!(checked, 120);
    }
}
