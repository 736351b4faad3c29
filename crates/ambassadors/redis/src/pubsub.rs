//! Pub/sub fan-out: every app subscriber of a channel (or pattern) shares
//! one Redis subscription on one connection; messages are copied into each
//! subscriber's own bounded queue.
//!
//! Key decision: a subscriber whose queue is full is ended with
//! RESOURCE_EXHAUSTED rather than waited for, so one slow consumer never
//! delays the others or grows memory. When the connection is lost, every
//! subscription ends with UNAVAILABLE instead of silently resubscribing:
//! messages published meanwhile are gone, and the app should know.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::address::Address;
use crate::connection::{Connection, Handshake, Incoming};
use crate::{Error, Value, resp};

/// One published message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub channel: String,
    /// The pattern that matched, for pattern subscriptions.
    pub pattern: Option<String>,
    pub payload: Bytes,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Channel,
    Pattern,
}

impl Kind {
    fn verbs(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("SUBSCRIBE", "UNSUBSCRIBE"),
            Kind::Pattern => ("PSUBSCRIBE", "PUNSUBSCRIBE"),
        }
    }
}

type TopicId = (Kind, String);

struct Subscriber {
    tx: mpsc::Sender<Message>,
    failure: Arc<Mutex<Option<Error>>>,
    topics: Vec<TopicId>,
}

#[derive(Default)]
struct Topic {
    subscribers: HashSet<u64>,
    /// SUBSCRIBE commands sent whose confirmation has not arrived.
    unconfirmed: u32,
    waiters: Vec<oneshot::Sender<Result<(), Error>>>,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    topics: HashMap<TopicId, Topic>,
    subscribers: HashMap<u64, Subscriber>,
    next_id: u64,
    /// SUBSCRIBE/PSUBSCRIBE commands sent, one topic each, in order, whose
    /// confirmation or refusal has not arrived. Redis answers each with a
    /// push (confirmed) or an error reply (refused, e.g. an ACL), in the
    /// order sent, so a refusal belongs to the oldest.
    outstanding: std::collections::VecDeque<TopicId>,
}

pub struct Hub {
    address: Address,
    connect_timeout: Duration,
    max_reply_bytes: usize,
    queue: usize,
    max_subscribers: usize,
    state: Mutex<State>,
    connecting: tokio::sync::Mutex<()>,
}

/// A live subscription; dropping it unsubscribes.
pub struct Subscription {
    id: u64,
    rx: mpsc::Receiver<Message>,
    failure: Arc<Mutex<Option<Error>>>,
    hub: Arc<Hub>,
    ended: bool,
}

impl Subscription {
    /// The next message, or the reason the subscription ended.
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        if self.ended {
            return None;
        }
        match self.rx.recv().await {
            Some(message) => Some(Ok(message)),
            None => {
                self.ended = true;
                let failure = self.failure.lock().expect("failure poisoned").take();
                Some(Err(failure.unwrap_or(Error::ShuttingDown)))
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.leave(self.id);
    }
}

impl Hub {
    pub fn new(
        address: Address,
        connect_timeout: Duration,
        max_reply_bytes: usize,
        queue: usize,
        max_subscribers: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            address,
            connect_timeout,
            max_reply_bytes,
            queue,
            max_subscribers,
            state: Mutex::default(),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("pub/sub state poisoned")
    }

    /// Subscribes to `channels` and `patterns`; returns once Redis has
    /// confirmed every one.
    pub async fn subscribe(
        self: &Arc<Self>,
        channels: Vec<String>,
        patterns: Vec<String>,
        deadline: Instant,
    ) -> Result<Subscription, Error> {
        if channels.is_empty() && patterns.is_empty() {
            return Err(Error::InvalidArgument("give at least one channel or pattern".into()));
        }
        if channels.iter().chain(&patterns).any(|c| c.is_empty()) {
            return Err(Error::InvalidArgument("channel and pattern names must not be empty".into()));
        }
        if self.lock().subscribers.len() >= self.max_subscribers {
            return Err(Error::TooManySubscribers(self.max_subscribers));
        }
        let connection =
            tokio::time::timeout_at(deadline, self.connection()).await.map_err(|_| Error::DeadlineExceeded)??;
        let topics: Vec<TopicId> = channels
            .into_iter()
            .map(|c| (Kind::Channel, c))
            .chain(patterns.into_iter().map(|p| (Kind::Pattern, p)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let (tx, rx) = mpsc::channel(self.queue);
        let failure = Arc::new(Mutex::new(None));
        let mut waits = Vec::new();
        let id = {
            let mut state = self.lock();
            let id = state.next_id;
            state.next_id += 1;
            let mut to_subscribe = Vec::new();
            for topic_id in &topics {
                let topic = state.topics.entry(topic_id.clone()).or_default();
                if topic.subscribers.is_empty() && topic.unconfirmed == 0 {
                    topic.unconfirmed += 1;
                    to_subscribe.push(topic_id.clone());
                }
                topic.subscribers.insert(id);
                if topic.unconfirmed > 0 {
                    let (done, wait) = oneshot::channel();
                    topic.waiters.push(done);
                    waits.push(wait);
                }
            }
            state.subscribers.insert(id, Subscriber { tx, failure: failure.clone(), topics });
            // One topic per command, so a refusal names one topic.
            // Confirmations arrive as pushes, refusals as replies.
            for (kind, name) in to_subscribe {
                let args = [Bytes::from_static(kind.verbs().0.as_bytes()), Bytes::from(name.clone())];
                drop(connection.send(resp::encoded(&args), 0, None));
                state.outstanding.push_back((kind, name));
            }
            id
        };
        let subscription = Subscription { id, rx, failure, hub: self.clone(), ended: false };
        for wait in waits {
            match tokio::time::timeout_at(deadline, wait).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(refused))) => return Err(refused),
                // The connection was lost before the confirmation.
                Ok(Err(_)) => return Err(connection.unavailable()),
                Err(_) => return Err(Error::DeadlineExceeded),
            }
        }
        Ok(subscription)
    }

