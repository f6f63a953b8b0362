//! Observe step (I/O, reads only): what exists for an onboarding — its Ressort, its budget
//! decision within the Ressort (from the admission ledger, [`super::admissions`], which keeps
//! what the other onboardings of the Ressort hold and ask for), its namespaces and the objects
//! it owns.
//!
//! Everything comes from the indexed reflector stores the controller keeps (one watch per
//! kind, filtered by the operator's label and indexed by onboarding; namespaces: every one, as
//! metadata, by name): a reconcile reads the objects of its own onboarding and of its
//! Ressort's, never a whole store. Only a declared namespace of the onboarding reconciled that
//! the store shows absent or released is read again from the API before it is written.
//! What is proven to be the onboarding's is decided by [`super::ownership`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};

use super::admissions::{Admissions, Epochs, Member};
use super::admit;
use super::error::ObserveError;
use super::model::{Ask, Decided, Holding, NamespaceState, ObjectKey, Observed, OwnedKind};
use super::ownership::{namespace_state, proven_environment, proves_object};
use super::stores::{HoldingKey, Stores};
use crate::api::{Amounts, FachverfahrenOnboarding, Ressort};
use crate::resources::{namespace_name, resource_quota};

/// The namespace `name` as the store of every namespace has it (metadata only).
fn stored_namespace(stores: &Stores, name: &str) -> Option<Arc<Namespace>> {
    stores.namespaces.store.get(&ObjectRef::new(name))
}

/// What the declared namespace `name` is to `fvo`, from the store. What the store shows as
/// absent or released is read again from the API: the apply step would create or adopt it,
/// and the store may not have seen yet a namespace someone else just created or adopted — a
/// write then would take over a namespace that is not ours. Everything else leads to no
/// write that changes whose a namespace is, and is taken from the store.
async fn declared_state(
    api: &Api<Namespace>,
    stores: &Stores,
    fvo: &FachverfahrenOnboarding,
    name: &str,
) -> Result<NamespaceState, ObserveError> {
    let state = namespace_state(fvo, stored_namespace(stores, name));
    if !matches!(state, NamespaceState::Absent | NamespaceState::Released(_)) {
        return Ok(state);
    }
    let found = api
        .get_opt(name)
        .await
        .map_err(|source| ObserveError::ReadNamespace {
            name: name.to_string(),
            source,
        })?;
    Ok(namespace_state(fvo, found.map(Arc::new)))
}

/// The namespaces proven to be `fvo`'s (namespace → environment), from the index.
fn proven_namespaces(stores: &Stores, fvo: &FachverfahrenOnboarding) -> BTreeMap<String, String> {
    stores
        .namespaces
        .labelled_for(&fvo.name_any())
        .iter()
        .filter_map(|ns| Some((ns.name_any(), proven_environment(fvo, ns)?)))
        .collect()
}

/// What `o` holds by observation: from the memo while `o` and the index entries of its
/// namespaces and quotas are unchanged, else derived again. The memo's key is compared in
/// place: a converged sibling costs a lookup and no allocation.
fn holding(
    stores: &Stores,
    memo: &mut HashMap<String, (HoldingKey, Arc<Holding>)>,
    o: &FachverfahrenOnboarding,
) -> Arc<Holding> {
    let name = o.metadata.name.as_deref().unwrap_or_default();
    let namespaces = stores.namespaces.by_onboarding.version(name);
    let quotas = stores.owned.quotas.by_onboarding.version(name);
    if let Some(((uid, rv, ns_v, q_v), h)) = memo.get(name)
        && *uid == o.metadata.uid
        && *rv == o.metadata.resource_version
        && (*ns_v, *q_v) == (namespaces, quotas)
    {
        return h.clone();
    }
    let proven = proven_namespaces(stores, o);
    let mut held: Option<Amounts> = None;
    for kept in stores.owned.quotas.by_onboarding.get(name) {
        if &*kept.name == resource_quota::NAME
            && let Some(quota) = kept.object()
            && proves_object(o, quota.meta(), &proven)
            && let Some(amounts) = resource_quota::amounts_of(&quota)
        {
            held = Some(held.unwrap_or_default().plus(amounts));
        }
    }
    let unproven = o
        .spec
        .environments
        .iter()
        .map(|env| (env.name.clone(), namespace_name(&o.spec, &env.name)))
        .filter(|(_, ns)| !proven.contains_key(ns))
        .collect();
    let h = Arc::new(Holding {
        held,
        unproven,
        ask: Ask::of(o),
    });
    let key = (
        o.metadata.uid.clone(),
        o.metadata.resource_version.clone(),
        namespaces,
        quotas,
    );
    memo.insert(name.to_string(), (key, h.clone()));
    h
}

