use std::time::Duration;

use attache_core::Limits;
use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// The Redis ambassador's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where Redis or Valkey listens: `redis://[user:password@]host:port[/db]`,
    /// `rediss://...` for TLS (see [`tls`](Self::tls)), or
    /// `unix:///path/to/redis.sock[?db=N&password=...]`. Unset, the module
    /// answers FAILED_PRECONDITION. `ATTACHE_REDIS_URL` sets it.
    pub url: Option<String>,
    /// Multiplexed connections shared by every caller; concurrent commands
    /// are pipelined onto them. With one (the default), commands reach
    /// Redis in the order attache received them, as on a single client
    /// connection; with more, concurrent calls may be reordered. Redis runs
    /// commands on one thread, so one pipelined connection already keeps it
    /// busy.
    pub connections: usize,
    /// Connections that may be held at once for blocking commands (BLPOP,
    /// XREAD BLOCK, ...) and MULTI/EXEC transactions; beyond this such calls
    /// answer RESOURCE_EXHAUSTED.
    pub max_dedicated_connections: usize,
    /// Time allowed to connect and complete the handshake.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// A shared connection whose oldest reply is later than this is deemed
    /// broken: its callers get UNAVAILABLE and it is replaced.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Each shared connection is sent a PING this often; one that does not
    /// answer within `command_timeout` (or this interval, if shorter) is
    /// replaced and its cache entries dropped, so a half-open connection
    /// (failover, network partition) is noticed even with no traffic.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// First wait before reconnecting; it doubles (with jitter) up to
    /// `reconnect_max`. While disconnected, calls fail at once with
    /// UNAVAILABLE.
    #[serde(with = "humantime_serde")]
    pub reconnect_min: Duration,
    /// Longest wait between reconnection attempts.
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// Largest reply one call may receive, and the most a Batch's or
    /// DoMulti's replies may add up to; a larger one fails that call alone
    /// with RESOURCE_EXHAUSTED, and is passed over as it arrives rather than
    /// buffered. Also bounds a pub/sub message.
    pub max_reply_bytes: ByteSize,
    /// Messages a subscriber may fall behind before it is ended with
    /// RESOURCE_EXHAUSTED (so one slow subscriber never delays the others).
    pub subscriber_queue: usize,
    /// Subscribe streams open at once; beyond this RESOURCE_EXHAUSTED.
    pub max_subscribers: usize,
    /// TLS for a `rediss://` URL: whom to trust, and the client certificate
    /// for mutual TLS.
    pub tls: TlsConfig,
    /// Client-side cache for DoCached and MGetCached.
    pub cache: CacheConfig,
    /// Admission: requests in flight and requests queued behind them.
    pub limits: Limits,
}

/// TLS to Redis, used when `redis.url` is `rediss://`. The server's
/// certificate is verified against the URL's host (a DNS name or an IP
/// address); `cert_file` and `key_file` are for `tls-auth-clients yes`.
pub type TlsConfig = attache_tls::Files;

/// The client-side cache shared by every caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Use the cache. Off, DoCached and MGetCached read through to Redis.
    pub enabled: bool,
    /// Memory the cached replies may use; least recently used entries go
    /// first.
    pub max_bytes: ByteSize,
    /// TTL for a request that gives none (ttl_ms = 0).
    #[serde(with = "humantime_serde")]
    pub default_ttl: Duration,
    /// Longest TTL a request may ask for; longer ones are shortened.
    #[serde(with = "humantime_serde")]
    pub max_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: None,
            connections: 1,
            max_dedicated_connections: 32,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
            max_reply_bytes: ByteSize::mib(16),
            subscriber_queue: 1024,
            max_subscribers: 10_000,
            tls: TlsConfig::default(),
            cache: CacheConfig::default(),
            limits: Limits { max_in_flight: 4096, max_queued: 4096 },
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: ByteSize::mib(64),
            default_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(3600),
        }
    }
}

impl Config {
    /// [`max_reply_bytes`](Self::max_reply_bytes) as a count.
    pub fn max_reply(&self) -> usize {
        usize::try_from(self.max_reply_bytes.as_u64()).unwrap_or(usize::MAX)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.url {
            let address = Address::parse(url).map_err(|e| format!("redis.url: {e}"))?;
            // Settings for TLS beside a plain URL mean a forgotten `s`:
            // connecting anyway would send the password in clear.
            if !address.is_tls() && self.tls != TlsConfig::default() {
                return Err("redis.tls is set but redis.url is not rediss://; write redis.url as \
                            rediss://host:port to connect with TLS, or unset redis.tls"
                    .into());
            }
        }
        crate::tls::check(&self.tls)?;
        if self.connections == 0 {
            return Err("redis.connections must be at least 1".into());
        }
        if self.max_reply_bytes.as_u64() < 1024 {
            return Err("redis.max_reply_bytes must be at least 1 KiB".into());
        }
        if self.subscriber_queue == 0 || self.max_subscribers == 0 {
            return Err("redis.subscriber_queue and redis.max_subscribers must be at least 1".into());
        }
        if self.reconnect_min.is_zero() || self.reconnect_min > self.reconnect_max {
            return Err("redis.reconnect_min must be above zero and at most redis.reconnect_max".into());
        }
        if self.command_timeout.is_zero() || self.connect_timeout.is_zero() || self.ping_interval.is_zero() {
            return Err(
                "redis.command_timeout, redis.connect_timeout and redis.ping_interval must be above zero".into()
            );
        }
        if self.cache.default_ttl.is_zero() || self.cache.default_ttl > self.cache.max_ttl {
            return Err("redis.cache.default_ttl must be above zero and at most redis.cache.max_ttl".into());
        }
        if self.limits.max_in_flight == 0 {
            return Err("redis.limits.max_in_flight must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_need_a_rediss_url_and_usable_files() {
        let mut config = Config { url: Some("redis://:hunter2@127.0.0.1".into()), ..Config::default() };
        config.tls.ca_file = Some("/nonexistent/ca.pem".into());
        let err = config.validate().unwrap_err();
        assert!(err.contains("redis.url is not rediss://") && !err.contains("hunter2"), "{err}");
        config.url = Some("rediss://:hunter2@127.0.0.1".into());
        let err = config.validate().unwrap_err();
        assert!(err.starts_with("redis.tls.ca_file: cannot read /nonexistent/ca.pem"), "{err}");
        config.tls.ca_file = None;
        config.tls.key_file = Some("/nonexistent/key.pem".into());
        assert!(config.validate().unwrap_err().contains("go together"));
        config.tls.key_file = None;
        assert_eq!(config.validate(), Ok(()));
        // Unused TLS settings are still checked: a bad path is a mistake
        // whatever the URL.
        config.url = None;
        config.tls.cert_file = Some("/nonexistent/cert.pem".into());
        assert!(config.validate().unwrap_err().contains("go together"));
    }
}
