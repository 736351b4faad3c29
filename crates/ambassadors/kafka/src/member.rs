//! A consumer group member: one librdkafka consumer, polled by a task of
//! its own for as long as it lives (so rebalances are served even while its
//! records wait for acknowledgements), feeding a queue its callers take
//! records from. A Consume stream owns one member; Fetch callers of one
//! group share one.
//!
//! Offsets: every record received and not yet acknowledged is pending; a
//! partition's committed offset is its lowest pending offset (or one past
//! the last received), so nothing unacknowledged is ever committed. The
//! pending count is bounded by `max_unacked`: past it the member pauses its
//! partitions and holds what librdkafka had prefetched.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tokio::sync::Notify;

use crate::Error;
use crate::config::Config;

/// A record as a consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp_ms: i64,
}

/// Where a group without a committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    #[default]
    Earliest,
    Latest,
}

/// What a member tells its stream besides records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Assigned(Vec<(String, i32)>),
    Revoked(Vec<(String, i32)>),
}

#[derive(Default)]
struct Part {
    /// Received and not acknowledged (queued or handed out).
    pending: BTreeSet<i64>,
    /// One past the highest offset received.
    next: i64,
    /// The offset last committed.
    committed: i64,
}

impl Part {
    fn position(&self) -> i64 {
        self.pending.first().copied().unwrap_or(self.next)
    }
}

#[derive(Default)]
pub(crate) struct State {
    parts: HashMap<(String, i32), Part>,
    /// Received, not yet handed out.
    ready: VecDeque<Consumed>,
    changes: Vec<Change>,
    pending: usize,
    paused: bool,
    /// A fatal consumer error (fenced by another instance, say).
    failed: Option<Error>,
    stopped: bool,
}

impl State {
    /// Positions that moved past their last commit.
    fn take_commits(&mut self) -> Option<TopicPartitionList> {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), part) in &mut self.parts {
            let position = part.position();
            if position > part.committed {
                part.committed = position;
                let _ = list.add_partition_offset(topic, *partition, Offset::Offset(position));
            }
        }
        (list.count() > 0).then_some(list)
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Records became ready, or a change or failure happened.
    pub ready: Notify,
    /// The pending count fell below the bound, or the member must stop.
    wake: Notify,
    max_unacked: usize,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct Context {
    shared: Arc<Shared>,
}

impl ClientContext for Context {}

/// Runs blocking `work` where it does not stall the async runtime: through
/// `block_in_place` on a multi-thread runtime (the sidecar's), as is
/// elsewhere (a current-thread test runtime, or no runtime).
fn off_the_workers<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else { return };
        // Commit what was acknowledged of the revoked partitions before
        // another member takes them; forget the rest (it is redelivered
        // there).
        let mut state = self.shared.lock();
        let mut commit = TopicPartitionList::new();
        let mut revoked = Vec::new();
        for element in list.elements() {
            let key = (element.topic().to_owned(), element.partition());
            if let Some(part) = state.parts.remove(&key) {
                state.pending = state.pending.saturating_sub(part.pending.len());
                if part.position() > part.committed {
                    let _ = commit.add_partition_offset(&key.0, key.1, Offset::Offset(part.position()));
                }
            }
            revoked.push(key);
        }
        state.ready.retain(|r| !revoked.iter().any(|(t, p)| *t == r.topic && *p == r.partition));
        state.changes.push(Change::Revoked(revoked));
        drop(state);
        // librdkafka runs this callback inside the member's poll, on an I/O
        // worker: a blocking commit there would hold up every connection
        // that worker serves (all of them, with one worker), so the worker
        // hands its other tasks on while the commit waits for the broker.
        if commit.count() > 0
            && let Err(error) = off_the_workers(|| consumer.commit(&commit, CommitMode::Sync))
        {
            tracing::warn!(%error, "kafka: committing before a rebalance failed; those records may be delivered again");
        }
        self.shared.ready.notify_waiters();
        self.shared.wake.notify_one();
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let assigned = list.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
            let mut state = self.shared.lock();
            state.changes.push(Change::Assigned(assigned));
            // A fresh assignment starts unpaused.
            state.paused = false;
            drop(state);
            self.shared.ready.notify_waiters();
        }
    }
}

