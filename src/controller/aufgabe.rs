//! The `Verwaltungsaufgabe` controller: the consolidation inventory. Every task's status lists the
//! onboardings that name it (`spec.aufgabe`), counts their Ressorts and Fachverfahren, and says with
//! `ParallelSolutions` whether more than one Fachverfahren serves it.
//!
//! [`compute`] is pure; the controller writes a task's status only when it changed, once per burst
//! of onboarding changes (debounced like the Ressort controller).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};

use super::context::RESYNC;
use super::error::Error;
use super::stores::{Index, NoSharedBackoff};
pub use super::summary::Source;
use crate::api::conditions::{self as c, reason};
use crate::api::{FachverfahrenOnboarding, Solution, Verwaltungsaufgabe, VerwaltungsaufgabeStatus};
use crate::telemetry::Metrics;

/// The key of an onboarding in the index by task: the task it names.
pub fn aufgabe_of(fvo: &FachverfahrenOnboarding) -> Option<std::borrow::Cow<'_, str>> {
    fvo.spec.aufgabe.as_deref().map(std::borrow::Cow::Borrowed)
}

/// The inventory entry of one onboarding (pure).
pub fn solution(fvo: &FachverfahrenOnboarding) -> Solution {
    let status = fvo.status.as_ref();
    let ready = status
        .and_then(super::conditions::ready_condition)
        .is_some_and(|r| r.status == "True");
    Solution {
        onboarding: fvo.name_any(),
        ressort: fvo.spec.ressort.clone(),
        fachverfahren: fvo.spec.fachverfahren.clone(),
        display_name: fvo.spec.display_name.clone(),
        owner_organisation: fvo.spec.owner.organisation.clone(),
        environments: fvo
            .spec
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect(),
        protection_level: fvo.spec.protection_level,
        ready,
        conformance_score: status.and_then(|s| s.conformance.as_ref()).map(|c| c.score),
        monthly_cost: status
            .and_then(|s| s.cost.as_ref())
            .map(|c| c.monthly.clone()),
    }
}

/// A task's status from the onboardings that name it (pure). Onboardings being deleted no longer
/// count: the task shows what will still run.
pub fn compute(
    task: &Verwaltungsaufgabe,
    onboardings: &[Arc<FachverfahrenOnboarding>],
    now: Timestamp,
) -> VerwaltungsaufgabeStatus {
    let name = task.name_any();
    let mut solutions: Vec<Solution> = onboardings
        .iter()
        .filter(|o| o.spec.aufgabe.as_deref() == Some(name.as_str()))
        .filter(|o| o.metadata.deletion_timestamp.is_none())
        .map(|o| solution(o))
        .collect();
    solutions.sort_by(|a, b| {
        (&a.ressort, &a.fachverfahren, &a.onboarding).cmp(&(
            &b.ressort,
            &b.fachverfahren,
            &b.onboarding,
        ))
    });
    let ressorts: BTreeSet<&str> = solutions.iter().map(|s| s.ressort.as_str()).collect();
    let fachverfahren: BTreeSet<(&str, &str)> = solutions
        .iter()
        .map(|s| (s.ressort.as_str(), s.fachverfahren.as_str()))
        .collect();
    let listed = fachverfahren
        .iter()
        .map(|(r, f)| format!("{f} ({r})"))
        .collect::<Vec<_>>()
        .join(", ");
    let (parallel, why, message) = match fachverfahren.len() {
        0 => (
            false,
            reason::SINGLE_FACHVERFAHREN,
            "no Fachverfahren on CONPlus names this task yet (spec.aufgabe of a FachverfahrenOnboarding)".to_string(),
        ),
        1 => (
            false,
            reason::SINGLE_FACHVERFAHREN,
            format!("one Fachverfahren serves this task: {listed}"),
        ),
        n => (
            true,
            reason::SEVERAL_FACHVERFAHREN,
            format!(
                "{n} Fachverfahren of {} Ressort(s) serve this task, candidates for consolidation: {listed}",
                ressorts.len()
            ),
        ),
    };
    let generation = task.metadata.generation;
    let previous = task
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let condition = super::conditions::condition(
        c::PARALLEL_SOLUTIONS,
        if parallel { "True" } else { "False" },
        why,
        message,
        generation,
        previous,
        now,
    );
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let cost = crate::inventory::cost::sum(
        onboardings
            .iter()
            .filter(|o| o.spec.aufgabe.as_deref() == Some(name.as_str()))
            .filter(|o| o.metadata.deletion_timestamp.is_none())
            .filter_map(|o| o.status.as_ref()?.cost.as_ref()),
    );
    VerwaltungsaufgabeStatus {
        cost,
        ressorts: count(ressorts.len()),
        fachverfahren: count(fachverfahren.len()),
        solutions,
        conditions: vec![condition],
        observed_generation: generation,
    }
}

