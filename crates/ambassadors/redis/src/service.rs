use std::sync::Arc;
use std::time::Duration;

use attache_singleflight::{Group, Role};
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::address::Address;
use crate::client_cache::ClientCache;
use crate::command::{self, Route};
use crate::connection::Fill;
use crate::dedicated::Dedicated;
use crate::pubsub::{Hub, Subscription};
use crate::shared::Shared;
use crate::tls::Tls;
use crate::{Config, Error, Value, resp};

/// The Redis ambassador. Cloning is cheap; clones share connections,
/// cache and subscriptions.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    shared: Arc<Shared>,
    dedicated: Dedicated,
    hub: Arc<Hub>,
    cache: Option<Arc<ClientCache>>,
    flights: Group<Bytes, Result<Arc<Value>, Error>>,
    stop: CancellationToken,
    metrics: Metrics,
}

#[derive(Default, Clone)]
struct Metrics {
    hits: Counter,
    misses: Counter,
    shared: Counter,
    entries: Gauge,
    bytes: Gauge,
}

/// A cached read's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub value: Arc<Value>,
    pub hit: bool,
}

/// An MGetCached outcome: one value per key and how many were hits.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedMany {
    pub values: Vec<Arc<Value>>,
    pub hits: usize,
}

/// What a fetch stores: one entry for the whole read, or (MGET) one GET
/// entry per key.
enum Entries {
    /// The read itself, depending on all its keys.
    Whole,
    /// The GET of each key (for an MGET).
    PerKey(Vec<Bytes>),
}

/// Deadline when the caller gives none (the server always gives one).
const NO_DEADLINE: Duration = Duration::from_secs(3600);

impl Service {
    /// Starts connecting to `config.url` in the background. Needs a Tokio
    /// runtime. Fails only if the URL is missing or malformed.
    pub fn new(config: Config) -> Result<Self, String> {
        config.validate()?;
        let url = config.url.as_deref().ok_or("redis.url is not set")?;
        let mut address = Address::parse(url)?;
        if address.is_tls() {
            // Once here, shared by every connection: reading the trust
            // store on each reconnect would cost, and could change under us.
            address = address.with_tls(Tls::new(&config.tls)?);
        }
        let stop = CancellationToken::new();
        let cache = config.cache.enabled.then(|| {
            Arc::new(ClientCache::new(usize::try_from(config.cache.max_bytes.as_u64()).unwrap_or(usize::MAX)))
        });
        let shared = Shared::start(address.clone(), &config, cache.clone(), stop.clone());
        let max_reply = config.max_reply();
        let dedicated =
            Dedicated::new(address.clone(), config.max_dedicated_connections, config.connect_timeout, max_reply);
        let hub = Hub::new(address, config.connect_timeout, max_reply, config.subscriber_queue, config.max_subscribers);
        let inner =
            Inner { config, shared, dedicated, hub, cache, flights: Group::new(), stop, metrics: Metrics::default() };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Runs one command.
    pub async fn r#do(&self, args: Vec<Bytes>, deadline: Option<std::time::Instant>) -> Result<Value, Error> {
        let route = command::route(&args)?;
        let replies = self.run(route, resp::encoded(&args), 1, deadline).await?;
        Ok(replies.into_iter().next().unwrap_or(Value::Nil))
    }

    /// Runs several commands in order; MULTI/EXEC groups and blocking
    /// commands on a dedicated connection.
    pub async fn do_multi(
        &self,
        commands: Vec<Vec<Bytes>>,
        deadline: Option<std::time::Instant>,
    ) -> Result<Vec<Value>, Error> {
        if commands.is_empty() {
            return Err(Error::InvalidArgument("commands is empty".into()));
        }
        let route = command::route_group(&commands)?;
        let mut payload = bytes::BytesMut::new();
        for args in &commands {
            resp::encode(args, &mut payload);
        }
        self.run(route, payload.freeze(), commands.len(), deadline).await
    }

