//! The write-ahead log: framed records in small append-only files under `wal/`.
//!
//! [`record`] is the pure codec, [`examine`] checks the files and [`recover`] replays and
//! repairs them on open, [`WalWriter`] appends records, and [`GroupCommit`] makes them
//! durable: concurrent writers that wait for the same sync share one `fdatasync`.

pub(crate) mod record;

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::format::DecodeError;
use crate::io::Fs;
use crate::io::write_atomic;
use crate::io::{NamedFile, Vfs};
use record::{FILE_HEADER_LEN, RecordKind, RecordMeta, ScanEnd};

fn file_name(number: u64) -> String {
    format!("{number:016x}.wal")
}

fn parse_hex16(hex: &str) -> Option<u64> {
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

fn parse_file_name(name: &str) -> Option<u64> {
    parse_hex16(name.strip_suffix(".wal")?)
}

/// `<N>-<offset>.torn`: the bytes recovery cut from WAL file `N` at `offset` [WAL-7].
fn torn_file_name(number: u64, offset: u64) -> String {
    format!("{number:016x}-{offset:016x}.torn")
}

/// True for a WAL file's name (`<N>.wal`).
pub(crate) fn is_wal_file_name(name: &str) -> bool {
    parse_file_name(name).is_some()
}

fn is_torn_file_name(name: &str) -> bool {
    name.strip_suffix(".torn")
        .and_then(|stem| stem.split_once('-'))
        .is_some_and(|(n, o)| parse_hex16(n).is_some() && parse_hex16(o).is_some())
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

/// What recovery did when the collection was opened
/// ([`Collection::recovery_report`](crate::Collection::recovery_report)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// WAL records above the MANIFEST's checkpoint that were replayed.
    pub replayed_records: u64,
    /// The tail of the newest WAL file that recovery cut off, if any.
    pub dropped: Option<DroppedTail>,
}

/// The tail of the newest WAL file that recovery cut off: from its first invalid record to
/// the end of the file, past the last point the log proves was synced. After a crash this
/// is a write that was cut short before it was acknowledged; it can also be acknowledged
/// data lost to a truncation or damage of the file's end, which the log cannot tell apart,
/// so the bytes are kept in [`saved_as`](Self::saved_as).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTail {
    /// The WAL file.
    pub file: PathBuf,
    /// Offset of the first invalid record.
    pub offset: u64,
    /// Bytes cut off.
    pub bytes: u64,
    /// Records that started in the cut bytes: the invalid one (unless the bytes are all
    /// zero) and the records after it that are whole and valid on their own.
    pub records: u64,
    /// Why the first of them is invalid.
    pub reason: String,
    /// The sequence number of the last record kept.
    pub last_kept_seq: u64,
    /// Every record up to this sequence number is proven durable by the log (a sync point
    /// a later record recorded, or the checkpoint); the cut starts above it.
    pub proven_synced_seq: u64,
    /// Where the cut bytes were kept (`wal/<file>-<offset>.torn`).
    pub saved_as: PathBuf,
}

impl std::fmt::Display for DroppedTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes ({} record{}) from byte {} of {} were cut off: {}. Records up to {} \
             were proven synced and the cut starts after {}, so this is most likely a write a \
             crash cut short before it was acknowledged; if the file was truncated or damaged \
             instead, acknowledged writes were in it. The bytes are kept in {}",
            self.bytes,
            self.records,
            if self.records == 1 { "" } else { "s" },
            self.offset,
            self.file.display(),
            self.reason,
            self.proven_synced_seq,
            self.last_kept_seq,
            self.saved_as.display()
        )
    }
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
    /// What to tell the application.
    pub report: RecoveryReport,
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
    /// Files whose names are neither WAL file names nor kept tails.
    pub foreign: Vec<PathBuf>,
    /// Tails cut off by earlier recoveries (`*.torn`), kept as evidence.
    pub kept_tails: Vec<PathBuf>,
    /// Records above the checkpoint.
    pub replayed: u64,
    /// The newest file's tail past its last synced record, which recovery cuts off.
    pub torn: Option<CutTail>,
}

