//! Moving spooled records into Kafka: one librdkafka producer per host
//! (idempotent, acks=all, infinite retries, murmur2 partitioning as Java
//! clients do), fed by one thread per spool lane that reads the spool in
//! order and hands records over without ever awaiting one delivery. A
//! record is released from the spool only in its delivery report, when
//! Kafka acknowledged it (or refused it for good, which is counted and
//! kept in `rejected.jsonl`). A fatal producer error replaces the producer,
//! and every lane reads again from its oldest unreleased record.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use attache_core::Kind;
use attache_spool::Spool;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer as _, ProducerContext, PurgeConfig, ThreadedProducer};

use crate::config::Config;
use crate::record::{ID_HEADER, Record};
use crate::service::Shared;

/// What a delivery report needs to find its record again.
pub(crate) struct Delivery {
    lane: usize,
    seq: u64,
    ticket: u64,
}

pub(crate) struct Context {
    shared: Arc<Shared>,
    /// Set by a fatal error: the producer must be replaced.
    fatal: Arc<AtomicBool>,
}

impl ClientContext for Context {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) || reason.contains("Fatal") {
            tracing::error!(%error, reason, "kafka: fatal producer error; replacing the producer");
            self.fatal.store(true, Ordering::Release);
        } else if self.shared.note_error(format!("{error}: {reason}")) {
            // Brokers that stay down repeat this every second: say it once
            // a minute; the status page has the latest.
            tracing::warn!(%error, reason, "kafka: producer error (records stay spooled)");
        }
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Box<Delivery>) {
        let shared = &self.shared;
        match result {
            Ok(message) => {
                shared.clear_error();
                shared.lanes[delivery.lane].release(delivery.seq);
                shared.metrics.delivered.inc();
                shared.complete(delivery.ticket, Ok((message.partition(), message.offset())));
            }
            Err((error, message)) => match classify(error) {
                Outcome::Purged => {}
                Outcome::Retry => {
                    tracing::warn!(%error, "kafka: a delivery failed; sending the unreleased records again");
                    shared.replay[delivery.lane].store(true, Ordering::Release);
                }
                Outcome::Refused(kind) => {
                    // What Kafka refused, as it was sent (kept in
                    // rejected.jsonl).
                    let record = Record {
                        topic: message.topic().to_owned(),
                        key: message.key().map(<[u8]>::to_vec),
                        value: message.payload().map(<[u8]>::to_vec),
                        headers: message
                            .headers()
                            .map(|h| {
                                h.iter()
                                    .filter(|h| h.key != ID_HEADER)
                                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        partition: None,
                        timestamp_ms: message.timestamp().to_millis(),
                        id: None,
                    };
                    let why = format!("Kafka refused a record for topic {:?}: {error}", record.topic);
                    shared.reject(delivery.lane, delivery.seq, delivery.ticket, &kind, &why, &record);
                }
            },
        }
    }
}

enum Outcome {
    /// Purged from a producer being replaced: the new one sends it again.
    Purged,
    /// Not expected with retries unbounded; send again.
    Retry,
    /// Kafka will never take it.
    Refused(Kind),
}

fn classify(error: &KafkaError) -> Outcome {
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(C::PurgeQueue | C::PurgeInflight) => Outcome::Purged,
        Some(C::UnknownTopic | C::UnknownTopicOrPartition | C::UnknownPartition) => Outcome::Refused(Kind::NotFound),
        Some(C::MessageSizeTooLarge | C::InvalidRecord | C::InvalidMessage | C::InvalidTimestamp) => {
            Outcome::Refused(Kind::InvalidArgument)
        }
        Some(C::TopicAuthorizationFailed | C::ClusterAuthorizationFailed) => Outcome::Refused(Kind::PermissionDenied),
        _ => Outcome::Retry,
    }
}

type Inner = ThreadedProducer<Context>;

