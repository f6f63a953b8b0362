//! Reader access (I/O, one read of each object and writes only when they differ; the decision is
//! pure): every onboarding's reader ClusterRole `conplus:fvo:<name>:reader` and its
//! ClusterRoleBinding to the groups of `spec.access` ([`crate::resources::cluster_role`],
//! [`crate::resources::cluster_role_binding`]), and the `ReadAccessGranted` condition.
//!
//! The two objects are proven ours by the ownership record ([`proves_cluster_object`]); one of
//! that name without it — someone else's, or one an earlier onboarding of the same name left
//! behind until the garbage collector takes it — is never written: the condition turns `False`
//! with [`reason::READER_ROLE_CONFLICT`] and a Warning Event says what to do. They carry an owner
//! reference to the onboarding, so the garbage collector removes them with it: the operator needs
//! no `delete` on cluster-wide RBAC objects.
//!
//! Both come from a watch of the ClusterRoles and ClusterRoleBindings with the operator's label
//! ([`super::stores::Stores::reader_roles`]): a round compares with what the store holds and
//! reads nothing from the API; a role someone deleted or changed is restored in the onboarding's
//! next round (at the latest at the resync; the operator's own writes of them bring no round). One of the name that the store does not hold — none yet, or someone else's without
//! the operator's label — is created (POST, never an apply, so that nothing of someone else's is
//! taken over); only when the name turns out to be taken (409) is it read, to tell the
//! operator's own (not yet seen by the watch, or its label removed) from someone else's.

use jiff::Timestamp;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::info;

use super::apply::{Write, apply_if_changed, with_hash, with_timeout};
use super::conditions::condition;
use super::context::Context;
use super::error::{Error, Failure, ObserveError, WriteError};
use super::events;
use super::ownership::proves_cluster_object;
use super::stores::KeptStore;
use crate::api::conditions::{self as c, reason};
use crate::api::{FachverfahrenOnboarding, FachverfahrenOnboardingStatus};
use crate::resources::{FIELD_MANAGER, cluster_role, cluster_role_binding};

/// What exists of the reader role or binding.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    /// Nothing of that name.
    Absent,
    /// The operator's, for this onboarding (as JSON, for the comparison).
    Ours(Value),
    /// Someone else's, or an earlier onboarding's of the same name.
    Foreign,
}

/// What an object read by name is to `fvo` (pure).
pub fn classify(fvo: &FachverfahrenOnboarding, found: Option<(ObjectMeta, Value)>) -> Found {
    match found {
        None => Found::Absent,
        Some((meta, value)) if proves_cluster_object(fvo, &meta) => Found::Ours(value),
        Some(_) => Found::Foreign,
    }
}

/// The `ReadAccessGranted` condition (pure): `False` when the role or binding of the name is not
/// ours, else `True` naming the groups.
pub fn read_access_condition(
    fvo: &FachverfahrenOnboarding,
    role: &Found,
    binding: &Found,
    previous: &[Condition],
    now: Timestamp,
) -> Condition {
    let name = cluster_role::name(&fvo.name_any());
    let foreign: Vec<&str> = [(role, "ClusterRole"), (binding, "ClusterRoleBinding")]
        .into_iter()
        .filter(|(f, _)| **f == Found::Foreign)
        .map(|(_, kind)| kind)
        .collect();
    let (status, why, message) = if foreign.is_empty() {
        let mut groups: Vec<&str> = fvo.spec.access.iter().map(|a| a.group.as_str()).collect();
        groups.sort_unstable();
        groups.dedup();
        let message = if groups.is_empty() {
            format!("ClusterRole {name} is bound to no group: spec.access lists none")
        } else {
            format!(
                "the groups {} may read this onboarding and its Ressort (ClusterRole {name})",
                groups.join(", ")
            )
        };
        ("True", reason::READER_ROLE_BOUND, message)
    } else {
        (
            "False",
            reason::READER_ROLE_CONFLICT,
            format!(
                "{} {name} exists and was not created by the operator for this onboarding; it is left \
                 alone, and the access groups cannot read the onboarding: delete or rename it (one left by \
                 an earlier onboarding of the same name goes by itself once the garbage collector removes it)",
                foreign.join(" and ")
            ),
        )
    };
    condition(
        c::READ_ACCESS_GRANTED,
        status,
        why,
        message,
        fvo.metadata.generation,
        previous,
        now,
    )
}

