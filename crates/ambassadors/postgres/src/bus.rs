//! Invalidations between the attache processes that share a database.
//!
//! Key decision: the bus is the database itself. Each attache keeps one
//! connection of its own (outside the pool) that LISTENs on
//! `postgres.cache.channel` and sends what its own writes touched with
//! `pg_notify`, batching whatever queued while the previous one was sent;
//! no writer's transaction ever carries a NOTIFY (which would take the
//! cluster-wide notify lock at its commit). Postgres delivers a
//! notification to every listener on the database in commit order,
//! needs nothing else configured, and fails with the database rather
//! than separately. While that connection is down nothing is cached: the
//! cache is flushed when it drops and again once it is back (what others
//! sent meanwhile was missed), and what this host could not send waits in
//! the outbox until it can.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cache::{Table, Touched};
use crate::replication::{self, Consumer};
use crate::service::{Inner, Origin};

/// A payload longer than this becomes "flush everything" (Postgres allows
/// under 8000 bytes).
const MAX_PAYLOAD: usize = 7000;
/// How often a quiet listening connection is checked for life.
const PING_EVERY: Duration = Duration::from_secs(2);

pub(crate) struct Bus {
    channel: String,
    healthy: AtomicBool,
    /// Told when the channel is up.
    up: Notify,
    ever_up: AtomicBool,
    started: AtomicBool,
    outbox: Mutex<Option<Touched>>,
    wake: Notify,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
    started_at: Mutex<Option<Instant>>,
}

/// How long after start cached reads wait for the channel's first
/// connection.
const STARTING: Duration = Duration::from_secs(5);

impl Bus {
    pub fn new(channel: String) -> Self {
        Self {
            channel,
            healthy: AtomicBool::new(false),
            up: Notify::new(),
            ever_up: AtomicBool::new(false),
            started: AtomicBool::new(false),
            outbox: Mutex::new(None),
            wake: Notify::new(),
            stop: CancellationToken::new(),
            task: Mutex::new(None),
            started_at: Mutex::new(None),
        }
    }

    fn enabled(&self) -> bool {
        !self.channel.is_empty()
    }

    /// Whether cached results are protected from other hosts' writes: with
    /// no channel configured, there are no other hosts to hear from.
    pub fn is_healthy(&self) -> bool {
        !self.enabled() || self.healthy.load(Ordering::Acquire)
    }

    /// Right after start, waits (until `deadline`) for the channel's first
    /// connection, so the first cached reads are not refused for it.
    pub async fn first_connection(&self, deadline: Instant) {
        if self.is_healthy() || self.ever_up.load(Ordering::Acquire) {
            return;
        }
        // Only while it starts: a channel that never came up is down.
        let started = *self.started_at.lock().expect("bus lock");
        if started.is_none_or(|t| t.elapsed() > STARTING) {
            return;
        }
        let up = self.up.notified();
        if !self.is_healthy() {
            let _ = tokio::time::timeout_at(deadline, up).await;
        }
    }

    /// Starts listening (once, on first use).
    pub fn start(&self, inner: &Arc<Inner>) {
        if self.enabled() && !self.started.swap(true, Ordering::AcqRel) {
            *self.started_at.lock().expect("bus lock") = Some(Instant::now());
            *self.task.lock().expect("bus lock") = Some(tokio::spawn(listen(Arc::downgrade(inner))));
        }
    }

    /// Tells the other hosts what a write here touched.
    pub fn publish(&self, touched: &Touched) {
        if !self.enabled() {
            return;
        }
        let mut outbox = self.outbox.lock().expect("bus lock");
        match outbox.as_mut() {
            Some(queued) => queued.merge(touched),
            None => *outbox = Some(touched.clone()),
        }
        drop(outbox);
        self.wake.notify_one();
    }

