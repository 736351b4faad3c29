//! A record as the spool keeps it, and the checks a record passes before
//! it is spooled. The encoding is attache's own and versioned; it carries
//! everything needed to produce the record again after a restart, including
//! the timestamp it was given when spooled.

use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub partition: Option<i32>,
    pub timestamp_ms: Option<i64>,
    /// The `attache-id` to give it instead of the spool's (the outbox relay
    /// gives the row id). Not settable through the API.
    pub id: Option<String>,
}

/// The header every produced record carries: the spool's id and the
/// record's sequence, the same on every delivery of it.
pub const ID_HEADER: &str = "attache-id";

/// 1: without an explicit id; 2: with one.
const VERSION: u8 = 2;
const NONE32: u32 = u32::MAX;
/// Header keys (and ids) travel with 16-bit lengths in the spool.
const MAX_HEADER_KEY: usize = 4096;

pub(crate) fn check_topic(topic: &str) -> Result<(), &'static str> {
    if topic.is_empty() {
        return Err("is empty");
    }
    if topic.len() > 249 {
        return Err("is longer than 249 characters");
    }
    if topic == "." || topic == ".." {
        return Err("may not be \".\" or \"..\"");
    }
    if !topic.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err("may hold only ASCII letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

impl Record {
    /// Bytes the record takes in a Kafka batch, roughly: what
    /// `kafka.max_record_bytes` bounds.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self.headers.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len)).sum::<usize>()
    }

    /// Checks the record; `index` names it in the error.
    pub fn check(&self, index: usize, max_bytes: usize, max_headers: usize) -> Result<(), Error> {
        let field = |name: &str| format!("records[{index}].{name}");
        check_topic(&self.topic).map_err(|why| Error::invalid(field("topic"), format!("the topic {why}")))?;
        if self.headers.len() > max_headers {
            return Err(Error::invalid(
                field("headers"),
                format!("{} headers, more than kafka.max_headers ({max_headers})", self.headers.len()),
            ));
        }
        for (i, (key, _)) in self.headers.iter().enumerate() {
            if key.is_empty() {
                return Err(Error::invalid(field(&format!("headers[{i}].key")), "a header needs a key"));
            }
            if key.len() > MAX_HEADER_KEY {
                return Err(Error::invalid(
                    field(&format!("headers[{i}].key")),
                    format!("a header key is at most {MAX_HEADER_KEY} bytes"),
                ));
            }
            if key.eq_ignore_ascii_case(ID_HEADER) {
                return Err(Error::invalid(
                    field(&format!("headers[{i}].key")),
                    format!("{ID_HEADER} is set by attache (the record's id, stable across redeliveries)"),
                ));
            }
        }
        if self.partition.is_some_and(|p| p < 0) {
            return Err(Error::invalid(field("partition"), "a partition is 0 or more"));
        }
        let size = self.size();
        if size > max_bytes {
            return Err(Error::invalid(
                field("value"),
                format!(
                    "the record is {size} bytes (key, value and headers), over kafka.max_record_bytes ({max_bytes})"
                ),
            ));
        }
        Ok(())
    }

    /// The spool's payload; `ticket` names a caller waiting for delivery
    /// (0: none).
    pub(crate) fn encode(&self, ticket: u64, now_ms: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size() + self.topic.len() + 40 + 6 * self.headers.len());
        out.push(VERSION);
        out.extend_from_slice(&ticket.to_le_bytes());
        put_bytes16(&mut out, self.id.as_deref().unwrap_or("").as_bytes());
        put_bytes16(&mut out, self.topic.as_bytes());
        out.extend_from_slice(&self.partition.unwrap_or(-1).to_le_bytes());
        out.extend_from_slice(&self.timestamp_ms.unwrap_or(now_ms).to_le_bytes());
        put_opt32(&mut out, self.key.as_deref());
        put_opt32(&mut out, self.value.as_deref());
        out.extend_from_slice(&(self.headers.len() as u16).to_le_bytes());
        for (key, value) in &self.headers {
            put_bytes16(&mut out, key.as_bytes());
            put_opt32(&mut out, value.as_deref());
        }
        out
    }

    /// The record and its ticket; `None` for a payload this build cannot
    /// read (never written by it).
    pub(crate) fn decode(payload: &[u8]) -> Option<(Record, u64)> {
        let mut r = Cursor(payload);
        let version = r.take(1)?[0];
        (version == 1 || version == VERSION).then_some(())?;
        let ticket = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let id = match version {
            1 => None,
            _ => Some(String::from_utf8(r.bytes16()?.to_vec()).ok()?).filter(|id| !id.is_empty()),
        };
        let topic = String::from_utf8(r.bytes16()?.to_vec()).ok()?;
        let partition = i32::from_le_bytes(r.take(4)?.try_into().ok()?);
        let timestamp = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let key = r.opt32()?;
        let value = r.opt32()?;
        let count = u16::from_le_bytes(r.take(2)?.try_into().ok()?);
        let mut headers = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let name = String::from_utf8(r.bytes16()?.to_vec()).ok()?;
            headers.push((name, r.opt32()?));
        }
        r.0.is_empty().then_some(())?;
        let record = Record {
            topic,
            key,
            value,
            headers,
            partition: (partition >= 0).then_some(partition),
            timestamp_ms: Some(timestamp),
            id,
        };
        Some((record, ticket))
    }
}

