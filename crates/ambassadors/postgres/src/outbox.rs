//! The transactional outbox relay's database side: the app inserts events
//! into an outbox table inside its own transaction; one relay per database
//! (the holder of a session advisory lock on a connection of its own)
//! reads committed rows in id order, hands them to a publisher, and deletes
//! (or marks) each row only once the publisher says it was delivered. A
//! rolled-back transaction's rows are never seen. What publishes is not
//! this crate's business: the server composes the relay with Kafka.
//!
//! Order: rows are published in id order among the committed rows a poll
//! sees, so events of one aggregate keep their commit order as long as the
//! app's transactions on that aggregate are serialized (as they are when
//! each updates the aggregate's row).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cache::Touched;
use crate::service::{Origin, Service};

/// `postgres.outbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Relay the outbox table to Kafka (needs the Kafka module and brokers).
    pub enabled: bool,
    /// The outbox table, optionally schema-qualified.
    pub table: String,
    /// The topic of a row whose `topic` column is null;
    /// `${aggregate_type}` is replaced by the row's (Debezium's
    /// `route.topic.replacement`, `outbox.event.${routedByValue}`).
    pub topic: String,
    /// How often the relay looks for rows written outside attache; a write
    /// through attache wakes it at once.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Rows published per round.
    pub batch: usize,
    /// After delivery: `delete` the row, or `mark` it (`published_at`).
    pub after: After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum After {
    Delete,
    Mark,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            table: "attache_outbox".into(),
            topic: "outbox.event.${aggregate_type}".into(),
            poll_interval: Duration::from_millis(200),
            batch: 500,
            after: After::Delete,
        }
    }
}

impl OutboxConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !self.table.split('.').all(ident) || self.table.split('.').count() > 2 {
            return Err("postgres.outbox.table must be a plain (optionally schema-qualified) identifier".into());
        }
        if self.batch == 0 || self.poll_interval.is_zero() {
            return Err("postgres.outbox.batch and poll_interval must be above zero".into());
        }
        Ok(())
    }

    /// The table's definition, for `attache postgres outbox-init`.
    pub fn schema(&self) -> String {
        format!(
            "create table if not exists {t} (\n  \
               id bigint generated always as identity primary key,\n  \
               aggregate_type text not null,\n  \
               aggregate_id text not null,\n  \
               event_type text not null default '',\n  \
               payload jsonb,\n  \
               headers jsonb,\n  \
               topic text,\n  \
               created_at timestamptz not null default now(),\n  \
               published_at timestamptz\n);\n\
             create index if not exists {i}_unpublished on {t} (id) where published_at is null;\n",
            t = self.table,
            i = self.table.replace('.', "_"),
        )
    }
}

/// A row to publish: topic, key (the aggregate id), value (the payload),
/// headers (`id`, `aggregate-type`, `event-type` and the row's `headers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub topic: String,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What became of a row handed to the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Delivered: the row goes.
    Done,
    /// Not yet (the publisher is stopping): the row stays, and is read again.
    Later,
    /// The row cannot be published as it is (an invalid topic, say): it
    /// stays in the table, is skipped until attache restarts, and is
    /// logged with why, for someone to fix.
    Invalid(String),
}

/// Publishes rows; answers, per row, what became of it.
pub type Publish = Arc<dyn Fn(Vec<OutboxRow>) -> BoxFuture<'static, Vec<Published>> + Send + Sync>;

impl Service {
    pub fn outbox_enabled(&self) -> bool {
        self.inner.config.outbox.enabled
    }

    /// Creates the outbox table (and its index) if missing.
    pub async fn outbox_init(&self) -> Result<(), String> {
        let config = &self.inner.config.outbox;
        let deadline = Instant::now() + Duration::from_secs(30);
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let (client, _driver) = self.inner.pool.dedicated(deadline, tx).await.map_err(|e| e.to_string())?;
        client.batch_execute(&config.schema()).await.map_err(|e| format!("creating {}: {e}", config.table))
    }

    /// Runs the relay until the service stops: waits to be the database's
    /// relay, then publishes rows as they commit.
    pub fn start_outbox(&self, publish: Publish) {
        let wake = Arc::new(Notify::new());
        let inner = self.clone();
        let woken = wake.clone();
        let table = self.inner.config.outbox.table.clone();
        let oid = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let watched = oid.clone();
        // A write through attache that touched the table wakes the relay.
        self.on_invalidate(Arc::new(move |touched, origin| {
            let target = watched.load(std::sync::atomic::Ordering::Relaxed);
            let hit = origin == Origin::Here
                && match &touched {
                    Touched::Everything => true,
                    Touched::Tables(tables) => tables.contains(&target),
                };
            if hit {
                woken.notify_one();
            }
            Box::pin(async {})
        }));
        tokio::spawn(self.inner.outbox_stop.clone().run_until_cancelled_owned(async move {
            loop {
                match relay(&inner, &publish, &wake, &oid).await {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(table, error, "postgres outbox: the relay stopped; trying again");
                        tokio::time::sleep(inner.inner.config.outbox.poll_interval.max(Duration::from_secs(1))).await;
                    }
                }
            }
        }));
    }
}

