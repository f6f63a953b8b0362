//! Apply step (I/O, writes): server-side apply of what differs, under one field manager, in a
//! fixed order (namespace first, then quota and limits before anything that could start pods,
//! then isolation, then access), followed by pruning.
//!
//! An object is only written when the observed one differs from the desired one in a field
//! the operator declares, or when the desired template changed (the applied-hash annotation):
//! a resync of a converged onboarding issues no write at all.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::observe::{NamespaceState, ObjectKey, Observed};
use super::plan::{EnvPlan, Plan};
use super::{Error, drift};
use crate::resources::{
    APPLIED_HASH, FIELD_MANAGER, MANAGED_BY, ONBOARDING, ONBOARDING_UID, RELEASED_FROM, stable_hash,
};

/// Every API write is bounded: a hung request must not hold a reconcile worker forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the apply step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Number of objects written (applied, pruned, released or deleted).
    pub writes: usize,
    /// Environments whose objects are all in place.
    pub ready_environments: Vec<String>,
    /// Human-readable actions, for Events.
    pub actions: Vec<String>,
    /// Objects someone else had changed or added to, repaired: what, which fields, by whom.
    pub repairs: Vec<String>,
}

/// Adds the applied-hash annotation to a desired object (as JSON).
pub fn with_hash(mut desired: Value) -> Value {
    let hash = stable_hash(&desired);
    if let Some(meta) = desired.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(map) = annotations.as_object_mut() {
            map.insert(APPLIED_HASH.to_string(), Value::String(hash));
        }
    }
    desired
}

/// Whether every field of `desired` has the same value in `observed` (lists compared whole).
pub fn is_subset(desired: &Value, observed: &Value) -> bool {
    match (desired, observed) {
        (Value::Object(d), Value::Object(o)) => d
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| is_subset(v, ov))),
        (Value::Array(d), Value::Array(o)) => {
            d.len() == o.len() && d.iter().zip(o).all(|(dv, ov)| is_subset(dv, ov))
        }
        (d, o) => d == o,
    }
}

async fn with_timeout<T>(
    what: impl Fn() -> String,
    fut: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(WRITE_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(Error::Apply {
            what: what(),
            source,
        }),
        Err(_) => Err(Error::Timeout { what: what() }),
    }
}

/// What [`apply_if_changed`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Write {
    /// Nothing: the object is as declared.
    None,
    /// Applied (created, or changed because the declaration changed).
    Applied,
    /// Repaired: someone else had changed or added to it; the description names the fields
    /// and their managers.
    Repaired(String),
}

/// Server-side applies `desired` unless `observed` already matches it. With `exact`, fields
/// other managers added to the object are removed too (by replacing it with what is declared).
async fn apply_if_changed<K>(
    api: &Api<K>,
    desired: &K,
    observed: Option<&Value>,
    hashed: bool,
    exact: bool,
) -> Result<Write, Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let mut value = serde_json::to_value(desired).map_err(Error::Serialize)?;
    if hashed {
        value = with_hash(value);
    }
    let foreign = observed
        .map(|o| drift::foreign_fields(&value, o))
        .unwrap_or_default();
    let added = exact && foreign.iter().any(|f| !f.declared);
    let matches = observed
        .is_some_and(|o| is_subset(&value, o) && !drift::changed_declared(&value, o, &foreign));
    if matches && !added {
        return Ok(Write::None);
    }
    let name = desired.name_any();
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("object")
        .to_string();
    let ns = desired.namespace().unwrap_or_default();
    // Someone else's change when the declaration is the one last applied (same hash).
    let hash_of = |v: &Value| {
        v.pointer(&format!(
            "/metadata/annotations/{}",
            APPLIED_HASH.replace('/', "~1")
        ))
        .cloned()
    };
    let repaired = observed.is_some_and(|o| added || (hashed && hash_of(o) == hash_of(&value)));
    if let (true, Some(o)) = (added, observed) {
        let replacement: K =
            serde_json::from_value(drift::replacement(&value, o)).map_err(Error::Serialize)?;
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        with_timeout(
            || format!("replace {kind} {ns}/{name}"),
            api.replace(&name, &params, &replacement),
        )
        .await?;
    } else {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        with_timeout(
            || format!("apply {kind} {ns}/{name}"),
            api.patch(&name, &params, &Patch::Apply(&value)),
        )
        .await?;
    }
    Ok(if repaired {
        Write::Repaired(format!("{kind} {ns}/{name}: {}", drift::describe(&foreign)))
    } else {
        Write::Applied
    })
}

fn namespaced<K>(client: &Client, ns: &str) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(client.clone(), ns)
}

