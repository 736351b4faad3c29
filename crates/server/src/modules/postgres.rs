//! `attache.postgres.v1.PostgresService`: protobuf in, domain calls, protobuf out.

use std::sync::Arc;

use attache_core::Kind as ErrorKind;
use attache_postgres::{
    Array, Infinite, Isolation, Param, QueryOptions, QueryResult, Service, Sharing, Statement, TxOptions, Value,
};
use attache_proto::attache::postgres::v1 as pb;
use attache_proto::attache::postgres::v1::__buffa::oneof::value::Kind;
use buffa::EnumValue;
use connectrpc::{ConnectError, RequestContext, Response, Router, ServiceRegister, ServiceRequest, ServiceResult};

use crate::gate::Caller;
use crate::status::{refuse, reject};

pub(super) const NAME: &str = pb::POSTGRES_SERVICE_SERVICE_NAME;
const DISABLED: &str = "the postgres module is not configured; set ATTACHE_POSTGRES_URL (or postgres.url), \
                        e.g. postgres://app:secret@127.0.0.1:5432/app";

pub(super) fn register(router: Router, service: Option<Service>) -> Router {
    Arc::new(Postgres(service)).register_service(router)
}

/// The Postgres RPCs; `None` when `postgres.url` is not set.
struct Postgres(Option<Service>);

impl Postgres {
    fn service(&self) -> Result<&Service, ConnectError> {
        self.0.as_ref().ok_or_else(|| refuse(ErrorKind::FailedPrecondition, DISABLED))
    }
}

/// Whom a transaction belongs to: the calling process.
fn owner(ctx: &RequestContext) -> String {
    ctx.extensions().get::<Caller>().map(|c| c.0.to_string()).unwrap_or_default()
}

fn invalid(message: String) -> ConnectError {
    refuse(ErrorKind::InvalidArgument, message)
}

fn infinite<T>(infinity: EnumValue<pb::Infinity>, finite: T) -> Result<Infinite<T>, ConnectError> {
    match infinity.as_known() {
        Some(pb::Infinity::INFINITY_UNSPECIFIED) => Ok(Infinite::Finite(finite)),
        Some(pb::Infinity::INFINITY_POSITIVE) => Ok(Infinite::Infinity),
        Some(pb::Infinity::INFINITY_NEGATIVE) => Ok(Infinite::NegInfinity),
        None => Err(invalid(format!("unknown infinity {}", infinity.to_i32()))),
    }
}

fn to_infinity<T>(value: &Infinite<T>) -> pb::Infinity {
    match value {
        Infinite::Finite(_) => pb::Infinity::INFINITY_UNSPECIFIED,
        Infinite::Infinity => pb::Infinity::INFINITY_POSITIVE,
        Infinite::NegInfinity => pb::Infinity::INFINITY_NEGATIVE,
    }
}

/// A wire value as a domain value. An unset oneof is NULL.
fn from_pb(value: &pb::Value, depth: usize) -> Result<Value, ConnectError> {
    if depth > 64 {
        return Err(invalid("a parameter nests deeper than 64 levels".into()));
    }
    let Some(kind) = &value.kind else { return Ok(Value::Null) };
    Ok(match kind {
        Kind::Null(_) => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(n) => Value::Int(*n),
        Kind::Float(f) => Value::Float(*f),
        Kind::Text(s) => Value::Text(s.clone()),
        Kind::Bytes(b) => Value::Bytes(b.clone()),
        Kind::Numeric(s) => Value::Numeric(s.clone()),
        Kind::Timestamp(t) => Value::Timestamp(infinite(t.infinity, t.micros)?),
        Kind::Timestamptz(t) => Value::TimestampTz(infinite(t.infinity, t.micros)?),
        Kind::Date(d) => Value::Date(infinite(d.infinity, d.days)?),
        Kind::Time(t) => Value::Time(*t),
        Kind::Interval(i) => Value::Interval { months: i.months, days: i.days, micros: i.micros },
        Kind::Uuid(s) => Value::Text(s.clone()),
        Kind::Json(s) => Value::Json(s.clone()),
        Kind::Array(a) => {
            let elements = a.elements.iter().map(|v| from_pb(v, depth + 1)).collect::<Result<Vec<_>, _>>()?;
            let dimensions = if a.dimensions.is_empty() && !elements.is_empty() {
                vec![(elements.len() as i32, 1)]
            } else {
                a.dimensions.iter().map(|d| (d.length, if d.lower_bound == 0 { 1 } else { d.lower_bound })).collect()
            };
            Value::Array(Array { dimensions, elements, element_oid: a.element_type_oid })
        }
        Kind::Record(r) => Value::Record(
            r.fields
                .iter()
                .map(|f| Ok((f.name.clone(), f.value.as_option().map_or(Ok(Value::Null), |v| from_pb(v, depth + 1))?)))
                .collect::<Result<Vec<_>, ConnectError>>()?,
        ),
        Kind::Typed(t) => {
            Value::Typed { oid: t.type_oid, type_name: t.type_name.clone(), text: t.text.clone(), raw: None }
        }
    })
}

