use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Rpc {
    pub module: String,
    pub method: String,
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Method {
    pub module: String,
    pub method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Module {
    pub module: String,
}

fn latency_histogram() -> Histogram {
    // 25 µs to 10 s: a socket round trip at the bottom, a slow hash at the top.
    Histogram::new([
        0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        2.5, 5.0, 10.0,
    ])
}

/// The request metrics every module gets from the edge.
#[derive(Clone)]
pub(crate) struct Metrics {
    pub requests: Family<Rpc, Counter>,
    pub duration: Family<Method, Histogram, fn() -> Histogram>,
    pub in_flight: Family<Module, Gauge>,
    pub queued: Family<Module, Gauge>,
    pub connections: Counter,
    pub refused_peers: Counter,
    pub refused_connections: Counter,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            in_flight: Family::default(),
            queued: Family::default(),
            connections: Counter::default(),
            refused_peers: Counter::default(),
            refused_connections: Counter::default(),
        };
        registry.register("requests", "RPCs finished, by module, method and status code", metrics.requests.clone());
        registry.register("request_duration_seconds", "RPC latency inside the sidecar", metrics.duration.clone());
        registry.register("in_flight", "RPCs running now, by module", metrics.in_flight.clone());
        registry.register("queue_depth", "RPCs waiting for an in-flight slot, by module", metrics.queued.clone());
        registry.register("connections", "Connections accepted on the API listeners", metrics.connections.clone());
        registry.register(
            "refused_peers",
            "Connections refused by the peer uid/gid allowlist",
            metrics.refused_peers.clone(),
        );
        registry.register(
            "refused_connections",
            "Connections closed at once because server.max_connections or max_connections_per_peer was reached",
            metrics.refused_connections.clone(),
        );
        metrics
    }
}
