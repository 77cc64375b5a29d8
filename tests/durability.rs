//! Damaged files and failing disks: a torn WAL tail at every byte, byte flips and
//! truncations of every file kind, and an I/O error injected at every mutating operation.
//! Every case must end in a typed error or a consistent state, never a panic or silent loss.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vecsieve::io::FaultyVfs;
use vecsieve::optimizer::OptimizerConfig;
use vecsieve::{
    BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Distance, Error, Point, PointId,
    Quantization, ScalarConfig,
};

const DIM: usize = 8;

/// Background optimizer off: the fault tests number every I/O operation, and a background
/// thread would make that numbering nondeterministic.
fn config() -> CollectionConfig {
    CollectionConfig::new(DIM, Distance::Dot)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_live_segment_max_bytes(4096)
        .with_search_threads(1)
        .with_optimizer(OptimizerConfig {
            background: false,
            ..OptimizerConfig::default()
        })
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn point(id: u64) -> Point {
    Point::new(id, common::vector_for(id, DIM)).with_payload(id.to_le_bytes().to_vec())
}

fn typed(e: &Error) -> bool {
    matches!(
        e,
        Error::Corrupted { .. } | Error::ChecksumMismatch { .. } | Error::UnsupportedVersion { .. }
    )
}

/// What the collection holds: id → vector.
fn contents(c: &Collection, max_id: u64) -> BTreeMap<u64, Vec<f32>> {
    (0..max_id)
        .filter_map(|id| c.get(id).unwrap().map(|p| (id, p.vector)))
        .collect()
}

/// spec: WAL-4, WAL-5, WAL-7.
#[test]
fn torn_wal_tail_at_every_byte_loses_only_the_last_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let c = Collection::create(&dir, config()).unwrap();
    for id in 0..5 {
        c.upsert(&[point(id)]).unwrap();
    }
    let wal = files_in(&dir.join("wal")).pop().unwrap();
    let before = std::fs::metadata(&wal).unwrap().len();
    c.upsert(&[point(5), point(6)]).unwrap();
    let after = std::fs::metadata(&wal).unwrap().len();
    drop(c);
    let name = wal.file_name().unwrap().to_owned();
    for cut in before..=after {
        for zero_fill in [false, true] {
            let t = tempfile::tempdir().unwrap();
            common::copy_dir(&dir, t.path());
            let w = t.path().join("wal").join(&name);
            let mut bytes = std::fs::read(&w).unwrap();
            let original = bytes.clone();
            if zero_fill {
                bytes[cut as usize..].fill(0);
            } else {
                bytes.truncate(cut as usize);
            }
            std::fs::write(&w, &bytes).unwrap();
            let c = Collection::open(t.path()).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            let complete = bytes == original;
            assert_eq!(
                c.len(),
                if complete { 7 } else { 5 },
                "cut {cut} zero_fill {zero_fill}"
            );
            for id in 0..5 {
                assert_eq!(
                    c.get(id).unwrap().unwrap().vector,
                    common::vector_for(id, DIM)
                );
            }
            // The truncation is durable and the collection writable again.
            c.upsert(&[point(9)]).unwrap();
            drop(c);
            let c = Collection::open(t.path()).unwrap();
            assert_eq!(c.len(), if complete { 8 } else { 6 });
        }
    }
}

