//! The Redis/Valkey ambassador: every app process on the host shares one
//! set of pipelined RESP3 connections and one client-side cache that Redis
//! keeps correct by invalidation.
//!
//! Key decision: attache owns the connection layer and its RESP3 parser
//! instead of wrapping a client library, because correct
//! client-side caching needs control that client libraries do not expose:
//! the invalidation pushes must be read on the same connection as the
//! tracked reads, and a fetched value must be stored in the cache by the
//! reader, in order, before any later push on that connection is applied
//! (see `connection.rs`). Like rueidis, concurrent commands are written
//! together with no flush timer, blocking commands and transactions use
//! dedicated connections, and pub/sub has a connection of its own.
#![forbid(unsafe_code)]

mod address;
mod client_cache;
mod command;
mod config;
mod connection;
mod dedicated;
mod error;
mod pubsub;
mod resp;
mod service;
mod shared;
mod tls;
mod value;

pub use address::Address;
pub use config::{CacheConfig, Config, TlsConfig};
pub use error::Error;
pub use pubsub::{Message, Subscription};
pub use service::{Cached, CachedMany, Service};
pub use value::Value;
