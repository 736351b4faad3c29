//! The shared connections: a fixed set of multiplexed connections that
//! every caller's commands are pipelined onto, each kept alive by a
//! supervisor that reconnects with capped, jittered backoff and PINGs it
//! when idle, so a half-open connection (failover, partition) is noticed
//! and its cache entries dropped within `redis.ping_interval`.
//!
//! Key decision: while no connection is up, calls fail at once with
//! UNAVAILABLE naming the last connection error (the breaker is open);
//! each reconnection attempt is the half-open probe. Callers never queue
//! behind a dead server, and recover by themselves when it returns.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::address::Address;
use crate::client_cache::ClientCache;
use crate::connection::{Connection, Fill, Handshake, Incoming, PushSink};
use crate::{Config, Error, Value};

struct Slot {
    current: RwLock<Option<Connection>>,
    tracking: AtomicBool,
}

pub struct Shared {
    address: Address,
    command_timeout: Duration,
    slots: Vec<Arc<Slot>>,
    next: AtomicUsize,
    last_error: Arc<Mutex<String>>,
}

impl Shared {
    /// Starts one supervisor per connection; connecting happens in the
    /// background, so a Redis that is down at start-up delays nothing.
    pub fn start(
        address: Address,
        config: &Config,
        cache: Option<Arc<ClientCache>>,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let slots: Vec<Arc<Slot>> = (0..config.connections)
            .map(|_| Arc::new(Slot { current: RwLock::new(None), tracking: AtomicBool::new(false) }))
            .collect();
        let shared = Arc::new(Self {
            address,
            command_timeout: config.command_timeout,
            slots: slots.clone(),
            next: AtomicUsize::new(0),
            last_error: Arc::new(Mutex::new("not connected yet".into())),
        });
        let warned = Arc::new(AtomicBool::new(false));
        for slot in slots {
            let supervisor = Supervisor {
                slot,
                address: shared.address.clone(),
                config: config.clone(),
                cache: cache.clone(),
                last_error: shared.last_error.clone(),
                warned_tracking: warned.clone(),
            };
            tokio::spawn(supervisor.run(stop.clone()));
        }
        shared
    }

    /// Whether at least one connection is up.
    pub fn is_up(&self) -> bool {
        self.slots.iter().any(|s| s.current.read().expect("slot poisoned").is_some())
    }

    pub fn unavailable(&self) -> Error {
        Error::Unavailable {
            address: self.address.to_string(),
            reason: self.last_error.lock().expect("last error poisoned").clone(),
        }
    }

    /// A live connection, round-robin, and whether it tracks reads.
    fn pick(&self) -> Result<(Connection, bool), Error> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.slots.len() {
            let slot = &self.slots[(start + i) % self.slots.len()];
            if let Some(conn) = slot.current.read().expect("slot poisoned").as_ref()
                && !conn.is_closed()
            {
                return Ok((conn.clone(), slot.tracking.load(Ordering::Relaxed)));
            }
        }
        Err(self.unavailable())
    }

    /// Whether reads on the shared connections are tracked (the server
    /// accepted CLIENT TRACKING).
    pub fn tracking(&self) -> bool {
        self.pick().map(|(_, tracking)| tracking).unwrap_or(false)
    }

    /// Sends encoded commands and waits for their `replies`.
    pub async fn call(&self, payload: Bytes, replies: usize, deadline: Instant) -> Result<Vec<Value>, Error> {
        self.call_with_fill(payload, replies, None, deadline).await
    }

    /// Like [`call`](Self::call), for reads that may be cached: `fill`
    /// runs (only on a connection that tracks reads) with the replies
    /// before anything read after them is processed.
    pub async fn call_with_fill(
        &self,
        payload: Bytes,
        replies: usize,
        fill: Option<Fill>,
        deadline: Instant,
    ) -> Result<Vec<Value>, Error> {
        let (conn, tracking) = self.pick()?;
        let fill = if tracking { fill } else { None };
        let wait = self.command_timeout.min(deadline.saturating_duration_since(Instant::now()));
        match conn.call(payload, replies, fill, wait).await {
            Ok(replies) => Ok(replies),
            Err(Error::Timeout(_)) if wait < self.command_timeout => Err(Error::DeadlineExceeded),
            Err(Error::Timeout(after)) => {
                // Replies come in order: everything behind the late one is
                // stuck too. Replace the connection.
                conn.kill(format!("no reply within {after:?} (redis.command_timeout)"));
                Err(Error::Timeout(after))
            }
            Err(other) => Err(other),
        }
    }
}

