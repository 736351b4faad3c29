//! Rust client for the [attache](https://github.com/attache-sidecar/attache)
//! sidecar.
//!
//! ```no_run
//! # async fn demo() -> attache_client::Result<()> {
//! let client = attache_client::Client::connect("/run/attache/attache.sock").await?;
//! let hash = client.password().hash("correct horse battery staple").await?;
//! assert!(client.password().verify("correct horse battery staple", &hash).await?.valid);
//! client.redis().command(["SET", "greeting", "hello"]).await?;
//! let (value, _hit) = client.redis().cached(["GET", "greeting"], std::time::Duration::from_secs(60)).await?;
//! assert_eq!(value.as_str(), Some("hello"));
//! # Ok(()) }
//! ```
//!
//! One [`Client`] per process, cloned freely (clones share the connection
//! pool). Every call has a deadline: the client's timeout, or the one
//! [`Client::with_timeout`] gives; it travels to the sidecar, which stops
//! working on the call when it passes. Calls the API marks idempotent are
//! sent again on `Unavailable`, with capped, jittered backoff inside that
//! deadline; no other call is. Errors are one [`Error`] with a [`Code`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
pub mod image;
pub mod kafka;
pub mod password;
pub mod postgres;
pub mod redis;
mod transport;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use attache_proto::attache::sidecar::v1 as pb;
use buffa::Message;
use connectrpc::{IdempotencyLevel, Spec};
use tokio::time::Instant;

pub use crate::config::default_socket;
pub use crate::error::{Code, Error, Result};
use crate::transport::Transport;

/// How many times an idempotent call is sent again on `Unavailable`.
pub const DEFAULT_RETRIES: u32 = 2;
/// The deadline of a call when neither `ATTACHE_TIMEOUT_MS` nor the
/// builder says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one sidecar. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    timeout: Duration,
}

struct Inner {
    transport: Transport,
    retries: u32,
}

/// Options of a [`Client`].
#[derive(Debug, Clone)]
pub struct Builder {
    socket: Option<PathBuf>,
    timeout: Option<Duration>,
    retries: u32,
    max_connections: usize,
    max_reply_bytes: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            socket: None,
            timeout: None,
            retries: DEFAULT_RETRIES,
            max_connections: 128,
            max_reply_bytes: 256 << 20,
        }
    }
}

impl Builder {
    /// The sidecar's socket. Default: `$ATTACHE_SOCKET`, else the
    /// sidecar's own rule ([`default_socket`]).
    pub fn socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.socket = Some(path.into());
        self
    }

    /// The deadline of each call. Default (and for zero):
    /// `$ATTACHE_TIMEOUT_MS` milliseconds, else 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout).filter(|t| !t.is_zero());
        self
    }

    /// Times an idempotent call is sent again on `Unavailable`; 0 turns
    /// retries off. Default 2.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Most unary calls in flight at once, each on an HTTP/1.1 connection
    /// of its own (kept for later calls); calls beyond wait for one to
    /// finish. Default 128.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Largest reply accepted, in bytes; a larger one fails the call with
    /// `ResourceExhausted` without being buffered. Default 256 MiB.
    pub fn max_reply_bytes(mut self, n: usize) -> Self {
        self.max_reply_bytes = n;
        self
    }

    /// The client; nothing is dialled until the first call.
    pub fn build(self) -> Result<Client> {
        let socket = match self.socket {
            Some(path) => path,
            None => match std::env::var_os("ATTACHE_SOCKET").filter(|s| !s.is_empty()) {
                Some(path) => PathBuf::from(path),
                None => default_socket()?,
            },
        };
        let timeout = self.timeout.or_else(config::env_timeout).unwrap_or(DEFAULT_TIMEOUT);
        let transport = Transport::new(socket, self.max_connections, self.max_reply_bytes);
        Ok(Client { inner: Arc::new(Inner { transport, retries: self.retries }), timeout })
    }

    /// The client, with one connection to the sidecar made: fails with
    /// `Unavailable` if the socket does not answer.
    pub async fn connect(self) -> Result<Client> {
        let client = self.build()?;
        client.inner.transport.warm().await?;
        Ok(client)
    }
}

