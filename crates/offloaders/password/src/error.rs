use attache_core::Kind;

/// What can go wrong hashing or verifying a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("password is {len} bytes, over the limit of {max} bytes (password.max_password_bytes)")]
    PasswordTooLong { len: usize, max: usize },
    #[error(
        "bcrypt uses at most 72 bytes of a password and this one is {len} bytes; \
         hash it with argon2id instead, or shorten it"
    )]
    BcryptTooLong { len: usize },
    #[error("bcrypt cannot hash a password containing a NUL byte; use argon2id instead")]
    BcryptNul,
    #[error("the hash is not in a recognised form ({0}); expected $argon2id$, $argon2i$, $2a$/$2b$/$2y$ or $scrypt$")]
    UnknownFormat(String),
    #[error("the hash is malformed: {0}")]
    Malformed(String),
    /// Names the cost, the `password.ceilings` setting it exceeds and what to do.
    #[error("{0}")]
    TooCostly(String),
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    #[error("the password queue is full; retry later or raise password.limits")]
    Overloaded,
    #[error("the deadline passed before a hashing thread was free")]
    DeadlineExceeded,
    #[error("the password module is shutting down")]
    ShuttingDown,
    #[error("internal error while hashing: {0}")]
    Internal(String),
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::PasswordTooLong { .. }
            | Error::BcryptTooLong { .. }
            | Error::BcryptNul
            | Error::UnknownFormat(_)
            | Error::Malformed(_)
            | Error::TooCostly(_)
            | Error::InvalidParams(_) => Kind::InvalidArgument,
            Error::Overloaded => Kind::ResourceExhausted,
            Error::DeadlineExceeded => Kind::DeadlineExceeded,
            Error::ShuttingDown => Kind::Unavailable,
            Error::Internal(_) => Kind::Internal,
        }
    }
}

impl From<attache_pool::Error> for Error {
    fn from(err: attache_pool::Error) -> Self {
        match err {
            attache_pool::Error::Full { .. } => Error::Overloaded,
            attache_pool::Error::Expired => Error::DeadlineExceeded,
            attache_pool::Error::Closed => Error::ShuttingDown,
            attache_pool::Error::Panicked => Error::Internal("the hashing job panicked".into()),
        }
    }
}

impl From<Error> for attache_core::Error {
    fn from(err: Error) -> Self {
        attache_core::Error::new(err.kind(), err.to_string())
    }
}
