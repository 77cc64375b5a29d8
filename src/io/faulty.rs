//! A [`Vfs`] that fails on purpose, for the fault-injection tests.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{MappedFile, StdVfs, Vfs, VfsFile, VfsLock};

/// Wraps [`StdVfs`] and makes the Nth mutating operation (create, write, positional write, sync, truncate,
/// rename, remove, directory sync; counted from 1) and every one after it fail with an I/O
/// error, like a disk that went bad. A failing write first writes half of its buffer, so the
/// file is left with a torn tail. Reads and maps never fail.
#[derive(Debug)]
pub struct FaultyVfs {
    state: Arc<FaultState>,
    free_space: Option<u64>,
}

#[derive(Debug)]
struct FaultState {
    fail_at: u64,
    ops: AtomicU64,
    failed: AtomicBool,
}

impl FaultState {
    fn tick(&self) -> io::Result<()> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= self.fail_at {
            self.failed.store(true, Ordering::SeqCst);
            return Err(io::Error::other(format!("injected fault at operation {n}")));
        }
        Ok(())
    }
}

impl FaultyVfs {
    /// Fails operation number `fail_at` (1-based) and all later ones; `u64::MAX` never fails.
    #[must_use]
    pub fn new(fail_at: u64) -> Self {
        FaultyVfs {
            state: Arc::new(FaultState {
                fail_at,
                ops: AtomicU64::new(0),
                failed: AtomicBool::new(false),
            }),
            free_space: None,
        }
    }

    /// Reports `bytes` of free space instead of the real figure.
    #[must_use]
    pub fn with_free_space(mut self, bytes: u64) -> Self {
        self.free_space = Some(bytes);
        self
    }

    /// How many mutating operations were attempted so far.
    #[must_use]
    pub fn ops(&self) -> u64 {
        self.state.ops.load(Ordering::SeqCst)
    }

    /// True once a fault was injected.
    #[must_use]
    pub fn has_failed(&self) -> bool {
        self.state.failed.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn VfsFile>,
    state: Arc<FaultState>,
}

impl VfsFile for FaultyFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        if let Err(e) = self.state.tick() {
            let half = buf.get(..buf.len() / 2).unwrap_or_default();
            self.inner.write_all(half)?;
            return Err(e);
        }
        self.inner.write_all(buf)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.state.tick()?;
        self.inner.write_at(offset, buf)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.state.tick()?;
        self.inner.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.state.tick()?;
        self.inner.sync_all()
    }
}

impl Vfs for FaultyVfs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.state.tick()?;
        StdVfs.create_dir_all(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdVfs.list(dir)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        StdVfs.read(path)
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        StdVfs.file_size(path)
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        self.state.tick()?;
        Ok(Arc::new(FaultyFile {
            inner: StdVfs.create(path)?,
            state: Arc::clone(&self.state),
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        self.state.tick()?;
        Ok(Arc::new(FaultyFile {
            inner: StdVfs.open_append(path)?,
            state: Arc::clone(&self.state),
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.state.tick()?;
        StdVfs.truncate(path, len)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.state.tick()?;
        StdVfs.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.state.tick()?;
        StdVfs.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.state.tick()?;
        StdVfs.sync_dir(dir)
    }

    fn map(&self, path: &Path) -> io::Result<MappedFile> {
        StdVfs.map(path)
    }

    fn free_space(&self, dir: &Path) -> io::Result<u64> {
        match self.free_space {
            Some(bytes) => Ok(bytes),
            None => StdVfs.free_space(dir),
        }
    }

    /// Not counted: the fault numbering covers the operations that change collection files.
    fn lock(&self, dir: &Path) -> io::Result<VfsLock> {
        StdVfs.lock(dir)
    }
}
