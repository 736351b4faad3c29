//! A throwaway real PostgreSQL server per test, run by the scripts in
//! `testing/postgres` (which the helper installs once per process).

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::certs::Ca;

static INSTALL: Once = Once::new();

/// A real PostgreSQL 15 server with its data and Unix socket in a temporary
/// directory, started by `testing/postgres/start` and stopped (its directory
/// removed) on drop. Trust authentication as user `postgres`; logical
/// replication on; `pg_stat_statements` loaded and created in database
/// `postgres`. Each test gets its own: a fresh one starts in about 1.5 s, a
/// restart in about 0.4 s.
pub struct PostgresServer {
    dir: tempfile::TempDir,
    port: u16,
    url: String,
    tls: bool,
}

impl PostgresServer {
    fn script(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testing/postgres").join(name)
    }

    fn run(command: &mut Command, what: &str) -> Output {
        let out = command.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
        assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Runs `testing/postgres/start`; `options` are postgres `-c` settings,
    /// `tls` a certificate and key to serve TLS on 127.0.0.1 with.
    fn run_start(dir: &Path, port: Option<u16>, options: &[&str], tls: Option<(&Path, &Path)>) -> String {
        INSTALL.call_once(|| {
            Self::run(&mut Command::new(Self::script("install")), "testing/postgres/install");
        });
        let mut command = Command::new(Self::script("start"));
        command.arg(dir).arg(port.map(|p| p.to_string()).unwrap_or_default());
        if !options.is_empty() {
            command.arg("--");
            for option in options {
                command.arg("-c").arg(option);
            }
        }
        if let Some((cert, key)) = tls {
            command.env("PG_TLS_CERT", cert).env("PG_TLS_KEY", key);
        }
        let out = Self::run(&mut command, "testing/postgres/start");
        String::from_utf8(out.stdout).expect("utf-8 url").trim().to_string()
    }

    fn launch(dir: tempfile::TempDir, options: &[&str], tls: Option<(&Path, &Path)>) -> Self {
        let url = Self::run_start(dir.path(), None, options, tls);
        let port = url.rsplit("port=").next().and_then(|p| p.parse().ok()).expect("port in the url");
        Self { dir, port, url, tls: tls.is_some() }
    }

    /// Starts one with the default settings.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts one with extra settings, each `name=value` (passed as
    /// `-c name=value`, after and so over the defaults), e.g.
    /// `["max_connections=5"]`. A restart keeps them.
    pub fn start_with(options: &[&str]) -> Self {
        Self::launch(tempfile::tempdir().expect("temp dir"), options, None)
    }

    /// Starts one that also serves TCP on 127.0.0.1 ([`tcp_url`](Self::tcp_url)),
    /// TLS with a certificate from `ca` for 127.0.0.1 and localhost (or
    /// plain: postgres lets the client choose; `sslmode=require` insists).
    pub fn start_tls(ca: &Ca) -> Self {
        Self::start_tls_with(ca, &[])
    }

    /// [`start_tls`](Self::start_tls) with extra settings, as
    /// [`start_with`](Self::start_with) takes them.
    pub fn start_tls_with(ca: &Ca, options: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = ca.issue(dir.path(), "postgres", &["IP:127.0.0.1", "DNS:localhost"]);
        Self::launch(dir, options, Some((cert.as_path(), key.as_path())))
    }

    /// `postgres://postgres@/postgres?host=DIR&port=PORT`: the Unix socket
    /// in [`dir`](Self::dir) (tokio-postgres and psql take it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`, for a server from
    /// [`start_tls`](Self::start_tls) (the others serve no TCP).
    pub fn tcp_url(&self) -> String {
        assert!(self.tls, "only a server from start_tls listens on TCP");
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The directory holding the socket (`.s.PGSQL.PORT`) and `data/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port: TCP's with TLS, else only the socket's name.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (a fast shutdown: sessions are cut, data is kept).
    pub fn stop(&self) {
        Self::run(Command::new(Self::script("stop")).arg(self.dir.path()), "testing/postgres/stop");
    }

    /// Starts it again on the same port, with the same settings and data.
    pub fn restart(&self) {
        self.stop();
        Self::run_start(self.dir.path(), Some(self.port), &[], None);
    }

    /// Runs `sql` with `psql` as user `postgres` in database `postgres`:
    /// the independent client. Returns its output (unaligned, tuples only,
    /// one row per line, `|` between columns), trimmed; panics on an error.
    pub fn psql(&self, sql: &str) -> String {
        let mut command = Command::new("psql");
        command
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres"])
            .arg("-h")
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-c", sql]);
        let out = Self::run(&mut command, &format!("psql -c {sql:?}"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Creates a schema of a fresh random name (`t_` and 16 hex digits) and
    /// returns the name, so tests sharing a server keep apart.
    pub fn schema(&self) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u32(std::process::id());
        let name = format!("t_{:016x}", hasher.finish());
        self.psql(&format!("CREATE SCHEMA {name}"));
        name
    }
}

impl Drop for PostgresServer {
    /// Stops the server (never panicking); the directory goes with `dir`.
    fn drop(&mut self) {
        let _ = Command::new(Self::script("stop")).arg(self.dir.path()).output();
    }
}
