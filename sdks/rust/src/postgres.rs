//! PostgreSQL through the sidecar's shared pool: queries (optionally served
//! from its single-flight cache), batches, merged inserts and transactions.

use std::time::Duration;

use attache_proto::attache::postgres::v1 as pb;
use attache_proto::attache::postgres::v1::__buffa::oneof::{transaction_request, transaction_response, value::Kind};
use buffa::MessageField;

use crate::Client;
use crate::error::{Code, Error, Result};

/// A query parameter.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Param {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (int8).
    Int(i64),
    /// A float (float8).
    Float(f64),
    /// Text; the server infers its type from the statement.
    Text(String),
    /// bytea.
    Bytes(Vec<u8>),
    /// json / jsonb.
    Json(serde_json::Value),
    /// A value's text sent as an explicit type, e.g. `Param::typed("uuid", "a0ee…")`.
    Typed {
        /// The Postgres type, e.g. `"uuid"`, `"int4[]"`.
        type_name: String,
        /// The value.
        value: Box<Param>,
    },
}

impl Param {
    /// `value` sent as Postgres type `type_name`.
    pub fn typed(type_name: &str, value: impl Into<Param>) -> Param {
        Param::Typed { type_name: type_name.to_owned(), value: Box::new(value.into()) }
    }

    fn to_pb(&self) -> pb::Param {
        let (kind, type_name) = match self {
            Param::Typed { type_name, value } => (value.kind(), type_name.clone()),
            other => (other.kind(), String::new()),
        };
        pb::Param {
            value: MessageField::some(pb::Value { kind: Some(kind), ..Default::default() }),
            r#type: type_name,
            ..Default::default()
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Param::Null => Kind::Null(true),
            Param::Bool(b) => Kind::Bool(*b),
            Param::Int(n) => Kind::Int(*n),
            Param::Float(f) => Kind::Float(*f),
            Param::Text(s) => Kind::Text(s.clone()),
            Param::Bytes(b) => Kind::Bytes(b.clone()),
            Param::Json(j) => Kind::Json(j.to_string()),
            Param::Typed { value, .. } => value.kind(),
        }
    }
}

macro_rules! param_from {
    ($($t:ty => $v:ident $(as $cast:ty)?),* $(,)?) => {$(
        impl From<$t> for Param {
            fn from(v: $t) -> Param { Param::$v((v $(as $cast)?).into()) }
        }
    )*};
}
param_from!(bool => Bool, i64 => Int, i32 => Int as i64, i16 => Int as i64, u32 => Int as i64, f64 => Float, f32 => Float as f64,
    String => Text, &str => Text, Vec<u8> => Bytes, &[u8] => Bytes, serde_json::Value => Json);

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Param {
        v.map_or(Param::Null, Into::into)
    }
}

/// A value of a result row.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL NULL.
    Null,
    /// bool.
    Bool(bool),
    /// int2, int4, int8 (and oid).
    Int(i64),
    /// float4, float8.
    Float(f64),
    /// text, varchar, name, ...
    Text(String),
    /// bytea.
    Bytes(Vec<u8>),
    /// numeric, exactly, in decimal.
    Numeric(String),
    /// timestamp (without time zone): microseconds since the Unix epoch,
    /// or an infinity.
    Timestamp(Timestamp),
    /// timestamptz, in UTC.
    Timestamptz(Timestamp),
    /// date: days since the Unix epoch, or an infinity.
    Date(Date),
    /// time: microseconds since midnight.
    Time(i64),
    /// interval.
    Interval {
        /// Months.
        months: i32,
        /// Days.
        days: i32,
        /// Microseconds.
        micros: i64,
    },
    /// uuid, in its text form.
    Uuid(String),
    /// json / jsonb, as the server's text.
    Json(String),
    /// An array (elements in row-major order, one dimension per entry).
    Array {
        /// Each dimension's length.
        dimensions: Vec<i32>,
        /// The elements.
        elements: Vec<Value>,
    },
    /// A composite value's fields.
    Record(Vec<(String, Value)>),
    /// A value of a type without a mapping, as Postgres's text.
    Typed {
        /// The type's name.
        type_name: String,
        /// Its text form.
        text: String,
    },
}

/// A point in time of a `timestamp` or `timestamptz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    /// Microseconds since 1970-01-01 00:00:00 (UTC for timestamptz).
    Micros(i64),
    /// `infinity`.
    Infinity,
    /// `-infinity`.
    NegInfinity,
}

