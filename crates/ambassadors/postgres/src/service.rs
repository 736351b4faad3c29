use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attache_singleflight::{Group, Role};
use futures::StreamExt;
use postgres_types::{FromSql, Kind, Type};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::bus::Bus;
use crate::cache::{Cache, Table, Ticket, Touched};
use crate::config::Invalidation;
use crate::deps::{Memo, Reads};
use crate::insert::{Inserted, Inserts, Shape};
use crate::pool::{Conn, Lease, Pool};
use crate::replication::Replication;
use crate::sql::{self, Effect};
use crate::transaction::{Isolation, Transactions, TxOptions};
use crate::value::{self, RawParam, TextParam, Value};
use crate::{Config, Error};

/// Used when a call carries no deadline (the server always sets one).
const NO_DEADLINE: Duration = Duration::from_secs(3600);

/// Statements that undo what a transaction may have left on its session
/// (SET, LISTEN, a session advisory lock, a WITH HOLD cursor, a temporary
/// table). Not DISCARD ALL: it would drop the prepared statements the
/// connection's cache holds.
pub(crate) const RESET_SESSION: &str =
    "RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); CLOSE ALL; DISCARD TEMP; DISCARD SEQUENCES";

/// One statement parameter: a value, and optionally the name of the type
/// it is meant as (otherwise the server infers it).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub value: Value,
    pub type_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
    pub type_name: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    pub rows_affected: u64,
    pub command_tag: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// 0: no row limit.
    pub max_rows: u64,
    /// Zero: do not cache the result.
    pub cache_ttl: Duration,
}

/// A Query's result and how it was obtained. The result is shared by the
/// callers whose identical reads ran as one.
#[derive(Debug, Clone)]
pub struct Queried {
    pub result: Arc<QueryResult>,
    pub sharing: Sharing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sharing {
    /// Not eligible for sharing, and why.
    Bypass(String),
    /// Ran on the database (possibly for others too); if a cache TTL was
    /// asked for and the result was not cached, why.
    Ran(Option<String>),
    /// Shared the result of an identical read already running.
    Coalesced,
    /// Answered from the cache; the result is this old.
    Hit(Duration),
}

impl Queried {
    fn bypass(result: QueryResult, why: impl Into<String>) -> Self {
        Self { result: Arc::new(result), sharing: Sharing::Bypass(why.into()) }
    }
}

/// What makes two reads identical: the statement, its parameters as sent,
/// and the row limit (one pool is one database and one role). A running
/// read is joined only by reads that saw the same writes finish here: one
/// that began after a write's reply must not share a result read before.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Flight {
    sql: String,
    params: Vec<(Option<String>, Option<String>)>,
    max_rows: u64,
    writes_seen: u64,
}

impl Flight {
    /// The key of its result in the cache, which writes invalidate by
    /// table rather than by count.
    fn cached(&self) -> Self {
        Self { writes_seen: 0, ..self.clone() }
    }

    /// The memory it takes as a cache key.
    fn weight(&self) -> u64 {
        let params: usize = self
            .params
            .iter()
            .map(|(v, t)| v.as_ref().map_or(0, String::len) + t.as_ref().map_or(0, String::len))
            .sum();
        (std::mem::size_of::<Self>()
            + self.sql.len()
            + params
            + self.params.len() * std::mem::size_of::<(Option<String>, Option<String>)>()) as u64
    }
}

/// A shared run's result, and why it was not cached (if caching was asked).
type Shared = Result<(Arc<QueryResult>, Option<String>), Error>;

/// What the catalog says of the functions a statement calls.
#[derive(Debug, Default)]
pub(crate) struct FunctionFacts {
    /// The first that is volatile.
    pub volatile: Option<String>,
    /// The first defined outside pg_catalog: its body may read or write
    /// tables no plan shows.
    pub user_defined: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Function {
    volatile: bool,
    user_defined: bool,
}

/// What a read depends on, watched from before it ran: see
/// [`Service::watch`].
#[derive(Debug, Clone)]
pub struct Watch {
    pub tables: Arc<[Table]>,
    ticket: Ticket,
}

/// Told what writes touched, here or on another host; see
/// [`Service::on_invalidate`].
pub type InvalidationHook = Arc<dyn Fn(Touched, Origin) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Where an invalidation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A write through this attache.
    Here,
    /// A write made outside attache, read from the replication stream by
    /// this attache (the database's consumer), or everything when a new
    /// stream begins.
    Stream,
    /// Another attache's message on the channel (it told its own hooks).
    Peer,
    /// This attache's channel or stream dropped or came back: what it
    /// cached may have missed a message.
    Flush,
}

/// What a write owes the cache: the statements that may have written, or
/// everything (too many to analyse).
pub(crate) enum Owing {
    Statements(Vec<(String, usize)>),
    Everything,
}

