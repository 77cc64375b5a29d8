//! Process death: a child writes with `Durability::Sync` and prints every acknowledged
//! operation; the parent SIGKILLs it at a random moment, reopens the collection, and checks
//! that the state equals the model after some prefix of the operations that includes every
//! acknowledged one (batches all-or-nothing, no resurrected deletes). Each trial kills the
//! child only after its first acknowledgement, and counts acknowledgements only after the
//! reader thread has forwarded every line of the dead child. Also: the lock of a
//! killed process is free again, and a second process gets `Error::Locked`.
//!
//! The child is this test binary re-run on its ignored `child_*` tests with an environment
//! variable naming the directory. More trials: `VECSIEVE_CRASH_TRIALS=500`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vecsieve::{
    BinaryConfig, Collection, CollectionConfig, Distance, Error, Point, PointId, Quantization,
};

const DIM: usize = 32;
const PER_BATCH: u64 = 8;

fn config() -> CollectionConfig {
    CollectionConfig::new(DIM, Distance::Dot)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_live_segment_max_bytes(16 << 10)
        .with_wal_file_max_bytes(4096)
        .with_search_threads(1)
}

/// Operation `b`: every fourth deletes the points of operation `b - 3`, the others upsert
/// `PER_BATCH` points with ids `b·PER_BATCH..`.
fn apply_model(model: &mut std::collections::BTreeMap<u64, u64>, b: u64) {
    if b % 4 == 3 {
        for id in (b - 3) * PER_BATCH..(b - 2) * PER_BATCH {
            model.remove(&id);
        }
    } else {
        for id in b * PER_BATCH..(b + 1) * PER_BATCH {
            model.insert(id, b);
        }
    }
}

fn run_op(c: &Collection, b: u64) -> vecsieve::Result<()> {
    if b % 4 == 3 {
        let ids: Vec<PointId> = ((b - 3) * PER_BATCH..(b - 2) * PER_BATCH)
            .map(PointId::Num)
            .collect();
        c.delete(&ids).map(|_| ())
    } else {
        let pts: Vec<Point> = (b * PER_BATCH..(b + 1) * PER_BATCH)
            .map(|id| Point::new(id, common::vector_for(id, DIM)))
            .collect();
        c.upsert(&pts)
    }
}

fn spawn_child(test: &str, dir: &Path, start: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            test,
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VECSIEVE_CHILD_DIR", dir)
        .env("VECSIEVE_CHILD_START", start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Forwards the child's `ACK n` / `LOCKED` lines.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
#[ignore = "child process of crash_loop"]
fn child_writer() {
    let (Ok(dir), Ok(start)) = (
        std::env::var("VECSIEVE_CHILD_DIR"),
        std::env::var("VECSIEVE_CHILD_START"),
    ) else {
        return;
    };
    let c = Collection::open(&dir).unwrap();
    for b in start.parse::<u64>().unwrap()..start.parse::<u64>().unwrap() + 100_000 {
        run_op(&c, b).unwrap();
        println!("ACK {b}");
    }
}

#[test]
#[ignore = "child process of lock_is_per_process_and_freed_by_death"]
fn child_holder() {
    let Ok(dir) = std::env::var("VECSIEVE_CHILD_DIR") else {
        return;
    };
    let _c = Collection::open(&dir).unwrap();
    println!("LOCKED");
    std::thread::sleep(Duration::from_secs(60));
}

/// spec: WAL-5, WAL-6, MAN-3.
#[test]
fn crash_loop() {
    let trials: u64 = std::env::var("VECSIEVE_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    Collection::create(&dir, config()).unwrap().close().unwrap();
    let mut rng = common::Rng::new(99);
    let mut next = 0u64;
    let mut acked_total = 0;
    for trial in 0..trials {
        let mut child = spawn_child("child_writer", &dir, next);
        let rx = lines(&mut child);
        // Kill only after the first acknowledgement, so that every trial has something to
        // lose; then at a random moment of the writes that follow.
        let first = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("trial {trial}: the child acknowledged nothing: {e}"));
            if line.starts_with("ACK ") {
                break line;
            }
        };
        std::thread::sleep(Duration::from_millis(rng.below(40)));
        child.kill().unwrap();
        child.wait().unwrap();
        // The child is dead, so its pipe ends: `iter` returns once the reader thread has
        // forwarded every line the child printed.
        let acked: Vec<u64> = std::iter::once(first)
            .chain(rx.iter())
            .filter_map(|l| l.strip_prefix("ACK ").and_then(|n| n.parse().ok()))
            .collect();
        acked_total += acked.len();
        let first_unacked = acked.last().map_or(next, |b| b + 1);
        let c =
            Collection::open(&dir).unwrap_or_else(|e| panic!("trial {trial}: open failed: {e}"));
        // The state must be the model after op p, for some p ≥ every acknowledged op.
        let mut model = std::collections::BTreeMap::new();
        for b in 0..first_unacked {
            apply_model(&mut model, b);
        }
        let mut matched = None;
        for p in first_unacked..first_unacked + 3 {
            if state_matches(&c, &model, p + 1) {
                matched = Some(p);
                break;
            }
            apply_model(&mut model, p);
        }
        let p = matched.unwrap_or_else(|| {
            panic!("trial {trial}: state is no prefix ≥ {first_unacked} acknowledged ops")
        });
        c.verify().unwrap();
        drop(c);
        next = p;
    }
    assert!(acked_total > 0, "the child never acknowledged a write");
    println!(
        "RELIABILITY {{\"test\":\"crash_loop\",\"trials\":{trials},\"acked\":{acked_total},\"acked_lost\":0}}"
    );
}

/// True if the collection holds exactly `model` (ids below `ops·PER_BATCH` checked).
fn state_matches(c: &Collection, model: &std::collections::BTreeMap<u64, u64>, ops: u64) -> bool {
    if c.len() != model.len() {
        return false;
    }
    (0..(ops + 1) * PER_BATCH).all(|id| match (c.get(id).unwrap(), model.contains_key(&id)) {
        (Some(p), true) => p.vector == common::vector_for(id, DIM),
        (None, false) => true,
        _ => false,
    })
}

/// spec: DIR-1.
#[test]
fn lock_is_per_process_and_freed_by_death() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    Collection::create(&dir, config()).unwrap().close().unwrap();
    let mut child = spawn_child("child_holder", &dir, 0);
    let rx = lines(&mut child);
    while !rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap()
        .contains("LOCKED")
    {}
    assert!(matches!(Collection::open(&dir), Err(Error::Locked { .. })));
    child.kill().unwrap();
    child.wait().unwrap();
    Collection::open(&dir).unwrap();
}