/// A `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Date {
    /// Days since 1970-01-01.
    Days(i32),
    /// `infinity`.
    Infinity,
    /// `-infinity`.
    NegInfinity,
}

fn infinity(i: buffa::EnumValue<pb::Infinity>) -> Option<bool> {
    match i.as_known() {
        Some(pb::Infinity::INFINITY_POSITIVE) => Some(true),
        Some(pb::Infinity::INFINITY_NEGATIVE) => Some(false),
        _ => None,
    }
}

fn timestamp(t: &pb::Timestamp) -> Timestamp {
    match infinity(t.infinity) {
        Some(true) => Timestamp::Infinity,
        Some(false) => Timestamp::NegInfinity,
        None => Timestamp::Micros(t.micros),
    }
}

impl Value {
    fn from_pb(v: Option<&pb::Value>) -> Value {
        let Some(kind) = v.and_then(|v| v.kind.as_ref()) else {
            return Value::Null;
        };
        match kind {
            Kind::Null(_) => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(n) => Value::Int(*n),
            Kind::Float(f) => Value::Float(*f),
            Kind::Text(s) => Value::Text(s.clone()),
            Kind::Bytes(b) => Value::Bytes(b.clone()),
            Kind::Numeric(n) => Value::Numeric(n.clone()),
            Kind::Timestamp(t) => Value::Timestamp(timestamp(t)),
            Kind::Timestamptz(t) => Value::Timestamptz(timestamp(t)),
            Kind::Date(d) => Value::Date(match infinity(d.infinity) {
                Some(true) => Date::Infinity,
                Some(false) => Date::NegInfinity,
                None => Date::Days(d.days),
            }),
            Kind::Time(t) => Value::Time(*t),
            Kind::Interval(i) => Value::Interval { months: i.months, days: i.days, micros: i.micros },
            Kind::Uuid(u) => Value::Uuid(u.clone()),
            Kind::Json(j) => Value::Json(j.clone()),
            Kind::Array(a) => Value::Array {
                dimensions: a.dimensions.iter().map(|d| d.length).collect(),
                elements: a.elements.iter().map(|e| Value::from_pb(Some(e))).collect(),
            },
            Kind::Record(r) => {
                Value::Record(r.fields.iter().map(|f| (f.name.clone(), Value::from_pb(f.value.as_option()))).collect())
            }
            Kind::Typed(t) => Value::Typed { type_name: t.type_name.clone(), text: t.text.clone() },
        }
    }

    /// Whether this is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// A type a [`Value`] decodes into.
pub trait FromValue: Sized {
    /// `value` as `Self`, or `InvalidArgument` naming what it is.
    fn from_value(value: &Value) -> Result<Self>;
}

fn mismatch<T>(value: &Value, want: &str) -> Result<T> {
    Err(Error::new(Code::InvalidArgument, format!("cannot decode {value:?} as {want}")))
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self> {
                match value {
                    Value::Int(n) => <$t>::try_from(*n).or_else(|_| mismatch(value, stringify!($t))),
                    _ => mismatch(value, stringify!($t)),
                }
            }
        }
    )*};
}
from_int!(i64, i32, i16, u32, u64);

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Float(f) => Ok(*f),
            Value::Int(n) => Ok(*n as f64),
            _ => mismatch(value, "f64"),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Bool(b) => Ok(*b),
            _ => mismatch(value, "bool"),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(s) | Value::Numeric(s) | Value::Uuid(s) | Value::Json(s) => Ok(s.clone()),
            Value::Typed { text, .. } => Ok(text.clone()),
            _ => mismatch(value, "String"),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Bytes(b) => Ok(b.clone()),
            _ => mismatch(value, "Vec<u8>"),
        }
    }
}

impl FromValue for serde_json::Value {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Json(j) => serde_json::from_str(j).or_else(|_| mismatch(value, "JSON")),
            Value::Null => Ok(serde_json::Value::Null),
            _ => mismatch(value, "JSON"),
        }
    }
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self> {
        if value.is_null() { Ok(None) } else { T::from_value(value).map(Some) }
    }
}

/// A type a row decodes into: tuples of [`FromValue`] types, by position.
pub trait FromRow: Sized {
    /// `row` as `Self`.
    fn from_row(row: &[Value]) -> Result<Self>;
}

