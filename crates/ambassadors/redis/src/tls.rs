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
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, AlertDescription, CertificateError, ClientConfig, RootCertStore};

use crate::config::TlsConfig;

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
        check(config)?;
        let mut roots = RootCertStore::empty();
        match &config.ca_file {
            Some(path) => {
                for cert in read_certs("redis.tls.ca_file", path)? {
                    roots.add(cert).map_err(|e| {
                        format!("redis.tls.ca_file: {} holds a certificate rustls cannot use: {e}", path.display())
                    })?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(native.certs);
                if added == 0 {
                    let why = native.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
                    return Err(format!(
                        "redis.tls.ca_file is unset and the system's trust store holds no CA certificate{why}; \
                         set redis.tls.ca_file to the CA that signed the server's certificate, or install \
                         ca-certificates"
                    ));
                }
            }
        }
        // The provider is named rather than taken from the process default,
        // which panics when the dependency graph enables two of them.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?
            .with_root_certificates(roots);
        let client = match (&config.cert_file, &config.key_file) {
            (Some(cert), Some(key)) => {
                let chain = read_certs("redis.tls.cert_file", cert)?;
                builder.with_client_auth_cert(chain, read_key(key)?).map_err(|e| {
                    format!(
                        "redis.tls.cert_file and redis.tls.key_file cannot be used together ({e}); set key_file \
                         to the private key of cert_file's certificate"
                    )
                })?
            }
            _ => builder.with_no_client_auth(),
        };
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

/// The name a server's certificate is verified against: `host` as a DNS
/// name or an IP address, if it is either.
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).ok()
}

/// Checks what can be checked without connecting: the files are readable
/// PEM of the right kind, and a client certificate comes with its key.
pub fn check(config: &TlsConfig) -> Result<(), String> {
    match (&config.cert_file, &config.key_file) {
        (Some(_), None) | (None, Some(_)) => {
            return Err("redis.tls.cert_file and redis.tls.key_file go together: set both (a client certificate \
                        for mutual TLS) or neither"
                .into());
        }
        (Some(cert), Some(key)) => {
            read_certs("redis.tls.cert_file", cert)?;
            read_key(key)?;
        }
        (None, None) => {}
    }
    if let Some(ca) = &config.ca_file {
        read_certs("redis.tls.ca_file", ca)?;
    }
    Ok(())
}

fn read(field: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path)
        .map_err(|e| format!("{field}: cannot read {}: {e}; point it at a readable PEM file", path.display()))
}

/// Every certificate in a PEM file; at least one.
fn read_certs(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{field}: {} is not valid PEM ({e}); give PEM certificates", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{field}: {} holds no certificate; give a PEM file with -----BEGIN CERTIFICATE----- blocks",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let text = read("redis.tls.key_file", path)?;
    // The parser's own message is left out: it may quote a line of the key.
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        let what = match e {
            pem::Error::NoItemsFound => "holds no private key",
            _ => "is not valid PEM",
        };
        format!(
            "redis.tls.key_file: {} {what}; give the PEM private key (PKCS#8, PKCS#1 or SEC1) of \
             redis.tls.cert_file",
            path.display()
        )
    })
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
        Some(tls) => io::Error::new(err.kind(), reason(tls, client_cert)),
        None => err,
    }
}

fn reason(err: &rustls::Error, client_cert: bool) -> String {
    use rustls::Error as E;
    let hint = match err {
        E::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            "set redis.tls.ca_file to the CA that signed the server's certificate"
        }
        E::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }) => {
            "write the host of redis.url as a name the server's certificate lists"
        }
        E::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => "renew the server's certificate, or correct this host's clock",
        E::InvalidCertificate(_) => "check the server's certificate against redis.tls.ca_file",
        E::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::HandshakeFailure
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown,
        ) if !client_cert => "the server requires a client certificate; set redis.tls.cert_file and redis.tls.key_file",
        E::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate,
        ) => "the server refused redis.tls.cert_file; use a certificate signed by a CA the server trusts",
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            "the server does not speak TLS on this port; use redis:// if it serves plain TCP"
        }
        _ => "check that the server serves TLS on this port and that redis.tls matches its setup",
    };
    format!("tls: {err}; {hint}")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn config(ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> TlsConfig {
        TlsConfig {
            ca_file: ca.map(Path::to_owned),
            cert_file: cert.map(Path::to_owned),
            key_file: key.map(Path::to_owned),
        }
    }

    #[test]
    fn a_client_certificate_needs_its_key_and_the_reverse() {
        let path = PathBuf::from("/nonexistent/x.pem");
        for config in [config(None, Some(&path), None), config(None, None, Some(&path))] {
            let err = check(&config).unwrap_err();
            assert!(err.contains("redis.tls.cert_file and redis.tls.key_file go together"), "{err}");
        }
        assert_eq!(check(&TlsConfig::default()), Ok(()));
    }

    #[test]
    fn unreadable_or_wrong_files_are_refused_by_setting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem at all\n").unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n").unwrap();

        let err = check(&config(Some(&missing), None, None)).unwrap_err();
        assert!(err.starts_with("redis.tls.ca_file: cannot read ") && err.contains("missing.pem"), "{err}");
        let err = check(&config(Some(&garbage), None, None)).unwrap_err();
        assert!(err.starts_with("redis.tls.ca_file: ") && err.contains("holds no certificate"), "{err}");
        // A key where the certificate belongs.
        let err = check(&config(None, Some(&key), Some(&key))).unwrap_err();
        assert!(err.starts_with("redis.tls.cert_file: ") && err.contains("holds no certificate"), "{err}");
        let err = check(&config(None, Some(&key), Some(&missing))).unwrap_err();
        assert!(err.contains("holds no certificate"), "the certificate is checked first: {err}");
        assert!(read_key(&garbage).unwrap_err().starts_with("redis.tls.key_file: "));
        assert!(read_key(&garbage).unwrap_err().contains("holds no private key"));
        assert!(read_key(&missing).unwrap_err().contains("cannot read"));
    }

    #[test]
    fn a_ca_file_rustls_cannot_parse_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        // Valid PEM around bytes that are no certificate.
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n").unwrap();
        let err = Tls::new(&config(Some(&ca), None, None)).err().unwrap();
        assert!(err.starts_with("redis.tls.ca_file: ") && err.contains("cannot use"), "{err}");
    }

    #[test]
    fn failures_name_their_cause_and_the_setting_that_fixes_it() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            reason(&unknown, false),
            "tls: invalid peer certificate: UnknownIssuer; set redis.tls.ca_file to the CA that signed the \
             server's certificate"
        );
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(reason(&name, false).contains("a name the server's certificate lists"));
        let required = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(reason(&required, false).contains("set redis.tls.cert_file and redis.tls.key_file"));
        let refused = rustls::Error::AlertReceived(AlertDescription::UnknownCA);
        assert!(reason(&refused, true).contains("the server refused redis.tls.cert_file"));
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(reason(&plain, false).contains("use redis://"));

        let wrapped = describe(io::Error::new(io::ErrorKind::InvalidData, unknown), false);
        assert!(wrapped.to_string().contains("redis.tls.ca_file"), "{wrapped}");
        let other = describe(io::Error::new(io::ErrorKind::ConnectionReset, "reset"), false);
        assert_eq!(other.to_string(), "reset");
    }
}