type Inner = StreamConsumer<Context>;

/// Record bytes (keys and values) in one handed-out batch, at most.
const MAX_REPLY_BYTES: usize = 4 << 20;

/// A group member; stops (leaving the group, after committing what was
/// acknowledged) when dropped.
pub(crate) struct Member {
    consumer: Arc<Inner>,
    pub(crate) shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

pub(crate) struct Join<'a> {
    pub group: &'a str,
    pub topics: &'a [String],
    pub instance_id: Option<&'a str>,
    pub max_unacked: usize,
    pub start: Start,
}

impl Member {
    pub(crate) fn join(config: &Config, join: Join<'_>) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            wake: Notify::new(),
            max_unacked: join.max_unacked.max(1),
        });
        let mut client = ClientConfig::new();
        crate::producer::security(config, &mut client);
        client
            .set("bootstrap.servers", &config.brokers)
            .set("client.id", "attache")
            .set("group.id", join.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", if join.start == Start::Latest { "latest" } else { "earliest" })
            .set("session.timeout.ms", config.consumer.session_timeout.as_millis().to_string())
            .set("queued.max.messages.kbytes", "4096");
        if let Some(id) = join.instance_id.filter(|id| !id.is_empty()) {
            client.set("group.instance.id", id);
        }
        let consumer: Inner = client
            .create_with_context(Context { shared: shared.clone() })
            .map_err(|e| Error::Unavailable(format!("cannot create a Kafka consumer: {e}")))?;
        let topics: Vec<&str> = join.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| Error::invalid("topics", format!("cannot subscribe: {e}")))?;
        let consumer = Arc::new(consumer);
        let task = tokio::spawn(poll(consumer.clone(), shared.clone()));
        Ok(Self { consumer, shared, task })
    }

    /// Up to `max` ready records, now handed out (still pending); never
    /// more than `max_unacked` handed out and unacknowledged at once.
    pub(crate) fn take(&self, max: usize) -> Vec<Consumed> {
        let mut state = self.shared.lock();
        let handed = state.pending.saturating_sub(state.ready.len());
        let n = max.min(state.ready.len()).min(self.shared.max_unacked.saturating_sub(handed));
        // Replies are bounded in bytes too (at least one record each).
        let mut bytes = 0usize;
        let mut count = 0;
        for record in state.ready.iter().take(n) {
            bytes += record.value.as_ref().map_or(0, Vec::len) + record.key.as_ref().map_or(0, Vec::len);
            count += 1;
            if bytes >= MAX_REPLY_BYTES {
                break;
            }
        }
        state.ready.drain(..count).collect()
    }

    /// Whether the member died (without taking its changes).
    pub(crate) fn failed(&self) -> bool {
        self.shared.lock().failed.is_some()
    }

    /// Changes since the last call, and a failure if the member died.
    pub(crate) fn changes(&self) -> (Vec<Change>, Option<Error>) {
        let mut state = self.shared.lock();
        (std::mem::take(&mut state.changes), state.failed.clone())
    }

    /// Acknowledges records; unknown partitions (revoked since) are
    /// ignored, an offset never received there is an error.
    pub(crate) fn ack(&self, positions: &[(String, i32, i64)], strict: bool) -> Result<usize, Error> {
        let mut state = self.shared.lock();
        // Checked before anything changes: a bad position fails the whole
        // acknowledgement (a stream's, which may not name records it was
        // never given), never half of it.
        if strict {
            for (i, (topic, partition, offset)) in positions.iter().enumerate() {
                if state.parts.get(&(topic.clone(), *partition)).is_some_and(|part| *offset >= part.next) {
                    return Err(Error::invalid(
                        format!("positions[{i}]"),
                        format!("{topic}/{partition} offset {offset} was never delivered to this consumer"),
                    ));
                }
            }
        }
        let mut acked = 0;
        for (topic, partition, offset) in positions {
            let Some(part) = state.parts.get_mut(&(topic.clone(), *partition)) else { continue };
            if part.pending.remove(offset) {
                acked += 1;
                // A copy fetched again after a rebalance is done with too.
                state.ready.retain(|r| !(r.partition == *partition && r.offset == *offset && r.topic == *topic));
            }
        }
        state.pending = state.pending.saturating_sub(acked);
        let commit = state.take_commits();
        let resume = state.paused && state.pending < self.shared.max_unacked;
        drop(state);
        if let Some(list) = commit
            && let Err(error) = self.consumer.commit(&list, CommitMode::Async)
        {
            tracing::warn!(%error, "kafka: committing offsets failed; the records may be delivered again");
        }
        if resume {
            self.shared.wake.notify_one();
        }
        Ok(acked)
    }

    /// Puts handed-out records back at the front of the queue, for another
    /// caller (an expired or partly committed lease).
    pub(crate) fn redeliver(&self, records: Vec<Consumed>) {
        let mut state = self.shared.lock();
        for record in records.into_iter().rev() {
            let live = state
                .parts
                .get(&(record.topic.clone(), record.partition))
                .is_some_and(|p| p.pending.contains(&record.offset));
            let queued = state
                .ready
                .iter()
                .any(|r| r.partition == record.partition && r.offset == record.offset && r.topic == record.topic);
            if live && !queued {
                state.ready.push_front(record);
            }
        }
        drop(state);
        self.shared.ready.notify_waiters();
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.lock().stopped = true;
        // Commit synchronously and leave the group off the async threads:
        // librdkafka's close blocks.
        let consumer = self.consumer.clone();
        let commit = self.shared.lock().take_commits();
        std::thread::spawn(move || {
            if let Some(list) = commit {
                let _ = consumer.commit(&list, CommitMode::Sync);
            }
            drop(consumer);
        });
    }
}

