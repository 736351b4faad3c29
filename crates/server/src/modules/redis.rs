//! `attache.redis.v1.RedisService`: protobuf in, domain calls, protobuf out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use attache_proto::attache::redis::v1 as pb;
use attache_proto::attache::redis::v1::__buffa::oneof::batch_call::Call;
use attache_proto::attache::redis::v1::__buffa::oneof::batch_result::Result as Outcome;
use attache_proto::attache::redis::v1::__buffa::oneof::subscribe_response::Event;
use attache_proto::attache::redis::v1::__buffa::oneof::value::Kind;
use attache_redis::{Service, Value};
use bytes::Bytes;
use connectrpc::{
    ConnectError, RequestContext, Response, Router, ServiceRegister, ServiceRequest, ServiceResult, ServiceStream,
};
use futures::StreamExt;

use super::Context;
use crate::admission::Admission;
use crate::edge::at_limit;
use crate::status::{refuse, reject};

pub(super) const NAME: &str = pb::REDIS_SERVICE_SERVICE_NAME;
const DISABLED: &str =
    "the redis module is not configured; set ATTACHE_REDIS_URL (or redis.url), e.g. redis://127.0.0.1:6379/0";

pub(super) fn register(router: Router, service: Option<Service>, context: &Context<'_>) -> Router {
    let admission = context.admissions.get("redis").cloned();
    Arc::new(Redis { service, admission }).register_service(router)
}

/// The Redis RPCs; `service` is `None` when `redis.url` is not set.
struct Redis {
    service: Option<Service>,
    /// The module's admission, which a Batch takes a slot of per call.
    admission: Option<Arc<Admission>>,
}

impl Redis {
    fn service(&self) -> Result<&Service, ConnectError> {
        self.service.as_ref().ok_or_else(|| refuse(attache_core::Kind::FailedPrecondition, DISABLED))
    }
}

fn args<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<Bytes> {
    items.into_iter().map(Bytes::copy_from_slice).collect()
}

/// A domain reply as its wire form.
pub(crate) fn to_pb(value: &Value) -> pb::Value {
    let kind = match value {
        Value::Nil => Kind::Null(true),
        Value::Bulk(b) => Kind::Bulk(b.to_vec()),
        Value::Simple(s) => Kind::Simple(s.clone()),
        Value::Integer(n) => Kind::Integer(*n),
        Value::Error(e) => Kind::Error(e.clone()),
        Value::Array(items) => Kind::Array(Box::new(array(items))),
        Value::Set(items) => Kind::Set(Box::new(array(items))),
        Value::Map(pairs) => Kind::Map(Box::new(pb::Map {
            entries: pairs
                .iter()
                .map(|(k, v)| pb::MapEntry { key: to_pb(k).into(), value: to_pb(v).into(), ..Default::default() })
                .collect(),
            ..Default::default()
        })),
        Value::Double(d) => Kind::Double(*d),
        Value::Boolean(b) => Kind::Boolean(*b),
        Value::BigNumber(n) => Kind::BigNumber(n.clone()),
        Value::Verbatim { format, text } => {
            Kind::Verbatim(Box::new(pb::Verbatim { format: format.clone(), text: text.to_vec(), ..Default::default() }))
        }
    };
    pb::Value { kind: Some(kind), ..Default::default() }
}

fn do_response(reply: &Value) -> pb::DoResponse {
    pb::DoResponse { reply: to_pb(reply).into(), ..Default::default() }
}

fn do_cached_response(cached: &attache_redis::Cached) -> pb::DoCachedResponse {
    pb::DoCachedResponse { reply: to_pb(&cached.value).into(), cache_hit: cached.hit, ..Default::default() }
}

fn array(items: &[Value]) -> pb::Array {
    pb::Array { values: items.iter().map(to_pb).collect(), ..Default::default() }
}