/// The invalidation owed for a write, paid by [`settle`](Self::settle) or,
/// if the caller's future is dropped first (its deadline, its client
/// gone), by a task spawned on drop: the write may have committed anyway.
pub(crate) struct Owed {
    inner: Arc<Inner>,
    owing: Option<Owing>,
}

impl Owed {
    pub fn new(inner: &Arc<Inner>, owing: Owing) -> Self {
        Self { inner: inner.clone(), owing: Some(owing) }
    }

    /// Pays on a task of its own and waits for it, so a caller leaving now
    /// does not stop it; `error` is how the write ended.
    pub async fn settle(mut self, error: Option<Error>) {
        if let Some(owing) = self.owing.take() {
            let _ = tokio::spawn(pay(self.inner.clone(), owing, error)).await;
        }
    }
}

impl Drop for Owed {
    fn drop(&mut self) {
        if let Some(owing) = self.owing.take() {
            tokio::spawn(pay(self.inner.clone(), owing, None));
        }
    }
}

async fn pay(inner: Arc<Inner>, owing: Owing, error: Option<Error>) {
    match owing {
        Owing::Statements(list) => {
            let statements: Vec<(&str, usize)> = list.iter().map(|(sql, n)| (sql.as_str(), *n)).collect();
            inner.after_writes(statements, error.as_ref()).await;
        }
        Owing::Everything => inner.after_unknown_writes(),
    }
}

/// A statement of an Execute call.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

#[derive(Default)]
pub(crate) struct Metrics {
    statements: Counter,
    pub(crate) inserted_rows: Counter,
    pub(crate) insert_batches: Counter,
    coalesced: Counter,
    pub(crate) cancelled: Counter,
    open_transactions: Gauge,
    rolled_back_by_timeout: Counter,
}

/// The Postgres ambassador. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Stops the outbox relay (which then lets its lock go).
    pub(crate) outbox_stop: tokio_util::sync::CancellationToken,
    pub config: Arc<Config>,
    pub pool: Arc<Pool>,
    /// Type names given as parameter hints, resolved once.
    types: Mutex<HashMap<String, Type>>,
    /// Function names seen in statements, and what the catalog says of them.
    functions: Mutex<HashMap<String, Function>>,
    flights: Group<Flight, Shared>,
    pub transactions: Transactions,
    pub(crate) metrics: Metrics,
    pub(crate) cache: Cache<Flight>,
    pub(crate) memo: Memo,
    pub(crate) bus: Bus,
    pub(crate) inserts: Inserts,
    /// With `cache.invalidation = "replication"`.
    pub(crate) replication: Option<Replication>,
    /// Statements that may have written, finished here: part of a flight's
    /// key.
    writes: AtomicU64,
    hooks: Mutex<Vec<InvalidationHook>>,
}

/// A raw column value: its bytes in the binary format, or NULL.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn deadline_of(deadline: Option<std::time::Instant>) -> Instant {
    deadline.map(Instant::from_std).unwrap_or_else(|| Instant::now() + NO_DEADLINE)
}