    async fn run(
        &self,
        route: Route,
        payload: Bytes,
        replies: usize,
        deadline: Option<std::time::Instant>,
    ) -> Result<Vec<Value>, Error> {
        let deadline = deadline_of(deadline);
        match route {
            Route::Shared => self.inner.shared.call(payload, replies, deadline).await,
            Route::Dedicated if !self.inner.shared.is_up() => Err(self.inner.shared.unavailable()),
            Route::Dedicated => self.inner.dedicated.call(payload, replies, deadline).await,
        }
    }

    /// Serves a read-only command from the cache, or fetches it with the
    /// key's TTL and has Redis track it. `ttl` zero means the default.
    pub async fn do_cached(
        &self,
        mut args: Vec<Bytes>,
        ttl: Duration,
        deadline: Option<std::time::Instant>,
    ) -> Result<Cached, Error> {
        let keys = command::cached_keys(&args)?;
        let name = command::name(&args)?;
        if name == "MGET" {
            let many = self.mget_cached(keys, ttl, deadline).await?;
            let hit = many.hits == many.values.len();
            let values = many.values.iter().map(|v| (**v).clone()).collect();
            return Ok(Cached { value: Arc::new(Value::Array(values)), hit });
        }
        let Some(cache) = self.tracked_cache() else {
            let value = self.r#do(args, deadline).await?;
            return Ok(Cached { value: Arc::new(value), hit: false });
        };
        args[0] = Bytes::from(name);
        let command = resp::encoded(&args);
        if let Some(value) = cache.get(&command, std::time::Instant::now()) {
            self.inner.metrics.hits.inc();
            return Ok(Cached { value, hit: true });
        }
        let ttl = self.ttl(ttl);
        let deadline = deadline_of(deadline);
        let fetch =
            self.inner.flights.run(command.clone(), || self.fetch(cache, command.clone(), keys, Entries::Whole, ttl));
        let (value, role) = tokio::time::timeout_at(deadline, fetch).await.map_err(|_| Error::DeadlineExceeded)?;
        self.count_miss(role);
        Ok(Cached { value: value?, hit: false })
    }

    /// Reads with `<read>; PTTL key...` pipelined back to back and caches
    /// the reply for the shorter of the caller's TTL and the keys' own.
    ///
    /// Why no MULTI/EXEC around it (half the commands per miss): the read
    /// turns on tracking for its keys, so any change to them before the
    /// PTTLs run (a write, an expiry) makes Redis push an invalidation that
    /// arrives between the read's reply and the last PTTL's. The connection
    /// then skips the fill (see `connection.rs`); a change after the last
    /// PTTL is pushed after it and removes the stored entry. The value and
    /// TTL that do get cached are therefore ones no change came between, as
    /// with a transaction.
    ///
    /// The fetch is shared by every identical caller, so it is bounded by
    /// `redis.command_timeout`, not by the deadline of whichever caller
    /// happened to lead: each caller waits for it within its own deadline,
    /// and if the leader leaves, a follower takes over (`Group::run`).
    async fn fetch(
        &self,
        cache: &Arc<ClientCache>,
        read: Bytes,
        keys: Vec<Bytes>,
        entries: Entries,
        ttl: Duration,
    ) -> Result<Arc<Value>, Error> {
        let mut payload = bytes::BytesMut::from(&read[..]);
        let command = read;
        for key in &keys {
            resp::encode(&[Bytes::from_static(b"PTTL"), key.clone()], &mut payload);
        }
        let replies = keys.len() + 1;
        let fill_cache = cache.clone();
        let fill: Fill = Box::new(move |connection, replies| {
            let (Some(value), pttls) = (replies.first(), &replies[1..]) else { return };
            if value.is_error() {
                return;
            }
            match entries {
                Entries::Whole => {
                    let ttl = pttls.iter().try_fold(ttl, local_ttl);
                    if let Some(ttl) = ttl {
                        fill_cache.insert(command, keys, Arc::new(value.clone()), ttl, connection);
                    }
                }
                // MGET: one GET entry per key, from its element.
                Entries::PerKey(commands) => {
                    let Value::Array(values) = value else { return };
                    for (((key, command), value), pttl) in keys.into_iter().zip(commands).zip(values).zip(pttls) {
                        // MGET answers nil for a missing key and for one
                        // holding another type; only the first is what GET
                        // answers (the other is WRONGTYPE), so a nil is
                        // cached only when PTTL says the key does not exist.
                        if *value == Value::Nil && pttl.as_integer() != Some(-2) {
                            continue;
                        }
                        if let Some(ttl) = local_ttl(ttl, pttl) {
                            fill_cache.insert(command, vec![key], Arc::new(value.clone()), ttl, connection);
                        }
                    }
                }
            }
        });
        let deadline = Instant::now() + self.inner.config.command_timeout;
        let replies = self.inner.shared.call_with_fill(payload.freeze(), replies, Some(fill), deadline).await?;
        self.update_gauges(cache);
        Ok(Arc::new(replies.into_iter().next().unwrap_or(Value::Nil)))
    }

