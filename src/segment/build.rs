//! Building a segment file out of rows of other segments (the live segment at a
//! checkpoint, immutable segments in a rewrite), streamed to disk.
//!
//! Each section is produced by its own pass over the rows, a chunk at a time, and written
//! as it goes, so a build holds one chunk of encoded bytes, the row order (16 bytes per
//! row), the norms of a scalar segment (4 bytes per row) and the quantizer's training
//! sample, never the file. Multi-bit codes take one more pass for their statistics. The
//! payload indexes section is the exception: it is made in memory (about its own size)
//! from one more pass over the payloads.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use crate::config::{CollectionConfig, PayloadSchema, Quantization, VectorSlot};
use crate::filter::index;
use crate::format::segment::{
    CodeKind, Section, SegmentHeader, SegmentWriter, Sink, SlotLayout, encode_payload_indexes,
    encode_rotation, encode_scalar_params, encode_slots, rotated_row_sections,
};
use crate::io::VfsFile;
use crate::point::PointId;
use crate::quant::binary::MultiBit;
use crate::quant::rotated::{self, Rotated, RowFactors};
use crate::quant::scalar::Trainer;
use crate::quant::stats::Welford;
use crate::quant::{self, Encoder, RowExtra};
use crate::segment::{Bitmap, Column, Originals, Rows};
use crate::simd::Kernels;

/// Rows per chunk: the unit of encoding, progress, yielding and cancellation. A multiple
/// of 64, so that each chunk fills whole words of the payload bitmap.
const CHUNK_ROWS: usize = 2048;
const _: () = assert!(CHUNK_ROWS.is_multiple_of(64));
const _: () = assert!(CHUNK_ROWS.is_multiple_of(rotated::BLOCK_ROWS));

/// Appends one row's bytes of a section.
type PutRow = fn(&dyn Rows, usize, &mut Vec<u8>);

/// Bytes a per-row pass gathers before handing them to the writer.
const PASS_BUFFER: usize = 64 << 10;

/// Bytes a [`FileSink`] buffers before writing.
const FILE_BUFFER: usize = 1 << 20;

/// What to build: `rows` (`(source, row)` pairs, sorted by id) of `sources` as segment
/// `id`, with the codes `config` asks for.
pub(crate) struct Build<'a> {
    pub sources: &'a [&'a dyn Rows],
    pub rows: &'a [(usize, usize)],
    pub id: u64,
    pub config: &'a CollectionConfig,
    pub kernels: &'a Kernels,
    /// Encodes chunks in parallel on this pool (the optimizer's); the caller's thread
    /// otherwise.
    pub pool: Option<&'a rayon::ThreadPool>,
    /// Receives the points done (rows of the heavy passes, averaged over those passes).
    pub progress: Option<&'a AtomicU64>,
    /// Checked between chunks: once set, the build stops with `ErrorKind::Interrupted`.
    pub cancel: Option<&'a AtomicBool>,
}

/// What a slot's codes were trained to.
struct Trained {
    kind: CodeKind,
    binary_stats: Option<MultiBit>,
    scalar: Option<(crate::quant::scalar::ScalarParams, Vec<f32>)>,
    rotated: Option<(Rotated, Vec<RowFactors>)>,
}

/// The vectors of one slot of a source as rows of their own (row `i` is vector `i`): what
/// a slot's originals and codes are built from.
struct VectorRows<'a> {
    column: Option<Column<'a>>,
    none: Bitmap,
}

impl<'a> VectorRows<'a> {
    fn new(column: Option<Column<'a>>) -> Self {
        VectorRows {
            column: column.map(|c| Column { offsets: None, ..c }),
            none: Bitmap::default(),
        }
    }
}

