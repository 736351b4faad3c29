//! The shared pool: at most `pool_size` connections, lent to one caller at
//! a time, each with its own prepared-statement cache.
//!
//! A lent connection goes back to the pool only when its caller finished
//! cleanly ([`Lease::release`]). A caller that leaves mid-statement (its
//! deadline passed, its client went away) drops the lease: the statement
//! is cancelled on the server and the connection is closed, so nothing it
//! was doing can reach the next caller.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lru::LruCache;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, CancelToken, Client, NoTls, Notification, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::Target;

use crate::{Config, Error};

pub(crate) struct Pool {
    config: Arc<Config>,
    connect: tokio_postgres::Config,
    /// `None` over a Unix socket, where Postgres never speaks TLS.
    tls: Option<MakeRustlsConnect>,
    client_cert: bool,
    /// Where the database is, for errors: host and port, never the password.
    address: Arc<str>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Conn>>,
    backoff: Mutex<Backoff>,
}

#[derive(Default)]
struct Backoff {
    /// While set and in the future, calls fail at once.
    retry_at: Option<Instant>,
    wait: Duration,
    reason: String,
}

/// One connection and what is cached on it.
pub(crate) struct Conn {
    pub client: Client,
    statements: LruCache<String, Statement>,
    address: Arc<str>,
    /// For cancel requests, which travel as the connection did.
    tls: Option<MakeRustlsConnect>,
}

impl Conn {
    /// A driver error on this connection as the caller's error.
    pub fn error(&self, e: tokio_postgres::Error) -> Error {
        Error::from_driver(&e, &self.address)
    }

    /// The statement for `sql` with these parameter type hints, prepared on
    /// this connection once and then reused.
    pub async fn prepare(
        &mut self,
        sql: &str,
        hints: &[postgres_types::Type],
    ) -> Result<Statement, tokio_postgres::Error> {
        let key = if hints.is_empty() {
            sql.to_owned()
        } else {
            let oids: Vec<String> = hints.iter().map(|t| t.oid().to_string()).collect();
            format!("{}\0{sql}", oids.join(","))
        };
        if let Some(statement) = self.statements.get(&key) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare_typed(sql, hints).await?;
        self.statements.put(key, statement.clone());
        Ok(statement)
    }

    /// Sends the server a request to cancel what runs on this connection.
    pub fn canceller(&self) -> Canceller {
        Canceller { token: self.client.cancel_token(), tls: self.tls.clone() }
    }

    /// Forgets cached statements (after a schema change made one stale).
    pub fn forget_statements(&mut self) {
        self.statements.clear();
    }
}

