use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// The API listener: a Unix socket, and optionally a loopback TCP port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Path of the Unix socket the SDKs connect to (they read
    /// `ATTACHE_SOCKET`). Empty: a private directory chosen by the same rule
    /// as the SDKs', `$RUNTIME_DIRECTORY/attache.sock`, then for root
    /// `/run/attache/attache.sock`, then `$XDG_RUNTIME_DIR/attache/attache.sock`,
    /// then `/tmp/attache-<uid>/attache.sock` (see `socket_path.rs`).
    pub socket: PathBuf,
    /// Permission bits of the socket file, in octal. 0660 lets the owner and
    /// the group connect.
    pub socket_mode: String,
    /// Peer user ids allowed to connect (from SO_PEERCRED); empty allows any
    /// user that the file mode lets in. A peer passes if its uid or its gid
    /// is allowed.
    pub allowed_uids: Vec<u32>,
    /// Peer group ids allowed to connect; see `allowed_uids`.
    pub allowed_gids: Vec<u32>,
    /// Also listen on this TCP address (e.g. `127.0.0.1:7311`). Off by default.
    pub tcp: Option<SocketAddr>,
    /// Allow `tcp` to be a non-loopback address. The API has no
    /// authentication, so leave this off unless a network policy protects
    /// the port.
    pub allow_non_loopback_tcp: bool,
    /// Largest request body accepted; larger requests get `RESOURCE_EXHAUSTED`.
    pub max_request_bytes: ByteSize,
    /// Deadline applied to requests that carry none (`grpc-timeout`,
    /// `Connect-Timeout-Ms`).
    #[serde(with = "humantime_serde")]
    pub default_timeout: Duration,
    /// Longest deadline a client may ask for; longer ones are cut to this.
    #[serde(with = "humantime_serde")]
    pub max_timeout: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish
    /// before the sidecar exits anyway. Connections with no request in
    /// flight are closed at once.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Bytes of request and response bodies held at once, for every caller
    /// together: a request whose body would pass it is refused with
    /// RESOURCE_EXHAUSTED before it is read, and a response counts until it
    /// is written. Bounds what many large or slow callers can pin.
    pub max_in_flight_bytes: ByteSize,
    /// Time a client has to send a request's headers (HTTP/1.1), from their
    /// first byte (from connecting, for a connection's first request); a
    /// kept-alive connection waiting for its next request is under
    /// `idle_timeout` instead.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// A connection with no request in flight for this long is closed;
    /// bytes trickling in without completing a request do not keep it open.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A response the client does not read for this long (the socket stays
    /// full) ends its connection, freeing what it held.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Connections open at once on the API listeners; beyond this new ones
    /// are closed at once.
    pub max_connections: usize,
    /// Connections open at once from one peer (one process on the Unix
    /// socket, by SO_PEERCRED; one address over TCP).
    pub max_connections_per_peer: usize,
    /// Concurrent HTTP/2 streams (calls) on one connection.
    pub max_streams_per_connection: u32,
    /// Extra `Host` values the TCP listener accepts besides its own address,
    /// `localhost` and the loopback addresses (DNS-rebinding protection).
    /// Requests with an `Origin` header (browsers) are refused on TCP unless
    /// the origin's host is one of these too.
    pub tcp_allowed_hosts: Vec<String>,
    /// Threads that run the API's connections and the ambassadors' network
    /// I/O (the async runtime's workers); password hashing and images have
    /// pools of their own. 0 = one per core. One by default: a call then
    /// never wakes a second worker, which measured cheaper per call and
    /// faster under load on 2 cores (ARCHITECTURE.md, "The per-call path").
    pub io_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            socket: PathBuf::new(),
            socket_mode: "0660".into(),
            allowed_uids: Vec::new(),
            allowed_gids: Vec::new(),
            tcp: None,
            allow_non_loopback_tcp: false,
            max_request_bytes: ByteSize::mib(4),
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(15),
            max_in_flight_bytes: ByteSize::mib(512),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_peer: 256,
            max_streams_per_connection: 256,
            tcp_allowed_hosts: Vec::new(),
            io_threads: 1,
        }
    }
}

impl Config {
    /// Worker threads for the async runtime; `None` is one per core.
    pub fn io_threads(&self) -> Option<usize> {
        (self.io_threads > 0).then_some(self.io_threads)
    }

