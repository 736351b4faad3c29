use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use tokio::sync::oneshot;

use crate::{Error, Metrics};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of worker threads fed by a bounded queue.
pub struct Pool {
    sender: Mutex<Option<Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    capacity: usize,
    metrics: Metrics,
}

impl Pool {
    /// Starts `workers` threads named `attache-<name>-<i>` (0 means one per
    /// available core) behind a queue of `capacity` jobs, each running at
    /// niceness `nice` (0 = as the sidecar; up to 19 = yield the CPU to the
    /// host's applications whenever they want it).
    pub fn new(name: &str, workers: usize, capacity: usize, nice: i32) -> std::io::Result<Self> {
        let workers = if workers == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { workers };
        let capacity = capacity.max(1);
        let (sender, receiver) = bounded::<Job>(capacity);
        let metrics = Metrics::default();
        let handles = (0..workers)
            .map(|i| {
                let receiver = receiver.clone();
                std::thread::Builder::new().name(format!("attache-{name}-{i}")).spawn(move || {
                    if nice != 0 {
                        // On Linux a thread id names just that thread.
                        let tid = rustix::thread::gettid();
                        if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
                            eprintln!("attache: cannot set niceness {nice} on a pool thread: {e}");
                        }
                    }
                    work(receiver)
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { sender: Mutex::new(Some(sender)), workers: Mutex::new(handles), capacity, metrics })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Runs `job` on a worker and waits for its result without blocking the
    /// async runtime. Refused at once with [`Error::Full`] if the queue is
    /// full; dropped unstarted with [`Error::Expired`] if `deadline` passes
    /// while it waits, or silently if the returned future is dropped first.
    pub async fn run<T, F>(&self, deadline: Option<Instant>, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let metrics = self.metrics.clone();
        let wrapped: Job = Box::new(move || {
            metrics.queued.dec();
            if reply.is_closed() {
                metrics.abandoned.inc();
                return;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                metrics.expired.inc();
                let _ = reply.send(Err(Error::Expired));
                return;
            }
            metrics.busy.inc();
            let outcome = catch_unwind(AssertUnwindSafe(job)).map_err(|_| Error::Panicked);
            metrics.busy.dec();
            metrics.completed.inc();
            let _ = reply.send(outcome);
        });

        {
            let guard = self.sender.lock().expect("pool lock");
            let sender = guard.as_ref().ok_or(Error::Closed)?;
            self.metrics.queued.inc();
            match sender.try_send(wrapped) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.metrics.queued.dec();
                    self.metrics.rejected.inc();
                    return Err(Error::Full { capacity: self.capacity });
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.metrics.queued.dec();
                    return Err(Error::Closed);
                }
            }
        }
        result.await.unwrap_or(Err(Error::Closed))
    }

    /// Stops taking jobs, lets the workers finish what is queued, and joins
    /// them. Idempotent.
    pub fn shutdown(&self) {
        for handle in self.stop_taking() {
            let _ = handle.join();
        }
    }

    /// [`shutdown`](Self::shutdown) for async callers: the workers are
    /// joined on a thread of their own, so no async worker blocks while
    /// queued jobs finish.
    pub fn stop(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let handles = self.stop_taking();
        let (joined, done) = tokio::sync::oneshot::channel();
        let joiner = std::thread::Builder::new().name("pool-join".into()).spawn(move || {
            for handle in handles {
                let _ = handle.join();
            }
            let _ = joined.send(());
        });
        async move {
            if joiner.is_ok() {
                let _ = done.await;
            }
        }
    }

    /// Closes the queue (workers finish what it holds, then exit) and hands
    /// over their handles to be joined.
    fn stop_taking(&self) -> Vec<std::thread::JoinHandle<()>> {
        drop(self.sender.lock().expect("pool lock").take());
        std::mem::take(&mut *self.workers.lock().expect("pool lock"))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn work(receiver: Receiver<Job>) {
    // Ends when every sender is gone and the queue is empty.
    for job in receiver {
        job();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn runs_jobs_off_the_calling_thread() {
        let pool = Pool::new("t", 2, 4, 0).unwrap();
        let caller = std::thread::current().id();
        let (worker, name) = pool
            .run(None, || (std::thread::current().id(), std::thread::current().name().map(str::to_owned)))
            .await
            .unwrap();
        assert_ne!(worker, caller);
        assert!(name.unwrap().starts_with("attache-t-"));
    }

    #[tokio::test]
    async fn full_queue_is_refused_at_once() {
        let pool = Arc::new(Pool::new("t", 1, 1, 0).unwrap());
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        // One job blocks the only worker, one fills the queue.
        let blocker = {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move { pool.run(None, move || gate.lock().unwrap().recv().unwrap()).await })
        };
        while pool.metrics().busy.get() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let queued = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(None, || 7).await })
        };
        while pool.metrics().queued.get() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(pool.run(None, || 1).await, Err(Error::Full { capacity: 1 }));
        assert_eq!(pool.metrics().rejected.get(), 1);
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap(), Ok(7));
    }

    #[tokio::test]
    async fn expired_work_is_not_started() {
        let pool = Pool::new("t", 1, 4, 0).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(pool.run(Some(past), move || r.fetch_add(1, Ordering::SeqCst)).await, Err(Error::Expired));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(pool.metrics().expired.get(), 1);
    }

    #[tokio::test]
    async fn workers_run_at_the_requested_niceness() {
        let pool = Pool::new("t", 1, 4, 7).unwrap();
        let nice =
            pool.run(None, || rustix::process::getpriority_process(Some(rustix::thread::gettid()))).await.unwrap();
        assert_eq!(nice.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_panicking_job_does_not_kill_its_worker() {
        let pool = Pool::new("t", 1, 4, 0).unwrap();
        assert_eq!(pool.run(None, || -> u8 { panic!("boom") }).await, Err(Error::Panicked));
        assert_eq!(pool.run(None, || 5).await, Ok(5));
    }

    #[tokio::test]
    async fn shutdown_finishes_queued_work_then_refuses() {
        let pool = Arc::new(Pool::new("t", 1, 8, 0).unwrap());
        let p = pool.clone();
        let slow = tokio::spawn(async move {
            p.run(None, || {
                std::thread::sleep(Duration::from_millis(50));
                3
            })
            .await
        });
        while pool.metrics().busy.get() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let p = pool.clone();
        tokio::task::spawn_blocking(move || p.shutdown()).await.unwrap();
        assert_eq!(slow.await.unwrap(), Ok(3));
        assert_eq!(pool.run(None, || 1).await, Err(Error::Closed));
    }
}
