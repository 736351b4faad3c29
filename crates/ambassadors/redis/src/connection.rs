//! One multiplexed RESP3 connection: a writer task that sends every queued
//! command in one write (auto-pipelining), and a reader task that matches
//! replies to callers in order and hands server pushes (invalidations,
//! pub/sub messages) to a sink.
//!
//! Key decision: a request may carry a `fill` that the reader runs the
//! moment its replies are complete, before it reads the next frame. The
//! client-side cache fills itself this way, so an invalidation that Redis
//! sends after a read is always applied after that read's value was stored
//! (per connection, Redis sends them in that order), never before. A fill
//! is skipped if any push arrived between the request's first and last
//! reply: then something changed while its commands ran (see
//! `service.rs` for why that makes `GET k; PTTL k` as safe as a
//! transaction).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::address::{Address, Endpoint};
use crate::resp::Frame;
use crate::{Error, Value, resp};

/// Runs in the reader task with the complete replies of a request, unless
/// a push arrived between its first and last reply.
pub type Fill = Box<dyn FnOnce(u64, &[Value]) + Send>;

/// Receives what the server sends unasked: the connection's id and the
/// frame.
pub type PushSink = Arc<dyn Fn(u64, Incoming) + Send + Sync>;

/// A frame no request waits for.
pub enum Incoming {
    /// A push (invalidation, pub/sub message, confirmation).
    Push(Vec<Value>),
    /// A push over the reply limits: passed over, only its first short
    /// elements kept (a message's kind and channel).
    Refused(Vec<Bytes>),
    /// A reply with no request waiting, on a connection opened with
    /// [`Handshake::unsolicited`] (pub/sub: an error refusing a SUBSCRIBE).
    Reply(Value),
}

type Reply = Result<Vec<Value>, Error>;

/// Commands to write together and the number of replies they produce.
pub struct Request {
    pub payload: Bytes,
    pub replies: usize,
    pub fill: Option<Fill>,
    done: oneshot::Sender<Reply>,
}

struct Pending {
    left: usize,
    /// Pushes read when the first reply arrived.
    pushes_at_first: Option<u64>,
    got: Vec<Value>,
    /// Bytes of `got`, bounded by the reply limit.
    bytes: usize,
    /// Why the replies will not be delivered (one was over the limits);
    /// the rest are still read off the stream, then dropped.
    refused: Option<Error>,
    fill: Option<Fill>,
    done: oneshot::Sender<Reply>,
}