impl Rows for VectorRows<'_> {
    fn len(&self) -> usize {
        self.column.map_or(0, |c| c.originals.len() / c.dim.max(1))
    }

    fn dim(&self) -> usize {
        self.column.map_or(0, |c| c.dim)
    }

    fn codes(&self) -> &[u64] {
        self.column.map_or(&[], |c| c.codes)
    }

    fn code_words(&self) -> usize {
        self.column.map_or(0, |c| c.code_words)
    }

    fn originals(&self) -> Originals<'_> {
        self.column.map_or(Originals::F32(&[]), |c| c.originals)
    }

    fn deleted(&self) -> &Bitmap {
        &self.none
    }

    fn id(&self, _: usize) -> PointId {
        PointId::Num(0)
    }

    fn payload(&self, _: usize) -> Option<&[u8]> {
        None
    }

    fn version(&self, _: usize) -> u64 {
        0
    }

    fn stored_bytes(&self, row: usize, out: &mut Vec<u8>) {
        if let Some(c) = self.column {
            c.stored_bytes(row, out);
        }
    }

    fn column(&self, _: usize) -> Option<Column<'_>> {
        None
    }
}

/// Buffers appends to a file; the header goes through a positional write.
pub(crate) struct FileSink {
    file: Arc<dyn VfsFile>,
    buf: Vec<u8>,
}

impl FileSink {
    pub(crate) fn new(file: Arc<dyn VfsFile>) -> Self {
        FileSink {
            file,
            buf: Vec::with_capacity(FILE_BUFFER),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl Sink for FileSink {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > FILE_BUFFER {
            self.flush()?;
        }
        if bytes.len() >= FILE_BUFFER {
            return self.file.write_all(bytes);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn write_header(&mut self, header: &[u8]) -> io::Result<()> {
        self.flush()?;
        self.file.write_at(0, header)
    }
}

/// Counts chunks of the heavy passes into the progress counter.
struct Progress<'a> {
    counter: Option<&'a AtomicU64>,
    cancel: Option<&'a AtomicBool>,
    rows: u64,
    passes: u64,
    pass: u64,
}

impl Progress<'_> {
    /// Called after each chunk of a heavy pass: records `done` rows of the current pass,
    /// lets queries run, and stops a cancelled build.
    fn chunk(&self, done: usize) -> io::Result<()> {
        if let Some(c) = self.counter {
            let work = self.pass * self.rows + done as u64;
            c.store(work / self.passes.max(1), Ordering::Relaxed);
        }
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "segment build cancelled",
            ));
        }
        std::thread::yield_now();
        Ok(())
    }

    fn next_pass(&mut self) {
        self.pass += 1;
    }
}

