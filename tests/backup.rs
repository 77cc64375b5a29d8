//! Online backups (`Collection::backup`): taken while a writer ingests, seals and merges,
//! each backup verifies, opens as a normal collection and holds exactly one state the
//! writer was in; later writes never reach it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::batches::Batches;
use common::files_under;
use vecsieve::optimizer::OptimizerConfig;
use vecsieve::{
    BackupOptions, Collection, CollectionConfig, Distance, Error, OpenOptions, Point, PointId,
};

/// Batches of 40 points, each followed by the delete of the ids of batch `b − 2`
/// divisible by 4.
const HISTORY: Batches = Batches {
    size: 40,
    lag: 2,
    every: 4,
    dim: 8,
};

fn model_at(n: u64, pending: bool) -> BTreeMap<PointId, Vec<f32>> {
    HISTORY.state(n, pending)
}

fn write_batch(c: &Collection, b: u64) {
    HISTORY.write(c, b);
}

/// The batches the collection at `path` holds, after checking that it holds exactly a
/// state the writer was in (ids and vectors).
fn writer_state(path: &Path) -> u64 {
    let c = Collection::open(path).unwrap();
    let points: Vec<Point> = c.iter(None).collect::<Result<_, _>>().unwrap();
    let n = HISTORY.count(points.iter().map(|p| p.id));
    let got: BTreeMap<PointId, Vec<f32>> = points.into_iter().map(|p| (p.id, p.vector)).collect();
    assert!(
        got == model_at(n, false) || got == model_at(n, true),
        "{} holds no state of {n} batches",
        path.display()
    );
    c.close().unwrap();
    n
}

#[test]
fn backups_under_load_verify_open_and_hold_one_writer_state() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c");
    let config = CollectionConfig::new(HISTORY.dim, Distance::Euclid)
        .with_live_segment_max_bytes(8 << 10)
        .with_wal_file_max_bytes(4096)
        .with_optimizer(OptimizerConfig {
            merge_factor: 2,
            vacuum_min_deleted: 1,
            ..OptimizerConfig::default()
        });
    let writer = Collection::create(&path, config).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let ingest = {
        let (writer, done) = (writer.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            for b in 0..300 {
                write_batch(&writer, b);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut backups = Vec::new();
    while !done.load(Ordering::SeqCst) || backups.is_empty() {
        let dest = tmp.path().join(format!("backup-{}", backups.len()));
        let options = BackupOptions {
            hard_link: backups.len() % 2 == 1,
        };
        let report = writer.backup(&dest, options).unwrap();
        assert!(report.files >= 3, "{report:?}"); // config.json, LOCK, MANIFEST at least
        backups.push((dest, report));
    }
    ingest.join().unwrap();
    writer.close().unwrap();
    // Each backup, opened after the writer went on, holds the state it was taken at:
    // whole batches, the deletions that came with them, every vector.
    let mut states = Vec::new();
    for (dest, report) in &backups {
        let n = writer_state(dest);
        let want = model_at(n, false).len();
        assert!(
            report.points == want || report.points == model_at(n, true).len(),
            "{report:?} for {n} batches ({want} points)"
        );
        states.push(n);
    }
    assert!(states.windows(2).all(|w| w[0] <= w[1]), "{states:?}");
    assert!(backups.len() >= 2, "{states:?}");
    // Segment files are hard-linked when asked (all of them: same file system), copied
    // otherwise.
    for (i, (dest, report)) in backups.iter().enumerate() {
        let segment_files = files_under(&dest.join("segments")).len();
        if i % 2 == 1 {
            assert_eq!(report.linked, segment_files, "{report:?}");
        } else {
            assert_eq!(report.linked, 0, "{report:?}");
        }
    }
}

#[test]
fn a_backup_of_a_crash_image_cuts_nothing_in_the_source_and_refuses_a_used_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c");
    let c =
        Collection::create(&path, CollectionConfig::new(HISTORY.dim, Distance::Euclid)).unwrap();
    for b in 0..3 {
        write_batch(&c, b);
    }
    drop(c);
    let wal = files_under(&path.join("wal")).pop().unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.extend_from_slice(&[0x33; 17]);
    std::fs::write(&wal, &bytes).unwrap();

    // From a read-only handle: the source keeps its torn tail, the backup has none.
    let r = Collection::open_with_options(&path, OpenOptions::read_only()).unwrap();
    let dest = tmp.path().join("b");
    let report = r.backup(&dest, BackupOptions::default()).unwrap();
    assert_eq!(report.points, model_at(3, false).len());
    assert_eq!(std::fs::read(&wal).unwrap(), bytes);
    let copy = vecsieve::verify::verify_dir(&dest).unwrap();
    assert!(copy.is_ok());
    assert!(
        copy.files
            .iter()
            .all(|f| matches!(f.status, vecsieve::verify::FileStatus::Ok)),
        "{copy:?}"
    );
    assert_eq!(writer_state(&dest), 3);

    // A destination with anything in it is refused and left alone.
    let used = tmp.path().join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("notes.txt"), b"mine").unwrap();
    let err = r.backup(&used, BackupOptions::default()).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err}");
    assert_eq!(std::fs::read(used.join("notes.txt")).unwrap(), b"mine");
    r.close().unwrap();
    let err = r.backup(tmp.path().join("late"), BackupOptions::default());
    assert!(matches!(err, Err(Error::Closed)));
}
