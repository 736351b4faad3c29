//! Opt-in invalidation for writes made outside attache
//! (`postgres.cache.invalidation = "replication"`): logical decoding of the
//! database's WAL, read by one attache per database and fanned out to the
//! others on the cache channel.
//!
//! Key decisions:
//! - One consumer per database: the attache that holds a session advisory
//!   lock on its channel connection. When it dies its lock goes with its
//!   session and another takes over at its next try (every second).
//! - A **temporary** slot (`pg_create_logical_replication_slot(…, true)`),
//!   read with `pg_logical_slot_get_binary_changes` every 100 ms on the
//!   channel connection: it is dropped when that session ends, so a dead
//!   sidecar can never hold WAL back. Changes made while no slot existed are
//!   unknown, so a new consumer's first message flushes every cache.
//! - pgoutput, through a publication holding only tables with a primary key
//!   or a replica identity (adding any other table would make its UPDATEs
//!   and DELETEs fail), partitions published as their root. The consumer
//!   adds qualifying tables every 10 s (those it may: it must own them) and
//!   removes tables that stopped qualifying. A read of a table outside the
//!   publication is not cached.
//! - Freshness is a heartbeat: the consumer sends one on the channel every
//!   250 ms; a host that heard none for a second stops caching and flushes,
//!   and caches again once heartbeats resume.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::Client;

use crate::cache::{Table, Touched};
use crate::service::{Inner, Origin};

/// How stale the stream may be before cached reads go to the database.
pub(crate) const MAX_LAG: Duration = Duration::from_secs(1);
/// How often the consumer reads the slot.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(100);
const HEARTBEAT_EVERY: Duration = Duration::from_millis(250);
const ELECT_EVERY: Duration = Duration::from_secs(1);
const SYNC_EVERY: Duration = Duration::from_secs(10);
/// The heartbeat's payload on the channel.
pub(crate) const HEARTBEAT: &str = "~";
/// The first half of the advisory lock that elects the consumer; the second
/// is the channel's hash, so deployments on other channels elect their own.
const LOCK: i32 = 0x6174_7461;

pub(crate) struct Replication {
    publication: String,
    last_beat: Mutex<Option<Instant>>,
    /// Whether the stream counted as fresh when last looked at.
    streaming: AtomicBool,
    /// Root OIDs of the published tables.
    published: Mutex<Arc<HashSet<Table>>>,
}

impl Replication {
    pub fn new(publication: String) -> Self {
        Self {
            publication,
            last_beat: Mutex::new(None),
            streaming: AtomicBool::new(false),
            published: Mutex::new(Arc::new(HashSet::new())),
        }
    }

    /// The stream is alive (a heartbeat, or a read of the slot here).
    pub fn beat(&self) {
        *self.last_beat.lock().expect("replication lock") = Some(Instant::now());
        self.streaming.store(true, Ordering::Release);
    }

    /// Whether the stream is fresh; the first time it is found stale, the
    /// cache is flushed (it may have missed changes).
    pub fn fresh(&self, inner: &Inner) -> bool {
        let fresh = self.last_beat.lock().expect("replication lock").is_some_and(|t| t.elapsed() < MAX_LAG);
        if !fresh && self.streaming.swap(false, Ordering::AcqRel) {
            tracing::warn!("the replication stream is late; not caching until it is back");
            inner.invalidate_here(Touched::Everything, Origin::Flush);
        }
        fresh
    }

    /// The first of `tables` outside the publication.
    pub fn unpublished(&self, tables: &[Table]) -> Option<Table> {
        let published = self.published.lock().expect("replication lock").clone();
        tables.iter().find(|t| !published.contains(t)).copied()
    }
}

/// The consumer's state on the channel connection.
pub(crate) struct Consumer {
    slot: Option<String>,
    /// Tables the publication could not take (not owned by this role):
    /// not tried again by this consumer.
    refused: HashSet<String>,
    /// The backend pid holding the election lock (whose heartbeats count).
    elected_pid: Option<i32>,
    next_try: Instant,
    next_sync: Instant,
    next_beat: Instant,
}

