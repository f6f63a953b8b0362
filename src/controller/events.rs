//! Events (I/O, writes Events only): on transitions and failures, from one shared
//! [`Recorder`], with notes capped at 1 KiB. A failed publish is logged, never an error of the
//! reconcile: an Event is a courtesy, the status is the contract.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};
use tracing::warn;

use super::conformance::Violation;
use crate::api::{FachverfahrenOnboarding, FachverfahrenOnboardingStatus};

/// The reason of the Warning Events on objects that violate a conformance rule.
pub const CONFORMANCE_VIOLATION: &str = "ConformanceViolation";

/// Notes are capped: an Event is not the place for a full report.
const MAX_NOTE_CHARS: usize = 1024;

/// Publishes an Event regarding `fvo`.
pub async fn publish(
    recorder: &Recorder,
    fvo: &FachverfahrenOnboarding,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    publish_on(recorder, &fvo.object_ref(&()), type_, reason, action, note).await;
}

/// Publishes an Event regarding `reference` (in its namespace, `default` for cluster-scoped
/// objects).
pub async fn publish_on(
    recorder: &Recorder,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let note: String = note.chars().take(MAX_NOTE_CHARS).collect();
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, reference).await {
        warn!(error = %e, "publishing an event failed");
    }
}

/// On the offending object, in its namespace, where its team looks (`kubectl describe`,
/// `kubectl get events -n`). The rule is the action: kube-runtime's Recorder keeps one
/// series per (reason, action, regarding), so each object and rule gets a series of its own
/// instead of all of an onboarding's violations collapsing into the first one's message.
pub async fn violations(recorder: &Recorder, violations: &[Violation]) {
    for v in violations {
        publish_on(
            recorder,
            &v.regarding,
            EventType::Warning,
            CONFORMANCE_VIOLATION,
            v.rule,
            v.note.clone(),
        )
        .await;
    }
}

/// The `Ready` transition from `old` to `new`, if there is one: Normal when it became True,
/// Warning otherwise.
pub async fn ready_transition(
    recorder: &Recorder,
    fvo: &FachverfahrenOnboarding,
    old: &FachverfahrenOnboardingStatus,
    new: &FachverfahrenOnboardingStatus,
) {
    if let Some(now) = super::conditions::ready_transition(old, new) {
        let type_ = if now.status == "True" {
            EventType::Normal
        } else {
            EventType::Warning
        };
        publish(
            recorder,
            fvo,
            type_,
            &now.reason,
            "Reconcile",
            now.message.clone(),
        )
        .await;
    }
}
