//! Status step (pure): the onboarding's status from what was observed, decided and applied.
//!
//! Conditions follow kstatus: `Ready` summarises the others, every condition carries
//! `observedGeneration`, and `lastTransitionTime` moves only when a condition's status flips.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::budget::Admission;
use super::conditions::condition;
use super::model::Observed;
use super::plan::{EnvPlan, Plan};
use crate::api::conditions::{self as c, reason};
use crate::api::{
    Amounts, FachverfahrenOnboarding, FachverfahrenOnboardingStatus, NamespaceStatus, Phase,
    ResourceName,
};

/// Everything the status is computed from.
#[derive(Debug)]
pub struct StatusInput<'a> {
    /// The onboarding (its current status supplies the transition times).
    pub fvo: &'a FachverfahrenOnboarding,
    /// Whether its Ressort exists.
    pub ressort_found: bool,
    /// The budget decision, when the Ressort exists.
    pub admission: Option<&'a Admission>,
    /// The round's plan.
    pub plan: &'a Plan,
    /// Problems with the spec that the schema could not catch.
    pub problems: &'a [String],
    /// Now, for new transitions.
    pub now: Timestamp,
}

/// `cpu 4, memory 8Gi`: amounts of the named resources in canonical form.
pub(crate) fn describe(a: &Amounts, which: &[ResourceName]) -> String {
    which
        .iter()
        .map(|r| format!("{} {}", r.as_str(), a.get(*r).to_canonical(r.is_bytes())))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Cond {
    type_: &'static str,
    status: &'static str,
    reason: &'static str,
    message: String,
}

impl Cond {
    fn ok(&self) -> bool {
        self.status == "True"
    }
}

fn cond(type_: &'static str, ok: bool, reason: &'static str, message: impl Into<String>) -> Cond {
    Cond {
        type_,
        status: if ok { "True" } else { "False" },
        reason,
        message: message.into(),
    }
}

/// What keeps the onboarding from being Ready until someone acts: the reason and message
/// `Ready` and the conditions of the steps it holds up carry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Blocker {
    reason: &'static str,
    message: String,
}

/// The budget condition; `None` admission means the Ressort is missing or its budget unreadable,
/// unless the onboarding's own spec is invalid (then the budget was never asked).
fn budget_condition(input: &StatusInput<'_>) -> Cond {
    let spec = &input.fvo.spec;
    if !input.problems.is_empty() {
        // The onboarding's own spec is at fault, not the Ressort: the budget is not evaluated.
        return Cond {
            type_: c::BUDGET_AVAILABLE,
            status: "Unknown",
            reason: reason::INVALID_SPEC,
            message: "not evaluated until the onboarding's spec is valid (see Ready)".into(),
        };
    }
    match (input.ressort_found, input.admission) {
        (false, _) => cond(
            c::BUDGET_AVAILABLE,
            false,
            reason::RESSORT_NOT_FOUND,
            format!(
                "Ressort {:?} does not exist: create it, or correct spec.ressort",
                spec.ressort
            ),
        ),
        (true, None) => cond(
            c::BUDGET_AVAILABLE,
            false,
            reason::INVALID_BUDGET,
            format!(
                "the budget of Ressort {:?} cannot be read: correct spec.budget of the Ressort",
                spec.ressort
            ),
        ),
        (true, Some(Admission::Admitted { allocated })) => cond(
            c::BUDGET_AVAILABLE,
            true,
            reason::WITHIN_BUDGET,
            format!(
                "the Ressort's budget covers {}",
                describe(allocated, &ResourceName::ALL)
            ),
        ),
        (
            true,
            Some(Admission::Held {
                exceeded,
                available,
                ..
            }),
        ) => cond(
            c::BUDGET_AVAILABLE,
            false,
            reason::INCREASE_HELD,
            format!(
                "the increase does not fit the budget of Ressort {:?} (available: {}); the previous quotas stay in force: lower the quotas or raise the Ressort's budget",
                spec.ressort,
                describe(available, exceeded)
            ),
        ),
        (
            true,
            Some(Admission::Rejected {
                exceeded,
                available,
            }),
        ) => cond(
            c::BUDGET_AVAILABLE,
            false,
            reason::BUDGET_EXCEEDED,
            format!(
                "the environments do not fit the remaining budget of Ressort {:?} (available: {}); nothing is provisioned until the quotas are lowered or the budget is raised",
                spec.ressort,
                describe(available, exceeded)
            ),
        ),
    }
}

