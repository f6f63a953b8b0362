//! `kubectl conplus` as a Ressort team runs it: the built binary linked as `kubectl-conplus` into a folder on
//! the PATH, called through the real kubectl (which finds plugins on the PATH and passes every argument on),
//! against the cluster of `CONPLUS_TEST_CLUSTER` with the controller running. And `check --format
//! policyreport`, whose counts must agree with the JSON report of the same input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use conplus_operator::api::Phase;
use support::*;

/// A folder holding `kubectl-conplus`, a link to the built binary.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_conplus-operator"),
        dir.path().join("kubectl-conplus"),
    )
    .unwrap();
    dir
}

/// `kubectl conplus ARGS --kubeconfig K`, with the plugin folder first on the PATH: (exit code, stdout, stderr).
async fn kubectl_conplus(dir: &Path, kubeconfig: &Path, args: &[&str]) -> (i32, String, String) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths: Vec<PathBuf> = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = Command::new(tool("kubectl"));
    cmd.arg("conplus")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env_remove("NO_COLOR");
    // Off the test's runtime: the sandbox answers on it, and a blocking wait here would stall it.
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

#[tokio::test]
async fn kubectl_conplus_status_and_why_name_the_budget_that_blocks_an_onboarding() {
    let env = Env::start().await;
    let r = env.name("mk");
    env.apply(&ressort(&r, "1")).await;
    let name = env.name("big");
    env.apply(&onboarding(&name, &r, "plugin", &["dev"], "4"))
        .await;
    env.wait_fvo(&name, "Blocked by the budget", |o| {
        o.status.as_ref().and_then(|s| s.phase) == Some(Phase::Blocked)
    })
    .await;
    let dir = plugin_dir();
    let kubeconfig = &env.cluster.kubeconfig;

    let (code, out, err) = kubectl_conplus(dir.path(), kubeconfig, &["status", &name]).await;
    assert_eq!(code, 0, "{out}{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_default();
    assert!(
        row.contains("Blocked") && row.contains("BudgetExceeded") && row.contains("0/1"),
        "{out}"
    );
    // Not a terminal: no colour codes.
    assert!(!out.contains('\u{1b}'), "{out}");

    let (code, out, err) = kubectl_conplus(dir.path(), kubeconfig, &["why", &name]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("BudgetAvailable is False: BudgetExceeded"),
        "{out}"
    );
    assert!(out.contains("next: lower the quotas"), "{out}");

    let (code, out, err) = kubectl_conplus(
        dir.path(),
        kubeconfig,
        &["status", &name, "--wait", "--timeout-seconds", "1"],
    )
    .await;
    assert_eq!(
        code, 1,
        "a blocked onboarding is not Ready after --wait: {out}{err}"
    );
    assert!(
        out.contains("Blocked, 0/1 environments ready — BudgetExceeded"),
        "{out}"
    );
    assert!(
        err.contains(&format!("kubectl conplus why {name}")),
        "{err}"
    );
}

#[tokio::test]
async fn kubectl_conplus_says_plainly_when_an_onboarding_does_not_exist() {
    let env = Env::without_controller().await;
    let dir = plugin_dir();
    let missing = env.name("nowhere");
    let (code, _, err) =
        kubectl_conplus(dir.path(), &env.cluster.kubeconfig, &["why", &missing]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("FachverfahrenOnboarding {missing} does not exist")),
        "{err}"
    );
}

fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
        .arg("check")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_format_policyreport_counts_agree_with_the_json_report() {
    let input = "tests/fixtures/conformance/bad";
    let (code, json) = check(&["--format", "json", "--namespace-rules", input]);
    assert_eq!(code, 1, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (code, reports) = check(&["--format", "policyreport", "--namespace-rules", input]);
    assert_eq!(code, 1, "{reports}");
    let list: serde_json::Value = serde_json::from_str(&reports).unwrap();
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    assert!(!items.is_empty());
    let sum = |field: &str| -> u64 {
        items
            .iter()
            .map(|i| i["summary"][field].as_u64().unwrap_or(0))
            .sum()
    };
    let by = &json["summary"]["bySeverity"];
    assert_eq!(sum("fail"), by["error"].as_u64().unwrap(), "{reports}");
    assert_eq!(
        sum("warn"),
        by["warning"].as_u64().unwrap() + by["info"].as_u64().unwrap()
    );
    assert_eq!(sum("skip"), json["summary"]["silenced"].as_u64().unwrap());
    for item in items {
        assert_eq!(item["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        let kind = item["kind"].as_str().unwrap();
        assert_eq!(
            kind == "PolicyReport",
            item["metadata"]["namespace"].is_string(),
            "{item}"
        );
        for r in item["results"].as_array().unwrap() {
            assert_eq!(r["source"], "conplus-operator");
            assert!(["pass", "fail", "warn", "skip"].contains(&r["result"].as_str().unwrap()));
            assert!(r["resources"][0]["kind"].is_string(), "{r}");
        }
    }
}

/// The PolicyReport of namespace `ns`, as JSON, when there is one.
async fn policy_report(
    client: &kube::Client,
    ns: &str,
) -> Result<Option<serde_json::Value>, kube::Error> {
    let gvk = kube::api::GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "policyreports");
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(client.clone(), ns, &ar);
    Ok(api
        .get_opt("conplus-conformance")
        .await?
        .map(|o| serde_json::to_value(o).unwrap()))
}

/// Creates a privileged Deployment `portal` in `ns` (no replicas: only its template is judged).
async fn create_privileged_portal(env: &Env, ns: &str) {
    use k8s_openapi::api::apps::v1::Deployment;
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "portal", "namespace": ns},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "portal"}}, "template": {
            "metadata": {"labels": {"app": "portal"}},
            "spec": {"containers": [{"name": "app", "image": "registry.example/portal:1.0",
                "securityContext": {"privileged": true}}]}}}
    }))
    .unwrap();
    env.ns_api::<Deployment>(ns)
        .create(&Default::default(), &deployment)
        .await
        .unwrap();
}

