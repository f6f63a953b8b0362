//! Server-side apply: creation, ownership, conflicts, force, and the request rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn deployment(replicas: i64, image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": image}]}}
        }
    })
}

#[tokio::test]
async fn server_side_apply_to_a_missing_object_creates_it_with_managed_fields() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
    let created = api
        .patch("a", &PatchParams::apply("alice"), &Patch::Apply(&cm))
        .await
        .unwrap();
    assert_eq!(created.data.unwrap()["k"], "v");
    assert!(created.metadata.uid.is_some());
    let mf = created.metadata.managed_fields.unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("alice"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
}

#[tokio::test]
async fn server_side_apply_conflict_without_force_names_the_field() {
    let (_sb, client) = start().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.patch(
        "web",
        &PatchParams::apply("alice"),
        &Patch::Apply(deployment(2, "nginx:1")),
    )
    .await
    .unwrap();
    let err = api_error(
        api.patch(
            "web",
            &PatchParams::apply("bob"),
            &Patch::Apply(deployment(3, "nginx:1")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    assert_eq!(err.reason, "Conflict");
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
    );
    let causes = err.details.unwrap().causes;
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".spec.replicas");
    assert_eq!(causes[0].message, "conflict with \"alice\"");
}

#[tokio::test]
async fn server_side_apply_with_force_takes_ownership() {
    let (_sb, client) = start().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.patch(
        "web",
        &PatchParams::apply("alice"),
        &Patch::Apply(deployment(2, "nginx:1")),
    )
    .await
    .unwrap();
    let d = api
        .patch(
            "web",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(deployment(3, "nginx:1")),
        )
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));
    let managers: Vec<String> = d
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"bob".to_string()));
}

#[tokio::test]
async fn reapplying_the_same_configuration_does_not_change_the_resource_version() {
    let (_sb, client) = start().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let a = api
        .patch(
            "web",
            &PatchParams::apply("alice"),
            &Patch::Apply(deployment(2, "nginx:1")),
        )
        .await
        .unwrap();
    let b = api
        .patch(
            "web",
            &PatchParams::apply("alice"),
            &Patch::Apply(deployment(2, "nginx:1")),
        )
        .await
        .unwrap();
    assert_eq!(a.metadata.resource_version, b.metadata.resource_version);
    assert_eq!(b.metadata.generation, Some(1));
}

#[tokio::test]
async fn apply_without_field_manager_is_a_400() {
    let (_sb, client) = start().await;
    let (code, _, body) = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a",
        Some("application/apply-patch+yaml"),
        Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("fieldManager"),
        "{body}"
    );
}

#[tokio::test]
async fn apply_body_may_be_yaml() {
    let (_sb, client) = start().await;
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n";
    let req = axum::http::Request::builder()
        .method("PATCH")
        .uri("/api/v1/namespaces/default/configmaps/y?fieldManager=yamler")
        .header("content-type", "application/apply-patch+yaml")
        .body(kube::client::Body::from(yaml.as_bytes().to_vec()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    assert_eq!(api.get("y").await.unwrap().data.unwrap()["k"], "v");
}

#[tokio::test]
async fn fields_dropped_from_an_apply_configuration_are_removed() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let pp = PatchParams::apply("alice");
    api.patch("a", &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}}))).await.unwrap();
    let c = api.patch("a", &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1"}}))).await.unwrap();
    let data = c.data.unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data["x"], "1");
}

#[tokio::test]
async fn apply_to_the_status_subresource_changes_only_status() {
    let (_sb, client) = start().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.patch(
        "web",
        &PatchParams::apply("alice"),
        &Patch::Apply(deployment(2, "nginx:1")),
    )
    .await
    .unwrap();
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 9}, "status": {"readyReplicas": 2}});
    let d = api
        .patch_status(
            "web",
            &PatchParams::apply("status-writer"),
            &Patch::Apply(status),
        )
        .await
        .unwrap();
    assert_eq!(d.status.unwrap().ready_replicas, Some(2));
    assert_eq!(d.spec.unwrap().replicas, Some(2));
}

