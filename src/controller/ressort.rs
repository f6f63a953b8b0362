//! The `Ressort` controller: sums what its onboardings hold and reports it on the Ressort's
//! status, with `OverCommitted` when the budget was lowered below that sum.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use super::context::RESYNC;
use super::error::Error;
use super::stores::{Index, NoSharedBackoff};
use crate::api::conditions::{self as c, reason};
use crate::api::{Amounts, FachverfahrenOnboarding, ResourceName, Ressort, RessortStatus};
use crate::telemetry::Metrics;

struct Ctx {
    client: Client,
    by_ressort: Index<FachverfahrenOnboarding>,
    /// True once the onboarding controller's stores have their initial lists.
    synced: tokio::sync::watch::Receiver<bool>,
    metrics: Arc<Metrics>,
}

/// Computes a Ressort's status from the onboardings that belong to it (pure).
pub fn compute(
    ressort: &Ressort,
    onboardings: &[Arc<FachverfahrenOnboarding>],
    now: Timestamp,
) -> RessortStatus {
    let name = ressort.name_any();
    let mine: Vec<_> = onboardings
        .iter()
        .filter(|o| o.spec.ressort == name)
        .collect();
    let allocated = mine
        .iter()
        .filter_map(|o| o.status.as_ref()?.allocated.as_ref()?.amounts().ok())
        .fold(Amounts::default(), Amounts::plus);
    let generation = ressort.metadata.generation;
    let previous = ressort
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let cond = |type_: &str, ok: bool, reason: &str, message: String| {
        let status = if ok { "True" } else { "False" };
        super::conditions::condition(type_, status, reason, message, generation, previous, now)
    };
    let describe = super::status::describe;
    let (ready, over, available) = match ressort.spec.budget.amounts() {
        Err(e) => (
            cond(
                c::READY,
                false,
                reason::INVALID_SPEC,
                format!("spec.budget.{e}"),
            ),
            cond(
                c::OVER_COMMITTED,
                false,
                reason::INVALID_SPEC,
                "the budget cannot be read".into(),
            ),
            None,
        ),
        Ok(budget) => {
            let exceeded = allocated.exceeding(&budget);
            let available = budget.minus(allocated);
            if exceeded.is_empty() {
                (
                    cond(
                        c::READY,
                        true,
                        reason::BUDGET_TRACKED,
                        format!(
                            "{} onboardings hold {}",
                            mine.len(),
                            describe(&allocated, &ResourceName::ALL)
                        ),
                    ),
                    cond(
                        c::OVER_COMMITTED,
                        false,
                        reason::WITHIN_LIMITS,
                        "the budget covers what the onboardings hold".into(),
                    ),
                    Some(available),
                )
            } else {
                let msg = format!(
                    "the budget is below what is already provisioned ({}); nothing is taken away, but no onboarding can grow until the budget is raised or quotas are lowered",
                    describe(&allocated, &exceeded)
                );
                (
                    cond(
                        c::READY,
                        false,
                        reason::BUDGET_BELOW_ALLOCATION,
                        msg.clone(),
                    ),
                    cond(
                        c::OVER_COMMITTED,
                        true,
                        reason::BUDGET_BELOW_ALLOCATION,
                        msg,
                    ),
                    Some(Amounts {
                        cpu: available.cpu.max(Default::default()),
                        memory: available.memory.max(Default::default()),
                        storage: available.storage.max(Default::default()),
                        pods: available.pods.max(Default::default()),
                    }),
                )
            }
        }
    };
    let cost =
        crate::inventory::cost::sum(mine.iter().filter_map(|o| o.status.as_ref()?.cost.as_ref()));
    RessortStatus {
        cost,
        allocated: Some(allocated.to_totals()),
        available: available.map(|a| a.to_totals()),
        onboardings: i32::try_from(mine.len()).unwrap_or(i32::MAX),
        conditions: vec![ready, over],
        observed_generation: generation,
    }
}

/// Budget gauges per Ressort and resource, in the resource's unit (cores, bytes, pods).
fn publish_budget(metrics: &Metrics, ressort: &Ressort, status: &RessortStatus) {
    let parse = |t: &Option<crate::api::ResourceTotals>| {
        t.as_ref()
            .and_then(|t| t.amounts().ok())
            .unwrap_or_default()
    };
    let (allocated, available) = (parse(&status.allocated), parse(&status.available));
    for r in ResourceName::ALL {
        let units = |a: &Amounts| a.get(r).milli() as f64 / 1000.0;
        metrics.set_ressort_budget(
            &ressort.name_any(),
            r.as_str(),
            units(&allocated),
            units(&available),
        );
    }
}

