//! [`Collection`]: the handle applications use.
//!
//! The handle, the write path, checkpoints and rewrites live here; the directory's files in
//! [`directory`], point validation in [`validate`], the background threads in [`worker`],
//! and what `info` reports in [`info`].

mod directory;
mod info;
mod read;
mod rewrite;
mod validate;
mod worker;

pub(crate) use directory::{
    CONFIG_FILE, MANIFEST_FILE, SEGMENTS_DIR, WAL_DIR, open_named_segment, read_config,
    read_deletions, segment_file, sidecar_file,
};
pub use info::{CollectionInfo, DiskUsage, RamUsage, SegmentInfo};

use directory::{collect_garbage, write_config};
use validate::{in_point, stored_point};
use worker::{
    OptimizerRuntime, background_optimizer, background_sync, check_segments, optimizer_pool,
    stop_optimizer,
};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::config::{CollectionConfig, Durability, Quantization};
use crate::error::{Error, Result};
use crate::format::DecodeError;
use crate::format::segment::CodeKind;
use crate::io::Fs;
use crate::io::lock::DirLock;
use crate::io::{StdVfs, Vfs};
use crate::io::{write_atomic, write_atomic_with};
use crate::manifest::{Manifest, SegmentEntry};
use crate::optimizer::{OptimizerStatus, SegmentMeta};
use crate::point::{Point, PointId};
use crate::segment::build::{self, Build, FileSink};
use crate::segment::immutable::{ImmutableSegment, SegmentRows};
use crate::segment::live::LiveSegment;
use crate::segment::{Bitmap, Rows, deletes};
use crate::simd::Kernels;
use crate::wal::record::{self, MAX_RECORD_BODY, RecordKind, UpsertRow};
use crate::wal::{self, GroupCommit, RecoveryReport, WalWriter};

/// Options of one open handle (not stored in the collection).
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Start the background optimizer if the collection's config enables it (default
    /// true). Tools that only look (inspect, search) turn it off so that they change
    /// nothing on disk beyond WAL recovery.
    pub background_optimizer: bool,
    /// Check every segment's checksums before `open` returns (default false: a background
    /// thread checks them after `open` returns, and reads are unchecked until it reaches
    /// their segment). Either way a read that touches a segment found damaged returns
    /// `Error::ChecksumMismatch` (or `Error::Corrupted`) instead of its data.
    pub verify_segments_on_open: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            background_optimizer: true,
            verify_segments_on_open: false,
        }
    }
}

/// What [`Collection::optimize`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptimizeReport {
    /// Segments combined into larger ones.
    pub merged: usize,
    /// Segments rewritten without their deleted rows.
    pub vacuumed: usize,
    /// Segments rewritten with the collection's current codes.
    pub requantized: usize,
}

#[derive(Debug)]
struct Sealed {
    seg: Arc<ImmutableSegment>,
    deleted: Bitmap,
    dirty: bool,
}

