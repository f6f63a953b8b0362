//! Plan step (pure): from the validated desired objects, what was observed and the budget
//! decision, the objects to apply, the objects to prune and the namespaces to release or
//! delete.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ResourceQuota;

use super::budget::Admission;
use super::model::{NamespaceState, ObjectKey, Observed, OwnedKind};
use crate::api::{Amounts, DeletionPolicy};
use crate::resources::{DesiredEnvironment, resource_quota};

/// What happens to one environment in this round.
#[derive(Clone, Debug, PartialEq)]
pub enum EnvPlan {
    /// Provision (create or converge) everything.
    Provision {
        /// The objects.
        desired: Box<DesiredEnvironment>,
        /// The declared quota is not admitted (an increase beyond the budget, a missing
        /// Ressort, an unreadable budget): the quota and limits stay at what was admitted
        /// before, which `desired` then carries when it is known.
        hold_quota: bool,
        /// Whether the quota and limits of `desired` are applied: false only when the quota is
        /// held and what was admitted before is not known (no quota of ours to read it from).
        apply_quota: bool,
    },
    /// The namespace exists and is not ours (or belongs to another onboarding).
    Conflict {
        /// The environment.
        environment: String,
        /// The namespace.
        namespace: String,
        /// Who claims it, if anyone.
        claimed_by: Option<String>,
    },
    /// The namespace is still terminating from an earlier deletion.
    Terminating {
        /// The environment.
        environment: String,
        /// The namespace.
        namespace: String,
    },
    /// Not provisioned yet, and not until the budget admits it: the namespace does not exist
    /// and the Ressort is missing or the budget does not admit it. An environment that exists
    /// is never withheld: what was provisioned is not taken away.
    Withheld {
        /// The environment.
        environment: String,
        /// The namespace.
        namespace: String,
    },
}

impl EnvPlan {
    /// The environment's name.
    pub fn environment(&self) -> &str {
        match self {
            EnvPlan::Provision { desired, .. } => &desired.environment,
            EnvPlan::Conflict { environment, .. }
            | EnvPlan::Terminating { environment, .. }
            | EnvPlan::Withheld { environment, .. } => environment,
        }
    }
}

/// Everything the apply step does in one round.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// One entry per declared environment, in spec order.
    pub environments: Vec<EnvPlan>,
    /// Owned namespaced objects that are no longer declared.
    pub prune: Vec<ObjectKey>,
    /// Owned namespaces that are no longer declared and are kept, released from management.
    pub release_namespaces: Vec<String>,
    /// Owned namespaces that are no longer declared and are deleted (`deletionPolicy: Delete`).
    pub delete_namespaces: Vec<String>,
}

/// The plan step: nothing to do for a spec with problems (what exists stays as it is),
/// else [`build`].
pub fn of(
    desired: Vec<DesiredEnvironment>,
    problems: &[String],
    observed: &Observed,
    admission: Option<&Admission>,
    policy: DeletionPolicy,
) -> Plan {
    if problems.is_empty() {
        build(desired, observed, admission, policy)
    } else {
        Plan::default()
    }
}

