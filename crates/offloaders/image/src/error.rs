use attache_core::Kind;

/// What can go wrong probing, decoding, resizing or encoding an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the input is not a JPEG, PNG or WebP image ({0})")]
    NotAnImage(String),
    #[error("the {format} image is truncated or corrupt: {detail}")]
    Corrupt { format: &'static str, detail: String },
    #[error("unsupported {format} image: {detail}")]
    Unsupported { format: &'static str, detail: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    #[error("the image queue is full; retry later or raise image.limits")]
    Overloaded,
    #[error("the deadline passed before an image thread was free")]
    DeadlineExceeded,
    #[error("the image module is shutting down")]
    ShuttingDown,
    #[error("internal error while processing the image: {0}")]
    Internal(String),
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::NotAnImage(_) | Error::Corrupt { .. } | Error::Unsupported { .. } | Error::InvalidParams(_) => {
                Kind::InvalidArgument
            }
            Error::TooLarge(_) | Error::Overloaded => Kind::ResourceExhausted,
            Error::DeadlineExceeded => Kind::DeadlineExceeded,
            Error::ShuttingDown => Kind::Unavailable,
            Error::Internal(_) => Kind::Internal,
        }
    }

    pub(crate) fn corrupt(format: &'static str, detail: impl ToString) -> Self {
        Error::Corrupt { format, detail: detail.to_string() }
    }

    pub(crate) fn unsupported(format: &'static str, detail: impl ToString) -> Self {
        Error::Unsupported { format, detail: detail.to_string() }
    }
}

impl From<attache_pool::Error> for Error {
    fn from(err: attache_pool::Error) -> Self {
        match err {
            attache_pool::Error::Full { .. } => Error::Overloaded,
            attache_pool::Error::Expired => Error::DeadlineExceeded,
            attache_pool::Error::Closed => Error::ShuttingDown,
            attache_pool::Error::Panicked => Error::Internal("the image job panicked".into()),
        }
    }
}

impl From<Error> for attache_core::Error {
    fn from(err: Error) -> Self {
        attache_core::Error::new(err.kind(), err.to_string())
    }
}
