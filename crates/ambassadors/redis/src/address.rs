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

impl Address {
    /// Parses `redis://[user:password@]host[:port][/db]` or
    /// `unix:///path[?db=N&password=...&username=...]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{e} in {:?}", redact(text)))?;
        let decode =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        let mut username = (!url.username().is_empty()).then(|| decode(url.username())).flatten();
        let mut password = url.password().and_then(decode);
        let mut db = 0;
        for (key, value) in url.query_pairs() {
            match &*key {
                "db" => db = value.parse().map_err(|_| format!("db={value} is not a database number"))?,
                "password" => password = Some(value.into_owned()),
                "username" => username = Some(value.into_owned()),
                other => return Err(format!("unknown parameter {other:?}; known: db, password, username")),
            }
        }
        let endpoint = match url.scheme() {
            "redis" | "valkey" => {
                let host = url.host_str().filter(|h| !h.is_empty()).ok_or("redis:// needs a host")?;
                let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
                let path = url.path().trim_start_matches('/');
                if !path.is_empty() {
                    db = path.parse().map_err(|_| format!("/{path} is not a database number"))?;
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
            other => return Err(format!("unknown scheme {other}://; use redis:// or unix://")),
        };
        Ok(Self { endpoint, username, password, db })
    }
}

impl fmt::Display for Address {
    /// The address without credentials, for logs and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.endpoint {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "redis://[{host}]:{port}/{}", self.db),
            Endpoint::Tcp { host, port } => write!(f, "redis://{host}:{port}/{}", self.db),
            Endpoint::Unix(path) => write!(f, "unix://{}?db={}", path.display(), self.db),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `text` with any password replaced, for error messages.
fn redact(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &text[..scheme], &text[at..]),
        _ => text.to_string(),
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
        assert_eq!(a.to_string(), "redis://127.0.0.1:6380/3");
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
        assert!(Address::parse("http://h").unwrap_err().contains("unknown scheme"));
        assert!(Address::parse("redis://h/x").unwrap_err().contains("not a database number"));
        assert!(Address::parse("redis://h?foo=1").unwrap_err().contains("unknown parameter"));
        let err = Address::parse("redis://u:secret@").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }
}
