//! The plan as a table: the state of an environment's namespace × the budget decision ×
//! `deletionPolicy`, with the action for the environment and the prune, release and delete
//! lists of each cell; then the safety promises, checked over every cell they cover.
//!
//! Every cell plans the onboarding ms-grundsicherung declaring `prod` (4 CPUs). The
//! observed state always holds a namespace of ours that is no longer declared (`test`, with
//! its quota), and, where the namespace of `prod` exists, an object observed as ours in it
//! that no environment declares any more (a RoleBinding of a removed access entry).

use super::*;
use crate::api::ResourceName;
use crate::api::quantity::Amount;
use crate::controller::testing::{ObservedBuilder, observed, onboarding};

const PROD: &str = "ms-grundsicherung-prod";
const REMOVED: &str = "ms-grundsicherung-test";
const FORMER_TEAM: &str = "ms-grundsicherung-former-team";

/// The state of the namespace of `prod`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    /// It does not exist.
    Absent,
    /// Ours, provisioned with the quota it declares.
    Ours,
    /// Ours, provisioned with 1 CPU: the declared 4 are an increase.
    OursGivenLess,
    /// Ours, provisioned, but its quota deleted by someone.
    OursQuotaGone,
    /// Released by an onboarding of the same Ressort and Fachverfahren.
    Released,
    /// Exists, nobody's.
    Foreign,
    /// Exists, another onboarding's.
    ClaimedByOther,
    /// Being deleted.
    Terminating,
}

const ALL_STATES: [State; 8] = [
    State::Absent,
    State::Ours,
    State::OursGivenLess,
    State::OursQuotaGone,
    State::Released,
    State::Foreign,
    State::ClaimedByOther,
    State::Terminating,
];
const OWNED: [State; 3] = [State::Ours, State::OursGivenLess, State::OursQuotaGone];
const NOT_OURS: [State; 3] = [State::Foreign, State::ClaimedByOther, State::Terminating];

/// The budget decision.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Adm {
    /// The declared quota fits.
    Admitted,
    /// An increase that does not fit: what it holds stays.
    Held,
    /// Does not fit and holds nothing (also: `status.allocated` lost while the budget is
    /// taken by others).
    Rejected,
    /// The Ressort is missing or its budget unreadable: no decision.
    NoRessort,
}

const ALL_ADMISSIONS: [Adm; 4] = [Adm::Admitted, Adm::Held, Adm::Rejected, Adm::NoRessort];
const NOT_ADMITTED: [Adm; 3] = [Adm::Held, Adm::Rejected, Adm::NoRessort];
const POLICIES: [DeletionPolicy; 2] = [DeletionPolicy::Retain, DeletionPolicy::Delete];

/// What happens to `prod`, in short.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    /// Provisioned exactly as declared.
    Provision,
    /// Provisioned with the quota and limits at what was given before.
    ProvisionHoldingQuota,
    /// Provisioned, the quota held and not applied (what was given is not known).
    ProvisionWithoutQuota,
    /// Not touched: the namespace is not ours.
    Conflict,
    /// Not touched: the namespace is being deleted.
    Terminating,
    /// Not provisioned until admitted.
    Withheld,
}

/// One cell of the table.
#[derive(Clone, Copy, Debug)]
struct Cell {
    state: State,
    admission: Adm,
    policy: DeletionPolicy,
}

fn cpu(units: i64, of: Amounts) -> Amounts {
    Amounts {
        cpu: Amount::from_units(units),
        ..of
    }
}