impl Service {
    /// Builds the pool; connections open on first use, so a database that
    /// is down at start-up makes calls fail with UNAVAILABLE until it is up.
    pub fn new(config: Config) -> Result<Self, String> {
        config.validate()?;
        let config = Arc::new(config);
        let pool = Arc::new(Pool::new(config.clone())?);
        let transactions = Transactions::new(config.clone());
        let inner = Inner {
            outbox_stop: tokio_util::sync::CancellationToken::new(),
            cache: Cache::new(config.cache.max_bytes.as_u64()),
            replication: (config.cache.invalidation == Invalidation::Replication)
                .then(|| Replication::new(config.cache.publication.clone())),
            bus: Bus::new(if config.cache.enabled() { config.cache.channel.clone() } else { String::new() }),
            config,
            pool,
            types: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            flights: Group::new(),
            transactions,
            metrics: Metrics::default(),
            memo: Memo::default(),
            inserts: Inserts::default(),
            writes: AtomicU64::new(0),
            hooks: Mutex::new(Vec::new()),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Runs one statement: on a pooled connection, or inside the open
    /// transaction `transaction` belonging to `owner`. Identical plain reads
    /// running at the same time outside a transaction run once; with a
    /// cache TTL, later ones are answered from the cache until a write
    /// touches what they read.
    pub async fn query(
        &self,
        sql: &str,
        params: &[Param],
        options: QueryOptions,
        transaction: Option<&str>,
        owner: &str,
        deadline: Option<std::time::Instant>,
    ) -> Result<Queried, Error> {
        let deadline = deadline_of(deadline);
        let inner = &self.inner;
        inner.metrics.statements.inc();
        if inner.config.cache.enabled() {
            inner.bus.start(inner);
        }
        if let Some(id) = transaction.filter(|id| !id.is_empty()) {
            let result = inner.transactions.run(inner, id, owner, sql, params, options, deadline).await?;
            return Ok(Queried::bypass(result, "inside a transaction"));
        }
        refuse_outside_transaction(sql)?;
        let read = match sql::shareable(sql) {
            Ok(functions) => {
                let facts = inner.function_facts(&functions, deadline).await?;
                match facts.volatile {
                    Some(f) => Err(format!("calls {f}, a volatile function: each caller must run it")),
                    None => Ok(facts.user_defined),
                }
            }
            Err(why) => Err(why.to_owned()),
        };
        let user_function = match read {
            Ok(user_function) => user_function,
            Err(why) => {
                // Not a plain read: it may write.
                let owed = Owed::new(inner, Owing::Statements(vec![(sql.to_owned(), params.len())]));
                let ran = inner.run_pooled(sql, params, options, deadline).await;
                owed.settle(ran.as_ref().err().cloned()).await;
                return Ok(Queried::bypass(ran?, why));
            }
        };
        let key = Flight {
            sql: sql.to_owned(),
            params: params
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let text = value::to_text(&p.value)
                        .map_err(|e| Error::InvalidArgument(format!("parameter ${}: {e}", i + 1)))?;
                    Ok((text, p.type_name.clone()))
                })
                .collect::<Result<_, Error>>()?,
            max_rows: options.max_rows,
            writes_seen: inner.writes.load(Ordering::Acquire),
        };
        let ttl = options.cache_ttl.min(inner.config.cache.max_ttl);
        let mut tables = None;
        let mut uncached = None;
        if !ttl.is_zero() {
            if inner.config.cache.enabled() {
                inner.bus.first_connection(deadline.min(Instant::now() + inner.config.connect_timeout)).await;
            }
            uncached = if !inner.config.cache.enabled() {
                Some("the cache is off (postgres.cache.max_bytes = 0)".to_owned())
            } else if let Some(f) = user_function {
                Some(format!("calls {f}, a user function whose reads attache cannot see"))
            } else if let Some(why) = inner.cache_unprotected() {
                Some(why.to_owned())
            } else {
                match inner.reads_of(sql, params.len(), deadline).await? {
                    Reads::Tables(t) => match inner.outside_publication(&t) {
                        Some(why) => Some(why),
                        None => {
                            tables = Some(t);
                            None
                        }
                    },
                    Reads::Opaque(why) => Some(why),
                }
            };
            if tables.is_some()
                && let Some(hit) = inner.cache.get(&key.cached())
            {
                return Ok(Queried { result: hit.result, sharing: Sharing::Hit(hit.age) });
            }
        }
        // The shared run is bounded by postgres.statement_timeout, not by
        // the deadline of whichever caller leads: each caller waits within
        // its own deadline, and if the leader leaves, a follower takes over.
        let stored_as = tables.as_ref().map(|_| key.cached());
        let shared = inner.flights.run(key, || async {
            let ticket = tables.as_ref().map(|t| inner.cache.ticket(t));
            let own = Instant::now() + inner.config.statement_timeout;
            let result = Arc::new(inner.run_pooled(sql, params, options, own).await?);
            let refused = match (ticket, tables.clone(), stored_as) {
                // A stream found late now flushes, which the ticket sees.
                (Some(ticket), Some(tables), Some(key)) => match inner.cache_unprotected() {
                    Some(why) => Some(why.to_owned()),
                    None => {
                        let key_bytes = key.weight();
                        inner.cache.store(key, key_bytes, result.clone(), tables, &ticket, ttl).err().map(str::to_owned)
                    }
                },
                _ => None,
            };
            Ok((result, refused))
        });
        let margin = deadline.saturating_duration_since(Instant::now()).div_f64(10.0).min(Duration::from_millis(50));
        let Ok((shared, role)) = tokio::time::timeout_at(deadline - margin, shared).await else {
            // Waiting on a full pool is the pool's doing, not the statement's.
            return Err(match inner.pool.is_full() {
                true => Error::PoolExhausted(inner.config.pool_size),
                false => Error::Deadline("while the statement ran"),
            });
        };
        let (result, refused) = shared?;
        let sharing = match role {
            Role::Leader => Sharing::Ran(uncached.or(refused)),
            Role::Follower => {
                inner.metrics.coalesced.inc();
                Sharing::Coalesced
            }
        };
        Ok(Queried { result, sharing })
    }