/// A domain value as its wire form.
fn to_pb(value: &Value) -> pb::Value {
    let kind = match value {
        Value::Null => Kind::Null(true),
        Value::Bool(b) => Kind::Bool(*b),
        Value::Int(n) => Kind::Int(*n),
        Value::Float(f) => Kind::Float(*f),
        Value::Text(s) => Kind::Text(s.clone()),
        Value::Bytes(b) => Kind::Bytes(b.clone()),
        Value::Numeric(s) => Kind::Numeric(s.clone()),
        Value::Timestamp(t) | Value::TimestampTz(t) => {
            let wire = pb::Timestamp {
                micros: match t {
                    Infinite::Finite(m) => *m,
                    _ => 0,
                },
                infinity: to_infinity(t).into(),
                ..Default::default()
            };
            if matches!(value, Value::Timestamp(_)) {
                Kind::Timestamp(Box::new(wire))
            } else {
                Kind::Timestamptz(Box::new(wire))
            }
        }
        Value::Date(d) => Kind::Date(Box::new(pb::Date {
            days: match d {
                Infinite::Finite(days) => *days,
                _ => 0,
            },
            infinity: to_infinity(d).into(),
            ..Default::default()
        })),
        Value::Time(t) => Kind::Time(*t),
        Value::Interval { months, days, micros } => Kind::Interval(Box::new(pb::Interval {
            months: *months,
            days: *days,
            micros: *micros,
            ..Default::default()
        })),
        Value::Uuid(u) => Kind::Uuid(attache_postgres::uuid_text(u)),
        Value::Json(s) => Kind::Json(s.clone()),
        Value::Array(a) => Kind::Array(Box::new(pb::Array {
            dimensions: a
                .dimensions
                .iter()
                .map(|(length, lower_bound)| pb::Dimension {
                    length: *length,
                    lower_bound: *lower_bound,
                    ..Default::default()
                })
                .collect(),
            elements: a.elements.iter().map(to_pb).collect(),
            element_type_oid: a.element_oid,
            ..Default::default()
        })),
        Value::Record(fields) => Kind::Record(Box::new(pb::Record {
            fields: fields
                .iter()
                .map(|(name, v)| pb::Field { name: name.clone(), value: to_pb(v).into(), ..Default::default() })
                .collect(),
            ..Default::default()
        })),
        Value::Typed { oid, type_name, text, .. } => Kind::Typed(Box::new(pb::Typed {
            type_oid: *oid,
            type_name: type_name.clone(),
            text: text.clone(),
            ..Default::default()
        })),
    };
    pb::Value { kind: Some(kind), ..Default::default() }
}