/// A tail [`examine`] found to cut: what is reported, the name of the file (in the WAL
/// directory) its bytes are kept in, and the bytes.
#[derive(Debug)]
pub(crate) struct CutTail {
    pub report: DroppedTail,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Checks every WAL file without changing anything, and passes every record above
/// `checkpoint`, in order, to `apply`.
///
/// Spec: `format-spec/wal.md` "Recovery" [WAL-5]. The newest file's tail from its first
/// invalid record is reported in `torn` when no later record proves that record synced;
/// an invalid record anywhere else, or one a later record proves synced, is
/// `Error::Corrupted`.
pub(crate) fn examine(
    vfs: &dyn Vfs,
    dir: &Path,
    checkpoint: u64,
    mut apply: impl FnMut(u64, RecordKind, &[u8]) -> Result<(), DecodeError>,
) -> Result<Examined> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    let mut foreign = Vec::new();
    let mut kept_tails = Vec::new();
    for name in vfs.list_dir(dir)? {
        let path = dir.join(&name);
        match parse_file_name(&name) {
            Some(n) => files.push((n, path)),
            None if is_torn_file_name(&name) => kept_tails.push(path),
            None => foreign.push(path),
        }
    }
    files.sort_unstable();
    kept_tails.sort();
    let mut last_seq = checkpoint;
    let mut obsolete = Vec::new();
    let mut kept = Vec::new();
    let mut torn = None;
    let mut replayed = 0;
    let newest = files.last().map(|(n, _)| *n);
    for (number, path) in &files {
        let is_newest = Some(*number) == newest;
        let bytes = vfs.read_file(path)?;
        let header = bytes.get(..FILE_HEADER_LEN).map(record::parse_file_header);
        let file = match header {
            Some(Ok(h)) if h.number == *number => h,
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
        let (records, end) = record::scan(&bytes, file);
        let mut file_last = None;
        let mut proven_synced = checkpoint;
        for rec in &records {
            file_last = Some(rec.seq);
            proven_synced = proven_synced.max(rec.synced_seq.unwrap_or(0));
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
                let at = rec.offset as u64 + record::RECORD_HEADER_LEN as u64 + e.offset();
                Error::corrupted(path, at, format!("record {}: {e}", rec.seq))
            })?;
            last_seq = rec.seq;
            replayed += 1;
        }
        if let ScanEnd::Invalid {
            offset,
            reason,
            beyond,
        } = end
        {
            // Every file but the newest was synced before the next one was created.
            if !is_newest {
                return Err(Error::corrupted(path, offset as u64, reason));
            }
            let kept_last = last_seq.max(file_last.unwrap_or(0));
            let later_claim = beyond.max_synced_seq.unwrap_or(0);
            if later_claim > kept_last {
                return Err(Error::corrupted(
                    path,
                    offset as u64,
                    format!(
                        "{reason}, but a later record says every record up to {later_claim} \
                         was synced before it was written: damage inside acknowledged data"
                    ),
                ));
            }
            // Version 1 records carry no sync point: any valid record after the bad one
            // makes it damage in the middle rather than a torn write.
            if file.version == 1 && beyond.records > 0 {
                return Err(Error::corrupted(path, offset as u64, reason));
            }
            let tail = bytes.get(offset..).unwrap_or_default();
            let records = beyond.records + u64::from(tail.iter().any(|&b| b != 0));
            let name = torn_file_name(*number, offset as u64);
            let report = DroppedTail {
                file: path.clone(),
                offset: offset as u64,
                bytes: tail.len() as u64,
                records,
                reason,
                last_kept_seq: kept_last,
                proven_synced_seq: proven_synced.max(later_claim),
                saved_as: dir.join(&name),
            };
            torn = Some(CutTail {
                report,
                name,
                bytes: tail.to_vec(),
            });
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
        kept_tails,
        replayed,
        torn,
    })
}

