//! The shared vocabulary of attache's crates.
//!
//! Module crates return errors that carry a [`Kind`]; the server maps each
//! kind to a gRPC/Connect code in exactly one function. Keeping the kinds
//! here, rather than status codes, is the key decision: module crates never
//! learn about protobuf or the wire protocols, so a module can be tested and
//! reused without the server.
#![forbid(unsafe_code)]

mod error;
mod limits;
mod module;

pub use error::{Detail, Error, Kind};
pub use limits::Limits;
pub use module::{Module, Stopping};
