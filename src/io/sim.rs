//! [`SimVfs`]: a file system in memory with a durable image beside the volatile one, that
//! loses power on cue. For power-loss tests.
//!
//! - Writes land in the volatile image. `sync_data` / `sync_all` make a file's data
//!   durable; `truncate` syncs, as [`StdVfs`](super::StdVfs)'s does.
//! - Creations, renames and removals change the names the running system sees at once,
//!   and the durable names only when their directory is synced (`sync_dir`). Directories
//!   themselves are durable when created.
//! - [`SimVfs::crash_at`] arms a power loss at the Nth mutating operation (counted like
//!   [`FaultyVfs`](super::FaultyVfs) counts them, from 1). The [`CrashImage`] keeps the
//!   durable image plus, chosen by a seeded generator, a prefix of each directory's
//!   unsynced name changes (in order; a rename is atomic) and any subset of the unsynced
//!   writes, each torn at 512-byte boundaries (its sectors land independently, and a
//!   sector beyond the end extends the file with zeros). That operation and every later
//!   one fails, as if the machine were gone; reads still see the volatile image.
//! - [`SimVfs::from_image`] boots a crash image.
//! - [`SimVfs::fail_reads_from`] makes the Nth read (`read`, `map`, `list`) and every later
//!   one fail, like a disk that went bad under a running collection.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{MappedFile, Vfs, VfsFile, VfsLock};

type Ino = u64;

const SECTOR: u64 = 512;

#[derive(Debug, Default, Clone)]
struct Inode {
    durable: Vec<u8>,
    data: Vec<u8>,
    /// Writes since the last sync, in order: `(offset, bytes)`.
    unsynced: Vec<(u64, Vec<u8>)>,
}

/// An unsynced change of a directory's names.
#[derive(Debug, Clone)]
enum NameOp {
    Link(PathBuf, Ino),
    Rename(PathBuf, PathBuf),
    Unlink(PathBuf),
}

impl NameOp {
    fn apply(&self, names: &mut BTreeMap<PathBuf, Ino>) {
        match self {
            NameOp::Link(path, ino) => {
                names.insert(path.clone(), *ino);
            }
            NameOp::Rename(from, to) => {
                if let Some(ino) = names.remove(from) {
                    names.insert(to.clone(), ino);
                }
            }
            NameOp::Unlink(path) => {
                names.remove(path);
            }
        }
    }
}

/// What survives a power loss: every directory, and every file name with its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashImage {
    /// Directories.
    pub dirs: BTreeSet<PathBuf>,
    /// Files and their contents.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

#[derive(Debug, Default)]
struct Sim {
    inodes: BTreeMap<Ino, Inode>,
    next_ino: Ino,
    /// The names the running system sees.
    names: BTreeMap<PathBuf, Ino>,
    /// The names that survive a power loss.
    durable_names: BTreeMap<PathBuf, Ino>,
    /// Per directory, its unsynced name changes in order.
    unsynced_names: BTreeMap<PathBuf, Vec<NameOp>>,
    dirs: BTreeSet<PathBuf>,
    locked: BTreeSet<PathBuf>,
    ops: u64,
    crash: Option<(u64, u64)>,
    image: Option<CrashImage>,
    reads: u64,
    fail_reads_at: Option<u64>,
}

