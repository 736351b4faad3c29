use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use connectrpc::{ConnectRpcService, DeadlinePolicy, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, AdminState};
use crate::edge::{self, Edge};
use crate::gate::{Budget, Caller, ConnState, Gate, Hosts};
use crate::listener::{PeerPolicy, UnixSocket};
use crate::metrics::Metrics;
use crate::modules::{self, Modules};
use crate::timed::{AcceptErrors, Caps, Timed};
use crate::{AdminConfig, AdminListen, Config, Error};

enum Admin {
    Tcp(TcpListener),
    Unix(UnixSocket),
}

/// Bound listeners, ready to serve. Binding is separate from serving so a
/// socket in use or a bad address fails start-up before anything runs.
pub struct Server {
    config: Config,
    unix: UnixSocket,
    tcp: Option<TcpListener>,
    admin: Option<Admin>,
}

impl Server {
    pub async fn bind(config: &Config, admin: &AdminConfig) -> Result<Self, Error> {
        config.validate().map_err(Error::Config)?;
        let mode = config.socket_mode_bits().map_err(Error::Config)?;
        let unix = UnixSocket::bind(&config.socket, mode)?;
        let tcp = match config.tcp {
            Some(addr) => Some(
                TcpListener::bind(addr).await.map_err(|source| Error::Bind { what: format!("tcp {addr}"), source })?,
            ),
            None => None,
        };
        let admin = match admin.parse().map_err(Error::Config)? {
            AdminListen::Off => None,
            AdminListen::Tcp(addr) => Some(Admin::Tcp(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| Error::Bind { what: format!("admin {addr}"), source })?,
            )),
            AdminListen::Unix(path) => Some(Admin::Unix(UnixSocket::bind(&path, mode)?)),
        };
        Ok(Self { config: config.clone(), unix, tcp, admin })
    }

    pub fn socket_path(&self) -> &Path {
        self.unix.path()
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        match &self.admin {
            Some(Admin::Tcp(l)) => l.local_addr().ok(),
            _ => None,
        }
    }

    /// Serves until `shutdown` fires, then stops accepting, removes the
    /// socket file, and gives in-flight requests `drain_timeout` to finish.
    /// Module shutdown (flushing pools) is the caller's next step.
    pub async fn serve(
        self,
        modules: Modules,
        mut registry: Registry,
        shutdown: CancellationToken,
    ) -> Result<(), Error> {
        let metrics = Metrics::new(&mut registry);
        let serving = modules.enabled();
        let admissions = edge::admissions(serving.iter().map(|m| (m.name(), m.limits())), &metrics);
        let max = usize::try_from(self.config.max_request_bytes.as_u64()).unwrap_or(usize::MAX);
        let context = modules::Context { admissions: &admissions, max_request_bytes: max };
        let router = modules::register(Router::new(), &modules, &context);
        let edge = Edge::new(admissions, metrics.clone());
        let (router, health) = connectrpc_health::install_static(router, modules::SERVICES.iter().copied());
        let mut reflector =
            connectrpc_reflection::Reflector::from_descriptor_set_bytes(attache_proto::FILE_DESCRIPTOR_SET)
                .expect("the embedded descriptor set is generated with the code and always parses");
        reflector
            .add_descriptor_set_bytes(attache_proto::HEALTH_DESCRIPTOR_SET)
            .expect("the embedded health descriptor set is generated with the code and always parses");
        let router = connectrpc_reflection::install(router, reflector);

        let service = ConnectRpcService::new(router)
            .with_limits(connectrpc::Limits::default().with_max_request_body_size(max).with_max_message_size(max))
            .with_deadline_policy(
                DeadlinePolicy::new()
                    .with_default_timeout(self.config.default_timeout)
                    .with_max(self.config.max_timeout),
            )
            .with_interceptor(edge);

        let admin_state = Arc::new(AdminState {
            registry,
            ready: AtomicBool::new(false),
            started: Instant::now(),
            modules: serving,
            socket: self.unix.path().display().to_string(),
        });
        let timeouts = (self.config.header_timeout, self.config.idle_timeout, self.config.write_timeout);
        let admin_task = self.admin.map(|admin| tokio::spawn(serve_admin(admin, admin_state.clone(), timeouts)));

        let peers = PeerPolicy { uids: self.config.allowed_uids.clone(), gids: self.config.allowed_gids.clone() };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // The head timeout is `Timed`'s: hyper's also runs while a kept-alive
        // connection waits for its next request (see timed.rs).
        builder.http1().timer(TokioTimer::new()).header_read_timeout(None);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.config.max_streams_per_connection)
            .adaptive_window(true);
        let budget = Budget::new(usize::try_from(self.config.max_in_flight_bytes.as_u64()).unwrap_or(usize::MAX));
        let caps = Caps::<Peer>::new(self.config.max_connections, self.config.max_connections_per_peer);
        let hosts = self
            .tcp
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|addr| Arc::new(Hosts::new(addr, &self.config.tcp_allowed_hosts)));
        let (header_timeout, idle_timeout, write_timeout) =
            (self.config.header_timeout, self.config.idle_timeout, self.config.write_timeout);
        let connections = TaskTracker::new();
        let drain = CancellationToken::new();
        let serve_io = |io: Io, peer: Peer, caller: Caller, tcp: bool| {
            let Some(slot) = caps.admit(peer) else {
                metrics.refused_connections.inc();
                return;
            };
            metrics.connections.inc();
            let conn_state = ConnState::new(Some(budget.clone()));
            let gate = Gate {
                inner: service.clone(),
                budget: budget.clone(),
                conn: conn_state.clone(),
                hosts: if tcp { hosts.clone() } else { None },
                caller,
            };
            let io = Timed::new(io, conn_state.clone(), idle_timeout, Some(header_timeout), write_timeout);
            let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(gate)).into_owned();
            let drain = drain.clone();
            connections.spawn(async move {
                let _slot = slot;
                let mut conn = std::pin::pin!(conn);
                let ended = tokio::select! {
                    ended = conn.as_mut() => ended,
                    () = drain.cancelled() => {
                        // Nothing in flight (idle, or still sending headers):
                        // close now rather than hold the drain.
                        if conn_state.is_idle() {
                            return;
                        }
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        };

        admin_state.ready.store(true, Ordering::Release);
        tracing::info!(socket = %self.unix.path().display(), tcp = ?self.tcp.as_ref().and_then(|l| l.local_addr().ok()), "serving");
        let unix = self.unix;
        let accept_errors = AcceptErrors::new();
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = unix.listener.accept() => match accepted {
                    Ok((stream, _)) if peers.admits(&stream) => {
                        let cred = stream.peer_cred().ok();
                        let peer = cred.and_then(|c| c.pid()).map_or(Peer::Unknown, Peer::Process);
                        let caller = match cred {
                            Some(c) => format!("pid {} uid {}", c.pid().unwrap_or(0), c.uid()),
                            None => "unknown".to_owned(),
                        };
                        serve_io(Io::Unix(stream), peer, Caller(caller.into()), false)
                    }
                    Ok(_) => {
                        metrics.refused_peers.inc();
                    }
                    Err(e) => accept_errors.record("api", e).await,
                },
                accepted = accept_tcp(self.tcp.as_ref()) => match accepted {
                    Ok((stream, addr)) => {
                        let _ = stream.set_nodelay(true);
                        serve_io(Io::Tcp(stream), Peer::Address(addr.ip()), Caller(addr.ip().to_string().into()), true)
                    }
                    Err(e) => accept_errors.record("api tcp", e).await,
                },
            }
        }

        admin_state.ready.store(false, Ordering::Release);
        health.shutdown();
        drop(unix);
        connections.close();
        tracing::info!(connections = connections.len(), drain_timeout = ?self.config.drain_timeout, "draining");
        drain.cancel();
        if tokio::time::timeout(self.config.drain_timeout, connections.wait()).await.is_err() {
            tracing::warn!("drain timeout passed with requests still in flight; closing them");
        }
        if let Some(task) = admin_task {
            task.abort();
        }
        Ok(())
    }
}