/// What the admission ledger keeps of the onboarding `name`, from the stores (`None`: gone):
/// what it holds by observation (from the memo while it and the index entries of its
/// namespaces and quotas are unchanged) and its environments that conflict with a namespace
/// that is not its own. The other onboardings' namespaces are read from the store of every
/// namespace, never from the API (once per sibling and reconcile, that was millions of reads
/// in a large Ressort). A store behind the API only shifts budget between rounds: a conflict
/// is counted once the namespace is seen, and the onboarding itself reads its own namespaces
/// before it writes them.
fn member(
    stores: &Stores,
    memo: &mut HashMap<String, (HoldingKey, Arc<Holding>)>,
    name: &str,
) -> Option<Member> {
    let o = stores.onboardings.get(&ObjectRef::new(name))?;
    let h = holding(stores, memo, &o);
    let mut conflicting = BTreeSet::new();
    if o.metadata.deletion_timestamp.is_none() {
        for (env, ns_name) in &h.unproven {
            let state = namespace_state(&o, stored_namespace(stores, ns_name));
            if matches!(state, NamespaceState::Foreign { .. }) {
                conflicting.insert(env.clone());
            }
        }
    }
    let candidate = admit::candidate_of(name, &h.ask, h.held, Some(&conflicting));
    // Declared or labelled as its own: a change of either namespace, or of a quota in it, may
    // change what it holds or whether it conflicts.
    let mut namespaces: Vec<String> = o
        .spec
        .environments
        .iter()
        .map(|env| namespace_name(&o.spec, &env.name))
        .chain(
            stores
                .namespaces
                .by_onboarding
                .get(name)
                .iter()
                .map(|ns| ns.name.to_string()),
        )
        .collect();
    namespaces.sort();
    namespaces.dedup();
    Some(Member {
        ressort: o.spec.ressort.clone(),
        candidate,
        namespaces,
    })
}

/// The relists of the stores a ledger member is derived from.
fn epochs(stores: &Stores) -> Epochs {
    vec![
        stores.onboardings_by_ressort.version("").0,
        stores.namespaces.by_onboarding.version("").0,
        stores.owned.quotas.by_onboarding.version("").0,
    ]
}

/// What `fvo` holds by observation and its environments in conflict (by name, this
/// onboarding's only), and its budget decision within its Ressort from the admission ledger,
/// with `fvo` in its current form. `states` are its declared namespaces as observe read them.
fn admission_view(
    stores: &Stores,
    admissions: &Admissions,
    fvo: &FachverfahrenOnboarding,
    ressort: Option<&Ressort>,
    states: &BTreeMap<String, NamespaceState>,
) -> AdmissionView {
    let name = fvo.name_any();
    let mut held: BTreeMap<String, Amounts> = BTreeMap::new();
    let mut conflicts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut memo = stores.holdings.lock();
    let h = holding(stores, &mut memo, fvo);
    if let Some(amounts) = h.held {
        held.insert(name.clone(), amounts);
    }
    if fvo.metadata.deletion_timestamp.is_none() {
        for (env, ns_name) in &h.unproven {
            if matches!(states.get(ns_name), Some(NamespaceState::Foreign { .. })) {
                conflicts
                    .entry(name.clone())
                    .or_default()
                    .insert(env.clone());
            }
        }
    }
    let budget = ressort.and_then(|r| r.spec.budget.amounts().ok());
    let decided = budget.and_then(|budget| {
        let own = admit::candidate_of(&name, &Ask::of(fvo), h.held, conflicts.get(&name));
        admissions.decide(
            &fvo.spec.ressort,
            &budget,
            &own,
            epochs(stores),
            || {
                stores
                    .onboardings
                    .state()
                    .iter()
                    .map(|o| o.name_any())
                    .collect()
            },
            |n| member(stores, &mut memo, n),
        )
    });
    (held, conflicts, Decided(decided))
}

/// What [`admission_view`] derives.
type AdmissionView = (
    BTreeMap<String, Amounts>,
    BTreeMap<String, BTreeSet<String>>,
    Decided,
);

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
    admissions: &Admissions,
    fvo: &FachverfahrenOnboarding,
    namespaces: &[String],
) -> Result<Observed, ObserveError> {
    let name = fvo.name_any();
    let ressort = stores.ressorts.get(&ObjectRef::new(&fvo.spec.ressort));
    let proven = proven_namespaces(stores, fvo);
    let mut owned_namespaces: Vec<_> = stores
        .namespaces
        .labelled_for(&name)
        .into_iter()
        .filter(|ns| proven.contains_key(&ns.name_any()))
        .collect();
    owned_namespaces.sort_by_key(|ns| ns.name_any());

    let ns_api: Api<Namespace> = Api::all(client.clone());
    let mut states = BTreeMap::new();
    for ns_name in namespaces {
        let state = declared_state(&ns_api, stores, fvo, ns_name).await?;
        states.insert(ns_name.clone(), state);
    }
    let (held, conflicts, decided) =
        admission_view(stores, admissions, fvo, ressort.as_deref(), &states);

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
        if let Some(sa) = stores.service_accounts.get(ns_name, "default")
            && let Some(v) = sa.value()
        {
            service_accounts.insert(ns_name.clone(), v);
        }
    }

    Ok(Observed {
        ressort,
        siblings: Vec::new(),
        holdings: Vec::new(),
        held,
        conflicts,
        decided: Some(decided),
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
