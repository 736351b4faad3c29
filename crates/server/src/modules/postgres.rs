//! `attache.postgres.v1.PostgresService`: protobuf in, domain calls, protobuf out.

use std::sync::Arc;
use std::time::Duration;

use attache_core::Kind as ErrorKind;
use attache_postgres::{
    Array, Infinite, Isolation, OnConflict, Param, QueryOptions, QueryResult, Service, Shape, Sharing, Statement,
    TxOptions, Value,
};
use attache_proto::attache::postgres::v1 as pb;
use attache_proto::attache::postgres::v1::__buffa::oneof::value::Kind;
use buffa::EnumValue;
use connectrpc::{ConnectError, RequestContext, Response, Router, ServiceRegister, ServiceRequest, ServiceResult};
use futures::StreamExt;

use super::cache_aside::CacheAside;
use crate::gate::Caller;
use crate::status::{refuse, reject};

pub(super) const NAME: &str = pb::POSTGRES_SERVICE_SERVICE_NAME;
const DISABLED: &str = "the postgres module is not configured; set ATTACHE_POSTGRES_URL (or postgres.url), \
                        e.g. postgres://app:secret@127.0.0.1:5432/app";

pub(super) fn register(router: Router, service: Option<Service>, redis: Option<attache_redis::Service>) -> Router {
    let cache_aside = service.clone().zip(redis).map(|(postgres, redis)| CacheAside::new(postgres, redis));
    Arc::new(Postgres { service, cache_aside }).register_service(router)
}

/// The Postgres RPCs; `service` is `None` when `postgres.url` is not set,
/// `cache_aside` when Postgres or Redis is not.
struct Postgres {
    service: Option<Service>,
    cache_aside: Option<Arc<CacheAside>>,
}

impl Postgres {
    fn service(&self) -> Result<&Service, ConnectError> {
        self.service.as_ref().ok_or_else(|| refuse(ErrorKind::FailedPrecondition, DISABLED))
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

pub(super) fn result(result: &QueryResult) -> pb::QueryResponse {
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
    let (status, reason, age) = match sharing {
        Sharing::Bypass(why) => (pb::CacheStatus::CACHE_STATUS_BYPASS, why, Duration::ZERO),
        Sharing::Ran(why) => (pb::CacheStatus::CACHE_STATUS_MISS, why.unwrap_or_default(), Duration::ZERO),
        Sharing::Coalesced => (pb::CacheStatus::CACHE_STATUS_COALESCED, String::new(), Duration::ZERO),
        Sharing::Hit(age) => (pb::CacheStatus::CACHE_STATUS_HIT, String::new(), age),
    };
    pb::CacheInfo { status: status.into(), reason, age_ms: age.as_millis() as u64, ..Default::default() }
}

/// One Query, in `transaction` if given.
async fn run_query(
    service: &Service,
    request: &pb::QueryRequest,
    transaction: Option<&str>,
    owner: &str,
    deadline: Option<std::time::Instant>,
) -> Result<pb::QueryResponse, ConnectError> {
    let params = params(&request.params)?;
    let options = request.options.as_option().map_or_else(QueryOptions::default, |o| QueryOptions {
        max_rows: o.max_rows,
        cache_ttl: Duration::from_millis(o.cache_ttl_ms),
    });
    let queried = service.query(&request.sql, &params, options, transaction, owner, deadline).await.map_err(reject)?;
    let mut reply = result(&queried.result);
    reply.cache = cache_info(queried.sharing).into();
    Ok(reply)
}

/// A streamed transaction: its steps so far, and a rollback if the stream
/// goes away before it ended.
struct Streamed {
    service: Service,
    owner: String,
    deadline: Option<std::time::Instant>,
    requests: connectrpc::InboundStream<pb::TransactionRequest>,
    /// A step the caller sent while a statement ran, for the next turn.
    early: Option<pb::TransactionRequest>,
    open: Option<String>,
    done: bool,
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if let Some(id) = self.open.take() {
            let (service, owner) = (self.service.clone(), self.owner.clone());
            tokio::spawn(async move { service.rollback(&id, &owner, None).await });
        }
    }
}

impl Streamed {
    async fn transaction_id(&mut self, options: TxOptions) -> Result<String, ConnectError> {
        if let Some(id) = &self.open {
            return Ok(id.clone());
        }
        let id = self.service.begin(options, &self.owner, self.deadline).await.map_err(reject)?;
        self.open = Some(id.clone());
        Ok(id)
    }

    async fn end(&mut self, commit: bool) -> Result<(), ConnectError> {
        self.done = true;
        let Some(id) = self.open.take() else { return Ok(()) };
        match commit {
            true => self.service.commit(&id, &self.owner, self.deadline).await.map_err(reject),
            false => self.service.rollback(&id, &self.owner, self.deadline).await.map_err(reject),
        }
    }

    /// Runs a statement while watching the caller's side of the stream:
    /// `None` if the caller left (its side closed or broke) first, the
    /// statement then dropped, which cancels it on the server. Over
    /// HTTP/1.1 this read is the only way to see the caller go; over HTTP/2
    /// the stream's reset drops the whole call. A step sent before the
    /// answer is kept for the next turn.
    async fn query_while_present(
        &mut self,
        q: &pb::QueryRequest,
        id: &str,
    ) -> Option<Result<pb::QueryResponse, ConnectError>> {
        let run = run_query(&self.service, q, Some(id), &self.owner, self.deadline);
        tokio::pin!(run);
        loop {
            tokio::select! {
                result = &mut run => return Some(result),
                next = self.requests.next(), if self.early.is_none() => match next {
                    Some(Ok(request)) => self.early = Some(request.to_owned_message()),
                    Some(Err(_)) | None => return None,
                },
            }
        }
    }

