//! A file system that holds a segment build at a gate, so tests can act while it waits.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use vecsieve::io::{MappedFile, Vfs, VfsFile, VfsLock};

/// A gate a thread can be held at: `wait_entered` sees it arrive, `open` lets it through.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<(bool, bool)>,
    cv: Condvar,
}

impl Gate {
    pub fn pass(&self) {
        let mut st = self.state.lock().unwrap();
        st.0 = true;
        self.cv.notify_all();
        while !st.1 {
            st = self.cv.wait(st).unwrap();
        }
    }

    pub fn wait_entered(&self) {
        let mut st = self.state.lock().unwrap();
        while !st.0 {
            st = self.cv.wait(st).unwrap();
        }
    }

    pub fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.cv.notify_all();
    }
}

/// Another file system, except that once armed, the first write into a `*.seg.tmp` file
/// waits at the gate (and fails once through it when `fail` is set).
#[derive(Debug)]
pub struct StallVfs {
    inner: Arc<dyn Vfs>,
    pub armed: AtomicBool,
    pub gate: Arc<Gate>,
    pub fail: Arc<AtomicBool>,
}

impl StallVfs {
    pub fn new(inner: Arc<dyn Vfs>) -> Self {
        StallVfs {
            inner,
            armed: AtomicBool::new(false),
            gate: Arc::default(),
            fail: Arc::default(),
        }
    }
}

#[derive(Debug)]
struct StallFile {
    inner: Arc<dyn VfsFile>,
    gate: Option<Arc<Gate>>,
    stalled: AtomicBool,
    fail: Arc<AtomicBool>,
}

impl VfsFile for StallFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        if let Some(gate) = &self.gate
            && !self.stalled.swap(true, Ordering::SeqCst)
        {
            gate.pass();
            if self.fail.load(Ordering::SeqCst) {
                return Err(io::Error::other("injected: the disk failed"));
            }
        }
        self.inner.write_all(buf)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.inner.write_at(offset, buf)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.inner.sync_all()
    }
}

impl Vfs for StallVfs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.inner.file_size(path)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        let stall = path.to_string_lossy().ends_with(".seg.tmp")
            && self.armed.swap(false, Ordering::SeqCst);
        Ok(Arc::new(StallFile {
            inner: self.inner.create(path)?,
            gate: stall.then(|| Arc::clone(&self.gate)),
            stalled: AtomicBool::new(false),
            fail: Arc::clone(&self.fail),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn VfsFile>> {
        self.inner.open_append(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.inner.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn map(&self, path: &Path) -> io::Result<MappedFile> {
        self.inner.map(path)
    }
    fn free_space(&self, dir: &Path) -> io::Result<u64> {
        self.inner.free_space(dir)
    }
    fn lock(&self, dir: &Path) -> io::Result<VfsLock> {
        self.inner.lock(dir)
    }
}