/// Who opened a connection, for the per-peer cap: a process on the Unix
/// socket, an address over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Peer {
    Process(i32),
    Address(std::net::IpAddr),
    Unknown,
}

async fn accept_tcp(listener: Option<&TcpListener>) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Admin connections open at once; the admin listener serves probes and
/// scrapes, a handful at a time.
const MAX_ADMIN_CONNECTIONS: usize = 64;

async fn serve_admin(admin: Admin, state: Arc<AdminState>, timeouts: (Duration, Duration, Duration)) {
    let (header_timeout, idle_timeout, write_timeout) = timeouts;
    let caps = Caps::<()>::new(MAX_ADMIN_CONNECTIONS, MAX_ADMIN_CONNECTIONS);
    let accept_errors = AcceptErrors::new();
    let serve = |io: Io| {
        let Some(slot) = caps.admit(()) else { return };
        let state = state.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let conn_state = ConnState::new(None);
            let idle = conn_state.clone();
            let service = hyper::service::service_fn(move |req| {
                // Busy while answering; the answer is small and whole.
                let _active = ConnState::busy(&idle);
                admin::handle(state.clone(), req)
            });
            let io = Timed::new(io, conn_state, idle_timeout, None, write_timeout);
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(io), service)
                .await;
        });
    };
    loop {
        let accepted = match &admin {
            Admin::Tcp(l) => l.accept().await.map(|(s, _)| Io::Tcp(s)),
            Admin::Unix(u) => accept_unix(&u.listener).await.map(Io::Unix),
        };
        match accepted {
            Ok(io) => serve(io),
            Err(e) => accept_errors.record("admin", e).await,
        }
    }
}

async fn accept_unix(listener: &UnixListener) -> std::io::Result<tokio::net::UnixStream> {
    listener.accept().await.map(|(s, _)| s)
}

/// Either kind of stream, so one connection path serves both listeners.
enum Io {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Io::Unix($s) => {
                let $s = std::pin::Pin::new($s);
                $e
            }
            Io::Tcp($s) => {
                let $s = std::pin::Pin::new($s);
                $e
            }
        }
    };
}

impl AsyncRead for Io {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Unix(s) => s.is_write_vectored(),
            Io::Tcp(s) => s.is_write_vectored(),
        }
    }
}
