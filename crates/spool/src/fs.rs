//! The filesystem seam. The spool does all its I/O through [`Fs`], so tests
//! can run it on [`MemFs`](crate::testing::MemFs), which fails a chosen
//! operation, writes short, and crashes (keeping only what was synced, or
//! everything written, as a process crash would).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The operations the spool needs, all blocking: the spool calls them from
/// its own writer thread and from readers' threads, never from async tasks.
pub trait Fs: Send + Sync + 'static {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// File names (not paths) in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates `path` (truncating nothing: it must not exist) for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn AppendFile>>;
    /// Opens an existing file for appending at its end.
    fn append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>>;
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>>;
    fn len(&self, path: &Path) -> io::Result<u64>;
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Replaces `path` with `bytes` atomically: a temporary file, written
    /// and synced, renamed over it, and the directory synced.
    fn replace(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Syncs a file's data (what an earlier process left unsynced).
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Takes `dir` for this process alone, until the returned guard drops;
    /// fails if another process holds it.
    fn lock(&self, dir: &Path) -> io::Result<Box<dyn Send + Sync>>;
}

/// Syncs a file from another thread than the one writing it.
pub type Syncer = Box<dyn FnMut() -> io::Result<()> + Send>;

pub trait AppendFile: Send {
    /// May write less than `buf` (a short write), as `write(2)` may.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    fn sync_data(&mut self) -> io::Result<()>;
    /// A second handle that syncs this file (what was written before the
    /// call), for a thread other than the writer's.
    fn syncer(&self) -> io::Result<Syncer>;
}

pub trait ReadFile: Send {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

/// The operating system's filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

struct OsAppend(File);
struct OsRead(File);

impl AppendFile for OsAppend {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn syncer(&self) -> io::Result<Syncer> {
        let file = self.0.try_clone()?;
        Ok(Box::new(move || file.sync_data()))
    }
}

impl ReadFile for OsRead {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
}

impl Fs for OsFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let file = OpenOptions::new().append(true).create_new(true).open(path)?;
        Ok(Box::new(OsAppend(file)))
    }
    fn append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let mut file = OpenOptions::new().append(true).open(path)?;
        file.seek(SeekFrom::End(0))?;
        Ok(Box::new(OsAppend(file)))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        Ok(Box::new(OsRead(File::open(path)?)))
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn replace(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let temp = temp_path(path);
        {
            let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&temp, path)?;
        self.sync_dir(path.parent().unwrap_or(Path::new(".")))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_data()
    }
    fn lock(&self, dir: &Path) -> io::Result<Box<dyn Send + Sync>> {
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(dir.join("lock"))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Box::new(file)),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("another process holds the spool in {}", dir.display()),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
