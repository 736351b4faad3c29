//! W3C Trace Context (`traceparent`) for request spans.

/// The parts of a valid `traceparent` header that the request span keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub trace_id: String,
    pub parent_id: String,
}

impl TraceParent {
    /// Parses `version-traceid-parentid-flags`, refusing all-zero ids and the
    /// reserved version `ff` as the spec requires. Invalid headers are
    /// ignored (a new trace starts), never an error for the caller.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex(version, 2) || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        if !hex(trace_id, 32) || !hex(parent_id, 16) || !hex(flags, 2) {
            return None;
        }
        if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
            return None;
        }
        Some(Self { trace_id: trace_id.to_owned(), parent_id: parent_id.to_owned() })
    }
}

/// A fresh random trace id (32 hex digits).
pub(crate) fn new_trace_id() -> String {
    format!("{:032x}", rand::random::<u128>() | 1)
}

/// A fresh random span id (16 hex digits).
pub(crate) fn new_span_id() -> String {
    format!("{:016x}", rand::random::<u64>() | 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_valid_traceparent_parts() {
        let header = format!("00-{}-{}-01", new_trace_id(), new_span_id());
        assert!(TraceParent::parse(&header).is_some(), "{header}");
    }

    #[test]
    fn parses_valid_and_refuses_invalid_headers() {
        let ok = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(ok.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ok.parent_id, "00f067aa0ba902b7");
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }
}