/// The host's producer, replaced after a fatal error.
pub(crate) struct Producer {
    current: RwLock<Arc<Inner>>,
    /// Moves each time the producer is replaced: lanes then read again from
    /// their oldest unreleased record.
    generation: AtomicU64,
    fatal: Arc<AtomicBool>,
    client: ClientConfig,
    shared: Arc<Shared>,
    pub(crate) stopping: AtomicBool,
}

impl Producer {
    pub(crate) fn new(config: &Config, shared: Arc<Shared>) -> Result<Arc<Self>, String> {
        let client = client_config(config);
        let fatal = Arc::new(AtomicBool::new(false));
        let inner = build(&client, &shared, &fatal)?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(inner)),
            generation: AtomicU64::new(0),
            fatal,
            client,
            shared,
            stopping: AtomicBool::new(false),
        }))
    }

    fn current(&self) -> Arc<Inner> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the producer: what the old one held is purged (its records
    /// are still spooled) and every lane reads again from its watermark.
    pub(crate) fn replace(&self) {
        let old = self.current();
        old.purge(PurgeConfig::default().queue().inflight());
        match build(&self.client, &self.shared, &self.fatal) {
            Ok(new) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
                self.fatal.store(false, Ordering::Release);
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.shared.metrics.producer_restarts.inc();
            }
            Err(error) => tracing::error!(%error, "kafka: cannot create a new producer; retrying"),
        }
    }

    /// Raises a fatal error in the current producer through librdkafka's own
    /// test hook, as a broker fencing an idempotent producer would: the
    /// error callback sees it and the producer is replaced (tests).
    #[allow(unsafe_code)]
    pub(crate) fn inject_fatal(&self) {
        let producer = self.current();
        let reason = c"attache test: an injected fatal error";
        // SAFETY: the handle is the live producer's (`producer` holds it for
        // the call) and `reason` is NUL-terminated and outlives the call.
        unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                producer.client().native_ptr(),
                rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                reason.as_ptr(),
            );
        }
    }

    /// Waits up to `timeout` for what the producer holds to be delivered.
    pub(crate) fn flush(&self, timeout: Duration) {
        let _ = self.current().flush(timeout);
    }

    /// Feeds one lane's records to the producer until stopped. Runs on its
    /// own thread.
    pub(crate) fn feed(self: Arc<Self>, lane: usize, spool: Spool) {
        let mut reader = spool.reader();
        let mut generation = self.generation.load(Ordering::Acquire);
        let id = format!("{:016x}", spool.id());
        while !self.stopping.load(Ordering::Acquire) {
            // The error callback flags a fatal error; librdkafka also keeps
            // it on the handle, should the callback have missed it.
            if lane == 0 && (self.fatal.load(Ordering::Acquire) || self.current().client().fatal_error().is_some()) {
                self.replace();
            }
            let now = self.generation.load(Ordering::Acquire);
            if now != generation || self.shared.replay[lane].swap(false, Ordering::AcqRel) {
                generation = now;
                reader.rewind();
            }
            let batch = match reader.next_batch(1024, 4 << 20, Duration::from_millis(100)) {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(%error, "kafka: reading the spool failed");
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            };
            let producer = self.current();
            for record in batch {
                if !self.send(&producer, lane, &id, record) {
                    // Stopping, or the producer is being replaced.
                    break;
                }
            }
        }
        drop(reader);
    }

    /// Hands one record to librdkafka, waiting while its queue is full;
    /// false if it had to give up (stopping or a new producer).
    fn send(&self, producer: &Inner, lane: usize, id: &str, spooled: attache_spool::Record) -> bool {
        let Some((record, ticket)) = Record::decode(&spooled.payload) else {
            let why = "the spooled record is unreadable by this build";
            let unreadable = Record { topic: "?".into(), value: Some(spooled.payload.clone()), ..Record::default() };
            self.shared.reject(lane, spooled.seq, 0, &Kind::Internal, why, &unreadable);
            return true;
        };
        let attache_id = record.id.clone().unwrap_or_else(|| format!("{id}-{}", spooled.seq));
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + 1);
        for (key, value) in &record.headers {
            headers = headers.insert(Header { key, value: value.as_deref() });
        }
        headers = headers.insert(Header { key: ID_HEADER, value: Some(attache_id.as_bytes()) });
        let delivery = Box::new(Delivery { lane, seq: spooled.seq, ticket });
        let mut base: BaseRecord<'_, [u8], [u8], Box<Delivery>> =
            BaseRecord::with_opaque_to(&record.topic, delivery).headers(headers);
        if let Some(key) = record.key.as_deref() {
            base = base.key(key);
        }
        if let Some(value) = record.value.as_deref() {
            base = base.payload(value);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        if let Some(timestamp) = record.timestamp_ms {
            base = base.timestamp(timestamp);
        }
        loop {
            match producer.send(base) {
                Ok(()) => return true,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if self.stopping.load(Ordering::Acquire) || self.fatal.load(Ordering::Acquire) {
                        return false;
                    }
                    base = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, back)) => match classify(&error) {
                    // Only an error known to be permanent lets a record go.
                    Outcome::Refused(kind) => {
                        let why = format!("Kafka cannot take a record for topic {:?}: {error}", record.topic);
                        let delivery = back.delivery_opaque;
                        self.shared.reject(lane, delivery.seq, delivery.ticket, &kind, &why, &record);
                        return true;
                    }
                    // A fatal error (the producer must be replaced) or one
                    // not known: the record stays spooled; stop the batch,
                    // and the lane reads again from its watermark.
                    _ => {
                        if producer.client().fatal_error().is_some() {
                            self.fatal.store(true, Ordering::Release);
                        } else {
                            tracing::warn!(%error, "kafka: librdkafka refused a record for now; it stays spooled");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        self.shared.replay[lane].store(true, Ordering::Release);
                        return false;
                    }
                },
            }
        }
    }
}

