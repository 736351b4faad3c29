//! `attache.password.v1.PasswordService`: protobuf in, domain calls, protobuf out.

use attache_password::{Algorithm, Argon2Params, BcryptParams, HashOptions, ScryptParams, Service};
use attache_proto::attache::password::v1 as pb;
use std::sync::Arc;

use attache_core::Kind;
use connectrpc::{ConnectError, RequestContext, Response, Router, ServiceRegister, ServiceRequest, ServiceResult};

use crate::status::{refuse, reject};

pub(super) const NAME: &str = pb::PASSWORD_SERVICE_SERVICE_NAME;
const DISABLED: &str = "the password module is disabled; set password.enabled = true to use it";

pub(super) fn register(router: Router, service: Option<Service>) -> Router {
    Arc::new(Password(service)).register_service(router)
}

/// The password RPCs; `None` when `password.enabled = false`.
struct Password(Option<Service>);

impl Password {
    fn service(&self) -> Result<&Service, ConnectError> {
        self.0.as_ref().ok_or_else(|| refuse(Kind::FailedPrecondition, DISABLED))
    }
}

fn algorithm(value: buffa::EnumValue<pb::Algorithm>) -> Result<Option<Algorithm>, ConnectError> {
    match value.as_known() {
        Some(pb::Algorithm::ALGORITHM_UNSPECIFIED) => Ok(None),
        Some(pb::Algorithm::ALGORITHM_ARGON2ID) => Ok(Some(Algorithm::Argon2id)),
        Some(pb::Algorithm::ALGORITHM_BCRYPT) => Ok(Some(Algorithm::Bcrypt)),
        Some(pb::Algorithm::ALGORITHM_SCRYPT) => Ok(Some(Algorithm::Scrypt)),
        None => Err(refuse(
            Kind::InvalidArgument,
            format!(
                "unknown algorithm {}; use ALGORITHM_ARGON2ID, ALGORITHM_BCRYPT or ALGORITHM_SCRYPT",
                value.to_i32()
            ),
        )),
    }
}

#[allow(refining_impl_trait)]
impl pb::PasswordService for Password {
    async fn hash(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::HashRequest>,
    ) -> ServiceResult<pb::HashResponse> {
        let service = self.service()?;
        let argon2 = request.argon2.as_option();
        let scrypt = request.scrypt.as_option();
        let options = HashOptions {
            algorithm: algorithm(request.algorithm)?,
            argon2: Argon2Params {
                memory_kib: argon2.map_or(0, |p| p.memory_kib),
                iterations: argon2.map_or(0, |p| p.iterations),
                parallelism: argon2.map_or(0, |p| p.parallelism),
            },
            bcrypt: BcryptParams { cost: request.bcrypt.as_option().map_or(0, |p| p.cost) },
            scrypt: ScryptParams {
                log_n: scrypt.map_or(0, |p| p.log_n),
                r: scrypt.map_or(0, |p| p.r),
                p: scrypt.map_or(0, |p| p.p),
            },
        };
        let hash = service.hash(request.password, options, ctx.deadline()).await.map_err(reject)?;
        Response::ok(pb::HashResponse { hash, ..Default::default() })
    }

    async fn verify(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, pb::VerifyRequest>,
    ) -> ServiceResult<pb::VerifyResponse> {
        let service = self.service()?;
        let outcome = service.verify(request.password, request.hash, ctx.deadline()).await.map_err(reject)?;
        Response::ok(pb::VerifyResponse {
            valid: outcome.valid,
            needs_rehash: outcome.needs_rehash,
            ..Default::default()
        })
    }
}
