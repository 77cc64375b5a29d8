//! The collection's background threads: the sealer (writes frozen live segments), the
//! optimizer worker, the Buffered-mode WAL sync, and the checksum check after open.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{Collection, Inner};
use crate::error::{Error, Result};
use crate::optimizer::OptimizerStatus;
use crate::segment::immutable::ImmutableSegment;

/// A background thread: how to wake it, how to stop it, and its handle.
#[derive(Debug, Default)]
pub(super) struct Worker {
    /// Set by [`wake`](Self::wake), cleared by the thread when it wakes.
    pending: Mutex<bool>,
    signal: Condvar,
    /// Set by `close` and the last handle's drop: the thread stops before its next step
    /// (and the optimizer's running build at its next chunk).
    pub(super) stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    pub(super) fn wake(&self) {
        *self.pending.lock() = true;
        self.signal.notify_one();
    }

    /// Starts thread `name`: each time it is woken (or `idle` passes), it runs `step` on a
    /// handle of the collection, until `step` returns false, the worker is stopped, the
    /// collection is gone or it no longer takes writes. It holds the collection only
    /// while `step` runs, so an idle worker keeps nothing open.
    pub(super) fn start(
        self: &Arc<Self>,
        name: &str,
        inner: &Arc<Inner>,
        idle: Option<Duration>,
        step: fn(&Collection) -> bool,
    ) -> Result<()> {
        let (worker, weak) = (Arc::clone(self), Arc::downgrade(inner));
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || worker.run(&weak, idle, step))
            .map_err(|e| Error::io(&inner.dir, e))?;
        *self.thread.lock() = Some(handle);
        Ok(())
    }

    fn run(&self, inner: &Weak<Inner>, idle: Option<Duration>, step: fn(&Collection) -> bool) {
        loop {
            {
                let mut pending = self.pending.lock();
                if !*pending && !self.stop.load(Ordering::SeqCst) {
                    match idle {
                        Some(timeout) => {
                            self.signal.wait_for(&mut pending, timeout);
                        }
                        None => self.signal.wait(&mut pending),
                    }
                }
                *pending = false;
            }
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let Some(strong) = inner.upgrade() else {
                return;
            };
            let handle = Collection {
                _token: None,
                inner: strong,
            };
            if handle.check_writable().is_err() || !step(&handle) {
                return;
            }
        }
    }

    /// Stops the thread and waits for it (its current step finishes or, for a rewrite,
    /// aborts; nothing is left half-published).
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        {
            let _pending = self.pending.lock();
            self.signal.notify_all();
        }
        let worker = self.thread.lock().take();
        if let Some(handle) = worker
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
    }
}

/// The background optimizer's shared state.
#[derive(Debug, Default)]
pub(super) struct OptimizerRuntime {
    /// Woken by writes; its `stop` also cancels the running build.
    pub(super) worker: Arc<Worker>,
    pub(super) status: Mutex<OptimizerStatus>,
    /// Points written by the running task.
    pub(super) progress: std::sync::atomic::AtomicU64,
    /// Encodes the codes of rewrites when `OptimizerConfig::threads` > 1.
    pub(super) pool: Option<rayon::ThreadPool>,
}

/// The sealer's step: writes and commits every frozen segment. A failure poisons the
/// collection (the frozen rows stay in the WAL, which the next open replays) and ends the
/// thread.
pub(super) fn seal_step(handle: &Collection) -> bool {
    let sealed = handle.seal_frozen();
    if sealed.is_err() {
        handle.poison();
    }
    sealed.is_ok()
}

/// The optimizer's step: plans and runs tasks. Errors are left for the next round (a
/// failed build changed nothing; a failed publication poisoned the collection, which ends
/// the thread).
pub(super) fn optimize_step(handle: &Collection) -> bool {
    let _ = handle.run_plan();
    true
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