/// Polls the consumer for the member's whole life: records into the ready
/// queue (pausing past the bound), rebalances served as they come.
async fn poll(consumer: Arc<Inner>, shared: Arc<Shared>) {
    loop {
        let over = {
            let state = shared.lock();
            state.pending >= shared.max_unacked
        };
        if over {
            pause(&consumer, &shared, true);
        } else if shared.lock().paused {
            pause(&consumer, &shared, false);
        }
        let message = tokio::select! {
            message = consumer.recv() => message,
            () = shared.wake.notified() => continue,
        };
        match message {
            Ok(message) => {
                let mut batch = vec![owned(&message)];
                drop(message);
                // Whatever else is already here, without waiting.
                while batch.len() < 512 {
                    match consumer.recv().now_or_never() {
                        Some(Ok(message)) => batch.push(owned(&message)),
                        _ => break,
                    }
                }
                let mut state = shared.lock();
                for record in batch {
                    let part = state.parts.entry((record.topic.clone(), record.partition)).or_default();
                    if part.next == 0 && part.committed == 0 {
                        // First record of this partition here: what came
                        // before it is committed by whoever had it.
                        part.committed = record.offset;
                    }
                    if !part.pending.insert(record.offset) {
                        continue;
                    }
                    part.next = part.next.max(record.offset + 1);
                    state.pending += 1;
                    state.ready.push_back(record);
                }
                drop(state);
                shared.ready.notify_waiters();
            }
            Err(error) => {
                let fatal = matches!(
                    error.rdkafka_error_code(),
                    Some(rdkafka::types::RDKafkaErrorCode::Fatal | rdkafka::types::RDKafkaErrorCode::FencedInstanceId)
                );
                if fatal {
                    tracing::warn!(%error, "kafka: a consumer was fenced or failed");
                    shared.lock().failed = Some(Error::Rejected {
                        kind: attache_core::Kind::Aborted,
                        message: format!("the consumer failed: {error} (another stream with this instance_id?)"),
                    });
                    shared.ready.notify_waiters();
                    return;
                }
                tracing::debug!(%error, "kafka: consumer error");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn pause(consumer: &Inner, shared: &Shared, pause: bool) {
    if shared.lock().paused == pause {
        return;
    }
    let Ok(assignment) = consumer.assignment() else { return };
    let result = if pause { consumer.pause(&assignment) } else { consumer.resume(&assignment) };
    if result.is_ok() {
        shared.lock().paused = pause;
    }
}

fn owned(message: &rdkafka::message::BorrowedMessage<'_>) -> Consumed {
    let headers = message
        .headers()
        .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default();
    Consumed {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
    }
}
