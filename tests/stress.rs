//! Writers, searchers and the optimizer at once, for a bounded time, under a watchdog:
//! results never hold duplicate or never-written ids, nothing deadlocks, and afterwards the
//! collection equals the model exactly.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use vecsieve::optimizer::OptimizerConfig;
use vecsieve::{
    BinaryConfig, Collection, CollectionConfig, Distance, Point, PointId, Quantization,
    SearchParams,
};

const DIM: usize = 16;
const RUN: Duration = Duration::from_millis(2500);

fn vector(id: u64, version: u64) -> Vec<f32> {
    common::vector_for(id * 1000 + version, DIM)
}

#[test]
fn writers_searchers_and_optimizer_together() {
    let dir = tempfile::tempdir().unwrap();
    let config = CollectionConfig::new(DIM, Distance::Dot)
        .with_quantization(Quantization::Binary(BinaryConfig::default()))
        .with_live_segment_max_bytes(8 << 10)
        .with_search_threads(2)
        .with_optimizer(OptimizerConfig {
            merge_factor: 2,
            max_segments: 4,
            vacuum_min_deleted: 5,
            ..OptimizerConfig::default()
        });
    let c = Collection::create(dir.path(), config).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel::<&'static str>();
    let mut models = Vec::new();
    let mut handles = Vec::new();
    for w in 0..2u64 {
        let (c, stop, done) = (c.clone(), Arc::clone(&stop), done_tx.clone());
        let (model_tx, model_rx) = mpsc::channel();
        models.push(model_rx);
        handles.push(std::thread::spawn(move || {
            let mut rng = common::Rng::new(w);
            let mut model: BTreeMap<u64, u64> = BTreeMap::new();
            let mut version = 0;
            while !stop.load(Ordering::SeqCst) {
                version += 1;
                let id = w * 10_000 + rng.below(400);
                if rng.below(5) == 0 {
                    c.delete([PointId::Num(id)]).unwrap();
                    model.remove(&id);
                } else {
                    c.upsert(&[Point::new(id, vector(id, version))]).unwrap();
                    model.insert(id, version);
                }
            }
            model_tx.send(model).unwrap();
            done.send("writer").unwrap();
        }));
    }
    for s in 0..2u64 {
        let (c, stop, done) = (c.clone(), Arc::clone(&stop), done_tx.clone());
        handles.push(std::thread::spawn(move || {
            let mut rng = common::Rng::new(100 + s);
            let mut searches = 0;
            while !stop.load(Ordering::SeqCst) {
                let params = SearchParams::default()
                    .with_oversampling(2.0)
                    .with_exact(rng.below(2) == 0);
                let hits = c.search(&rng.vector(DIM), 20, &params).unwrap();
                let mut ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
                ids.sort();
                ids.dedup();
                assert_eq!(ids.len(), hits.len(), "duplicate ids in one result");
                for id in ids {
                    let PointId::Num(n) = id else {
                        panic!("unknown id {id}")
                    };
                    assert!(n % 10_000 < 400 && n / 10_000 < 2, "never-written id {n}");
                }
                searches += 1;
            }
            assert!(searches > 0);
            done.send("searcher").unwrap();
        }));
    }
    {
        let (c, stop, done) = (c.clone(), Arc::clone(&stop), done_tx.clone());
        handles.push(std::thread::spawn(move || {
            let mut merged = 0;
            while !stop.load(Ordering::SeqCst) {
                merged += c.optimize().unwrap().merged;
            }
            done.send("optimizer").unwrap();
            assert!(merged > 0, "the optimizer never merged");
        }));
    }
    let start = Instant::now();
    std::thread::sleep(RUN);
    stop.store(true, Ordering::SeqCst);
    let mut stopped = Vec::new();
    for _ in 0..handles.len() {
        let who = done_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "deadlock: only {stopped:?} stopped {:?} after the run",
                    start.elapsed()
                )
            });
        stopped.push(who);
    }
    stopped.sort_unstable();
    assert_eq!(
        stopped,
        ["optimizer", "searcher", "searcher", "writer", "writer"],
        "every thread stops once"
    );
    for h in handles {
        h.join().unwrap();
    }
    let mut model = BTreeMap::new();
    for rx in models {
        model.extend(rx.recv().unwrap());
    }
    let check = |c: &Collection| {
        assert_eq!(c.len(), model.len());
        for w in 0..2u64 {
            for i in 0..400 {
                let id = w * 10_000 + i;
                let got = c.get(id).unwrap().map(|p| p.vector);
                assert_eq!(got, model.get(&id).map(|&v| vector(id, v)), "id {id}");
            }
        }
        let vectors: BTreeMap<PointId, Vec<f32>> = model
            .iter()
            .map(|(&id, &v)| (PointId::Num(id), vector(id, v)))
            .collect();
        let q = common::vector_for(7, DIM);
        let want = common::brute_force(&vectors, &q, Distance::Dot, 10);
        let got = c
            .search(&q, 10, &SearchParams::default().with_exact(true))
            .unwrap();
        let ids: Vec<PointId> = got.iter().map(|h| h.id).collect();
        assert_eq!(ids, want.iter().map(|w| w.0).collect::<Vec<_>>());
    };
    check(&c);
    c.optimize().unwrap();
    check(&c);
    c.close().unwrap();
    check(&Collection::open(dir.path()).unwrap());
}
