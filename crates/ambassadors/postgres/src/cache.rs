//! The response cache: read results kept for the TTL their caller gave,
//! bounded in bytes (least recently used out), and dropped when a table
//! they depend on is written.
//!
//! Key decision: a result is stored only if nothing it depends on was
//! invalidated while it was being read. Each table has a generation,
//! bumped by every invalidation of it; a reader takes a [`Ticket`] (the
//! generations of its tables, and the cache's epoch) before it runs, and
//! [`Cache::store`] refuses the result if any of them moved. Without that,
//! a read that began before a write committed could store the old rows
//! just after the write's invalidation ran, and serve them until the TTL.
//! The epoch moves when the whole cache is flushed: a write attache could
//! not analyse, or the invalidation channel from other hosts dropping (an
//! entry may not outlive what keeps it correct).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::time::Instant;

use crate::service::QueryResult;
use crate::value::Value;

/// A table, by the OID of the root of its partition tree (a partition and
/// its parent are one table here).
pub type Table = u32;

/// What a write touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    Tables(Vec<Table>),
    /// Attache could not tell (DDL, a trigger, a user function): every
    /// cached result goes.
    Everything,
}

impl Touched {
    pub fn merge(&mut self, other: &Touched) {
        match (&mut *self, other) {
            (Touched::Everything, _) => {}
            (_, Touched::Everything) => *self = Touched::Everything,
            (Touched::Tables(mine), Touched::Tables(theirs)) => {
                for t in theirs {
                    if !mine.contains(t) {
                        mine.push(*t);
                    }
                }
            }
        }
    }
}

#[derive(Default, Clone)]
pub(crate) struct Metrics {
    pub hits: Counter,
    pub misses: Counter,
    pub invalidated: Counter,
    pub evicted: Counter,
    pub entries: Gauge,
    pub bytes: Gauge,
}

/// The generations a reader saw before it ran.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    epoch: u64,
    generations: Vec<u64>,
}

pub(crate) struct Hit {
    pub result: Arc<QueryResult>,
    pub age: Duration,
}

struct Entry {
    result: Arc<QueryResult>,
    tables: Arc<[Table]>,
    stored: Instant,
    expires: Instant,
    bytes: u64,
}

struct State<K> {
    entries: LruCache<Arc<K>, Entry>,
    by_table: HashMap<Table, HashSet<Arc<K>>>,
    generations: HashMap<Table, u64>,
    epoch: u64,
    bytes: u64,
}

pub(crate) struct Cache<K> {
    max_bytes: u64,
    state: Mutex<State<K>>,
    pub metrics: Metrics,
}

impl<K: Hash + Eq> Cache<K> {
    pub fn new(max_bytes: u64) -> Self {
        let state = State {
            entries: LruCache::unbounded(),
            by_table: HashMap::new(),
            generations: HashMap::new(),
            epoch: 0,
            bytes: 0,
        };
        Self { max_bytes, state: Mutex::new(state), metrics: Metrics::default() }
    }

    pub fn get(&self, key: &K) -> Option<Hit> {
        let mut state = self.state.lock().expect("cache lock");
        let now = Instant::now();
        let hit = match state.entries.get(key) {
            Some(entry) if entry.expires > now => {
                Some(Hit { result: entry.result.clone(), age: now.saturating_duration_since(entry.stored) })
            }
            Some(_) => {
                state.remove(key);
                None
            }
            None => None,
        };
        self.publish(&state);
        match &hit {
            Some(_) => self.metrics.hits.inc(),
            None => self.metrics.misses.inc(),
        };
        hit
    }

    pub fn ticket(&self, tables: &[Table]) -> Ticket {
        let state = self.state.lock().expect("cache lock");
        Ticket { epoch: state.epoch, generations: tables.iter().map(|t| state.generation(*t)).collect() }
    }

