//! An in-memory [`Fs`] for tests: it fails a chosen operation, writes
//! short, runs out of space, and crashes, keeping either everything written
//! (a process crash: the page cache survives) or only what was synced plus
//! any prefix of the rest (a power cut).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fs::{AppendFile, Fs, ReadFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Write,
    Sync,
    Create,
    Replace,
    Remove,
    Truncate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The operation fails with this error and does nothing.
    Fail(io::ErrorKind),
    /// A write stores only this many bytes, then fails (EIO).
    Short(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// Every byte written survives.
    Process,
    /// Only synced bytes survive, plus this many (at most) of the rest of
    /// each file: a write torn part-way.
    Power { torn: usize },
}

#[derive(Default)]
struct File {
    data: Vec<u8>,
    synced: usize,
}

#[derive(Default)]
struct State {
    files: HashMap<PathBuf, File>,
    /// Handles from before the last crash see this and fail.
    epoch: u64,
    faults: Vec<(Op, u64, Fault)>,
    /// Total bytes the "disk" holds; writes past it fail with ENOSPC.
    capacity: Option<usize>,
    /// Directories held by a spool; a crash lets them go.
    locked: std::collections::HashSet<PathBuf>,
}

/// A view of the in-memory disk. After [`MemFs::crash`], this view and
/// every handle it opened fail (the crashed process can touch nothing
/// more); the view `crash` returns is the restarted process's.
#[derive(Default, Clone)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
    epoch: u64,
}

impl MemFs {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state, if this view has not crashed.
    fn live(&self) -> io::Result<MutexGuard<'_, State>> {
        let state = self.lock();
        if state.epoch == self.epoch { Ok(state) } else { Err(gone()) }
    }

    /// The `nth` (1-based, counted from now) operation of kind `op` meets
    /// `fault`.
    pub fn inject(&self, op: Op, nth: u64, fault: Fault) {
        self.lock().faults.push((op, nth, fault));
    }

    pub fn set_capacity(&self, bytes: Option<usize>) {
        self.lock().capacity = bytes;
    }

    /// Every handle open now fails from here on; files keep what `crash`
    /// says survives.
    pub fn crash(&self, crash: Crash) -> MemFs {
        let mut state = self.lock();
        state.epoch += 1;
        state.locked.clear();
        let epoch = state.epoch;
        state.faults.clear();
        if let Crash::Power { torn } = crash {
            for file in state.files.values_mut() {
                let keep = (file.synced + torn).min(file.data.len());
                file.data.truncate(keep);
                file.synced = keep;
            }
        }
        MemFs { state: self.state.clone(), epoch }
    }

    /// Flips one bit of a file (for damage tests).
    pub fn flip_bit(&self, path: &Path, bit: usize) {
        let mut state = self.lock();
        let file = state.files.get_mut(path).expect("the file exists");
        file.data[bit / 8] ^= 1 << (bit % 8);
    }

    pub fn files(&self, dir: &Path) -> Vec<(PathBuf, usize)> {
        let state = self.lock();
        let mut files: Vec<_> = state
            .files
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, f)| (p.clone(), f.data.len()))
            .collect();
        files.sort();
        files
    }

    fn check(state: &mut State, op: Op) -> io::Result<Option<Fault>> {
        let mut hit = None;
        state.faults.retain_mut(|(kind, nth, fault)| {
            if *kind != op {
                return true;
            }
            *nth -= 1;
            if *nth == 0 {
                hit = Some(*fault);
                return false;
            }
            true
        });
        match hit {
            Some(Fault::Fail(kind)) => Err(kind.into()),
            other => Ok(other),
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("the process crashed")
}

struct Handle {
    fs: MemFs,
    path: PathBuf,
}

impl Handle {
    fn state(&self) -> io::Result<MutexGuard<'_, State>> {
        self.fs.live()
    }
}

impl AppendFile for Handle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.state()?;
        let fault = MemFs::check(&mut state, Op::Write)?;
        let used: usize = state.files.values().map(|f| f.data.len()).sum();
        let room = state.capacity.map_or(usize::MAX, |c| c.saturating_sub(used));
        let file = state.files.get_mut(&self.path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if let Some(Fault::Short(n)) = fault {
            file.data.extend_from_slice(&buf[..n.min(buf.len())]);
            return Err(io::Error::other("injected short write"));
        }
        if room == 0 {
            return Err(io::Error::from_raw_os_error(28));
        }
        let n = buf.len().min(room);
        file.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = self.state()?;
        MemFs::check(&mut state, Op::Sync)?;
        let file = state.files.get_mut(&self.path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        file.synced = file.data.len();
        Ok(())
    }

    fn syncer(&self) -> io::Result<crate::fs::Syncer> {
        let mut handle = Handle { fs: self.fs.clone(), path: self.path.clone() };
        Ok(Box::new(move || handle.sync_data()))
    }
}

impl ReadFile for Handle {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let state = self.state()?;
        let file = state.files.get(&self.path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let data = file.data.get(offset as usize..).unwrap_or_default();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }
}

impl Fs for MemFs {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        drop(self.live()?);
        Ok(self.files(dir).into_iter().filter_map(|(p, _)| Some(p.file_name()?.to_str()?.to_owned())).collect())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let mut state = self.live()?;
        Self::check(&mut state, Op::Create)?;
        if state.files.contains_key(path) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        state.files.insert(path.to_owned(), File::default());
        Ok(Box::new(Handle { fs: self.clone(), path: path.to_owned() }))
    }

    fn append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let state = self.live()?;
        if !state.files.contains_key(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(Box::new(Handle { fs: self.clone(), path: path.to_owned() }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        let state = self.live()?;
        if !state.files.contains_key(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(Box::new(Handle { fs: self.clone(), path: path.to_owned() }))
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        let state = self.live()?;
        state.files.get(path).map(|f| f.data.len() as u64).ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = self.live()?;
        state.files.get(path).map(|f| f.data.clone()).ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut state = self.live()?;
        Self::check(&mut state, Op::Truncate)?;
        let file = state.files.get_mut(path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        file.data.truncate(len as usize);
        file.synced = file.data.len();
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.live()?;
        Self::check(&mut state, Op::Remove)?;
        state.files.remove(path).map(drop).ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn replace(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.live()?;
        Self::check(&mut state, Op::Replace)?;
        state.files.insert(path.to_owned(), File { data: bytes.to_vec(), synced: bytes.len() });
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.live()?;
        Self::check(&mut state, Op::Sync)?;
        let file = state.files.get_mut(path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        file.synced = file.data.len();
        Ok(())
    }

    fn lock(&self, dir: &Path) -> io::Result<Box<dyn Send + Sync>> {
        let mut state = self.live()?;
        if !state.locked.insert(dir.to_owned()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "the spool is held"));
        }
        Ok(Box::new(Lock { fs: self.clone(), dir: dir.to_owned() }))
    }
}

struct Lock {
    fs: MemFs,
    dir: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.fs.lock().locked.remove(&self.dir);
    }
}
