//! The gate: what a request meets after its headers are read and before the
//! protocol layer buffers its body — the `Host`/`Origin` check on TCP, the
//! in-flight byte budget, and the bookkeeping that lets a connection know it
//! is idle.
//!
//! Key decision: the protocol layer (connectrpc) reads a whole body before
//! any interceptor runs, so admission there comes too late to bound memory.
//! The gate therefore reserves a request's declared length from one budget
//! shared by every caller before a byte of the body is read (refusing with
//! RESOURCE_EXHAUSTED when it would not fit), meters bodies of unknown
//! length frame by frame, and counts each response frame until the client
//! has taken it. Errors it raises are encoded for the caller's protocol by
//! connectrpc's own `into_http_response`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use connectrpc::{ConnectError, ConnectRpcBody, ConnectRpcService};
use http::{HeaderMap, Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// Bytes of bodies held at once by every caller together.
pub(crate) struct Budget {
    used: AtomicUsize,
    max: usize,
}

impl Budget {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { used: AtomicUsize::new(0), max })
    }

    fn try_take(&self, bytes: usize) -> bool {
        let before = self.used.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(bytes) > self.max {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Counts bytes that already exist (a response): never refused, but
    /// what they hold keeps new requests out.
    fn force(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    fn give(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn refusal(&self) -> ConnectError {
        ConnectError::resource_exhausted(format!(
            "the sidecar holds its limit of request and response bytes ({} bytes, server.max_in_flight_bytes); \
             retry with backoff, send smaller requests, or raise server.max_in_flight_bytes",
            self.max
        ))
    }
}

/// A connection's requests in flight, since when it has had none, and the
/// response bytes handed to it that the client has not yet taken.
pub(crate) struct ConnState {
    born: Instant,
    active: AtomicUsize,
    /// Milliseconds after `born` when `active` last fell to zero.
    idle_since: AtomicU64,
    /// Requests finished on this connection.
    finished: AtomicU64,
    unwritten: AtomicUsize,
    budget: Option<Arc<Budget>>,
}

impl ConnState {
    pub fn new(budget: Option<Arc<Budget>>) -> Arc<Self> {
        Arc::new(Self {
            born: Instant::now(),
            active: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            unwritten: AtomicUsize::new(0),
            budget,
        })
    }

    /// Response bytes produced for this connection: they count against the
    /// budget until written to its socket.
    fn produced(&self, bytes: usize) {
        if let Some(budget) = &self.budget {
            budget.force(bytes);
            self.unwritten.fetch_add(bytes, Ordering::AcqRel);
        }
    }

    /// Bytes written to the socket (headers and framing included, so this
    /// may release a little early, never late).
    pub fn written(&self, bytes: usize) {
        let Some(budget) = &self.budget else { return };
        let mut released = 0;
        let _ = self.unwritten.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
            released = left.min(bytes);
            Some(left - released)
        });
        budget.give(released);
    }

    /// The connection is gone: what it never wrote is freed.
    pub fn closed(&self) {
        self.written(usize::MAX);
    }

    /// When the connection will have been idle for `timeout`, if it is idle.
    pub fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(self.born + Duration::from_millis(self.idle_since.load(Ordering::Acquire)) + timeout)
    }

    pub fn is_idle(&self) -> bool {
        self.active.load(Ordering::Acquire) == 0
    }

    /// How many requests have finished on this connection.
    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::Acquire)
    }
}

/// One request in flight on a connection, until its response is done.
pub(crate) struct Active(Arc<ConnState>);

impl Active {
    fn new(conn: &Arc<ConnState>) -> Self {
        conn.active.fetch_add(1, Ordering::AcqRel);
        Self(conn.clone())
    }
}

