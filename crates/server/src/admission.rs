use std::sync::Arc;

use attache_core::Limits;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Per-module admission: a fixed number of in-flight slots and a bounded
/// number of waiters. Waiting is bounded by the request deadline, which the
/// protocol layer enforces around the whole call.
pub(crate) struct Admission {
    slots: Arc<Semaphore>,
    /// Also the module's `queue_depth` gauge.
    waiting: Gauge,
    limits: Limits,
}

/// Refused: the queue was full.
#[derive(Debug)]
pub(crate) struct Full;

impl Admission {
    pub fn new(limits: Limits, waiting: Gauge) -> Self {
        Self { slots: Arc::new(Semaphore::new(limits.max_in_flight.max(1))), waiting, limits }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    #[cfg(test)]
    pub fn waiting(&self) -> i64 {
        self.waiting.get()
    }

    /// A slot now, a slot after waiting in line, or [`Full`] at once.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, Full> {
        self.admit_many(1).await
    }

    /// `n` slots at once (a Batch of `n` calls), after waiting in line as
    /// one request; [`Full`] at once if the line is full or `n` is more than
    /// the module ever runs at once. All `n` are taken together, so two
    /// batches can never each hold part of what the other waits for.
    pub async fn admit_many(&self, n: usize) -> Result<OwnedSemaphorePermit, Full> {
        let n = u32::try_from(n.max(1)).map_err(|_| Full)?;
        if n as usize > self.limits.max_in_flight.max(1) {
            return Err(Full);
        }
        if let Ok(permit) = self.slots.clone().try_acquire_many_owned(n) {
            return Ok(permit);
        }
        if self.waiting.inc() >= i64::try_from(self.limits.max_queued).unwrap_or(i64::MAX) {
            self.waiting.dec();
            return Err(Full);
        }
        let _leave = Leave(&self.waiting);
        self.slots.clone().acquire_many_owned(n).await.map_err(|_| Full)
    }
}

struct Leave<'a>(&'a Gauge);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_is_bounded_and_refuses_at_once() {
        let admission = Arc::new(Admission::new(Limits { max_in_flight: 1, max_queued: 1 }, Gauge::default()));
        let held = admission.admit().await.unwrap();
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit().await.map(drop) })
        };
        while admission.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(admission.admit().await.is_err(), "third request must be refused while one waits");
        drop(held);
        waiter.await.unwrap().unwrap();
        assert_eq!(admission.waiting(), 0);
    }

    #[tokio::test]
    async fn a_batch_takes_a_slot_per_call() {
        let admission = Admission::new(Limits { max_in_flight: 4, max_queued: 0 }, Gauge::default());
        let batch = admission.admit_many(3).await.unwrap();
        admission.admit().await.unwrap().forget();
        // Full: neither a single call nor a batch gets in, nor waits.
        assert!(admission.admit().await.is_err());
        assert!(admission.admit_many(2).await.is_err());
        drop(batch);
        assert!(admission.admit_many(3).await.is_ok());
        // More calls than ever run at once can never be admitted.
        assert!(admission.admit_many(5).await.is_err());
    }
}
