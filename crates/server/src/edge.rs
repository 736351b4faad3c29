//! The edge: what every RPC passes through between the protocol layer and a
//! module — request span with W3C trace context, deadline check, per-module
//! admission, panic isolation and metrics.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use attache_core::{Kind, Limits};
use attache_proto::attache::redis::v1::REDIS_SERVICE_BATCH_SPEC;
use connectrpc::interceptor::{UnaryRequest, UnaryResponse};
use connectrpc::{ConnectError, ErrorCode, Interceptor, Next, RequestContext};
use futures::FutureExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tracing::Instrument;

use crate::admission::Admission;
use crate::metrics::{self, Metrics};
use crate::status::refuse;
use crate::trace_context::{TraceParent, new_span_id, new_trace_id};

pub(crate) struct Edge {
    admissions: HashMap<&'static str, Arc<Admission>>,
    metrics: Metrics,
    /// Each procedure's names, admission and metric handles, made on its
    /// first call, so a call builds and hashes no label set and looks up
    /// one map (measured in ARCHITECTURE.md). Only routed procedures reach
    /// the edge, so the map is as bounded as the router and needs no
    /// flood-resistant hash.
    handles: RwLock<HashMap<String, Arc<Handles>, BuildHasherDefault<Fnv>>>,
}

/// FNV-1a: a procedure path hashed in a few dozen instructions where
/// SipHash takes hundreds.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// Status codes as the `code` label spells them ("ok" first).
const CODES: [&str; 17] = [
    "ok",
    "canceled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
];

/// One procedure's module and method names and its metric handles.
struct Handles {
    module: String,
    method: String,
    /// The module's admission, unless the handler admits for itself.
    admission: Option<Arc<Admission>>,
    in_flight: Gauge,
    duration: Histogram,
    /// By index in [`CODES`], made on first use.
    requests: [OnceLock<Counter>; CODES.len()],
}

/// Procedures that take their own admission, a slot per call they carry
/// (`RedisService/Batch`), instead of one slot at the edge.
const ADMITTED_BY_HANDLER: &[&str] = &[REDIS_SERVICE_BATCH_SPEC.procedure];

/// Each module's admission, shared by the edge and the handlers that
/// admit for themselves.
pub(crate) fn admissions(
    limits: impl IntoIterator<Item = (&'static str, Limits)>,
    metrics: &Metrics,
) -> HashMap<&'static str, Arc<Admission>> {
    limits
        .into_iter()
        .map(|(module, limits)| {
            let gauge = metrics.queued.get_or_create(&metrics::Module { module: module.into() }).clone();
            (module, Arc::new(Admission::new(limits, gauge)))
        })
        .collect()
}

impl Edge {
    pub fn new(admissions: HashMap<&'static str, Arc<Admission>>, metrics: Metrics) -> Self {
        Self { admissions, metrics, handles: RwLock::new(HashMap::default()) }
    }

    fn handles(&self, path: &str) -> Arc<Handles> {
        if let Some(handles) = self.handles.read().expect("handles lock").get(path) {
            return handles.clone();
        }
        let (module, method) = names(path);
        let admission =
            if ADMITTED_BY_HANDLER.contains(&path) { None } else { self.admissions.get(module.as_str()).cloned() };
        let handles = Arc::new(Handles {
            admission,
            in_flight: self.metrics.in_flight.get_or_create(&metrics::Module { module: module.clone() }).clone(),
            duration: self
                .metrics
                .duration
                .get_or_create(&metrics::Method { module: module.clone(), method: method.clone() })
                .clone(),
            requests: Default::default(),
            module,
            method,
        });
        self.handles.write().expect("handles lock").entry(path.to_owned()).or_insert(handles).clone()
    }

    async fn run(
        handles: &Handles,
        started: Instant,
        req: UnaryRequest,
        next: Next<'_>,
    ) -> Result<UnaryResponse, ConnectError> {
        if req.ctx.deadline().is_some_and(|d| started >= d) {
            return Err(refuse(Kind::DeadlineExceeded, "the deadline passed before the request started"));
        }
        let _permit = match &handles.admission {
            Some(admission) => Some(admission.admit().await.map_err(|_| at_limit(&handles.module, admission))?),
            None => None,
        };
        handles.in_flight.inc();
        let outcome = AssertUnwindSafe(next.run(req)).catch_unwind().await;
        handles.in_flight.dec();
        outcome.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, "handler panicked; the request failed, the sidecar keeps serving");
            Err(refuse(Kind::Internal, "internal error: the handler panicked (see the sidecar log)"))
        })
    }
}

/// The RESOURCE_EXHAUSTED answer of a module at its admission limit.
pub(crate) fn at_limit(module: &str, admission: &Admission) -> ConnectError {
    let limits = admission.limits();
    refuse(
        Kind::ResourceExhausted,
        format!(
            "the {module} module is at its limit ({} in flight, {} queued); retry with backoff or raise {module}.limits",
            limits.max_in_flight, limits.max_queued
        ),
    )
}

#[connectrpc::async_trait]
impl Interceptor for Edge {
    async fn intercept_unary(&self, req: UnaryRequest, next: Next<'_>) -> Result<UnaryResponse, ConnectError> {
        let handles = self.handles(req.ctx.path().unwrap_or_default());
        let span = request_span(&req.ctx, &handles.module, &handles.method);
        let started = Instant::now();
        let mut record = Record {
            metrics: &self.metrics,
            handles: &handles,
            deadline: req.ctx.deadline(),
            started,
            span,
            code: None,
        };
        // Without a span (the default level) the call is not wrapped in one:
        // the wrapper would move the whole call's state once more per call.
        let result = if record.span.is_none() {
            Self::run(&handles, started, req, next).await
        } else {
            Self::run(&handles, started, req, next).instrument(record.span.clone()).await
        };
        record.code = Some(match &result {
            Ok(_) => Ok(()),
            Err(e) => Err((e.code, e.message.clone().unwrap_or_default())),
        });
        result
    }
}