macro_rules! tuple_from_row {
    ($n:literal; $($t:ident $i:tt),+) => {
        impl<$($t: FromValue),+> FromRow for ($($t,)+) {
            fn from_row(row: &[Value]) -> Result<Self> {
                if row.len() != $n {
                    return Err(Error::new(Code::InvalidArgument, format!("a row of {} columns, decoded as {}", row.len(), $n)));
                }
                Ok(($($t::from_value(&row[$i])?,)+))
            }
        }
    };
}
tuple_from_row!(1; A 0);
tuple_from_row!(2; A 0, B 1);
tuple_from_row!(3; A 0, B 1, C 2);
tuple_from_row!(4; A 0, B 1, C 2, D 3);
tuple_from_row!(5; A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type's OID.
    pub type_oid: u32,
    /// Its type's name, e.g. `"int4"`.
    pub type_name: String,
}

/// Where a result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Not cacheable, or not asked to be cached.
    Bypass,
    /// Run on the database, then cached.
    Miss,
    /// Shared with a concurrent identical query in flight.
    Coalesced,
    /// Served from the cache.
    Hit,
}

/// The result of a statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows, each a value per column.
    pub rows: Vec<Vec<Value>>,
    /// Rows an INSERT, UPDATE or DELETE touched.
    pub rows_affected: u64,
    /// The command tag, e.g. `"INSERT 0 2"`.
    pub command_tag: String,
    /// Where it came from, when the sidecar says.
    pub cache: Option<CacheStatus>,
}

impl Rows {
    /// Every row decoded as `T`, e.g. `rows.decode::<(i64, String)>()`.
    pub fn decode<T: FromRow>(&self) -> Result<Vec<T>> {
        self.rows.iter().map(|r| T::from_row(r)).collect()
    }

    /// The value of column `name` in row `row`.
    pub fn get(&self, row: usize, name: &str) -> Option<&Value> {
        let i = self.columns.iter().position(|c| c.name == name)?;
        self.rows.get(row)?.get(i)
    }

    fn from_pb(
        columns: &[pb::Column],
        rows: &[pb::Row],
        rows_affected: u64,
        command_tag: String,
        cache: Option<&pb::CacheInfo>,
    ) -> Rows {
        Rows {
            columns: columns
                .iter()
                .map(|c| Column { name: c.name.clone(), type_oid: c.type_oid, type_name: c.type_name.clone() })
                .collect(),
            rows: rows.iter().map(|r| r.values.iter().map(|v| Value::from_pb(Some(v))).collect()).collect(),
            rows_affected,
            command_tag,
            cache: cache.and_then(|c| match c.status.as_known()? {
                pb::CacheStatus::CACHE_STATUS_BYPASS => Some(CacheStatus::Bypass),
                pb::CacheStatus::CACHE_STATUS_MISS => Some(CacheStatus::Miss),
                pb::CacheStatus::CACHE_STATUS_COALESCED => Some(CacheStatus::Coalesced),
                pb::CacheStatus::CACHE_STATUS_HIT => Some(CacheStatus::Hit),
                _ => None,
            }),
        }
    }

    fn from_query(r: &pb::QueryResponse) -> Rows {
        Rows::from_pb(&r.columns, &r.rows, r.rows_affected, r.command_tag.clone(), r.cache.as_option())
    }
}

/// Options of [`Postgres::query_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Fail with `ResourceExhausted` rather than return more rows; 0 for the
    /// sidecar's limit.
    pub max_rows: u64,
    /// Serve a read from the sidecar's cache for up to this long.
    pub cache_ttl: Option<Duration>,
}

/// A statement of [`Postgres::execute`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Its SQL.
    pub sql: String,
    /// Its parameters.
    pub params: Vec<Param>,
}

impl Statement {
    /// A statement.
    pub fn new(sql: &str, params: impl IntoIterator<Item = Param>) -> Statement {
        Statement { sql: sql.to_owned(), params: params.into_iter().collect() }
    }
}

/// Transaction isolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub enum Isolation {
    /// The server's default (read committed).
    #[default]
    Default,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    fn to_pb(self) -> pb::Isolation {
        match self {
            Isolation::Default => pb::Isolation::ISOLATION_UNSPECIFIED,
            Isolation::ReadCommitted => pb::Isolation::ISOLATION_READ_COMMITTED,
            Isolation::RepeatableRead => pb::Isolation::ISOLATION_REPEATABLE_READ,
            Isolation::Serializable => pb::Isolation::ISOLATION_SERIALIZABLE,
        }
    }
}

