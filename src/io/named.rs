//! [`Fs`]: the [`Vfs`] operations with errors that name their path (`Error::Io`), and
//! [`NamedFile`], an open file whose errors do too, so that no call site attaches the path
//! by hand. Implementations of the seam keep returning plain `io::Result`s; code that must
//! look at an `io::ErrorKind` calls the `Vfs` method itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{MappedFile, Vfs, VfsFile};
use crate::error::{Error, Result};

/// [`Vfs`] with path-carrying errors (see the module docs).
pub(crate) trait Fs {
    fn create_dirs(&self, path: &Path) -> Result<()>;
    fn list_dir(&self, dir: &Path) -> Result<Vec<String>>;
    fn read_file(&self, path: &Path) -> Result<Vec<u8>>;
    fn create_file(&self, path: &Path) -> Result<NamedFile>;
    fn append_to(&self, path: &Path) -> Result<NamedFile>;
    fn truncate_file(&self, path: &Path, len: u64) -> Result<()>;
    fn rename_file(&self, from: &Path, to: &Path) -> Result<()>;
    fn remove_file(&self, path: &Path) -> Result<()>;
    fn sync_directory(&self, dir: &Path) -> Result<()>;
    fn map_file(&self, path: &Path) -> Result<MappedFile>;
    fn free_space_at(&self, dir: &Path) -> Result<u64>;
}

impl<T: Vfs + ?Sized> Fs for T {
    fn create_dirs(&self, path: &Path) -> Result<()> {
        self.create_dir_all(path).map_err(|e| Error::io(path, e))
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        self.list(dir).map_err(|e| Error::io(dir, e))
    }

    fn read_file(&self, path: &Path) -> Result<Vec<u8>> {
        self.read(path).map_err(|e| Error::io(path, e))
    }

    fn create_file(&self, path: &Path) -> Result<NamedFile> {
        let file = self.create(path).map_err(|e| Error::io(path, e))?;
        Ok(NamedFile::new(path, file))
    }

    fn append_to(&self, path: &Path) -> Result<NamedFile> {
        let file = self.open_append(path).map_err(|e| Error::io(path, e))?;
        Ok(NamedFile::new(path, file))
    }

    fn truncate_file(&self, path: &Path, len: u64) -> Result<()> {
        self.truncate(path, len).map_err(|e| Error::io(path, e))
    }

    /// The error names `to`, the name being replaced.
    fn rename_file(&self, from: &Path, to: &Path) -> Result<()> {
        self.rename(from, to).map_err(|e| Error::io(to, e))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.remove(path).map_err(|e| Error::io(path, e))
    }

    fn sync_directory(&self, dir: &Path) -> Result<()> {
        self.sync_dir(dir).map_err(|e| Error::io(dir, e))
    }

    fn map_file(&self, path: &Path) -> Result<MappedFile> {
        self.map(path).map_err(|e| Error::io(path, e))
    }

    fn free_space_at(&self, dir: &Path) -> Result<u64> {
        self.free_space(dir).map_err(|e| Error::io(dir, e))
    }
}

/// An open file and its path: every operation's error names the file.
#[derive(Debug, Clone)]
pub(crate) struct NamedFile {
    path: PathBuf,
    file: Arc<dyn VfsFile>,
}

impl NamedFile {
    fn new(path: &Path, file: Arc<dyn VfsFile>) -> Self {
        NamedFile {
            path: path.to_path_buf(),
            file,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The handle, for code that works with `io::Result`s (a streaming build).
    pub(crate) fn handle(&self) -> Arc<dyn VfsFile> {
        Arc::clone(&self.file)
    }

    pub(crate) fn write_all(&self, buf: &[u8]) -> Result<()> {
        self.file
            .write_all(buf)
            .map_err(|e| Error::io(&self.path, e))
    }

    pub(crate) fn sync_data(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }

    pub(crate) fn sync_all(&self) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}
