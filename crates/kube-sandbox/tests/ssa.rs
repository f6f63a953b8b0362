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
