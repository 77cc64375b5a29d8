//! The write-ahead log: framed records in small append-only files under `wal/`.
//!
//! [`record`] is the pure codec, [`recover`] replays the files on open, and [`Wal`] appends
//! records and makes them durable with group commit: concurrent writers that wait for the
//! same sync share one `fdatasync`.

pub(crate) mod record;

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::format::DecodeError;
use crate::io::{Vfs, VfsFile};
use record::{FILE_HEADER_LEN, RecordKind, ScanEnd};

fn file_name(number: u64) -> String {
    format!("{number:016x}.wal")
}

fn parse_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".wal")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// A fresh salt for a new WAL file: only needs to differ from other files' salts.
fn new_salt(file_number: u64) -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(file_number);
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.write_u32(std::process::id());
    (h.finish() >> 16) as u32
}

/// What recovery found.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// The highest sequence number in the WAL or the checkpoint, whichever is higher.
    pub last_seq: u64,
    /// The number for the next WAL file.
    pub next_file_number: u64,
    /// WAL files kept: they hold records above the checkpoint (or are the newest).
    pub kept: Vec<PathBuf>,
}

/// What [`examine`] found in the WAL directory, and what recovery must change.
#[derive(Debug)]
pub(crate) struct Examined {
    /// The highest sequence number in the WAL or the checkpoint, whichever is higher.
    pub last_seq: u64,
    /// The number for the next WAL file.
    pub next_file_number: u64,
    /// WAL files to keep: they hold records above the checkpoint (or are the newest).
    pub kept: Vec<PathBuf>,
    /// WAL files wholly at or below the checkpoint, or a newest file with no header.
    pub obsolete: Vec<PathBuf>,
    /// Files whose names are not WAL file names.
    pub foreign: Vec<PathBuf>,
    /// The newest file's torn tail: the file and the offset it is to be cut at.
    pub torn: Option<(PathBuf, u64)>,
}

/// Checks every WAL file without changing anything, and passes every record above
/// `checkpoint`, in order, to `apply`.
///
/// Spec: `format-spec/wal.md` "Recovery". A torn tail of the newest file is reported in
/// `torn`; an invalid record anywhere else, or one followed by a valid record, is
/// `Error::Corrupted`.
pub(crate) fn examine(
    vfs: &dyn Vfs,
    dir: &Path,
    checkpoint: u64,
    mut apply: impl FnMut(u64, RecordKind, &[u8]) -> Result<(), DecodeError>,
) -> Result<Examined> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    let mut foreign = Vec::new();
    for name in vfs.list(dir).map_err(|e| Error::io(dir, e))? {
        let path = dir.join(&name);
        match parse_file_name(&name) {
            Some(n) => files.push((n, path)),
            None => foreign.push(path),
        }
    }
    files.sort_unstable();
    let mut last_seq = checkpoint;
    let mut obsolete = Vec::new();
    let mut kept = Vec::new();
    let mut torn = None;
    let newest = files.last().map(|(n, _)| *n);
    for (number, path) in &files {
        let is_newest = Some(*number) == newest;
        let bytes = vfs.read(path).map_err(|e| Error::io(path, e))?;
        let header = bytes.get(..FILE_HEADER_LEN).map(record::parse_file_header);
        let salt = match header {
            Some(Ok((n, salt))) if n == *number => salt,
            Some(Ok(_)) => {
                return Err(Error::corrupted(
                    path,
                    16,
                    "file number does not match its name",
                ));
            }
            Some(Err(e)) if !(is_newest && bytes.iter().all(|&b| b == 0)) => {
                return Err(e.in_file(path));
            }
            // A newest file whose header never reached the disk: it holds no record.
            _ if is_newest => {
                obsolete.push(path.clone());
                continue;
            }
            _ => {
                return Err(Error::corrupted(
                    path,
                    0,
                    "WAL file shorter than its header",
                ));
            }
        };
        let (records, end) = record::scan(&bytes, salt);
        let mut file_last = None;
        for rec in &records {
            file_last = Some(rec.seq);
            if rec.seq <= checkpoint {
                continue;
            }
            if rec.seq != last_seq + 1 {
                return Err(Error::corrupted(
                    path,
                    rec.offset as u64,
                    format!(
                        "WAL sequence gap: expected {} after the checkpoint/previous record, found {}",
                        last_seq + 1,
                        rec.seq
                    ),
                ));
            }
            apply(rec.seq, rec.kind, rec.body).map_err(|e| {
                let at = rec.offset as u64 + record::RECORD_HEADER_LEN as u64 + e.offset;
                Error::corrupted(path, at, format!("record {}: {}", rec.seq, e.what))
            })?;
            last_seq = rec.seq;
        }
        if let ScanEnd::Invalid {
            offset,
            reason,
            valid_after,
        } = end
        {
            if !is_newest || valid_after {
                return Err(Error::corrupted(path, offset as u64, reason));
            }
            torn = Some((path.clone(), offset as u64));
        }
        if !is_newest && file_last.is_none_or(|s| s <= checkpoint) {
            obsolete.push(path.clone());
        } else {
            kept.push(path.clone());
        }
    }
    Ok(Examined {
        last_seq,
        next_file_number: newest.map_or(1, |n| n + 1),
        kept,
        obsolete,
        foreign,
        torn,
    })
}

