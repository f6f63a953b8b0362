//! Finalizer (I/O, writes): the operator's finalizer on every onboarding, and the deletion
//! policy carried out before it is released.
//!
//! kube-runtime's `finalizer()` releases the finalizer as soon as its cleanup returns; ours
//! must stay while namespaces of `deletionPolicy: Delete` are still terminating, so the
//! finalizer is kept by hand, with typed JSON patch operations: a `test` of the current list
//! guards against overwriting a finalizer someone else added in the meantime.

use std::time::Duration;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, ReplaceOperation, TestOperation};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Client, ResourceExt};

use super::context::Context;
use super::error::{Error, Target, WriteError};
use super::{apply, events, observe};
use crate::api::{DeletionPolicy, FachverfahrenOnboarding, Phase};
use crate::resources;

/// The finalizer that lets the operator carry out the deletion policy.
pub const FINALIZER: &str = "conplus.niedersachsen.de/cleanup";

/// The finalizer step: `Some(action)` ends the round here — the finalizer was just added
/// (its watch event brings the next round), or the onboarding is being deleted and its
/// deletion policy is carried out. `None`: go on with the pipeline.
pub async fn handle(fvo: &FachverfahrenOnboarding, ctx: &Context) -> Result<Option<Action>, Error> {
    if fvo.metadata.deletion_timestamp.is_some() {
        return cleanup(fvo, ctx).await.map(Some);
    }
    if has_finalizer(fvo) {
        return Ok(None);
    }
    let mut finalizers = fvo.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    set(&ctx.client, fvo, finalizers).await?;
    Ok(Some(Action::await_change()))
}

fn has_finalizer(fvo: &FachverfahrenOnboarding) -> bool {
    fvo.finalizers().iter().any(|f| f == FINALIZER)
}

/// The JSON patch that sets the finalizers of `fvo` to `finalizers`, unless they changed.
fn patch(fvo: &FachverfahrenOnboarding, finalizers: Vec<String>) -> json_patch::Patch {
    let path = PointerBuf::from_tokens(["metadata", "finalizers"]);
    let value = serde_json::Value::from(finalizers);
    json_patch::Patch(match &fvo.metadata.finalizers {
        None => vec![PatchOperation::Add(AddOperation { path, value })],
        Some(current) => vec![
            PatchOperation::Test(TestOperation {
                path: path.clone(),
                value: serde_json::Value::from(current.clone()),
            }),
            PatchOperation::Replace(ReplaceOperation { path, value }),
        ],
    })
}

async fn set(
    client: &Client,
    fvo: &FachverfahrenOnboarding,
    finalizers: Vec<String>,
) -> Result<(), WriteError> {
    let api: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    let name = fvo.name_any();
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::<()>::Json(patch(fvo, finalizers)),
    )
    .await
    .map(|_| ())
    .map_err(|source| WriteError::Api {
        what: Target(format!("finalizer of onboarding {name}")),
        source,
    })
}

/// Carries out the deletion policy, then releases the finalizer.
async fn cleanup(fvo: &FachverfahrenOnboarding, ctx: &Context) -> Result<Action, Error> {
    if !has_finalizer(fvo) {
        return Ok(Action::await_change());
    }
    let observed = observe::observe(&ctx.client, &ctx.stores, &ctx.admissions, fvo, &[]).await?;
    let remaining: Vec<String> = observed
        .owned_namespaces
        .iter()
        .map(|n| n.name_any())
        .collect();
    if !remaining.is_empty() {
        match fvo.spec.deletion_policy {
            DeletionPolicy::Retain => {
                let released_from = resources::released_from(&fvo.spec);
                for ns in &remaining {
                    apply::release_namespace(&ctx.client, &observed, fvo, ns, &released_from)
                        .await?;
                }
                events::publish(
                    &ctx.recorder,
                    fvo,
                    EventType::Normal,
                    "Released",
                    "Delete",
                    format!(
                        "namespaces kept and released from management (deletionPolicy Retain): {}",
                        remaining.join(", ")
                    ),
                )
                .await;
            }
            DeletionPolicy::Delete => {
                for ns in &observed.owned_namespaces {
                    if ns.metadata.deletion_timestamp.is_none() {
                        apply::delete_namespace(&ctx.client, &ns.name_any()).await?;
                    }
                }
                let mut terminating = fvo.status.clone().unwrap_or_default();
                if terminating.phase != Some(Phase::Terminating) {
                    terminating.phase = Some(Phase::Terminating);
                    apply::write_status(&ctx.client, &fvo.name_any(), &terminating).await?;
                    events::publish(
                        &ctx.recorder,
                        fvo,
                        EventType::Normal,
                        "Deleting",
                        "Delete",
                        format!(
                            "deleting namespaces (deletionPolicy Delete): {}",
                            remaining.join(", ")
                        ),
                    )
                    .await;
                }
                // The finalizer stays until the namespaces are gone.
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
        }
    }
    let rest: Vec<String> = fvo
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    set(&ctx.client, fvo, rest).await?;
    ctx.conformance.forget(fvo);
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::moin_schule;

    #[test]
    fn the_first_finalizer_is_added_and_a_later_one_guarded_by_a_test_of_the_current_list() {
        let mut fvo = moin_schule();
        let first = serde_json::to_value(patch(&fvo, vec![FINALIZER.into()])).unwrap();
        assert_eq!(
            first,
            serde_json::json!([{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
        );
        fvo.metadata.finalizers = Some(vec!["other".into()]);
        let second =
            serde_json::to_value(patch(&fvo, vec!["other".into(), FINALIZER.into()])).unwrap();
        assert_eq!(
            second,
            serde_json::json!([
                {"op": "test", "path": "/metadata/finalizers", "value": ["other"]},
                {"op": "replace", "path": "/metadata/finalizers", "value": ["other", FINALIZER]},
            ])
        );
    }
}
