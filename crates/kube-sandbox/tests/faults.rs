//! Fault injection, request statistics and the request log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube_sandbox::Fault;
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn injected_500_fails_matching_requests_the_given_number_of_times() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    sb.faults().inject(
        Fault::new()
            .verb("create")
            .resource("configmaps")
            .status(500)
            .times(2),
    );
    for _ in 0..2 {
        let s = api_error(
            api.create(&PostParams::default(), &cm("a"))
                .await
                .unwrap_err(),
        );
        assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    }
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    // Other verbs were never affected.
    api.get("a").await.unwrap();
}

#[tokio::test]
async fn fault_matches_only_the_given_namespace_and_name() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    api.create(&PostParams::default(), &cm("b")).await.unwrap();
    sb.faults()
        .inject(Fault::new().namespace("default").name("b").status(409));
    api.get("a").await.unwrap();
    let s = api_error(api.get("b").await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    sb.faults().clear();
    api.get("b").await.unwrap();
}

#[tokio::test]
async fn too_many_requests_with_retry_after_is_honoured_by_kube_client() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    sb.faults().inject(
        Fault::new()
            .verb("list")
            .status(429)
            .retry_after(1)
            .times(1),
    );
    let started = Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "kube-client waited {:?}",
        started.elapsed()
    );
    let log = sb.request_log();
    let lists: Vec<u16> = log
        .iter()
        .filter(|r| r.verb == "list")
        .map(|r| r.status)
        .collect();
    assert_eq!(lists, [429, 200]);
}

#[tokio::test]
async fn too_many_requests_carries_the_retry_after_header_and_status_details() {
    let (sb, _) = start().await;
    let client = client_without_retry(&sb);
    sb.faults()
        .inject(Fault::new().verb("get").status(429).retry_after(7));
    let (code, headers, body) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps/x",
        None,
        None,
    )
    .await;
    assert_eq!(code, 429);
    assert_eq!(headers.get("retry-after").unwrap(), "7");
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["details"]["retryAfterSeconds"], 7);
}

#[tokio::test]
async fn fault_for_a_duration_expires() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    sb.faults().inject(
        Fault::new()
            .verb("get")
            .status(500)
            .for_duration(Duration::from_millis(300)),
    );
    assert_eq!(api_error(api.get("x").await.unwrap_err()).code, 500);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(api_error(api.get("x").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn delay_fault_slows_requests_without_failing_them() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    sb.faults().inject(
        Fault::new()
            .resource("configmaps")
            .delay(Duration::from_millis(300))
            .times(1),
    );
    let started = Instant::now();
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn stats_count_requests_by_verb_and_resource() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    sb.reset_stats();
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    api.get("a").await.unwrap();
    api.list(&ListParams::default()).await.unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "y"}})),
    )
    .await
    .unwrap();
    api.patch(
        "a",
        &PatchParams::apply("m"),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})),
    )
    .await
    .unwrap();
    api.delete("a", &Default::default()).await.unwrap();
    let stats = sb.stats();
    for v in ["create", "get", "list", "patch", "apply", "delete"] {
        assert_eq!(stats.verb(v), 1, "{v}: {stats:?}");
    }
    assert_eq!(stats.writes(), 4);
    assert_eq!(stats.resource("configmaps"), 6);
    assert_eq!(stats.total, 6);
    let log = sb.request_log();
    let apply = log.iter().find(|r| r.verb == "apply").unwrap();
    assert_eq!(apply.field_manager, "m");
    assert_eq!(apply.name, "a");
    assert_eq!(apply.namespace, "default");
    assert_eq!(apply.method, "PATCH");
    assert_eq!(apply.status, 200);
    sb.reset_stats();
    assert_eq!(sb.stats().total, 0);
}

#[tokio::test]
async fn faulted_requests_are_still_logged() {
    let (sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    sb.faults()
        .inject(Fault::new().verb("get").status(500).times(1));
    let _ = api.get("x").await;
    let log = sb.request_log();
    assert!(log.iter().any(|r| r.verb == "get" && r.status == 500));
}

#[tokio::test]
async fn shutdown_closes_watches_and_stops_listening() {
    let (sb, client) = start().await;
    let url = sb.url();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let stream = api.watch(&Default::default(), "0").await.unwrap();
    let collector = tokio::spawn(async move {
        use futures::StreamExt;
        stream.collect::<Vec<_>>().await
    });
    tokio::time::timeout(Duration::from_secs(10), sb.shutdown())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), collector)
        .await
        .unwrap()
        .unwrap();
    let addr = url.trim_start_matches("http://").to_string();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
