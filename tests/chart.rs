//! The Helm chart, rendered by the real `helm` (`.ci/tools/bin/helm`, installed by `.ci/install-tools.sh`):
//! RBAC equal to `conplus_operator::rbac` both ways, the run flags, the security context, HA switches, the
//! CRD copy, the version, the admission policies and the onboarder ClusterRole (tests/access.rs proves on a
//! real API server what the policies refuse; tests/deploy.rs runs the operator's conformance check over every
//! variant at every protection level and validates every render against the Kubernetes 1.33 schemas).
//! Tests that need helm say so and pass when it cannot be found or installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use conplus_operator::rbac::{self, Grant};
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::Value;

const NAMESPACE: &str = "conplus-system";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    root().join("charts/conplus-operator")
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
            "SKIPPED: {} is missing and .ci/install-tools.sh could not install it (needs npm and the network)",
            path.display()
        );
        None
    }
}

/// `helm template conplus-operator <chart> -n conplus-system <args>` as JSON documents.
fn helm_template(args: &[&str]) -> Option<Vec<Value>> {
    let helm = tool("helm")?;
    let out = Command::new(helm)
        .args(["template", "conplus-operator"])
        .arg(chart())
        .args(["--namespace", NAMESPACE])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm template {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(documents(&String::from_utf8(out.stdout).unwrap()))
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = find(docs, kind);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind}, found {}",
        found.len()
    );
    found[0]
}

/// The operator's own ClusterRole (the chart also renders the onboarder ClusterRole, for people).
fn operator_cluster_role(docs: &[Value]) -> &Value {
    named(docs, "ClusterRole", "conplus-operator")
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    find(docs, kind)
        .into_iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn rule_grants(obj: &Value) -> BTreeSet<Grant> {
    let rules: Vec<PolicyRule> = serde_json::from_value(obj["rules"].clone()).unwrap();
    rbac::grants(&rules)
}

/// Fails with the grants one side has and the other lacks.
fn assert_same_grants(chart: &BTreeSet<Grant>, code: &BTreeSet<Grant>, what: &str) {
    let extra: BTreeSet<_> = chart.difference(code).cloned().collect();
    let missing: BTreeSet<_> = code.difference(chart).cloned().collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}:\n  granted by the chart but not listed in src/rbac.rs: {:?}\n  listed in src/rbac.rs but not granted by the chart: {:?}",
        rbac::describe(&extra),
        rbac::describe(&missing)
    );
}

fn container(docs: &[Value]) -> Value {
    one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0].clone()
}

fn args(docs: &[Value]) -> Vec<String> {
    serde_json::from_value(container(docs)["args"].clone()).unwrap()
}

#[test]
fn chart_app_version_is_the_crate_version() {
    let chart: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(chart["name"].as_str(), Some("conplus-operator"));
}

/// The CRDs as the repository holds them (`crds/*.yaml`), or as the code generates them while `crds/` is empty.
pub fn expected_crds() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(root().join("crds"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .map(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(&p).unwrap())
                })
                .collect()
        })
        .unwrap_or_default();
    if files.is_empty() {
        files.push((
            "conplus-operator.yaml".into(),
            conplus_operator::api::crds_yaml().unwrap(),
        ));
    }
    files.sort();
    files
}

fn yaml_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn chart_crds_are_identical_to_the_repository_crds() {
    let expected = expected_crds();
    let actual = yaml_files(&chart().join("crds"));
    let names = |f: &[(String, String)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&actual),
        names(&expected),
        "charts/conplus-operator/crds/ lists other files than crds/"
    );
    for ((name, a), (_, e)) in actual.iter().zip(&expected) {
        assert!(
            a == e,
            "charts/conplus-operator/crds/{name} differs from crds/{name} (or `conplus-operator crd`); copy it: \
             cp crds/*.yaml charts/conplus-operator/crds/"
        );
    }
}

#[test]
fn cluster_role_grants_exactly_the_permissions_listed_in_the_code() {
    let Some(docs) = helm_template(&[]) else {
        return;
    };
    assert_same_grants(
        &rule_grants(operator_cluster_role(&docs)),
        &rbac::grants(&rbac::cluster_role_rules()),
        "ClusterRole",
    );
}

