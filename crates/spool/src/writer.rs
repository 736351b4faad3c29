//! The writer thread: it owns the active segment. It takes every append
//! queued while it was busy, writes them with one `write`, syncs once if
//! the policy says so, then answers them all: that is the group commit.
//! Between batches it persists the watermark and deletes released segments.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tokio::sync::oneshot;

use crate::recover::Ledger;
use crate::{AppendFile, Error, Fsync, Inner, Segment, frame};

pub(crate) enum Msg {
    Append(Append),
    /// Something was released or dropped: persist and delete what can go.
    Housekeep,
    Close(crossbeam_channel::Sender<()>),
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
    /// Written and not yet synced (`Fsync::Interval` and `Never`).
    unsynced: bool,
    /// When `Fsync::Interval` must sync what is unsynced.
    sync_due: Option<Instant>,
    persisted: u64,
}

pub(crate) fn start(inner: &Arc<Inner>, from_callers: Receiver<Msg>, next_seq: u64) -> Result<(), Error> {
    let (active_first, good_len, persisted) = {
        let state = inner.lock();
        let active = state.segments.back().filter(|s| s.bytes < inner.config.segment_bytes);
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
        sync_due: None,
        persisted,
    };
    if let Some(first) = active_first {
        let file = inner.fs.append(&inner.segment_path(first)).map_err(Error::io("opening the active segment"))?;
        writer.file = Some(file);
    } else {
        writer.roll(inner).map_err(Error::io("creating a segment"))?;
    }
    std::thread::Builder::new()
        .name("attache-spool".into())
        .spawn(move || writer.run(from_callers))
        .map_err(Error::io("starting the spool's writer thread"))?;
    Ok(())
}

impl Writer {
    fn run(mut self, from_callers: Receiver<Msg>) {
        let mut next_housekeeping = Instant::now() + HOUSEKEEPING;
        loop {
            let deadline = self.sync_due.map_or(next_housekeeping, |due| due.min(next_housekeeping));
            let wait = deadline.saturating_duration_since(Instant::now());
            let first = match from_callers.recv_timeout(wait) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish();
                    return;
                }
            };
            let Some(inner) = self.inner.upgrade() else { return };
            let mut batch = Vec::new();
            let mut housekeep = false;
            let mut close = None;
            let mut size = 0usize;
            let mut next = first;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append(append) => {
                        size += append.bytes as usize;
                        batch.push(append);
                    }
                    Msg::Housekeep => housekeep = true,
                    Msg::Close(done) => close = Some(done),
                }
                if size < MAX_BATCH && close.is_none() {
                    next = from_callers.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.write_batch(&inner, batch);
            }
            let now = Instant::now();
            if self.sync_due.is_some_and(|due| now >= due) {
                self.sync(&inner);
            }
            if housekeep || now >= next_housekeeping || close.is_some() {
                self.housekeep(&inner);
                next_housekeeping = now + HOUSEKEEPING;
            }
            if let Some(done) = close {
                self.sync(&inner);
                self.housekeep(&inner);
                inner.lock().closed = true;
                inner.changed.notify_all();
                let _ = done.send(());
                // Whatever is still queued is refused.
                drop(from_callers);
                return;
            }
        }
    }

    fn finish(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            self.sync(&inner);
            self.housekeep(&inner);
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
            if let Fsync::Interval(every) = inner.config.fsync {
                self.sync_due.get_or_insert_with(|| Instant::now() + every);
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
        let file = inner.fs.create(&path)?;
        inner.fs.sync_dir(&inner.config.dir)?;
        self.file = Some(file);
        self.good_len = 0;
        self.must_roll = false;
        self.unsynced = false;
        self.sync_due = None;
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

    fn sync(&mut self, inner: &Inner) {
        self.sync_due = None;
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

    /// Persists the watermark, then deletes the segments wholly below it.
    fn housekeep(&mut self, inner: &Inner) {
        let watermark = inner.lock().released.watermark();
        if watermark > self.persisted {
            if let Err(error) = Ledger::write(inner.fs.as_ref(), &inner.config.dir, inner.id, watermark) {
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
            inner.lock().segments.pop_front();
            deleted = true;
            if !doomed.dropped {
                inner.budget.give_back(doomed.bytes);
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
