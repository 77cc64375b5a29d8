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

/// A read-only mapping of a whole file. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MappedFile {
    map: Arc<memmap2::Mmap>,
}

impl MappedFile {
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        // SAFETY: memmap2 requires that the file is not modified while mapped. We map only
        // write-once segment files, which no code of ours changes after their rename, in a
        // directory owned by this process through its LOCK (see the module contract).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(MappedFile { map: Arc::new(map) })
    }

    /// The mapped bytes. The start is page aligned.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}
