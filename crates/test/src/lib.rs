//! Test support: the whole sidecar in-process on a temporary socket, and
//! clients for each protocol it speaks.
//!
//! Key decision: tests run the same `attache_app::App` the binary runs, not
//! a hand-assembled server, so what they prove holds for the product.
#![forbid(unsafe_code)]

mod certs;
mod kafka;
mod postgres;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use attache_config::Config;
use attache_proto::attache::image::v1::ImageServiceClient;
use attache_proto::attache::kafka::v1::KafkaServiceClient;
use attache_proto::attache::password::v1::PasswordServiceClient;
use attache_proto::attache::postgres::v1::PostgresServiceClient;
use attache_proto::attache::redis::v1::RedisServiceClient;
use attache_proto::attache::sidecar::v1::SidecarServiceClient;
use bytes::Bytes;
use connectrpc::Protocol;
use connectrpc::client::{ClientConfig, Http2Connection, SharedHttp2Connection};
use http_body_util::{BodyExt, Full};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::certs::Ca;
pub use crate::kafka::{KafkaBroker, Read as KafkaRead};
pub use crate::postgres::PostgresServer;

/// A running sidecar; stopped (drained) by [`Sidecar::stop`] or on drop.
pub struct Sidecar {
    socket: PathBuf,
    admin: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    modules: attache_server::Modules,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), attache_app::Error>>>,
    _dir: tempfile::TempDir,
}

/// Password costs low enough for fast tests (the production defaults are
/// covered by their own test).
pub fn cheap_password(config: &mut Config) {
    config.password.argon2.memory_kib = 1024;
    config.password.argon2.iterations = 1;
    config.password.bcrypt.cost = 4;
    config.password.scrypt.log_n = 4;
}