/// The status step: the status of this round. When nothing can be admitted (Ressort
/// missing, budget unreadable) although the spec is valid, the onboarding keeps what it
/// holds, and so does its record of it.
pub fn of_round(
    fvo: &FachverfahrenOnboarding,
    observed: &Observed,
    admission: Option<&Admission>,
    plan: &Plan,
    problems: &[String],
    now: Timestamp,
) -> FachverfahrenOnboardingStatus {
    let mut status = compute(&StatusInput {
        fvo,
        ressort_found: observed.ressort.is_some(),
        admission,
        plan,
        problems,
        now,
    });
    if admission.is_none() && problems.is_empty() {
        let holds = super::admit::held(observed, fvo);
        status.allocated = (holds != Amounts::default()).then(|| holds.to_totals());
    }
    status
}

/// Sets `status.cost` from the price list: the allocated quotas and the namespaces provisioned, per
/// month (no cost without a price list or an allocation).
pub fn note_cost(
    status: &mut FachverfahrenOnboardingStatus,
    prices: Option<&crate::inventory::cost::PriceList>,
) {
    status.cost = prices.and_then(|prices| {
        let allocated = status.allocated.as_ref()?.amounts().ok()?;
        let namespaces = status.namespaces.iter().filter(|n| n.ready).count();
        Some(prices.status(prices.monthly_cents(&allocated, namespaces)))
    });
}

/// Sets `AufgabeKnown` when the onboarding names a task (and removes it when it names none): True when the `Verwaltungsaufgabe` exists,
/// False with what to do when not. It never holds provisioning up: the task is inventory.
pub fn note_aufgabe(
    status: &mut FachverfahrenOnboardingStatus,
    aufgabe: Option<(String, bool)>,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) {
    // The round's status carries the previous conditions over: this step owns AufgabeKnown.
    status.conditions.retain(|x| x.type_ != c::AUFGABE_KNOWN);
    let Some((name, known)) = aufgabe else {
        return;
    };
    let (state, why, message) = if known {
        (
            "True",
            reason::AUFGABE_FOUND,
            format!("the Fachverfahren is listed in the inventory of Verwaltungsaufgabe {name:?}"),
        )
    } else {
        (
            "False",
            reason::AUFGABE_NOT_FOUND,
            format!(
                "spec.aufgabe names {name:?}, but no Verwaltungsaufgabe of that name exists (`kubectl get vwa` lists them): correct the name or create the task; provisioning goes on regardless"
            ),
        )
    };
    status.conditions.push(condition(
        c::AUFGABE_KNOWN,
        state,
        why,
        message,
        generation,
        previous,
        now,
    ));
}

