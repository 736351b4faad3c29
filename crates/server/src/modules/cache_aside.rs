//! `PostgresService.GetOrLoad`: cache-aside in one call, composed here from
//! the Redis and Postgres modules, which know nothing of each other.
//!
//! Key decision: a result goes into Redis only if no write touched what
//! the query reads between the moment before it ran and the moment after
//! the key was set. Postgres watches the query's tables (the generations
//! its response cache keeps, see `attache_postgres::Service::watch`); if
//! one moved, the key just set is deleted again, so a load that raced a
//! write never leaves old rows in Redis. Every key set here is indexed by
//! the tables it read, and Postgres calls back with what each write
//! touched — a write through this attache before its reply, another
//! host's within the channel's delay, everything when the channel drops —
//! and those keys are deleted. A Redis hit comes through the Redis
//! module's client-side cache, so repeated hits never leave the host.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attache_core::Kind as ErrorKind;
use attache_postgres::{Param, QueryOptions, Table, Touched};
use attache_proto::attache::postgres::v1 as pb;
use attache_singleflight::{Group, Role};
use buffa::Message as _;
use bytes::Bytes;
use connectrpc::ConnectError;

use crate::status::{refuse, reject};

/// Keys indexed at once; beyond it, loads are returned but not stored
/// (an unindexed key could not be deleted by a write).
const MAX_KEYS: usize = 100_000;

pub(super) struct CacheAside {
    postgres: attache_postgres::Service,
    redis: attache_redis::Service,
    index: Arc<Mutex<Index>>,
    flights: Group<String, Result<(pb::GetOrLoadResponse, Option<String>), ConnectError>>,
}

/// Keys set here, by the tables their query read.
#[derive(Default)]
struct Index {
    by_table: HashMap<Table, HashSet<String>>,
    /// Each key's tables and when Redis drops it anyway.
    keys: HashMap<String, (Arc<[Table]>, Instant)>,
}

impl Index {
    fn add(&mut self, key: &str, tables: Arc<[Table]>, expires: Instant) -> bool {
        if self.keys.len() >= MAX_KEYS {
            let now = Instant::now();
            let expired: Vec<String> =
                self.keys.iter().filter(|(_, (_, e))| *e <= now).map(|(k, _)| k.clone()).collect();
            for key in expired {
                self.remove(&key);
            }
            if self.keys.len() >= MAX_KEYS {
                return false;
            }
        }
        self.remove(key);
        for t in tables.iter() {
            self.by_table.entry(*t).or_default().insert(key.to_owned());
        }
        self.keys.insert(key.to_owned(), (tables, expires));
        true
    }

    fn remove(&mut self, key: &str) {
        let Some((tables, _)) = self.keys.remove(key) else { return };
        for t in tables.iter() {
            if let Some(keys) = self.by_table.get_mut(t) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_table.remove(t);
                }
            }
        }
    }

    /// Takes the keys `touched` made stale out of the index.
    fn take(&mut self, touched: &Touched) -> Vec<String> {
        let keys: Vec<String> = match touched {
            Touched::Everything => self.keys.keys().cloned().collect(),
            Touched::Tables(tables) => tables.iter().filter_map(|t| self.by_table.get(t)).flatten().cloned().collect(),
        };
        for key in &keys {
            self.remove(key);
        }
        keys
    }
}

impl CacheAside {
    pub fn new(postgres: attache_postgres::Service, redis: attache_redis::Service) -> Arc<Self> {
        let index = Arc::new(Mutex::new(Index::default()));
        let hook_index = index.clone();
        let hook_redis = redis.clone();
        postgres.on_invalidate(Arc::new(move |touched| {
            let keys = hook_index.lock().expect("index lock").take(&touched);
            let redis = hook_redis.clone();
            Box::pin(async move { delete(&redis, keys).await })
        }));
        Arc::new(Self { postgres, redis, index, flights: Group::new() })
    }

