//! The IT-Grundschutz report over live objects: the onboarding of `examples/` with a compliant workload
//! passes every requirement its rules judge, each single breach fails the requirements it breaks and no
//! other, and `status.conformance.grundschutz` carries the counts of `conplus-operator grundschutz
//! --kubeconfig --onboarding` at every step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;

use conplus_operator::api::{FachverfahrenOnboarding, GrundschutzCounts, Ressort};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use support::*;

/// The example of `examples/<file>` as `T`.
fn example<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let text = std::fs::read_to_string(root().join("examples").join(file)).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// The compliant workload of `tests/fixtures/grundschutz/compliant/portal.yaml`, moved into `namespace`.
fn compliant_workload(namespace: &str) -> Vec<Value> {
    let path = root().join("tests/fixtures/grundschutz/compliant/portal.yaml");
    let inputs = conplus_operator::conformance::input::read_paths(&[path], std::io::empty());
    assert!(inputs.errors.is_empty(), "{:?}", inputs.errors);
    let mut objects: Vec<Value> = inputs.objects.into_iter().map(|o| o.value).collect();
    // The team's own policy admitting the platform's ingress controller to the portal.
    objects.push(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "portal-from-ingress"},
        "spec": {"podSelector": {"matchLabels": {"app": "portal"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                "ports": [{"port": 8080, "protocol": "TCP"}]}]}
    }));
    for o in &mut objects {
        o["metadata"]["namespace"] = namespace.into();
    }
    objects
}

