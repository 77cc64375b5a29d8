//! Versions and seals off the write path (issue 10): a full live segment is frozen, still
//! searched, and written by the sealer while writes go on; writers wait once
//! `MAX_FROZEN_SEGMENTS` are waiting; a commit never persists a deletion whose WAL record
//! a power loss could still take away.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::stall::StallVfs;
use vecsieve::io::{SimVfs, StdVfs};
use vecsieve::optimizer::OptimizerConfig;
use vecsieve::{
    Collection, CollectionConfig, Distance, Durability, MAX_FROZEN_SEGMENTS, Point, SearchParams,
};

const DIM: usize = 8;
/// The smallest live segment a config allows.
const LIVE_BYTES: u64 = 4096;
/// Points of 8 f32 that fill one (each counts 32 + 24 bytes).
const FILL: u64 = LIVE_BYTES.div_ceil(56);

fn config(durability: Durability) -> CollectionConfig {
    CollectionConfig::new(DIM, Distance::Dot)
        .with_durability(durability)
        .with_live_segment_max_bytes(LIVE_BYTES)
        .with_search_threads(1)
        .with_optimizer(OptimizerConfig {
            background: false,
            ..OptimizerConfig::default()
        })
}

fn point(id: u64, version: u64) -> Point {
    Point::new(id, common::vector_for(id * 1000 + version, DIM))
}

fn contents(c: &Collection, ids: std::ops::Range<u64>) -> BTreeMap<u64, Vec<f32>> {
    ids.filter_map(|id| c.get(id).unwrap().map(|p| (id, p.vector)))
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The sealer is held at its first segment write. Writes go on into fresh live segments
/// until `MAX_FROZEN_SEGMENTS` are frozen, then the writer waits; every acknowledged point
/// is found by `get` and by an exact search meanwhile. Opening the gate lets everything
/// through, and a reopen finds every point.
#[test]
fn frozen_segments_are_searched_and_writers_wait_past_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let vfs = Arc::new(StallVfs::new(Arc::new(StdVfs)));
    let c = Collection::create_with_vfs(&dir, config(Durability::Sync), vfs.clone()).unwrap();
    vfs.armed.store(true, Ordering::SeqCst);
    let batches = 8u64;
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (c, acked) = (c.clone(), Arc::clone(&acked));
        std::thread::spawn(move || {
            for b in 0..batches {
                let points: Vec<Point> =
                    (b * FILL..(b + 1) * FILL).map(|id| point(id, 0)).collect();
                c.upsert(&points).unwrap();
                acked.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    vfs.gate.wait_entered();
    wait_until("the frozen segments reach the limit", || {
        c.info().unwrap().frozen_segments == MAX_FROZEN_SEGMENTS
    });
    // The writer is held back: its count stops while the sealer is held.
    std::thread::sleep(Duration::from_millis(200));
    let held = acked.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        acked.load(Ordering::SeqCst),
        held,
        "a writer passed the limit"
    );
    assert!((held as u64) < batches, "the writer never waited");
    let info = c.info().unwrap();
    assert_eq!(info.frozen_segments, MAX_FROZEN_SEGMENTS);
    assert_eq!(info.segments, 0, "nothing was written yet");
    // Frozen and live rows are all visible, to `get` and to search.
    let visible = held as u64 * FILL;
    assert_eq!(c.len() as u64, visible);
    assert_eq!(contents(&c, 0..batches * FILL).len() as u64, visible);
    let q = common::vector_for(7, DIM);
    let mut found: Vec<u64> = c
        .search(
            &q,
            visible as usize,
            &SearchParams::default().with_exact(true),
        )
        .unwrap()
        .iter()
        .map(|h| match h.id {
            vecsieve::PointId::Num(n) => n,
            vecsieve::PointId::Uuid(_) => unreachable!(),
        })
        .collect();
    found.sort_unstable();
    assert_eq!(found, (0..visible).collect::<Vec<_>>());
    vfs.gate.open();
    writer.join().unwrap();
    wait_until("the sealer catches up", || {
        c.info().unwrap().frozen_segments == 0
    });
    let want = contents(&c, 0..batches * FILL);
    assert_eq!(want.len() as u64, batches * FILL);
    assert!(c.info().unwrap().segments >= batches as usize - 1);
    c.close().unwrap();
    let c = Collection::open(&dir).unwrap();
    assert_eq!(contents(&c, 0..batches * FILL), want);
    assert_eq!(
        c.recovery_report().replayed_records,
        0,
        "close sealed everything"
    );
    c.verify().unwrap();
}

/// A commit writes the deletion bitmaps of the version it starts from. An overwrite that
/// arrives (Buffered, not yet synced) while the sealer builds deletes the old copy in a
/// sealed segment; the sealer's commit persists that deletion, so it must first make the
/// overwrite's WAL record durable, or a power loss would keep the deletion and lose the
/// record: the point would vanish, though its old value was flushed.
#[test]
fn a_commit_never_persists_a_deletion_whose_record_a_power_loss_could_take() {
    let sim = Arc::new(SimVfs::new());
    let vfs = Arc::new(StallVfs::new(sim.clone()));
    let dir = std::path::Path::new("/c");
    let c = Collection::create_with_vfs(dir, config(Durability::Buffered), vfs.clone()).unwrap();
    c.upsert(&[point(0, 1)]).unwrap();
    c.seal().unwrap();
    c.flush().unwrap();
    // Fill the live segment: it freezes and the sealer stops at its first write.
    vfs.armed.store(true, Ordering::SeqCst);
    let filler: Vec<Point> = (100..100 + FILL).map(|id| point(id, 0)).collect();
    c.upsert(&filler).unwrap();
    vfs.gate.wait_entered();
    // The overwrite of point 0 deletes its copy in the sealed segment.
    c.upsert(&[point(0, 2)]).unwrap();
    vfs.gate.open();
    wait_until("the sealer commits", || {
        c.info().unwrap().frozen_segments == 0
    });
    let image = sim.durable_image();
    drop(c);
    let booted = Arc::new(SimVfs::from_image(&image));
    let c = Collection::open_with_vfs(dir, booted).unwrap();
    let got = c.get(0u64).unwrap().map(|p| p.vector);
    assert!(
        got == Some(point(0, 2).vector) || got == Some(point(0, 1).vector),
        "point 0 vanished after a power loss: {got:?}"
    );
    assert_eq!(
        contents(&c, 100..100 + FILL).len() as u64,
        FILL,
        "the flushed filler was lost"
    );
}

/// The sealer's write fails while a writer waits for it (back-pressure): the collection is
/// poisoned, the waiting writer gets `Error::Poisoned` at once instead of waiting forever,
/// and every acknowledged point is still there after a reopen (the frozen rows were in the
/// WAL).
#[test]
fn a_failed_background_seal_poisons_and_releases_waiting_writers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let vfs = Arc::new(StallVfs::new(Arc::new(StdVfs)));
    let c = Collection::create_with_vfs(&dir, config(Durability::Sync), vfs.clone()).unwrap();
    vfs.armed.store(true, Ordering::SeqCst);
    vfs.fail.store(true, Ordering::SeqCst);
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (c, acked) = (c.clone(), Arc::clone(&acked));
        std::thread::spawn(move || {
            for b in 0.. {
                let points: Vec<Point> =
                    (b * FILL..(b + 1) * FILL).map(|id| point(id, 0)).collect();
                if let Err(e) = c.upsert(&points) {
                    return e;
                }
                acked.fetch_add(1, Ordering::SeqCst);
            }
            unreachable!()
        })
    };
    vfs.gate.wait_entered();
    wait_until("the writer waits", || {
        c.info().unwrap().frozen_segments == MAX_FROZEN_SEGMENTS
    });
    vfs.gate.open();
    let err = writer.join().unwrap();
    assert!(matches!(err, vecsieve::Error::Poisoned), "{err}");
    let acked = acked.load(Ordering::SeqCst) as u64;
    drop(c);
    let c = Collection::open(&dir).unwrap();
    let got = contents(&c, 0..(acked + 1) * FILL);
    assert!(
        got.len() as u64 >= acked * FILL,
        "{} of {} acknowledged points",
        got.len(),
        acked * FILL
    );
    assert_eq!(got.len() as u64 % FILL, 0, "batches are atomic");
}

