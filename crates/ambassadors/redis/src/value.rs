use bytes::Bytes;

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
