//! `attache.sidecar.v1.SidecarService`: what this sidecar is and serves.

use std::sync::Arc;

use attache_proto::attache::sidecar::v1 as pb;
use connectrpc::{RequestContext, Response, Router, ServiceRegister, ServiceRequest, ServiceResult};

use super::Modules;

pub(super) const NAME: &str = pb::SIDECAR_SERVICE_SERVICE_NAME;

pub(super) fn register(router: Router, modules: &Modules) -> Router {
    let enabled = modules.enabled().iter().map(|m| m.name().to_owned()).collect();
    Arc::new(Sidecar { modules: enabled }).register_service(router)
}

struct Sidecar {
    modules: Vec<String>,
}

#[allow(refining_impl_trait)]
impl pb::SidecarService for Sidecar {
    async fn get_info(
        &self,
        _: RequestContext,
        _: ServiceRequest<'_, pb::GetInfoRequest>,
    ) -> ServiceResult<pb::GetInfoResponse> {
        Response::ok(pb::GetInfoResponse {
            version: env!("CARGO_PKG_VERSION").into(),
            modules: self.modules.clone(),
            ..Default::default()
        })
    }
}