    /// The answer to the next request; `None` once the stream is over.
    async fn step(&mut self) -> Option<Result<pb::TransactionResponse, ConnectError>> {
        use pb::__buffa::oneof::transaction_request::Step as In;
        use pb::__buffa::oneof::transaction_response::Step as Out;
        if self.done {
            return None;
        }
        let request = match self.early.take() {
            Some(request) => request,
            None => match self.requests.next().await {
                Some(Ok(request)) => request.to_owned_message(),
                // The caller closed its side without committing, or the
                // stream broke: roll back.
                Some(Err(_)) | None => {
                    let _ = self.end(false).await;
                    return None;
                }
            },
        };
        let answer = match request.step {
            Some(In::Begin(_)) if self.open.is_some() => {
                Err(invalid("the transaction has begun already: send begin first, once".into()))
            }
            Some(In::Begin(b)) => match tx_options(b.isolation, b.read_only, b.deferrable) {
                Ok(options) => self
                    .transaction_id(options)
                    .await
                    .map(|id| Out::Begun(Box::new(pb::BeginResponse { transaction_id: id, ..Default::default() }))),
                Err(e) => Err(e),
            },
            Some(In::Query(q)) => match self.transaction_id(TxOptions::default()).await {
                Ok(id) => match self.query_while_present(&q, &id).await {
                    Some(result) => result.map(|r| Out::Result(Box::new(r))),
                    // The caller left mid-statement: the statement was
                    // cancelled on the server with its dropped call.
                    None => {
                        let _ = self.end(false).await;
                        return None;
                    }
                },
                Err(e) => Err(e),
            },
            Some(In::Commit(_)) => self.end(true).await.map(|()| Out::Committed(Box::default())),
            Some(In::Rollback(_)) => self.end(false).await.map(|()| Out::RolledBack(Box::default())),
            None => Err(invalid("a transaction step needs begin, query, commit or rollback".into())),
        };
        Some(match answer {
            Ok(step) => Ok(pb::TransactionResponse { step: Some(step), ..Default::default() }),
            Err(e) => {
                // The stream ends with the error; the transaction with it.
                let _ = self.end(false).await;
                Err(e)
            }
        })
    }
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
        let transaction = Some(request.transaction_id.as_str()).filter(|t| !t.is_empty());
        Response::ok(run_query(service, &request, transaction, &owner(&ctx), ctx.deadline()).await?)
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

    async fn insert(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::InsertRequest>,
    ) -> ServiceResult<pb::InsertResponse> {
        let service = self.service()?;
        let request = request.to_owned_message();
        let conflict = request.on_conflict.as_option().cloned().unwrap_or_default();
        let on_conflict = match conflict.action.as_known() {
            Some(pb::ConflictAction::CONFLICT_ACTION_UNSPECIFIED) => OnConflict::Error,
            Some(pb::ConflictAction::CONFLICT_ACTION_NOTHING) => OnConflict::DoNothing { target: conflict.target },
            Some(pb::ConflictAction::CONFLICT_ACTION_UPDATE) => {
                OnConflict::DoUpdate { target: conflict.target, set: conflict.update }
            }
            None => return Err(invalid(format!("unknown conflict action {}", conflict.action.to_i32()))),
        };
        let shape = Shape { table: request.table, columns: request.columns, on_conflict, returning: request.returning };
        let values = params(&request.values)?;
        let inserted = service.insert(shape, values, ctx.deadline()).await.map_err(reject)?;
        let columns = inserted
            .columns
            .iter()
            .map(|c| pb::Column {
                name: c.name.clone(),
                type_oid: c.type_oid,
                type_name: c.type_name.clone(),
                ..Default::default()
            })
            .collect();
        let row = (!inserted.row.is_empty())
            .then(|| pb::Row { values: inserted.row.iter().map(to_pb).collect(), ..Default::default() });
        Response::ok(pb::InsertResponse {
            inserted: inserted.inserted,
            columns,
            row: row.into(),
            batch_size: inserted.batch as u32,
            ..Default::default()
        })
    }

    async fn get_or_load(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::GetOrLoadRequest>,
    ) -> ServiceResult<pb::GetOrLoadResponse> {
        self.service()?;
        let Some(cache_aside) = &self.cache_aside else {
            return Err(refuse(
                ErrorKind::FailedPrecondition,
                "GetOrLoad stores results in Redis: set ATTACHE_REDIS_URL (or redis.url) too",
            ));
        };
        let request = request.to_owned_message();
        let params = params(&request.params)?;
        let ttl = Duration::from_millis(request.ttl_ms);
        Response::ok(cache_aside.get_or_load(request.key, request.sql, params, ttl, ctx.deadline()).await?)
    }

    async fn transaction(
        &self,
        ctx: RequestContext,
        requests: connectrpc::InboundStream<pb::TransactionRequest>,
    ) -> ServiceResult<connectrpc::ServiceStream<pb::TransactionResponse>> {
        let service = self.service()?.clone();
        // The stream alone can use its transaction.
        let owner = format!("{} stream {:016x}", owner(&ctx), rand::random::<u64>());
        let streamed =
            Streamed { service, owner, deadline: ctx.deadline(), requests, early: None, open: None, done: false };
        let steps = futures::stream::unfold(streamed, |mut streamed| async move {
            let step = streamed.step().await?;
            Some((step, streamed))
        });
        Response::stream_ok(steps)
    }
}
