//! The sandbox held to the real server: the same requests go to a fresh sandbox and to the
//! cluster of `CONPLUS_TEST_CLUSTER` (the real control plane, or an external cluster), and the
//! answers are compared field by field — status codes, reasons, messages and the fields a client
//! reads — ignoring uids, timestamps and resourceVersions. On the sandbox alone there is nothing
//! to compare with, and the test says so.
//!
//! The cases are the differences kube-apiserver's users ran into: request body limits and
//! nesting, protobuf DeleteOptions, Events through both APIs, field selectors on a CRD's
//! `selectableFields` and on Events, the CRD's schema in `/openapi/v3`, and Pod Security
//! admission.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use kube::Client;
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use support::*;

/// One request's answer: status code and JSON body (`Null` when not JSON).
async fn send(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    try_send(client, method, path, content_type, "application/json", body)
        .await
        .unwrap()
}

/// Like [`send`]; an error when the server closed the connection before the answer was read.
async fn try_send(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    accept: &str,
    body: Vec<u8>,
) -> Result<(u16, Value), kube::Error> {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .header("accept", accept)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = client.send(req).await?;
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect_bytes().await?;
    Ok((code, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

async fn send_json(client: &Client, method: &str, path: &str, body: &Value) -> (u16, Value) {
    send(
        client,
        method,
        path,
        "application/json",
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

/// What a `metav1.Status` error says: code, reason, message.
fn status_of(code: u16, body: &Value) -> Value {
    json!({"code": code, "reason": body["reason"], "message": body["message"]})
}

/// `metav1.DeleteOptions{propagationPolicy: Background}` in the protobuf envelope client-go sends.
fn protobuf_delete_options() -> Vec<u8> {
    fn ld(field: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![(field << 3) | 2, u8::try_from(data.len()).unwrap()];
        v.extend_from_slice(data);
        v
    }
    let type_meta = [ld(1, b"v1"), ld(2, b"DeleteOptions")].concat();
    let options = ld(4, b"Background");
    [b"k8s\0".as_slice(), &ld(1, &type_meta), &ld(2, &options)].concat()
}

fn widget_crd(group: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("gadgets.{group}")},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "selectableFields": [{"jsonPath": ".spec.color"}],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object", "description": "What the gadget should be.",
                        "required": ["size"],
                        "properties": {
                            "size": {"type": "integer", "description": "How many parts."},
                            "color": {"type": "string"}
                        }
                    }}
                }}
            }]
        }
    })
}

