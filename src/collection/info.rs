//! What [`Collection::info`](super::Collection::info) reports: counts, each segment, bytes
//! on disk and in RAM.

use std::path::{Path, PathBuf};

use super::{Collection, SEGMENTS_DIR, WAL_DIR};
use crate::config::{CollectionConfig, PayloadSchema};
use crate::error::Result;
use crate::format::segment::Section;
use crate::io::Fs;
use crate::segment::immutable::ChecksumStatus;

/// Bytes on disk, by component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Point ids, versions and per-row bookkeeping (vector and payload offsets, payload
    /// presence bits) in segment files.
    pub ids: u64,
    /// Original vectors in segment files.
    pub originals: u64,
    /// Quantized codes in segment files (with the rotated codes' centroids, factors and
    /// centroid numbers).
    pub codes: u64,
    /// Payload bytes in segment files (0 when no point has a payload).
    pub payloads: u64,
    /// Payload indexes in segment files.
    pub payload_indexes: u64,
    /// Deletion sidecar files.
    pub deletions: u64,
    /// WAL files.
    pub wal: u64,
    /// Headers, section tables, alignment padding, config, manifest, lock.
    pub other: u64,
    /// Everything in the collection directory.
    pub total: u64,
}

/// Heap bytes held by the collection (memory-mapped segment files are not counted: the OS
/// page cache holds them and can drop them under pressure).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RamUsage {
    /// The live segment and the frozen ones: originals, codes, ids, payloads and id
    /// indexes.
    pub live_segment: u64,
    /// Deletion bitmaps of the immutable segments.
    pub deletion_bitmaps: u64,
    /// The 1-bit sign sketches of int8 codes that searches have made (an eighth of those
    /// codes): multivector int8 search, and `SearchParams::sketch_pool`.
    pub search_sketches: u64,
    /// Payload indexes of the immutable segments (those of the live segment count in
    /// `live_segment`).
    pub payload_indexes: u64,
    /// The rows of the filters searched most recently, kept per immutable segment (at
    /// most [`FILTER_CACHE_ENTRIES`](crate::FILTER_CACHE_ENTRIES) bits per row).
    pub filter_cache: u64,
    /// The sum.
    pub total: u64,
}

/// One immutable segment, as [`Collection::info`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment's id (its file is `segments/<id as 16 hex digits>.seg`).
    pub id: u64,
    /// Rows in the file.
    pub rows: u64,
    /// Rows marked deleted (deleted or overwritten points).
    pub deleted: u64,
    /// Its codes: `none`, `binary1`, `binary1.5`, `binary2` or `scalar8`.
    pub encoding: &'static str,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// What is known of its checksums (see
    /// [`OpenOptions::verify_segments_on_open`](crate::OpenOptions::verify_segments_on_open)).
    pub checksums: ChecksumStatus,
}

/// One payload index, as [`Collection::info`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadIndexInfo {
    /// The key it indexes.
    pub key: String,
    /// The type of values it holds.
    pub schema: PayloadSchema,
    /// `(value, point)` pairs it holds in the immutable segments that hold it.
    pub values: u64,
    /// Bytes of it in segment files.
    pub disk_bytes: u64,
    /// Heap bytes of it in RAM, in every segment that has made or read it (the live
    /// segment's included).
    pub ram_bytes: u64,
    /// Immutable segments whose file holds it (the others make it from their payloads
    /// on the first filter that uses it, until the optimizer rewrites them).
    pub segments_with_it: usize,
}

/// What [`Collection::info`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInfo {
    /// Points currently stored (deleted and overwritten copies not counted).
    pub points: usize,
    /// Immutable segment files.
    pub segments: usize,
    /// Each immutable segment, oldest first.
    pub segment_list: Vec<SegmentInfo>,
    /// Points in memory, not yet in a segment file: the live segment and the frozen ones.
    pub live_points: usize,
    /// Full live segments frozen and waiting for the background sealer to write them
    /// (still searched; at most [`MAX_FROZEN_SEGMENTS`](crate::MAX_FROZEN_SEGMENTS)
    /// before writers wait).
    pub frozen_segments: usize,
    /// Bytes on disk by component.
    pub disk: DiskUsage,
    /// Bytes in RAM by component.
    pub ram: RamUsage,
    /// The SIMD kernels in use (`scalar`, `avx2`, `avx512`, `neon`, `neon-dotprod`).
    pub kernels: &'static str,
    /// The collection's config.
    pub config: CollectionConfig,
    /// Each payload index, by key.
    pub payload_indexes: Vec<PayloadIndexInfo>,
    /// WAL tails that recovery cut off and kept (`wal/<file>-<offset>.torn`, in name
    /// order): evidence of writes a crash, a truncation or damage cut short
    /// ([`RecoveryReport`](crate::RecoveryReport)). Look at them, then delete them.
    pub kept_wal_tails: Vec<PathBuf>,
}

