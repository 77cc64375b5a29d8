//! Read-only handles (`OpenOptions::read_only`) beside a writer: every snapshot a reader
//! sees is a state the writer was in (whole batches, the deletions that came with them),
//! searches on it agree with brute force over that state, segment files the writer's
//! optimizer replaces stay readable, and a reader never changes a byte on disk.

mod common;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::batches::Batches;
use common::{brute_force, files_under, tree, vector_for};
use vecsieve::io::{MappedFile, StdVfs, Vfs, VfsFile, VfsLock};
use vecsieve::optimizer::OptimizerConfig;
use vecsieve::{
    Collection, CollectionConfig, Distance, Error, OpenOptions, PayloadSchema, Point, PointId,
    Quantization, SearchDefaults, SearchParams,
};

const DIM: usize = 8;
/// Batches of 40 points (one upsert call: one WAL record), each followed by the delete of
/// the ids of batch `b − 3` divisible by 3 (another record).
const HISTORY: Batches = Batches {
    size: 40,
    lag: 3,
    every: 3,
    dim: DIM,
};

fn model(n: u64) -> BTreeMap<PointId, Vec<f32>> {
    HISTORY.state(n, false)
}

fn write_batch(c: &Collection, b: u64) {
    HISTORY.write(c, b);
}

/// Each (id, rounded score) of a result.
fn ranked(hits: &[(PointId, f64)]) -> Vec<PointId> {
    hits.iter().map(|(id, _)| *id).collect()
}

#[test]
fn readers_see_whole_writer_states_while_it_ingests_and_merges() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c");
    let config = CollectionConfig::new(DIM, Distance::Euclid)
        .with_live_segment_max_bytes(8 << 10)
        .with_optimizer(OptimizerConfig {
            merge_factor: 2,
            vacuum_min_deleted: 1,
            ..OptimizerConfig::default()
        });
    let writer = Collection::create(&path, config).unwrap();
    write_batch(&writer, 0);
    let done = Arc::new(AtomicBool::new(false));
    let batches = 400;
    let ingest = {
        let writer = writer.clone();
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            for b in 1..batches {
                write_batch(&writer, b);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let reader = Collection::open_with_options(&path, OpenOptions::read_only()).unwrap();
    let query = vector_for(u64::MAX, DIM);
    let mut seen = Vec::new();
    let mut segment_counts = std::collections::BTreeSet::new();
    loop {
        let finished = done.load(Ordering::SeqCst);
        reader.refresh().unwrap();
        let ids: Vec<PointId> = reader.iter(None).map(|p| p.unwrap().id).collect();
        let (n, pending) = HISTORY
            .which(&ids)
            .unwrap_or_else(|| panic!("a snapshot is not a state the writer was in: {ids:?}"));
        let want = HISTORY.state(n, pending);
        assert_eq!(reader.len(), want.len());
        let exact = reader
            .search(&query, 10, &SearchParams::default().with_exact(true))
            .unwrap();
        let oracle = brute_force(&want, &query, Distance::Euclid, 10);
        assert_eq!(
            exact.iter().map(|h| h.id).collect::<Vec<_>>(),
            ranked(&oracle)
        );
        seen.push(n);
        segment_counts.insert(reader.info().unwrap().segments);
        if finished {
            break;
        }
    }
    ingest.join().unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.len(), model(batches).len());
    seen.dedup();
    assert!(seen.len() >= 3, "the reader saw too few states: {seen:?}");
    // Snapshots across seals and merges, not only across WAL records.
    assert!(segment_counts.len() >= 2, "{segment_counts:?}");
    let status = writer.optimizer_status();
    assert!(
        status.completed > 0 || writer.info().unwrap().segments > 1,
        "no segment was written or merged"
    );
    writer.close().unwrap();
}