/// The declared environments, the quota `prod` was given before, and the plan of `cell`.
fn plan_of(cell: Cell) -> (Vec<DesiredEnvironment>, Amounts, Plan) {
    let fvo = onboarding("ms", "grundsicherung")
        .env_with_cpu("prod", "4")
        .high()
        .deletion_policy(cell.policy);
    let envs = fvo.desired();
    let prod = &envs[0];
    let given = match cell.state {
        State::OursGivenLess => cpu(1, prod.quota),
        _ => prod.quota,
    };
    let removed =
        observed()
            .ours(REMOVED)
            .owned(OwnedKind::ResourceQuota, REMOVED, resource_quota::NAME);
    let stray = |o: ObservedBuilder| o.owned(OwnedKind::RoleBinding, PROD, FORMER_TEAM);
    let observed = match cell.state {
        State::Absent => removed,
        State::Ours | State::OursGivenLess => stray(removed.provisioned_with_quota(prod, given)),
        State::OursQuotaGone => stray(
            removed
                .provisioned(prod)
                .without(OwnedKind::ResourceQuota, PROD),
        ),
        State::Released => removed.released(PROD),
        // Observe proves nothing in a namespace that is not ours; the stray object is there
        // to show that even then nothing in it would be pruned.
        State::Foreign => stray(removed.foreign(PROD, None)),
        State::ClaimedByOther => stray(removed.foreign(PROD, Some("ms-andere"))),
        State::Terminating => stray(removed.terminating(PROD)),
    }
    .build();
    let admission = match cell.admission {
        Adm::Admitted => Some(Admission::Admitted {
            allocated: prod.quota,
        }),
        Adm::Held => Some(Admission::Held {
            allocated: given,
            exceeded: vec![ResourceName::Cpu],
            available: given,
        }),
        Adm::Rejected => Some(Admission::Rejected {
            exceeded: vec![ResourceName::Cpu],
            available: Amounts::default(),
        }),
        Adm::NoRessort => None,
    };
    let plan = build(envs.clone(), &observed, admission.as_ref(), cell.policy);
    (envs, given, plan)
}

fn action_of(plan: &EnvPlan) -> Result<Action, String> {
    Ok(match plan {
        EnvPlan::Provision {
            hold_quota: false,
            apply_quota: true,
            ..
        } => Action::Provision,
        EnvPlan::Provision {
            hold_quota: true,
            apply_quota: true,
            ..
        } => Action::ProvisionHoldingQuota,
        EnvPlan::Provision {
            hold_quota: true,
            apply_quota: false,
            ..
        } => Action::ProvisionWithoutQuota,
        EnvPlan::Provision { .. } => return Err(format!("unexpected provision {plan:?}")),
        EnvPlan::Conflict { .. } => Action::Conflict,
        EnvPlan::Terminating { .. } => Action::Terminating,
        EnvPlan::Withheld { .. } => Action::Withheld,
    })
}

/// Checks one cell against its row: the action, what `prod` is provisioned with, the prune
/// list, and the release or delete list (the removed environment, by policy, and nothing else).
fn check(cell: Cell, action: Action, prunes_stray: bool) -> Result<(), String> {
    let (envs, given, plan) = plan_of(cell);
    let [env] = plan.environments.as_slice() else {
        return Err(format!(
            "one environment planned, got {:?}",
            plan.environments
        ));
    };
    let got = action_of(env)?;
    if got != action {
        return Err(format!("action {got:?}, want {action:?}: {env:?}"));
    }
    if let EnvPlan::Provision { desired, .. } = env {
        let want = match action {
            Action::ProvisionHoldingQuota => envs[0].clone().with_quota(given),
            _ => envs[0].clone(),
        };
        if **desired != want {
            return Err(format!(
                "provisioned with quota {:?}, want {:?}",
                desired.quota, want.quota
            ));
        }
    }
    let stray = ObjectKey {
        kind: OwnedKind::RoleBinding,
        namespace: PROD.into(),
        name: FORMER_TEAM.into(),
    };
    let want_prune = if prunes_stray { vec![stray] } else { vec![] };
    if plan.prune != want_prune {
        return Err(format!("prune {:?}, want {want_prune:?}", plan.prune));
    }
    let (want_release, want_delete): (&[&str], &[&str]) = match cell.policy {
        DeletionPolicy::Retain => (&[REMOVED], &[]),
        DeletionPolicy::Delete => (&[], &[REMOVED]),
    };
    if plan.release_namespaces != want_release || plan.delete_namespaces != want_delete {
        return Err(format!(
            "release {:?} delete {:?}, want release {want_release:?} delete {want_delete:?}",
            plan.release_namespaces, plan.delete_namespaces
        ));
    }
    Ok(())
}

