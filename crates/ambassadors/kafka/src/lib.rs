//! The Kafka ambassador: apps hand records to attache, which spools them
//! durably on the host and delivers them through one idempotent librdkafka
//! producer, batched and compressed.
//!
//! Key decision: **a record is acknowledged once it is in the spool, and
//! leaves the spool only on Kafka's acknowledgement** (a delivery report),
//! never when librdkafka merely queued it. So nothing acknowledged is lost
//! while Kafka is down or when attache is killed: a restart sends again
//! every record not yet released, each with its `attache-id` header
//! unchanged, for consumers to drop duplicates. librdkafka's own queue is
//! kept small; the spool is the buffer, bounded on disk.
// No unsafe code but one call: librdkafka's hook that raises a fatal
// producer error, so tests can drive the replacement a real one triggers.
#![deny(unsafe_code)]

mod config;
mod consume;
mod error;
mod member;
mod metrics;
mod producer;
mod record;
mod service;

pub use config::{
    Compression, Config, ConsumerConfig, FsyncMode, OnFull, ProducerConfig, Protocol, SecurityConfig, SpoolConfig,
    TopicConfig,
};
pub use consume::{Committed, Event, FetchRequest, Lease, Position, Subscription};
pub use error::Error;
pub use member::{Change, Consumed, Start};
pub use record::{ID_HEADER, Record};
pub use service::{Ack, Pending, Produced, Service};