/// Reads the object `name` of kind `K`, with its metadata and as JSON.
async fn read<K>(api: &Api<K>, kind: &str, name: &str) -> Result<Option<(ObjectMeta, Value)>, Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let found = api.get_opt(name).await.map_err(|source| {
        Error::Observe(ObserveError::Read {
            what: format!("{kind} {name}"),
            source,
        })
    })?;
    Ok(found.and_then(|o| as_json(&o)))
}

fn as_json<K: Resource + Serialize>(o: &K) -> Option<(ObjectMeta, Value)> {
    let value = serde_json::to_value(o).ok()?;
    Some((o.meta().clone(), value))
}

/// The object `name` as the watch of the operator's reader roles (or bindings) holds it.
fn stored<K>(store: &KeptStore<K>, name: &str) -> Option<(ObjectMeta, Value)>
where
    K: Resource<DynamicType = ()> + Default + Serialize + DeserializeOwned + 'static,
{
    // Cluster-scoped: filed under no namespace.
    store.get("", name).and_then(|o| o.value_and_meta())
}

/// What one of the two objects is, with the write it took to find out.
struct Resolved {
    found: Found,
    created: bool,
}

/// What the object `desired` names is to `fvo`: from the store when it holds it, else the
/// object is created (POST: fails on an existing one, so it cannot take over someone else's),
/// and only when the name is taken is it read.
async fn resolve<K>(
    api: &Api<K>,
    kind: &str,
    desired: &K,
    fvo: &FachverfahrenOnboarding,
    in_store: Option<(ObjectMeta, Value)>,
) -> Result<Resolved, Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    if in_store.is_some() {
        return Ok(Resolved {
            found: classify(fvo, in_store),
            created: false,
        });
    }
    let name = desired.name_any();
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    // With the applied-hash annotation an apply would add: the next round finds it as declared.
    let value = with_hash(serde_json::to_value(desired).map_err(WriteError::Serialize)?);
    let hashed: K = serde_json::from_value(value).map_err(WriteError::Serialize)?;
    match with_timeout(
        || format!("create {kind} {name}"),
        api.create(&params, &hashed),
    )
    .await
    {
        Ok(_) => Ok(Resolved {
            found: Found::Absent,
            created: true,
        }),
        // 409 on a create: the name is taken.
        Err(e) if e.is_conflict() => Ok(Resolved {
            found: classify(fvo, read(api, kind, &name).await?),
            created: false,
        }),
        Err(e) => Err(e.into()),
    }
}

