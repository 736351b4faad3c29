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

/// Deepest nesting decoded. A deeper reply is refused (that call fails
/// alone) rather than recursed into.
const MAX_DEPTH: usize = 128;

/// Bytes a decoded value costs beyond its payload: its enum node. Counted
/// per value so a reply of millions of tiny elements is as bounded as one
/// long string.
const NODE: usize = std::mem::size_of::<Value>();

/// Open aggregates a frame being passed over may have; beyond this the
/// server is hostile and the connection is dropped.
const MAX_SKIP_DEPTH: usize = 1 << 20;

/// Top-level elements of a refused frame kept for its receiver (a pub/sub
/// message's kind and channel), each at most this long.
const HEAD_BYTES: usize = 1024;

/// While passing over a refused frame, a line longer than this is passed
/// over too rather than buffered until its end.
const SKIP_LINE: usize = 64 * 1024;

/// A parsed frame: a reply, a server push, or a frame refused by the
/// decoder's limits (passed over without being kept).
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Reply(Value),
    Push(Vec<Value>),
    Refused(Refused),
}

/// A frame too large or too deep to decode: it takes its reply slot (or is
/// a push) like any other frame, so the stream stays in step.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub push: bool,
    /// The frame's first top-level bulk or simple elements, when short.
    pub head: Vec<Bytes>,
    pub reason: Refusal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// More than this many bytes (payload plus a node per value).
    TooLarge(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Decodes a stream of frames, refusing any frame over `max_bytes`
/// without losing its place: a refused frame is passed over as its bytes
/// arrive, never buffered whole.
///
/// Key decision: every frame is first walked iteratively (no recursion, so
/// no nesting or attribute chain can overflow the stack), resuming where
/// the previous read stopped; only a frame that is complete and within the
/// limits is then built into a [`Value`].
pub struct Decoder {
    max_bytes: usize,
    /// A frame partly walked: its state and how far into the buffer.
    scanning: Option<(Walk, usize)>,
    /// A refused frame whose remaining bytes are being passed over.
    skipping: Option<Walk>,
}

impl Decoder {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, scanning: None, skipping: None }
    }

    /// Takes the next frame off the front of `buf`, if one is complete (a
    /// refused frame is returned as soon as it is known to be refused). An
    /// error means the bytes are not RESP3: the stream cannot be trusted.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, String> {
        if let Some(skip) = &mut self.skipping {
            let mut pos = 0;
            let walked = skip.walk(buf, &mut pos, None)?;
            buf.advance(pos);
            if walked != Walked::Ended {
                return Ok(None);
            }
            self.skipping = None;
        }
        let (mut walk, mut pos) = self.scanning.take().unwrap_or_default();
        match walk.walk(buf, &mut pos, Some(self.max_bytes))? {
            Walked::Incomplete => {
                self.scanning = Some((walk, pos));
                Ok(None)
            }
            Walked::Ended if walk.depth > MAX_DEPTH || walk.size > self.max_bytes => {
                buf.advance(pos);
                Ok(Some(walk.refused(self.max_bytes)))
            }
            Walked::Ended => {
                let mut parser = Parser { buf: &buf[..pos], pos: 0 };
                let frame = parser.frame(0)?.ok_or("a frame walked as complete did not parse")?;
                buf.advance(pos);
                Ok(Some(frame))
            }
            Walked::OverLimit => {
                buf.advance(pos);
                let refused = walk.refused(self.max_bytes);
                // Drop what has arrived of it now, not when the next frame
                // is asked for.
                let mut pos = 0;
                if walk.walk(buf, &mut pos, None)? != Walked::Ended {
                    self.skipping = Some(walk);
                }
                buf.advance(pos);
                Ok(Some(refused))
            }
        }
    }
}

