//! Shared helpers of the sandbox's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use kube::Client;
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// A sandbox and a client of it (built from the URL).
pub async fn start() -> (Sandbox, Client) {
    start_with(SandboxConfig::default()).await
}

/// A sandbox with a custom configuration and a client of it.
pub async fn start_with(config: SandboxConfig) -> (Sandbox, Client) {
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = client_for(&sandbox);
    (sandbox, client)
}

/// A client from `Config::new(url)`.
pub fn client_for(sandbox: &Sandbox) -> Client {
    let config = kube::Config::new(sandbox.url().parse().unwrap());
    Client::try_from(config).unwrap()
}

/// A client that does not retry 429/503/504 itself (to see the raw answer).
pub fn client_without_retry(sandbox: &Sandbox) -> Client {
    let mut config = kube::Config::new(sandbox.url().parse().unwrap());
    config.default_retry = false;
    Client::try_from(config).unwrap()
}

/// Polls `f` until it returns true or 10s pass.
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if f().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A raw request through the client, returning status, headers and JSON body.
pub async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<Value>,
) -> (u16, axum::http::HeaderMap, Value) {
    raw_with_accept(client, method, path, content_type, None, body).await
}

/// Like [`raw`] with an Accept header.
pub async fn raw_with_accept(
    client: &Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: Option<Value>,
) -> (u16, axum::http::HeaderMap, Value) {
    let mut b = axum::http::Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    if let Some(a) = accept {
        b = b.header("accept", a);
    }
    let bytes = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    let resp = client
        .send(b.body(kube::client::Body::from(bytes)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = http_body_util_collect(resp.into_body()).await;
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, headers, v)
}

async fn http_body_util_collect(body: kube::client::Body) -> Vec<u8> {
    body.collect_bytes().await.unwrap().to_vec()
}

/// A CRD `widgets.example.com` (namespaced, v1 storage + v1beta1 served, status subresource,
/// printer columns, a schema with required/enum/minimum, and a CEL rule).
pub fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {
                    "name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                    ],
                    "schema": {"openAPIV3Schema": widget_schema()}
                },
                {
                    "name": "v1beta1", "served": true, "storage": false,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": widget_schema()}
                }
            ]
        }
    })
}

/// The schema of a Widget.
pub fn widget_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                    "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                    "tags": {"type": "array", "items": {"type": "string"}}
                },
                "x-kubernetes-validations": [{"rule": "self.size != 7", "message": "size must not be 7"}]
            },
            "status": {
                "type": "object",
                "properties": {
                    "phase": {"type": "string"},
                    "conditions": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
                }
            }
        }
    })
}

/// Creates the Widget CRD and waits until its kind is served.
pub async fn install_widget_crd(client: &Client) {
    let (code, _, body) = raw(
        client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some("application/json"),
        Some(widget_crd()),
    )
    .await;
    assert_eq!(code, 201, "{body}");
}

/// A Widget object.
pub fn widget(name: &str, size: i64) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name, "namespace": "default"}, "spec": {"size": size}})
}
