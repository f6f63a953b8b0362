//! `deploy/`: the kustomize base and overlays rendered by the real `kubectl kustomize`, kept consistent with the
//! chart's defaults and with `conplus_operator::rbac`; deploy/crds and deploy/admission equal to the CRDs and the
//! chart's admission policies; the operator's own conformance check over every variant of the chart and of
//! kustomize at every protection level; every render valid for Kubernetes 1.33; the Argo CD health check run by a
//! Lua interpreter against statuses built from the operator's own types; the Grafana dashboard against the metrics
//! the operator exports.
//! Tests that need kubectl, helm or Lua say so and pass when the tool is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use conplus_operator::api::{FachverfahrenOnboardingStatus, Phase};
use conplus_operator::rbac::{self, Grant};
use conplus_operator::telemetry::Metrics;
use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `.ci/tools/bin/<name>`, running `.ci/install-tools.sh` once when it is missing.
fn tool(name: &str) -> Option<PathBuf> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    let path = root().join(".ci/tools/bin").join(name);
    if !path.is_file() {
        INSTALLED.get_or_init(|| {
            let _ = Command::new("bash")
                .arg(root().join(".ci/install-tools.sh"))
                .status();
        });
    }
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is missing and .ci/install-tools.sh could not install it",
            path.display()
        );
        None
    }
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn kustomize(dir: &str) -> Option<Vec<Value>> {
    let kubectl = tool("kubectl")?;
    Some(documents(&run(Command::new(kubectl)
        .arg("kustomize")
        .arg(root().join(dir)))))
}

/// `helm template` of the chart, all of it.
fn helm_all(args: &[&str]) -> Option<Vec<Value>> {
    let helm = tool("helm")?;
    Some(documents(&run(Command::new(helm)
        .args(["template", "conplus-operator"])
        .arg(root().join("charts/conplus-operator"))
        .args(["--namespace", "conplus-system"])
        .args(args))))
}

/// What deploy/admission holds: the admission policies, their bindings and the onboarder ClusterRole.
fn is_admission(doc: &Value) -> bool {
    doc["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("admissionregistration.k8s.io/"))
        || (doc["kind"] == "ClusterRole"
            && doc["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-onboarder")))
}

/// `helm template` of the chart without what deploy/admission holds: what deploy/base and its overlays hold.
fn helm(args: &[&str]) -> Option<Vec<Value>> {
    Some(
        helm_all(args)?
            .into_iter()
            .filter(|d| !is_admission(d))
            .collect(),
    )
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind}, found {}",
        found.len()
    );
    found[0]
}

/// The operator's own ClusterRole (beside it: the one aggregated into `view` for PolicyReports).
fn operator_role(docs: &[Value]) -> &Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "conplus-operator")
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected the ClusterRole conplus-operator once"
    );
    found[0]
}

/// The ClusterRole that lets namespace viewers read PolicyReports.
fn policyreports_view(docs: &[Value]) -> &Value {
    docs.iter()
        .find(|d| {
            d["kind"] == "ClusterRole"
                && d["metadata"]["name"] == "conplus-operator-policyreports-view"
        })
        .expect("the ClusterRole conplus-operator-policyreports-view")
}

