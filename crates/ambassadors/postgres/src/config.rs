use std::time::Duration;

use attache_core::Limits;
use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// The PostgreSQL ambassador's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The database: `postgres://user:password@host:port/dbname`, or a Unix
    /// socket directory as `postgres://user@/dbname?host=/run/postgresql`.
    /// `sslmode` (disable, prefer (the default), require, verify-ca,
    /// verify-full) and `sslrootcert` mean what they mean to libpq. Unset,
    /// the module answers FAILED_PRECONDITION. `ATTACHE_POSTGRES_URL` sets
    /// it.
    pub url: Option<String>,
    /// TLS files: the CA that signs the server's certificate (for
    /// verify-ca and verify-full; `sslrootcert` in the URL does the same)
    /// and a client certificate for `clientcert` authentication.
    pub tls: attache_tls::Files,
    /// Connections in the shared pool; every caller on the host shares
    /// them. A call that finds all busy waits for one until its deadline.
    pub pool_size: usize,
    /// Time allowed to open a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// After a failed connection attempt, calls fail at once with
    /// UNAVAILABLE for this long before the next attempt; it doubles (with
    /// jitter) up to `reconnect_max` while the database stays down.
    #[serde(with = "humantime_serde")]
    pub reconnect_min: Duration,
    /// Longest wait between connection attempts.
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// `statement_timeout` of every pooled connection, a backstop for
    /// statements whose caller set a longer deadline than this. The caller's
    /// deadline also cancels its statement on the server.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// Prepared statements kept per connection (least recently used out).
    pub statement_cache: usize,
    /// Largest result one call may receive, counted as the memory its
    /// decoded values take; a larger one fails with RESOURCE_EXHAUSTED while
    /// it is read, never buffered whole. Rows are read while the call holds
    /// a pooled connection, so at most `pool_size` results are being built
    /// at once.
    pub max_reply_bytes: ByteSize,
    /// Interactive transactions (Begin/Commit/Rollback).
    pub transaction: TransactionConfig,
    /// The response cache (reads with `cache_ttl_ms`).
    pub cache: CacheConfig,
    /// Merged inserts (the Insert call).
    pub insert: InsertConfig,
    /// The transactional outbox relay (to the Kafka module).
    pub outbox: crate::OutboxConfig,
    /// Admission: requests in flight and requests queued behind them.
    pub limits: Limits,
}

/// Limits on interactive transactions, each of which holds a pooled
/// connection until it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransactionConfig {
    /// A transaction with no statement for this long is rolled back.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A transaction open this long is rolled back, busy or not.
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// Transactions open at once; 0 is half of `pool_size` (rounded up), so
    /// open transactions can never take every connection.
    pub max_open: usize,
}

/// The response cache. A read is cached only when its caller asks
/// (`cache_ttl_ms`), and only if the database can say which tables it
/// reads; writes through attache drop what depends on what they touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Memory for cached results (least recently used out); 0 turns the
    /// cache off, and with it the analysis of writes.
    pub max_bytes: ByteSize,
    /// Longest time a result is kept, whatever its caller asked: how stale
    /// a read can be after a write made outside attache.
    #[serde(with = "humantime_serde")]
    pub max_ttl: Duration,
    /// The LISTEN/NOTIFY channel on which every attache on the database
    /// tells the others what its writes touched (one extra connection per
    /// attache); empty for a single attache, which then needs no channel.
    pub channel: String,
    /// What bounds staleness after a write made outside attache: `ttl`
    /// (the default; the entry's TTL) or `replication` (logical decoding:
    /// within about a second; needs `wal_level = logical`, a role with
    /// REPLICATION that may create the publication and owns the tables it
    /// adds, and a channel).
    pub invalidation: Invalidation,
    /// The publication `replication` reads, created and kept by attache: the
    /// tables with a primary key or a replica identity.
    pub publication: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Invalidation {
    Ttl,
    Replication,
}

