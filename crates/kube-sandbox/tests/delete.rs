//! Deletion: finalizers, propagation policies, garbage collection, preconditions,
//! deletecollection and namespace termination.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::{Value, json};

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, extra_meta: Value) -> ConfigMap {
    let mut meta = json!({"name": name});
    if let Value::Object(m) = extra_meta {
        for (k, v) in m {
            meta[k] = v;
        }
    }
    serde_json::from_value(json!({"metadata": meta, "data": {"a": "1"}})).unwrap()
}

fn owner_ref(kind: &str, api_version: &str, name: &str, uid: &str, block: bool) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": block})
}

/// A ConfigMap `owner` and a ConfigMap `dependent` that names it as its owner.
async fn owner_with(api: &Api<ConfigMap>, dependent: &str, block: bool) {
    let owner = api
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    let refs = json!({"ownerReferences": [owner_ref("ConfigMap", "v1", "owner", &uid, block)]});
    api.create(&PostParams::default(), &cm(dependent, refs))
        .await
        .unwrap();
}

async fn gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    matches!(api.get(name).await, Err(kube::Error::Api(s)) if s.code == 404)
}

#[tokio::test]
async fn delete_with_a_finalizer_sets_deletion_timestamp_and_keeps_the_object() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(
        &PostParams::default(),
        &cm("a", json!({"finalizers": ["example.com/hold"]})),
    )
    .await
    .unwrap();
    let r = api.delete("a", &DeleteParams::default()).await.unwrap();
    let obj = r.left().expect("a pending deletion returns the object");
    assert!(obj.metadata.deletion_timestamp.is_some());
    assert_eq!(obj.metadata.deletion_grace_period_seconds, Some(0));
    let got = api.get("a").await.unwrap();
    assert!(got.metadata.deletion_timestamp.is_some());
}

#[tokio::test]
async fn removing_the_last_finalizer_deletes_the_object() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(
        &PostParams::default(),
        &cm("a", json!({"finalizers": ["example.com/hold"]})),
    )
    .await
    .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(gone(&api, "a").await);
}

#[tokio::test]
async fn new_finalizers_are_refused_on_an_object_being_deleted() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(
        &PostParams::default(),
        &cm("a", json!({"finalizers": ["example.com/hold"]})),
    )
    .await
    .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let s = api_error(
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 422);
}

#[tokio::test]
async fn delete_of_a_built_in_without_finalizers_returns_success_status() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let r = api.delete("a", &DeleteParams::default()).await.unwrap();
    let status = r.right().expect("ConfigMap deletion answers with a Status");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    assert!(gone(&api, "a").await);
}

#[tokio::test]
async fn background_deletion_garbage_collects_dependents() {
    let (_sb, client) = start().await;
    let owners: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    owner_with(&owners, "dep", false).await;
    owners
        .delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually("the dependent is collected", || {
        let owners = owners.clone();
        async move { gone(&owners, "dep").await }
    })
    .await;
}

#[tokio::test]
async fn foreground_deletion_keeps_the_owner_until_blocking_dependents_are_gone() {
    let (_sb, client) = start().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})).unwrap();
    let d = deploys.create(&PostParams::default(), &d).await.unwrap();
    let uid = d.metadata.uid.unwrap();
    let rs: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "web-1", "finalizers": ["example.com/hold"], "ownerReferences": [owner_ref("Deployment", "apps/v1", "web", &uid, true)]}, "spec": {"selector": {"matchLabels": {"a": "b"}}}})).unwrap();
    rss.create(&PostParams::default(), &rs).await.unwrap();
    deploys
        .delete("web", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually("the dependent is being deleted", || {
        let rss = rss.clone();
        async move {
            rss.get("web-1")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_some()
        }
    })
    .await;
    let owner = deploys.get("web").await.unwrap();
    assert!(
        owner
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_string())
    );
    rss.patch(
        "web-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("the owner goes after its dependent", || {
        let deploys = deploys.clone();
        async move { gone(&deploys, "web").await }
    })
    .await;
}

#[tokio::test]
async fn orphan_deletion_removes_owner_references_from_dependents() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    owner_with(&api, "dep", true).await;
    api.delete("owner", &DeleteParams::orphan()).await.unwrap();
    eventually("the owner is gone", || {
        let api = api.clone();
        async move { gone(&api, "owner").await }
    })
    .await;
    let dep = api.get("dep").await.unwrap();
    assert!(dep.metadata.owner_references.is_none_or(|r| r.is_empty()));
}

#[tokio::test]
async fn cluster_scoped_owner_collects_namespaced_dependents() {
    let (_sb, client) = start().await;
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let role: ClusterRole =
        serde_json::from_value(json!({"metadata": {"name": "system:owner"}})).unwrap();
    let role = roles.create(&PostParams::default(), &role).await.unwrap();
    let uid = role.metadata.uid.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &cm("dep", json!({"ownerReferences": [owner_ref("ClusterRole", "rbac.authorization.k8s.io/v1", "system:owner", &uid, false)]})))
        .await
        .unwrap();
    roles
        .delete("system:owner", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the namespaced dependent is collected", || {
        let cms = cms.clone();
        async move { gone(&cms, "dep").await }
    })
    .await;
}

