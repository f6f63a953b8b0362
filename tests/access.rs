//! Access is proven on the API server itself: with impersonation (`--as=u --as-group=G`), a
//! member of an onboarding's access group may do what its role allows in that onboarding's
//! namespaces and nothing in another's, may not change what the operator owns there, and Pod
//! Security admission admits a Pod only as the namespace's level allows.
//!
//! These need an API server that evaluates RBAC and Pod Security admission: they run on the
//! real control plane (`CONPLUS_TEST_CLUSTER=control-plane`) or an external cluster, and are
//! skipped on the sandbox until it evaluates both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::*;

use conplus_operator::api::{AccessEntry, AccessRole, ProtectionLevel};

const SANDBOX_LACKS: &str = "sandbox lacks RBAC and Pod Security admission";

/// Two onboardings of one Ressort, both Ready: `a` (protection level high: `restricted`
/// enforced) with an edit and a view group, `b` (normal: `baseline`) with an edit group.
struct Setup {
    env: Env,
    a_ns: String,
    b_ns: String,
    a_edit: String,
    a_view: String,
}

async fn setup() -> Setup {
    let env = Env::start().await;
    let r = env.name("mi");
    let (a_edit, a_view, b_edit) = (
        format!("{}-a-edit", env.tag),
        format!("{}-a-view", env.tag),
        format!("{}-b-edit", env.tag),
    );
    env.apply(&ressort(&r, "64")).await;
    let mut a = onboarding(&env.name("mi-a"), &r, "a", &["prod"], "2");
    a.spec.protection_level = ProtectionLevel::High;
    a.spec.access = vec![
        AccessEntry {
            group: a_edit.clone(),
            role: AccessRole::Edit,
            environments: None,
        },
        AccessEntry {
            group: a_view.clone(),
            role: AccessRole::View,
            environments: None,
        },
    ];
    let mut b = onboarding(&env.name("mi-b"), &r, "b", &["prod"], "2");
    b.spec.access = vec![AccessEntry {
        group: b_edit,
        role: AccessRole::Edit,
        environments: None,
    }];
    env.apply(&a).await;
    env.apply(&b).await;
    env.wait_fvo(&a.name_any(), "Ready", is_ready).await;
    env.wait_fvo(&b.name_any(), "Ready", is_ready).await;
    Setup {
        a_ns: format!("{r}-a-prod"),
        b_ns: format!("{r}-b-prod"),
        env,
        a_edit,
        a_view,
    }
}

/// A client acting as user `member-of-<group>` in `group` (plus system:authenticated), with
/// the admin's credentials and impersonation headers, as `kubectl --as --as-group` does.
fn member_of(env: &Env, group: &str) -> Client {
    let mut config = env.cluster.config.clone();
    config.auth_info.impersonate = Some(format!("member-of-{group}"));
    config.auth_info.impersonate_groups = Some(vec![group.to_string()]);
    Client::try_from(config).unwrap()
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}
            }
        }
    }))
    .unwrap()
}