    /// Stops listening and closes the connection.
    pub async fn stop(&self) {
        self.stop.cancel();
        let task = self.task.lock().expect("bus lock").take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

fn encode(touched: &Touched) -> String {
    match touched {
        Touched::Everything => "*".into(),
        Touched::Tables(tables) => {
            let text = tables.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            if text.len() > MAX_PAYLOAD { "*".into() } else { text }
        }
    }
}

fn decode(payload: &str) -> Touched {
    if payload == "*" {
        return Touched::Everything;
    }
    let tables: Result<Vec<Table>, _> = payload.split(',').filter(|s| !s.is_empty()).map(str::parse).collect();
    // Something this version cannot read: the safe reading is everything.
    tables.map(Touched::Tables).unwrap_or(Touched::Everything)
}

async fn listen(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let stop = strong.bus.stop.clone();
        let wait = match session(&strong).await {
            Ok(()) => return,
            Err(reason) => {
                strong.bus.healthy.store(false, Ordering::Release);
                strong.invalidate_here(Touched::Everything, Origin::Flush);
                tracing::warn!(channel = %strong.bus.channel, %reason, "cache invalidation channel down; not caching");
                strong.config.reconnect_min.max(Duration::from_millis(100))
            }
        };
        drop(strong);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// One listening connection, until it fails (`Err`) or the module stops.
async fn session(inner: &Arc<Inner>) -> Result<(), String> {
    let bus = &inner.bus;
    let (tx, mut notifications) = mpsc::unbounded_channel();
    let deadline = Instant::now() + inner.config.connect_timeout;
    let (client, driver) = inner.pool.dedicated(deadline, tx).await.map_err(|e| e.to_string())?;
    let listen =
        format!("SET application_name = 'attache cache channel'; LISTEN {}", replication::quote_ident(&bus.channel));
    client.batch_execute(&listen).await.map_err(|e| e.to_string())?;
    let own: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(|e| e.to_string())?
        .try_get(0)
        .map_err(|e| e.to_string())?;
    let notify = client.prepare("SELECT pg_notify($1, $2)").await.map_err(|e| e.to_string())?;
    // Whatever was stored before now may have missed a notification.
    inner.invalidate_here(Touched::Everything, Origin::Flush);
    bus.healthy.store(true, Ordering::Release);
    bus.ever_up.store(true, Ordering::Release);
    bus.up.notify_waiters();
    tracing::info!(channel = %bus.channel, "listening for cache invalidations");
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Replication mode: this connection may become the database's consumer.
    let mut consumer = inner.replication.as_ref().map(|_| Consumer::new());
    let mut poll = tokio::time::interval(replication::POLL_EVERY);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let send = |payload: String| {
        let client = &client;
        let notify = &notify;
        async move {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&bus.channel, &payload];
            // Short: while this waits, nothing is heard from the others.
            match tokio::time::timeout(PING_EVERY, client.execute(notify, &params)).await {
                Ok(Ok(_)) => Ok(()),
                _ => Err("sending on the channel failed".to_owned()),
            }
        }
    };
    loop {
        tokio::select! {
            _ = bus.stop.cancelled() => {
                // Closed before shutdown goes on, not whenever the runtime
                // next gets to it.
                drop(client);
                let _ = tokio::time::timeout(Duration::from_secs(1), driver).await;
                return Ok(());
            }
            message = notifications.recv() => match message {
                Some(n) if n.process_id() == own => {}
                // A heartbeat counts only from the elected consumer's session.
                Some(n) if n.payload() == replication::HEARTBEAT => {
                    if let (Some(replication), Some(consumer)) = (&inner.replication, &consumer)
                        && consumer.is_consumer(n.process_id())
                    {
                        replication.beat();
                    }
                }
                Some(n) => inner.invalidate_here(decode(n.payload()), Origin::Peer),
                None => return Err("the connection closed".into()),
            },
            _ = poll.tick(), if consumer.is_some() => {
                let Some(consumer) = consumer.as_mut() else { continue };
                let (touched, beat) = consumer.tick(inner, &client).await?;
                if let Some(touched) = touched {
                    inner.invalidate_here(touched.clone(), Origin::Stream);
                    send(encode(&touched)).await?;
                }
                if beat {
                    send(replication::HEARTBEAT.to_owned()).await?;
                }
            }
            _ = bus.wake.notified() => {
                let Some(touched) = bus.outbox.lock().expect("bus lock").take() else { continue };
                if let Err(e) = send(encode(&touched)).await {
                    // Sent again once reconnected (twice is harmless).
                    bus.publish(&touched);
                    return Err(e);
                }
            }
            _ = ping.tick() => {
                let alive = tokio::time::timeout(PING_EVERY, client.simple_query("")).await;
                if !matches!(alive, Ok(Ok(_))) {
                    return Err("the connection stopped answering".into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_unknown_ones_flush_everything() {
        let touched = Touched::Tables(vec![16384, 16390]);
        assert_eq!(encode(&touched), "16384,16390");
        assert_eq!(decode(&encode(&touched)), touched);
        assert_eq!(decode("*"), Touched::Everything);
        assert_eq!(decode("12,x"), Touched::Everything);
        let many = Touched::Tables((0..2000).collect());
        assert_eq!(encode(&many), "*");
    }
}