/// Carries out `plan`; `released_from` is the record left on released namespaces.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    observed: &Observed,
    released_from: &str,
) -> Result<Applied, Error> {
    let mut applied = Applied::default();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    let owned = &observed.owned_objects;
    let get = |kind: &'static str, ns: &str, name: &Option<String>| {
        owned.get(&ObjectKey {
            kind,
            namespace: ns.to_string(),
            name: name.clone().unwrap_or_default(),
        })
    };
    for env in &plan.environments {
        let EnvPlan::Provision {
            desired,
            apply_quota,
            ..
        } = env
        else {
            continue;
        };
        let ns = desired.namespace.metadata.name.clone().unwrap_or_default();
        let observed_ns = match observed.namespaces.get(&ns) {
            Some(NamespaceState::Ours(n)) => serde_json::to_value(n.as_ref()).ok(),
            _ => None,
        };
        let mut wrote = Vec::new();
        let mut note = |w: Write, what: String| match w {
            Write::None => {}
            Write::Applied => wrote.push(what),
            Write::Repaired(how) => {
                wrote.push(format!("{what} (repaired)"));
                applied.repairs.push(how);
            }
        };
        // Namespaces are shared with the platform (finalizers, its own labels): only the
        // operator's labels and annotations are held to what it declares.
        let w = apply_if_changed(
            &ns_api,
            &desired.namespace,
            observed_ns.as_ref(),
            true,
            false,
        )
        .await?;
        note(w, "Namespace".to_string());
        if let Some(NamespaceState::Released(_)) = observed.namespaces.get(&ns) {
            // Adopted again: the record of the release goes, the namespace is ours.
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..Default::default()
            };
            let patch = json!({"metadata": {"annotations": {RELEASED_FROM: null}}});
            with_timeout(
                || format!("adopt namespace {ns}"),
                ns_api.patch(&ns, &params, &Patch::Merge(patch)),
            )
            .await?;
            note(Write::Applied, "Namespace (adopted again)".to_string());
        }
        if *apply_quota {
            let q: Api<ResourceQuota> = namespaced(client, &ns);
            let observed_q = get(
                ObjectKey::RESOURCE_QUOTA,
                &ns,
                &desired.resource_quota.metadata.name,
            );
            let w = apply_if_changed(&q, &desired.resource_quota, observed_q, true, true).await?;
            note(w, "ResourceQuota".to_string());
            let l: Api<LimitRange> = namespaced(client, &ns);
            let observed_l = get(
                ObjectKey::LIMIT_RANGE,
                &ns,
                &desired.limit_range.metadata.name,
            );
            let w = apply_if_changed(&l, &desired.limit_range, observed_l, true, true).await?;
            note(w, "LimitRange".to_string());
        }
        let np: Api<NetworkPolicy> = namespaced(client, &ns);
        for p in &desired.network_policies {
            let observed_p = get(ObjectKey::NETWORK_POLICY, &ns, &p.metadata.name);
            let w = apply_if_changed(&np, p, observed_p, true, true).await?;
            note(w, format!("NetworkPolicy {}", p.name_any()));
        }
        let rb: Api<RoleBinding> = namespaced(client, &ns);
        for b in &desired.role_bindings {
            let observed_b = get(ObjectKey::ROLE_BINDING, &ns, &b.metadata.name);
            let w = apply_if_changed(&rb, b, observed_b, true, true).await?;
            note(w, format!("RoleBinding {}", b.name_any()));
        }
        let sa: Api<ServiceAccount> = namespaced(client, &ns);
        // Not ours: no hash annotation, only the one field.
        let w = apply_if_changed(
            &sa,
            &desired.default_service_account,
            observed.service_accounts.get(&ns),
            false,
            false,
        )
        .await?;
        note(w, "ServiceAccount default".to_string());
        if !wrote.is_empty() {
            applied
                .actions
                .push(format!("applied in {ns}: {}", wrote.join(", ")));
        }
        applied.writes += wrote.len();
        applied.ready_environments.push(desired.environment.clone());
    }
    for key in &plan.prune {
        delete_object(client, key).await?;
        applied.writes += 1;
        applied.actions.push(format!(
            "pruned {} {}/{}",
            key.kind, key.namespace, key.name
        ));
    }
    for ns in &plan.release_namespaces {
        applied.writes += release_namespace(client, observed, ns, released_from).await?;
        applied
            .actions
            .push(format!("released namespace {ns} (deletionPolicy Retain)"));
    }
    for ns in &plan.delete_namespaces {
        delete_namespace(client, ns).await?;
        applied.writes += 1;
        applied
            .actions
            .push(format!("deleted namespace {ns} (deletionPolicy Delete)"));
    }
    Ok(applied)
}

