use std::fmt;
use std::path::PathBuf;

use crate::tls::Tls;

/// Where and how to reach Redis, parsed from `redis.url`.
#[derive(Clone, PartialEq, Eq)]
pub struct Address {
    pub endpoint: Endpoint,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    /// The TLS client of a `rediss://` endpoint, built from `redis.tls`
    /// once per service by [`with_tls`](Self::with_tls) and shared by every
    /// connection to the address; `None` until then.
    pub(crate) tls: Option<Tls>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `tls`: `rediss://`, the stream wrapped in TLS and the server's
    /// certificate verified against `host`.
    Tcp {
        host: String,
        port: u16,
        tls: bool,
    },
    Unix(PathBuf),
}

/// The accepted forms, appended to errors about the URL as a whole.
const FORMS: &str = "write redis.url as redis://[user:password@]host[:port][/db], rediss://... for TLS, or \
                     unix:///path/to/redis.sock[?db=N&password=...]";

impl Address {
    /// Parses `redis://[user:password@]host[:port][/db]`, the same with
    /// `rediss://` for TLS, or `unix:///path[?db=N&password=...&username=...]`.
    ///
    /// Errors say which part is wrong but never quote the URL: it may hold a
    /// password, and in a malformed URL there is no telling where (an
    /// unencoded `&`, `/` or `@` in a password lands it in a query key, the
    /// path or the host).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{e}; {FORMS}"))?;
        let decode =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        let mut username = (!url.username().is_empty()).then(|| decode(url.username())).flatten();
        let mut password = url.password().and_then(decode);
        let holds_password = password.is_some() || url.query_pairs().any(|(key, _)| key == "password");
        let mut db = 0;
        for (key, value) in url.query_pairs() {
            match &*key {
                "db" => db = value.parse().map_err(|_| "the db parameter must be a database number, e.g. db=0")?,
                "password" => password = Some(value.into_owned()),
                "username" => username = Some(value.into_owned()),
                // A password with an unencoded `&` leaves its tail here as a
                // key, so the key is shown only when there is no password.
                other if !holds_password => {
                    return Err(format!("unknown parameter {other:?} in redis.url; known: db, password, username"));
                }
                _ => {
                    return Err("unknown parameter in redis.url (not shown, as the URL holds a password); known: \
                                db, password, username; percent-encode & and = inside a password as %26 and %3D"
                        .into());
                }
            }
        }
        let endpoint = match url.scheme() {
            scheme @ ("redis" | "valkey" | "rediss" | "valkeys") => {
                let tls = matches!(scheme, "rediss" | "valkeys");
                let host = url.host_str().filter(|h| !h.is_empty()).ok_or("redis:// needs a host")?;
                let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
                if tls && crate::tls::server_name(&host).is_none() {
                    return Err("the host of a rediss:// URL must be a DNS name or an IP address: the server's \
                                certificate is checked against it"
                        .into());
                }
                let path = url.path().trim_start_matches('/');
                if !path.is_empty() {
                    db = path.parse().map_err(|_| {
                        "the path of a redis:// URL must be a database number, e.g. redis://127.0.0.1:6379/0; \
                         percent-encode / inside a password as %2F"
                    })?;
                }
                Endpoint::Tcp { host, port: url.port().unwrap_or(6379), tls }
            }
            "unix" | "redis+unix" => {
                if url.path().is_empty() {
                    return Err("unix:// needs a socket path, e.g. unix:///run/redis/redis.sock".into());
                }
                Endpoint::Unix(PathBuf::from(url.path()))
            }
            // A scheme is only letters, digits, `+`, `-` and `.` before the
            // first `:`, so quoting it cannot reveal a password.
            other => return Err(format!("unknown scheme {other}://; use redis://, rediss:// or unix://")),
        };
        Ok(Self { endpoint, username, password, db, tls: None })
    }

    /// Whether the URL asks for TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        matches!(self.endpoint, Endpoint::Tcp { tls: true, .. })
    }

    /// The address with the TLS client its connections use.
    pub(crate) fn with_tls(self, tls: Tls) -> Self {
        Self { tls: Some(tls), ..self }
    }
}