/// spec: WAL-3, WAL-5 (the later records prove the bad one synced).
#[test]
fn a_bad_record_before_valid_ones_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let c = Collection::create(&dir, config()).unwrap();
    c.upsert(&[point(0)]).unwrap();
    let wal = files_in(&dir.join("wal")).pop().unwrap();
    let first_end = std::fs::metadata(&wal).unwrap().len() as usize;
    for id in 1..4 {
        c.upsert(&[point(id)]).unwrap();
    }
    drop(c);
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[first_end + 40] ^= 0x01; // inside the second record's body
    std::fs::write(&wal, &bytes).unwrap();
    match Collection::open(&dir) {
        Err(Error::Corrupted { file, offset, .. }) => {
            assert_eq!(file, wal);
            assert_eq!(offset, first_end as u64);
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

/// A collection with `batches` sealed segments of 10 points each (ids `0..10·batches`).
fn sealed_batches(dir: &Path, batches: u64) -> Collection {
    let c = Collection::create(dir, config()).unwrap();
    for batch in 0..batches {
        c.upsert(&(batch * 10..batch * 10 + 10).map(point).collect::<Vec<_>>())
            .unwrap();
        c.seal().unwrap();
    }
    c
}

/// A temporary collection made by [`populated`].
fn populated_tmp() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    populated(&dir, config());
    (tmp, dir)
}

/// A collection with a sealed segment, a deletion sidecar, and records in the WAL.
fn populated(dir: &Path, config: CollectionConfig) {
    let c = Collection::create(dir, config).unwrap();
    c.upsert(&(0..40).map(point).collect::<Vec<_>>()).unwrap();
    c.delete([PointId::Num(3), PointId::Num(17)]).unwrap();
    c.seal().unwrap();
    c.delete([PointId::Num(5)]).unwrap();
    c.seal().unwrap();
    c.upsert(&(40..44).map(point).collect::<Vec<_>>()).unwrap();
    c.delete([PointId::Num(41)]).unwrap();
    drop(c);
}

/// Opens a damaged copy: it must fail with a typed error, or open and then either fail
/// `verify` with a typed error or hold a consistent prefix of the history.
fn check_damaged(dir: &Path, what: &str, wal: bool, full: &BTreeMap<u64, Vec<f32>>) {
    match Collection::open(dir) {
        Err(e) => assert!(
            typed(&e) || matches!(e, Error::InvalidConfig { .. }),
            "{what}: {e:?}"
        ),
        Ok(c) => match c.verify() {
            Err(e) => assert!(typed(&e), "{what}: verify gave {e:?}"),
            Ok(()) => {
                assert!(wal, "{what}: damage went unnoticed");
                // Only the WAL tail may be lost: everything sealed is intact.
                let got = contents(&c, 50);
                for id in (0..40).filter(|id| ![3, 17, 5].contains(id)) {
                    assert_eq!(got.get(&id), full.get(&id), "{what}: id {id}");
                }
            }
        },
    }
}

/// spec: SEG-5, SEG-6, SEG-7, MAN-2, WAL-4, WAL-5.
#[test]
fn every_file_kind_survives_flips_and_truncations_without_panics() {
    let (_tmp, dir) = populated_tmp();
    flips_and_truncations(&dir);
}

#[test]
fn scalar_and_two_bit_segments_survive_flips_and_truncations_without_panics() {
    let two_bits = BinaryConfig::default().with_encoding(BinaryEncoding::TwoBits);
    for q in [
        Quantization::Scalar(ScalarConfig::default()),
        Quantization::Binary(two_bits),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        populated(&dir, config().with_quantization(q));
        flips_and_truncations(&dir);
    }
}

fn flips_and_truncations(dir: &Path) {
    let dir = dir.to_path_buf();
    let full = contents(&Collection::open(&dir).unwrap(), 50);
    assert_eq!(full.len(), 44 - 4);
    let mut targets: Vec<(PathBuf, bool)> = vec![(PathBuf::from("MANIFEST"), false)];
    for f in files_in(&dir.join("segments")) {
        targets.push((Path::new("segments").join(f.file_name().unwrap()), false));
    }
    for f in files_in(&dir.join("wal")) {
        targets.push((Path::new("wal").join(f.file_name().unwrap()), true));
    }
    assert!(
        targets
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "del"))
    );
    assert!(
        targets
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "seg"))
    );
    // Every byte of small files and of the first and last 64 bytes of large ones (headers,
    // tables, footers, tails), and one byte in `stride` of the rest at an offset that changes
    // from run to run, so that the runs together cover every byte. VECSIEVE_FLIP_STRIDE=1
    // checks every byte; VECSIEVE_FLIP_SEED replays a run.
    let env = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    let seed = env("VECSIEVE_FLIP_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let stride = env("VECSIEVE_FLIP_STRIDE").unwrap_or(16).max(1) as usize;
    let offset = (seed % stride as u64) as usize;
    let mut cases = 0;
    for (rel, wal) in &targets {
        let original = std::fs::read(dir.join(rel)).unwrap();
        let len = original.len();
        let stride = if len > 2048 { stride } else { 1 };
        let positions =
            (0..len).filter(|i| i % stride == offset % stride || *i < 64 || *i + 64 >= len);
        for i in positions {
            for (kind, bytes) in [
                ("flip", {
                    let mut b = original.clone();
                    b[i] ^= 0x5A;
                    b
                }),
                ("truncate", original[..i].to_vec()),
            ] {
                let t = tempfile::tempdir().unwrap();
                common::copy_dir(&dir, t.path());
                std::fs::write(t.path().join(rel), &bytes).unwrap();
                check_damaged(
                    t.path(),
                    &format!(
                        "{kind} {} at {i} (VECSIEVE_FLIP_SEED={seed})",
                        rel.display()
                    ),
                    *wal,
                    &full,
                );
                cases += 1;
            }
        }
    }
    println!("RELIABILITY {{\"test\":\"flips_and_truncations\",\"cases\":{cases}}}");
}