impl Consumer {
    pub fn new() -> Self {
        let now = Instant::now();
        Self { slot: None, refused: HashSet::new(), elected_pid: None, next_try: now, next_sync: now, next_beat: now }
    }

    /// Whether `pid` is the consumer's session.
    pub fn is_consumer(&self, pid: i32) -> bool {
        self.elected_pid == Some(pid)
    }

    /// One tick on the channel connection: elect, sync the publication,
    /// read the slot. What the slot said was touched (or `Everything` for a
    /// new slot), and whether a heartbeat is due; an error ends the session.
    pub async fn tick(&mut self, inner: &Inner, client: &Client) -> Result<(Option<Touched>, bool), String> {
        let replication = inner.replication.as_ref().expect("replication mode");
        let now = Instant::now();
        let mut touched = None;
        if now >= self.next_sync {
            self.next_sync = now + SYNC_EVERY;
            if self.slot.is_some() {
                sync_publication(client, &replication.publication, &mut self.refused).await?;
            }
            let published = published_tables(client, &replication.publication).await?;
            *replication.published.lock().expect("replication lock") = Arc::new(published);
        }
        if self.slot.is_none() && now >= self.next_try {
            self.next_try = now + ELECT_EVERY;
            let channel = &inner.config.cache.channel;
            // Who holds the lock now (a heartbeat from anyone else is ignored).
            self.elected_pid = client
                .query_opt(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
                     AND classid = $1::int4::oid AND objid = hashtext($2)::oid AND objsubid = 2",
                    &[&LOCK, channel],
                )
                .await
                .map_err(text)?
                .and_then(|row| row.try_get(0).ok());
            let elected: bool = client
                .query_one("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&LOCK, channel])
                .await
                .map_err(text)?
                .try_get(0)
                .map_err(|e| e.to_string())?;
            if elected {
                sync_publication(client, &replication.publication, &mut self.refused).await?;
                let published = published_tables(client, &replication.publication).await?;
                *replication.published.lock().expect("replication lock") = Arc::new(published);
                let slot = format!("attache_cache_{}", std::process::id());
                client
                    .execute("SELECT pg_create_logical_replication_slot($1, 'pgoutput', true)", &[&slot])
                    .await
                    .map_err(text)?;
                tracing::info!(%slot, "reading the replication stream for the cache (temporary slot)");
                self.slot = Some(slot);
                // Nothing says what changed before the slot existed.
                touched = Some(Touched::Everything);
            }
        }
        if let Some(slot) = &self.slot {
            // Up to where the WAL is now, so a read that returns means the
            // stream caught up (the heartbeat's promise); only the type and
            // table of each change come back (5 bytes), one per table, not
            // the rows themselves, however large the transaction.
            let rows = client
                .query(
                    "SELECT DISTINCT CASE WHEN get_byte(data, 0) = 84 THEN data ELSE substr(data, 1, 5) END \
                     FROM pg_logical_slot_get_binary_changes($1, pg_current_wal_lsn(), NULL, \
                       'proto_version', '1', 'publication_names', $2) \
                     WHERE get_byte(data, 0) IN (73, 85, 68, 84)",
                    &[slot, &quote_ident(&replication.publication)],
                )
                .await
                .map_err(text)?;
            let mut tables = Vec::new();
            for row in rows {
                let data: &[u8] = row.try_get(0).map_err(|e| e.to_string())?;
                relations(data, &mut tables);
            }
            if !tables.is_empty() && touched.is_none() {
                touched = Some(Touched::Tables(tables));
            }
            replication.beat();
        }
        let beat = self.slot.is_some() && now >= self.next_beat;
        if beat {
            self.next_beat = now + HEARTBEAT_EVERY;
        }
        Ok((touched, beat))
    }
}

fn text(e: tokio_postgres::Error) -> String {
    e.as_db_error().map_or_else(|| e.to_string(), |db| db.message().to_owned())
}

/// The tables a pgoutput (protocol 1) message changed.
fn relations(message: &[u8], out: &mut Vec<Table>) {
    let id = |at: usize| message.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let mut push = |t: Table| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    match message.first() {
        Some(b'I' | b'U' | b'D') => {
            if let Some(t) = id(1) {
                push(t);
            }
        }
        Some(b'T') => {
            let count = id(1).unwrap_or(0) as usize;
            for i in 0..count.min(message.len() / 4) {
                if let Some(t) = id(6 + 4 * i) {
                    push(t);
                }
            }
        }
        _ => {}
    }
}

/// Tables that may be published: a primary key or a replica identity, no
/// partition (its root is published), permanent, outside system schemas.
const QUALIFIES: &str = "\
c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND (c.relreplident = 'f' OR EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid
       AND CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END))";

