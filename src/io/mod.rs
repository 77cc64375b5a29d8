//! The I/O seam: every file access of the engine goes through [`Vfs`].
//!
//! [`StdVfs`] is the real file system; [`FaultyVfs`] wraps it and fails the Nth mutating
//! operation, which is what the fault-injection tests use; [`SimVfs`] is a file system in
//! memory that loses power on cue, keeping only what was synced. The directory lock lives
//! in `lock` and the one memory map in `mmap`.

mod atomic;
mod faulty;
pub(crate) mod lock;
pub(crate) mod mmap;
mod named;
mod sim;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

pub(crate) use atomic::{write_atomic, write_atomic_with};
pub use faulty::FaultyVfs;
pub use mmap::MappedFile;
pub(crate) use named::{Fs, NamedFile};
pub use sim::{CrashImage, SimVfs};

/// A held directory lock ([`Vfs::lock`]); dropping it releases the lock.
#[derive(Debug)]
pub struct VfsLock {
    _held: Box<dyn fmt::Debug + Send + Sync>,
}

impl VfsLock {
    /// A lock held for as long as `held` lives (an open locked file, a guard).
    pub fn new(held: impl fmt::Debug + Send + Sync + 'static) -> Self {
        VfsLock {
            _held: Box::new(held),
        }
    }
}

/// A file opened for writing through a [`Vfs`]. Methods take `&self` so one handle can be
/// written by the WAL writer while another thread syncs it (group commit).
pub trait VfsFile: Send + Sync + fmt::Debug {
    /// Appends all of `buf` at the end of the file.
    fn write_all(&self, buf: &[u8]) -> io::Result<()>;
    /// Writes all of `buf` at `offset` (over bytes already written), leaving the append
    /// position where it was.
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// `fdatasync`: the file's data (not necessarily its metadata) is durable.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: data and metadata are durable.
    fn sync_all(&self) -> io::Result<()>;
}

/// The file-system operations the engine uses. Paths are full paths.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (not recursive), in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Reads a whole file. The length comes from the file system, never from file contents.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The size of a file in bytes.
    fn file_size(&self, path: &Path) -> io::Result<u64>;
    /// Creates (or truncates) a file for appending.
    fn create(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>>;
    /// Opens an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>>;
    /// Cuts a file to `len` bytes and syncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Syncs a directory so that creates, renames and removes in it are durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Maps a write-once file read-only.
    fn map(&self, path: &Path) -> io::Result<MappedFile>;
    /// Bytes available to this process on the file system holding `dir`.
    fn free_space(&self, dir: &Path) -> io::Result<u64>;
    /// Takes the exclusive lock of the collection directory `dir` (format-spec/directory.md
    /// [DIR-1]) until the guard drops; `ErrorKind::WouldBlock` while another handle, in
    /// this process or another, holds it.
    fn lock(&self, dir: &Path) -> io::Result<VfsLock>;
    /// Makes `to` another name of the file `from` (a hard link), for backups of files
    /// that never change. File systems without links refuse (the default), and callers
    /// copy instead.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _ = (from, to);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// The real file system (`std::fs` + `memmap2`).
#[derive(Debug, Default, Clone, Copy)]
pub struct StdVfs;

#[derive(Debug)]
struct StdFile(File);

impl VfsFile for StdFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        (&self.0).write_all(buf)
    }

    #[cfg(unix)]
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, buf, offset)
    }

    #[cfg(windows)]
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let mut file = &self.0;
        let end = file.stream_position()?;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(buf)?;
        file.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl Vfs for StdVfs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut file = File::open(path)?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Arc::new(StdFile(file)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Arc::new(StdFile(file)))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn map(&self, path: &Path) -> io::Result<MappedFile> {
        MappedFile::open(path)
    }

    #[cfg(unix)]
    fn free_space(&self, dir: &Path) -> io::Result<u64> {
        let st = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    #[cfg(not(unix))]
    fn free_space(&self, _dir: &Path) -> io::Result<u64> {
        Ok(u64::MAX)
    }

    fn lock(&self, dir: &Path) -> io::Result<VfsLock> {
        lock::flock(dir)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::hard_link(from, to)
    }
}