/// The store keeps managedFields in a compact form; every way of reading an object gives the list,
/// with each `fieldsV1` a JSON object, as kube-apiserver writes it.
#[tokio::test]
async fn managed_fields_read_the_same_from_get_list_metadata_list_table_watch_and_write_replies() {
    use futures::{StreamExt, TryStreamExt};
    use kube::api::{ListParams, WatchEvent, WatchParams};
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "v"}});
    let applied = api
        .patch("a", &PatchParams::apply("alice"), &Patch::Apply(&cm))
        .await
        .unwrap();
    let expected = json!([{
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:x": {}}}},
        "manager": "alice",
        "operation": "Apply",
        "time": serde_json::to_value(&applied.metadata.managed_fields.as_ref().unwrap()[0].time).unwrap(),
    }]);
    let of = |v: &serde_json::Value| v.pointer("/metadata/managedFields").cloned();
    assert_eq!(
        of(&serde_json::to_value(&applied).unwrap()),
        Some(expected.clone()),
        "apply reply"
    );

    let (code, _, got) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps/a",
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(of(&got), Some(expected.clone()), "get");
    let (_, _, list) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        None,
        None,
    )
    .await;
    assert_eq!(of(&list["items"][0]), Some(expected.clone()), "list");
    let (_, _, meta) = raw_with_accept(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        None,
        Some("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"),
        None,
    )
    .await;
    assert_eq!(meta["kind"], "PartialObjectMetadataList");
    assert_eq!(
        of(&meta["items"][0]),
        Some(expected.clone()),
        "metadata list"
    );
    let (_, _, table) = raw_with_accept(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps?includeObject=Object",
        None,
        Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
        None,
    )
    .await;
    assert_eq!(table["kind"], "Table");
    assert_eq!(
        of(&table["rows"][0]["object"]),
        Some(expected.clone()),
        "table row"
    );

    let mut events = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let first = events.try_next().await.unwrap();
    let Some(WatchEvent::Added(watched)) = first else {
        panic!("expected ADDED, got {first:?}");
    };
    assert_eq!(
        of(&serde_json::to_value(&watched).unwrap()),
        Some(expected.clone()),
        "watch"
    );

    // A second manager's update: both entries, the first unchanged.
    let mut changed = api.get("a").await.unwrap();
    changed
        .data
        .as_mut()
        .unwrap()
        .insert("k2".into(), "v2".into());
    let updated = api
        .replace(
            "a",
            &kube::api::PostParams {
                field_manager: Some("bob".into()),
                ..Default::default()
            },
            &changed,
        )
        .await
        .unwrap();
    let managers: Vec<_> = updated
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|e| e.manager.unwrap_or_default())
        .collect();
    assert_eq!(managers, ["alice", "bob"]);
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        of(&serde_json::to_value(&listed.items[0]).unwrap()).unwrap()[0],
        expected[0],
        "the first manager's entry after another manager's write"
    );
}

/// The managers of an object's managedFields, as the server wrote them.
fn managers(obj: &serde_json::Value) -> Vec<serde_json::Value> {
    assert!(obj["metadata"].get("managedFields\u{0}").is_none(), "{obj}");
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| a.iter().map(|e| e["manager"].clone()).collect())
        .unwrap_or_default()
}

/// POSTs `body` to `collection` and GETs it back: the reply and the read object.
async fn create_and_get(
    client: &kube::Client,
    collection: &str,
    query: &str,
    body: serde_json::Value,
) -> [serde_json::Value; 2] {
    let name = body["metadata"]["name"].as_str().unwrap().to_string();
    let (code, _, created) = raw(
        client,
        "POST",
        &format!("{collection}{query}"),
        Some("application/json"),
        Some(body),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let (_, _, got) = raw(client, "GET", &format!("{collection}/{name}"), None, None).await;
    [created, got]
}

/// Only the store writes the compact form of managedFields: sent in a body, it is dropped, and the
/// object reads with the managedFields the server recorded.
#[tokio::test]
async fn a_client_cannot_write_the_stored_form_of_managed_fields() {
    let (_sb, client) = start().await;
    let forged = "[{\"manager\":\"forged\",\"operation\":\"Update\",\"fieldsV1\":{\"f:data\":{}}}]";
    let configmaps = "/api/v1/namespaces/default/configmaps";
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "managedFields\u{0}": forged}, "data": {"k": "v"}});
    for v in create_and_get(&client, configmaps, "?fieldManager=carol", body).await {
        assert_eq!(managers(&v), [json!("carol")]);
    }
    let patch = json!({"metadata": {"managedFields\u{0}": forged}, "data": {"k": "w"}});
    let (code, _, patched) = raw(
        &client,
        "PATCH",
        &format!("{configmaps}/a?fieldManager=carol"),
        Some("application/merge-patch+json"),
        Some(patch),
    )
    .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["data"]["k"], "w");
    assert_eq!(managers(&patched), [json!("carol")]);
    // An object with no field to manage has no managedFields at all, not the forged ones.
    let bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bare", "managedFields\u{0}": forged}});
    for v in create_and_get(&client, configmaps, "", bare).await {
        assert!(!managers(&v).contains(&json!("forged")), "{v}");
    }
    // A custom resource's metadata as well.
    install_widget_crd(&client).await;
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "managedFields\u{0}": forged}, "spec": {"size": 1}});
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    for v in create_and_get(&client, widgets, "?fieldManager=carol", widget).await {
        assert_eq!(managers(&v), [json!("carol")], "{v}");
    }
}