/// Asserts that `result` is a 403 Forbidden from the API server.
fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_group_creates_deployments_in_its_own_namespaces_and_not_in_another_onboardings() {
    if !not_on_sandbox(SANDBOX_LACKS) {
        return;
    }
    let s = setup().await;
    let member = member_of(&s.env, &s.a_edit);
    Api::<Deployment>::namespaced(member.clone(), &s.a_ns)
        .create(&PostParams::default(), &deployment("portal"))
        .await
        .unwrap_or_else(|e| panic!("edit group in its own namespace {}: {e}", s.a_ns));
    assert_forbidden(
        Api::<Deployment>::namespaced(member.clone(), &s.b_ns)
            .create(&PostParams::default(), &deployment("portal"))
            .await,
        "edit group of a in b's namespace",
    );
    assert_forbidden(
        Api::<Deployment>::namespaced(member, "default")
            .create(&PostParams::default(), &deployment("portal"))
            .await,
        "edit group of a in the default namespace",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_group_may_not_change_the_quota_the_operator_owns() {
    if !not_on_sandbox(SANDBOX_LACKS) {
        return;
    }
    let s = setup().await;
    let quotas = Api::<ResourceQuota>::namespaced(member_of(&s.env, &s.a_edit), &s.a_ns);
    quotas
        .get("conplus-quota")
        .await
        .expect("an edit group may read its quota");
    let raise = Patch::Merge(json!({"spec": {"hard": {"requests.cpu": "1000"}}}));
    assert_forbidden(
        quotas
            .patch("conplus-quota", &PatchParams::default(), &raise)
            .await,
        "edit group raising its own quota",
    );
    assert_forbidden(
        quotas
            .delete("conplus-quota", &DeleteParams::default())
            .await,
        "edit group deleting its quota",
    );
}

// Fails on kube-apiserver today: the operator binds access groups to the built-in ClusterRoles
// `edit` and `admin`, and both grant create, update and delete on NetworkPolicies, so a member
// can loosen or delete the default deny until the next reconcile restores it. Closing the gap
// needs an admission policy that protects the operator's objects (or ClusterRoles of the
// operator's own); run it with `--ignored` to see the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "open gap: the ClusterRoles edit and admin grant write access to NetworkPolicies"]
async fn an_edit_group_may_not_change_the_network_policies_the_operator_owns() {
    if !not_on_sandbox(SANDBOX_LACKS) {
        return;
    }
    let s = setup().await;
    let policies = Api::<NetworkPolicy>::namespaced(member_of(&s.env, &s.a_edit), &s.a_ns);
    let owned = names(&s.env.ns_api::<NetworkPolicy>(&s.a_ns), &Default::default()).await;
    assert!(!owned.is_empty(), "the operator isolates the namespace");
    for name in &owned {
        let open = Patch::Merge(json!({"spec": {"policyTypes": []}}));
        assert_forbidden(
            policies.patch(name, &PatchParams::default(), &open).await,
            &format!("edit group loosening the NetworkPolicy {name}"),
        );
        assert_forbidden(
            policies.delete(name, &DeleteParams::default()).await,
            &format!("edit group deleting the NetworkPolicy {name}"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_group_reads_its_namespace_but_not_its_secrets() {
    if !not_on_sandbox(SANDBOX_LACKS) {
        return;
    }
    let s = setup().await;
    let mut secret = Secret::default();
    secret.metadata.name = Some("db".into());
    secret.string_data = Some([("password".to_string(), "geheim".to_string())].into());
    s.env
        .ns_api::<Secret>(&s.a_ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let viewer = member_of(&s.env, &s.a_view);
    Api::<ResourceQuota>::namespaced(viewer.clone(), &s.a_ns)
        .get("conplus-quota")
        .await
        .expect("a view group reads its namespace");
    let secrets = Api::<Secret>::namespaced(viewer.clone(), &s.a_ns);
    assert_forbidden(secrets.get("db").await, "view group reading a Secret");
    assert_forbidden(
        secrets.list(&Default::default()).await,
        "view group listing Secrets",
    );
    assert_forbidden(
        Api::<Deployment>::namespaced(viewer, &s.a_ns)
            .create(&PostParams::default(), &deployment("portal"))
            .await,
        "view group creating a Deployment",
    );
    // The edit group of the same onboarding may read them (edit includes Secrets).
    Api::<Secret>::namespaced(member_of(&s.env, &s.a_edit), &s.a_ns)
        .get("db")
        .await
        .expect("an edit group reads its Secrets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_can_i_agrees_for_every_group_and_namespace() {
    if !not_on_sandbox(SANDBOX_LACKS) {
        return;
    }
    let s = setup().await;
    let cases: &[(&str, &str, &str, &str, bool)] = &[
        // (group, verb, resource, namespace, allowed)
        (&s.a_edit, "create", "deployments.apps", &s.a_ns, true),
        (&s.a_edit, "create", "deployments.apps", &s.b_ns, false),
        (&s.a_edit, "get", "secrets", &s.a_ns, true),
        (&s.a_edit, "update", "resourcequotas", &s.a_ns, false),
        (
            &s.a_edit,
            "delete",
            "rolebindings.rbac.authorization.k8s.io",
            &s.a_ns,
            false,
        ),
        (&s.a_view, "list", "pods", &s.a_ns, true),
        (&s.a_view, "get", "secrets", &s.a_ns, false),
        (&s.a_view, "create", "deployments.apps", &s.a_ns, false),
        (&s.a_view, "list", "pods", &s.b_ns, false),
    ];
    let mut wrong = Vec::new();
    for (group, verb, resource, ns, allowed) in cases {
        let out = s
            .env
            .cluster
            .kubectl()
            .args(["auth", "can-i", verb, resource, "-n", ns])
            .arg(format!("--as=member-of-{group}"))
            .arg(format!("--as-group={group}"))
            .output()
            .expect("kubectl runs (.ci/install-tools.sh installs it)");
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let expected = if *allowed { "yes" } else { "no" };
        if answer != expected {
            wrong.push(format!(
                "{group} {verb} {resource} -n {ns}: kubectl says {answer:?} ({}), expected {expected}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "kubectl auth can-i disagrees:\n{}",
        wrong.join("\n")
    );
}

/// A Pod whose containers run as `security` says; no volumes, no host namespaces.
fn pod(name: &str, security: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "app",
                "image": "registry.example/app:1.0",
                "securityContext": security,
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
            }]
        }
    }))
    .unwrap()
}

fn privileged() -> serde_json::Value {
    json!({"privileged": true})
}

/// Baseline allows it (no privilege, no host access); restricted does not (root allowed,
/// privilege escalation allowed, capabilities kept, no seccomp profile).
fn baseline_only() -> serde_json::Value {
    json!({})
}

fn restricted() -> serde_json::Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": 10001,
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}
    })
}

async fn create_pod(env: &Env, ns: &str, pod: &Pod) -> Result<Pod, kube::Error> {
    env.ns_api::<Pod>(ns)
        .create(&PostParams::default(), pod)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_security_admits_a_pod_only_as_the_namespace_level_allows() {
    if !not_on_sandbox(SANDBOX_LACKS) {
        return;
    }
    let s = setup().await;
    let env = &s.env;
    // a: restricted. Even the admin is held to the namespace's level.
    for (name, security) in [("privileged", privileged()), ("root", baseline_only())] {
        assert_refused_by_pod_security(
            create_pod(env, &s.a_ns, &pod(name, security)).await,
            "restricted",
            &format!("{name} pod in {}", s.a_ns),
        );
    }
    create_pod(env, &s.a_ns, &pod("restricted", restricted()))
        .await
        .unwrap_or_else(|e| panic!("a restricted-conformant pod in {}: {e}", s.a_ns));
    // b: baseline. Privileged is refused, a root pod without privileges is admitted.
    assert_refused_by_pod_security(
        create_pod(env, &s.b_ns, &pod("privileged", privileged())).await,
        "baseline",
        &format!("privileged pod in {}", s.b_ns),
    );
    create_pod(env, &s.b_ns, &pod("root", baseline_only()))
        .await
        .unwrap_or_else(|e| panic!("a baseline-conformant pod in {}: {e}", s.b_ns));
}

/// Asserts that Pod Security admission refused `result` and named the `level` it enforces.
fn assert_refused_by_pod_security(result: Result<Pod, kube::Error>, level: &str, what: &str) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => assert!(
            status
                .message
                .contains(&format!("violates PodSecurity \"{level}")),
            "{what}: the refusal names the level {level}: {}",
            status.message
        ),
        other => panic!("{what}: expected 403 from Pod Security admission, got {other:?}"),
    }
}
