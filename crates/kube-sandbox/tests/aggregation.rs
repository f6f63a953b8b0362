//! ClusterRole aggregation, as kube-controller-manager's clusterrole-aggregation controller does
//! it: a role selected by `view`'s aggregationRule lends it its rules while it is selected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn role(name: &str, labels: serde_json::Value, resource: &str) -> ClusterRole {
    serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels},
        "rules": [{"apiGroups": ["example.org"], "resources": [resource], "verbs": ["get"]}]
    }))
    .unwrap()
}

async fn view_grants(roles: &Api<ClusterRole>, resource: &str) -> bool {
    let view = roles.get("view").await.unwrap();
    view.rules.unwrap_or_default().iter().any(|r| {
        r.resources
            .as_ref()
            .is_some_and(|x| x.iter().any(|x| x == resource))
    })
}

/// Sets (or, with `None`, removes) the role's aggregate-to-view label.
async fn label_to_view(roles: &Api<ClusterRole>, name: &str, value: Option<&str>) {
    let patch =
        json!({"metadata": {"labels": {"rbac.authorization.k8s.io/aggregate-to-view": value}}});
    roles
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_selected_role_lends_view_its_rules_until_it_is_no_longer_selected_or_gone() {
    let (_sb, client) = start().await;
    let roles: Api<ClusterRole> = Api::all(client);
    let to_view = json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"});
    // Created by POST (the name is in the body) and selected: view gains the rule.
    roles
        .create(
            &PostParams::default(),
            &role("widgets-view", to_view, "widgets"),
        )
        .await
        .unwrap();
    assert!(view_grants(&roles, "widgets").await);
    // A role no aggregation selects leaves view as it is.
    roles
        .create(
            &PostParams::default(),
            &role("gadgets", json!({"team": "a"}), "gadgets"),
        )
        .await
        .unwrap();
    assert!(!view_grants(&roles, "gadgets").await);
    // The label taken away (selected before, not after): view loses the rule.
    label_to_view(&roles, "widgets-view", None).await;
    assert!(!view_grants(&roles, "widgets").await);
    // Labelled again, then deleted: view gains it, then loses it.
    label_to_view(&roles, "widgets-view", Some("true")).await;
    assert!(view_grants(&roles, "widgets").await);
    roles
        .delete("widgets-view", &DeleteParams::default())
        .await
        .unwrap();
    assert!(!view_grants(&roles, "widgets").await);
}
