//! A durable local spool: records are appended to segment files and stay
//! there until their consumer releases them, across crashes and restarts.
//!
//! Key decision: **a record is acknowledged only once it is in a file** (and
//! with [`Fsync::Always`] only once that file is synced), and it leaves only
//! through [`Spool::release`]: never because something downstream merely
//! accepted it. One writer thread owns the active segment, so appends that
//! arrive while it writes or syncs go together into the next write and the
//! next `fdatasync` (group commit). Releases arrive out of order; only the
//! contiguous watermark below which everything is released is persisted
//! (temporary file, fsync, rename, fsync of the directory), before any
//! segment wholly below it is deleted, so a restart replays at least
//! everything not yet released and sequence numbers never go backwards.
//!
//! Generic: a payload is opaque bytes; nothing here knows what a record is
//! for or where it goes.
#![forbid(unsafe_code)]

mod error;
mod frame;
mod fs;
mod reader;
mod recover;
mod released;
mod writer;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

pub use error::Error;
pub use frame::OVERHEAD;
pub use fs::{AppendFile, Fs, OsFs, ReadFile, Syncer};
pub use reader::{Reader, Record};
pub use recover::Recovered;

use released::Released;

/// When an append is synced to disk before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Before its acknowledgement: survives a power cut. Appends that arrive
    /// while one sync runs share the next (group commit).
    Always,
    /// At most this long after its acknowledgement: a process crash loses
    /// nothing; a power cut can lose what was acknowledged in the interval.
    Interval(Duration),
    /// Left to the kernel: survives a process crash, not a power cut.
    Never,
}

/// What an append does when the spool has no room for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFull {
    /// Refuse it at once with [`Error::Full`].
    Block,
    /// Drop the oldest sealed segments (counted in [`Stats::dropped`]) until
    /// it fits; refuse it if that is not enough.
    DropOldest,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    /// A segment is sealed and a new one started once it holds this much.
    pub segment_bytes: u64,
    pub max_record_bytes: u32,
    pub fsync: Fsync,
    pub on_full: OnFull,
}

/// The bytes a spool (or several sharing it) may hold on disk, counting
/// records accepted but not yet written. Appends reserve before anything is
/// buffered; deleting a segment gives its bytes back.
#[derive(Debug)]
pub struct Budget {
    max: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(Self { max, used: AtomicU64::new(0) })
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn try_reserve(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.max)
            })
            .is_ok()
    }

    /// Counts bytes already on disk (found by recovery), even past `max`.
    fn force(&self, bytes: u64) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    fn give_back(&self, bytes: u64) {
        let _ = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| Some(used.saturating_sub(bytes)));
    }
}

/// Counters since open (plus what recovery found). Cheap to read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub appended: u64,
    pub appended_bytes: u64,
    pub released: u64,
    /// Records dropped by [`OnFull::DropOldest`].
    pub dropped: u64,
    /// Appends refused because the spool was full.
    pub refused_full: u64,
    /// Records lost to corruption found in sealed data.
    pub corrupt: u64,
    /// Bytes of a torn tail cut off at recovery.
    pub torn_bytes: u64,
    /// Failed writes, syncs, renames or deletions.
    pub io_errors: u64,
    pub syncs: u64,
    /// Records appended and not yet released.
    pub pending: u64,
    pub segments: u64,
    pub disk_bytes: u64,
    pub watermark: u64,
}

#[derive(Debug, Default)]
struct Counters {
    appended: AtomicU64,
    appended_bytes: AtomicU64,
    released: AtomicU64,
    dropped: AtomicU64,
    refused_full: AtomicU64,
    corrupt: AtomicU64,
    torn_bytes: AtomicU64,
    io_errors: AtomicU64,
    syncs: AtomicU64,
}

#[derive(Debug, Clone)]
struct Segment {
    first: u64,
    /// One past the last sequence written to it.
    end: u64,
    bytes: u64,
    sealed: bool,
    /// Byte ranges recovery found damaged, for readers to step over.
    skips: Vec<Range<u64>>,
    /// Dropped by [`OnFull::DropOldest`]: its bytes are already given back.
    dropped: bool,
}

#[derive(Debug)]
struct State {
    segments: VecDeque<Segment>,
    released: Released,
    /// Every sequence below this is written (readers may read it).
    written: u64,
    closed: bool,
}

struct Inner {
    config: Config,
    fs: Arc<dyn Fs>,
    budget: Arc<Budget>,
    /// Stable for the life of the directory: with a sequence number it names
    /// a record uniquely, across restarts and replays.
    id: u64,
    /// This open's epoch (see `recover::EPOCH_SHIFT`).
    epoch: u64,
    state: Mutex<State>,
    /// Signalled when records are written (readers) or released (writer).
    changed: Condvar,
    counters: Counters,
    to_writer: crossbeam_channel::Sender<writer::Msg>,
    to_housekeeper: crossbeam_channel::Sender<writer::Chore>,
    /// Written since the last sync (`Fsync::Interval`).
    dirty: std::sync::atomic::AtomicBool,
    /// Syncs the active file through a second handle (the housekeeper's).
    syncer: Mutex<Option<fs::Syncer>>,
    /// A periodic sync failed: the writer must start a new file.
    retire: std::sync::atomic::AtomicBool,
    _lock: Box<dyn Send + Sync>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn segment_path(&self, first: u64) -> PathBuf {
        segment_path(&self.config.dir, first)
    }
}

