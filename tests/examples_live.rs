//! The operator as a user runs it: the built `conplus-operator run --kubeconfig` against the
//! cluster of `CONPLUS_TEST_CLUSTER`, `examples/` applied with kubectl. On the real control plane
//! this is the proof that counts: the server reports its real version, every example onboarding
//! becomes Ready, and deleting a `deletionPolicy: Delete` onboarding really terminates its
//! namespaces (the namespace controller of kube-controller-manager empties and removes them).
//! There the operator runs as the ServiceAccount of `deploy/base`, with exactly the RBAC that
//! the kustomize base and the chart grant it, under the admission policies of `deploy/admission`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::{Child, Command, Stdio};

use conplus_operator::api::{DeletionPolicy, FachverfahrenOnboarding};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams};
use support::*;

/// The operator binary, stopped when dropped.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_operator(env: &Env, kubeconfig: &std::path::Path) -> Operator {
    let child = Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
        .arg("run")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--selector", &env.selector()])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the conplus-operator binary runs");
    Operator(child)
}

fn kubectl(env: &Env, args: &[&str]) -> String {
    let out = env
        .cluster
        .kubectl()
        .args(args)
        .output()
        .expect("kubectl runs (.ci/install-tools.sh installs it)");
    assert!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A copy of the cluster's kubeconfig whose user acts as the operator's ServiceAccount ([`OPERATOR_USER`] of
/// `deploy/base`, and of the chart installed as `conplus-operator` into `conplus-system`; `as`, `as-groups`: what
/// `kubectl --as` sends), written into `dir`.
fn kubeconfig_as_operator(env: &Env, dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&env.cluster.kubeconfig).unwrap();
    let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    for user in config["users"].as_array_mut().unwrap() {
        user["user"]["as"] = OPERATOR_USER.into();
        user["user"]["as-groups"] = serde_json::json!(OPERATOR_GROUPS);
    }
    let path = dir.join("operator.kubeconfig");
    std::fs::write(&path, serde_saphyr::to_string(&config).unwrap()).unwrap();
    path
}

/// The Kubernetes release that tests/control-plane pins (`v1.35.4`).
fn pinned_release() -> String {
    let go_mod = std::fs::read_to_string(root().join("tests/control-plane/go.mod")).unwrap();
    go_mod
        .lines()
        .find_map(|l| l.trim().strip_prefix("k8s.io/kubernetes "))
        .expect("go.mod requires k8s.io/kubernetes")
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_become_ready_under_the_operator_binary_and_delete_policy_terminates_namespaces() {
    if Backend::current() == Backend::External {
        println!("skipped on external: the examples have fixed names that a real cluster may use");
        return;
    }
    let env = Env::without_controller().await;
    if env.backend() == Backend::ControlPlane {
        let version: serde_json::Value =
            serde_json::from_str(&kubectl(&env, &["get", "--raw", "/version"])).unwrap();
        assert_eq!(
            version["gitVersion"],
            pinned_release(),
            "the control plane reports the release it was built from"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = if env.backend() == Backend::ControlPlane {
        // The RBAC of deploy/base, and the operator acting as its ServiceAccount: a missing
        // permission shows here as an onboarding that never becomes Ready. The admission
        // policies of deploy/admission are in force too and must let the operator through.
        for dir in ["deploy/base", "deploy/admission"] {
            let dir = root().join(dir);
            kubectl(
                &env,
                &["apply", "--server-side", "-k", dir.to_str().unwrap()],
            );
        }
        kubeconfig_as_operator(&env, dir.path())
    } else {
        env.cluster.kubeconfig.clone()
    };
    // The examples' namespaces have fixed names: one a failed earlier run left behind (released, with
    // what the operator of that run left in it) goes first.
    let documents =
        conplus_operator::cli::manifests::read_documents(&root().join("examples")).unwrap();
    for d in documents {
        if d.value["kind"] != "FachverfahrenOnboarding" {
            continue;
        }
        let fvo: FachverfahrenOnboarding = serde_json::from_value(d.value).unwrap();
        for e in &fvo.spec.environments {
            let ns = conplus_operator::resources::namespace_name(&fvo.spec, &e.name);
            let _ = env
                .api::<Namespace>()
                .delete(&ns, &DeleteParams::default())
                .await;
            env.wait_gone::<Namespace>(&ns).await;
        }
    }
    let _operator = run_operator(&env, &kubeconfig);
    let examples = root().join("examples");
    let examples = examples.to_str().unwrap();
    kubectl(&env, &["apply", "--server-side", "-R", "-f", examples]);
    // The operator started with --selector sees only what carries the test's label.
    kubectl(
        &env,
        &[
            "label",
            "--overwrite",
            "-R",
            "-f",
            examples,
            &env.selector(),
        ],
    );
    let onboardings = names(
        &env.api::<FachverfahrenOnboarding>(),
        &ListParams::default().labels(&env.selector()),
    )
    .await;
    assert!(!onboardings.is_empty(), "examples/ holds onboardings");
    let mut example_namespaces = Vec::new();
    for name in &onboardings {
        let fvo = env.wait_fvo(name, "Ready", is_ready).await;
        example_namespaces.extend(fvo.status.unwrap().namespaces.into_iter().map(|n| n.name));
        // Its reader ClusterRole and binding: the operator's RBAC suffices to create them without
        // `bind` or `escalate` (kube-apiserver checks that it holds what the role grants).
        env.wait_fvo(name, "ReadAccessGranted", |o| {
            condition(o, "ReadAccessGranted").is_some_and(|c| c.status == "True")
        })
        .await;
    }
    // And the PolicyReports of the namespaces (the tests install the CRD).
    let gvk = kube::api::GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "policyreports");
    for ns in &example_namespaces {
        let reports: Api<kube::api::DynamicObject> =
            Api::namespaced_with(env.client.clone(), ns, &ar);
        env.eventually(&format!("the PolicyReport of {ns}"), || {
            let reports = reports.clone();
            async move { reports.get_opt("conplus-conformance").await.ok().flatten() }
        })
        .await;
    }

    // An onboarding with deletionPolicy Delete: its namespaces are really gone once it is.
    let ressort_name = env.name("ml");
    let name = env.name("ml-agrar");
    env.apply(&ressort(&ressort_name, "8")).await;
    let mut fvo = onboarding(&name, &ressort_name, "agrar", &["dev", "prod"], "1");
    fvo.spec.deletion_policy = DeletionPolicy::Delete;
    env.apply(&fvo).await;
    env.wait_fvo(&name, "Ready", is_ready).await;
    // A key another manager adds to the operator's quota is taken out again, which the repair does
    // with a replace: under the operator's own RBAC on the control plane.
    let ns = format!("{ressort_name}-agrar-prod");
    let quotas = env.ns_api::<k8s_openapi::api::core::v1::ResourceQuota>(&ns);
    quotas
        .patch(
            "conplus-quota",
            &kube::api::PatchParams {
                field_manager: Some("kubectl-patch".into()),
                ..Default::default()
            },
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"hard": {"count/secrets": "5"}}})),
        )
        .await
        .unwrap();
    env.eventually("the added quota key removed by the operator", || async {
        let q = quotas.get("conplus-quota").await.ok()?;
        let hard = q.spec?.hard?;
        (!hard.contains_key("count/secrets")).then_some(())
    })
    .await;
    env.wait_fvo(&name, "DriftRepaired", |o| {
        condition(o, "DriftRepaired").is_some_and(|c| c.status == "True")
    })
    .await;
    env.delete_fvo(&name).await;
    for environment in ["dev", "prod"] {
        env.wait_gone::<Namespace>(&format!("{ressort_name}-agrar-{environment}"))
            .await;
    }
    env.wait_gone::<FachverfahrenOnboarding>(&name).await;

    // An example with deletionPolicy Retain, deleted while the operator runs: its namespaces stay,
    // released, and the operator's PolicyReports in them go, under the operator's own RBAC and with
    // the admission policies in force on the control plane.
    let retained = onboardings
        .iter()
        .find(|n| n.contains("moin-schule"))
        .expect("examples/moin-schule.yaml");
    let kept: Vec<String> = env
        .api::<FachverfahrenOnboarding>()
        .get(retained)
        .await
        .unwrap()
        .status
        .unwrap()
        .namespaces
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert!(!kept.is_empty());
    env.delete_fvo(retained).await;
    env.wait_gone::<FachverfahrenOnboarding>(retained).await;
    for ns in &kept {
        let namespace = env.api::<Namespace>().get(ns).await.unwrap();
        assert!(
            namespace.metadata.deletion_timestamp.is_none(),
            "Retain keeps {ns}"
        );
        let reports: Api<kube::api::DynamicObject> =
            Api::namespaced_with(env.client.clone(), ns, &ar);
        assert!(
            reports
                .get_opt("conplus-conformance")
                .await
                .unwrap()
                .is_none(),
            "the released {ns} keeps no PolicyReport of the operator"
        );
    }

    // The examples keep their names on every run: remove their namespaces too (Retain keeps
    // them when the onboarding goes, which the harness's clean-up does).
    for ns in example_namespaces {
        let _ = env
            .api::<Namespace>()
            .delete(&ns, &DeleteParams::default())
            .await;
    }
}