/// Every cell of `states` × `admissions` × both policies; the failures, each with its cell.
fn failures(
    states: &[State],
    admissions: &[Adm],
    verdict: impl Fn(Cell) -> Result<(), String>,
) -> Vec<String> {
    let mut failed = Vec::new();
    for &state in states {
        for &admission in admissions {
            for policy in POLICIES {
                let cell = Cell {
                    state,
                    admission,
                    policy,
                };
                if let Err(e) = verdict(cell) {
                    failed.push(format!("{cell:?}: {e}"));
                }
            }
        }
    }
    failed
}

struct Row {
    /// What the row proves.
    name: &'static str,
    state: State,
    admissions: &'static [Adm],
    action: Action,
    /// Whether the undeclared object of ours in `prod` is pruned.
    prunes_stray: bool,
}

const TABLE: &[Row] = &[
    Row {
        name: "a_new_environment_is_provisioned_once_admitted",
        state: State::Absent,
        admissions: &[Adm::Admitted],
        action: Action::Provision,
        prunes_stray: false,
    },
    Row {
        name: "a_new_environment_is_withheld_until_admitted",
        state: State::Absent,
        admissions: &NOT_ADMITTED,
        action: Action::Withheld,
        prunes_stray: false,
    },
    Row {
        name: "an_owned_environment_is_provisioned_as_declared_whatever_the_admission_when_it_holds_what_it_declares",
        state: State::Ours,
        admissions: &ALL_ADMISSIONS,
        action: Action::Provision,
        prunes_stray: true,
    },
    Row {
        name: "an_owned_environment_gets_its_increase_once_admitted",
        state: State::OursGivenLess,
        admissions: &[Adm::Admitted],
        action: Action::Provision,
        prunes_stray: true,
    },
    Row {
        name: "an_owned_environment_not_admitted_keeps_the_quota_it_was_given",
        state: State::OursGivenLess,
        admissions: &NOT_ADMITTED,
        action: Action::ProvisionHoldingQuota,
        prunes_stray: true,
    },
    Row {
        name: "an_owned_environment_whose_quota_is_gone_gets_the_declared_quota_once_admitted",
        state: State::OursQuotaGone,
        admissions: &[Adm::Admitted],
        action: Action::Provision,
        prunes_stray: true,
    },
    Row {
        name: "an_owned_environment_whose_quota_is_gone_is_kept_without_a_new_quota_when_not_admitted",
        state: State::OursQuotaGone,
        admissions: &NOT_ADMITTED,
        action: Action::ProvisionWithoutQuota,
        prunes_stray: true,
    },
    Row {
        name: "a_released_namespace_is_adopted_again_once_admitted",
        state: State::Released,
        admissions: &[Adm::Admitted],
        action: Action::Provision,
        prunes_stray: false,
    },
    Row {
        name: "a_released_namespace_is_withheld_until_admitted",
        state: State::Released,
        admissions: &NOT_ADMITTED,
        action: Action::Withheld,
        prunes_stray: false,
    },
    Row {
        name: "a_namespace_of_nobody_is_a_conflict_whatever_the_admission",
        state: State::Foreign,
        admissions: &ALL_ADMISSIONS,
        action: Action::Conflict,
        prunes_stray: false,
    },
    Row {
        name: "a_namespace_of_another_onboarding_is_a_conflict_whatever_the_admission",
        state: State::ClaimedByOther,
        admissions: &ALL_ADMISSIONS,
        action: Action::Conflict,
        prunes_stray: false,
    },
    Row {
        name: "a_terminating_namespace_waits_whatever_the_admission",
        state: State::Terminating,
        admissions: &ALL_ADMISSIONS,
        action: Action::Terminating,
        prunes_stray: false,
    },
];