/// What to set up on a new connection.
#[derive(Debug, Clone, Copy)]
pub struct Handshake {
    /// Turn on RESP3 client tracking (invalidation pushes) for cached reads.
    pub tracking: bool,
    /// Largest reply (or request's replies together) accepted; larger ones
    /// fail their own call only.
    pub max_reply_bytes: usize,
    /// Hand replies no request waits for to the sink instead of taking
    /// them for a lost place in the stream.
    pub unsolicited: bool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A live connection. Cloning is cheap; the tasks stop when it is killed or
/// the server goes away, and every pending caller then gets UNAVAILABLE.
#[derive(Clone)]
pub struct Connection {
    id: u64,
    tx: mpsc::UnboundedSender<Request>,
    pending: Arc<Mutex<VecDeque<Pending>>>,
    closed: CancellationToken,
    why: Arc<Mutex<Option<String>>>,
    address: Arc<str>,
    max_reply_bytes: usize,
}

/// The result of a handshake: the connection and whether tracking is on.
pub struct Opened {
    pub connection: Connection,
    pub tracking: Result<(), String>,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

impl Connection {
    /// Connects, upgrades to RESP3 with credentials, selects the database
    /// and (if asked) turns on tracking, all within `timeout`.
    pub async fn open(
        address: &Address,
        handshake: Handshake,
        push: PushSink,
        timeout: Duration,
    ) -> Result<Opened, Error> {
        let unavailable = |reason: String| Error::Unavailable { address: address.to_string(), reason };
        // A plain server waits for the end of a line that a TLS hello
        // never sends, so a handshake cut off by the timeout is a clue.
        let in_tls_handshake = AtomicBool::new(false);
        let attempt = async {
            let mut io: Box<dyn Io> = match &address.endpoint {
                Endpoint::Tcp { host, port, tls } => {
                    let stream = TcpStream::connect((host.as_str(), *port)).await.map_err(|e| e.to_string())?;
                    stream.set_nodelay(true).map_err(|e| e.to_string())?;
                    match (tls, &address.tls) {
                        (false, _) => Box::new(stream),
                        // Inside `attempt`, so the TLS handshake counts
                        // against redis.connect_timeout too.
                        (true, Some(client)) => {
                            in_tls_handshake.store(true, Ordering::Relaxed);
                            let stream = client.connect(host, stream).await?;
                            in_tls_handshake.store(false, Ordering::Relaxed);
                            Box::new(stream)
                        }
                        (true, None) => return Err("rediss:// without a TLS configuration (Address::with_tls)".into()),
                    }
                }
                Endpoint::Unix(path) => Box::new(UnixStream::connect(path).await.map_err(|e| e.to_string())?),
            };
            let mut buf = BytesMut::with_capacity(4096);
            let mut decoder = resp::Decoder::new(handshake.max_reply_bytes);
            let mut hello: Vec<Bytes> = vec!["HELLO".into(), "3".into()];
            if let Some(password) = &address.password {
                let user = address.username.clone().unwrap_or_else(|| "default".into());
                hello.extend(["AUTH".into(), user.into(), password.clone().into()]);
            }
            hello.extend(["SETNAME".into(), "attache".into()]);
            let reply = call(&mut io, &mut buf, &mut decoder, &hello).await.map_err(|e| match &address.endpoint {
                // A TLS port resets or garbles a plain first command.
                Endpoint::Tcp { tls: false, .. } => {
                    format!("{e}; if the server serves TLS on this port, write redis.url as rediss://")
                }
                _ => e,
            })?;
            match reply {
                Value::Error(e) if e.starts_with("ERR unknown command") => {
                    return Err(
                        "the server does not speak RESP3 (HELLO failed); attache needs Redis 6 or Valkey".into()
                    );
                }
                Value::Error(e) => return Err(format!("HELLO 3 failed: {e}")),
                _ => {}
            }
            if address.db != 0
                && let Value::Error(e) =
                    call(&mut io, &mut buf, &mut decoder, &["SELECT".into(), address.db.to_string().into()]).await?
            {
                return Err(format!("SELECT {} failed: {e}", address.db));
            }
            let mut tracking = Err("not requested".to_string());
            if handshake.tracking {
                tracking =
                    match call(&mut io, &mut buf, &mut decoder, &["CLIENT".into(), "TRACKING".into(), "ON".into()])
                        .await?
                    {
                        Value::Error(e) => Err(e),
                        _ => Ok(()),
                    };
            }
            Ok::<_, String>((io, buf, decoder, tracking))
        };
        let (io, buf, decoder, tracking) = match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result.map_err(unavailable)?,
            Err(_) if in_tls_handshake.load(Ordering::Relaxed) => {
                return Err(unavailable(format!(
                    "the TLS handshake did not finish within {timeout:?} (redis.connect_timeout); if the server \
                     serves plain TCP on this port, write redis.url as redis://"
                )));
            }
            Err(_) => return Err(unavailable(format!("no connection within {timeout:?} (redis.connect_timeout)"))),
        };
        let (reader, writer) = tokio::io::split(io);
        let (tx, rx) = mpsc::unbounded_channel();
        let connection = Connection {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            pending: Arc::default(),
            closed: CancellationToken::new(),
            why: Arc::default(),
            address: address.to_string().into(),
            max_reply_bytes: handshake.max_reply_bytes,
        };
        tokio::spawn(write_loop(connection.clone(), writer, rx));
        tokio::spawn(read_loop(connection.clone(), reader, buf, decoder, push, handshake.unsolicited));
        Ok(Opened { connection, tracking })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Resolves once the connection is closed.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    /// Closes the connection; pending callers get UNAVAILABLE with `why`.
    pub fn kill(&self, why: impl Into<String>) {
        let mut slot = self.why.lock().expect("connection state poisoned");
        if slot.is_none() {
            *slot = Some(why.into());
        }
        drop(slot);
        self.closed.cancel();
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> String {
        self.why.lock().expect("connection state poisoned").clone().unwrap_or_else(|| "connection closed".into())
    }

    /// Queues `payload` (one or more encoded commands producing `replies`
    /// replies) and returns a receiver for the replies.
    pub fn send(&self, payload: Bytes, replies: usize, fill: Option<Fill>) -> oneshot::Receiver<Reply> {
        let (done, rx) = oneshot::channel();
        let request = Request { payload, replies, fill, done };
        if let Err(mpsc::error::SendError(request)) = self.tx.send(request) {
            let _ = request.done.send(Err(self.unavailable()));
        }
        rx
    }

    /// Sends and waits for the replies, or for `timeout`.
    pub async fn call(&self, payload: Bytes, replies: usize, fill: Option<Fill>, timeout: Duration) -> Reply {
        let rx = self.send(payload, replies, fill);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(self.unavailable()),
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    pub fn unavailable(&self) -> Error {
        Error::Unavailable { address: self.address.to_string(), reason: self.close_reason() }
    }
}

/// One command and its reply, before the connection is shared.
async fn call(
    io: &mut Box<dyn Io>,
    buf: &mut BytesMut,
    decoder: &mut resp::Decoder,
    args: &[Bytes],
) -> Result<Value, String> {
    let mut out = BytesMut::new();
    resp::encode(args, &mut out);
    io.write_all(&out).await.map_err(|e| e.to_string())?;
    loop {
        if let Some(frame) = decoder.decode(buf)? {
            match frame {
                Frame::Reply(value) => return Ok(value),
                Frame::Refused(refused) if !refused.push => {
                    return Err(format!(
                        "the server answered the handshake with a refused reply ({:?})",
                        refused.reason
                    ));
                }
                Frame::Push(_) | Frame::Refused(_) => continue,
            }
        }
        if io.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("the server closed the connection during the handshake".into());
        }
    }
}

/// Largest batch written at once; more waits for the next write.
const MAX_BATCH: usize = 256 * 1024;

async fn write_loop(conn: Connection, mut writer: impl AsyncWrite + Unpin, mut rx: mpsc::UnboundedReceiver<Request>) {
    let mut out = BytesMut::with_capacity(16 * 1024);
    let mut unanswered = Vec::new();
    loop {
        let first = tokio::select! {
            _ = conn.closed.cancelled() => break,
            request = rx.recv() => match request {
                Some(request) => request,
                None => break,
            },
        };
        // Everything queued meanwhile goes out in the same write: this is
        // the auto-pipelining, with no timer delaying a lone caller.
        let mut next = Some(first);
        while let Some(request) = next.take() {
            out.extend_from_slice(&request.payload);
            if request.replies == 0 {
                unanswered.push(request.done);
            } else {
                // Registered before the bytes leave, so the reader always
                // finds the caller of the reply it reads.
                conn.pending.lock().expect("connection state poisoned").push_back(Pending {
                    left: request.replies,
                    pushes_at_first: None,
                    got: Vec::with_capacity(request.replies),
                    bytes: 0,
                    refused: None,
                    fill: request.fill,
                    done: request.done,
                });
            }
            if out.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if let Err(e) = writer.write_all(&out).await {
            conn.kill(format!("write failed: {e}"));
            break;
        }
        out.clear();
        for done in unanswered.drain(..) {
            let _ = done.send(Ok(Vec::new()));
        }
    }
    conn.closed.cancel();
    // Requests still queued were never written.
    rx.close();
    while let Ok(request) = rx.try_recv() {
        let _ = request.done.send(Err(conn.unavailable()));
    }
}

async fn read_loop(
    conn: Connection,
    mut reader: impl AsyncRead + Unpin,
    mut buf: BytesMut,
    mut decoder: resp::Decoder,
    push: PushSink,
    unsolicited: bool,
) {
    let mut pushes = 0u64;
    'read: loop {
        loop {
            let frame = match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    conn.kill(format!("protocol error: {e}"));
                    break 'read;
                }
            };
            let reply = match frame {
                Frame::Push(data) => {
                    pushes += 1;
                    push(conn.id, Incoming::Push(data));
                    continue;
                }
                Frame::Refused(refused) if refused.push => {
                    pushes += 1;
                    push(conn.id, Incoming::Refused(refused.head));
                    continue;
                }
                Frame::Refused(refused) => Err(match refused.reason {
                    resp::Refusal::TooLarge(max) => Error::ReplyTooLarge(max),
                    resp::Refusal::TooDeep => Error::ReplyTooDeep,
                }),
                Frame::Reply(value) => Ok(value),
            };
            if let Err(reply) = deliver(&conn, reply, pushes) {
                match reply {
                    Ok(value) if unsolicited => push(conn.id, Incoming::Reply(value)),
                    _ => {
                        conn.kill("protocol error: a reply arrived that no request was waiting for");
                        break 'read;
                    }
                }
            }
        }
        if buf.capacity() - buf.len() < 8 * 1024 {
            buf.reserve(64 * 1024);
        }
        tokio::select! {
            _ = conn.closed.cancelled() => break,
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => { conn.kill("the server closed the connection"); break }
                Ok(_) => {}
                Err(e) => { conn.kill(format!("read failed: {e}")); break }
            },
        }
    }
    conn.closed.cancel();
    let drained: Vec<Pending> = conn.pending.lock().expect("connection state poisoned").drain(..).collect();
    for pending in drained {
        let _ = pending.done.send(Err(conn.unavailable()));
    }
}

