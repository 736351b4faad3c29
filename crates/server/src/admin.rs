//! The admin HTTP listener: `/healthz`, `/readyz`, `/metrics` and a status
//! page. Plain HTTP/1.1 on loopback or its own Unix socket, apart from the
//! API so a probe never queues behind application traffic.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use prometheus_client::registry::Registry;

/// What the admin endpoints report.
pub(crate) struct AdminState {
    pub registry: Registry,
    pub ready: AtomicBool,
    pub started: Instant,
    pub modules: Vec<Arc<dyn attache_core::Module>>,
    pub socket: String,
}

impl AdminState {
    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && self.modules.iter().all(|m| m.is_ready())
    }
}

/// The modules' notes, one line each ("kafka: spool only: …").
fn notes(state: &AdminState) -> String {
    state.modules.iter().filter_map(|m| Some(format!("{}: {}\n", m.name(), m.note()?))).collect()
}

pub(crate) async fn handle(
    state: Arc<AdminState>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("static response parts are valid")
    };
    let text = "text/plain; charset=utf-8";
    Ok(match req.uri().path() {
        "/healthz" => reply(StatusCode::OK, text, "ok\n".into()),
        "/readyz" if state.is_ready() => reply(StatusCode::OK, text, format!("ready\n{}", notes(&state))),
        "/readyz" => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            text,
            "not ready (starting, draining, or a module's backend is down; see /)\n".into(),
        ),
        "/metrics" => {
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
                Ok(()) => reply(StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", body),
                Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, text, format!("encoding metrics failed: {e}\n")),
            }
        }
        "/" => {
            let modules: Vec<String> = state
                .modules
                .iter()
                .map(|m| {
                    let ready = if m.is_ready() { "ready" } else { "not ready" };
                    match m.note() {
                        Some(note) => format!("  {}: {ready} ({note})", m.name()),
                        None => format!("  {}: {ready}", m.name()),
                    }
                })
                .collect();
            let body = format!(
                "attache {}\nsocket: {}\nuptime: {}s\nready: {}\nmodules:\n{}\nendpoints: /healthz /readyz /metrics\n",
                env!("CARGO_PKG_VERSION"),
                state.socket,
                state.started.elapsed().as_secs(),
                state.is_ready(),
                modules.join("\n"),
            );
            reply(StatusCode::OK, text, body)
        }
        _ => reply(StatusCode::NOT_FOUND, text, "not found; try /healthz, /readyz, /metrics or /\n".into()),
    })
}