    /// Reads many string keys: hits from the cache, misses in one
    /// `MGET misses; PTTL each` (see [`fetch`](Self::fetch)).
    pub async fn mget_cached(
        &self,
        keys: Vec<Bytes>,
        ttl: Duration,
        deadline: Option<std::time::Instant>,
    ) -> Result<CachedMany, Error> {
        if keys.is_empty() {
            return Err(Error::InvalidArgument("keys is empty".into()));
        }
        let Some(cache) = self.tracked_cache() else {
            let mut args = vec![Bytes::from_static(b"MGET")];
            args.extend(keys);
            let values = match self.r#do(args, deadline).await? {
                Value::Array(values) => values.into_iter().map(Arc::new).collect(),
                Value::Error(e) => return Err(Error::InvalidArgument(e)),
                other => vec![Arc::new(other)],
            };
            return Ok(CachedMany { values, hits: 0 });
        };
        let now = std::time::Instant::now();
        let commands: Vec<Bytes> =
            keys.iter().map(|k| resp::encoded(&[Bytes::from_static(b"GET"), k.clone()])).collect();
        let mut values: Vec<Option<Arc<Value>>> = commands.iter().map(|c| cache.get(c, now)).collect();
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| values[i].is_none()).collect();
        let hits = keys.len() - missing.len();
        self.inner.metrics.hits.inc_by(hits as u64);
        if !missing.is_empty() {
            let ttl = self.ttl(ttl);
            let deadline = deadline_of(deadline);
            let miss_keys: Vec<Bytes> = missing.iter().map(|&i| keys[i].clone()).collect();
            let miss_commands: Vec<Bytes> = missing.iter().map(|&i| commands[i].clone()).collect();
            let mut mget = vec![Bytes::from_static(b"MGET")];
            mget.extend(miss_keys.iter().cloned());
            let flight = resp::encoded(&mget);
            let fetch = self.inner.flights.run(flight.clone(), || {
                self.fetch(cache, flight.clone(), miss_keys, Entries::PerKey(miss_commands), ttl)
            });
            let (fetched, role) =
                tokio::time::timeout_at(deadline, fetch).await.map_err(|_| Error::DeadlineExceeded)?;
            for _ in &missing {
                self.count_miss(role);
            }
            let fetched = match (*fetched?).clone() {
                Value::Array(fetched) => fetched,
                Value::Error(e) => return Err(Error::InvalidArgument(e)),
                other => return Err(Error::InvalidArgument(format!("MGET returned {other:?}, not an array"))),
            };
            for (&i, value) in missing.iter().zip(fetched) {
                values[i] = Some(Arc::new(value));
            }
        }
        let values = values.into_iter().map(|v| v.expect("every key has a value")).collect();
        Ok(CachedMany { values, hits })
    }

    /// Subscribes to channels and patterns; see [`Subscription`].
    pub async fn subscribe(
        &self,
        channels: Vec<String>,
        patterns: Vec<String>,
        deadline: Option<std::time::Instant>,
    ) -> Result<Subscription, Error> {
        if !self.inner.shared.is_up() {
            return Err(self.inner.shared.unavailable());
        }
        self.inner.hub.subscribe(channels, patterns, deadline_of(deadline)).await
    }

    /// The cache, if enabled and the server tracks our reads.
    fn tracked_cache(&self) -> Option<&Arc<ClientCache>> {
        self.inner.cache.as_ref().filter(|_| self.inner.shared.tracking())
    }

    fn ttl(&self, requested: Duration) -> Duration {
        let cache = &self.inner.config.cache;
        if requested.is_zero() { cache.default_ttl } else { requested.min(cache.max_ttl) }
    }

    fn count_miss(&self, role: Role) {
        self.inner.metrics.misses.inc();
        if role == Role::Follower {
            self.inner.metrics.shared.inc();
        }
    }

    fn update_gauges(&self, cache: &ClientCache) {
        let stats = cache.stats();
        self.inner.metrics.entries.set(stats.entries as i64);
        self.inner.metrics.bytes.set(stats.bytes as i64);
    }
}

