use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use attache_core::Limits;
use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// The Kafka ambassador's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Off: the module answers FAILED_PRECONDITION and opens no spool.
    pub enabled: bool,
    /// Bootstrap brokers, `host:port` separated by commas. Empty: records
    /// are spooled and nothing is delivered until brokers are set (readyz
    /// and the status page say so). `ATTACHE_KAFKA_BROKERS` sets it.
    pub brokers: String,
    /// Largest record (key, value and headers) accepted; keep it below the
    /// brokers' `message.max.bytes` (1 MiB by default) less batch overhead.
    pub max_record_bytes: ByteSize,
    /// Most headers on one record.
    pub max_headers: usize,
    /// Most records in one Produce call (or one ProduceStream message).
    pub max_records_per_call: usize,
    /// At shutdown, how long to keep delivering what is spooled before
    /// stopping; what is left stays spooled for the next start.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    pub spool: SpoolConfig,
    pub producer: ProducerConfig,
    pub security: SecurityConfig,
    pub consumer: ConsumerConfig,
    /// Per-topic settings, by exact topic name.
    pub topics: BTreeMap<String, TopicConfig>,
    /// Admission: requests in flight and requests queued behind them.
    pub limits: Limits,
}

/// The durable local spool every record goes through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Its directory, which one attache holds at a time (a lock file).
    /// Empty: `$XDG_STATE_HOME/attache/kafka-spool`, or
    /// `~/.local/state/attache/kafka-spool`.
    pub dir: PathBuf,
    /// When an acknowledged record is on disk: `always` (synced before the
    /// acknowledgement, which then survives a power cut; appends arriving
    /// during a sync share the next one), `interval` (synced within
    /// `fsync_interval` after: a process crash loses nothing, a power cut
    /// up to that interval) or `never` (left to the kernel: a process crash
    /// loses nothing, a power cut may lose more).
    pub fsync: FsyncMode,
    /// For `fsync = "interval"`.
    #[serde(with = "humantime_serde")]
    pub fsync_interval: Duration,
    /// Disk the spool may use; when full, a topic's `on_full` decides.
    pub max_bytes: ByteSize,
    /// Segment files are sealed at this size, and deleted once everything
    /// in them is delivered.
    pub segment_bytes: ByteSize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    Always,
    Interval,
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicConfig {
    /// When the spool is full: `block` refuses the record at once with
    /// RESOURCE_EXHAUSTED; `drop_oldest` drops the oldest spooled records
    /// of `drop_oldest` topics (whole segments, counted in
    /// `attache_kafka_dropped_total`) to make room.
    pub on_full: OnFull,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self { on_full: OnFull::Block }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    Block,
    DropOldest,
}

/// librdkafka's producer. Idempotence (acks=all, ordered retries) is always
/// on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// `lz4`, `zstd`, `snappy`, `gzip` or `none`.
    pub compression: Compression,
    /// How long a batch waits for more records (librdkafka `linger.ms`).
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    /// Largest batch per partition (librdkafka `batch.size`).
    pub batch_bytes: ByteSize,
    /// librdkafka's own queue, kept small: the spool is the buffer.
    pub queue_bytes: ByteSize,
    /// How long a topic the brokers say does not exist may take to appear
    /// (topic creation propagates asynchronously) before its records are
    /// refused as NOT_FOUND (librdkafka `topic.metadata.propagation.max.ms`).
    #[serde(with = "humantime_serde")]
    pub unknown_topic_timeout: Duration,
}

