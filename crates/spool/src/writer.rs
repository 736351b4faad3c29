//! The writer thread: it owns the active segment. It takes every append
//! queued while it was busy, writes them with one `write`, syncs once if
//! the policy says so, then answers them all: that is the group commit.
//! A housekeeper thread beside it does what must not hold appends up: the
//! periodic sync of `Fsync::Interval` (through a second handle on the
//! active file), persisting the watermark and deleting released segments.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tokio::sync::oneshot;

use crate::recover::Ledger;
use crate::{AppendFile, Error, Fsync, Inner, Segment, frame};

pub(crate) enum Msg {
    Append(Append),
    Close(crossbeam_channel::Sender<()>),
}

/// For the housekeeper.
pub(crate) enum Chore {
    /// Something was released or dropped: persist and delete what can go.
    Wake,
    /// Do a last round, then stop.
    Stop(crossbeam_channel::Sender<()>),
}

pub(crate) struct Append {
    pub payloads: Vec<Vec<u8>>,
    /// Reserved in the budget for these payloads.
    pub bytes: u64,
    pub reply: oneshot::Sender<Result<Range<u64>, Error>>,
}

/// At most this much goes into one write (more waits for the next).
const MAX_BATCH: usize = 4 << 20;
const HOUSEKEEPING: Duration = Duration::from_millis(100);

struct Writer {
    inner: std::sync::Weak<Inner>,
    file: Option<Box<dyn AppendFile>>,
    next_seq: u64,
    /// Bytes in the active segment that are good; after a failed write the
    /// file may hold more, which must be cut before anything follows.
    good_len: u64,
    dirty_tail: bool,
    /// A sync failed: the active file's state is unknown, start a new one.
    must_roll: bool,
    /// Written and not yet synced (`Fsync::Never`: until the next roll).
    unsynced: bool,
}

pub(crate) fn start(
    inner: &Arc<Inner>,
    from_callers: Receiver<Msg>,
    chores: Receiver<Chore>,
    next_seq: u64,
) -> Result<(), Error> {
    let (active_first, good_len, persisted) = {
        let state = inner.lock();
        // A new epoch starts in a segment of its own.
        let active = state.segments.back().filter(|s| s.bytes < inner.config.segment_bytes && s.end == next_seq);
        (active.map(|s| s.first), active.map_or(0, |s| s.bytes), state.released.watermark())
    };
    let mut writer = Writer {
        inner: Arc::downgrade(inner),
        file: None,
        next_seq,
        good_len,
        dirty_tail: false,
        must_roll: active_first.is_none(),
        unsynced: false,
    };
    if let Some(first) = active_first {
        let file = inner.fs.append(&inner.segment_path(first)).map_err(Error::io("opening the active segment"))?;
        *inner.syncer.lock().unwrap_or_else(|p| p.into_inner()) = file.syncer().ok();
        writer.file = Some(file);
    } else {
        writer.roll(inner).map_err(Error::io("creating a segment"))?;
    }
    let tick = match inner.config.fsync {
        Fsync::Interval(every) => every.min(HOUSEKEEPING),
        _ => HOUSEKEEPING,
    };
    let housekeeper = Housekeeper { inner: Arc::downgrade(inner), persisted };
    std::thread::Builder::new()
        .name("attache-spool-hk".into())
        .spawn(move || housekeeper.run(chores, tick))
        .map_err(Error::io("starting the spool's housekeeping thread"))?;
    std::thread::Builder::new()
        .name("attache-spool".into())
        .spawn(move || writer.run(from_callers))
        .map_err(Error::io("starting the spool's writer thread"))?;
    Ok(())
}

struct Housekeeper {
    inner: std::sync::Weak<Inner>,
    persisted: u64,
}