impl Sealed {
    fn rows(&self) -> SegmentRows<'_> {
        SegmentRows {
            seg: &self.seg,
            deleted: &self.deleted,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Loc {
    Live(usize),
    Sealed(usize, usize),
}

/// Everything readers see. Mutated only by the holder of the writer lock.
#[derive(Debug)]
struct State {
    live: LiveSegment,
    /// In manifest order (oldest first).
    sealed: Vec<Sealed>,
    manifest: Manifest,
    points: usize,
}

impl State {
    /// The sealed segments whose id passes `keep`, each with a copy of its deletion bitmap:
    /// what a reader that runs without the state lock works on.
    fn snapshot(&self, keep: impl Fn(u64) -> bool) -> Vec<(Arc<ImmutableSegment>, Bitmap)> {
        self.sealed
            .iter()
            .filter(|s| keep(s.seg.layout().header.segment_id))
            .map(|s| (Arc::clone(&s.seg), s.deleted.clone()))
            .collect()
    }

    fn locate(&self, id: PointId) -> Option<Loc> {
        if let Some(row) = self.live.find(id) {
            return Some(Loc::Live(row));
        }
        self.sealed.iter().enumerate().rev().find_map(|(i, s)| {
            s.seg
                .find(id)
                .filter(|&row| !s.deleted.get(row))
                .map(|row| Loc::Sealed(i, row))
        })
    }

    /// Marks the current copy of `id` deleted; true if there was one.
    fn remove(&mut self, id: PointId) -> bool {
        let removed = match self.locate(id) {
            Some(Loc::Live(_)) => self.live.delete(id),
            Some(Loc::Sealed(i, row)) => {
                let s = &mut self.sealed[i];
                s.dirty = true;
                s.deleted.set(row)
            }
            None => false,
        };
        self.points -= usize::from(removed);
        removed
    }

    fn apply_upsert(&mut self, seq: u64, rows: &[UpsertRow<'_>]) {
        for row in rows {
            self.remove(row.id);
            self.live.push(seq, row.id, row.vector, row.payload);
            self.points += 1;
        }
    }

    fn apply_delete(&mut self, ids: &[PointId]) -> usize {
        ids.iter().filter(|&&id| self.remove(id)).count()
    }

    fn apply_record(
        &mut self,
        config: &CollectionConfig,
        seq: u64,
        kind: RecordKind,
        body: &[u8],
    ) -> Result<(), DecodeError> {
        match kind {
            RecordKind::Upsert => {
                let rows = record::decode_upsert(body, config.dim, config.datatype)?;
                self.apply_upsert(seq, &rows);
            }
            RecordKind::Delete => {
                self.apply_delete(&record::decode_delete(body)?);
            }
        }
        Ok(())
    }
}

/// 1-bit code words per row of the live segment (scalar collections keep none there: the
/// live segment is scanned exactly).
fn code_words(config: &CollectionConfig) -> usize {
    match config.quantization {
        Quantization::Binary(_) => CodeKind::OneBit.words(config.dim),
        Quantization::None | Quantization::Scalar(_) => 0,
    }
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    /// Fixed at creation except `quantization`, whose current value is `quantization`.
    config: CollectionConfig,
    /// The quantization new segments get (`set_quantization` changes it).
    quantization: RwLock<Quantization>,
    vfs: Arc<dyn Vfs>,
    lock: Mutex<Option<DirLock>>,
    state: RwLock<State>,
    /// The write lock: held while appending to the WAL, applying to the state and sealing.
    writer: Mutex<Option<WalWriter>>,
    /// Held while segments are rewritten (one rewrite at a time). Lock order: `optimizing`,
    /// then `writer`, then `state`; code holding `writer` only ever `try_lock`s it.
    optimizing: Mutex<()>,
    optimizer: Arc<OptimizerRuntime>,
    group: GroupCommit,
    poisoned: AtomicBool,
    closed: AtomicBool,
    pool: rayon::ThreadPool,
    kernels: &'static Kernels,
    flusher_stop: Mutex<Option<mpsc::Sender<()>>>,
    /// What WAL recovery did when this handle opened the collection.
    recovery: RecoveryReport,
    /// Stops the background checksum check (set by `close` and the last handle's drop).
    stop_checks: Arc<AtomicBool>,
}

/// A collection of points in one directory.
///
/// Cheap to clone: clones share one open collection. Every method takes `&self` and may be
/// called from any thread. Writes are serialized; searches run concurrently with each other
/// and see a consistent state.
#[derive(Debug, Clone)]
pub struct Collection {
    /// Present in the application's handles (not the background threads'): when the last
    /// one drops, it stops the optimizer before `inner` is released. Declared first so it
    /// drops first.
    _token: Option<Arc<HandleToken>>,
    inner: Arc<Inner>,
}

/// Stops the background optimizer (and checksum check) when the last application handle
/// is dropped, so that the collection (and its directory lock) is released as the handle
/// goes.
#[derive(Debug)]
struct HandleToken {
    optimizer: Arc<OptimizerRuntime>,
    stop_checks: Arc<AtomicBool>,
}

impl Drop for HandleToken {
    fn drop(&mut self) {
        self.stop_checks.store(true, Ordering::SeqCst);
        stop_optimizer(&self.optimizer);
    }
}

impl Collection {
    /// Creates a collection in `path` (created if missing; it must be empty).
    ///
    /// Errors: `Error::AlreadyExists` if the directory holds a collection or other files,
    /// `Error::InvalidArgument` for an invalid config.
    pub fn create(path: impl AsRef<Path>, config: CollectionConfig) -> Result<Self> {
        Self::create_with_vfs(path, config, Arc::new(StdVfs))
    }

    /// [`create`](Self::create) through another [`Vfs`] (fault-injection tests).
    #[doc(hidden)]
    pub fn create_with_vfs(
        path: impl AsRef<Path>,
        config: CollectionConfig,
        vfs: Arc<dyn Vfs>,
    ) -> Result<Self> {
        config.validate()?;
        let dir = path.as_ref().to_path_buf();
        if let Ok(names) = vfs.list(&dir) {
            // Leftovers of a create that was interrupted before its MANIFEST are accepted.
            let leftover = [
                "LOCK",
                CONFIG_FILE,
                "config.json.tmp",
                "MANIFEST.tmp",
                WAL_DIR,
                SEGMENTS_DIR,
            ];
            if names.iter().any(|n| !leftover.contains(&n.as_str())) {
                return Err(Error::AlreadyExists(dir));
            }
        }
        vfs.create_dirs(&dir)?;
        let lock = DirLock::acquire(&*vfs, &dir)?;
        for sub in [WAL_DIR, SEGMENTS_DIR] {
            let p = dir.join(sub);
            vfs.create_dirs(&p)?;
        }
        write_config(&*vfs, &dir, config)?;
        Manifest::empty().write(&*vfs, &dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            vfs.sync_directory(parent)?;
        }
        Self::open_locked(dir, lock, vfs, OpenOptions::default())
    }

    /// Opens the collection in `path`, replaying its WAL.
    ///
    /// Errors: `Error::NotFound`, `Error::NotACollection`, `Error::Locked` if another handle
    /// (in this process or another) has it open, `Error::Corrupted` and friends for damaged
    /// files, `Error::InvalidConfig` for a bad `config.json`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_vfs(path, Arc::new(StdVfs))
    }

    /// [`open`](Self::open) with options for this handle (not stored in the collection).
    pub fn open_with_options(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        Self::open_inner(path.as_ref(), Arc::new(StdVfs), options)
    }

    /// [`open`](Self::open) through another [`Vfs`] (fault-injection tests).
    #[doc(hidden)]
    pub fn open_with_vfs(path: impl AsRef<Path>, vfs: Arc<dyn Vfs>) -> Result<Self> {
        Self::open_inner(path.as_ref(), vfs, OpenOptions::default())
    }

    fn open_inner(path: &Path, vfs: Arc<dyn Vfs>, options: OpenOptions) -> Result<Self> {
        let dir = path.to_path_buf();
        let names = match vfs.list(&dir) {
            Ok(names) => names,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(dir));
            }
            Err(e) => return Err(Error::io(&dir, e)),
        };
        if !names.iter().any(|n| n == MANIFEST_FILE) {
            return Err(Error::NotACollection(dir));
        }
        let lock = DirLock::acquire(&*vfs, &dir)?;
        Self::open_locked(dir, lock, vfs, options)
    }