#[test]
fn lease_role_grants_exactly_the_lease_permissions_in_the_release_namespace() {
    let Some(docs) = helm_template(&[]) else {
        return;
    };
    let role = one(&docs, "Role");
    assert_eq!(role["metadata"]["namespace"], NAMESPACE);
    assert_same_grants(
        &rule_grants(role),
        &rbac::grants(&rbac::lease_role_rules()),
        "Role",
    );
    let binding = find(&docs, "RoleBinding")
        .into_iter()
        .find(|b| b["roleRef"]["name"] == role["metadata"]["name"])
        .expect("a RoleBinding for the lease Role");
    assert_eq!(binding["subjects"][0]["name"], "conplus-operator");
    let crb = one(&docs, "ClusterRoleBinding");
    assert_eq!(
        crb["roleRef"]["name"],
        operator_cluster_role(&docs)["metadata"]["name"]
    );
    assert_eq!(crb["subjects"][0]["namespace"], NAMESPACE);
}

#[test]
fn every_rbac_rule_in_the_chart_has_a_comment_saying_why() {
    for file in ["clusterrole.yaml", "role.yaml"] {
        let text = std::fs::read_to_string(chart().join("templates").join(file)).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let mut rules = 0;
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with("- apiGroups:") {
                rules += 1;
                let prev = if i > 0 { lines[i - 1] } else { "" };
                assert!(
                    prev.starts_with("# ") && prev.len() > 10,
                    "templates/{file}: the rule `{line}` has no `# why` comment above it"
                );
            }
        }
        assert!(rules > 0, "templates/{file} has no rules");
    }
}

#[test]
fn rbac_templates_carry_the_rules_text_generated_from_the_code() {
    for (file, scope) in [
        ("clusterrole.yaml", rbac::Scope::Cluster),
        ("role.yaml", rbac::Scope::ReleaseNamespace),
    ] {
        let text = std::fs::read_to_string(chart().join("templates").join(file)).unwrap();
        let want = rbac::rules_yaml(scope);
        // The `rules:` block ends the template.
        let have = text
            .find("rules:\n")
            .map(|i| &text[i..])
            .unwrap_or_default();
        assert!(
            have == want,
            "templates/{file} does not carry the rules of src/rbac.rs; replace its `rules:` block with:\n{want}"
        );
    }
}

#[test]
fn rendered_rbac_has_no_wildcards_and_nothing_on_secrets() {
    let Some(docs) = helm_template(&["-f", "charts/conplus-operator/ci/very-high-values.yaml"])
    else {
        return;
    };
    for kind in ["ClusterRole", "Role"] {
        for obj in find(&docs, kind) {
            for (g, r, n, v) in rule_grants(obj) {
                assert!(
                    ![&g, &r, &n, &v].iter().any(|s| s.contains('*')),
                    "{kind} has a wildcard: {g}/{r} {v}"
                );
                assert_ne!(r, "secrets", "{kind} grants {v} on secrets");
            }
        }
    }
}

/// The flags `conplus-operator run` must accept, in the order the chart passes them.
const DEFAULT_ARGS: &[&str] = &[
    "run",
    "--ingress-namespace=ingress-nginx",
    "--dns-namespace=kube-system",
    "--monitoring-namespace=monitoring",
    "--log-format=json",
    "--log-level=info",
    "--metrics-addr=0.0.0.0:8080",
];

#[test]
fn one_replica_runs_without_leader_election_and_without_a_disruption_budget() {
    let Some(docs) = helm_template(&[]) else {
        return;
    };
    assert_eq!(args(&docs), DEFAULT_ARGS);
    assert_eq!(one(&docs, "Deployment")["spec"]["replicas"], 1);
    assert!(find(&docs, "PodDisruptionBudget").is_empty());
}

