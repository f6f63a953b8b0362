//! Observe step (I/O, reads only): what exists for an onboarding — its Ressort, the other
//! onboardings of the Ressort, its namespaces and the objects it owns.
//!
//! Almost everything comes from the indexed reflector stores the controller keeps (one watch
//! per kind, filtered by the operator's label, indexed by onboarding): a reconcile reads the
//! objects of its own onboarding and of its Ressort's, never a whole store. Only a namespace
//! that is not in the store — new, or not ours — is read from the API, to tell the two apart.
//! What is proven to be the onboarding's is decided by [`super::ownership`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};

use super::error::ObserveError;
use super::model::{NamespaceState, ObjectKey, Observed, OwnedKind};
use super::ownership::{namespace_state, proven_environment, proves_object};
use super::stores::Stores;
use crate::api::{Amounts, FachverfahrenOnboarding};
use crate::resources::{namespace_name, resource_quota};

/// The namespace `name`: from the store of managed namespaces, else from the API (new, not
/// ours, or the store has not caught up yet).
async fn find_namespace(
    api: &Api<Namespace>,
    stores: &Stores,
    name: &str,
) -> Result<Option<Arc<Namespace>>, ObserveError> {
    if let Some(ns) = stores.namespaces.store.get(&ObjectRef::new(name)) {
        return Ok(Some(ns));
    }
    api.get_opt(name)
        .await
        .map(|n| n.map(Arc::new))
        .map_err(|source| ObserveError::ReadNamespace {
            name: name.to_string(),
            source,
        })
}

/// The namespaces proven to be `fvo`'s (namespace → environment), from the index.
fn proven_namespaces(stores: &Stores, fvo: &FachverfahrenOnboarding) -> BTreeMap<String, String> {
    stores
        .namespaces
        .by_onboarding
        .get(&fvo.name_any())
        .iter()
        .filter_map(|ns| Some((ns.name_any(), proven_environment(fvo, ns)?)))
        .collect()
}

/// What every onboarding of the Ressort holds by observation, and which of its environments
/// conflict with a namespace that is not its own. `fvo` is the onboarding being reconciled
/// (its declared namespaces are already in `states`).
async fn siblings_view(
    api: &Api<Namespace>,
    stores: &Stores,
    fvo: &FachverfahrenOnboarding,
    siblings: &[Arc<FachverfahrenOnboarding>],
    states: &BTreeMap<String, NamespaceState>,
) -> Result<
    (
        BTreeMap<String, Amounts>,
        BTreeMap<String, BTreeSet<String>>,
    ),
    ObserveError,
> {
    let name = fvo.name_any();
    let by_name: BTreeMap<String, &FachverfahrenOnboarding> = siblings
        .iter()
        .map(|o| {
            let o: &FachverfahrenOnboarding = if o.name_any() == name { fvo } else { o };
            (o.name_any(), o)
        })
        .collect();
    let mut held: BTreeMap<String, Amounts> = BTreeMap::new();
    let mut conflicts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (o_name, o) in &by_name {
        let proven = proven_namespaces(stores, o);
        for quota in stores.owned.quotas.by_onboarding.get(o_name) {
            if quota.name_any() == resource_quota::NAME
                && proves_object(o, quota.meta(), &proven)
                && let Some(amounts) = resource_quota::amounts_of(&quota)
            {
                let total = held.entry(o_name.clone()).or_default();
                *total = total.plus(amounts);
            }
        }
        if o.metadata.deletion_timestamp.is_some() {
            continue;
        }
        for env in &o.spec.environments {
            let ns_name = namespace_name(&o.spec, &env.name);
            let state = if *o_name == name {
                states.get(&ns_name).cloned()
            } else if proven.contains_key(&ns_name) {
                None
            } else {
                Some(namespace_state(
                    o,
                    find_namespace(api, stores, &ns_name).await?,
                ))
            };
            if matches!(state, Some(NamespaceState::Foreign { .. })) {
                conflicts
                    .entry(o_name.clone())
                    .or_default()
                    .insert(env.name.clone());
            }
        }
    }
    Ok((held, conflicts))
}

/// The namespaces `fvo`'s environments declare. A name longer than a namespace's 63
/// characters is a problem of the spec (validate) and is not looked up.
pub fn declared(fvo: &FachverfahrenOnboarding) -> Vec<String> {
    fvo.spec
        .environments
        .iter()
        .map(|e| namespace_name(&fvo.spec, &e.name))
        .filter(|n| n.len() <= 63)
        .collect()
}

/// Reads what exists for `fvo`; `namespaces` are the names its environments declare.
pub async fn observe(
    client: &Client,
    stores: &Stores,
    fvo: &FachverfahrenOnboarding,
    namespaces: &[String],
) -> Result<Observed, ObserveError> {
    let name = fvo.name_any();
    let ressort = stores.ressorts.get(&ObjectRef::new(&fvo.spec.ressort));
    let mut siblings = stores.onboardings_of(&fvo.spec.ressort);
    if !siblings.iter().any(|o| o.name_any() == name) {
        siblings.push(Arc::new(fvo.clone()));
    }
    let proven = proven_namespaces(stores, fvo);
    let mut owned_namespaces: Vec<_> = stores
        .namespaces
        .by_onboarding
        .get(&name)
        .into_iter()
        .filter(|ns| proven.contains_key(&ns.name_any()))
        .collect();
    owned_namespaces.sort_by_key(|ns| ns.name_any());

    let ns_api: Api<Namespace> = Api::all(client.clone());
    let mut states = BTreeMap::new();
    for ns_name in namespaces {
        let found = find_namespace(&ns_api, stores, ns_name).await?;
        states.insert(ns_name.clone(), namespace_state(fvo, found));
    }
    let (held, conflicts) = siblings_view(&ns_api, stores, fvo, &siblings, &states).await?;

    let mut owned_objects = BTreeMap::new();
    for kind in OwnedKind::ALL {
        for (meta, value) in stores.owned.labelled_for(kind, &name) {
            if proves_object(fvo, &meta, &proven) {
                let key = ObjectKey {
                    kind,
                    namespace: meta.namespace.unwrap_or_default(),
                    name: meta.name.unwrap_or_default(),
                };
                owned_objects.insert(key, value);
            }
        }
    }

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
        held,
        conflicts,
        namespaces: states,
        owned_namespaces,
        owned_objects,
        service_accounts,
    })
}

/// The task the onboarding names and whether a `Verwaltungsaufgabe` of that name exists (reads
/// the store; `None` when it names none).
pub fn aufgabe(stores: &Stores, fvo: &FachverfahrenOnboarding) -> Option<(String, bool)> {
    let name = fvo.spec.aufgabe.clone()?;
    let known = stores.aufgaben.get(&ObjectRef::new(&name)).is_some();
    Some((name, known))
}
