//! Events (I/O, writes Events only): on transitions and failures, from one shared [`Recorder`],
//! with notes capped at 1 KiB. A failed publish is logged, never an error of the reconcile: an
//! Event is a courtesy, the status is the contract.
//!
//! The [`Recorder`] follows kube-runtime's (and client-go's) series: an Event with the same type,
//! reason, action and regarding object within six minutes is not created again, the first one's
//! `series` counts it. kube-runtime's `Recorder` keeps every Event it published, whole, for those six
//! minutes and walks all of them on every publish; with two Events per onboarding that was 6 MB of
//! the controller's heap at 1,000 onboardings and ten times that, walked per Event, at 10,000. This
//! one keeps what a repeat needs (the Event's name and namespace, the count, the time), and drops
//! expired series once a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, Client, Resource};
use serde_json::json;
use tracing::warn;

use super::conformance::Violation;
use crate::api::{FachverfahrenOnboarding, FachverfahrenOnboardingStatus};

/// How long a repeated Event counts in the first one's series (kube-runtime's and client-go's).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// How often expired series are dropped.
const PRUNE_EVERY: SignedDuration = SignedDuration::from_mins(1);

/// Publishes `events.k8s.io/v1` Events as `reportingController`/`reportingInstance`. Cheap to clone:
/// clones share the series.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    series: Arc<Mutex<Series>>,
}

/// What makes two Events one series: type, reason, action and the regarding object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    warning: bool,
    reason: Box<str>,
    action: Box<str>,
    /// apiVersion, kind, namespace, name and uid of the regarding object, NUL-separated.
    regarding: Box<str>,
}

impl SeriesKey {
    fn new(type_: EventType, reason: &str, action: &str, r: &ObjectReference) -> Self {
        let part = |p: &Option<String>| p.as_deref().unwrap_or_default().to_owned();
        let regarding = [
            part(&r.api_version),
            part(&r.kind),
            part(&r.namespace),
            part(&r.name),
            part(&r.uid),
        ]
        .join("\0");
        SeriesKey {
            warning: matches!(type_, EventType::Warning),
            reason: reason.into(),
            action: action.into(),
            regarding: regarding.into(),
        }
    }
}

/// The Event a series started with, and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    name: Box<str>,
    namespace: Box<str>,
    count: i32,
    last: Timestamp,
}

/// What to write for one Event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Write {
    /// A new Event with this name.
    Create { name: String },
    /// The series of the existing Event `name` in `namespace`: now `count` times.
    Count {
        name: Box<str>,
        namespace: Box<str>,
        count: i32,
    },
}

impl Write {
    /// The name of the Event written.
    fn name(self) -> String {
        match self {
            Write::Create { name } => name,
            Write::Count { name, .. } => name.into(),
        }
    }
}

/// One Event to publish.
struct Occurrence<'a> {
    type_: EventType,
    reason: &'a str,
    action: &'a str,
    note: String,
    reference: &'a ObjectReference,
}

/// The series seen within the window (pure: the time is passed in).
#[derive(Debug, Default)]
struct Series {
    seen: HashMap<SeriesKey, Seen>,
    next_prune: Option<Timestamp>,
}

impl Series {
    /// What an Event with `key` regarding the object named `name` means at `now`, remembered as
    /// written.
    fn record(&mut self, key: SeriesKey, namespace: &str, name: &str, now: Timestamp) -> Write {
        if self.next_prune.is_none_or(|at| now >= at) {
            self.seen.retain(|_, s| s.last + SERIES_WINDOW > now);
            self.next_prune = Some(now + PRUNE_EVERY);
        }
        match self.seen.get_mut(&key) {
            Some(s) if s.last + SERIES_WINDOW > now => {
                s.count = s.count.saturating_add(1);
                s.last = now;
                Write::Count {
                    name: s.name.clone(),
                    namespace: s.namespace.clone(),
                    count: s.count,
                }
            }
            _ => {
                let name = format!("{name}.{:x}", now.as_nanosecond());
                let seen = Seen {
                    name: name.as_str().into(),
                    namespace: namespace.into(),
                    count: 1,
                    last: now,
                };
                self.seen.insert(key, seen);
                Write::Create { name }
            }
        }
    }

    /// Forgets the series of `key`: its Event could not be written, or is gone.
    fn forget(&mut self, key: &SeriesKey) {
        self.seen.remove(key);
    }
}

impl Recorder {
    /// A recorder that reports as `controller`, instance `instance`.
    pub fn new(client: Client, controller: &str, instance: &str) -> Self {
        Recorder {
            client,
            controller: controller.to_owned(),
            instance: instance.to_owned(),
            series: Arc::default(),
        }
    }