/// Computes the status (conditions with preserved transition times).
pub fn compute(input: &StatusInput<'_>) -> FachverfahrenOnboardingStatus {
    let fvo = input.fvo;
    let spec = &fvo.spec;
    let envs = &input.plan.environments;
    let provisioned = |e: &&EnvPlan| matches!(e, EnvPlan::Provision { .. });
    let all_provisioned = !envs.is_empty() && envs.iter().all(|e| provisioned(&e));
    let any_provisioned = envs.iter().any(|e| provisioned(&e));

    let budget = budget_condition(input);

    let mut ns_problems = Vec::new();
    for env in envs {
        match env {
            EnvPlan::Conflict {
                namespace,
                claimed_by,
                ..
            } => {
                let msg = match claimed_by {
                    Some(other) => format!("namespace {namespace} belongs to onboarding {other:?}"),
                    None => format!(
                        "namespace {namespace} exists and the operator has no record of creating it for this onboarding: it and its data are left untouched; choose another environment name (a namespace the operator released from this Ressort and Fachverfahren is adopted again)"
                    ),
                };
                ns_problems.push((reason::NAMESPACE_CONFLICT, msg));
            }
            EnvPlan::Terminating { namespace, .. } => ns_problems.push((
                reason::NAMESPACE_TERMINATING,
                format!(
                    "namespace {namespace} is still terminating; it is created again when it is gone"
                ),
            )),
            EnvPlan::Provision { .. } | EnvPlan::Withheld { .. } => {}
        }
    }

    // What needs someone to act, most fundamental first: the onboarding's own spec, then its
    // Ressort and budget, then namespaces taken by someone else. A terminating namespace is not
    // a blocker: it goes away on its own.
    let blocker = if !input.problems.is_empty() {
        Some(Blocker {
            reason: reason::INVALID_SPEC,
            message: input.problems.join("; "),
        })
    } else if !budget.ok() {
        Some(Blocker {
            reason: budget.reason,
            message: budget.message.clone(),
        })
    } else {
        ns_problems
            .iter()
            .find(|(r, _)| *r == reason::NAMESPACE_CONFLICT)
            .map(|(r, m)| Blocker {
                reason: r,
                message: m.clone(),
            })
    };

    let mut namespaces = Vec::new();
    let mut ns_messages = ns_problems.iter().map(|(_, m)| m);
    for env in envs {
        let (name, ready, message) = match env {
            EnvPlan::Provision { desired, .. } => (
                desired.namespace.metadata.name.clone().unwrap_or_default(),
                true,
                None,
            ),
            EnvPlan::Conflict { namespace, .. } | EnvPlan::Terminating { namespace, .. } => {
                (namespace.clone(), false, ns_messages.next().cloned())
            }
            EnvPlan::Withheld { namespace, .. } => (
                namespace.clone(),
                false,
                Some(
                    blocker
                        .as_ref()
                        .map(|b| format!("{}: {}", b.reason, b.message))
                        .unwrap_or_else(|| "waiting for the Ressort's budget".to_string()),
                ),
            ),
        };
        namespaces.push(NamespaceStatus {
            environment: env.environment().to_string(),
            name,
            ready,
            message,
        });
    }

    // A step that is not done carries what holds it up, so that each condition on its own
    // tells the user what to do.
    let waiting = |type_| match &blocker {
        Some(b) => cond(type_, false, b.reason, b.message.clone()),
        None => cond(
            type_,
            false,
            reason::WAITING,
            "waiting until every environment's namespace is provisioned",
        ),
    };
    let namespaces_cond = if let Some((r, m)) = ns_problems.first() {
        cond(c::NAMESPACES_READY, false, r, m.clone())
    } else if all_provisioned {
        cond(
            c::NAMESPACES_READY,
            true,
            reason::PROVISIONED,
            format!("{} namespaces provisioned", envs.len()),
        )
    } else {
        waiting(c::NAMESPACES_READY)
    };
    let held = envs.iter().any(|e| {
        matches!(
            e,
            EnvPlan::Provision {
                hold_quota: true,
                ..
            }
        )
    });
    let quota_cond = if held && !matches!(input.admission, Some(Admission::Held { .. })) {
        // Not admitted for another reason than the budget (Ressort missing, budget unreadable).
        cond(
            c::QUOTA_APPLIED,
            false,
            budget.reason,
            format!(
                "the quotas stay at their last admitted size: {}",
                budget.message
            ),
        )
    } else if held {
        cond(
            c::QUOTA_APPLIED,
            false,
            reason::INCREASE_HELD,
            "the previous quotas stay in force until the increase fits the budget",
        )
    } else if all_provisioned {
        cond(
            c::QUOTA_APPLIED,
            true,
            reason::PROVISIONED,
            "ResourceQuota and LimitRange applied in every namespace",
        )
    } else {
        waiting(c::QUOTA_APPLIED)
    };
    let network_cond = if all_provisioned {
        cond(
            c::NETWORK_ISOLATED,
            true,
            reason::PROVISIONED,
            "default-deny and allow policies applied in every namespace",
        )
    } else {
        waiting(c::NETWORK_ISOLATED)
    };
    let access_cond = if all_provisioned {
        cond(
            c::ACCESS_GRANTED,
            true,
            reason::PROVISIONED,
            format!("{} access groups bound", spec.access.len()),
        )
    } else {
        waiting(c::ACCESS_GRANTED)
    };

    let mut conds = vec![
        namespaces_cond,
        quota_cond,
        network_cond,
        access_cond,
        budget,
    ];
    let terminating = fvo.metadata.deletion_timestamp.is_some();
    // kstatus: Ready carries the reason and message of what holds it up, the blocker first,
    // so that `kubectl get`, `kubectl wait` and GitOps tools show the cause, not a symptom.
    let ready = if terminating {
        cond(
            c::READY,
            false,
            reason::TERMINATING,
            "the onboarding is being deleted",
        )
    } else if let Some(b) = &blocker {
        cond(c::READY, false, b.reason, b.message.clone())
    } else if let Some(first) = conds.iter().find(|x| !x.ok()) {
        cond(c::READY, false, first.reason, first.message.clone())
    } else {
        cond(
            c::READY,
            true,
            reason::PROVISIONED,
            "every environment is provisioned",
        )
    };
    let phase = phase(
        terminating,
        input.problems.is_empty(),
        &ready,
        blocker.is_some(),
        any_provisioned,
    );
    conds.insert(0, ready);

    let generation = fvo.metadata.generation;
    let previous = fvo
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let mut conditions: Vec<Condition> = conds
        .into_iter()
        .map(|x| to_condition(x, generation, previous, input.now))
        .collect();
    // Conditions owned by other steps (Conformant) are carried over unchanged.
    for p in previous {
        if !conditions.iter().any(|c| c.type_ == p.type_) {
            conditions.push(p.clone());
        }
    }
    let allocated = input
        .admission
        .map(Admission::allocated)
        .filter(|a| *a != Amounts::default() || all_provisioned);
    FachverfahrenOnboardingStatus {
        phase: Some(phase),
        observed_generation: generation,
        conditions,
        namespaces,
        allocated: allocated.map(|a| a.to_totals()),
        cost: None,
        conformance_profile: Some(spec.conformance.profile.clone().unwrap_or_else(|| {
            crate::conformance::profile::builtin_name(spec.protection_level).to_string()
        })),
        conformance: fvo.status.as_ref().and_then(|s| s.conformance.clone()),
    }
}

