//! The one place where errors become wire statuses.

use attache_core::{Detail, Error, Kind};
use attache_proto::attache::sidecar::v1::ErrorInfo;
use connectrpc::{ConnectError, ErrorCode, ErrorDetail};

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
        Kind::NotFound => ErrorCode::NotFound,
        Kind::AlreadyExists => ErrorCode::AlreadyExists,
        Kind::Aborted => ErrorCode::Aborted,
        Kind::OutOfRange => ErrorCode::OutOfRange,
        Kind::Unimplemented => ErrorCode::Unimplemented,
        Kind::DeadlineExceeded => ErrorCode::DeadlineExceeded,
        Kind::Cancelled => ErrorCode::Canceled,
        Kind::Internal => ErrorCode::Internal,
    };
    let status = ConnectError::new(code, err.message());
    match err.detail() {
        Some(detail) => status.with_detail(error_info(detail)),
        None => status,
    }
}

/// A detail as `attache.sidecar.v1.ErrorInfo`: protobuf for gRPC and the
/// SDKs that decode it, and the same object as JSON in Connect's `debug`
/// field for clients that read JSON only (PHP).
fn error_info(detail: &Detail) -> ErrorDetail {
    let info = ErrorInfo {
        reason: detail.reason.clone(),
        domain: detail.domain.into(),
        metadata: detail.fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        ..Default::default()
    };
    let mut wire = ErrorDetail::from_message("attache.sidecar.v1.ErrorInfo", &info);
    let metadata: serde_json::Map<String, serde_json::Value> =
        detail.fields.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone()))).collect();
    wire.debug = Some(serde_json::json!({
        "reason": detail.reason,
        "domain": detail.domain,
        "metadata": metadata,
    }));
    wire
}

/// Shorthand for handlers: a module error into a status.
pub(crate) fn reject(err: impl Into<Error>) -> ConnectError {
    status(&err.into())
}

/// Shorthand for the edge's own refusals (a bad enum value in a request, a
/// module switched off), so they too take the one path to a status.
pub(crate) fn refuse(kind: Kind, message: impl Into<String>) -> ConnectError {
    status(&Error::new(kind, message))
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
            (Kind::NotFound, 5),
            (Kind::AlreadyExists, 6),
            (Kind::Aborted, 10),
            (Kind::OutOfRange, 11),
            (Kind::Unimplemented, 12),
            (Kind::DeadlineExceeded, 4),
            (Kind::Cancelled, 1),
            (Kind::Internal, 13),
        ];
        for (kind, grpc) in cases {
            let status = status(&Error::new(kind, "why"));
            assert_eq!(status.code.grpc_code(), grpc, "{kind}");
            assert_eq!(status.message.as_deref(), Some("why"));
            assert!(status.details.is_empty());
        }
    }

    #[test]
    fn a_detail_travels_as_error_info_in_both_encodings() {
        let detail = Detail::new("postgres", "unique_violation")
            .field("sqlstate", Some("23505"))
            .field("constraint", Some("users_email_key"))
            .field("hint", None::<String>);
        let status = status(&Error::new(Kind::AlreadyExists, "duplicate key").with_detail(detail));
        assert_eq!(status.code, ErrorCode::AlreadyExists);
        let [wire] = status.details.as_slice() else { panic!("one detail: {:?}", status.details) };
        assert_eq!(wire.type_url, "attache.sidecar.v1.ErrorInfo");
        let json = wire.debug.as_ref().expect("a JSON form");
        assert_eq!(json["reason"], "unique_violation");
        assert_eq!(json["domain"], "postgres");
        assert_eq!(json["metadata"]["constraint"], "users_email_key");
        assert!(json["metadata"].get("hint").is_none(), "absent fields are left out: {json}");
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(wire.value.as_deref().unwrap()).unwrap();
        let info = <ErrorInfo as buffa::Message>::decode_from_slice(&bytes).unwrap();
        assert_eq!(info.metadata.get("sqlstate").map(String::as_str), Some("23505"));
    }
}