/// xorshift64*: the crash image's choices, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn gone() -> io::Error {
    io::Error::other("simulated power loss: the machine is off")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    )
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl Sim {
    /// Counts a mutating operation; at the armed one, takes the crash image. Fails from
    /// then on.
    fn tick(&mut self) -> io::Result<()> {
        if self.image.is_some() {
            return Err(gone());
        }
        self.ops += 1;
        if let Some((at, seed)) = self.crash
            && self.ops >= at
        {
            self.image = Some(self.crash_image(seed));
            return Err(gone());
        }
        Ok(())
    }

    /// Counts a read; fails it from the armed one on.
    fn read_tick(&mut self) -> io::Result<()> {
        self.reads += 1;
        match self.fail_reads_at {
            Some(at) if self.reads >= at => Err(io::Error::other(format!(
                "simulated read error at read {}",
                self.reads
            ))),
            _ => Ok(()),
        }
    }

    fn crash_image(&self, seed: u64) -> CrashImage {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        self.image_with(|n| rng.below(n))
    }

    /// The durable image plus what `land` keeps of the unsynced state: of `n + 1` choices
    /// for a directory's `n` name operations (how many of them, in order), and of 2 for
    /// each sector of an unsynced write (1 keeps it).
    fn image_with(&self, mut land: impl FnMut(u64) -> u64) -> CrashImage {
        let mut names = self.durable_names.clone();
        for ops in self.unsynced_names.values() {
            let landed = land(ops.len() as u64 + 1) as usize;
            for op in ops.iter().take(landed) {
                op.apply(&mut names);
            }
        }
        let mut files = BTreeMap::new();
        for (path, ino) in names {
            let Some(inode) = self.inodes.get(&ino) else {
                continue;
            };
            let mut bytes = inode.durable.clone();
            for (offset, data) in &inode.unsynced {
                let mut at = *offset;
                let end = offset + data.len() as u64;
                while at < end {
                    let piece_end = ((at / SECTOR + 1) * SECTOR).min(end);
                    if land(2) == 1 {
                        let (from, to) = ((at - offset) as usize, (piece_end - offset) as usize);
                        if bytes.len() < piece_end as usize {
                            bytes.resize(piece_end as usize, 0);
                        }
                        bytes[at as usize..piece_end as usize].copy_from_slice(&data[from..to]);
                    }
                    at = piece_end;
                }
            }
            files.insert(path, bytes);
        }
        CrashImage {
            dirs: self.dirs.clone(),
            files,
        }
    }

    fn inode_of(&self, path: &Path) -> io::Result<Ino> {
        self.names.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn name_op(&mut self, path: &Path, op: NameOp) {
        op.apply(&mut self.names);
        self.unsynced_names
            .entry(parent(path))
            .or_default()
            .push(op);
    }

    fn write(&mut self, ino: Ino, offset: Option<u64>, buf: &[u8]) -> io::Result<()> {
        self.tick()?;
        let inode = self.inodes.entry(ino).or_default();
        let offset = offset.unwrap_or(inode.data.len() as u64);
        let end = offset as usize + buf.len();
        if inode.data.len() < end {
            inode.data.resize(end, 0);
        }
        inode.data[offset as usize..end].copy_from_slice(buf);
        inode.unsynced.push((offset, buf.to_vec()));
        Ok(())
    }

    fn sync(&mut self, ino: Ino) -> io::Result<()> {
        self.tick()?;
        let inode = self.inodes.entry(ino).or_default();
        inode.durable = inode.data.clone();
        inode.unsynced.clear();
        Ok(())
    }
}

/// A file system in memory that loses power on cue (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct SimVfs {
    sim: Arc<Mutex<Sim>>,
}

impl SimVfs {
    /// An empty file system.
    #[must_use]
    pub fn new() -> Self {
        SimVfs::default()
    }

    /// A machine booted from a crash image: everything in it is durable.
    #[must_use]
    pub fn from_image(image: &CrashImage) -> Self {
        let mut sim = Sim {
            dirs: image.dirs.clone(),
            ..Sim::default()
        };
        for (path, bytes) in &image.files {
            let ino = sim.next_ino;
            sim.next_ino += 1;
            sim.inodes.insert(
                ino,
                Inode {
                    durable: bytes.clone(),
                    data: bytes.clone(),
                    unsynced: Vec::new(),
                },
            );
            sim.names.insert(path.clone(), ino);
        }
        sim.durable_names = sim.names.clone();
        SimVfs {
            sim: Arc::new(Mutex::new(sim)),
        }
    }

    /// Arms a power loss at mutating operation number `op` (counted from 1 since this file
    /// system was made); `seed` chooses what of the unsynced state lands.
    pub fn crash_at(&self, op: u64, seed: u64) {
        self.sim.lock().crash = Some((op, seed));
    }

    /// Mutating operations so far.
    #[must_use]
    pub fn ops(&self) -> u64 {
        self.sim.lock().ops
    }

    /// Makes read number `n` (counted from 1 since this file system was made: `read`,
    /// `map`, `list`) and every later one fail.
    pub fn fail_reads_from(&self, n: u64) {
        self.sim.lock().fail_reads_at = Some(n);
    }

    /// Reads so far.
    #[must_use]
    pub fn reads(&self) -> u64 {
        self.sim.lock().reads
    }

