//! When the watches have their initial lists (no I/O of its own): reconciles and `/readyz` wait for it.
//!
//! kube-runtime's `Store::wait_until_ready` cannot serve more than one waiter: it wakes only the
//! task that polled it last (a oneshot receiver keeps one waker), and kube's own `Controller`
//! already waits on its main store. A second waiter — the readiness task, a reconcile, the Ressort
//! controller — slept until its timeout, so `/readyz` answered 503 for 30 s after every start and
//! takeover although reconciles had run after 0.3 s. Instead, each watch stream reports its first
//! `InitDone` here, and everyone waits on a `tokio::sync::watch` channel, which wakes every waiter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::{Stream, TryStreamExt};
use kube::runtime::watcher;
use tokio::sync::watch;
use tracing::warn;

/// How long the first sync may take before reconciles go ahead with what is known (a watch that
/// cannot list, e.g. for missing RBAC, must not stop every onboarding).
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Counts the tracked watches that have not had their initial list yet.
#[derive(Debug)]
pub struct SyncTracker {
    /// Watches still listing, plus one until [`SyncTracker::start`] (no more registrations).
    pending: Arc<AtomicUsize>,
    synced: Arc<watch::Sender<bool>>,
}

impl SyncTracker {
    /// A tracker with no watches yet, and the receiver that turns true once all have synced.
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        let tracker = SyncTracker {
            pending: Arc::new(AtomicUsize::new(1)),
            synced: Arc::new(tx),
        };
        (tracker, rx)
    }

    /// `stream` (a reflected watch), reporting its first initial list to this tracker.
    pub fn track<K, S>(&self, stream: S) -> impl Stream<Item = S::Item> + use<K, S>
    where
        S: Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let done = AtomicBool::new(false);
        let (pending, synced) = (self.pending.clone(), self.synced.clone());
        stream.inspect_ok(move |event| {
            // Only the first: a relist later (after a 410 Gone) does not count again.
            if matches!(event, watcher::Event::InitDone) && !done.swap(true, Ordering::AcqRel) {
                release(&pending, &synced);
            }
        })
    }

    /// Every watch is registered: from now on the last initial list marks the sync; after
    /// [`SYNC_TIMEOUT`] it is marked anyway. The returned task ends then.
    pub fn start(self) -> tokio::task::JoinHandle<()> {
        release(&self.pending, &self.synced);
        let mut rx = self.synced.subscribe();
        let synced = self.synced;
        tokio::spawn(async move {
            if tokio::time::timeout(SYNC_TIMEOUT, rx.wait_for(|s| *s))
                .await
                .is_err()
            {
                warn!(timeout = ?SYNC_TIMEOUT, "not every watch has synced; reconciling with what is known");
                synced.send_replace(true);
            }
        })
    }
}

fn release(pending: &AtomicUsize, synced: &watch::Sender<bool>) {
    if pending.fetch_sub(1, Ordering::AcqRel) == 1 {
        synced.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::Namespace;

    type Item = Result<watcher::Event<Namespace>, watcher::Error>;

    fn listed() -> Vec<Item> {
        vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(Namespace::default())),
            Ok(watcher::Event::InitDone),
        ]
    }

    #[tokio::test]
    async fn synced_once_every_tracked_watch_has_its_initial_list_and_every_waiter_wakes() {
        let (tracker, rx) = SyncTracker::new();
        let a = tracker.track(futures::stream::iter(listed()));
        let (tx_b, rx_b) = futures::channel::mpsc::unbounded::<Item>();
        let b = tracker.track(rx_b);
        let _task = tracker.start();
        // Several waiters at once: each must wake (the store's own readiness wakes only one).
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let mut rx = rx.clone();
                tokio::spawn(async move { rx.wait_for(|s| *s).await.is_ok() })
            })
            .collect();
        tokio::pin!(a);
        tokio::pin!(b);
        while a.next().await.is_some() {}
        assert!(!*rx.borrow(), "one watch still lists");
        for item in listed() {
            tx_b.unbounded_send(item).unwrap();
        }
        let _ = b.next().await;
        let _ = b.next().await;
        let _ = b.next().await;
        assert!(*rx.borrow(), "both watches have listed");
        for w in waiters {
            let woke = tokio::time::timeout(Duration::from_secs(1), w).await;
            assert!(matches!(woke, Ok(Ok(true))), "a waiter was not woken");
        }
    }
}
