//! Observe step (I/O, reads only): what exists for an onboarding — its Ressort, the other
//! onboardings of the Ressort, its namespaces and the objects it owns.
//!
//! Almost everything comes from the reflector stores the controller keeps (one watch per
//! kind, filtered by the operator's label); only a namespace that is not in the store — new,
//! or not ours — is read from the API, to tell the two apart.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::Error;
use super::plan::namespace_active;
use crate::api::{FachverfahrenOnboarding, Ressort};
use crate::resources::{MANAGED_BY, MANAGED_BY_VALUE, ONBOARDING};

/// The reflector stores the controller keeps; all filtered to what the operator manages,
/// except ServiceAccounts (only those named `default`) and Ressorts.
#[derive(Clone)]
pub struct Stores {
    /// Every onboarding.
    pub onboardings: Store<FachverfahrenOnboarding>,
    /// Every Ressort.
    pub ressorts: Store<Ressort>,
    /// Namespaces with the operator's label.
    pub namespaces: Store<Namespace>,
    /// ResourceQuotas with the operator's label.
    pub quotas: Store<ResourceQuota>,
    /// LimitRanges with the operator's label.
    pub limit_ranges: Store<LimitRange>,
    /// NetworkPolicies with the operator's label.
    pub network_policies: Store<NetworkPolicy>,
    /// RoleBindings with the operator's label.
    pub role_bindings: Store<RoleBinding>,
    /// Every namespace's `default` ServiceAccount.
    pub service_accounts: Store<ServiceAccount>,
    /// The kinds the conformance rules read.
    pub workloads: super::conformance::WorkloadStores,
    /// Turns true once every store had its initial list (see `Stores::wait_until_ready`).
    pub synced: tokio::sync::watch::Receiver<bool>,
}

/// A namespaced object the operator owns, by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// One of the `ObjectKey::*` kind constants.
    pub kind: &'static str,
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// ResourceQuota.
    pub const RESOURCE_QUOTA: &'static str = "ResourceQuota";
    /// LimitRange.
    pub const LIMIT_RANGE: &'static str = "LimitRange";
    /// NetworkPolicy.
    pub const NETWORK_POLICY: &'static str = "NetworkPolicy";
    /// RoleBinding.
    pub const ROLE_BINDING: &'static str = "RoleBinding";
}

/// What a desired namespace is found to be.
#[derive(Clone, Debug, PartialEq)]
pub enum NamespaceState {
    /// It does not exist.
    Absent,
    /// It is ours and not terminating.
    Ours(Arc<Namespace>),
    /// It is being deleted.
    Terminating,
    /// It exists and is not this onboarding's (`claimed_by`: the onboarding that owns it).
    Foreign {
        /// The other onboarding, when it is one.
        claimed_by: Option<String>,
    },
}

/// Everything the pure steps need.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// The onboarding's Ressort, when it exists.
    pub ressort: Option<Arc<Ressort>>,
    /// The onboardings of the same Ressort, this one included.
    pub siblings: Vec<Arc<FachverfahrenOnboarding>>,
    /// The state of each declared environment's namespace.
    pub namespaces: BTreeMap<String, NamespaceState>,
    /// Every namespace labelled as this onboarding's.
    pub owned_namespaces: Vec<Arc<Namespace>>,
    /// Every namespaced object labelled as this onboarding's, as JSON.
    pub owned_objects: BTreeMap<ObjectKey, Value>,
    /// The `default` ServiceAccounts of the declared namespaces, as JSON.
    pub service_accounts: BTreeMap<String, Value>,
}

fn is_owned_by(labels: &BTreeMap<String, String>, onboarding: &str) -> bool {
    labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        && labels.get(ONBOARDING).map(String::as_str) == Some(onboarding)
}

fn collect<K>(
    out: &mut BTreeMap<ObjectKey, Value>,
    store: &Store<K>,
    kind: &'static str,
    onboarding: &str,
) where
    K: kube::Resource<DynamicType = ()> + Clone + serde::Serialize + 'static,
{
    for obj in store.state() {
        if !is_owned_by(obj.labels(), onboarding) {
            continue;
        }
        let key = ObjectKey {
            kind,
            namespace: obj.namespace().unwrap_or_default(),
            name: obj.name_any(),
        };
        if let Ok(value) = serde_json::to_value(obj.as_ref()) {
            out.insert(key, value);
        }
    }
}

/// Reads what exists for `fvo`; `namespaces` are the names its environments declare.
pub async fn observe(
    client: &Client,
    stores: &Stores,
    fvo: &FachverfahrenOnboarding,
    namespaces: &[String],
) -> Result<Observed, Error> {
    let name = fvo.name_any();
    let ressort = stores.ressorts.get(&ObjectRef::new(&fvo.spec.ressort));
    let mut siblings: Vec<_> = stores
        .onboardings
        .state()
        .into_iter()
        .filter(|o| o.spec.ressort == fvo.spec.ressort)
        .collect();
    if !siblings.iter().any(|o| o.name_any() == name) {
        siblings.push(Arc::new(fvo.clone()));
    }
    let owned_namespaces: Vec<_> = stores
        .namespaces
        .state()
        .into_iter()
        .filter(|ns| is_owned_by(ns.labels(), &name))
        .collect();

    let ns_api: Api<Namespace> = Api::all(client.clone());
    let mut states = BTreeMap::new();
    for ns_name in namespaces {
        let known = stores.namespaces.get(&ObjectRef::new(ns_name));
        let found = match known {
            Some(ns) => Some(ns),
            // Not in our store: new, not ours, or the store has not caught up yet.
            None => ns_api
                .get_opt(ns_name)
                .await
                .map_err(|source| Error::Observe {
                    what: format!("namespace {ns_name}"),
                    source,
                })?
                .map(Arc::new),
        };
        let state = match found {
            None => NamespaceState::Absent,
            Some(ns) if is_owned_by(ns.labels(), &name) => {
                if namespace_active(&ns) {
                    NamespaceState::Ours(ns)
                } else {
                    NamespaceState::Terminating
                }
            }
            Some(ns) => {
                let labels = ns.labels();
                let claimed_by = (labels.get(MANAGED_BY).map(String::as_str)
                    == Some(MANAGED_BY_VALUE))
                .then(|| labels.get(ONBOARDING).cloned())
                .flatten();
                // A foreign namespace, even one going away, is never ours to take.
                NamespaceState::Foreign { claimed_by }
            }
        };
        states.insert(ns_name.clone(), state);
    }

    let mut owned_objects = BTreeMap::new();
    collect(
        &mut owned_objects,
        &stores.quotas,
        ObjectKey::RESOURCE_QUOTA,
        &name,
    );
    collect(
        &mut owned_objects,
        &stores.limit_ranges,
        ObjectKey::LIMIT_RANGE,
        &name,
    );
    collect(
        &mut owned_objects,
        &stores.network_policies,
        ObjectKey::NETWORK_POLICY,
        &name,
    );
    collect(
        &mut owned_objects,
        &stores.role_bindings,
        ObjectKey::ROLE_BINDING,
        &name,
    );

    let mut service_accounts = BTreeMap::new();
    for ns_name in namespaces {
        if let Some(sa) = stores
            .service_accounts
            .get(&ObjectRef::new("default").within(ns_name))
            && let Ok(v) = serde_json::to_value(sa.as_ref())
        {
            service_accounts.insert(ns_name.clone(), v);
        }
    }

    Ok(Observed {
        ressort,
        siblings,
        namespaces: states,
        owned_namespaces,
        owned_objects,
        service_accounts,
    })
}
