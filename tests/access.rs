//! Access is proven on the API server itself: with impersonation (`--as=u --as-group=G`), a
//! member of an onboarding's access group may do what its role allows in that onboarding's
//! namespaces and nothing in another's, may not change what the operator owns there, and Pod
//! Security admission admits a Pod only as the namespace's level allows.
//!
//! What RBAC leaves open — the ClusterRoles `edit` and `admin` grant writing NetworkPolicies, `admin`
//! RoleBindings too — the chart's admission policies close: the operator's objects, the labels of its
//! namespaces and its ownership records are the operator's alone, and only a Ressort's onboarders onboard
//! into it. The tests install those policies from the chart ([`Env::install_admission_policies`]).
//!
//! They run on every backend: the real control plane (`CONPLUS_TEST_CLUSTER=control-plane`), an
//! external cluster, and the sandbox, which evaluates impersonation, RBAC (with the default
//! ClusterRoles `admin`, `edit` and `view`), ValidatingAdmissionPolicies and Pod Security admission
//! as kube-apiserver does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::*;

use conplus_operator::api::{AccessEntry, AccessRole, FachverfahrenOnboarding, ProtectionLevel};

/// Two onboardings of one Ressort, both Ready: `a` (protection level high: `restricted`
/// enforced) with an edit and a view group, `b` (normal: `baseline`) with an edit group.
/// `a` also has an admin group. The admission policies are in force.
struct Setup {
    env: Env,
    a: String,
    a_ns: String,
    b_ns: String,
    a_edit: String,
    a_view: String,
    a_admin: String,
}

