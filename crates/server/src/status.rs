//! The one place where errors become wire statuses.

use attache_core::{Error, Kind};
use connectrpc::{ConnectError, ErrorCode};

/// Maps a module error to the gRPC/Connect status the client sees. Every
/// error a module returns passes through here, so the code table in
/// ARCHITECTURE.md is this match.
pub fn status(err: &Error) -> ConnectError {
    let code = match err.kind() {
        Kind::InvalidArgument => ErrorCode::InvalidArgument,
        Kind::ResourceExhausted => ErrorCode::ResourceExhausted,
        Kind::Unavailable => ErrorCode::Unavailable,
        Kind::FailedPrecondition => ErrorCode::FailedPrecondition,
        Kind::PermissionDenied => ErrorCode::PermissionDenied,
        Kind::Unimplemented => ErrorCode::Unimplemented,
        Kind::DeadlineExceeded => ErrorCode::DeadlineExceeded,
        Kind::Cancelled => ErrorCode::Canceled,
        Kind::Internal => ErrorCode::Internal,
    };
    ConnectError::new(code, err.message())
}

/// Shorthand for handlers: a module error into a status.
pub(crate) fn reject(err: impl Into<Error>) -> ConnectError {
    status(&err.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_standard_code() {
        let cases = [
            (Kind::InvalidArgument, 3),
            (Kind::ResourceExhausted, 8),
            (Kind::Unavailable, 14),
            (Kind::FailedPrecondition, 9),
            (Kind::PermissionDenied, 7),
            (Kind::Unimplemented, 12),
            (Kind::DeadlineExceeded, 4),
            (Kind::Cancelled, 1),
            (Kind::Internal, 13),
        ];
        for (kind, grpc) in cases {
            let status = status(&Error::new(kind, "why"));
            assert_eq!(status.code.grpc_code(), grpc, "{kind}");
            assert_eq!(status.message.as_deref(), Some("why"));
        }
    }
}