impl fmt::Display for Address {
    /// The address with the password shown as `***`, for logs and error
    /// messages: operators see that one is set, never what it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A username is shown only beside a password: alone it is never
        // sent, and `redis://secret@host` is a common way to misplace one.
        let credentials = self.password.as_ref().map(|_| (self.username.as_deref().unwrap_or(""), "***"));
        match &self.endpoint {
            Endpoint::Tcp { host, port, tls } => {
                f.write_str(if *tls { "rediss://" } else { "redis://" })?;
                if let Some((username, password)) = credentials {
                    write!(f, "{username}:{password}@")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]:{port}/{}", self.db)
                } else {
                    write!(f, "{host}:{port}/{}", self.db)
                }
            }
            Endpoint::Unix(path) => {
                write!(f, "unix://{}?db={}", path.display(), self.db)?;
                match credentials {
                    Some(("", password)) => write!(f, "&password={password}"),
                    Some((username, password)) => write!(f, "&username={username}&password={password}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_with_credentials_and_db() {
        let a = Address::parse("redis://app:s%40cret@127.0.0.1:6380/3").unwrap();
        assert_eq!(a.endpoint, Endpoint::Tcp { host: "127.0.0.1".into(), port: 6380, tls: false });
        assert_eq!((a.username.as_deref(), a.password.as_deref(), a.db), (Some("app"), Some("s@cret"), 3));
    }

    #[test]
    fn parses_password_only_and_default_port() {
        let a = Address::parse("redis://:pw@localhost").unwrap();
        assert_eq!(a.endpoint, Endpoint::Tcp { host: "localhost".into(), port: 6379, tls: false });
        assert_eq!((a.username, a.password.as_deref(), a.db), (None, Some("pw"), 0));
    }

    #[test]
    fn parses_tls_with_the_host_to_verify() {
        let a = Address::parse("rediss://app:pw@cache.example.com:6380/2").unwrap();
        assert_eq!(a.endpoint, Endpoint::Tcp { host: "cache.example.com".into(), port: 6380, tls: true });
        assert_eq!((a.username.as_deref(), a.password.as_deref(), a.db), (Some("app"), Some("pw"), 2));
        assert!(a.is_tls());
        let a = Address::parse("valkeys://[::1]").unwrap();
        assert_eq!(a.endpoint, Endpoint::Tcp { host: "::1".into(), port: 6379, tls: true });
        assert!(!Address::parse("redis://h").unwrap().is_tls());
        assert!(!Address::parse("unix:///r.sock").unwrap().is_tls());
    }

    #[test]
    fn parses_unix_with_query() {
        let a = Address::parse("unix:///run/redis/redis.sock?db=2&password=x").unwrap();
        assert_eq!(a.endpoint, Endpoint::Unix("/run/redis/redis.sock".into()));
        assert_eq!((a.db, a.password.as_deref()), (2, Some("x")));
    }

    #[test]
    fn refuses_what_it_cannot_serve_with_a_reason() {
        assert!(Address::parse("http://h").unwrap_err().contains("unknown scheme http://"));
        assert!(Address::parse("rediss://h/x").unwrap_err().contains("database number"));
        assert!(Address::parse("redis://h/x").unwrap_err().contains("database number"));
        assert!(Address::parse("redis://h?foo=1").unwrap_err().contains("unknown parameter \"foo\""));
        assert!(Address::parse("redis://h:99999").unwrap_err().contains("invalid port number"));
    }

    #[test]
    fn display_shows_that_a_password_is_set_but_not_what_it_is() {
        for (url, shown) in [
            ("redis://app:hunter2@127.0.0.1:6380/3", "redis://app:***@127.0.0.1:6380/3"),
            ("redis://:hunter2@[::1]", "redis://:***@[::1]:6379/0"),
            ("redis://hunter2@localhost/1", "redis://localhost:6379/1"),
            ("unix:///run/r.sock?username=hunter2", "unix:///run/r.sock?db=0"),
            ("redis://localhost", "redis://localhost:6379/0"),
            ("rediss://app:hunter2@cache.example.com:6380/1", "rediss://app:***@cache.example.com:6380/1"),
            ("valkeys://:hunter2@[::1]", "rediss://:***@[::1]:6379/0"),
            ("unix:///run/r.sock?password=hunter2&db=2", "unix:///run/r.sock?db=2&password=***"),
            ("unix:///run/r.sock?username=app&password=hunter2", "unix:///run/r.sock?db=0&username=app&password=***"),
        ] {
            let address = Address::parse(url).unwrap();
            assert_eq!(address.to_string(), shown);
            assert_eq!(format!("{address:?}"), shown);
        }
    }

    /// Every way a URL holding a password can be refused. `hun&ter2` is a
    /// password with an unencoded `&`, which splits it across two query
    /// parameters, so neither half may appear either.
    #[test]
    fn no_error_quotes_the_url_or_its_password() {
        for (url, reason) in [
            ("redis://:hunter2@127.0.0.1:99999", "invalid port number"),
            ("redis://:hunter2@127.0.0.1:port/0", "invalid port number"),
            ("unix://host:port/run/r.sock?password=hunter2", "invalid port number"),
            ("redis+unix://host:port/run/r.sock?db=1&password=hunter2", "invalid port number"),
            ("redis://:hunter2@", "empty host"),
            ("redis://:hunter2@[::1/0", "invalid IPv6 address"),
            ("hunter2", "relative URL without a base"),
            ("redis://:hunter2@127.0.0.1/x", "database number"),
            ("redis://app:12/hunter2@host", "database number"),
            ("redis://:hunter2@127.0.0.1?db=x", "database number"),
            ("unix:///run/r.sock?password=hunter2&db=x", "database number"),
            ("unix:///run/r.sock?password=hun&ter2", "unknown parameter"),
            ("unix:///run/r.sock?password=hun&ter2=1", "unknown parameter"),
            ("redis://:hunter2@127.0.0.1?hunter2=1", "unknown parameter"),
            ("http://:hunter2@127.0.0.1", "unknown scheme http://"),
            ("unix:?password=hunter2", "needs a socket path"),
            ("rediss://:hunter2@127.0.0.1:99999", "invalid port number"),
            ("rediss://:hunter2@127.0.0.1/x", "database number"),
            ("valkeys://host/0?password=hunter2&x=1", "unknown parameter"),
            ("rediss://:hunter2@exa%20mple/0", "DNS name or an IP address"),
        ] {
            let err = Address::parse(url).unwrap_err();
            assert!(err.contains(reason), "{url}: {err}");
            for secret in ["hunter2", "hun", "ter2"] {
                assert!(!err.contains(secret), "{url}: the error quotes {secret:?}: {err}");
            }
        }
    }
}
