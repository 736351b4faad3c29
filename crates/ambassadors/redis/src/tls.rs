//! `rediss://`: the TCP connection wrapped in TLS by rustls, the server's
//! certificate verified against the URL's host.
//!
//! Key decision: the rustls configuration (trust roots, client certificate)
//! is built once per [`Service`](crate::Service) and shared by every
//! connection, so the trust store and key files are read at start-up, where
//! a mistake is reported once and names its setting, not on each reconnect.
//! TLS failures are rewritten into reasons that name the cause and the
//! setting that fixes it, since they reach callers as UNAVAILABLE.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use attache_tls::{Names, Verify};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig};

use crate::config::TlsConfig;

/// How TLS messages name Redis's settings.
const NAMES: Names = Names { section: "redis.tls", url: "redis.url", plain: "use redis:// if it serves plain TCP" };

/// The TLS client of a `rediss://` address, shared by its connections.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    /// Whether attache presents a certificate: a server's refusal reads
    /// differently with and without one.
    client_cert: bool,
}

/// Clones share one configuration; there is nothing else to compare.
impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for Tls {}

impl Tls {
    /// Reads the files `config` names (or the system's trust store) into a
    /// rustls configuration.
    pub fn new(config: &TlsConfig) -> Result<Self, String> {
        let client = attache_tls::client_config(config, NAMES, Verify::Full)?;
        Ok(Self { config: Arc::new(client), client_cert: config.cert_file.is_some() })
    }

    /// Runs the TLS handshake on `tcp`, verifying the certificate for
    /// `host`. The caller bounds it in time (`redis.connect_timeout`).
    pub async fn connect(&self, host: &str, tcp: TcpStream) -> Result<Stream, String> {
        // Address::parse refused such a host; never quoted, as it comes
        // from a URL that may hold a password.
        let name = server_name(host).ok_or("tls: the host of redis.url is neither a DNS name nor an IP address")?;
        let inner = TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| describe(e, self.client_cert).to_string())?;
        Ok(Stream { inner, client_cert: self.client_cert })
    }
}

pub use attache_tls::server_name;

/// Checks what can be checked without connecting (see [`attache_tls::check`]).
pub fn check(config: &TlsConfig) -> Result<(), String> {
    attache_tls::check(config, NAMES)
}

/// A TLS connection whose errors name their cause and remedy: a server
/// that refuses attache's certificate says so on the first read after the
/// handshake (TLS 1.3), not in the handshake.
pub struct Stream {
    inner: TlsStream<TcpStream>,
    client_cert: bool,
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let client_cert = self.client_cert;
        Pin::new(&mut self.inner).poll_read(cx, buf).map_err(|e| describe(e, client_cert))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let client_cert = self.client_cert;
        Pin::new(&mut self.inner).poll_write(cx, buf).map_err(|e| describe(e, client_cert))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let client_cert = self.client_cert;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs).map_err(|e| describe(e, client_cert))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let client_cert = self.client_cert;
        Pin::new(&mut self.inner).poll_flush(cx).map_err(|e| describe(e, client_cert))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let client_cert = self.client_cert;
        Pin::new(&mut self.inner).poll_shutdown(cx).map_err(|e| describe(e, client_cert))
    }
}

/// A rustls error carried by `err`, rewritten with what to do about it;
/// any other error as it is.
fn describe(err: io::Error, client_cert: bool) -> io::Error {
    match err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(tls) => io::Error::new(err.kind(), attache_tls::reason(tls, client_cert, NAMES)),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tokio_rustls::rustls::CertificateError;

    use super::*;

    #[test]
    fn a_ca_file_rustls_cannot_parse_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        // Valid PEM around bytes that are no certificate.
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n").unwrap();
        let config = TlsConfig { ca_file: Some(Path::to_owned(&ca)), ..Default::default() };
        let err = Tls::new(&config).err().unwrap();
        assert!(err.starts_with("redis.tls.ca_file: ") && err.contains("cannot use"), "{err}");
    }

    #[test]
    fn handshake_failures_name_redis_settings() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let wrapped = describe(io::Error::new(io::ErrorKind::InvalidData, unknown), false);
        assert!(wrapped.to_string().contains("redis.tls.ca_file"), "{wrapped}");
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let wrapped = describe(io::Error::new(io::ErrorKind::InvalidData, plain), false);
        assert!(wrapped.to_string().contains("use redis://"), "{wrapped}");
        let other = describe(io::Error::new(io::ErrorKind::ConnectionReset, "reset"), false);
        assert_eq!(other.to_string(), "reset");
    }
}