/// Consuming: Consume streams and Fetch leases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// Records received and not yet acknowledged, per Consume stream and
    /// per Fetch group, at most.
    pub max_unacked: usize,
    /// A member not heard from for this long leaves its group (Kafka's
    /// `session.timeout.ms`); with static membership, how long a
    /// reconnecting app keeps its partitions.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// How long a Fetch caller has to Commit before its records go to
    /// another caller, unless it asks for another time.
    #[serde(with = "humantime_serde")]
    pub lease_timeout: Duration,
    /// A group's shared Fetch consumer leaves the group after this long
    /// without a Fetch.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            max_unacked: 1000,
            session_timeout: Duration::from_secs(45),
            lease_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// How attache connects to the brokers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub protocol: Protocol,
    /// PEM file of the CAs that sign the brokers' certificates; unset: the
    /// system's trust store.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) and key, for brokers that ask for one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`, for the sasl protocols.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl Protocol {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            brokers: String::new(),
            max_record_bytes: ByteSize::kib(1000),
            max_headers: 64,
            max_records_per_call: 10_000,
            drain_timeout: Duration::from_secs(5),
            spool: SpoolConfig::default(),
            producer: ProducerConfig::default(),
            security: SecurityConfig::default(),
            consumer: ConsumerConfig::default(),
            topics: BTreeMap::new(),
            limits: Limits { max_in_flight: 256, max_queued: 1024 },
        }
    }
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            fsync: FsyncMode::Interval,
            fsync_interval: Duration::from_millis(100),
            max_bytes: ByteSize::gib(1),
            segment_bytes: ByteSize::mib(64),
        }
    }
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            compression: Compression::Lz4,
            linger: Duration::from_millis(5),
            batch_bytes: ByteSize::mib(1),
            queue_bytes: ByteSize::mib(32),
            unknown_topic_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            protocol: Protocol::Plaintext,
            ca_file: None,
            cert_file: None,
            key_file: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        let max_record = self.max_record_bytes.as_u64();
        if !(1024..=64 << 20).contains(&max_record) {
            return Err("kafka.max_record_bytes must be between 1 KiB and 64 MiB".into());
        }
        if self.max_records_per_call == 0 {
            return Err("kafka.max_records_per_call must be at least 1".into());
        }
        let spool = &self.spool;
        if spool.max_bytes.as_u64() < 4 * spool.segment_bytes.as_u64() {
            return Err("kafka.spool.max_bytes must be at least 4 times kafka.spool.segment_bytes".into());
        }
        if spool.segment_bytes.as_u64() < max_record + 64 {
            return Err("kafka.spool.segment_bytes must hold at least one record of kafka.max_record_bytes".into());
        }
        if spool.fsync == FsyncMode::Interval && spool.fsync_interval.is_zero() {
            return Err("kafka.spool.fsync_interval must be above zero".into());
        }
        if self.producer.queue_bytes.as_u64() < max_record {
            return Err("kafka.producer.queue_bytes must hold at least one record".into());
        }
        if self.consumer.max_unacked == 0 {
            return Err("kafka.consumer.max_unacked must be at least 1".into());
        }
        if self.consumer.session_timeout < Duration::from_secs(1) || self.consumer.lease_timeout.is_zero() {
            return Err("kafka.consumer.session_timeout must be at least 1s and lease_timeout above zero".into());
        }
        if let Some(topic) = self.topics.keys().find(|t| crate::record::check_topic(t).is_err()) {
            return Err(format!("kafka.topics: {topic:?} is not a valid topic name"));
        }
        let security = &self.security;
        if security.protocol.sasl() {
            match security.sasl_mechanism.as_deref() {
                Some("PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") => {}
                _ => {
                    return Err(
                        "kafka.security.sasl_mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with a sasl protocol"
                            .into(),
                    );
                }
            }
            if security.sasl_username.is_none() || security.sasl_password.is_none() {
                return Err("kafka.security.sasl_username and sasl_password are needed with a sasl protocol".into());
            }
        }
        if security.cert_file.is_some() != security.key_file.is_some() {
            return Err("kafka.security.cert_file and key_file go together".into());
        }
        Ok(())
    }

    /// The spool directory, with the empty default resolved.
    pub fn spool_dir(&self) -> PathBuf {
        if !self.spool.dir.as_os_str().is_empty() {
            return self.spool.dir.clone();
        }
        let state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("/var/lib"));
        state.join("attache/kafka-spool")
    }

    pub(crate) fn on_full(&self, topic: &str) -> OnFull {
        self.topics.get(topic).map_or(OnFull::Block, |t| t.on_full)
    }
}
