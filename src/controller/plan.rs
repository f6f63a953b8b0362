//! Build step (pure): from the onboarding, what was observed and the budget decision, the
//! objects to apply, the objects to prune and the namespaces to release or delete.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};

use super::budget::Admission;
use super::observe::{NamespaceState, ObjectKey, Observed};
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
    let key = ObjectKey {
        kind: ObjectKey::RESOURCE_QUOTA,
        namespace: namespace.to_string(),
        name: resource_quota::NAME.to_string(),
    };
    let quota: ResourceQuota =
        serde_json::from_value(observed.owned_objects.get(&key)?.clone()).ok()?;
    resource_quota::amounts_of(&quota)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::quantity::Amount;
    use crate::resources::fixtures::moin_schule;
    use crate::resources::{PlatformSettings, desired};

    /// moin.schule as provisioned: both namespaces ours, every object of theirs observed, the
    /// quotas at `given` (dev, prod).
    fn provisioned(given: [Amounts; 2]) -> (Vec<DesiredEnvironment>, Observed) {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let mut observed = Observed::default();
        for (env, amounts) in envs.iter().zip(given) {
            let env = env.clone().with_quota(amounts);
            let ns = env.namespace.metadata.name.clone().unwrap();
            observed.namespaces.insert(
                ns.clone(),
                NamespaceState::Ours(Arc::new(env.namespace.clone())),
            );
            observed
                .owned_namespaces
                .push(Arc::new(env.namespace.clone()));
            let mut put = |kind, name: &Option<String>, value| {
                let key = ObjectKey {
                    kind,
                    namespace: ns.clone(),
                    name: name.clone().unwrap(),
                };
                observed.owned_objects.insert(key, value);
            };
            put(
                ObjectKey::RESOURCE_QUOTA,
                &env.resource_quota.metadata.name,
                json(&env.resource_quota),
            );
            put(
                ObjectKey::LIMIT_RANGE,
                &env.limit_range.metadata.name,
                json(&env.limit_range),
            );
            for p in &env.network_policies {
                put(ObjectKey::NETWORK_POLICY, &p.metadata.name, json(p));
            }
            for b in &env.role_bindings {
                put(ObjectKey::ROLE_BINDING, &b.metadata.name, json(b));
            }
        }
        (envs, observed)
    }

    fn json<T: serde::Serialize>(o: &T) -> serde_json::Value {
        serde_json::to_value(o).unwrap()
    }

    fn declared(envs: &[DesiredEnvironment]) -> [Amounts; 2] {
        [envs[0].quota, envs[1].quota]
    }

    fn not_admitted() -> [Option<Admission>; 3] {
        [
            // The Ressort deleted, or its budget unreadable (`pods: -1`).
            None,
            // status.allocated lost while the budget is taken by others.
            Some(Admission::Rejected {
                exceeded: vec![],
                available: Amounts::default(),
            }),
            Some(Admission::Held {
                allocated: Amounts::default(),
                exceeded: vec![],
                available: Amounts::default(),
            }),
        ]
    }

    /// The plans of `envs` for each way of not being admitted, checked to prune nothing.
    fn plans_not_admitted(
        envs: &[DesiredEnvironment],
        observed: &Observed,
    ) -> Vec<(Option<Admission>, Plan)> {
        not_admitted()
            .into_iter()
            .map(|admission| {
                let plan = build(
                    envs.to_vec(),
                    observed,
                    admission.as_ref(),
                    DeletionPolicy::Delete,
                );
                assert!(plan.prune.is_empty(), "{admission:?}: {:?}", plan.prune);
                (admission, plan)
            })
            .collect()
    }

    #[test]
    fn a_provisioned_environment_keeps_every_object_when_it_is_not_admitted() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let (_, observed) = provisioned(declared(&envs));
        for (admission, plan) in plans_not_admitted(&envs, &observed) {
            assert!(plan.delete_namespaces.is_empty() && plan.release_namespaces.is_empty());
            for (e, want) in plan.environments.iter().zip(&envs) {
                assert_eq!(
                    e,
                    &EnvPlan::Provision {
                        desired: Box::new(want.clone()),
                        hold_quota: false,
                        apply_quota: true
                    },
                    "{admission:?}: nothing is held back when the quota is what was given"
                );
            }
        }
    }

    #[test]
    fn a_provisioned_environment_not_admitted_keeps_its_quota_at_the_last_admitted_size() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let small = Amounts {
            cpu: Amount::from_units(1),
            ..envs[1].quota
        };
        let (_, observed) = provisioned([envs[0].quota, small]);
        for (admission, plan) in plans_not_admitted(&envs, &observed) {
            let EnvPlan::Provision {
                desired,
                hold_quota,
                apply_quota,
            } = &plan.environments[1]
            else {
                panic!("{admission:?}: {:?}", plan.environments[1]);
            };
            assert!(*hold_quota && *apply_quota, "{admission:?}");
            assert_eq!(desired.quota, small);
            assert_eq!(
                resource_quota::amounts_of(&desired.resource_quota),
                Some(small),
                "the quota is applied as it was given, not as declared"
            );
        }
    }

    #[test]
    fn a_provisioned_environment_whose_quota_is_gone_is_kept_without_a_new_quota() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let (_, mut observed) = provisioned(declared(&envs));
        observed
            .owned_objects
            .retain(|k, _| k.kind != ObjectKey::RESOURCE_QUOTA);
        let plan = build(envs, &observed, None, DeletionPolicy::Delete);
        assert!(plan.prune.is_empty());
        assert!(matches!(
            plan.environments[0],
            EnvPlan::Provision {
                hold_quota: true,
                apply_quota: false,
                ..
            }
        ));
    }

    #[test]
    fn a_new_environment_is_withheld_until_it_is_admitted() {
        let envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        for admission in not_admitted() {
            let plan = build(
                envs.clone(),
                &Observed::default(),
                admission.as_ref(),
                DeletionPolicy::Delete,
            );
            assert!(
                plan.environments
                    .iter()
                    .all(|e| matches!(e, EnvPlan::Withheld { .. })),
                "{admission:?}: {:?}",
                plan.environments
            );
        }
    }

    #[test]
    fn an_undeclared_namespace_of_ours_is_deleted_or_released_and_nothing_else() {
        let mut envs = desired(&moin_schule(), &PlatformSettings::default()).unwrap();
        let (_, observed) = provisioned(declared(&envs));
        // prod removed from the spec.
        envs.truncate(1);
        let admission = Admission::Admitted {
            allocated: envs[0].quota,
        };
        let plan = build(
            envs.clone(),
            &observed,
            Some(&admission),
            DeletionPolicy::Delete,
        );
        assert_eq!(plan.delete_namespaces, ["mk-moin-schule-prod"]);
        assert!(
            plan.prune.is_empty(),
            "its objects go with it: {:?}",
            plan.prune
        );
        let plan = build(envs, &observed, Some(&admission), DeletionPolicy::Retain);
        assert_eq!(plan.release_namespaces, ["mk-moin-schule-prod"]);
        assert!(plan.delete_namespaces.is_empty());
    }
}