pub(crate) fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("seg-{first:020}.log"))
}

/// A spool. Cloning shares it; the writer thread stops when the last clone
/// and every [`Reader`] are gone, or at [`Spool::close`].
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir`, recovering what is
    /// there: see [`Recovered`].
    pub fn open(fs: Arc<dyn Fs>, config: Config, budget: Arc<Budget>) -> Result<(Self, Recovered), Error> {
        recover::open(fs, config, budget)
    }

    /// The spool directory's identity, stable across restarts.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Appends `payloads` as consecutive records and resolves, once they are
    /// durable as [`Fsync`] promises, to their sequence numbers. Room is
    /// reserved before anything is buffered; a full spool refuses at once.
    pub fn append(&self, payloads: Vec<Vec<u8>>) -> impl Future<Output = Result<Range<u64>, Error>> + Send + 'static {
        let queued = self.queue(payloads);
        async move {
            match queued {
                Ok(reply) => reply.await.unwrap_or(Err(Error::Closed)),
                Err(error) => Err(error),
            }
        }
    }

    /// [`Spool::append`], waiting on this thread (for callers outside async).
    pub fn append_blocking(&self, payloads: Vec<Vec<u8>>) -> Result<Range<u64>, Error> {
        self.queue(payloads)?.blocking_recv().unwrap_or(Err(Error::Closed))
    }

    fn queue(
        &self,
        payloads: Vec<Vec<u8>>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Range<u64>, Error>>, Error> {
        let max = self.inner.config.max_record_bytes;
        if let Some(size) = payloads.iter().map(Vec::len).find(|&len| len > max as usize) {
            return Err(Error::TooLarge { size, max });
        }
        let bytes: u64 = payloads.iter().map(|p| p.len() as u64 + OVERHEAD).sum();
        self.reserve(bytes)?;
        let (reply, receive) = tokio::sync::oneshot::channel();
        let msg = writer::Msg::Append(writer::Append { payloads, bytes, reply });
        if self.inner.to_writer.send(msg).is_err() {
            self.inner.budget.give_back(bytes);
            return Err(Error::Closed);
        }
        Ok(receive)
    }

    fn reserve(&self, bytes: u64) -> Result<(), Error> {
        let inner = &self.inner;
        if inner.budget.try_reserve(bytes) {
            return Ok(());
        }
        if inner.config.on_full == OnFull::DropOldest {
            let mut state = inner.lock();
            let mut dropped = false;
            let reserved = loop {
                if inner.budget.try_reserve(bytes) {
                    break true;
                }
                let Some(oldest) = state.segments.iter_mut().find(|s| s.sealed && !s.dropped) else { break false };
                oldest.dropped = true;
                dropped = true;
                let (first, end, size) = (oldest.first, oldest.end, oldest.bytes);
                let lost = state.released.insert(first, end);
                inner.counters.dropped.fetch_add(lost, Ordering::Relaxed);
                inner.budget.give_back(size);
                tracing::warn!(records = lost, first, "spool full: dropped its oldest segment");
            };
            drop(state);
            if dropped {
                let _ = inner.to_housekeeper.send(writer::Chore::Wake);
            }
            if reserved {
                return Ok(());
            }
        }
        inner.counters.refused_full.fetch_add(1, Ordering::Relaxed);
        Err(Error::Full { max: inner.budget.max() })
    }

    /// Releases one record: it was delivered and may be deleted.
    pub fn release(&self, seq: u64) {
        self.release_range(seq..seq + 1);
    }

    pub fn release_range(&self, seqs: Range<u64>) {
        let inner = &self.inner;
        let mut state = inner.lock();
        let before = state.released.watermark();
        let fresh = state.released.insert(seqs.start, seqs.end);
        inner.counters.released.fetch_add(fresh, Ordering::Relaxed);
        let after = state.released.watermark();
        // Wake the writer only when a segment became deletable.
        let freed = state.segments.iter().any(|s| s.sealed && s.end > before && s.end <= after);
        drop(state);
        if freed {
            let _ = inner.to_housekeeper.send(writer::Chore::Wake);
        }
    }

    pub fn is_released(&self, seq: u64) -> bool {
        self.inner.lock().released.contains(seq)
    }

    /// A reader positioned at the oldest unreleased record.
    pub fn reader(&self) -> Reader {
        Reader::new(self.inner.clone())
    }

    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let c = &inner.counters;
        let state = inner.lock();
        let watermark = state.released.watermark();
        let pending = state.written - watermark - state.released.count_in(watermark, state.written);
        Stats {
            appended: c.appended.load(Ordering::Relaxed),
            appended_bytes: c.appended_bytes.load(Ordering::Relaxed),
            released: c.released.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            refused_full: c.refused_full.load(Ordering::Relaxed),
            corrupt: c.corrupt.load(Ordering::Relaxed),
            torn_bytes: c.torn_bytes.load(Ordering::Relaxed),
            io_errors: c.io_errors.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            pending,
            segments: state.segments.len() as u64,
            disk_bytes: state.segments.iter().filter(|s| !s.dropped).map(|s| s.bytes).sum(),
            watermark,
        }
    }

    /// Syncs what was written, persists the watermark and stops the writer;
    /// later appends fail with [`Error::Closed`]. Readers see what was
    /// written. Waits on this thread.
    pub fn close(&self) {
        let (done, wait) = crossbeam_channel::bounded(1);
        if self.inner.to_writer.send(writer::Msg::Close(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}
