use bytes::Bytes;
use redis_protocol::resp3::types::{BytesFrame, VerbatimStringFormat};

/// One RESP3 reply, owned, in the shapes the wire API exposes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bulk(Bytes),
    Simple(String),
    Integer(i64),
    Error(String),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Double(f64),
    Boolean(bool),
    BigNumber(String),
    Verbatim { format: String, text: Bytes },
}

impl Value {
    /// Approximate heap bytes held, for the cache's byte budget.
    pub fn weight(&self) -> usize {
        const NODE: usize = std::mem::size_of::<Value>();
        NODE + match self {
            Value::Bulk(b) | Value::Verbatim { text: b, .. } => b.len(),
            Value::Simple(s) | Value::Error(s) | Value::BigNumber(s) => s.len(),
            Value::Array(items) | Value::Set(items) => items.iter().map(Value::weight).sum(),
            Value::Map(pairs) => pairs.iter().map(|(k, v)| k.weight() + v.weight()).sum(),
            Value::Nil | Value::Integer(_) | Value::Double(_) | Value::Boolean(_) => 0,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }
}

impl From<BytesFrame> for Value {
    fn from(frame: BytesFrame) -> Self {
        let text = |b: Bytes| String::from_utf8_lossy(&b).into_owned();
        match frame {
            BytesFrame::BlobString { data, .. } => Value::Bulk(data),
            BytesFrame::SimpleString { data, .. } => Value::Simple(text(data)),
            BytesFrame::BlobError { data, .. } => Value::Error(text(data)),
            BytesFrame::SimpleError { data, .. } => Value::Error(data.to_string()),
            BytesFrame::Boolean { data, .. } => Value::Boolean(data),
            BytesFrame::Null => Value::Nil,
            BytesFrame::Number { data, .. } => Value::Integer(data),
            BytesFrame::Double { data, .. } => Value::Double(data),
            BytesFrame::BigNumber { data, .. } => Value::BigNumber(text(data)),
            BytesFrame::VerbatimString { data, format, .. } => Value::Verbatim {
                format: match format {
                    VerbatimStringFormat::Text => "txt".into(),
                    VerbatimStringFormat::Markdown => "mkd".into(),
                },
                text: data,
            },
            BytesFrame::Array { data, .. } | BytesFrame::Push { data, .. } => {
                Value::Array(data.into_iter().map(Value::from).collect())
            }
            BytesFrame::Map { data, .. } => Value::Map(data.into_iter().map(|(k, v)| (k.into(), v.into())).collect()),
            BytesFrame::Set { data, .. } => Value::Set(data.into_iter().map(Value::from).collect()),
            // HELLO and streamed-chunk frames are never replies to commands
            // sent on our connections.
            _ => Value::Error("ERR unexpected RESP3 frame (HELLO or a streamed chunk)".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_grows_with_payload() {
        let small = Value::Bulk(Bytes::from_static(b"x"));
        let big = Value::Bulk(Bytes::from(vec![0u8; 10_000]));
        assert!(big.weight() >= 10_000 && small.weight() < 100);
        let nested = Value::Array(vec![big.clone(), big]);
        assert!(nested.weight() >= 20_000);
    }
}