fn put_bytes16(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_opt32(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(&NONE32.to_le_bytes()),
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    fn bytes16(&mut self) -> Option<&'a [u8]> {
        let len = u16::from_le_bytes(self.take(2)?.try_into().ok()?);
        self.take(len as usize)
    }

    fn opt32(&mut self) -> Option<Option<Vec<u8>>> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        if len == NONE32 {
            return Some(None);
        }
        Some(Some(self.take(len as usize)?.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_the_spool_encoding() {
        let record = Record {
            topic: "orders.v1".into(),
            key: Some(b"k".to_vec()),
            value: None,
            headers: vec![
                ("trace".into(), Some(b"abc".to_vec())),
                ("flag".into(), None),
                ("empty".into(), Some(vec![])),
            ],
            partition: Some(2),
            timestamp_ms: None,
            id: Some("42".into()),
        };
        let (back, ticket) = Record::decode(&record.encode(7, 1234)).unwrap();
        assert_eq!(ticket, 7);
        assert_eq!(back, Record { timestamp_ms: Some(1234), ..record.clone() });
        let bare = Record { topic: "t".into(), ..Record::default() };
        assert_eq!(Record::decode(&bare.encode(0, 5)).unwrap().0.partition, None);
        assert!(Record::decode(&record.encode(7, 1)[..20]).is_none());
    }

    #[test]
    fn bad_records_name_their_field() {
        let check = |record: Record| record.check(3, 100, 2).unwrap_err().to_string();
        let ok = Record { topic: "a-b_c.d".into(), ..Record::default() };
        ok.check(0, 100, 2).unwrap();
        assert_eq!(check(Record { topic: String::new(), ..ok.clone() }), "records[3].topic: the topic is empty");
        assert!(check(Record { topic: "a b".into(), ..ok.clone() }).starts_with("records[3].topic:"));
        assert!(check(Record { topic: "x".repeat(250), ..ok.clone() }).contains("249"));
        assert!(check(Record { topic: "..".into(), ..ok.clone() }).contains("\"..\""));
        assert!(check(Record { value: Some(vec![0; 101]), ..ok.clone() }).contains("kafka.max_record_bytes (100)"));
        let headers = vec![("a".into(), None); 3];
        assert!(check(Record { headers, ..ok.clone() }).starts_with("records[3].headers:"));
        let headers = vec![("k".repeat(4097), None)];
        assert!(
            check(Record { headers, ..ok.clone() }).starts_with("records[3].headers[0].key: a header key is at most")
        );
        let headers = vec![("Attache-Id".into(), None)];
        assert!(check(Record { headers, ..ok.clone() }).starts_with("records[3].headers[0].key:"));
        assert!(check(Record { partition: Some(-1), ..ok }).starts_with("records[3].partition:"));
    }
}