/// Readers see whole batches: a writer overwrites the same 64 points in every batch (each
/// point's payload is the batch number) while the live segment fills, freezes and is
/// sealed again and again; every search and every walk of the points sees one batch
/// number on all 64 points, never a mix.
#[test]
fn readers_see_each_batch_whole_while_segments_freeze_and_seal() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collection::create(tmp.path().join("c"), config(Durability::Buffered)).unwrap();
    let batch = |b: u64| -> Vec<Point> {
        (0..64)
            .map(|id| point(id, b).with_payload(b.to_le_bytes().to_vec()))
            .collect()
    };
    c.upsert(&batch(0)).unwrap();
    let batches = 300;
    let reads = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (c, reads) = (c.clone(), Arc::clone(&reads));
        std::thread::spawn(move || {
            for b in 1..=batches {
                // Interleave: at least one read per 20 batches, however the threads run.
                wait_until("a read", || reads.load(Ordering::SeqCst) as u64 >= b / 20);
                c.upsert(&batch(b)).unwrap();
            }
        })
    };
    let number = |payload: &[u8]| u64::from_le_bytes(payload.try_into().unwrap());
    let params = SearchParams::default().with_exact(true).with_payload(true);
    let mut seen = Vec::new();
    while !writer.is_finished() {
        let hits = c.search(&common::vector_for(1, DIM), 64, &params).unwrap();
        let found: Vec<u64> = hits
            .iter()
            .map(|h| number(h.payload.as_deref().unwrap()))
            .collect();
        assert_eq!(found.len(), 64);
        assert!(
            found.iter().all(|&b| b == found[0]),
            "a search saw batches {found:?}"
        );
        let mut walked = Vec::new();
        c.for_each_point(16, |points| {
            walked.extend(points.iter().map(|p| number(p.payload.as_deref().unwrap())));
            Ok(())
        })
        .unwrap();
        assert_eq!(walked.len(), 64);
        assert!(
            walked.iter().all(|&b| b == walked[0]),
            "a walk saw batches {walked:?}"
        );
        seen.push(found[0]);
        reads.fetch_add(1, Ordering::SeqCst);
    }
    writer.join().unwrap();
    assert!(seen.len() >= 15, "{} reads", seen.len());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "versions went back");
    assert!(c.info().unwrap().segments > 0 || c.info().unwrap().frozen_segments > 0);
}
