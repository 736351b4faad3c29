//! Opening a spool: read the ledger, check every frame of every segment,
//! cut a torn tail, step over damage, and work out the next sequence from
//! the data itself (never from the ledger alone).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use crate::frame::{self, Decoded};
use crate::{Budget, Config, Counters, Error, Fs, Inner, Released, Segment, Spool, State, segment_path, writer};

const LEDGER: &str = "ledger";

/// What recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Records spooled and not released: they will be read again.
    pub pending: u64,
    /// Records lost to damage in sealed data (counted, logged, skipped).
    pub corrupt: u64,
    /// Bytes cut from the end of the last segment (a write torn by a crash).
    pub torn_bytes: u64,
    pub next_seq: u64,
}

/// Bits of a sequence number below its epoch: each open of a spool starts
/// a new epoch, so a sequence number is never given twice, even to a
/// record that a power cut took before it was synced but after a reader
/// had already sent it on.
pub(crate) const EPOCH_SHIFT: u32 = 40;

pub(crate) struct Ledger {
    pub id: u64,
    pub epoch: u64,
    pub watermark: u64,
}

impl Ledger {
    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        (lines.next()? == "attache-spool 1").then_some(())?;
        let id = u64::from_str_radix(lines.next()?.strip_prefix("id ")?, 16).ok()?;
        let watermark = lines.next()?.strip_prefix("watermark ")?.parse().ok()?;
        let epoch = lines.next().and_then(|l| l.strip_prefix("epoch ")?.parse().ok()).unwrap_or(0);
        Some(Self { id, epoch, watermark })
    }

    pub(crate) fn write(fs: &dyn Fs, dir: &Path, id: u64, epoch: u64, watermark: u64) -> std::io::Result<()> {
        let text = format!("attache-spool 1\nid {id:016x}\nwatermark {watermark}\nepoch {epoch}\n");
        fs.replace(&dir.join(LEDGER), text.as_bytes())
    }
}