/// The phase: a state that needs someone to act is never shown as in progress (Argo CD reads
/// `Blocked`, `Degraded` and `Failed` as Degraded, the others as Progressing).
fn phase(
    terminating: bool,
    spec_valid: bool,
    ready: &Cond,
    blocked: bool,
    any_provisioned: bool,
) -> Phase {
    if terminating {
        Phase::Terminating
    } else if !spec_valid {
        Phase::Failed
    } else if ready.ok() {
        Phase::Ready
    } else if blocked && any_provisioned {
        Phase::Degraded
    } else if blocked {
        Phase::Blocked
    } else {
        Phase::Provisioning
    }
}

fn to_condition(
    x: Cond,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> Condition {
    condition(
        x.type_, x.status, x.reason, x.message, generation, previous, now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DeletionPolicy;
    use crate::controller::model::Observed;
    use crate::controller::plan;
    use crate::resources::{PlatformSettings, desired, fixtures::moin_schule};

    fn admitted(fvo: &FachverfahrenOnboarding) -> Admission {
        let envs = desired(fvo, &PlatformSettings::default()).unwrap();
        Admission::Admitted {
            allocated: crate::resources::requested_total(&envs),
        }
    }

    fn status_for(
        fvo: &FachverfahrenOnboarding,
        observed: &Observed,
        admission: Option<&Admission>,
    ) -> FachverfahrenOnboardingStatus {
        let envs = desired(fvo, &PlatformSettings::default()).unwrap();
        let plan = plan::build(envs, observed, admission, DeletionPolicy::Retain);
        compute(&StatusInput {
            fvo,
            ressort_found: admission.is_some(),
            admission,
            plan: &plan,
            problems: &[],
            now: Timestamp::UNIX_EPOCH,
        })
    }

    fn get<'a>(s: &'a FachverfahrenOnboardingStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn admitted_onboarding_is_ready_with_every_condition_true_and_observed_generation() {
        let mut fvo = moin_schule();
        fvo.metadata.generation = Some(3);
        let a = admitted(&fvo);
        let s = status_for(&fvo, &Observed::default(), Some(&a));
        assert_eq!(s.phase, Some(Phase::Ready));
        assert_eq!(s.observed_generation, Some(3));
        for t in [
            c::READY,
            c::NAMESPACES_READY,
            c::QUOTA_APPLIED,
            c::NETWORK_ISOLATED,
            c::ACCESS_GRANTED,
            c::BUDGET_AVAILABLE,
        ] {
            let cond = get(&s, t);
            assert_eq!(cond.status, "True", "{t}: {cond:?}");
            assert_eq!(cond.observed_generation, Some(3));
        }
        let alloc = s.allocated.unwrap();
        assert_eq!(
            (
                alloc.cpu.0.as_str(),
                alloc.memory.0.as_str(),
                alloc.pods.0.as_str()
            ),
            ("10", "20Gi", "70")
        );
        assert_eq!(s.conformance_profile.as_deref(), Some("dvc-erhoeht"));
        assert_eq!(s.namespaces.len(), 2);
    }

    /// Ready, the phase and every step held up carry the blocking condition's reason and message.
    fn assert_blocked_by(s: &FachverfahrenOnboardingStatus, reason: &str, phase: Phase) {
        assert_eq!(s.phase, Some(phase), "{s:#?}");
        let ready = get(s, c::READY);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reason),
            "{ready:?}"
        );
        for t in [c::NAMESPACES_READY, c::NETWORK_ISOLATED, c::ACCESS_GRANTED] {
            let cond = get(s, t);
            assert_eq!(cond.reason, reason, "{t}: {cond:?}");
            assert_eq!(cond.message, ready.message, "{t}: {cond:?}");
        }
    }

    #[test]
    fn missing_ressort_blocks_ready_with_its_reason_and_message_not_a_waiting_phase() {
        let fvo = moin_schule();
        let s = status_for(&fvo, &Observed::default(), None);
        assert_blocked_by(&s, reason::RESSORT_NOT_FOUND, Phase::Blocked);
        let b = get(&s, c::BUDGET_AVAILABLE);
        assert_eq!(
            (b.status.as_str(), b.reason.as_str()),
            ("False", reason::RESSORT_NOT_FOUND)
        );
        let ready = get(&s, c::READY);
        assert_eq!(ready.message, b.message);
        assert!(ready.message.contains("\"mk\""), "{}", ready.message);
        assert!(ready.message.contains("create it"), "{}", ready.message);
        for n in &s.namespaces {
            let m = n.message.as_deref().unwrap_or_default();
            assert!(m.starts_with("RessortNotFound: "), "{n:?}");
        }
    }

    #[test]
    fn exhausted_budget_blocks_ready_with_budget_exceeded() {
        let fvo = moin_schule();
        let a = Admission::Rejected {
            exceeded: vec![ResourceName::Cpu],
            available: Amounts::default(),
        };
        let s = status_for(&fvo, &Observed::default(), Some(&a));
        assert_blocked_by(&s, reason::BUDGET_EXCEEDED, Phase::Blocked);
        assert!(
            get(&s, c::READY).message.contains("available: cpu 0"),
            "{:?}",
            get(&s, c::READY)
        );
    }

    #[test]
    fn invalid_quantity_of_the_onboarding_fails_it_without_blaming_the_ressort() {
        let fvo = moin_schule();
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let plan = plan::build(envs, &Observed::default(), None, DeletionPolicy::Retain);
        let problems =
            vec!["spec.environments[prod].quota.memory: \"lots\" is not a quantity".to_string()];
        let s = compute(&StatusInput {
            fvo: &fvo,
            // The Ressort exists and is fine; only the onboarding is wrong.
            ressort_found: true,
            admission: None,
            plan: &plan,
            problems: &problems,
            now: Timestamp::UNIX_EPOCH,
        });
        assert_eq!(s.phase, Some(Phase::Failed));
        let ready = get(&s, c::READY);
        assert_eq!(ready.reason, reason::INVALID_SPEC);
        assert!(ready.message.contains("quota.memory"), "{ready:?}");
        let b = get(&s, c::BUDGET_AVAILABLE);
        assert_eq!(
            (b.status.as_str(), b.reason.as_str()),
            ("Unknown", reason::INVALID_SPEC),
            "the Ressort's budget is not blamed: {b:?}"
        );
        for cond in &s.conditions {
            assert_ne!(cond.reason, reason::INVALID_BUDGET, "{cond:?}");
            assert!(!cond.message.contains("of the Ressort"), "{cond:?}");
        }
    }

    #[test]
    fn unreadable_ressort_budget_blocks_with_invalid_budget() {
        let fvo = moin_schule();
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let plan = plan::build(envs, &Observed::default(), None, DeletionPolicy::Retain);
        let s = compute(&StatusInput {
            fvo: &fvo,
            ressort_found: true,
            admission: None,
            plan: &plan,
            problems: &[],
            now: Timestamp::UNIX_EPOCH,
        });
        assert_blocked_by(&s, reason::INVALID_BUDGET, Phase::Blocked);
    }

    #[test]
    fn namespace_taken_in_every_environment_blocks_the_onboarding() {
        let fvo = moin_schule();
        let mut observed = Observed::default();
        for ns in ["mk-moin-schule-dev", "mk-moin-schule-prod"] {
            observed.namespaces.insert(
                ns.into(),
                crate::controller::model::NamespaceState::Foreign { claimed_by: None },
            );
        }
        let a = admitted(&fvo);
        let s = status_for(&fvo, &observed, Some(&a));
        assert_eq!(s.phase, Some(Phase::Blocked));
        assert_eq!(get(&s, c::READY).reason, reason::NAMESPACE_CONFLICT);
    }

    #[test]
    fn foreign_namespace_is_a_conflict_and_the_onboarding_degraded() {
        let fvo = moin_schule();
        let mut observed = Observed::default();
        observed.namespaces.insert(
            "mk-moin-schule-dev".into(),
            crate::controller::model::NamespaceState::Foreign { claimed_by: None },
        );
        let a = admitted(&fvo);
        let s = status_for(&fvo, &observed, Some(&a));
        assert_eq!(s.phase, Some(Phase::Degraded));
        assert_eq!(get(&s, c::READY).reason, reason::NAMESPACE_CONFLICT);
        let n = get(&s, c::NAMESPACES_READY);
        assert_eq!(n.reason, reason::NAMESPACE_CONFLICT);
        assert!(n.message.contains("mk-moin-schule-dev"));
        assert!(
            s.namespaces
                .iter()
                .any(|n| n.name == "mk-moin-schule-prod" && n.ready),
            "other environments still provisioned"
        );
    }

    #[test]
    fn transition_time_is_kept_while_a_condition_does_not_flip() {
        let mut fvo = moin_schule();
        let a = admitted(&fvo);
        let first = status_for(&fvo, &Observed::default(), Some(&a));
        fvo.status = Some(first.clone());
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let plan = plan::build(envs, &Observed::default(), Some(&a), DeletionPolicy::Retain);
        let later = Timestamp::from_second(1_000_000).unwrap();
        let second = compute(&StatusInput {
            fvo: &fvo,
            ressort_found: true,
            admission: Some(&a),
            plan: &plan,
            problems: &[],
            now: later,
        });
        assert_eq!(first, second, "a converged status does not change");
    }

    #[test]
    fn aufgabe_known_is_set_once_per_round_and_removed_when_no_task_is_named() {
        let mut status = FachverfahrenOnboardingStatus::default();
        let now = Timestamp::UNIX_EPOCH;
        note_aufgabe(&mut status, Some(("zeit".into(), false)), Some(1), &[], now);
        // The next round starts from the previous conditions, carried over.
        let previous = status.conditions.clone();
        note_aufgabe(
            &mut status,
            Some(("zeit".into(), true)),
            Some(1),
            &previous,
            now,
        );
        let known: Vec<_> = status
            .conditions
            .iter()
            .filter(|x| x.type_ == c::AUFGABE_KNOWN)
            .collect();
        assert_eq!(known.len(), 1);
        assert_eq!(
            (known[0].status.as_str(), known[0].reason.as_str()),
            ("True", reason::AUFGABE_FOUND)
        );
        note_aufgabe(&mut status, None, Some(1), &previous, now);
        assert!(
            status
                .conditions
                .iter()
                .all(|x| x.type_ != c::AUFGABE_KNOWN)
        );
    }

    #[test]
    fn cost_follows_the_allocation_and_the_provisioned_namespaces() {
        let prices = crate::inventory::cost::PriceList::parse(
            &[
                ("cpuCoreMonth".to_string(), "10".to_string()),
                ("namespaceMonth".to_string(), "1.5".to_string()),
            ]
            .into_iter()
            .collect(),
        )
        .unwrap();
        let mut status = FachverfahrenOnboardingStatus {
            allocated: Some(crate::resources::fixtures::totals("3", "0", "0", "10")),
            namespaces: vec![
                crate::api::NamespaceStatus {
                    environment: "dev".into(),
                    name: "a-dev".into(),
                    ready: true,
                    message: None,
                },
                crate::api::NamespaceStatus {
                    environment: "prod".into(),
                    name: "a-prod".into(),
                    ready: false,
                    message: None,
                },
            ],
            ..Default::default()
        };
        note_cost(&mut status, Some(&prices));
        assert_eq!(
            status.cost.as_ref().map(|c| c.monthly.as_str()),
            Some("31.50")
        );
        note_cost(&mut status, None);
        assert_eq!(status.cost, None, "no price list, no cost");
    }
}