    /// Runs `statements` on one connection, in one transaction when
    /// `transactional` (all of them or none).
    pub async fn execute(
        &self,
        statements: &[Statement],
        transactional: bool,
        options: TxOptions,
        deadline: Option<std::time::Instant>,
    ) -> Result<Vec<QueryResult>, Error> {
        let deadline = deadline_of(deadline);
        if statements.is_empty() {
            return Err(Error::InvalidArgument("Execute needs at least one statement".into()));
        }
        let mut dirty = false;
        for (i, statement) in statements.iter().enumerate() {
            match sql::effect(&statement.sql) {
                Effect::Clean => {}
                Effect::Session(_) if transactional => dirty = true,
                Effect::Session(why) | Effect::Refused(why) => {
                    return Err(Error::Refused(format!("statement {}: {why}", i + 1)));
                }
            }
        }
        self.inner.metrics.statements.inc_by(statements.len() as u64);
        if self.inner.config.cache.enabled() {
            self.inner.bus.start(&self.inner);
        }
        let owed = Owed::new(
            &self.inner,
            Owing::Statements(statements.iter().map(|s| (s.sql.clone(), s.params.len())).collect()),
        );
        let mut lease = self.inner.pool.lease(deadline).await?;
        let inner = &self.inner;
        let work = async {
            let conn = lease.conn();
            if transactional {
                conn.client.batch_execute(&options.begin_sql()).await.map_err(|e| conn.error(e))?;
            }
            let mut results = Vec::with_capacity(statements.len());
            for (i, statement) in statements.iter().enumerate() {
                let run = if transactional {
                    inner.run(conn, &statement.sql, &statement.params, QueryOptions::default()).await
                } else {
                    inner.run_retrying(conn, &statement.sql, &statement.params, QueryOptions::default()).await
                };
                match run {
                    Ok(result) => results.push(result),
                    Err(e) => {
                        if transactional {
                            let _ = conn.client.batch_execute("ROLLBACK").await;
                        }
                        return Err(e.in_statement(i + 1, statements.len(), transactional));
                    }
                }
            }
            if transactional {
                conn.client.batch_execute("COMMIT").await.map_err(|e| conn.error(e))?;
                if dirty {
                    conn.client.batch_execute(RESET_SESSION).await.map_err(|e| conn.error(e))?;
                }
            }
            Ok(results)
        };
        let ran = tokio::time::timeout_at(deadline, work).await;
        let ran = finish(lease, ran, &self.inner.metrics.cancelled);
        // A transaction that failed with the database's error was rolled
        // back; without one, the statements before the failed one were
        // committed, so their writes count whatever the error.
        owed.settle(ran.as_ref().err().filter(|_| transactional).cloned()).await;
        ran
    }

    /// Inserts one row; concurrent inserts of the same shape share one
    /// statement (see the `insert` module).
    pub async fn insert(
        &self,
        shape: Shape,
        values: Vec<Param>,
        deadline: Option<std::time::Instant>,
    ) -> Result<Inserted, Error> {
        if self.inner.config.cache.enabled() {
            self.inner.bus.start(&self.inner);
        }
        self.inner.insert(shape, values, deadline_of(deadline)).await
    }

    /// Starts watching what read `sql` depends on, before running it:
    /// [`unchanged`](Self::unchanged) then says whether a write touched it
    /// meanwhile. `Ok(Err(why))` when it cannot be watched (the database
    /// cannot say what it reads, it is not a plain read, the cache or its
    /// channel is off).
    pub async fn watch(
        &self,
        sql: &str,
        params: usize,
        deadline: Option<std::time::Instant>,
    ) -> Result<Result<Watch, String>, Error> {
        let inner = &self.inner;
        if !inner.config.cache.enabled() {
            return Ok(Err("the cache is off (postgres.cache.max_bytes = 0)".into()));
        }
        inner.bus.start(inner);
        let deadline = deadline_of(deadline);
        let functions = match sql::shareable(sql) {
            Ok(functions) => functions,
            Err(why) => return Ok(Err(format!("not a plain read: {why}"))),
        };
        let facts = inner.function_facts(&functions, deadline).await?;
        if let Some(f) = facts.volatile.or(facts.user_defined) {
            return Ok(Err(format!("calls {f}, whose result or reads attache cannot vouch for")));
        }
        inner.bus.first_connection(deadline.min(Instant::now() + inner.config.connect_timeout)).await;
        if let Some(why) = inner.cache_unprotected() {
            return Ok(Err(why.into()));
        }
        Ok(match inner.reads_of(sql, params, deadline).await? {
            Reads::Tables(tables) => match inner.outside_publication(&tables) {
                Some(why) => Err(why),
                None => {
                    let ticket = inner.cache.ticket(&tables);
                    Ok(Watch { tables, ticket })
                }
            },
            Reads::Opaque(why) => Err(why),
        })
    }

    /// Whether no write touched what `watch` covers since it began (and
    /// what protects it still holds).
    pub fn unchanged(&self, watch: &Watch) -> bool {
        self.inner.cache_unprotected().is_none() && self.inner.cache.unchanged(&watch.tables, &watch.ticket)
    }

    /// Calls `hook` with what every write touches: a write here (awaited
    /// before the write's reply), another host's (within the channel's
    /// delay), and `Everything` when the channel drops or comes back.
    pub fn on_invalidate(&self, hook: InvalidationHook) {
        self.inner.hooks.lock().expect("hooks lock").push(hook);
    }

