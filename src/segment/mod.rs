//! Segments: the live (appendable, in-memory) one and the immutable files.
//!
//! Search reads both through [`Rows`], so one scan and one rescore routine serve every
//! segment kind.

pub(crate) mod build;
pub mod deletes;
pub(crate) mod immutable;
pub(crate) mod live;

use crate::filter::index::{BlockIndexes, FilterCache, IndexSpecs};
use crate::point::PointId;
use crate::quant::binary::MultiBit;
use crate::quant::rotated::{Rotated, RowFactors};
use crate::quant::scalar::ScalarParams;
use crate::simd::Kernels;
use std::sync::{Arc, OnceLock};

/// A segment's scalar int8 codes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScalarCodes<'a> {
    pub params: &'a ScalarParams,
    /// `stride` bytes per row.
    pub codes: &'a [u8],
    pub stride: usize,
    /// `‖x‖²` of each row's original.
    pub norms: &'a [f32],
}

impl<'a> ScalarCodes<'a> {
    /// The codes' sign sketches (`ScalarParams::sign_sketch`), made into `cell` on first
    /// use and read from it after.
    pub(crate) fn sketch_in(&self, cell: &'a OnceLock<Vec<u64>>) -> &'a [u64] {
        cell.get_or_init(|| self.params.sign_sketch(self.codes, self.stride))
    }
}

/// A segment's rotated codes: the quantizer, the codes transposed in blocks of 32 rows,
/// and the per-row terms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RotatedCodes<'a> {
    pub params: &'a Rotated,
    /// The codes, transposed in blocks of 32 rows (`quant::rotated::transpose_into`).
    pub blocks: &'a [u8],
    /// `[add, scale]` of each row.
    pub factors: &'a [[f32; 2]],
    /// Each row's centroid number.
    pub centroids: &'a [u8],
}

impl RotatedCodes<'_> {
    /// Row `row`'s centroid and factors (zeros past the end).
    pub(crate) fn row(&self, row: usize) -> RowFactors {
        RowFactors {
            centroid: self.centroids.get(row).copied().unwrap_or(0),
            factors: self.factors.get(row).copied().unwrap_or_default(),
        }
    }
}

/// A fixed-size set of row numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Bitmap {
    words: Vec<u64>,
    ones: usize,
}

impl Bitmap {
    pub(crate) fn with_len(len: usize) -> Self {
        Bitmap {
            words: vec![0; len.div_ceil(64)],
            ones: 0,
        }
    }

    /// A bitmap over `words`; `None` if a bit at or past `len` is set.
    pub(crate) fn from_words(words: Vec<u64>, len: usize) -> Option<Self> {
        if words.len() != len.div_ceil(64) {
            return None;
        }
        if !len.is_multiple_of(64)
            && let Some(last) = words.last()
            && last >> (len % 64) != 0
        {
            return None;
        }
        let ones = crate::simd::Kernels::detect().count_ones(&words) as usize;
        Some(Bitmap { words, ones })
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    pub(crate) fn ones(&self) -> usize {
        self.ones
    }

    pub(crate) fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// Sets bit `i`, growing the bitmap if needed; returns true if it was clear.
    pub(crate) fn set(&mut self, i: usize) -> bool {
        if i / 64 >= self.words.len() {
            self.words.resize(i / 64 + 1, 0);
        }
        let w = &mut self.words[i / 64];
        let was_clear = *w >> (i % 64) & 1 == 0;
        *w |= 1 << (i % 64);
        self.ones += usize::from(was_clear);
        was_clear
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    /// Every bit of `0..len` set.
    pub(crate) fn full(len: usize) -> Self {
        let mut words = vec![u64::MAX; len.div_ceil(64)];
        if let Some(last) = words.last_mut()
            && !len.is_multiple_of(64)
        {
            *last = (1 << (len % 64)) - 1;
        }
        Bitmap { words, ones: len }
    }

    /// Sets every bit of `rows` (each below the bitmap's length; others are ignored).
    pub(crate) fn set_all(&mut self, rows: impl Iterator<Item = usize>) {
        for i in rows {
            if let Some(w) = self.words.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
        self.recount();
    }

    /// Clears every bit of `rows`.
    pub(crate) fn clear_all(&mut self, rows: impl Iterator<Item = usize>) {
        for i in rows {
            if let Some(w) = self.words.get_mut(i / 64) {
                *w &= !(1 << (i % 64));
            }
        }
        self.recount();
    }

    /// Clears bit `i`; returns true if it was set.
    pub(crate) fn clear(&mut self, i: usize) -> bool {
        let Some(w) = self.words.get_mut(i / 64) else {
            return false;
        };
        let was_set = *w >> (i % 64) & 1 == 1;
        *w &= !(1 << (i % 64));
        self.ones -= usize::from(was_set);
        was_set
    }

    fn recount(&mut self) {
        self.ones = crate::simd::Kernels::detect().count_ones(&self.words) as usize;
    }

    /// Keeps the bits also set in `other`.
    pub(crate) fn and(&mut self, other: &Bitmap) {
        for (i, w) in self.words.iter_mut().enumerate() {
            *w &= other.words.get(i).copied().unwrap_or(0);
        }
        self.recount();
    }

    /// Adds the bits set in `other`.
    pub(crate) fn or(&mut self, other: &Bitmap) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
        self.recount();
    }

    /// Clears the bits set in `other`.
    pub(crate) fn and_not(&mut self, other: &Bitmap) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w &= !o;
        }
        self.recount();
    }

