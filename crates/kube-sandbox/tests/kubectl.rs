//! The sandbox driven by a real kubectl (1.35): server-side apply, get, wait, delete,
//! validation errors and printer columns. kubectl is `$KUBECTL`, else `.ci/tools/bin/kubectl`
//! (`.ci/install-tools.sh` installs it and helm; CI always does). Without it the tests fail,
//! unless `KUBE_SANDBOX_SKIP_KUBECTL_TESTS=1` says to skip them (they then pass with a message).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::*;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// Set to `1` to skip the tests that need kubectl or helm when those are not installed.
const SKIP_VAR: &str = "KUBE_SANDBOX_SKIP_KUBECTL_TESTS";

/// `path` when the tool `name` is there; when not, `None` (the test skips) if the opt-out is
/// set, else the test fails saying how to install it.
fn tool(name: &str, path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: no {name} at {} ({SKIP_VAR}=1)", path.display());
        return None;
    }
    panic!(
        "no {name} at {}: run .ci/install-tools.sh (installs kubectl and helm into \
         .ci/tools/bin), or set KUBECTL to a kubectl binary, or set {SKIP_VAR}=1 to skip the \
         kubectl-driven tests",
        path.display()
    );
}

fn kubectl_path() -> Option<PathBuf> {
    let p = match std::env::var("KUBECTL") {
        Ok(p) => PathBuf::from(p),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/tools/bin/kubectl"),
    };
    tool("kubectl", p)
}

/// A sandbox with a kubeconfig on disk and a kubectl to drive it.
struct Kubectl {
    bin: PathBuf,
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
}

impl Kubectl {
    async fn start() -> Option<Self> {
        let bin = kubectl_path()?;
        let dir = tempfile::tempdir().unwrap();
        let config = SandboxConfig {
            kubeconfig: Some(dir.path().join("kubeconfig")),
            ..Default::default()
        };
        let sandbox = Sandbox::start(config).await.unwrap();
        Some(Self {
            bin,
            sandbox,
            _dir: dir,
        })
    }

    /// Runs kubectl with `args` (and `stdin`), off the async runtime.
    async fn run(&self, args: &[&str], stdin: Option<String>) -> Output {
        self.run_tool(&self.bin, args, stdin).await
    }

    /// Runs `bin` (kubectl or helm) with `--kubeconfig` of the sandbox, `args` and `stdin`, off
    /// the async runtime; helm's caches and configuration stay in the test's folder.
    async fn run_tool(
        &self,
        bin: &std::path::Path,
        args: &[&str],
        stdin: Option<String>,
    ) -> Output {
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("--kubeconfig")
            .arg(self.sandbox.kubeconfig_path().unwrap())
            .args(args);
        for var in ["HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"] {
            cmd.env(var, self._dir.path().join(var));
        }
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            if let Some(input) = stdin {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
            }
            drop(child.stdin.take());
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }

    /// Runs kubectl, asserting success and a clean stderr; returns stdout.
    async fn ok(&self, args: &[&str], stdin: Option<String>) -> String {
        let out = self.run(args, stdin).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{stdout}\n{stderr}"
        );
        assert!(
            stderr.trim().is_empty(),
            "kubectl {args:?} wrote to stderr:\n{stderr}"
        );
        stdout
    }
}

impl Kubectl {
    /// `kubectl get RESOURCE --field-selector SELECTOR -o name`, trimmed.
    async fn names_selected(&self, resource: &str, selector: &str) -> String {
        self.ok(
            &["get", resource, "--field-selector", selector, "-o", "name"],
            None,
        )
        .await
        .trim()
        .to_string()
    }
}

fn helm_path() -> Option<PathBuf> {
    tool(
        "helm",
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/tools/bin/helm"),
    )
}

fn yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap()
}

async fn with_crd(k: &Kubectl) {
    let out = k
        .ok(
            &["apply", "--server-side", "-f", "-"],
            Some(yaml(&widget_crd())),
        )
        .await;
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com serverside-applied"
    );
}

