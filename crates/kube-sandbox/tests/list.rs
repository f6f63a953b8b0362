//! list: selectors, pages, resourceVersion semantics and the metadata-only form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

fn names<K: kube::Resource>(items: Vec<K>) -> Vec<String> {
    items
        .into_iter()
        .map(|i| i.meta().name.clone().unwrap())
        .collect()
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn label_selectors_support_equality_set_and_existence_requirements() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(
        &PostParams::default(),
        &cm("a", json!({"env": "prod", "tier": "web"})),
    )
    .await
    .unwrap();
    api.create(&PostParams::default(), &cm("b", json!({"env": "dev"})))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("c", json!({})))
        .await
        .unwrap();
    let sel = |s: &str| ListParams::default().labels(s);
    assert_eq!(
        names(api.list(&sel("env=prod")).await.unwrap().items),
        ["a"]
    );
    assert_eq!(
        names(api.list(&sel("env==dev")).await.unwrap().items),
        ["b"]
    );
    assert_eq!(
        names(api.list(&sel("env!=prod")).await.unwrap().items),
        ["b", "c"]
    );
    assert_eq!(
        names(api.list(&sel("env in (prod,dev)")).await.unwrap().items),
        ["a", "b"]
    );
    assert_eq!(
        names(api.list(&sel("env notin (prod)")).await.unwrap().items),
        ["b", "c"]
    );
    assert_eq!(names(api.list(&sel("tier")).await.unwrap().items), ["a"]);
    assert_eq!(names(api.list(&sel("!env")).await.unwrap().items), ["c"]);
    assert_eq!(
        names(api.list(&sel("env,!tier")).await.unwrap().items),
        ["b"]
    );
}

#[tokio::test]
async fn field_selectors_match_name_namespace_and_pod_phase() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
                .items
        ),
        ["b"]
    );
    let all: Api<ConfigMap> = Api::all(client.clone());
    assert_eq!(
        names(
            all.list(&ListParams::default().fields("metadata.namespace=default,metadata.name!=a"))
                .await
                .unwrap()
                .items
        ),
        ["b"]
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}})).unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("status.phase=Pending"))
                .await
                .unwrap()
                .items
        ),
        ["p"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("spec.nodeName=n1"))
                .await
                .unwrap()
                .items
        ),
        ["p"]
    );
    assert!(
        pods.list(&ListParams::default().fields("status.phase=Running"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let s = api_error(
        api.list(&ListParams::default().fields("data.a=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
}

#[tokio::test]
async fn event_field_selector_matches_the_involved_object() {
    let (_sb, client) = start().await;
    let events: Api<Event> = Api::namespaced(client, "default");
    let ev: Event = serde_json::from_value(json!({"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default"}, "reason": "Started"})).unwrap();
    events.create(&PostParams::default(), &ev).await.unwrap();
    let ev2: Event = serde_json::from_value(
        json!({"metadata": {"name": "e2"}, "involvedObject": {"kind": "Pod", "name": "p2"}}),
    )
    .unwrap();
    events.create(&PostParams::default(), &ev2).await.unwrap();
    let lp = ListParams::default().fields("involvedObject.name=p1,involvedObject.kind=Pod");
    assert_eq!(names(events.list(&lp).await.unwrap().items), ["e1"]);
}

#[tokio::test]
async fn paged_list_continue_is_consistent_at_the_first_page_version() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..10 {
        api.create(
            &PostParams::default(),
            &cm(&format!("cm-{i:02}"), json!({})),
        )
        .await
        .unwrap();
    }
    let first = api.list(&ListParams::default().limit(4)).await.unwrap();
    assert_eq!(
        names(first.items.clone()),
        ["cm-00", "cm-01", "cm-02", "cm-03"]
    );
    assert_eq!(first.metadata.remaining_item_count, Some(6));
    let rv = first.metadata.resource_version.clone().unwrap();
    // Changes after the first page do not show in later pages.
    api.create(&PostParams::default(), &cm("cm-99", json!({})))
        .await
        .unwrap();
    api.delete("cm-05", &Default::default()).await.unwrap();
    let mut all = names(first.items);
    let mut token = first.metadata.continue_;
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        let page = api
            .list(&ListParams::default().limit(4).continue_token(&t))
            .await
            .unwrap();
        assert_eq!(page.metadata.resource_version.as_deref(), Some(rv.as_str()));
        all.extend(names(page.items));
        token = page.metadata.continue_;
    }
    let want: Vec<String> = (0..10).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(all, want);
}

#[tokio::test]
async fn continue_token_after_compaction_is_410_expired() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), json!({})))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(1)).await.unwrap();
    sb.faults().compact();
    let s = api_error(
        api.list(
            &ListParams::default()
                .limit(1)
                .continue_token(first.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn list_across_all_namespaces_returns_every_namespace_in_order() {
    let (_sb, client) = start().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "a-team"}})).unwrap(),
    )
    .await
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), "a-team")
        .create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &cm("y", json!({})))
        .await
        .unwrap();
    let all: Api<ConfigMap> = Api::all(client);
    let items = all.list(&ListParams::default()).await.unwrap().items;
    let keys: Vec<(String, String)> = items
        .into_iter()
        .map(|c| (c.metadata.namespace.unwrap(), c.metadata.name.unwrap()))
        .collect();
    assert_eq!(
        keys,
        [
            ("a-team".to_string(), "x".to_string()),
            ("default".to_string(), "y".to_string())
        ]
    );
}

#[tokio::test]
async fn list_resource_version_is_the_latest_write() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.metadata.resource_version.unwrap(),
        sb.resource_version().to_string()
    );
    let any = api.list(&ListParams::default().match_any()).await.unwrap();
    assert_eq!(any.items.len(), 1);
}

#[tokio::test]
async fn exact_list_at_an_old_resource_version_is_410() {
    let (_sb, client) = start().await;
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
    let lp = ListParams {
        resource_version: Some(rv),
        version_match: Some(kube::api::VersionMatch::Exact),
        ..Default::default()
    };
    assert_eq!(api_error(api.list(&lp).await.unwrap_err()).code, 410);
}

#[tokio::test]
async fn list_metadata_answers_partial_object_metadata() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("a", json!({"k": "v"})))
        .await
        .unwrap();
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items[0].metadata.labels.as_ref().unwrap()["k"], "v");
    let one = api.get_metadata("a").await.unwrap();
    assert_eq!(one.types.unwrap().kind, "PartialObjectMetadata");
    let (_, _, raw_list) = raw_with_accept(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        None,
        Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
        None,
    )
    .await;
    assert_eq!(raw_list["kind"], "PartialObjectMetadataList");
    assert!(raw_list["items"][0].get("data").is_none());
}
