//! attache's configuration, loaded from a TOML file, then `ATTACHE_*`
//! environment variables, then command-line flags (flags win).
//!
//! Key decision: every layer is merged as TOML before one typed
//! deserialization, so a value has the same syntax and the same error
//! message whichever layer it came from, and environment variable names are
//! derived from the config's own field paths
//! (`password.argon2.memory_kib` is `ATTACHE_PASSWORD_ARGON2_MEMORY_KIB`)
//! instead of a hand-kept list that drifts. Environment access goes through
//! the [`Env`] trait so tests never touch the process environment.
#![forbid(unsafe_code)]

mod env;
mod error;
mod load;

use serde::{Deserialize, Serialize};

pub use env::{Env, MapEnv, ProcessEnv};
pub use error::Error;
pub use load::{Flags, Loaded};

/// The whole configuration. Each section is the owning crate's own type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The API socket and request limits.
    pub server: attache_server::Config,
    /// The admin HTTP listener.
    pub admin: attache_server::AdminConfig,
    /// Logging.
    pub log: Log,
    /// The password offloader.
    pub password: attache_password::Config,
    /// The Redis/Valkey ambassador.
    pub redis: attache_redis::Config,
    /// The image offloader.
    pub image: attache_image::Config,
    /// The PostgreSQL ambassador.
    pub postgres: attache_postgres::Config,
    /// The Kafka ambassador.
    pub kafka: attache_kafka::Config,
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,attache_server=debug`.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The documented default configuration, as `attache config default`
/// prints it. A test keeps it equal to [`Config::default`].
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

impl Config {
    /// Checks the constraints serde cannot express.
    pub fn validate(&self) -> Result<(), Error> {
        // Exhaustive: a new section without its check does not compile.
        let Self { server, admin, log: _, password, redis, image, postgres, kafka } = self;
        server.validate().map_err(Error::Invalid)?;
        admin.parse().map_err(Error::Invalid)?;
        password.validate().map_err(Error::Invalid)?;
        redis.validate().map_err(Error::Invalid)?;
        image.validate().map_err(Error::Invalid)?;
        postgres.validate().map_err(Error::Invalid)?;
        kafka.validate().map_err(Error::Invalid)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