    /// What the running system sees now (every name and byte, synced or not): the
    /// directory as a process that restarts would find it, with the machine still on.
    #[must_use]
    pub fn snapshot(&self) -> CrashImage {
        let sim = self.sim.lock();
        let files = sim.names.iter().map(|(path, ino)| {
            let bytes = sim
                .inodes
                .get(ino)
                .map(|i| i.data.clone())
                .unwrap_or_default();
            (path.clone(), bytes)
        });
        CrashImage {
            dirs: sim.dirs.clone(),
            files: files.collect(),
        }
    }

    /// The image a power loss now would leave if nothing unsynced landed: only what was
    /// synced (files by `fsync`, names by a directory sync). The machine stays on.
    #[must_use]
    pub fn durable_image(&self) -> CrashImage {
        self.sim.lock().image_with(|_| 0)
    }

    /// The crash image, once the power loss happened.
    #[must_use]
    pub fn crash_image(&self) -> Option<CrashImage> {
        self.sim.lock().image.clone()
    }
}

#[derive(Debug)]
struct SimFile {
    sim: Arc<Mutex<Sim>>,
    ino: Ino,
}

impl VfsFile for SimFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.sim.lock().write(self.ino, None, buf)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.sim.lock().write(self.ino, Some(offset), buf)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sim.lock().sync(self.ino)
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sim.lock().sync(self.ino)
    }
}

/// The lock of a directory of a [`SimVfs`], released on drop.
#[derive(Debug)]
struct SimLock {
    sim: Arc<Mutex<Sim>>,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.sim.lock().locked.remove(&self.dir);
    }
}

