//! SQL values by wire representation: decoding the binary result format
//! into [`Value`], and writing parameters in the text format so the server
//! infers their types (what node-postgres and psql do).
//!
//! Decoding is ours rather than `postgres-types`' `FromSql` impls: they
//! cover neither numeric nor the infinities, and a type none of them knows
//! must still come back (as [`Value::Typed`], its text asked of the server).

use std::fmt::Write as _;

use bytes::BytesMut;
use postgres_types::{Format, IsNull, Kind, ToSql, Type, to_sql_checked};

/// Microseconds from 1970-01-01 to 2000-01-01, Postgres's epoch.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Arrays and records nest; a reply is bounded in bytes, this bounds depth.
const MAX_DEPTH: usize = 64;
/// Postgres's MAXDIM.
const MAX_DIMENSIONS: usize = 6;

/// A date or a timestamp, which may be one of Postgres's infinities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Infinite<T> {
    Finite(T),
    Infinity,
    NegInfinity,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// Exact decimal text, `NaN`, `Infinity` or `-Infinity`.
    Numeric(String),
    /// Microseconds since 1970-01-01 00:00:00.
    Timestamp(Infinite<i64>),
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    TimestampTz(Infinite<i64>),
    /// Days since 1970-01-01.
    Date(Infinite<i32>),
    /// Microseconds since midnight.
    Time(i64),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Uuid([u8; 16]),
    /// json or jsonb, as JSON text.
    Json(String),
    Array(Array),
    /// Fields of a composite value; names are empty for an anonymous record.
    Record(Vec<(String, Value)>),
    /// Any other type, as the server's text output for it. `text` is filled
    /// in by the caller of [`decode`] from `raw` (see `Typed` handling in
    /// `service.rs`); parameters carry text only.
    Typed {
        oid: u32,
        type_name: String,
        text: String,
        raw: Option<Vec<u8>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// `(length, lower_bound)` per dimension, outermost first.
    pub dimensions: Vec<(i32, i32)>,
    pub elements: Vec<Value>,
    pub element_oid: u32,
}

/// Why a value could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn bad(ty: &Type, what: &str) -> ValueError {
    ValueError(format!("the server sent a malformed {} value ({what})", ty.name()))
}

/// A cursor over a binary value.
struct Reader<'a> {
    bytes: &'a [u8],
    ty: &'a Type,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ValueError> {
        if self.bytes.len() < n {
            return Err(bad(self.ty, "too short"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn i16(&mut self) -> Result<i16, ValueError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("two bytes")))
    }

    fn i32(&mut self) -> Result<i32, ValueError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("four bytes")))
    }

    fn i64(&mut self) -> Result<i64, ValueError> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().expect("eight bytes")))
    }

    /// A length-prefixed inner value: `None` for NULL (-1).
    fn inner(&mut self) -> Result<Option<&'a [u8]>, ValueError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }

    fn done(&self) -> Result<(), ValueError> {
        if self.bytes.is_empty() { Ok(()) } else { Err(bad(self.ty, "trailing bytes")) }
    }
}

/// Decodes one column value from the binary format. `None` is SQL NULL.
pub fn decode(ty: &Type, raw: Option<&[u8]>) -> Result<Value, ValueError> {
    decode_at(ty, raw, 0)
}

