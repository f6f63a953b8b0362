//! Discovery and OpenAPI documents as clients (kube, kubectl) read them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

const AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

#[tokio::test]
async fn version_endpoint_reports_the_server_version() {
    let (_sb, client) = start().await;
    let v = client.apiserver_version().await.unwrap();
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "35"));
}

#[tokio::test]
async fn legacy_discovery_lists_groups_and_core_resources_with_subresources() {
    let (_sb, client) = start().await;
    let (_, _, api) = raw(&client, "GET", "/api", None, None).await;
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, _, groups) = raw(&client, "GET", "/apis", None, None).await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for g in [
        "apps",
        "batch",
        "coordination.k8s.io",
        "events.k8s.io",
        "networking.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
    ] {
        assert!(names.contains(&g), "{g} missing from {names:?}");
    }
    let (_, _, core) = raw(&client, "GET", "/api/v1", None, None).await;
    let res = core["resources"].as_array().unwrap();
    let pods = res.iter().find(|r| r["name"] == "pods").unwrap();
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    assert!(res.iter().any(|r| r["name"] == "pods/status"));
    assert!(
        res.iter()
            .any(|r| r["name"] == "namespaces" && r["namespaced"] == false)
    );
    let (code, _, group) = raw(&client, "GET", "/apis/apps", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(group["preferredVersion"]["groupVersion"], "apps/v1");
}

#[tokio::test]
async fn aggregated_discovery_is_served_with_its_content_type() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let (code, headers, body) =
        raw_with_accept(&client, "GET", "/apis", None, Some(AGGREGATED), None).await;
    assert_eq!(code, 200);
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(body["kind"], "APIGroupDiscoveryList");
    let example = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "example.com")
        .unwrap();
    let versions: Vec<&str> = example["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v1", "v1beta1"], "storage version preferred");
    let w = &example["versions"][0]["resources"][0];
    assert_eq!(w["resource"], "widgets");
    assert_eq!(w["scope"], "Namespaced");
    assert_eq!(w["subresources"][0]["subresource"], "status");
    let (_, _, core) = raw_with_accept(&client, "GET", "/api", None, Some(AGGREGATED), None).await;
    assert_eq!(core["items"][0]["metadata"]["name"], "");
}

#[tokio::test]
async fn openapi_v3_lists_group_versions_with_the_field_validation_parameter() {
    let (_sb, client) = start().await;
    let (_, _, root) = raw(&client, "GET", "/openapi/v3", None, None).await;
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, doc) = raw(&client, "GET", &url, None, None).await;
    assert_eq!(code, 200);
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
}

#[tokio::test]
async fn service_gets_a_cluster_ip_and_defaults() {
    let (_sb, client) = start().await;
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let (code, _, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/services",
        Some("application/json"),
        Some(svc),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert!(
        body["spec"]["clusterIP"]
            .as_str()
            .unwrap()
            .starts_with("10.96.")
    );
    assert_eq!(body["spec"]["type"], "ClusterIP");
    assert_eq!(body["spec"]["ports"][0]["targetPort"], 80);
    assert_eq!(body["spec"]["ports"][0]["protocol"], "TCP");
}

#[tokio::test]
async fn protobuf_request_bodies_are_refused_with_415() {
    let (_sb, client) = start().await;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/vnd.kubernetes.protobuf")
        .body(kube::client::Body::from(b"k8s\0\x0a".to_vec()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 415);
}

#[tokio::test]
async fn docs_sandbox_md_lists_exactly_the_kinds_discovery_serves() {
    let (_sb, client) = start().await;
    let mut lines = Vec::new();
    let (_, _, core) = raw(&client, "GET", "/api/v1", None, None).await;
    let mut group_versions = vec![("v1".to_string(), core)];
    let (_, _, groups) = raw(&client, "GET", "/apis", None, None).await;
    let mut names: Vec<String> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g["preferredVersion"]["groupVersion"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    for gv in names {
        let (_, _, list) = raw(&client, "GET", &format!("/apis/{gv}"), None, None).await;
        group_versions.push((gv, list));
    }
    for (gv, list) in group_versions {
        let mut kinds: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["name"].as_str().unwrap().contains('/'))
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        kinds.sort();
        lines.push(format!("- `{gv}`: {}", kinds.join(", ")));
    }
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sandbox.md"),
    )
    .unwrap();
    let listed = doc
        .split("<!-- kinds:begin -->\n")
        .nth(1)
        .and_then(|rest| rest.split("<!-- kinds:end -->").next())
        .unwrap();
    assert_eq!(
        listed.trim_end(),
        lines.join("\n"),
        "update the kinds in docs/sandbox.md"
    );
}
