use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use crate::testing::{Crash, Fault, MemFs, Op};
use crate::{Budget, Config, Error, Fs, Fsync, OnFull, OsFs, Spool};

/// The first sequence number of a spool's second open.
const EPOCH: u64 = 1 << crate::recover::EPOCH_SHIFT;

fn config(dir: impl Into<PathBuf>, fsync: Fsync) -> Config {
    Config { dir: dir.into(), segment_bytes: 4096, max_record_bytes: 1024, fsync, on_full: OnFull::Block }
}

fn open(fs: &MemFs, fsync: Fsync) -> (Spool, crate::Recovered) {
    Spool::open(Arc::new(fs.clone()), config("/spool", fsync), Budget::new(1 << 20)).unwrap()
}

fn payloads(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
    range.map(|i| format!("record {i:05}").into_bytes()).collect()
}

/// Everything the reader hands out now, released as it goes.
fn drain(spool: &Spool) -> Vec<(u64, Vec<u8>)> {
    let mut reader = spool.reader();
    let mut out = Vec::new();
    loop {
        let batch = reader.next_batch(100, 1 << 20, Duration::ZERO).unwrap();
        if batch.is_empty() {
            return out;
        }
        for record in batch {
            spool.release(record.seq);
            out.push((record.seq, record.payload));
        }
    }
}

#[test]
fn records_come_back_in_order_across_segments_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn Fs> = Arc::new(OsFs);
    let (spool, found) = Spool::open(fs.clone(), config(dir.path(), Fsync::Always), Budget::new(1 << 20)).unwrap();
    assert_eq!(found.pending, 0);
    for chunk in 0..10 {
        assert_eq!(
            spool.append_blocking(payloads(chunk * 50..chunk * 50 + 50)).unwrap(),
            chunk as u64 * 50..chunk as u64 * 50 + 50
        );
    }
    assert!(spool.stats().segments > 3, "{:?}", spool.stats());
    let mut reader = spool.reader();
    let first = reader.next_batch(120, 1 << 20, Duration::ZERO).unwrap();
    assert_eq!(first.len(), 120);
    for record in &first {
        spool.release(record.seq);
    }
    let id = spool.id();
    spool.close();
    drop((spool, reader));
    let (spool, found) = Spool::open(fs, config(dir.path(), Fsync::Always), Budget::new(1 << 20)).unwrap();
    // The reopened spool gives sequence numbers from a new epoch.
    assert_eq!((spool.id(), found.pending, found.next_seq), (id, 380, EPOCH));
    let rest = drain(&spool);
    assert_eq!(rest.iter().map(|r| r.0).collect::<Vec<_>>(), (120..500).collect::<Vec<_>>());
    assert_eq!(spool.append_blocking(payloads(0..1)).unwrap(), EPOCH..EPOCH + 1);
    drain(&spool);
    assert_eq!(rest[0].1, b"record 00120");
    spool.close();
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("seg-"))
        .count();
    assert_eq!(segments, 1, "delivered segments are deleted; the active one stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_during_a_sync_share_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), Fsync::Always);
    config.segment_bytes = 64 << 20;
    let (spool, _) = Spool::open(Arc::new(OsFs), config, Budget::new(1 << 30)).unwrap();
    let appends: Vec<_> = (0..2000).map(|i| spool.append(payloads(i..i + 1))).collect();
    let results = futures_join(appends).await;
    let mut seqs: Vec<u64> = results.into_iter().map(|r| r.unwrap().start).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..2000).collect::<Vec<_>>());
    let stats = spool.stats();
    assert!(stats.syncs < 1000, "2000 appends took {} syncs", stats.syncs);
}

async fn futures_join<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(futures.len());
    for future in futures {
        out.push(future.await);
    }
    out
}

#[test]
fn a_torn_tail_is_cut_and_everything_acknowledged_survives_a_power_cut() {
    let fs = MemFs::new();
    let (spool, _) = open(&fs, Fsync::Always);
    spool.append_blocking(payloads(0..30)).unwrap();
    // Written but never synced: the sync fails, so the caller hears an error.
    fs.inject(Op::Sync, 1, Fault::Fail(std::io::ErrorKind::Other));
    assert!(matches!(spool.append_blocking(payloads(30..40)), Err(Error::Io { during: "syncing", .. })));
    spool.append_blocking(payloads(40..45)).unwrap();
    let fs = fs.crash(Crash::Power { torn: 7 });
    let (spool, found) = open(&fs, Fsync::Always);
    let got: Vec<Vec<u8>> = drain(&spool).into_iter().map(|r| r.1).collect();
    let want: Vec<Vec<u8>> = payloads(0..30).into_iter().chain(payloads(40..45)).collect();
    assert_eq!(got, want);
    assert_eq!(found.corrupt, 0);
}

