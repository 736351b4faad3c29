//! A connection's byte stream with an idle timeout and a write timeout,
//! and the caps on how many connections are open.
//!
//! Key decision: idleness is measured from when a connection last had no
//! request in flight (see `gate.rs`), not from its last byte, so a client
//! trickling bytes that never complete a request (slowloris) is closed as
//! surely as a silent one; a long call in flight is never cut by it. A write
//! that makes no progress for `write_timeout` fails the connection, so a
//! client that stops reading cannot pin its responses in memory.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::gate::ConnState;

pub(crate) struct Timed<T> {
    inner: T,
    conn: Arc<ConnState>,
    idle: Duration,
    write: Duration,
    idle_timer: Pin<Box<Sleep>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl<T> Timed<T> {
    pub fn new(inner: T, conn: Arc<ConnState>, idle: Duration, write: Duration) -> Self {
        let idle_timer = Box::pin(tokio::time::sleep(idle));
        Self { inner, conn, idle, write, idle_timer, write_timer: None }
    }

    /// Whether the connection has been idle too long; arms the timer that
    /// wakes the reader when it will have been.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.conn.idle_deadline(self.idle) else { return false };
        if Instant::now() >= deadline {
            return true;
        }
        self.idle_timer.as_mut().reset(deadline.into());
        self.idle_timer.as_mut().poll(cx).is_ready()
    }

    /// Turns a write that made no progress for `write_timeout` into an error.
    fn stalled<R>(&mut self, cx: &mut Context<'_>, polled: Poll<std::io::Result<R>>) -> Poll<std::io::Result<R>> {
        if polled.is_ready() {
            self.write_timer = None;
            return polled;
        }
        let write = self.write;
        let timer = self.write_timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(write)));
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client read nothing for server.write_timeout",
            )));
        }
        Poll::Pending
    }
}

impl<T> Drop for Timed<T> {
    fn drop(&mut self) {
        self.conn.closed();
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Timed<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            // Idle too long: end of stream, and the protocol closes it.
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Timed<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.conn.written(n);
        }
        self.stalled(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.conn.written(n);
        }
        self.stalled(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.stalled(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.stalled(cx, polled)
    }
}

/// Open connections, in all and per peer.
pub(crate) struct Caps<K> {
    max: usize,
    per_peer: usize,
    open: Mutex<(usize, HashMap<K, usize>)>,
}

/// A counted connection; uncounted on drop.
pub(crate) struct Slot<K: Hash + Eq + Clone> {
    caps: Arc<Caps<K>>,
    peer: K,
}

impl<K: Hash + Eq + Clone> Caps<K> {
    pub fn new(max: usize, per_peer: usize) -> Arc<Self> {
        Arc::new(Self { max, per_peer, open: Mutex::new((0, HashMap::new())) })
    }

    /// A slot for one more connection from `peer`, unless a cap is reached.
    pub fn admit(self: &Arc<Self>, peer: K) -> Option<Slot<K>> {
        let mut open = self.open.lock().expect("caps poisoned");
        let (total, peers) = &mut *open;
        let mine = peers.entry(peer.clone()).or_default();
        if *total >= self.max || *mine >= self.per_peer {
            if *mine == 0 {
                peers.remove(&peer);
            }
            return None;
        }
        *mine += 1;
        *total += 1;
        Some(Slot { caps: self.clone(), peer })
    }
}

impl<K: Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut open = self.caps.open.lock().expect("caps poisoned");
        let (total, peers) = &mut *open;
        *total -= 1;
        if let Some(mine) = peers.get_mut(&self.peer) {
            *mine -= 1;
            if *mine == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

/// Logs accept errors (EMFILE and the like) at most once a second with the
/// count of those not logged, so a flood of them cannot flood the log.
pub(crate) struct AcceptErrors {
    last: Mutex<(Option<Instant>, u64)>,
}

impl AcceptErrors {
    pub fn new() -> Self {
        Self { last: Mutex::new((None, 0)) }
    }

    pub async fn record(&self, listener: &str, e: std::io::Error) {
        let now = Instant::now();
        let report = {
            let mut last = self.last.lock().expect("accept errors poisoned");
            match last.0 {
                Some(at) if now.duration_since(at) < Duration::from_secs(1) => {
                    last.1 += 1;
                    None
                }
                _ => {
                    let suppressed = std::mem::take(&mut last.1);
                    last.0 = Some(now);
                    Some(suppressed)
                }
            }
        };
        if let Some(suppressed) = report {
            tracing::warn!(listener, error = %e, suppressed, "accept failed; retrying");
        }
        // EMFILE stays until a connection closes: back off instead of spinning.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_in_all_and_per_peer() {
        let caps = Caps::new(3, 2);
        let a1 = caps.admit(1).unwrap();
        let _a2 = caps.admit(1).unwrap();
        assert!(caps.admit(1).is_none(), "peer 1 is at its cap");
        let _b1 = caps.admit(2).unwrap();
        assert!(caps.admit(3).is_none(), "the listener is at its cap");
        drop(a1);
        assert!(caps.admit(3).is_some());
    }
}
