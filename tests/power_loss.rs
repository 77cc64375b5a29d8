//! Power loss, simulated: a collection on `SimVfs` runs random operations (a proptest
//! strategy, so a failure shrinks to a short history) until the power fails at a random
//! I/O operation; the machine boots the crash image (what was synced,
//! plus any subset of the rest, torn at 512-byte boundaries) and reopens the collection.
//! It must open, pass `verify`, and hold the model's state after some prefix of the
//! operations that includes every durable acknowledged one (with `Durability::Sync`, every
//! acknowledged write; with `Buffered`, every write before an acknowledged `flush` or
//! seal) and nothing beyond the one that was cut off. Payload indexes are created and
//! dropped among the operations; filters on the indexed key must find every point after.
//!
//! `VECSIEVE_POWER_LOSS_CRASHES=100000 cargo nextest run --profile campaign --test
//! power_loss` runs the long campaign; the default run simulates a few hundred crashes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use vecsieve::io::SimVfs;
use vecsieve::optimizer::OptimizerConfig;
use vecsieve::{
    BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Distance, Durability, Point,
    PointId, Quantization, ScalarConfig, VectorParams,
};

const DIM: usize = 32;
const IDS: u64 = 40;

fn crashes(default: u64) -> u64 {
    std::env::var("VECSIEVE_POWER_LOSS_CRASHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// With `multi`, points also carry a multivector "m": the four 8-d quarters of their dense
/// vector (so the model of the dense vectors determines it, and `contents` checks it).
fn config(durability: Durability, multi: bool) -> CollectionConfig {
    let c = CollectionConfig::new(DIM, Distance::Dot);
    let c = if multi {
        c.with_vector(
            "m",
            VectorParams::new(DIM / 4, Distance::Dot)
                .with_multivector()
                .with_quantization(Quantization::Binary(BinaryConfig::default())),
        )
    } else {
        c
    };
    let mut c = c
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_durability(durability)
        .with_live_segment_max_bytes(4096)
        .with_wal_file_max_bytes(4096)
        .with_search_threads(1)
        .with_optimizer(OptimizerConfig {
            background: false,
            ..OptimizerConfig::default()
        });
    // The timer would sync at moments the test does not choose.
    c.buffered_sync_interval_ms = 60_000;
    c
}

fn vector(id: u64, version: u64) -> Vec<f32> {
    common::vector_for(id * 1000 + version, DIM)
}

fn quarters(v: &[f32]) -> Vec<Vec<f32>> {
    v.chunks(DIM / 4).map(<[f32]>::to_vec).collect()
}

/// Every point's payload names its group, `id % 3`: what filters on the (sometimes
/// indexed) key `g` find.
fn point(id: u64, version: u64, multi: bool) -> Point {
    let v = vector(id, version);
    let payload = format!(r#"{{"g": "g{}"}}"#, id % 3).into_bytes();
    if multi {
        let m = quarters(&v);
        Point::new(id, v).with_vector("m", m).with_payload(payload)
    } else {
        Point::new(id, v).with_payload(payload)
    }
}

fn group(k: u64) -> vecsieve::Filter {
    vecsieve::Filter::new().must(vecsieve::Condition::matches("g", format!("g{k}")))
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Upsert(u64, u64, u64),
    Delete(u64, u64),
    Flush,
    Seal,
    Optimize,
    Requantize(u64),
    /// Creates (true) or drops the payload index on `g`.
    Index(bool),
}

/// An operation; an upsert's vectors are versioned by its position in the history.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..IDS, 1..=3u64).prop_map(|(first, n)| Op::Upsert(first, n, 0)),
        4 => (0..IDS, 1..=3u64).prop_map(|(first, n)| Op::Delete(first, n)),
        2 => Just(Op::Flush),
        2 => Just(Op::Seal),
        1 => Just(Op::Optimize),
        1 => (0..3u64).prop_map(Op::Requantize),
        1 => any::<bool>().prop_map(Op::Index),
    ]
}

impl Op {
    fn at_position(self, version: u64) -> Op {
        match self {
            Op::Upsert(first, n, _) => Op::Upsert(first, n, version),
            other => other,
        }
    }

    fn run(self, c: &Collection, multi: bool) -> vecsieve::Result<()> {
        match self {
            Op::Upsert(first, n, version) => c.upsert(
                &(first..first + n)
                    .map(|id| point(id, version, multi))
                    .collect::<Vec<_>>(),
            ),
            Op::Delete(first, n) => c
                .delete((first..first + n).map(PointId::Num).collect::<Vec<_>>())
                .map(drop),
            Op::Flush => c.flush(),
            Op::Seal => c.seal(),
            Op::Optimize => c.optimize().map(drop),
            Op::Requantize(k) => c.set_quantization(match k {
                0 => Quantization::Binary(BinaryConfig::default()),
                1 => Quantization::Binary(
                    BinaryConfig::default().with_encoding(BinaryEncoding::TwoBits),
                ),
                _ => Quantization::Scalar(ScalarConfig::default()),
            }),
            Op::Index(true) => c.create_payload_index("g", vecsieve::PayloadSchema::Keyword),
            Op::Index(false) => c.delete_payload_index("g"),
        }
    }

    fn apply(self, model: &mut BTreeMap<u64, Vec<f32>>) {
        match self {
            Op::Upsert(first, n, version) => {
                for id in first..first + n {
                    model.insert(id, vector(id, version));
                }
            }
            Op::Delete(first, n) => {
                for id in first..first + n {
                    model.remove(&id);
                }
            }
            Op::Flush | Op::Seal | Op::Optimize | Op::Requantize(_) | Op::Index(_) => {}
        }
    }

    /// True when the op, acknowledged, makes every earlier write durable in Buffered mode.
    fn syncs(self) -> bool {
        matches!(
            self,
            Op::Flush | Op::Seal | Op::Optimize | Op::Requantize(_)
        )
    }
}

/// Every point's dense vector; a point of a multivector run must carry the quarters of it.
fn contents(c: &Collection) -> BTreeMap<u64, Vec<f32>> {
    (0..IDS + 3)
        .filter_map(|id| c.get(id).unwrap().map(|p| (id, p)))
        .map(|(id, p)| {
            if let Some(m) = p.vectors.get("m") {
                assert_eq!(m, &vecsieve::Vector::Multi(quarters(&p.vector)), "id {id}");
            }
            (id, p.vector)
        })
        .collect()
}

/// One simulated crash: `ops` run until the power fails at I/O operation `crash_at` after
/// the collection was created (or just after the last op); the crash image's unsynced part
/// is chosen by `seed`. Returns the operations acknowledged before it.
fn one_crash(
    ops: &[Op],
    crash_at: u64,
    seed: u64,
    durability: Durability,
    multi: bool,
) -> Result<u64, TestCaseError> {
    let dir = Path::new("/sim/c");
    let vfs = Arc::new(SimVfs::new());
    let c = Collection::create_with_vfs(dir, config(durability, multi), vfs.clone()).unwrap();
    vfs.crash_at(vfs.ops() + crash_at, seed);
    // states[k]: the model after k operations.
    let mut states = vec![BTreeMap::new()];
    let (mut acked, mut durable) = (0, 0);
    let last = Op::Upsert(0, 1, ops.len() as u64 + 1);
    for (i, &op) in ops.iter().chain([&last]).enumerate() {
        let op = op.at_position(i as u64 + 1);
        if i == ops.len() && vfs.crash_image().is_none() {
            // The history ended first: the power fails during one more write.
            vfs.crash_at(vfs.ops() + 1, seed);
        }
        let mut next = states.last().cloned().unwrap();
        op.apply(&mut next);
        states.push(next);
        if op.run(&c, multi).is_err() || vfs.crash_image().is_some() {
            break;
        }
        acked += 1;
        if durability == Durability::Sync || op.syncs() {
            durable = acked;
        }
    }
    let image = vfs.crash_image().expect("the power failed");
    drop(c);
    let booted = Arc::new(SimVfs::from_image(&image));
    // verify, before anything repairs the image, agrees that nothing is damaged.
    let report = vecsieve::verify::verify_dir_with_vfs(dir, &*booted)
        .map_err(|e| TestCaseError::fail(format!("verify_dir after the crash: {e}")))?;
    prop_assert!(report.is_ok(), "{:?}", report);
    let c = Collection::open_with_vfs(dir, booted)
        .map_err(|e| TestCaseError::fail(format!("reopen after the crash failed: {e}")))?;
    c.verify()
        .map_err(|e| TestCaseError::fail(format!("verify after the crash: {e}")))?;
    let got = contents(&c);
    // Filters on `g` (indexed or not, whichever the crash left) find every point of each
    // group.
    for k in 0..3 {
        let want = got.keys().filter(|&&id| id % 3 == k).count();
        let found = c
            .count(Some(&group(k)))
            .map_err(|e| TestCaseError::fail(format!("count after the crash: {e}")))?;
        prop_assert_eq!(found, want, "group {}", k);
    }
    let attempted = states.len() - 1;
    prop_assert!(
        (durable as usize..=attempted).any(|p| states[p] == got),
        "the state is not the model after any of operations {}..={} ({} acknowledged, {:?})",
        durable,
        attempted,
        acked,
        durability
    );
    Ok(acked)
}

/// Runs `crashes(default)` cases of random histories, crash points and seeds through
/// [`one_crash`] with proptest (a failure shrinks to a short history), and reports the
/// acknowledged operations.
fn campaign(test: &str, durability: Durability, multi: bool, default: u64) {
    let n = crashes(default);
    let config = ProptestConfig {
        cases: u32::try_from(n).unwrap_or(u32::MAX),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let acked = std::cell::Cell::new(0u64);
    let strategy = (prop::collection::vec(op(), 1..60), 1..250u64, any::<u64>());
    proptest::test_runner::TestRunner::new(config)
        .run(&strategy, |(ops, crash_at, seed)| {
            acked.set(acked.get() + one_crash(&ops, crash_at, seed, durability, multi)?);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    assert!(
        acked.get() > n,
        "too few acknowledged operations: {}",
        acked.get()
    );
    println!(
        "RELIABILITY {{\"test\":\"{test}\",\"crashes\":{n},\"acked\":{},\"acked_lost\":0,\"failed_reopens\":0}}",
        acked.get()
    );
}

/// spec: WAL-5, WAL-6, MAN-1, MAN-3, DIR-4.
#[test]
fn sync_writes_survive_any_power_loss() {
    campaign("power_loss_sync", Durability::Sync, false, 300);
}

#[test]
fn buffered_writes_survive_up_to_their_last_flush() {
    campaign("power_loss_buffered", Durability::Buffered, false, 300);
}

/// The same with a named multivector beside the dense vector: WAL records of kind 3 and
/// version 2 segments (spec: WAL-8, SEG-9).
#[test]
fn multivector_writes_survive_any_power_loss() {
    campaign("power_loss_multivector", Durability::Sync, true, 150);
}

/// Defect 2 at scale: three `Sync` writers share group commits, so several unsynced
/// records are in flight when the power fails; each writer's acknowledged upserts must
/// all be there, and each writer's surviving upserts must be a prefix of its own.
#[test]
fn concurrent_sync_writers_survive_any_power_loss() {
    let n = crashes(150);
    let dir = Path::new("/sim/c");
    let mut acked_total = 0;
    for seed in 0..n {
        let vfs = Arc::new(SimVfs::new());
        let c =
            Collection::create_with_vfs(dir, config(Durability::Sync, false), vfs.clone()).unwrap();
        let mut rng = common::Rng::new(2_000_000 + seed);
        vfs.crash_at(vfs.ops() + 1 + rng.below(300), seed);
        let acked: Vec<u64> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..3u64)
                .map(|t| {
                    let c = c.clone();
                    s.spawn(move || {
                        let mut acked = 0;
                        while c
                            .upsert(&[Point::new(t * 10_000 + acked, vector(t, acked))])
                            .is_ok()
                        {
                            acked += 1;
                        }
                        acked
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let image = vfs.crash_image().expect("the power failed");
        drop(c);
        let c = Collection::open_with_vfs(dir, Arc::new(SimVfs::from_image(&image)))
            .unwrap_or_else(|e| panic!("seed {seed}: reopen after the crash failed: {e}"));
        for (t, &acked) in (0..3u64).zip(&acked) {
            let present: Vec<u64> = (0..acked + 10)
                .filter(|k| c.get(t * 10_000 + k).unwrap().is_some())
                .collect();
            let kept = present.len() as u64;
            assert_eq!(
                present,
                (0..kept).collect::<Vec<_>>(),
                "seed {seed} writer {t}"
            );
            assert!(
                kept == acked || kept == acked + 1,
                "seed {seed} writer {t}: {kept} kept, {acked} acknowledged"
            );
            for k in 0..kept {
                let p = c.get(t * 10_000 + k).unwrap().unwrap();
                assert_eq!(p.vector, vector(t, k), "seed {seed} writer {t} point {k}");
            }
        }
        acked_total += acked.iter().sum::<u64>();
    }
    assert!(acked_total > n);
    println!(
        "RELIABILITY {{\"test\":\"power_loss_concurrent\",\"crashes\":{n},\"acked\":{acked_total},\"acked_lost\":0,\"failed_reopens\":0}}"
    );
}

/// Reads fail too: a read (`read`, `map`, `list`) that fails at any point of an open, a
/// search, `info` or a walk of every point is an `Error::Io`, never a panic or wrong data,
/// and the collection is whole when the process restarts without the fault.
#[test]
fn a_failing_read_is_an_error_and_loses_nothing() {
    let dir = Path::new("/sim/c");
    let vfs = Arc::new(SimVfs::new());
    let c = Collection::create_with_vfs(dir, config(Durability::Sync, true), vfs.clone()).unwrap();
    for version in 1..=30 {
        Op::Upsert(version % IDS, 3, version).run(&c, true).unwrap();
        if version % 7 == 0 {
            Op::Delete(version % IDS, 2).run(&c, true).unwrap();
        }
        if version % 10 == 0 {
            c.seal().unwrap();
        }
    }
    let want = contents(&c);
    drop(c);
    let image = vfs.snapshot();
    let run = |vfs: Arc<SimVfs>| -> vecsieve::Result<BTreeMap<u64, Vec<f32>>> {
        let c = Collection::open_with_vfs(dir, vfs)?;
        let hits = c.search(&vector(1, 1), 5, &vecsieve::SearchParams::default())?;
        assert!(hits.iter().all(|h| want.contains_key(&match h.id {
            PointId::Num(n) => n,
            PointId::Uuid(_) => u64::MAX,
        })));
        c.info()?;
        let mut walked = BTreeMap::new();
        c.for_each_point(16, |points| {
            for p in points {
                if let PointId::Num(n) = p.id {
                    walked.insert(n, p.vector.clone());
                }
            }
            Ok(())
        })?;
        Ok(walked)
    };
    let mut n = 1;
    loop {
        let booted = Arc::new(SimVfs::from_image(&image));
        booted.fail_reads_from(n);
        match run(booted.clone()) {
            Ok(got) => {
                assert_eq!(got, want, "read {n}");
                if booted.reads() < n {
                    break;
                }
            }
            Err(e) => assert!(matches!(e, vecsieve::Error::Io { .. }), "read {n}: {e:?}"),
        }
        // The process restarts, the disk is fine again: everything is there.
        let again = Arc::new(SimVfs::from_image(&booted.snapshot()));
        assert_eq!(run(again).unwrap(), want, "after a failed read {n}");
        n += 1;
    }
    assert!(n > 10, "only {n} reads");
}
