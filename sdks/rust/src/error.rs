//! One error type for every call: the sidecar's status (or the transport's,
//! in the same codes), or a Redis error reply.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use buffa::Message as _;

/// A Connect / gRPC status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // The codes are the protocol's, documented there.
pub enum Code {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

const NAMES: [(Code, &str); 16] = [
    (Code::Canceled, "canceled"),
    (Code::Unknown, "unknown"),
    (Code::InvalidArgument, "invalid_argument"),
    (Code::DeadlineExceeded, "deadline_exceeded"),
    (Code::NotFound, "not_found"),
    (Code::AlreadyExists, "already_exists"),
    (Code::PermissionDenied, "permission_denied"),
    (Code::ResourceExhausted, "resource_exhausted"),
    (Code::FailedPrecondition, "failed_precondition"),
    (Code::Aborted, "aborted"),
    (Code::OutOfRange, "out_of_range"),
    (Code::Unimplemented, "unimplemented"),
    (Code::Internal, "internal"),
    (Code::Unavailable, "unavailable"),
    (Code::DataLoss, "data_loss"),
    (Code::Unauthenticated, "unauthenticated"),
];

impl Code {
    /// The Connect name, e.g. `"invalid_argument"`.
    pub fn as_str(self) -> &'static str {
        NAMES.iter().find(|(c, _)| *c == self).map_or("unknown", |(_, n)| n)
    }

    /// The code of a Connect name; `Unknown` for a name it does not know.
    pub fn from_name(name: &str) -> Code {
        NAMES.iter().find(|(_, n)| *n == name).map_or(Code::Unknown, |(c, _)| *c)
    }

    /// The code an HTTP status means when a reply carries no Connect error
    /// (the Connect protocol's mapping).
    pub(crate) fn from_http(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502..=504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    fn from_connect(code: connectrpc::ErrorCode) -> Code {
        use connectrpc::ErrorCode as E;
        match code {
            E::Canceled => Code::Canceled,
            E::InvalidArgument => Code::InvalidArgument,
            E::DeadlineExceeded => Code::DeadlineExceeded,
            E::NotFound => Code::NotFound,
            E::AlreadyExists => Code::AlreadyExists,
            E::PermissionDenied => Code::PermissionDenied,
            E::ResourceExhausted => Code::ResourceExhausted,
            E::FailedPrecondition => Code::FailedPrecondition,
            E::Aborted => Code::Aborted,
            E::OutOfRange => Code::OutOfRange,
            E::Unimplemented => Code::Unimplemented,
            E::Internal => Code::Internal,
            E::Unavailable => Code::Unavailable,
            E::DataLoss => Code::DataLoss,
            E::Unauthenticated => Code::Unauthenticated,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sidecar answered with an error status, or the call could not
    /// reach it (`Unavailable`), or its deadline passed
    /// (`DeadlineExceeded`).
    #[error("{code}: {message}")]
    Status {
        /// The code.
        code: Code,
        /// What went wrong, for people.
        message: String,
        /// The stable machine-readable reason of the sidecar's `ErrorInfo`
        /// detail (e.g. `"UNIQUE_VIOLATION"`), and its metadata (for
        /// Postgres: `sqlstate`, `constraint`, ...).
        reason: Option<String>,
        /// The `ErrorInfo`'s metadata.
        metadata: HashMap<String, String>,
    },
    /// Redis answered the command with an error reply, e.g. `WRONGTYPE ...`.
    #[error("redis: {0}")]
    Redis(String),
}

impl Error {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Error {
        Error::Status { code, message: message.into(), reason: None, metadata: HashMap::new() }
    }

    /// The status code; `Unknown` for a Redis error reply, which is Redis's
    /// answer rather than a failed call.
    pub fn code(&self) -> Code {
        match self {
            Error::Status { code, .. } => *code,
            Error::Redis(_) => Code::Unknown,
        }
    }

    /// The message, for people.
    pub fn message(&self) -> &str {
        match self {
            Error::Status { message, .. } => message,
            Error::Redis(message) => message,
        }
    }

    /// The `ErrorInfo` reason the sidecar gave, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Status { reason, .. } => reason.as_deref(),
            Error::Redis(_) => None,
        }
    }

    /// A metadata value of the sidecar's `ErrorInfo`, e.g. `"sqlstate"`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        match self {
            Error::Status { metadata, .. } => metadata.get(key).map(String::as_str),
            Error::Redis(_) => None,
        }
    }

    /// Whether the same call may succeed if sent again later: the sidecar
    /// or its backend is unavailable, or a limit is exhausted for now.
    /// (The client retries by itself only idempotent calls, only on
    /// `Unavailable`.)
    pub fn is_retryable(&self) -> bool {
        matches!(self.code(), Code::Unavailable | Code::ResourceExhausted)
    }

    /// The Connect error of a unary reply's JSON body (`{"code", "message",
    /// "details": [{"type", "value"}]}`), or the HTTP status's code.
    pub(crate) fn from_connect_body(status: u16, body: &[u8]) -> Error {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Error::new(Code::from_http(status), format!("HTTP {status} from the sidecar"));
        };
        let code = json["code"].as_str().filter(|c| !c.is_empty()).map_or(Code::from_http(status), Code::from_name);
        let message = match json["message"].as_str() {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => format!("HTTP {status} from the sidecar"),
        };
        let mut error = Error::new(code, message);
        if let Some(details) = json["details"].as_array() {
            for d in details {
                if d["type"].as_str() != Some("attache.sidecar.v1.ErrorInfo") {
                    continue;
                }
                error = error.with_info(d["value"].as_str().unwrap_or_default());
            }
        }
        error
    }

    /// An error a connectrpc stream reported.
    pub(crate) fn from_connect(e: connectrpc::ConnectError) -> Error {
        let code = Code::from_connect(e.code);
        let message = e.message.clone().unwrap_or_else(|| e.to_string());
        let mut error = Error::new(code, message);
        for d in e.details.iter() {
            if d.type_url.ends_with("attache.sidecar.v1.ErrorInfo") {
                error = error.with_info(d.value.as_deref().unwrap_or_default());
            }
        }
        error
    }

    /// Adds the reason and metadata of an `ErrorInfo` detail (base64, padded
    /// or not).
    fn with_info(mut self, value: &str) -> Error {
        let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
        let Ok(bytes) = engine.decode(value.trim_end_matches('=')) else {
            return self;
        };
        let Ok(info) = attache_proto::attache::sidecar::v1::ErrorInfo::decode_from_slice(&bytes) else {
            return self;
        };
        if let Error::Status { reason, metadata, .. } = &mut self {
            *reason = Some(info.reason).filter(|r| !r.is_empty());
            *metadata = info.metadata.into_iter().collect();
        }
        self
    }
}

/// What calls return.
pub type Result<T, E = Error> = std::result::Result<T, E>;
