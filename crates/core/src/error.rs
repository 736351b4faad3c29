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
    /// What the request names does not exist (an unknown or ended
    /// transaction id).
    NotFound,
    /// What the request would create exists already (a unique violation).
    AlreadyExists,
    /// The work was aborted by a conflict with concurrent work (a
    /// serialization failure, a deadlock); retrying the whole unit of work
    /// may succeed.
    Aborted,
    /// A value is outside the range its type or the backend accepts.
    OutOfRange,
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
            Kind::NotFound => "not_found",
            Kind::AlreadyExists => "already_exists",
            Kind::Aborted => "aborted",
            Kind::OutOfRange => "out_of_range",
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

/// Facts about an error that a caller can act on without parsing its
/// message: for Postgres the SQLSTATE, the constraint, the table. The edge
/// sends them in every protocol as an `attache.sidecar.v1.ErrorInfo` error
/// detail, and the SDKs expose them as fields of their error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// The module that raised it, e.g. `postgres`.
    pub domain: &'static str,
    /// A stable, machine-readable reason, e.g. `unique_violation`.
    pub reason: String,
    /// Named facts, in the order the backend gave them.
    pub fields: Vec<(&'static str, String)>,
}

impl Detail {
    pub fn new(domain: &'static str, reason: impl Into<String>) -> Self {
        Self { domain, reason: reason.into(), fields: Vec::new() }
    }

    /// Adds `name = value` unless `value` is absent or empty.
    pub fn field(mut self, name: &'static str, value: Option<impl Into<String>>) -> Self {
        if let Some(value) = value.map(Into::into).filter(|v| !v.is_empty()) {
            self.fields.push((name, value));
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
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
    // Boxed: most errors carry none, and `Result<T, Error>` stays small.
    detail: Option<Box<Detail>>,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), detail: None }
    }

    pub fn with_detail(mut self, detail: Detail) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    pub fn detail(&self) -> Option<&Detail> {
        self.detail.as_deref()
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}