/// Records an RPC's outcome when dropped, so a call cut short by its
/// deadline (the protocol layer drops the future) is counted too.
struct Record<'a> {
    metrics: &'a Metrics,
    handles: &'a Handles,
    deadline: Option<Instant>,
    started: Instant,
    span: tracing::Span,
    code: Option<Result<(), (ErrorCode, String)>>,
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        let outcome = self.code.take().unwrap_or_else(|| {
            // A client whose own timer fires resets the stream a hair before
            // ours would; within this margin, that is a deadline, not a cancel.
            let margin = std::time::Duration::from_millis(10);
            if self.deadline.is_some_and(|d| Instant::now() + margin >= d) {
                Err((ErrorCode::DeadlineExceeded, "the deadline passed".into()))
            } else {
                Err((ErrorCode::Canceled, "the caller went away".into()))
            }
        });
        let code = match &outcome {
            Ok(()) => "ok",
            Err((code, _)) => code.as_str(),
        };
        let handles = self.handles;
        handles.duration.observe(elapsed.as_secs_f64());
        let index = CODES.iter().position(|c| *c == code).unwrap_or(2);
        let counter = handles.requests[index].get_or_init(|| {
            let rpc = metrics::Rpc {
                module: handles.module.clone(),
                method: handles.method.clone(),
                code: CODES[index].to_owned(),
            };
            self.metrics.requests.get_or_create(&rpc).clone()
        });
        counter.inc();
        let elapsed_us = elapsed.as_micros() as u64;
        let (module, method) = (handles.module.as_str(), handles.method.as_str());
        self.span.in_scope(|| match &outcome {
            Ok(()) => tracing::debug!(code, elapsed_us, "rpc done"),
            // Named here too: the rpc span is a debug span.
            Err((ErrorCode::Internal, message)) => {
                tracing::error!(module, method, code, elapsed_us, message, "rpc failed")
            }
            Err((_, message)) => tracing::debug!(code, elapsed_us, message, "rpc failed"),
        });
    }
}

/// `/attache.password.v1.PasswordService/Hash` is module `password`, method
/// `Hash`; other services (health, reflection) are named by their package's
/// second-to-last part.
fn names(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    let packages: Vec<&str> = service.split('.').collect();
    let module = match packages.as_slice() {
        ["attache", module, ..] => module,
        [.., package, _version, _service] => package,
        _ => "unknown",
    };
    (module.to_string(), method.to_string())
}

fn request_span(ctx: &RequestContext, module: &str, method: &str) -> tracing::Span {
    // A debug span: at the default level nothing listens, and neither its
    // ids nor its fields are made or formatted on every call.
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return tracing::Span::none();
    }
    let parent = ctx.header("traceparent").and_then(|v| v.to_str().ok()).and_then(TraceParent::parse);
    let (trace_id, parent_id) = match parent {
        Some(p) => (p.trace_id, p.parent_id),
        None => (new_trace_id(), String::new()),
    };
    tracing::debug_span!("rpc", module, method, trace_id, parent_id, span_id = new_span_id())
}

#[cfg(test)]
mod tests {
    use attache_proto::attache::password::v1 as pb;
    use bytes::Bytes;
    use connectrpc::{ConnectRpcService, Response, Router, ServiceRegister, ServiceRequest, ServiceResult};
    use http_body_util::{BodyExt, Full};
    use prometheus_client::registry::Registry;
    use tower::ServiceExt;

    use super::*;

    /// A service whose Hash panics, to prove the panic ends one request.
    struct Panicky;

    #[allow(refining_impl_trait)]
    impl pb::PasswordService for Panicky {
        async fn hash(
            &self,
            _: RequestContext,
            _: ServiceRequest<'_, pb::HashRequest>,
        ) -> ServiceResult<pb::HashResponse> {
            panic!("boom")
        }
        async fn verify(
            &self,
            _: RequestContext,
            _: ServiceRequest<'_, pb::VerifyRequest>,
        ) -> ServiceResult<pb::VerifyResponse> {
            Response::ok(pb::VerifyResponse { valid: true, ..Default::default() })
        }
    }

    async fn call(service: &ConnectRpcService, method: &str) -> (u16, String) {
        let request = http::Request::post(format!("/attache.password.v1.PasswordService/{method}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_its_request_only() {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        let edge = Edge::new(admissions([("password", attache_core::Limits::default())], &metrics), metrics.clone());
        let service = ConnectRpcService::new(Arc::new(Panicky).register_service(Router::new())).with_interceptor(edge);
        let (status, body) = call(&service, "Hash").await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains(r#""code":"internal""#) && body.contains("panicked"), "{body}");
        // The same service keeps answering, and the slot was released.
        assert_eq!(call(&service, "Verify").await, (200, r#"{"valid":true}"#.to_string()));
        let in_flight = metrics.in_flight.get_or_create(&metrics::Module { module: "password".into() }).get();
        assert_eq!(in_flight, 0);
        let failed = metrics::Rpc { module: "password".into(), method: "Hash".into(), code: "internal".into() };
        assert_eq!(metrics.requests.get_or_create(&failed).get(), 1);
    }

    #[test]
    fn names_follow_the_package_layout() {
        assert_eq!(names("/attache.password.v1.PasswordService/Hash"), ("password".into(), "Hash".into()));
        assert_eq!(names("/grpc.health.v1.Health/Check"), ("health".into(), "Check".into()));
        assert_eq!(names("/nope"), ("unknown".into(), "".into()));
    }
}
