//! Create, get, update, patch semantics through `kube::Client`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "1"}})).unwrap()
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn created_object_gets_uid_creation_timestamp_and_resource_version() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let m = &created.metadata;
    assert_eq!(m.uid.as_ref().unwrap().len(), 36);
    assert!(m.creation_timestamp.is_some());
    assert!(m.resource_version.as_ref().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(m.namespace.as_deref(), Some("default"));
    let got = api.get("a").await.unwrap();
    assert_eq!(got.metadata.uid, m.uid);
    assert_eq!(got.data.unwrap()["a"], "1");
}

#[tokio::test]
async fn client_from_the_written_kubeconfig_reaches_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    let config = kube_sandbox::SandboxConfig {
        kubeconfig: Some(path.clone()),
        ..Default::default()
    };
    let sb = kube_sandbox::Sandbox::start(config).await.unwrap();
    assert_eq!(sb.kubeconfig_path(), Some(path.as_path()));
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).unwrap();
    let ns: Api<Namespace> = Api::all(client);
    ns.get("kube-system").await.unwrap();
}

#[tokio::test]
async fn generate_name_appends_a_five_character_suffix() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut c = cm("");
    c.metadata.name = None;
    c.metadata.generate_name = Some("gen-".into());
    let created = api.create(&PostParams::default(), &c).await.unwrap();
    let name = created.metadata.name.unwrap();
    assert!(name.starts_with("gen-"));
    assert_eq!(name.len(), 9);
}

#[tokio::test]
async fn creating_an_existing_object_is_a_409_already_exists() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let s = api_error(
        api.create(&PostParams::default(), &cm("a"))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 409);
    assert_eq!(s.reason, "AlreadyExists");
    assert_eq!(s.message, "configmaps \"a\" already exists");
}

#[tokio::test]
async fn get_of_a_missing_object_is_a_404_with_the_apiserver_message() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let s = api_error(api.get("nope").await.unwrap_err());
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (404, "NotFound", "configmaps \"nope\" not found")
    );
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client, "default");
    let s = api_error(deploys.get("x").await.unwrap_err());
    assert_eq!(s.message, "deployments.apps \"x\" not found");
}

#[tokio::test]
async fn stale_resource_version_update_is_a_409_conflict() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let mut second = first.clone();
    second.data = Some([("a".to_string(), "2".to_string())].into());
    api.replace("a", &PostParams::default(), &second)
        .await
        .unwrap();
    let mut stale = first.clone();
    stale.data = Some([("a".to_string(), "3".to_string())].into());
    let s = api_error(
        api.replace("a", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 409);
    assert_eq!(s.reason, "Conflict");
    assert_eq!(
        s.message,
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

#[tokio::test]
async fn update_without_resource_version_is_unconditional() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let mut c = cm("a");
    c.data = Some([("b".to_string(), "2".to_string())].into());
    let updated = api.replace("a", &PostParams::default(), &c).await.unwrap();
    assert_eq!(
        updated.data.unwrap().get("b").map(String::as_str),
        Some("2")
    );
}

#[tokio::test]
async fn unchanged_update_keeps_the_resource_version() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let again = api
        .replace("a", &PostParams::default(), &created)
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        created.metadata.resource_version
    );
    let patched = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.resource_version,
        created.metadata.resource_version
    );
}

#[tokio::test]
async fn invalid_name_is_a_422_naming_metadata_name() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let s = api_error(
        api.create(&PostParams::default(), &cm("Bad_Name"))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    assert_eq!(s.reason, "Invalid");
    assert!(s.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{}", s.message);
    let causes = s.details.unwrap().causes;
    assert_eq!(causes[0].field, "metadata.name");
    assert_eq!(causes[0].reason, "FieldValueInvalid");
}

#[tokio::test]
async fn invalid_label_value_is_a_422_naming_metadata_labels() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut c = cm("a");
    c.metadata.labels = Some([("app".to_string(), "-bad-".to_string())].into());
    let s = api_error(api.create(&PostParams::default(), &c).await.unwrap_err());
    assert_eq!(s.code, 422);
    assert_eq!(s.details.unwrap().causes[0].field, "metadata.labels");
}