#[test]
fn two_replicas_switch_on_leader_election_a_disruption_budget_and_zone_spreading() {
    let Some(docs) = helm_template(&["-f", "charts/conplus-operator/ci/ha-values.yaml"]) else {
        return;
    };
    let mut want: Vec<String> = DEFAULT_ARGS.iter().map(|s| s.to_string()).collect();
    want.push("--leader-election".into());
    want.push("--lease-namespace=$(POD_NAMESPACE)".into());
    assert_eq!(args(&docs), want);
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let deploy = one(&docs, "Deployment");
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deploy["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(
        deploy["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["topologyKey"],
        "topology.kubernetes.io/zone"
    );
}

#[test]
fn platform_values_become_run_flags() {
    let Some(docs) = helm_template(&[
        "--set",
        "platform.ingressNamespace=traefik,platform.dnsNamespace=dns,platform.monitoringNamespace=prom",
        "--set",
        "conformance.defaultProfile=dvc-erhoeht,logging.format=plain,logging.level=debug,metrics.port=9090",
        "--set",
        "conformance.allowedRegistries={registry.niedersachsen.de,ghcr.io}",
    ]) else {
        return;
    };
    assert_eq!(
        args(&docs),
        [
            "run",
            "--ingress-namespace=traefik",
            "--dns-namespace=dns",
            "--monitoring-namespace=prom",
            "--default-profile=dvc-erhoeht",
            "--allowed-registries=registry.niedersachsen.de,ghcr.io",
            "--log-format=plain",
            "--log-level=debug",
            "--metrics-addr=0.0.0.0:9090",
        ]
    );
    let np = find(&docs, "NetworkPolicy")
        .into_iter()
        .find(|p| p["metadata"]["name"] == "conplus-operator")
        .unwrap();
    assert_eq!(
        np["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "prom"
    );
    assert_eq!(np["spec"]["ingress"][0]["ports"][0]["port"], 9090);
}

#[test]
fn the_deployment_has_the_strictest_security_context_probes_and_resources() {
    let Some(docs) = helm_template(&[]) else {
        return;
    };
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        pod["automountServiceAccountToken"], false,
        "the token is mounted explicitly"
    );
    assert_eq!(pod["serviceAccountName"], "conplus-operator");
    let c = container(&docs);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["runAsNonRoot"], true);
    for k in ["cpu", "memory"] {
        assert!(
            c["resources"]["requests"][k].is_string(),
            "request {k} missing"
        );
        assert!(c["resources"]["limits"][k].is_string(), "limit {k} missing");
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["POD_NAME", "POD_NAMESPACE"]);
    // Only the operator's container gets the API token, read-only, at the path the client reads.
    let mount = &c["volumeMounts"][0];
    assert_eq!(
        mount["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(mount["readOnly"], true);
    let sources = &pod["volumes"][0]["projected"]["sources"];
    assert_eq!(sources[0]["serviceAccountToken"]["path"], "token");
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(sa["automountServiceAccountToken"], false);
}

#[test]
fn the_metrics_service_and_service_monitor_point_at_the_metrics_port() {
    let Some(docs) = helm_template(&["--set", "metrics.serviceMonitor.enabled=true"]) else {
        return;
    };
    let svc = one(&docs, "Service");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(container(&docs)["ports"][0]["name"], "metrics");
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        svc["spec"]["selector"]
    );
    let Some(plain) = helm_template(&[]) else {
        return;
    };
    assert!(
        find(&plain, "ServiceMonitor").is_empty(),
        "the ServiceMonitor is optional"
    );
}

#[test]
fn the_values_schema_refuses_values_the_operator_cannot_use() {
    let Some(helm) = tool("helm") else { return };
    for bad in [
        "logging.format=xml",
        "replicaCount=0",
        "image.digest=latest",
        "platform.dnsNamespace=Kube_System",
        "admission.platformGroups={it's}",
        "admission.exemptUsers={say\"hello}",
        "admission.validationActions={Block}",
    ] {
        let out = Command::new(&helm)
            .args(["template", "x"])
            .arg(chart())
            .args(["--set", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "values.schema.json accepted {bad}");
    }
}

#[test]
fn run_accepts_every_flag_the_chart_passes() {
    let Some(docs) = helm_template(&[
        "-f",
        "charts/conplus-operator/ci/ha-values.yaml",
        "--set",
        "conformance.allowedRegistries={registry.niedersachsen.de,ghcr.io}",
    ]) else {
        return;
    };
    let chart_args = args(&docs);
    // clap parses every argument before it acts on a trailing --help: exit 0 means all were accepted.
    let out = Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
        .args(&chart_args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`conplus-operator {}` is refused:\n{}",
        chart_args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- Admission policies ---

const POLICIES: [&str; 4] = [
    "owned-objects",
    "owned-namespaces",
    "ownership-records",
    "onboarders",
];

#[test]
fn every_admission_policy_exempts_the_operators_service_account_and_the_platform_groups() {
    let Some(docs) = helm_template(&[
        "--set",
        "serviceAccount.name=operator,admission.platformGroups={itn-plattform,system:masters}",
        "--set",
        "admission.exemptUsers={system:serviceaccount:argocd:argocd-application-controller}",
    ]) else {
        return;
    };
    for policy in POLICIES {
        let vap = named(
            &docs,
            "ValidatingAdmissionPolicy",
            &format!("conplus-operator-{policy}"),
        );
        assert_eq!(vap["spec"]["failurePolicy"], "Fail", "{policy}");
        let exempt = &vap["spec"]["matchConditions"][0];
        assert_eq!(exempt["name"], "not-exempt", "{policy}");
        let expr = exempt["expression"].as_str().unwrap();
        assert_eq!(
            expr,
            "!(request.userInfo.username in ['system:serviceaccount:conplus-system:operator', \
             'system:serviceaccount:argocd:argocd-application-controller']) && \
             !request.userInfo.groups.exists(g, g in ['itn-plattform', 'system:masters'])",
            "{policy}"
        );
        let binding = named(
            &docs,
            "ValidatingAdmissionPolicyBinding",
            &format!("conplus-operator-{policy}"),
        );
        assert_eq!(binding["spec"]["policyName"], vap["metadata"]["name"]);
        assert_eq!(
            binding["spec"]["validationActions"],
            serde_json::json!(["Deny"])
        );
    }
    let onboarders = named(
        &docs,
        "ValidatingAdmissionPolicyBinding",
        "conplus-operator-onboarders",
    );
    assert_eq!(
        onboarders["spec"]["paramRef"],
        serde_json::json!({"selector": {}, "parameterNotFoundAction": "Allow"}),
        "every Ressort is a parameter; with none at all the operator's own updates must still pass"
    );
    assert_eq!(
        named(
            &docs,
            "ValidatingAdmissionPolicy",
            "conplus-operator-onboarders"
        )["spec"]["paramKind"],
        serde_json::json!({"apiVersion": "conplus.niedersachsen.de/v1alpha1", "kind": "Ressort"})
    );
}

/// (API group, resource) pairs the resourceRules of `vap` match on UPDATE and DELETE.
fn protected_resources(vap: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for r in vap["spec"]["matchConstraints"]["resourceRules"]
        .as_array()
        .unwrap()
    {
        let strings = |v: &Value| serde_json::from_value::<Vec<String>>(v.clone()).unwrap();
        let ops = strings(&r["operations"]);
        assert!(ops.contains(&"UPDATE".into()) && ops.contains(&"DELETE".into()));
        for g in strings(&r["apiGroups"]) {
            for res in strings(&r["resources"]) {
                out.insert((g.clone(), res));
            }
        }
    }
    out
}

/// What the operator provisions for the examples' onboarding (`conplus-operator render`), each object with its
/// labels, annotations and (API group, resource).
fn provisioned() -> Vec<(Value, (String, String))> {
    let out = Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
        .args(["render", "-f"])
        .arg(root().join("examples/moin-schule.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8(out.stdout).unwrap())
        .into_iter()
        .map(|d| {
            let api_version = d["apiVersion"].as_str().unwrap();
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let gvk =
                kube::core::GroupVersionKind::gvk(group, version, d["kind"].as_str().unwrap());
            let resource = (
                group.to_string(),
                kube::core::ApiResource::from_gvk(&gvk).plural,
            );
            (d, resource)
        })
        .collect()
}

#[test]
fn the_admission_policies_protect_every_object_and_namespace_label_the_operator_provisions() {
    let Some(docs) = helm_template(&[]) else {
        return;
    };
    let vap = |p: &str| {
        named(
            &docs,
            "ValidatingAdmissionPolicy",
            &format!("conplus-operator-{p}"),
        )
    };
    let objects = protected_resources(vap("owned-objects"));
    let namespaces = vap("owned-namespaces");
    assert_eq!(
        protected_resources(namespaces),
        BTreeSet::from([(String::new(), "namespaces".to_string())])
    );
    // The label prefixes the namespace policy guards: `['pod-security.kubernetes.io/', ...]`.
    let prefixes: Vec<String> = namespaces["spec"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "protectedLabel")
        .and_then(|v| v["expression"].as_str())
        .expect("the variable protectedLabel")
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    let managed = (
        conplus_operator::resources::MANAGED_BY,
        conplus_operator::resources::MANAGED_SELECTOR
            .split_once('=')
            .unwrap()
            .1,
    );
    let mut kinds = BTreeSet::new();
    for (obj, resource) in provisioned() {
        let labels = obj["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if labels.get(managed.0).and_then(Value::as_str) != Some(managed.1) {
            continue; // the `default` ServiceAccount: the operator sets one field of it, it is not the operator's
        }
        kinds.insert(obj["kind"].as_str().unwrap().to_string());
        if obj["kind"] == "Namespace" {
            let annotations = obj["metadata"]["annotations"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for key in labels.keys().chain(annotations.keys()) {
                assert!(
                    key == managed.0 || prefixes.iter().any(|p| key.starts_with(p.as_str())),
                    "the operator sets {key} on its namespaces, and the owned-namespaces policy does not guard it"
                );
            }
        } else {
            assert!(
                objects.contains(&resource),
                "the operator provisions {resource:?} and the owned-objects policy does not protect it"
            );
        }
        assert!(
            labels.contains_key(conplus_operator::resources::ONBOARDING),
            "{} carries the onboarding record the ownership-records policy guards",
            obj["kind"]
        );
    }
    assert_eq!(
        kinds,
        BTreeSet::from(
            [
                "LimitRange",
                "Namespace",
                "NetworkPolicy",
                "ResourceQuota",
                "RoleBinding"
            ]
            .map(String::from)
        )
    );
    let records = serde_json::to_string(&vap("ownership-records")["spec"]).unwrap();
    for key in [managed.0, conplus_operator::resources::ONBOARDING] {
        assert!(
            records.contains(key),
            "the ownership-records policy knows nothing of {key}"
        );
    }
    // Whatever the operator may delete, it provisions: it is protected too (src/rbac.rs).
    for p in rbac::permissions()
        .iter()
        .filter(|p| p.verbs.contains(&"delete"))
    {
        let r = (p.api_group.clone(), p.resource.clone());
        assert!(
            objects.contains(&r) || r.1 == "namespaces",
            "the operator may delete {r:?} but no admission policy protects it"
        );
    }
}

#[test]
fn admission_policies_can_warn_instead_of_deny_or_be_left_out() {
    let Some(warn) = helm_template(&["--set", "admission.validationActions={Warn,Audit}"]) else {
        return;
    };
    for binding in find(&warn, "ValidatingAdmissionPolicyBinding") {
        assert_eq!(
            binding["spec"]["validationActions"],
            serde_json::json!(["Warn", "Audit"])
        );
    }
    let Some(off) = helm_template(&["--set", "admission.enabled=false"]) else {
        return;
    };
    assert!(find(&off, "ValidatingAdmissionPolicy").is_empty());
    assert!(find(&off, "ValidatingAdmissionPolicyBinding").is_empty());
}

#[test]
fn the_onboarder_cluster_role_writes_onboardings_reads_ressorts_profiles_and_tasks_and_is_bound_to_nobody()
 {
    let Some(docs) = helm_template(&[]) else {
        return;
    };
    let role = named(&docs, "ClusterRole", "conplus-operator-onboarder");
    let group = conplus_operator::api::GROUP;
    let mut want = BTreeSet::new();
    for v in [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ] {
        want.insert((
            group.to_string(),
            "fachverfahrenonboardings".to_string(),
            String::new(),
            v.to_string(),
        ));
    }
    for r in ["ressorts", "conformanceprofiles", "verwaltungsaufgaben"] {
        for v in ["get", "list", "watch"] {
            want.insert((
                group.to_string(),
                r.to_string(),
                String::new(),
                v.to_string(),
            ));
        }
    }
    assert_eq!(rule_grants(role), want);
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for b in find(&docs, kind) {
            assert_ne!(
                b["roleRef"]["name"], "conplus-operator-onboarder",
                "the platform binds onboarders itself"
            );
        }
    }
}
