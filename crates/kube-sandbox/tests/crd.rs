//! CustomResourceDefinitions: serving, discovery, validation, the status subresource,
//! generation, printer columns, versions and deletion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

fn widgets(client: &kube::Client, version: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("example.com", version, "Widget");
    Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    )
}

fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn creating_a_crd_serves_its_kind_and_reports_it_established() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let (_, _, crd) = raw(
        &client,
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
        None,
        None,
    )
    .await;
    let conds = crd["status"]["conditions"].as_array().unwrap();
    for t in ["Established", "NamesAccepted"] {
        assert!(
            conds
                .iter()
                .any(|c| c["type"] == t && c["status"] == "True"),
            "{t} in {crd}"
        );
    }
    assert_eq!(crd["status"]["acceptedNames"]["kind"], "Widget");
    let api = widgets(&client, "v1");
    let created = api
        .create(&PostParams::default(), &obj(widget("w1", 3)))
        .await
        .unwrap();
    assert_eq!(created.data["spec"]["size"], 3);
    assert_eq!(created.metadata.generation, Some(1));
}

#[tokio::test]
async fn discovery_lists_crd_kinds_with_short_names_categories_and_status_subresource() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let (code, _, list) = raw(&client, "GET", "/apis/example.com/v1", None, None).await;
    assert_eq!(code, 200);
    let resources = list["resources"].as_array().unwrap();
    let w = resources.iter().find(|r| r["name"] == "widgets").unwrap();
    assert_eq!(w["kind"], "Widget");
    assert_eq!(w["namespaced"], true);
    assert_eq!(w["shortNames"], json!(["wd"]));
    assert_eq!(w["categories"], json!(["all"]));
    assert_eq!(w["singularName"], "widget");
    assert!(resources.iter().any(|r| r["name"] == "widgets/status"));
    // kube's discovery (aggregated v2) finds it too.
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .unwrap();
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(
        discovery
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .is_some()
    );
}

#[tokio::test]
async fn crd_rejects_invalid_object_with_422_naming_the_field() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let api = widgets(&client, "v1");
    let s = api_error(
        api.create(&PostParams::default(), &obj(widget("w1", 11)))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    assert_eq!(s.reason, "Invalid");
    assert!(
        s.message
            .starts_with("Widget.example.com \"w1\" is invalid: spec.size: Invalid value: 11"),
        "{}",
        s.message
    );
    let causes = s.details.unwrap().causes;
    assert_eq!(causes[0].field, "spec.size");
}

#[tokio::test]
async fn crd_cel_rule_rejects_with_its_message() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let api = widgets(&client, "v1");
    let s = api_error(
        api.create(&PostParams::default(), &obj(widget("w1", 7)))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    assert!(s.message.contains("size must not be 7"), "{}", s.message);
}

#[tokio::test]
async fn crd_defaults_are_applied_and_unknown_fields_pruned() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let api = widgets(&client, "v1");
    let mut w = widget("w1", 2);
    w["spec"]["unknown"] = json!("x");
    let created = api.create(&PostParams::default(), &obj(w)).await.unwrap();
    assert_eq!(created.data["spec"]["color"], "red");
    assert!(created.data["spec"].get("unknown").is_none());
}

#[tokio::test]
async fn unknown_custom_resource_field_is_a_400_under_strict_field_validation() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let mut w = widget("w1", 2);
    w["spec"]["unknown"] = json!("x");
    let (code, _, body) = raw(
        &client,
        "POST",
        "/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict",
        Some("application/json"),
        Some(w),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.unknown\""),
        "{body}"
    );
}

#[tokio::test]
async fn status_subresource_writes_only_status_and_main_resource_ignores_status() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let api = widgets(&client, "v1");
    let mut w = widget("w1", 2);
    w["status"] = json!({"phase": "Ignored"});
    let created = api.create(&PostParams::default(), &obj(w)).await.unwrap();
    assert!(created.data.get("status").is_none(), "create drops status");
    let st = api
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}, "spec": {"size": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["phase"], "Ready");
    assert_eq!(st.data["spec"]["size"], 2, "status endpoint ignores spec");
    let main = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Other"}, "spec": {"size": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(
        main.data["status"]["phase"], "Ready",
        "main resource ignores status"
    );
    assert_eq!(main.data["spec"]["size"], 3);
}

#[tokio::test]
async fn generation_bumps_only_on_spec_changes() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let api = widgets(&client, "v1");
    api.create(&PostParams::default(), &obj(widget("w1", 2)))
        .await
        .unwrap();
    let a = api
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}})),
        )
        .await
        .unwrap();
    assert_eq!(a.metadata.generation, Some(1));
    let b = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(b.metadata.generation, Some(1));
    let c = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(c.metadata.generation, Some(2));
}