    pub async fn get_or_load(
        &self,
        key: String,
        sql: String,
        params: Vec<Param>,
        ttl: Duration,
        deadline: Option<Instant>,
    ) -> Result<pb::GetOrLoadResponse, ConnectError> {
        if key.is_empty() || ttl.is_zero() {
            return Err(refuse(ErrorKind::InvalidArgument, "GetOrLoad needs a key and a ttl_ms above zero"));
        }
        let get = vec![Bytes::from_static(b"GET"), Bytes::from(key.clone())];
        let cached = self.redis.do_cached(get, Duration::ZERO, deadline).await.map_err(reject)?;
        if let attache_redis::Value::Bulk(bytes) = &*cached.value
            && let Ok(mut stored) = pb::GetOrLoadResponse::decode_from_slice(bytes)
        {
            stored.cache = status(pb::CacheStatus::CACHE_STATUS_HIT, String::new()).into();
            return Ok(stored);
        }
        // The shared load is bounded by postgres.statement_timeout, not by
        // the deadline of whichever caller leads: each caller waits within
        // its own, and one caller's short deadline fails that caller alone.
        let bound = Some(Instant::now() + self.postgres.config().statement_timeout);
        let load = self.flights.run(key.clone(), || self.load(key, sql, params, ttl, bound));
        let wait = deadline.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
        let Ok((loaded, role)) = tokio::time::timeout(wait, load).await else {
            return Err(refuse(ErrorKind::DeadlineExceeded, "the deadline passed while the result loaded"));
        };
        let (mut response, why_not) = loaded?;
        response.cache = match role {
            Role::Leader => status(pb::CacheStatus::CACHE_STATUS_MISS, why_not.unwrap_or_default()),
            Role::Follower => status(pb::CacheStatus::CACHE_STATUS_COALESCED, String::new()),
        }
        .into();
        Ok(response)
    }

    /// Runs the query and stores its result at `key` unless a write came
    /// between; says why it did not store.
    async fn load(
        &self,
        key: String,
        sql: String,
        params: Vec<Param>,
        ttl: Duration,
        deadline: Option<Instant>,
    ) -> Result<(pb::GetOrLoadResponse, Option<String>), ConnectError> {
        let watch = self.postgres.watch(&sql, params.len(), deadline).await.map_err(reject)?;
        let watch = watch.map_err(|why| {
            refuse(ErrorKind::FailedPrecondition, format!("GetOrLoad cannot keep this query's result correct: {why}"))
        })?;
        let queried =
            self.postgres.query(&sql, &params, QueryOptions::default(), None, "", deadline).await.map_err(reject)?;
        let reply = super::postgres::result(&queried.result);
        let response = pb::GetOrLoadResponse { columns: reply.columns, rows: reply.rows, ..Default::default() };
        if !self.postgres.unchanged(&watch) {
            return Ok((response, Some("a table it reads was written while it ran".into())));
        }
        let expires = Instant::now() + ttl;
        if !self.index.lock().expect("index lock").add(&key, watch.tables.clone(), expires) {
            return Ok((response, Some(format!("{MAX_KEYS} GetOrLoad keys are already tracked"))));
        }
        let set = vec![
            Bytes::from_static(b"SET"),
            Bytes::from(key.clone()),
            Bytes::from(response.encode_to_vec()),
            Bytes::from_static(b"PX"),
            Bytes::from(ttl.as_millis().max(1).to_string()),
        ];
        self.redis.r#do(set, deadline).await.map_err(reject)?;
        // A write that finished while the key was being set deleted
        // nothing (the key was not there yet): delete it now.
        if !self.postgres.unchanged(&watch) {
            self.index.lock().expect("index lock").remove(&key);
            delete(&self.redis, vec![key]).await;
            return Ok((response, Some("a table it reads was written while it was stored".into())));
        }
        Ok((response, None))
    }
}

fn status(status: pb::CacheStatus, reason: String) -> pb::CacheInfo {
    pb::CacheInfo { status: status.into(), reason, ..Default::default() }
}

/// Deletes `keys` from Redis; a failure is logged (the key's TTL bounds it).
async fn delete(redis: &attache_redis::Service, keys: Vec<String>) {
    for chunk in keys.chunks(512) {
        let mut del = vec![Bytes::from_static(b"DEL")];
        del.extend(chunk.iter().map(|k| Bytes::from(k.clone())));
        let deadline = Some(Instant::now() + Duration::from_secs(5));
        if let Err(e) = redis.r#do(del, deadline).await {
            tracing::warn!(error = %e, keys = chunk.len(), "could not delete GetOrLoad keys a write made stale");
        }
    }
}
