//! `attache.sidecar.v1.SidecarService`: what this sidecar is and serves.

use attache_proto::attache::sidecar::v1 as pb;
use connectrpc::{RequestContext, Response, ServiceRequest, ServiceResult};

pub(crate) struct Sidecar {
    pub modules: Vec<String>,
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