impl Build<'_> {
    fn row<'s>(&self, (s, r): (usize, usize), scratch: &'s mut Vec<f32>) -> &'s [f32] {
        match self.sources.get(s) {
            Some(src) => src
                .originals()
                .row_into(r, self.config.dim, self.kernels, scratch),
            None => scratch.clear(),
        }
        scratch
    }

    fn source(&self, s: usize) -> Option<&dyn Rows> {
        self.sources.get(s).copied()
    }

    /// Writes the segment into `sink` and returns it.
    pub(crate) fn write<S: Sink>(&self, sink: S) -> io::Result<S> {
        let kind = quant::code_kind(&self.config.quantization);
        let multi_bit = matches!(kind, CodeKind::TwoBits | CodeKind::OneAndHalfBits);
        // Version 1 (row-aligned single vector) unless slots or payload indexes need more.
        let single = self.config.is_single_dense() && self.config.payload_indexes.is_empty();
        let mut progress = Progress {
            counter: self.progress,
            cancel: self.cancel,
            rows: self.rows.len() as u64,
            passes: if single { 2 + u64::from(multi_bit) } else { 1 },
            pass: 0,
        };
        let mut w = SegmentWriter::new(sink)?;
        let mut buf = Vec::new();
        let light: [(Section, PutRow); 3] = [
            (Section::IdKinds, |s, r, out| out.push(s.id(r).kind_code())),
            (Section::IdValues, |s, r, out| {
                out.extend_from_slice(&s.id(r).value().to_le_bytes());
            }),
            (Section::Versions, |s, r, out| {
                out.extend_from_slice(&s.version(r).to_le_bytes());
            }),
        ];
        for (section, put_row) in light {
            w.section(section)?;
            self.per_row(&mut w, &mut buf, put_row, None)?;
        }
        if single {
            // Version 1: the one dense vector's sections are row-aligned.
            let trained = self.write_vectors(&mut w, 0, &mut progress)?;
            self.write_payloads(&mut w, &mut buf)?;
            self.write_trained(&mut w, 0, trained, &mut buf)?;
        } else {
            self.write_payloads(&mut w, &mut buf)?;
            self.write_payload_indexes(&mut w)?;
            let mut slots = Vec::new();
            for (n, slot) in self.config.slots().iter().enumerate() {
                slots.push(self.write_slot(&mut w, n, slot, &mut buf)?);
                progress.chunk(self.rows.len() * (n + 1) / self.config.slots().len())?;
            }
            w.section(Section::VectorSlots)?;
            w.put(&encode_slots(&slots))?;
        }
        w.finish(&SegmentHeader {
            segment_id: self.id,
            rows: self.rows.len(),
            dim: self.config.dim,
            distance: self.config.distance,
            datatype: self.config.datatype,
            code_kind: kind,
        })
    }

    /// Writes vector slot `n` (version 2): each row's vector offsets, then the slot's
    /// vectors built as rows of their own (originals, codes, quantizer).
    fn write_slot<S: Sink>(
        &self,
        w: &mut SegmentWriter<S>,
        n: usize,
        slot: &VectorSlot,
        buf: &mut Vec<u8>,
    ) -> io::Result<SlotLayout> {
        let columns: Vec<Option<Column<'_>>> = self.sources.iter().map(|s| s.column(n)).collect();
        let mut vectors: Vec<(usize, usize)> = Vec::new();
        w.section_at(Section::VectorOffsets, n)?;
        buf.clear();
        buf.extend_from_slice(&0u64.to_le_bytes());
        for &(s, r) in self.rows {
            if let Some(Some(c)) = columns.get(s) {
                vectors.extend(c.range(r).map(|i| (s, i)));
            }
            buf.extend_from_slice(&(vectors.len() as u64).to_le_bytes());
            if buf.len() >= PASS_BUFFER {
                w.put(buf)?;
                buf.clear();
            }
        }
        w.put(buf)?;
        buf.clear();
        if slot.is_multi() {
            w.section_at(Section::VectorMeans, n)?;
            let zero = vec![0.0f32; slot.params.dim];
            for &(s, r) in self.rows {
                let mean = columns
                    .get(s)
                    .copied()
                    .flatten()
                    .and_then(|c| c.mean(r))
                    .unwrap_or(&zero);
                buf.extend(mean.iter().flat_map(|x| x.to_le_bytes()));
                if buf.len() >= PASS_BUFFER {
                    w.put(buf)?;
                    buf.clear();
                }
            }
            w.put(buf)?;
            buf.clear();
        }
        let adapters: Vec<VectorRows<'_>> = columns.iter().map(|c| VectorRows::new(*c)).collect();
        let sources: Vec<&dyn Rows> = adapters.iter().map(|a| a as &dyn Rows).collect();
        let config = self.config.for_slot(slot);
        let sub = Build {
            sources: &sources,
            rows: &vectors,
            id: self.id,
            config: &config,
            kernels: self.kernels,
            pool: self.pool,
            progress: None,
            cancel: self.cancel,
        };
        let mut progress = Progress {
            counter: None,
            cancel: self.cancel,
            rows: vectors.len() as u64,
            passes: 1,
            pass: 0,
        };
        let trained = sub.write_vectors(w, n, &mut progress)?;
        let code_kind = trained.kind;
        sub.write_trained(w, n, trained, buf)?;
        Ok(SlotLayout {
            name: slot.name.clone(),
            dim: slot.params.dim,
            distance: slot.params.distance,
            datatype: slot.params.datatype,
            code_kind,
            multi: slot.is_multi(),
            vectors: vectors.len(),
        })
    }

    /// Writes the originals and codes of `self.rows` as slot `n`'s sections; returns what
    /// the codes were trained to, for [`write_trained`](Self::write_trained).
    fn write_vectors<S: Sink>(
        &self,
        w: &mut SegmentWriter<S>,
        n: usize,
        progress: &mut Progress<'_>,
    ) -> io::Result<Trained> {
        let kind = quant::code_kind(&self.config.quantization);
        let mut buf = Vec::new();
        w.section_at(Section::Originals, n)?;
        self.per_row(
            w,
            &mut buf,
            |s, r, out| s.stored_bytes(r, out),
            Some(progress),
        )?;
        progress.next_pass();
        let mut trained = Trained {
            kind,
            binary_stats: None,
            scalar: None,
            rotated: None,
        };
        if let Some(encoder) = self.encoder(kind, progress)? {
            w.section_at(Section::Codes, n)?;
            let extras = self.write_codes(w, &encoder, progress)?;
            match encoder {
                Encoder::MultiBit(m) => trained.binary_stats = Some(m),
                Encoder::Scalar(p) => {
                    trained.scalar = Some((p, extras.iter().map(|e| e.norm).collect()));
                }
                Encoder::Rotated(r, _) => {
                    trained.rotated = Some((r, extras.iter().map(|e| e.rotated).collect()));
                }
                Encoder::OneBit(_) => {}
            }
        }
        Ok(trained)
    }

    /// Writes the quantizer sections of slot `n`.
    fn write_trained<S: Sink>(
        &self,
        w: &mut SegmentWriter<S>,
        n: usize,
        trained: Trained,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        if let Some(stats) = trained.binary_stats {
            w.section_at(Section::BinaryStats, n)?;
            for v in stats.mean.iter().chain(&stats.std) {
                w.put(&v.to_le_bytes())?;
            }
        }
        if let Some((params, rows)) = trained.rotated {
            w.section_at(Section::Rotation, n)?;
            w.put(&encode_rotation(&params))?;
            for (section, body) in rotated_row_sections(&rows) {
                w.section_at(section, n)?;
                w.put(&body)?;
            }
        }
        if let Some((params, norms)) = trained.scalar {
            w.section_at(Section::QuantParams, n)?;
            w.put(&encode_scalar_params(&params))?;
            w.section_at(Section::Norms, n)?;
            for chunk in norms.chunks(CHUNK_ROWS) {
                buf.clear();
                buf.extend(chunk.iter().flat_map(|n| n.to_le_bytes()));
                w.put(buf)?;
            }
        }
        Ok(())
    }

    fn per_row<S: Sink>(
        &self,
        w: &mut SegmentWriter<S>,
        buf: &mut Vec<u8>,
        put_row: PutRow,
        progress: Option<&Progress<'_>>,
    ) -> io::Result<()> {
        for (i, chunk) in self.rows.chunks(CHUNK_ROWS).enumerate() {
            for &(s, r) in chunk {
                if let Some(src) = self.source(s) {
                    put_row(src, r, buf);
                }
                if buf.len() >= PASS_BUFFER {
                    w.put(buf)?;
                    buf.clear();
                }
            }
            w.put(buf)?;
            buf.clear();
            if let Some(p) = progress {
                p.chunk(i * CHUNK_ROWS + chunk.len())?;
            }
        }
        Ok(())
    }

    /// Trains what the codes need: nothing for 1-bit, statistics over every row for
    /// multi-bit (its own pass), a quantizer on a sample (seeded by the segment id) for
    /// int8. `None` when the segment has no codes.
    fn encoder(&self, kind: CodeKind, progress: &mut Progress<'_>) -> io::Result<Option<Encoder>> {
        let dim = self.config.dim;
        let mut scratch = Vec::new();
        Ok(match (kind, self.config.quantization) {
            (CodeKind::None, _) | (_, Quantization::None) => None,
            (CodeKind::OneBit, _) => Some(Encoder::one_bit(self.config.datatype)),
            (CodeKind::RotatedOneBit | CodeKind::RotatedTwoBits, _) => {
                let sample: Vec<Vec<f32>> = quant::scalar::sample_rows(self.rows.len(), self.id)
                    .into_iter()
                    .filter_map(|i| self.rows.get(i))
                    .map(|&r| self.row(r, &mut scratch).to_vec())
                    .collect();
                let bits = kind.rotated_bits().unwrap_or(1);
                let trained = Rotated::train(dim, bits, self.rows.len(), &sample, self.kernels);
                Some(Encoder::Rotated(trained, self.config.distance))
            }
            (_, Quantization::Binary(_)) => {
                let mut welford = Welford::new(dim);
                for (i, chunk) in self.rows.chunks(CHUNK_ROWS).enumerate() {
                    for &r in chunk {
                        welford.add(self.row(r, &mut scratch));
                    }
                    progress.chunk(i * CHUNK_ROWS + chunk.len())?;
                }
                progress.next_pass();
                let (mean, std) = welford.finish();
                Some(Encoder::MultiBit(MultiBit {
                    two_bits: kind == CodeKind::TwoBits,
                    mean,
                    std,
                }))
            }
            (_, Quantization::Scalar(sc)) => {
                let design = quant::scalar::RangeDesign::for_distance(self.config.distance);
                let sample = quant::scalar::sample_rows(self.rows.len(), self.id);
                let mut trainer = Trainer::new(dim, sc.quantile, design, self.id, sample.len());
                for i in sample {
                    if let Some(&r) = self.rows.get(i) {
                        trainer.add(self.row(r, &mut scratch));
                    }
                }
                Some(Encoder::Scalar(trainer.finish()))
            }
        })
    }

    /// Writes the codes section a chunk at a time (chunks encoded on the pool when there
    /// is one); returns what each row keeps beside its code, for scalar and rotated codes
    /// (empty otherwise).
    fn write_codes<S: Sink>(
        &self,
        w: &mut SegmentWriter<S>,
        encoder: &Encoder,
        progress: &Progress<'_>,
    ) -> io::Result<Vec<RowExtra>> {
        let stride = encoder.stride(self.config.dim);
        let keep = matches!(encoder, Encoder::Scalar(_) | Encoder::Rotated(..));
        let mut norms = Vec::with_capacity(if keep { self.rows.len() } else { 0 });
        let mut codes = Vec::new();
        let mut transposed = Vec::new();
        let mut chunk_norms = Vec::new();
        let mut scratch = Scratch::default();
        for (i, chunk) in self.rows.chunks(CHUNK_ROWS).enumerate() {
            codes.clear();
            codes.resize(chunk.len() * stride, 0);
            chunk_norms.clear();
            chunk_norms.resize(chunk.len(), RowExtra::default());
            let encode =
                |scratch: &mut Scratch,
                 (r, (out, extra)): (&(usize, usize), (&mut [u8], &mut RowExtra))| {
                    self.row(*r, &mut scratch.row);
                    *extra = encoder.encode(&scratch.row, out, &mut scratch.words, self.kernels);
                };
            match self.pool {
                Some(pool) => pool.install(|| {
                    chunk
                        .par_iter()
                        .zip(
                            codes
                                .par_chunks_exact_mut(stride)
                                .zip(chunk_norms.par_iter_mut()),
                        )
                        .for_each_init(Scratch::default, encode);
                }),
                None => chunk
                    .iter()
                    .zip(codes.chunks_exact_mut(stride).zip(chunk_norms.iter_mut()))
                    .for_each(|item| encode(&mut scratch, item)),
            }
            if let Encoder::Rotated(..) = encoder {
                // Chunks are whole blocks of 32 rows (but the last).
                transposed.resize(rotated::blocks_len(chunk.len(), stride), 0);
                rotated::transpose_into(&codes, stride, &mut transposed);
                w.put(&transposed)?;
            } else {
                w.put(&codes)?;
            }
            if keep {
                norms.extend_from_slice(&chunk_norms);
            }
            progress.chunk(i * CHUNK_ROWS + chunk.len())?;
        }
        Ok(norms)
    }

    /// The `payload_indexes` section, when the collection has payload indexes.
    fn write_payload_indexes<S: Sink>(&self, w: &mut SegmentWriter<S>) -> io::Result<()> {
        let specs: Vec<(String, PayloadSchema)> = self
            .config
            .payload_indexes
            .iter()
            .map(|(k, &s)| (k.clone(), s))
            .collect();
        if specs.is_empty() {
            return Ok(());
        }
        let fields = index::build(&specs, self.rows.len(), |i| {
            let &(s, r) = self.rows.get(i)?;
            self.source(s)?.payload(r)
        });
        w.section(Section::PayloadIndexes)?;
        w.put(&encode_payload_indexes(&fields))
    }

    /// The payload sections: presence bitmap, offsets, then the bytes.
    fn write_payloads<S: Sink>(
        &self,
        w: &mut SegmentWriter<S>,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        let payload = |&(s, r): &(usize, usize)| self.source(s).and_then(|src| src.payload(r));
        w.section(Section::PayloadPresent)?;
        for chunk in self.rows.chunks(CHUNK_ROWS) {
            buf.clear();
            for word_rows in chunk.chunks(64) {
                let mut word = 0u64;
                for (bit, row) in word_rows.iter().enumerate() {
                    if payload(row).is_some() {
                        word |= 1 << bit;
                    }
                }
                buf.extend_from_slice(&word.to_le_bytes());
            }
            w.put(buf)?;
        }
        w.section(Section::PayloadOffsets)?;
        w.put(&0u64.to_le_bytes())?;
        let mut end = 0u64;
        for chunk in self.rows.chunks(CHUNK_ROWS) {
            buf.clear();
            for row in chunk {
                end += payload(row).map_or(0, |p| p.len() as u64);
                buf.extend_from_slice(&end.to_le_bytes());
            }
            w.put(buf)?;
        }
        w.section(Section::PayloadBlob)?;
        for row in self.rows {
            if let Some(p) = payload(row) {
                w.put(p)?;
            }
        }
        Ok(())
    }
}