async fn setup() -> Setup {
    let env = Env::start().await;
    env.install_admission_policies().await;
    let r = env.name("mi");
    let (a_edit, a_view, a_admin, b_edit) = (
        format!("{}-a-edit", env.tag),
        format!("{}-a-view", env.tag),
        format!("{}-a-admin", env.tag),
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
        AccessEntry {
            group: a_admin.clone(),
            role: AccessRole::Admin,
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
        a: a.name_any(),
        a_ns: format!("{r}-a-prod"),
        b_ns: format!("{r}-b-prod"),
        env,
        a_edit,
        a_view,
        a_admin,
    }
}

/// A client acting as user `member-of-<group>` in `group` (plus system:authenticated), as
/// `kubectl --as --as-group` does.
fn member_of(env: &Env, group: &str) -> Client {
    impersonating(&env.cluster, &format!("member-of-{group}"), &[group])
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

/// Asserts that `result` is a 403 from the admission policy `<release>-<policy>` (any of them when
/// `policy` is empty) whose message
/// contains each of `says` (what happened and what to do instead).
fn assert_refused_by_policy<T: std::fmt::Debug>(
    result: Result<T, kube::Error>,
    policy: &str,
    says: &[&str],
    what: &str,
) {
    let Some(message) = refusal_by_policy(&result, policy) else {
        panic!("{what}: expected 403 from the admission policy {policy:?}, got {result:?}");
    };
    for s in says {
        assert!(
            message.contains(s),
            "{what}: the refusal should say {s:?}: {message}"
        );
    }
}

/// The names of the objects of kind `K` in `ns` that the operator provisioned.
async fn owned<K>(env: &Env, ns: &str) -> Vec<String>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let owned = names(
        &env.ns_api::<K>(ns),
        &ListParams::default().labels("app.kubernetes.io/managed-by=conplus-operator"),
    )
    .await;
    assert!(
        !owned.is_empty(),
        "the operator provisions {} in {ns}",
        K::kind(&())
    );
    owned
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_group_may_not_change_the_network_policies_the_operator_owns() {
    let s = setup().await;
    let policies = Api::<NetworkPolicy>::namespaced(member_of(&s.env, &s.a_edit), &s.a_ns);
    let onboarding = format!("for the onboarding {}", s.a);
    for name in owned::<NetworkPolicy>(&s.env, &s.a_ns).await {
        let before = s
            .env
            .ns_api::<NetworkPolicy>(&s.a_ns)
            .get(&name)
            .await
            .unwrap();
        let open = Patch::Merge(json!({"spec": {"policyTypes": []}}));
        assert_refused_by_policy(
            policies.patch(&name, &PatchParams::default(), &open).await,
            "owned-objects",
            &[
                &onboarding,
                "change spec.network",
                "create a NetworkPolicy of your own",
            ],
            &format!("edit group loosening the NetworkPolicy {name}"),
        );
        assert_refused_by_policy(
            policies.delete(&name, &DeleteParams::default()).await,
            "owned-objects",
            &[&onboarding, "only the operator deletes it"],
            &format!("edit group deleting the NetworkPolicy {name}"),
        );
        let after = s
            .env
            .ns_api::<NetworkPolicy>(&s.a_ns)
            .get(&name)
            .await
            .unwrap();
        assert_eq!(after.spec, before.spec, "NetworkPolicy {name} is unchanged");
    }
}

fn network_policy(name: &str, labels: serde_json::Value) -> NetworkPolicy {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": {"app": "portal"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]
        }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_group_keeps_writing_network_policies_of_its_own_but_not_as_the_operators() {
    let s = setup().await;
    let policies = Api::<NetworkPolicy>::namespaced(member_of(&s.env, &s.a_edit), &s.a_ns);
    policies
        .create(
            &PostParams::default(),
            &network_policy("web-to-portal", json!({"app": "portal"})),
        )
        .await
        .expect("a team creates NetworkPolicies of its own");
    let widen = Patch::Merge(json!({"spec": {"ingress": [{"from": [{"podSelector": {}}]}]}}));
    policies
        .patch("web-to-portal", &PatchParams::default(), &widen)
        .await
        .expect("a team changes its own NetworkPolicies");
    policies
        .delete("web-to-portal", &DeleteParams::default())
        .await
        .expect("a team deletes its own NetworkPolicies");
    let disguised = json!({"app.kubernetes.io/managed-by": "conplus-operator"});
    assert_refused_by_policy(
        policies
            .create(
                &PostParams::default(),
                &network_policy("disguised", disguised),
            )
            .await,
        "",
        &["app.kubernetes.io/managed-by"],
        "edit group creating a NetworkPolicy labelled as the operator's",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_group_may_not_delete_or_rebind_the_role_bindings_the_operator_owns_but_binds_its_own()
 {
    let s = setup().await;
    let bindings = Api::<RoleBinding>::namespaced(member_of(&s.env, &s.a_admin), &s.a_ns);
    for name in owned::<RoleBinding>(&s.env, &s.a_ns).await {
        assert_refused_by_policy(
            bindings.delete(&name, &DeleteParams::default()).await,
            "owned-objects",
            &["change spec.access"],
            &format!("admin group deleting the RoleBinding {name}"),
        );
        let rebind = Patch::Merge(json!({"subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "everyone"}
        ]}));
        assert_refused_by_policy(
            bindings
                .patch(&name, &PatchParams::default(), &rebind)
                .await,
            "owned-objects",
            &["change spec.access"],
            &format!("admin group rebinding the RoleBinding {name}"),
        );
    }
    let own: RoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "auditors"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "auditors"}]
    }))
    .unwrap();
    bindings
        .create(&PostParams::default(), &own)
        .await
        .expect("an admin group binds groups of its choosing in its namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_but_the_operator_relabels_or_deletes_the_namespaces_it_owns() {
    let s = setup().await;
    // The ClusterRole admin grants nothing on its namespace but reading it, and a team cannot grant
    // itself more (RBAC refuses escalation). Someone else may hold more: here a group that may
    // update and delete the namespace, granted by the cluster's admin.
    let keeper = format!("{}-ns-keeper", s.env.tag);
    let rbac: serde_json::Value = json!([
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "namespace-keeper", "namespace": s.a_ns},
         "rules": [{"apiGroups": [""], "resources": ["namespaces"],
                    "verbs": ["get", "patch", "update", "delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "namespace-keeper", "namespace": s.a_ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "namespace-keeper"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": keeper}]}
    ]);
    s.env
        .ns_api::<Role>(&s.a_ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(rbac[0].clone()).unwrap(),
        )
        .await
        .unwrap();
    s.env
        .ns_api::<RoleBinding>(&s.a_ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(rbac[1].clone()).unwrap(),
        )
        .await
        .unwrap();
    let namespaces = Api::<Namespace>::all(member_of(&s.env, &keeper));
    let onboarding = format!("for the onboarding {}", s.a);
    let relabel = |labels: serde_json::Value| Patch::Merge(json!({"metadata": {"labels": labels}}));
    // RBAC takes a moment to see the new binding; a label of the keeper's own is allowed.
    s.env
        .eventually("the keeper labels the namespace", || async {
            namespaces
                .patch(
                    &s.a_ns,
                    &PatchParams::default(),
                    &relabel(json!({"team": "portal"})),
                )
                .await
                .ok()
        })
        .await;
    assert_refused_by_policy(
        namespaces
            .patch(
                &s.a_ns,
                &PatchParams::default(),
                &relabel(json!({"pod-security.kubernetes.io/enforce": "privileged"})),
            )
            .await,
        "owned-namespaces",
        &[
            &onboarding,
            "pod-security.kubernetes.io/enforce",
            "spec.protectionLevel",
        ],
        "relabelling the Pod Security level of an owned namespace",
    );
    assert_refused_by_policy(
        namespaces
            .patch(
                &s.a_ns,
                &PatchParams::default(),
                &relabel(json!({"conplus.niedersachsen.de/ressort": null})),
            )
            .await,
        "owned-namespaces",
        &["conplus.niedersachsen.de/ressort"],
        "removing the Ressort label of an owned namespace",
    );
    assert_refused_by_policy(
        namespaces.delete(&s.a_ns, &DeleteParams::default()).await,
        "owned-namespaces",
        &[&onboarding, "deletionPolicy is Delete"],
        "deleting an owned namespace",
    );
    let ns = s.env.api::<Namespace>().get(&s.a_ns).await.unwrap();
    assert_eq!(
        ns.labels()
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted"),
        "the namespace keeps the level the operator set"
    );
    assert!(ns.metadata.deletion_timestamp.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_may_not_copy_the_operators_records_onto_its_objects() {
    let s = setup().await;
    let config_maps = Api::<ConfigMap>::namespaced(member_of(&s.env, &s.a_edit), &s.a_ns);
    let config_map = |name: &str, labels: serde_json::Value, annotations: serde_json::Value| {
        serde_json::from_value::<ConfigMap>(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels, "annotations": annotations}
        }))
        .unwrap()
    };
    for (labels, annotations, record) in [
        (
            json!({"conplus.niedersachsen.de/onboarding": s.a}),
            json!({}),
            "label conplus.niedersachsen.de/onboarding",
        ),
        (
            json!({"app.kubernetes.io/managed-by": "conplus-operator"}),
            json!({}),
            "label app.kubernetes.io/managed-by",
        ),
        (
            json!({}),
            json!({"conplus.niedersachsen.de/onboarding-uid": "0000"}),
            "annotation conplus.niedersachsen.de/onboarding-uid",
        ),
    ] {
        assert_refused_by_policy(
            config_maps
                .create(
                    &PostParams::default(),
                    &config_map("copied", labels, annotations),
                )
                .await,
            "ownership-records",
            &[record, "only the operator sets or removes it"],
            &format!("edit group creating a ConfigMap with the {record}"),
        );
    }
    // Other labels, the Helm ownership label included, are the team's business.
    config_maps
        .create(
            &PostParams::default(),
            &config_map(
                "settings",
                json!({"app.kubernetes.io/managed-by": "Helm", "conplus.niedersachsen.de/fachverfahren": "a"}),
                json!({"conformance.conplus.niedersachsen.de/ignore-reason": "none"}),
            ),
        )
        .await
        .expect("a ConfigMap of the team's own");
    let claim = Patch::Merge(
        json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "conplus-operator"}}}),
    );
    assert_refused_by_policy(
        config_maps
            .patch("settings", &PatchParams::default(), &claim)
            .await,
        "ownership-records",
        &["label app.kubernetes.io/managed-by"],
        "edit group labelling its ConfigMap as the operator's",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_group_reads_its_namespace_but_not_its_secrets() {
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

/// Namespaces of two onboardings of one Ressort, both Ready: `a` (protection level high:
/// `restricted` enforced) and `b` (normal: `baseline`). Pod Security needs neither RBAC nor the
/// admission policies, so this runs on the sandbox too.
struct PodSecuritySetup {
    env: Env,
    a_ns: String,
    b_ns: String,
}

async fn pod_security_setup() -> PodSecuritySetup {
    let env = Env::start().await;
    let r = env.name("ps");
    env.apply(&ressort(&r, "64")).await;
    let mut a = onboarding(&env.name("ps-a"), &r, "a", &["prod"], "2");
    a.spec.protection_level = ProtectionLevel::High;
    let b = onboarding(&env.name("ps-b"), &r, "b", &["prod"], "2");
    env.apply(&a).await;
    env.apply(&b).await;
    env.wait_fvo(&a.name_any(), "Ready", is_ready).await;
    env.wait_fvo(&b.name_any(), "Ready", is_ready).await;
    PodSecuritySetup {
        a_ns: format!("{r}-a-prod"),
        b_ns: format!("{r}-b-prod"),
        env,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_security_admits_a_pod_only_as_the_namespace_level_allows() {
    let s = pod_security_setup().await;
    let env = &s.env;
    // a: restricted. Even the cluster's admin is held to the namespace's level.
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

// --- Who may onboard what ---

/// Two Ressorts, `mk` whose onboarders are the group `mk_onboarders` and `mi` whose onboarders are
/// `mi_onboarders`; both groups and `nobody` (in no Ressort's onboarders) hold the chart's onboarder
/// ClusterRole, so that RBAC lets each of them write onboardings and only the policy decides.
struct Onboarders {
    env: Env,
    mk: String,
    mi: String,
    mk_member: Client,
    nobody: Client,
}

async fn onboarders_setup() -> Onboarders {
    let env = Env::without_controller().await;
    env.install_admission_policies().await;
    let (mk, mi) = (env.name("mk"), env.name("mi"));
    let mk_onboarders = format!("{}-mk-onboarders", env.tag);
    let mi_onboarders = format!("{}-mi-onboarders", env.tag);
    let nobody = format!("{}-nobody", env.tag);
    for (name, onboarders) in [(&mk, &mk_onboarders), (&mi, &mi_onboarders)] {
        let mut r = ressort(name, "16");
        r.spec.onboarders = vec![onboarders.clone()];
        env.apply(&r).await;
    }
    let subjects: Vec<serde_json::Value> = [&mk_onboarders, &mi_onboarders, &nobody]
        .iter()
        .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
        .collect();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": env.name("onboarders"), "labels": {TEST_LABEL: env.tag}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": format!("{TEST_ADMISSION_RELEASE}-onboarder")},
        "subjects": subjects
    }))
    .unwrap();
    env.api::<ClusterRoleBinding>()
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let setup = Onboarders {
        mk_member: member_of(&env, &mk_onboarders),
        nobody: member_of(&env, &nobody),
        env,
        mk,
        mi,
    };
    // kube-apiserver reads the Ressorts (the policy's parameters) and the binding from informers:
    // wait until a dry run of an outsider is refused for both Ressorts.
    let outsider = Api::<FachverfahrenOnboarding>::all(setup.nobody.clone());
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    for r in [&setup.mk, &setup.mi] {
        let fvo = onboarding(&setup.env.name("probe"), r, "probe", &["dev"], "1");
        setup
            .env
            .eventually(
                &format!("the onboarders policy knows Ressort {r}"),
                || async {
                    refusal_by_policy(&outsider.create(&dry_run, &fvo).await, "onboarders")
                },
            )
            .await;
    }
    setup
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ressorts_onboarders_onboard_into_it_and_into_no_other_ressort() {
    let s = onboarders_setup().await;
    let fvos = Api::<FachverfahrenOnboarding>::all(s.mk_member.clone());
    let name = s.env.name("mk-portal");
    fvos.create(
        &PostParams::default(),
        &onboarding(&name, &s.mk, "portal", &["dev"], "1"),
    )
    .await
    .expect("a member of mk's onboarders onboards into mk");
    let rename = Patch::Merge(json!({"spec": {"displayName": "Portal der Schulen"}}));
    fvos.patch(&name, &PatchParams::default(), &rename)
        .await
        .expect("a member of mk's onboarders changes mk's onboardings");
    assert_refused_by_policy(
        fvos.create(
            &PostParams::default(),
            &onboarding(&s.env.name("mi-portal"), &s.mi, "portal", &["dev"], "1"),
        )
        .await,
        "onboarders",
        &[
            &format!("onboardings of Ressort {}", s.mi),
            "ask the platform team",
        ],
        "a member of mk's onboarders onboarding into mi",
    );
    fvos.delete(&name, &DeleteParams::default())
        .await
        .expect("a member of mk's onboarders deletes mk's onboardings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_in_no_ressorts_onboarders_onboards_nowhere_nor_changes_what_others_onboarded() {
    let s = onboarders_setup().await;
    let outsider = Api::<FachverfahrenOnboarding>::all(s.nobody.clone());
    for r in [&s.mk, &s.mi] {
        assert_refused_by_policy(
            outsider
                .create(
                    &PostParams::default(),
                    &onboarding(
                        &s.env.name(&format!("{r}-squat")),
                        r,
                        "moin-schule",
                        &["staging"],
                        "2",
                    ),
                )
                .await,
            "onboarders",
            &[
                &format!("onboardings of Ressort {r}"),
                "member-of-",
                "is in none of them",
            ],
            &format!("an outsider onboarding into {r}"),
        );
    }
    let name = s.env.name("mk-portal");
    Api::<FachverfahrenOnboarding>::all(s.mk_member.clone())
        .create(
            &PostParams::default(),
            &onboarding(&name, &s.mk, "portal", &["dev"], "1"),
        )
        .await
        .unwrap();
    let squat =
        Patch::Merge(json!({"spec": {"access": [{"group": "squatters", "role": "admin"}]}}));
    assert_refused_by_policy(
        outsider.patch(&name, &PatchParams::default(), &squat).await,
        "onboarders",
        &[&format!("onboardings of Ressort {}", s.mk)],
        "an outsider granting itself access to mk's onboarding",
    );
    assert_refused_by_policy(
        outsider.delete(&name, &DeleteParams::default()).await,
        "onboarders",
        &[&format!("onboardings of Ressort {}", s.mk)],
        "an outsider deleting mk's onboarding",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_team_onboards_into_every_ressort() {
    let s = onboarders_setup().await;
    // system:masters is the chart's default platform group (admission.platformGroups).
    let platform = impersonating(&s.env.cluster, "platform-admin", &["system:masters"]);
    let fvos = Api::<FachverfahrenOnboarding>::all(platform);
    for r in [&s.mk, &s.mi] {
        fvos.create(
            &PostParams::default(),
            &onboarding(
                &s.env.name(&format!("{r}-platform")),
                r,
                "platform",
                &["dev"],
                "1",
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("the platform team onboards into {r}: {e}"));
    }
}

// --- Read access to one's own onboarding (the reader ClusterRole conplus:fvo:<name>:reader) ---

/// Whether `result` is a 403 Forbidden.
fn forbidden<T>(result: &Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(s)) if s.code == 403)
}

fn read_access(o: &FachverfahrenOnboarding) -> Option<(String, String)> {
    condition(o, "ReadAccessGranted").map(|c| (c.status.clone(), c.reason.clone()))
}

fn reader_role(onboarding: &str) -> String {
    format!("conplus:fvo:{onboarding}:reader")
}

/// `kubectl get fvo NAME` as a member of `group`: (exit code, stdout, stderr).
async fn kubectl_get_fvo_as(env: &Env, group: &str, name: &str) -> (i32, String, String) {
    let mut cmd = env.cluster.kubectl();
    cmd.args(["get", "fvo", name, "--as"])
        .arg(format!("member-of-{group}"))
        .arg("--as-group")
        .arg(group);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("kubectl runs (.ci/install-tools.sh installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_group_reads_its_own_onboarding_and_ressort_and_nothing_of_another_ressort() {
    let env = Env::start().await;
    let (r1, r2) = (env.name("mw"), env.name("mf"));
    let (g1, g2, g3) = (
        format!("{}-own-devs", env.tag),
        format!("{}-other-devs", env.tag),
        format!("{}-new-devs", env.tag),
    );
    env.apply(&ressort(&r1, "8")).await;
    env.apply(&ressort(&r2, "8")).await;
    let mut own = onboarding(&env.name("mw-own"), &r1, "own", &["dev"], "1");
    own.spec.access[0].group = g1.clone();
    let mut other = onboarding(&env.name("mf-other"), &r2, "other", &["dev"], "1");
    other.spec.access[0].group = g2.clone();
    env.apply(&own).await;
    env.apply(&other).await;
    let granted = |o: &FachverfahrenOnboarding| {
        read_access(o) == Some(("True".into(), "ReaderRoleBound".into()))
    };
    env.wait_fvo(&own.name_any(), "ReadAccessGranted", granted)
        .await;
    env.wait_fvo(&other.name_any(), "ReadAccessGranted", granted)
        .await;

    let member = member_of(&env, &g1);
    let fvos: Api<FachverfahrenOnboarding> = Api::all(member.clone());
    let mine = fvos
        .get(&own.name_any())
        .await
        .expect("a member of an access group reads its onboarding");
    assert!(mine.status.is_some(), "with its status");
    let by_name = fvos
        .list(&ListParams::default().fields(&format!("metadata.name={}", own.name_any())))
        .await
        .expect("listing (and so watching) one's own onboarding by name is allowed");
    assert_eq!(by_name.items.len(), 1);
    assert_forbidden(
        fvos.get(&other.name_any()).await,
        "another Ressort's onboarding",
    );
    assert_forbidden(
        fvos.list(&ListParams::default()).await,
        "listing all onboardings",
    );
    let ressorts: Api<conplus_operator::api::Ressort> = Api::all(member);
    ressorts
        .get(&r1)
        .await
        .expect("a member reads its Ressort's budget");
    assert_forbidden(ressorts.get(&r2).await, "another Ressort");

    let (code, out, err) = kubectl_get_fvo_as(&env, &g1, &own.name_any()).await;
    assert_eq!(code, 0, "kubectl get fvo {}: {out}{err}", own.name_any());
    assert!(out.contains(&own.name_any()), "{out}");
    let (code, _, err) = kubectl_get_fvo_as(&env, &g1, &other.name_any()).await;
    assert_ne!(code, 0, "another Ressort's onboarding through kubectl");
    assert!(err.contains("forbidden"), "{err}");

    // The group is replaced: the old one loses the onboarding, the new one gains it.
    let mut changed = own.clone();
    changed.spec.access[0].group = g3.clone();
    env.apply(&changed).await;
    let name = own.name_any();
    env.eventually("the removed group loses read access", || {
        let (api, name) = (fvos.clone(), name.clone());
        async move { forbidden(&api.get(&name).await).then_some(()) }
    })
    .await;
    let newcomers: Api<FachverfahrenOnboarding> = Api::all(member_of(&env, &g3));
    env.eventually("the new group gains read access", || {
        let (api, name) = (newcomers.clone(), name.clone());
        async move { api.get(&name).await.ok() }
    })
    .await;

    // The role and binding are the onboarding's: the garbage collector takes them with it.
    let role = env
        .api::<k8s_openapi::api::rbac::v1::ClusterRole>()
        .get(&reader_role(&name))
        .await
        .unwrap();
    let owner = &role.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("FachverfahrenOnboarding", name.as_str())
    );
    env.delete_fvo(&name).await;
    env.wait_gone::<k8s_openapi::api::rbac::v1::ClusterRole>(&reader_role(&name))
        .await;
    env.wait_gone::<ClusterRoleBinding>(&reader_role(&name))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_role_of_the_name_the_operator_did_not_create_is_left_alone_with_a_condition_and_an_event()
 {
    let env = Env::start().await;
    let r = env.name("ml");
    env.apply(&ressort(&r, "8")).await;
    let fvo = onboarding(&env.name("ml-taken"), &r, "taken", &["dev"], "1");
    let roles = env.api::<k8s_openapi::api::rbac::v1::ClusterRole>();
    let name = reader_role(&fvo.name_any());
    let theirs: k8s_openapi::api::rbac::v1::ClusterRole = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    }))
    .unwrap();
    let theirs = roles.create(&PostParams::default(), &theirs).await.unwrap();
    env.apply(&fvo).await;
    let o = env
        .wait_fvo(&fvo.name_any(), "ReadAccessGranted False", |o| {
            read_access(o) == Some(("False".into(), "ReaderRoleConflict".into()))
        })
        .await;
    let message = &condition(&o, "ReadAccessGranted").unwrap().message;
    assert!(
        message.contains(&format!("ClusterRole {name} exists"))
            && message.contains("delete or rename"),
        "{message}"
    );
    let now = roles.get(&name).await.unwrap();
    assert_eq!(now.rules, theirs.rules, "their role is not changed");
    assert_eq!(
        now.metadata.resource_version,
        theirs.metadata.resource_version
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(env.client.clone());
    env.eventually("a Warning Event on the onboarding says so", || {
        let (events, onboarding) = (events.clone(), fvo.name_any());
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some("ReaderRoleConflict")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref())
                            == Some(onboarding.as_str())
                })
                .map(|_| ())
        }
    })
    .await;
    // The binding was not created either: it would bind their role to the groups.
    assert!(
        env.api::<ClusterRoleBinding>()
            .get_opt(&name)
            .await
            .unwrap()
            .is_none()
    );
    roles.delete(&name, &DeleteParams::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_may_write_policy_reports_may_not_change_or_delete_the_operators() {
    let s = setup().await;
    let gvk = kube::api::GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "policyreports");
    let as_admin: Api<kube::api::DynamicObject> =
        Api::namespaced_with(s.env.client.clone(), &s.a_ns, &ar);
    s.env
        .eventually("the operator's PolicyReport", || async {
            as_admin.get_opt("conplus-conformance").await.ok().flatten()
        })
        .await;
    // A group that may write PolicyReports in the namespace (as a policy engine's account may).
    let writer = format!("{}-reports", s.env.tag);
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "report-writer"},
        "rules": [{"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports"],
                   "verbs": ["get", "patch", "delete"]}]
    }))
    .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "report-writer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "report-writer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": writer}]
    }))
    .unwrap();
    let pp = PostParams::default();
    s.env
        .ns_api::<Role>(&s.a_ns)
        .create(&pp, &role)
        .await
        .unwrap();
    let bindings = s.env.ns_api::<RoleBinding>(&s.a_ns);
    bindings.create(&pp, &binding).await.unwrap();
    let reports: Api<kube::api::DynamicObject> =
        Api::namespaced_with(member_of(&s.env, &writer), &s.a_ns, &ar);
    // Once RBAC grants the group its role, the admission policy is what refuses.
    let refused = s
        .env
        .eventually("RBAC grants the report writer its role", || async {
            match reports
                .delete("conplus-conformance", &DeleteParams::default())
                .await
            {
                // RBAC's refusal, until the binding takes effect.
                Err(kube::Error::Api(e))
                    if e.code == 403 && !e.message.contains("ValidatingAdmissionPolicy") =>
                {
                    None
                }
                other => Some(other),
            }
        })
        .await;
    let onboarding = format!("for the onboarding {}", s.a);
    assert_refused_by_policy(
        refused,
        "owned-objects",
        &[
            &onboarding,
            "only the operator deletes it",
            "conformance findings",
        ],
        "a report writer deleting the operator's PolicyReport",
    );
    let emptied = Patch::Merge(json!({"results": [], "summary": {"fail": 0}}));
    assert_refused_by_policy(
        reports
            .patch("conplus-conformance", &PatchParams::default(), &emptied)
            .await,
        "owned-objects",
        &[&onboarding, "only the operator changes it"],
        "a report writer emptying the operator's PolicyReport",
    );
    assert!(
        as_admin
            .get_opt("conplus-conformance")
            .await
            .unwrap()
            .is_some(),
        "the operator's PolicyReport is still there"
    );
}
