//! Interactive transactions: Begin lends a connection to one caller until
//! Commit or Rollback, or until a timeout or shutdown rolls it back.
//!
//! A transaction is bound to the process that began it (its owner), holds
//! one pooled connection, and at most `max_open` (half the pool by default)
//! exist at once, so open transactions never starve autocommit calls. Each
//! has a watchdog that rolls it back once idle for `idle_timeout` or open
//! for `max_duration`, cancelling a statement still running then.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::pool::{Canceller, Lease};
use crate::service::{Inner, Owed, Owing, Param, QueryOptions, QueryResult};
use crate::sql::{self, Effect};
use crate::{Config, Error};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Isolation {
    /// The server's default.
    #[default]
    Default,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOptions {
    pub isolation: Isolation,
    pub read_only: bool,
    pub deferrable: bool,
}

struct Open {
    owner: String,
    /// `None` once the transaction has ended.
    lease: tokio::sync::Mutex<Option<Lease>>,
    /// `None` for the placeholder holding a slot while Begin connects.
    cancel: Option<Canceller>,
    started: Instant,
    last_used: Mutex<Instant>,
    /// A statement left session state: reset the connection at the end.
    dirty: AtomicBool,
    /// A cancel request was sent for this connection; it may land on any
    /// later statement, so the connection is closed at the end, not pooled.
    cancel_sent: AtomicBool,
    /// A statement failed: Postgres has aborted the transaction, and a
    /// COMMIT would silently roll back, so Commit says so.
    failed: Mutex<Option<String>>,
    /// Statements that may have written (text, parameter count), for the
    /// cache's invalidation at commit; `None` once there were too many to
    /// analyse, which invalidates everything.
    written: Mutex<Option<Vec<(String, usize)>>>,
}

/// Distinct possibly-writing statements remembered per transaction.
const MAX_WRITTEN: usize = 64;

pub(crate) struct Transactions {
    config: Arc<Config>,
    open: Mutex<HashMap<String, Arc<Open>>>,
}

impl Transactions {
    pub fn new(config: Arc<Config>) -> Self {
        Self { config, open: Mutex::new(HashMap::new()) }
    }

    pub fn open(&self) -> usize {
        self.open.lock().expect("transactions lock").len()
    }

    pub async fn begin(
        &self,
        inner: &Arc<Inner>,
        options: crate::TxOptions,
        owner: &str,
        deadline: Instant,
    ) -> Result<String, Error> {
        // Reserve the slot before waiting for a connection, so concurrent
        // Begins cannot pass max_open together.
        let id = format!("{:032x}", rand::random::<u128>());
        {
            let mut open = self.open.lock().expect("transactions lock");
            let max = self.config.max_open();
            if open.len() >= max {
                return Err(Error::TooManyTransactions(max));
            }
            // A placeholder nobody can use (no lease yet) holds the slot.
            open.insert(id.clone(), Arc::new(Open::new(owner, None)));
        };
        // Frees the slot if this call is dropped before it is filled.
        let reserved = Reserved { open: &self.open, id: &id, filled: false };
        let began = async {
            let mut lease = inner.pool.lease(deadline).await?;
            let conn = lease.conn();
            tokio::time::timeout_at(deadline, conn.client.batch_execute(&options.begin_sql()))
                .await
                .map_err(|_| Error::Deadline("while the transaction began"))?
                .map_err(|e| conn.error(e))?;
            Ok::<_, Error>(lease)
        }
        .await;
        let lease = began?;
        let transaction = Arc::new(Open::new(owner, Some(lease)));
        self.open.lock().expect("transactions lock").insert(id.clone(), transaction.clone());
        let mut reserved = reserved;
        reserved.filled = true;
        drop(reserved);
        tokio::spawn(watch(inner.clone(), id.clone(), transaction));
        Ok(id)
    }

    fn is_current(&self, id: &str, transaction: &Arc<Open>) -> bool {
        self.open.lock().expect("transactions lock").get(id).is_some_and(|t| Arc::ptr_eq(t, transaction))
    }

    fn get(&self, id: &str, owner: &str) -> Result<Arc<Open>, Error> {
        self.open
            .lock()
            .expect("transactions lock")
            .get(id)
            .filter(|t| t.owner == owner)
            .cloned()
            .ok_or_else(|| Error::NoTransaction(id.to_owned()))
    }

    fn take(&self, id: &str, owner: &str) -> Option<Arc<Open>> {
        let mut open = self.open.lock().expect("transactions lock");
        match open.get(id) {
            Some(t) if t.owner == owner => open.remove(id),
            _ => None,
        }
    }

    /// Runs one statement inside transaction `id`.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &self,
        inner: &Inner,
        id: &str,
        owner: &str,
        sql_text: &str,
        params: &[Param],
        options: QueryOptions,
        deadline: Instant,
    ) -> Result<QueryResult, Error> {
        let transaction = self.get(id, owner)?;
        match sql::effect(sql_text) {
            Effect::Clean => {}
            Effect::Session(_) => transaction.dirty.store(true, Ordering::Relaxed),
            Effect::Refused(why) => return Err(Error::Refused(why.to_owned())),
        }
        if sql::changes_settings(sql_text) {
            // Later statements may resolve to other tables than attache
            // would find under the default settings: everything goes.
            *transaction.written.lock().expect("transaction lock") = None;
        } else if sql::shareable(sql_text).is_err() || sql::called_functions(sql_text).is_ok_and(|f| !f.is_empty()) {
            let mut written = transaction.written.lock().expect("transaction lock");
            if let Some(list) = written.as_mut()
                && !list.iter().any(|(sql, _)| sql == sql_text)
            {
                if list.len() >= MAX_WRITTEN {
                    *written = None;
                } else {
                    list.push((sql_text.to_owned(), params.len()));
                }
            }
        }
        let mut guard = tokio::time::timeout_at(deadline, transaction.lease.lock())
            .await
            .map_err(|_| Error::Deadline("while another statement of this transaction ran"))?;
        let Some(lease) = guard.as_mut() else { return Err(Error::NoTransaction(id.to_owned())) };
        *transaction.last_used.lock().expect("transaction lock") = Instant::now();
        // If this call is dropped (the caller left) or times out, the
        // statement is cancelled on the server; the transaction stays open
        // (aborted) for the caller to roll back, or for the watchdog.
        let mut cancel = CancelOnDrop(Some(transaction.clone()));
        let ran = tokio::time::timeout_at(deadline, inner.run(lease.conn(), sql_text, params, options)).await;
        *transaction.last_used.lock().expect("transaction lock") = Instant::now();
        let result = match ran {
            Ok(result) => {
                cancel.0 = None;
                result
            }
            Err(_) => Err(Error::Deadline("while the statement ran")),
        };
        if let Err(e) = &result {
            transaction.failed.lock().expect("transaction lock").get_or_insert_with(|| e.to_string());
        }
        result
    }

    /// Commits (`commit`) or rolls back transaction `id` and returns its
    /// connection to the pool. Rolling back an unknown id is not an error.
    pub async fn end(
        &self,
        inner: &Arc<Inner>,
        id: &str,
        owner: &str,
        commit: bool,
        deadline: Instant,
    ) -> Result<(), Error> {
        let Some(transaction) = self.take(id, owner) else {
            return if commit { Err(Error::NoTransaction(id.to_owned())) } else { Ok(()) };
        };
        // A statement still running is cancelled rather than waited for on
        // rollback; a commit waits for it (until the deadline). A cancel
        // request lands whenever the server reads it, possibly on a later
        // statement, so a connection it was sent for is closed, not pooled.
        let running = !commit && transaction.lease.try_lock().is_err();
        if running && let Some(canceller) = &transaction.cancel {
            transaction.cancel_sent.store(true, Ordering::Relaxed);
            canceller.send().await;
        }
        let Ok(mut guard) = tokio::time::timeout_at(deadline, transaction.lease.lock()).await else {
            // The running statement did not stop in time: the lease is
            // dropped with the transaction (cancelled, closed).
            return Err(Error::Deadline("while a statement of this transaction still ran"));
        };
        let Some(lease) = guard.take() else { return Ok(()) };
        let failed = transaction.failed.lock().expect("transaction lock").clone();
        let verb = match (commit, &failed) {
            (true, None) => "COMMIT",
            _ => "ROLLBACK",
        };
        let cancelled = transaction.cancel_sent.load(Ordering::Relaxed);
        // Owed from before COMMIT is sent: paid even if this caller leaves.
        let owed = (verb == "COMMIT").then(|| {
            let written = transaction.written.lock().expect("transaction lock").take();
            Owed::new(inner, written.map_or(Owing::Everything, Owing::Statements))
        });
        let ended = close(lease, verb, transaction.dirty.load(Ordering::Relaxed), cancelled, deadline).await;
        if let Some(owed) = owed {
            owed.settle(ended.as_ref().err().cloned()).await;
        }
        match (commit, failed) {
            (true, Some(why)) => Err(Error::Refused(format!(
                "the transaction was rolled back, not committed: a statement in it had failed ({why})"
            ))),
            _ => ended,
        }
    }

    /// Rolls back every open transaction (at shutdown).
    pub async fn roll_back_all(&self) {
        let all: Vec<Arc<Open>> = self.open.lock().expect("transactions lock").drain().map(|(_, t)| t).collect();
        for transaction in all {
            if let Some(canceller) = &transaction.cancel {
                canceller.send().await;
            }
            let deadline = Instant::now() + std::time::Duration::from_secs(2);
            if let Ok(mut guard) = tokio::time::timeout_at(deadline, transaction.lease.lock()).await
                && let Some(mut lease) = guard.take()
            {
                let rolled = tokio::time::timeout_at(deadline, lease.conn().client.batch_execute("ROLLBACK")).await;
                if !matches!(rolled, Ok(Ok(()))) {
                    tracing::warn!("a transaction could not be rolled back at shutdown; closing its connection");
                }
                // Closing the connection rolls back anything left anyway.
                lease.discard();
            }
        }
    }
}