/// Creates the publication if need be, adds the tables that qualify and
/// drops those that stopped qualifying (an UPDATE on a published table
/// without a replica identity fails).
async fn sync_publication(client: &Client, publication: &str, refused: &mut HashSet<String>) -> Result<(), String> {
    let name = quote_ident(publication);
    let exists = client
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[&publication])
        .await
        .map_err(text)?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE PUBLICATION {name} WITH (publish_via_partition_root = true)"))
            .await
            .map_err(text)?;
    }
    let changes = format!(
        "SELECT format('%I.%I', n.nspname, c.relname), \
                EXISTS (SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid \
                        WHERE p.pubname = $1 AND r.prrelid = c.oid), \
                ({QUALIFIES}) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p')"
    );
    for row in client.query(&changes, &[&publication]).await.map_err(text)? {
        let columns = (row.try_get(0), row.try_get(1), row.try_get(2));
        let (Ok(table), Ok(published), Ok(qualifies)) = columns else {
            return Err("the publication's tables came back in an unexpected form".into());
        };
        let (table, published, qualifies): (String, bool, bool) = (table, published, qualifies);
        let verb = match (published, qualifies) {
            (false, true) if !refused.contains(&table) => "ADD",
            (true, false) => "DROP",
            _ => continue,
        };
        // Not the owner of a table: it stays out, and reads of it are not cached.
        if let Err(e) = client.batch_execute(&format!("ALTER PUBLICATION {name} {verb} TABLE {table}")).await {
            tracing::info!(%table, error = %text(e), "the cache publication cannot take this table; reads of it are not cached");
            refused.insert(table);
        }
    }
    Ok(())
}

async fn published_tables(client: &Client, publication: &str) -> Result<HashSet<Table>, String> {
    let rows = client
        .query(
            "SELECT COALESCE(pg_partition_root(r.prrelid), r.prrelid)::oid FROM pg_publication_rel r \
             JOIN pg_publication p ON p.oid = r.prpubid WHERE p.pubname = $1",
            &[&publication],
        )
        .await
        .map_err(text)?;
    rows.iter().map(|r| r.try_get::<_, u32>(0).map_err(|e| e.to_string())).collect()
}

pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgoutput_messages_name_their_tables() {
        let mut tables = Vec::new();
        relations(&[b'I', 0, 0, 0x40, 0x20, b'N'], &mut tables);
        relations(&[b'U', 0, 0, 0x40, 0x20, b'K'], &mut tables);
        relations(&[b'D', 0, 0, 0x40, 0x21, b'O'], &mut tables);
        relations(&[b'T', 0, 0, 0, 2, 0, 0, 0, 0x40, 0x22, 0, 0, 0x40, 0x23], &mut tables);
        relations(&[b'B', 1, 2, 3], &mut tables);
        relations(&[b'T', 0xff, 0xff, 0xff, 0xff, 0], &mut tables);
        relations(&[], &mut tables);
        assert_eq!(tables, vec![0x4020, 0x4021, 0x4022, 0x4023]);
    }
}
