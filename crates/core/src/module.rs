use std::future::Future;
use std::pin::Pin;

use prometheus_client::registry::Registry;

use crate::Limits;

/// A future a module returns from [`Module::shutdown`].
pub type Stopping = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What the app and the server need to know of every module, whatever it
/// does: its name (the `<module>` of `attache.<module>.v1`, used for limits,
/// metrics and logs), its admission limits, whether it can serve, and how to
/// stop it. The server derives admission, `/readyz`, the status page and
/// `GetInfo` from this trait alone, so a new module only implements it.
pub trait Module: Send + Sync + 'static {
    /// The module's name, e.g. `password`.
    fn name(&self) -> &'static str;

    /// How many of its requests may run and wait at once.
    fn limits(&self) -> Limits;

    /// Registers the module's own metrics; the registry already carries the
    /// `module` label.
    fn register_metrics(&self, _registry: &mut Registry) {}

    /// Whether the module can serve requests now (used by `/readyz`).
    fn is_ready(&self) -> bool {
        true
    }

    /// A line for the status page and `/readyz` about what the module is
    /// doing or not doing (Kafka: "spool only: no brokers configured").
    fn note(&self) -> Option<String> {
        None
    }

    /// Draining has begun: end what never ends by itself (subscription
    /// streams), so the drain is not held up by it. New calls may still
    /// arrive until the listeners close.
    fn begin_drain(&self) {}

    /// Stop taking work and finish, or roll back, what was accepted. Called
    /// once, after the listeners have stopped and in-flight requests have
    /// drained. Blocking work (joining pool threads) belongs on
    /// `spawn_blocking` inside the returned future.
    fn shutdown(&self) -> Stopping {
        Box::pin(async {})
    }
}