#[test]
fn namespace_viewers_read_policyreports_by_a_role_aggregated_into_view_in_base_and_chart() {
    let (Some(base), Some(chart)) = (kustomize("deploy/base"), helm(&[])) else {
        return;
    };
    for (what, docs) in [("deploy/base", &base), ("the chart", &chart)] {
        let role = policyreports_view(docs);
        let labels = &role["metadata"]["labels"];
        assert_eq!(
            labels["rbac.authorization.k8s.io/aggregate-to-view"], "true",
            "{what}: not aggregated into view"
        );
        let want: BTreeSet<Grant> = ["get", "list", "watch"]
            .iter()
            .map(|v| {
                (
                    "wgpolicyk8s.io".to_string(),
                    "policyreports".to_string(),
                    String::new(),
                    v.to_string(),
                )
            })
            .collect();
        assert_eq!(
            grants(role),
            want,
            "{what}: read PolicyReports, nothing else"
        );
    }
    let Some(no_crd) = helm(&["--set", "policyReports.installCRD=false"]) else {
        return;
    };
    let crds = |docs: &[Value]| {
        docs.iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
            .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    // `helm template` cannot look the CRD up: it renders it unless switched off.
    assert_eq!(crds(&chart), ["policyreports.wgpolicyk8s.io"]);
    assert!(crds(&no_crd).is_empty());
    assert!(
        policyreports_view(&no_crd)["rules"].is_array(),
        "the viewers' role stays: the CRD may come from Kyverno or Policy Reporter"
    );
    assert_eq!(
        policyreports_view(&chart)["rules"],
        policyreports_view(&base)["rules"]
    );
}

fn grants(obj: &Value) -> BTreeSet<Grant> {
    let rules: Vec<PolicyRule> = serde_json::from_value(obj["rules"].clone()).unwrap();
    rbac::grants(&rules)
}

fn pod_spec(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]
}

/// The parts of the Deployment that must not differ between the chart and kustomize.
fn deployment_contract(docs: &[Value]) -> Value {
    let pod = pod_spec(docs);
    let c = &pod["containers"][0];
    let image = c["image"].as_str().unwrap();
    json!({
        "replicas": one(docs, "Deployment")["spec"]["replicas"],
        "selector": one(docs, "Deployment")["spec"]["selector"],
        "image": image,
        "podSecurityContext": pod["securityContext"],
        "automountServiceAccountToken": pod["automountServiceAccountToken"],
        "serviceAccountName": pod["serviceAccountName"],
        "volumes": pod["volumes"],
        "topologySpreadConstraints": pod["topologySpreadConstraints"],
        "args": c["args"],
        "env": c["env"],
        "ports": c["ports"],
        "securityContext": c["securityContext"],
        "resources": c["resources"],
        "livenessProbe": c["livenessProbe"],
        "readinessProbe": c["readinessProbe"],
        "volumeMounts": c["volumeMounts"],
    })
}

fn assert_same(kustomize: &Value, chart: &Value, what: &str) {
    let (k, c) = (kustomize.as_object().unwrap(), chart.as_object().unwrap());
    for (key, kv) in k {
        assert_eq!(
            kv, &c[key],
            "{what}: `{key}` differs between deploy/ (left) and the chart (right)"
        );
    }
}

#[test]
fn kustomize_base_grants_the_same_permissions_as_the_chart_and_the_code() {
    let (Some(base), Some(chart)) = (kustomize("deploy/base"), helm(&[])) else {
        return;
    };
    let code_cluster = rbac::grants(&rbac::cluster_role_rules());
    let code_lease = rbac::grants(&rbac::lease_role_rules());
    assert_eq!(
        grants(operator_role(&base)),
        code_cluster,
        "deploy/base ClusterRole != src/rbac.rs"
    );
    assert_eq!(
        grants(operator_role(&chart)),
        code_cluster,
        "chart ClusterRole != src/rbac.rs"
    );
    assert_eq!(
        grants(one(&base, "Role")),
        code_lease,
        "deploy/base Role != src/rbac.rs"
    );
    assert_eq!(
        one(&base, "Role")["metadata"]["namespace"],
        "conplus-system"
    );
    assert_eq!(
        one(&base, "ClusterRoleBinding")["subjects"],
        one(&chart, "ClusterRoleBinding")["subjects"]
    );
    assert_eq!(
        operator_role(&base)["metadata"]["name"],
        operator_role(&chart)["metadata"]["name"]
    );
    for kind in [
        "Role",
        "ServiceAccount",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    ] {
        assert_eq!(
            one(&base, kind)["metadata"]["name"],
            one(&chart, kind)["metadata"]["name"],
            "{kind} is named differently in deploy/base and in the chart"
        );
    }
    assert_eq!(
        one(&base, "ServiceAccount")["automountServiceAccountToken"],
        false
    );
}