    fn open_locked(
        dir: PathBuf,
        lock: DirLock,
        vfs: Arc<dyn Vfs>,
        options: OpenOptions,
    ) -> Result<Self> {
        let config = read_config(&*vfs, &dir)?;
        let manifest = Manifest::read(&*vfs, &dir)?;
        collect_garbage(&*vfs, &dir, &manifest)?;
        let seg_dir = dir.join(SEGMENTS_DIR);
        let mut sealed = Vec::with_capacity(manifest.segments.len());
        let mut points = 0;
        for entry in &manifest.segments {
            let s = open_sealed(&*vfs, &seg_dir, entry, &config)?;
            points += s.seg.rows() - s.deleted.ones();
            sealed.push(s);
        }
        let to_check: Vec<Arc<ImmutableSegment>> =
            sealed.iter().map(|s| Arc::clone(&s.seg)).collect();
        let stop_checks = Arc::new(AtomicBool::new(false));
        if options.verify_segments_on_open {
            check_segments(&to_check, &stop_checks);
        } else if !to_check.is_empty() {
            let stop = Arc::clone(&stop_checks);
            std::thread::Builder::new()
                .name("vecsieve-checksums".into())
                .spawn(move || check_segments(&to_check, &stop))
                .map_err(|e| Error::io(&dir, e))?;
        }
        let mut state = State {
            live: LiveSegment::new(config.dim, config.datatype, code_words(&config)),
            sealed,
            manifest: manifest.clone(),
            points,
        };
        let wal_dir = dir.join(WAL_DIR);
        let recovery = wal::recover(
            &*vfs,
            &wal_dir,
            manifest.checkpoint_seq,
            |seq, kind, body| state.apply_record(&config, seq, kind, body),
        )?;
        // Replayed records may sit only in the page cache of a process that crashed; with
        // nothing replayed there is nothing to make durable.
        let replayed = recovery.last_seq > manifest.checkpoint_seq;
        for path in recovery.kept.iter().filter(|_| replayed) {
            vfs.append_to(path)?
                .sync_data()
                .map_err(|e| Error::io(path, e))?;
        }
        let writer = WalWriter::new(
            Arc::clone(&vfs),
            wal_dir,
            recovery.next_file_number,
            recovery.last_seq,
            config.wal_file_max_bytes,
            recovery.kept,
        );
        let threads = if config.search_threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            config.search_threads
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("vecsieve-search-{i}"))
            .build()
            .map_err(|e| Error::io(&dir, std::io::Error::other(e)))?;
        let optimizer_pool = optimizer_pool(&dir, config.optimizer.threads)?;
        let durability = config.durability;
        let interval = Duration::from_millis(config.buffered_sync_interval_ms);
        let inner = Arc::new(Inner {
            dir,
            quantization: RwLock::new(config.quantization),
            config,
            vfs,
            lock: Mutex::new(Some(lock)),
            state: RwLock::new(state),
            writer: Mutex::new(Some(writer)),
            optimizing: Mutex::new(()),
            optimizer: Arc::new(OptimizerRuntime {
                pool: optimizer_pool,
                ..OptimizerRuntime::default()
            }),
            group: GroupCommit::new(recovery.last_seq),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            pool,
            kernels: Kernels::detect(),
            flusher_stop: Mutex::new(None),
            recovery: recovery.report,
            stop_checks: Arc::clone(&stop_checks),
        });
        if inner.config.optimizer.background && options.background_optimizer {
            let weak = Arc::downgrade(&inner);
            let rt = Arc::clone(&inner.optimizer);
            let handle = std::thread::Builder::new()
                .name("vecsieve-optimizer".into())
                .spawn(move || background_optimizer(&weak, &rt))
                .map_err(|e| Error::io(&inner.dir, e))?;
            *inner.optimizer.thread.lock() = Some(handle);
        }
        if durability == Durability::Buffered {
            let (tx, rx) = mpsc::channel::<()>();
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("vecsieve-wal-sync".into())
                .spawn(move || background_sync(&weak, &rx, interval))
                .map_err(|e| Error::io(&inner.dir, e))?;
            *inner.flusher_stop.lock() = Some(tx);
        }
        let token = HandleToken {
            optimizer: Arc::clone(&inner.optimizer),
            stop_checks,
        };
        Ok(Collection {
            _token: Some(Arc::new(token)),
            inner,
        })
    }

    /// What WAL recovery did when this handle opened the collection: records replayed and
    /// the tail it cut off, if any (kept in `wal/*.torn`; see [`DroppedTail`]). An
    /// application that must not lose an acknowledged write checks `dropped` after open.
    ///
    /// [`DroppedTail`]: crate::DroppedTail
    #[must_use]
    pub fn recovery_report(&self) -> RecoveryReport {
        self.inner.recovery.clone()
    }

    /// The collection's config, with its current quantization.
    #[must_use]
    pub fn config(&self) -> CollectionConfig {
        self.inner.current_config()
    }

    /// The directory of the collection.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Inserts or replaces points. The batch is atomic: after a crash either all of it or
    /// none of it is there. Returns once durable per the collection's [`Durability`].
    ///
    /// Errors (nothing is written): `Error::DimensionMismatch`, `Error::InvalidVector` (NaN,
    /// infinite, a zero vector with Cosine, out of range for the datatype),
    /// `Error::InvalidArgument` (payload over `MAX_PAYLOAD_BYTES`, batch over 256 MiB
    /// encoded), `Error::Poisoned`, `Error::Closed`.
    pub fn upsert(&self, points: &[Point]) -> Result<()> {
        self.check_writable()?;
        if points.is_empty() {
            return Ok(());
        }
        let config = &self.inner.config;
        let mut stored = Vec::with_capacity(points.len());
        for (i, p) in points.iter().enumerate() {
            stored.push(stored_point(config, p).map_err(|e| in_point(e, i, p.id))?);
        }
        let rows: Vec<UpsertRow<'_>> = points
            .iter()
            .zip(&stored)
            .map(|(p, v)| UpsertRow {
                id: p.id,
                vector: v,
                payload: p.payload.as_deref(),
            })
            .collect();
        let body = record::encode_upsert(config.dim, config.datatype, &rows);
        if body.len() > MAX_RECORD_BODY {
            return Err(Error::InvalidArgument(format!(
                "the batch encodes to {} bytes, over the {MAX_RECORD_BODY}-byte limit; split it",
                body.len()
            )));
        }
        let seq = self
            .write(RecordKind::Upsert, &body, |st, seq| {
                st.apply_upsert(seq, &rows);
                0
            })?
            .0;
        self.wait_durable(seq)
    }

    /// Checks a point as [`upsert`](Self::upsert) would (dimension, finite components,
    /// datatype range, zero vectors with Cosine, payload size) without writing it: importers
    /// use it to name the bad record of a batch that `upsert` refused.
    pub fn validate_point(&self, point: &Point) -> Result<()> {
        stored_point(&self.inner.config, point).map(drop)
    }

    /// Deletes points by id and returns how many existed. Unknown ids are not an error.
    pub fn delete(&self, ids: &[PointId]) -> Result<usize> {
        let written = self.with_writer(|w| {
            let present: Vec<PointId> = {
                let st = self.inner.state.read();
                let mut seen = std::collections::HashSet::new();
                ids.iter()
                    .copied()
                    .filter(|&id| seen.insert(id) && st.locate(id).is_some())
                    .collect()
            };
            if present.is_empty() {
                return Ok(None);
            }
            let body = record::encode_delete(&present);
            let (seq, n) = self.append_and_apply(w, RecordKind::Delete, &body, |st, _| {
                st.apply_delete(&present)
            })?;
            Ok(Some((seq, n)))
        })?;
        let Some((seq, n)) = written else {
            return Ok(0);
        };
        self.wait_durable(seq)?;
        Ok(n)
    }

    fn write(
        &self,
        kind: RecordKind,
        body: &[u8],
        apply: impl FnOnce(&mut State, u64) -> usize,
    ) -> Result<(u64, usize)> {
        self.with_writer(|w| self.append_and_apply(w, kind, body, apply))
    }

    /// Appends a record, applies it, and seals the live segment if it is full. Any I/O
    /// error poisons the collection.
    fn append_and_apply(
        &self,
        w: &mut WalWriter,
        kind: RecordKind,
        body: &[u8],
        apply: impl FnOnce(&mut State, u64) -> usize,
    ) -> Result<(u64, usize)> {
        let inner = &self.inner;
        let seq = w
            .append(kind, body, inner.group.durable_seq())
            .inspect_err(|_| self.poison())?;
        self.wake_optimizer();
        let (n, full) = {
            let mut st = inner.state.write();
            let n = apply(&mut st, seq);
            (
                n,
                st.live.data_bytes() >= inner.config.live_segment_max_bytes,
            )
        };
        if full {
            self.checkpoint(w).inspect_err(|_| self.poison())?;
        }
        Ok((seq, n))
    }

    fn poison(&self) {
        self.inner.poisoned.store(true, Ordering::SeqCst);
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.inner.poisoned.load(Ordering::SeqCst) {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    fn wait_durable(&self, seq: u64) -> Result<()> {
        match self.inner.config.durability {
            Durability::Sync => self.sync_wal(seq),
            Durability::Buffered => Ok(()),
        }
    }

    fn sync_wal(&self, seq: u64) -> Result<()> {
        let inner = &self.inner;
        inner.group.sync_to(seq, &inner.poisoned, || {
            inner
                .writer
                .lock()
                .as_ref()
                .and_then(WalWriter::sync_target)
        })
    }

    /// Makes every acknowledged write durable (syncs the WAL).
    pub fn flush(&self) -> Result<()> {
        self.check_writable()?;
        let seq = match self.inner.writer.lock().as_ref() {
            Some(w) => w.last_seq(),
            None => return Err(Error::Closed),
        };
        self.sync_wal(seq)
    }

    /// Seals the live segment into a segment file, persists deletions and commits a new
    /// MANIFEST; the WAL is then emptied. The caller holds the writer lock.
    fn checkpoint(&self, w: &mut WalWriter) -> Result<()> {
        let inner = &self.inner;
        let vfs = &*inner.vfs;
        let seg_dir = inner.dir.join(SEGMENTS_DIR);
        let checkpoint_seq = w.last_seq();
        let (new_seg, sidecars, manifest) = {
            let st = inner.state.read();
            if st.manifest.checkpoint_seq == checkpoint_seq {
                return Ok(());
            }
            let mut manifest = st.manifest.clone();
            manifest.generation += 1;
            manifest.checkpoint_seq = checkpoint_seq;
            let mut sidecars = Vec::new();
            for (i, s) in st.sealed.iter().enumerate().filter(|(_, s)| s.dirty) {
                let id = manifest.segments[i].id;
                let bytes = deletes::encode(id, s.seg.rows(), s.deleted.words());
                write_atomic(
                    vfs,
                    &seg_dir,
                    &sidecar_file(id, manifest.generation),
                    &bytes,
                )?;
                manifest.segments[i].del_gen = manifest.generation;
                sidecars.push(i);
            }
            let new_seg = if st.live.live_count() > 0 {
                let rows: Vec<(usize, usize)> = st
                    .live
                    .sorted_live_rows()
                    .into_iter()
                    .map(|r| (0, r))
                    .collect();
                Some(self.write_segment(&[&st.live], &rows, &mut manifest)?)
            } else {
                None
            };
            (new_seg, sidecars, manifest)
        };
        manifest.write(vfs, &inner.dir)?;
        let mut garbage = Vec::new();
        {
            let mut st = inner.state.write();
            for i in sidecars {
                // The sidecar the committed manifest replaced is garbage now.
                let old = st.manifest.segments[i];
                if old.del_gen > 0 {
                    garbage.push(sidecar_file(old.id, old.del_gen));
                }
                st.sealed[i].dirty = false;
            }
            if let Some(seg) = new_seg {
                let rows = seg.rows();
                st.sealed.push(Sealed {
                    seg: Arc::new(seg),
                    deleted: Bitmap::with_len(rows),
                    dirty: false,
                });
            }
            let c = inner.current_config();
            st.live = LiveSegment::new(c.dim, c.datatype, code_words(&c));
            st.manifest = manifest;
        }
        inner.group.mark_durable(checkpoint_seq);
        w.truncate_after_checkpoint()?;
        for name in garbage {
            let p = seg_dir.join(name);
            vfs.remove_file(&p)?;
        }
        Ok(())
    }

    /// Writes `rows` of `sources` (sorted by id) as a new segment file with the current
    /// codes (tmp + fsync + rename + fsync dir), maps it, and adds it to `manifest`, which
    /// the caller then commits.
    fn write_segment(
        &self,
        sources: &[&dyn Rows],
        rows: &[(usize, usize)],
        manifest: &mut Manifest,
    ) -> Result<ImmutableSegment> {
        let id = manifest.next_segment_id;
        manifest.next_segment_id += 1;
        let seg = self.write_segment_file(sources, rows, id, false)?;
        manifest.segments.push(SegmentEntry {
            id,
            rows: seg.rows() as u64,
            del_gen: 0,
        });
        Ok(seg)
    }

    /// Streams segment file `id` (tmp + fsync + rename + fsync dir) and maps it. A
    /// rewrite (`background`) encodes on the optimizer's pool, reports progress and stops
    /// when the optimizer is cancelled.
    fn write_segment_file(
        &self,
        sources: &[&dyn Rows],
        rows: &[(usize, usize)],
        id: u64,
        background: bool,
    ) -> Result<ImmutableSegment> {
        let inner = &self.inner;
        let vfs = &*inner.vfs;
        let seg_dir = inner.dir.join(SEGMENTS_DIR);
        let rt = &inner.optimizer;
        let config = inner.current_config();
        let build = Build {
            sources,
            rows,
            id,
            config: &config,
            kernels: inner.kernels,
            pool: rt.pool.as_ref().filter(|_| background),
            progress: background.then_some(&rt.progress),
            cancel: background.then_some(&rt.cancel),
        };
        let name = segment_file(id);
        let written = write_atomic_with(vfs, &seg_dir, &name, |file| {
            build.write(FileSink::new(file)).map(drop)
        });
        match written {
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::Interrupted
                    && rt.cancel.load(Ordering::SeqCst) =>
            {
                return Err(Error::Closed);
            }
            written => written?,
        }
        let path = seg_dir.join(&name);
        let seg = ImmutableSegment::open(vfs, &path).inspect_err(|_| {
            // This build renamed the file into place: it is ours to remove (best effort: an
            // unnamed file is removed by the next open). `write_atomic_with` removed a
            // partial temporary file itself; nothing else is ever removed on failure.
            let _ = vfs.remove(&path);
        })?;
        // Its checksums were computed from the bytes this build wrote.
        seg.mark_verified();
        Ok(seg)
    }

    /// What the optimizer is doing: the running task with its progress (points written of
    /// the task's total) and the tasks queued after it.
    #[must_use]
    pub fn optimizer_status(&self) -> OptimizerStatus {
        let rt = &self.inner.optimizer;
        let mut status = rt.status.lock().clone();
        status.points_done = rt.progress.load(Ordering::SeqCst).min(status.points_total);
        status
    }

    fn wake_optimizer(&self) {
        let rt = &self.inner.optimizer;
        *rt.pending.lock() = true;
        rt.wake.notify_one();
    }

    /// Changes the collection's quantization: seals the live segment, replaces
    /// `config.json`, and returns. New segments get the new codes at once; existing ones
    /// are rewritten by the optimizer (each with its own MANIFEST commit, deleted rows
    /// dropped on the way), in the background when `OptimizerConfig::background` is on,
    /// else by the next [`optimize`](Self::optimize), which also waits for them.
    ///
    /// Until a segment is rewritten, searches scan its originals exactly: results stay
    /// correct, only slower. Crash-safe at every step for the same reason.
    pub fn set_quantization(&self, quantization: Quantization) -> Result<()> {
        self.check_writable()?;
        let inner = &self.inner;
        let mut config = inner.current_config();
        config.quantization = quantization;
        config.validate()?;
        let mut guard = inner.writer.lock();
        let Some(w) = guard.as_mut() else {
            return Err(Error::Closed);
        };
        self.check_writable()?;
        let result = (|| {
            self.checkpoint(w)?;
            write_config(&*inner.vfs, &inner.dir, config)?;
            *inner.quantization.write() = quantization;
            Ok(())
        })();
        result.inspect_err(|_| self.poison())?;
        drop(guard);
        self.wake_optimizer();
        Ok(())
    }

    /// Seals the live segment into an immutable segment file now (it is also sealed when
    /// full and on close), persisting deletions and emptying the WAL.
    pub fn seal(&self) -> Result<()> {
        self.with_writer(|w| self.checkpoint(w).inspect_err(|_| self.poison()))
    }

    /// Runs `f` holding the writer lock, after checking (before and under the lock) that
    /// the collection is open and not poisoned.
    fn with_writer<T>(&self, f: impl FnOnce(&mut WalWriter) -> Result<T>) -> Result<T> {
        self.check_writable()?;
        let mut guard = self.inner.writer.lock();
        let Some(w) = guard.as_mut() else {
            return Err(Error::Closed);
        };
        self.check_writable()?;
        f(w)
    }

    /// Seals the live segment (when this handle wrote to it), commits, and releases the
    /// directory lock. Every clone of this handle is closed. Closing twice is not an error.
    ///
    /// Rewrites in progress (the background optimizer's, or an [`optimize`](Self::optimize)
    /// on another thread, which then returns `Error::Closed`) are cancelled, and `close`
    /// waits for them to stop: nothing of this handle touches the directory once it
    /// returns.
    pub fn close(&self) -> Result<()> {
        let inner = &self.inner;
        // Cancel every rewrite and wait for it: each runs holding `optimizing`, and none may
        // touch the directory after its lock is released.
        inner.stop_checks.store(true, Ordering::SeqCst);
        stop_optimizer(&inner.optimizer);
        let _no_rewrite = inner.optimizing.lock();
        let mut guard = inner.writer.lock();
        let Some(w) = guard.as_mut() else {
            return Ok(());
        };
        // A handle that wrote nothing leaves the directory as open found it (recovered WAL
        // records stay in the WAL), so read-only sessions change nothing on disk.
        let result = if inner.poisoned.load(Ordering::SeqCst) {
            Err(Error::Poisoned)
        } else if w.wrote_since_checkpoint() {
            self.checkpoint(w).inspect_err(|_| self.poison())
        } else {
            Ok(())
        };
        inner.closed.store(true, Ordering::SeqCst);
        *guard = None;
        {
            let mut st = inner.state.write();
            st.sealed.clear();
            let c = inner.current_config();
            st.live = LiveSegment::new(c.dim, c.datatype, code_words(&c));
            st.points = 0;
        }
        inner.flusher_stop.lock().take();
        inner.lock.lock().take();
        result
    }

    /// Number of points stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.state.read().points
    }

    /// True when no point is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks every checksum of every segment file and that their ids are sorted and
    /// unique, now. Slow (reads everything); `open` checks headers and lengths and leaves
    /// the rest to a background check ([`OpenOptions::verify_segments_on_open`]). A
    /// segment found damaged makes every later read that touches it fail.
    pub fn verify(&self) -> Result<()> {
        self.check_open()?;
        let st = self.inner.state.read();
        for s in &st.sealed {
            s.seg.verify()?;
        }
        Ok(())
    }
}