fn decode_at(ty: &Type, raw: Option<&[u8]>, depth: usize) -> Result<Value, ValueError> {
    let Some(bytes) = raw else { return Ok(Value::Null) };
    if depth > MAX_DEPTH {
        return Err(ValueError(format!("a value nests deeper than {MAX_DEPTH} levels")));
    }
    let mut r = Reader { bytes, ty };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| bad(ty, "not UTF-8"));
    let value = match *ty {
        Type::BOOL => Value::Bool(r.take(1)?[0] != 0),
        Type::INT2 => Value::Int(r.i16()?.into()),
        Type::INT4 => Value::Int(r.i32()?.into()),
        Type::INT8 => Value::Int(r.i64()?),
        Type::OID | Type::XID | Type::CID | Type::REGPROC | Type::REGTYPE | Type::REGCLASS => {
            Value::Int(u32::from_be_bytes(r.take(4)?.try_into().expect("four bytes")).into())
        }
        Type::FLOAT4 => Value::Float(f32::from_be_bytes(r.take(4)?.try_into().expect("four bytes")).into()),
        Type::FLOAT8 => Value::Float(f64::from_be_bytes(r.take(8)?.try_into().expect("eight bytes"))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            return Ok(Value::Text(text(bytes)?));
        }
        Type::CHAR => Value::Text(char::from(r.take(1)?[0]).to_string()),
        Type::BYTEA => return Ok(Value::Bytes(bytes.to_vec())),
        Type::NUMERIC => Value::Numeric(numeric(&mut r)?),
        Type::TIMESTAMP => Value::Timestamp(timestamp(r.i64()?)),
        Type::TIMESTAMPTZ => Value::TimestampTz(timestamp(r.i64()?)),
        Type::DATE => Value::Date(match r.i32()? {
            i32::MAX => Infinite::Infinity,
            i32::MIN => Infinite::NegInfinity,
            days => Infinite::Finite(days.saturating_add(PG_EPOCH_DAYS)),
        }),
        Type::TIME => Value::Time(r.i64()?),
        Type::INTERVAL => {
            let micros = r.i64()?;
            let days = r.i32()?;
            let months = r.i32()?;
            Value::Interval { months, days, micros }
        }
        Type::UUID => Value::Uuid(r.take(16)?.try_into().expect("sixteen bytes")),
        Type::JSON => return Ok(Value::Json(text(bytes)?)),
        Type::JSONB => {
            let version = r.take(1)?[0];
            if version != 1 {
                return Err(bad(ty, "unknown jsonb version"));
            }
            return Ok(Value::Json(text(r.bytes)?));
        }
        Type::RECORD => return record(&mut r, None, depth),
        _ => match ty.kind() {
            Kind::Array(element) => return array(&mut r, element, depth),
            Kind::Domain(base) => return decode_at(base, raw, depth + 1),
            Kind::Composite(fields) => return record(&mut r, Some(fields), depth),
            // An enum's binary form is its label.
            Kind::Enum(_) => return Ok(Value::Text(text(bytes)?)),
            _ => {
                return Ok(Value::Typed {
                    oid: ty.oid(),
                    type_name: ty.name().to_owned(),
                    text: String::new(),
                    raw: Some(bytes.to_vec()),
                });
            }
        },
    };
    r.done()?;
    Ok(value)
}

fn timestamp(micros: i64) -> Infinite<i64> {
    match micros {
        i64::MAX => Infinite::Infinity,
        i64::MIN => Infinite::NegInfinity,
        m => Infinite::Finite(m.saturating_add(PG_EPOCH_MICROS)),
    }
}

/// Binary numeric: base-10000 digits with a weight, a sign and a display
/// scale, written out as exact decimal text.
fn numeric(r: &mut Reader<'_>) -> Result<String, ValueError> {
    let ndigits = r.i16()?;
    let weight = r.i16()? as i32;
    let sign = r.i16()? as u16;
    let dscale = r.i16()?;
    if ndigits < 0 || dscale < 0 {
        return Err(bad(r.ty, "negative length"));
    }
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return Err(bad(r.ty, "unknown sign")),
    }
    let digits = (0..ndigits).map(|_| r.i16()).collect::<Result<Vec<_>, _>>()?;
    if digits.iter().any(|d| !(0..10_000).contains(d)) {
        return Err(bad(r.ty, "digit out of range"));
    }
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    // Integer part: groups with index 0..=weight.
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            let d = digits.get(i as usize).copied().unwrap_or(0);
            if i == 0 {
                write!(out, "{d}").expect("writing to a String");
            } else {
                write!(out, "{d:04}").expect("writing to a String");
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale as usize {
            let d = if i < 0 { 0 } else { digits.get(i as usize).copied().unwrap_or(0) };
            write!(fraction, "{d:04}").expect("writing to a String");
            i += 1;
        }
        fraction.truncate(dscale as usize);
        out.push_str(&fraction);
    }
    if out == "-0" || (out.starts_with("-") && out[1..].chars().all(|c| c == '0' || c == '.')) {
        out.remove(0);
    }
    Ok(out)
}

fn array(r: &mut Reader<'_>, element: &Type, depth: usize) -> Result<Value, ValueError> {
    let ndim = r.i32()?;
    let _has_nulls = r.i32()?;
    let element_oid = r.i32()? as u32;
    if !(0..=MAX_DIMENSIONS as i32).contains(&ndim) {
        return Err(bad(r.ty, "bad dimension count"));
    }
    let mut dimensions = Vec::with_capacity(ndim as usize);
    let mut count: usize = if ndim == 0 { 0 } else { 1 };
    for _ in 0..ndim {
        let (len, lower) = (r.i32()?, r.i32()?);
        if len < 0 {
            return Err(bad(r.ty, "negative dimension"));
        }
        count = count.checked_mul(len as usize).ok_or_else(|| bad(r.ty, "too many elements"))?;
        dimensions.push((len, lower));
    }
    // Every element takes at least its 4-byte length: a count the bytes
    // cannot hold is refused before anything is allocated for it.
    if count > r.bytes.len() / 4 {
        return Err(bad(r.ty, "more elements than bytes"));
    }
    let mut elements = Vec::with_capacity(count);
    for _ in 0..count {
        elements.push(decode_at(element, r.inner()?, depth + 1)?);
    }
    r.done()?;
    Ok(Value::Array(Array { dimensions, elements, element_oid }))
}