/// The onboarding `name` and the PolicyReport of `ns` once the report's counts equal `status.conformance` (with
/// at least one error when `with_errors`): the status and the report have seen the same findings.
async fn settled_report(
    env: &Env,
    name: &str,
    ns: &str,
    with_errors: bool,
) -> (
    conplus_operator::api::FachverfahrenOnboarding,
    serde_json::Value,
) {
    let api = env.api::<conplus_operator::api::FachverfahrenOnboarding>();
    env.eventually(
        "a PolicyReport whose counts equal status.conformance",
        || {
            let (client, api) = (env.client.clone(), api.clone());
            async move {
                let o = api.get(name).await.ok()?;
                let c = o.status.as_ref()?.conformance.clone()?;
                let report = policy_report(&client, ns).await.ok()??;
                let s = &report["summary"];
                let n = |f: &str| s[f].as_i64().unwrap_or(-1);
                let agree = (!with_errors || c.errors > 0)
                    && n("fail") == i64::from(c.errors)
                    && n("warn") == i64::from(c.warnings + c.infos)
                    && n("skip") == i64::from(c.silenced);
                agree.then_some((o, report))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_onboarded_namespace_gets_a_policyreport_its_viewers_read_and_a_resync_does_not_rewrite()
 {
    use kube::ResourceExt;
    let mut env = Env::start().await;
    env.install_policyreport_viewers().await;
    let r = env.name("mu");
    env.apply(&ressort(&r, "8")).await;
    let group = format!("{}-viewers", env.tag);
    let mut fvo = onboarding(&env.name("mu-report"), &r, "report", &["dev"], "2");
    fvo.spec.access[0].group = group.clone();
    fvo.spec.access[0].role = conplus_operator::api::AccessRole::View;
    let name = fvo.name_any();
    env.apply(&fvo).await;
    env.wait_fvo(&name, "Ready", is_ready).await;
    let ns = format!("{r}-report-dev");
    create_privileged_portal(&env, &ns).await;
    // The report and the status agree once both have seen the Deployment.
    let client = env.client.clone();
    let (o, report) = settled_report(&env, &name, &ns, true).await;
    assert!(
        report["results"].as_array().unwrap().iter().any(|r| {
            r["policy"] == "privileged-container"
                && r["result"] == "fail"
                && r["resources"][0]["name"] == "portal"
        }),
        "{report:#}"
    );
    assert_eq!(
        report["metadata"]["labels"]["conplus.niedersachsen.de/onboarding"],
        name.as_str()
    );
    let errors = o.status.unwrap().conformance.unwrap().errors;

    // A viewer of the namespace reads it, and not the report of a namespace it may not view.
    let viewer = impersonating(&env.cluster, &format!("member-of-{group}"), &[&group]);
    let read = policy_report(&viewer, &ns)
        .await
        .expect("a viewer reads the report");
    assert_eq!(read.unwrap()["summary"], report["summary"]);
    let mut cmd = env.cluster.kubectl();
    cmd.args(["get", "policyreport", "-n", &ns, "--as"])
        .arg(format!("member-of-{group}"))
        .args(["--as-group", &group]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && table.contains("conplus-conformance"),
        "kubectl get policyreport as a viewer: {table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match policy_report(&viewer, "default").await {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => panic!("the report of a namespace the group may not view: {other:?}"),
    }

    // kubectl conplus findings, as the viewer, prints it.
    let dir = plugin_dir();
    let member = format!("member-of-{group}");
    let (code, out, err) = kubectl_conplus(
        dir.path(),
        &env.cluster.kubeconfig,
        &["findings", "-n", &ns, "--as", &member, "--as-group", &group],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("{ns}: {errors} fail,")),
        "the summary line with the onboarding's error count: {out}"
    );
    assert!(out.contains("FAIL privileged-container"), "{out}");
    // And sees its onboarding (the reader role), by name and as the onboarding of the namespace.
    for args in [
        vec!["status", name.as_str()],
        vec!["status", "-n", ns.as_str()],
    ] {
        let mut args = args;
        args.extend(["--as", member.as_str(), "--as-group", group.as_str()]);
        let (code, out, err) = kubectl_conplus(dir.path(), &env.cluster.kubeconfig, &args).await;
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&name) && l.contains("Ready")),
            "{args:?}: {out}"
        );
    }

    // A full resync (a restarted controller evaluates everything again) writes no report.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let before = policy_report(&client, &ns).await.unwrap().unwrap();
    let version = before["metadata"]["resourceVersion"].clone();
    let results = before["results"].clone();
    env.stop_controller().await;
    if env.cluster.sandbox.is_some() {
        env.sandbox().reset_stats();
    }
    env.start_controller();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    // The controller's requests, before this test reads the report itself.
    let log = (env.cluster.sandbox.is_some()).then(|| env.sandbox().request_log());
    let after = policy_report(&client, &ns).await.unwrap().unwrap();
    assert_eq!(
        after["results"], results,
        "the restarted controller found the same (on kube-apiserver, the objects of its initial lists carry no kind)"
    );
    assert_eq!(
        after["metadata"]["resourceVersion"], version,
        "the report was written again"
    );
    if sandbox_only(
        "sees in the request log that the report was compared from the watch, not read or written",
    ) {
        let on_reports: Vec<String> = log
            .iter()
            .flatten()
            .filter(|r| r.path.contains("/policyreports"))
            .map(|r| format!("{} {}", r.verb, r.path))
            .collect();
        assert!(
            on_reports.iter().any(|r| r.starts_with("list ")),
            "the restarted controller listed the reports: {on_reports:#?}"
        );
        assert!(
            on_reports
                .iter()
                .all(|r| r.starts_with("list ") || r.starts_with("watch ")),
            "and neither read one by name nor wrote: {on_reports:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policyreport_the_operator_did_not_write_for_the_onboarding_is_left_alone_and_an_event_names_it()
 {
    use k8s_openapi::api::events::v1::Event;
    use kube::ResourceExt;
    use kube::api::{Patch, PatchParams};
    let env = Env::start().await;
    let r = env.name("mv");
    env.apply(&ressort(&r, "8")).await;
    let fvo = onboarding(&env.name("mv-theirs"), &r, "theirs", &["dev"], "2");
    let name = fvo.name_any();
    env.apply(&fvo).await;
    env.wait_fvo(&name, "Ready", is_ready).await;
    let ns = format!("{r}-theirs-dev");
    let client = env.client.clone();
    // Settled first: a round still writing the report would put the operator's record back.
    settled_report(&env, &name, &ns, false).await;
    // Its ownership record now names another onboarding, as a report an earlier onboarding of the same
    // name left behind would.
    let gvk = kube::api::GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "policyreports");
    let reports: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(client.clone(), &ns, &ar);
    let record = serde_json::json!({"metadata": {"annotations": {
        conplus_operator::resources::ONBOARDING_UID: "4f1c0d2e-0000-4000-8000-0000000000e1"
    }}});
    let theirs = reports
        .patch(
            "conplus-conformance",
            &PatchParams::default(),
            &Patch::Merge(&record),
        )
        .await
        .unwrap();
    // New findings, which the operator would write into its own report.
    create_privileged_portal(&env, &ns).await;
    env.wait_fvo(&name, "the privileged Deployment on the status", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.conformance.as_ref())
            .is_some_and(|c| c.errors > 0)
    })
    .await;
    // Events on a cluster-scoped object are in `default`.
    let events: kube::Api<Event> = env.ns_api("default");
    let event = env
        .eventually("a Warning Event on the onboarding names the report", || {
            let (events, name) = (events.clone(), name.clone());
            async move {
                let list = events.list(&Default::default()).await.ok()?;
                list.items.into_iter().find(|e| {
                    e.reason.as_deref() == Some("PolicyReportNotOwned")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref())
                            == Some(name.as_str())
                })
            }
        })
        .await;
    let note = event.note.unwrap_or_default();
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(
        event.action.as_deref(),
        Some(format!("WritePolicyReport/{ns}").as_str()),
        "a series per namespace"
    );
    assert!(
        note.contains(&format!("{ns}/conplus-conformance")) && note.contains("status.conformance"),
        "{note}"
    );
    // The report is as it was: not written with the new findings, its record not taken over.
    let now = reports.get("conplus-conformance").await.unwrap();
    assert_eq!(now.resource_version(), theirs.resource_version());
    assert_eq!(
        now.annotations()
            .get(conplus_operator::resources::ONBOARDING_UID)
            .map(String::as_str),
        Some("4f1c0d2e-0000-4000-8000-0000000000e1")
    );
    // kubectl conplus findings shows it, and says whose it is not.
    let dir = plugin_dir();
    let (code, out, err) = kubectl_conplus(
        dir.path(),
        &env.cluster.kubeconfig,
        &["findings", "-n", &ns],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!(
            "warning: PolicyReport {ns}/conplus-conformance was not written for onboarding {name}"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_policyreport_crd_the_onboarding_is_ready_and_conformance_evaluated() {
    if !sandbox_only("removes the PolicyReport CRD, which other tests share on a real cluster") {
        return;
    }
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let mut env = Env::without_controller().await;
    env.api::<CustomResourceDefinition>()
        .delete("policyreports.wgpolicyk8s.io", &Default::default())
        .await
        .unwrap();
    env.wait_gone::<CustomResourceDefinition>("policyreports.wgpolicyk8s.io")
        .await;
    env.start_controller();
    let r = env.name("mv");
    env.apply(&ressort(&r, "8")).await;
    let name = env.name("mv-nocrd");
    env.apply(&onboarding(&name, &r, "nocrd", &["dev"], "2"))
        .await;
    env.wait_fvo(&name, "Ready and evaluated", |o| {
        is_ready(o) && o.status.as_ref().is_some_and(|s| s.conformance.is_some())
    })
    .await;
    // No failed reconcile: no Warning Event of the controller's error path (findings on workloads aside).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let events: kube::Api<k8s_openapi::api::events::v1::Event> = kube::Api::all(env.client.clone());
    let warnings: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| e.reason.as_deref() != Some("ConformanceViolation"))
        .map(|e| format!("{:?}: {:?}", e.reason, e.note))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}