impl Housekeeper {
    fn run(mut self, chores: Receiver<Chore>, tick: Duration) {
        loop {
            let chore = chores.recv_timeout(tick);
            let Some(inner) = self.inner.upgrade() else { return };
            if inner.dirty.swap(false, Ordering::AcqRel) {
                sync_active(&inner);
            }
            self.housekeep(&inner);
            drop(inner);
            match chore {
                Ok(Chore::Stop(done)) => {
                    let _ = done.send(());
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => return,
                _ => {}
            }
        }
    }

    /// Persists the watermark, then deletes the segments wholly below it.
    fn housekeep(&mut self, inner: &Inner) {
        let watermark = inner.lock().released.watermark();
        if watermark > self.persisted {
            if let Err(error) = Ledger::write(inner.fs.as_ref(), &inner.config.dir, inner.id, inner.epoch, watermark) {
                inner.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "spool: persisting the watermark failed; released records may be delivered again");
                return;
            }
            self.persisted = watermark;
        }
        let mut deleted = false;
        loop {
            let doomed = {
                let state = inner.lock();
                match state.segments.front() {
                    Some(s) if s.sealed && s.end <= self.persisted => s.clone(),
                    _ => break,
                }
            };
            match inner.fs.remove(&inner.segment_path(doomed.first)) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    inner.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%error, "spool: deleting a delivered segment failed");
                    return;
                }
                _ => {}
            }
            // The segment as it is now: a full spool may have dropped it
            // (and given its bytes back) since it was looked at.
            let popped = inner.lock().segments.pop_front();
            deleted = true;
            if let Some(segment) = popped.filter(|s| !s.dropped) {
                inner.budget.give_back(segment.bytes);
            }
        }
        if !deleted {
            return;
        }
        if let Err(error) = inner.fs.sync_dir(&inner.config.dir) {
            inner.counters.io_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, "spool: syncing the directory failed");
        }
    }
}

/// The periodic sync of `Fsync::Interval`, through the active file's second
/// handle, so appends do not wait for it.
fn sync_active(inner: &Inner) {
    let mut syncer = inner.syncer.lock().unwrap_or_else(|p| p.into_inner());
    let Some(sync) = syncer.as_mut() else { return };
    inner.counters.syncs.fetch_add(1, Ordering::Relaxed);
    if let Err(error) = sync() {
        inner.counters.io_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%error, "spool: a periodic sync failed; acknowledged records may not survive a power cut");
        // What the kernel kept is unknown: the writer starts a new file.
        inner.retire.store(true, Ordering::Release);
    }
}

