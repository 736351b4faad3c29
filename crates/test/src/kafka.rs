//! A real Apache Kafka broker for tests, run by the scripts in
//! `testing/kafka` (installed once per process), and `kcat`, the
//! independent client that reads back what attache produced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

static INSTALL: Once = Once::new();
static SHARED: OnceLock<KafkaBroker> = OnceLock::new();

/// A single-node KRaft broker on loopback with its data in a temporary
/// directory, stopped on drop. Topics are not created automatically
/// (`auto.create.topics.enable=false`, so an unknown topic stays unknown):
/// create them with [`KafkaBroker::create_topic`].
pub struct KafkaBroker {
    dir: tempfile::TempDir,
    bootstrap: String,
    /// kcat's `-X` settings for a broker that wants TLS or SASL.
    kcat: Vec<String>,
}

/// A record as kcat read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: BTreeMap<String, String>,
}

impl Read {
    /// The `attache-id` header.
    pub fn id(&self) -> &str {
        self.headers.get("attache-id").map(String::as_str).unwrap_or("")
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testing/kafka").join(name)
}

fn run(command: &mut Command, what: &str) -> Output {
    let out = command.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl KafkaBroker {
    /// A broker of its own, for tests that stop or restart it.
    pub fn start() -> Self {
        INSTALL.call_once(|| {
            run(&mut Command::new(script("install")), "testing/kafka/install");
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let bootstrap = Self::run_start(dir.path(), None, &[]);
        Self { dir, bootstrap, kcat: Vec::new() }
    }

    /// A broker whose client listener wants SASL (PLAIN, SCRAM-SHA-256 and
    /// SCRAM-SHA-512) for `users` (`name:password` pairs) and, with a
    /// certificate and key from `ca`, TLS. kcat reads it as the first user,
    /// with PLAIN (Debian's kcat cannot do SCRAM with Kafka 4).
    pub fn start_secured(users: &[(&str, &str)], ca: Option<&crate::Ca>) -> Self {
        INSTALL.call_once(|| {
            run(&mut Command::new(script("install")), "testing/kafka/install");
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let listed: Vec<String> = users.iter().map(|(n, p)| format!("{n}:{p}")).collect();
        let mut env = vec![("KAFKA_SASL_USERS".to_owned(), listed.join(" "))];
        let mut kcat = vec![
            format!("sasl.mechanisms=PLAIN"),
            format!("sasl.username={}", users[0].0),
            format!("sasl.password={}", users[0].1),
        ];
        match ca {
            Some(ca) => {
                let (cert, key) = ca.issue(dir.path(), "broker", &["IP:127.0.0.1", "DNS:localhost"]);
                env.push(("KAFKA_TLS_CERT".into(), cert.display().to_string()));
                env.push(("KAFKA_TLS_KEY".into(), key.display().to_string()));
                kcat.push("security.protocol=sasl_ssl".into());
                kcat.push(format!("ssl.ca.location={}", ca.cert().display()));
            }
            None => kcat.push("security.protocol=sasl_plaintext".into()),
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let bootstrap = Self::run_start(dir.path(), None, &env);
        Self { dir, bootstrap, kcat }
    }

    fn kcat(&self) -> Command {
        let mut command = Command::new("kcat");
        command.args(["-b", &self.bootstrap]);
        for setting in &self.kcat {
            command.args(["-X", setting]);
        }
        command
    }

    /// One broker for every test of this process that leaves it running
    /// (each uses topics of its own); it stops when the process exits.
    pub fn shared() -> &'static Self {
        SHARED.get_or_init(Self::start)
    }

    fn run_start(dir: &Path, port: Option<u16>, env: &[(&str, &str)]) -> String {
        let mut command = Command::new(script("start"));
        command.envs(env.iter().copied());
        command.arg(dir);
        if let Some(port) = port {
            command.arg(port.to_string());
        }
        // The broker stops by itself once this process is gone, even when
        // no destructor runs (a static, a panic, a killed test binary).
        command.env("KAFKA_AUTO_CREATE", "false").env("KAFKA_PARENT_PID", std::process::id().to_string());
        let out = run(&mut command, "testing/kafka/start");
        String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    fn port(&self) -> u16 {
        self.bootstrap.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port")
    }

    /// Stops the broker (SIGTERM, a clean shutdown), or kills it.
    pub fn stop(&self, kill: bool) {
        let mut command = Command::new(script("stop"));
        command.arg(self.dir.path());
        if kill {
            command.arg("--kill");
        }
        run(&mut command, "testing/kafka/stop");
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&self) {
        Self::run_start(self.dir.path(), Some(self.port()), &[]);
    }

    /// A topic name no other test uses.
    pub fn topic(prefix: &str) -> String {
        format!("{prefix}-{:016x}", rand_u64())
    }

    /// Creates `topic` with `partitions` partitions (one replica), and waits
    /// until the broker serves it.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        use rdkafka::client::DefaultClientContext;
        let mut client = rdkafka::ClientConfig::new();
        client.set("bootstrap.servers", &self.bootstrap);
        for setting in &self.kcat {
            let (name, value) = setting.split_once('=').expect("name=value");
            client.set(name, value);
        }
        let admin: AdminClient<DefaultClientContext> = client.create().expect("an admin client");
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
        let results = admin.create_topics([&new], &options).await.expect("create_topics");
        for result in results {
            result.unwrap_or_else(|(name, code)| panic!("creating topic {name}: {code}"));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.kcat().args(["-L", "-t", topic, "-J"]).output().expect("kcat -L");
            let text = String::from_utf8_lossy(&out.stdout);
            let served = text.matches("\"leader\":").count() >= partitions as usize;
            if out.status.success() && served && !text.contains("\"err\"") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "topic {topic} never became available: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every record in `topic` now, read by kcat from the beginning.
    pub fn read_all(&self, topic: &str) -> Vec<Read> {
        let out = run(self.kcat().args(["-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J"]), "kcat -C");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("kcat -J line");
                let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
                let mut headers = BTreeMap::new();
                if let Some(list) = v["headers"].as_array() {
                    for pair in list.chunks(2) {
                        headers.insert(text(&pair[0]).unwrap_or_default(), text(&pair[1]).unwrap_or_default());
                    }
                }
                Read {
                    partition: v["partition"].as_i64().unwrap_or(-1) as i32,
                    offset: v["offset"].as_i64().unwrap_or(-1),
                    key: text(&v["key"]),
                    value: text(&v["payload"]),
                    headers,
                }
            })
            .collect()
    }

    /// Reads `topic` until it holds at least `count` records or `timeout`
    /// passes; returns what it holds.
    pub fn wait_for(&self, topic: &str, count: usize, timeout: Duration) -> Vec<Read> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.read_all(topic);
            if records.len() >= count || Instant::now() > deadline {
                return records;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Produces `lines` to `topic` with kcat (one record per line).
    pub fn kcat_produce(&self, topic: &str, lines: &[&str]) {
        use std::io::Write;
        let mut child =
            self.kcat().args(["-P", "-t", topic]).stdin(std::process::Stdio::piped()).spawn().expect("kcat -P");
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
        drop(stdin);
        assert!(child.wait().unwrap().success());
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        let _ = Command::new(script("stop")).arg(self.dir.path()).arg("--kill").output();
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}