/// Per-thread buffers of the codes pass.
#[derive(Default)]
struct Scratch {
    row: Vec<f32>,
    words: Vec<u64>,
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::{BinaryConfig, BinaryEncoding, Datatype, Distance, ScalarConfig};
    use crate::format::segment::{SegmentColumns, encode};
    use crate::point::PointId;
    use crate::quant::scalar::{RangeDesign, code_stride, train};
    use crate::segment::live::{ColumnShape, LiveChunk, LiveRows};

    const DIM: usize = 24;
    const ROWS: usize = 2 * CHUNK_ROWS + 77;

    fn vector(i: usize) -> Vec<f32> {
        (0..DIM)
            .map(|d| ((i * 31 + d * 17) % 101) as f32 / 50.0 - 1.0)
            .collect()
    }

    fn payload(i: usize) -> Option<Vec<u8>> {
        i.is_multiple_of(3).then(|| vec![i as u8; i % 7])
    }

    /// The same rows encoded in memory, column by column: the oracle of the streaming build.
    fn in_memory(config: &CollectionConfig, id: u64) -> Vec<u8> {
        let vectors: Vec<Vec<f32>> = (0..ROWS).map(vector).collect();
        let ids: Vec<PointId> = (0..ROWS as u64).map(PointId::Num).collect();
        let versions: Vec<u64> = (0..ROWS as u64).map(|i| i + 1).collect();
        let originals: Vec<u8> = vectors
            .iter()
            .flatten()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let payloads: Vec<Option<Vec<u8>>> = (0..ROWS).map(payload).collect();
        let payload_refs: Vec<Option<&[u8]>> = payloads.iter().map(|p| p.as_deref()).collect();
        let kind = quant::code_kind(&config.quantization);
        let mut codes = Vec::new();
        let mut stats = None;
        let mut scalar = None;
        let mut rotated = None;
        let put = |codes: &mut Vec<u8>, words: &[u64]| {
            codes.extend(words.iter().flat_map(|w| w.to_le_bytes()));
        };
        match kind {
            CodeKind::OneBit => {
                for v in &vectors {
                    let mut w = vec![0u64; kind.words(DIM)];
                    quant::binary::encode_one_bit(v, 0.0, &mut w);
                    put(&mut codes, &w);
                }
            }
            CodeKind::TwoBits => {
                let mut welford = Welford::new(DIM);
                vectors.iter().for_each(|v| welford.add(v));
                let (mean, std) = welford.finish();
                let m = MultiBit {
                    two_bits: true,
                    mean,
                    std,
                };
                for v in &vectors {
                    let mut w = vec![0u64; kind.words(DIM)];
                    m.encode(v, &mut w);
                    put(&mut codes, &w);
                }
                stats = Some(m);
            }
            CodeKind::ScalarInt8 => {
                let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
                let p = train(DIM, &flat, None, RangeDesign::PerDimension, id);
                let mut norms = Vec::new();
                for v in &vectors {
                    let mut c = vec![0u8; code_stride(DIM)];
                    p.encode(v, &mut c);
                    codes.extend_from_slice(&c);
                    norms.push(v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() as f32);
                }
                scalar = Some((p, norms));
            }
            CodeKind::RotatedOneBit | CodeKind::RotatedTwoBits => {
                let kernels = Kernels::detect();
                let bits = kind.rotated_bits().unwrap_or(1);
                let r = Rotated::train(DIM, bits, ROWS, &vectors, kernels);
                let mut rows = Vec::new();
                let mut row_major = Vec::new();
                for v in &vectors {
                    let mut w = vec![0u64; kind.words(DIM)];
                    rows.push(r.encode(config.distance, v, kernels, &mut w));
                    put(&mut row_major, &w);
                }
                let stride = 8 * kind.words(DIM);
                codes = vec![0u8; rotated::blocks_len(ROWS, stride)];
                rotated::transpose_into(&row_major, stride, &mut codes);
                rotated = Some((r, rows));
            }
            CodeKind::None | CodeKind::OneAndHalfBits => unreachable!(),
        }
        encode(&SegmentColumns {
            segment_id: id,
            dim: DIM,
            distance: config.distance,
            datatype: Datatype::F32,
            code_kind: kind,
            ids: &ids,
            versions: &versions,
            originals: &originals,
            codes: &codes,
            payloads: &payload_refs,
            scalar: scalar.as_ref().map(|(p, n)| (p, n.as_slice())),
            binary_stats: stats.as_ref(),
            rotated: rotated.as_ref().map(|(r, f)| (r, f.as_slice())),
        })
        .unwrap()
    }

