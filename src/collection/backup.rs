//! Online backup: a consistent copy of a collection directory, taken through the same
//! protocol as a read-only open (format-spec/directory.md [DIR-1a]) while the collection
//! stays open for reads and writes.

use std::path::Path;
use std::time::Instant;

use super::Collection;
use super::directory::{
    CONFIG_FILE, MANIFEST_FILE, SEGMENTS_DIR, WAL_DIR, segment_file, sidecar_file,
};
use crate::error::{Error, Result};
use crate::io::{Fs, Vfs};
use crate::manifest::Manifest;
use crate::verify;
use crate::wal;

/// How [`Collection::backup`] copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupOptions {
    /// Hard-link segment files and deletion sidecars (which never change once written)
    /// instead of copying them, where the destination is on the same file system: the
    /// backup takes no time and no space for them, but shares their disk blocks with the
    /// collection, so it is a snapshot, not a protection against damage to those blocks.
    /// Files that cannot be linked are copied. Default false: every byte is copied.
    pub hard_link: bool,
}

/// What [`Collection::backup`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupReport {
    /// Files in the backup.
    pub files: usize,
    /// Of those, files hard-linked rather than copied.
    pub linked: usize,
    /// Bytes copied (hard-linked files not counted).
    pub bytes_copied: u64,
    /// Points in the backup (live points of the state it holds).
    pub points: usize,
    /// Times the copy started over because the writer committed meanwhile.
    pub restarts: u32,
    /// Wall-clock seconds, verification included.
    pub seconds: f64,
}

/// Copies a backup makes at most before giving up on a writer that commits faster.
const BACKUP_ATTEMPTS: u32 = 20;

