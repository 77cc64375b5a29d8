//! Offline verification of a collection directory: every checksum of every file, without
//! changing a byte (unlike `open`, which repairs a torn WAL tail and removes stray files).

use std::path::{Path, PathBuf};

use crate::collection::{
    CONFIG_FILE, MANIFEST_FILE, SEGMENTS_DIR, WAL_DIR, open_named_segment, read_config,
    read_deletions, segment_file, sidecar_file,
};
use crate::error::{Error, Result};
use crate::io::Fs;
use crate::io::lock::DirLock;
use crate::io::{StdVfs, Vfs};
use crate::manifest::Manifest;
use crate::wal::{self, record};

/// The verdict on one file.
#[derive(Debug)]
pub enum FileStatus {
    /// Every checksum matches and every field is valid.
    Ok,
    /// Valid, with something worth knowing (a torn WAL tail that the next open cuts off, a
    /// file the MANIFEST does not name that the next open removes).
    Note(String),
    /// The file is damaged: the error names the file, the byte offset and what is wrong.
    Damaged(Error),
}

/// One file of the collection and its verdict.
#[derive(Debug)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The verdict.
    pub status: FileStatus,
}

/// What [`verify_dir`] found, file by file.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Every file checked, in the order checked.
    pub files: Vec<FileReport>,
    /// `Some` when a writer held the collection while it was checked: the process id
    /// written in its `LOCK` (0 when unreadable).
    pub writer: Option<u32>,
}

impl VerifyReport {
    /// True if no file is damaged.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.damaged().next().is_none()
    }

    /// The damaged files.
    pub fn damaged(&self) -> impl Iterator<Item = &FileReport> {
        self.files
            .iter()
            .filter(|f| matches!(f.status, FileStatus::Damaged(_)))
    }
}

/// Checks every file of the collection in `path` without changing anything: `config.json`,
/// the MANIFEST, every segment (header, table, footer, the CRC of every section, padding,
/// id order), every deletion sidecar, and every WAL record.
///
/// Takes the directory lock for the duration when it can. When a writer holds it, the
/// files are checked beside it (`VerifyReport::writer` says so) and checked again until a
/// pass saw the same MANIFEST at its start and its end, so that no file it names was
/// replaced meanwhile; a WAL tail the writer is appending is then a note, not damage, and
/// a segment it is writing a file "not named by the MANIFEST". Damage is reported in the
/// [`VerifyReport`], not as an error; errors are for directories that are not collections.
pub fn verify_dir(path: impl AsRef<Path>) -> Result<VerifyReport> {
    verify_dir_with_vfs(path, &StdVfs)
}

/// [`verify_dir`] through another [`Vfs`] (the power-loss simulator).
#[doc(hidden)]
pub fn verify_dir_with_vfs(path: impl AsRef<Path>, vfs: &dyn Vfs) -> Result<VerifyReport> {
    let dir = path.as_ref();
    let names = match vfs.list(dir) {
        Ok(names) => names,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(dir.to_path_buf()));
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    if !names.iter().any(|n| n == MANIFEST_FILE) {
        return Err(Error::NotACollection(dir.to_path_buf()));
    }
    let writer = match DirLock::acquire(vfs, dir) {
        Ok(lock) => {
            let report = check_files(vfs, dir)?;
            drop(lock);
            return Ok(report);
        }
        Err(Error::Locked { holder, .. }) => holder.unwrap_or(0),
        Err(e) => return Err(e),
    };
    let mut report = VerifyReport::default();
    for _ in 0..VERIFY_PASSES {
        let before = Manifest::read(vfs, dir).ok();
        report = check_files(vfs, dir)?;
        if before.is_some() && Manifest::read(vfs, dir).ok() == before {
            break;
        }
    }
    report.writer = Some(writer);
    Ok(report)
}

/// Passes [`verify_dir`] makes at most beside a writer to see one MANIFEST throughout.
const VERIFY_PASSES: usize = 20;