/// Sends every case to `client` (namespace `ns` and CRD group `group` are this run's own) and
/// returns what each observed, by name.
async fn observe(client: &Client, ns: &str, group: &str) -> Vec<(&'static str, Value)> {
    let mut seen = Vec::new();
    let (code, body) = send_json(
        client,
        "POST",
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }}}),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let cms = format!("/api/v1/namespaces/{ns}/configmaps");

    // Bodies over 3 MiB.
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"k": "x".repeat(4 * 1024 * 1024)}});
    // Both servers answer before reading such a body to the end and close the connection: the
    // client may see the answer, or a broken pipe while still sending. Tried until answered.
    let big = serde_json::to_vec(&big).unwrap();
    let mut answer = None;
    for _ in 0..20 {
        if let Ok(a) = try_send(
            client,
            "POST",
            &cms,
            "application/json",
            "application/json",
            big.clone(),
        )
        .await
        {
            answer = Some(a);
            break;
        }
    }
    let (code, body) = answer.expect("an answer to a body over 3 MiB");
    seen.push(("body over 3 MiB", status_of(code, &body)));

    // Deeply nested JSON.
    let deep = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"deep\"}},\"data\":{{\"k\":{}{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (code, _) = send(client, "POST", &cms, "application/json", deep.into_bytes()).await;
    seen.push(("deeply nested body", json!(code)));

    // DeleteOptions as protobuf.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "doomed"}});
    let (code, body) = send_json(client, "POST", &cms, &cm).await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = send(
        client,
        "DELETE",
        &format!("{cms}/doomed"),
        "application/vnd.kubernetes.protobuf",
        protobuf_delete_options(),
    )
    .await;
    seen.push((
        "protobuf DeleteOptions",
        json!({"code": code, "kind": body["kind"], "status": body["status"]}),
    ));

    // A server-side apply by another manager on an object last written by client-side apply
    // keeps what it does not restate.
    let csa = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "shared", "labels": {"team": "a"}, "annotations": {"note": "kept"}},
        "data": {"one": "1", "two": "2"}});
    let (code, body) = send_json(
        client,
        "POST",
        &format!("{cms}?fieldManager=kubectl-client-side-apply"),
        &csa,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = send(
        client,
        "PATCH",
        &format!("{cms}/shared?fieldManager=other&force=true"),
        "application/apply-patch+yaml",
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "shared"}, "data": {"two": "zwei", "three": "3"}}))
        .unwrap(),
    )
    .await;
    seen.push((
        "server-side apply after client-side apply",
        json!({"code": code, "labels": body["metadata"]["labels"],
            "annotations": body["metadata"]["annotations"], "data": body["data"],
            "managers": body["metadata"]["managedFields"].as_array().into_iter().flatten()
                .map(|m| json!([m["manager"], m["operation"], m["fieldsV1"]])).collect::<Vec<_>>()}),
    ));

    // Events through both APIs.
    let regarding =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "subject", "namespace": ns});
    let (code, body) = send_json(
        client,
        "POST",
        &format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"),
        &json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "subject.new"}, "regarding": regarding, "reason": "Reconciled",
            "note": "new style", "type": "Normal", "action": "Reconcile",
            "reportingController": "example.com/ctl", "reportingInstance": "ctl-1",
            "eventTime": "2026-01-01T00:00:00.000000Z"}),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = send_json(
        client,
        "POST",
        &format!("/api/v1/namespaces/{ns}/events"),
        &json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "subject.old"},
            "involvedObject": regarding, "reason": "Degraded", "message": "old style",
            "type": "Warning", "source": {"component": "legacy"},
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1}),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let names_and = |body: &Value, field: &str| -> Value {
        json!(
            body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| json!([e["metadata"]["name"], e[field]]))
                .collect::<Vec<_>>()
        )
    };
    let (_, body) = send(
        client,
        "GET",
        &format!("/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3Dsubject"),
        "application/json",
        Vec::new(),
    )
    .await;
    seen.push(("core events", names_and(&body, "message")));
    let (_, body) = send(
        client,
        "GET",
        &format!("/apis/events.k8s.io/v1/namespaces/{ns}/events?fieldSelector=regarding.name%3Dsubject,type%3DWarning"),
        "application/json",
        Vec::new(),
    )
    .await;
    seen.push(("events.k8s.io events", names_and(&body, "note")));
    // The Table `kubectl get events` prints: columns and cells, the times left out.
    let (_, table) = try_send(
        client,
        "GET",
        &format!("/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3Dsubject"),
        "application/json",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        Vec::new(),
    )
    .await
    .unwrap();
    let columns: Vec<Value> = table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!([c["name"], c["priority"]]))
        .collect();
    let rows: Vec<Value> = table["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            json!([
                r["cells"][1],
                r["cells"][2],
                r["cells"][3],
                r["cells"][5],
                r["cells"][6],
                r["cells"][8],
                r["cells"][9]
            ])
        })
        .collect();
    seen.push(("events table", json!({"columns": columns, "rows": rows})));

    // A CRD's selectableFields.
    let (code, body) = send_json(
        client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &widget_crd(group),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let gadgets = format!("/apis/{group}/v1/namespaces/{ns}/gadgets");
    let mut served = false;
    for _ in 0..100 {
        let (code, _) = send(client, "GET", &gadgets, "application/json", Vec::new()).await;
        if code == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served, "the CRD's kind is served");
    for (name, color) in [("red-one", "red"), ("blue-one", "blue")] {
        let (code, body) = send_json(
            client,
            "POST",
            &gadgets,
            &json!({"apiVersion": format!("{group}/v1"), "kind": "Gadget",
                "metadata": {"name": name}, "spec": {"size": 1, "color": color}}),
        )
        .await;
        assert_eq!(code, 201, "{body}");
    }
    let (code, body) = send(
        client,
        "GET",
        &format!("{gadgets}?fieldSelector=spec.color%3Dblue"),
        "application/json",
        Vec::new(),
    )
    .await;
    seen.push((
        "selectable field",
        json!({"code": code, "items": names_and(&body, "kind")}),
    ));
    let (code, _) = send(
        client,
        "GET",
        &format!("{gadgets}?fieldSelector=spec.size%3D1"),
        "application/json",
        Vec::new(),
    )
    .await;
    seen.push(("field that is not selectable", json!(code)));

    // The CRD's schema in /openapi/v3.
    let (_, root) = send(client, "GET", "/openapi/v3", "application/json", Vec::new()).await;
    let url = root["paths"][format!("apis/{group}/v1")]["serverRelativeURL"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (_, doc) = send(client, "GET", &url, "application/json", Vec::new()).await;
    let schema = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(_, s)| s["x-kubernetes-group-version-kind"][0]["kind"] == "Gadget")
        .map(|(_, s)| s.clone())
        .unwrap_or(Value::Null);
    seen.push((
        "openapi v3 schema",
        json!({
            "spec": schema["properties"]["spec"]["description"],
            "size": schema["properties"]["spec"]["properties"]["size"],
            "required": schema["properties"]["spec"]["required"],
        }),
    ));

    // Pod Security admission.
    let pod = |name: &str, sc: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1", "securityContext": sc}]}})
    };
    let pods = format!("/api/v1/namespaces/{ns}/pods");
    let (code, body) = send_json(
        client,
        "POST",
        &pods,
        &pod("bad", json!({"privileged": true})),
    )
    .await;
    seen.push((
        "privileged pod in a restricted namespace",
        status_of(code, &body),
    ));
    let (code, body) = send_json(
        client,
        "POST",
        &pods,
        &pod(
            "good",
            json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}),
        ),
    )
    .await;
    seen.push((
        "restricted pod in a restricted namespace",
        json!({"code": code, "kind": body["kind"]}),
    ));

    // Clean up what this run created.
    send(
        client,
        "DELETE",
        &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{group}"),
        "application/json",
        Vec::new(),
    )
    .await;
    send(
        client,
        "DELETE",
        &format!("/api/v1/namespaces/{ns}"),
        "application/json",
        Vec::new(),
    )
    .await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_answers_as_the_real_server_does() {
    if Backend::current() == Backend::Sandbox {
        println!(
            "skipped on the sandbox: nothing to compare with; run with CONPLUS_TEST_CLUSTER=control-plane"
        );
        return;
    }
    let real = Cluster::connect().await;
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let sandbox_client =
        Client::try_from(kube::Config::new(sandbox.url().parse().unwrap())).unwrap();
    let tag = format!("fidelity-{}", std::process::id());
    let group = format!("{tag}.example.com");
    let real_seen = observe(&real.client(), &tag, &group).await;
    let sandbox_seen = observe(&sandbox_client, &tag, &group).await;
    for (case, answer) in &real_seen {
        println!("{case}: {answer}");
    }
    let diverging: Vec<String> = real_seen
        .iter()
        .zip(&sandbox_seen)
        .filter(|(r, s)| r != s)
        .map(|((case, r), (_, s))| format!("{case}:\n  real:    {r}\n  sandbox: {s}"))
        .collect();
    sandbox.shutdown().await;
    assert!(
        diverging.is_empty(),
        "the sandbox answers differently:\n{}",
        diverging.join("\n")
    );
}