impl Collection {
    /// Writes a consistent copy of the collection to `dest` (a new or empty directory)
    /// while it stays open for reads and writes, then checks every checksum of the copy
    /// and reads it as a read-only open would, to count its points.
    ///
    /// The copy is one state the writer was in: the MANIFEST, `config.json`, the segments
    /// and sidecars it names, and the WAL files after its checkpoint up to the last whole
    /// record, read between two equal reads of the MANIFEST (a commit in between starts
    /// the copy over). Every acknowledged write made before the call is in it (with
    /// `Durability::Buffered`, the written ones). It is a normal collection: restore it by
    /// moving (or copying) its directory into place while no handle has the collection
    /// open, and open it. Works from a read-only handle too.
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{BackupOptions, Collection, CollectionConfig, Distance, Point};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(2, Distance::Dot))?;
    /// c.upsert(&[Point::new(1, vec![1.0, 0.0])])?;
    /// let report = c.backup(tmp.path().join("backup"), BackupOptions::default())?;
    /// assert_eq!(report.points, 1);
    /// c.upsert(&[Point::new(2, vec![0.0, 1.0])])?; // not in the backup
    /// c.close()?;
    /// let restored = Collection::open(tmp.path().join("backup"))?;
    /// assert_eq!(restored.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: `Error::AlreadyExists` when `dest` holds anything; `Error::Io` (the
    /// partial copy is removed); `Error::Corrupted` and friends when the copy does not
    /// verify (it is left in place to examine); `Error::Closed`.
    pub fn backup(&self, dest: impl AsRef<Path>, options: BackupOptions) -> Result<BackupReport> {
        self.check_open()?;
        let start = Instant::now();
        let vfs = &*self.inner.vfs;
        let src = &self.inner.dir;
        let dest = dest.as_ref();
        if let Ok(names) = vfs.list(dest)
            && !names.is_empty()
        {
            return Err(Error::AlreadyExists(dest.to_path_buf()));
        }
        // A writable handle keeps every file a commit unnames until the copy is done, so
        // the first MANIFEST read stays whole; a read-only one cannot hold its writer
        // back and starts over when a commit came between two MANIFEST reads.
        let pin = (!self.inner.read_only).then(|| Pin::new(self));
        let mut restarts = 0;
        let (files, linked, bytes_copied) = loop {
            let manifest_bytes = vfs.read_file(&src.join(MANIFEST_FILE))?;
            let copied = copy_state(vfs, src, dest, &manifest_bytes, options);
            if pin.is_some() || vfs.read_file(&src.join(MANIFEST_FILE))? == manifest_bytes {
                match copied.and_then(|c| finish(vfs, dest, &manifest_bytes, c)) {
                    Ok(counts) => break counts,
                    Err(e) => {
                        remove_copy(vfs, dest);
                        return Err(e);
                    }
                }
            }
            remove_copy(vfs, dest);
            restarts += 1;
            if restarts >= BACKUP_ATTEMPTS {
                return Err(Error::io(
                    src.join(MANIFEST_FILE),
                    std::io::Error::other(format!(
                        "the writer committed during each of {BACKUP_ATTEMPTS} copies; back up \
                         again when it writes less"
                    )),
                ));
            }
        };
        let report = verify::verify_dir_with_vfs(dest, vfs)?;
        if let Some(damage) = report.files.into_iter().find_map(|f| match f.status {
            verify::FileStatus::Damaged(e) => Some(e),
            _ => None,
        }) {
            return Err(damage);
        }
        // The copy's state as a reader sees it (its checksums were just checked: no
        // handle, and no second check in the background).
        let points = super::read_snapshot(vfs, dest, &[])?.version.points;
        Ok(BackupReport {
            files,
            linked,
            bytes_copied,
            points,
            restarts,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// Holds back the deletion of files commits unname while a backup copies them.
struct Pin<'a> {
    collection: &'a Collection,
}

impl<'a> Pin<'a> {
    fn new(collection: &'a Collection) -> Self {
        collection.inner.backup_pins.lock().0 += 1;
        Pin { collection }
    }
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        let inner = &self.collection.inner;
        let mut pins = inner.backup_pins.lock();
        pins.0 -= 1;
        if pins.0 == 0 {
            // Best effort: a file left behind is unnamed, and the next open removes it.
            for path in pins.1.drain(..) {
                let _ = inner.vfs.remove(&path);
            }
        }
    }
}

/// What [`copy_state`] wrote, not yet synced.
struct Copied {
    files: Vec<crate::io::NamedFile>,
    linked: usize,
    bytes: u64,
    checkpoint: u64,
}

/// Copies the files of the state `manifest_bytes` describes from `src` into `dest`
/// without syncing them (so that the copy is quick, between the two MANIFEST reads):
/// `config.json`, its segments and sidecars, and every WAL file as read at one moment.
fn copy_state(
    vfs: &dyn Vfs,
    src: &Path,
    dest: &Path,
    manifest_bytes: &[u8],
    options: BackupOptions,
) -> Result<Copied> {
    let manifest =
        Manifest::decode(manifest_bytes).map_err(|e| e.in_file(&src.join(MANIFEST_FILE)))?;
    for sub in [SEGMENTS_DIR, WAL_DIR] {
        vfs.create_dirs(&dest.join(sub))?;
    }
    let mut copied = Copied {
        files: Vec::new(),
        linked: 0,
        bytes: 0,
        checkpoint: manifest.checkpoint_seq,
    };
    let mut put = |rel: &Path, contents: &[u8]| -> Result<()> {
        let file = vfs.create_file(&dest.join(rel))?;
        file.write_all(contents)?;
        copied.files.push(file);
        copied.bytes += contents.len() as u64;
        Ok(())
    };
    put(
        Path::new(CONFIG_FILE),
        &vfs.read_file(&src.join(CONFIG_FILE))?,
    )?;
    put(Path::new("LOCK"), &[])?;
    let mut linked = 0;
    for entry in &manifest.segments {
        let mut names = vec![segment_file(entry.id)];
        if entry.del_gen > 0 {
            names.push(sidecar_file(entry.id, entry.del_gen));
        }
        for name in names {
            let rel = Path::new(SEGMENTS_DIR).join(name);
            let from = src.join(&rel);
            if options.hard_link && vfs.hard_link(&from, &dest.join(&rel)).is_ok() {
                linked += 1;
                continue;
            }
            put(&rel, vfs.map_file(&from)?.bytes())?;
        }
    }
    // A write still being appended leaves a torn tail in the copy, which `finish` cuts.
    for name in vfs.list_dir(&src.join(WAL_DIR))? {
        if wal::is_wal_file_name(&name) {
            let rel = Path::new(WAL_DIR).join(&name);
            put(&rel, &vfs.read_file(&src.join(&rel))?)?;
        }
    }
    copied.linked = linked;
    Ok(copied)
}

/// Makes the copy a collection: cuts a torn WAL tail and drops WAL files the checkpoint
/// covers, syncs every file and directory, then writes the MANIFEST (the commit point):
/// `(files, linked, bytes copied)`.
fn finish(
    vfs: &dyn Vfs,
    dest: &Path,
    manifest_bytes: &[u8],
    copied: Copied,
) -> Result<(usize, usize, u64)> {
    let wal_dir = dest.join(WAL_DIR);
    let found = wal::examine(vfs, &wal_dir, copied.checkpoint, |_, _, _| Ok(()))?;
    let mut bytes = copied.bytes;
    if let Some(torn) = &found.torn {
        vfs.truncate_file(&torn.report.file, torn.report.offset)?;
        bytes -= torn.bytes.len() as u64;
    }
    for path in &found.obsolete {
        vfs.remove_file(path)?;
    }
    let mut files = copied.linked;
    for file in copied.files {
        if !found.obsolete.iter().any(|p| p == file.path()) {
            file.sync_all()?;
            files += 1;
        }
    }
    vfs.sync_directory(&dest.join(SEGMENTS_DIR))?;
    vfs.sync_directory(&wal_dir)?;
    let manifest = vfs.create_file(&dest.join(MANIFEST_FILE))?;
    manifest.write_all(manifest_bytes)?;
    manifest.sync_all()?;
    vfs.sync_directory(dest)?;
    Ok((
        files + 1,
        copied.linked,
        bytes + manifest_bytes.len() as u64,
    ))
}

/// Removes what [`copy_state`] wrote (best effort: a failure leaves files a retry
/// overwrites, and `dest` is not a collection until its MANIFEST is written).
fn remove_copy(vfs: &dyn Vfs, dest: &Path) {
    for sub in [SEGMENTS_DIR, WAL_DIR] {
        let dir = dest.join(sub);
        for name in vfs.list(&dir).unwrap_or_default() {
            let _ = vfs.remove(&dir.join(name));
        }
    }
    for name in [MANIFEST_FILE, CONFIG_FILE, "LOCK"] {
        let _ = vfs.remove(&dest.join(name));
    }
}
