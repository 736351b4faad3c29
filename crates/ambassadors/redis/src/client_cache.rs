//! The client-side cache shared by every caller: replies of read-only
//! commands, keyed by the encoded command, bounded in bytes with LRU
//! eviction, and indexed by the Redis keys each reply depends on so an
//! invalidation push removes every reply that read the key.
//!
//! Key decision: entries remember the connection whose tracking protects
//! them. Redis forgets a connection's tracked keys when it closes, so when
//! one closes its entries go too, and from then on nothing read on it is
//! stored (a reply still being read off a killed connection would
//! otherwise be cached with nothing left to invalidate it). Nothing is
//! ever served that Redis would not have invalidated.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lru::LruCache;

use crate::Value;

struct Entry {
    value: Arc<Value>,
    keys: Vec<Bytes>,
    expires: Instant,
    connection: u64,
    weight: usize,
}

struct Inner {
    entries: LruCache<Bytes, Entry>,
    by_key: HashMap<Bytes, HashSet<Bytes>>,
    bytes: usize,
    /// Connections whose tracking is live: only their reads are stored.
    live: HashSet<u64>,
}

/// Counters for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub entries: usize,
    pub bytes: usize,
}

pub struct ClientCache {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

/// Bookkeeping per entry beyond its value: the key, the index and the map.
const OVERHEAD: usize = 96;

impl ClientCache {
    pub fn new(max_bytes: usize) -> Self {
        let inner = Inner { entries: LruCache::unbounded(), by_key: HashMap::new(), bytes: 0, live: HashSet::new() };
        Self { inner: Mutex::new(inner), max_bytes }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("client cache poisoned")
    }

    /// The cached reply for `command`, unless missing or expired.
    pub fn get(&self, command: &Bytes, now: Instant) -> Option<Arc<Value>> {
        let mut inner = self.lock();
        let entry = inner.entries.get(command)?;
        if entry.expires > now {
            return Some(entry.value.clone());
        }
        inner.remove(command);
        None
    }

    /// Lets replies read on `connection` (tracking on) be stored.
    pub fn open_connection(&self, connection: u64) {
        self.lock().live.insert(connection);
    }

    /// Stores a reply read on `connection` for at most `ttl`, unless that
    /// connection has closed.
    pub fn insert(&self, command: Bytes, keys: Vec<Bytes>, value: Arc<Value>, ttl: Duration, connection: u64) {
        let weight =
            OVERHEAD + command.len() + keys.iter().map(|k| k.len() + OVERHEAD / 2).sum::<usize>() + value.weight();
        if weight > self.max_bytes || ttl.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if !inner.live.contains(&connection) {
            return;
        }
        inner.remove(&command);
        for key in &keys {
            inner.by_key.entry(key.clone()).or_default().insert(command.clone());
        }
        inner.bytes += weight;
        let expires = Instant::now() + ttl;
        inner.entries.put(command, Entry { value, keys, expires, connection, weight });
        while inner.bytes > self.max_bytes {
            let Some((oldest, _)) = inner.entries.peek_lru() else { break };
            let oldest = oldest.clone();
            inner.remove(&oldest);
        }
    }

    /// Drops every reply that depends on `key`.
    pub fn invalidate(&self, key: &[u8]) {
        let mut inner = self.lock();
        if let Some(commands) = inner.by_key.remove(key) {
            for command in commands {
                inner.remove(&command);
            }
        }
    }

    /// Drops everything (FLUSHALL, FLUSHDB).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.by_key.clear();
        inner.bytes = 0;
    }

    /// Drops the replies whose tracking lived on `connection`, and refuses
    /// any read on it from now on.
    pub fn drop_connection(&self, connection: u64) {
        let mut inner = self.lock();
        inner.live.remove(&connection);
        let doomed: Vec<Bytes> =
            inner.entries.iter().filter(|(_, e)| e.connection == connection).map(|(k, _)| k.clone()).collect();
        for command in doomed {
            inner.remove(&command);
        }
    }

    pub fn stats(&self) -> Stats {
        let inner = self.lock();
        Stats { entries: inner.entries.len(), bytes: inner.bytes }
    }
}

