//! The Helm chart installed, upgraded and uninstalled with a real `helm` against the API server
//! (the sandbox, and kube-apiserver with `CONPLUS_TEST_CLUSTER=control-plane`), on a cluster
//! that already has the operator's CRDs, as after `conplus-operator crd | kubectl apply`.
//!
//! The chart's PolicyReport CRD is a Helm `lookup`: `helm template` cannot exercise it, only a
//! release against a server can. The release leaves out the admission policies, which would
//! apply to every test sharing the control plane.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams};
use support::{Env, tool};

const POLICYREPORT_CRD: &str = "policyreports.wgpolicyk8s.io";

/// Runs `helm` against the test's cluster with its own cache and config directories; the
/// output, or a panic with it when helm fails.
async fn helm(kubeconfig: &Path, home: &Path, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(tool("helm"));
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    let what = args.join(" ");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| {
            panic!("helm {what}: {e} (helm comes from .ci/install-tools.sh into .ci/tools/bin)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "helm {what} failed:\n{text}");
    text
}

fn chart() -> String {
    support::root()
        .join("charts/conplus-operator")
        .display()
        .to_string()
}

/// Installs (or upgrades) `release` into `ns` without the admission policies.
async fn install(env: &Env, home: &Path, verb: &str, release: &str, ns: &str) {
    let chart = chart();
    let mut args = vec![verb, release, chart.as_str(), "-n", ns];
    if verb == "install" {
        args.push("--create-namespace");
    }
    args.extend(["--set", "admission.enabled=false"]);
    helm(&env.cluster.kubeconfig, home, &args).await;
}

/// Whether the release's manifest holds the PolicyReport CRD.
async fn manifest_has_policyreport_crd(env: &Env, home: &Path, release: &str, ns: &str) -> bool {
    helm(
        &env.cluster.kubeconfig,
        home,
        &["get", "manifest", release, "-n", ns],
    )
    .await
    .contains(&format!("name: {POLICYREPORT_CRD}"))
}

fn annotations(crd: &CustomResourceDefinition) -> BTreeMap<String, String> {
    crd.metadata.annotations.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_installs_upgrades_and_uninstalls_the_chart_keeping_its_policyreport_crd_and_leaving_another_owners_alone()
 {
    let env = Env::without_controller().await;
    let home = tempfile::tempdir().unwrap();
    let crds: Api<CustomResourceDefinition> = env.api();
    let roles: Api<ClusterRole> = env.api();
    let first = env.name("cp");
    let second = env.name("cp2");
    let (first_ns, second_ns) = (env.name("helm"), env.name("helm2"));

    let installed_first = crds.get_opt(POLICYREPORT_CRD).await.unwrap().is_none();
    if installed_first {
        // No PolicyReport CRD yet (a fresh sandbox): the release installs it and keeps it its own
        // across upgrades, which `lookup` tells by the release annotation.
        install(&env, home.path(), "install", &first, &first_ns).await;
        let crd = crds.get(POLICYREPORT_CRD).await.unwrap();
        assert_eq!(
            annotations(&crd)
                .get("meta.helm.sh/release-name")
                .map(String::as_str),
            Some(first.as_str()),
            "the release owns the CRD it installed"
        );
        assert!(manifest_has_policyreport_crd(&env, home.path(), &first, &first_ns).await);
        install(&env, home.path(), "upgrade", &first, &first_ns).await;
        assert!(
            manifest_has_policyreport_crd(&env, home.path(), &first, &first_ns).await,
            "an upgrade keeps rendering the CRD the release installed"
        );
    } else {
        eprintln!("the cluster has a PolicyReport CRD already: only another owner's case is run");
    }

    // The CRD now belongs to someone else (another release, Kyverno, Policy Reporter): a second
    // release installs without it. Adopting it would fail with Helm's ownership error.
    let before = annotations(&crds.get(POLICYREPORT_CRD).await.unwrap());
    install(&env, home.path(), "install", &second, &second_ns).await;
    assert!(
        !manifest_has_policyreport_crd(&env, home.path(), &second, &second_ns).await,
        "the release leaves the other owner's CRD out"
    );
    assert_eq!(
        annotations(&crds.get(POLICYREPORT_CRD).await.unwrap()),
        before,
        "the other owner's CRD is untouched"
    );
    let second_role = format!("{second}-conplus-operator");
    assert!(roles.get_opt(&second_role).await.unwrap().is_some());

    helm(
        &env.cluster.kubeconfig,
        home.path(),
        &["uninstall", &second, "-n", &second_ns],
    )
    .await;
    assert!(
        roles.get_opt(&second_role).await.unwrap().is_none(),
        "uninstall removes the release's cluster-scoped objects"
    );
    if installed_first {
        helm(
            &env.cluster.kubeconfig,
            home.path(),
            &["uninstall", &first, "-n", &first_ns],
        )
        .await;
    }
    assert!(
        crds.get_opt(POLICYREPORT_CRD).await.unwrap().is_some(),
        "the PolicyReport CRD outlives every release (helm.sh/resource-policy: keep): deleting it would delete every report"
    );
    let namespaces: Api<Namespace> = env.api();
    for ns in [&first_ns, &second_ns] {
        let _ = namespaces.delete(ns, &DeleteParams::default()).await;
    }
}