impl Sidecar {
    /// Starts a sidecar with test defaults (cheap password costs, admin on
    /// an ephemeral loopback port) after `configure` has had its say.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.server.socket = dir.path().join("attache.sock");
        config.admin.listen = "127.0.0.1:0".into();
        config.kafka.spool.dir = dir.path().join("kafka-spool");
        cheap_password(&mut config);
        configure(&mut config);
        let app = attache_app::App::build(config).await.expect("sidecar starts");
        let socket = app.socket_path().to_owned();
        let admin = app.admin_addr();
        let tcp = app.tcp_addr();
        let modules = app.modules().clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        Self { socket, admin, tcp, modules, shutdown, task: Some(task), _dir: dir }
    }

    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The running modules, for tests that reach past the API.
    pub fn modules(&self) -> &attache_server::Modules {
        &self.modules
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The API's TCP address, when `server.tcp` is set.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp
    }

    /// A generated client over h2c on the socket, speaking `protocol`.
    pub async fn password(&self, protocol: Protocol) -> PasswordServiceClient<SharedHttp2Connection> {
        let uri: http::Uri = "http://localhost".parse().unwrap();
        let conn = Http2Connection::connect_unix(&self.socket, uri.clone()).await.expect("connect to the socket");
        PasswordServiceClient::new(conn.shared(1024), ClientConfig::new(uri).with_protocol(protocol))
    }

    /// A generated client of the sidecar's own service.
    pub async fn sidecar(&self) -> SidecarServiceClient<SharedHttp2Connection> {
        let uri: http::Uri = "http://localhost".parse().unwrap();
        let conn = Http2Connection::connect_unix(&self.socket, uri.clone()).await.expect("connect to the socket");
        SidecarServiceClient::new(conn.shared(1024), ClientConfig::new(uri))
    }

    /// A generated Redis client over h2c on the socket, speaking `protocol`.
    pub async fn redis(&self, protocol: Protocol) -> RedisServiceClient<SharedHttp2Connection> {
        let uri: http::Uri = "http://localhost".parse().unwrap();
        let conn = Http2Connection::connect_unix(&self.socket, uri.clone()).await.expect("connect to the socket");
        RedisServiceClient::new(conn.shared(1024), ClientConfig::new(uri).with_protocol(protocol))
    }

    /// A generated Postgres client over h2c on the socket, speaking `protocol`.
    pub async fn postgres(&self, protocol: Protocol) -> PostgresServiceClient<SharedHttp2Connection> {
        let uri: http::Uri = "http://localhost".parse().unwrap();
        let conn = Http2Connection::connect_unix(&self.socket, uri.clone()).await.expect("connect to the socket");
        PostgresServiceClient::new(conn.shared(1024), ClientConfig::new(uri).with_protocol(protocol))
    }

    /// A generated Kafka client over h2c on the socket, speaking `protocol`.
    pub async fn kafka(&self, protocol: Protocol) -> KafkaServiceClient<SharedHttp2Connection> {
        let uri: http::Uri = "http://localhost".parse().expect("static uri");
        let conn = Http2Connection::connect_unix(&self.socket, uri.clone()).await.expect("connect to the socket");
        KafkaServiceClient::new(conn.shared(1024), ClientConfig::new(uri).with_protocol(protocol))
    }

    pub async fn image(&self, protocol: Protocol) -> ImageServiceClient<SharedHttp2Connection> {
        let uri: http::Uri = "http://localhost".parse().unwrap();
        let conn = Http2Connection::connect_unix(&self.socket, uri.clone()).await.expect("connect to the socket");
        // Images are larger than the client's 4 MiB default allows.
        let config = ClientConfig::new(uri).with_protocol(protocol).with_default_max_message_size(256 << 20);
        ImageServiceClient::new(conn.shared(1024), config)
    }

    /// Signals shutdown and waits for the drain to finish.
    pub async fn stop(mut self) -> Result<(), attache_app::Error> {
        self.shutdown.cancel();
        self.task.take().expect("running").await.expect("app task")
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A real `redis-server` on a loopback port, started by
/// `testing/redis/start` in a temporary directory and stopped on drop.
/// Each test gets its own (one starts in milliseconds), so tests that
/// flush, restart or fill it never disturb each other.
pub struct RedisServer {
    dir: tempfile::TempDir,
    port: u16,
    url: String,
    password: Option<String>,
    /// `redis-cli` arguments to reach a TLS-only server.
    cli_tls: Vec<String>,
}

impl RedisServer {
    fn script(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testing/redis").join(name)
    }

    fn run_start(dir: &Path, port: Option<u16>, args: &[&str]) -> String {
        let mut command = std::process::Command::new(Self::script("start"));
        command.arg(dir).arg(port.map(|p| p.to_string()).unwrap_or_default()).args(args);
        let out = command.output().expect("run testing/redis/start (is redis-server installed? testing/redis/install)");
        assert!(out.status.success(), "testing/redis/start failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 url").trim().to_string()
    }

    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts one with extra `redis-server` arguments, e.g.
    /// `["--requirepass", "s3cret"]` (which `cli` then uses too).
    pub fn start_with(args: &[&str]) -> Self {
        Self::launch(tempfile::tempdir().expect("temp dir"), args, Vec::new())
    }

    /// Starts one that serves TLS only (no plain port), with a certificate
    /// from `ca` for 127.0.0.1 and localhost, and extra `redis-server`
    /// arguments. Redis asks clients for a certificate unless given
    /// `["--tls-auth-clients", "no"]`. [`url`](Self::url) is `rediss://`.
    pub fn start_tls(ca: &Ca, args: &[&str]) -> Self {
        Self::start_tls_for(ca, &["IP:127.0.0.1", "DNS:localhost"], args)
    }

    /// [`start_tls`](Self::start_tls) with a certificate valid for `names`
    /// only (`IP:...`, `DNS:...`).
    pub fn start_tls_for(ca: &Ca, names: &[&str], args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // Copied, so a restart does not depend on the `Ca` still existing.
        let ca_cert = dir.path().join("ca.pem");
        std::fs::copy(ca.cert(), &ca_cert).expect("copy the CA certificate");
        let (cert, key) = ca.issue(dir.path(), "redis", names);
        let [ca_cert, cert, key] = [ca_cert, cert, key].map(|p| p.to_str().expect("UTF-8 temp path").to_owned());
        let mut all = vec!["--tls-cert-file", &cert, "--tls-key-file", &key, "--tls-ca-cert-file", &ca_cert];
        all.extend(args);
        // The server's certificate doubles as redis-cli's client
        // certificate, as testing/redis/start does.
        let cli_tls = ["--tls", "--cacert", &ca_cert, "--cert", &cert, "--key", &key].map(String::from).to_vec();
        Self::launch(dir, &all, cli_tls)
    }

    fn launch(dir: tempfile::TempDir, args: &[&str], cli_tls: Vec<String>) -> Self {
        let url = Self::run_start(dir.path(), None, args);
        let port = url.rsplit(':').next().and_then(|p| p.split('/').next()).and_then(|p| p.parse().ok()).expect("port");
        let password = args.iter().position(|a| *a == "--requirepass").map(|i| args[i + 1].to_string());
        Self { dir, port, url, password, cli_tls }
    }

    /// The server's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// `redis://127.0.0.1:PORT/0`, or `rediss://` for a TLS server.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (its data is not persisted: it comes back empty).
    pub fn stop(&self) {
        let status = std::process::Command::new(Self::script("stop")).arg(self.dir.path()).status().expect("stop");
        assert!(status.success());
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        self.stop();
        Self::run_start(self.dir.path(), Some(self.port), &[]);
    }

    /// Runs `redis-cli` against the server: the independent client.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = std::process::Command::new("redis-cli");
        command.args(["-p", &self.port.to_string()]).args(&self.cli_tls);
        if let Some(password) = &self.password {
            command.args(["-a", password, "--no-auth-warning"]);
        }
        let out = command.args(args).output().expect("run redis-cli");
        assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A raw HTTP/1.1 exchange over a Unix socket: what curl or the PHP SDK
/// sends. Returns status, headers and body.
pub async fn http1(socket: &Path, request: http::Request<Full<Bytes>>) -> (http::StatusCode, http::HeaderMap, Bytes) {
    exchange(tokio::net::UnixStream::connect(socket).await.expect("connect"), request).await
}

/// The same over TCP (the optional API listener, the admin listener).
pub async fn http1_tcp(
    addr: SocketAddr,
    request: http::Request<Full<Bytes>>,
) -> (http::StatusCode, http::HeaderMap, Bytes) {
    exchange(tokio::net::TcpStream::connect(addr).await.expect("connect"), request).await
}

async fn exchange<S>(stream: S, request: http::Request<Full<Bytes>>) -> (http::StatusCode, http::HeaderMap, Bytes)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let response = sender.send_request(request).await.expect("request");
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.expect("body").to_bytes())
}

/// GET `path` from the admin listener; the body as text.
pub async fn admin_get(sidecar: &Sidecar, path: &str) -> String {
    let addr = sidecar.admin.expect("admin listener enabled");
    let request = http::Request::get(path).header("host", addr.to_string()).body(Full::new(Bytes::new())).unwrap();
    let (_, _, body) = http1_tcp(addr, request).await;
    String::from_utf8(body.to_vec()).expect("utf-8")
}

/// A Connect unary JSON POST over HTTP/1.1.
pub async fn connect_json(
    socket: &Path,
    procedure: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (http::StatusCode, String) {
    let mut request =
        http::Request::post(format!("http://localhost/{procedure}")).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, _, body) = http1(socket, request.body(Full::new(Bytes::from(body.to_owned()))).unwrap()).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}