struct Ctx {
    client: Client,
    by_aufgabe: Index<FachverfahrenOnboarding>,
    /// True once the onboarding controller's stores have their initial lists.
    synced: tokio::sync::watch::Receiver<bool>,
    metrics: Arc<Metrics>,
}

async fn reconcile(task: Arc<Verwaltungsaufgabe>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    // Until the onboardings are listed, a task would be written with too few solutions.
    let _ = ctx.synced.clone().wait_for(|s| *s).await;
    let name = task.name_any();
    let status = compute(&task, &ctx.by_aufgabe.get(&name), Timestamp::now());
    ctx.metrics
        .set_aufgabe_solutions(&name, i64::from(status.fachverfahren));
    super::summary::write_status_if_changed(
        &ctx.client,
        task.as_ref(),
        task.status.as_ref(),
        &status,
    )
    .await?;
    Ok(Action::requeue(RESYNC))
}

/// Where the task controller gets its tasks: without a selector the onboarding controller's
/// watch of every task; with one a watch of its own, since an instance sees only the onboardings it
/// selects.
pub type Tasks = Source<Verwaltungsaufgabe>;

/// What the task controller watches.
pub struct Watches<S> {
    /// The API client.
    pub client: Client,
    /// The tasks whose status this controller keeps.
    pub tasks: Tasks,
    /// The onboardings by the task they name.
    pub by_aufgabe: Index<FachverfahrenOnboarding>,
    /// The changed onboardings (a follower of the shared watch).
    pub changed_onboardings: super::shared::Follower<FachverfahrenOnboarding>,
    /// Tasks an onboarding stopped naming (it was deleted or names another now).
    pub left: UnboundedReceiver<ObjectRef<Verwaltungsaufgabe>>,
    /// True once the onboarding controller's stores have their initial lists.
    pub synced: tokio::sync::watch::Receiver<bool>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Resolves on shutdown.
    pub shutdown: S,
}