/// Replays every record above `checkpoint`, in order, through `apply` ([`examine`]), then
/// repairs: foreign files are removed, a torn tail is copied to its `.torn` file and then
/// cut off (both synced), and files wholly at or below the checkpoint are deleted.
pub(crate) fn recover(
    vfs: &dyn Vfs,
    dir: &Path,
    checkpoint: u64,
    apply: impl FnMut(u64, RecordKind, &[u8]) -> Result<(), DecodeError>,
) -> Result<Recovery> {
    let found = examine(vfs, dir, checkpoint, apply)?;
    for path in &found.foreign {
        vfs.remove_file(path)?;
    }
    if let Some(cut) = &found.torn {
        // Evidence first: a crash before the cut leaves the tail in place, and the next
        // recovery writes the same `.torn` file again.
        write_atomic(vfs, dir, &cut.name, &cut.bytes)?;
        vfs.truncate_file(&cut.report.file, cut.report.offset)?;
    }
    if !found.obsolete.is_empty() {
        for path in &found.obsolete {
            vfs.remove_file(path)?;
        }
        vfs.sync_directory(dir)?;
    }
    Ok(Recovery {
        last_seq: found.last_seq,
        next_file_number: found.next_file_number,
        kept: found.kept,
        report: RecoveryReport {
            replayed_records: found.replayed,
            dropped: found.torn.map(|cut| cut.report),
        },
    })
}

/// The file currently appended to.
#[derive(Debug)]
struct WalFile {
    file: NamedFile,
    salt: u32,
    prev_crc: u32,
    len: u64,
}

/// Appends records; one per process-wide writer lock (the collection's write mutex).
///
/// The file is created by the first append, so a session that writes nothing leaves the
/// WAL directory as recovery left it.
#[derive(Debug)]
pub(crate) struct WalWriter {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    current: Option<WalFile>,
    next_number: u64,
    max_file_bytes: u64,
    last_seq: u64,
    /// Records up to this one are durable: synced when their file was rotated out, or
    /// replayed and synced by recovery.
    synced_floor: u64,
    /// Older files still needed, each with its last record, until a checkpoint covers it.
    older: Vec<(PathBuf, u64)>,
    buf: Vec<u8>,
}

impl WalWriter {
    /// A writer whose first record gets `last_seq + 1` in a new file `next_number`; the
    /// files of `older` are durable up to `last_seq`.
    pub(crate) fn new(
        vfs: Arc<dyn Vfs>,
        dir: PathBuf,
        next_number: u64,
        last_seq: u64,
        max_file_bytes: u64,
        older: Vec<PathBuf>,
    ) -> Self {
        WalWriter {
            vfs,
            dir,
            current: None,
            next_number,
            max_file_bytes,
            last_seq,
            synced_floor: last_seq,
            older: older.into_iter().map(|p| (p, last_seq)).collect(),
            buf: Vec::new(),
        }
    }

