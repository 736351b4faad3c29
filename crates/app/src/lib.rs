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

/// The outbox relay's publisher: rows go to Kafka through the spool, each
/// with its row id as `attache-id`, and count as done once Kafka
/// acknowledged them (or refused them for good: those are kept in the
/// spool directory's rejected.jsonl).
fn outbox_publisher(kafka: attache_kafka::Service) -> attache_postgres::Publish {
    use attache_postgres::Published;
    std::sync::Arc::new(move |rows: Vec<attache_postgres::OutboxRow>| {
        let kafka = kafka.clone();
        Box::pin(async move {
            let mut outcomes = vec![Published::Later; rows.len()];
            let mut valid = Vec::new();
            for (i, row) in rows.into_iter().enumerate() {
                let record = attache_kafka::Record {
                    topic: row.topic,
                    key: Some(row.key),
                    value: row.value,
                    headers: row.headers,
                    partition: None,
                    timestamp_ms: None,
                    id: Some(row.id.to_string()),
                };
                // One bad row (a topic Kafka cannot have, a header too
                // many) is set aside alone; it never holds up the others.
                match kafka.check(&record) {
                    Ok(()) => valid.push((i, record)),
                    Err(error) => outcomes[i] = Published::Invalid(error.to_string()),
                }
            }
            for chunk in valid.chunks(kafka.max_records_per_call()) {
                let (indexes, records): (Vec<usize>, Vec<_>) = chunk.iter().cloned().unzip();
                match kafka.produce(records, attache_kafka::Ack::Delivered).await {
                    Ok(produced) => {
                        for (i, p) in indexes.into_iter().zip(produced) {
                            outcomes[i] = match p.error {
                                // Refused by Kafka for good: kept in the
                                // spool directory's rejected.jsonl.
                                Some((kind, _)) if kind != attache_core::Kind::Unavailable => Published::Done,
                                Some(_) => Published::Later,
                                None => Published::Done,
                            };
                        }
                    }
                    Err(error) => tracing::warn!(%error, "postgres outbox: rows could not be spooled; trying again"),
                }
            }
            outcomes
        })
    })
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
        // Exhaustive on purpose: a new config section that is not wired
        // here does not compile.
        let Config { server, admin, log: _, password, redis, image, postgres, kafka } = config;
        let modules = Modules {
            password: match password.enabled {
                true => Some(
                    attache_password::Service::new(password)
                        .map_err(|source| Error::Module { module: "password", source })?,
                ),
                false => None,
            },
            // Connects in the background: a Redis that is down at start-up
            // makes calls fail fast with UNAVAILABLE until it is back.
            redis: match redis.url.is_some() {
                true => Some(attache_redis::Service::new(redis).map_err(attache_config::Error::Invalid)?),
                false => None,
            },
            image: match image.enabled {
                true => Some(
                    attache_image::Service::new(image).map_err(|source| Error::Module { module: "image", source })?,
                ),
                false => None,
            },
            // Connects on first use, like Redis.
            postgres: match postgres.url.is_some() {
                true => Some(attache_postgres::Service::new(postgres).map_err(attache_config::Error::Invalid)?),
                false => None,
            },
            // Opens (and recovers) the spool now; delivers in the background
            // once brokers are set.
            kafka: match kafka.enabled {
                true => Some(
                    attache_kafka::Service::new(kafka)
                        .map_err(|e| Error::Module { module: "kafka", source: std::io::Error::other(e) })?,
                ),
                false => None,
            },
        };
        if let Some(postgres) = &modules.postgres
            && postgres.outbox_enabled()
        {
            match &modules.kafka {
                Some(kafka) if kafka.delivers() => postgres.start_outbox(outbox_publisher(kafka.clone())),
                _ => {
                    return Err(attache_config::Error::Invalid(
                        "postgres.outbox.enabled needs the kafka module with brokers (kafka.brokers, ATTACHE_KAFKA_BROKERS)"
                            .into(),
                    )
                    .into());
                }
            }
        }
        let mut registry = Registry::with_prefix("attache");
        for module in modules.enabled() {
            module.register_metrics(registry.sub_registry_with_label(("module".into(), module.name().into())));
        }
        let server = Server::bind(&server, &admin).await?;
        Ok(Self { server, modules, registry })
    }

    /// The modules this sidecar runs.
    pub fn modules(&self) -> &Modules {
        &self.modules
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
        let modules = self.modules.enabled();
        let draining = shutdown.clone();
        let told = modules.clone();
        tokio::spawn(async move {
            draining.cancelled().await;
            for module in &told {
                module.begin_drain();
            }
        });
        let served = self.server.serve(self.modules, self.registry, shutdown).await;
        futures::future::join_all(modules.iter().map(|m| m.shutdown())).await;
        tracing::info!("stopped");
        Ok(served?)
    }
}