    /// The socket mode as permission bits.
    pub fn socket_mode_bits(&self) -> Result<u32, String> {
        let digits = self.socket_mode.trim_start_matches("0o");
        u32::from_str_radix(digits, 8)
            .ok()
            .filter(|bits| *bits <= 0o777)
            .ok_or_else(|| format!("server.socket_mode {:?} is not an octal mode like \"0660\"", self.socket_mode))
    }

    /// Checks what serde cannot: values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        self.socket_mode_bits()?;
        if let Some(tcp) = self.tcp
            && !tcp.ip().is_loopback()
            && !self.allow_non_loopback_tcp
        {
            return Err(format!(
                "server.tcp {tcp} is not a loopback address; the API has no authentication, \
                 so set server.allow_non_loopback_tcp = true only if a network policy protects it"
            ));
        }
        if self.default_timeout > self.max_timeout {
            return Err("server.default_timeout must not exceed server.max_timeout".into());
        }
        if self.max_in_flight_bytes < self.max_request_bytes {
            return Err("server.max_in_flight_bytes must be at least server.max_request_bytes".into());
        }
        for (name, value) in [
            ("header_timeout", self.header_timeout),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("server.{name} must be above zero"));
            }
        }
        if self.max_connections == 0 || self.max_connections_per_peer == 0 || self.max_streams_per_connection == 0 {
            return Err(
                "server.max_connections, max_connections_per_peer and max_streams_per_connection must be at least 1"
                    .into(),
            );
        }
        if self.io_threads > 1024 {
            return Err(format!(
                "server.io_threads {} is more threads than any machine needs (0 = one per core)",
                self.io_threads
            ));
        }
        Ok(())
    }
}

/// The admin HTTP listener: `/healthz`, `/readyz`, `/metrics` and a status
/// page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where to listen: `127.0.0.1:9464`, `unix:/path/admin.sock`, or `off`.
    pub listen: String,
    /// Allow `listen` to be a non-loopback address. The admin listener has
    /// no authentication (metrics name modules and backends), so leave this
    /// off unless a network policy protects the port.
    pub allow_non_loopback: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:9464".into(), allow_non_loopback: false }
    }
}

/// A parsed admin address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminListen {
    Off,
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl AdminConfig {
    pub fn parse(&self) -> Result<AdminListen, String> {
        let listen = self.listen.trim();
        if listen.is_empty() || listen == "off" {
            Ok(AdminListen::Off)
        } else if let Some(path) = listen.strip_prefix("unix:") {
            Ok(AdminListen::Unix(PathBuf::from(path)))
        } else {
            let addr: SocketAddr = listen.parse().map_err(|_| {
                format!("admin.listen {listen:?} is not an address like 127.0.0.1:9464, unix:/path or off")
            })?;
            if !addr.ip().is_loopback() && !self.allow_non_loopback {
                return Err(format!(
                    "admin.listen {addr} is not a loopback address; the admin listener has no authentication, \
                     so set admin.allow_non_loopback = true only if a network policy protects it"
                ));
            }
            Ok(AdminListen::Tcp(addr))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_tcp_needs_consent() {
        let mut config = Config { tcp: Some("0.0.0.0:7311".parse().unwrap()), ..Config::default() };
        assert!(config.validate().unwrap_err().contains("allow_non_loopback_tcp"));
        config.allow_non_loopback_tcp = true;
        assert!(config.validate().is_ok());
    }

    #[test]
    fn socket_mode_is_octal() {
        assert_eq!(Config::default().socket_mode_bits(), Ok(0o660));
        let bad = Config { socket_mode: "rw-rw----".into(), ..Config::default() };
        assert!(bad.validate().unwrap_err().contains("socket_mode"));
    }

    #[test]
    fn admin_forms() {
        let parse = |s: &str| AdminConfig { listen: s.into(), ..AdminConfig::default() }.parse();
        assert!(parse("0.0.0.0:9464").unwrap_err().contains("allow_non_loopback"));
        let consented = AdminConfig { listen: "0.0.0.0:9464".into(), allow_non_loopback: true };
        assert_eq!(consented.parse(), Ok(AdminListen::Tcp("0.0.0.0:9464".parse().unwrap())));
        assert_eq!(parse("off"), Ok(AdminListen::Off));
        assert_eq!(parse("unix:/tmp/a.sock"), Ok(AdminListen::Unix("/tmp/a.sock".into())));
        assert_eq!(parse("127.0.0.1:1"), Ok(AdminListen::Tcp("127.0.0.1:1".parse().unwrap())));
        assert!(parse("localhost").is_err());
    }
}
