use std::path::PathBuf;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("another process is serving on {0}; stop it or choose another server.socket")]
    SocketInUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// Another user could take the socket at this path (see `listener.rs`).
    #[error("refusing {path}: {reason}")]
    UnsafeSocketPath { path: PathBuf, reason: String },
    #[error("cannot bind {what}: {source}")]
    Bind { what: String, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Config(String),
}