/// Replays every record above `checkpoint`, in order, through `apply` ([`examine`]), then
/// repairs: foreign files are removed, a torn tail is truncated (and the truncation
/// synced), and files wholly at or below the checkpoint are deleted.
pub(crate) fn recover(
    vfs: &dyn Vfs,
    dir: &Path,
    checkpoint: u64,
    apply: impl FnMut(u64, RecordKind, &[u8]) -> Result<(), DecodeError>,
) -> Result<Recovery> {
    let found = examine(vfs, dir, checkpoint, apply)?;
    for path in &found.foreign {
        vfs.remove(path).map_err(|e| Error::io(path, e))?;
    }
    if let Some((path, len)) = &found.torn {
        vfs.truncate(path, *len).map_err(|e| Error::io(path, e))?;
    }
    if !found.obsolete.is_empty() {
        for path in &found.obsolete {
            vfs.remove(path).map_err(|e| Error::io(path, e))?;
        }
        vfs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(Recovery {
        last_seq: found.last_seq,
        next_file_number: found.next_file_number,
        kept: found.kept,
    })
}

/// The file currently appended to.
#[derive(Debug)]
struct WalFile {
    number: u64,
    path: PathBuf,
    file: Arc<dyn VfsFile>,
    salt: u32,
    prev_crc: u32,
    len: u64,
}

/// Appends records; one per process-wide writer lock (the collection's write mutex).
#[derive(Debug)]
pub(crate) struct WalWriter {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    current: WalFile,
    max_file_bytes: u64,
    last_seq: u64,
    /// Older files still needed until the next checkpoint.
    older: Vec<PathBuf>,
    buf: Vec<u8>,
}

impl WalWriter {
    /// Starts a new file `number`; the next record gets `last_seq + 1`.
    pub(crate) fn create(
        vfs: Arc<dyn Vfs>,
        dir: PathBuf,
        number: u64,
        last_seq: u64,
        max_file_bytes: u64,
        older: Vec<PathBuf>,
    ) -> Result<Self> {
        let current = Self::new_file(&*vfs, &dir, number)?;
        Ok(WalWriter {
            vfs,
            dir,
            current,
            max_file_bytes,
            last_seq,
            older,
            buf: Vec::new(),
        })
    }

    fn new_file(vfs: &dyn Vfs, dir: &Path, number: u64) -> Result<WalFile> {
        let path = dir.join(file_name(number));
        let salt = new_salt(number);
        let file = vfs.create(&path).map_err(|e| Error::io(&path, e))?;
        let header = record::encode_file_header(number, salt);
        file.write_all(&header).map_err(|e| Error::io(&path, e))?;
        file.sync_data().map_err(|e| Error::io(&path, e))?;
        vfs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
        Ok(WalFile {
            number,
            path,
            file,
            salt,
            prev_crc: salt,
            len: FILE_HEADER_LEN as u64,
        })
    }

    /// The sequence number of the last record written.
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Writes one record to the OS (not synced) and returns its sequence number. An error
    /// leaves the file in an unknown state: the caller must poison the collection.
    pub(crate) fn append(&mut self, kind: RecordKind, body: &[u8]) -> Result<u64> {
        if self.current.len >= self.max_file_bytes {
            self.rotate()?;
        }
        let seq = self.last_seq + 1;
        self.buf.clear();
        let crc = record::encode_record(
            &mut self.buf,
            self.current.salt,
            self.current.prev_crc,
            seq,
            kind,
            body,
        );
        let c = &mut self.current;
        c.file
            .write_all(&self.buf)
            .map_err(|e| Error::io(&c.path, e))?;
        c.prev_crc = crc;
        c.len += self.buf.len() as u64;
        self.last_seq = seq;
        Ok(seq)
    }

    /// Syncs the current file and starts the next one.
    fn rotate(&mut self) -> Result<()> {
        let c = &self.current;
        c.file.sync_data().map_err(|e| Error::io(&c.path, e))?;
        let next = Self::new_file(&*self.vfs, &self.dir, c.number + 1)?;
        let old = std::mem::replace(&mut self.current, next);
        self.older.push(old.path);
        Ok(())
    }

    /// After a checkpoint covering every record written so far: start a fresh file and
    /// delete all older ones.
    pub(crate) fn truncate_after_checkpoint(&mut self) -> Result<()> {
        self.rotate()?;
        for path in self.older.drain(..) {
            self.vfs.remove(&path).map_err(|e| Error::io(&path, e))?;
        }
        self.vfs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))
    }

    /// The file to sync for every record written so far (older files were synced when
    /// they were rotated out).
    pub(crate) fn sync_target(&self) -> (u64, Arc<dyn VfsFile>, PathBuf) {
        (
            self.last_seq,
            Arc::clone(&self.current.file),
            self.current.path.clone(),
        )
    }
}