    /// Stores `result` unless one of `tables` (or the whole cache) was
    /// invalidated since `ticket` was taken, or it alone is over the byte
    /// budget. Whether it was stored.
    pub fn store(
        &self,
        key: K,
        key_bytes: u64,
        result: Arc<QueryResult>,
        tables: Arc<[Table]>,
        ticket: &Ticket,
        ttl: Duration,
    ) -> Result<(), &'static str> {
        // The entry, its key, and the nodes that index it (LRU, by table).
        let bytes = weigh(&result) + key_bytes + ENTRY_OVERHEAD + tables.len() as u64 * TABLE_INDEX_OVERHEAD;
        if bytes > self.max_bytes / 4 {
            return Err("the result is over a quarter of postgres.cache.max_bytes");
        }
        let mut state = self.state.lock().expect("cache lock");
        if !state.unchanged(&tables, ticket) {
            return Err("a table it reads was written while it ran");
        }
        let key = Arc::new(key);
        state.remove(&key);
        while state.bytes + bytes > self.max_bytes {
            let Some((old, _)) = state.entries.peek_lru() else { break };
            let old = old.clone();
            state.remove(&old);
            self.metrics.evicted.inc();
        }
        for t in tables.iter() {
            state.by_table.entry(*t).or_default().insert(key.clone());
        }
        let now = Instant::now();
        state.bytes += bytes;
        state.entries.put(key, Entry { result, tables, stored: now, expires: now + ttl, bytes });
        self.publish(&state);
        Ok(())
    }

    /// Whether nothing `tables` depend on was invalidated since `ticket`.
    pub fn unchanged(&self, tables: &[Table], ticket: &Ticket) -> bool {
        self.state.lock().expect("cache lock").unchanged(tables, ticket)
    }

    /// Drops every result that depends on what was touched, and makes
    /// reads already running on those tables unable to store theirs.
    pub fn invalidate(&self, touched: &Touched) {
        let mut state = self.state.lock().expect("cache lock");
        let before = state.entries.len();
        match touched {
            Touched::Everything => state.flush(),
            // Generations are kept per table ever invalidated; past this
            // many (tables churned, or messages naming made-up OIDs) they
            // start over, with a flush so no ticket outlives them.
            Touched::Tables(tables) if state.generations.len() + tables.len() > MAX_GENERATIONS => {
                state.flush();
                state.generations.clear();
            }
            Touched::Tables(tables) => {
                for t in tables {
                    *state.generations.entry(*t).or_insert(0) += 1;
                    for key in state.by_table.remove(t).unwrap_or_default() {
                        state.remove(&key);
                    }
                }
            }
        }
        self.metrics.invalidated.inc_by((before - state.entries.len()) as u64);
        self.publish(&state);
    }

    fn publish(&self, state: &State<K>) {
        self.metrics.entries.set(state.entries.len() as i64);
        self.metrics.bytes.set(state.bytes as i64);
    }
}

impl<K: Hash + Eq> State<K> {
    fn unchanged(&self, tables: &[Table], ticket: &Ticket) -> bool {
        self.epoch == ticket.epoch && tables.iter().zip(&ticket.generations).all(|(t, g)| self.generation(*t) == *g)
    }

    fn generation(&self, table: Table) -> u64 {
        self.generations.get(&table).copied().unwrap_or(0)
    }

    fn remove(&mut self, key: &K) {
        let Some(entry) = self.entries.pop(key) else { return };
        self.bytes -= entry.bytes;
        for t in entry.tables.iter() {
            if let Some(keys) = self.by_table.get_mut(t) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_table.remove(t);
                }
            }
        }
    }

    fn flush(&mut self) {
        self.entries.clear();
        self.by_table.clear();
        self.bytes = 0;
        self.epoch += 1;
    }
}

/// Tables whose generation is kept.
const MAX_GENERATIONS: usize = 100_000;

/// Memory an entry takes besides its result and key: its LRU node, the
/// entry itself and the Arc around the result.
const ENTRY_OVERHEAD: u64 = 160;
/// Memory a key's place in one table's index takes.
const TABLE_INDEX_OVERHEAD: u64 = 48;