fn build(client: &ClientConfig, shared: &Arc<Shared>, fatal: &Arc<AtomicBool>) -> Result<Inner, String> {
    let context = Context { shared: shared.clone(), fatal: fatal.clone() };
    client.create_with_context(context).map_err(|e| format!("cannot create the Kafka producer: {e}"))
}

fn client_config(config: &Config) -> ClientConfig {
    let p = &config.producer;
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "attache")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // The spool holds records for as long as Kafka is away; librdkafka
        // never gives up on one (a timed-out record would need sending
        // again, out of order).
        .set("message.timeout.ms", "0")
        .set("partitioner", "murmur2_random")
        .set("compression.type", p.compression.name())
        .set("linger.ms", p.linger.as_millis().to_string())
        .set("batch.size", p.batch_bytes.as_u64().min(i32::MAX as u64).to_string())
        .set("queue.buffering.max.kbytes", (p.queue_bytes.as_u64() / 1024).max(1).to_string())
        .set("queue.buffering.max.messages", "100000")
        .set("topic.metadata.propagation.max.ms", p.unknown_topic_timeout.as_millis().to_string())
        .set("message.max.bytes", (config.max_record_bytes.as_u64() + (64 << 10)).to_string());
    security(config, &mut client);
    client
}

/// TLS and SASL settings, the same for producers and consumers.
pub(crate) fn security(config: &Config, client: &mut ClientConfig) {
    let s = &config.security;
    client.set("security.protocol", s.protocol.name());
    if let Some(ca) = &s.ca_file {
        client.set("ssl.ca.location", ca.display().to_string());
    }
    if let (Some(cert), Some(key)) = (&s.cert_file, &s.key_file) {
        client.set("ssl.certificate.location", cert.display().to_string());
        client.set("ssl.key.location", key.display().to_string());
    }
    if let Some(mechanism) = &s.sasl_mechanism {
        client.set("sasl.mechanisms", mechanism);
    }
    if let Some(user) = &s.sasl_username {
        client.set("sasl.username", user);
    }
    if let Some(password) = &s.sasl_password {
        client.set("sasl.password", password);
    }
}