    fn new_file(&mut self) -> Result<WalFile> {
        let (vfs, dir) = (&*self.vfs, &self.dir);
        let number = self.next_number;
        let path = dir.join(file_name(number));
        let salt = new_salt(number);
        let file = vfs.create_file(&path)?;
        let header = record::encode_file_header(number, salt);
        file.write_all(&header)?;
        file.sync_data()?;
        vfs.sync_directory(dir)?;
        self.next_number += 1;
        Ok(WalFile {
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

    /// True when this writer appended records that no checkpoint covers yet (a file is
    /// open only from the first append after a checkpoint or the open).
    pub(crate) fn wrote_since_checkpoint(&self) -> bool {
        self.current.is_some()
    }

    /// Writes one record to the OS (not synced) and returns its sequence number. `durable`
    /// is the highest sequence number known durable now; the record carries it as its
    /// `synced_seq`. An error leaves the file in an unknown state: the caller must poison
    /// the collection.
    pub(crate) fn append(&mut self, kind: RecordKind, body: &[u8], durable: u64) -> Result<u64> {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.len >= self.max_file_bytes)
        {
            self.rotate()?;
        }
        let mut c = match self.current.take() {
            Some(c) => c,
            None => self.new_file()?,
        };
        let seq = self.last_seq + 1;
        let meta = RecordMeta {
            seq,
            synced_seq: durable.max(self.synced_floor).min(self.last_seq),
            kind,
        };
        self.buf.clear();
        let crc = record::encode_record(&mut self.buf, c.salt, c.prev_crc, meta, body);
        let written = c.file.write_all(&self.buf);
        if written.is_ok() {
            c.prev_crc = crc;
            c.len += self.buf.len() as u64;
        }
        self.current = Some(c);
        written?;
        self.last_seq = seq;
        Ok(seq)
    }

    /// Syncs the current file; the next append starts a new one.
    fn rotate(&mut self) -> Result<()> {
        if let Some(c) = self.current.take() {
            let synced = c.file.sync_data();
            self.older
                .push((c.file.path().to_path_buf(), self.last_seq));
            synced?;
            self.synced_floor = self.last_seq;
        }
        Ok(())
    }

    /// After a checkpoint covering every record up to `seq`: deletes the files holding no
    /// later record (the current one too, if so; the next append then starts a new one),
    /// or, with `keep`, returns them undeleted (a backup is copying them). The deletions
    /// need no directory sync: a file that comes back after a crash holds only records
    /// the checkpoint covers, which recovery skips and deletes.
    pub(crate) fn release_through(&mut self, seq: u64, keep: bool) -> Result<Vec<PathBuf>> {
        self.synced_floor = self.synced_floor.max(seq.min(self.last_seq));
        if self.last_seq <= seq
            && let Some(c) = self.current.take()
        {
            self.older
                .push((c.file.path().to_path_buf(), self.last_seq));
        }
        let (gone, kept): (Vec<_>, Vec<_>) =
            self.older.drain(..).partition(|&(_, last)| last <= seq);
        self.older = kept;
        let gone: Vec<PathBuf> = gone.into_iter().map(|(path, _)| path).collect();
        if keep {
            return Ok(gone);
        }
        for path in &gone {
            self.vfs.remove_file(path)?;
        }
        Ok(Vec::new())
    }

    /// The file to sync for every record written so far (older files were synced when
    /// they were rotated out); `None` when no file was written since.
    pub(crate) fn sync_target(&self) -> Option<(u64, NamedFile)> {
        self.current
            .as_ref()
            .map(|c| (self.last_seq, c.file.clone()))
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

    /// The highest sequence number known durable.
    pub(crate) fn durable_seq(&self) -> u64 {
        self.state.lock().durable_seq
    }

    /// Records that everything up to `seq` is durable by other means (a checkpoint).
    pub(crate) fn mark_durable(&self, seq: u64) {
        let mut st = self.state.lock();
        st.durable_seq = st.durable_seq.max(seq);
        self.cv.notify_all();
    }

    /// Returns once `seq` is durable. `target` gives the writer's last sequence number and
    /// the file to sync (`None` once closed, or with no file written since everything was
    /// durable); it is called by the one thread that leads each sync. A failed sync
    /// sets `poisoned` and wakes every waiter with `Error::Poisoned`.
    pub(crate) fn sync_to(
        &self,
        seq: u64,
        poisoned: &AtomicBool,
        target: impl Fn() -> Option<(u64, NamedFile)>,
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
        let Some((upto, file)) = target() else {
            // Closed meanwhile (the closing checkpoint may have made `seq` durable), or
            // nothing is left to sync.
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
                Err(e)
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