#[test]
fn every_cell_of_namespace_state_admission_and_deletion_policy_plans_the_expected_actions() {
    let mut failed = Vec::new();
    for row in TABLE {
        for e in failures(&[row.state], row.admissions, |cell| {
            check(cell, row.action, row.prunes_stray)
        }) {
            failed.push(format!("{}: {e}", row.name));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

#[test]
fn the_table_covers_every_namespace_state_and_admission() {
    let missing = failures(&ALL_STATES, &ALL_ADMISSIONS, |cell| {
        let rows = TABLE
            .iter()
            .filter(|r| r.state == cell.state && r.admissions.contains(&cell.admission))
            .count();
        (rows == 1).then_some(()).ok_or(format!("{rows} rows"))
    });
    assert!(missing.is_empty(), "\n{}", missing.join("\n"));
}

/// A safety promise, checked over every cell of its states × every admission × both policies.
struct Promise {
    /// What the promise is.
    name: &'static str,
    states: &'static [State],
    holds: fn(&Plan) -> Result<(), String>,
}

const PROMISES: &[Promise] = &[
    Promise {
        name: "an_existing_owned_environment_is_never_withheld_because_of_admission",
        states: &OWNED,
        holds: |plan| match &plan.environments[..] {
            [EnvPlan::Provision { .. }] => Ok(()),
            other => Err(format!("{other:?}")),
        },
    },
    Promise {
        name: "an_existing_owned_environment_loses_no_declared_object_because_of_admission",
        states: &OWNED,
        holds: |plan| match plan.prune.iter().find(|k| k.name != FORMER_TEAM) {
            None => Ok(()),
            Some(k) => Err(format!("prunes {k:?}")),
        },
    },
    Promise {
        name: "an_existing_owned_namespace_that_is_declared_is_never_released_or_deleted",
        states: &OWNED,
        holds: not_released_or_deleted,
    },
    Promise {
        name: "a_namespace_not_ours_or_terminating_is_never_deleted_released_or_pruned_in",
        states: &NOT_OURS,
        holds: |plan| {
            not_released_or_deleted(plan)?;
            match plan.prune.iter().find(|k| k.namespace == PROD) {
                None => Ok(()),
                Some(k) => Err(format!("prunes {k:?}")),
            }
        },
    },
];

fn not_released_or_deleted(plan: &Plan) -> Result<(), String> {
    let touched = plan
        .release_namespaces
        .iter()
        .chain(&plan.delete_namespaces)
        .any(|n| n == PROD);
    (!touched)
        .then_some(())
        .ok_or(format!("{PROD} released or deleted: {plan:?}"))
}

#[test]
fn the_safety_promises_hold_in_every_cell_they_cover() {
    let mut failed = Vec::new();
    for promise in PROMISES {
        for e in failures(promise.states, &ALL_ADMISSIONS, |cell| {
            (promise.holds)(&plan_of(cell).2)
        }) {
            failed.push(format!("{}: {e}", promise.name));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

#[test]
fn a_namespace_not_ours_that_is_no_longer_declared_is_neither_released_nor_deleted() {
    // The environment `test` was removed from the spec; its namespace exists but is another
    // onboarding's: it is not in `owned_namespaces`, so nothing happens to it.
    let fvo = onboarding("ms", "grundsicherung").env("prod");
    let observed = observed()
        .provisioned(&fvo.desired()[0])
        .foreign(REMOVED, Some("ms-andere"))
        .build();
    for policy in POLICIES {
        let admission = Admission::Admitted {
            allocated: fvo.desired()[0].quota,
        };
        let plan = build(fvo.desired(), &observed, Some(&admission), policy);
        assert!(
            plan.release_namespaces.is_empty()
                && plan.delete_namespaces.is_empty()
                && plan.prune.is_empty(),
            "{policy:?}: {plan:?}"
        );
    }
}