#[test]
fn kustomize_base_rbac_carries_the_rules_text_generated_from_the_code() {
    let text = std::fs::read_to_string(root().join("deploy/base/rbac.yaml")).unwrap();
    // Every `rules:` block, up to the end of its document.
    let blocks: Vec<&str> = text
        .split("---\n")
        .filter_map(|doc| doc.find("rules:\n").map(|i| &doc[i..]))
        .collect();
    let want = [
        rbac::rules_yaml(rbac::Scope::Cluster),
        rbac::rules_yaml(rbac::Scope::ReleaseNamespace),
    ];
    assert_eq!(
        blocks.len(),
        2,
        "deploy/base/rbac.yaml should hold a ClusterRole and a Role"
    );
    for (have, want) in blocks.iter().zip(&want) {
        assert!(
            *have == want.as_str(),
            "deploy/base/rbac.yaml: a rules block differs from src/rbac.rs; use:\n{want}"
        );
    }
}

#[test]
fn kustomize_base_deployment_matches_the_chart_defaults() {
    let (Some(base), Some(chart)) = (kustomize("deploy/base"), helm(&[])) else {
        return;
    };
    assert_same(
        &deployment_contract(&base),
        &deployment_contract(&chart),
        "deploy/base vs chart defaults",
    );
    let ns = one(&base, "Namespace");
    assert_eq!(ns["metadata"]["name"], "conplus-system");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let names = |docs: &[Value]| -> BTreeSet<String> {
        docs.iter()
            .filter(|d| d["kind"] == "NetworkPolicy")
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&base), names(&chart), "NetworkPolicies differ");
    for d in base.iter().filter(|d| d["kind"] == "NetworkPolicy") {
        let c = chart
            .iter()
            .find(|c| {
                c["kind"] == "NetworkPolicy" && c["metadata"]["name"] == d["metadata"]["name"]
            })
            .unwrap();
        assert_eq!(
            d["spec"], c["spec"],
            "NetworkPolicy {} differs",
            d["metadata"]["name"]
        );
    }
}

#[test]
fn ha_overlay_matches_the_chart_with_two_replicas() {
    let (Some(ha), Some(chart)) = (
        kustomize("deploy/overlays/ha"),
        helm(&[
            "-f",
            root()
                .join("charts/conplus-operator/ci/ha-values.yaml")
                .to_str()
                .unwrap(),
        ]),
    ) else {
        return;
    };
    let k = deployment_contract(&ha);
    assert_eq!(k["replicas"], 2);
    assert!(
        k["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--leader-election")
    );
    assert_same(
        &k,
        &deployment_contract(&chart),
        "deploy/overlays/ha vs chart with ha-values.yaml",
    );
    let pdb = one(&ha, "PodDisruptionBudget");
    assert_eq!(pdb["spec"], one(&chart, "PodDisruptionBudget")["spec"]);
    assert_eq!(pdb["metadata"]["namespace"], "conplus-system");
    let pod = pod_spec(&ha);
    assert_eq!(pod["nodeSelector"], pod_spec(&chart)["nodeSelector"]);
    assert_eq!(pod["tolerations"], pod_spec(&chart)["tolerations"]);
}

/// Kinds that have no namespace; everything else kustomize renders must be in conplus-system.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
];

fn kinds(docs: &[Value]) -> BTreeSet<&str> {
    docs.iter().filter_map(|d| d["kind"].as_str()).collect()
}

/// deploy/base and every overlay.
fn operator_kustomizations() -> Vec<String> {
    let mut dirs = vec!["deploy/base".to_string()];
    for e in std::fs::read_dir(root().join("deploy/overlays")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        dirs.push(format!("deploy/overlays/{name}"));
    }
    dirs.sort();
    dirs
}

#[test]
fn the_base_and_every_overlay_render_the_operator_in_its_namespace_and_no_crd() {
    for dir in operator_kustomizations() {
        let Some(docs) = kustomize(&dir) else { return };
        let kinds = kinds(&docs);
        for kind in [
            "ClusterRole",
            "Role",
            "Deployment",
            "Namespace",
            "ResourceQuota",
            "LimitRange",
        ] {
            assert!(kinds.contains(kind), "{dir} renders no {kind}");
        }
        // `kubectl delete -k` of the operator must not take the CRDs, and every onboarding with them.
        assert!(
            !kinds.contains("CustomResourceDefinition"),
            "{dir} renders CRDs: they belong to deploy/crds only"
        );
        for d in &docs {
            if !CLUSTER_SCOPED.contains(&d["kind"].as_str().unwrap()) {
                assert_eq!(
                    d["metadata"]["namespace"], "conplus-system",
                    "{} {} in {dir} is not in the operator's namespace",
                    d["kind"], d["metadata"]["name"]
                );
            }
        }
    }
}