/// Takes the next complete frame off the front of `buf`, with no size
/// limit.
#[cfg(test)]
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, String> {
    Decoder::new(usize::MAX).decode(buf)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walked {
    Ended,
    Incomplete,
    OverLimit,
}

/// Where a walk over one frame stands.
#[derive(Default)]
struct Walk {
    /// Elements left in each open aggregate, innermost last, and whether it
    /// is an attribute (whose end leaves its parent's element to come).
    open: Vec<(u64, bool)>,
    /// Bulk payload bytes (and their CRLF) still to pass.
    bulk: u64,
    /// Inside an overlong line being passed over.
    line: bool,
    depth: usize,
    /// Payload bytes plus a node per value, so far.
    size: usize,
    push: bool,
    head: Vec<Bytes>,
}

impl Walk {
    fn refused(&mut self, max_bytes: usize) -> Frame {
        let reason = if self.depth > MAX_DEPTH { Refusal::TooDeep } else { Refusal::TooLarge(max_bytes) };
        Frame::Refused(Refused { push: self.push, head: std::mem::take(&mut self.head), reason })
    }

    /// Walks `buf` from `pos`. With a `limit`, stops as soon as the frame
    /// is known to exceed it or [`MAX_DEPTH`]; without, passes over
    /// everything to the frame's end.
    fn walk(&mut self, buf: &[u8], pos: &mut usize, limit: Option<usize>) -> Result<Walked, String> {
        let over = |w: &Walk| limit.is_some_and(|l| w.size > l || w.depth > MAX_DEPTH);
        loop {
            if self.bulk > 0 {
                let take = self.bulk.min((buf.len() - *pos) as u64);
                *pos += take as usize;
                self.bulk -= take;
                if self.bulk > 0 {
                    return Ok(Walked::Incomplete);
                }
                if self.element_done() {
                    return Ok(Walked::Ended);
                }
                continue;
            }
            if self.line {
                match find_crlf(&buf[*pos..]) {
                    Some(end) => {
                        *pos += end + 2;
                        self.line = false;
                        if self.element_done() {
                            return Ok(Walked::Ended);
                        }
                        continue;
                    }
                    None => {
                        // Keep a trailing CR: its LF may come next.
                        *pos = buf.len().saturating_sub(1).max(*pos);
                        return Ok(Walked::Incomplete);
                    }
                }
            }
            let Some(&kind) = buf.get(*pos) else { return Ok(Walked::Incomplete) };
            let rest = &buf[*pos + 1..];
            let Some(end) = find_crlf(rest) else {
                if rest.len() <= limit.unwrap_or(SKIP_LINE) {
                    return Ok(Walked::Incomplete);
                }
                if !matches!(kind, b'+' | b'-' | b'(' | b',' | b':') {
                    return Err(format!("a {:?} header line longer than any reply may be", kind as char));
                }
                // A scalar line too long to keep: pass over it to its CRLF.
                self.line = true;
                self.size = usize::MAX;
                *pos += 1;
                if limit.is_some() {
                    return Ok(Walked::OverLimit);
                }
                continue;
            };
            let line = &rest[..end];
            *pos += 1 + end + 2;
            self.size = self.size.saturating_add(NODE + line.len());
            let top_level = self.open.len() == 1 && self.push;
            let finished = match kind {
                b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => {
                    if top_level && line.len() <= HEAD_BYTES && self.head.len() < 3 {
                        self.head.push(Bytes::copy_from_slice(line));
                    }
                    self.element_done()
                }
                b'$' | b'!' | b'=' => {
                    let n = number(line)?;
                    if n < 0 {
                        self.element_done()
                    } else {
                        let n = n as u64;
                        self.size = self.size.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
                        if top_level
                            && n as usize <= HEAD_BYTES
                            && self.head.len() < 3
                            && let Some(data) = buf.get(*pos..*pos + n as usize)
                        {
                            self.head.push(Bytes::copy_from_slice(data));
                        }
                        self.bulk = n + 2;
                        false
                    }
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let n = number(line)?;
                    let attribute = kind == b'|';
                    if kind == b'>' && self.open.is_empty() {
                        self.push = true;
                    }
                    if n < 0 {
                        self.element_done()
                    } else {
                        let items = if matches!(kind, b'%' | b'|') { (n as u64).saturating_mul(2) } else { n as u64 };
                        // Each element takes at least a node and 3 bytes.
                        let least = usize::try_from(items).unwrap_or(usize::MAX).saturating_mul(NODE + 3);
                        if limit.is_some_and(|l| self.size.saturating_add(least) > l) {
                            self.size = self.size.saturating_add(least);
                        }
                        if items == 0 {
                            !attribute && self.element_done()
                        } else {
                            if self.open.len() >= MAX_SKIP_DEPTH {
                                return Err("a reply nested over a million levels deep".into());
                            }
                            self.open.push((items, attribute));
                            self.depth = self.depth.max(self.open.len());
                            false
                        }
                    }
                }
                other => return Err(format!("unknown RESP3 type byte {:?}", other as char)),
            };
            if finished {
                return Ok(Walked::Ended);
            }
            if over(self) {
                return Ok(Walked::OverLimit);
            }
        }
    }

    /// One element finished; true when that ends the frame.
    fn element_done(&mut self) -> bool {
        loop {
            let Some(top) = self.open.last_mut() else { return true };
            top.0 -= 1;
            if top.0 > 0 {
                return false;
            }
            let (_, attribute) = self.open.pop().expect("an open aggregate");
            if attribute {
                // The value the attribute describes comes next.
                return false;
            }
        }
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

fn number(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad number {:?}", String::from_utf8_lossy(line)))
}

/// Builds a frame already walked as complete and within the limits.
struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    /// The next line without its CRLF, or None if incomplete.
    fn line(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.pos..];
        let end = find_crlf(rest)?;
        self.pos += end + 2;
        Some(&rest[..end])
    }

    fn frame(&mut self, depth: usize) -> Result<Option<Frame>, String> {
        if depth > MAX_DEPTH {
            return Err("reply nested too deeply".into());
        }
        // Attributes describe the next frame; they are passed over in a
        // loop, not by recursion, however many are chained.
        let (kind, line) = loop {
            let Some(&kind) = self.buf.get(self.pos) else { return Ok(None) };
            self.pos += 1;
            let Some(line) = self.line() else { return Ok(None) };
            if kind != b'|' {
                break (kind, line);
            }
            for _ in 0..number(line)?.max(0).saturating_mul(2) {
                if self.frame(depth + 1)?.is_none() {
                    return Ok(None);
                }
            }
        };
        let text = || String::from_utf8_lossy(line).into_owned();
        let value = match kind {
            b'+' => Value::Simple(text()),
            b'-' => Value::Error(text()),
            b':' => Value::Integer(number(line)?),
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
                let len = number(line)?;
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
            b'*' | b'~' | b'>' | b'%' => {
                let n = number(line)?;
                if n < 0 {
                    return Ok(Some(Frame::Reply(Value::Nil)));
                }
                let items = if kind == b'%' { n as usize * 2 } else { n as usize };
                let mut values = Vec::with_capacity(items.min(1024));
                for _ in 0..items {
                    match self.frame(depth + 1)? {
                        Some(Frame::Reply(v)) => values.push(v),
                        Some(_) => return Err("a push inside an aggregate".into()),
                        None => return Ok(None),
                    }
                }
                match kind {
                    b'*' => Value::Array(values),
                    b'~' => Value::Set(values),
                    b'>' => return Ok(Some(Frame::Push(values))),
                    _ => {
                        let mut pairs = Vec::with_capacity(values.len() / 2);
                        let mut values = values.into_iter();
                        while let (Some(k), Some(v)) = (values.next(), values.next()) {
                            pairs.push((k, v));
                        }
                        Value::Map(pairs)
                    }
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
    }

    /// Feeds `input` in chunks of `step` bytes, collecting every frame.
    fn frames(decoder: &mut Decoder, input: &[u8], step: usize) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            buf.extend_from_slice(chunk);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                out.push(frame);
            }
        }
        assert!(buf.is_empty(), "left over: {} bytes", buf.len());
        out
    }

    fn refused(push: bool, head: &[&str], reason: Refusal) -> Frame {
        let head = head.iter().map(|h| Bytes::copy_from_slice(h.as_bytes())).collect();
        Frame::Refused(Refused { push, head, reason })
    }

    #[test]
    fn a_reply_nested_too_deep_is_refused_and_the_next_one_still_decodes() {
        let mut input = "*1\r\n".repeat(300);
        input.push_str(":1\r\n+next\r\n");
        for step in [1, 7, input.len()] {
            let got = frames(&mut Decoder::new(1 << 20), input.as_bytes(), step);
            assert_eq!(got, [refused(false, &[], Refusal::TooDeep), Frame::Reply(Value::Simple("next".into()))]);
        }
        // Within the depth limit it decodes.
        let ok = format!("{}:1\r\n", "*1\r\n".repeat(MAX_DEPTH));
        assert!(matches!(frames(&mut Decoder::new(1 << 20), ok.as_bytes(), 5)[..], [Frame::Reply(Value::Array(_))]));
    }

    #[test]
    fn a_long_chain_of_attributes_does_not_recurse() {
        let mut input = "|1\r\n+key\r\n:1\r\n".repeat(200_000);
        input.push_str("$1\r\nv\r\n");
        let got = frames(&mut Decoder::new(usize::MAX), input.as_bytes(), 1 << 16);
        assert_eq!(got, [Frame::Reply(bulk("v"))]);
        // Nested attributes deeper than the limit are refused, not recursed.
        let mut nested = "|1\r\n".repeat(100_000);
        nested.push_str(&"+a\r\n:1\r\n".repeat(100_000));
        nested.push_str(":7\r\n+after\r\n");
        let got = frames(&mut Decoder::new(usize::MAX), nested.as_bytes(), 4096);
        assert_eq!(got, [refused(false, &[], Refusal::TooDeep), Frame::Reply(Value::Simple("after".into()))]);
    }

    #[test]
    fn an_oversized_bulk_is_refused_before_it_arrives_and_passed_over() {
        let big = vec![b'x'; 100_000];
        let mut input = format!("${}\r\n", big.len()).into_bytes();
        input.extend_from_slice(&big);
        input.extend_from_slice(b"\r\n:42\r\n");
        let mut decoder = Decoder::new(10_000);
        let mut buf = BytesMut::from(&input[..20]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(refused(false, &[], Refusal::TooLarge(10_000))));
        // What has arrived of it is dropped at once, not kept.
        assert!(buf.is_empty());
        let rest = frames(&mut decoder, &input[20..], 4096);
        assert_eq!(rest, [Frame::Reply(Value::Integer(42))]);
    }

    #[test]
    fn many_small_values_count_against_the_limit() {
        // 10,000 nils are 30 KB on the wire but far more decoded.
        let input = format!("*10000\r\n{}:1\r\n", "_\r\n".repeat(10_000));
        let got = frames(&mut Decoder::new(100_000), input.as_bytes(), 999);
        assert_eq!(got, [refused(false, &[], Refusal::TooLarge(100_000)), Frame::Reply(Value::Integer(1))]);
        let ok = frames(&mut Decoder::new(10_000_000), input.as_bytes(), 999);
        assert!(matches!(&ok[0], Frame::Reply(Value::Array(v)) if v.len() == 10_000));
    }

    #[test]
    fn a_refused_push_keeps_its_kind_and_channel() {
        let input = format!(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5000\r\n{}\r\n>2\r\n+pong\r\n_\r\n", "y".repeat(5000));
        let got = frames(&mut Decoder::new(1000), input.as_bytes(), 64);
        assert_eq!(
            got,
            [
                refused(true, &["message", "ch"], Refusal::TooLarge(1000)),
                Frame::Push(vec![Value::Simple("pong".into()), Value::Nil])
            ]
        );
    }

    #[test]
    fn an_overlong_line_is_passed_over() {
        let input = format!("-ERR {}\r\n+OK\r\n", "e".repeat(50_000));
        let got = frames(&mut Decoder::new(1000), input.as_bytes(), 1000);
        assert_eq!(got, [refused(false, &[], Refusal::TooLarge(1000)), Frame::Reply(Value::Simple("OK".into()))]);
    }
}
