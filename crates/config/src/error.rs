use std::path::PathBuf;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    File { path: PathBuf, message: String },
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error("{0}")]
    Invalid(String),
}