/// Server-side applies `obj` as the Ressort's team does.
async fn apply(env: &Env, obj: &Value) {
    let api = dynamic(env, obj).await;
    let name = obj["metadata"]["name"].as_str().unwrap();
    api.patch(
        name,
        &PatchParams::apply("ressort-team").force(),
        &Patch::Apply(obj),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {} {name}: {e}", obj["kind"]));
}

async fn delete(env: &Env, obj: &Value) {
    let name = obj["metadata"]["name"].as_str().unwrap();
    dynamic(env, obj)
        .await
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
}

async fn dynamic(env: &Env, obj: &Value) -> Api<DynamicObject> {
    let (group, version) = obj["apiVersion"]
        .as_str()
        .unwrap()
        .rsplit_once('/')
        .unwrap_or(("", obj["apiVersion"].as_str().unwrap()));
    let gvk = GroupVersionKind::gvk(group, version, obj["kind"].as_str().unwrap());
    let (ar, _) = kube::discovery::pinned_kind(&env.client, &gvk)
        .await
        .unwrap();
    Api::namespaced_with(
        env.client.clone(),
        obj["metadata"]["namespace"].as_str().unwrap(),
        &ar,
    )
}

/// `conplus-operator grundschutz --kubeconfig K --onboarding NAME --format json`: the report and its
/// exit code.
async fn report(env: &Env, onboarding: &str) -> (Value, i32) {
    let kubeconfig = env.cluster.kubeconfig.clone();
    let onboarding = onboarding.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
            .arg("grundschutz")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--onboarding", &onboarding, "--format", "json"])
            .env_remove("CONPLUS_DEFAULT_PROFILE")
            .env_remove("CONPLUS_ALLOWED_REGISTRIES")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "grundschutz --kubeconfig exited {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).unwrap(), code)
}

fn with(report: &Value, outcome: &str) -> BTreeSet<String> {
    report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == outcome)
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn counts_of(report: &Value) -> GrundschutzCounts {
    let all = &report["totals"]["all"];
    let n = |k: &str| all[k].as_i64().unwrap() as i32;
    GrundschutzCounts {
        passed: n("pass"),
        failed: n("fail"),
        not_evaluated: n("notEvaluated"),
        organisational_open: n("organisational"),
    }
}

/// Waits until the report fails exactly `failed` and the onboarding's status carries its counts.
async fn settled(env: &Env, onboarding: &str, failed: &[&str]) -> Value {
    let want: BTreeSet<String> = failed.iter().map(|s| s.to_string()).collect();
    let fvos: Api<FachverfahrenOnboarding> = env.api();
    let patience = env.backend().patience();
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let (r, code) = report(env, onboarding).await;
        let status = fvos
            .get(onboarding)
            .await
            .unwrap()
            .status
            .and_then(|s| s.conformance)
            .and_then(|c| c.grundschutz);
        let fails = with(&r, "fail");
        if fails == want && status.as_ref() == Some(&counts_of(&r)) {
            assert_eq!(code, i32::from(!want.is_empty()), "exit code");
            return r;
        }
        let last = format!(
            "failed {fails:?} (want {want:?}); report counts {:?}, status {status:?}",
            counts_of(&r)
        );
        if tokio::time::Instant::now() > deadline {
            panic!("not settled within {patience:?}: {last}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_with_a_compliant_workload_passes_each_breach_fails_its_requirements_and_the_status_counts_match_the_report()
 {
    let env = Env::start().await;
    let mut ressort: Ressort = example("ressort-mk.yaml");
    let ressort_name = env.name("mk");
    ressort.metadata.name = Some(ressort_name.clone());
    env.apply(&ressort).await;
    let mut fvo: FachverfahrenOnboarding = example("moin-schule.yaml");
    let name = env.name("mk-moin-schule");
    fvo.metadata.name = Some(name.clone());
    fvo.spec.ressort = ressort_name.clone();
    env.apply(&fvo).await;
    let ready = env
        .wait_fvo(&name, "Ready with its Grundschutz counts", |o| {
            is_ready(o)
                && o.status
                    .as_ref()
                    .and_then(|s| s.conformance.as_ref())
                    .is_some_and(|c| c.grundschutz.is_some())
        })
        .await;
    let prod = format!("{ressort_name}-moin-schule-prod");
    assert!(
        ready
            .status
            .unwrap()
            .namespaces
            .iter()
            .any(|n| n.name == prod)
    );

    // The operator placed the namespaces on the Ressort's node pool (APP.4.4.A14).
    let ns = env
        .api::<k8s_openapi::api::core::v1::Namespace>()
        .get(&prod)
        .await
        .unwrap();
    let annotations = ns.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("scheduler.alpha.kubernetes.io/node-selector")
            .map(String::as_str),
        Some("conplus.niedersachsen.de/node-pool=mk")
    );

    let workload = compliant_workload(&prod);
    for o in &workload {
        apply(&env, o).await;
    }
    let compliant = settled(&env, &name, &[]).await;
    let passed = with(&compliant, "pass");
    let not_evaluated = with(&compliant, "not evaluated");
    // At protection level high every requirement with rules passes, but those whose rules the profile
    // leaves to veryHigh (SYS.1.6.A26) and the pod age where no Pod runs (APP.4.4.A21).
    let with_rules: BTreeSet<String> = conplus_operator::conformance::grundschutz::CATALOGUE
        .iter()
        .filter(|r| !r.rules().is_empty())
        .map(|r| r.id.to_owned())
        .collect();
    let allowed_open: BTreeSet<String> = ["APP.4.4.A21", "SYS.1.6.A26"]
        .into_iter()
        .map(String::from)
        .collect();
    let open: BTreeSet<String> = with_rules.difference(&passed).cloned().collect();
    assert!(
        open.is_subset(&allowed_open) && not_evaluated.is_superset(&open),
        "not passed: {open:?}\n{compliant:#}"
    );

    let deployment = workload
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap()
        .clone();
    let breach = |f: &dyn Fn(&mut Value)| {
        let mut d = deployment.clone();
        f(&mut d);
        d
    };
    // kube-apiserver refuses `privileged` without privilege escalation: both together.
    let privileged = breach(&|d| {
        let sc = &mut d["spec"]["template"]["spec"]["containers"][0]["securityContext"];
        sc["privileged"] = json!(true);
        sc["allowPrivilegeEscalation"] = json!(true);
    });
    apply(&env, &privileged).await;
    settled(&env, &name, &["APP.4.4.A4", "SYS.1.6.A17"]).await;

    let other_pool = breach(&|d| {
        d["spec"]["template"]["spec"]["nodeSelector"]["conplus.niedersachsen.de/node-pool"] =
            json!("mf")
    });
    apply(&env, &other_pool).await;
    settled(&env, &name, &["APP.4.4.A14"]).await;

    let undeclared_claim = breach(&|d| {
        d["spec"]["template"]["spec"]["volumes"][1]["persistentVolumeClaim"]["claimName"] =
            json!("someone-elses-data")
    });
    apply(&env, &undeclared_claim).await;
    settled(&env, &name, &["SYS.1.6.A19"]).await;
    apply(&env, &deployment).await;
    settled(&env, &name, &[]).await;

    let from_elsewhere = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "portal-from-steuer", "namespace": prod},
        "spec": {"podSelector": {"matchLabels": {"app": "portal"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mf-steuer-prod"}}}]}]}
    });
    apply(&env, &from_elsewhere).await;
    settled(&env, &name, &["APP.4.4.A7"]).await;
    delete(&env, &from_elsewhere).await;
    let single = settled(&env, &name, &[]).await;

    // Without --onboarding: one report per onboarding of the cluster, this one among them alike.
    let kubeconfig = env.cluster.kubeconfig.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
            .arg("grundschutz")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--format", "json"])
            .env_remove("CONPLUS_DEFAULT_PROFILE")
            .env_remove("CONPLUS_ALLOWED_REGISTRIES")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["onboarding"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} not in {all:#}"));
    assert_eq!(ours["totals"], single["totals"]);
    assert_eq!(ours["requirements"], single["requirements"]);
}