impl Vfs for SimVfs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut sim = self.sim.lock();
        sim.tick()?;
        for dir in path.ancestors() {
            sim.dirs.insert(dir.to_path_buf());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut sim = self.sim.lock();
        sim.read_tick()?;
        if !sim.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let files = sim.names.keys();
        let children = files
            .chain(sim.dirs.iter())
            .filter(|p| p.parent() == Some(dir));
        Ok(children
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut sim = self.sim.lock();
        sim.read_tick()?;
        let ino = sim.inode_of(path)?;
        Ok(sim
            .inodes
            .get(&ino)
            .map(|i| i.data.clone())
            .unwrap_or_default())
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        let sim = self.sim.lock();
        let ino = sim.inode_of(path)?;
        Ok(sim.inodes.get(&ino).map_or(0, |i| i.data.len() as u64))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        let mut sim = self.sim.lock();
        sim.tick()?;
        if !sim.dirs.contains(&parent(path)) {
            return Err(not_found(&parent(path)));
        }
        let ino = sim.next_ino;
        sim.next_ino += 1;
        sim.inodes.insert(ino, Inode::default());
        sim.name_op(path, NameOp::Link(path.to_path_buf(), ino));
        Ok(Arc::new(SimFile {
            sim: Arc::clone(&self.sim),
            ino,
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        let mut sim = self.sim.lock();
        sim.tick()?;
        let ino = sim.inode_of(path)?;
        Ok(Arc::new(SimFile {
            sim: Arc::clone(&self.sim),
            ino,
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut sim = self.sim.lock();
        let ino = sim.inode_of(path)?;
        sim.tick()?;
        let inode = sim.inodes.entry(ino).or_default();
        inode.data.resize(len as usize, 0);
        inode.durable = inode.data.clone();
        inode.unsynced.clear();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut sim = self.sim.lock();
        sim.tick()?;
        sim.inode_of(from)?;
        sim.name_op(to, NameOp::Rename(from.to_path_buf(), to.to_path_buf()));
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut sim = self.sim.lock();
        sim.tick()?;
        sim.inode_of(path)?;
        sim.name_op(path, NameOp::Unlink(path.to_path_buf()));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut sim = self.sim.lock();
        sim.tick()?;
        let ops = sim.unsynced_names.remove(dir).unwrap_or_default();
        for op in &ops {
            op.apply(&mut sim.durable_names);
        }
        Ok(())
    }

    fn map(&self, path: &Path) -> io::Result<MappedFile> {
        let mut sim = self.sim.lock();
        sim.read_tick()?;
        let ino = sim.inode_of(path)?;
        let bytes = sim
            .inodes
            .get(&ino)
            .map(|i| i.data.as_slice())
            .unwrap_or_default();
        Ok(MappedFile::from_bytes(bytes))
    }

    fn free_space(&self, _dir: &Path) -> io::Result<u64> {
        Ok(u64::MAX)
    }

    fn lock(&self, dir: &Path) -> io::Result<VfsLock> {
        let mut sim = self.sim.lock();
        if !sim.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        if !sim.locked.insert(dir.to_path_buf()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(VfsLock::new(SimLock {
            sim: Arc::clone(&self.sim),
            dir: dir.to_path_buf(),
        }))
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn write_file(vfs: &SimVfs, path: &Path, bytes: &[u8], sync: bool) {
        let f = vfs.create(path).unwrap();
        f.write_all(bytes).unwrap();
        if sync {
            f.sync_data().unwrap();
        }
    }

    #[test]
    fn only_synced_data_and_names_are_sure_to_survive() {
        let dir = Path::new("/c");
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        let mut seen_unsynced = BTreeSet::new();
        for seed in 0..200 {
            let vfs = SimVfs::new();
            vfs.create_dir_all(dir).unwrap();
            write_file(&vfs, &a, &[1; 1000], true);
            vfs.sync_dir(dir).unwrap();
            write_file(&vfs, &b, &[2; 1000], true); // data synced, and its name below
            write_file(&vfs, &c, &[3; 1000], false); // only its name synced below
            vfs.sync_dir(dir).unwrap();
            let f = vfs.open_append(&a).unwrap();
            f.write_all(&[4; 700]).unwrap(); // unsynced append to a synced file
            vfs.remove(&c).unwrap(); // unsynced removal
            vfs.crash_at(vfs.ops() + 1, seed);
            assert!(vfs.sync_dir(dir).is_err(), "the crash fails the operation");
            assert!(vfs.create(&dir.join("d")).is_err(), "and every later one");
            let image = vfs.crash_image().unwrap();
            let a_bytes = &image.files[&a];
            assert_eq!(&a_bytes[..1000], &[1; 1000][..]);
            // The unsynced append lands sector by sector (a missing sector before a landed
            // one reads as zeros), or not at all.
            assert!(a_bytes.len() <= 1700);
            for piece in [1000..1024, 1024..1536, 1536..1700] {
                let got = a_bytes.get(piece).unwrap_or_default();
                assert!(got.iter().all(|&x| x == 4) || got.iter().all(|&x| x == 0));
            }
            assert_eq!(image.files[&b], vec![2; 1000]);
            if let Some(c_bytes) = image.files.get(&c) {
                assert!(c_bytes.iter().all(|&x| x == 3 || x == 0));
                seen_unsynced.insert(("c kept", c_bytes.len()));
            }
            seen_unsynced.insert(("a", a_bytes.len()));
            let booted = SimVfs::from_image(&image);
            assert_eq!(booted.read(&b).unwrap(), vec![2; 1000]);
        }
        // The generator explores: whole, torn and missing appends, kept and lost files.
        assert!(seen_unsynced.contains(&("a", 1000)));
        assert!(seen_unsynced.contains(&("a", 1700)));
        assert!(
            seen_unsynced
                .iter()
                .any(|&(w, n)| w == "a" && n > 1000 && n < 1700)
        );
        assert!(seen_unsynced.iter().any(|&(w, _)| w == "c kept"));
    }

    #[test]
    fn renames_land_whole_or_not_and_locks_exclude() {
        let dir = Path::new("/c");
        let (tmp, name) = (dir.join("M.tmp"), dir.join("M"));
        let mut outcomes = BTreeSet::new();
        for seed in 0..50 {
            let vfs = SimVfs::new();
            vfs.create_dir_all(dir).unwrap();
            write_file(&vfs, &name, b"old", true);
            vfs.sync_dir(dir).unwrap();
            write_file(&vfs, &tmp, b"new", true);
            vfs.rename(&tmp, &name).unwrap();
            vfs.crash_at(vfs.ops() + 1, seed);
            let _ = vfs.sync_dir(dir);
            let image = vfs.crash_image().unwrap();
            let got = image.files[&name].clone();
            assert!(got == b"old" || got == b"new");
            outcomes.insert(got);
        }
        assert_eq!(outcomes.len(), 2);
        let vfs = SimVfs::new();
        vfs.create_dir_all(dir).unwrap();
        let held = vfs.lock(dir).unwrap();
        assert_eq!(vfs.lock(dir).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(held);
        vfs.lock(dir).unwrap();
    }
}