async fn reconcile(ressort: Arc<Ressort>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    // Not the onboarding store's own readiness: a second waiter on it would steal the wake-up
    // of the onboarding controller's sync (see `Stores::wait_until_ready`).
    let _ = ctx.synced.clone().wait_for(|s| *s).await;
    let mine = ctx.by_ressort.get(&ressort.name_any());
    let status = compute(&ressort, &mine, Timestamp::now());
    publish_budget(&ctx.metrics, &ressort, &status);
    let euros = status
        .cost
        .as_ref()
        .filter(|c| c.currency == "EUR")
        .and_then(crate::inventory::cost::cents_of)
        .map(|cents| cents as f64 / 100.0);
    ctx.metrics.set_ressort_cost(&ressort.name_any(), euros);
    super::summary::write_status_if_changed(
        &ctx.client,
        ressort.as_ref(),
        ressort.status.as_ref(),
        &status,
    )
    .await?;
    Ok(Action::requeue(RESYNC))
}

/// Where the Ressort controller gets its Ressorts: without a selector the onboarding controller's
/// watch of every Ressort; with one a watch of its own (a selector picks the Ressorts reconciled,
/// while the onboarding controller reads every budget).
pub type Ressorts = super::summary::Source<Ressort>;

/// What the Ressort controller watches.
pub struct Watches<S> {
    /// The API client.
    pub client: Client,
    /// The same by Ressort.
    pub by_ressort: Index<FachverfahrenOnboarding>,
    /// The changed onboardings (a follower of the shared watch).
    pub changed_onboardings: super::shared::Follower<FachverfahrenOnboarding>,
    /// The Ressorts of deleted onboardings.
    pub gone_onboardings: UnboundedReceiver<ObjectRef<Ressort>>,
    /// The Ressorts.
    pub ressorts: Ressorts,
    /// True once the onboarding controller's stores have their initial lists.
    pub synced: tokio::sync::watch::Receiver<bool>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Resolves on shutdown.
    pub shutdown: S,
}

/// The Ressort controller over the Ressorts and onboardings `watches` names; runs until
/// `watches.shutdown` resolves.
pub async fn controller<S>(watches: Watches<S>)
where
    S: Future<Output = ()> + Send + Sync + 'static,
{
    let ctx = Arc::new(Ctx {
        client: watches.client.clone(),
        by_ressort: watches.by_ressort,
        synced: watches.synced,
        metrics: watches.metrics.clone(),
    });
    let metrics = watches.metrics;
    let controller =
        super::summary::controller(watches.client, watches.ressorts, move |event, known| {
            // A deleted Ressort is never reconciled again: its gauges go here. The store already
            // reflects the event; after a relist (InitDone) it also misses Ressorts deleted while
            // the watch was down.
            if matches!(event, watcher::Event::Delete(_) | watcher::Event::InitDone) {
                metrics.retain_ressorts(|name| known.get(&ObjectRef::new(name)).is_some());
            }
        });
    controller
        // A Ressort's status sums all its onboardings: collapse a burst of their changes into
        // one pass instead of one pass per change.
        .with_config(kube::runtime::controller::Config::default().debounce(Duration::from_secs(1)))
        .reconcile_on(watches.gone_onboardings)
        .watches_shared_stream(
            watches.changed_onboardings,
            |o: Arc<FachverfahrenOnboarding>| Some(ObjectRef::<Ressort>::new(&o.spec.ressort)),
        )
        // Each watch backs off on its own (see the onboarding controller).
        .trigger_backoff(NoSharedBackoff)
        .graceful_shutdown_on(watches.shutdown)
        .run(reconcile, super::summary::error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FachverfahrenOnboardingStatus, RessortSpec};
    use crate::resources::fixtures::{moin_schule, totals};

    fn ressort(cpu: &str) -> Ressort {
        Ressort::new(
            "mk",
            RessortSpec {
                display_name: "Kultusministerium".into(),
                budget: totals(cpu, "64Gi", "1Ti", "200"),
                onboarders: Vec::new(),
                node_pool: None,
            },
        )
    }

    fn holding(cpu: &str) -> Arc<FachverfahrenOnboarding> {
        let mut fvo = moin_schule();
        fvo.status = Some(FachverfahrenOnboardingStatus {
            allocated: Some(totals(cpu, "8Gi", "10Gi", "20")),
            ..Default::default()
        });
        Arc::new(fvo)
    }

    #[test]
    fn ressort_status_sums_what_its_onboardings_hold() {
        let s = compute(
            &ressort("16"),
            &[holding("4"), holding("6")],
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(s.onboardings, 2);
        assert_eq!(s.allocated.clone().unwrap().cpu.0, "10");
        assert_eq!(s.available.clone().unwrap().cpu.0, "6");
        assert_eq!(s.conditions[0].status, "True");
        assert_eq!(
            (
                s.conditions[1].type_.as_str(),
                s.conditions[1].status.as_str()
            ),
            ("OverCommitted", "False")
        );
    }

    #[test]
    fn lowered_budget_is_reported_over_committed() {
        let s = compute(
            &ressort("8"),
            &[holding("4"), holding("6")],
            Timestamp::UNIX_EPOCH,
        );
        let over = s
            .conditions
            .iter()
            .find(|c| c.type_ == "OverCommitted")
            .unwrap();
        assert_eq!(over.status, "True");
        assert!(over.message.contains("cpu 10"), "{}", over.message);
        assert_eq!(s.available.unwrap().cpu.0, "0");
    }
}