/// Merged inserts: Insert calls of one shape that arrive while a batch of
/// it runs go together in the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsertConfig {
    /// Most rows in one statement.
    pub max_batch: usize,
    /// How long the first row of a batch waits for company; 0 (the
    /// default) sends it at once, and rows still merge while a batch runs.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
}

impl Default for InsertConfig {
    fn default() -> Self {
        Self { max_batch: 1000, max_wait: Duration::ZERO }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: ByteSize::mib(64),
            max_ttl: Duration::from_secs(300),
            channel: "attache_cache".into(),
            invalidation: Invalidation::Ttl,
            publication: "attache_cache".into(),
        }
    }
}

impl CacheConfig {
    pub fn enabled(&self) -> bool {
        self.max_bytes.as_u64() > 0
    }
}

impl Default for TransactionConfig {
    fn default() -> Self {
        Self { idle_timeout: Duration::from_secs(10), max_duration: Duration::from_secs(60), max_open: 0 }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: None,
            tls: attache_tls::Files::default(),
            pool_size: 10,
            connect_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(60),
            statement_cache: 256,
            max_reply_bytes: ByteSize::mib(16),
            transaction: TransactionConfig::default(),
            cache: CacheConfig::default(),
            insert: InsertConfig::default(),
            outbox: crate::OutboxConfig::default(),
            limits: Limits { max_in_flight: 256, max_queued: 1024 },
        }
    }
}

impl Config {
    /// Checks the constraints serde cannot express. Never echoes the URL:
    /// it may hold a password.
    pub fn validate(&self) -> Result<(), String> {
        match &self.url {
            Some(url) => {
                crate::tls::target(url, &self.tls)?;
            }
            None => attache_tls::check(&self.tls, crate::tls::NAMES)?,
        }
        if self.pool_size == 0 {
            return Err("postgres.pool_size must be at least 1".into());
        }
        if self.max_open() > self.pool_size {
            return Err("postgres.transaction.max_open must be at most postgres.pool_size".into());
        }
        if self.connect_timeout.is_zero() || self.statement_timeout.is_zero() {
            return Err("postgres.connect_timeout and postgres.statement_timeout must be above zero".into());
        }
        if self.reconnect_min.is_zero() || self.reconnect_min > self.reconnect_max {
            return Err("postgres.reconnect_min must be above zero and at most postgres.reconnect_max".into());
        }
        if self.transaction.idle_timeout.is_zero() || self.transaction.idle_timeout > self.transaction.max_duration {
            return Err(
                "postgres.transaction.idle_timeout must be above zero and at most postgres.transaction.max_duration"
                    .into(),
            );
        }
        if self.max_reply_bytes.as_u64() < 1024 {
            return Err("postgres.max_reply_bytes must be at least 1 KiB".into());
        }
        self.outbox.validate()?;
        if self.cache.channel.len() > 63 {
            return Err("postgres.cache.channel must be at most 63 bytes (a Postgres identifier)".into());
        }
        if self.cache.enabled() && self.cache.max_ttl.is_zero() {
            return Err("postgres.cache.max_ttl must be above zero (or set postgres.cache.max_bytes to 0)".into());
        }
        if self.cache.invalidation == Invalidation::Replication
            && (!self.cache.enabled() || self.cache.channel.is_empty() || self.cache.publication.is_empty())
        {
            return Err("postgres.cache.invalidation = \"replication\" needs the cache on (max_bytes above 0), \
                        a channel and a publication"
                .into());
        }
        if self.insert.max_batch == 0 || self.insert.max_batch > 10_000 {
            return Err("postgres.insert.max_batch must be between 1 and 10000".into());
        }
        if self.insert.max_wait > Duration::from_secs(1) {
            return Err("postgres.insert.max_wait must be at most 1s".into());
        }
        if self.limits.max_in_flight == 0 {
            return Err("postgres.limits.max_in_flight must be at least 1".into());
        }
        Ok(())
    }

    /// Interactive transactions allowed open at once.
    pub fn max_open(&self) -> usize {
        match self.transaction.max_open {
            0 => self.pool_size.div_ceil(2),
            n => n,
        }
    }
}