#[tokio::test]
async fn served_versions_share_objects_with_their_api_version_rewritten() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    widgets(&client, "v1")
        .create(&PostParams::default(), &obj(widget("w1", 2)))
        .await
        .unwrap();
    let beta = widgets(&client, "v1beta1");
    let got = beta.get("w1").await.unwrap();
    assert_eq!(got.types.unwrap().api_version, "example.com/v1beta1");
    let list = beta.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
}

#[tokio::test]
async fn strategic_merge_patch_on_a_custom_resource_is_415() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let api = widgets(&client, "v1");
    api.create(&PostParams::default(), &obj(widget("w1", 2)))
        .await
        .unwrap();
    let s = api_error(
        api.patch(
            "w1",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 3}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 415);
    assert_eq!(s.reason, "UnsupportedMediaType");
}

#[tokio::test]
async fn printer_columns_are_served_as_a_table() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let api = widgets(&client, "v1");
    api.create(&PostParams::default(), &obj(widget("w1", 2)))
        .await
        .unwrap();
    api.patch_status("w1", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})))
        .await
        .unwrap();
    let (code, _, table) = raw_with_accept(
        &client,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets",
        None,
        Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(table["kind"], "Table");
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Size", "Phase", "Ready", "Age"]);
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[0], "w1");
    assert_eq!(cells[1], 2);
    assert_eq!(cells[2], "Running");
    assert_eq!(cells[3], "True");
    assert!(cells[4].as_str().unwrap().ends_with('s'));
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn deleting_a_crd_deletes_its_objects_and_removes_it_from_discovery() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let api = widgets(&client, "v1");
    api.create(&PostParams::default(), &obj(widget("w1", 2)))
        .await
        .unwrap();
    let (code, _, _) = raw(
        &client,
        "DELETE",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    eventually("the CRD is gone", || {
        let client = client.clone();
        async move {
            raw(
                &client,
                "GET",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
                None,
                None,
            )
            .await
            .0 == 404
        }
    })
    .await;
    let (code, _, _) = raw(&client, "GET", "/apis/example.com/v1", None, None).await;
    assert_eq!(code, 404);
    let (code, _, _) = raw(
        &client,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets",
        None,
        None,
    )
    .await;
    assert_eq!(code, 404);
    // Recreated, it starts empty.
    install_widget_crd(&client).await;
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn crd_whose_name_is_not_plural_dot_group_is_rejected() {
    let (_sb, client) = start().await;
    let mut crd = widget_crd();
    crd["metadata"]["name"] = json!("wrong.example.com");
    let (code, _, body) = raw(
        &client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some("application/json"),
        Some(crd),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");
}

#[tokio::test]
async fn cluster_scoped_crd_is_served_without_namespace() {
    let (_sb, client) = start().await;
    let mut crd = widget_crd();
    crd["spec"]["scope"] = json!("Cluster");
    let (code, _, _) = raw(
        &client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some("application/json"),
        Some(crd),
    )
    .await;
    assert_eq!(code, 201);
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    );
    let mut w = widget("c1", 2);
    w["metadata"].as_object_mut().unwrap().remove("namespace");
    let created = api.create(&PostParams::default(), &obj(w)).await.unwrap();
    assert!(created.metadata.namespace.is_none());
}

#[tokio::test]
async fn without_a_status_subresource_status_is_written_through_the_main_resource_and_bumps_generation()
 {
    let (_sb, client) = start().await;
    let mut crd = widget_crd();
    for v in crd["spec"]["versions"].as_array_mut().unwrap() {
        v.as_object_mut().unwrap().remove("subresources");
    }
    let (code, _, _) = raw(
        &client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some("application/json"),
        Some(crd),
    )
    .await;
    assert_eq!(code, 201);
    let api = widgets(&client, "v1");
    let mut w = widget("w1", 2);
    w["status"] = json!({"phase": "Kept"});
    let created = api.create(&PostParams::default(), &obj(w)).await.unwrap();
    assert_eq!(created.data["status"]["phase"], "Kept");
    let (code, _, _) = raw(
        &client,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets/w1/status",
        None,
        None,
    )
    .await;
    assert_eq!(code, 404);
    let p = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Changed"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data["status"]["phase"], "Changed");
    assert_eq!(p.metadata.generation, Some(2));
}

#[tokio::test]
async fn table_watch_events_carry_one_row_tables_for_kubectl_get_watch() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    widgets(&client, "v1")
        .create(&PostParams::default(), &obj(widget("w1", 2)))
        .await
        .unwrap();
    let req = axum::http::Request::builder()
        .uri("/apis/example.com/v1/namespaces/default/widgets?watch=true&timeoutSeconds=1")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(kube::client::Body::from(Vec::new()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let body = resp.into_body().collect_bytes().await.unwrap();
    let first: Value = serde_json::from_slice(body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["kind"], "Table");
    assert_eq!(first["object"]["rows"][0]["cells"][0], "w1");
}