    /// Opens an interactive transaction for `owner` and returns its id.
    pub async fn begin(
        &self,
        options: TxOptions,
        owner: &str,
        deadline: Option<std::time::Instant>,
    ) -> Result<String, Error> {
        if self.inner.config.cache.enabled() {
            self.inner.bus.start(&self.inner);
        }
        let id = self.inner.transactions.begin(&self.inner, options, owner, deadline_of(deadline)).await?;
        self.inner.metrics.open_transactions.set(self.inner.transactions.open() as i64);
        Ok(id)
    }

    pub async fn commit(&self, id: &str, owner: &str, deadline: Option<std::time::Instant>) -> Result<(), Error> {
        let result = self.inner.transactions.end(&self.inner, id, owner, true, deadline_of(deadline)).await;
        self.inner.metrics.open_transactions.set(self.inner.transactions.open() as i64);
        result
    }

    pub async fn rollback(&self, id: &str, owner: &str, deadline: Option<std::time::Instant>) -> Result<(), Error> {
        let result = self.inner.transactions.end(&self.inner, id, owner, false, deadline_of(deadline)).await;
        self.inner.metrics.open_transactions.set(self.inner.transactions.open() as i64);
        result
    }

    /// Transactions open now.
    pub fn open_transactions(&self) -> usize {
        self.inner.transactions.open()
    }
}

/// The end of a call on a pooled connection: a clean finish returns it to
/// the pool; a deadline, or an error that leaves it in an unknown state,
/// cancels what runs on it and closes it.
pub(crate) fn finish<T>(
    lease: Lease,
    ran: Result<Result<T, Error>, tokio::time::error::Elapsed>,
    cancelled: &Counter,
) -> Result<T, Error> {
    match ran {
        Ok(Ok(result)) => {
            lease.release();
            Ok(result)
        }
        Ok(Err(e)) => {
            if matches!(e, Error::TooLarge(_) | Error::Unavailable { .. } | Error::Internal(_)) {
                lease.discard();
            } else {
                lease.release();
            }
            Err(e)
        }
        Err(_) => {
            cancelled.inc();
            lease.discard();
            Err(Error::Deadline("while the statement ran"))
        }
    }
}

pub(crate) fn refuse_outside_transaction(sql: &str) -> Result<(), Error> {
    match sql::effect(sql) {
        Effect::Clean => Ok(()),
        Effect::Session(why) | Effect::Refused(why) => Err(Error::Refused(why.to_owned())),
    }
}

impl Error {
    /// Names the statement of an Execute that failed.
    fn in_statement(self, index: usize, of: usize, transactional: bool) -> Self {
        let outcome = match (transactional, index) {
            (true, _) => "the transaction was rolled back".to_owned(),
            (false, 1) => "nothing before it ran".to_owned(),
            (false, _) => format!("statements 1 to {} were committed", index - 1),
        };
        match self {
            Error::Database(mut db) => {
                db.statement = Some(index);
                db.message = format!("statement {index} of {of} failed ({outcome}): {}", db.message);
                Error::Database(db)
            }
            other => other,
        }
    }
}

/// Entries kept in the function-volatility map.
const MAX_KNOWN_FUNCTIONS: usize = 4096;

impl Inner {
    /// One statement on a pooled connection, until `deadline`.
    pub(crate) async fn run_pooled(
        &self,
        sql: &str,
        params: &[Param],
        options: QueryOptions,
        deadline: Instant,
    ) -> Result<QueryResult, Error> {
        let mut lease = self.pool.lease(deadline).await?;
        let ran = tokio::time::timeout_at(deadline, self.run_retrying(lease.conn(), sql, params, options)).await;
        finish(lease, ran, &self.metrics.cancelled)
    }

