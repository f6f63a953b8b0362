//! Request bodies as kube-apiserver takes them: bodies over 3 MiB are refused with 413, deeply
//! nested ones are refused quickly without holding up other requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Sends `body` raw with `content_type`, returning the status and the JSON answer.
async fn post(
    client: &kube::Client,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect_bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn a_body_over_three_mebibytes_is_refused_with_413_and_not_stored() {
    let (sandbox, client) = start().await;
    let big = "x".repeat(4 * 1024 * 1024);
    let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": big}});
    let (code, status) = post(
        &client,
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        serde_json::to_vec(&cm).unwrap(),
    )
    .await;
    assert_eq!(code, 413, "{status}");
    assert_eq!(status["reason"], "RequestEntityTooLarge");
    assert_eq!(
        status["message"],
        "Request entity too large: limit is 3145728"
    );
    let (code, _, _) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps/big",
        None,
        None,
    )
    .await;
    assert_eq!(code, 404);
    // Just under the limit is stored.
    let fits = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fits"}, "data": {"k": "y".repeat(900 * 1024)}});
    let (code, _) = post(
        &client,
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        serde_json::to_vec(&fits).unwrap(),
    )
    .await;
    assert_eq!(code, 201);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_deeply_nested_body_is_refused_quickly_while_other_requests_are_served() {
    let (sandbox, client) = start().await;
    for content_type in ["application/json", "application/yaml"] {
        let deep = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"deep\"}},\"data\":{}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let started = Instant::now();
        let slow = post(
            &client,
            "/api/v1/namespaces/default/configmaps",
            content_type,
            deep.into_bytes(),
        );
        let other = async {
            // Served while the nested body is being refused.
            let t = Instant::now();
            let (code, _, _) = raw(&client, "GET", "/api/v1/namespaces", None, None).await;
            (code, t.elapsed())
        };
        let ((code, status), (other_code, other_took)) = tokio::join!(slow, other);
        assert_eq!(code, 400, "{content_type}: {status}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{content_type}: refused after {:?}",
            started.elapsed()
        );
        assert_eq!(other_code, 200);
        assert!(other_took < Duration::from_secs(1), "{other_took:?}");
    }
    sandbox.shutdown().await;
}
