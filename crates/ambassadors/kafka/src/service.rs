//! The Kafka module's calls: checking records, spooling them, and (for
//! ACK_DELIVERED) waiting for Kafka's acknowledgement.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attache_core::{Kind, Limits, Module, Stopping};
use attache_spool::{Budget, Fsync, OsFs, Spool};
use base64::Engine as _;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

use crate::Error;
use crate::config::{Config, FsyncMode, OnFull};
use crate::consume::{Committed, Event, FetchRequest, Lease, Position, Subscription};
use crate::metrics::{Metrics, SpoolCollector};
use crate::producer::Producer;
use crate::record::Record;
use futures::StreamExt as _;
use futures::stream::BoxStream;

/// When a produced record counts as acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ack {
    /// Durable in this host's spool.
    #[default]
    Spooled,
    /// Kafka acknowledged it.
    Delivered,
}

/// One record's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Produced {
    /// Its `attache-id` header.
    pub id: String,
    /// With [`Ack::Delivered`]: where Kafka put it.
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    /// With [`Ack::Delivered`]: why Kafka refused it.
    pub error: Option<(Kind, String)>,
}

type Delivered = Result<(i32, i64), Error>;

/// Bytes of refused records kept in `rejected.jsonl` before only counting.
const MAX_REJECTED_FILE: u64 = 64 << 20;

/// What the producer's threads and the calls share.
pub(crate) struct Shared {
    /// Spool lanes: 0 for `block` topics, 1 (if configured) for
    /// `drop_oldest` topics.
    pub lanes: Vec<Spool>,
    waiters: Mutex<HashMap<u64, oneshot::Sender<Delivered>>>,
    pub metrics: Metrics,
    /// Per lane: a delivery failed in a way that needs it read again.
    pub replay: Vec<AtomicBool>,
    rejected: Mutex<Option<std::fs::File>>,
    rejected_path: PathBuf,
    /// The producer's latest error since its last delivery, and when it
    /// was last logged.
    last_error: Mutex<Option<(String, std::time::Instant)>>,
}

/// How often a repeating producer error is logged.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(60);

impl Shared {
    /// Records a producer error; true if it should be logged now.
    pub(crate) fn note_error(&self, error: String) -> bool {
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        let log = last.as_ref().is_none_or(|(_, at)| now.duration_since(*at) >= ERROR_LOG_EVERY);
        let at = match (&*last, log) {
            (Some((_, at)), false) => *at,
            _ => now,
        };
        // "All brokers are down" follows the error that says why (refused,
        // authentication failed): keep that one.
        let error = match &*last {
            Some((why, _)) if error.contains("AllBrokersDown") => why.clone(),
            _ => error,
        };
        *last = Some((error, at));
        log
    }

    pub(crate) fn clear_error(&self) {
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some() {
            *last = None;
        }
    }

    fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(e, _)| e.clone())
    }

    pub(crate) fn complete(&self, ticket: u64, result: Delivered) {
        if ticket == 0 {
            return;
        }
        let waiter = self.waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(&ticket);
        if let Some(waiter) = waiter {
            let _ = waiter.send(result);
        }
    }

    /// Kafka will never take this record: keep it in `rejected.jsonl` (up
    /// to a bound), count it, tell a waiting caller, and release it.
    pub(crate) fn reject(&self, lane: usize, seq: u64, ticket: u64, kind: &Kind, why: &str, record: &Record) {
        let topic = &record.topic;
        tracing::error!(
            topic,
            seq,
            why,
            "kafka: a record was refused for good; it is kept in {}",
            self.rejected_path.display()
        );
        self.metrics.rejected.inc();
        let b64 = |b: &Option<Vec<u8>>| b.as_ref().map(|b| base64::engine::general_purpose::STANDARD.encode(b));
        let line = serde_json::json!({
            "id": record.id.clone().unwrap_or_else(|| format!("{:016x}-{seq}", self.lanes[lane].id())),
            "time_ms": now_ms(),
            "topic": topic,
            "error": why,
            "key_base64": b64(&record.key),
            "value_base64": b64(&record.value),
            "headers": record.headers.iter().map(|(k, v)| (k.clone(), b64(v))).collect::<Vec<_>>(),
            "partition": record.partition,
            "timestamp_ms": record.timestamp_ms,
        });
        let mut file = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            *file = std::fs::OpenOptions::new().create(true).append(true).open(&self.rejected_path).ok();
        }
        if let Some(f) = file.as_mut() {
            let full = f.metadata().map(|m| m.len() >= MAX_REJECTED_FILE).unwrap_or(true);
            if !full {
                let _ = writeln!(f, "{line}").and_then(|()| f.sync_data());
            }
        }
        drop(file);
        self.lanes[lane].release(seq);
        self.complete(ticket, Err(Error::Rejected { kind: *kind, message: why.to_owned() }));
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The Kafka module. Cloning shares it.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// Why the module cannot serve, when its spool could not be opened.
    broken: Option<String>,
    shared: Option<Arc<Shared>>,
    producer: Option<Arc<Producer>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    drop_lane: Option<usize>,
    next_ticket: AtomicU64,
    stopping: AtomicBool,
    dir: PathBuf,
    leases: crate::consume::Leases,
    /// Draining has begun: streams end (ProduceStream once what it took is
    /// answered).
    draining: tokio_util::sync::CancellationToken,
}

