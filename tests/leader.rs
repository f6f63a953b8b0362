//! Leader election against a cluster over HTTP (the sandbox, or the real control plane with
//! `CONPLUS_TEST_CLUSTER`): two instances, exactly one works, and the stand-by takes over within
//! the lease duration when the leader stops. Each test has a Lease of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conplus_operator::leader::{StopSignal, run_as_leader};
use conplus_operator::telemetry::Health;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::DeleteParams;
use tokio::sync::oneshot;

mod support;
use support::Cluster;

const NS: &str = "kube-system";
const DURATION: Duration = Duration::from_secs(3);

/// A Lease name of this test's own, on a cluster other tests may share.
fn lease_name() -> String {
    format!("conplus-operator-test-{}", support::new_tag())
}

/// What one instance did, shared with the test.
#[derive(Default)]
struct Probe {
    /// The instance is inside `work` right now.
    working: AtomicBool,
    /// Terms started.
    terms: AtomicUsize,
}

/// Starts one instance; returns its shutdown trigger, its probe, its health and its task.
async fn instance(
    cluster: &Cluster,
    lease: &str,
    identity: &str,
    running_now: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
) -> (
    oneshot::Sender<()>,
    Arc<Probe>,
    Health,
    tokio::task::JoinHandle<Result<(), conplus_operator::leader::LeaderError>>,
) {
    let client = cluster.client();
    let (tx, rx) = oneshot::channel::<()>();
    let probe = Arc::new(Probe::default());
    let health = Health::new();
    let (p, h, id, lease) = (
        probe.clone(),
        health.clone(),
        identity.to_string(),
        lease.to_string(),
    );
    let task = tokio::spawn(async move {
        run_as_leader(
            client,
            NS,
            &lease,
            &id,
            DURATION,
            h.clone(),
            async move {
                let _ = rx.await;
            },
            move |stop: StopSignal| {
                let (p, h) = (p.clone(), h.clone());
                let (now, max) = (running_now.clone(), max_running.clone());
                async move {
                    p.terms.fetch_add(1, Ordering::SeqCst);
                    p.working.store(true, Ordering::SeqCst);
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    h.set_synced();
                    stop.await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    p.working.store(false, Ordering::SeqCst);
                }
            },
        )
        .await
    });
    (tx, probe, health, task)
}

async fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_of_two_instances_works_and_the_other_takes_over_when_it_stops() {
    let cluster = Cluster::connect().await;
    let lease = lease_name();
    let running_now = Arc::new(AtomicUsize::new(0));
    let max_running = Arc::new(AtomicUsize::new(0));
    let (stop_a, a, health_a, task_a) = instance(
        &cluster,
        &lease,
        "replica-a",
        running_now.clone(),
        max_running.clone(),
    )
    .await;
    let (stop_b, b, health_b, task_b) = instance(
        &cluster,
        &lease,
        "replica-b",
        running_now.clone(),
        max_running.clone(),
    )
    .await;

    wait_until("one leader", Duration::from_secs(10), || {
        a.working.load(Ordering::SeqCst) || b.working.load(Ordering::SeqCst)
    })
    .await;
    // Several renewals (grace 1 s) pass: still exactly one works, and both replicas are ready.
    tokio::time::sleep(DURATION * 2).await;
    assert_eq!(
        running_now.load(Ordering::SeqCst),
        1,
        "exactly one instance must work"
    );
    assert_eq!(
        max_running.load(Ordering::SeqCst),
        1,
        "two instances worked at the same time"
    );
    assert!(
        health_a.is_ready() && health_b.is_ready(),
        "the stand-by must be ready too"
    );
    let (leader, follower, stop_leader, stop_follower, task_leader, task_follower, follower_health) =
        if a.working.load(Ordering::SeqCst) {
            (a, b, stop_a, stop_b, task_a, task_b, health_b)
        } else {
            (b, a, stop_b, stop_a, task_b, task_a, health_a)
        };
    assert_eq!(
        follower.terms.load(Ordering::SeqCst),
        0,
        "the stand-by must not have worked"
    );
    assert!(!follower_health.is_leader());

    let holder = |lease: Lease| {
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .unwrap_or_default()
    };
    let leases: Api<Lease> = Api::namespaced(cluster.client(), NS);
    let before = holder(leases.get(&lease).await.unwrap());
    assert!(
        before == "replica-a" || before == "replica-b",
        "lease holder {before:?}"
    );

    // The leader shuts down: its work stops, and the stand-by takes over within the lease duration.
    stop_leader.send(()).unwrap();
    task_leader.await.unwrap().unwrap();
    assert!(
        !leader.working.load(Ordering::SeqCst),
        "the old leader's work must have stopped"
    );
    let took = wait_until(
        "the stand-by to take over",
        DURATION + Duration::from_secs(2),
        || follower.working.load(Ordering::SeqCst),
    )
    .await;
    assert!(
        took <= DURATION,
        "takeover took {took:?}, more than the lease duration {DURATION:?}"
    );
    assert_eq!(
        max_running.load(Ordering::SeqCst),
        1,
        "two instances worked at the same time"
    );
    let after = holder(leases.get(&lease).await.unwrap());
    assert_ne!(after, before, "the Lease must name the new leader");
    assert!(follower_health.is_leader());

    stop_follower.send(()).unwrap();
    task_follower.await.unwrap().unwrap();
    assert!(!follower.working.load(Ordering::SeqCst));
    assert_eq!(running_now.load(Ordering::SeqCst), 0);
    leases
        .delete(&lease, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_taken_stops_working_and_waits_again() {
    let cluster = Cluster::connect().await;
    let lease = lease_name();
    let running_now = Arc::new(AtomicUsize::new(0));
    let max_running = Arc::new(AtomicUsize::new(0));
    let (stop, probe, health, task) = instance(
        &cluster,
        &lease,
        "replica-a",
        running_now.clone(),
        max_running.clone(),
    )
    .await;
    wait_until("the only instance to lead", Duration::from_secs(10), || {
        probe.working.load(Ordering::SeqCst)
    })
    .await;
    assert!(health.is_leader());

    // Another holder takes the Lease (as after a partition where our renewals did not arrive).
    let leases: Api<Lease> = Api::namespaced(cluster.client(), NS);
    let mut taken = leases.get(&lease).await.unwrap();
    let spec = taken.spec.get_or_insert_with(Default::default);
    spec.holder_identity = Some("someone-else".into());
    spec.lease_duration_seconds = Some(3600);
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    leases
        .replace(&lease, &Default::default(), &taken)
        .await
        .unwrap();

    wait_until(
        "the work to stop after the Lease was taken",
        DURATION * 3,
        || !probe.working.load(Ordering::SeqCst),
    )
    .await;
    assert!(!health.is_leader(), "health must say stand-by");
    assert!(health.is_ready(), "a stand-by is ready");
    assert!(
        !task.is_finished(),
        "it must wait for the Lease again, not return"
    );
    assert_eq!(probe.terms.load(Ordering::SeqCst), 1);

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    leases
        .delete(&lease, &DeleteParams::default())
        .await
        .unwrap();
}