#[test]
fn a_reader_repairs_nothing_writes_nothing_and_refuses_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c");
    let c = Collection::create(&path, CollectionConfig::new(DIM, Distance::Euclid)).unwrap();
    for b in 0..3 {
        write_batch(&c, b);
        c.seal().unwrap();
    }
    write_batch(&c, 3);
    // A crash image: records in the WAL, and a torn tail after them.
    drop(c);
    let wal = files_under(&path.join("wal")).pop().unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.extend_from_slice(&[0x5a; 21]);
    std::fs::write(&wal, &bytes).unwrap();
    let before = tree(&path);

    let r = Collection::open_with_options(&path, OpenOptions::read_only()).unwrap();
    assert_eq!(r.len(), model(4).len());
    assert_eq!(r.recovery_report().replayed_records, 2);
    assert!(r.recovery_report().dropped.is_none());
    let p = SearchParams::default().with_exact(true);
    assert_eq!(
        r.search(&vector_for(7, DIM), 1, &p).unwrap()[0].id,
        7.into()
    );
    let refused: Vec<(&str, Result<(), Error>)> = vec![
        ("upsert", r.upsert(&[Point::new(1, vector_for(1, DIM))])),
        ("delete", r.delete([1u64]).map(drop)),
        ("flush", r.flush()),
        ("seal", r.seal()),
        ("optimize", r.optimize().map(drop)),
        ("set_quantization", r.set_quantization(Quantization::None)),
        (
            "set_search_defaults",
            r.set_search_defaults("", SearchDefaults::default().with_oversampling(2.0)),
        ),
        (
            "create_payload_index",
            r.create_payload_index("k", PayloadSchema::Keyword),
        ),
        (
            "clear_payload",
            r.clear_payload(vec![PointId::Num(1)]).map(drop),
        ),
    ];
    for (what, result) in refused {
        assert!(matches!(result, Err(Error::ReadOnly)), "{what}: {result:?}");
    }
    // A second reader, and refreshing, are fine; closing changes nothing either.
    let r2 = Collection::open_with_options(&path, OpenOptions::read_only()).unwrap();
    assert!(!r2.refresh().unwrap());
    r.close().unwrap();
    assert!(matches!(r.count(None), Err(Error::Closed)));
    drop(r2);
    assert_eq!(tree(&path), before, "a reader changed the directory");

    // The writer's open cuts the tail, as before; readers of a held collection still open.
    let w = Collection::open(&path).unwrap();
    assert!(w.recovery_report().dropped.is_some());
    let r = Collection::open_with_options(&path, OpenOptions::read_only()).unwrap();
    assert_eq!(r.len(), w.len());
    // Locked names the holder.
    match Collection::open(&path) {
        Err(Error::Locked { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn segments_a_reader_maps_stay_readable_after_the_optimizer_replaces_them() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c");
    let config = CollectionConfig::new(DIM, Distance::Euclid).with_optimizer(OptimizerConfig {
        background: false,
        merge_factor: 2,
        vacuum_min_deleted: 1,
        ..OptimizerConfig::default()
    });
    let w = Collection::create(&path, config).unwrap();
    for b in 0..6 {
        write_batch(&w, b);
        w.seal().unwrap();
    }
    let r = Collection::open_with_options(&path, OpenOptions::read_only()).unwrap();
    let files = files_under(&path.join("segments"));
    let report = w.optimize().unwrap();
    assert!(report.merged + report.vacuumed > 0, "{report:?}");
    let replaced = files.iter().filter(|f| !f.exists()).count();
    assert!(replaced > 0, "the optimizer deleted no file");
    // The reader's snapshot still reads every row of the deleted files (POSIX keeps an
    // unlinked file's pages while it is mapped).
    let want = model(6);
    let got: Vec<Point> = r.iter(None).collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), want.len());
    for p in &got {
        assert_eq!(Some(&p.vector), want.get(&p.id));
    }
    // Refreshing moves it to the merged segments.
    assert!(r.refresh().unwrap());
    assert_eq!(r.info().unwrap().segments, w.info().unwrap().segments);
    assert_eq!(r.len(), want.len());
}

