//! Watch semantics: resourceVersion resumption, initial events, bookmarks, selectors,
//! timeouts, 410 Gone, and kube-runtime's watcher and Controller against them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::{Controller, WatchStreamExt, controller::Action, watcher};
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"a": "1"}}),
    )
    .unwrap()
}

/// The next event that is not a periodic bookmark.
async fn next_event(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> WatchEvent<ConfigMap> {
    loop {
        match next_raw(stream).await {
            WatchEvent::Bookmark(b)
                if !b
                    .metadata
                    .annotations
                    .contains_key("k8s.io/initial-events-end") =>
            {
                continue;
            }
            e => return e,
        }
    }
}

/// The next event, bookmarks included.
async fn next_raw(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no watch event within 10s")
        .unwrap()
        .unwrap()
}

fn describe(e: &WatchEvent<ConfigMap>) -> String {
    match e {
        WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.clone().unwrap()),
        WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.clone().unwrap()),
        WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.clone().unwrap()),
        WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
        WatchEvent::Error(e) => format!("ERROR {} {}", e.code, e.reason),
    }
}

#[tokio::test]
async fn watch_from_a_resource_version_replays_later_events_then_streams() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "2"}})),
    )
    .await
    .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED a");
    assert_eq!(describe(&next_event(&mut stream).await), "MODIFIED a");
    api.delete("a", &Default::default()).await.unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "DELETED a");
}

#[tokio::test]
async fn watch_from_version_zero_starts_with_synthetic_added_events() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED a");
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED b");
    api.create(&PostParams::default(), &cm("c", json!({})))
        .await
        .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED c");
}

#[tokio::test]
async fn watch_from_compacted_version_gets_410_gone() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    sb.faults().compact();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut stream).await {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message
                    .starts_with(&format!("too old resource version: {rv} (")),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {}", describe(&other)),
    }
}

#[tokio::test]
async fn watch_older_than_the_retained_history_gets_410_gone() {
    let config = kube_sandbox::SandboxConfig {
        watch_history: 3,
        ..Default::default()
    };
    let (_sb, client) = start_with(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for n in ["b", "c", "d", "e"] {
        api.create(&PostParams::default(), &cm(n, json!({})))
            .await
            .unwrap();
    }
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        describe(&next_event(&mut stream).await),
        "ERROR 410 Expired"
    );
}

#[tokio::test]
async fn object_leaving_the_label_selector_is_a_deleted_event_for_that_watcher() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let wp = WatchParams::default().labels("team in (a,b)");
    let mut stream = api.watch(&wp, &rv).await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("x", json!({"team": "c"})))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("y", json!({"team": "a"})))
        .await
        .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED y");
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED x");
    api.patch(
        "y",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "z"}}})),
    )
    .await
    .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "DELETED y");
}

#[tokio::test]
async fn watch_with_field_selector_on_name_sees_only_that_object() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let wp = WatchParams::default().fields("metadata.name=b");
    let mut stream = api.watch(&wp, "0").await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED b");
}

#[tokio::test]
async fn watch_bookmarks_carry_the_current_resource_version() {
    let config = kube_sandbox::SandboxConfig {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let (sb, client) = start_with(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let other: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    // A write to another resource advances the global version; the bookmark reports it.
    let s: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap();
    other.create(&PostParams::default(), &s).await.unwrap();
    let want = sb.resource_version().to_string();
    loop {
        match next_raw(&mut stream).await {
            WatchEvent::Bookmark(b) if b.metadata.resource_version == want => break,
            WatchEvent::Bookmark(_) => continue,
            e => panic!("unexpected {}", describe(&e)),
        }
    }
}

#[tokio::test]
async fn watch_timeout_seconds_ends_the_stream() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let started = std::time::Instant::now();
    let stream = api
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), "0")
        .await
        .unwrap();
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(events.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn send_initial_events_ends_with_an_initial_events_end_bookmark() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let wp = WatchParams::default().initial_events();
    let mut stream = api.watch(&wp, "").await.unwrap().boxed();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED a");
    match next_event(&mut stream).await {
        WatchEvent::Bookmark(b) => {
            assert_eq!(
                b.metadata
                    .annotations
                    .get("k8s.io/initial-events-end")
                    .map(String::as_str),
                Some("true")
            )
        }
        other => panic!(
            "expected the initial-events-end bookmark, got {}",
            describe(&other)
        ),
    }
}