/// spec: DIR-2.
#[test]
fn config_json_truncations_are_invalid_config() {
    let (_tmp, dir) = populated_tmp();
    let original = std::fs::read(dir.join("config.json")).unwrap();
    for cut in 0..original.len() - 1 {
        std::fs::write(dir.join("config.json"), &original[..cut]).unwrap();
        assert!(
            matches!(Collection::open(&dir), Err(Error::InvalidConfig { .. })),
            "cut {cut}"
        );
    }
}

/// Runs the workload on `vfs`; returns how many operations were acknowledged.
fn workload(c: &Collection, ops: u64) -> u64 {
    for op in 0..ops {
        let result = match op % 7 {
            3 => c.delete([PointId::Num(op - 2)]).map(|_| ()),
            5 => c.seal(),
            6 => c.flush(),
            _ => c.upsert(&[point(op), point(op + 1000)]),
        };
        if let Err(e) = result {
            assert!(
                matches!(e, Error::Io { .. } | Error::Poisoned),
                "op {op}: {e:?}"
            );
            assert!(
                matches!(c.upsert(&[point(1)]), Err(Error::Poisoned)),
                "not poisoned after {e}"
            );
            return op;
        }
    }
    ops
}

fn model(ops: u64) -> BTreeMap<u64, Vec<f32>> {
    let mut m = BTreeMap::new();
    for op in 0..ops {
        match op % 7 {
            3 => {
                m.remove(&(op - 2));
            }
            5 | 6 => {}
            _ => {
                for id in [op, op + 1000] {
                    m.insert(id, common::vector_for(id, DIM));
                }
            }
        }
    }
    m
}

/// spec: WAL-6, MAN-1, MAN-3.
#[test]
fn an_io_error_at_any_operation_poisons_and_loses_nothing_acknowledged() {
    const OPS: u64 = 30;
    let mut n = 1;
    loop {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        let vfs = Arc::new(FaultyVfs::new(n));
        let acked = match Collection::create_with_vfs(&dir, config(), vfs.clone()) {
            Ok(c) => workload(&c, OPS),
            Err(e) => {
                assert!(matches!(e, Error::Io { .. }), "create: {e:?}");
                // An interrupted create can be retried, or it got as far as its commit point
                // and the collection opens.
                match Collection::create(&dir, config()) {
                    Ok(_) => {}
                    Err(Error::AlreadyExists(_)) => drop(Collection::open(&dir).unwrap()),
                    Err(e) => panic!("retrying create after a fault at op {n}: {e}"),
                }
                n += 1;
                continue;
            }
        };
        if !vfs.has_failed() {
            assert_eq!(acked, OPS);
            break;
        }
        let c = Collection::open(&dir).unwrap_or_else(|e| panic!("fault at op {n}: reopen: {e}"));
        let got = contents(&c, 2000);
        // The failed operation may or may not have reached the disk; nothing before it lost.
        assert!(
            got == model(acked) || got == model(acked + 1),
            "fault at I/O op {n} (after {acked} acknowledged ops): state is not a prefix"
        );
        c.verify().unwrap();
        n += 1;
    }
    assert!(n > 50, "the workload did only {n} I/O operations");
    println!("RELIABILITY {{\"test\":\"io_faults\",\"fault_points\":{n}}}");
}

#[test]
fn an_io_error_while_opening_is_reported_and_harmless() {
    let (_tmp, dir) = populated_tmp();
    let want = contents(&Collection::open(&dir).unwrap(), 50);
    let mut n = 1;
    loop {
        let t = tempfile::tempdir().unwrap();
        common::copy_dir(&dir, t.path());
        // A torn WAL tail, so that recovery has its full work to do (spec: WAL-5, WAL-7).
        let wal = files_in(&t.path().join("wal")).pop().unwrap();
        let mut bytes = std::fs::read(&wal).unwrap();
        bytes.extend_from_slice(&[0x11; 13]);
        std::fs::write(&wal, bytes).unwrap();
        let vfs = Arc::new(FaultyVfs::new(n));
        match Collection::open_with_vfs(t.path(), vfs.clone()) {
            Err(e) => assert!(matches!(e, Error::Io { .. }), "{e:?}"),
            Ok(_) if !vfs.has_failed() => break,
            Ok(_) => {}
        }
        let c = Collection::open(t.path()).unwrap();
        assert_eq!(contents(&c, 50), want, "fault at open op {n}");
        n += 1;
    }
    assert!(n > 3);
}