async fn relay(
    service: &Service,
    publish: &Publish,
    wake: &Notify,
    oid: &std::sync::atomic::AtomicU32,
) -> Result<(), String> {
    let config = service.inner.config.outbox.clone();
    let deadline = Instant::now() + service.inner.config.connect_timeout;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let (client, _driver) = service.inner.pool.dedicated(deadline, tx).await.map_err(|e| e.to_string())?;
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e: tokio_postgres::Error| format!("{what}: {e}")
    };
    client.batch_execute("set application_name = 'attache outbox relay'").await.map_err(fail("naming the session"))?;
    // One relay per database and table.
    let key = format!("attache outbox {}", config.table);
    loop {
        let row =
            client.query_one("select pg_try_advisory_lock(hashtext($1))", &[&key]).await.map_err(fail("locking"))?;
        if row.try_get::<_, bool>(0).map_err(fail("locking"))? {
            break;
        }
        tokio::time::sleep(config.poll_interval.max(Duration::from_secs(1))).await;
    }
    tracing::info!(table = config.table, "postgres outbox: this attache relays the table");
    let facts = client
        .query_one(
            "select $1::text::regclass::oid, (select format_type(atttypid, atttypmod) from pg_attribute \
             where attrelid = $1::text::regclass and attname = 'payload')",
            &[&config.table],
        )
        .await
        .map_err(fail("reading the outbox table (create it with `attache postgres outbox-init`)"))?;
    let table_oid: u32 = facts.try_get(0).map_err(fail("reading the table's oid"))?;
    oid.store(table_oid, std::sync::atomic::Ordering::Relaxed);
    let payload_type: Option<String> = facts.try_get(1).map_err(fail("reading the payload type"))?;
    let payload = match payload_type.as_deref() {
        Some("bytea") => "payload",
        _ => "convert_to(payload::text, 'UTF8')",
    };
    let unpublished = match config.after {
        After::Delete => "true",
        After::Mark => "published_at is null",
    };
    let select = format!(
        "select id, coalesce(topic, replace($1, '${{aggregate_type}}', aggregate_type)), aggregate_id, \
         aggregate_type, event_type, {payload}, headers::text from {t} where {unpublished} \
         and not (id = any($3)) order by id limit $2",
        t = config.table
    );
    let done = match config.after {
        After::Delete => format!("delete from {} where id = any($1)", config.table),
        After::Mark => format!("update {} set published_at = now() where id = any($1)", config.table),
    };
    let select = client.prepare(&select).await.map_err(fail("preparing the outbox query"))?;
    let done = client.prepare(&done).await.map_err(fail("preparing the outbox update"))?;
    // Rows that cannot be published as they are: left in the table.
    let mut invalid: Vec<i64> = Vec::new();
    loop {
        let rows = client
            .query(&select, &[&config.topic, &(config.batch as i64), &invalid])
            .await
            .map_err(fail("reading the outbox"))?;
        if rows.is_empty() {
            let _ = tokio::time::timeout(config.poll_interval, wake.notified()).await;
            continue;
        }
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.try_get(0).map_err(fail("an outbox row"))?;
            let topic: String = row.try_get(1).map_err(fail("an outbox row"))?;
            let key: String = row.try_get(2).map_err(fail("an outbox row"))?;
            let aggregate_type: String = row.try_get(3).map_err(fail("an outbox row"))?;
            let event_type: String = row.try_get(4).map_err(fail("an outbox row"))?;
            let value: Option<Vec<u8>> = row.try_get(5).map_err(fail("an outbox row"))?;
            let extra: Option<String> = row.try_get(6).map_err(fail("an outbox row"))?;
            let mut headers = vec![
                ("id".to_owned(), Some(id.to_string().into_bytes())),
                ("aggregate-type".to_owned(), Some(aggregate_type.into_bytes())),
            ];
            if !event_type.is_empty() {
                headers.push(("event-type".to_owned(), Some(event_type.into_bytes())));
            }
            if let Some(serde_json::Value::Object(map)) =
                extra.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            {
                for (name, value) in map {
                    let value = match value {
                        serde_json::Value::Null => None,
                        serde_json::Value::String(s) => Some(s.into_bytes()),
                        other => Some(other.to_string().into_bytes()),
                    };
                    headers.push((name, value));
                }
            }
            batch.push(OutboxRow { id, topic, key: key.into_bytes(), value, headers });
        }
        let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
        let outcomes = publish(batch).await;
        let mut done_ids = Vec::new();
        let mut later = false;
        for (id, outcome) in ids.iter().zip(outcomes) {
            match outcome {
                Published::Done => done_ids.push(*id),
                Published::Later => later = true,
                Published::Invalid(why) => {
                    tracing::error!(
                        table = config.table,
                        id,
                        why,
                        "postgres outbox: a row cannot be published; it stays in the table"
                    );
                    invalid.push(*id);
                }
            }
        }
        if !done_ids.is_empty() {
            client.execute(&done, &[&done_ids]).await.map_err(fail("removing published rows"))?;
        }
        if later {
            // Not delivered (the module is stopping): try again later.
            tokio::time::sleep(config.poll_interval).await;
        }
    }
}