#[tokio::test]
async fn close_watches_ends_open_streams() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let stream = api.watch(&WatchParams::default(), "0").await.unwrap();
    sb.faults().close_watches();
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(events.is_empty());
}

#[tokio::test]
async fn kube_runtime_watcher_sees_created_objects() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("before", json!({})))
        .await
        .unwrap();
    let mut stream = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("before"));
    api.create(&PostParams::default(), &cm("after", json!({})))
        .await
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.metadata.name.as_deref(), Some("after"));
}

#[tokio::test]
async fn kube_runtime_streaming_list_watcher_sees_created_objects() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("before", json!({})))
        .await
        .unwrap();
    let mut stream = watcher(api.clone(), watcher::Config::default().streaming_lists())
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("before"));
    api.create(&PostParams::default(), &cm("after", json!({})))
        .await
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.metadata.name.as_deref(), Some("after"));
}

#[tokio::test]
async fn kube_runtime_metadata_watcher_sees_partial_object_metadata() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let meta: Api<PartialObjectMeta<ConfigMap>> =
        Api::namespaced(api.clone().into_client(), "default");
    let mut stream = watcher(meta, watcher::Config::default())
        .applied_objects()
        .boxed();
    api.create(&PostParams::default(), &cm("m", json!({"x": "y"})))
        .await
        .unwrap();
    let obj = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(obj.metadata.name.as_deref(), Some("m"));
    assert_eq!(obj.metadata.labels.unwrap()["x"], "y");
}

#[tokio::test]
async fn kube_runtime_watcher_recovers_from_closed_watches_and_compaction() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    api.create(&PostParams::default(), &cm("one", json!({})))
        .await
        .unwrap();
    let o = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(o.metadata.name.as_deref(), Some("one"));
    sb.faults().compact();
    sb.faults().close_watches();
    api.create(&PostParams::default(), &cm("two", json!({})))
        .await
        .unwrap();
    loop {
        let o = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if o.metadata.name.as_deref() == Some("two") {
            break;
        }
    }
}

#[tokio::test]
async fn kube_runtime_controller_reconciles_every_object() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for n in ["a", "b", "c"] {
        api.create(&PostParams::default(), &cm(n, json!({})))
            .await
            .unwrap();
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    let reconcile = |obj: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>| async move {
        if obj
            .metadata
            .labels
            .as_ref()
            .is_none_or(|l| !l.contains_key("reconciled"))
        {
            let patch = json!({"metadata": {"labels": {"reconciled": "yes"}}});
            api.patch(
                obj.metadata.name.as_deref().unwrap(),
                &PatchParams::apply("ctl"),
                &Patch::Apply(
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": patch["metadata"]}),
                ),
            )
            .await?;
        }
        Ok::<_, kube::Error>(Action::await_change())
    };
    let ctl = Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            Arc::new(api.clone()),
        )
        .for_each(move |_| {
            seen2.fetch_add(1, Ordering::SeqCst);
            async {}
        });
    let handle = tokio::spawn(ctl);
    eventually("every ConfigMap is labelled by the controller", || {
        let api = api.clone();
        async move {
            let list = api
                .list(&ListParams::default().labels("reconciled=yes"))
                .await
                .unwrap();
            list.items.len() == 3
        }
    })
    .await;
    assert!(seen.load(Ordering::SeqCst) >= 3);
    handle.abort();
}