impl attache_core::Module for Service {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn limits(&self) -> attache_core::Limits {
        self.inner.config.limits
    }

    fn register_metrics(&self, registry: &mut Registry) {
        let m = &self.inner.metrics;
        registry.register("cache_hits", "DoCached/MGetCached reads served from the cache", m.hits.clone());
        registry.register("cache_misses", "Cached reads fetched from redis", m.misses.clone());
        registry.register(
            "cache_shared_fetches",
            "Cache misses that joined an identical fetch in flight",
            m.shared.clone(),
        );
        registry.register("cache_entries", "Replies held in the client-side cache", m.entries.clone());
        registry.register("cache_bytes", "Bytes held by the client-side cache", m.bytes.clone());
    }

    /// Ends every subscription stream with UNAVAILABLE, so draining does
    /// not wait on streams that never end by themselves.
    fn begin_drain(&self) {
        self.inner.hub.end_all();
    }

    /// Ready once connected: while Redis is down, calls fail fast anyway.
    fn is_ready(&self) -> bool {
        self.inner.shared.is_up()
    }

    fn shutdown(&self) -> attache_core::Stopping {
        self.inner.hub.end_all();
        self.inner.dedicated.close();
        self.inner.stop.cancel();
        Box::pin(async {})
    }
}

fn deadline_of(deadline: Option<std::time::Instant>) -> Instant {
    deadline.map(Instant::from_std).unwrap_or_else(|| Instant::now() + NO_DEADLINE)
}

/// How long a value may be cached given the caller's TTL and the key's
/// PTTL reply; `None` if it must not be (it is about to expire).
fn local_ttl(ttl: Duration, pttl: &Value) -> Option<Duration> {
    match pttl.as_integer() {
        Some(ms) if ms > 0 => Some(ttl.min(Duration::from_millis(ms as u64))),
        Some(0) => None,
        // -1: no expiry, -2: no such key (tracked all the same).
        _ => Some(ttl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_ttl_is_the_shorter_of_both() {
        let hour = Duration::from_secs(3600);
        assert_eq!(local_ttl(hour, &Value::Integer(1500)), Some(Duration::from_millis(1500)));
        assert_eq!(local_ttl(Duration::from_secs(1), &Value::Integer(1500)), Some(Duration::from_secs(1)));
        assert_eq!(local_ttl(hour, &Value::Integer(-1)), Some(hour));
        assert_eq!(local_ttl(hour, &Value::Integer(-2)), Some(hour));
        assert_eq!(local_ttl(hour, &Value::Integer(0)), None);
    }
}