/// Gives a reply to the oldest request, or hands it back if none was
/// waiting. `pushes` counts the pushes read so far on this connection.
fn deliver(conn: &Connection, reply: Result<Value, Error>, pushes: u64) -> Result<(), Result<Value, Error>> {
    let complete = {
        let mut pending = conn.pending.lock().expect("connection state poisoned");
        let Some(front) = pending.front_mut() else { return Err(reply) };
        front.pushes_at_first.get_or_insert(pushes);
        front.left -= 1;
        match reply {
            Ok(value) if front.refused.is_none() => {
                front.bytes = front.bytes.saturating_add(value.weight());
                if front.bytes > conn.max_reply_bytes {
                    // The replies together are over the limit: free what
                    // was kept, read the rest off the stream and drop it.
                    front.refused = Some(Error::ReplyTooLarge(conn.max_reply_bytes));
                    front.got = Vec::new();
                } else {
                    front.got.push(value);
                }
            }
            Ok(_) => {}
            Err(e) => {
                front.refused.get_or_insert(e);
                front.got = Vec::new();
            }
        }
        if front.left > 0 {
            return Ok(());
        }
        pending.pop_front().expect("front exists")
    };
    if let Some(refused) = complete.refused {
        let _ = complete.done.send(Err(refused));
        return Ok(());
    }
    // A closed connection's tracking is gone: nothing read on it may be
    // cached any more (the cache refuses it too; this saves the work).
    let quiet = complete.pushes_at_first == Some(pushes) && !conn.is_closed();
    if let (Some(fill), true) = (complete.fill, quiet) {
        fill(conn.id, &complete.got);
    }
    let _ = complete.done.send(Ok(complete.got));
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The ordering of replies and pushes cannot be forced on a real
    //! server, so these tests script the peer's bytes on a socket.
    use std::sync::atomic::AtomicBool;

    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixListener;

    use super::*;

    /// A peer that answers the handshake, then writes `script` once it has
    /// read the test's request.
    async fn scripted(script: &'static [u8]) -> (tempfile::TempDir, Address) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peer.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            // HELLO and CLIENT TRACKING.
            for reply in [&b"%1\r\n+server\r\n+redis\r\n"[..], b"+OK\r\n"] {
                while resp::decode(&mut buf).unwrap().is_none() {
                    stream.read_buf(&mut buf).await.unwrap();
                }
                stream.write_all(reply).await.unwrap();
            }
            while resp::decode(&mut buf).unwrap().is_none() {
                stream.read_buf(&mut buf).await.unwrap();
            }
            stream.write_all(script).await.unwrap();
            // Hold the connection open until the test ends.
            let _ = stream.read_buf(&mut buf).await;
        });
        let address = Address::parse(&format!("unix://{}", path.display())).unwrap();
        (dir, address)
    }

    async fn filled(script: &'static [u8]) -> (bool, Vec<Value>) {
        let (_dir, address) = scripted(script).await;
        let pushes = Arc::new(|_, _| {});
        let handshake = Handshake { tracking: true, max_reply_bytes: 1 << 20, unsolicited: false };
        let opened = Connection::open(&address, handshake, pushes, Duration::from_secs(5)).await.unwrap();
        assert!(opened.tracking.is_ok());
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let fill: Fill = Box::new(move |_, _| flag.store(true, Ordering::SeqCst));
        let payload = resp::encoded(&["GET".into(), "k".into()]);
        let replies = opened.connection.call(payload, 2, Some(fill), Duration::from_secs(5)).await.unwrap();
        (ran.load(Ordering::SeqCst), replies)
    }

    /// A connection killed (command timeout, failed write) while replies
    /// are still being read off it: the reader may deliver them, but must
    /// not fill the cache from a connection whose tracking is gone.
    #[tokio::test]
    async fn a_reply_read_after_the_connection_was_killed_fills_nothing() {
        // Both replies arrive in one read; the first one's fill kills the
        // connection, as another thread's timeout would while the reader
        // works through what it read.
        let (_dir, address) = scripted(b"$1\r\na\r\n:1000\r\n$1\r\nb\r\n:1000\r\n").await;
        let handshake = Handshake { tracking: true, max_reply_bytes: 1 << 20, unsolicited: false };
        let opened = Connection::open(&address, handshake, Arc::new(|_, _| {}), Duration::from_secs(5)).await.unwrap();
        let conn = opened.connection.clone();
        let kill: Fill = Box::new(move |_, _| conn.kill("no reply within 5s (redis.command_timeout)"));
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let fill: Fill = Box::new(move |_, _| flag.store(true, Ordering::SeqCst));
        let first = opened.connection.send(resp::encoded(&["GET".into(), "a".into()]), 2, Some(kill));
        let second = opened.connection.send(resp::encoded(&["GET".into(), "b".into()]), 2, Some(fill));
        let _ = first.await;
        let _ = second.await;
        assert!(opened.connection.is_closed());
        assert!(!ran.load(Ordering::SeqCst), "a killed connection filled the cache");
    }

    #[tokio::test]
    async fn a_push_between_a_requests_replies_cancels_its_fill() {
        let (ran, replies) = filled(b"$1\r\nv\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n:1000\r\n").await;
        assert!(!ran, "filled although the key changed between GET and PTTL");
        assert_eq!(replies, [Value::Bulk("v".into()), Value::Integer(1000)]);
    }

    #[tokio::test]
    async fn pushes_before_or_after_a_request_leave_its_fill_alone() {
        let (ran, _) =
            filled(b">2\r\n$10\r\ninvalidate\r\n_\r\n$1\r\nv\r\n:1000\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n").await;
        assert!(ran);
    }
}