/// The real file system, except that `hook` runs once, before the first `list` of a
/// directory named `wal` or the first `map` (as chosen), so a test can commit between a
/// reader's MANIFEST read and its reads of the files that MANIFEST named.
struct HookVfs {
    on_list_wal: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    on_map: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for HookVfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookVfs")
    }
}

impl Vfs for HookVfs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdVfs.create_dir_all(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        if dir.ends_with("wal")
            && let Some(hook) = self.on_list_wal.lock().unwrap().take()
        {
            hook();
        }
        StdVfs.list(dir)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        StdVfs.read(path)
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        StdVfs.file_size(path)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        StdVfs.create(path)
    }
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        StdVfs.open_append(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        StdVfs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdVfs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdVfs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdVfs.sync_dir(dir)
    }
    fn map(&self, path: &Path) -> io::Result<MappedFile> {
        if let Some(hook) = self.on_map.lock().unwrap().take() {
            hook();
        }
        StdVfs.map(path)
    }
    fn free_space(&self, dir: &Path) -> io::Result<u64> {
        StdVfs.free_space(dir)
    }
    fn lock(&self, dir: &Path) -> io::Result<VfsLock> {
        StdVfs.lock(dir)
    }
}

/// A writer with small WAL files (so that a seal deletes the ones it covers) and no
/// background optimizer, holding `batches` batches, sealed one segment each but the last.
fn held_writer(path: &Path, batches: u64) -> Collection {
    let config = CollectionConfig::new(DIM, Distance::Euclid)
        .with_wal_file_max_bytes(4096)
        .with_optimizer(OptimizerConfig {
            background: false,
            merge_factor: 2,
            ..OptimizerConfig::default()
        });
    let w = Collection::create(path, config).unwrap();
    for b in 0..batches {
        write_batch(&w, b);
        if b + 1 < batches {
            w.seal().unwrap();
        }
    }
    w
}

#[test]
fn a_commit_between_a_readers_manifest_and_its_wal_read_starts_the_read_over() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c");
    let w = held_writer(&path, 4);
    // The reader reads the MANIFEST; then, before it lists the WAL, the writer seals the
    // last batch (a new MANIFEST) and deletes the WAL files holding it.
    let sealer = w.clone();
    let vfs = Arc::new(HookVfs {
        on_list_wal: Mutex::new(Some(Box::new(move || sealer.seal().unwrap()))),
        on_map: Mutex::new(None),
    });
    let r = Collection::open_with_vfs_options(&path, vfs, OpenOptions::read_only()).unwrap();
    // Without the second MANIFEST read it would hold the first three batches only.
    assert_eq!(r.len(), model(4).len());
    let ids: Vec<PointId> = r.iter(None).map(|p| p.unwrap().id).collect();
    assert_eq!(ids, model(4).into_keys().collect::<Vec<_>>());
}

#[test]
fn a_merge_between_a_readers_manifest_and_its_segment_maps_starts_the_read_over() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c");
    let w = held_writer(&path, 5);
    w.seal().unwrap();
    // The reader reads the MANIFEST; before it maps the first segment the optimizer
    // merges the segments and deletes their files.
    let optimizer = w.clone();
    let vfs = Arc::new(HookVfs {
        on_list_wal: Mutex::new(None),
        on_map: Mutex::new(Some(Box::new(move || {
            let report = optimizer.optimize().unwrap();
            assert!(report.merged > 0, "{report:?}");
        }))),
    });
    let r = Collection::open_with_vfs_options(&path, vfs, OpenOptions::read_only()).unwrap();
    assert_eq!(r.info().unwrap().segments, w.info().unwrap().segments);
    let ids: Vec<PointId> = r.iter(None).map(|p| p.unwrap().id).collect();
    assert_eq!(ids, model(5).into_keys().collect::<Vec<_>>());
}
