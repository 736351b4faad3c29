//! `PostgresService.GetOrLoad`: cache-aside in one call, composed here from
//! the Redis and Postgres modules, which know nothing of each other.
//!
//! Key decision: what keeps a stored result correct lives in Redis, next
//! to the result, so it holds across hosts and restarts. Each table has a
//! generation counter in Redis (`attache:gen:<oid>`, and `attache:gen:all`
//! for writes attache could not analyse); a write through any attache
//! INCRs the counters of what it touched before its reply (the Postgres
//! module calls back with what each write touched, see
//! `attache_postgres::Service::on_invalidate`). A load reads the counters
//! *before* it runs the query and stores them with the result; a hit
//! reads them again and is a hit only if none moved. So a result read
//! before a write can never pass for one read after it: its counters were
//! read before the write's INCR. Both reads of a hit go through the Redis
//! module's client-side cache, which Redis keeps current, so repeated hits
//! never leave the host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attache_core::Kind as ErrorKind;
use attache_postgres::{Origin, Param, QueryOptions, Table, Touched};
use attache_proto::attache::postgres::v1 as pb;
use attache_singleflight::{Group, Role};
use buffa::Message as _;
use bytes::Bytes;
use connectrpc::ConnectError;

use crate::status::{refuse, reject};

/// Longest Redis key GetOrLoad takes.
const MAX_KEY_BYTES: usize = 1024;
/// The counter every write attache could not analyse moves.
const ALL: &str = "attache:gen:all";

fn counter(table: Table) -> Bytes {
    Bytes::from(format!("attache:gen:{table}"))
}

pub(super) struct CacheAside {
    postgres: attache_postgres::Service,
    redis: attache_redis::Service,
    flights: Group<String, Result<(pb::GetOrLoadResponse, Option<String>), ConnectError>>,
}

/// A stored result: the tables it read, the counters it was read at, and
/// the response.
struct Stored {
    tables: Vec<Table>,
    generations: Vec<i64>,
    response: pb::GetOrLoadResponse,
}

