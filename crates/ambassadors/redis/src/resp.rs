//! Encoding commands into RESP and decoding replies; the frame parser is
//! the `redis-protocol` crate's.

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use redis_protocol::resp3::decode::complete::decode_bytes_mut;
use redis_protocol::resp3::types::BytesFrame;

/// Appends one command as a RESP array of bulk strings.
pub fn encode(args: &[Bytes], out: &mut BytesMut) {
    let size: usize = args.iter().map(|a| a.len() + 16).sum::<usize>() + 16;
    out.reserve(size);
    let mut w = out.writer();
    let _ = write!(w, "*{}\r\n", args.len());
    for arg in args {
        let _ = write!(w, "${}\r\n", arg.len());
        w.get_mut().extend_from_slice(arg);
        w.get_mut().extend_from_slice(b"\r\n");
    }
}

/// One command, encoded, as an owned buffer.
pub fn encoded(args: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    encode(args, &mut out);
    out.freeze()
}

/// Takes the next complete frame off the front of `buf`, if there is one.
pub fn decode(buf: &mut BytesMut) -> Result<Option<BytesFrame>, String> {
    match decode_bytes_mut(buf) {
        Ok(Some((frame, _, _))) => Ok(Some(frame)),
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    #[test]
    fn encodes_binary_safe_arrays() {
        let out = encoded(&[Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from_static(b"a\r\nb")]);
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n");
    }

    #[test]
    fn decodes_partial_input_only_when_complete() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nfoo\r\n:4"[..]);
        assert_eq!(decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"2\r\n%1\r\n+a\r\n#t\r\n");
        let frame = decode(&mut buf).unwrap().unwrap();
        assert_eq!(Value::from(frame), Value::Array(vec![Value::Bulk(Bytes::from_static(b"foo")), Value::Integer(42)]));
        let frame = decode(&mut buf).unwrap().unwrap();
        assert_eq!(Value::from(frame), Value::Map(vec![(Value::Simple("a".into()), Value::Boolean(true))]));
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_garbage() {
        let mut buf = BytesMut::from(&b"?what\r\n"[..]);
        assert!(decode(&mut buf).is_err());
    }
}