    /// The pub/sub connection, opened on first use.
    async fn connection(self: &Arc<Self>) -> Result<Connection, Error> {
        if let Some(conn) = self.lock().connection.clone().filter(|c| !c.is_closed()) {
            return Ok(conn);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(conn) = self.lock().connection.clone().filter(|c| !c.is_closed()) {
            return Ok(conn);
        }
        let hub = Arc::downgrade(self);
        let sink = Arc::new(move |connection, incoming| {
            if let Some(hub) = hub.upgrade() {
                match incoming {
                    Incoming::Push(data) => hub.on_push(connection, data),
                    Incoming::Refused(head) => hub.on_refused_message(connection, head),
                    Incoming::Reply(reply) => hub.on_reply(connection, reply),
                }
            }
        });
        let handshake = Handshake { tracking: false, max_reply_bytes: self.max_reply_bytes, unsolicited: true };
        let opened = Connection::open(&self.address, handshake, sink, self.connect_timeout).await?;
        let conn = opened.connection;
        self.lock().connection = Some(conn.clone());
        let hub = Arc::downgrade(self);
        let watched = conn.clone();
        tokio::spawn(async move {
            watched.closed().await;
            if let Some(hub) = hub.upgrade() {
                hub.on_lost(&watched);
            }
        });
        Ok(conn)
    }

    fn on_push(&self, connection: u64, data: Vec<Value>) {
        let mut items = data.into_iter().map(bulk);
        let kind = items.next().flatten().unwrap_or_default();
        let mut state = self.lock();
        if state.connection.as_ref().map(Connection::id) != Some(connection) {
            return;
        }
        match kind.to_ascii_lowercase().as_slice() {
            b"subscribe" | b"psubscribe" => {
                let topic_kind = if kind.eq_ignore_ascii_case(b"subscribe") { Kind::Channel } else { Kind::Pattern };
                let Some(name) = items.next().flatten() else { return };
                let topic_id = (topic_kind, String::from_utf8_lossy(&name).into_owned());
                if let Some(at) = state.outstanding.iter().position(|t| *t == topic_id) {
                    state.outstanding.remove(at);
                }
                if let Some(topic) = state.topics.get_mut(&topic_id) {
                    topic.unconfirmed = topic.unconfirmed.saturating_sub(1);
                    if topic.unconfirmed == 0 {
                        for waiter in topic.waiters.drain(..) {
                            let _ = waiter.send(Ok(()));
                        }
                    }
                }
            }
            b"message" => {
                let (Some(Some(channel)), Some(Some(payload))) = (items.next(), items.next()) else { return };
                let channel = String::from_utf8_lossy(&channel).into_owned();
                let message = Message { channel: channel.clone(), pattern: None, payload };
                self.fan_out(&mut state, (Kind::Channel, channel), message);
            }
            b"pmessage" => {
                let (Some(Some(pattern)), Some(Some(channel)), Some(Some(payload))) =
                    (items.next(), items.next(), items.next())
                else {
                    return;
                };
                let pattern = String::from_utf8_lossy(&pattern).into_owned();
                let message = Message {
                    channel: String::from_utf8_lossy(&channel).into_owned(),
                    pattern: Some(pattern.clone()),
                    payload,
                };
                self.fan_out(&mut state, (Kind::Pattern, pattern), message);
            }
            _ => {}
        }
    }

    /// A reply on the pub/sub connection is a SUBSCRIBE's refusal (an ACL
    /// forbidding the channel): it fails the subscribers of that topic,
    /// never the connection or anyone else's subscriptions.
    fn on_reply(&self, connection: u64, reply: Value) {
        let mut state = self.lock();
        if state.connection.as_ref().map(Connection::id) != Some(connection) {
            return;
        }
        let Some(topic_id) = state.outstanding.pop_front() else {
            tracing::warn!(?reply, "unexpected reply on the redis pub/sub connection; ignored");
            return;
        };
        let why = match reply {
            Value::Error(e) => e,
            other => format!("unexpected reply {other:?}"),
        };
        let Some(topic) = state.topics.remove(&topic_id) else { return };
        tracing::info!(topic = %topic_id.1, reason = %why, "redis refused a subscription");
        for waiter in topic.waiters {
            let _ = waiter.send(Err(Error::Forbidden(why.clone())));
        }
        // Its subscribers leave when their Subscribe call fails; until then
        // they must not keep the topic listed.
        for id in topic.subscribers {
            if let Some(subscriber) = state.subscribers.get_mut(&id) {
                subscriber.topics.retain(|t| *t != topic_id);
            }
        }
    }

    /// A message too large to deliver: its channel's subscribers are ended
    /// with RESOURCE_EXHAUSTED rather than silently missing it.
    fn on_refused_message(&self, connection: u64, head: Vec<Bytes>) {
        let mut state = self.lock();
        if state.connection.as_ref().map(Connection::id) != Some(connection) {
            return;
        }
        let topic_id = match head.as_slice() {
            [kind, channel, ..] if kind.eq_ignore_ascii_case(b"message") => {
                (Kind::Channel, String::from_utf8_lossy(channel).into_owned())
            }
            [kind, pattern, ..] if kind.eq_ignore_ascii_case(b"pmessage") => {
                (Kind::Pattern, String::from_utf8_lossy(pattern).into_owned())
            }
            _ => return,
        };
        let Some(topic) = state.topics.get(&topic_id) else { return };
        let doomed: Vec<u64> = topic.subscribers.iter().copied().collect();
        tracing::warn!(topic = %topic_id.1, subscribers = doomed.len(), "a pub/sub message over redis.max_reply_bytes ended its subscribers");
        for id in doomed {
            if let Some(subscriber) = state.subscribers.get(&id) {
                *subscriber.failure.lock().expect("failure poisoned") =
                    Some(Error::MessageTooLarge(self.max_reply_bytes));
            }
            self.remove(&mut state, id);
        }
    }

    fn fan_out(&self, state: &mut State, topic_id: TopicId, message: Message) {
        let Some(topic) = state.topics.get(&topic_id) else { return };
        let mut dropped = Vec::new();
        for id in &topic.subscribers {
            let Some(subscriber) = state.subscribers.get(id) else { continue };
            match subscriber.tx.try_send(message.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    *subscriber.failure.lock().expect("failure poisoned") = Some(Error::SubscriberTooSlow(self.queue));
                    dropped.push(*id);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => dropped.push(*id),
            }
        }
        for id in dropped {
            tracing::warn!(subscriber = id, "dropping a pub/sub subscriber whose queue is full or closed");
            self.remove(state, id);
        }
    }

    /// Ends every subscription: the connection is gone.
    fn on_lost(&self, connection: &Connection) {
        let mut state = self.lock();
        if state.connection.as_ref().map(Connection::id) != Some(connection.id()) {
            return;
        }
        state.connection = None;
        state.topics.clear();
        state.outstanding.clear();
        let reason = connection.close_reason();
        for (_, subscriber) in state.subscribers.drain() {
            *subscriber.failure.lock().expect("failure poisoned") = Some(Error::SubscriptionLost(reason.clone()));
        }
        tracing::warn!(%reason, "redis pub/sub connection lost; subscriptions ended");
    }

    /// Ends every subscription with UNAVAILABLE (the sidecar is stopping).
    pub fn end_all(&self) {
        let mut state = self.lock();
        if let Some(conn) = state.connection.take() {
            conn.kill("the redis module is shutting down");
        }
        state.topics.clear();
        state.outstanding.clear();
        for (_, subscriber) in state.subscribers.drain() {
            *subscriber.failure.lock().expect("failure poisoned") = Some(Error::ShuttingDown);
        }
    }

    fn leave(&self, id: u64) {
        let mut state = self.lock();
        self.remove(&mut state, id);
    }

    /// Removes a subscriber; topics left without subscribers are
    /// unsubscribed on Redis.
    fn remove(&self, state: &mut State, id: u64) {
        let Some(subscriber) = state.subscribers.remove(&id) else { return };
        let mut to_unsubscribe: HashMap<Kind, Vec<Bytes>> = HashMap::new();
        for topic_id in subscriber.topics {
            let Some(topic) = state.topics.get_mut(&topic_id) else { continue };
            topic.subscribers.remove(&id);
            if topic.subscribers.is_empty() {
                state.topics.remove(&topic_id);
                to_unsubscribe.entry(topic_id.0).or_default().push(Bytes::from(topic_id.1));
            }
        }
        let Some(conn) = &state.connection else { return };
        for (kind, names) in to_unsubscribe {
            let mut args = vec![Bytes::from_static(kind.verbs().1.as_bytes())];
            args.extend(names);
            drop(conn.send(resp::encoded(&args), 0, None));
        }
    }
}

fn bulk(value: Value) -> Option<Bytes> {
    match value {
        Value::Bulk(data) => Some(data),
        Value::Simple(s) => Some(Bytes::from(s)),
        _ => None,
    }
}