#[derive(Debug, Default)]
struct SyncState {
    durable_seq: u64,
    syncing: bool,
}

/// Group commit: waits until a sequence number is durable, syncing at most once for every
/// group of writers waiting together.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    state: Mutex<SyncState>,
    cv: Condvar,
}

impl GroupCommit {
    pub(crate) fn new(durable_seq: u64) -> Self {
        GroupCommit {
            state: Mutex::new(SyncState {
                durable_seq,
                syncing: false,
            }),
            cv: Condvar::new(),
        }
    }

    /// Records that everything up to `seq` is durable by other means (a checkpoint).
    pub(crate) fn mark_durable(&self, seq: u64) {
        let mut st = self.state.lock();
        st.durable_seq = st.durable_seq.max(seq);
        self.cv.notify_all();
    }

    /// Returns once `seq` is durable. `target` gives the writer's last sequence number and
    /// the file to sync (`None` once closed); it is called by the one thread that leads
    /// each sync. A failed sync
    /// sets `poisoned` and wakes every waiter with `Error::Poisoned`.
    pub(crate) fn sync_to(
        &self,
        seq: u64,
        poisoned: &AtomicBool,
        target: impl Fn() -> Option<(u64, Arc<dyn VfsFile>, PathBuf)>,
    ) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.durable_seq >= seq {
                return Ok(());
            }
            if poisoned.load(Ordering::SeqCst) {
                return Err(Error::Poisoned);
            }
            if !st.syncing {
                break;
            }
            self.cv.wait(&mut st);
        }
        st.syncing = true;
        drop(st);
        let Some((upto, file, path)) = target() else {
            // Closed meanwhile: the closing checkpoint may have made `seq` durable.
            let mut st = self.state.lock();
            st.syncing = false;
            self.cv.notify_all();
            return if st.durable_seq >= seq {
                Ok(())
            } else {
                Err(Error::Closed)
            };
        };
        let result = file.sync_data();
        let mut st = self.state.lock();
        st.syncing = false;
        let out = match result {
            Ok(()) => {
                st.durable_seq = st.durable_seq.max(upto);
                Ok(())
            }
            Err(e) => {
                poisoned.store(true, Ordering::SeqCst);
                Err(Error::io(path, e))
            }
        };
        self.cv.notify_all();
        drop(st);
        out?;
        if upto >= seq {
            Ok(())
        } else {
            self.sync_to(seq, poisoned, target)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(parse_file_name(&file_name(0x1234)), Some(0x1234));
        assert_eq!(parse_file_name("0000000000001234.wal.tmp"), None);
        assert_eq!(parse_file_name("1234.wal"), None);
    }
}
