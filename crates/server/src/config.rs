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
    /// `ATTACHE_SOCKET`, with the same default).
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
    /// before the sidecar exits anyway.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            socket_mode: "0660".into(),
            allowed_uids: Vec::new(),
            allowed_gids: Vec::new(),
            tcp: None,
            allow_non_loopback_tcp: false,
            max_request_bytes: ByteSize::mib(4),
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(15),
        }
    }
}

/// The socket path when nothing is configured; the SDKs use the same one.
pub const DEFAULT_SOCKET: &str = "/tmp/attache.sock";

impl Config {
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
        if self.socket.as_os_str().is_empty() {
            return Err("server.socket must not be empty".into());
        }
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
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:9464".into() }
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
            listen.parse().map(AdminListen::Tcp).map_err(|_| {
                format!("admin.listen {listen:?} is not an address like 127.0.0.1:9464, unix:/path or off")
            })
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
        let parse = |s: &str| AdminConfig { listen: s.into() }.parse();
        assert_eq!(parse("off"), Ok(AdminListen::Off));
        assert_eq!(parse("unix:/tmp/a.sock"), Ok(AdminListen::Unix("/tmp/a.sock".into())));
        assert_eq!(parse("127.0.0.1:1"), Ok(AdminListen::Tcp("127.0.0.1:1".parse().unwrap())));
        assert!(parse("localhost").is_err());
    }
}
