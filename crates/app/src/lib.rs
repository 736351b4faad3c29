//! Builds the sidecar from a [`Config`] and runs it through its life:
//! modules start, listeners bind, requests are served, and on shutdown the
//! listeners stop, in-flight requests drain, and modules flush.
//!
//! Key decision: the app is a library, not code in `main`, so integration
//! tests run the very same sidecar in-process on a temporary socket.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::Path;

use attache_config::Config;
use attache_core::Module;
use attache_server::{Modules, Server};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] attache_config::Error),
    #[error(transparent)]
    Server(#[from] attache_server::Error),
    #[error("cannot start the {module} module: {source}")]
    Module { module: &'static str, source: std::io::Error },
}

/// A sidecar with its modules started and its listeners bound.
pub struct App {
    server: Server,
    modules: Modules,
    registry: Registry,
}

impl App {
    /// Starts the modules `config` enables and binds the listeners.
    pub async fn build(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let mut registry = Registry::with_prefix("attache");
        let mut modules = Modules::default();
        if config.password.enabled {
            let service = attache_password::Service::new(config.password.clone())
                .map_err(|source| Error::Module { module: "password", source })?;
            service.register_metrics(registry.sub_registry_with_label(("module".into(), "password".into())));
            modules.password = Some(service);
        }
        if config.redis.url.is_some() {
            // Connects in the background: a Redis that is down at start-up
            // makes calls fail fast with UNAVAILABLE until it is back.
            let service = attache_redis::Service::new(config.redis.clone()).map_err(attache_config::Error::Invalid)?;
            service.register_metrics(registry.sub_registry_with_label(("module".into(), "redis".into())));
            modules.redis = Some(service);
        }
        if config.image.enabled {
            let service = attache_image::Service::new(config.image.clone())
                .map_err(|source| Error::Module { module: "image", source })?;
            service.register_metrics(registry.sub_registry_with_label(("module".into(), "image".into())));
            modules.image = Some(service);
        }
        let server = Server::bind(&config.server, &config.admin).await?;
        Ok(Self { server, modules, registry })
    }

    pub fn socket_path(&self) -> &Path {
        self.server.socket_path()
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.server.admin_addr()
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.server.tcp_addr()
    }

    /// Serves until `shutdown` fires, drains, then stops the modules.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let modules = self.modules.clone();
        if let Some(redis) = modules.redis.clone() {
            // Subscription streams never end by themselves; end them as
            // soon as draining starts so they do not hold it up.
            let draining = shutdown.clone();
            tokio::spawn(async move {
                draining.cancelled().await;
                redis.end_subscriptions();
            });
        }
        let served = self.server.serve(self.modules, self.registry, shutdown).await;
        // Joining pool threads blocks; keep it off the runtime's workers.
        let stopped = tokio::task::spawn_blocking(move || {
            if let Some(p) = &modules.password {
                p.shutdown();
            }
            if let Some(r) = &modules.redis {
                r.shutdown();
            }
            if let Some(i) = &modules.image {
                i.shutdown();
            }
        })
        .await;
        if let Err(e) = stopped {
            tracing::error!(error = %e, "module shutdown panicked");
        }
        tracing::info!("stopped");
        Ok(served?)
    }
}