fn record(r: &mut Reader<'_>, fields: Option<&[postgres_types::Field]>, depth: usize) -> Result<Value, ValueError> {
    let count = r.i32()?;
    if count < 0 || count as usize > r.bytes.len() / 8 + 1 {
        return Err(bad(r.ty, "bad field count"));
    }
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        let oid = r.i32()? as u32;
        let raw = r.inner()?;
        let field = fields.and_then(|f| f.get(i));
        let name = field.map(|f| f.name().to_owned()).unwrap_or_default();
        let ty = match field {
            Some(f) => f.type_().clone(),
            None => Type::from_oid(oid).unwrap_or_else(|| Type::new(String::new(), oid, Kind::Simple, String::new())),
        };
        out.push((name, decode_at(&ty, raw, depth + 1)?));
    }
    r.done()?;
    Ok(Value::Record(out))
}

/// Every `Typed` value in `value` still waiting for its text, in order:
/// its type's OID and its binary form.
pub fn untyped_texts(value: &Value, out: &mut Vec<(u32, Vec<u8>)>) {
    match value {
        Value::Typed { oid, raw: Some(raw), .. } => out.push((*oid, raw.clone())),
        Value::Array(a) => a.elements.iter().for_each(|v| untyped_texts(v, out)),
        Value::Record(fields) => fields.iter().for_each(|(_, v)| untyped_texts(v, out)),
        _ => {}
    }
}

/// Fills the values [`untyped_texts`] listed, in the same order.
pub fn fill_texts(value: &mut Value, texts: &mut impl Iterator<Item = String>) {
    match value {
        Value::Typed { text, raw, .. } if raw.is_some() => {
            *text = texts.next().unwrap_or_default();
            *raw = None;
        }
        Value::Array(a) => a.elements.iter_mut().for_each(|v| fill_texts(v, texts)),
        Value::Record(fields) => fields.iter_mut().for_each(|(_, v)| fill_texts(v, texts)),
        _ => {}
    }
}

// ---- parameters -------------------------------------------------------

/// A parameter written in the text format, which every type accepts, so the
/// server may infer its type from the statement.
#[derive(Debug)]
pub struct TextParam(pub Option<String>);

impl ToSql for TextParam {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// A value already in a type's binary format, sent back to the server (to
/// ask for its text output).
#[derive(Debug)]
pub struct RawParam<'a>(pub &'a [u8]);

impl ToSql for RawParam<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The text form of a parameter value; `None` is SQL NULL.
pub fn to_text(value: &Value) -> Result<Option<String>, ValueError> {
    let mut out = String::new();
    if matches!(value, Value::Null) {
        return Ok(None);
    }
    write_text(value, &mut out, 0)?;
    Ok(Some(out))
}

