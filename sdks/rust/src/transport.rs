//! The wire: unary calls are the Connect protocol (binary protobuf) written
//! by hand on pooled keep-alive HTTP/1.1 connections of the Unix socket,
//! in the caller's task: one write, one read. Streams (Redis Subscribe,
//! Kafka Consume and ProduceStream, the Postgres Transaction stream) go
//! through connectrpc's generated clients over one HTTP/2 (h2c)
//! connection.
//!
//! Why: measured by `bench/run transport`, the generated connectrpc client
//! over h2c took 71 µs p50 per trivial call (gRPC; 63 µs Connect) where
//! this takes 29 µs, a tokio echo 15 µs: most of the difference is hyper's
//! HTTP/2 client (a hand-off to its connection task per request, stream
//! bookkeeping).
//! Streams are rare and long, so their per-message cost matters less.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buffa::Message;
use bytes::{Buf, BytesMut};
use connectrpc::client::{ClientConfig, Http2Connection, SharedHttp2Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::{Code, Error, Result};

/// Longest reply head accepted; the sidecar's are a few hundred bytes.
const MAX_HEAD_BYTES: usize = 16 << 10;

pub(crate) struct Transport {
    socket: PathBuf,
    /// Idle connections, most recently used last.
    idle: Mutex<Vec<Conn>>,
    /// One permit per call in flight: a call takes an idle connection or,
    /// when there is none, dials one, so at most this many are ever open.
    slots: Arc<Semaphore>,
    /// A kept-alive connection idle this long is closed rather than reused.
    idle_for: Duration,
    max_reply_bytes: usize,
    h2: tokio::sync::Mutex<Option<SharedHttp2Connection>>,
}

struct Conn {
    io: UnixStream,
    buf: BytesMut,
    idle_at: Instant,
}

/// A read buffer larger than this is not kept with an idle connection.
const KEPT_BUFFER_BYTES: usize = 64 << 10;

/// Why an exchange failed, before it is a caller's [`Error`].
enum Fail {
    Io(io::Error),
    Malformed(&'static str),
    TooLarge(u64),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

impl Transport {
    pub(crate) fn new(socket: PathBuf, max_connections: usize, max_reply_bytes: usize) -> Transport {
        Transport {
            socket,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
            idle_for: Duration::from_secs(5),
            max_reply_bytes,
            h2: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Dials one connection and keeps it idle for the first call.
    pub(crate) async fn warm(&self) -> Result<()> {
        let _slot = self.slot().await;
        let conn = self.dial().await?;
        self.put(conn);
        Ok(())
    }

    async fn slot(&self) -> OwnedSemaphorePermit {
        self.slots.clone().acquire_owned().await.expect("the semaphore is never closed")
    }

    /// One unary call: `req` to `procedure`, the reply decoded as `Resp`,
    /// all of it before `deadline`. A connection the deadline interrupts
    /// is dropped with the call, never reused.
    pub(crate) async fn unary<Req: Message, Resp: Message>(
        &self,
        procedure: &str,
        req: &Req,
        deadline: Instant,
    ) -> Result<Resp> {
        let body = req.encode_to_vec();
        match tokio::time::timeout_at(deadline, self.exchange(procedure, &body, deadline)).await {
            Ok(Ok(reply)) => Resp::decode_from_slice(&reply).map_err(|e| {
                Error::new(Code::Internal, format!("cannot decode the sidecar's reply to {procedure}: {e}"))
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::new(
                Code::DeadlineExceeded,
                format!("the call's deadline passed before the sidecar answered {procedure}"),
            )),
        }
    }

    async fn exchange(&self, procedure: &str, body: &[u8], deadline: Instant) -> Result<bytes::Bytes> {
        // At most ten digits, which the sidecar reads (about 115 days).
        let timeout_ms = deadline.saturating_duration_since(Instant::now()).as_millis().clamp(1, 9_999_999_999);
        let mut request = Vec::with_capacity(160 + procedure.len() + body.len());
        request.extend_from_slice(b"POST ");
        request.extend_from_slice(procedure.as_bytes());
        request.extend_from_slice(
            b" HTTP/1.1\r\nHost: attache\r\nContent-Type: application/proto\r\nConnect-Protocol-Version: 1\r\n",
        );
        request.extend_from_slice(
            format!("Connect-Timeout-Ms: {timeout_ms}\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
        );
        request.extend_from_slice(body);
        let _slot = self.slot().await;
        let mut conn = match self.take_idle() {
            Some(conn) => conn,
            None => self.dial().await?,
        };
        match conn.round_trip(&request, self.max_reply_bytes).await {
            Ok((status, reply, keep)) => {
                if keep {
                    self.put(conn);
                }
                if status != 200 {
                    return Err(Error::from_connect_body(status, &reply));
                }
                Ok(reply)
            }
            // The connection ended before a reply: whether the sidecar ran
            // the request is unknown, so it is not sent again here (the
            // retry rule sends idempotent calls again).
            Err(Fail::Io(e)) => Err(Error::new(Code::Unavailable, format!("the connection to the sidecar broke: {e}"))),
            Err(Fail::Malformed(what)) => {
                Err(Error::new(Code::Internal, format!("malformed HTTP reply from the sidecar: {what}")))
            }
            Err(Fail::TooLarge(n)) => Err(Error::new(
                Code::ResourceExhausted,
                format!("the sidecar's reply of {n} bytes is larger than max_reply_bytes ({})", self.max_reply_bytes),
            )),
        }
    }

    async fn dial(&self) -> Result<Conn> {
        let io = UnixStream::connect(&self.socket).await.map_err(|e| {
            Error::new(
                Code::Unavailable,
                format!("cannot reach the attache socket {} ({e}); is the sidecar running?", self.socket.display()),
            )
        })?;
        Ok(Conn { io, buf: BytesMut::with_capacity(4096), idle_at: Instant::now() })
    }

    /// The most recently used idle connection that is still open. One the
    /// sidecar closed while it was idle (its idle timeout, a restart) reads
    /// as closed here, before anything is written to it.
    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().expect("pool lock");
        while let Some(conn) = idle.pop() {
            if conn.idle_at.elapsed() < self.idle_for && conn.open() {
                return Some(conn);
            }
        }
        None
    }

    fn put(&self, mut conn: Conn) {
        conn.idle_at = Instant::now();
        if conn.buf.capacity() > KEPT_BUFFER_BYTES {
            // A large reply's buffer is not held for the connection's life.
            conn.buf = BytesMut::with_capacity(4096);
        }
        conn.buf.clear();
        self.idle.lock().expect("pool lock").push(conn);
    }

    /// The HTTP/2 connection streams ride, made on first use.
    pub(crate) async fn h2(&self) -> Result<SharedHttp2Connection> {
        let mut slot = self.h2.lock().await;
        if let Some(conn) = &*slot {
            return Ok(conn.clone());
        }
        let conn = Http2Connection::connect_unix(&self.socket, base_uri()).await.map_err(|e| {
            Error::new(
                Code::Unavailable,
                format!("cannot reach the attache socket {} ({e}); is the sidecar running?", self.socket.display()),
            )
        })?;
        let shared = conn.shared(256);
        *slot = Some(shared.clone());
        Ok(shared)
    }

    /// Forgets the HTTP/2 connection after a stream could not open on it,
    /// so the next stream dials a new one.
    pub(crate) async fn h2_failed(&self) {
        *self.h2.lock().await = None;
    }

    /// Opens a stream with `open` (a generated client's call) on the HTTP/2
    /// connection; one that fails as unavailable makes the next dial anew.
    pub(crate) async fn stream<S, F>(&self, open: impl FnOnce(SharedHttp2Connection, ClientConfig) -> F) -> Result<S>
    where
        F: std::future::Future<Output = std::result::Result<S, connectrpc::ConnectError>>,
    {
        match open(self.h2().await?, self.config()).await {
            Ok(stream) => Ok(stream),
            Err(e) => {
                let e = Error::from_connect(e);
                if e.code() == Code::Unavailable {
                    self.h2_failed().await;
                }
                Err(e)
            }
        }
    }

    /// The generated clients' configuration.
    pub(crate) fn config(&self) -> ClientConfig {
        ClientConfig::new(base_uri()).with_default_max_message_size(self.max_reply_bytes)
    }
}

fn base_uri() -> http::Uri {
    http::Uri::from_static("http://attache")
}

impl Conn {
    /// Whether the idle connection is still open: nothing may arrive on
    /// it between replies, so a readable connection has been closed (or
    /// broken) by the sidecar.
    fn open(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Writes a request and reads its reply whole: status, body, and
    /// whether the connection may be used again.
    async fn round_trip(&mut self, request: &[u8], max_reply: usize) -> Result<(u16, bytes::Bytes, bool), Fail> {
        if let Err(write) = self.io.write_all(request).await {
            // The sidecar may refuse a request before reading all of it (too
            // large, over its byte budget) and close: its reply is still
            // there to read, and says why. Otherwise the write's error.
            return match self.read_reply(max_reply).await {
                Ok((status, body, _)) => Ok((status, body, false)),
                Err(_) => Err(Fail::Io(write)),
            };
        }
        self.read_reply(max_reply).await
    }

    async fn read_reply(&mut self, max_reply: usize) -> Result<(u16, bytes::Bytes, bool), Fail> {
        let (status, head_len, framing, keep) = loop {
            if !self.buf.is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut head = httparse::Response::new(&mut headers);
                match head.parse(&self.buf) {
                    Ok(httparse::Status::Complete(n)) if head.code.is_some_and(|c| (100..200).contains(&c)) => {
                        // An interim reply (100 Continue): the real one follows.
                        self.buf.advance(n);
                        continue;
                    }
                    Ok(httparse::Status::Complete(n)) => {
                        let (framing, keep) = framing(&head)?;
                        break (head.code.unwrap_or(0), n, framing, keep);
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() < MAX_HEAD_BYTES => {}
                    Ok(httparse::Status::Partial) => return Err(Fail::Malformed("a reply head over 16 KiB")),
                    Err(_) => return Err(Fail::Malformed("an unparseable reply head")),
                }
            }
            self.fill().await?;
        };
        self.buf.advance(head_len);
        let body = match framing {
            Framing::Length(n) => {
                if n > max_reply as u64 {
                    return Err(Fail::TooLarge(n));
                }
                let n = n as usize;
                self.buf.reserve(n.saturating_sub(self.buf.len()));
                while self.buf.len() < n {
                    self.fill().await?;
                }
                self.buf.split_to(n).freeze()
            }
            Framing::Chunked => self.read_chunked(max_reply).await?,
        };
        if !self.buf.is_empty() {
            // Bytes past the reply: nothing may follow it on this connection.
            return Ok((status, body, false));
        }
        Ok((status, body, keep))
    }

    async fn fill(&mut self) -> Result<(), Fail> {
        self.buf.reserve(4096);
        if self.io.read_buf(&mut self.buf).await? == 0 {
            return Err(Fail::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }

    /// A line ending in CRLF, without it, at most `max` bytes long.
    async fn line(&mut self, max: usize) -> Result<BytesMut, Fail> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(i);
                self.buf.advance(2);
                return Ok(line);
            }
            if self.buf.len() > max {
                return Err(Fail::Malformed("a chunk line too long"));
            }
            self.fill().await?;
        }
    }

    async fn read_chunked(&mut self, max_reply: usize) -> Result<bytes::Bytes, Fail> {
        let mut body = BytesMut::new();
        loop {
            let line = self.line(64).await?;
            let line = std::str::from_utf8(&line).map_err(|_| Fail::Malformed("a chunk size"))?;
            let size = u64::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| Fail::Malformed("a chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                let mut trailer_bytes = 0;
                loop {
                    let trailer = self.line(MAX_HEAD_BYTES).await?;
                    if trailer.is_empty() {
                        return Ok(body.freeze());
                    }
                    trailer_bytes += trailer.len();
                    if trailer_bytes > MAX_HEAD_BYTES {
                        return Err(Fail::Malformed("trailers over 16 KiB"));
                    }
                }
            }
            let total = (body.len() as u64).saturating_add(size);
            if total > max_reply as u64 {
                return Err(Fail::TooLarge(total));
            }
            let size = size as usize;
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[..size]);
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(Fail::Malformed("a chunk not followed by CRLF"));
            }
            self.buf.advance(size + 2);
        }
    }
}

enum Framing {
    Length(u64),
    Chunked,
}

/// How the body is framed and whether the connection stays open, from the
/// only headers that say so.
fn framing(head: &httparse::Response<'_, '_>) -> Result<(Framing, bool), Fail> {
    let mut keep = head.version == Some(1);
    let mut framing = None;
    for h in head.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or(Fail::Malformed("a content-length"))?;
            framing = Some(Framing::Length(n));
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !h.value.eq_ignore_ascii_case(b"chunked") {
                return Err(Fail::Malformed("a transfer-encoding other than chunked"));
            }
            framing = Some(Framing::Chunked);
        } else if h.name.eq_ignore_ascii_case("connection") {
            if h.value.eq_ignore_ascii_case(b"close") {
                keep = false;
            } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                keep = true;
            }
        }
    }
    // A reply with neither runs to the connection's end; the sidecar never
    // sends one, so it is malformed here.
    Ok((framing.ok_or(Fail::Malformed("no content-length or transfer-encoding"))?, keep))
}