/// Options of [`Postgres::execute`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecuteOptions {
    /// All statements in one transaction, rolled back if one fails.
    pub transactional: bool,
    /// Its isolation.
    pub isolation: Isolation,
    /// A read-only transaction.
    pub read_only: bool,
}

/// Options of a transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOptions {
    /// Its isolation.
    pub isolation: Isolation,
    /// Read only.
    pub read_only: bool,
    /// Deferrable (with serializable, read only).
    pub deferrable: bool,
}

impl TxOptions {
    fn begin(self) -> pb::BeginRequest {
        pb::BeginRequest {
            isolation: self.isolation.to_pb().into(),
            read_only: self.read_only,
            deferrable: self.deferrable,
            ..Default::default()
        }
    }
}

/// What to do when an insert's row conflicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnConflict {
    /// `ON CONFLICT (target) DO NOTHING`.
    Nothing {
        /// The conflict target's columns; empty for any constraint.
        target: Vec<String>,
    },
    /// `ON CONFLICT (target) DO UPDATE SET` the `update` columns.
    Update {
        /// The conflict target's columns.
        target: Vec<String>,
        /// The columns to update from the new row.
        update: Vec<String>,
    },
}

/// Options of [`Postgres::insert`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsertOptions {
    /// Columns of the inserted row to return.
    pub returning: Vec<String>,
    /// The conflict rule.
    pub on_conflict: Option<OnConflict>,
}

/// What [`Postgres::insert`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    /// Whether the row was written (false: a conflict did nothing).
    pub inserted: bool,
    /// The `returning` columns of the written row, by name.
    pub row: Option<Vec<(String, Value)>>,
    /// How many inserts the sidecar merged into the statement that wrote it.
    pub batch_size: u32,
}

/// PostgreSQL; from [`Client::postgres`].
#[derive(Debug, Clone, Copy)]
pub struct Postgres<'a> {
    pub(crate) client: &'a Client,
}