impl Writer {
    fn run(mut self, from_callers: Receiver<Msg>) {
        loop {
            let first = match from_callers.recv() {
                Ok(msg) => msg,
                Err(_) => {
                    self.finish();
                    return;
                }
            };
            let Some(inner) = self.inner.upgrade() else { return };
            let mut batch = Vec::new();
            let mut close = None;
            let mut size = 0usize;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append(append) => {
                        size += append.bytes as usize;
                        batch.push(append);
                    }
                    Msg::Close(done) => close = Some(done),
                }
                if size < MAX_BATCH && close.is_none() {
                    next = from_callers.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.write_batch(&inner, batch);
            }
            if let Some(done) = close {
                self.sync(&inner);
                let (stopped, wait) = crossbeam_channel::bounded(1);
                if inner.to_housekeeper.send(Chore::Stop(stopped)).is_ok() {
                    let _ = wait.recv();
                }
                inner.lock().closed = true;
                inner.changed.notify_all();
                // Whatever is still queued is refused; the spool (and its
                // directory lock) may go before the closer hears back.
                drop(from_callers);
                drop(inner);
                let _ = done.send(());
                return;
            }
        }
    }

    fn finish(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            self.sync(&inner);
        }
    }

    fn write_batch(&mut self, inner: &Inner, batch: Vec<Append>) {
        let result = self.try_write(inner, &batch);
        let counters = &inner.counters;
        match result {
            Ok(()) => {
                for append in batch {
                    let count = append.payloads.len() as u64;
                    let first = self.next_seq;
                    self.next_seq += count;
                    counters.appended.fetch_add(count, Ordering::Relaxed);
                    counters.appended_bytes.fetch_add(append.bytes, Ordering::Relaxed);
                    let _ = append.reply.send(Ok(first..first + count));
                }
            }
            Err((during, error)) => {
                counters.io_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, during, "spool: an append failed; its records were not spooled");
                for append in batch {
                    inner.budget.give_back(append.bytes);
                    let source = match error.raw_os_error() {
                        Some(code) => std::io::Error::from_raw_os_error(code),
                        None => std::io::Error::new(error.kind(), error.to_string()),
                    };
                    let _ = append.reply.send(Err(Error::Io { during, source }));
                }
            }
        }
    }

    /// Writes (and with `Fsync::Always` syncs) the batch as the next
    /// records; on failure leaves nothing of it for readers or recovery to
    /// mistake for spooled, as far as the disk lets it.
    fn try_write(&mut self, inner: &Inner, batch: &[Append]) -> Result<(), (&'static str, std::io::Error)> {
        if self.dirty_tail {
            self.cut_tail(inner).map_err(|e| ("cutting a failed write", e))?;
        }
        if inner.retire.swap(false, Ordering::AcqRel) {
            self.must_roll = true;
        }
        let size: u64 = batch.iter().map(|a| a.bytes).sum();
        if self.must_roll || (self.good_len > 0 && self.good_len + size > inner.config.segment_bytes) {
            self.roll(inner).map_err(|e| ("starting a segment", e))?;
        }
        let mut buf = Vec::with_capacity(size as usize);
        let mut seq = self.next_seq;
        for payload in batch.iter().flat_map(|a| &a.payloads) {
            frame::encode(&mut buf, seq, payload);
            seq += 1;
        }
        let file = self.file.as_mut().expect("an active segment");
        let mut written = 0;
        while written < buf.len() {
            match file.write(&buf[written..]) {
                Ok(0) => {
                    self.dirty_tail = true;
                    return Err(("writing", std::io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.dirty_tail = true;
                    let _ = self.cut_tail(inner);
                    return Err(("writing", e));
                }
            }
        }
        if inner.config.fsync == Fsync::Always {
            inner.counters.syncs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = file.sync_data() {
                // What the kernel kept of the write is unknown: cut it, and
                // write nothing more to this file.
                self.dirty_tail = true;
                let _ = self.cut_tail(inner);
                self.must_roll = true;
                return Err(("syncing", e));
            }
        } else {
            self.unsynced = true;
            if matches!(inner.config.fsync, Fsync::Interval(_)) {
                inner.dirty.store(true, Ordering::Release);
            }
        }
        self.good_len += buf.len() as u64;
        let mut state = inner.lock();
        let active = state.segments.back_mut().expect("an active segment");
        active.bytes = self.good_len;
        active.end = seq;
        state.written = seq;
        drop(state);
        inner.changed.notify_all();
        Ok(())
    }

    fn cut_tail(&mut self, inner: &Inner) -> std::io::Result<()> {
        let first = inner.lock().segments.back().expect("an active segment").first;
        inner.fs.truncate(&inner.segment_path(first), self.good_len)?;
        // The append handle writes at the end of the file, which is now
        // good_len again.
        self.dirty_tail = false;
        Ok(())
    }

    /// Seals the active segment (synced whatever the policy) and starts the
    /// next at `next_seq`.
    fn roll(&mut self, inner: &Inner) -> std::io::Result<()> {
        if let Some(file) = self.file.as_mut().filter(|_| !self.must_roll) {
            file.sync_data()?;
            inner.counters.syncs.fetch_add(1, Ordering::Relaxed);
        }
        let path = inner.segment_path(self.next_seq);
        // A segment that failed before holding anything (its sync failed, or
        // the directory's): start it over rather than name two alike.
        let empty = inner.lock().segments.back().is_some_and(|s| s.first == self.next_seq && s.bytes == 0);
        if empty {
            self.file = None;
            match inner.fs.remove(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            inner.lock().segments.pop_back();
        }
        let file = inner.fs.create(&path)?;
        inner.fs.sync_dir(&inner.config.dir)?;
        *inner.syncer.lock().unwrap_or_else(|p| p.into_inner()) = file.syncer().ok();
        self.file = Some(file);
        self.good_len = 0;
        self.must_roll = false;
        self.unsynced = false;
        let mut state = inner.lock();
        if let Some(active) = state.segments.back_mut() {
            active.sealed = true;
        }
        let first = self.next_seq;
        state.segments.push_back(Segment {
            first,
            end: first,
            bytes: 0,
            sealed: false,
            skips: Vec::new(),
            dropped: false,
        });
        Ok(())
    }

    /// Syncs the active file (at close: whatever the policy).
    fn sync(&mut self, inner: &Inner) {
        if !self.unsynced {
            return;
        }
        if let Some(file) = self.file.as_mut() {
            inner.counters.syncs.fetch_add(1, Ordering::Relaxed);
            match file.sync_data() {
                Ok(()) => self.unsynced = false,
                Err(error) => {
                    inner.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%error, "spool: a periodic sync failed; acknowledged records may not survive a power cut");
                    self.must_roll = true;
                    self.unsynced = false;
                }
            }
        }
    }
}
