//! The live segment: an in-memory table that takes every write after the WAL.
//!
//! It keeps originals in the stored datatype (so sealing changes no score), ids, versions,
//! payloads and the 1-bit codes, updated on every insert. Its durability comes from the WAL.

use std::collections::HashMap;

use super::{Bitmap, Originals, Rows, decode_stored};
use crate::config::Datatype;
use crate::point::PointId;
use crate::quant;

#[derive(Debug)]
enum OriginalsBuf {
    F32(Vec<f32>),
    F16(Vec<u16>),
    U8(Vec<u8>),
}

#[derive(Debug)]
pub(crate) struct LiveSegment {
    dim: usize,
    datatype: Datatype,
    code_words: usize,
    ids: Vec<PointId>,
    versions: Vec<u64>,
    originals: OriginalsBuf,
    codes: Vec<u64>,
    payloads: Vec<Option<Box<[u8]>>>,
    deleted: Bitmap,
    /// Row of the current copy of each id.
    index: HashMap<PointId, u32>,
    payload_bytes: usize,
}

impl LiveSegment {
    pub(crate) fn new(dim: usize, datatype: Datatype, code_words: usize) -> Self {
        LiveSegment {
            dim,
            datatype,
            code_words,
            ids: Vec::new(),
            versions: Vec::new(),
            originals: match datatype {
                Datatype::F32 => OriginalsBuf::F32(Vec::new()),
                Datatype::F16 => OriginalsBuf::F16(Vec::new()),
                Datatype::U8 => OriginalsBuf::U8(Vec::new()),
            },
            codes: Vec::new(),
            payloads: Vec::new(),
            deleted: Bitmap::default(),
            index: HashMap::new(),
            payload_bytes: 0,
        }
    }

    /// Appends a point whose vector is `dim` components in the stored datatype. The caller
    /// has already deleted any older copy of the id.
    pub(crate) fn push(&mut self, seq: u64, id: PointId, vector: &[u8], payload: Option<&[u8]>) {
        let row = self.ids.len();
        let floats = decode_stored(vector, self.datatype);
        match &mut self.originals {
            OriginalsBuf::F32(v) => v.extend_from_slice(&floats),
            OriginalsBuf::F16(v) => v.extend(
                vector
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]])),
            ),
            OriginalsBuf::U8(v) => v.extend_from_slice(vector),
        }
        if self.code_words > 0 {
            let start = self.codes.len();
            self.codes.resize(start + self.code_words, 0);
            quant::binary::encode_one_bit(
                &floats,
                quant::binary::threshold(self.datatype),
                &mut self.codes[start..],
            );
        }
        self.ids.push(id);
        self.versions.push(seq);
        self.payload_bytes += payload.map_or(0, <[u8]>::len);
        self.payloads.push(payload.map(Box::from));
        self.index.insert(id, row as u32);
    }

    pub(crate) fn find(&self, id: PointId) -> Option<usize> {
        self.index.get(&id).map(|&r| r as usize)
    }

    /// Marks the current copy of `id` deleted; true if there was one.
    pub(crate) fn delete(&mut self, id: PointId) -> bool {
        match self.index.remove(&id) {
            Some(row) => self.deleted.set(row as usize),
            None => false,
        }
    }

    pub(crate) fn live_count(&self) -> usize {
        self.index.len()
    }

    /// Bytes of originals, codes and payloads held (what the seal threshold counts).
    pub(crate) fn data_bytes(&self) -> u64 {
        let per_row = self.dim * self.datatype.size() + self.code_words * 8 + 16 + 8;
        (self.ids.len() * per_row + self.payload_bytes) as u64
    }

    /// Heap bytes in use, including the id index.
    pub(crate) fn heap_bytes(&self) -> u64 {
        let originals = match &self.originals {
            OriginalsBuf::F32(v) => v.capacity() * 4,
            OriginalsBuf::F16(v) => v.capacity() * 2,
            OriginalsBuf::U8(v) => v.capacity(),
        };
        let index = self.index.capacity() * (std::mem::size_of::<(PointId, u32)>() + 1);
        (originals
            + self.codes.capacity() * 8
            + self.ids.capacity() * std::mem::size_of::<PointId>()
            + self.versions.capacity() * 8
            + self.payloads.capacity() * std::mem::size_of::<Option<Box<[u8]>>>()
            + self.payload_bytes
            + self.deleted.heap_bytes()
            + index) as u64
    }

    /// Live rows sorted by id: the row order of the segment this one seals into.
    pub(crate) fn sorted_live_rows(&self) -> Vec<usize> {
        let mut rows: Vec<usize> = self.index.values().map(|&r| r as usize).collect();
        rows.sort_unstable_by_key(|&r| self.ids[r]);
        rows
    }
}

impl Rows for LiveSegment {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn codes(&self) -> &[u64] {
        &self.codes
    }

    fn code_words(&self) -> usize {
        self.code_words
    }

    fn originals(&self) -> Originals<'_> {
        match &self.originals {
            OriginalsBuf::F32(v) => Originals::F32(v),
            OriginalsBuf::F16(v) => Originals::F16(v),
            OriginalsBuf::U8(v) => Originals::U8(v),
        }
    }

    fn deleted(&self) -> &Bitmap {
        &self.deleted
    }

    fn id(&self, row: usize) -> PointId {
        self.ids[row]
    }

    fn payload(&self, row: usize) -> Option<&[u8]> {
        self.payloads.get(row).and_then(|p| p.as_deref())
    }

    fn version(&self, row: usize) -> u64 {
        self.versions[row]
    }

    fn stored_bytes(&self, row: usize, out: &mut Vec<u8>) {
        let range = row * self.dim..(row + 1) * self.dim;
        match &self.originals {
            OriginalsBuf::F32(v) => out.extend(v[range].iter().flat_map(|x| x.to_le_bytes())),
            OriginalsBuf::F16(v) => out.extend(v[range].iter().flat_map(|x| x.to_le_bytes())),
            OriginalsBuf::U8(v) => out.extend_from_slice(&v[range]),
        }
    }
}
