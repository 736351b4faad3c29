use attache_core::{Detail, Kind};

/// Why a Kafka call failed. Each maps to one [`Kind`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error(
        "the Kafka spool is full ({max} bytes spooled and undelivered); records are refused until deliveries free room (kafka.spool.max_bytes)"
    )]
    SpoolFull { max: u64 },
    #[error("the disk under the Kafka spool is full: {0}; nothing of this call was spooled")]
    DiskFull(String),
    #[error("the Kafka spool cannot be written: {0}; nothing of this call was spooled")]
    Spool(String),
    #[error("the Kafka module is not available: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Precondition(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Exhausted(String),
    /// Kafka refused the record for good (ACK_DELIVERED only).
    #[error("{message}")]
    Rejected { kind: Kind, message: String },
    #[error("the sidecar is shutting down; what was acknowledged stays spooled for the next start")]
    ShuttingDown,
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::Invalid { .. } => Kind::InvalidArgument,
            Self::SpoolFull { .. } | Self::DiskFull(_) => Kind::ResourceExhausted,
            Self::Spool(_) | Self::Unavailable(_) | Self::ShuttingDown => Kind::Unavailable,
            Self::Precondition(_) => Kind::FailedPrecondition,
            Self::NotFound(_) => Kind::NotFound,
            Self::Exhausted(_) => Kind::ResourceExhausted,
            Self::Rejected { kind, .. } => *kind,
        }
    }
}

impl From<attache_spool::Error> for Error {
    fn from(e: attache_spool::Error) -> Self {
        match e {
            attache_spool::Error::Full { max } => Self::SpoolFull { max },
            attache_spool::Error::TooLarge { size, max } => {
                Self::invalid("records", format!("a record of {size} bytes is over the limit of {max}"))
            }
            attache_spool::Error::Closed => Self::ShuttingDown,
            e if e.is_disk_full() => Self::DiskFull(e.to_string()),
            e => Self::Spool(e.to_string()),
        }
    }
}

impl From<Error> for attache_core::Error {
    fn from(e: Error) -> Self {
        let error = attache_core::Error::new(e.kind(), e.to_string());
        match e {
            Error::Invalid { field, .. } => {
                error.with_detail(Detail::new("kafka", "invalid_field").field("field", Some(field)))
            }
            _ => error,
        }
    }
}