fn params_pb(params: &[Param]) -> Vec<pb::Param> {
    params.iter().map(Param::to_pb).collect()
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

impl Postgres<'_> {
    /// Runs `sql` with `params` (`$1`, `$2`, ...): `query("select $1::int4 + 1", &[1.into()])`.
    pub async fn query(&self, sql: &str, params: &[Param]) -> Result<Rows> {
        self.query_with(sql, params, &QueryOptions::default()).await
    }

    /// [`query`](Self::query) with options: a row limit, or served from
    /// the sidecar's cache.
    pub async fn query_with(&self, sql: &str, params: &[Param], options: &QueryOptions) -> Result<Rows> {
        let req = pb::QueryRequest {
            sql: sql.to_owned(),
            params: params_pb(params),
            options: MessageField::some(pb::QueryOptions {
                max_rows: options.max_rows,
                cache_ttl_ms: options.cache_ttl.map_or(0, ttl_ms),
                ..Default::default()
            }),
            ..Default::default()
        };
        let reply: pb::QueryResponse = self.client.unary(pb::POSTGRES_SERVICE_QUERY_SPEC, &req).await?;
        Ok(Rows::from_query(&reply))
    }

    /// Runs statements in order in one round trip, optionally in one
    /// transaction; a result per statement.
    pub async fn execute(&self, statements: &[Statement], options: ExecuteOptions) -> Result<Vec<Rows>> {
        let req = pb::ExecuteRequest {
            statements: statements
                .iter()
                .map(|s| pb::Statement { sql: s.sql.clone(), params: params_pb(&s.params), ..Default::default() })
                .collect(),
            transactional: options.transactional,
            isolation: options.isolation.to_pb().into(),
            read_only: options.read_only,
            ..Default::default()
        };
        let reply: pb::ExecuteResponse = self.client.unary(pb::POSTGRES_SERVICE_EXECUTE_SPEC, &req).await?;
        Ok(reply.results.iter().map(Rows::from_query).collect())
    }

    /// Inserts one row into `table` (merged by the sidecar with concurrent
    /// inserts into the same table into one statement).
    pub async fn insert(&self, table: &str, row: &[(&str, Param)], options: &InsertOptions) -> Result<Inserted> {
        let on_conflict = match &options.on_conflict {
            None => MessageField::none(),
            Some(OnConflict::Nothing { target }) => MessageField::some(pb::OnConflict {
                action: pb::ConflictAction::CONFLICT_ACTION_NOTHING.into(),
                target: target.clone(),
                ..Default::default()
            }),
            Some(OnConflict::Update { target, update }) => MessageField::some(pb::OnConflict {
                action: pb::ConflictAction::CONFLICT_ACTION_UPDATE.into(),
                target: target.clone(),
                update: update.clone(),
                ..Default::default()
            }),
        };
        let req = pb::InsertRequest {
            table: table.to_owned(),
            columns: row.iter().map(|(c, _)| (*c).to_owned()).collect(),
            values: row.iter().map(|(_, v)| v.to_pb()).collect(),
            on_conflict,
            returning: options.returning.clone(),
            ..Default::default()
        };
        let reply: pb::InsertResponse = self.client.unary(pb::POSTGRES_SERVICE_INSERT_SPEC, &req).await?;
        let row = reply.row.as_option().filter(|_| reply.inserted && !reply.columns.is_empty()).map(|r| {
            reply.columns.iter().zip(&r.values).map(|(c, v)| (c.name.clone(), Value::from_pb(Some(v)))).collect()
        });
        Ok(Inserted { inserted: reply.inserted, row, batch_size: reply.batch_size })
    }

    /// The rows of `sql` cached under `key` for `ttl`: concurrent callers
    /// of a missing key share one query.
    pub async fn get_or_load(&self, key: &str, sql: &str, params: &[Param], ttl: Duration) -> Result<Rows> {
        let req = pb::GetOrLoadRequest {
            key: key.to_owned(),
            sql: sql.to_owned(),
            params: params_pb(params),
            ttl_ms: ttl_ms(ttl),
            ..Default::default()
        };
        let reply: pb::GetOrLoadResponse = self.client.unary(pb::POSTGRES_SERVICE_GET_OR_LOAD_SPEC, &req).await?;
        Ok(Rows::from_pb(&reply.columns, &reply.rows, 0, String::new(), reply.cache.as_option()))
    }

    /// Begins a transaction the sidecar holds under an id, for calls made
    /// one at a time (each its own request). Dropped without
    /// [`Transaction::commit`], it is rolled back.
    pub async fn begin(&self, options: TxOptions) -> Result<Transaction> {
        let reply: pb::BeginResponse = self.client.unary(pb::POSTGRES_SERVICE_BEGIN_SPEC, &options.begin()).await?;
        Ok(Transaction { client: self.client.clone(), id: Some(reply.transaction_id) })
    }

    /// Begins a transaction on a stream of its own: it lives exactly as
    /// long as the returned value (dropped, the stream ends and the
    /// sidecar rolls it back at once).
    pub async fn transaction(&self, options: TxOptions) -> Result<TransactionStream> {
        let stream = self
            .client
            .transport()
            .stream(|h2, config| async move { pb::PostgresServiceClient::new(h2, config).transaction().await })
            .await?;
        let (send, recv) = stream.into_split();
        let recv = futures::stream::unfold(Some(recv), |recv| async move {
            let mut recv = recv?;
            match recv.message().await {
                Ok(Some(m)) => match m.to_owned_message().step {
                    Some(step) => Some((Ok(step), Some(recv))),
                    None => Some((Err(Error::new(Code::Internal, "an empty transaction step")), None)),
                },
                Ok(None) => None,
                Err(e) => Some((Err(Error::from_connect(e)), None)),
            }
        });
        let mut tx = TransactionStream { client: self.client.clone(), send, recv: Box::pin(recv), done: false };
        match tx.step(transaction_request::Step::Begin(Box::new(options.begin()))).await? {
            transaction_response::Step::Begun(_) => Ok(tx),
            _ => Err(Error::new(Code::Internal, "the transaction stream began without its confirmation")),
        }
    }
}

/// A transaction held by the sidecar under an id; from [`Postgres::begin`].
#[derive(Debug)]
pub struct Transaction {
    client: Client,
    id: Option<String>,
}

impl Transaction {
    fn id(&self) -> Result<&str> {
        self.id.as_deref().ok_or_else(|| Error::new(Code::FailedPrecondition, "the transaction has ended"))
    }