fn params(wire: &[pb::Param]) -> Result<Vec<Param>, ConnectError> {
    wire.iter()
        .map(|p| {
            Ok(Param {
                value: p.value.as_option().map_or(Ok(Value::Null), |v| from_pb(v, 0))?,
                type_name: Some(p.r#type.clone()).filter(|t| !t.is_empty()),
            })
        })
        .collect()
}

fn result(result: &QueryResult) -> pb::QueryResponse {
    pb::QueryResponse {
        columns: result
            .columns
            .iter()
            .map(|c| pb::Column {
                name: c.name.clone(),
                type_oid: c.type_oid,
                type_name: c.type_name.clone(),
                ..Default::default()
            })
            .collect(),
        rows: result
            .rows
            .iter()
            .map(|row| pb::Row { values: row.iter().map(to_pb).collect(), ..Default::default() })
            .collect(),
        rows_affected: result.rows_affected,
        command_tag: result.command_tag.clone(),
        ..Default::default()
    }
}

fn cache_info(sharing: Sharing) -> pb::CacheInfo {
    let (status, reason) = match sharing {
        Sharing::Bypass(why) => (pb::CacheStatus::CACHE_STATUS_BYPASS, why),
        Sharing::Ran => (pb::CacheStatus::CACHE_STATUS_MISS, String::new()),
        Sharing::Coalesced => (pb::CacheStatus::CACHE_STATUS_COALESCED, String::new()),
    };
    pb::CacheInfo { status: status.into(), reason, ..Default::default() }
}

fn tx_options(
    isolation: EnumValue<pb::Isolation>,
    read_only: bool,
    deferrable: bool,
) -> Result<TxOptions, ConnectError> {
    let isolation = match isolation.as_known() {
        Some(pb::Isolation::ISOLATION_UNSPECIFIED) => Isolation::Default,
        Some(pb::Isolation::ISOLATION_READ_COMMITTED) => Isolation::ReadCommitted,
        Some(pb::Isolation::ISOLATION_REPEATABLE_READ) => Isolation::RepeatableRead,
        Some(pb::Isolation::ISOLATION_SERIALIZABLE) => Isolation::Serializable,
        None => return Err(invalid(format!("unknown isolation {}; use an ISOLATION_* value", isolation.to_i32()))),
    };
    Ok(TxOptions { isolation, read_only, deferrable })
}

#[allow(refining_impl_trait)]
impl pb::PostgresService for Postgres {
    async fn query(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::QueryRequest>,
    ) -> ServiceResult<pb::QueryResponse> {
        let service = self.service()?;
        let request = request.to_owned_message();
        let params = params(&request.params)?;
        let options = QueryOptions { max_rows: request.options.as_option().map_or(0, |o| o.max_rows) };
        let transaction = Some(request.transaction_id.as_str()).filter(|t| !t.is_empty());
        let owner = owner(&ctx);
        let queried =
            service.query(&request.sql, &params, options, transaction, &owner, ctx.deadline()).await.map_err(reject)?;
        let mut reply = result(&queried.result);
        reply.cache = cache_info(queried.sharing).into();
        Response::ok(reply)
    }

    async fn execute(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::ExecuteRequest>,
    ) -> ServiceResult<pb::ExecuteResponse> {
        let service = self.service()?;
        let request = request.to_owned_message();
        let options = tx_options(request.isolation, request.read_only, false)?;
        let statements = request
            .statements
            .iter()
            .map(|s| Ok(Statement { sql: s.sql.clone(), params: params(&s.params)? }))
            .collect::<Result<Vec<_>, ConnectError>>()?;
        let results =
            service.execute(&statements, request.transactional, options, ctx.deadline()).await.map_err(reject)?;
        Response::ok(pb::ExecuteResponse { results: results.iter().map(result).collect(), ..Default::default() })
    }

    async fn begin(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::BeginRequest>,
    ) -> ServiceResult<pb::BeginResponse> {
        let service = self.service()?;
        let options = tx_options(request.isolation, request.read_only, request.deferrable)?;
        let id = service.begin(options, &owner(&ctx), ctx.deadline()).await.map_err(reject)?;
        Response::ok(pb::BeginResponse { transaction_id: id, ..Default::default() })
    }

    async fn commit(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::CommitRequest>,
    ) -> ServiceResult<pb::CommitResponse> {
        let service = self.service()?;
        service.commit(request.transaction_id, &owner(&ctx), ctx.deadline()).await.map_err(reject)?;
        Response::ok(pb::CommitResponse::default())
    }

    async fn rollback(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::RollbackRequest>,
    ) -> ServiceResult<pb::RollbackResponse> {
        let service = self.service()?;
        service.rollback(request.transaction_id, &owner(&ctx), ctx.deadline()).await.map_err(reject)?;
        Response::ok(pb::RollbackResponse::default())
    }
}