impl Collection {
    /// Counts, bytes on disk and bytes in RAM, by component.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&[Point::new(1, vec![1.0, 0.0])])?;
    /// let info = c.info()?;
    /// assert_eq!((info.points, info.live_points), (1, 1));
    /// println!("{} bytes on disk, {} in RAM", info.disk.total, info.ram.total);
    /// # Ok(())
    /// # }
    /// ```
    pub fn info(&self) -> Result<CollectionInfo> {
        self.check_open()?;
        let inner = &self.inner;
        let vfs = &*inner.vfs;
        let st = self.version();
        let mut disk = DiskUsage::default();
        for s in &st.sealed {
            let (ids, originals, codes, payloads) = s.seg.section_bytes();
            disk.ids += ids;
            disk.originals += originals;
            disk.codes += codes;
            disk.payloads += payloads;
            disk.payload_indexes += s.seg.layout().range(Section::PayloadIndexes).len() as u64;
        }
        let size = |p: &Path| vfs.file_size(p).unwrap_or(0);
        let seg_dir = inner.dir.join(SEGMENTS_DIR);
        let wal_dir = inner.dir.join(WAL_DIR);
        let mut total = 0;
        for name in vfs.list_dir(&seg_dir)? {
            let bytes = size(&seg_dir.join(&name));
            total += bytes;
            if name.ends_with(".del") {
                disk.deletions += bytes;
            }
        }
        let mut kept_wal_tails = Vec::new();
        for name in vfs.list_dir(&wal_dir)? {
            let bytes = size(&wal_dir.join(&name));
            total += bytes;
            disk.wal += bytes;
            if name.ends_with(".torn") {
                kept_wal_tails.push(wal_dir.join(&name));
            }
        }
        kept_wal_tails.sort();
        for name in vfs.list_dir(&inner.dir)? {
            total +=
                size(&inner.dir.join(&name)) * u64::from(name != WAL_DIR && name != SEGMENTS_DIR);
        }
        disk.total = total;
        disk.other = total.saturating_sub(
            disk.ids
                + disk.originals
                + disk.codes
                + disk.payloads
                + disk.payload_indexes
                + disk.deletions
                + disk.wal,
        );
        let live =
            st.live.heap_bytes() + st.frozen.iter().map(|f| f.live.heap_bytes()).sum::<u64>();
        let bitmaps: u64 = st
            .sealed
            .iter()
            .map(|s| s.deleted.heap_bytes() as u64)
            .sum();
        let sketches: u64 = st.sealed.iter().map(|s| s.seg.sketch_bytes()).sum();
        let filters: u64 = st.sealed.iter().map(|s| s.seg.filter_cache_bytes()).sum();
        let config = inner.current_config();
        let mut indexes: Vec<PayloadIndexInfo> = config
            .payload_indexes
            .iter()
            .map(|(key, &schema)| PayloadIndexInfo {
                key: key.clone(),
                schema,
                values: 0,
                disk_bytes: 0,
                ram_bytes: 0,
                segments_with_it: 0,
            })
            .collect();
        let mut index_ram = 0;
        let views = st.views();
        for (n, rows) in views.all().into_iter().enumerate() {
            let sealed = n >= views.live_blocks();
            let Some(cached) = rows.cached_payload_indexes() else {
                continue;
            };
            for f in &cached.fields {
                let bytes = f.heap_bytes() as u64;
                index_ram += bytes * u64::from(sealed);
                if let Some(info) = indexes.iter_mut().find(|i| i.key == f.key) {
                    info.ram_bytes += bytes;
                }
            }
        }
        for s in &st.sealed {
            for (key, values, bytes) in s.seg.persisted_index_sizes() {
                if let Some(info) = indexes.iter_mut().find(|i| i.key == key) {
                    info.values += values;
                    info.disk_bytes += bytes;
                    info.segments_with_it += 1;
                }
            }
        }
        let segment_list = st
            .sealed
            .iter()
            .map(|s| {
                let l = s.seg.layout();
                SegmentInfo {
                    id: l.header.segment_id,
                    rows: l.header.rows as u64,
                    deleted: s.deleted.ones() as u64,
                    encoding: l.header.code_kind.name(),
                    bytes: s.seg.file_len(),
                    checksums: s.seg.checksum_status(),
                }
            })
            .collect();
        Ok(CollectionInfo {
            points: st.points,
            segments: st.sealed.len(),
            segment_list,
            live_points: st.live.live_count()
                + st.frozen.iter().map(|f| f.live.live_count()).sum::<usize>(),
            frozen_segments: st.frozen.len(),
            disk,
            ram: RamUsage {
                live_segment: live,
                deletion_bitmaps: bitmaps,
                search_sketches: sketches,
                payload_indexes: index_ram,
                filter_cache: filters,
                total: live + bitmaps + sketches + index_ram + filters,
            },
            kernels: inner.kernels.isa().name(),
            config,
            payload_indexes: indexes,
            kept_wal_tails,
        })
    }
}