    /// Runs `sql` in the transaction.
    pub async fn query(&self, sql: &str, params: &[Param]) -> Result<Rows> {
        let req = pb::QueryRequest {
            sql: sql.to_owned(),
            params: params_pb(params),
            transaction_id: self.id()?.to_owned(),
            ..Default::default()
        };
        let reply: pb::QueryResponse = self.client.unary(pb::POSTGRES_SERVICE_QUERY_SPEC, &req).await?;
        Ok(Rows::from_query(&reply))
    }

    /// Commits.
    pub async fn commit(mut self) -> Result<()> {
        let req = pb::CommitRequest { transaction_id: self.id()?.to_owned(), ..Default::default() };
        let _: pb::CommitResponse = self.client.unary(pb::POSTGRES_SERVICE_COMMIT_SPEC, &req).await?;
        // Only now: a commit that failed or was cancelled leaves the id for
        // the drop's rollback (harmless if the commit did land).
        self.id = None;
        Ok(())
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<()> {
        let id = self.id.take().ok_or_else(|| Error::new(Code::FailedPrecondition, "the transaction has ended"))?;
        rollback(&self.client, id).await
    }
}

async fn rollback(client: &Client, id: String) -> Result<()> {
    let req = pb::RollbackRequest { transaction_id: id, ..Default::default() };
    let _: pb::RollbackResponse = client.unary(pb::POSTGRES_SERVICE_ROLLBACK_SPEC, &req).await?;
    Ok(())
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // Left open: roll it back now rather than hold its connection
        // until the sidecar's idle timeout.
        if let (Some(id), Ok(runtime)) = (self.id.take(), tokio::runtime::Handle::try_current()) {
            let client = self.client.clone();
            runtime.spawn(async move {
                let _ = rollback(&client, id).await;
            });
        }
    }
}

type StepStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<transaction_response::Step>> + Send>>;

/// A transaction on its own stream; from [`Postgres::transaction`].
pub struct TransactionStream {
    client: Client,
    send: connectrpc::client::BidiSendHalf<pb::TransactionRequest>,
    recv: StepStream,
    done: bool,
}

impl std::fmt::Debug for TransactionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionStream").field("done", &self.done).finish()
    }
}

impl TransactionStream {
    /// Sends one step and reads its answer, within the client's deadline. A
    /// failed step ends the transaction (the sidecar rolls it back).
    async fn step(&mut self, step: transaction_request::Step) -> Result<transaction_response::Step> {
        if self.done {
            return Err(Error::new(Code::FailedPrecondition, "the transaction has ended"));
        }
        // Ended until this step's answer is read: a step whose future is
        // dropped after its send would leave its answer for the next one.
        self.done = true;
        let req = pb::TransactionRequest { step: Some(step), ..Default::default() };
        let exchange = async {
            // A send that fails means the sidecar ended the stream: its
            // reason comes from the receiving side.
            let sent = self.send.send(req).await;
            match futures::StreamExt::next(&mut self.recv).await {
                Some(answer) => answer,
                None => Err(match sent {
                    Err(e) => Error::from_connect(e),
                    Ok(()) => Error::new(Code::Internal, "the transaction stream ended without an answer"),
                }),
            }
        };
        let answer = tokio::time::timeout(self.client.timeout(), exchange).await.unwrap_or_else(|_| {
            Err(Error::new(
                Code::DeadlineExceeded,
                "the transaction step's deadline passed before the sidecar answered",
            ))
        });
        self.done = answer.is_err();
        answer
    }

    /// Runs `sql` in the transaction.
    pub async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Rows> {
        let req = pb::QueryRequest { sql: sql.to_owned(), params: params_pb(params), ..Default::default() };
        match self.step(transaction_request::Step::Query(Box::new(req))).await? {
            transaction_response::Step::Result(r) => Ok(Rows::from_query(&r)),
            _ => Err(Error::new(Code::Internal, "a transaction step answered out of turn")),
        }
    }

    /// Commits.
    pub async fn commit(mut self) -> Result<()> {
        match self.step(transaction_request::Step::Commit(Box::default())).await? {
            transaction_response::Step::Committed(_) => Ok(()),
            _ => Err(Error::new(Code::Internal, "a transaction step answered out of turn")),
        }
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<()> {
        match self.step(transaction_request::Step::Rollback(Box::default())).await? {
            transaction_response::Step::RolledBack(_) => Ok(()),
            _ => Err(Error::new(Code::Internal, "a transaction step answered out of turn")),
        }
    }
}