pub(crate) fn open(fs: Arc<dyn Fs>, mut config: Config, budget: Arc<Budget>) -> Result<(Spool, Recovered), Error> {
    let dir = config.dir.clone();
    // A record never spans segments, and one must fit a segment.
    config.segment_bytes = config.segment_bytes.max(config.max_record_bytes as u64 + frame::OVERHEAD);
    fs.create_dir_all(&dir).map_err(Error::io("creating the spool directory"))?;
    let lock = fs.lock(&dir).map_err(Error::io("locking the spool directory"))?;
    let names = fs.list(&dir).map_err(Error::io("listing the spool directory"))?;
    let ledger = match fs.read_all(&dir.join(LEDGER)) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("reading the ledger")(e)),
    };
    let mut firsts: Vec<u64> =
        names.iter().filter_map(|n| n.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()).collect();
    firsts.sort_unstable();
    for name in names.iter().filter(|n| n.ends_with(".tmp")) {
        let _ = fs.remove(&dir.join(name));
    }
    // A new spool starts at epoch 0; every later open, one up.
    let (id, watermark, epoch) = match ledger.as_deref().map(Ledger::parse) {
        Some(Some(l)) => (l.id, l.watermark, l.epoch + 1),
        Some(None) => {
            tracing::error!(dir = %dir.display(), "the spool ledger is unreadable; replaying every segment");
            (rand::random(), 0, 1 + firsts.last().map_or(0, |f| f >> EPOCH_SHIFT))
        }
        None => (rand::random(), 0, firsts.last().map_or(0, |f| 1 + (f >> EPOCH_SHIFT))),
    };
    let counters = Counters::default();
    let mut found = Recovered::default();
    let mut segments = VecDeque::new();
    // Sequences lost to damage: never delivered, so released at once, or
    // the watermark would wait for them forever.
    let mut holes = Vec::new();
    let mut gaps = Vec::new();
    let max_len = config.max_record_bytes as usize;
    for (i, &first) in firsts.iter().enumerate() {
        let path = segment_path(&dir, first);
        let next_first = firsts.get(i + 1).copied();
        let last = next_first.is_none();
        if next_first.is_some_and(|next| next <= watermark) {
            // Wholly released: its deletion was interrupted.
            fs.remove(&path).map_err(Error::io("deleting a released segment"))?;
            continue;
        }
        let bytes = fs.read_all(&path).map_err(Error::io("reading a segment"))?;
        let mut segment = Segment { first, end: first, bytes: 0, sealed: !last, skips: Vec::new(), dropped: false };
        let (mut at, mut prev) = (0usize, None::<u64>);
        let mut tail_damaged = false;
        let mut valid_end = 0usize;
        while at < bytes.len() {
            match frame::decode(&bytes, at, max_len) {
                Decoded::Frame { seq, next, .. } if prev.is_none_or(|p| seq > p) && seq >= first => {
                    let expected = prev.map_or(first, |p| p + 1);
                    if seq > expected {
                        holes.push(expected..seq);
                    }
                    prev = Some(seq);
                    at = next;
                    valid_end = next;
                }
                _ => match frame::resync(&bytes, at, prev, max_len) {
                    Some(next) => {
                        tracing::error!(segment = %path.display(), from = at, to = next, "spool: skipping a damaged region");
                        segment.skips.push(at as u64..next as u64);
                        at = next;
                    }
                    None if last => {
                        found.torn_bytes += (bytes.len() - valid_end) as u64;
                        tracing::warn!(segment = %path.display(), bytes = bytes.len() - valid_end, "spool: cutting a torn tail");
                        fs.truncate(&path, valid_end as u64).map_err(Error::io("cutting a torn tail"))?;
                        break;
                    }
                    None => {
                        tracing::error!(segment = %path.display(), from = at, "spool: the rest of a sealed segment is damaged");
                        segment.skips.push(at as u64..bytes.len() as u64);
                        valid_end = bytes.len();
                        tail_damaged = true;
                        break;
                    }
                },
            }
        }
        // What a crashed process wrote and never synced is read (and sent
        // on) from now: make it durable first.
        fs.sync_file(&path).map_err(Error::io("syncing a recovered segment"))?;
        segment.bytes = if last { valid_end as u64 } else { bytes.len() as u64 };
        segment.end = prev.map_or(first, |p| p + 1);
        if let Some(next) = next_first.filter(|&next| next > segment.end) {
            // Between segments of one epoch there are no gaps: the damaged
            // end of this one held these (how many records is unknown: at
            // least one). Other gaps are where an epoch began.
            if tail_damaged {
                found.corrupt += 1;
            }
            gaps.push(segment.end..next);
            segment.end = next;
        }
        segments.push_back(segment);
    }
    let data_end = segments.back().map_or(0, |s: &Segment| s.end).max(watermark);
    let next_seq = data_end.max(epoch << EPOCH_SHIFT);
    let mut released = Released::new(watermark);
    released.insert(data_end, next_seq);
    for gap in gaps {
        released.insert(gap.start, gap.end);
    }
    if let Some(first) = segments.front().map(|s| s.first) {
        // Nothing below the oldest segment is pending (a lost ledger).
        released.insert(0, first);
    }
    for hole in holes {
        found.corrupt += released.insert(hole.start, hole.end);
    }
    let watermark = released.watermark();
    found.pending = next_seq - watermark - released.count_in(watermark, next_seq);
    found.next_seq = next_seq;
    counters.corrupt.store(found.corrupt, Ordering::Relaxed);
    counters.torn_bytes.store(found.torn_bytes, Ordering::Relaxed);
    budget.force(segments.iter().map(|s| s.bytes).sum());
    // The new epoch is on disk before any of its sequence numbers is given.
    Ledger::write(fs.as_ref(), &dir, id, epoch, released.watermark()).map_err(Error::io("writing the ledger"))?;
    let (to_writer, from_callers) = crossbeam_channel::unbounded();
    let (to_housekeeper, chores) = crossbeam_channel::unbounded();
    let state = State { segments, released, written: next_seq, closed: false };
    let inner = Arc::new(Inner {
        config,
        fs,
        budget,
        id,
        epoch,
        state: Mutex::new(state),
        changed: Condvar::new(),
        counters,
        to_writer,
        to_housekeeper,
        dirty: Default::default(),
        syncer: Mutex::new(None),
        retire: Default::default(),
        _lock: lock,
    });
    writer::start(&inner, from_callers, chores, next_seq)?;
    Ok((Spool { inner }, found))
}