/// The memory a result holds: its values (as `max_reply_bytes` counts
/// them), each row's vector and each column's description.
pub(crate) fn weigh(result: &QueryResult) -> u64 {
    fn value(v: &Value) -> u64 {
        std::mem::size_of::<Value>() as u64
            + match v {
                Value::Text(s) | Value::Numeric(s) | Value::Json(s) => s.len() as u64,
                Value::Bytes(b) => b.len() as u64,
                Value::Array(a) => a.elements.iter().map(value).sum(),
                Value::Record(fields) => fields.iter().map(|(name, v)| name.len() as u64 + value(v)).sum(),
                Value::Typed { type_name, text, raw, .. } => {
                    (type_name.len() + text.len() + raw.as_ref().map_or(0, Vec::len)) as u64
                }
                _ => 0,
            }
    }
    let columns: u64 = result
        .columns
        .iter()
        .map(|c| (std::mem::size_of::<crate::service::Column>() + c.name.len() + c.type_name.len()) as u64)
        .sum();
    let rows = result.rows.len() as u64 * std::mem::size_of::<Vec<Value>>() as u64;
    std::mem::size_of::<QueryResult>() as u64
        + columns
        + rows
        + result.rows.iter().flatten().map(value).sum::<u64>()
        + result.command_tag.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(text: &str) -> Arc<QueryResult> {
        Arc::new(QueryResult { rows: vec![vec![Value::Text(text.into())]], ..Default::default() })
    }

    const TTL: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_write_during_the_read_keeps_the_old_rows_out() {
        let cache = Cache::<&str>::new(1 << 20);
        let tables: Arc<[Table]> = Arc::from([7, 8]);
        let ticket = cache.ticket(&tables);
        cache.invalidate(&Touched::Tables(vec![8]));
        assert!(cache.store("q", 0, result("old"), tables.clone(), &ticket, TTL).is_err());
        assert!(cache.get(&"q").is_none());
        let ticket = cache.ticket(&tables);
        cache.store("q", 0, result("new"), tables, &ticket, TTL).unwrap();
        assert_eq!(cache.get(&"q").unwrap().result.rows[0][0], Value::Text("new".into()));
    }

    #[tokio::test]
    async fn invalidation_drops_only_dependent_results() {
        let cache = Cache::<&str>::new(1 << 20);
        for (key, table) in [("a", 1), ("b", 2)] {
            let tables: Arc<[Table]> = Arc::from([table]);
            let ticket = cache.ticket(&tables);
            cache.store(key, 0, result(key), tables, &ticket, TTL).unwrap();
        }
        cache.invalidate(&Touched::Tables(vec![1]));
        assert!(cache.get(&"a").is_none());
        assert!(cache.get(&"b").is_some());
        assert_eq!(cache.metrics.invalidated.get(), 1);
    }

    #[tokio::test]
    async fn a_flush_drops_everything_and_refuses_reads_that_began_before_it() {
        let cache = Cache::<&str>::new(1 << 20);
        let none: Arc<[Table]> = Arc::from([]);
        let ticket = cache.ticket(&none);
        cache.store("a", 0, result("a"), none.clone(), &ticket, TTL).unwrap();
        cache.invalidate(&Touched::Everything);
        assert!(cache.get(&"a").is_none());
        assert!(cache.store("b", 0, result("b"), none, &ticket, TTL).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_report_their_age() {
        let cache = Cache::<&str>::new(1 << 20);
        let none: Arc<[Table]> = Arc::from([]);
        let ticket = cache.ticket(&none);
        cache.store("a", 0, result("a"), none, &ticket, Duration::from_secs(2)).unwrap();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(cache.get(&"a").unwrap().age, Duration::from_millis(1500));
        tokio::time::advance(Duration::from_millis(600)).await;
        assert!(cache.get(&"a").is_none());
        assert_eq!(cache.metrics.entries.get(), 0);
    }

    #[tokio::test]
    async fn the_byte_budget_evicts_the_least_recently_used() {
        let one = weigh(&result(&"x".repeat(100))) + ENTRY_OVERHEAD;
        let cache = Cache::<&str>::new(one * 4);
        let none: Arc<[Table]> = Arc::from([]);
        for key in ["a", "b", "c", "d"] {
            let ticket = cache.ticket(&none);
            cache.store(key, 0, result(&"x".repeat(100)), none.clone(), &ticket, TTL).unwrap();
        }
        assert!(cache.get(&"a").is_some()); // b is now the least recently used
        let ticket = cache.ticket(&none);
        cache.store("e", 0, result(&"x".repeat(100)), none.clone(), &ticket, TTL).unwrap();
        assert!(cache.get(&"b").is_none());
        assert!(cache.get(&"a").is_some());
        assert_eq!(cache.metrics.bytes.get() as u64, one * 4);
        let ticket = cache.ticket(&none);
        assert!(cache.store("big", 0, result(&"x".repeat(one as usize * 2)), none, &ticket, TTL).is_err());
    }
}
