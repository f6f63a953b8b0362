//! Build step (pure): from the onboarding, what was observed and the budget decision, the
//! objects to apply, the objects to prune and the namespaces to release or delete.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Namespace;

use super::budget::Admission;
use super::observe::{NamespaceState, ObjectKey, Observed};
use crate::api::DeletionPolicy;
use crate::resources::DesiredEnvironment;

/// What happens to one environment in this round.
#[derive(Clone, Debug, PartialEq)]
pub enum EnvPlan {
    /// Provision (create or converge) everything.
    Provision {
        /// The objects.
        desired: Box<DesiredEnvironment>,
        /// Keep the observed quota and limits: an increase is held for lack of budget.
        hold_quota: bool,
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
    /// Not provisioned: the Ressort is missing or the budget does not admit it.
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
            (_, None | Some(Admission::Rejected { .. })) => EnvPlan::Withheld {
                environment,
                namespace,
            },
            (NamespaceState::Absent, Some(Admission::Held { .. })) => {
                // A new environment is part of the increase that does not fit.
                EnvPlan::Withheld {
                    environment,
                    namespace,
                }
            }
            (NamespaceState::Ours(_), Some(Admission::Held { .. })) => {
                keep_env(&mut keep, &env);
                EnvPlan::Provision {
                    desired: Box::new(env),
                    hold_quota: true,
                }
            }
            (_, Some(Admission::Admitted { .. })) => {
                keep_env(&mut keep, &env);
                EnvPlan::Provision {
                    desired: Box::new(env),
                    hold_quota: false,
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
    // Quota and limits of a withheld or conflicting environment are never ours to prune:
    // a withheld environment owns nothing yet, and a conflicting namespace is not touched.
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

fn keep_env(keep: &mut BTreeSet<ObjectKey>, env: &DesiredEnvironment) {
    let ns = env.namespace.metadata.name.clone().unwrap_or_default();
    let mut add = |kind: &'static str, name: &Option<String>| {
        if let Some(name) = name {
            keep.insert(ObjectKey {
                kind,
                namespace: ns.clone(),
                name: name.clone(),
            });
        }
    };
    add(ObjectKey::RESOURCE_QUOTA, &env.resource_quota.metadata.name);
    add(ObjectKey::LIMIT_RANGE, &env.limit_range.metadata.name);
    for p in &env.network_policies {
        add(ObjectKey::NETWORK_POLICY, &p.metadata.name);
    }
    for b in &env.role_bindings {
        add(ObjectKey::ROLE_BINDING, &b.metadata.name);
    }
}

/// Whether a namespace we own is active.
pub fn namespace_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_none_or(|p| p == "Active")
}
