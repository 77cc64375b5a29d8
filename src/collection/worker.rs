//! The collection's background threads: the sealer (writes frozen live segments), the
//! optimizer worker, the Buffered-mode WAL sync, and the checksum check after open.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

use parking_lot::Mutex;

use super::{Collection, Inner};
use crate::error::{Error, Result};
use crate::optimizer::OptimizerStatus;
use crate::segment::immutable::ImmutableSegment;

/// The background optimizer's shared state.
#[derive(Debug, Default)]
pub(super) struct OptimizerRuntime {
    /// Set by writes, cleared by the worker when it wakes.
    pub(super) pending: Mutex<bool>,
    pub(super) wake: parking_lot::Condvar,
    /// Set by `close`: the worker stops before its next step.
    pub(super) cancel: AtomicBool,
    pub(super) status: Mutex<OptimizerStatus>,
    /// Points written by the running task.
    pub(super) progress: std::sync::atomic::AtomicU64,
    pub(super) thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Encodes the codes of rewrites when `OptimizerConfig::threads` > 1.
    pub(super) pool: Option<rayon::ThreadPool>,
}

/// The sealer's shared state.
#[derive(Debug, Default)]
pub(super) struct SealerRuntime {
    /// Set when a live segment is frozen, cleared by the sealer when it wakes.
    pub(super) pending: Mutex<bool>,
    pub(super) wake: parking_lot::Condvar,
    /// Set by `close` and the last handle's drop.
    stop: AtomicBool,
    pub(super) thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The sealer: sleeps until a write freezes the live segment, then writes and commits
/// every frozen segment. It holds the collection only while working. A failure poisons
/// the collection (the frozen rows stay in the WAL, which the next open replays).
pub(super) fn background_sealer(inner: &Weak<Inner>, rt: &SealerRuntime) {
    loop {
        {
            let mut pending = rt.pending.lock();
            while !*pending && !rt.stop.load(Ordering::SeqCst) {
                rt.wake.wait(&mut pending);
            }
            *pending = false;
        }
        if rt.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let handle = Collection {
            _token: None,
            inner: strong,
        };
        if handle.check_writable().is_err() {
            return;
        }
        if handle.seal_frozen().is_err() {
            handle.poison();
            return;
        }
    }
}

/// Stops the sealer and waits for it (a segment it is writing is finished and committed
/// first).
pub(super) fn stop_sealer(rt: &SealerRuntime) {
    rt.stop.store(true, Ordering::SeqCst);
    {
        let _pending = rt.pending.lock();
        rt.wake.notify_all();
    }
    let worker = rt.thread.lock().take();
    if let Some(handle) = worker
        && handle.thread().id() != std::thread::current().id()
    {
        let _ = handle.join();
    }
}

pub(super) fn optimizer_pool(dir: &Path, threads: usize) -> Result<Option<rayon::ThreadPool>> {
    if threads <= 1 {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("vecsieve-optimizer-{i}"))
        .build()
        .map(Some)
        .map_err(|e| Error::io(dir, std::io::Error::other(e)))
}

/// The background checksum check: verifies each segment open found, once, until `stop`.
/// It holds the segments, never the collection, so it delays no close or drop.
pub(super) fn check_segments(segments: &[Arc<ImmutableSegment>], stop: &AtomicBool) {
    for seg in segments {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // A failure is recorded in the segment, where every read finds it.
        let _ = seg.verify_once();
    }
}

/// Cancels the background optimizer and waits for it to stop (its current step aborts or
/// finishes; nothing is left half-published).
pub(super) fn stop_optimizer(rt: &OptimizerRuntime) {
    rt.cancel.store(true, Ordering::SeqCst);
    rt.wake.notify_all();
    let worker = rt.thread.lock().take();
    if let Some(handle) = worker
        && handle.thread().id() != std::thread::current().id()
    {
        let _ = handle.join();
    }
}

/// The background optimizer: sleeps until a write wakes it (or a second passes), then
/// plans and runs tasks. It holds the collection only while working.
pub(super) fn background_optimizer(inner: &Weak<Inner>, rt: &OptimizerRuntime) {
    loop {
        {
            let mut pending = rt.pending.lock();
            if !*pending && !rt.cancel.load(Ordering::SeqCst) {
                rt.wake.wait_for(&mut pending, Duration::from_secs(1));
            }
            *pending = false;
        }
        if rt.cancel.load(Ordering::SeqCst) {
            return;
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let handle = Collection {
            _token: None,
            inner: strong,
        };
        if handle.check_writable().is_err() {
            return;
        }
        // Errors are left for the next round (a failed build changed nothing; a failed
        // publication poisoned the collection and the check above ends the loop).
        let _ = handle.run_plan();
    }
}

pub(super) fn background_sync(inner: &Weak<Inner>, stop: &mpsc::Receiver<()>, interval: Duration) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let handle = Collection {
            _token: None,
            inner,
        };
        if handle.flush().is_err() {
            return;
        }
    }
}