fn write_text(value: &Value, out: &mut String, depth: usize) -> Result<(), ValueError> {
    if depth > MAX_DEPTH {
        return Err(ValueError(format!("a parameter nests deeper than {MAX_DEPTH} levels")));
    }
    let w = |out: &mut String, args: std::fmt::Arguments<'_>| out.write_fmt(args).expect("writing to a String");
    match value {
        Value::Null => out.push_str("NULL"),
        Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Int(n) => w(out, format_args!("{n}")),
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" }),
        Value::Float(f) => w(out, format_args!("{f:?}")),
        Value::Text(s) | Value::Numeric(s) | Value::Json(s) => out.push_str(s),
        Value::Typed { text, .. } => out.push_str(text),
        Value::Bytes(b) => {
            out.push_str("\\x");
            for byte in b {
                w(out, format_args!("{byte:02x}"));
            }
        }
        Value::Timestamp(t) => infinite(out, *t, datetime),
        Value::TimestampTz(t) => infinite(out, *t, |out, m| {
            datetime(out, m);
            out.push_str("+00");
        }),
        Value::Date(d) => infinite(out, *d, date),
        Value::Time(micros) => time_of_day(out, *micros),
        Value::Interval { months, days, micros } => {
            w(out, format_args!("{months} mons {days} days {micros} microseconds"))
        }
        Value::Uuid(u) => out.push_str(&uuid_text(u)),
        Value::Array(a) => {
            if a.dimensions.len() > MAX_DIMENSIONS {
                return Err(ValueError(format!(
                    "an array parameter has {} dimensions; Postgres allows at most {MAX_DIMENSIONS}",
                    a.dimensions.len()
                )));
            }
            let dims: Vec<usize> = a.dimensions.iter().map(|(len, _)| (*len).max(0) as usize).collect();
            // Checked: lengths come from the caller, and their product must
            // equal the elements actually sent.
            let holds = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if holds != Some(a.elements.len()) && !(dims.is_empty() && a.elements.is_empty()) {
                return Err(ValueError(format!(
                    "an array parameter has {} elements but its dimensions {dims:?} do not hold that many",
                    a.elements.len(),
                )));
            }
            if a.dimensions.iter().any(|(_, lower)| *lower != 1) {
                for (len, lower) in &a.dimensions {
                    w(out, format_args!("[{}:{}]", lower, i64::from(*lower) + i64::from(*len) - 1));
                }
                out.push('=');
            }
            let mut elements = a.elements.iter();
            write_array(out, &dims, &mut elements, depth)?;
        }
        Value::Record(fields) => {
            out.push('(');
            for (i, (_, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !matches!(v, Value::Null) {
                    let mut inner = String::new();
                    write_text(v, &mut inner, depth + 1)?;
                    quote(out, &inner);
                }
            }
            out.push(')');
        }
    }
    Ok(())
}

fn write_array<'a>(
    out: &mut String,
    dims: &[usize],
    elements: &mut impl Iterator<Item = &'a Value>,
    depth: usize,
) -> Result<(), ValueError> {
    out.push('{');
    if let Some((len, rest)) = dims.split_first() {
        for i in 0..*len {
            if i > 0 {
                out.push(',');
            }
            if rest.is_empty() {
                match elements.next() {
                    Some(Value::Null) | None => out.push_str("NULL"),
                    Some(v) => {
                        let mut inner = String::new();
                        write_text(v, &mut inner, depth + 1)?;
                        quote(out, &inner);
                    }
                }
            } else {
                write_array(out, rest, elements, depth)?;
            }
        }
    }
    out.push('}');
    Ok(())
}