struct Supervisor {
    slot: Arc<Slot>,
    address: Address,
    config: Config,
    cache: Option<Arc<ClientCache>>,
    last_error: Arc<Mutex<String>>,
    warned_tracking: Arc<AtomicBool>,
}

impl Supervisor {
    async fn run(self, stop: CancellationToken) {
        let mut backoff = self.config.reconnect_min;
        let mut logged_down = false;
        loop {
            let handshake = Handshake {
                tracking: self.cache.is_some(),
                max_reply_bytes: self.config.max_reply(),
                unsolicited: false,
            };
            match Connection::open(&self.address, handshake, self.push_sink(), self.config.connect_timeout).await {
                Ok(opened) => {
                    let conn = opened.connection;
                    let tracking = self.cache.is_some() && opened.tracking.is_ok();
                    if let (Some(cache), true) = (&self.cache, tracking) {
                        cache.open_connection(conn.id());
                    }
                    if let (Some(_), Err(reason)) = (&self.cache, &opened.tracking)
                        && !self.warned_tracking.swap(true, Ordering::Relaxed)
                    {
                        tracing::warn!(address = %self.address, %reason,
                                "redis refused CLIENT TRACKING; DoCached and MGetCached read through to redis uncached");
                    }
                    self.slot.tracking.store(tracking, Ordering::Relaxed);
                    *self.slot.current.write().expect("slot poisoned") = Some(conn.clone());
                    tracing::info!(address = %self.address, connection = conn.id(), tracking, "redis connected");
                    backoff = self.config.reconnect_min;
                    logged_down = false;
                    self.watch(&conn, &stop).await;
                    *self.slot.current.write().expect("slot poisoned") = None;
                    if let Some(cache) = &self.cache {
                        cache.drop_connection(conn.id());
                    }
                    let reason = conn.close_reason();
                    if stop.is_cancelled() {
                        return;
                    }
                    tracing::warn!(address = %self.address, connection = conn.id(), %reason, "redis connection lost");
                    *self.last_error.lock().expect("last error poisoned") = reason;
                }
                Err(err) => {
                    let reason = match &err {
                        Error::Unavailable { reason, .. } => reason.clone(),
                        other => other.to_string(),
                    };
                    if !logged_down {
                        tracing::warn!(address = %self.address, %reason, "cannot connect to redis; retrying with backoff");
                        logged_down = true;
                    }
                    *self.last_error.lock().expect("last error poisoned") = reason;
                }
            }
            let wait = jitter(backoff);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => return,
            }
            backoff = (backoff * 2).min(self.config.reconnect_max);
        }
    }

    /// Returns once `conn` has closed, PINGing it whenever
    /// `redis.ping_interval` passes: a connection the server no longer
    /// answers on is killed, since invalidations cannot arrive on it either.
    async fn watch(&self, conn: &Connection, stop: &CancellationToken) {
        let interval = self.config.ping_interval;
        let patience = self.config.command_timeout.min(interval);
        let ping = Bytes::from_static(b"*1\r\n$4\r\nPING\r\n");
        loop {
            tokio::select! {
                _ = conn.closed() => return,
                _ = stop.cancelled() => {
                    conn.kill("the redis module is shutting down");
                    return;
                }
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(Error::Timeout(_)) = conn.call(ping.clone(), 1, None, patience).await {
                conn.kill(format!("no PING reply within {patience:?} (redis.ping_interval, redis.command_timeout)"));
            }
        }
    }

    /// Applies invalidation pushes to the cache.
    fn push_sink(&self) -> PushSink {
        let cache = self.cache.clone();
        Arc::new(move |_connection, incoming| {
            let Some(cache) = &cache else { return };
            let data = match incoming {
                Incoming::Push(data) => data,
                // An invalidation too large to read: which keys it named
                // is unknown, so nothing cached can be trusted.
                Incoming::Refused(_) => return cache.clear(),
                Incoming::Reply(_) => return,
            };
            let mut items = data.into_iter();
            let is_invalidate =
                matches!(items.next(), Some(Value::Bulk(kind)) if kind.eq_ignore_ascii_case(b"invalidate"));
            if !is_invalidate {
                return;
            }
            match items.next() {
                // FLUSHALL / FLUSHDB: every tracked key is gone.
                Some(Value::Nil) | None => cache.clear(),
                Some(Value::Array(keys)) => {
                    for key in keys {
                        if let Value::Bulk(key) = key {
                            cache.invalidate(&key);
                        }
                    }
                }
                Some(_) => cache.clear(),
            }
        })
    }
}

/// `base` scaled by a random factor in [0.5, 1.5), so reconnecting callers
/// do not stampede in step.
fn jitter(base: Duration) -> Duration {
    base.mul_f64(0.5 + rand::random::<f64>())
}
