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
use crate::connection::{Connection, Handshake};
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
    waiters: Vec<oneshot::Sender<()>>,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    topics: HashMap<TopicId, Topic>,
    subscribers: HashMap<u64, Subscriber>,
    next_id: u64,
}

pub struct Hub {
    address: Address,
    connect_timeout: Duration,
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
    pub fn new(address: Address, connect_timeout: Duration, queue: usize, max_subscribers: usize) -> Arc<Self> {
        Arc::new(Self {
            address,
            connect_timeout,
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
            let mut to_subscribe: HashMap<Kind, Vec<Bytes>> = HashMap::new();
            for topic_id in &topics {
                let topic = state.topics.entry(topic_id.clone()).or_default();
                if topic.subscribers.is_empty() && topic.unconfirmed == 0 {
                    topic.unconfirmed += 1;
                    to_subscribe.entry(topic_id.0).or_default().push(Bytes::from(topic_id.1.clone()));
                }
                topic.subscribers.insert(id);
                if topic.unconfirmed > 0 {
                    let (done, wait) = oneshot::channel();
                    topic.waiters.push(done);
                    waits.push(wait);
                }
            }
            state.subscribers.insert(id, Subscriber { tx, failure: failure.clone(), topics });
            for (kind, names) in to_subscribe {
                let mut args = vec![Bytes::from_static(kind.verbs().0.as_bytes())];
                args.extend(names);
                // Confirmations arrive as pushes, not replies.
                drop(connection.send(resp::encoded(&args), 0, None));
            }
            id
        };
        let subscription = Subscription { id, rx, failure, hub: self.clone(), ended: false };
        for wait in waits {
            match tokio::time::timeout_at(deadline, wait).await {
                Ok(Ok(())) => {}
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
        let sink = Arc::new(move |connection, data| {
            if let Some(hub) = hub.upgrade() {
                hub.on_push(connection, data);
            }
        });
        let opened = Connection::open(&self.address, Handshake { tracking: false }, sink, self.connect_timeout).await?;
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
                if let Some(topic) = state.topics.get_mut(&topic_id) {
                    topic.unconfirmed = topic.unconfirmed.saturating_sub(1);
                    if topic.unconfirmed == 0 {
                        for waiter in topic.waiters.drain(..) {
                            let _ = waiter.send(());
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

    /// Subscribers and Redis subscriptions now (for tests and metrics).
    pub fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        (state.subscribers.len(), state.topics.len())
    }
}

fn bulk(value: Value) -> Option<Bytes> {
    match value {
        Value::Bulk(data) => Some(data),
        Value::Simple(s) => Some(Bytes::from(s)),
        _ => None,
    }
}