    fn live_chunk() -> LiveChunk {
        let mut live = LiveChunk::new(&[ColumnShape {
            rotated: None,
            dim: DIM,
            datatype: Datatype::F32,
            code_words: CodeKind::OneBit.words(DIM),
            offsets: false,
            means: false,
        }]);
        for i in 0..ROWS {
            let bytes: Vec<u8> = vector(i).iter().flat_map(|x| x.to_le_bytes()).collect();
            live.push(
                i as u64 + 1,
                PointId::Num(i as u64),
                &[&bytes],
                payload(i).as_deref(),
            );
        }
        live
    }

    #[test]
    fn streaming_build_equals_the_in_memory_encoding_across_chunks() {
        let chunk = live_chunk();
        let none = Bitmap::default();
        let live = LiveRows {
            chunk: &chunk,
            deleted: &none,
        };
        let rows: Vec<(usize, usize)> = (0..ROWS).map(|r| (0, r)).collect();
        let quantizations = [
            Quantization::Binary(BinaryConfig::default()),
            Quantization::Binary(BinaryConfig::default().with_encoding(BinaryEncoding::TwoBits)),
            Quantization::Binary(
                BinaryConfig::default().with_encoding(BinaryEncoding::RotatedOneBit),
            ),
            Quantization::Binary(
                BinaryConfig::default().with_encoding(BinaryEncoding::RotatedTwoBits),
            ),
            Quantization::Scalar(ScalarConfig::default()),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for quantization in quantizations {
            let config = CollectionConfig::new(DIM, Distance::Dot).with_quantization(quantization);
            for pool in [None, Some(&pool)] {
                let progress = AtomicU64::new(0);
                let build = Build {
                    sources: &[&live],
                    rows: &rows,
                    id: 9,
                    config: &config,
                    kernels: Kernels::detect(),
                    pool,
                    progress: Some(&progress),
                    cancel: None,
                };
                let bytes = build.write(Vec::new()).unwrap();
                assert!(bytes == in_memory(&config, 9), "{quantization:?}");
                assert_eq!(progress.load(Ordering::SeqCst), ROWS as u64);
            }
        }
    }

    #[test]
    fn a_cancelled_build_stops_with_interrupted() {
        let chunk = live_chunk();
        let none = Bitmap::default();
        let live = LiveRows {
            chunk: &chunk,
            deleted: &none,
        };
        let rows: Vec<(usize, usize)> = (0..ROWS).map(|r| (0, r)).collect();
        let config = CollectionConfig::new(DIM, Distance::Dot)
            .with_quantization(Quantization::Binary(BinaryConfig::default()));
        let cancel = AtomicBool::new(true);
        let build = Build {
            sources: &[&live],
            rows: &rows,
            id: 1,
            config: &config,
            kernels: Kernels::detect(),
            pool: None,
            progress: None,
            cancel: Some(&cancel),
        };
        let err = build.write(Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    }

    /// A slot's sections in a version 2 build are exactly what a version 1 build of the
    /// slot's vectors, as rows of their own, writes: the slot path reuses the one
    /// single-vector encoder, including its training sample and quantizer.
    #[test]
    fn each_slot_builds_like_a_segment_of_its_vectors() {
        use crate::format::segment::{self, Section};
        let offsets_shape = |dim| ColumnShape {
            rotated: None,
            dim,
            datatype: Datatype::F32,
            code_words: CodeKind::OneBit.words(dim),
            offsets: true,
            means: true,
        };
        let mut chunk = LiveChunk::new(&[offsets_shape(DIM), offsets_shape(DIM)]);
        let mut flat: [Vec<Vec<f32>>; 2] = [Vec::new(), Vec::new()];
        let bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        for i in 0..ROWS {
            let dense: Vec<Vec<f32>> = (i % 3 != 0).then(|| vector(i)).into_iter().collect();
            let multi: Vec<Vec<f32>> = (0..i % 4).map(|j| vector(i * 7 + j)).collect();
            let encoded: [Vec<u8>; 2] = [
                dense.iter().flat_map(|v| bytes(v)).collect(),
                multi.iter().flat_map(|v| bytes(v)).collect(),
            ];
            chunk.push(
                i as u64 + 1,
                PointId::Num(i as u64),
                &[&encoded[0], &encoded[1]],
                None,
            );
            flat[0].extend(dense);
            flat[1].extend(multi);
        }
        let none = Bitmap::default();
        let live = LiveRows {
            chunk: &chunk,
            deleted: &none,
        };
        let rows: Vec<(usize, usize)> = (0..ROWS).map(|r| (0, r)).collect();
        let quantizations = [
            Quantization::Binary(BinaryConfig::default()),
            Quantization::Binary(
                BinaryConfig::default().with_encoding(BinaryEncoding::OneAndHalfBits),
            ),
            Quantization::Scalar(ScalarConfig::default().with_quantile(0.99)),
        ];
        for quantization in quantizations {
            let params = crate::config::VectorParams::new(DIM, Distance::Dot)
                .with_quantization(quantization);
            let config = CollectionConfig::new(DIM, Distance::Dot)
                .with_quantization(quantization)
                .with_vector("m", params.with_multivector());
            let build =
                |config: &CollectionConfig, sources: &[&dyn Rows], rows: &[(usize, usize)]| {
                    Build {
                        sources,
                        rows,
                        id: 9,
                        config,
                        kernels: Kernels::detect(),
                        pool: None,
                        progress: None,
                        cancel: None,
                    }
                    .write(Vec::new())
                    .unwrap()
                };
            let v2 = build(&config, &[&live], &rows);
            let layout = segment::parse(&v2).unwrap();
            assert_eq!(layout.version, 2);
            for (n, vectors) in flat.iter().enumerate() {
                let mut single = LiveChunk::new(&[ColumnShape {
                    offsets: false,
                    ..offsets_shape(DIM)
                }]);
                for (i, v) in vectors.iter().enumerate() {
                    single.push(1, PointId::Num(i as u64), &[&bytes(v)], None);
                }
                let single = LiveRows {
                    chunk: &single,
                    deleted: &none,
                };
                let rows: Vec<(usize, usize)> = (0..vectors.len()).map(|r| (0, r)).collect();
                let one = CollectionConfig::new(DIM, Distance::Dot).with_quantization(quantization);
                let v1 = build(&one, &[&single], &rows);
                let v1_layout = segment::parse(&v1).unwrap();
                assert_eq!(layout.slots[n].vectors, vectors.len());
                for s in [
                    Section::Originals,
                    Section::Codes,
                    Section::QuantParams,
                    Section::Norms,
                    Section::BinaryStats,
                ] {
                    assert_eq!(
                        &v2[layout.range_at(s, n)],
                        &v1[v1_layout.range(s)],
                        "{quantization:?} slot {n} {}",
                        s.name()
                    );
                }
            }
        }
    }
}