impl ConnState {
    /// Marks a request in flight until the guard is dropped.
    pub fn busy(conn: &Arc<ConnState>) -> Active {
        Active::new(conn)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let since = self.0.born.elapsed().as_millis() as u64;
        self.0.idle_since.store(since, Ordering::Release);
        self.0.finished.fetch_add(1, Ordering::AcqRel);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes one request's body holds from the budget, given back when its
/// response is done (the handler may keep slices of the body until then).
struct Hold {
    budget: Arc<Budget>,
    bytes: AtomicUsize,
    /// Why the body ended early, if it did (one allocation per request
    /// holds both).
    cut: Mutex<Option<Cut>>,
}

impl Hold {
    fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    fn give_back(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.budget.give(bytes);
    }
}

/// Procedures whose request is a stream of messages, each handled and
/// dropped while the next is read: their frames are held from the budget
/// only until the next arrives, or a stream carrying gigabytes over hours
/// would count them all until it ends. (A unary body is held whole: its
/// handler may keep slices of it until it answers.)
const STREAMING: &[&str] = &[
    "/attache.kafka.v1.KafkaService/ProduceStream",
    "/attache.kafka.v1.KafkaService/Consume",
    "/attache.postgres.v1.PostgresService/Transaction",
];

impl Drop for Hold {
    fn drop(&mut self) {
        self.budget.give(*self.bytes.get_mut());
    }
}

/// Why a request body ended early; the gate answers it in place of what
/// the protocol layer made of the body error.
#[derive(Debug, Clone)]
enum Cut {
    OverBudget,
    Broken(String),
}

#[derive(Debug)]
pub(crate) struct BodyError(String);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

/// The request body, metered: frames past what was reserved up front must
/// fit in the budget, and a transport error is remembered.
pub(crate) struct Metered {
    inner: Incoming,
    hold: Arc<Hold>,
    /// Bytes reserved before reading (the declared length).
    prepaid: usize,
    read: usize,
    /// A streaming procedure: the last frame's bytes, given back when the
    /// next one is read.
    streaming: Option<usize>,
}

impl Body for Metered {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(last)) = (frame.data_ref(), this.streaming.as_mut()) {
                    this.hold.give_back(std::mem::take(last));
                    if !this.hold.budget.try_take(data.len()) {
                        *this.hold.cut.lock().expect("cut poisoned") = Some(Cut::OverBudget);
                        return Poll::Ready(Some(Err(BodyError("over server.max_in_flight_bytes".into()))));
                    }
                    this.hold.add(data.len());
                    *last = data.len();
                } else if let Some(data) = frame.data_ref() {
                    let after = this.read + data.len();
                    let extra = after.saturating_sub(this.prepaid.max(this.read));
                    if extra > 0 {
                        if !this.hold.budget.try_take(extra) {
                            *this.hold.cut.lock().expect("cut poisoned") = Some(Cut::OverBudget);
                            return Poll::Ready(Some(Err(BodyError("over server.max_in_flight_bytes".into()))));
                        }
                        this.hold.add(extra);
                    }
                    this.read = after;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let why = e.to_string();
                *this.hold.cut.lock().expect("cut poisoned") = Some(Cut::Broken(why.clone()));
                Poll::Ready(Some(Err(BodyError(why))))
            }
            other => other.map(|_| None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body: each frame counts against the budget until it is
/// written to the socket (see [`ConnState::written`]); the request's body
/// stays counted, and the request in flight, until the response is done.
pub(crate) struct Counted {
    inner: ConnectRpcBody,
    _hold: Arc<Hold>,
    active: Active,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = <ConnectRpcBody as Body>::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.active.0.produced(data.len());
        }
        polled
    }

    // connectrpc's body does not pass these on from a unary reply's `Full`
    // body; asked here, hyper writes a Connect unary reply with its
    // `content-length` in one piece instead of chunked.
    fn is_end_stream(&self) -> bool {
        match &self.inner {
            ConnectRpcBody::Full(full) => full.is_end_stream(),
            other => other.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            ConnectRpcBody::Full(full) => full.size_hint(),
            other => other.size_hint(),
        }
    }
}

/// A response whose body is counted, holding its request's bytes and its
/// place in flight until the body is done.
fn counted(response: Response<ConnectRpcBody>, hold: Arc<Hold>, active: Active) -> Response<Counted> {
    response.map(|inner| Counted { inner, _hold: hold, active })
}

/// Which `Host` and `Origin` values the TCP listener serves.
#[derive(Debug, Clone)]
pub(crate) struct Hosts {
    allowed: Vec<String>,
}

impl Hosts {
    pub fn new(listener: std::net::SocketAddr, extra: &[String]) -> Self {
        let mut allowed: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(String::from).to_vec();
        allowed.push(match listener.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        });
        allowed.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
        Self { allowed }
    }

    fn allows(&self, host_and_port: &str) -> bool {
        let host = match host_and_port.rsplit_once(':') {
            // An IPv6 literal's own colons stay inside its brackets.
            Some((host, port)) if !port.contains(']') && port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => host_and_port,
        };
        let host = host.to_ascii_lowercase();
        self.allowed.contains(&host)
    }

    /// Refuses a request whose `Host` is not this listener's (a page
    /// reaching it by DNS rebinding) or that a browser sent from a page
    /// (`Origin`) of another host.
    fn check<B>(&self, req: &Request<B>) -> Result<(), ConnectError> {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        match host {
            Some(host) if self.allows(host) => {}
            other => {
                return Err(ConnectError::permission_denied(format!(
                    "host {:?} is not served on the TCP listener; call it as localhost or 127.0.0.1, \
                     or list the name in server.tcp_allowed_hosts",
                    other.unwrap_or("")
                )));
            }
        }
        if let Some(origin) = req.headers().get(http::header::ORIGIN) {
            let text = origin.to_str().unwrap_or("");
            let host = text.split_once("://").map_or("", |(_, rest)| rest);
            if !self.allows(host) {
                return Err(ConnectError::permission_denied(format!(
                    "requests from a web page of origin {text:?} are refused; list its host in server.tcp_allowed_hosts"
                )));
            }
        }
        Ok(())
    }
}