async fn delete_object(client: &Client, key: &ObjectKey) -> Result<(), Error> {
    let what = || format!("delete {} {}/{}", key.kind, key.namespace, key.name);
    let dp = DeleteParams::default();
    let result = match key.kind {
        ObjectKey::RESOURCE_QUOTA => namespaced::<ResourceQuota>(client, &key.namespace)
            .delete(&key.name, &dp)
            .await
            .map(|_| ()),
        ObjectKey::LIMIT_RANGE => namespaced::<LimitRange>(client, &key.namespace)
            .delete(&key.name, &dp)
            .await
            .map(|_| ()),
        ObjectKey::NETWORK_POLICY => namespaced::<NetworkPolicy>(client, &key.namespace)
            .delete(&key.name, &dp)
            .await
            .map(|_| ()),
        ObjectKey::ROLE_BINDING => namespaced::<RoleBinding>(client, &key.namespace)
            .delete(&key.name, &dp)
            .await
            .map(|_| ()),
        _ => Ok(()),
    };
    match result {
        Ok(()) => Ok(()),
        // Already gone: what we wanted.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(Error::Apply {
            what: what(),
            source,
        }),
    }
}

/// Deletes a namespace of ours (its contents go with it).
pub async fn delete_namespace(client: &Client, ns: &str) -> Result<(), Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    match with_timeout(
        || format!("delete namespace {ns}"),
        api.delete(ns, &DeleteParams::background()),
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(Error::Apply {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The merge patch that takes an object out of management: the ownership labels, the
/// ownership record and the applied-hash annotation go; everything else, data included,
/// stays. A namespace gets the record that it was released (`released_from`), so that an
/// onboarding of the same Ressort and Fachverfahren may adopt it again.
fn release_patch(released_from: Option<&str>) -> Value {
    json!({"metadata": {
        "labels": {MANAGED_BY: null, ONBOARDING: null},
        "annotations": {APPLIED_HASH: null, ONBOARDING_UID: null, RELEASED_FROM: released_from},
    }})
}

async fn release<K>(api: &Api<K>, name: &str, released_from: Option<&str>) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    match with_timeout(
        || format!("release {name}"),
        api.patch(name, &params, &Patch::Merge(release_patch(released_from))),
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(Error::Apply {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Releases a namespace and every object of ours in it, recording on the namespace that it
/// was released from `released_from` (`<ressort>/<fachverfahren>`); returns the number of
/// writes.
pub async fn release_namespace(
    client: &Client,
    observed: &Observed,
    ns: &str,
    released_from: &str,
) -> Result<usize, Error> {
    let mut writes = 0;
    let by_kind: BTreeMap<&ObjectKey, ()> = observed
        .owned_objects
        .keys()
        .filter(|k| k.namespace == ns)
        .map(|k| (k, ()))
        .collect();
    for key in by_kind.keys() {
        match key.kind {
            ObjectKey::RESOURCE_QUOTA => {
                release(&namespaced::<ResourceQuota>(client, ns), &key.name, None).await?
            }
            ObjectKey::LIMIT_RANGE => {
                release(&namespaced::<LimitRange>(client, ns), &key.name, None).await?
            }
            ObjectKey::NETWORK_POLICY => {
                release(&namespaced::<NetworkPolicy>(client, ns), &key.name, None).await?
            }
            ObjectKey::ROLE_BINDING => {
                release(&namespaced::<RoleBinding>(client, ns), &key.name, None).await?
            }
            _ => continue,
        }
        writes += 1;
    }
    // The namespace last: while it still carries our label, a crash here is retried.
    release(
        &Api::<Namespace>::all(client.clone()),
        ns,
        Some(released_from),
    )
    .await?;
    Ok(writes + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_ignores_fields_the_operator_does_not_declare() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"hard": {"pods": "20"}}});
        let observed = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}},
            "spec": {"hard": {"pods": "20"}}, "status": {"used": {}}});
        assert!(is_subset(&desired, &observed));
    }

    #[test]
    fn subset_sees_a_changed_value_and_a_changed_list() {
        let desired = json!({"spec": {"hard": {"pods": "20"}, "types": ["Ingress", "Egress"]}});
        assert!(!is_subset(
            &desired,
            &json!({"spec": {"hard": {"pods": "21"}, "types": ["Ingress", "Egress"]}})
        ));
        assert!(!is_subset(
            &desired,
            &json!({"spec": {"hard": {"pods": "20"}, "types": ["Ingress"]}})
        ));
    }

    #[test]
    fn hash_annotation_changes_when_a_field_is_removed_from_the_template() {
        let a = with_hash(
            json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1", "cpu": "1"}}}),
        );
        let b = with_hash(json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1"}}}));
        assert_ne!(
            a["metadata"]["annotations"][APPLIED_HASH],
            b["metadata"]["annotations"][APPLIED_HASH]
        );
        // A converged object carrying the old hash is therefore re-applied.
        assert!(!is_subset(&b, &a));
    }
}