#[test]
fn deploy_crds_renders_exactly_the_repository_crds() {
    let repo = std::fs::read_to_string(root().join("crds/conplus-operator.yaml"))
        .unwrap_or_else(|_| conplus_operator::api::crds_yaml().unwrap());
    let copy = std::fs::read_to_string(root().join("deploy/crds/conplus-operator.yaml")).unwrap();
    assert!(
        copy == repo,
        "deploy/crds/conplus-operator.yaml is stale; cp crds/conplus-operator.yaml deploy/crds/"
    );
    let Some(docs) = kustomize("deploy/crds") else {
        return;
    };
    let names: BTreeSet<String> = docs
        .iter()
        .map(|d| {
            assert_eq!(d["kind"], "CustomResourceDefinition");
            d["metadata"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    let want: BTreeSet<String> = conplus_operator::api::crds()
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names, want,
        "deploy/crds renders other CRDs than the operator's"
    );
}

/// The objects of `docs` by (kind, name), without the labels that tell chart and kustomize apart.
fn by_name(docs: &[Value]) -> std::collections::BTreeMap<(String, String), Value> {
    docs.iter()
        .map(|d| {
            let mut d = d.clone();
            d["metadata"].as_object_mut().unwrap().remove("labels");
            let key = (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["name"].as_str().unwrap().to_string(),
            );
            (key, d)
        })
        .collect()
}

/// The chart's templates that deploy/admission holds, rendered with default values, with the labels of deploy/
/// instead of Helm's: `UPDATE_DEPLOY=1 cargo test --test deploy deploy_admission` writes them.
fn regenerate_deploy_admission(helm: &Path) {
    for template in ["admission", "onboarder-clusterrole"] {
        let rendered = run(Command::new(helm)
            .args(["template", "conplus-operator"])
            .arg(root().join("charts/conplus-operator"))
            .args(["--namespace", "conplus-system", "--show-only"])
            .arg(format!("templates/{template}.yaml")));
        let chart: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(root().join("charts/conplus-operator/Chart.yaml")).unwrap(),
        )
        .unwrap();
        let helm_labels = format!(
            "    app.kubernetes.io/version: \"{}\"\n    app.kubernetes.io/component: operator\n    \
             app.kubernetes.io/part-of: conplus\n    app.kubernetes.io/managed-by: Helm\n    \
             helm.sh/chart: conplus-operator-{}\n",
            chart["appVersion"].as_str().unwrap(),
            chart["version"].as_str().unwrap()
        );
        let text: String = rendered
            .replace(&helm_labels, "    app.kubernetes.io/component: operator\n")
            .replace("<release>-", "conplus-operator-")
            .lines()
            .filter(|l| !l.starts_with("# Source: "))
            .map(|l| format!("{l}\n"))
            .collect();
        let text = text.strip_prefix("---\n").unwrap_or(&text);
        std::fs::write(
            root().join(format!("deploy/admission/{template}.yaml")),
            text,
        )
        .unwrap();
    }
}

#[test]
fn deploy_admission_holds_the_charts_admission_policies_and_onboarder_role() {
    if std::env::var_os("UPDATE_DEPLOY").is_some() {
        let Some(helm) = tool("helm") else { return };
        regenerate_deploy_admission(&helm);
    }
    let (Some(kustomized), Some(chart)) = (kustomize("deploy/admission"), helm_all(&[])) else {
        return;
    };
    let chart: Vec<Value> = chart.into_iter().filter(is_admission).collect();
    assert!(
        kustomized.iter().all(is_admission),
        "deploy/admission renders more than admission policies and the onboarder role"
    );
    let (k, c) = (by_name(&kustomized), by_name(&chart));
    assert_eq!(
        k.keys().collect::<Vec<_>>(),
        c.keys().collect::<Vec<_>>(),
        "deploy/admission and the chart hold different objects"
    );
    for (key, obj) in &k {
        assert_eq!(
            obj, &c[key],
            "{key:?} differs between deploy/admission (left) and the chart with default values (right); \
             regenerate: UPDATE_DEPLOY=1 cargo test --test deploy deploy_admission"
        );
        assert!(
            obj["metadata"]["namespace"].is_null(),
            "{key:?} is cluster-scoped and must carry no namespace"
        );
    }
    assert_eq!(
        kinds(&kustomized),
        BTreeSet::from([
            "ClusterRole",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ])
    );
}

/// The rule ids `conplus-operator check --protection-level <level>` reports on `yaml`.
fn check_rules(yaml: &str, level: &str) -> BTreeSet<String> {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
        .args([
            "check",
            "--protection-level",
            level,
            "--format",
            "json",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --format json: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// The protection levels, lowest first, as `check --protection-level` names them.
const LEVELS: [&str; 3] = ["normal", "high", "veryHigh"];

/// What `high` asks of the operator's Deployment beyond `normal`, and `veryHigh` beyond `high`: the dedicated node
/// pool, two replicas spread over zones; the image by digest, a sandboxed runtime. docs/install.md lists the values.
const FOR_HIGH: &[&str] = &["dedicated-node-pool", "min-replicas", "topology-spread"];
const FOR_VERY_HIGH: &[&str] = &["image-digest", "runtime-class"];

/// The operator's own manifests, judged by its own `check` at every protection level: each variant passes the level
/// it is made for, and every level below, without a single finding; above it, it reports exactly what that level
/// asks for and the variant leaves to the cluster (node pool, replicas, digest, runtime class), nothing else.
#[test]
fn every_variant_passes_the_check_at_its_protection_level_and_reports_only_what_higher_levels_ask()
{
    let (Some(kubectl), Some(helm)) = (tool("kubectl"), tool("helm")) else {
        return;
    };
    let chart = root().join("charts/conplus-operator");
    let render_helm = |values: Option<&str>| {
        let mut cmd = Command::new(&helm);
        cmd.args(["template", "conplus-operator"])
            .arg(&chart)
            .args(["--namespace", "conplus-system"]);
        if let Some(v) = values {
            cmd.arg("-f").arg(chart.join("ci").join(v));
        }
        run(&mut cmd)
    };
    let render_kustomize = |dir: &str| {
        run(Command::new(&kubectl)
            .arg("kustomize")
            .arg(root().join(dir)))
    };
    let with_admission =
        |dir: &str| render_kustomize(dir) + "---\n" + &render_kustomize("deploy/admission");
    let variants = [
        ("chart, default values", render_helm(None), "normal"),
        (
            "chart, ci/ha-values.yaml",
            render_helm(Some("ha-values.yaml")),
            "high",
        ),
        (
            "chart, ci/very-high-values.yaml",
            render_helm(Some("very-high-values.yaml")),
            "veryHigh",
        ),
        (
            "deploy/base + deploy/admission",
            with_admission("deploy/base"),
            "normal",
        ),
        (
            "deploy/overlays/ha + deploy/admission",
            with_admission("deploy/overlays/ha"),
            "high",
        ),
    ];
    let rank = |level: &str| LEVELS.iter().position(|l| *l == level).unwrap();
    let mut wrong = Vec::new();
    for (variant, yaml, made_for) in &variants {
        for level in LEVELS {
            let mut expected = BTreeSet::new();
            if rank(level) >= rank("high") && rank(made_for) < rank("high") {
                expected.extend(FOR_HIGH.iter().map(|r| r.to_string()));
            }
            if rank(level) >= rank("veryHigh") && rank(made_for) < rank("veryHigh") {
                expected.extend(FOR_VERY_HIGH.iter().map(|r| r.to_string()));
            }
            let found = check_rules(yaml, level);
            if found != expected {
                wrong.push(format!(
                    "{variant} (made for {made_for}) at {level}: expected {expected:?}, check reports {found:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `kubernetes-validate` (pip), when installed; scripts/ci-ship.sh installs it.
fn kubernetes_validate() -> bool {
    let ok = Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: kubernetes-validate is missing (pip install kubernetes-validate)");
    }
    ok
}

#[test]
fn the_chart_and_every_kustomization_render_objects_valid_for_kubernetes_1_33() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let Some(helm) = tool("helm") else { return };
    if !kubernetes_validate() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rendered = Vec::new();
    for values in [
        "values.yaml",
        "ci/ha-values.yaml",
        "ci/very-high-values.yaml",
    ] {
        let chart = root().join("charts/conplus-operator");
        let text = run(Command::new(&helm)
            .args(["template", "conplus-operator"])
            .arg(&chart)
            .args(["--namespace", "conplus-system", "--include-crds", "-f"])
            .arg(chart.join(values)));
        rendered.push((format!("the chart with {values}"), text));
    }
    let mut dirs = operator_kustomizations();
    dirs.extend([
        "deploy/crds".to_string(),
        "deploy/policyreport-crd".to_string(),
        "deploy/admission".to_string(),
    ]);
    for d in dirs {
        let text = run(Command::new(&kubectl).arg("kustomize").arg(root().join(&d)));
        rendered.push((d, text));
    }
    for (what, text) in rendered {
        let file = dir.path().join("rendered.yaml");
        std::fs::write(&file, text).unwrap();
        let out = Command::new("kubernetes-validate")
            .args(["--strict", "--quiet", "-k", "1.33.0"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what} does not validate against Kubernetes 1.33:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// --- Argo CD health check ---

/// A JSON value as a Lua table constructor.
fn lua(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("{{{}}}", a.iter().map(lua).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("[{k:?}] = {}", lua(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn lua_interpreter() -> Option<&'static str> {
    ["lua5.4", "lua"]
        .into_iter()
        .find(|l| {
            Command::new(l)
                .arg("-v")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .or_else(|| {
            eprintln!("SKIPPED: no Lua interpreter (apt-get install -y lua5.4)");
            None
        })
}

/// (health, message) of an onboarding according to deploy/argocd/health-fachverfahrenonboarding.lua.
fn argo_health(
    interpreter: &str,
    generation: i64,
    status: Option<FachverfahrenOnboardingStatus>,
) -> (String, String) {
    let mut obj = json!({
        "apiVersion": "conplus.niedersachsen.de/v1alpha1",
        "kind": "FachverfahrenOnboarding",
        "metadata": {"name": "mk-moin", "generation": generation},
        "spec": {},
    });
    if let Some(s) = status {
        obj["status"] = serde_json::to_value(s).unwrap();
    }
    let script = root().join("deploy/argocd/health-fachverfahrenonboarding.lua");
    let program = format!(
        "obj = {}\nlocal hs = dofile({:?})\nprint(hs.status)\nprint(hs.message)\n",
        lua(&obj),
        script.to_str().unwrap()
    );
    let out = run(Command::new(interpreter).args(["-e", &program]));
    let mut lines = out.lines();
    (
        lines.next().unwrap_or_default().to_string(),
        lines.next().unwrap_or_default().to_string(),
    )
}

fn ready(status: &str, reason: &str, message: &str, generation: i64) -> Condition {
    Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: Some(generation),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    }
}

fn status(phase: Phase, observed: i64, cond: Condition) -> Option<FachverfahrenOnboardingStatus> {
    Some(FachverfahrenOnboardingStatus {
        phase: Some(phase),
        observed_generation: Some(observed),
        conditions: vec![cond],
        ..Default::default()
    })
}

#[test]
fn argo_cd_health_follows_the_ready_condition_and_the_observed_generation() {
    let Some(lua) = lua_interpreter() else { return };
    let cases = [
        ("no status yet", 1, None, "Progressing"),
        (
            "ready",
            3,
            status(
                Phase::Ready,
                3,
                ready("True", "Provisioned", "all 3 environments provisioned", 3),
            ),
            "Healthy",
        ),
        (
            "ready, but for an older generation",
            4,
            status(Phase::Ready, 3, ready("True", "Provisioned", "ok", 3)),
            "Progressing",
        ),
        (
            "provisioning",
            1,
            status(
                Phase::Provisioning,
                1,
                ready("False", "Provisioning", "applying", 1),
            ),
            "Progressing",
        ),
        (
            "blocked by the budget",
            2,
            status(
                Phase::Blocked,
                2,
                ready("False", "BudgetExceeded", "needs 4 cpu, 2 left", 2),
            ),
            "Degraded",
        ),
        (
            "blocked by a missing Ressort",
            1,
            status(
                Phase::Blocked,
                1,
                ready(
                    "False",
                    "RessortNotFound",
                    "Ressort \"mk\" does not exist",
                    1,
                ),
            ),
            "Degraded",
        ),
        (
            "degraded",
            2,
            status(
                Phase::Degraded,
                2,
                ready("False", "NamespaceConflict", "mk-moin-prod is not ours", 2),
            ),
            "Degraded",
        ),
        (
            "failed",
            5,
            status(
                Phase::Failed,
                5,
                ready("False", "InvalidSpec", "environment names repeat", 5),
            ),
            "Degraded",
        ),
        (
            "terminating",
            2,
            status(
                Phase::Terminating,
                2,
                ready("False", "Terminating", "deleting", 2),
            ),
            "Progressing",
        ),
    ];
    for (what, generation, st, want) in cases {
        let (health, message) = argo_health(lua, generation, st);
        assert_eq!(health, want, "{what}: got {health} ({message})");
        assert!(
            !message.is_empty() && message != "nil",
            "{what}: no message"
        );
    }
    let (_, message) = argo_health(
        lua,
        2,
        status(
            Phase::Degraded,
            2,
            ready("False", "NamespaceConflict", "mk-moin-prod is not ours", 2),
        ),
    );
    assert_eq!(message, "NamespaceConflict: mk-moin-prod is not ours");
}

#[test]
fn the_lua_sample_suite_passes() {
    let Some(lua) = lua_interpreter() else { return };
    let out = run(Command::new(lua).arg(root().join("deploy/argocd/health_test.lua")));
    assert!(out.contains("samples got the right health"), "{out}");
}

// --- Grafana ---

#[test]
fn grafana_dashboard_queries_only_metrics_the_operator_exports() {
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/conplus-operator.json")).unwrap(),
    )
    .unwrap();
    // Every family with one sample, so that every series name shows up in the exposition.
    let m = Metrics::new();
    m.reconcile_finished(std::time::Duration::from_millis(5), Err("ApplyFailed"));
    m.set_onboardings_by_phase(&[("Ready".into(), 1)]);
    m.set_ressort_budget("mk", "cpu", 1.0, 1.0);
    m.set_conformance_findings(&[("image-tag".into(), "mk".into(), "error".into(), 1)]);
    m.set_aufgabe_solutions("zeiterfassung", 2);
    m.set_ressort_cost("mk", Some(116.65));
    let exported: BTreeSet<String> = m
        .encode()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let name = regex::Regex::new(r"\bconplus_[a-z_]+").unwrap();
    let mut used = BTreeSet::new();
    let mut exprs = Vec::new();
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    if k == "expr" || k == "definition" {
                        out.push(v.as_str().unwrap_or_default().to_string());
                    }
                    collect(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    collect(&dash, &mut exprs);
    assert!(
        exprs.len() >= 10,
        "the dashboard has only {} queries",
        exprs.len()
    );
    for e in &exprs {
        for m in name.find_iter(e) {
            assert!(
                exported.contains(m.as_str()),
                "the dashboard queries {} which the operator does not export ({e})",
                m.as_str()
            );
            used.insert(m.as_str().to_string());
        }
    }
    for family in [
        "conplus_reconciles_total",
        "conplus_reconcile_failures_total",
        "conplus_reconcile_duration_seconds_bucket",
        "conplus_onboardings",
        "conplus_ressort_budget_allocated",
        "conplus_ressort_budget_available",
        "conplus_conformance_findings",
    ] {
        assert!(
            used.contains(family),
            "the dashboard shows nothing of {family}"
        );
    }
}
