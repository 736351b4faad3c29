use serde::{Deserialize, Serialize};

/// Admission limits for one module: how many requests may run at once and
/// how many may wait for a slot. A request that finds the queue full is
/// refused at once with `RESOURCE_EXHAUSTED`, so overload never turns into
/// unbounded memory or latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests of this module that may be in flight at once.
    #[serde(default = "Limits::default_max_in_flight")]
    pub max_in_flight: usize,
    /// Requests that may wait for an in-flight slot; beyond this the module
    /// answers `RESOURCE_EXHAUSTED` at once.
    #[serde(default = "Limits::default_max_queued")]
    pub max_queued: usize,
}

impl Limits {
    pub const fn default_max_in_flight() -> usize {
        64
    }

    pub const fn default_max_queued() -> usize {
        256
    }

    /// The queue of a module's CPU pool. Admission bounds the jobs in
    /// flight, so it, not the pool, is where overload is refused; the pool
    /// holds `max_queued` more to also keep jobs whose callers left (timed
    /// out) until a worker drops them unstarted.
    pub const fn pool_capacity(&self) -> usize {
        self.max_in_flight + self.max_queued
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_in_flight: Self::default_max_in_flight(), max_queued: Self::default_max_queued() }
    }
}
