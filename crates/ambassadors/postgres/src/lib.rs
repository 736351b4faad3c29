//! The PostgreSQL ambassador: one pool of connections shared by every
//! process on the host, typed values in and out, interactive transactions,
//! and a caller's deadline that reaches the database.
//!
//! Key decision: a pooled connection is lent to one caller at a time and
//! returned only when that caller finished cleanly. Statements that would
//! leave session state behind are refused outside a transaction (and the
//! session is reset after one that did), and a caller who leaves
//! mid-statement gets it cancelled on the server and its connection
//! closed, so nothing of one caller's reaches the next. Values travel by
//! wire representation (exact numeric text, 64-bit integers, microsecond
//! timestamps with infinities), decoded here from the binary format;
//! parameters go as text for the server to infer their types.
#![forbid(unsafe_code)]

mod bus;
mod cache;
mod config;
mod deps;
mod error;
mod insert;
mod outbox;
mod pool;
mod replication;
mod service;
mod sql;
mod tls;
mod transaction;
mod value;

pub use cache::{Table, Touched};
pub use config::{CacheConfig, Config, InsertConfig, Invalidation, TransactionConfig};
pub use error::{DbFacts, Error};
pub use insert::{Inserted, OnConflict, Shape};
pub use outbox::{After, OutboxConfig, OutboxRow, Publish, Published};
pub use service::{
    Column, InvalidationHook, Origin, Param, Queried, QueryOptions, QueryResult, Service, Sharing, Statement, Watch,
};
pub use transaction::{Isolation, TxOptions};
pub use value::{Array, Infinite, Value, uuid_text};