impl Stored {
    /// `[u32 tables][u32 oid]…[i64 generation]… (one per table, then all's)
    /// [GetOrLoadResponse]`, little-endian.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.tables.len() as u32).to_le_bytes());
        self.tables.iter().for_each(|t| out.extend_from_slice(&t.to_le_bytes()));
        self.generations.iter().for_each(|g| out.extend_from_slice(&g.to_le_bytes()));
        out.extend_from_slice(&self.response.encode_to_vec());
        out
    }

    /// `None` for anything else at the key (another writer's value).
    fn decode(bytes: &[u8]) -> Option<Self> {
        let n = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let tables_end = 4 + n.checked_mul(4)?;
        let generations_end = tables_end.checked_add((n + 1).checked_mul(8)?)?;
        let tables =
            bytes.get(4..tables_end)?.chunks(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let generations = bytes
            .get(tables_end..generations_end)?
            .chunks(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let response = pb::GetOrLoadResponse::decode_from_slice(bytes.get(generations_end..)?).ok()?;
        Some(Self { tables, generations, response })
    }
}

fn integer(value: &attache_redis::Value) -> i64 {
    match value {
        attache_redis::Value::Bulk(b) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
        attache_redis::Value::Integer(n) => *n,
        _ => 0,
    }
}

impl CacheAside {
    pub fn new(postgres: attache_postgres::Service, redis: attache_redis::Service) -> Arc<Self> {
        let hook_redis = redis.clone();
        // Only the attache that saw a write moves the counters: the writer,
        // or the replication stream's reader for writes made outside.
        postgres.on_invalidate(Arc::new(move |touched, origin| {
            let redis = hook_redis.clone();
            Box::pin(async move {
                if matches!(origin, Origin::Here | Origin::Stream) {
                    advance(&redis, &touched).await;
                }
            })
        }));
        Arc::new(Self { postgres, redis, flights: Group::new() })
    }

    pub async fn get_or_load(
        self: &Arc<Self>,
        key: String,
        sql: String,
        params: Vec<Param>,
        ttl: Duration,
        deadline: Option<Instant>,
    ) -> Result<pb::GetOrLoadResponse, ConnectError> {
        if key.is_empty() || ttl.is_zero() {
            return Err(refuse(ErrorKind::InvalidArgument, "GetOrLoad needs a key and a ttl_ms above zero"));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(refuse(ErrorKind::InvalidArgument, format!("the key is longer than {MAX_KEY_BYTES} bytes")));
        }
        // As for cached reads: how stale a write made outside attache may
        // leave it.
        let ttl = ttl.min(self.postgres.config().cache.max_ttl);
        if let Some(hit) = self.hit(&key, deadline).await? {
            return Ok(hit);
        }
        // The shared load runs on a task of its own, bounded by
        // postgres.statement_timeout rather than by the deadline of
        // whichever caller leads: each caller waits within its own, and
        // one caller leaving or timing out fails that caller alone.
        let bound = Some(Instant::now() + self.postgres.config().statement_timeout);
        let this = self.clone();
        let load = self.flights.run(key.clone(), || async move {
            let task = tokio::spawn(async move { this.load(key, sql, params, ttl, bound).await });
            task.await.unwrap_or_else(|e| Err(refuse(ErrorKind::Internal, format!("the load failed: {e}"))))
        });
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

    /// The stored result, if there is one and no write moved its counters.
    async fn hit(&self, key: &str, deadline: Option<Instant>) -> Result<Option<pb::GetOrLoadResponse>, ConnectError> {
        let get = vec![Bytes::from_static(b"GET"), Bytes::from(key.to_owned())];
        let cached = self.redis.do_cached(get, Duration::ZERO, deadline).await.map_err(reject)?;
        let attache_redis::Value::Bulk(bytes) = &*cached.value else { return Ok(None) };
        let Some(stored) = Stored::decode(bytes) else { return Ok(None) };
        if self.generations(&stored.tables, deadline).await? != stored.generations {
            return Ok(None);
        }
        let mut response = stored.response;
        response.cache = status(pb::CacheStatus::CACHE_STATUS_HIT, String::new()).into();
        Ok(Some(response))
    }

    /// The counters of `tables`, then the all-tables one.
    async fn generations(&self, tables: &[Table], deadline: Option<Instant>) -> Result<Vec<i64>, ConnectError> {
        let mut keys: Vec<Bytes> = tables.iter().map(|t| counter(*t)).collect();
        keys.push(Bytes::from_static(ALL.as_bytes()));
        let many = self.redis.mget_cached(keys, Duration::ZERO, deadline).await.map_err(reject)?;
        Ok(many.values.iter().map(|v| integer(v)).collect())
    }

    /// Reads the counters, runs the query, stores both; says why it did not
    /// store.
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
        // Before the query: a write that lands after this read moves them.
        let generations = self.generations(&watch.tables, deadline).await?;
        let queried =
            self.postgres.query(&sql, &params, QueryOptions::default(), None, "", deadline).await.map_err(reject)?;
        let reply = super::postgres::result(&queried.result);
        let response = pb::GetOrLoadResponse { columns: reply.columns, rows: reply.rows, ..Default::default() };
        let stored = Stored { tables: watch.tables.to_vec(), generations, response };
        let set = vec![
            Bytes::from_static(b"SET"),
            Bytes::from(key),
            Bytes::from(stored.encode()),
            Bytes::from_static(b"PX"),
            Bytes::from(ttl.as_millis().max(1).to_string()),
        ];
        self.redis.r#do(set, deadline).await.map_err(reject)?;
        Ok((stored.response, None))
    }
}

fn status(status: pb::CacheStatus, reason: String) -> pb::CacheInfo {
    pb::CacheInfo { status: status.into(), reason, ..Default::default() }
}

/// Moves the counters of what a write touched, so results read before it
/// stop being hits; a failure is logged (those results then live out their
/// TTL).
async fn advance(redis: &attache_redis::Service, touched: &Touched) {
    let commands: Vec<Vec<Bytes>> = match touched {
        Touched::Everything => vec![vec![Bytes::from_static(b"INCR"), Bytes::from_static(ALL.as_bytes())]],
        Touched::Tables(tables) => tables.iter().map(|t| vec![Bytes::from_static(b"INCR"), counter(*t)]).collect(),
    };
    if commands.is_empty() {
        return;
    }
    let deadline = Some(Instant::now() + Duration::from_secs(5));
    if let Err(e) = redis.do_multi(commands, deadline).await {
        tracing::warn!(error = %e, "could not advance the GetOrLoad generations a write moved; results stored before it stay until their TTL");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_results_round_trip_and_anything_else_is_not_one() {
        let stored = Stored {
            tables: vec![16384, 16390],
            generations: vec![3, 0, 7],
            response: pb::GetOrLoadResponse { rows: vec![pb::Row::default()], ..Default::default() },
        };
        let back = Stored::decode(&stored.encode()).unwrap();
        assert_eq!((back.tables, back.generations, back.response.rows.len()), (stored.tables, stored.generations, 1));
        assert!(Stored::decode(b"plain text someone else stored").is_none());
        assert!(Stored::decode(&[0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(Stored::decode(&[]).is_none());
    }
}
