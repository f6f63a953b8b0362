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
//! The controller keeps no watch of ClusterRoles (it would need to list every role of the
//! cluster). Instead, the step reads the two objects by name, and remembers ([`Memory`]) what it
//! last found converged: while the desired objects are the same, it reads again only after
//! [`RECHECK`], so that a change to an onboarding's groups is applied at once, a role someone
//! deleted or changed is restored within [`RECHECK`] (or the next change of the onboarding), and
//! the reconciles in between cost no request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::api::Api;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::info;

use super::apply::{Write, apply_if_changed};
use super::conditions::condition;
use super::context::Context;
use super::error::{Error, ObserveError};
use super::events;
use super::ownership::proves_cluster_object;
use crate::api::conditions::{self as c, reason};
use crate::api::{FachverfahrenOnboarding, FachverfahrenOnboardingStatus};
use crate::resources::{cluster_role, cluster_role_binding, stable_hash};

/// How long a converged reader role and binding are trusted without reading them again.
pub const RECHECK: Duration = Duration::from_secs(900);

/// What the step found converged last, per onboarding (by uid): the hash of the desired objects,
/// and when.
#[derive(Debug, Default)]
pub struct Memory {
    converged: Mutex<HashMap<String, (String, Instant)>>,
}

impl Memory {
    fn fresh(&self, uid: &str, hash: &str) -> bool {
        self.converged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .is_some_and(|(h, at)| h == hash && at.elapsed() < RECHECK)
    }

    fn remember(&self, uid: &str, hash: String) {
        self.converged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string(), (hash, Instant::now()));
    }

    /// Forgets what was checked for the onboarding of `uid` (deleted, or its role in conflict).
    pub fn forget(&self, uid: &str) {
        self.converged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }
}

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
    Ok(found.and_then(|o| {
        let value = serde_json::to_value(&o).ok()?;
        Some((o.meta().clone(), value))
    }))
}

/// The reader step: converges the reader role and binding of `fvo` and puts `ReadAccessGranted`
/// on `status`.
pub async fn converge(
    ctx: &Context,
    fvo: &FachverfahrenOnboarding,
    status: &mut FachverfahrenOnboardingStatus,
) -> Result<(), Error> {
    let (Some(uid), Ok(role), Ok(binding)) = (
        fvo.metadata.uid.as_deref(),
        cluster_role::build(fvo),
        cluster_role_binding::build(fvo),
    ) else {
        return Ok(());
    };
    let now = Timestamp::now();
    let previous = fvo
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    status
        .conditions
        .retain(|x| x.type_ != c::READ_ACCESS_GRANTED);
    let hash = stable_hash(&serde_json::json!([role, binding]));
    let memory = &ctx.reader;
    if memory.fresh(uid, &hash) {
        let ours = Found::Ours(Value::Null);
        let cond = read_access_condition(fvo, &ours, &ours, previous, now);
        status.conditions.push(cond);
        return Ok(());
    }
    let name = role.name_any();
    let roles: Api<ClusterRole> = Api::all(ctx.client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(ctx.client.clone());
    let found_role = classify(fvo, read(&roles, "ClusterRole", &name).await?);
    let found_binding = classify(fvo, read(&bindings, "ClusterRoleBinding", &name).await?);
    let cond = read_access_condition(fvo, &found_role, &found_binding, previous, now);
    if cond.status != "True" {
        memory.forget(uid);
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
    let observed = |f: &Found| match f {
        Found::Ours(v) => Some(v.clone()),
        _ => None,
    };
    // The role before the binding that refers to it. Not `exact`: that replaces (PUT, the
    // `update` verb) to drop fields others added; server-side apply with force sets the rules and
    // subjects (atomic lists) back without it, and labels others add do no harm.
    let mut wrote = Vec::new();
    for (w, kind) in [
        (
            apply_if_changed(&roles, &role, observed(&found_role).as_ref(), true, false).await?,
            "ClusterRole",
        ),
        (
            apply_if_changed(
                &bindings,
                &binding,
                observed(&found_binding).as_ref(),
                true,
                false,
            )
            .await?,
            "ClusterRoleBinding",
        ),
    ] {
        if w != Write::None {
            wrote.push(kind);
        }
    }
    if !wrote.is_empty() {
        info!(onboarding = %fvo.name_any(), role = %name, "applied {}", wrote.join(", "));
    }
    memory.remember(uid, hash);
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

    #[test]
    fn a_converged_role_is_read_again_only_after_the_recheck_or_when_the_desired_objects_change() {
        let memory = Memory::default();
        assert!(!memory.fresh("uid-1", "h1"));
        memory.remember("uid-1", "h1".into());
        assert!(memory.fresh("uid-1", "h1"));
        assert!(
            !memory.fresh("uid-1", "h2"),
            "a changed group list is applied at once"
        );
        assert!(!memory.fresh("uid-2", "h1"));
        memory.forget("uid-1");
        assert!(!memory.fresh("uid-1", "h1"));
    }
}