    /// What the catalog says of `functions`, asking the database (once per
    /// name) about names not seen before. Names it does not know (keywords
    /// used like functions: coalesce, greatest) are neither.
    pub(crate) async fn function_facts(&self, functions: &[String], deadline: Instant) -> Result<FunctionFacts, Error> {
        let unknown: Vec<String> = {
            let known = self.functions.lock().expect("functions lock");
            functions.iter().filter(|f| !known.contains_key(*f)).cloned().collect()
        };
        if !unknown.is_empty() {
            let names = Value::Array(value::Array {
                dimensions: vec![(unknown.len() as i32, 1)],
                elements: unknown.iter().map(|f| Value::Text(f.clone())).collect(),
                element_oid: 0,
            });
            // User-defined: outside the system schemas, except the C
            // functions an extension brings (PostGIS, uuid-ossp), which do
            // not touch the app's tables.
            let sql = "SELECT p.proname::text, bool_or(p.provolatile = 'v'), \
                       bool_or(n.nspname NOT IN ('pg_catalog', 'information_schema') \
                               AND NOT (l.lanname IN ('c', 'internal') AND EXISTS (SELECT 1 FROM pg_depend d \
                                 WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'))) \
                       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                       JOIN pg_language l ON l.oid = p.prolang \
                       WHERE p.proname = ANY($1::name[]) GROUP BY 1";
            let params = [Param { value: names, type_name: None }];
            let rows = self.run_pooled(sql, &params, QueryOptions::default(), deadline).await?.rows;
            let mut known = self.functions.lock().expect("functions lock");
            if known.len() + unknown.len() > MAX_KNOWN_FUNCTIONS {
                known.clear();
            }
            for f in unknown {
                known.insert(f, Function::default());
            }
            for row in rows {
                if let [Value::Text(name), Value::Bool(volatile), Value::Bool(user_defined)] = row.as_slice() {
                    known.insert(name.clone(), Function { volatile: *volatile, user_defined: *user_defined });
                }
            }
        }
        let known = self.functions.lock().expect("functions lock");
        let fact = |f: &&String, pick: fn(&Function) -> bool| known.get(*f).is_some_and(pick);
        Ok(FunctionFacts {
            volatile: functions.iter().find(|f| fact(f, |x| x.volatile)).cloned(),
            user_defined: functions.iter().find(|f| fact(f, |x| x.user_defined)).cloned(),
        })
    }

