//! Each module's RPCs, one file per module (protobuf in, domain calls,
//! protobuf out), and the one place they are registered.
//!
//! Adding a module here takes: its file with a `register` function and its
//! service name, a field in [`Modules`] and a line in [`Modules::enabled`],
//! and a line in [`register`] and [`SERVICES`]. Admission, metrics,
//! readiness, the status page and `GetInfo` follow from its
//! [`attache_core::Module`] implementation.

mod cache_aside;
mod image;
mod kafka;
mod password;
mod postgres;
mod redis;
mod sidecar;

use std::collections::HashMap;
use std::sync::Arc;

use attache_core::Module;
use connectrpc::Router;

use crate::admission::Admission;

/// The modules the server exposes; a `None` module answers
/// `FAILED_PRECONDITION` with how to enable it.
#[derive(Default, Clone)]
pub struct Modules {
    pub password: Option<attache_password::Service>,
    pub redis: Option<attache_redis::Service>,
    pub image: Option<attache_image::Service>,
    pub postgres: Option<attache_postgres::Service>,
    pub kafka: Option<attache_kafka::Service>,
}

impl Modules {
    /// Every enabled module: the list admission, `/readyz`, the status
    /// page, `GetInfo` and shutdown are derived from.
    pub fn enabled(&self) -> Vec<Arc<dyn Module>> {
        let Self { password, redis, image, postgres, kafka } = self;
        let mut all: Vec<Arc<dyn Module>> = Vec::new();
        all.extend(password.clone().map(|m| Arc::new(m) as Arc<dyn Module>));
        all.extend(redis.clone().map(|m| Arc::new(m) as Arc<dyn Module>));
        all.extend(image.clone().map(|m| Arc::new(m) as Arc<dyn Module>));
        all.extend(postgres.clone().map(|m| Arc::new(m) as Arc<dyn Module>));
        all.extend(kafka.clone().map(|m| Arc::new(m) as Arc<dyn Module>));
        all
    }
}

/// Every service the router answers, for the health service.
pub(crate) const SERVICES: &[&str] =
    &[sidecar::NAME, password::NAME, redis::NAME, image::NAME, postgres::NAME, kafka::NAME];

/// What a module's routes may need besides its service.
pub(crate) struct Context<'a> {
    pub admissions: &'a HashMap<&'static str, Arc<Admission>>,
    /// `server.max_request_bytes`.
    pub max_request_bytes: usize,
}

/// Registers every module's RPCs, enabled or not.
pub(crate) fn register(router: Router, modules: &Modules, context: &Context<'_>) -> Router {
    let router = sidecar::register(router, modules);
    let router = password::register(router, modules.password.clone());
    let router = redis::register(router, modules.redis.clone(), context);
    let router = image::register(router, modules.image.clone(), context);
    let router = postgres::register(router, modules.postgres.clone(), modules.redis.clone());
    kafka::register(router, modules.kafka.clone())
}
