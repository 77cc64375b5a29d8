//! [`Collection`]: the handle applications use.
//!
//! The handle (create, open, close, `set_quantization`, verify) lives here; versions and
//! the one commit function in [`version`], the write path in [`write`](mod@write), reads in [`read`],
//! the optimizer's rewrites in [`rewrite`], the directory's files in [`directory`], point
//! validation in [`validate`], the background threads in [`worker`], and what `info`
//! reports in [`info`], online backups in [`backup`].

mod backup;
mod directory;
mod filter;
mod info;
mod payload;
mod read;
mod rewrite;
mod validate;
mod version;
mod worker;
mod write;

pub use backup::{BackupOptions, BackupReport};
pub(crate) use directory::{
    CONFIG_FILE, MANIFEST_FILE, SEGMENTS_DIR, WAL_DIR, open_named_segment, read_config,
    read_deletions, segment_file, sidecar_file,
};
pub use filter::{Points, ScrollPage};
pub use info::{CollectionInfo, DiskUsage, PayloadIndexInfo, RamUsage, SegmentInfo};
pub use payload::PointSelector;
pub use read::FILTER_MAX_DEPTH;
pub use version::MAX_FROZEN_SEGMENTS;

use directory::{collect_garbage, write_config};
use version::{Sealed, Version};
use worker::{
    OptimizerRuntime, Worker, background_sync, check_segments, optimize_step, optimizer_pool,
    seal_step,
};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::config::{CollectionConfig, Durability, PayloadSchema, Quantization, SearchDefaults};
use crate::error::{Error, Result};
use crate::filter::index::IndexSpecs;
use crate::io::Fs;
use crate::io::lock::DirLock;
use crate::io::{StdVfs, Vfs};
use crate::manifest::Manifest;
use crate::optimizer::{OptimizerStatus, SegmentMeta};
use crate::quant;
use crate::segment::immutable::ImmutableSegment;
use crate::segment::live::LiveSegment;
use crate::simd::Kernels;
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
    /// Open for reading only, without the collection's lock, while another process (or
    /// handle) may be writing it: SQLite's WAL-mode reader. The handle sees one consistent
    /// snapshot (the MANIFEST, its segments and the WAL records written after its
    /// checkpoint, as they were when it was read; a write still being appended is not
    /// there yet) until [`Collection::refresh`] takes a newer one. It never writes,
    /// repairs or deletes anything: no WAL replay onto disk, no torn-tail cut, no
    /// optimizer, no new file; every write returns `Error::ReadOnly`. Default false.
    pub read_only: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            background_optimizer: true,
            verify_segments_on_open: false,
            read_only: false,
        }
    }
}