    /// The bits set, ascending.
    pub(crate) fn iter_ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros() as usize;
                    w &= w - 1;
                    i * 64 + bit
                })
            })
        })
    }

    /// The bits of `0..len` that are clear, ascending, as row numbers: the live rows of a
    /// block whose deleted rows this is. One pass over the words, each clear bit found by
    /// its trailing zeros.
    pub(crate) fn clear_rows(&self, len: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(len.saturating_sub(self.ones));
        for (i, start) in (0..len).step_by(64).enumerate() {
            let mut w = !self.words.get(i).copied().unwrap_or(0);
            if len - start < 64 {
                w &= (1 << (len - start)) - 1;
            }
            while w != 0 {
                out.push((start + w.trailing_zeros() as usize) as u32);
                w &= w - 1;
            }
        }
        out
    }

    /// The bits of `0..len` that are clear.
    pub(crate) fn complement(&self, len: usize) -> Bitmap {
        let mut out = self.clone();
        out.invert(len);
        out
    }

    /// Flips every bit of `0..len` in place; bits from `len` on are dropped.
    pub(crate) fn invert(&mut self, len: usize) {
        self.words.resize(len.div_ceil(64), 0);
        for w in &mut self.words {
            *w = !*w;
        }
        if let Some(last) = self.words.last_mut()
            && !len.is_multiple_of(64)
        {
            *last &= (1 << (len % 64)) - 1;
        }
        self.recount();
    }
}

/// Originals of a segment, row-major, in the stored datatype.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Originals<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
    U8(&'a [u8]),
}

impl Originals<'_> {
    /// Components held.
    pub(crate) fn len(&self) -> usize {
        match self {
            Originals::F32(v) => v.len(),
            Originals::F16(v) => v.len(),
            Originals::U8(v) => v.len(),
        }
    }

    /// Row `row` as f32, written into `out` (copied for F32, converted otherwise).
    pub(crate) fn row_into(&self, row: usize, dim: usize, kernels: &Kernels, out: &mut Vec<f32>) {
        let range = row * dim..(row + 1) * dim;
        match *self {
            Originals::F32(v) => {
                out.clear();
                out.extend_from_slice(v.get(range).unwrap_or_default());
            }
            Originals::F16(v) => {
                out.resize(dim, 0.0);
                kernels.f16_to_f32(v.get(range).unwrap_or_default(), out);
            }
            Originals::U8(v) => {
                out.resize(dim, 0.0);
                kernels.u8_to_f32(v.get(range).unwrap_or_default(), out);
            }
        }
    }

    /// Starts loading row `row` into the CPU's caches (see [`crate::simd::prefetch`]).
    pub(crate) fn prefetch_row(&self, row: usize, dim: usize) {
        let range = row * dim..(row + 1) * dim;
        match *self {
            Originals::F32(v) => crate::simd::prefetch(v.get(range).unwrap_or_default()),
            Originals::F16(v) => crate::simd::prefetch(v.get(range).unwrap_or_default()),
            Originals::U8(v) => crate::simd::prefetch(v.get(range).unwrap_or_default()),
        }
    }

    /// Row `row` as f32: borrowed for F32, converted into `scratch` otherwise.
    pub(crate) fn row<'s>(
        &'s self,
        row: usize,
        dim: usize,
        kernels: &Kernels,
        scratch: &'s mut Vec<f32>,
    ) -> &'s [f32] {
        match *self {
            Originals::F32(v) => v.get(row * dim..(row + 1) * dim).unwrap_or_default(),
            Originals::F16(_) | Originals::U8(_) => {
                self.row_into(row, dim, kernels, scratch);
                scratch
            }
        }
    }
}