impl Client {
    /// Options for a client.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A client of the sidecar at `socket`, connected.
    pub async fn connect(socket: impl AsRef<Path>) -> Result<Client> {
        Builder::default().socket(socket.as_ref()).connect().await
    }

    /// A client of the sidecar at `$ATTACHE_SOCKET`, else the default
    /// socket; nothing is dialled until the first call.
    pub fn from_env() -> Result<Client> {
        Builder::default().build()
    }

    /// The socket this client calls.
    pub fn socket(&self) -> &Path {
        self.inner.transport.socket()
    }

    /// The deadline each call gets.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// This client with another deadline for its calls (sharing its
    /// connections): `client.with_timeout(ms(200)).redis().command(..)`.
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        Client { inner: self.inner.clone(), timeout }
    }

    /// The sidecar's version and the modules it serves.
    pub async fn info(&self) -> Result<Info> {
        let reply: pb::GetInfoResponse = self
            .unary(attache_proto::attache::sidecar::v1::SIDECAR_SERVICE_GET_INFO_SPEC, &pb::GetInfoRequest::default())
            .await?;
        Ok(Info { version: reply.version, modules: reply.modules })
    }

    /// Password hashing (argon2id, bcrypt, scrypt).
    pub fn password(&self) -> password::Password<'_> {
        password::Password { client: self }
    }

    /// Image probing and resizing.
    pub fn image(&self) -> image::Images<'_> {
        image::Images { client: self }
    }

    /// Redis, with the sidecar's shared client-side cache.
    pub fn redis(&self) -> redis::Redis<'_> {
        redis::Redis { client: self }
    }

    /// PostgreSQL through the sidecar's shared pool.
    pub fn postgres(&self) -> postgres::Postgres<'_> {
        postgres::Postgres { client: self }
    }

    /// Kafka through the sidecar's durable spool.
    pub fn kafka(&self) -> kafka::Kafka<'_> {
        kafka::Kafka { client: self }
    }

    fn deadline(&self) -> Instant {
        let now = Instant::now();
        // Duration::MAX, say, means no deadline: a century is as good.
        now.checked_add(self.timeout).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
    }

    /// One unary call under the client's deadline and its retry rule: only
    /// methods the proto marks `NO_SIDE_EFFECTS` or `IDEMPOTENT` (read
    /// from the generated spec, never restated per call) are sent again,
    /// only on `Unavailable`, with capped jittered backoff that must end
    /// before the deadline.
    pub(crate) async fn unary<Req: Message, Resp: Message>(&self, spec: Spec, req: &Req) -> Result<Resp> {
        let deadline = self.deadline();
        let retries = match spec.idempotency_level {
            IdempotencyLevel::NoSideEffects | IdempotencyLevel::Idempotent => self.inner.retries,
            _ => 0,
        };
        let mut attempt = 0;
        loop {
            match self.inner.transport.unary(spec.procedure, req, deadline).await {
                Err(e) if e.code() == Code::Unavailable && attempt < retries => {
                    let backoff = Duration::from_millis(25 << attempt.min(10)).min(Duration::from_secs(1));
                    let backoff = backoff.mul_f64(0.5 + rand::random::<f64>() / 2.0);
                    if Instant::now() + backoff >= deadline {
                        return Err(e);
                    }
                    tokio::time::sleep(backoff).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("socket", &self.socket()).field("timeout", &self.timeout).finish()
    }
}

/// What [`Client::info`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The sidecar's version, e.g. `"0.1.0"`.
    pub version: String,
    /// The modules it serves, e.g. `["password", "redis"]`.
    pub modules: Vec<String>,
}