impl OpenOptions {
    /// Options for a read-only handle ([`read_only`](Self::read_only)).
    #[must_use]
    pub fn read_only() -> Self {
        OpenOptions {
            read_only: true,
            background_optimizer: false,
            ..OpenOptions::default()
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
struct Inner {
    dir: PathBuf,
    /// Fixed at creation except `quantization`, whose current value is `quantization`.
    config: CollectionConfig,
    /// The quantization new segments get (`set_quantization` changes it).
    quantization: RwLock<Quantization>,
    /// The payload indexes (`config.json`'s, changed by `create_payload_index` and
    /// `delete_payload_index`).
    payload_indexes: RwLock<IndexSpecs>,
    /// Each vector's search defaults, by slot (`config.json`'s, changed by
    /// `set_search_defaults`).
    search_defaults: RwLock<Vec<SearchDefaults>>,
    vfs: Arc<dyn Vfs>,
    lock: Mutex<Option<DirLock>>,
    /// The current version; held only to clone or replace the `Arc`.
    version: RwLock<Arc<Version>>,
    /// The write lock: held while appending to the WAL and publishing the version that
    /// applies it, and by a commit while it publishes its version.
    writer: Mutex<Option<WalWriter>>,
    /// Signalled (with `writer`) when a commit removed a frozen segment, the collection
    /// was poisoned or it is closing: writers held back by [`MAX_FROZEN_SEGMENTS`] wait on
    /// it.
    frozen_written: Condvar,
    /// Held by each commit (one at a time).
    commit: Mutex<()>,
    /// Held while frozen segments are written (by one thread at a time, oldest first).
    sealing: Mutex<()>,
    /// Held while segments are rewritten (one rewrite at a time). Lock order:
    /// `optimizing`, `sealing`, `commit`, `writer`, `version`; nothing that holds
    /// `writer` waits for another of them.
    optimizing: Mutex<()>,
    /// The next segment id to reserve (every MANIFEST written covers it).
    next_segment_id: AtomicU64,
    optimizer: OptimizerRuntime,
    sealer: Arc<Worker>,
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
    /// Opened with `OpenOptions::read_only`: no lock, no writer, snapshots by `refresh`.
    read_only: bool,
    /// Backups in progress on this handle, and the files commits did not delete meanwhile
    /// (a backup may be copying them); the last backup to finish deletes them.
    backup_pins: Mutex<(usize, Vec<PathBuf>)>,
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

/// Stops the background optimizer, sealer and checksum check when the last application
/// handle is dropped, so that the collection (and its directory lock) is released as the
/// handle goes. Frozen segments not yet written stay in the WAL, which the next open
/// replays.
#[derive(Debug)]
struct HandleToken {
    optimizer: Arc<Worker>,
    sealer: Arc<Worker>,
    stop_checks: Arc<AtomicBool>,
}

impl Drop for HandleToken {
    fn drop(&mut self) {
        self.stop_checks.store(true, Ordering::SeqCst);
        self.optimizer.stop();
        self.sealer.stop();
    }
}

impl Collection {
    /// Creates a collection in `path` (created if missing; it must be empty).
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point, SearchParams};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let path = tmp.path().join("c");
    /// let c = Collection::create(&path, CollectionConfig::new(3, Distance::Cosine))?;
    /// c.upsert(&[Point::new(1, vec![0.1, 0.2, 0.3])])?;
    /// c.close()?;
    /// # Ok(())
    /// # }
    /// ```
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
        lock.record_holder(&*vfs, &dir)?;
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
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point, SearchParams};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let path = tmp.path().join("c");
    /// # Collection::create(&path, CollectionConfig::new(3, Distance::Cosine))?.close()?;
    /// let c = Collection::open(&path)?;
    /// // One handle per process: clone it (it is `Send + Sync`) rather than opening twice.
    /// assert!(matches!(Collection::open(&path), Err(vecsieve::Error::Locked { .. })));
    /// let shared = c.clone();
    /// std::thread::spawn(move || shared.len()).join().unwrap();
    /// # Ok(())
    /// # }
    /// ```
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

    /// [`open_with_options`](Self::open_with_options) through another [`Vfs`] (tests that
    /// act between a reader's file accesses).
    #[doc(hidden)]
    pub fn open_with_vfs_options(
        path: impl AsRef<Path>,
        vfs: Arc<dyn Vfs>,
        options: OpenOptions,
    ) -> Result<Self> {
        Self::open_inner(path.as_ref(), vfs, options)
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
        if options.read_only {
            return Self::open_read_only(dir, vfs, &options);
        }
        let lock = DirLock::acquire(&*vfs, &dir)?;
        lock.record_holder(&*vfs, &dir)?;
        Self::open_locked(dir, lock, vfs, options)
    }

    fn open_read_only(dir: PathBuf, vfs: Arc<dyn Vfs>, options: &OpenOptions) -> Result<Self> {
        let snap = read_snapshot(&*vfs, &dir, &[])?;
        let stop_checks = Arc::new(AtomicBool::new(false));
        start_checks(&dir, snap.unchecked, options, &stop_checks)?;
        let inner = Inner::new(
            dir,
            snap.config,
            vfs,
            snap.version,
            Opened {
                lock: None,
                writer: None,
                next_segment_id: snap.next_segment_id,
                last_seq: snap.last_seq,
                recovery: RecoveryReport {
                    replayed_records: snap.replayed,
                    dropped: None,
                },
                stop_checks: Arc::clone(&stop_checks),
            },
        )?;
        Ok(Collection::with_token(inner, stop_checks))
    }

    /// Takes a new snapshot of a collection opened with
    /// [`OpenOptions::read_only`](OpenOptions::read_only): what its writer has committed
    /// and appended to the WAL since (segments it still shares are kept, new ones are
    /// mapped and checked in the background). Searches already running finish on the
    /// snapshot they started with. Returns whether the snapshot changed (new WAL records, a
    /// new MANIFEST or new settings). On a writable handle it changes nothing and returns
    /// `false`: that handle is always current.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, OpenOptions, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let path = tmp.path().join("c");
    /// let writer = Collection::create(&path, CollectionConfig::new(2, Distance::Dot))?;
    /// writer.upsert(&[Point::new(1, vec![1.0, 0.0])])?;
    /// // Another process (or this one) reads while the writer keeps the lock.
    /// let reader = Collection::open_with_options(&path, OpenOptions::read_only())?;
    /// assert_eq!(reader.len(), 1);
    /// writer.upsert(&[Point::new(2, vec![0.0, 1.0])])?;
    /// assert_eq!(reader.len(), 1); // its snapshot
    /// assert!(reader.refresh()?);
    /// assert_eq!(reader.len(), 2);
    /// assert!(matches!(reader.upsert(&[]), Err(vecsieve::Error::ReadOnly)));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: `Error::Closed`; as [`open`](Self::open) for damaged files.
    pub fn refresh(&self) -> Result<bool> {
        self.check_open()?;
        let inner = &self.inner;
        if !inner.read_only {
            return Ok(false);
        }
        let current = self.version();
        let snap = read_snapshot(&*inner.vfs, &inner.dir, &current.sealed)?;
        let settings_changed = snap.config != inner.current_config();
        if !settings_changed
            && *snap.version.manifest == *current.manifest
            && snap.last_seq == current.seq
        {
            return Ok(false);
        }
        start_checks(
            &inner.dir,
            snap.unchecked,
            &OpenOptions::default(),
            &inner.stop_checks,
        )?;
        *inner.quantization.write() = snap.config.quantization;
        *inner.payload_indexes.write() = snap.config.payload_indexes.clone();
        *inner.search_defaults.write() = slot_defaults(&snap.config);
        self.install(snap.version);
        Ok(true)
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
        let (sealed, points, unchecked) = load_segments(&*vfs, &dir, &manifest, &config, &[])?;
        let stop_checks = Arc::new(AtomicBool::new(false));
        start_checks(&dir, unchecked, &options, &stop_checks)?;
        let live = LiveSegment::new(quant::live_shapes(&config));
        let next_segment_id = manifest.next_segment_id;
        let mut version = Version::new(live, sealed, manifest.clone(), points);
        let wal_dir = dir.join(WAL_DIR);
        let recovery = wal::recover(
            &*vfs,
            &wal_dir,
            manifest.checkpoint_seq,
            |seq, kind, body| version.apply_record(&config, seq, kind, body),
        )?;
        // Replayed records may sit only in the page cache of a process that crashed; with
        // nothing replayed there is nothing to make durable.
        let replayed = recovery.last_seq > manifest.checkpoint_seq;
        for path in recovery.kept.iter().filter(|_| replayed) {
            vfs.append_to(path)?.sync_data()?;
        }
        let writer = WalWriter::new(
            Arc::clone(&vfs),
            wal_dir,
            recovery.next_file_number,
            recovery.last_seq,
            config.wal_file_max_bytes,
            recovery.kept,
        );
        let durability = config.durability;
        let interval = Duration::from_millis(config.buffered_sync_interval_ms);
        let inner = Inner::new(
            dir,
            config,
            vfs,
            version,
            Opened {
                lock: Some(lock),
                writer: Some(writer),
                next_segment_id,
                last_seq: recovery.last_seq,
                recovery: recovery.report,
                stop_checks: Arc::clone(&stop_checks),
            },
        )?;
        if inner.config.optimizer.background && options.background_optimizer {
            let every_second = Some(Duration::from_secs(1));
            (inner.optimizer.worker).start(
                "vecsieve-optimizer",
                &inner,
                every_second,
                optimize_step,
            )?;
        }
        inner
            .sealer
            .start("vecsieve-sealer", &inner, None, seal_step)?;
        if durability == Durability::Buffered {
            let (tx, rx) = mpsc::channel::<()>();
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("vecsieve-wal-sync".into())
                .spawn(move || background_sync(&weak, &rx, interval))
                .map_err(|e| Error::io(&inner.dir, e))?;
            *inner.flusher_stop.lock() = Some(tx);
        }
        Ok(Collection::with_token(inner, stop_checks))
    }

    /// The application's first handle on `inner`.
    fn with_token(inner: Arc<Inner>, stop_checks: Arc<AtomicBool>) -> Self {
        let token = HandleToken {
            optimizer: Arc::clone(&inner.optimizer.worker),
            sealer: Arc::clone(&inner.sealer),
            stop_checks,
        };
        Collection {
            _token: Some(Arc::new(token)),
            inner,
        }
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

    /// What the optimizer is doing: the running task with its progress (points written of
    /// the task's total) and the tasks queued after it. A read-only handle runs no
    /// optimizer (its writer's is in another handle): it reports none running and, as
    /// queued, the tasks the optimizer's plan holds for its snapshot.
    #[must_use]
    pub fn optimizer_status(&self) -> OptimizerStatus {
        let inner = &self.inner;
        if inner.read_only {
            let config = inner.current_config();
            let metas: Vec<_> = self
                .version()
                .sealed
                .iter()
                .map(|s| segment_meta(s, &config))
                .collect();
            return OptimizerStatus {
                queued: crate::optimizer::plan(&metas, &config.optimizer),
                ..OptimizerStatus::default()
            };
        }
        let rt = &inner.optimizer;
        let mut status = rt.status.lock().clone();
        status.points_done = rt.progress.load(Ordering::SeqCst).min(status.points_total);
        status
    }

    /// Changes the collection's quantization: seals the live segment, replaces
    /// `config.json`, and returns. New segments get the new codes at once; existing ones
    /// are rewritten by the optimizer (each with its own MANIFEST commit, deleted rows
    /// dropped on the way), in the background when `OptimizerConfig::background` is on,
    /// else by the next [`optimize`](Self::optimize), which also waits for them.
    ///
    /// Until a segment is rewritten, searches scan its originals exactly: results stay
    /// correct, only slower. Crash-safe at every step for the same reason.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Distance, Point,
    ///                Quantization};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(64, Distance::Cosine))?;
    /// c.upsert(&(0..100u64).map(|i| Point::new(i, vec![1.0 + i as f32; 64])).collect::<Vec<_>>())?;
    /// c.set_quantization(Quantization::Binary(
    ///     BinaryConfig::default().with_encoding(BinaryEncoding::RotatedOneBit),
    /// ))?;
    /// c.optimize()?; // rewrites the existing segments with the new codes now
    /// assert_eq!(c.config().quantization, Quantization::Binary(
    ///     BinaryConfig::default().with_encoding(BinaryEncoding::RotatedOneBit),
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_quantization(&self, quantization: Quantization) -> Result<()> {
        self.check_writable()?;
        let inner = &self.inner;
        let mut config = inner.current_config();
        config.quantization = quantization;
        config.validate()?;
        self.with_writer(|_| {
            self.freeze_live();
            write_config(&*inner.vfs, &inner.dir, config.clone()).inspect_err(|_| self.poison())?;
            *inner.quantization.write() = quantization;
            // The live segment is empty now: the next one keeps the new codes' 1-bit words.
            let mut next = Version::clone(&self.version());
            next.live = LiveSegment::new(quant::live_shapes(&config));
            self.install(next);
            Ok(())
        })?;
        self.seal_frozen().inspect_err(|_| self.poison())?;
        self.wake_optimizer();
        Ok(())
    }

    /// Stores `defaults` as the search parameters of the vector called `using` (`""`: the
    /// default vector) in `config.json`: its searches use them where their
    /// [`SearchParams`](crate::SearchParams) leave a field `None`, from the next search on,
    /// and after reopening. Replaces the vector's previous defaults;
    /// `SearchDefaults::default()` clears them.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Distance,
    ///                Quantization, SearchDefaults};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let config = CollectionConfig::new(384, Distance::Cosine).with_quantization(
    ///     Quantization::Binary(BinaryConfig::default().with_encoding(BinaryEncoding::RotatedOneBit)),
    /// );
    /// let c = Collection::create(tmp.path().join("c"), config)?;
    /// // What `vecsieve advise` measured on this data, for every later search:
    /// c.set_search_defaults("", SearchDefaults::default().with_oversampling(4.0))?;
    /// assert_eq!(c.config().search_defaults.oversampling, Some(4.0));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: `Error::InvalidArgument` (oversampling below 1, above `MAX_OVERSAMPLING` or
    /// not finite), `Error::UnknownVector`, `Error::Closed`, `Error::ReadOnly`.
    pub fn set_search_defaults(&self, using: &str, defaults: SearchDefaults) -> Result<()> {
        self.check_writable()?;
        let inner = &self.inner;
        self.with_writer(|_| {
            let mut config = inner.current_config();
            let slot = config.slot_of(using)?;
            match config.vectors.get_mut(using) {
                Some(params) => params.search_defaults = defaults,
                None => config.search_defaults = defaults,
            }
            config.validate()?;
            write_config(&*inner.vfs, &inner.dir, config).inspect_err(|_| self.poison())?;
            if let Some(d) = inner.search_defaults.write().get_mut(slot) {
                *d = defaults;
            }
            Ok(())
        })
    }

    /// Indexes the values of payload key `key` (a key path as filters name it: `section`,
    /// `meta.tags[]`) as `schema` (Qdrant's `create_payload_index`): filters on the key
    /// then read the index instead of parsing payloads (see [`PayloadSchema`] for what
    /// each schema answers). Replaces an index on the same key with another schema;
    /// creating the same index again changes nothing.
    ///
    /// Returns once `config.json` names the index. Segments written from then on carry
    /// it; each existing segment makes it in memory from its payloads on the first filter
    /// that uses it, until the optimizer rewrites the segment with it (in the background
    /// when `OptimizerConfig::background` is on, else by the next
    /// [`optimize`](Self::optimize)). Filters give the same results with or without it.
    ///
    /// Errors: `Error::InvalidArgument` for a key that is not a key path or a collection
    /// that has [`MAX_PAYLOAD_INDEXES`](crate::MAX_PAYLOAD_INDEXES) already,
    /// `Error::Closed`, `Error::ReadOnly`.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, PayloadSchema};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.create_payload_index("section", PayloadSchema::Keyword)?;
    /// assert_eq!(c.payload_indexes()["section"], PayloadSchema::Keyword);
    /// # Ok(())
    /// # }
    /// ```
    pub fn create_payload_index(&self, key: &str, schema: PayloadSchema) -> Result<()> {
        self.change_payload_indexes(|indexes| {
            crate::filter::check_index_key(key)?;
            Ok(indexes.insert(key.to_owned(), schema) != Some(schema))
        })
    }

    /// Drops the payload index on `key` (Qdrant's `delete_payload_index`): filters on the
    /// key read payloads again, and the optimizer rewrites segments without it. Dropping a
    /// key that has no index changes nothing.
    ///
    /// Errors: `Error::Closed`, `Error::ReadOnly`.
    pub fn delete_payload_index(&self, key: &str) -> Result<()> {
        self.change_payload_indexes(|indexes| Ok(indexes.remove(key).is_some()))
    }

    /// The payload indexes: schema by key.
    #[must_use]
    pub fn payload_indexes(&self) -> std::collections::BTreeMap<String, PayloadSchema> {
        self.inner.payload_indexes.read().clone()
    }

    /// Applies `change` to the payload indexes (it returns whether it changed them) and
    /// persists them in `config.json`.
    fn change_payload_indexes(
        &self,
        change: impl FnOnce(&mut IndexSpecs) -> Result<bool>,
    ) -> Result<()> {
        self.check_writable()?;
        let inner = &self.inner;
        self.with_writer(|_| {
            let mut config = inner.current_config();
            if !change(&mut config.payload_indexes)? {
                return Ok(());
            }
            config.validate()?;
            write_config(&*inner.vfs, &inner.dir, config.clone()).inspect_err(|_| self.poison())?;
            *inner.payload_indexes.write() = config.payload_indexes;
            Ok(())
        })?;
        self.wake_optimizer();
        Ok(())
    }

    /// Seals the live segment (when this handle wrote to it), commits, and releases the
    /// directory lock. Every clone of this handle is closed. Closing twice is not an error.
    ///
    /// Rewrites in progress (the background optimizer's, or an [`optimize`](Self::optimize)
    /// on another thread, which then returns `Error::Closed`) are cancelled, and `close`
    /// waits for them to stop: nothing of this handle touches the directory once it
    /// returns.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let path = tmp.path().join("c");
    /// let c = Collection::create(&path, CollectionConfig::new(2, Distance::Dot))?;
    /// c.close()?;
    /// assert!(matches!(c.count(None), Err(vecsieve::Error::Closed)));
    /// let _again = Collection::open(&path)?; // the lock was released
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) -> Result<()> {
        let inner = &self.inner;
        // Cancel every rewrite and wait for it: each runs holding `optimizing`, and none may
        // touch the directory after its lock is released.
        inner.stop_checks.store(true, Ordering::SeqCst);
        inner.optimizer.worker.stop();
        let _no_rewrite = inner.optimizing.lock();
        let result = {
            let mut guard = inner.writer.lock();
            if inner.read_only {
                inner.closed.store(true, Ordering::SeqCst);
            }
            let Some(w) = guard.as_mut() else {
                if inner.read_only {
                    drop(guard);
                    self.release_version();
                }
                return Ok(());
            };
            // From here every write and read gets `Closed`.
            inner.closed.store(true, Ordering::SeqCst);
            inner.frozen_written.notify_all();
            // A handle that wrote nothing leaves the directory as open found it (recovered
            // WAL records stay in the WAL), so read-only sessions change nothing on disk.
            if inner.poisoned.load(Ordering::SeqCst) {
                Err(Error::Poisoned)
            } else if w.wrote_since_checkpoint() || !self.version().frozen.is_empty() {
                self.freeze_live();
                drop(guard);
                self.seal_frozen().inspect_err(|_| self.poison())
            } else {
                Ok(())
            }
        };
        inner.sealer.stop();
        *inner.writer.lock() = None;
        self.release_version();
        inner.flusher_stop.lock().take();
        inner.lock.lock().take();
        result
    }

    /// Replaces the version with an empty one, so that a closed handle maps no segment.
    fn release_version(&self) {
        let v = self.version();
        self.install(Version::new(
            v.live.empty_like(),
            Vec::new(),
            Manifest::clone(&v.manifest),
            0,
        ));
    }

    /// Number of points stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.version().points
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
        for s in &self.version().sealed {
            s.seg.verify()?;
        }
        Ok(())
    }
}

impl Inner {
    fn current_config(&self) -> CollectionConfig {
        let mut c = self.config.clone();
        c.quantization = *self.quantization.read();
        c.payload_indexes = self.payload_indexes.read().clone();
        let defaults = self.search_defaults.read();
        if let Some(&d) = defaults.first() {
            c.search_defaults = d;
        }
        for (params, &d) in c.vectors.values_mut().zip(defaults.iter().skip(1)) {
            params.search_defaults = d;
        }
        c
    }
}

/// What an open found besides the config and the version.
struct Opened {
    lock: Option<DirLock>,
    writer: Option<WalWriter>,
    next_segment_id: u64,
    last_seq: u64,
    recovery: RecoveryReport,
    stop_checks: Arc<AtomicBool>,
}

impl Inner {
    fn new(
        dir: PathBuf,
        config: CollectionConfig,
        vfs: Arc<dyn Vfs>,
        version: Version,
        opened: Opened,
    ) -> Result<Arc<Self>> {
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
        let read_only = opened.writer.is_none();
        let optimizer_threads = if read_only {
            1
        } else {
            config.optimizer.threads
        };
        let optimizer_pool = optimizer_pool(&dir, optimizer_threads)?;
        Ok(Arc::new(Inner {
            dir,
            quantization: RwLock::new(config.quantization),
            payload_indexes: RwLock::new(config.payload_indexes.clone()),
            search_defaults: RwLock::new(slot_defaults(&config)),
            config,
            vfs,
            lock: Mutex::new(opened.lock),
            version: RwLock::new(Arc::new(version)),
            writer: Mutex::new(opened.writer),
            frozen_written: Condvar::new(),
            commit: Mutex::new(()),
            sealing: Mutex::new(()),
            optimizing: Mutex::new(()),
            next_segment_id: AtomicU64::new(opened.next_segment_id),
            optimizer: OptimizerRuntime {
                pool: optimizer_pool,
                ..OptimizerRuntime::default()
            },
            sealer: Arc::default(),
            group: GroupCommit::new(opened.last_seq),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            pool,
            kernels: Kernels::detect(),
            flusher_stop: Mutex::new(None),
            recovery: opened.recovery,
            stop_checks: opened.stop_checks,
            read_only,
            backup_pins: Mutex::new((0, Vec::new())),
        }))
    }
}

/// Each vector's stored search defaults, by slot.
fn slot_defaults(config: &CollectionConfig) -> Vec<SearchDefaults> {
    config
        .slots()
        .iter()
        .map(|slot| slot.params.search_defaults)
        .collect()
}

/// Opens the segments `manifest` names with their deletions (reusing those of `reuse`
/// with the same id: segment files never change); returns them, their live points, and
/// the segments newly opened, whose checksums are still to be checked.
fn load_segments(
    vfs: &dyn Vfs,
    dir: &Path,
    manifest: &Manifest,
    config: &CollectionConfig,
    reuse: &[Sealed],
) -> Result<(Vec<Sealed>, usize, Vec<Arc<ImmutableSegment>>)> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    let mut sealed = Vec::with_capacity(manifest.segments.len());
    let mut points = 0;
    let mut unchecked = Vec::new();
    for entry in &manifest.segments {
        let seg = match reuse.iter().find(|s| s.id() == entry.id) {
            Some(s) => Arc::clone(&s.seg),
            None => {
                let seg = Arc::new(open_named_segment(vfs, &seg_dir, entry, config)?);
                unchecked.push(Arc::clone(&seg));
                seg
            }
        };
        let deleted = read_deletions(vfs, &seg_dir, entry, seg.rows())?;
        points += seg.rows() - deleted.ones();
        sealed.push(Sealed::shared(seg, deleted));
    }
    Ok((sealed, points, unchecked))
}

