use std::fmt;

/// What went wrong, in the terms the server maps to a status code.
///
/// The set is deliberately small: it is the contract between module crates
/// and `attache-server`'s single mapping function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The request was malformed or violates a limit of its own
    /// (oversized password, unknown hash format, ...).
    InvalidArgument,
    /// The sidecar is overloaded (queue full) or a configured resource limit
    /// was hit.
    ResourceExhausted,
    /// A backend is down or the sidecar is shutting down; retrying later may
    /// succeed.
    Unavailable,
    /// The module is not configured.
    FailedPrecondition,
    /// A backend refused the caller something it is not allowed (an ACL).
    PermissionDenied,
    /// A valid request for something this build does not do (an output
    /// format not compiled in, say).
    Unimplemented,
    /// The caller's deadline passed before the work could finish.
    DeadlineExceeded,
    /// The caller went away.
    Cancelled,
    /// A bug: a panic or an invariant broken inside attache.
    Internal,
}

impl Kind {
    /// A stable lowercase name, used in logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::InvalidArgument => "invalid_argument",
            Kind::ResourceExhausted => "resource_exhausted",
            Kind::Unavailable => "unavailable",
            Kind::FailedPrecondition => "failed_precondition",
            Kind::PermissionDenied => "permission_denied",
            Kind::Unimplemented => "unimplemented",
            Kind::DeadlineExceeded => "deadline_exceeded",
            Kind::Cancelled => "canceled",
            Kind::Internal => "internal",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error leaving a module, ready to be mapped to a status at the edge.
///
/// Messages are lowercase and say what was wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: Kind,
    message: String,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}
