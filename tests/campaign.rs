//! Reproductions of the defects an adversarial campaign found (public API and the `Vfs`
//! seam only). Each test failed on the code before its fix.

mod common;

use common::stall::StallVfs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use vecsieve::io::StdVfs;
use vecsieve::optimizer::OptimizerConfig;
use vecsieve::{BinaryConfig, Collection, CollectionConfig, Distance, Error, Point, Quantization};

const DIM: usize = 8;

fn config() -> CollectionConfig {
    CollectionConfig::new(DIM, Distance::Dot)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_search_threads(1)
        .with_optimizer(OptimizerConfig {
            background: false,
            ..OptimizerConfig::default()
        })
}

fn point(id: u64) -> Point {
    Point::new(id, common::vector_for(id, DIM))
}

fn contents(c: &Collection, max_id: u64) -> BTreeMap<u64, Vec<f32>> {
    (0..max_id)
        .filter_map(|id| c.get(id).unwrap().map(|p| (id, p.vector)))
        .collect()
}

fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Defects 1 and 7: `close()` returned while an `optimize()` on a clone was still building;
/// the next owner reused the build's output id, and the cancelled build's cleanup removed
/// the new owner's published segment. A cancelled build was reported as an I/O error.
#[test]
fn close_waits_for_a_build_on_another_thread_and_the_build_removes_only_its_own_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let vfs = Arc::new(StallVfs::new(Arc::new(StdVfs)));
    let a = Collection::create_with_vfs(&dir, config(), vfs.clone()).unwrap();
    for batch in 0..8u64 {
        a.upsert(&(batch * 10..batch * 10 + 10).map(point).collect::<Vec<_>>())
            .unwrap();
        a.seal().unwrap();
    }
    let want = contents(&a, 200);
    vfs.armed.store(true, Ordering::SeqCst);
    let optimizing = {
        let a = a.clone();
        std::thread::spawn(move || a.optimize())
    };
    vfs.gate.wait_entered();
    let closed = Arc::new(AtomicBool::new(false));
    let closing = {
        let (a, closed) = (a.clone(), Arc::clone(&closed));
        std::thread::spawn(move || {
            let r = a.close();
            closed.store(true, Ordering::SeqCst);
            r
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !closed.load(Ordering::SeqCst),
        "close() returned while a build was still running"
    );
    // While the first owner waits, nobody else can own the directory.
    assert!(matches!(Collection::open(&dir), Err(Error::Locked { .. })));
    vfs.gate.open();
    closing.join().unwrap().unwrap();
    match optimizing.join().unwrap() {
        Err(Error::Closed) => {}
        other => panic!("a build cancelled by close() should end in Error::Closed: {other:?}"),
    }
    // Nothing of the first owner changes the directory once close() has returned.
    let segments = dir.join("segments");
    let after_close = listing(&segments);
    assert!(
        after_close.iter().all(|(n, _)| !n.ends_with(".tmp")),
        "{after_close:?}"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(listing(&segments), after_close);
    drop(a);
    // The next owner writes and seals; everything is still there after a reopen.
    let b = Collection::open(&dir).unwrap();
    b.upsert(&(100..110).map(point).collect::<Vec<_>>())
        .unwrap();
    b.seal().unwrap();
    drop(b);
    let b = Collection::open(&dir).unwrap();
    let mut want = want;
    want.extend((100..110).map(|id| (id, common::vector_for(id, DIM))));
    assert_eq!(contents(&b, 200), want);
    b.verify().unwrap();
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Record offsets of a WAL file (spec: WAL-2: 32-byte file header, 32-byte record headers,
/// bodies padded to 8).
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = 32;
    let mut out = Vec::new();
    while at + 32 <= bytes.len() {
        out.push(at);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 32 + len.div_ceil(8) * 8;
    }
    out
}

/// A collection whose WAL holds `ops` one-point upserts (ids `0..ops`), left as a crash
/// would leave it (dropped without close). Returns the newest WAL file.
fn crashed_with_records(dir: &Path, config: CollectionConfig, ops: u64) -> PathBuf {
    let c = Collection::create(dir, config).unwrap();
    for id in 0..ops {
        c.upsert(&[point(id)]).unwrap();
    }
    drop(c);
    wal_files(dir).pop().unwrap()
}

/// Defect 2, spec: WAL-5. Unsynced records may reach the disk out of order on power loss:
/// a later record persisted while an earlier one was torn. Recovery refused to open
/// ("an invalid record followed by a valid one"). Records past the last synced point end
/// the log instead.
#[test]
fn a_torn_unsynced_record_before_a_persisted_one_ends_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    // Buffered, and no timer sync during the test: none of the records is synced.
    let mut config = config().with_durability(vecsieve::Durability::Buffered);
    config.buffered_sync_interval_ms = 60_000;
    let wal = crashed_with_records(&dir, config, 4);
    let mut bytes = std::fs::read(&wal).unwrap();
    let offsets = record_offsets(&bytes);
    assert_eq!(offsets.len(), 4);
    // Power loss tore record 2 (its body never reached the disk); 3 and 4 did.
    bytes[offsets[1] + 40] ^= 0xFF;
    std::fs::write(&wal, &bytes).unwrap();
    let report = vecsieve::verify::verify_dir(&dir).unwrap();
    assert!(report.is_ok(), "{report:?}");
    let c = Collection::open(&dir).unwrap_or_else(|e| panic!("open refused: {e}"));
    assert_eq!(contents(&c, 10).into_keys().collect::<Vec<_>>(), [0]);
    let dropped = c
        .recovery_report()
        .dropped
        .expect("a dropped tail is reported");
    assert_eq!(
        (dropped.offset, dropped.records),
        (offsets[1] as u64, 3),
        "{dropped}"
    );
    assert_eq!(dropped.bytes, (bytes.len() - offsets[1]) as u64);
    assert_eq!(
        std::fs::read(&dropped.saved_as).unwrap(),
        &bytes[offsets[1]..],
        "the cut bytes are kept"
    );
    assert_eq!(
        c.info().unwrap().kept_wal_tails,
        std::slice::from_ref(&dropped.saved_as)
    );
    // Writable again, and the next open sees the same state plus the new write.
    c.upsert(&[point(50)]).unwrap();
    drop(c);
    let c = Collection::open(&dir).unwrap();
    assert_eq!(contents(&c, 60).into_keys().collect::<Vec<_>>(), [0, 50]);
    assert_eq!(c.recovery_report().dropped, None);
}

/// Defect 5, spec: WAL-5, WAL-7. Damage to the end of the newest WAL cannot always be told
/// from a torn write, but recovery never destroys the evidence nor calls it unacknowledged:
/// the cut bytes are kept, counted, and reported by open and verify; damage that a later
/// record proves synced is an error that changes nothing.
#[test]
fn a_damaged_wal_end_is_kept_and_reported_and_proven_synced_damage_is_an_error() {
    for case in ["flip last", "truncate", "flip middle"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        let wal = crashed_with_records(&dir, config(), 107);
        let original = std::fs::read(&wal).unwrap();
        let offsets = record_offsets(&original);
        assert_eq!(offsets.len(), 107);
        let mut bytes = original.clone();
        match case {
            "flip last" => bytes[offsets[106] + 40] ^= 0x01,
            "truncate" => bytes.truncate(offsets[100] + 20),
            _ => bytes[offsets[50] + 40] ^= 0x01,
        }
        std::fs::write(&wal, &bytes).unwrap();
        let report = vecsieve::verify::verify_dir(&dir).unwrap();
        if case == "flip middle" {
            // Record 52 was written after record 51 was synced: acknowledged data.
            assert!(!report.is_ok(), "{case}: {report:?}");
            match Collection::open(&dir) {
                Err(Error::Corrupted { file, offset, what }) => {
                    assert_eq!((file, offset), (wal.clone(), offsets[50] as u64));
                    assert!(what.contains("synced"), "{what}");
                }
                other => panic!("{case}: expected Corrupted, got {other:?}"),
            }
            assert_eq!(
                std::fs::read(&wal).unwrap(),
                bytes,
                "{case}: the WAL changed"
            );
            continue;
        }
        let note = report
            .files
            .iter()
            .find(|f| f.path == wal)
            .map(|f| format!("{:?}", f.status))
            .unwrap();
        assert!(report.is_ok(), "{case}: {report:?}");
        assert!(
            note.contains("cut") && note.contains("acknowledged writes were in it"),
            "{case}: {note}"
        );
        assert!(!note.contains("unacknowledged"), "{case}: {note}");
        let c = Collection::open(&dir).unwrap();
        let dropped = c.recovery_report().dropped.unwrap();
        let (first_lost, records) = if case == "truncate" {
            (100, 1)
        } else {
            (106, 1)
        };
        assert_eq!(
            (dropped.offset, dropped.records, dropped.last_kept_seq),
            (offsets[first_lost] as u64, records, first_lost as u64),
            "{case}: {dropped}"
        );
        assert_eq!(c.len(), first_lost);
        assert_eq!(
            std::fs::read(&dropped.saved_as).unwrap(),
            &bytes[offsets[first_lost]..],
            "{case}"
        );
        assert!(
            dropped
                .to_string()
                .contains(&format!("{} bytes", dropped.bytes)),
            "{dropped}"
        );
    }
}

/// The byte offset of point `id`'s stored vector in a segment file (Dot, f32: the vector
/// as given, little-endian).
fn vector_offset(seg: &[u8], id: u64) -> usize {
    let pattern: Vec<u8> = common::vector_for(id, DIM)
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    seg.windows(pattern.len())
        .position(|w| w == pattern)
        .expect("the vector is in the segment")
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// Five sealed segments of 10 points each (one merge's worth and one more), with point 0's
/// vector in the first flipped by one bit on disk. Returns that segment's file.
fn five_segments_with_a_flipped_vector(dir: &Path) -> PathBuf {
    let c = Collection::create(dir, config()).unwrap();
    for batch in 0..5u64 {
        c.upsert(&(batch * 10..batch * 10 + 10).map(point).collect::<Vec<_>>())
            .unwrap();
        c.seal().unwrap();
    }
    c.close().unwrap();
    let seg = segment_files(dir).remove(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = vector_offset(&bytes, 0);
    bytes[at + 1] ^= 0x04;
    std::fs::write(&seg, bytes).unwrap();
    seg
}

fn assert_originals_mismatch(e: &Error, seg: &Path, what: &str) {
    match e {
        Error::ChecksumMismatch { file, section, .. } => {
            assert_eq!((file.as_path(), *section), (seg, "originals"), "{what}");
        }
        other => panic!("{what}: expected ChecksumMismatch, got {other:?}"),
    }
}

/// Defect 3: a rewrite read its inputs without checking their CRCs and wrote fresh ones,
/// so a merge turned a flipped bit into a segment `verify()` called clean. Inputs are now
/// checked: no rewrite takes the damaged segment, the healthy ones are still merged, and
/// `optimize` reports the damage naming the file and section.
#[test]
fn a_rewrite_never_launders_a_damaged_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let seg = five_segments_with_a_flipped_vector(&dir);
    let damaged = std::fs::read(&seg).unwrap();
    let c = Collection::open(&dir).unwrap();
    let e = c.optimize().unwrap_err();
    assert_originals_mismatch(&e, &seg, "optimize");
    // The damaged file is untouched and still the only home of its points; the other four
    // were merged into one.
    assert_eq!(std::fs::read(&seg).unwrap(), damaged);
    assert_eq!(segment_files(&dir).len(), 2, "{:?}", segment_files(&dir));
    assert_originals_mismatch(&c.optimize().unwrap_err(), &seg, "optimize again");
    assert_eq!(segment_files(&dir).len(), 2);
    for id in 10..50 {
        assert_eq!(
            c.get(id).unwrap().unwrap().vector,
            common::vector_for(id, DIM)
        );
    }
    assert_originals_mismatch(&c.verify().unwrap_err(), &seg, "verify");
    // Not poisoned: the healthy data stays writable and searchable... except the damaged
    // segment, which every read refuses.
    c.upsert(&[point(100)]).unwrap();
    assert_eq!(
        c.get(100).unwrap().unwrap().vector,
        common::vector_for(100, DIM)
    );
    assert_originals_mismatch(&c.get(0).unwrap_err(), &seg, "get");
}

/// Defect 4: `open` checked headers and offsets but not section CRCs, so flipped originals
/// were served by search and `get` until someone ran `verify()`. The background check finds
/// the damage after open, and from then on reads that touch the segment fail.
#[test]
fn a_flipped_bit_is_found_after_open_and_never_served_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let seg = five_segments_with_a_flipped_vector(&dir);
    // In the background: wait for the check to reach every segment.
    let c = Collection::open(&dir).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let statuses = loop {
        let statuses: Vec<vecsieve::ChecksumStatus> = c
            .info()
            .unwrap()
            .segment_list
            .iter()
            .map(|s| s.checksums)
            .collect();
        if !statuses.contains(&vecsieve::ChecksumStatus::Unchecked)
            || std::time::Instant::now() > deadline
        {
            break statuses;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    use vecsieve::ChecksumStatus::{Damaged, Verified};
    assert_eq!(statuses, [Damaged, Verified, Verified, Verified, Verified]);
    let exact = vecsieve::SearchParams::default().with_exact(true);
    let query = common::vector_for(0, DIM);
    assert_originals_mismatch(&c.search(&query, 5, &exact).unwrap_err(), &seg, "search");
    assert_originals_mismatch(
        &c.search(&query, 5, &vecsieve::SearchParams::default())
            .unwrap_err(),
        &seg,
        "quantized search",
    );
    assert_originals_mismatch(&c.get(0).unwrap_err(), &seg, "get");
    assert_originals_mismatch(&c.get(5).unwrap_err(), &seg, "get of an intact row");
    assert_originals_mismatch(
        &c.for_each_point(100, |_| Ok(())).unwrap_err(),
        &seg,
        "for_each_point",
    );
    // Points of healthy segments are still readable one by one.
    assert_eq!(
        c.get(15).unwrap().unwrap().vector,
        common::vector_for(15, DIM)
    );
    drop(c);
    // Checked before open returns.
    let options = vecsieve::OpenOptions {
        verify_segments_on_open: true,
        ..vecsieve::OpenOptions::default()
    };
    let c = Collection::open_with_options(&dir, options).unwrap();
    assert_originals_mismatch(&c.get(0).unwrap_err(), &seg, "get after a checked open");
}
