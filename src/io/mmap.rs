//! The one place that memory-maps a file.
//!
//! Contract (also in `format-spec/README.md`): only write-once files are mapped (immutable
//! segment files, which are renamed into place after being fsynced and never modified
//! again), and one process owns a collection directory through its `LOCK` file. Modifying a
//! mapped file from outside (another program, a truncation) is unsupported and may crash the
//! process with SIGBUS or make reads return changed bytes.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A read-only mapping of a whole file, or (for a file system in memory) a copy of its
/// bytes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MappedFile {
    bytes: Backing,
}

#[derive(Debug, Clone)]
enum Backing {
    Map(Arc<memmap2::Mmap>),
    /// 8-byte aligned words holding `len` bytes: typed views need natural alignment.
    Owned(Arc<[u64]>, usize),
}

impl MappedFile {
    /// A copy of `bytes`, 8-byte aligned like a mapping's start.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        MappedFile {
            bytes: Backing::Owned(words.into(), bytes.len()),
        }
    }

    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        // SAFETY: memmap2 requires that the file is not modified while mapped. We map only
        // write-once segment files, which no code of ours changes after their rename, in a
        // directory owned by this process through its LOCK (see the module contract).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(MappedFile {
            bytes: Backing::Map(Arc::new(map)),
        })
    }

    /// The mapped bytes. The start is page aligned (8-byte aligned for a copy).
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Backing::Map(map) => map,
            Backing::Owned(words, len) => {
                bytemuck::cast_slice(words).get(..*len).unwrap_or_default()
            }
        }
    }
}
