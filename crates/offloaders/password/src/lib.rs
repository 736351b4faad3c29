//! The password offloader: hash and verify passwords with argon2id, bcrypt
//! or scrypt on a dedicated thread pool.
//!
//! Key decision: the output is always the standard string form (PHC for
//! argon2 and scrypt, modular crypt for bcrypt), and verification follows
//! what the reference implementations do byte for byte — PHP's
//! `password_verify` for bcrypt's 72-byte and NUL-byte quirks — so hashes
//! move freely between attache and the stacks an application already has.
//! Every cost a request or a stored hash asks for is checked against
//! configured ceilings before any work starts, so a hostile hash string
//! cannot make one request allocate gigabytes.
#![forbid(unsafe_code)]

mod algorithm;
mod argon;
mod bcrypt_mcf;
mod ceilings;
mod config;
mod error;
mod scrypt_phc;
mod service;

pub use algorithm::{Algorithm, HashOptions, Verification};
pub use config::{Argon2Params, BcryptParams, Ceilings, Config, ScryptParams};
pub use error::Error;
pub use service::Service;