impl Service {
    /// Opens the spool (recovering what a previous run left) and, with
    /// brokers configured, starts delivering. Without brokers, a spool that
    /// cannot be opened leaves the module answering UNAVAILABLE with why;
    /// with brokers, it is an error.
    pub fn new(config: Config) -> Result<Self, String> {
        let dir = config.spool_dir();
        let (shared, drop_lane) = match open_lanes(&config, &dir) {
            Ok(opened) => opened,
            Err(why) if config.brokers.is_empty() => {
                tracing::warn!(why, "kafka: the module is unavailable (no brokers are configured either)");
                return Ok(Self::broken(config, dir, why));
            }
            Err(why) => return Err(why),
        };
        let producer = match config.brokers.is_empty() {
            true => None,
            false => Some(Producer::new(&config, shared.clone())?),
        };
        let mut threads = Vec::new();
        if let Some(producer) = &producer {
            for (lane, spool) in shared.lanes.iter().enumerate() {
                let (producer, spool) = (producer.clone(), spool.clone());
                let thread = std::thread::Builder::new()
                    .name(format!("attache-kafka-{lane}"))
                    .spawn(move || producer.feed(lane, spool))
                    .map_err(|e| format!("cannot start the Kafka producer thread: {e}"))?;
                threads.push(thread);
            }
        }
        let inner = Inner {
            config,
            broken: None,
            shared: Some(shared),
            producer,
            threads: Mutex::new(threads),
            drop_lane,
            next_ticket: AtomicU64::new(rand::random::<u64>() >> 1 | 1),
            stopping: AtomicBool::new(false),
            dir,
            leases: Default::default(),
            draining: Default::default(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    fn broken(config: Config, dir: PathBuf, why: String) -> Self {
        let inner = Inner {
            config,
            broken: Some(why),
            shared: None,
            producer: None,
            threads: Mutex::new(Vec::new()),
            drop_lane: None,
            next_ticket: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
            dir,
            leases: Default::default(),
            draining: Default::default(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Checks a record as Produce would (its index 0 in the error).
    pub fn check(&self, record: &Record) -> Result<(), Error> {
        let config = &self.inner.config;
        record.check(0, config.max_record_bytes.as_u64() as usize, config.max_headers)
    }

    /// Most records one call may carry (`kafka.max_records_per_call`).
    pub fn max_records_per_call(&self) -> usize {
        self.inner.config.max_records_per_call
    }

    /// Whether records are being delivered (brokers are configured).
    pub fn delivers(&self) -> bool {
        self.inner.producer.is_some()
    }

    /// The spool directory in use.
    pub fn spool_dir(&self) -> &std::path::Path {
        &self.inner.dir
    }

    /// Spools `records` and answers as `ack` asks. Either all are spooled
    /// or none (unless the call mixes `block` and `drop_oldest` topics,
    /// which spool separately).
    pub async fn produce(&self, records: Vec<Record>, ack: Ack) -> Result<Vec<Produced>, Error> {
        self.submit(records, ack)?.wait().await
    }

    /// The part of [`Service::produce`] that runs at once: the records are
    /// checked and queued for the spool in call order (so records of one
    /// key keep their order across calls), and the returned [`Pending`]
    /// resolves once they are acknowledged.
    pub fn submit(&self, records: Vec<Record>, ack: Ack) -> Result<Pending, Error> {
        let inner = &self.inner;
        let shared = match (&inner.shared, &inner.broken) {
            (Some(shared), _) => shared.clone(),
            (None, why) => return Err(Error::Unavailable(why.clone().unwrap_or_default())),
        };
        if inner.stopping.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        let config = &inner.config;
        if records.is_empty() {
            return Err(Error::invalid("records", "no records to produce"));
        }
        if records.len() > config.max_records_per_call {
            return Err(Error::invalid(
                "records",
                format!(
                    "{} records, more than kafka.max_records_per_call ({})",
                    records.len(),
                    config.max_records_per_call
                ),
            ));
        }
        let max_bytes = config.max_record_bytes.as_u64() as usize;
        for (i, record) in records.iter().enumerate() {
            record.check(i, max_bytes, config.max_headers)?;
        }
        if ack == Ack::Delivered && inner.producer.is_none() {
            return Err(Error::Precondition(
                "ACK_DELIVERED needs brokers (kafka.brokers, ATTACHE_KAFKA_BROKERS); ACK_SPOOLED spools for later"
                    .into(),
            ));
        }
        let mut waiting = Waiting { shared: shared.clone(), tickets: Vec::new() };
        let mut receivers = Vec::new();
        if ack == Ack::Delivered {
            let mut waiters = shared.waiters.lock().unwrap_or_else(|p| p.into_inner());
            for _ in &records {
                let ticket = inner.next_ticket.fetch_add(1, Ordering::Relaxed);
                let (send, receive) = oneshot::channel();
                waiters.insert(ticket, send);
                waiting.tickets.push(ticket);
                receivers.push(receive);
            }
        }
        let now = now_ms();
        let lane_of = |record: &Record| match (config.on_full(&record.topic), inner.drop_lane) {
            (OnFull::DropOldest, Some(lane)) => lane,
            _ => 0,
        };
        let mut appends = Vec::new();
        for lane in 0..shared.lanes.len() {
            let members: Vec<usize> = (0..records.len()).filter(|&i| lane_of(&records[i]) == lane).collect();
            if members.is_empty() {
                continue;
            }
            let payloads =
                members.iter().map(|&i| records[i].encode(waiting.tickets.get(i).copied().unwrap_or(0), now)).collect();
            let spool = &shared.lanes[lane];
            let ids = members.iter().map(|&i| records[i].id.clone()).collect();
            appends.push((spool.id(), members, ids, Box::pin(spool.append(payloads)) as Append));
        }
        Ok(Pending { count: records.len(), appends, receivers, waiting })
    }
    /// Joins `subscription.group` for the life of the returned stream,
    /// which carries the group's records and assignment changes; `acks`
    /// acknowledges records (offsets are committed below the oldest
    /// unacknowledged one). The member leaves when either stream ends.
    pub fn consume(
        &self,
        subscription: Subscription,
        acks: BoxStream<'static, Result<Vec<Position>, Error>>,
    ) -> Result<BoxStream<'static, Result<Event, Error>>, Error> {
        if self.inner.stopping.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        let events = crate::consume::consume(&self.inner.config, subscription, acks)?;
        Ok(events.take_until(self.inner.draining.clone().cancelled_owned()).boxed())
    }

    /// Resolves when draining begins: a ProduceStream stops taking messages
    /// then, answers what it took, and ends.
    pub fn drained(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.inner.draining.clone().cancelled_owned()
    }

    /// Leases up to `max_records` of the group's records to the caller.
    pub async fn fetch(&self, request: FetchRequest) -> Result<Lease, Error> {
        if self.inner.stopping.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        self.inner.leases.fetch(&self.inner.config, request).await
    }

    /// Acknowledges `acked` (or `all`) of a lease and ends it; the lease's
    /// other records are delivered again.
    pub fn commit(&self, lease: &str, acked: &[Position], all: bool) -> Result<Committed, Error> {
        self.inner.leases.commit(&self.inner.config, lease, acked, all)
    }

    /// What the status page says: spool-only, or how much is waiting.
    pub fn note(&self) -> Option<String> {
        let inner = &self.inner;
        if let Some(why) = &inner.broken {
            return Some(format!("unavailable: {why}"));
        }
        let pending: u64 = inner.shared.as_ref()?.lanes.iter().map(|s| s.stats().pending).sum();
        match inner.producer {
            None => Some(format!(
                "spool only: no brokers configured (kafka.brokers, ATTACHE_KAFKA_BROKERS); {pending} records spooled, nothing is being delivered"
            )),
            Some(_) => match inner.shared.as_ref()?.last_error() {
                Some(error) => {
                    Some(format!("{pending} records spooled and not yet acknowledged by Kafka; latest error: {error}"))
                }
                None => Some(format!("{pending} records spooled and not yet acknowledged by Kafka")),
            },
        }
    }

    /// Raises a fatal error in the producer (librdkafka's test hook), which
    /// then is replaced and every unreleased record sent again (tests).
    #[doc(hidden)]
    pub fn inject_fatal_error(&self) {
        if let Some(producer) = &self.inner.producer {
            producer.inject_fatal();
        }
    }

    /// Spool counters of every lane, summed.
    pub fn spool_stats(&self) -> attache_spool::Stats {
        let mut total = attache_spool::Stats::default();
        for spool in self.inner.shared.iter().flat_map(|s| &s.lanes) {
            let s = spool.stats();
            total.appended += s.appended;
            total.released += s.released;
            total.dropped += s.dropped;
            total.pending += s.pending;
            total.corrupt += s.corrupt;
            total.io_errors += s.io_errors;
            total.syncs += s.syncs;
            total.disk_bytes += s.disk_bytes;
            total.segments += s.segments;
            total.refused_full += s.refused_full;
            total.torn_bytes += s.torn_bytes;
        }
        total
    }

    async fn stop(inner: Arc<Inner>) {
        inner.stopping.store(true, Ordering::Release);
        // Shared Fetch consumers commit what was acknowledged and leave.
        inner.leases.clear();
        let Some(shared) = inner.shared.clone() else { return };
        if let Some(producer) = inner.producer.clone() {
            // Keep delivering until the spool is empty or the drain time is up.
            let deadline = tokio::time::Instant::now() + inner.config.drain_timeout;
            while tokio::time::Instant::now() < deadline && shared.lanes.iter().any(|s| s.stats().pending > 0) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            producer.stopping.store(true, Ordering::Release);
        }
        let threads: Vec<_> = std::mem::take(&mut *inner.threads.lock().unwrap_or_else(|p| p.into_inner()));
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
            if let Some(producer) = &inner.producer {
                producer.flush(Duration::from_millis(500));
            }
            for spool in &shared.lanes {
                spool.close();
            }
            let pending: u64 = shared.lanes.iter().map(|s| s.stats().pending).sum();
            if pending > 0 {
                tracing::info!(pending, "kafka: records stay spooled for the next start");
            }
        })
        .await;
    }
}

type Append = std::pin::Pin<Box<dyn Future<Output = Result<std::ops::Range<u64>, attache_spool::Error>> + Send>>;

/// One lane's part of a call: the spool's id, the records' indexes and
/// explicit ids, the append.
type LaneAppend = (u64, Vec<usize>, Vec<Option<String>>, Append);

/// Records queued for the spool; resolves once they are acknowledged.
pub struct Pending {
    count: usize,
    appends: Vec<LaneAppend>,
    receivers: Vec<oneshot::Receiver<Delivered>>,
    waiting: Waiting,
}

impl Pending {
    pub async fn wait(self) -> Result<Vec<Produced>, Error> {
        let Pending { count, appends, receivers, waiting } = self;
        let mut ids = vec![String::new(); count];
        let mut failed = None;
        for (spool_id, members, explicit, append) in appends {
            // Every lane's append is awaited, so an error in one does not
            // hide that another spooled.
            match append.await {
                Ok(seqs) => {
                    waiting.shared.metrics.spooled.inc_by(members.len() as u64);
                    for ((&i, seq), explicit) in members.iter().zip(seqs).zip(explicit) {
                        ids[i] = explicit.unwrap_or_else(|| format!("{spool_id:016x}-{seq}"));
                    }
                }
                Err(error) => failed = failed.or(Some(Error::from(error))),
            }
        }
        if let Some(error) = failed {
            return Err(error);
        }
        let mut out = Vec::with_capacity(count);
        let mut receivers = receivers.into_iter();
        for id in ids {
            let mut produced = Produced { id, partition: None, offset: None, error: None };
            if let Some(receive) = receivers.next() {
                match receive.await {
                    Ok(Ok((partition, offset))) => {
                        (produced.partition, produced.offset) = (Some(partition), Some(offset))
                    }
                    Ok(Err(error)) => produced.error = Some((error.kind(), error.to_string())),
                    Err(_) => {
                        produced.error = Some((
                            Kind::Unavailable,
                            "the sidecar stopped before Kafka acknowledged the record; it stays spooled".into(),
                        ))
                    }
                }
            }
            out.push(produced);
        }
        drop(waiting);
        Ok(out)
    }
}

/// Removes a call's delivery waiters when the call ends, however it ends.
struct Waiting {
    shared: Arc<Shared>,
    tickets: Vec<u64>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.tickets.is_empty() {
            return;
        }
        let mut waiters = self.shared.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for ticket in &self.tickets {
            waiters.remove(ticket);
        }
    }
}

fn open_lanes(config: &Config, dir: &std::path::Path) -> Result<(Arc<Shared>, Option<usize>), String> {
    let fsync = match config.spool.fsync {
        FsyncMode::Always => Fsync::Always,
        FsyncMode::Interval => Fsync::Interval(config.spool.fsync_interval),
        FsyncMode::Never => Fsync::Never,
    };
    let budget = Budget::new(config.spool.max_bytes.as_u64());
    let open = |name: &str, on_full| {
        let spool_config = attache_spool::Config {
            dir: dir.join(name),
            segment_bytes: config.spool.segment_bytes.as_u64(),
            // Room for the spool's own encoding around the record.
            max_record_bytes: (config.max_record_bytes.as_u64() + 64 * 1024) as u32,
            fsync,
            on_full,
        };
        let (spool, found) = Spool::open(Arc::new(OsFs), spool_config, budget.clone())
            .map_err(|e| format!("cannot open the Kafka spool in {}: {e}", dir.join(name).display()))?;
        if found.pending > 0 || found.corrupt > 0 || found.torn_bytes > 0 {
            tracing::info!(
                lane = name,
                pending = found.pending,
                corrupt = found.corrupt,
                torn_bytes = found.torn_bytes,
                "kafka: recovered the spool; undelivered records will be sent"
            );
        }
        Ok::<_, String>(spool)
    };
    let mut lanes = vec![open("block", attache_spool::OnFull::Block)?];
    let mut drop_lane = None;
    if config.topics.values().any(|t| t.on_full == OnFull::DropOldest) {
        lanes.push(open("drop_oldest", attache_spool::OnFull::DropOldest)?);
        drop_lane = Some(1);
    }
    let shared = Shared {
        lanes,
        waiters: Mutex::new(HashMap::new()),
        metrics: Metrics::default(),
        replay: (0..2).map(|_| AtomicBool::new(false)).collect(),
        rejected: Mutex::new(None),
        rejected_path: dir.join("rejected.jsonl"),
        last_error: Mutex::new(None),
    };
    Ok((Arc::new(shared), drop_lane))
}

impl Module for Service {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn limits(&self) -> Limits {
        self.inner.config.limits
    }

    fn register_metrics(&self, registry: &mut Registry) {
        let Some(shared) = &self.inner.shared else { return };
        shared.metrics.register(registry);
        registry.register_collector(Box::new(SpoolCollector { service: self.clone() }));
    }

    fn note(&self) -> Option<String> {
        Service::note(self)
    }

    fn begin_drain(&self) {
        self.inner.draining.cancel();
    }

    fn shutdown(&self) -> Stopping {
        Box::pin(Self::stop(self.inner.clone()))
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("kafka::Service").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}
