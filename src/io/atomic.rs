//! Atomic replacement of a small file: the one way every file but the WAL and the LOCK is
//! written (format-spec/README.md "Assumptions about the storage").

use std::io;
use std::path::Path;
use std::sync::Arc;

use super::{Fs, Vfs, VfsFile};
use crate::error::{Error, Result};

/// Writes `dir/name` atomically (tmp + fsync + rename + fsync dir).
pub(crate) fn write_atomic(vfs: &dyn Vfs, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_atomic_with(vfs, dir, name, |file| file.write_all(bytes))
}

/// [`write_atomic`] with the contents written by `fill` (which may stream them). If
/// writing or syncing the temporary file fails, it is removed (best effort: one left
/// behind is unnamed and removed on the next open).
pub(crate) fn write_atomic_with(
    vfs: &dyn Vfs,
    dir: &Path,
    name: &str,
    fill: impl FnOnce(Arc<dyn VfsFile>) -> io::Result<()>,
) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let file = vfs.create_file(&tmp)?;
    let written = fill(file.handle())
        .map_err(|e| Error::io(file.path(), e))
        .and_then(|()| file.sync_all());
    drop(file);
    if written.is_err() {
        let _ = vfs.remove(&tmp);
    }
    written?;
    vfs.rename_file(&tmp, &path)?;
    vfs.sync_directory(dir)
}