    /// After statements (with their parameter counts) finished, with
    /// `error` if they failed: drops the cached results those that may
    /// have written made stale, here at once and on other hosts through
    /// the bus, and moves reads that start from now on to new flights. A
    /// statement the database refused changed nothing; any other outcome (a
    /// deadline, a lost connection) may have committed.
    pub(crate) async fn after_writes<'a>(
        &self,
        statements: impl IntoIterator<Item = (&'a str, usize)>,
        error: Option<&Error>,
    ) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        // Refused by the database, refused before it, or never sent: nothing
        // was written.
        let unsent = matches!(
            error,
            Some(Error::Database(_) | Error::InvalidArgument(_) | Error::Refused(_) | Error::PoolExhausted(_))
        );
        if !self.config.cache.enabled() || unsent {
            return;
        }
        // Bounded by its own time: the caller's deadline may have passed.
        let deadline = Instant::now() + self.config.connect_timeout;
        let mut touched = Touched::Tables(Vec::new());
        for (sql, params) in statements {
            // A plain read that calls no user function writes nothing.
            if let Ok(functions) = sql::shareable(sql)
                && matches!(self.function_facts(&functions, deadline).await, Ok(f) if f.user_defined.is_none())
            {
                continue;
            }
            match self.writes_of(sql, params, deadline).await {
                Ok(t) => touched.merge(&t),
                Err(_) => touched = Touched::Everything,
            }
            if touched == Touched::Everything {
                break;
            }
        }
        if touched != Touched::Tables(Vec::new()) {
            self.cache.invalidate(&touched);
            self.bus.publish(&touched);
            for hook in self.hooks() {
                hook(touched.clone(), Origin::Here).await;
            }
        }
    }

    fn hooks(&self) -> Vec<InvalidationHook> {
        self.hooks.lock().expect("hooks lock").clone()
    }

    /// After writes too many to analyse: everything goes.
    pub(crate) fn after_unknown_writes(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        if self.config.cache.enabled() {
            self.bus.publish(&Touched::Everything);
            self.invalidate_here(Touched::Everything, Origin::Here);
        }
    }

    /// Why results cannot be cached now: the channel to other hosts is
    /// down, or (replication mode) the stream is late.
    pub(crate) fn cache_unprotected(&self) -> Option<&'static str> {
        if !self.bus.is_healthy() {
            return Some("the invalidation channel to other attache processes is down");
        }
        match &self.replication {
            Some(replication) if !replication.fresh(self) => {
                Some("the replication stream that reports writes made outside attache is down or late")
            }
            _ => None,
        }
    }

    /// In replication mode, why a read of `tables` cannot be cached: one is
    /// not in the publication, so writes to it outside attache are unseen.
    pub(crate) fn outside_publication(&self, tables: &[Table]) -> Option<String> {
        let table = self.replication.as_ref()?.unpublished(tables)?;
        Some(format!(
            "it reads table {table} (OID), which is not in the publication {} (no primary key or replica \
             identity, or not owned by attache's role), so writes made to it outside attache would go unseen",
            self.config.cache.publication
        ))
    }

    /// Drops what `touched` made stale on this host, without telling the
    /// others (another host's write, or the channel dropping); hooks run
    /// on their own task.
    pub(crate) fn invalidate_here(&self, touched: Touched, origin: Origin) {
        // Reads from now on start new flights (see `Flight`).
        self.writes.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate(&touched);
        for hook in self.hooks() {
            tokio::spawn(hook(touched.clone(), origin));
        }
    }

    /// [`run`](Self::run), once more if the server says a cached statement
    /// went stale (a table it reads was altered): outside a transaction
    /// only, where the failed attempt changed nothing.
    async fn run_retrying(
        &self,
        conn: &mut Conn,
        sql: &str,
        params: &[Param],
        options: QueryOptions,
    ) -> Result<QueryResult, Error> {
        match self.run(conn, sql, params, options).await {
            Err(e) if matches!(e.sqlstate(), Some("0A000" | "26000")) => {
                conn.forget_statements();
                self.run(conn, sql, params, options).await
            }
            other => other,
        }
    }

    /// Prepares (or reuses) `sql`, binds `params` as text, and reads the
    /// rows, bounded by `max_reply_bytes` as they arrive.
    pub(crate) async fn run(
        &self,
        conn: &mut Conn,
        sql: &str,
        params: &[Param],
        options: QueryOptions,
    ) -> Result<QueryResult, Error> {
        let statement = self.prepare(conn, sql, params).await?;
        let mut result = self.read(conn, &statement, sql, params, options).await?;
        self.fill_typed_texts(conn, &mut result.rows).await?;
        Ok(result)
    }

    /// The prepared statement for `sql` with the type hints `params` give.
    pub(crate) async fn prepare(
        &self,
        conn: &mut Conn,
        sql: &str,
        params: &[Param],
    ) -> Result<tokio_postgres::Statement, Error> {
        let mut hints = Vec::new();
        if params.iter().any(|p| p.type_name.is_some()) {
            for p in params {
                hints.push(match &p.type_name {
                    Some(name) => self.resolve_type(conn, name).await?,
                    None => Type::UNKNOWN,
                });
            }
        }
        let statement = conn.prepare(sql, &hints).await.map_err(|e| conn.error(e))?;
        if statement.params().len() != params.len() {
            return Err(Error::InvalidArgument(format!(
                "the statement has {} parameter(s) but {} were given",
                statement.params().len(),
                params.len()
            )));
        }
        Ok(statement)
    }

    /// Runs a prepared statement; needs the connection only shared, so
    /// several can be pipelined on it. Values of types attache does not
    /// decode itself carry no text yet (see `fill_typed_texts`).
    pub(crate) async fn read(
        &self,
        conn: &Conn,
        statement: &tokio_postgres::Statement,
        sql: &str,
        params: &[Param],
        options: QueryOptions,
    ) -> Result<QueryResult, Error> {
        let texts = params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                value::to_text(&p.value)
                    .map(TextParam)
                    .map_err(|e| Error::InvalidArgument(format!("parameter ${}: {e}", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let columns: Vec<Column> = statement
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                type_oid: c.type_().oid(),
                type_name: c.type_().name().to_owned(),
            })
            .collect();
        let types: Vec<Type> = statement.columns().iter().map(|c| c.type_().clone()).collect();
        let stream = conn.client.query_raw(statement, texts.iter()).await.map_err(|e| conn.error(e))?;
        let mut stream = std::pin::pin!(stream);
        let max_bytes = self.config.max_reply_bytes.as_u64();
        let mut bytes: u64 = 0;
        let mut rows = Vec::new();
        while let Some(row) = stream.next().await {
            let row = row.map_err(|e| conn.error(e))?;
            if options.max_rows > 0 && rows.len() as u64 >= options.max_rows {
                return Err(Error::TooLarge(format!(
                    "the result has more than the {} rows max_rows allows",
                    options.max_rows
                )));
            }
            let mut values = Vec::with_capacity(types.len());
            for (i, ty) in types.iter().enumerate() {
                let Raw(raw) = row.try_get::<_, Raw<'_>>(i).map_err(|e| conn.error(e))?;
                // What the decoded value holds: its bytes plus the value itself.
                bytes += raw.map_or(0, |r| r.len() as u64) + std::mem::size_of::<Value>() as u64;
                if bytes > max_bytes {
                    return Err(Error::TooLarge(format!(
                        "the result is larger than postgres.max_reply_bytes ({}); select fewer rows or columns",
                        self.config.max_reply_bytes
                    )));
                }
                values.push(value::decode(ty, raw).map_err(|e| Error::Internal(e.to_string()))?);
            }
            rows.push(values);
        }
        let rows_affected = stream.rows_affected().unwrap_or(rows.len() as u64);
        Ok(QueryResult { columns, rows, rows_affected, command_tag: sql::command_tag(sql, rows_affected) })
    }

    /// Asks the server for the text of values of types attache does not
    /// decode itself (one round trip per value, only for such types).
    pub(crate) async fn fill_typed_texts(&self, conn: &mut Conn, rows: &mut [Vec<Value>]) -> Result<(), Error> {
        for value in rows.iter_mut().flatten() {
            let mut pending = Vec::new();
            value::untyped_texts(value, &mut pending);
            if pending.is_empty() {
                continue;
            }
            let mut texts = Vec::with_capacity(pending.len());
            for (oid, raw) in &pending {
                let ty =
                    Type::from_oid(*oid).unwrap_or_else(|| Type::new(String::new(), *oid, Kind::Simple, String::new()));
                let statement = conn.prepare("SELECT $1::text", &[ty]).await.map_err(|e| conn.error(e))?;
                let row = conn.client.query_one(&statement, &[&RawParam(raw)]).await.map_err(|e| conn.error(e))?;
                texts.push(
                    row.try_get::<_, Option<String>>(0)
                        .map_err(|e| Error::Internal(e.to_string()))?
                        .unwrap_or_default(),
                );
            }
            value::fill_texts(value, &mut texts.into_iter());
        }
        Ok(())
    }

    /// The type a hint names (`int8`, `jsonb`, `uuid[]`, a user type).
    async fn resolve_type(&self, conn: &mut Conn, name: &str) -> Result<Type, Error> {
        if let Some(ty) = self.types.lock().expect("types lock").get(name) {
            return Ok(ty.clone());
        }
        let statement = conn.prepare("SELECT $1::regtype::oid", &[]).await.map_err(|e| conn.error(e))?;
        let row =
            conn.client.query_one(&statement, &[&TextParam(Some(name.to_owned()))]).await.map_err(|e| conn.error(e))?;
        let oid: u32 = row.try_get(0).map_err(|e| Error::Internal(e.to_string()))?;
        let ty = Type::from_oid(oid).unwrap_or_else(|| Type::new(name.to_owned(), oid, Kind::Simple, String::new()));
        let mut types = self.types.lock().expect("types lock");
        if types.len() < 1024 {
            types.insert(name.to_owned(), ty.clone());
        }
        Ok(ty)
    }

    pub(crate) fn note_timeout_rollback(&self) {
        self.metrics.rolled_back_by_timeout.inc();
    }
}