    /// Publishes an Event regarding `reference`, in its namespace (`default` for cluster-scoped
    /// objects): a new Event, or one more in the series of the same Event within six minutes. A
    /// series whose Event is gone (deleted, expired) starts again with a new one.
    pub async fn publish(
        &self,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
        reference: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let key = SeriesKey::new(type_, reason, action, reference);
        let event = Occurrence {
            type_,
            reason,
            action,
            note,
            reference,
        };
        let namespace = reference.namespace.as_deref().unwrap_or("default");
        let regarding = reference.name.as_deref().unwrap_or(&self.controller);
        let now = Timestamp::now();
        let write = self.series().record(key.clone(), namespace, regarding, now);
        let result = match write {
            Write::Count {
                name,
                namespace,
                count,
            } => match self.count(&name, &namespace, count, now).await {
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    self.series().forget(&key);
                    let again = self
                        .series()
                        .record(key.clone(), &namespace, regarding, now);
                    self.create(event, &namespace, again.name(), now).await
                }
                other => other,
            },
            Write::Create { name } => self.create(event, namespace, name, now).await,
        };
        if result.is_err() {
            self.series().forget(&key);
        }
        result
    }

    /// Counts one more in the series of the Event `name`.
    async fn count(
        &self,
        name: &str,
        namespace: &str,
        count: i32,
        now: Timestamp,
    ) -> Result<(), kube::Error> {
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        let series = EventSeries {
            count,
            last_observed_time: MicroTime(now),
        };
        let patch = Patch::Merge(json!({ "series": series }));
        api.patch(name, &PatchParams::default(), &patch)
            .await
            .map(drop)
    }

    /// Creates the Event `name` for `event`.
    async fn create(
        &self,
        event: Occurrence<'_>,
        namespace: &str,
        name: String,
        now: Timestamp,
    ) -> Result<(), kube::Error> {
        let object = K8sEvent {
            action: Some(event.action.to_owned()),
            reason: Some(event.reason.to_owned()),
            event_time: Some(MicroTime(now)),
            regarding: Some(event.reference.clone()),
            note: Some(event.note),
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.to_owned()),
                ..Default::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            ..Default::default()
        };
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        api.create(&PostParams::default(), &object).await.map(drop)
    }

    /// The series; a panic elsewhere while holding the lock leaves it usable (it is a cache).
    fn series(&self) -> std::sync::MutexGuard<'_, Series> {
        self.series.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The reason of the Warning Events on objects that violate a conformance rule.
pub const CONFORMANCE_VIOLATION: &str = "ConformanceViolation";

/// The reason of the Warning Event on an onboarding when a PolicyReport of the operator's name in one
/// of its namespaces is not the operator's for it: the report is left alone. The action
/// (`WritePolicyReport/<namespace>`) names the namespace, so each gets a series of its own.
pub const POLICY_REPORT_NOT_OWNED: &str = "PolicyReportNotOwned";

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
    if let Err(e) = recorder
        .publish(type_, reason, action, note, reference)
        .await
    {
        warn!(error = %e, "publishing an event failed");
    }
}

/// On the offending object, in its namespace, where its team looks (`kubectl describe`,
/// `kubectl get events -n`). The rule is the action: the [`Recorder`] keeps one
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            namespace: Some("mk-moin-prod".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        }
    }

    fn key(action: &str, name: &str) -> SeriesKey {
        SeriesKey::new(
            EventType::Warning,
            "ConformanceViolation",
            action,
            &reference(name),
        )
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap_or_default()
    }

    #[test]
    fn a_repeat_within_six_minutes_counts_in_the_first_events_series() {
        let mut series = Series::default();
        let Write::Create { name } = series.record(key("a", "portal"), "ns", "portal", at(0))
        else {
            panic!("the first Event is created");
        };
        assert!(name.starts_with("portal."), "{name}");
        for (t, count) in [(60, 2), (300, 3)] {
            assert_eq!(
                series.record(key("a", "portal"), "ns", "portal", at(t)),
                Write::Count {
                    name: name.as_str().into(),
                    namespace: "ns".into(),
                    count
                }
            );
        }
        // Six minutes after the last one, the series has ended: a new Event.
        assert!(matches!(
            series.record(key("a", "portal"), "ns", "portal", at(300 + 360)),
            Write::Create { .. }
        ));
    }

    #[test]
    fn type_reason_action_and_regarding_object_each_make_their_own_series() {
        let mut series = Series::default();
        let normal = SeriesKey::new(
            EventType::Normal,
            "ConformanceViolation",
            "a",
            &reference("portal"),
        );
        let other_reason = SeriesKey::new(EventType::Warning, "Other", "a", &reference("portal"));
        let mut other_uid = reference("portal");
        other_uid.uid = Some("recreated".into());
        let recreated = SeriesKey::new(EventType::Warning, "ConformanceViolation", "a", &other_uid);
        for k in [
            key("a", "portal"),
            key("b", "portal"),
            key("a", "api"),
            normal,
            other_reason,
            recreated,
        ] {
            assert!(
                matches!(
                    series.record(k.clone(), "ns", "x", at(1)),
                    Write::Create { .. }
                ),
                "{k:?}"
            );
        }
        assert_eq!(series.seen.len(), 6);
    }

    #[test]
    fn expired_series_are_dropped_so_memory_stays_bounded_by_the_window() {
        let mut series = Series::default();
        for i in 0..1_000 {
            series.record(key("a", &format!("d{i}")), "ns", "x", at(0));
        }
        assert_eq!(series.seen.len(), 1_000);
        // Within the prune interval nothing is walked; after the window, one minute on, all are gone.
        series.record(key("a", "late"), "ns", "x", at(30));
        assert_eq!(series.seen.len(), 1_001);
        series.record(key("a", "later"), "ns", "x", at(361));
        assert_eq!(
            series.seen.len(),
            2,
            "only late (30 s) and later (361 s) are within the window"
        );
    }

    #[test]
    fn a_forgotten_series_starts_again_with_a_new_event() {
        let mut series = Series::default();
        series.record(key("a", "portal"), "ns", "portal", at(0));
        series.forget(&key("a", "portal"));
        assert!(matches!(
            series.record(key("a", "portal"), "ns", "portal", at(1)),
            Write::Create { .. }
        ));
    }
}