/// One vector slot of a segment: its vectors' originals and codes, and which vectors
/// each row holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column<'a> {
    pub dim: usize,
    /// Every vector's original, row-major.
    pub originals: Originals<'a>,
    /// Binary codes, `code_words` per vector (empty without binary codes).
    pub codes: &'a [u64],
    pub code_words: usize,
    pub scalar: Option<ScalarCodes<'a>>,
    pub multi_bit: Option<&'a MultiBit>,
    /// Rotated codes (then `codes` is empty: they are not row-major).
    pub rotated: Option<RotatedCodes<'a>>,
    /// `rows + 1` offsets: row `r` holds vectors `offsets[r]..offsets[r + 1]`; `None` when
    /// row `r` is vector `r` (the one dense vector of a single-vector collection).
    pub offsets: Option<&'a [u64]>,
    /// For a multivector: `dim` floats per row, the mean of the row's vectors (zero for a
    /// row without vectors), what the pooled first stage scores.
    pub means: Option<&'a [f32]>,
    /// For a multivector with scalar int8 codes in a sealed segment: where the codes' 1-bit
    /// sign sketches are kept once made (see [`Column::sketch`]).
    pub sketch: Option<&'a OnceLock<Vec<u64>>>,
}

/// The mean of `count` vectors of `dim` components summed into `sum` (zero for none).
pub(crate) fn mean_of(sum: &mut [f32], count: usize) {
    if count > 0 {
        let n = count as f32;
        for x in sum.iter_mut() {
            *x /= n;
        }
    }
}

impl<'a> Column<'a> {
    /// The scalar codes' sign sketches, `ceil(dim/64)` words per vector, made on first
    /// use; empty unless the column keeps them (a multivector with scalar int8 codes in a
    /// sealed segment).
    pub(crate) fn sketch(&self) -> &'a [u64] {
        match (self.sketch, &self.scalar) {
            (Some(cell), Some(codes)) => codes.sketch_in(cell),
            _ => &[],
        }
    }

    /// Row `row`'s mean vector, for a multivector column.
    pub(crate) fn mean(&self, row: usize) -> Option<&'a [f32]> {
        self.means?.get(row * self.dim..(row + 1) * self.dim)
    }

    /// The vectors row `row` holds.
    pub(crate) fn range(&self, row: usize) -> std::ops::Range<usize> {
        match self.offsets {
            Some(o) => {
                let at = |i: usize| o.get(i).map_or(0, |&v| usize::try_from(v).unwrap_or(0));
                let (start, end) = (at(row), at(row + 1));
                start..end.max(start)
            }
            None => row..row + 1,
        }
    }

    /// Appends the stored bytes (little-endian, stored datatype) of row `row`'s vectors.
    pub(crate) fn stored_bytes(&self, row: usize, out: &mut Vec<u8>) {
        let range = self.range(row);
        let values = range.start * self.dim..range.end * self.dim;
        match self.originals {
            Originals::F32(v) => out.extend(
                v.get(values)
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|x| x.to_le_bytes()),
            ),
            Originals::F16(v) => out.extend(
                v.get(values)
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|x| x.to_le_bytes()),
            ),
            Originals::U8(v) => out.extend_from_slice(v.get(values).unwrap_or_default()),
        }
    }
}