#[tokio::test]
async fn kubectl_server_side_applies_a_crd_and_a_custom_resource_and_gets_it_as_json() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    with_crd(&k).await;
    let out = k
        .ok(
            &["apply", "--server-side", "-f", "-"],
            Some(yaml(&widget("w1", 3))),
        )
        .await;
    assert_eq!(out.trim(), "widget.example.com/w1 serverside-applied");
    let json_out = k.ok(&["get", "widget", "w1", "-o", "json"], None).await;
    let obj: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(obj["spec"]["size"], 3);
    assert_eq!(obj["spec"]["color"], "red", "schema default applied");
    assert_eq!(obj["metadata"]["namespace"], "default");
    // Re-applying changes the field, kubectl's manager owns it.
    let mut changed = widget("w1", 4);
    changed["metadata"]["labels"] = json!({"tier": "x"});
    k.ok(&["apply", "--server-side", "-f", "-"], Some(yaml(&changed)))
        .await;
    let size = k
        .ok(&["get", "wd", "w1", "-o", "jsonpath={.spec.size}"], None)
        .await;
    assert_eq!(size, "4");
    let managers = k
        .ok(
            &[
                "get",
                "wd",
                "w1",
                "--show-managed-fields",
                "-o",
                "jsonpath={.metadata.managedFields[*].manager}",
            ],
            None,
        )
        .await;
    assert_eq!(managers, "kubectl");
}

#[tokio::test]
async fn kubectl_wait_for_condition_ready_returns_once_the_status_is_set() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    with_crd(&k).await;
    k.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(yaml(&widget("w1", 3))),
    )
    .await;
    let client = client_for(&k.sandbox);
    let setter = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
        let api: Api<DynamicObject> = Api::namespaced_with(
            client,
            "default",
            &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
        );
        let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Done", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
        api.patch_status("w1", &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
    });
    let out = k
        .ok(
            &[
                "wait",
                "--for=condition=Ready",
                "widget/w1",
                "--timeout=30s",
            ],
            None,
        )
        .await;
    assert_eq!(out.trim(), "widget.example.com/w1 condition met");
    setter.await.unwrap();
}

#[tokio::test]
async fn kubectl_delete_removes_the_custom_resource() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    with_crd(&k).await;
    k.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(yaml(&widget("w1", 3))),
    )
    .await;
    let out = k.ok(&["delete", "widget", "w1"], None).await;
    assert!(
        out.starts_with("widget.example.com \"w1\" deleted"),
        "{out}"
    );
    let out = k.run(&["get", "widget", "w1"], None).await;
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error from server (NotFound): widgets.example.com \"w1\" not found"
    );
}

#[tokio::test]
async fn kubectl_reports_an_invalid_custom_resource_naming_the_field() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    with_crd(&k).await;
    let out = k
        .run(
            &["apply", "--server-side", "-f", "-"],
            Some(yaml(&widget("bad", 30))),
        )
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("The Widget \"bad\" is invalid: spec.size: Invalid value: 30"),
        "{stderr}"
    );
    let mut unknown = widget("strict", 3);
    unknown["spec"]["bogus"] = json!(1);
    let out = k
        .run(&["apply", "--server-side", "-f", "-"], Some(yaml(&unknown)))
        .await;
    assert!(
        !out.status.success(),
        "kubectl validates strictly by default"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field \"spec.bogus\""));
}

#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    with_crd(&k).await;
    k.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(yaml(&widget("w1", 3))),
    )
    .await;
    let out = k.ok(&["get", "widgets"], None).await;
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "SIZE", "PHASE", "READY", "AGE"]);
    assert_eq!(&lines[1][..2], ["w1", "3"]);
}

#[tokio::test]
async fn kubectl_client_side_apply_get_and_delete_of_built_ins_work_without_warnings() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"k": "v"}});
    assert_eq!(
        k.ok(&["apply", "-f", "-"], Some(yaml(&cm))).await.trim(),
        "configmap/c1 created"
    );
    assert_eq!(
        k.ok(&["apply", "-f", "-"], Some(yaml(&cm))).await.trim(),
        "configmap/c1 unchanged"
    );
    let mut changed = cm.clone();
    changed["data"]["k"] = json!("v2");
    assert_eq!(
        k.ok(&["apply", "-f", "-"], Some(yaml(&changed)))
            .await
            .trim(),
        "configmap/c1 configured"
    );
    assert_eq!(
        k.ok(&["get", "cm", "c1", "-o", "jsonpath={.data.k}"], None)
            .await,
        "v2"
    );
    let ns = k.ok(&["get", "namespaces", "-o", "name"], None).await;
    assert_eq!(
        ns.lines().collect::<Vec<_>>(),
        [
            "namespace/default",
            "namespace/kube-node-lease",
            "namespace/kube-public",
            "namespace/kube-system"
        ]
    );
    assert!(k.ok(&["api-resources"], None).await.contains("deployments"));
    assert!(
        k.ok(&["delete", "cm", "c1"], None)
            .await
            .starts_with("configmap \"c1\" deleted")
    );
}

