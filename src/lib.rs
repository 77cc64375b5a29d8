//! vecsieve: an embedded vector storage engine.
//!
//! A collection is a directory. Points (an id, a vector, optional payload bytes) are
//! written through a WAL into an in-memory live segment; a full one is frozen (still
//! searched) and written by a background thread as an immutable, memory-mapped segment
//! file. Search is two-stage: a SIMD scan of compact binary codes
//! picks `limit × oversampling` candidates, which are rescored with the original vectors.
//! A collection may also declare named vectors and multivectors (ColBERT/ColPali late
//! interaction, scored with MaxSim): [`VectorParams`], [`Point::with_vector`],
//! [`Collection::search_using`]. Payloads that hold a JSON object are filtered on with
//! Qdrant's filter language: [`Filter`], [`Collection::search_filtered`],
//! [`Collection::count`], [`Collection::scroll`], [`Collection::delete_by_filter`]; keys
//! are indexed with [`Collection::create_payload_index`] ([`PayloadSchema`]) and payloads
//! changed with [`Collection::set_payload`] and its siblings ([`PointSelector`]).
//!
//! ```
//! use vecsieve::{BinaryConfig, Collection, CollectionConfig, Distance, Point, Quantization,
//!                SearchParams};
//!
//! # fn main() -> vecsieve::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let config = CollectionConfig::new(4, Distance::Cosine)
//!     .with_quantization(Quantization::Binary(BinaryConfig::default()));
//! let collection = Collection::create(dir.path().join("docs"), config)?;
//!
//! collection.upsert(&[
//!     Point::new(1, vec![0.9, 0.1, 0.0, 0.2]).with_payload(br#"{"title":"a"}"#.to_vec()),
//!     Point::new(2, vec![-0.5, 0.8, 0.1, 0.0]),
//!     Point::new(3, vec![0.7, 0.3, -0.1, 0.4]),
//! ])?;
//!
//! let params = SearchParams::default().with_oversampling(4.0).with_payload(true);
//! let hits = collection.search(&[1.0, 0.0, 0.0, 0.3], 2, &params)?;
//! assert_eq!(hits[0].id, 1.into());
//! assert_eq!(hits[0].payload.as_deref(), Some(&br#"{"title":"a"}"#[..]));
//!
//! collection.close()?;
//! let reopened = Collection::open(dir.path().join("docs"))?;
//! assert_eq!(reopened.len(), 3);
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//! - With [`Durability::Sync`] (the default) a write call returns after the WAL is
//!   `fdatasync`ed; concurrent writers share one sync. A batch is atomic.
//! - A failed WAL write or fsync poisons the collection ([`Error::Poisoned`]): it refuses
//!   writes until reopened, and never retries a failed fsync.
//! - One handle writes a collection directory ([`Error::Locked`], naming the holder's
//!   process, for a second writer); [`Collection::close`] returns only after every rewrite
//!   in progress has stopped. Read-only handles ([`OpenOptions::read_only`]), in any
//!   process, read consistent snapshots beside it and write nothing.
//! - WAL recovery cuts only a tail past the last sync point the log records, keeps its
//!   bytes in `wal/*.torn` and reports it ([`Collection::recovery_report`]); damage to
//!   synced records is [`Error::Corrupted`].
//! - Segment checksums are checked in the background after open
//!   ([`OpenOptions::verify_segments_on_open`] to check first); reads of a damaged
//!   segment return [`Error::ChecksumMismatch`], and no rewrite copies damaged input.
//! - A search works on one immutable version of the collection and holds no lock: it sees
//!   every batch whole and never waits for a write, a seal or a rewrite. Writers wait only
//!   while [`MAX_FROZEN_SEGMENTS`] full live segments wait to be written (back-pressure).
//! - Reading changes nothing on disk: the WAL file is created by the first write.
//! - Bad input is a typed [`Error`] and writes nothing.
//!
//! # Limits
//! Dimension up to [`MAX_DIM`], `limit` up to [`MAX_LIMIT`], oversampling up to
//! [`MAX_OVERSAMPLING`], payload up to [`MAX_PAYLOAD_BYTES`] per point, one batch up to
//! 256 MiB encoded, [`MAX_NAMED_VECTORS`] named vectors (names up to
//! [`MAX_VECTOR_NAME_BYTES`]), [`MAX_MULTIVECTOR_LEN`] vectors per multivector,
//! [`MAX_PAYLOAD_INDEXES`] payload indexes (keys up to [`MAX_INDEX_KEY_BYTES`]).
//! Little-endian targets only (the file format is little-endian and segment files are
//! memory-mapped as is).
//!
//! # Non-goals
//! Not a server, not distributed.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[cfg(target_endian = "big")]
compile_error!(
    "vecsieve memory-maps its little-endian files as is, so it needs a little-endian target"
);