/// Checks `segments`' checksums: now with `verify_segments_on_open`, else on a background
/// thread until `stop` is set.
fn start_checks(
    dir: &Path,
    segments: Vec<Arc<ImmutableSegment>>,
    options: &OpenOptions,
    stop: &Arc<AtomicBool>,
) -> Result<()> {
    if options.verify_segments_on_open {
        check_segments(&segments, stop);
    } else if !segments.is_empty() {
        let stop = Arc::clone(stop);
        std::thread::Builder::new()
            .name("vecsieve-checksums".into())
            .spawn(move || check_segments(&segments, &stop))
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// A consistent state of a collection that a writer may be changing: its config, and the
/// version made of the MANIFEST's segments and the WAL records above its checkpoint.
struct Snapshot {
    config: CollectionConfig,
    version: Version,
    next_segment_id: u64,
    last_seq: u64,
    replayed: u64,
    unchecked: Vec<Arc<ImmutableSegment>>,
}

/// Reads a read-only open makes at most to find a snapshot no commit changed under it.
const SNAPSHOT_ATTEMPTS: u32 = 50;

/// Reads a [`Snapshot`] without writing anything: the MANIFEST, then its segments and the
/// WAL, then the MANIFEST again. A commit between the two reads (which may have deleted a
/// segment or WAL file the first one named) starts it over, so the snapshot is the
/// MANIFEST's segments plus a prefix of the records after its checkpoint: a state the
/// writer was in. A torn tail of the newest WAL file is a write still being appended: not
/// there yet, and left as it is.
fn read_snapshot(vfs: &dyn Vfs, dir: &Path, reuse: &[Sealed]) -> Result<Snapshot> {
    let mut last = None;
    for attempt in 0..SNAPSHOT_ATTEMPTS {
        let manifest = Manifest::read(vfs, dir)?;
        let snap = snapshot_at(vfs, dir, &manifest, reuse);
        if Manifest::read(vfs, dir)? == manifest {
            return snap;
        }
        last = snap.err();
        std::thread::sleep(Duration::from_millis(u64::from(attempt.min(10))));
    }
    Err(last.unwrap_or_else(|| {
        Error::io(
            dir.join(MANIFEST_FILE),
            std::io::Error::other(format!(
                "the writer committed during each of {SNAPSHOT_ATTEMPTS} reads; open again"
            )),
        )
    }))
}

fn snapshot_at(
    vfs: &dyn Vfs,
    dir: &Path,
    manifest: &Manifest,
    reuse: &[Sealed],
) -> Result<Snapshot> {
    let config = read_config(vfs, dir)?;
    let (sealed, points, unchecked) = load_segments(vfs, dir, manifest, &config, reuse)?;
    let live = LiveSegment::new(quant::live_shapes(&config));
    let mut version = Version::new(live, sealed, manifest.clone(), points);
    let found = wal::examine(
        vfs,
        &dir.join(WAL_DIR),
        manifest.checkpoint_seq,
        |seq, kind, body| version.apply_record(&config, seq, kind, body),
    )?;
    Ok(Snapshot {
        config,
        version,
        next_segment_id: manifest.next_segment_id,
        last_seq: found.last_seq,
        replayed: found.replayed,
        unchecked,
    })
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without close: the WAL holds everything; Buffered writes get a last sync.
        if self.config.durability == Durability::Buffered
            && let Some((_, file)) = self
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
        id: s.id(),
        rows,
        deleted: s.deleted.ones() as u64,
        row_bytes: (ids + originals + codes + payloads).div_ceil(rows.max(1)),
        matches_config: config.slots().iter().enumerate().all(|(n, slot)| {
            s.seg.layout().slots.get(n).is_some_and(|l| {
                quant::codes_match(
                    l.code_kind,
                    s.seg.scalar_params(n),
                    &slot.params.quantization,
                )
            })
        }) && s.seg.persisted_indexes() == &config.payload_indexes,
    }
}
