//! RESP3: commands encoded as arrays of bulk strings, replies parsed into
//! [`Value`]s in the order the server sent them.
//!
//! Key decision: our own parser rather than a codec crate's. A pass-through
//! proxy must keep a map reply exactly as sent: the `redis-protocol` crate
//! decodes maps into hash maps, which (measured) reversed entry order and
//! would also merge duplicate keys and refuse keys that do not hash
//! (doubles, arrays). The grammar is small; the tests below pin it.

use std::io::Write;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Value;

/// A parsed frame: a reply, or a server push (invalidation, pub/sub).
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Reply(Value),
    Push(Vec<Value>),
}

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

/// Deepest nesting accepted; deeper replies are a protocol error rather
/// than a stack overflow.
const MAX_DEPTH: usize = 256;

/// Takes the next complete frame off the front of `buf`, if there is one.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, String> {
    let mut parser = Parser { buf, pos: 0 };
    match parser.frame(0)? {
        Some(frame) => {
            let used = parser.pos;
            buf.advance(used);
            Ok(Some(frame))
        }
        None => Ok(None),
    }
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    /// The next line without its CRLF, or None if incomplete.
    fn line(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.pos..];
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        self.pos += end + 2;
        Some(&rest[..end])
    }

    fn frame(&mut self, depth: usize) -> Result<Option<Frame>, String> {
        if depth > MAX_DEPTH {
            return Err("reply nested too deeply".into());
        }
        let Some(&kind) = self.buf.get(self.pos) else { return Ok(None) };
        self.pos += 1;
        let Some(line) = self.line() else { return Ok(None) };
        let text = || String::from_utf8_lossy(line).into_owned();
        let number = || -> Result<i64, String> {
            std::str::from_utf8(line)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad number {:?}", text()))
        };
        let value = match kind {
            b'+' => Value::Simple(text()),
            b'-' => Value::Error(text()),
            b':' => Value::Integer(number()?),
            b'_' => Value::Nil,
            b'#' => match line {
                b"t" => Value::Boolean(true),
                b"f" => Value::Boolean(false),
                _ => return Err(format!("bad boolean {:?}", text())),
            },
            b',' => Value::Double(match line {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                _ => std::str::from_utf8(line)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad double {:?}", text()))?,
            }),
            b'(' => Value::BigNumber(text()),
            b'$' | b'!' | b'=' => {
                let len = number()?;
                if len < 0 {
                    return Ok(Some(Frame::Reply(Value::Nil)));
                }
                let len = len as usize;
                if self.buf.len() < self.pos + len + 2 {
                    return Ok(None);
                }
                let data = &self.buf[self.pos..self.pos + len];
                self.pos += len + 2;
                match kind {
                    b'$' => Value::Bulk(Bytes::copy_from_slice(data)),
                    b'!' => Value::Error(String::from_utf8_lossy(data).into_owned()),
                    _ => {
                        let (format, text) =
                            if data.len() >= 4 && data[3] == b':' { data.split_at(4) } else { (&b"txt:"[..], data) };
                        Value::Verbatim {
                            format: String::from_utf8_lossy(&format[..3]).into_owned(),
                            text: Bytes::copy_from_slice(text),
                        }
                    }
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = number()?;
                if n < 0 {
                    return Ok(Some(Frame::Reply(Value::Nil)));
                }
                let items = if matches!(kind, b'%' | b'|') { n as usize * 2 } else { n as usize };
                let mut values = Vec::with_capacity(items.min(1024));
                for _ in 0..items {
                    match self.frame(depth + 1)? {
                        Some(Frame::Reply(v)) => values.push(v),
                        Some(Frame::Push(_)) => return Err("a push inside an aggregate".into()),
                        None => return Ok(None),
                    }
                }
                match kind {
                    b'*' => Value::Array(values),
                    b'~' => Value::Set(values),
                    b'>' => return Ok(Some(Frame::Push(values))),
                    b'%' => {
                        let mut pairs = Vec::with_capacity(values.len() / 2);
                        let mut values = values.into_iter();
                        while let (Some(k), Some(v)) = (values.next(), values.next()) {
                            pairs.push((k, v));
                        }
                        Value::Map(pairs)
                    }
                    // Attributes describe the next frame; we pass it on
                    // without them.
                    _ => return self.frame(depth),
                }
            }
            other => return Err(format!("unknown RESP3 type byte {:?}", other as char)),
        };
        Ok(Some(Frame::Reply(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn one(input: &[u8]) -> Frame {
        let mut buf = BytesMut::from(input);
        let frame = decode(&mut buf).unwrap().expect("complete");
        assert!(buf.is_empty(), "left over: {buf:?}");
        frame
    }

    #[test]
    fn encodes_binary_safe_arrays() {
        let out = encoded(&[Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from_static(b"a\r\nb")]);
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n");
    }

    #[test]
    fn decodes_every_resp3_type() {
        let cases: Vec<(&[u8], Value)> = vec![
            (b"+OK\r\n", Value::Simple("OK".into())),
            (b"-ERR no\r\n", Value::Error("ERR no".into())),
            (b":-42\r\n", Value::Integer(-42)),
            (b"_\r\n", Value::Nil),
            (b"$-1\r\n", Value::Nil),
            (b"*-1\r\n", Value::Nil),
            (b"$4\r\na\r\nb\r\n", bulk("a\r\nb")),
            (b"$0\r\n\r\n", bulk("")),
            (b"#t\r\n", Value::Boolean(true)),
            (b",1.5\r\n", Value::Double(1.5)),
            (b",-inf\r\n", Value::Double(f64::NEG_INFINITY)),
            (b"(12345678901234567890\r\n", Value::BigNumber("12345678901234567890".into())),
            (b"!3\r\nbad\r\n", Value::Error("bad".into())),
            (b"=7\r\nmkd:# a\r\n", Value::Verbatim { format: "mkd".into(), text: Bytes::from_static(b"# a") }),
            (b"~2\r\n:1\r\n:1\r\n", Value::Set(vec![Value::Integer(1), Value::Integer(1)])),
            (b"*2\r\n*1\r\n_\r\n$1\r\nx\r\n", Value::Array(vec![Value::Array(vec![Value::Nil]), bulk("x")])),
            (b"|1\r\n+ttl\r\n:3\r\n:7\r\n", Value::Integer(7)),
        ];
        for (input, want) in cases {
            assert_eq!(one(input), Frame::Reply(want), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn keeps_the_servers_order_and_duplicates_in_maps() {
        let Frame::Reply(Value::Map(pairs)) = one(b"%3\r\n$1\r\nz\r\n:1\r\n,1.5\r\n:2\r\n$1\r\nz\r\n:3\r\n") else {
            panic!("a map")
        };
        assert_eq!(
            pairs,
            [(bulk("z"), Value::Integer(1)), (Value::Double(1.5), Value::Integer(2)), (bulk("z"), Value::Integer(3))]
        );
    }

    #[test]
    fn separates_pushes_from_replies() {
        assert_eq!(one(b">2\r\n$10\r\ninvalidate\r\n_\r\n"), Frame::Push(vec![bulk("invalidate"), Value::Nil]));
    }

    #[test]
    fn waits_for_complete_frames_byte_by_byte() {
        let input = b"*2\r\n$3\r\nfoo\r\n%1\r\n+a\r\n#t\r\n:9\r\n";
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for &byte in input.iter() {
            buf.put_u8(byte);
            while let Some(frame) = decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(
            frames,
            [
                Frame::Reply(Value::Array(vec![
                    bulk("foo"),
                    Value::Map(vec![(Value::Simple("a".into()), Value::Boolean(true))])
                ])),
                Frame::Reply(Value::Integer(9)),
            ]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode(&mut BytesMut::from(&b"?what\r\n"[..])).is_err());
        assert!(decode(&mut BytesMut::from(&b":12x\r\n"[..])).is_err());
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert!(decode(&mut BytesMut::from(deep.as_bytes())).is_err());
    }
}