/// What search needs from a segment.
pub(crate) trait Rows: Sync {
    fn len(&self) -> usize;
    fn dim(&self) -> usize;
    /// Binary codes, `code_words` per row (empty when the segment has none).
    fn codes(&self) -> &[u64];
    fn code_words(&self) -> usize;
    fn originals(&self) -> Originals<'_>;
    fn deleted(&self) -> &Bitmap;
    fn id(&self, row: usize) -> PointId;
    /// Starts loading what [`id`](Self::id) reads for `row` into the CPU's caches.
    fn prefetch_id(&self, _row: usize) {}
    fn payload(&self, row: usize) -> Option<&[u8]>;
    /// The WAL sequence number of the write that stored the row.
    fn version(&self, row: usize) -> u64;
    /// Appends the row's stored bytes (little-endian, stored datatype) to `out`.
    fn stored_bytes(&self, row: usize, out: &mut Vec<u8>);
    /// The scalar codes, for segments that have them.
    fn scalar(&self) -> Option<ScalarCodes<'_>> {
        None
    }
    /// The 1-bit sign sketches of the scalar codes (`ceil(dim/64)` words a row, see
    /// `ScalarParams::sign_sketch`), for sealed segments, which make them on first use and
    /// keep them; empty elsewhere.
    fn scalar_sketch(&self) -> &[u64] {
        &[]
    }
    /// The multi-bit binary encoder, for segments whose codes use one (queries are coded
    /// with it); `None` means 1-bit codes.
    fn multi_bit(&self) -> Option<&MultiBit> {
        None
    }
    /// The rotated codes' quantizer and per-row terms, for segments that have them (their
    /// codes are then scanned with a rotated query, never by Hamming distance).
    fn rotated(&self) -> Option<RotatedCodes<'_>> {
        None
    }
    /// Vector slot `slot` (slot 0 of a single-vector segment is the methods above, without
    /// offsets); `None` for a slot the segment does not have.
    fn column(&self, slot: usize) -> Option<Column<'_>>;
    /// The row holding `id` (its newest copy; it may be deleted), if any.
    fn row_of(&self, id: PointId) -> Option<usize> {
        (0..self.len()).rev().find(|&r| self.id(r) == id)
    }
    /// The block's payload indexes of `specs`, made or read on first use; `None` for a
    /// block that keeps none.
    fn payload_indexes(&self, _specs: &IndexSpecs) -> Option<Arc<BlockIndexes>> {
        None
    }
    /// The payload indexes the block has made or read so far.
    fn cached_payload_indexes(&self) -> Option<Arc<BlockIndexes>> {
        None
    }
    /// The rows recent filters pass, for a block whose rows and payloads never change (an
    /// immutable segment); `None` for others.
    fn filter_cache(&self) -> Option<&FilterCache> {
        None
    }
}

/// A block whose rows failing a filter count as deleted: search, count and scroll scan it
/// as they scan any block, so candidates are chosen among the rows that pass.
pub(crate) struct Masked<'a> {
    pub rows: &'a dyn Rows,
    /// The block's deleted rows and the rows the filter rejects.
    pub excluded: Bitmap,
}

impl<'a> Masked<'a> {
    /// `rows` with every row outside `passing` excluded.
    pub(crate) fn new(rows: &'a dyn Rows, mut passing: Bitmap) -> Self {
        passing.invert(rows.len());
        Masked {
            rows,
            excluded: passing,
        }
    }
}

impl Rows for Masked<'_> {
    fn len(&self) -> usize {
        self.rows.len()
    }
    fn dim(&self) -> usize {
        self.rows.dim()
    }
    fn codes(&self) -> &[u64] {
        self.rows.codes()
    }
    fn code_words(&self) -> usize {
        self.rows.code_words()
    }
    fn originals(&self) -> Originals<'_> {
        self.rows.originals()
    }
    fn deleted(&self) -> &Bitmap {
        &self.excluded
    }
    fn id(&self, row: usize) -> PointId {
        self.rows.id(row)
    }
    fn prefetch_id(&self, row: usize) {
        self.rows.prefetch_id(row);
    }
    fn payload(&self, row: usize) -> Option<&[u8]> {
        self.rows.payload(row)
    }
    fn version(&self, row: usize) -> u64 {
        self.rows.version(row)
    }
    fn stored_bytes(&self, row: usize, out: &mut Vec<u8>) {
        self.rows.stored_bytes(row, out);
    }
    fn scalar(&self) -> Option<ScalarCodes<'_>> {
        self.rows.scalar()
    }
    fn scalar_sketch(&self) -> &[u64] {
        self.rows.scalar_sketch()
    }
    fn multi_bit(&self) -> Option<&MultiBit> {
        self.rows.multi_bit()
    }
    fn rotated(&self) -> Option<RotatedCodes<'_>> {
        self.rows.rotated()
    }
    fn column(&self, slot: usize) -> Option<Column<'_>> {
        self.rows.column(slot)
    }
    fn row_of(&self, id: PointId) -> Option<usize> {
        self.rows.row_of(id)
    }
    fn payload_indexes(&self, specs: &IndexSpecs) -> Option<Arc<BlockIndexes>> {
        self.rows.payload_indexes(specs)
    }
}

/// Decodes one stored vector (datatype bytes, little-endian) to f32.
pub(crate) fn decode_stored(bytes: &[u8], datatype: crate::config::Datatype) -> Vec<f32> {
    use crate::config::Datatype;
    match datatype {
        Datatype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Datatype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        Datatype::U8 => bytes.iter().map(|&b| f32::from(b)).collect(),
    }
}