/// The service one connection's requests go through.
#[derive(Clone)]
pub(crate) struct Gate {
    pub inner: ConnectRpcService,
    pub budget: Arc<Budget>,
    pub conn: Arc<ConnState>,
    /// Set on the TCP listener.
    pub hosts: Option<Arc<Hosts>>,
    /// Who is on the other end; handed to every request as an extension.
    pub caller: Caller,
}

/// The process (Unix socket: its pid and uid from SO_PEERCRED) or the
/// address (TCP) a request came from. State a module keeps for a caller
/// (an open transaction) is bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller(pub Arc<str>);

type GateFuture = Pin<Box<dyn Future<Output = Result<Response<Counted>, Infallible>> + Send>>;

impl tower::Service<Request<Incoming>> for Gate {
    type Response = Response<Counted>;
    type Error = Infallible;
    type Future = GateFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> GateFuture {
        req.extensions_mut().insert(self.caller.clone());
        let active = Active::new(&self.conn);
        let hold = Arc::new(Hold { budget: self.budget.clone(), bytes: AtomicUsize::new(0), cut: Mutex::new(None) });
        let refuse = |err: ConnectError, headers: &HeaderMap, hold: Arc<Hold>, active: Active| {
            let response = counted(err.into_http_response(headers), hold, active);
            Box::pin(std::future::ready(Ok(response))) as GateFuture
        };
        if let Some(hosts) = &self.hosts
            && let Err(err) = hosts.check(&req)
        {
            return refuse(err, req.headers(), hold, active);
        }
        let declared = req.body().size_hint().exact().map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        if declared > 0 {
            if !self.budget.try_take(declared) {
                return refuse(self.budget.refusal(), req.headers(), hold, active);
            }
            hold.add(declared);
        }
        // Only the content type is needed to answer in the caller's protocol
        // (kept as a value: a header map is made only for such an answer).
        let content_type = req.headers().get(http::header::CONTENT_TYPE).cloned();
        let (parts, body) = req.into_parts();
        let streaming = STREAMING.contains(&parts.uri.path()).then_some(0);
        let metered = Metered { inner: body, hold: hold.clone(), prepaid: declared, read: 0, streaming };
        let response = tower::Service::call(&mut self.inner, Request::from_parts(parts, metered));
        Box::pin(async move {
            let Ok(response) = response.await;
            let cut = hold.cut.lock().expect("cut poisoned").take();
            let Some(cut) = cut else { return Ok(counted(response, hold, active)) };
            let mut protocol = HeaderMap::new();
            if let Some(ct) = content_type {
                protocol.insert(http::header::CONTENT_TYPE, ct);
            }
            let response = match cut {
                Cut::OverBudget => hold.budget.refusal().into_http_response(&protocol),
                Cut::Broken(why) => ConnectError::invalid_argument(format!(
                    "the request body could not be read ({why}); check the client's framing (Content-Length, chunked encoding)"
                ))
                .into_http_response(&protocol),
            };
            Ok(counted(response, hold, active))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_past_its_limit_and_counts_what_exists() {
        let budget = Budget::new(100);
        assert!(budget.try_take(60));
        assert!(!budget.try_take(41));
        assert!(budget.try_take(40));
        budget.give(100);
        budget.force(150);
        assert!(!budget.try_take(1));
        budget.give(150);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn hosts_are_the_listeners_own_names() {
        let hosts = Hosts::new("127.0.0.1:7311".parse().unwrap(), &["attache.internal".into()]);
        for ok in ["localhost:7311", "127.0.0.1", "[::1]:7311", "LOCALHOST", "attache.internal:80"] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in ["evil.example:7311", "127.0.0.1.evil.example", "", "localhost.:7311"] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        let req = |host: &str, origin: Option<&str>| {
            let mut b = Request::post("/x").header("host", host);
            if let Some(o) = origin {
                b = b.header("origin", o);
            }
            b.body(()).unwrap()
        };
        assert!(hosts.check(&req("127.0.0.1:7311", None)).is_ok());
        assert!(hosts.check(&req("rebound.example:7311", None)).is_err());
        assert!(hosts.check(&req("127.0.0.1:7311", Some("https://evil.example"))).is_err());
        assert!(hosts.check(&req("127.0.0.1:7311", Some("http://localhost:3000"))).is_ok());
    }
}