impl Open {
    fn new(owner: &str, lease: Option<Lease>) -> Self {
        let cancel = lease.as_ref().map(Lease::canceller);
        let now = Instant::now();
        Self {
            owner: owner.to_owned(),
            lease: tokio::sync::Mutex::new(lease),
            cancel,
            started: now,
            last_used: Mutex::new(now),
            dirty: AtomicBool::new(false),
            cancel_sent: AtomicBool::new(false),
            failed: Mutex::new(None),
            written: Mutex::new(Some(Vec::new())),
        }
    }
}

/// Ends a transaction's statement block and returns the connection.
async fn close(mut lease: Lease, verb: &str, dirty: bool, cancelled: bool, deadline: Instant) -> Result<(), Error> {
    let mut sql = verb.to_owned();
    if dirty {
        sql.push_str("; ");
        sql.push_str(crate::service::RESET_SESSION);
    }
    match tokio::time::timeout_at(deadline, lease.conn().client.batch_execute(&sql)).await {
        Ok(Ok(())) if !cancelled => {
            lease.release();
            Ok(())
        }
        Ok(Ok(())) => {
            lease.discard();
            Ok(())
        }
        Ok(Err(e)) => {
            let db_error = e.as_db_error().is_some();
            let error = lease.conn().error(e);
            // A COMMIT refused (serialization failure at commit) leaves the
            // session outside any transaction; anything else: close it.
            if db_error && !dirty {
                lease.release();
            } else {
                lease.discard();
            }
            Err(error)
        }
        Err(_) => {
            lease.discard();
            Err(Error::Deadline(if verb == "COMMIT" { "while committing" } else { "while rolling back" }))
        }
    }
}