#[tokio::test]
async fn kubectl_create_namespace_configmap_and_secret_send_protobuf_that_is_decoded() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    assert_eq!(
        k.ok(&["create", "namespace", "team-a"], None).await.trim(),
        "namespace/team-a created"
    );
    k.ok(
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "--from-literal=mode=fast",
        ],
        None,
    )
    .await;
    k.ok(
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "team-a",
            "--from-literal=password=hunter2",
        ],
        None,
    )
    .await;
    let cm: Value = serde_json::from_str(
        &k.ok(
            &["get", "cm", "settings", "-n", "team-a", "-o", "json"],
            None,
        )
        .await,
    )
    .unwrap();
    assert_eq!(cm["data"], json!({"mode": "fast"}));
    assert!(cm["metadata"].get("generateName").is_none());
    let pw = k
        .ok(
            &[
                "get",
                "secret",
                "creds",
                "-n",
                "team-a",
                "-o",
                "jsonpath={.data.password}",
            ],
            None,
        )
        .await;
    assert_eq!(pw, "aHVudGVyMg==");
    // The namespace got its default ServiceAccount; deleting it empties and removes it.
    k.ok(&["get", "serviceaccount", "default", "-n", "team-a"], None)
        .await;
    k.ok(&["delete", "namespace", "team-a", "--timeout=20s"], None)
        .await;
    let out = k.run(&["get", "namespace", "team-a"], None).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn helm_installs_and_uninstalls_a_chart_whose_delete_options_come_as_protobuf() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    let Some(helm) = helm_path() else {
        return;
    };
    let chart = k._dir.path().join("tiny");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: tiny\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tiny-settings\ndata:\n  mode: fast\n",
    )
    .unwrap();
    let chart = chart.to_string_lossy().to_string();
    let out = k
        .run_tool(
            &helm,
            &["install", "tiny", &chart, "--wait", "--timeout", "30s"],
            None,
        )
        .await;
    assert!(
        out.status.success(),
        "helm install failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    k.ok(&["get", "cm", "tiny-settings"], None).await;
    let out = k.run_tool(&helm, &["uninstall", "tiny"], None).await;
    assert!(
        out.status.success(),
        "helm uninstall failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !k.run(&["get", "cm", "tiny-settings"], None)
            .await
            .status
            .success()
    );
    let releases = k
        .ok(&["get", "secrets", "-l", "owner=helm", "-o", "name"], None)
        .await;
    assert_eq!(releases.trim(), "", "the release record is gone");
}

/// The Widget CRD with `spec.color` selectable and documented fields.
fn selectable_widget_crd() -> Value {
    let mut crd = widget_crd();
    crd["spec"]["versions"][0]["selectableFields"] = json!([{"jsonPath": ".spec.color"}]);
    let spec = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    spec["description"] = json!("What the widget should be.");
    spec["properties"]["size"]["description"] = json!("How many parts the widget has.");
    crd
}

async fn with_selectable_crd(k: &Kubectl) {
    k.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(yaml(&selectable_widget_crd())),
    )
    .await;
}