#[tokio::test]
async fn delete_precondition_on_a_different_uid_is_a_409() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let c = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("other".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let s = api_error(api.delete("a", &dp).await.unwrap_err());
    assert_eq!(s.code, 409);
    assert_eq!(
        s.message,
        format!(
            "Operation cannot be fulfilled on configmaps \"a\": Precondition failed: UID in precondition: other, UID in object meta: {}",
            c.metadata.uid.unwrap()
        )
    );
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: None,
            resource_version: Some("1".into()),
        }),
        ..Default::default()
    };
    assert_eq!(api_error(api.delete("a", &dp).await.unwrap_err()).code, 409);
}

#[tokio::test]
async fn deletecollection_deletes_only_selected_objects() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(
        &PostParams::default(),
        &cm("a", json!({"labels": {"x": "1"}})),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &cm("b", json!({"labels": {"x": "1"}})),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &cm("c", json!({"labels": {"x": "2"}})),
    )
    .await
    .unwrap();
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("x=1"),
    )
    .await
    .unwrap();
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn namespace_termination_removes_contents_and_refuses_new_objects() {
    let (_sb, client) = start().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(
        &PostParams::default(),
        &cm("held", json!({"finalizers": ["example.com/hold"]})),
    )
    .await
    .unwrap();
    cms.create(&PostParams::default(), &cm("free", json!({})))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "doomed");
    let pod: Pod = serde_json::from_value(
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    )
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    nss.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let n = nss.get("doomed").await.unwrap();
    assert_eq!(n.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(n.metadata.deletion_timestamp.is_some());
    let s = api_error(
        cms.create(&PostParams::default(), &cm("new", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 403);
    assert_eq!(s.reason, "Forbidden");
    assert_eq!(
        s.message,
        "configmaps \"new\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );
    eventually("unheld contents are removed", || {
        let (cms, pods) = (cms.clone(), pods.clone());
        async move { gone(&cms, "free").await && gone(&pods, "p").await }
    })
    .await;
    // The held object waits for its finalizer, and so does the namespace.
    assert!(
        cms.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    assert!(nss.get("doomed").await.is_ok());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("the namespace is removed once empty", || {
        let nss = nss.clone();
        async move { gone(&nss, "doomed").await }
    })
    .await;
}

#[tokio::test]
async fn the_default_namespace_may_not_be_deleted() {
    let (_sb, client) = start().await;
    let nss: Api<Namespace> = Api::all(client);
    let s = api_error(
        nss.delete("default", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 403);
}

#[tokio::test]
async fn custom_resource_delete_returns_the_object() {
    let (_sb, client) = start().await;
    install_widget_crd(&client).await;
    let (code, _, _) = raw(
        &client,
        "POST",
        "/apis/example.com/v1/namespaces/default/widgets",
        Some("application/json"),
        Some(widget("w", 2)),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _, body) = raw(
        &client,
        "DELETE",
        "/apis/example.com/v1/namespaces/default/widgets/w",
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["kind"], "Widget");
}

#[tokio::test]
async fn namespace_finalize_subresource_clears_spec_finalizers() {
    let (_sb, client) = start().await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fin"}});
    let (code, _, created) = raw(
        &client,
        "POST",
        "/api/v1/namespaces",
        Some("application/json"),
        Some(ns),
    )
    .await;
    assert_eq!(code, 201);
    let mut cleared = created.clone();
    cleared["spec"]["finalizers"] = json!([]);
    cleared["metadata"]["labels"]["ignored"] = json!("yes");
    let (code, _, body) = raw(
        &client,
        "PUT",
        "/api/v1/namespaces/fin/finalize",
        Some("application/json"),
        Some(cleared),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["spec"]["finalizers"], json!([]));
    assert!(
        body["metadata"]["labels"].get("ignored").is_none(),
        "finalize changes only spec.finalizers"
    );
}

#[tokio::test]
async fn a_dependent_whose_owner_never_existed_is_collected_while_nothing_else_is_deleted() {
    let (_sb, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    owner_with(&api, "kept", false).await;
    // Let the collector settle: nothing is deleting, so its next passes look only at what was
    // written since.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let dangling =
        json!({"ownerReferences": [owner_ref("ConfigMap", "v1", "nobody", "no-such-uid", false)]});
    api.create(&PostParams::default(), &cm("dangling", dangling))
        .await
        .unwrap();
    eventually("the dependent of a missing owner is collected", || {
        let api = api.clone();
        async move { gone(&api, "dangling").await }
    })
    .await;
    assert!(
        api.get("kept").await.is_ok(),
        "a dependent whose owner exists stays"
    );
    // An owner removed later: a full pass finds its dependent again.
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually("the dependent of a deleted owner is collected", || {
        let api = api.clone();
        async move { gone(&api, "kept").await }
    })
    .await;
}
