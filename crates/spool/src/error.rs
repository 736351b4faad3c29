use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the spool is full ({max} bytes); records are refused until deliveries free room")]
    Full { max: u64 },
    #[error("a record of {size} bytes is over the spool's limit of {max}")]
    TooLarge { size: usize, max: u32 },
    #[error("spool I/O failed while {during}: {source}; the records were not spooled")]
    Io {
        during: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the spool is closed")]
    Closed,
}

impl Error {
    pub(crate) fn io(during: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { during, source }
    }

    /// A full spool or an oversized record will be refused again as it is.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Io { .. })
    }

    /// The disk (not the spool's own budget) ran out of space.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.raw_os_error() == Some(28))
    }
}