/// Builds the plan of one round.
pub fn build(
    desired: Vec<DesiredEnvironment>,
    observed: &Observed,
    admission: Option<&Admission>,
    policy: DeletionPolicy,
) -> Plan {
    let mut plan = Plan::default();
    let mut declared_ns = BTreeSet::new();
    let mut keep: BTreeSet<ObjectKey> = BTreeSet::new();
    for env in desired {
        let namespace = env.namespace.metadata.name.clone().unwrap_or_default();
        declared_ns.insert(namespace.clone());
        let state = observed
            .namespaces
            .get(&namespace)
            .cloned()
            .unwrap_or(NamespaceState::Absent);
        let environment = env.environment.clone();
        let entry = match (&state, admission) {
            (NamespaceState::Foreign { claimed_by }, _) => EnvPlan::Conflict {
                environment,
                namespace,
                claimed_by: claimed_by.clone(),
            },
            (NamespaceState::Terminating, _) => EnvPlan::Terminating {
                environment,
                namespace,
            },
            (
                NamespaceState::Ours(_) | NamespaceState::Absent | NamespaceState::Released(_),
                Some(Admission::Admitted { .. }),
            ) => {
                keep_env(&mut keep, &env);
                EnvPlan::Provision {
                    desired: Box::new(env),
                    hold_quota: false,
                    apply_quota: true,
                }
            }
            (NamespaceState::Ours(_), _) => {
                // Provisioned before and not admitted now (an increase that does not fit, the
                // Ressort deleted, its budget unreadable, status.allocated lost): everything
                // stays, the quota at what it was given.
                keep_env(&mut keep, &env);
                held(env, admitted_quota(observed, &namespace))
            }
            (NamespaceState::Absent | NamespaceState::Released(_), _) => {
                // A new (or released) environment is part of what does not fit.
                EnvPlan::Withheld {
                    environment,
                    namespace,
                }
            }
        };
        plan.environments.push(entry);
    }
    for ns in &observed.owned_namespaces {
        let Some(name) = ns.metadata.name.as_ref() else {
            continue;
        };
        if declared_ns.contains(name) {
            continue;
        }
        match policy {
            DeletionPolicy::Retain => plan.release_namespaces.push(name.clone()),
            DeletionPolicy::Delete => plan.delete_namespaces.push(name.clone()),
        }
    }
    let leaving: BTreeSet<&String> = plan
        .release_namespaces
        .iter()
        .chain(&plan.delete_namespaces)
        .collect();
    for key in observed.owned_objects.keys() {
        // Objects in namespaces that leave management go with their namespace.
        if !keep.contains(key) && !leaving.contains(&key.namespace) {
            plan.prune.push(key.clone());
        }
    }
    // Nothing in a conflicting or terminating namespace is pruned: it is not touched.
    plan.prune.retain(|k| {
        plan.environments.iter().all(|e| match e {
            EnvPlan::Conflict { namespace, .. } | EnvPlan::Terminating { namespace, .. } => {
                &k.namespace != namespace
            }
            _ => true,
        })
    });
    plan
}

/// A provisioned environment whose declared quota is not admitted, given the quota it holds.
fn held(env: DesiredEnvironment, admitted: Option<Amounts>) -> EnvPlan {
    match admitted {
        // Nothing is held back: what it holds is what it declares.
        Some(a) if a == env.quota => EnvPlan::Provision {
            desired: Box::new(env),
            hold_quota: false,
            apply_quota: true,
        },
        Some(a) => EnvPlan::Provision {
            desired: Box::new(env.with_quota(a)),
            hold_quota: true,
            apply_quota: true,
        },
        None => EnvPlan::Provision {
            desired: Box::new(env),
            hold_quota: true,
            apply_quota: false,
        },
    }
}

/// The amounts of the quota of ours observed in `namespace`: what was admitted there.
pub fn admitted_quota(observed: &Observed, namespace: &str) -> Option<Amounts> {
    let observed = observed.owned(OwnedKind::ResourceQuota, namespace, resource_quota::NAME)?;
    let quota: ResourceQuota = serde_json::from_value(observed.clone()).ok()?;
    resource_quota::amounts_of(&quota)
}

fn keep_env(keep: &mut BTreeSet<ObjectKey>, env: &DesiredEnvironment) {
    let ns = env.namespace.metadata.name.clone().unwrap_or_default();
    let mut add = |kind: OwnedKind, name: &Option<String>| {
        if let Some(name) = name {
            keep.insert(ObjectKey {
                kind,
                namespace: ns.clone(),
                name: name.clone(),
            });
        }
    };
    add(OwnedKind::ResourceQuota, &env.resource_quota.metadata.name);
    add(OwnedKind::LimitRange, &env.limit_range.metadata.name);
    for p in &env.network_policies {
        add(OwnedKind::NetworkPolicy, &p.metadata.name);
    }
    for b in &env.role_bindings {
        add(OwnedKind::RoleBinding, &b.metadata.name);
    }
}

#[cfg(test)]
mod tests;