mod collection;
mod config;
mod error;
pub mod filter;
mod format;
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
mod manifest;
pub mod optimizer;
mod point;
mod quant;
mod search;
mod segment;
pub mod simd;
pub mod vecs;
pub mod verify;
mod wal;

pub use collection::{
    BackupOptions, BackupReport, Collection, CollectionInfo, DiskUsage, FILTER_MAX_DEPTH,
    MAX_FROZEN_SEGMENTS, OpenOptions, OptimizeReport, PayloadIndexInfo, PointSelector, Points,
    RamUsage, ScrollPage, SegmentInfo,
};
pub use config::{
    ADAPTIVE_OVERSAMPLING, BinaryConfig, BinaryEncoding, CollectionConfig, Datatype, Distance,
    Durability, MAX_DIM, MAX_INDEX_KEY_BYTES, MAX_LIMIT, MAX_MULTIVECTOR_LEN, MAX_NAMED_VECTORS,
    MAX_OVERSAMPLING, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_INDEXES, MAX_VECTOR_NAME_BYTES,
    MultiVectorComparator, MultiVectorConfig, PayloadSchema, Quantization, QueryEncoding,
    ScalarConfig, SearchDefaults, SearchParams, VectorParams,
};
pub use error::{BatchPoint, Error, InvalidVector, Result, VectorAt, VectorProblem};
pub use filter::index::FILTER_CACHE_ENTRIES;
pub use filter::{Condition, FieldCondition, Filter, Match, MatchValue, Range};
pub use point::{Point, PointId, ScoredPoint, Vector, VectorRef};
pub use segment::immutable::ChecksumStatus;
pub use wal::record::MAX_RECORD_BODY;
pub use wal::{DroppedTail, RecoveryReport};

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The codec of every file kind, for the conformance test against the golden files
/// (`tests/golden.rs`). Not a stable API.
#[doc(hidden)]
pub mod codec {
    pub use crate::manifest::{Manifest, SegmentEntry};
    pub use crate::segment::deletes;

    /// Segment files (format-spec/segment.md).
    pub mod segment {
        pub use crate::filter::index::FieldIndex;
        pub use crate::format::segment::{
            Layout, Section, SegmentColumns, SlotColumns, SlotLayout, decode_binary_stats,
            decode_payload_indexes, decode_rotation, decode_scalar_params, decode_slots, encode,
            encode_with_slots, parse, payload_indexes_section,
        };
        pub use crate::quant::CodeKind;
    }

    /// WAL files and records (format-spec/wal.md).
    pub mod wal {
        pub use crate::wal::record::{
            FileHeader, RecordKind, RecordMeta, ScanEnd, SlotShape, UpsertRow, VectorsRow,
            decode_delete, decode_upsert, decode_upsert_vectors, encode_delete, encode_file_header,
            encode_record, encode_upsert, encode_upsert_vectors, parse_file_header, scan,
        };
    }

    /// The quantizers whose parameters segment files carry (format-spec/quantization.md).
    pub mod quant {
        pub use crate::quant::binary::{MultiBit, encode_one_bit};
        pub use crate::quant::rotated::{
            ROTATION_SEED, Rotated, Rotation, RowFactors, blocks_len, transpose_into,
        };
        pub use crate::quant::scalar::{RangeDesign, ScalarParams, code_stride, train};
        pub use crate::quant::stats::Welford;
    }
}

/// Engine internals the `vecsieve` command line's advisor shares (the 1-bit encoder, the
/// seeded sampler). Not a stable API.
#[doc(hidden)]
pub mod tooling {
    pub use crate::quant::binary::{encode_one_bit, threshold};
    pub use crate::quant::stats::uniform_sample;
}
