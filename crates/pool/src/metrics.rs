use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The pool's gauges and counters; cheap to clone (shared atomics).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Jobs accepted and not yet picked up by a worker.
    pub queued: Gauge,
    /// Jobs running on a worker now.
    pub busy: Gauge,
    /// Jobs refused because the queue was full.
    pub rejected: Counter,
    /// Jobs dropped unstarted because their deadline had passed.
    pub expired: Counter,
    /// Jobs dropped unstarted because their caller had gone (cancelled, or
    /// timed out while queued).
    pub abandoned: Counter,
    /// Jobs run to completion (or to a caught panic).
    pub completed: Counter,
}

impl Metrics {
    /// Registers the metrics under `registry` (the caller adds the prefix
    /// and labels that name the pool).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("pool_queued", "Jobs waiting for a worker", self.queued.clone());
        registry.register("pool_busy", "Jobs running on a worker", self.busy.clone());
        registry.register("pool_rejected", "Jobs refused because the queue was full", self.rejected.clone());
        registry.register(
            "pool_expired",
            "Jobs dropped because their deadline passed in the queue",
            self.expired.clone(),
        );
        registry.register(
            "pool_abandoned",
            "Jobs dropped because their caller went away while queued",
            self.abandoned.clone(),
        );
        registry.register("pool_completed", "Jobs run on a worker", self.completed.clone());
    }
}