impl Pool {
    pub fn new(config: Arc<Config>) -> Result<Self, String> {
        let url = config.url.as_deref().ok_or("postgres.url is not set")?;
        let Target { config: mut connect, tls, client_cert } = crate::tls::target(url, &config.tls)?;
        let ms = |d: Duration| d.as_millis().max(1);
        // Session defaults given at start-up, so RESET ALL returns to them.
        let options = format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            ms(config.statement_timeout),
            ms(config.transaction.max_duration + Duration::from_secs(5)),
        );
        connect.options(&options).application_name("attache").connect_timeout(config.connect_timeout);
        let address = address_of(&connect).into();
        let permits = Arc::new(Semaphore::new(config.pool_size));
        Ok(Self {
            config,
            connect,
            tls,
            client_cert,
            address,
            permits,
            idle: Mutex::new(Vec::new()),
            backoff: Mutex::default(),
        })
    }

    /// Whether every connection is lent out.
    pub fn is_full(&self) -> bool {
        self.permits.available_permits() == 0
    }

    /// Whether the last connection attempt failed and the next is not due.
    pub fn is_down(&self) -> bool {
        self.backoff.lock().expect("pool lock").retry_at.is_some_and(|at| Instant::now() < at)
    }

    /// Lends a connection, waiting for one until `deadline`.
    pub async fn lease(self: &Arc<Self>, deadline: Instant) -> Result<Lease, Error> {
        self.fail_fast()?;
        // Stop waiting a little before the caller's deadline, so the caller
        // hears that the pool was full rather than a bare timeout.
        let margin = deadline.saturating_duration_since(Instant::now()).div_f64(10.0).min(Duration::from_millis(50));
        let permit = match tokio::time::timeout_at(deadline - margin, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(Error::ShuttingDown),
            Err(_) => return Err(Error::PoolExhausted(self.config.pool_size)),
        };
        loop {
            let Some(conn) = self.idle.lock().expect("pool lock").pop() else { break };
            if !conn.client.is_closed() {
                return Ok(Lease { conn: Some(conn), pool: self.clone(), _permit: permit });
            }
        }
        let conn = self.connect(deadline).await?;
        Ok(Lease { conn: Some(conn), pool: self.clone(), _permit: permit })
    }

    fn fail_fast(&self) -> Result<(), Error> {
        let backoff = self.backoff.lock().expect("pool lock");
        match backoff.retry_at {
            Some(at) if Instant::now() < at => {
                Err(Error::Unavailable { address: self.address.to_string(), reason: backoff.reason.clone() })
            }
            _ => Ok(()),
        }
    }

    /// A connection of its own, outside the pool, whose notifications
    /// (LISTEN) arrive on `notifications`; the sender is dropped when the
    /// connection ends, and so is the task returned, which drives it (it
    /// ends soon after the client is dropped).
    pub async fn dedicated(
        &self,
        deadline: Instant,
        notifications: mpsc::UnboundedSender<Notification>,
    ) -> Result<(Client, JoinHandle<()>), Error> {
        let (conn, driver) = self.connect_with(deadline, Some(notifications)).await?;
        Ok((conn.client, driver))
    }

    async fn connect(&self, deadline: Instant) -> Result<Conn, Error> {
        Ok(self.connect_with(deadline, None).await?.0)
    }

    async fn connect_with(
        &self,
        deadline: Instant,
        notifications: Option<mpsc::UnboundedSender<Notification>>,
    ) -> Result<(Conn, JoinHandle<()>), Error> {
        let own_limit = Instant::now() + self.config.connect_timeout;
        let attempt = tokio::time::timeout_at(deadline.min(own_limit), async {
            match &self.tls {
                Some(tls) => self
                    .connect
                    .connect(tls.clone())
                    .await
                    .map(|(client, connection)| (client, run(connection, notifications))),
                None => self
                    .connect
                    .connect(NoTls)
                    .await
                    .map(|(client, connection)| (client, run(connection, notifications))),
            }
        });
        let failed = |reason: String| {
            let mut b = self.backoff.lock().expect("pool lock");
            b.wait =
                if b.wait.is_zero() { self.config.reconnect_min } else { (b.wait * 2).min(self.config.reconnect_max) };
            let jitter = b.wait.mul_f64(rand::random::<f64>() * 0.25);
            b.retry_at = Some(Instant::now() + b.wait - jitter);
            b.reason = reason.clone();
            tracing::warn!(address = %self.address, retry_in = ?b.wait, %reason, "cannot connect to postgres");
            Error::Unavailable { address: self.address.to_string(), reason }
        };
        let (client, connection) = match attempt.await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                return Err(match e.as_db_error() {
                    // The server answered with a refusal (bad password, no
                    // such database): the configuration is wrong.
                    Some(db) => {
                        failed(db.message().to_owned());
                        Error::Database(Box::new(db.into()))
                    }
                    None => failed(match attache_tls::find(&e) {
                        Some(tls) => attache_tls::reason(tls, self.client_cert, crate::tls::NAMES),
                        None => e.to_string(),
                    }),
                });
            }
            // The caller's deadline came first: that says nothing of the
            // database, so no backoff for everyone else.
            Err(_) if deadline < own_limit => return Err(Error::Deadline("while connecting to the database")),
            Err(_) => return Err(failed("connecting timed out".into())),
        };
        *self.backoff.lock().expect("pool lock") = Backoff::default();
        let driver = tokio::spawn(connection);
        let cache = NonZeroUsize::new(self.config.statement_cache.max(1)).expect("at least one");
        let conn =
            Conn { client, statements: LruCache::new(cache), address: self.address.clone(), tls: self.tls.clone() };
        Ok((conn, driver))
    }

    /// Stops lending and closes the idle connections.
    pub fn close(&self) {
        self.permits.close();
        self.idle.lock().expect("pool lock").clear();
    }
}

/// A connection lent to one caller. Dropped without [`release`](Self::release),
/// it cancels whatever runs on it and closes the connection.
pub(crate) struct Lease {
    conn: Option<Conn>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    pub fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("a lease holds its connection until dropped")
    }

    pub fn canceller(&self) -> Canceller {
        self.conn.as_ref().expect("a lease holds its connection until dropped").canceller()
    }

    /// Returns the connection to the pool: its caller finished cleanly and
    /// left it outside any transaction.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take()
            && !conn.client.is_closed()
            && !self.pool.permits.is_closed()
        {
            self.pool.idle.lock().expect("pool lock").push(conn);
        }
    }

    /// Closes the connection rather than reuse it (its state is unknown).
    pub fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            conn.canceller().send_later();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.canceller().send_later();
        }
    }
}

/// What cancels the statement running on one connection: a cancel
/// request, sent on a connection of its own, the way the connection itself
/// was made (TLS or not).
#[derive(Clone)]
pub(crate) struct Canceller {
    token: CancelToken,
    tls: Option<MakeRustlsConnect>,
}

impl Canceller {
    pub async fn send(&self) {
        let _ = match &self.tls {
            Some(tls) => self.token.cancel_query(tls.clone()).await,
            None => self.token.cancel_query(NoTls).await,
        };
    }

    /// Sends it without waiting for the answer. Harmless if nothing runs
    /// when the connection is being closed anyway.
    pub fn send_later(self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { self.send().await });
        }
    }
}

/// A connection's IO loop, as a task body whatever its stream type,
/// forwarding notifications to `notifications` if given.
fn run<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notifications: Option<mpsc::UnboundedSender<Notification>>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(async move {
        let mut messages = std::pin::pin!(futures::stream::poll_fn(move |cx| connection.poll_message(cx)));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if let Some(to) = &notifications {
                        let _ = to.send(n);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "postgres connection ended");
                    break;
                }
            }
        }
    })
}

fn address_of(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(Host::Tcp(host)) => format!("{host}:{port}"),
        Some(Host::Unix(dir)) => format!("{}/.s.PGSQL.{port}", dir.display()),
        None => format!("localhost:{port}"),
    }
}
