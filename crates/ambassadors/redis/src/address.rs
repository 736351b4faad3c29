use std::fmt;
use std::path::PathBuf;

/// Where and how to reach Redis, parsed from `redis.url`.
#[derive(Clone, PartialEq, Eq)]
pub struct Address {
    pub endpoint: Endpoint,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// The accepted forms, appended to errors about the URL as a whole.
const FORMS: &str = "write redis.url as redis://[user:password@]host[:port][/db] or \
                     unix:///path/to/redis.sock[?db=N&password=...]";

impl Address {
    /// Parses `redis://[user:password@]host[:port][/db]` or
    /// `unix:///path[?db=N&password=...&username=...]`.
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
            "redis" | "valkey" => {
                let host = url.host_str().filter(|h| !h.is_empty()).ok_or("redis:// needs a host")?;
                let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
                let path = url.path().trim_start_matches('/');
                if !path.is_empty() {
                    db = path.parse().map_err(|_| {
                        "the path of a redis:// URL must be a database number, e.g. redis://127.0.0.1:6379/0; \
                         percent-encode / inside a password as %2F"
                    })?;
                }
                Endpoint::Tcp { host, port: url.port().unwrap_or(6379) }
            }
            "unix" | "redis+unix" => {
                if url.path().is_empty() {
                    return Err("unix:// needs a socket path, e.g. unix:///run/redis/redis.sock".into());
                }
                Endpoint::Unix(PathBuf::from(url.path()))
            }
            "rediss" | "valkeys" => {
                return Err("TLS (rediss://) is not supported yet; reach Redis over loopback or a Unix socket".into());
            }
            // A scheme is only letters, digits, `+`, `-` and `.` before the
            // first `:`, so quoting it cannot reveal a password.
            other => return Err(format!("unknown scheme {other}://; use redis:// or unix://")),
        };
        Ok(Self { endpoint, username, password, db })
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
            Endpoint::Tcp { host, port } => {
                f.write_str("redis://")?;
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
        assert_eq!(a.endpoint, Endpoint::Tcp { host: "127.0.0.1".into(), port: 6380 });
        assert_eq!((a.username.as_deref(), a.password.as_deref(), a.db), (Some("app"), Some("s@cret"), 3));
    }

    #[test]
    fn parses_password_only_and_default_port() {
        let a = Address::parse("redis://:pw@localhost").unwrap();
        assert_eq!(a.endpoint, Endpoint::Tcp { host: "localhost".into(), port: 6379 });
        assert_eq!((a.username, a.password.as_deref(), a.db), (None, Some("pw"), 0));
    }

    #[test]
    fn parses_unix_with_query() {
        let a = Address::parse("unix:///run/redis/redis.sock?db=2&password=x").unwrap();
        assert_eq!(a.endpoint, Endpoint::Unix("/run/redis/redis.sock".into()));
        assert_eq!((a.db, a.password.as_deref()), (2, Some("x")));
    }

    #[test]
    fn refuses_what_it_cannot_serve_with_a_reason() {
        assert!(Address::parse("rediss://h:6379").unwrap_err().contains("TLS"));
        assert!(Address::parse("http://h").unwrap_err().contains("unknown scheme http://"));
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
            ("rediss://:hunter2@127.0.0.1", "TLS"),
            ("valkeys://host/0?password=hunter2", "TLS"),
        ] {
            let err = Address::parse(url).unwrap_err();
            assert!(err.contains(reason), "{url}: {err}");
            for secret in ["hunter2", "hun", "ter2"] {
                assert!(!err.contains(secret), "{url}: the error quotes {secret:?}: {err}");
            }
        }
    }
}
