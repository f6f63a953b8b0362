//! Leader election with a `coordination.k8s.io/v1` Lease (I/O), so that of several replicas exactly one
//! reconciles and the others wait as warm stand-bys.
//!
//! Built on `kube-lease-manager`: it creates the Lease when missing, renews it `grace` before it expires,
//! takes over an expired Lease, and releases it when we stop, so that a stand-by takes over at once on a
//! clean shutdown and within the lease duration when the leader dies.
//!
//! Needs `get`, `create` and `patch` on `leases` in the Lease's namespace (see [`crate::rbac`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::telemetry::Health;

/// The default name of the operator's Lease.
pub const DEFAULT_LEASE_NAME: &str = "conplus-operator-leader";
/// The default lease duration: a stand-by takes over at most this long after the leader died.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long a released work future may take to stop before the Lease is released anyway.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Resolves when the work must stop: the Lease was lost or the process shuts down.
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Why leader election could not run.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The lease duration is too short to leave time for renewal.
    #[error("lease duration {0:?} is too short; use at least 2 seconds")]
    Duration(Duration),
    /// The Lease could not be read or created.
    #[error(
        "setting up Lease {namespace}/{name} failed: {source}; check that the operator may get, create and \
         patch leases in {namespace}"
    )]
    Setup {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// Why.
        source: LeaseManagerError,
    },
    /// The background task of the lease manager ended on its own.
    #[error("the lease manager of {namespace}/{name} stopped unexpectedly")]
    ManagerStopped {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
    },
}

/// Splits a lease duration into the whole seconds of the Lease and the grace before expiry at which the
/// holder renews: a third of the duration (at least one second), so two renewals can fail before it expires.
pub fn lease_timing(lease_duration: Duration) -> Result<(u64, u64), LeaderError> {
    let secs = lease_duration.as_secs();
    if secs < 2 {
        return Err(LeaderError::Duration(lease_duration));
    }
    let grace = (secs / 3).max(1);
    Ok((secs, grace))
}

/// Runs `work` only while this instance holds the Lease `namespace/lease_name`.
///
/// - While waiting, `health` says "not leader" (the replica is ready as a stand-by).
/// - On taking the Lease, `health` says "leader, not synced" and `work(stop)` starts; `work` calls
///   [`Health::set_synced`] when its caches are complete.
/// - When the Lease is lost, `stop` resolves; once `work` returns, this goes back to waiting.
/// - When `shutdown` resolves, `stop` resolves too, `work` is awaited (at most [`STOP_TIMEOUT`]), the Lease is
///   released so that a stand-by takes over at once, and this returns `Ok`.
/// - When `work` returns on its own while holding the Lease, the Lease is released and this returns `Ok`.
#[allow(clippy::too_many_arguments)] // Each is one independent setting of the election; a struct would only rename them.
pub async fn run_as_leader<F, Fut>(
    client: Client,
    namespace: &str,
    lease_name: &str,
    identity: &str,
    lease_duration: Duration,
    health: Health,
    shutdown: impl Future<Output = ()>,
    mut work: F,
) -> Result<(), LeaderError>
where
    F: FnMut(StopSignal) -> Fut,
    Fut: Future<Output = ()>,
{
    let (duration, grace) = lease_timing(lease_duration)?;
    health.set_leader(false);
    let manager = LeaseManagerBuilder::new(client, lease_name)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await
        .map_err(|source| LeaderError::Setup {
            namespace: namespace.to_string(),
            name: lease_name.to_string(),
            source,
        })?;
    let (mut leading, task) = manager.watch().await;
    let stopped = || LeaderError::ManagerStopped {
        namespace: namespace.to_string(),
        name: lease_name.to_string(),
    };
    let mut shutdown = std::pin::pin!(shutdown);
    info!(
        lease = lease_name,
        namespace, identity, "waiting for the leader Lease"
    );

    loop {
        // Wait for the Lease (or shutdown).
        while !*leading.borrow_and_update() {
            tokio::select! {
                _ = &mut shutdown => {
                    release(leading, task).await;
                    return Ok(());
                }
                changed = leading.changed() => {
                    if changed.is_err() {
                        return Err(stopped());
                    }
                }
            }
        }
        info!(
            lease = lease_name,
            identity, "holding the leader Lease; starting to reconcile"
        );
        // A new term starts with empty caches.
        health.clear_synced();
        health.set_leader(true);

        let (stop_tx, mut stop_rx) = watch::channel(false);
        let stop: StopSignal = Box::pin(async move {
            // Err: the sender is gone, which also means stop.
            let _ = stop_rx.wait_for(|stop| *stop).await;
        });
        let mut running = std::pin::pin!(work(stop));
        let mut shutting_down = false;
        let mut lost = false;
        loop {
            tokio::select! {
                _ = &mut running => break,
                _ = &mut shutdown, if !shutting_down => {
                    shutting_down = true;
                    let _ = stop_tx.send(true);
                    // Bounded: a work future that ignores its stop signal must not keep the Lease forever.
                    if tokio::time::timeout(STOP_TIMEOUT, &mut running).await.is_err() {
                        warn!(timeout = ?STOP_TIMEOUT, "the work did not stop in time; releasing the Lease anyway");
                    }
                    break;
                }
                changed = leading.changed(), if !lost => {
                    // A closed channel means the lease manager stopped: we cannot know we still lead.
                    if changed.is_err() || !*leading.borrow_and_update() {
                        warn!(lease = lease_name, identity, "lost the leader Lease; stopping to reconcile");
                        lost = true;
                        let _ = stop_tx.send(true);
                    }
                }
            }
        }
        health.set_leader(false);
        health.clear_synced();
        if shutting_down || !lost {
            // Shutdown, or the work ended on its own: give the Lease to a stand-by now.
            info!(lease = lease_name, identity, "releasing the leader Lease");
            release(leading, task).await;
            return Ok(());
        }
        if leading.has_changed().is_err() {
            return Err(stopped());
        }
        info!(
            lease = lease_name,
            identity, "waiting for the leader Lease again"
        );
    }
}

/// Closes the state channel, which makes the manager task release the Lease and end; waits a bounded time.
async fn release(
    leading: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
) {
    drop(leading);
    match tokio::time::timeout(Duration::from_secs(10), task).await {
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(e))) => {
            warn!(error = %e, "releasing the leader Lease failed; it expires on its own")
        }
        Ok(Err(e)) => warn!(error = %e, "the lease manager task failed"),
        Err(_) => warn!("releasing the leader Lease timed out; it expires on its own"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_happens_a_third_of_the_duration_before_expiry() {
        assert_eq!(lease_timing(Duration::from_secs(15)).unwrap(), (15, 5));
        assert_eq!(lease_timing(Duration::from_secs(3)).unwrap(), (3, 1));
        assert_eq!(lease_timing(Duration::from_secs(2)).unwrap(), (2, 1));
        assert!(matches!(
            lease_timing(Duration::from_millis(1500)),
            Err(LeaderError::Duration(_))
        ));
    }
}