/// Rolls `id` back once it has been idle for `idle_timeout` or open for
/// `max_duration`.
async fn watch(inner: Arc<Inner>, id: String, transaction: Arc<Open>) {
    let config = inner.config.clone();
    loop {
        let idle_at = *transaction.last_used.lock().expect("transaction lock") + config.transaction.idle_timeout;
        let max_at = transaction.started + config.transaction.max_duration;
        let at = idle_at.min(max_at);
        tokio::time::sleep_until(at).await;
        let still_open = inner.transactions.is_current(&id, &transaction);
        if !still_open {
            return;
        }
        let now = Instant::now();
        let idle = now >= *transaction.last_used.lock().expect("transaction lock") + config.transaction.idle_timeout;
        // A statement running counts as activity until max_duration.
        let busy = transaction.lease.try_lock().is_err();
        if now >= max_at || (idle && !busy) {
            let why = if now >= max_at { "max_duration" } else { "idle_timeout" };
            tracing::info!(transaction = %id, why, "rolling back an abandoned transaction");
            inner.note_timeout_rollback();
            let owner = transaction.owner.clone();
            let _ = inner
                .transactions
                .end(&inner, &id, &owner, false, Instant::now() + std::time::Duration::from_secs(5))
                .await;
            return;
        }
        if busy {
            // Look again after the next idle period.
            *transaction.last_used.lock().expect("transaction lock") = now;
        }
    }
}

/// A transaction slot taken by a Begin still connecting; dropped unfilled
/// (the Begin failed, or its caller left), it frees the slot.
struct Reserved<'a> {
    open: &'a Mutex<HashMap<String, Arc<Open>>>,
    id: &'a str,
    filled: bool,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if !self.filled {
            self.open.lock().expect("transactions lock").remove(self.id);
        }
    }
}

/// Cancels the statement running on a transaction's connection if dropped
/// while armed, and marks the connection as not to be pooled again.
struct CancelOnDrop(Option<Arc<Open>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(transaction) = self.0.take()
            && let Some(canceller) = transaction.cancel.clone()
        {
            transaction.cancel_sent.store(true, Ordering::Relaxed);
            // Postgres aborts the transaction when the statement is
            // cancelled: a later Commit must not report success.
            transaction
                .failed
                .lock()
                .expect("transaction lock")
                .get_or_insert_with(|| "a statement was cancelled: its caller left or its deadline passed".into());
            canceller.send_later();
        }
    }
}
