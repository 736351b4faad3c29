//! Connections held by one caller at a time, for what must not share the
//! pipeline: blocking commands (a BLPOP would stall every reply behind it)
//! and MULTI/EXEC groups with WATCH (connection-scoped state).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::address::Address;
use crate::connection::{Connection, Handshake};
use crate::{Error, Value};

/// Idle dedicated connections kept for reuse.
const KEEP_IDLE: usize = 4;

pub struct Dedicated {
    address: Address,
    connect_timeout: Duration,
    max_reply_bytes: usize,
    permits: Arc<Semaphore>,
    max: usize,
    idle: Mutex<Vec<Connection>>,
}

/// A connection lent to one caller: closed when the caller leaves (its
/// future dropped mid-call) unless it was handed back. A BLPOP whose caller
/// left must not stay queued in Redis, or it pops the next item into the
/// void.
struct Lent(Option<Connection>);

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            conn.kill("abandoned by its caller");
        }
    }
}

impl Dedicated {
    pub fn new(address: Address, max: usize, connect_timeout: Duration, max_reply_bytes: usize) -> Self {
        Self {
            address,
            connect_timeout,
            max_reply_bytes,
            permits: Arc::new(Semaphore::new(max)),
            max,
            idle: Mutex::default(),
        }
    }

    /// Runs encoded commands on a connection of their own, waiting as long
    /// as the caller's deadline allows (blocking commands may wait long).
    pub async fn call(&self, payload: Bytes, replies: usize, deadline: Instant) -> Result<Vec<Value>, Error> {
        let _permit = self.permits.try_acquire().map_err(|_| Error::DedicatedExhausted(self.max))?;
        let reused = self.idle.lock().expect("idle list poisoned").pop().filter(|c| !c.is_closed());
        let conn = match reused {
            Some(conn) => conn,
            None => {
                let ignore_pushes = Arc::new(|_, _| {});
                let handshake =
                    Handshake { tracking: false, max_reply_bytes: self.max_reply_bytes, unsolicited: false };
                let open = Connection::open(&self.address, handshake, ignore_pushes, self.connect_timeout);
                match tokio::time::timeout_at(deadline, open).await {
                    Ok(opened) => opened?.connection,
                    Err(_) => return Err(Error::DeadlineExceeded),
                }
            }
        };
        let mut lent = Lent(Some(conn.clone()));
        let wait = deadline.saturating_duration_since(Instant::now());
        match conn.call(payload, replies, None, wait).await {
            Ok(values) => {
                let conn = lent.0.take().expect("still lent");
                let mut idle = self.idle.lock().expect("idle list poisoned");
                if idle.len() < KEEP_IDLE {
                    idle.push(conn);
                } else {
                    conn.kill("idle");
                }
                Ok(values)
            }
            // Mid-command (a BLPOP still waiting, a half-read reply): the
            // connection's state is unknown, so `lent` closes it.
            Err(err) => Err(if matches!(err, Error::Timeout(_)) { Error::DeadlineExceeded } else { err }),
        }
    }

    /// Closes the idle connections.
    pub fn close(&self) {
        for conn in self.idle.lock().expect("idle list poisoned").drain(..) {
            conn.kill("the redis module is shutting down");
        }
    }
}