impl Inner {
    fn remove(&mut self, command: &Bytes) {
        let Some(entry) = self.entries.pop(command) else { return };
        self.bytes -= entry.weight;
        for key in &entry.keys {
            if let Some(commands) = self.by_key.get_mut(key) {
                commands.remove(command);
                if commands.is_empty() {
                    self.by_key.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn v(s: &str) -> Arc<Value> {
        Arc::new(Value::Bulk(b(s)))
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn invalidation_removes_every_reply_of_the_key() {
        let cache = ClientCache::new(1 << 20);
        cache.open_connection(1);
        cache.open_connection(2);
        cache.insert(b("GET k"), vec![b("k")], v("1"), HOUR, 1);
        cache.insert(b("STRLEN k"), vec![b("k")], Arc::new(Value::Integer(1)), HOUR, 1);
        cache.insert(b("MGET j k"), vec![b("j"), b("k")], v("x"), HOUR, 1);
        cache.insert(b("GET j"), vec![b("j")], v("2"), HOUR, 1);
        cache.invalidate(b"k");
        let now = Instant::now();
        assert!(cache.get(&b("GET k"), now).is_none());
        assert!(cache.get(&b("STRLEN k"), now).is_none());
        assert!(cache.get(&b("MGET j k"), now).is_none());
        assert_eq!(cache.get(&b("GET j"), now), Some(v("2")));
        assert_eq!(cache.stats().entries, 1);
    }

    #[test]
    fn entries_expire() {
        let cache = ClientCache::new(1 << 20);
        cache.open_connection(1);
        cache.open_connection(2);
        cache.insert(b("GET k"), vec![b("k")], v("1"), Duration::from_millis(50), 1);
        assert!(cache.get(&b("GET k"), Instant::now()).is_some());
        assert!(cache.get(&b("GET k"), Instant::now() + Duration::from_millis(60)).is_none());
        assert_eq!(cache.stats(), Stats::default());
    }

    #[test]
    fn stays_within_its_byte_budget_evicting_least_recently_used() {
        let cache = ClientCache::new(10_000);
        cache.open_connection(1);
        for i in 0..100 {
            cache.insert(b(&format!("GET k{i}")), vec![b(&format!("k{i}"))], v(&"x".repeat(500)), HOUR, 1);
            if i > 0 {
                // Keep k0 hot.
                assert!(cache.get(&b("GET k0"), Instant::now()).is_some(), "k0 evicted at {i}");
            }
        }
        let stats = cache.stats();
        assert!(stats.bytes <= 10_000 && stats.entries < 20, "{stats:?}");
        assert!(cache.get(&b("GET k1"), Instant::now()).is_none());
        assert!(cache.get(&b("GET k99"), Instant::now()).is_some());
        // A value larger than the whole budget is not cached at all.
        cache.insert(b("GET big"), vec![b("big")], v(&"x".repeat(20_000)), HOUR, 1);
        assert!(cache.get(&b("GET big"), Instant::now()).is_none());
    }

    #[test]
    fn a_closed_connection_takes_its_entries_along() {
        let cache = ClientCache::new(1 << 20);
        cache.open_connection(1);
        cache.open_connection(2);
        cache.insert(b("GET a"), vec![b("a")], v("1"), HOUR, 1);
        cache.insert(b("GET b"), vec![b("b")], v("2"), HOUR, 2);
        cache.drop_connection(1);
        assert!(cache.get(&b("GET a"), Instant::now()).is_none());
        assert!(cache.get(&b("GET b"), Instant::now()).is_some());
        // A reply still read off the closed connection is not stored.
        cache.insert(b("GET a"), vec![b("a")], v("late"), HOUR, 1);
        assert!(cache.get(&b("GET a"), Instant::now()).is_none());
        // Nor one from a connection never opened.
        cache.insert(b("GET c"), vec![b("c")], v("3"), HOUR, 9);
        assert!(cache.get(&b("GET c"), Instant::now()).is_none());
        cache.clear();
        assert_eq!(cache.stats(), Stats::default());
    }
}
