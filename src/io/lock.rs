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
    /// Locks `dir` through `vfs`. `Error::Locked` if another handle holds it.
    pub(crate) fn acquire(vfs: &dyn Vfs, dir: &Path) -> Result<Self> {
        match vfs.lock(dir) {
            Ok(guard) => Ok(DirLock { _guard: guard }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Err(Error::Locked(dir.to_path_buf()))
            }
            Err(e) => Err(Error::io(dir.join("LOCK"), e)),
        }
    }
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