fn ttl(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[allow(refining_impl_trait)]
impl pb::RedisService for Redis {
    async fn r#do(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::DoRequest>,
    ) -> ServiceResult<pb::DoResponse> {
        let service = self.service()?;
        let reply = service.r#do(args(request.args.iter().copied()), ctx.deadline()).await.map_err(reject)?;
        Response::ok(do_response(&reply))
    }

    async fn do_multi(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::DoMultiRequest>,
    ) -> ServiceResult<pb::DoMultiResponse> {
        let service = self.service()?;
        let commands = request.commands.iter().map(|c| args(c.args.iter().copied())).collect();
        let replies = service.do_multi(commands, ctx.deadline()).await.map_err(reject)?;
        Response::ok(pb::DoMultiResponse { replies: replies.iter().map(to_pb).collect(), ..Default::default() })
    }

    async fn do_cached(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::DoCachedRequest>,
    ) -> ServiceResult<pb::DoCachedResponse> {
        let service = self.service()?;
        let cached = service
            .do_cached(args(request.args.iter().copied()), ttl(request.ttl_ms), ctx.deadline())
            .await
            .map_err(reject)?;
        Response::ok(do_cached_response(&cached))
    }

    async fn m_get_cached(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::MGetCachedRequest>,
    ) -> ServiceResult<pb::MGetCachedResponse> {
        let service = self.service()?;
        let many = service
            .mget_cached(args(request.keys.iter().copied()), ttl(request.ttl_ms), ctx.deadline())
            .await
            .map_err(reject)?;
        Response::ok(pb::MGetCachedResponse {
            values: many.values.iter().map(|v| to_pb(v)).collect(),
            cache_hits: u32::try_from(many.hits).unwrap_or(u32::MAX),
            ..Default::default()
        })
    }

    async fn batch(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::BatchRequest>,
    ) -> ServiceResult<pb::BatchResponse> {
        let service = self.service()?;
        let deadline = ctx.deadline();
        let calls = request.to_owned_message().calls;
        // A slot per call: a Batch is that many requests to Redis.
        let _permits = match &self.admission {
            Some(admission) => Some(admission.admit_many(calls.len()).await.map_err(|_| at_limit("redis", admission))?),
            None => None,
        };
        // The replies together are bounded like one call's: a call whose
        // reply would take the batch past the limit fails alone, before its
        // reply is copied into the response.
        let max = service.config().max_reply();
        let budget = &AtomicUsize::new(0);
        let take = move |weight: usize| {
            let before = budget.fetch_add(weight, Ordering::Relaxed);
            if before.saturating_add(weight) > max {
                budget.fetch_sub(weight, Ordering::Relaxed);
                return Err(attache_redis::Error::BatchTooLarge(max));
            }
            Ok(())
        };
        // All at once: their commands reach the pipeline together and go
        // to Redis in one write.
        let results = futures::future::join_all(calls.into_iter().map(|call| async move {
            let outcome = match call.call {
                Some(Call::Do(d)) => service
                    .r#do(args(d.args.iter().map(Vec::as_slice)), deadline)
                    .await
                    .and_then(|reply| take(reply.weight()).map(|()| reply))
                    .map(|reply| Outcome::Do(Box::new(do_response(&reply)))),
                Some(Call::DoCached(d)) => service
                    .do_cached(args(d.args.iter().map(Vec::as_slice)), ttl(d.ttl_ms), deadline)
                    .await
                    .and_then(|cached| take(cached.value.weight()).map(|()| cached))
                    .map(|cached| Outcome::DoCached(Box::new(do_cached_response(&cached)))),
                None => Err(attache_redis::Error::InvalidArgument("a batch call sets neither do nor do_cached".into())),
            };
            let outcome = outcome.unwrap_or_else(|e| {
                let status = reject(e);
                Outcome::Error(Box::new(pb::CallError {
                    code: status.code.as_str().to_string(),
                    message: status.message.unwrap_or_default(),
                    ..Default::default()
                }))
            });
            pb::BatchResult { result: Some(outcome), ..Default::default() }
        }))
        .await;
        Response::ok(pb::BatchResponse { results, ..Default::default() })
    }

    async fn subscribe(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::SubscribeRequest>,
    ) -> ServiceResult<ServiceStream<pb::SubscribeResponse>> {
        let service = self.service()?;
        let channels: Vec<String> = request.channels.iter().map(|s| s.to_string()).collect();
        let patterns: Vec<String> = request.patterns.iter().map(|s| s.to_string()).collect();
        let subscription =
            service.subscribe(channels.clone(), patterns.clone(), ctx.deadline()).await.map_err(reject)?;
        let first = pb::SubscribeResponse {
            event: Some(Event::Subscribed(Box::new(pb::Subscribed { channels, patterns, ..Default::default() }))),
            ..Default::default()
        };
        let messages = futures::stream::unfold(Some(subscription), |subscription| async move {
            let mut subscription = subscription?;
            match subscription.next().await? {
                Ok(m) => {
                    let message = pb::Message {
                        channel: m.channel,
                        pattern: m.pattern.unwrap_or_default(),
                        payload: m.payload.to_vec(),
                        ..Default::default()
                    };
                    let event =
                        pb::SubscribeResponse { event: Some(Event::Message(Box::new(message))), ..Default::default() };
                    Some((Ok(event), Some(subscription)))
                }
                // The stream ends with the reason; the subscription is
                // dropped (and unsubscribed) with it.
                Err(e) => Some((Err(reject(e)), None)),
            }
        });
        Response::stream_ok(futures::stream::once(async { Ok(first) }).chain(messages))
    }
}