#[tokio::test]
async fn creating_in_a_missing_namespace_is_a_404_naming_the_namespace() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "nowhere");
    let s = api_error(
        api.create(&PostParams::default(), &cm("a"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (s.code, s.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
}

#[tokio::test]
async fn merge_json_and_strategic_merge_patches_change_the_object() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let pp = PatchParams::default();
    let c = api
        .patch(
            "a",
            &pp,
            &Patch::Merge(json!({"data": {"b": "2", "a": null}})),
        )
        .await
        .unwrap();
    assert_eq!(c.data.clone().unwrap().len(), 1);
    assert_eq!(c.data.unwrap()["b"], "2");
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/c", "value": "3"}])).unwrap();
    let c = api.patch("a", &pp, &Patch::<()>::Json(ops)).await.unwrap();
    assert_eq!(c.data.unwrap()["c"], "3");
    let c = api
        .patch(
            "a",
            &pp,
            &Patch::Strategic(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(c.metadata.labels.unwrap()["x"], "y");
}

#[tokio::test]
async fn failing_json_patch_test_operation_is_rejected() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/a", "value": "9"}])).unwrap();
    let s = api_error(
        api.patch("a", &PatchParams::default(), &Patch::<()>::Json(ops))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
}

#[tokio::test]
async fn patch_of_a_missing_object_is_a_404() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let s = api_error(
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 404);
}

#[tokio::test]
async fn dry_run_create_update_patch_and_delete_do_not_persist() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let c = api.create(&pp, &cm("dry")).await.unwrap();
    assert_eq!(c.metadata.name.as_deref(), Some("dry"));
    assert_eq!(api_error(api.get("dry").await.unwrap_err()).code, 404);
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let patch = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let p = api
        .patch("a", &patch, &Patch::Merge(json!({"data": {"a": "x"}})))
        .await
        .unwrap();
    assert_eq!(p.data.unwrap()["a"], "x");
    assert_eq!(api.get("a").await.unwrap().data.unwrap()["a"], "1");
    let mut c = cm("a");
    c.data = Some([("a".to_string(), "y".to_string())].into());
    api.replace("a", &pp, &c).await.unwrap();
    assert_eq!(api.get("a").await.unwrap().data.unwrap()["a"], "1");
    api.delete(
        "a",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    api.get("a").await.unwrap();
}

#[tokio::test]
async fn field_validation_strict_rejects_unknown_fields_with_a_400() {
    let (_sb, client) = start().await;
    let (code, _, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        Some("application/json"),
        Some(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "bogus": 1}),
        ),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["reason"], "BadRequest");
    assert_eq!(
        body["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"bogus\""
    );
}

#[tokio::test]
async fn field_validation_warn_answers_with_a_warning_header_and_drops_the_field() {
    let (_sb, client) = start().await;
    let (code, headers, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Warn",
        Some("application/json"),
        Some(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "bogus": 1}),
        ),
    )
    .await;
    assert_eq!(code, 201);
    assert!(body.get("bogus").is_none());
    let warning = headers.get("warning").unwrap().to_str().unwrap();
    assert_eq!(warning, "299 - \"unknown field \\\"bogus\\\"\"");
}

#[tokio::test]
async fn wrongly_typed_field_is_a_400_bad_request() {
    let (_sb, client) = start().await;
    let (code, _, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/json"),
        Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"a": 1}})),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("ConfigMap in version \"v1\" cannot be handled as a ConfigMap")
    );
}

#[tokio::test]
async fn secret_string_data_is_encoded_into_data() {
    let (_sb, client) = start().await;
    let api: Api<Secret> = Api::namespaced(client, "default");
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}),
    )
    .unwrap();
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    assert!(created.string_data.is_none());
    assert_eq!(created.data.unwrap()["password"].0, b"hunter2");
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
}

#[tokio::test]
async fn fresh_sandbox_has_the_initial_namespaces_with_default_service_accounts() {
    let (_sb, client) = start().await;
    let ns: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = ns
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    let d = ns.get("default").await.unwrap();
    assert_eq!(d.status.unwrap().phase.as_deref(), Some("Active"));
    assert_eq!(d.spec.unwrap().finalizers.unwrap(), ["kubernetes"]);
    let sa: Api<ServiceAccount> = Api::namespaced(client, "kube-system");
    sa.get("default").await.unwrap();
}

