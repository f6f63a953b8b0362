//! core/v1 and events.k8s.io/v1 Events are one store seen through both APIs, as in
//! kube-apiserver: what a recorder writes through one is read, patched, watched and deleted
//! through the other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

fn new_event(name: &str) -> Event {
    serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "name": "subject", "namespace": "default"},
        "reason": "Reconciled", "note": "first", "type": "Normal", "action": "Reconcile",
        "reportingController": "example.com/ctl", "reportingInstance": "ctl-1",
        "eventTime": "2026-01-01T00:00:00.000000Z",
    }))
    .unwrap()
}

#[tokio::test]
async fn a_recorders_merge_patch_through_events_k8s_io_is_seen_through_core_v1() {
    let (sandbox, client) = start().await;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let created = events
        .create(&PostParams::default(), &new_event("e1"))
        .await
        .unwrap();
    assert_eq!(created.note.as_deref(), Some("first"));
    let mut watch = core
        .watch(
            &WatchParams::default(),
            &created.metadata.resource_version.clone().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    // kube's Recorder repeats an event as a merge patch of its series.
    let patched = events
        .patch(
            "e1",
            &PatchParams::default(),
            &Patch::Merge(json!({"series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:05.000000Z"}, "note": "again"})),
        )
        .await
        .unwrap();
    assert_eq!(patched.series.unwrap().count, 2);
    let seen = core.get("e1").await.unwrap();
    assert_eq!(seen.message.as_deref(), Some("again"));
    assert_eq!(seen.involved_object.name.as_deref(), Some("subject"));
    assert_eq!(seen.reporting_component.as_deref(), Some("example.com/ctl"));
    assert_eq!(seen.series.unwrap().count, Some(2));
    match watch.next().await.unwrap().unwrap() {
        WatchEvent::Modified(e) => assert_eq!(e.message.as_deref(), Some("again")),
        other => panic!("expected the patch as MODIFIED through core/v1, got {other:?}"),
    }
    // The core list selects by the view's fields translated, and the view's by its own names.
    let by_core = core
        .list(
            &ListParams::default()
                .fields("involvedObject.name=subject,reportingComponent=example.com/ctl"),
        )
        .await
        .unwrap();
    assert_eq!(by_core.items.len(), 1);
    let by_view = events
        .list(
            &ListParams::default()
                .fields("regarding.kind=ConfigMap,reportingController=example.com/ctl"),
        )
        .await
        .unwrap();
    assert_eq!(by_view.items.len(), 1);
    core.delete("e1", &Default::default()).await.unwrap();
    assert!(events.get_opt("e1").await.unwrap().is_none());
    sandbox.shutdown().await;
}
