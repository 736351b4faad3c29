//! attache's edge: the listeners, the three wire protocols, the layers every
//! request passes through, the conversion between protobuf and domain types,
//! and the mapping of errors to statuses.
//!
//! Key decision: one tower service from the `connectrpc` crate answers gRPC
//! (h2c), Connect (HTTP/1.1 and h2, JSON and binary) and gRPC-Web on the same
//! socket, chosen over tonic plus a hand-written Connect layer by a measured
//! spike (ARCHITECTURE.md). Cross-cutting behaviour lives in one interceptor
//! (`edge.rs`) so that errors it raises are encoded correctly for whichever
//! protocol the caller speaks. This crate and `attache-proto` are the only
//! ones that know protobuf.
#![forbid(unsafe_code)]

mod admin;
mod admission;
mod config;
mod edge;
mod error;
mod gate;
mod listener;
mod metrics;
mod modules;
mod serve;
mod socket_path;
mod status;
mod timed;
mod trace_context;

pub use config::{AdminConfig, AdminListen, Config};
pub use error::Error;
pub use modules::Modules;
pub use serve::Server;
pub use status::status;