impl Inner {
    fn current_config(&self) -> CollectionConfig {
        let mut c = self.config.clone();
        c.quantization = *self.quantization.read();
        c
    }
}

/// True when a segment's codes are the ones `config` asks for.
fn codes_match(seg: &ImmutableSegment, config: &CollectionConfig) -> bool {
    let kind = seg.layout().header.code_kind;
    if kind != build::code_kind(config) {
        return false;
    }
    match (config.quantization, seg.scalar_params()) {
        (Quantization::Scalar(sc), Some(p)) => p.quantile == sc.quantile.unwrap_or(1.0),
        _ => true,
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without close: the WAL holds everything; Buffered writes get a last sync.
        if self.config.durability == Durability::Buffered
            && let Some((_, file, _)) = self
                .writer
                .get_mut()
                .as_ref()
                .and_then(WalWriter::sync_target)
        {
            let _ = file.sync_data();
        }
    }
}

/// What the optimizer's policy sees of a sealed segment.
fn segment_meta(s: &Sealed, config: &CollectionConfig) -> SegmentMeta {
    let rows = s.seg.rows() as u64;
    let (ids, originals, codes, payloads) = s.seg.section_bytes();
    SegmentMeta {
        id: s.seg.layout().header.segment_id,
        rows,
        deleted: s.deleted.ones() as u64,
        row_bytes: (ids + originals + codes + payloads).div_ceil(rows.max(1)),
        codes_match: codes_match(&s.seg, config),
    }
}

/// Opens a segment named by the manifest and loads its deletion bitmap.
fn open_sealed(
    vfs: &dyn Vfs,
    seg_dir: &Path,
    entry: &SegmentEntry,
    config: &CollectionConfig,
) -> Result<Sealed> {
    let seg = open_named_segment(vfs, seg_dir, entry, config)?;
    let deleted = read_deletions(vfs, seg_dir, entry, seg.rows())?;
    Ok(Sealed {
        seg: Arc::new(seg),
        deleted,
        dirty: false,
    })
}