#[tokio::test]
async fn kubectl_get_selects_custom_resources_by_a_selectable_field() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    with_selectable_crd(&k).await;
    let mut blue = widget("blue-one", 2);
    blue["spec"]["color"] = json!("blue");
    for w in [widget("red-one", 1), blue] {
        k.ok(&["apply", "--server-side", "-f", "-"], Some(yaml(&w)))
            .await;
    }
    let out = k.names_selected("widgets", "spec.color=blue").await;
    assert_eq!(out, "widget.example.com/blue-one");
    let out = k.names_selected("widgets", "spec.color!=blue").await;
    assert_eq!(out, "widget.example.com/red-one");
    // A field that is not selectable is refused.
    let out = k
        .run(&["get", "widgets", "--field-selector", "spec.size=1"], None)
        .await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn kubectl_explain_shows_the_fields_of_a_crds_schema() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    with_selectable_crd(&k).await;
    let out = k.ok(&["explain", "widgets.spec"], None).await;
    assert!(out.contains("What the widget should be."), "{out}");
    assert!(out.contains("size\t<integer> -required-"), "{out}");
    assert!(out.contains("How many parts the widget has."), "{out}");
    let out = k.ok(&["explain", "widgets.spec.size"], None).await;
    assert!(out.contains("FIELD: size <integer>"), "{out}");
    let out = k.run(&["explain", "widgets.spec.nope"], None).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn kubectl_get_events_and_describe_show_events_written_through_either_api() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    with_crd(&k).await;
    k.ok(
        &["apply", "--server-side", "-f", "-"],
        Some(yaml(&widget("w1", 3))),
    )
    .await;
    let uid = k
        .ok(
            &["get", "widget", "w1", "-o", "jsonpath={.metadata.uid}"],
            None,
        )
        .await;
    let regarding = json!({"apiVersion": "example.com/v1", "kind": "Widget", "name": "w1", "namespace": "default", "uid": uid});
    // events.k8s.io/v1, as kube-rs's and client-go's recorders write them.
    let new_style = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "w1.new", "namespace": "default"},
        "regarding": regarding, "reason": "Reconciled", "note": "written as events.k8s.io",
        "type": "Normal", "action": "Reconcile", "reportingController": "example.com/widget-controller",
        "reportingInstance": "widget-controller-1", "eventTime": "2026-01-01T00:00:00.000000Z",
    });
    // core/v1, as older recorders write them.
    let old_style = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "w1.old", "namespace": "default"},
        "involvedObject": regarding, "reason": "Degraded", "message": "written as core/v1",
        "type": "Warning", "source": {"component": "legacy-controller"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1,
    });
    k.ok(&["create", "-f", "-"], Some(yaml(&new_style))).await;
    k.ok(&["create", "-f", "-"], Some(yaml(&old_style))).await;
    let core: Value =
        serde_json::from_str(&k.ok(&["get", "events.v1.", "-o", "json"], None).await).unwrap();
    let names: Vec<&str> = core["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["w1.new", "w1.old"]);
    assert_eq!(core["items"][0]["message"], "written as events.k8s.io");
    assert_eq!(core["items"][0]["involvedObject"]["name"], "w1");
    let new_api: Value = serde_json::from_str(
        &k.ok(&["get", "events.v1.events.k8s.io", "-o", "json"], None)
            .await,
    )
    .unwrap();
    assert_eq!(new_api["items"][1]["note"], "written as core/v1");
    assert_eq!(new_api["items"][1]["regarding"]["name"], "w1");
    // Field selectors of either API select on the same objects.
    let by_regarding = k
        .names_selected(
            "events.v1.events.k8s.io",
            "regarding.name=w1,reason=Degraded",
        )
        .await;
    assert_eq!(by_regarding, "event.events.k8s.io/w1.old");
    let by_involved = k
        .names_selected("events.v1.", "involvedObject.kind=Widget,type=Normal")
        .await;
    assert_eq!(by_involved, "event/w1.new");
    // `kubectl get events` prints kube-apiserver's columns.
    let printed = k.ok(&["get", "events"], None).await;
    let header: Vec<&str> = printed.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert!(
        printed.contains("Warning   Degraded     widget/w1   written as core/v1"),
        "{printed}"
    );
    let described = k.ok(&["describe", "widget", "w1"], None).await;
    assert!(
        described.contains("written as events.k8s.io"),
        "{described}"
    );
    assert!(described.contains("written as core/v1"), "{described}");
    // Deleting through one API removes it from both.
    k.ok(&["delete", "events.v1.events.k8s.io", "w1.old"], None)
        .await;
    let left = k.ok(&["get", "events.v1.", "-o", "name"], None).await;
    assert_eq!(left.trim(), "event/w1.new");
}

#[tokio::test]
async fn kubectl_pod_security_refuses_a_privileged_pod_in_a_restricted_namespace() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    k.ok(&["create", "namespace", "locked"], None).await;
    k.ok(
        &[
            "label",
            "namespace",
            "locked",
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted",
        ],
        None,
    )
    .await;
    let pod = |name: &str, sc: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "locked"},
               "spec": {"containers": [{"name": "app", "image": "registry.example/app:1", "securityContext": sc}]}})
    };
    let out = k
        .run(
            &["create", "-f", "-"],
            Some(yaml(&pod("bad", json!({"privileged": true})))),
        )
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "pods \"bad\" is forbidden: violates PodSecurity \"restricted:latest\": privileged (container \"app\" must not set securityContext.privileged=true), allowPrivilegeEscalation != false"
        ),
        "{stderr}"
    );
    let good = json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}});
    k.ok(&["create", "-f", "-"], Some(yaml(&pod("good", good))))
        .await;
    // A workload is admitted with a warning; its Pods would be refused.
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "locked"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "registry.example/app:1", "securityContext": {"privileged": true}}]}}}});
    let out = k.run(&["create", "-f", "-"], Some(yaml(&deployment))).await;
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Warning: would violate PodSecurity \"restricted:latest\": privileged"),
        "{stderr}"
    );
}
