//! Single-flight: while one caller is doing the work for a key, identical
//! concurrent callers wait for its result instead of repeating the work.
//!
//! Key decision: a leader that goes away (its future is dropped because its
//! caller left or timed out) must not strand the followers, so the leader
//! holds a guard that removes the key on drop; followers then see their
//! channel closed and one of them becomes the new leader. Results are
//! cloned to every follower, so `V` is typically an `Arc` or a `Result` of
//! cheap clones. Generic: nothing here knows what the work is.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

use tokio::sync::oneshot;

/// Who produced a result: this caller, or a leader it waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
}

/// A set of in-flight works, one per key.
pub struct Group<K, V> {
    inflight: Mutex<HashMap<K, Vec<oneshot::Sender<V>>>>,
}

impl<K, V> Default for Group<K, V> {
    fn default() -> Self {
        Self { inflight: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Group<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `work` for `key` unless a run for the same key is in flight, in
    /// which case it waits for that run's result.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> (V, Role)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        loop {
            let waiting = {
                let mut inflight = self.inflight.lock().expect("single-flight map poisoned");
                match inflight.get_mut(&key) {
                    Some(waiters) => {
                        let (tx, rx) = oneshot::channel();
                        waiters.push(tx);
                        Some(rx)
                    }
                    None => {
                        inflight.insert(key.clone(), Vec::new());
                        None
                    }
                }
            };
            match waiting {
                // The leader finished: share its result.
                Some(rx) => match rx.await {
                    Ok(value) => return (value, Role::Follower),
                    // The leader was dropped before finishing: race to lead.
                    Err(_) => continue,
                },
                None => break,
            }
        }
        let mut lead = Lead { group: self, key: Some(key) };
        let value = work().await;
        for waiter in lead.finish() {
            let _ = waiter.send(value.clone());
        }
        (value, Role::Leader)
    }

    /// Keys with a run in flight (for tests and metrics).
    pub fn in_flight(&self) -> usize {
        self.inflight.lock().expect("single-flight map poisoned").len()
    }
}

/// Removes the leader's key when it finishes or is dropped mid-way.
struct Lead<'a, K: Hash + Eq, V> {
    group: &'a Group<K, V>,
    key: Option<K>,
}

impl<K: Hash + Eq, V> Lead<'_, K, V> {
    fn finish(&mut self) -> Vec<oneshot::Sender<V>> {
        let Some(key) = self.key.take() else { return Vec::new() };
        self.group.inflight.lock().expect("single-flight map poisoned").remove(&key).unwrap_or_default()
    }
}

impl<K: Hash + Eq, V> Drop for Lead<'_, K, V> {
    fn drop(&mut self) {
        // Dropping the senders wakes the followers, who retry.
        drop(self.finish());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_run() {
        let group = Arc::new(Group::<&str, usize>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (group, runs) = (group.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                group
                    .run("k", || async {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 100
                    })
                    .await
            }));
        }
        let mut leaders = 0;
        for task in tasks {
            let (value, role) = task.await.unwrap();
            assert_eq!(value, 100);
            leaders += usize::from(role == Role::Leader);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(leaders, 1);
        assert_eq!(group.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn different_keys_run_separately() {
        let group = Group::<u32, u32>::new();
        let (a, b) = tokio::join!(group.run(1, || async { 1 }), group.run(2, || async { 2 }));
        assert_eq!((a, b), ((1, Role::Leader), (2, Role::Leader)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_leader_hands_over_to_a_follower() {
        let group = Arc::new(Group::<&str, u32>::new());
        let leader = {
            let group = group.clone();
            tokio::spawn(async move { group.run("k", || async { std::future::pending::<u32>().await }).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        let follower = {
            let group = group.clone();
            tokio::spawn(async move { group.run("k", || async { 7 }).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        leader.abort();
        let (value, role) = follower.await.unwrap();
        assert_eq!((value, role), (7, Role::Leader));
        assert_eq!(group.in_flight(), 0);
    }
}