fn check_files(vfs: &dyn Vfs, dir: &Path) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let size = |p: &Path| vfs.file_size(p).unwrap_or(0);
    let add = |report: &mut VerifyReport, path: PathBuf, status: FileStatus| {
        let bytes = size(&path);
        report.files.push(FileReport {
            path,
            bytes,
            status,
        });
    };

    let config = match read_config(vfs, dir) {
        Ok(c) => c,
        Err(e) => {
            add(&mut report, dir.join(CONFIG_FILE), FileStatus::Damaged(e));
            return Ok(report);
        }
    };
    add(&mut report, dir.join(CONFIG_FILE), FileStatus::Ok);
    let manifest = match Manifest::read(vfs, dir) {
        Ok(m) => m,
        Err(e) => {
            add(&mut report, dir.join(MANIFEST_FILE), FileStatus::Damaged(e));
            return Ok(report);
        }
    };
    add(&mut report, dir.join(MANIFEST_FILE), FileStatus::Ok);

    let seg_dir = dir.join(SEGMENTS_DIR);
    let mut named = Vec::new();
    for entry in &manifest.segments {
        let seg_path = seg_dir.join(segment_file(entry.id));
        named.push(segment_file(entry.id));
        let checked = open_named_segment(vfs, &seg_dir, entry, &config)
            .and_then(|seg| seg.verify().map(|()| seg));
        let rows = match checked {
            Ok(seg) => {
                add(&mut report, seg_path, FileStatus::Ok);
                Some(seg.rows())
            }
            Err(e) => {
                add(&mut report, seg_path, FileStatus::Damaged(e));
                None
            }
        };
        if entry.del_gen > 0 {
            let name = sidecar_file(entry.id, entry.del_gen);
            let status = match rows.map(|r| read_deletions(vfs, &seg_dir, entry, r)) {
                Some(Ok(_)) => FileStatus::Ok,
                Some(Err(e)) => FileStatus::Damaged(e),
                None => FileStatus::Note("not checked: its segment is damaged".into()),
            };
            add(&mut report, seg_dir.join(&name), status);
            named.push(name);
        }
    }
    let mut others = vfs.list_dir(&seg_dir)?;
    others.retain(|n| !named.contains(n));
    others.sort();
    for name in others {
        let note =
            "not named by the MANIFEST (left by an interrupted write; the next open removes it)";
        add(
            &mut report,
            seg_dir.join(name),
            FileStatus::Note(note.into()),
        );
    }

    let wal_dir = dir.join(WAL_DIR);
    let examined = wal::examine(vfs, &wal_dir, manifest.checkpoint_seq, |_, kind, body| {
        match kind {
            record::RecordKind::Upsert => {
                record::decode_upsert(body, config.dim, config.datatype)?;
            }
            record::RecordKind::UpsertVectors => {
                record::decode_upsert_vectors(body, &record::SlotShape::of(&config))?;
            }
            record::RecordKind::Delete => {
                record::decode_delete(body)?;
            }
        }
        Ok(())
    });
    let mut wal_files = vfs.list_dir(&wal_dir)?;
    wal_files.sort();
    match examined {
        Ok(found) => {
            for name in wal_files {
                let p = wal_dir.join(name);
                let status = if found.foreign.contains(&p) {
                    FileStatus::Note("not a WAL file name; the next open removes it".into())
                } else if found.kept_tails.contains(&p) {
                    FileStatus::Note(
                        "a WAL tail an earlier recovery cut off, kept as evidence; delete it \
                         once you know what it held"
                            .into(),
                    )
                } else if let Some(t) = found
                    .torn
                    .as_ref()
                    .map(|cut| &cut.report)
                    .filter(|t| t.file == p)
                {
                    FileStatus::Note(format!("the next open will cut its tail: {t}"))
                } else {
                    FileStatus::Ok
                };
                add(&mut report, p, status);
            }
        }
        Err(e) => {
            // Files are examined in name order and the scan stops at the damaged one.
            let at_fault = e.path().map(Path::to_path_buf);
            let mut error = Some(e);
            for name in wal_files {
                let p = wal_dir.join(name);
                let status = if Some(&p) == at_fault.as_ref() {
                    error.take().map_or(FileStatus::Ok, FileStatus::Damaged)
                } else if error.is_none() {
                    FileStatus::Note("not checked: an older WAL file is damaged".into())
                } else {
                    FileStatus::Ok
                };
                add(&mut report, p, status);
            }
            if let Some(e) = error {
                add(&mut report, wal_dir, FileStatus::Damaged(e));
            }
        }
    }
    Ok(report)
}
