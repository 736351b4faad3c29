//! TLS for the ambassadors' backend connections (`rediss://`, Postgres
//! `sslmode`): a rustls client configuration built from the files a
//! config section names, and failures rewritten to name their cause and
//! the setting that fixes it.
//!
//! Key decision: the configuration (trust roots, client certificate) is
//! built once per module at start-up and shared by every connection, so a
//! mistake in a file is reported once and names its setting, not on each
//! reconnect. rustls runs on the `ring` provider, named explicitly: the
//! process default panics when two providers are linked.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// The files a TLS client uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Files {
    /// PEM file of the CA certificates that may sign the server's
    /// certificate (a managed service publishes its own). Unset: the
    /// system's trust store (/etc/ssl/certs; `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` override it).
    pub ca_file: Option<PathBuf>,
    /// PEM certificate (chain) attache presents to the server, for mutual
    /// TLS. Set with `key_file`, or neither.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

/// How messages name the settings of the module using TLS.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// The config section of the files, e.g. `redis.tls`.
    pub section: &'static str,
    /// The setting holding the server's address, e.g. `redis.url`.
    pub url: &'static str,
    /// What to do if the server does not speak TLS at all.
    pub plain: &'static str,
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// The chain up to a trusted CA and the server's name.
    Full,
    /// The chain only, not the name (Postgres `sslmode=verify-ca`).
    ChainOnly,
    /// Nothing: encryption without authentication (Postgres
    /// `sslmode=require` and `prefer`, as libpq does without a root
    /// certificate).
    Nothing,
}

/// Reads the files (or the system's trust store) into a client
/// configuration.
pub fn client_config(files: &Files, names: Names, verify: Verify) -> Result<ClientConfig, String> {
    check(files, names)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let builder = match verify {
        Verify::Nothing => builder.dangerous().with_custom_certificate_verifier(Arc::new(Unverified(provider))),
        Verify::Full | Verify::ChainOnly => {
            let roots = Arc::new(roots(files, names)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("{}.ca_file: {e}", names.section))?;
            match verify {
                Verify::Full => builder.with_webpki_verifier(webpki),
                _ => builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnly(webpki))),
            }
        }
    };
    match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(&format!("{}.cert_file", names.section), cert)?;
            builder.with_client_auth_cert(chain, read_key(key, names)?).map_err(|e| {
                format!(
                    "{s}.cert_file and {s}.key_file cannot be used together ({e}); set key_file to the private key \
                     of cert_file's certificate",
                    s = names.section
                )
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn roots(files: &Files, names: Names) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match &files.ca_file {
        Some(path) => {
            for cert in read_certs(&format!("{}.ca_file", names.section), path)? {
                roots.add(cert).map_err(|e| {
                    format!("{}.ca_file: {} holds a certificate rustls cannot use: {e}", names.section, path.display())
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                let why = native.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
                return Err(format!(
                    "{s}.ca_file is unset and the system's trust store holds no CA certificate{why}; set \
                     {s}.ca_file to the CA that signed the server's certificate, or install ca-certificates",
                    s = names.section
                ));
            }
        }
    }
    Ok(roots)
}

/// The name a server's certificate is verified against: `host` as a DNS
/// name or an IP address, if it is either.
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).ok()
}

/// Checks what can be checked without connecting: the files are readable
/// PEM of the right kind, and a client certificate comes with its key.
pub fn check(files: &Files, names: Names) -> Result<(), String> {
    let s = names.section;
    match (&files.cert_file, &files.key_file) {
        (Some(_), None) | (None, Some(_)) => {
            return Err(format!(
                "{s}.cert_file and {s}.key_file go together: set both (a client certificate for mutual TLS) or \
                 neither"
            ));
        }
        (Some(cert), Some(key)) => {
            read_certs(&format!("{s}.cert_file"), cert)?;
            read_key(key, names)?;
        }
        (None, None) => {}
    }
    if let Some(ca) = &files.ca_file {
        read_certs(&format!("{s}.ca_file"), ca)?;
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

fn read_key(path: &Path, names: Names) -> Result<PrivateKeyDer<'static>, String> {
    let s = names.section;
    let text = read(&format!("{s}.key_file"), path)?;
    // The parser's own message is left out: it may quote a line of the key.
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        let what = match e {
            pem::Error::NoItemsFound => "holds no private key",
            _ => "is not valid PEM",
        };
        format!(
            "{s}.key_file: {} {what}; give the PEM private key (PKCS#8, PKCS#1 or SEC1) of {s}.cert_file",
            path.display()
        )
    })
}