#[test]
fn a_crash_mid_write_leaves_a_torn_tail_that_recovery_cuts() {
    let fs = MemFs::new();
    let (spool, _) = open(&fs, Fsync::Never);
    spool.append_blocking(payloads(0..10)).unwrap();
    let segment = fs.files("/spool".as_ref()).into_iter().find(|(p, _)| p.to_string_lossy().contains("seg-")).unwrap();
    fs.inject(Op::Truncate, 1, Fault::Fail(std::io::ErrorKind::Other));
    fs.inject(Op::Write, 1, Fault::Short(20));
    assert!(spool.append_blocking(payloads(10..12)).is_err());
    // The failed write could not be cut: the process dies with it on disk.
    let fs = fs.crash(Crash::Process);
    assert_eq!(fs.files("/spool".as_ref()).iter().find(|f| f.0 == segment.0).unwrap().1, segment.1 + 20);
    let (spool, found) = open(&fs, Fsync::Never);
    assert_eq!((found.torn_bytes, found.pending, found.next_seq), (20, 10, EPOCH));
    assert_eq!(drain(&spool).len(), 10);
    assert_eq!(spool.append_blocking(payloads(10..11)).unwrap(), EPOCH..EPOCH + 1);
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_loses_that_record_alone() {
    let fs = MemFs::new();
    let (spool, _) = open(&fs, Fsync::Always);
    for i in 0..20 {
        spool.append_blocking(payloads(i * 20..i * 20 + 20)).unwrap();
    }
    let files = fs.files("/spool".as_ref());
    let sealed = files.iter().find(|(p, _)| p.to_string_lossy().contains("seg-")).unwrap().0.clone();
    drop(spool);
    let fs = fs.crash(Crash::Process);
    // A bit in the payload of the 4th record (each frame is 16 + 12 bytes).
    fs.flip_bit(&sealed, (3 * 28 + 20) * 8 + 2);
    let (spool, found) = open(&fs, Fsync::Always);
    assert_eq!((found.corrupt, found.pending), (1, 399));
    let got = drain(&spool);
    assert_eq!(got.len(), 399);
    assert!(got.iter().all(|r| r.0 != 3));
    assert_eq!(spool.stats().corrupt, 1);
    assert_eq!(spool.stats().pending, 0, "the lost record does not hold the watermark back");
}

#[test]
fn a_damaged_length_does_not_cut_the_records_after_it() {
    let fs = MemFs::new();
    let (spool, _) = open(&fs, Fsync::Always);
    spool.append_blocking(payloads(0..10)).unwrap();
    let segment =
        fs.files("/spool".as_ref()).into_iter().find(|(p, _)| p.to_string_lossy().contains("seg-")).unwrap().0;
    drop(spool);
    let fs = fs.crash(Crash::Process);
    // The high bit of the 3rd record's length: it now claims to run far
    // past the end, like a torn tail would.
    fs.flip_bit(&segment, (2 * 28 + 3) * 8 + 4);
    let (spool, found) = open(&fs, Fsync::Always);
    assert_eq!((found.corrupt, found.torn_bytes), (1, 0));
    assert_eq!(drain(&spool).len(), 9);
}

#[test]
fn a_full_spool_refuses_at_once_and_room_comes_back_with_deliveries() {
    let fs = MemFs::new();
    let budget = Budget::new(2000);
    let (spool, _) = Spool::open(Arc::new(fs.clone()), config("/spool", Fsync::Never), budget.clone()).unwrap();
    spool.append_blocking(payloads(0..70)).unwrap(); // 70 * 28 = 1960 bytes
    assert!(matches!(spool.append_blocking(payloads(70..72)), Err(Error::Full { max: 2000 })));
    assert_eq!(spool.stats().refused_full, 1);
    let big = vec![vec![0u8; 1025]];
    assert!(matches!(spool.append_blocking(big), Err(Error::TooLarge { size: 1025, max: 1024 })));
    // Delivered records free room only once their segment goes.
    let mut config = config("/spool2", Fsync::Never);
    config.segment_bytes = 500;
    config.max_record_bytes = 64;
    let budget = Budget::new(2000);
    let (spool, _) = Spool::open(Arc::new(fs.clone()), config, budget.clone()).unwrap();
    for i in 0..7 {
        spool.append_blocking(payloads(i * 10..i * 10 + 10)).unwrap();
    }
    assert!(spool.append_blocking(payloads(0..2)).is_err());
    drain(&spool);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while budget.used() > 1000 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    spool.append_blocking(payloads(70..80)).unwrap();
}

#[test]
fn drop_oldest_drops_whole_sealed_segments_and_counts_them() {
    let fs = MemFs::new();
    let mut config = config("/spool", Fsync::Never);
    config.segment_bytes = 280; // 10 records
    config.max_record_bytes = 64;
    config.on_full = OnFull::DropOldest;
    let budget = Budget::new(900);
    let (spool, _) = Spool::open(Arc::new(fs.clone()), config, budget.clone()).unwrap();
    for i in 0..3 {
        spool.append_blocking(payloads(i * 10..i * 10 + 10)).unwrap();
    }
    spool.append_blocking(payloads(30..35)).unwrap();
    assert_eq!(spool.stats().dropped, 10);
    let got = drain(&spool);
    assert_eq!(got.first().unwrap().0, 10);
    assert_eq!(got.len(), 25);
    // Keep dropping as the spool refills: the budget stays what the disk
    // holds (an append reserves once), so it never jams full.
    for i in 0..30 {
        spool.append_blocking(payloads(100 + i * 10..110 + i * 10)).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while budget.used() != spool.stats().disk_bytes && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(budget.used(), spool.stats().disk_bytes);
    assert!(budget.used() <= 900);
}

#[test]
fn disk_full_is_an_error_to_the_caller_and_the_spool_goes_on_after() {
    let fs = MemFs::new();
    let (spool, _) = open(&fs, Fsync::Always);
    spool.append_blocking(payloads(0..10)).unwrap();
    let used: usize = fs.files("/spool".as_ref()).iter().map(|f| f.1).sum();
    fs.set_capacity(Some(used + 40));
    let error = spool.append_blocking(payloads(10..20)).unwrap_err();
    assert!(error.is_disk_full(), "{error}");
    assert_eq!(spool.stats().io_errors, 1);
    fs.set_capacity(None);
    assert_eq!(spool.append_blocking(payloads(10..12)).unwrap(), 10..12);
    let fs = fs.crash(Crash::Power { torn: 0 });
    let (spool, found) = open(&fs, Fsync::Always);
    assert_eq!(found.torn_bytes, 0);
    let got: Vec<_> = drain(&spool).into_iter().map(|r| r.1).collect();
    assert_eq!(got, payloads(0..12));
}

#[derive(Debug, Clone)]
enum Step {
    Append(u8),
    /// Read up to n records and release every other one of them, then
    /// the rest (deliveries reported out of order).
    Deliver(u8),
    /// Read up to n and lose them (handed to a producer that died).
    Lose(u8),
    Crash(Crash),
    Fail(Op),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u8..12).prop_map(Step::Append),
        3 => (1u8..20).prop_map(Step::Deliver),
        1 => (1u8..20).prop_map(Step::Lose),
        1 => prop_oneof![Just(Crash::Process), (0usize..40).prop_map(|torn| Crash::Power { torn })].prop_map(Step::Crash),
        1 => prop_oneof![Just(Op::Write), Just(Op::Sync), Just(Op::Create), Just(Op::Replace), Just(Op::Remove), Just(Op::Truncate)].prop_map(Step::Fail),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    /// For any appends, deliveries, crashes and failures: every record
    /// acknowledged is delivered at least once, first deliveries come in
    /// append order, and a sequence number never names two records.
    #[test]
    fn every_acknowledged_record_is_delivered_in_order(
        steps in proptest::collection::vec(step(), 1..60),
        interval in proptest::bool::ANY,
    ) {
        // With a periodic sync (done by the housekeeper, beside appends),
        // an acknowledged record survives a crash of the process; a power
        // cut is Fsync::Always's promise alone.
        let fsync = if interval { Fsync::Interval(Duration::from_millis(1)) } else { Fsync::Always };
        let mut fs = MemFs::new();
        let open = |fs: &MemFs| {
            let mut config = config("/spool", fsync);
            config.segment_bytes = 200;
            Spool::open(Arc::new(fs.clone()), config, Budget::new(1 << 20))
        };
        let (mut spool, _) = open(&fs).unwrap();
        let mut next = 0u32;
        let mut acked = Vec::new();
        let mut names: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut delivered = Vec::new();
        let mut reader = spool.reader();
        let check = |seq: u64, payload: &Vec<u8>, names: &mut BTreeMap<u64, Vec<u8>>| {
            let known = names.entry(seq).or_insert_with(|| payload.clone());
            assert_eq!(known, payload, "sequence {} named two records", seq);
        };
        for step in steps {
            match step {
                Step::Append(n) => {
                    let batch = payloads(next..next + n as u32);
                    next += n as u32;
                    if let Ok(seqs) = spool.append_blocking(batch.clone()) {
                        for (seq, payload) in seqs.zip(batch) {
                            check(seq, &payload, &mut names);
                            acked.push(payload);
                        }
                    }
                }
                Step::Deliver(n) | Step::Lose(n) => {
                    let Ok(batch) = reader.next_batch(n as usize, 1 << 20, Duration::ZERO) else { continue };
                    for record in &batch {
                        check(record.seq, &record.payload, &mut names);
                    }
                    if matches!(step, Step::Deliver(_)) {
                        // Handed on in order; reported back out of order.
                        delivered.extend(batch.iter().map(|r| r.payload.clone()));
                        let (odd, even): (Vec<_>, Vec<_>) = batch.iter().partition(|r| r.seq % 2 == 1);
                        for record in odd.into_iter().chain(even) {
                            spool.release(record.seq);
                        }
                    } else {
                        reader.rewind();
                    }
                }
                Step::Crash(crash) => {
                    drop(reader);
                    drop(spool);
                    fs = fs.crash(if interval { Crash::Process } else { crash });
                    (spool, _) = open(&fs).unwrap();
                    reader = spool.reader();
                }
                Step::Fail(op) => fs.inject(op, 1, Fault::Fail(std::io::ErrorKind::Other)),
            }
        }
        drop(reader);
        drop(spool);
        fs = fs.crash(if interval { Crash::Process } else { Crash::Power { torn: 0 } });
        let (spool, found) = open(&fs).unwrap();
        prop_assert_eq!(found.corrupt, 0);
        for (seq, payload) in drain(&spool) {
            check(seq, &payload, &mut names);
            delivered.push(payload);
        }
        let delivered_set: HashSet<&Vec<u8>> = delivered.iter().collect();
        for payload in &acked {
            prop_assert!(delivered_set.contains(payload), "{} was acknowledged and never delivered", String::from_utf8_lossy(payload));
        }
        let mut seen = HashSet::new();
        let firsts: Vec<&Vec<u8>> = delivered.iter().filter(|p| seen.insert(*p)).collect();
        prop_assert!(firsts.windows(2).all(|w| w[0] < w[1]), "first deliveries out of order");
    }
}

#[test]
fn one_process_holds_a_spool_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(Arc::new(OsFs), config(dir.path(), Fsync::Never), Budget::new(1 << 20)).unwrap();
    let again = Spool::open(Arc::new(OsFs), config(dir.path(), Fsync::Never), Budget::new(1 << 20));
    let error = again.err().expect("a second spool on the same directory is refused").to_string();
    assert!(error.contains("another process holds the spool"), "{error}");
    spool.close();
    drop(spool);
    Spool::open(Arc::new(OsFs), config(dir.path(), Fsync::Never), Budget::new(1 << 20)).unwrap();
}

#[test]
fn a_failed_sync_on_an_empty_segment_does_not_wedge_the_spool() {
    let fs = MemFs::new();
    let (spool, _) = open(&fs, Fsync::Always);
    // The very first append's sync fails: its segment held nothing before.
    fs.inject(Op::Sync, 1, Fault::Fail(std::io::ErrorKind::Other));
    assert!(spool.append_blocking(payloads(0..3)).is_err());
    assert_eq!(spool.append_blocking(payloads(3..5)).unwrap(), 0..2);
    let got: Vec<Vec<u8>> = drain(&spool).into_iter().map(|r| r.1).collect();
    assert_eq!(got, payloads(3..5));
}