/// Double-quotes an array element or record field, escaping `"` and `\`.
fn quote(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn infinite<T>(out: &mut String, value: Infinite<T>, finite: impl FnOnce(&mut String, T)) {
    match value {
        Infinite::Finite(v) => finite(out, v),
        Infinite::Infinity => out.push_str("infinity"),
        Infinite::NegInfinity => out.push_str("-infinity"),
    }
}

/// `YYYY-MM-DD` (with ` BC` before year 1) from days since 1970-01-01.
fn date(out: &mut String, days: i32) {
    let (y, m, d) = civil_from_days(days.into());
    if y <= 0 {
        write!(out, "{:04}-{m:02}-{d:02} BC", 1 - y).expect("writing to a String");
    } else {
        write!(out, "{y:04}-{m:02}-{d:02}").expect("writing to a String");
    }
}

fn datetime(out: &mut String, micros: i64) {
    let days = micros.div_euclid(86_400_000_000);
    let rest = micros.rem_euclid(86_400_000_000);
    let (y, m, d) = civil_from_days(days);
    let year = if y <= 0 { 1 - y } else { y };
    write!(out, "{year:04}-{m:02}-{d:02} ").expect("writing to a String");
    time_of_day(out, rest);
    if y <= 0 {
        out.push_str(" BC");
    }
}

fn time_of_day(out: &mut String, micros: i64) {
    let (s, us) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    write!(out, "{:02}:{:02}:{:02}.{us:06}", s / 3600, s / 60 % 60, s % 60).expect("writing to a String");
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn uuid_text(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        write!(s, "{b:02x}").expect("writing to a String");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [ndigits, weight, sign as i16, dscale] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    fn num(bytes: &[u8]) -> String {
        match decode(&Type::NUMERIC, Some(bytes)).unwrap() {
            Value::Numeric(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numeric_is_exact_decimal_text() {
        // 12345.678 = [1, 2345, 6780], weight 1, dscale 3
        assert_eq!(num(&numeric_bytes(3, 1, 0, 3, &[1, 2345, 6780])), "12345.678");
        assert_eq!(num(&numeric_bytes(3, 1, 0x4000, 3, &[1, 2345, 6780])), "-12345.678");
        // 0.0001 = [1], weight -1, dscale 4
        assert_eq!(num(&numeric_bytes(1, -1, 0, 4, &[1])), "0.0001");
        // 0.00001 = [1000], weight -2, dscale 5
        assert_eq!(num(&numeric_bytes(1, -2, 0, 5, &[1000])), "0.00001");
        // 10000 = [1], weight 1, dscale 0 (trailing zero groups omitted)
        assert_eq!(num(&numeric_bytes(1, 1, 0, 0, &[1])), "10000");
        assert_eq!(num(&numeric_bytes(0, 0, 0, 2, &[])), "0.00");
        assert_eq!(num(&numeric_bytes(0, 0, 0xC000, 0, &[])), "NaN");
        assert_eq!(num(&numeric_bytes(0, 0, 0xF000, 0, &[])), "-Infinity");
        assert!(decode(&Type::NUMERIC, Some(&numeric_bytes(1, 0, 0, 0, &[10_000]))).is_err());
        assert!(decode(&Type::NUMERIC, Some(&numeric_bytes(2, 0, 0, 0, &[1]))).is_err(), "short");
    }

    #[test]
    fn dates_and_times_count_from_the_unix_epoch() {
        let ts = |m: i64| decode(&Type::TIMESTAMPTZ, Some(&m.to_be_bytes())).unwrap();
        assert_eq!(ts(0), Value::TimestampTz(Infinite::Finite(PG_EPOCH_MICROS)));
        assert_eq!(ts(i64::MAX), Value::TimestampTz(Infinite::Infinity));
        assert_eq!(ts(i64::MIN), Value::TimestampTz(Infinite::NegInfinity));
        let d = decode(&Type::DATE, Some(&(-PG_EPOCH_DAYS).to_be_bytes())).unwrap();
        assert_eq!(d, Value::Date(Infinite::Finite(0)));
        let mut s = String::new();
        date(&mut s, 19_723);
        assert_eq!(s, "2024-01-01");
        s.clear();
        datetime(&mut s, -1);
        assert_eq!(s, "1969-12-31 23:59:59.999999");
        s.clear();
        date(&mut s, -719_528);
        assert_eq!(s, "0001-01-01 BC", "year 0 is 1 BC");
    }

    #[test]
    fn arrays_keep_their_dimensions_and_refuse_impossible_counts() {
        // int4[2][1] = {{1},{NULL}}
        let mut b = Vec::new();
        for v in [2i32, 1, 23, 2, 1, 1, 1, 4, 7, -1] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let Value::Array(a) = decode(&Type::INT4_ARRAY, Some(&b)).unwrap() else { panic!() };
        assert_eq!(a.dimensions, vec![(2, 1), (1, 1)]);
        assert_eq!(a.elements, vec![Value::Int(7), Value::Null]);
        // A header claiming 2^31 elements in a few bytes is refused, not allocated.
        let mut b = Vec::new();
        for v in [1i32, 0, 23, i32::MAX, 1] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        assert!(decode(&Type::INT4_ARRAY, Some(&b)).is_err());
    }

    #[test]
    fn parameters_are_written_as_postgres_reads_text() {
        let t = |v: Value| to_text(&v).unwrap().unwrap();
        assert_eq!(to_text(&Value::Null).unwrap(), None);
        assert_eq!(t(Value::Bool(true)), "t");
        assert_eq!(t(Value::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(t(Value::Float(f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(t(Value::Float(0.1)), "0.1");
        assert_eq!(t(Value::Bytes(vec![0, 255])), "\\x00ff");
        assert_eq!(t(Value::TimestampTz(Infinite::Finite(1_500_000))), "1970-01-01 00:00:01.500000+00");
        assert_eq!(t(Value::Uuid([0xab; 16])), "abababab-abab-abab-abab-abababababab");
        let array = Value::Array(Array {
            dimensions: vec![(2, 1), (2, 1)],
            elements: vec![Value::Text("a\"b".into()), Value::Null, Value::Text("c\\".into()), Value::Int(1)],
            element_oid: 0,
        });
        assert_eq!(t(array), r#"{{"a\"b",NULL},{"c\\","1"}}"#);
        let bad = Value::Array(Array { dimensions: vec![(3, 1)], elements: vec![Value::Int(1)], element_oid: 0 });
        assert!(to_text(&bad).is_err());
        // Hostile dimensions are refused, never overflowed or recursed into.
        let huge = Value::Array(Array { dimensions: vec![(i32::MAX, i32::MAX); 3], elements: vec![], element_oid: 0 });
        assert!(to_text(&huge).is_err());
        let deep = Value::Array(Array { dimensions: vec![(1, 1); 7], elements: vec![Value::Int(1)], element_oid: 0 });
        assert!(to_text(&deep).is_err());
        let record = Value::Record(vec![("a".into(), Value::Int(1)), ("b".into(), Value::Null)]);
        assert_eq!(t(record), r#"("1",)"#);
    }
}
