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
    permits: Arc<Semaphore>,
    max: usize,
    idle: Mutex<Vec<Connection>>,
}

impl Dedicated {
    pub fn new(address: Address, max: usize, connect_timeout: Duration) -> Self {
        Self { address, connect_timeout, permits: Arc::new(Semaphore::new(max)), max, idle: Mutex::default() }
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
                let open =
                    Connection::open(&self.address, Handshake { tracking: false }, ignore_pushes, self.connect_timeout);
                match tokio::time::timeout_at(deadline, open).await {
                    Ok(opened) => opened?.connection,
                    Err(_) => return Err(Error::DeadlineExceeded),
                }
            }
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        match conn.call(payload, replies, None, wait).await {
            Ok(values) => {
                let mut idle = self.idle.lock().expect("idle list poisoned");
                if idle.len() < KEEP_IDLE {
                    idle.push(conn);
                } else {
                    conn.kill("idle");
                }
                Ok(values)
            }
            Err(err) => {
                // Mid-command (a BLPOP still waiting, a half-read reply):
                // the connection's state is unknown, so it is not reused.
                conn.kill("abandoned by its caller");
                Err(if matches!(err, Error::Timeout(_)) { Error::DeadlineExceeded } else { err })
            }
        }
    }

    /// Closes the idle connections.
    pub fn close(&self) {
        for conn in self.idle.lock().expect("idle list poisoned").drain(..) {
            conn.kill("the redis module is shutting down");
        }
    }
}