/// The reader step: converges the reader role and binding of `fvo` and puts `ReadAccessGranted`
/// on `status`.
pub async fn converge(
    ctx: &Context,
    fvo: &FachverfahrenOnboarding,
    status: &mut FachverfahrenOnboardingStatus,
) -> Result<(), Error> {
    let (Some(_), Ok(role), Ok(binding)) = (
        fvo.metadata.uid.as_deref(),
        cluster_role::build(fvo),
        cluster_role_binding::build(fvo),
    ) else {
        return Ok(());
    };
    let now = super::conditions::now();
    let previous = fvo
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    status
        .conditions
        .retain(|x| x.type_ != c::READ_ACCESS_GRANTED);
    let name = role.name_any();
    let roles: Api<ClusterRole> = Api::all(ctx.client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(ctx.client.clone());
    let stores = &ctx.stores;
    let role_stored = stored(&stores.reader_roles, &name);
    let binding_stored = stored(&stores.reader_bindings, &name);
    // Someone else's of the name in the store (it carries the operator's label, not its
    // record): nothing is created, the condition says so.
    let (role_found, binding_found) = if [&role_stored, &binding_stored]
        .iter()
        .any(|s| s.is_some() && classify(fvo, (*s).clone()) == Found::Foreign)
    {
        (classify(fvo, role_stored), classify(fvo, binding_stored))
    } else {
        // The role before the binding that refers to it; no binding where the role's name is
        // someone else's (it would bind their role to the groups). A binding's name taken by
        // someone else is found only after the role was created: that role grants nothing
        // unbound and goes with the onboarding.
        let r = resolve(&roles, "ClusterRole", &role, fvo, role_stored).await?;
        let b = if r.found == Found::Foreign {
            Resolved {
                found: classify(fvo, binding_stored),
                created: false,
            }
        } else {
            resolve(
                &bindings,
                "ClusterRoleBinding",
                &binding,
                fvo,
                binding_stored,
            )
            .await?
        };
        let mut created = Vec::new();
        if r.created {
            created.push("ClusterRole");
        }
        if b.created {
            created.push("ClusterRoleBinding");
        }
        if !created.is_empty() {
            info!(onboarding = %fvo.name_any(), role = %name, "created {}", created.join(", "));
        }
        (r.found, b.found)
    };
    let cond = read_access_condition(fvo, &role_found, &binding_found, previous, now);
    if cond.status != "True" {
        let known = previous
            .iter()
            .any(|p| p.type_ == cond.type_ && p.reason == cond.reason);
        if !known {
            events::publish(
                &ctx.recorder,
                fvo,
                EventType::Warning,
                reason::READER_ROLE_CONFLICT,
                "GrantReadAccess",
                cond.message.clone(),
            )
            .await;
        }
        status.conditions.push(cond);
        return Ok(());
    }
    // Not `exact`: that replaces (PUT, the `update` verb) to drop fields others added;
    // server-side apply with force sets the rules and subjects (atomic lists) back without it,
    // and labels others add do no harm. A role just created is as declared.
    let mut wrote = Vec::new();
    if let Found::Ours(v) = &role_found
        && apply_if_changed(&roles, &role, Some(v), true, false).await? != Write::None
    {
        wrote.push("ClusterRole");
    }
    if let Found::Ours(v) = &binding_found
        && apply_if_changed(&bindings, &binding, Some(v), true, false).await? != Write::None
    {
        wrote.push("ClusterRoleBinding");
    }
    if !wrote.is_empty() {
        info!(onboarding = %fvo.name_any(), role = %name, "applied {}", wrote.join(", "));
    }
    status.conditions.push(cond);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::moin_schule;

    fn meta_value<K: Resource + Serialize>(o: &K) -> Option<(ObjectMeta, Value)> {
        Some((o.meta().clone(), serde_json::to_value(o).unwrap()))
    }

    #[test]
    fn a_role_of_the_name_that_is_not_ours_is_a_conflict_and_ours_is_bound() {
        let fvo = moin_schule();
        let role = cluster_role::build(&fvo).unwrap();
        let ours = classify(&fvo, meta_value(&role));
        assert!(matches!(ours, Found::Ours(_)));
        let mut theirs = role.clone();
        theirs.metadata.annotations = None;
        theirs.metadata.labels = None;
        let foreign = classify(&fvo, meta_value(&theirs));
        assert_eq!(foreign, Found::Foreign);
        assert_eq!(classify(&fvo, None), Found::Absent);

        let now = Timestamp::UNIX_EPOCH;
        let ok = read_access_condition(&fvo, &ours, &Found::Absent, &[], now);
        assert_eq!(
            (ok.type_.as_str(), ok.status.as_str(), ok.reason.as_str()),
            ("ReadAccessGranted", "True", "ReaderRoleBound")
        );
        assert!(
            ok.message
                .contains("mk-moin-schule-devs, mk-moin-schule-ops")
        );
        let conflict = read_access_condition(&fvo, &ours, &foreign, &[], now);
        assert_eq!(
            (conflict.status.as_str(), conflict.reason.as_str()),
            ("False", "ReaderRoleConflict")
        );
        assert!(
            conflict.message.starts_with(
                "ClusterRoleBinding conplus:fvo:mk-moin-schule-onboarding:reader exists"
            ),
            "{}",
            conflict.message
        );
    }
}