impl TxOptions {
    pub(crate) fn begin_sql(&self) -> String {
        let mut sql = String::from("BEGIN");
        match self.isolation {
            Isolation::Default => {}
            Isolation::ReadCommitted => sql.push_str(" ISOLATION LEVEL READ COMMITTED"),
            Isolation::RepeatableRead => sql.push_str(" ISOLATION LEVEL REPEATABLE READ"),
            Isolation::Serializable => sql.push_str(" ISOLATION LEVEL SERIALIZABLE"),
        }
        if self.read_only {
            sql.push_str(" READ ONLY");
        }
        if self.deferrable {
            sql.push_str(" DEFERRABLE");
        }
        sql
    }
}

impl attache_core::Module for Service {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn limits(&self) -> attache_core::Limits {
        self.inner.config.limits
    }

    fn register_metrics(&self, registry: &mut Registry) {
        let m = &self.inner.metrics;
        registry.register("statements", "Statements run", m.statements.clone());
        registry.register(
            "statements_cancelled",
            "Statements cancelled on the server because their deadline passed",
            m.cancelled.clone(),
        );
        registry.register("inserted_rows", "Rows given to Insert", m.inserted_rows.clone());
        registry.register(
            "insert_batches",
            "Statements that carried Insert rows (rows per batch = inserted_rows / insert_batches)",
            m.insert_batches.clone(),
        );
        registry.register(
            "coalesced_reads",
            "Reads that shared the result of an identical read already running",
            m.coalesced.clone(),
        );
        let c = &self.inner.cache.metrics;
        registry.register("cache_hits", "Reads answered from the response cache", c.hits.clone());
        registry.register(
            "cache_misses",
            "Reads that asked for the cache and found nothing there (they ran, or joined one that ran)",
            c.misses.clone(),
        );
        registry.register(
            "cache_invalidated",
            "Cached results dropped because a write touched a table they read (here or on another host)",
            c.invalidated.clone(),
        );
        registry.register("cache_evicted", "Cached results dropped to stay within cache.max_bytes", c.evicted.clone());
        registry.register("cache_entries", "Results in the response cache", c.entries.clone());
        registry.register("cache_bytes", "Memory held by cached results", c.bytes.clone());
        registry.register("open_transactions", "Interactive transactions open", m.open_transactions.clone());
        registry.register(
            "transactions_timed_out",
            "Interactive transactions rolled back by their idle or total timeout",
            m.rolled_back_by_timeout.clone(),
        );
    }

    /// Ready unless the last connection attempt failed.
    fn is_ready(&self) -> bool {
        !self.inner.pool.is_down()
    }

    /// Rolls back every open transaction, then closes the pool.
    fn shutdown(&self) -> attache_core::Stopping {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner.outbox_stop.cancel();
            inner.transactions.roll_back_all().await;
            inner.bus.stop().await;
            inner.pool.close();
        })
    }
}
