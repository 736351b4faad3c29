//! TLS to Postgres, as libpq's `sslmode` asks for it.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`; the URL's
//! `sslmode` (including `verify-ca` and `verify-full`) and `sslrootcert`
//! are read here, removed from the URL, and turned into a rustls
//! configuration from `attache-tls`, with libpq's meanings: `prefer` and
//! `require` encrypt without checking the certificate (`require` checks
//! the chain when a CA file is given, as libpq does when a root
//! certificate exists), `verify-ca` checks the chain, `verify-full` the
//! chain and the host name. Unix-socket connections never use TLS.

use std::path::PathBuf;

use attache_tls::{Files, Names, Verify};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

pub(crate) const NAMES: Names = Names {
    section: "postgres.tls",
    url: "postgres.url",
    plain: "set sslmode=disable in postgres.url if it serves plain TCP",
};

/// What connects: the driver's settings and the TLS connector.
pub(crate) struct Target {
    pub config: tokio_postgres::Config,
    /// `None` over a Unix socket: tokio-postgres would still ask the
    /// connector for a server name, and a socket path is none.
    pub tls: Option<MakeRustlsConnect>,
    /// Whether attache presents a client certificate.
    pub client_cert: bool,
}

/// Reads `url` and the TLS files into a [`Target`]. Never quotes the URL:
/// it may hold a password.
pub(crate) fn target(url: &str, files: &Files) -> Result<Target, String> {
    let (rest, mode, root) = split_ssl(url);
    let config: tokio_postgres::Config = rest.parse().map_err(|e| {
        format!(
            "postgres.url: not a PostgreSQL URL or connection string ({e}); write it as \
             postgres://user:password@host:5432/dbname"
        )
    })?;
    let mut files = files.clone();
    if let Some(root) = root {
        if files.ca_file.as_ref().is_some_and(|ca| *ca != root) {
            return Err("postgres.url's sslrootcert and postgres.tls.ca_file name different files; set one".into());
        }
        files.ca_file = Some(root);
    }
    let mode = mode.unwrap_or_else(|| "prefer".into());
    let (ssl, verify) = match mode.as_str() {
        "disable" => (SslMode::Disable, Verify::Nothing),
        "allow" | "prefer" => (SslMode::Prefer, Verify::Nothing),
        "require" if files.ca_file.is_some() => (SslMode::Require, Verify::ChainOnly),
        "require" => (SslMode::Require, Verify::Nothing),
        "verify-ca" => (SslMode::Require, Verify::ChainOnly),
        "verify-full" => (SslMode::Require, Verify::Full),
        _ => {
            return Err(format!(
                "postgres.url: sslmode={mode} is not a mode; use disable, prefer, require, verify-ca or verify-full"
            ));
        }
    };
    // Over a Unix socket there is nothing to encrypt (libpq never does).
    let hosts = config.get_hosts();
    let local = !hosts.is_empty() && hosts.iter().all(|h| matches!(h, Host::Unix(_)));
    let ssl = if local { SslMode::Disable } else { ssl };
    if ssl == SslMode::Disable && !local && files != Files::default() {
        return Err("postgres.tls is set but postgres.url says sslmode=disable; remove one of them".into());
    }
    let mut config = config;
    config.ssl_mode(ssl);
    let tls = match local {
        true => {
            attache_tls::check(&files, NAMES)?;
            None
        }
        false => Some(MakeRustlsConnect::new(attache_tls::client_config(&files, NAMES, verify)?)),
    };
    Ok(Target { config, tls, client_cert: files.cert_file.is_some() })
}

/// `url` without its `sslmode` and `sslrootcert`, and their values.
fn split_ssl(url: &str) -> (String, Option<String>, Option<PathBuf>) {
    let (mut mode, mut root) = (None, None);
    let mut take = |key: &str, value: &str| match key {
        "sslmode" => {
            mode = Some(value.to_owned());
            true
        }
        "sslrootcert" => {
            root = Some(PathBuf::from(value));
            true
        }
        _ => false,
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        !take(k, &percent_decoded(v))
                    })
                    .collect();
                if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
            }
            None => url.to_owned(),
        }
    } else {
        url.split_whitespace()
            .filter(|token| {
                let (k, v) = token.split_once('=').unwrap_or((token, ""));
                !take(k.trim(), v.trim().trim_matches('\''))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, mode, root)
}

fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) if hex.iter().all(u8::is_ascii_hexdigit) => {
                let hex = std::str::from_utf8(hex).expect("ascii hex digits");
                out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_read_and_removed() {
        let (rest, mode, root) =
            split_ssl("postgres://u:p@db:5432/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x");
        assert_eq!(rest, "postgres://u:p@db:5432/app?application_name=x");
        assert_eq!((mode.as_deref(), root), (Some("verify-full"), Some(PathBuf::from("/etc/ca.pem"))));
        let (rest, mode, _) = split_ssl("host=db user=u sslmode=require dbname=app");
        assert_eq!((rest.as_str(), mode.as_deref()), ("host=db user=u dbname=app", Some("require")));
        let (rest, mode, _) = split_ssl("postgres://u@/app?host=/tmp/x");
        assert_eq!((rest.as_str(), mode), ("postgres://u@/app?host=/tmp/x", None));
    }

    #[test]
    fn modes_are_libpqs_and_mistakes_name_their_setting() {
        let none = Files::default();
        let unverified = target("postgres://u@db/app?sslmode=require", &none).ok().unwrap();
        assert_eq!(unverified.config.get_ssl_mode(), SslMode::Require);
        let default = target("postgres://u@db/app", &none).ok().unwrap();
        assert_eq!(default.config.get_ssl_mode(), SslMode::Prefer, "libpq's default");
        let socket = target("postgres://u@/app?host=/run/postgresql&sslmode=require", &none).ok().unwrap();
        assert_eq!(socket.config.get_ssl_mode(), SslMode::Disable, "no TLS over a Unix socket");
        let err = target("postgres://u:hunter2@db/app?sslmode=bogus", &none).err().unwrap();
        assert!(err.contains("sslmode=bogus is not a mode") && !err.contains("hunter2"), "{err}");
        let ca = Files { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let err = target("postgres://u@db/app?sslmode=disable", &ca).err().unwrap();
        assert!(err.contains("sslmode=disable"), "{err}");
        let err = target("postgres://u@db/app?sslmode=verify-full", &ca).err().unwrap();
        assert!(err.starts_with("postgres.tls.ca_file: cannot read"), "{err}");
        let err = target("postgres://u@db/app?sslrootcert=/other.pem", &ca).err().unwrap();
        assert!(err.contains("set one"), "{err}");
    }
}
