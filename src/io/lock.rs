//! The `LOCK` file that makes one handle the owner of a collection directory.
//!
//! [`StdVfs`](super::StdVfs) takes an `flock` through `File::try_lock`: released by the
//! kernel when the process dies, so a killed owner never leaves a stale lock. The file
//! itself is never deleted. Other [`Vfs`]es lock their own way.

use std::fs::{OpenOptions, TryLockError};
use std::io;
use std::path::Path;

use super::{Vfs, VfsLock};
use crate::error::{Error, Result};

/// Holds the lock until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _guard: VfsLock,
}

impl DirLock {
    /// Locks `dir` through `vfs`. `Error::Locked` if another handle holds it, with the
    /// process id the holder wrote in `LOCK` [DIR-1].
    pub(crate) fn acquire(vfs: &dyn Vfs, dir: &Path) -> Result<Self> {
        match vfs.lock(dir) {
            Ok(guard) => Ok(DirLock { _guard: guard }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(Error::Locked {
                path: dir.to_path_buf(),
                holder: holder(vfs, dir),
            }),
            Err(e) => Err(Error::io(dir.join("LOCK"), e)),
        }
    }
}

impl DirLock {
    /// Writes this process's id in `dir/LOCK`, for the `Error::Locked` of the next opener
    /// (a writer does; `verify` holds the lock without a trace). Not synced: it only
    /// informs, and a dead holder's lock is gone with it.
    pub(crate) fn record_holder(&self, vfs: &dyn Vfs, dir: &Path) -> Result<()> {
        let path = dir.join("LOCK");
        let file = vfs.create(&path).map_err(|e| Error::io(&path, e))?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(|e| Error::io(&path, e))
    }
}

/// The longest `LOCK` read for its process id; a longer file is not one this engine wrote.
const HOLDER_MAX_BYTES: u64 = 32;

/// The process id in `dir/LOCK`, if the file holds one (a larger file is not read).
fn holder(vfs: &dyn Vfs, dir: &Path) -> Option<u32> {
    let path = dir.join("LOCK");
    if vfs.file_size(&path).ok()? > HOLDER_MAX_BYTES {
        return None;
    }
    let bytes = vfs.read(&path).ok()?;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

/// The real file system's lock: `flock` on `dir/LOCK`, created if needed.
pub(crate) fn flock(dir: &Path) -> io::Result<VfsLock> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("LOCK"))?;
    match file.try_lock() {
        Ok(()) => Ok(VfsLock::new(file)),
        Err(TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
        Err(TryLockError::Error(e)) => Err(e),
    }
}
