//! A bounded pool of dedicated OS threads for CPU-heavy work (hashing,
//! image codecs), awaited from async handlers.
//!
//! Key decision: CPU work never runs on the async runtime's worker threads,
//! not even through `spawn_blocking`, whose pool is unbounded in queue length
//! and shared with file IO. Here the threads are ours, the queue has a fixed
//! capacity, and a full queue is refused at once ([`Error::Full`]) so the
//! caller can answer `RESOURCE_EXHAUSTED` instead of building latency.
//! Work whose deadline passed while it waited, or whose caller went away, is
//! dropped without running.
#![forbid(unsafe_code)]

mod error;
mod metrics;
mod pool;

pub use error::Error;
pub use metrics::Metrics;
pub use pool::Pool;
