//! A connection's byte stream with an idle timeout and a write timeout,
//! and the caps on how many connections are open.
//!
//! Key decision: idleness is measured from when a connection last had no
//! request in flight (see `gate.rs`), not from its last byte, so a client
//! trickling bytes that never complete a request (slowloris) is closed as
//! surely as a silent one; a long call in flight is never cut by it. A write
//! that makes no progress for `write_timeout` fails the connection, so a
//! client that stops reading cannot pin its responses in memory. On
//! HTTP/1.1, a request's head must arrive within `header_timeout` of its
//! first byte; an idle keep-alive connection waiting for its next request
//! is under `idle_timeout` alone (hyper's own header timer also runs while a
//! kept-alive connection waits, which closed idle connections after
//! `header_timeout` and raced the clients that reuse them).

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
    /// The head timeout; `None` where the protocol layer keeps its own (the
    /// admin listener) and once the connection shows itself HTTP/2.
    header: Option<Duration>,
    write: Duration,
    idle_timer: Pin<Box<Sleep>>,
    write_timer: Option<Pin<Box<Sleep>>>,
    /// When the head of the request being read began to arrive (its first
    /// byte while no request was in flight), and how many requests the
    /// connection had finished then (a later count makes it stale).
    head: Option<(Instant, u64)>,
    /// Bytes of the HTTP/2 preface's start matched so far, while the first
    /// bytes have not yet told HTTP/2 from HTTP/1.1 (`None` once they have).
    preface: Option<usize>,
}

/// How an HTTP/2 connection starts; its frames are not request heads.
const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2";

impl<T> Timed<T> {
    pub fn new(inner: T, conn: Arc<ConnState>, idle: Duration, header: Option<Duration>, write: Duration) -> Self {
        let idle_timer = Box::pin(tokio::time::sleep(idle));
        // A new connection owes its first head at once: one that sends
        // nothing is closed after `header`, as one that sends half a head.
        let head = header.map(|_| (Instant::now(), 0));
        Self { inner, conn, idle, header, write, idle_timer, write_timer: None, head, preface: Some(0) }
    }

    /// Bytes arrived: the first of a request head starts its clock.
    fn read_some(&mut self, bytes: &[u8]) {
        if let Some(seen) = self.preface {
            // The preface may come in pieces: decide once it is whole or a
            // byte differs.
            let want = &H2_PREFACE_START[seen..];
            let n = want.len().min(bytes.len());
            self.preface = if bytes[..n] != want[..n] {
                None
            } else if seen + n == H2_PREFACE_START.len() {
                self.header = None;
                self.head = None;
                None
            } else {
                Some(seen + n)
            };
        }
        if self.header.is_none() || !self.conn.is_idle() {
            return;
        }
        let finished = self.conn.finished();
        if self.head.is_none_or(|(_, n)| n != finished) {
            self.head = Some((Instant::now(), finished));
        }
    }

    /// When the head being read must be complete, if one is.
    fn head_deadline(&self) -> Option<Instant> {
        let (started, finished) = self.head?;
        let header = self.header?;
        (self.conn.is_idle() && finished == self.conn.finished()).then(|| started + header)
    }

    /// Whether the connection has been idle too long, or a head has taken
    /// too long; arms the timer that wakes the reader when either will have.
    ///
    /// The idle deadline moves later with every call, but the timer is moved
    /// only when it would fire late (or has fired): one armed earlier fires,
    /// finds the connection not yet idle long enough, and is moved then.
    /// Moving it on every call cost a timer-wheel removal and insertion per
    /// call.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let idle = self.conn.idle_deadline(self.idle);
        let deadline = match (idle, self.head_deadline()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(deadline) => deadline,
                None => return false,
            },
        };
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        let armed = self.idle_timer.deadline().into_std();
        if armed > deadline || armed <= now {
            self.idle_timer.as_mut().reset(deadline.into());
        }
        // Ready only if it fired early, between two checks: the next read's
        // check moves it.
        if self.idle_timer.as_mut().poll(cx).is_ready() {
            self.idle_timer.as_mut().reset(deadline.into());
            return self.idle_timer.as_mut().poll(cx).is_ready();
        }
        false
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
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.read_some(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            // Idle or a head too long: end of stream, and the protocol
            // closes it.
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