/// The task controller; runs until `watches.shutdown` resolves.
pub async fn controller<S>(watches: Watches<S>)
where
    S: Future<Output = ()> + Send + Sync + 'static,
{
    let ctx = Arc::new(Ctx {
        client: watches.client.clone(),
        by_aufgabe: watches.by_aufgabe,
        synced: watches.synced,
        metrics: watches.metrics,
    });
    let controller = super::summary::controller(watches.client, watches.tasks, |_, _| {});
    controller
        // A task's status lists all its onboardings: one pass per burst of their changes.
        .with_config(kube::runtime::controller::Config::default().debounce(Duration::from_secs(1)))
        .reconcile_on(watches.left)
        .watches_shared_stream(
            watches.changed_onboardings,
            |o: Arc<FachverfahrenOnboarding>| {
                o.spec
                    .aufgabe
                    .as_deref()
                    .map(ObjectRef::<Verwaltungsaufgabe>::new)
            },
        )
        .trigger_backoff(NoSharedBackoff)
        .graceful_shutdown_on(watches.shutdown)
        .run(reconcile, super::summary::error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        AufgabeKind, ConformanceStatus, FachverfahrenOnboardingStatus, VerwaltungsaufgabeSpec,
    };
    use crate::resources::fixtures::moin_schule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn task() -> Verwaltungsaufgabe {
        let mut t = Verwaltungsaufgabe::new(
            "zeiterfassung",
            VerwaltungsaufgabeSpec {
                display_name: "Zeiterfassung".into(),
                kind: AufgabeKind::Querschnitt,
                number: None,
                description: None,
                owner: None,
            },
        );
        t.metadata.generation = Some(1);
        t
    }

    fn serving(
        name: &str,
        ressort: &str,
        fachverfahren: &str,
        ready: bool,
    ) -> Arc<FachverfahrenOnboarding> {
        let mut fvo = moin_schule();
        fvo.metadata.name = Some(name.into());
        fvo.spec.ressort = ressort.into();
        fvo.spec.fachverfahren = fachverfahren.into();
        fvo.spec.aufgabe = Some("zeiterfassung".into());
        fvo.status = Some(FachverfahrenOnboardingStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: "Provisioned".into(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
            }],
            conformance: Some(ConformanceStatus {
                score: 87,
                ..Default::default()
            }),
            ..Default::default()
        });
        Arc::new(fvo)
    }

    fn parallel(s: &VerwaltungsaufgabeStatus) -> &Condition {
        s.conditions
            .iter()
            .find(|c| c.type_ == "ParallelSolutions")
            .unwrap()
    }

    #[test]
    fn three_fachverfahren_of_different_ressorts_are_parallel_solutions() {
        let s = compute(
            &task(),
            &[
                serving("ms-zeit", "ms", "zeit", true),
                serving("mk-zeit", "mk", "zeiterfassung", false),
                serving("mi-zeit", "mi", "zeitwirtschaft", true),
            ],
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!((s.ressorts, s.fachverfahren, s.solutions.len()), (3, 3, 3));
        assert_eq!(
            s.solutions
                .iter()
                .map(|x| x.ressort.as_str())
                .collect::<Vec<_>>(),
            ["mi", "mk", "ms"],
            "solutions are ordered by Ressort"
        );
        let p = parallel(&s);
        assert_eq!(
            (p.status.as_str(), p.reason.as_str()),
            ("True", "SeveralFachverfahren")
        );
        assert!(p.message.contains("zeitwirtschaft (mi)"), "{}", p.message);
        assert_eq!(s.solutions[0].conformance_score, Some(87));
        assert!(!s.solutions[1].ready && s.solutions[0].ready);
        assert_eq!(s.observed_generation, Some(1));
    }

    #[test]
    fn environments_of_one_fachverfahren_in_two_onboardings_are_one_solution() {
        let s = compute(
            &task(),
            &[
                serving("mk-zeit-a", "mk", "zeit", true),
                serving("mk-zeit-b", "mk", "zeit", true),
            ],
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!((s.ressorts, s.fachverfahren, s.solutions.len()), (1, 1, 2));
        assert_eq!(parallel(&s).status, "False");
    }

    #[test]
    fn onboardings_of_other_tasks_or_being_deleted_do_not_count() {
        let mut other = (*serving("mi-zeit", "mi", "zeit", true)).clone();
        other.spec.aufgabe = Some("schichtplanung".into());
        let mut leaving = (*serving("ms-zeit", "ms", "zeit", true)).clone();
        leaving.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        let s = compute(
            &task(),
            &[
                Arc::new(other),
                Arc::new(leaving),
                serving("mk-zeit", "mk", "zeit", true),
            ],
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(s.fachverfahren, 1);
        let p = parallel(&s);
        assert_eq!(p.status, "False");
        assert!(p.message.contains("one Fachverfahren"), "{}", p.message);
    }

    #[test]
    fn unchanged_inventory_keeps_its_transition_time_so_nothing_is_written() {
        let ons = [
            serving("mk-zeit", "mk", "zeit", true),
            serving("ms-zeit", "ms", "zeit", true),
        ];
        let mut t = task();
        t.status = Some(compute(&t, &ons, Timestamp::UNIX_EPOCH));
        let later = Timestamp::from_second(1_000_000).unwrap();
        assert_eq!(t.status, Some(compute(&t, &ons, later)));
    }

    #[test]
    fn a_task_nobody_names_says_so() {
        let s = compute(&task(), &[], Timestamp::UNIX_EPOCH);
        assert_eq!((s.ressorts, s.fachverfahren), (0, 0));
        assert!(parallel(&s).message.contains("no Fachverfahren"));
    }
}