/// spec: DIR-2, DIR-5.
#[test]
fn an_io_error_during_set_quantization_loses_nothing_and_converges() {
    let (_tmp, dir) = populated_tmp();
    let want = contents(&Collection::open(&dir).unwrap(), 50);
    let scalar = Quantization::Scalar(ScalarConfig::default());
    let mut n = 1;
    loop {
        let t = tempfile::tempdir().unwrap();
        common::copy_dir(&dir, t.path());
        // Operation `n` of open + set_quantization + optimize fails.
        let vfs = Arc::new(FaultyVfs::new(n));
        let result = Collection::open_with_vfs(t.path(), vfs.clone())
            .and_then(|c| c.set_quantization(scalar).and_then(|()| c.optimize()));
        if !vfs.has_failed() {
            result.unwrap();
            break;
        }
        let c =
            Collection::open(t.path()).unwrap_or_else(|e| panic!("fault at op {n}: reopen: {e}"));
        assert_eq!(contents(&c, 50), want, "fault at op {n}");
        c.verify().unwrap();
        // If the config change reached the disk, the optimizer converges.
        c.optimize().unwrap();
        if matches!(c.config().quantization, Quantization::Scalar(_)) {
            let codes = c.info().unwrap().disk.codes;
            assert_eq!(
                codes,
                64 * want.len() as u64,
                "fault at op {n}: not converged"
            );
        }
        assert_eq!(contents(&c, 50), want, "fault at op {n}, after optimize");
        n += 1;
    }
    assert!(n > 10, "set_quantization did only {n} I/O operations");
}

#[test]
fn an_io_error_during_optimize_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let c = sealed_batches(&dir, 12);
    c.delete((0..120).step_by(4).map(PointId::Num).collect::<Vec<_>>())
        .unwrap();
    drop(c);
    let want = contents(&Collection::open(&dir).unwrap(), 200);
    let mut n = 1;
    loop {
        let t = tempfile::tempdir().unwrap();
        common::copy_dir(&dir, t.path());
        let vfs = Arc::new(FaultyVfs::new(n));
        let result = Collection::open_with_vfs(t.path(), vfs.clone()).and_then(|c| c.optimize());
        if !vfs.has_failed() {
            assert!(result.unwrap().merged > 0);
            break;
        }
        let c =
            Collection::open(t.path()).unwrap_or_else(|e| panic!("fault at op {n}: reopen: {e}"));
        assert_eq!(contents(&c, 200), want, "fault at op {n}");
        c.verify().unwrap();
        c.optimize().unwrap();
        assert_eq!(
            contents(&c, 200),
            want,
            "fault at op {n}, after a clean optimize"
        );
        n += 1;
    }
    assert!(n > 10, "optimize did only {n} I/O operations");
}

#[test]
fn too_little_free_space_skips_the_task_and_keeps_the_collection_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    drop(sealed_batches(&dir, 8));
    let want = contents(&Collection::open(&dir).unwrap(), 100);
    let files_before = files_in(&dir.join("segments"));
    let vfs = Arc::new(FaultyVfs::new(u64::MAX).with_free_space(1024));
    let c = Collection::open_with_vfs(&dir, vfs).unwrap();
    match c.optimize() {
        Err(Error::InsufficientSpace {
            needed, available, ..
        }) => {
            assert!(needed > available && available == 1024);
        }
        other => panic!("expected InsufficientSpace, got {other:?}"),
    }
    assert_eq!(
        files_in(&dir.join("segments")),
        files_before,
        "a partial output was left"
    );
    assert_eq!(contents(&c, 100), want);
    // Not poisoned: writes go on, and with space the task runs.
    c.upsert(&[point(500)]).unwrap();
    drop(c);
    let c = Collection::open(&dir).unwrap();
    assert!(c.optimize().unwrap().merged > 0);
    assert_eq!(c.len(), want.len() + 1);
}