#[tokio::test]
async fn new_namespace_gets_a_default_service_account_and_its_name_label() {
    let (_sb, client) = start().await;
    let ns: Api<Namespace> = Api::all(client.clone());
    let n: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap();
    let created = ns.create(&PostParams::default(), &n).await.unwrap();
    assert_eq!(
        created.metadata.labels.unwrap()["kubernetes.io/metadata.name"],
        "team-a"
    );
    let sa: Api<ServiceAccount> = Api::namespaced(client, "team-a");
    sa.get("default").await.unwrap();
}

#[tokio::test]
async fn namespace_names_must_be_dns_labels() {
    let (_sb, client) = start().await;
    let ns: Api<Namespace> = Api::all(client);
    let n: Namespace = serde_json::from_value(json!({"metadata": {"name": "a.b"}})).unwrap();
    let s = api_error(ns.create(&PostParams::default(), &n).await.unwrap_err());
    assert_eq!(s.code, 422);
    assert!(s.message.contains("RFC 1123 label"), "{}", s.message);
}

#[tokio::test]
async fn writes_record_managed_fields_for_their_field_manager() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let pp = PostParams {
        field_manager: Some("tester".into()),
        ..Default::default()
    };
    let c = api.create(&pp, &cm("a")).await.unwrap();
    let mf = c.metadata.managed_fields.unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("tester"));
    assert_eq!(mf[0].operation.as_deref(), Some("Update"));
}

#[tokio::test]
async fn raw_errors_are_metav1_status_objects() {
    let (_sb, client) = start().await;
    let (code, _, body) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps/none",
        None,
        None,
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "configmaps \"none\" not found", "reason": "NotFound", "details": {"name": "none", "kind": "configmaps"}, "code": 404})
    );
    let (code, _, body) = raw(&client, "GET", "/apis/nothing.io/v1/things", None, None).await;
    assert_eq!(code, 404);
    assert_eq!(body["reason"], Value::String("NotFound".into()));
}

#[tokio::test]
async fn patch_carrying_a_stale_resource_version_is_a_409_conflict() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let c = api.create(&PostParams::default(), &cm("a")).await.unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "2"}})),
    )
    .await
    .unwrap();
    let stale = json!({"metadata": {"resourceVersion": c.metadata.resource_version.unwrap()}, "data": {"a": "3"}});
    let s = api_error(
        api.patch("a", &PatchParams::default(), &Patch::Merge(stale))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
}

#[tokio::test]
async fn status_subresource_of_a_kind_without_one_is_a_404() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let s = api_error(
        api.patch_status(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 404);
}

#[tokio::test]
async fn status_writes_on_a_built_in_leave_spec_alone_and_generation_unchanged() {
    let (_sb, client) = start().await;
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client, "default");
    let d: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})).unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        created.spec.as_ref().unwrap().replicas,
        Some(1),
        "replicas defaulted"
    );
    let s = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 1}, "spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(s.status.unwrap().ready_replicas, Some(1));
    assert_eq!(s.spec.unwrap().replicas, Some(1));
    assert_eq!(s.metadata.generation, Some(1));
    let m = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(m.metadata.generation, Some(2));
}

#[tokio::test]
async fn malformed_bodies_are_400s_and_the_server_keeps_serving() {
    let (_sb, client) = start().await;
    let bodies = [
        (
            "/api/v1/namespaces/default/configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x"}),
        ),
        (
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": 5}}),
        ),
        (
            "/api/v1/namespaces/default/services",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": []}),
        ),
        (
            "/api/v1/namespaces/default/secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}, "data": 3}),
        ),
        (
            "/api/v1/namespaces/default/configmaps",
            json!(["not", "an", "object"]),
        ),
    ];
    for (path, body) in bodies {
        let (code, _, status) = raw(
            &client,
            "POST",
            path,
            Some("application/json"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(code, 400, "{body} -> {status}");
        assert_eq!(status["reason"], "BadRequest");
    }
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let (code, _, _) = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a",
        Some("application/merge-patch+json"),
        Some(json!("replaced")),
    )
    .await;
    assert_eq!(code, 400);
    let (code, _, _) = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a?fieldManager=m",
        Some("application/apply-patch+yaml"),
        Some(json!([1])),
    )
    .await;
    assert_eq!(code, 400);
    api.get("a").await.unwrap();
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_spec_replicas() {
    let (_sb, client) = start().await;
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client, "default");
    let d: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})).unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let scaled = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(5));
    let d = api.get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(5));
    assert_eq!(d.metadata.generation, Some(2));
}
