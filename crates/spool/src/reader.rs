//! Reading the spool back, in sequence order, from the files (the page
//! cache makes this cheap; a spool holding gigabytes while its consumer is
//! away would not fit in memory anyway). Released records are skipped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::frame::{self, Decoded};
use crate::{Error, Inner, ReadFile, Segment};

/// A spooled record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

struct Position {
    first: u64,
    file: Box<dyn ReadFile>,
    offset: u64,
    /// No record before `offset` has a sequence at or above this.
    seq: u64,
}

pub struct Reader {
    inner: Arc<Inner>,
    cursor: u64,
    at: Option<Position>,
    buf: Vec<u8>,
}

impl Reader {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        let cursor = inner.lock().released.watermark();
        Self { inner, cursor, at: None, buf: Vec::new() }
    }

    /// The next sequence this reader will look at.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Goes back to the oldest unreleased record: after a consumer lost what
    /// it had been handed (a producer that had to be replaced), everything
    /// unreleased is read again.
    pub fn rewind(&mut self) {
        self.cursor = self.inner.lock().released.watermark();
    }

    /// Up to `max_records` (and about `max_bytes`) unreleased records from
    /// the cursor on, waiting up to `wait` for the first; empty if none came
    /// or the spool closed. Blocks this thread.
    pub fn next_batch(&mut self, max_records: usize, max_bytes: usize, wait: Duration) -> Result<Vec<Record>, Error> {
        let deadline = Instant::now() + wait;
        let mut records = Vec::new();
        let mut bytes = 0usize;
        loop {
            let segment = {
                let mut state = self.inner.lock();
                loop {
                    self.cursor = self.cursor.max(state.released.watermark());
                    if self.cursor < state.written || !records.is_empty() || state.closed {
                        break;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(records);
                    }
                    state = self
                        .inner
                        .changed
                        .wait_timeout(state, left)
                        .map(|(s, _)| s)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                if self.cursor >= state.written {
                    break;
                }
                let segments = &state.segments;
                let mut index = segments.partition_point(|s| s.first <= self.cursor).saturating_sub(1);
                // Past the end of a sealed segment (where an epoch began
                // there is a gap): on to the next one.
                while let (Some(s), Some(next)) = (segments.get(index), segments.get(index + 1)) {
                    if !(s.sealed && self.cursor >= s.end) {
                        break;
                    }
                    self.cursor = self.cursor.max(next.first);
                    index += 1;
                }
                if self.cursor >= state.written {
                    if records.is_empty() && !state.closed {
                        continue;
                    }
                    break;
                }
                match segments.get(index) {
                    Some(s) => s.clone(),
                    None => break,
                }
            };
            let more = self.read_segment(&segment, &mut records, &mut bytes, max_records, max_bytes)?;
            if records.len() >= max_records || bytes >= max_bytes || (!more && !records.is_empty()) {
                break;
            }
            if !more && Instant::now() >= deadline {
                return Ok(records);
            }
        }
        let state = self.inner.lock();
        records.retain(|r| !state.released.contains(r.seq));
        Ok(records)
    }

    /// Reads frames of `segment` from the cursor on; false once nothing more
    /// can be read now.
    fn read_segment(
        &mut self,
        segment: &Segment,
        records: &mut Vec<Record>,
        bytes: &mut usize,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<bool, Error> {
        let inner = self.inner.clone();
        let max_len = inner.config.max_record_bytes as usize;
        if self.at.as_ref().is_none_or(|at| at.first != segment.first || at.seq > self.cursor) {
            let file =
                inner.fs.open_read(&inner.segment_path(segment.first)).map_err(Error::io("opening a segment"))?;
            self.at = Some(Position { first: segment.first, file, offset: 0, seq: segment.first });
        }
        let at = self.at.as_mut().expect("positioned");
        let chunk = (256 << 10).max(max_len + frame::OVERHEAD as usize);
        while at.offset < segment.bytes && records.len() < max_records && *bytes < max_bytes {
            if let Some(skip) = segment.skips.iter().find(|s| s.contains(&at.offset)) {
                at.offset = skip.end;
                continue;
            }
            let len = chunk.min((segment.bytes - at.offset) as usize);
            self.buf.resize(len, 0);
            let mut filled = 0;
            while filled < len {
                match at.file.read_at(&mut self.buf[filled..], at.offset + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::io("reading a segment")(e)),
                }
            }
            let buf = &self.buf[..filled];
            let mut pos = 0usize;
            let mut damaged = false;
            while pos < buf.len() && records.len() < max_records && *bytes < max_bytes {
                match frame::decode(buf, pos, max_len) {
                    Decoded::Frame { seq, payload, next } => {
                        if seq >= self.cursor {
                            *bytes += payload.len();
                            records.push(Record { seq, payload: buf[payload].to_vec() });
                            self.cursor = seq + 1;
                        }
                        at.seq = seq + 1;
                        pos = next;
                    }
                    Decoded::Incomplete if pos > 0 => break,
                    _ => {
                        damaged = true;
                        break;
                    }
                }
            }
            at.offset += pos as u64;
            if damaged && !segment.skips.iter().any(|s| s.start == at.offset) {
                // Damage that appeared after recovery: what is left of this
                // segment cannot be trusted. Count it and move on.
                let lost = inner.lock().released.insert(self.cursor, segment.end);
                inner.counters.corrupt.fetch_add(lost, Ordering::Relaxed);
                tracing::error!(
                    segment = segment.first,
                    offset = at.offset,
                    records = lost,
                    "spool: a segment was damaged after it was written"
                );
                at.offset = segment.bytes;
                self.cursor = self.cursor.max(segment.end);
            }
            if filled < len {
                break;
            }
        }
        if at.offset >= segment.bytes && segment.sealed {
            // On to the next segment.
            self.cursor = self.cursor.max(segment.end);
            return Ok(true);
        }
        Ok(records.len() < max_records && *bytes < max_bytes && at.offset < segment.bytes)
    }
}