/// The rustls error somewhere in `err`'s chain of sources, if any.
pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|inner| {
            let inner: &(dyn std::error::Error + 'static) = inner;
            inner.downcast_ref::<rustls::Error>()
        }) {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// A TLS failure with what to do about it. `client_cert`: whether attache
/// presents a certificate (a server's refusal reads differently).
pub fn reason(err: &rustls::Error, client_cert: bool, names: Names) -> String {
    use rustls::Error as E;
    let s = names.section;
    let hint = match err {
        E::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            format!("set {s}.ca_file to the CA that signed the server's certificate")
        }
        E::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }) => {
            format!("write the host of {} as a name the server's certificate lists", names.url)
        }
        E::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => "renew the server's certificate, or correct this host's clock".into(),
        E::InvalidCertificate(_) => format!("check the server's certificate against {s}.ca_file"),
        E::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::HandshakeFailure
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown,
        ) if !client_cert => format!("the server requires a client certificate; set {s}.cert_file and {s}.key_file"),
        E::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate,
        ) => format!("the server refused {s}.cert_file; use a certificate signed by a CA the server trusts"),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            format!("the server does not speak TLS on this port; {}", names.plain)
        }
        _ => format!("check that the server serves TLS on this port and that {s} matches its setup"),
    };
    format!("tls: {err}; {hint}")
}

/// Accepts any certificate, still checking the handshake's signatures
/// (what libpq's `sslmode=require` does without a root certificate).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies the chain to a trusted CA but not the name (`verify-ca`).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: Names = Names { section: "redis.tls", url: "redis.url", plain: "use redis:// if it serves plain TCP" };

    fn files(ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> Files {
        Files {
            ca_file: ca.map(Path::to_owned),
            cert_file: cert.map(Path::to_owned),
            key_file: key.map(Path::to_owned),
        }
    }

    #[test]
    fn a_client_certificate_needs_its_key_and_the_reverse() {
        let path = PathBuf::from("/nonexistent/x.pem");
        for files in [files(None, Some(&path), None), files(None, None, Some(&path))] {
            let err = check(&files, NAMES).unwrap_err();
            assert!(err.contains("redis.tls.cert_file and redis.tls.key_file go together"), "{err}");
        }
        assert_eq!(check(&Files::default(), NAMES), Ok(()));
    }

    #[test]
    fn unreadable_or_wrong_files_are_refused_by_setting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem at all\n").unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n").unwrap();

        let err = check(&files(Some(&missing), None, None), NAMES).unwrap_err();
        assert!(err.starts_with("redis.tls.ca_file: cannot read ") && err.contains("missing.pem"), "{err}");
        let err = check(&files(Some(&garbage), None, None), NAMES).unwrap_err();
        assert!(err.starts_with("redis.tls.ca_file: ") && err.contains("holds no certificate"), "{err}");
        // A key where the certificate belongs.
        let err = check(&files(None, Some(&key), Some(&key)), NAMES).unwrap_err();
        assert!(err.starts_with("redis.tls.cert_file: ") && err.contains("holds no certificate"), "{err}");
        let err = check(&files(None, Some(&key), Some(&missing)), NAMES).unwrap_err();
        assert!(err.contains("holds no certificate"), "the certificate is checked first: {err}");
        assert!(read_key(&garbage, NAMES).unwrap_err().starts_with("redis.tls.key_file: "));
        assert!(read_key(&garbage, NAMES).unwrap_err().contains("holds no private key"));
        assert!(read_key(&missing, NAMES).unwrap_err().contains("cannot read"));
    }

    #[test]
    fn failures_name_their_cause_and_the_setting_that_fixes_it() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            reason(&unknown, false, NAMES),
            "tls: invalid peer certificate: UnknownIssuer; set redis.tls.ca_file to the CA that signed the \
             server's certificate"
        );
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(reason(&name, false, NAMES).contains("a name the server's certificate lists"));
        let required = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(reason(&required, false, NAMES).contains("set redis.tls.cert_file and redis.tls.key_file"));
        let refused = rustls::Error::AlertReceived(AlertDescription::UnknownCA);
        assert!(reason(&refused, true, NAMES).contains("the server refused redis.tls.cert_file"));
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(reason(&plain, false, NAMES).contains("use redis://"));
    }

    #[test]
    fn a_rustls_error_is_found_through_io_wrappers() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown.clone());
        assert_eq!(find(&io), Some(&unknown));
        assert_eq!(find(&std::io::Error::other("plain")), None);
    }
}
