//! Apply step (I/O, writes): server-side apply of what differs, under one field manager, in a
//! fixed order (namespace first, then quota and limits before anything that could start pods,
//! then isolation, then access), followed by pruning.
//!
//! An object is only written when the observed one differs from the desired one in a field
//! the operator declares, or when the desired template changed (the applied-hash annotation):
//! a resync of a converged onboarding issues no write at all.

use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::warn;

use super::budget::Admission;
use super::drift;
use super::error::{Target, WriteError};
use super::model::{NamespaceState, ObjectKey, Observed, Owned};
use super::ownership::proven_environment;
use super::plan::{EnvPlan, Plan};
use super::reports;
use crate::api::{FachverfahrenOnboarding, FachverfahrenOnboardingStatus};
use crate::resources::{
    APPLIED_HASH, DesiredEnvironment, FIELD_MANAGER, MANAGED_BY, ONBOARDING, ONBOARDING_UID,
    RELEASED_FROM, stable_hash,
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

/// `fut`, a write, bounded by [`WRITE_TIMEOUT`].
pub(crate) async fn with_timeout<T>(
    what: impl Fn() -> String,
    fut: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, WriteError> {
    match tokio::time::timeout(WRITE_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(WriteError::Api {
            what: Target(what()),
            source,
        }),
        Err(_) => Err(WriteError::Timeout {
            what: Target(what()),
        }),
    }
}

/// A 404 is what a delete or release wants: the object is gone.
fn gone_is_fine(result: Result<(), WriteError>) -> Result<(), WriteError> {
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// What [`apply_if_changed`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Write {
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
pub(super) async fn apply_if_changed<K>(
    api: &Api<K>,
    desired: &K,
    observed: Option<&Value>,
    hashed: bool,
    exact: bool,
) -> Result<Write, WriteError>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let mut value = serde_json::to_value(desired).map_err(WriteError::Serialize)?;
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
            serde_json::from_value(drift::replacement(&value, o)).map_err(WriteError::Serialize)?;
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

/// An owned kind that lives in a namespace, as [`converge`] applies it.
trait Namespaced:
    Owned
    + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Serialize
    + DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Namespaced for K where
    K: Owned
        + Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug
{
}

/// Converges one owned object of `ns` to `desired` (the one generic apply of every
/// [`Owned`] kind): compared with what is observed, written only when it differs, fields
/// other managers added removed.
async fn converge<K: Namespaced>(
    client: &Client,
    ns: &str,
    desired: &K,
    observed: &Observed,
) -> Result<Write, WriteError> {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = desired.meta().name.as_deref().unwrap_or_default();
    let current = observed.owned(K::KIND, ns, name);
    apply_if_changed(&api, desired, current, true, true).await
}

/// Runs `writes` concurrently, each to its end: one that fails does not cancel the others (a
/// refused object would otherwise hold back every sibling, round after round). The results in
/// the order of `writes`, or the first error in that order; the later errors are logged.
async fn all_to_the_end<T>(
    writes: impl IntoIterator<Item = impl Future<Output = Result<T, WriteError>>>,
) -> Result<Vec<T>, WriteError> {
    let mut first = None;
    let mut done = Vec::new();
    for result in futures::future::join_all(writes).await {
        match result {
            Ok(t) => done.push(t),
            Err(e) if first.is_none() => first = Some(e),
            Err(e) => warn!("{e}"),
        }
    }
    first.map_or(Ok(done), Err)
}

/// Converges `desired` (objects of one kind in `ns`) concurrently and notes each write, in the
/// order of `desired`.
async fn converge_all<K: Namespaced>(
    client: &Client,
    ns: &str,
    desired: &[K],
    observed: &Observed,
    out: &mut Provisioned,
) -> Result<(), WriteError> {
    let writes = all_to_the_end(desired.iter().map(|o| converge(client, ns, o, observed))).await?;
    for (o, w) in desired.iter().zip(writes) {
        out.note(w, || format!("{} {}", K::KIND, o.name_any()));
    }
    Ok(())
}

/// Reserves an increased allocation on the status before any quota is raised, so that a
/// concurrent reconcile of another onboarding of the Ressort already counts it.
pub async fn reserve(
    client: &Client,
    fvo: &FachverfahrenOnboarding,
    admission: Option<&Admission>,
) -> Result<(), WriteError> {
    let Some(a) = admission else {
        return Ok(());
    };
    let old = fvo.status.clone().unwrap_or_default();
    let held = old
        .allocated
        .as_ref()
        .and_then(|t| t.amounts().ok())
        .unwrap_or_default();
    if a.allocated().fits_within(&held) {
        return Ok(());
    }
    let mut reserved = old;
    reserved.allocated = Some(a.allocated().to_totals());
    // Its watch event brings a round as any other change does: this one goes on to apply.
    write_status(client, &fvo.name_any(), &reserved)
        .await
        .map(|_| ())
}

/// Writes an onboarding's status by server-side apply, under the operator's field manager;
/// returns the resourceVersion the API server stored it as.
pub async fn write_status(
    client: &Client,
    name: &str,
    status: &FachverfahrenOnboardingStatus,
) -> Result<Option<String>, WriteError> {
    let api: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    let body = json!({
        "apiVersion": "conplus.niedersachsen.de/v1alpha1",
        "kind": "FachverfahrenOnboarding",
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(name, &params, &Patch::Apply(&body))
        .await
        .map(|written| written.metadata.resource_version)
        .map_err(|source| WriteError::Api {
            what: Target(format!("status of onboarding {name}")),
            source,
        })
}

/// Carries out `plan` for `fvo`.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    observed: &Observed,
    fvo: &FachverfahrenOnboarding,
) -> Result<Applied, WriteError> {
    let released_from = &crate::resources::released_from(&fvo.spec);
    let mut applied = Applied::default();
    // The environments are separate namespaces: provisioned at the same time, each in its own
    // order and to its end, whether another fails or not. Their results are noted in the plan's
    // order, whichever finished first.
    let provisioned = all_to_the_end(plan.environments.iter().filter_map(|env| {
        let EnvPlan::Provision {
            desired,
            apply_quota,
            ..
        } = env
        else {
            return None;
        };
        Some(provision(client, desired, *apply_quota, observed))
    }))
    .await?;
    for env in provisioned {
        if !env.wrote.is_empty() {
            applied.actions.push(format!(
                "applied in {}: {}",
                env.namespace,
                env.wrote.join(", ")
            ));
        }
        applied.writes += env.wrote.len();
        applied.repairs.extend(env.repairs);
        applied.ready_environments.push(env.environment);
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
        applied.writes += release_namespace(client, observed, fvo, ns, released_from).await?;
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

/// What provisioning one environment wrote.
struct Provisioned {
    environment: String,
    namespace: String,
    /// The objects written, in order, repaired ones marked.
    wrote: Vec<String>,
    /// The repairs' descriptions.
    repairs: Vec<String>,
}

impl Provisioned {
    fn note(&mut self, w: Write, what: impl FnOnce() -> String) {
        match w {
            Write::None => {}
            Write::Applied => self.wrote.push(what()),
            Write::Repaired(how) => {
                self.wrote.push(format!("{} (repaired)", what()));
                self.repairs.push(how);
            }
        }
    }
}

/// Applies one environment's objects in their order: the namespace; quota and limits before
/// anything that could start pods; then isolation (the policies at once), then access (the
/// bindings at once), then the `default` ServiceAccount.
async fn provision(
    client: &Client,
    desired: &DesiredEnvironment,
    apply_quota: bool,
    observed: &Observed,
) -> Result<Provisioned, WriteError> {
    let ns = desired.namespace.metadata.name.clone().unwrap_or_default();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    let observed_ns = match observed.namespaces.get(&ns) {
        Some(NamespaceState::Ours(n)) => serde_json::to_value(n.as_ref()).ok(),
        _ => None,
    };
    let mut out = Provisioned {
        environment: desired.environment.clone(),
        namespace: ns.clone(),
        wrote: Vec::new(),
        repairs: Vec::new(),
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
    out.note(w, || "Namespace".to_string());
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
        out.note(Write::Applied, || "Namespace (adopted again)".to_string());
    }
    if apply_quota {
        let w = converge(client, &ns, &desired.resource_quota, observed).await?;
        out.note(w, || "ResourceQuota".to_string());
        let w = converge(client, &ns, &desired.limit_range, observed).await?;
        out.note(w, || "LimitRange".to_string());
    }
    converge_all(client, &ns, &desired.network_policies, observed, &mut out).await?;
    converge_all(client, &ns, &desired.role_bindings, observed, &mut out).await?;
    let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    // Not ours: no hash annotation, only the one field.
    let w = apply_if_changed(
        &sa,
        &desired.default_service_account,
        observed.service_accounts.get(&ns),
        false,
        false,
    )
    .await?;
    out.note(w, || "ServiceAccount default".to_string());
    Ok(out)
}

/// The untyped API of an owned object's kind in its namespace: delete and release need no
/// more than name and metadata, so one function serves every [`super::model::OwnedKind`].
fn owned_api(client: &Client, key: &ObjectKey) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), &key.namespace, &key.kind.api_resource())
}

async fn delete_object(client: &Client, key: &ObjectKey) -> Result<(), WriteError> {
    let api = owned_api(client, key);
    gone_is_fine(
        with_timeout(
            || format!("delete {} {}/{}", key.kind, key.namespace, key.name),
            api.delete(&key.name, &DeleteParams::default()),
        )
        .await
        .map(|_| ()),
    )
}

/// Deletes a namespace of ours (its contents go with it).
pub async fn delete_namespace(client: &Client, ns: &str) -> Result<(), WriteError> {
    let api: Api<Namespace> = Api::all(client.clone());
    gone_is_fine(
        with_timeout(
            || format!("delete namespace {ns}"),
            api.delete(ns, &DeleteParams::background()),
        )
        .await
        .map(|_| ()),
    )
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

async fn release<K>(api: &Api<K>, name: &str, released_from: Option<&str>) -> Result<(), WriteError>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    gone_is_fine(
        with_timeout(
            || format!("release {name}"),
            api.patch(name, &params, &Patch::Merge(release_patch(released_from))),
        )
        .await
        .map(|_| ()),
    )
}

/// Releases a namespace and every object of ours in it, recording on the namespace that it
/// was released from `released_from` (`<ressort>/<fachverfahren>`), and deletes `fvo`'s
/// PolicyReport there ([`reports::remove_on_release`]); returns the number of writes.
pub async fn release_namespace(
    client: &Client,
    observed: &Observed,
    fvo: &FachverfahrenOnboarding,
    ns: &str,
    released_from: &str,
) -> Result<usize, WriteError> {
    let mut writes = 0;
    for key in observed.owned_objects.keys().filter(|k| k.namespace == ns) {
        release(&owned_api(client, key), &key.name, None).await?;
        writes += 1;
    }
    let env = observed
        .owned_namespaces
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(ns))
        .and_then(|n| proven_environment(fvo, n));
    if let Some(env) = env {
        writes += reports::remove_on_release(client, fvo, ns, &env).await?;
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

    #[tokio::test]
    async fn a_failed_write_neither_cancels_its_siblings_nor_hides_which_failed_first() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let finished = AtomicUsize::new(0);
        let fail = |what: &str| WriteError::Timeout {
            what: Target(what.to_string()),
        };
        let write = |i: usize, delay_ms: u64, ok: bool| {
            let finished = &finished;
            async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                if ok {
                    Ok(i)
                } else {
                    Err(fail(&format!("write {i}")))
                }
            }
        };
        // The second fails at once, the fourth a little later; the others take longer.
        let result = all_to_the_end([
            write(1, 60, true),
            write(2, 0, false),
            write(3, 80, true),
            write(4, 10, false),
        ])
        .await;
        assert_eq!(
            finished.load(Ordering::SeqCst),
            4,
            "every write ran to its end"
        );
        match result {
            Err(WriteError::Timeout { what }) => assert_eq!(what.0, "write 2"),
            other => panic!("expected the first error in order, got {other:?}"),
        }
        let all_ok = all_to_the_end([write(1, 5, true), write(2, 0, true)]).await;
        assert_eq!(
            all_ok.ok(),
            Some(vec![1, 2]),
            "results in the order of the writes"
        );
    }

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
