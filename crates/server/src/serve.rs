use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use attache_proto::attache::image::v1::{
    IMAGE_SERVICE_PROBE_SPEC, IMAGE_SERVICE_RESIZE_MANY_SPEC, IMAGE_SERVICE_RESIZE_SPEC, IMAGE_SERVICE_SERVICE_NAME,
};
use attache_proto::attache::password::v1::PASSWORD_SERVICE_SERVICE_NAME;
use attache_proto::attache::redis::v1::REDIS_SERVICE_SERVICE_NAME;
use attache_proto::attache::sidecar::v1::SIDECAR_SERVICE_SERVICE_NAME;
use connectrpc::{ConnectRpcService, DeadlinePolicy, Router, ServiceRegister};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState};
use crate::edge::Edge;
use crate::image::Image;
use crate::listener::{PeerPolicy, UnixSocket};
use crate::metrics::Metrics;
use crate::password::Password;
use crate::redis::Redis;
use crate::sidecar::Sidecar;
use crate::{AdminConfig, AdminListen, Config, Error};

/// The modules the server exposes; a `None` module answers
/// `FAILED_PRECONDITION` with how to enable it.
#[derive(Default, Clone)]
pub struct Modules {
    pub password: Option<attache_password::Service>,
    pub redis: Option<attache_redis::Service>,
    pub image: Option<attache_image::Service>,
}

impl Modules {
    /// Each enabled module's admission limits.
    fn limits(&self) -> Vec<(&'static str, attache_core::Limits)> {
        let mut limits = Vec::new();
        if let Some(p) = &self.password {
            limits.push(("password", p.config().limits));
        }
        if let Some(r) = &self.redis {
            limits.push(("redis", r.config().limits));
        }
        if let Some(i) = &self.image {
            limits.push(("image", i.config().limits));
        }
        limits
    }

    fn all(&self) -> Vec<(&'static str, Arc<dyn attache_core::Module>)> {
        let mut all: Vec<(&'static str, Arc<dyn attache_core::Module>)> = Vec::new();
        if let Some(p) = &self.password {
            all.push(("password", Arc::new(p.clone())));
        }
        if let Some(r) = &self.redis {
            all.push(("redis", Arc::new(r.clone())));
        }
        if let Some(i) = &self.image {
            all.push(("image", Arc::new(i.clone())));
        }
        all
    }
}

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
        let edge = Edge::new(modules.limits(), metrics.clone());
        let serving = modules.all();

        let enabled = serving.iter().map(|(name, _)| name.to_string()).collect();
        let router = Arc::new(Sidecar { modules: enabled }).register_service(Router::new());
        let router = Arc::new(Password(modules.password.clone())).register_service(router);
        let router = Arc::new(Redis(modules.redis.clone())).register_service(router);
        let router = Arc::new(Image(modules.image.clone())).register_service(router);
        let max = usize::try_from(self.config.max_request_bytes.as_u64()).unwrap_or(usize::MAX);
        // Images are bigger than anything else we take: their routes admit
        // image.max_input_bytes, base64-inflated for Connect's JSON form.
        let image_max = modules.image.as_ref().map_or(max, |i| {
            let input = usize::try_from(i.config().max_input_bytes.as_u64()).unwrap_or(usize::MAX);
            max.max(input.saturating_mul(4) / 3 + (1 << 20))
        });
        let image_limits =
            connectrpc::Limits::default().with_max_request_body_size(image_max).with_max_message_size(image_max);
        let router = [IMAGE_SERVICE_RESIZE_SPEC, IMAGE_SERVICE_RESIZE_MANY_SPEC, IMAGE_SERVICE_PROBE_SPEC]
            .iter()
            .fold(router, |router, spec| router.with_route_limits(spec.procedure, image_limits));
        let (router, health) = connectrpc_health::install_static(
            router,
            [
                SIDECAR_SERVICE_SERVICE_NAME,
                PASSWORD_SERVICE_SERVICE_NAME,
                REDIS_SERVICE_SERVICE_NAME,
                IMAGE_SERVICE_SERVICE_NAME,
            ],
        );
        let reflector = connectrpc_reflection::Reflector::from_descriptor_set_bytes(attache_proto::FILE_DESCRIPTOR_SET)
            .expect("the embedded descriptor set is generated with the code and always parses");
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
        let admin_task = self.admin.map(|admin| tokio::spawn(serve_admin(admin, admin_state.clone())));

        let peers = PeerPolicy { uids: self.config.allowed_uids.clone(), gids: self.config.allowed_gids.clone() };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http2().max_concurrent_streams(1024).adaptive_window(true);
        let graceful = GracefulShutdown::new();
        let serve_io = |io| {
            metrics.connections.inc();
            let hyper_service = TowerToHyperService::new(service.clone());
            let conn = builder.serve_connection(TokioIo::new(io), hyper_service).into_owned();
            let watched = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = watched.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        };

        admin_state.ready.store(true, Ordering::Release);
        tracing::info!(socket = %self.unix.path().display(), tcp = ?self.tcp.as_ref().and_then(|l| l.local_addr().ok()), "serving");
        let unix = self.unix;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = unix.listener.accept() => match accepted {
                    Ok((stream, _)) if peers.admits(&stream) => serve_io(Io::Unix(stream)),
                    Ok(_) => {
                        metrics.refused_peers.inc();
                    }
                    Err(e) => accept_error(e).await,
                },
                accepted = accept_tcp(self.tcp.as_ref()) => match accepted {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        serve_io(Io::Tcp(stream))
                    }
                    Err(e) => accept_error(e).await,
                },
            }
        }

        admin_state.ready.store(false, Ordering::Release);
        health.shutdown();
        drop(unix);
        let in_flight = graceful.count();
        tracing::info!(connections = in_flight, drain_timeout = ?self.config.drain_timeout, "draining");
        if tokio::time::timeout(self.config.drain_timeout, graceful.shutdown()).await.is_err() {
            tracing::warn!("drain timeout passed with requests still in flight; closing them");
        }
        if let Some(task) = admin_task {
            task.abort();
        }
        Ok(())
    }
}

async fn accept_tcp(listener: Option<&TcpListener>) -> std::io::Result<tokio::net::TcpStream> {
    match listener {
        Some(l) => l.accept().await.map(|(s, _)| s),
        None => std::future::pending().await,
    }
}

/// Accept errors such as EMFILE are transient: log, back off briefly, go on.
async fn accept_error(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed; retrying");
    tokio::time::sleep(Duration::from_millis(20)).await;
}

async fn serve_admin(admin: Admin, state: Arc<AdminState>) {
    let serve = |io: Io| {
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| admin::handle(state.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service).await;
        });
    };
    loop {
        let accepted = match &admin {
            Admin::Tcp(l) => l.accept().await.map(|(s, _)| Io::Tcp(s)),
            Admin::Unix(u) => accept_unix(&u.listener).await.map(Io::Unix),
        };
        match accepted {
            Ok(io) => serve(io),
            Err(e) => accept_error(e).await,
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
