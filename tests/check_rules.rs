//! The rules of the conformance engine, each passed and failed on every pod-template kind and on regular,
//! init and ephemeral containers; namespace-level and RBAC rules; exceptions, ignore annotations, profile
//! overrides and the score. The kind variants are generated from one pod spec.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use conplus_operator::api::ProtectionLevel;
use conplus_operator::api::profile::{ObjectSelector, RuleException, RuleSetting};
use conplus_operator::conformance::profile::{builtin_profile, resolve_custom};
use conplus_operator::conformance::{
    Report, ResolvedProfile, RuleId, Severity, Silence, SourceObject, evaluate, resolve_profile,
    watched_kinds,
};
use jiff::Timestamp;
use serde_json::{Value, json};

const NS: &str = "mk-schule-prod";
const REGISTRY: &str = "registry.conplus.niedersachsen.de";
const POOL: &str = "conplus.niedersachsen.de/node-pool";
const KINDS: [&str; 7] = [
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
];

fn now() -> Timestamp {
    "2026-11-26T12:00:00Z".parse().unwrap()
}

/// The strictest profile with every optional setting filled, so that every rule is evaluated.
fn strict_profile() -> ResolvedProfile {
    let mut cp = builtin_profile(ProtectionLevel::VeryHigh);
    cp.metadata.name = Some("test-strict".into());
    cp.spec.allowed_registries = vec![REGISTRY.into()];
    if let Some(dn) = cp.spec.dedicated_nodes.as_mut() {
        dn.node_label_value = Some("mk".into());
    }
    resolve_custom(&cp, ProtectionLevel::VeryHigh).unwrap()
}

fn container(name: &str, probes: bool, resources: bool, ports: bool) -> Value {
    let mut c = json!({
        "name": name,
        "image": format!("{REGISTRY}/mk/app:1.4.2@sha256:{}", "a".repeat(64)),
        "env": [{"name": "LOG_LEVEL", "value": "info"}],
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}
        }
    });
    if ports {
        c["ports"] = json!([{"containerPort": 8080, "name": "http"}]);
    }
    if resources {
        c["resources"] = json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}});
    }
    if probes {
        c["readinessProbe"] = json!({"httpGet": {"path": "/ready", "port": 8080}});
        c["livenessProbe"] = json!({"httpGet": {"path": "/live", "port": 8080}});
    }
    c
}

/// A pod spec that passes every rule of [`strict_profile`].
fn good_pod_spec() -> Value {
    json!({
        "serviceAccountName": "web",
        "automountServiceAccountToken": false,
        "runtimeClassName": "gvisor",
        "nodeSelector": {POOL: "mk"},
        "tolerations": [{"key": POOL, "operator": "Equal", "value": "mk", "effect": "NoSchedule"}],
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001},
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}
        }],
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        "containers": [container("app", true, true, true)],
        "initContainers": [container("migrate", false, true, false)],
        "ephemeralContainers": [container("debug", false, false, false)]
    })
}

/// Wraps a pod spec into a workload of `kind` (namespace [`NS`], labels `app: web`, 3 replicas).
fn workload(kind: &str, spec: &Value, pod_annotations: &Value) -> Value {
    let pod_meta = json!({"labels": {"app": "web"}, "annotations": pod_annotations});
    let template = json!({"metadata": pod_meta, "spec": spec});
    let selector = json!({"matchLabels": {"app": "web"}});
    let (api_version, body) = match kind {
        "Pod" => {
            return json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web", "namespace": NS, "labels": {"app": "web"}, "annotations": pod_annotations},
                "spec": spec
            });
        }
        "Deployment" | "StatefulSet" | "ReplicaSet" => (
            "apps/v1",
            json!({"replicas": 3, "selector": selector, "template": template}),
        ),
        "DaemonSet" => (
            "apps/v1",
            json!({"selector": selector, "template": template}),
        ),
        "Job" => ("batch/v1", json!({"template": template})),
        "CronJob" => (
            "batch/v1",
            json!({"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}),
        ),
        other => panic!("no pod-template kind {other}"),
    };
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "web", "namespace": NS}, "spec": body})
}

/// The namespace objects that make every namespace-level rule pass.
fn namespace_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": {
            "conplus.niedersachsen.de/ressort": "mk", "conplus.niedersachsen.de/protection-level": "veryHigh"}}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": NS},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "allow-ingress-controller", "namespace": NS},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                             "ports": [{"port": 8080}]}]}}),
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": NS},
            "spec": {"hard": {"requests.cpu": "4"}}}),
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": NS},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}}]}}),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": NS},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": NS},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    ]
}

fn eval_values(values: Vec<Value>, profile: &ResolvedProfile) -> Report {
    let objects: Vec<SourceObject> = values
        .into_iter()
        .map(|value| SourceObject {
            value,
            location: None,
        })
        .collect();
    evaluate(&objects, profile, now())
}

fn eval_with_namespace(extra: Vec<Value>, profile: &ResolvedProfile) -> Report {
    let mut values = namespace_objects();
    values.extend(extra);
    eval_values(values, profile)
}

fn rules_of(report: &Report) -> BTreeSet<&'static str> {
    report.findings.iter().map(|f| f.rule.as_str()).collect()
}

fn describe(report: &Report) -> String {
    report
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} on {} [{}]: {}",
                f.rule,
                f.object,
                f.container.as_deref().unwrap_or("-"),
                f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_conformant_workload_of_every_kind_has_no_findings_under_the_strictest_profile() {
    let profile = strict_profile();
    for kind in KINDS {
        let report =
            eval_with_namespace(vec![workload(kind, &good_pod_spec(), &json!({}))], &profile);
        assert!(report.findings.is_empty(), "{kind}:\n{}", describe(&report));
        assert_eq!(report.score, 100, "{kind}");
        assert!(
            report
                .results
                .iter()
                .any(|r| r.object.kind == kind && !r.checked.is_empty()),
            "{kind} was not checked"
        );
    }
}

/// Which containers a container-level mutation is put on.
#[derive(Clone, Copy)]
enum Where {
    /// Regular, init and ephemeral containers.
    All,
    /// Regular and init containers (ephemeral containers may not declare ports or resources).
    NotEphemeral,
    /// Regular containers only.
    Regular,
}

type Mutation = fn(&mut Value);
/// (what, mutation of the pod spec, rules expected, kinds the rules apply to).
type PodCase = (
    &'static str,
    Mutation,
    &'static [&'static str],
    fn(&str) -> bool,
);

fn container_mutations() -> Vec<(&'static str, Where, Mutation, &'static [&'static str])> {
    fn sc(c: &mut Value, k: &str, v: Value) {
        c["securityContext"][k] = v;
    }
    vec![
        (
            "privileged",
            Where::All,
            |c| sc(c, "privileged", json!(true)),
            &["privileged-container"],
        ),
        (
            "host port",
            Where::NotEphemeral,
            |c| c["ports"] = json!([{"containerPort": 8080, "hostPort": 8080}]),
            &["host-ports"],
        ),
        (
            "SYS_ADMIN added",
            Where::All,
            |c| c["securityContext"]["capabilities"]["add"] = json!(["SYS_ADMIN"]),
            &["capabilities-baseline", "capabilities-drop-all"],
        ),
        (
            "ALL not dropped",
            Where::All,
            |c| c["securityContext"]["capabilities"]["drop"] = json!(["NET_RAW"]),
            &["capabilities-drop-all"],
        ),
        (
            "seccomp Unconfined",
            Where::All,
            |c| sc(c, "seccompProfile", json!({"type": "Unconfined"})),
            &["seccomp-unconfined"],
        ),
        (
            "no seccomp",
            Where::All,
            |c| {
                c["securityContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("seccompProfile");
            },
            &["seccomp-required"],
        ),
        (
            "AppArmor Unconfined",
            Where::All,
            |c| sc(c, "appArmorProfile", json!({"type": "Unconfined"})),
            &["apparmor-unconfined"],
        ),
        (
            "SELinux user",
            Where::All,
            |c| sc(c, "seLinuxOptions", json!({"user": "system_u"})),
            &["selinux-options"],
        ),
        (
            "SELinux type",
            Where::All,
            |c| sc(c, "seLinuxOptions", json!({"type": "spc_t"})),
            &["selinux-options"],
        ),
        (
            "procMount Unmasked",
            Where::All,
            |c| sc(c, "procMount", json!("Unmasked")),
            &["proc-mount"],
        ),
        (
            "hostProcess",
            Where::All,
            |c| sc(c, "windowsOptions", json!({"hostProcess": true})),
            &["windows-host-process"],
        ),
        (
            "runAsNonRoot false",
            Where::All,
            |c| sc(c, "runAsNonRoot", json!(false)),
            &["run-as-non-root"],
        ),
        (
            "runAsUser 0",
            Where::All,
            |c| sc(c, "runAsUser", json!(0)),
            &["run-as-user-root"],
        ),
        (
            "privilege escalation",
            Where::All,
            |c| sc(c, "allowPrivilegeEscalation", json!(true)),
            &["allow-privilege-escalation"],
        ),
        (
            "allowPrivilegeEscalation unset",
            Where::All,
            |c| {
                c["securityContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("allowPrivilegeEscalation");
            },
            &["allow-privilege-escalation"],
        ),
        (
            "writable root fs",
            Where::All,
            |c| sc(c, "readOnlyRootFilesystem", json!(false)),
            &["read-only-root-filesystem"],
        ),
        (
            "no memory limit",
            Where::NotEphemeral,
            |c| {
                c["resources"]["limits"]
                    .as_object_mut()
                    .unwrap()
                    .remove("memory");
            },
            &["container-resources"],
        ),
        (
            "no resources",
            Where::NotEphemeral,
            |c| {
                c.as_object_mut().unwrap().remove("resources");
            },
            &["container-resources"],
        ),
        (
            "no liveness probe",
            Where::Regular,
            |c| {
                c.as_object_mut().unwrap().remove("livenessProbe");
            },
            &["container-probes"],
        ),
        (
            "latest tag",
            Where::All,
            |c| c["image"] = json!(format!("{REGISTRY}/mk/app:latest")),
            &["image-tag", "image-digest"],
        ),
        (
            "no tag",
            Where::All,
            |c| c["image"] = json!(format!("{REGISTRY}/mk/app")),
            &["image-tag", "image-digest"],
        ),
        (
            "tag without digest",
            Where::All,
            |c| c["image"] = json!(format!("{REGISTRY}/mk/app:1.4.2")),
            &["image-digest"],
        ),
        (
            "foreign registry",
            Where::All,
            |c| {
                c["image"] = json!(format!(
                    "docker.io/library/nginx:1.27@sha256:{}",
                    "b".repeat(64)
                ))
            },
            &["image-registry"],
        ),
        (
            "literal password",
            Where::All,
            |c| c["env"] = json!([{"name": "DB_PASSWORD", "value": "Sommer2026!"}]),
            &["env-literal-secret"],
        ),
        (
            "secret as env",
            Where::All,
            |c| c["env"] = json!([{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]),
            &["secret-as-env"],
        ),
        (
            "ssh port",
            Where::NotEphemeral,
            |c| c["ports"] = json!([{"containerPort": 22}]),
            &["ssh-port"],
        ),
    ]
}

#[test]
fn every_container_rule_fails_on_every_kind_and_container_type_and_names_the_container() {
    let profile = strict_profile();
    for (what, wher, mutate, expected) in container_mutations() {
        let fields: &[(&str, &str)] = match wher {
            Where::All => &[
                ("containers", "app"),
                ("initContainers", "migrate (init)"),
                ("ephemeralContainers", "debug (ephemeral)"),
            ],
            Where::NotEphemeral => &[("containers", "app"), ("initContainers", "migrate (init)")],
            Where::Regular => &[("containers", "app")],
        };
        for kind in KINDS {
            // Jobs are not long-running: probes are not required there.
            let expected: BTreeSet<&str> = expected
                .iter()
                .copied()
                .filter(|r| !(*r == "container-probes" && matches!(kind, "Job" | "CronJob")))
                .collect();
            for (field, label) in fields {
                let mut spec = good_pod_spec();
                mutate(&mut spec[*field][0]);
                let report = eval_with_namespace(vec![workload(kind, &spec, &json!({}))], &profile);
                assert_eq!(
                    rules_of(&report),
                    expected,
                    "{what} on {kind}.{field}:\n{}",
                    describe(&report)
                );
                for f in &report.findings {
                    assert_eq!(
                        f.container.as_deref(),
                        Some(*label),
                        "{what} on {kind}.{field}: {}",
                        f.message
                    );
                    assert_eq!(f.object.kind, kind);
                    assert!(!f.bsi.is_empty());
                }
            }
        }
    }
}

#[test]
fn every_pod_level_rule_fails_on_every_kind() {
    let profile = strict_profile();
    let replicated = |k: &str| matches!(k, "Deployment" | "StatefulSet" | "ReplicaSet");
    let cases: Vec<PodCase> = vec![
        (
            "hostNetwork",
            |s| s["hostNetwork"] = json!(true),
            &["host-namespaces"],
            |_| true,
        ),
        (
            "hostPID",
            |s| s["hostPID"] = json!(true),
            &["host-namespaces"],
            |_| true,
        ),
        (
            "hostPath volume",
            |s| {
                s["volumes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "h", "hostPath": {"path": "/var/run"}}))
            },
            &["host-path-volumes"],
            |_| true,
        ),
        (
            "nfs volume",
            |s| {
                s["volumes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "n", "nfs": {"server": "x", "path": "/"}}))
            },
            &["volume-types"],
            |_| true,
        ),
        (
            "unsafe sysctl",
            |s| s["securityContext"]["sysctls"] = json!([{"name": "kernel.msgmax", "value": "65536"}, {"name": "net.ipv4.tcp_syncookies", "value": "1"}]),
            &["unsafe-sysctls"],
            |_| true,
        ),
        (
            "pod seccomp Unconfined",
            |s| s["securityContext"]["seccompProfile"] = json!({"type": "Unconfined"}),
            &["seccomp-unconfined"],
            |_| true,
        ),
        (
            "pod runAsUser 0",
            |s| s["securityContext"]["runAsUser"] = json!(0),
            &["run-as-user-root"],
            |_| true,
        ),
        (
            "no runAsNonRoot",
            |s| {
                s["securityContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("runAsNonRoot");
            },
            &["run-as-non-root"],
            |_| true,
        ),
        (
            "pod SELinux role",
            |s| s["securityContext"]["seLinuxOptions"] = json!({"role": "sysadm_r"}),
            &["selinux-options"],
            |_| true,
        ),
        (
            "pod hostProcess",
            |s| s["securityContext"]["windowsOptions"] = json!({"hostProcess": true}),
            &["windows-host-process"],
            |_| true,
        ),
        (
            "default service account",
            |s| {
                s.as_object_mut().unwrap().remove("serviceAccountName");
            },
            &["default-service-account"],
            |_| true,
        ),
        (
            "token automount",
            |s| {
                s.as_object_mut()
                    .unwrap()
                    .remove("automountServiceAccountToken");
            },
            &["service-account-token-automount"],
            |_| true,
        ),
        (
            "no node pool",
            |s| {
                s.as_object_mut().unwrap().remove("nodeSelector");
            },
            &["dedicated-node-pool"],
            |_| true,
        ),
        (
            "wrong node pool",
            |s| s["nodeSelector"][POOL] = json!("mi"),
            &["dedicated-node-pool"],
            |_| true,
        ),
        (
            "no toleration",
            |s| s["tolerations"] = json!([]),
            &["dedicated-node-pool"],
            |_| true,
        ),
        (
            "runc",
            |s| s["runtimeClassName"] = json!("runc"),
            &["runtime-class"],
            |_| true,
        ),
        (
            "no zone spread",
            |s| {
                s.as_object_mut()
                    .unwrap()
                    .remove("topologySpreadConstraints");
            },
            &["topology-spread"],
            |k| matches!(k, "Deployment" | "StatefulSet" | "ReplicaSet"),
        ),
    ];
    for (what, mutate, expected, applies) in cases {
        for kind in KINDS {
            let mut spec = good_pod_spec();
            mutate(&mut spec);
            let report = eval_with_namespace(vec![workload(kind, &spec, &json!({}))], &profile);
            let expected: BTreeSet<&str> = if applies(kind) {
                expected.iter().copied().collect()
            } else {
                BTreeSet::new()
            };
            assert_eq!(
                rules_of(&report),
                expected,
                "{what} on {kind}:\n{}",
                describe(&report)
            );
            if what == "no runAsNonRoot" {
                // PSS restricted: without the pod-level setting every container must set it, so each is named.
                let named: BTreeSet<_> = report
                    .findings
                    .iter()
                    .filter_map(|f| f.container.as_deref())
                    .collect();
                assert_eq!(
                    named,
                    BTreeSet::from(["app", "migrate (init)", "debug (ephemeral)"]),
                    "{kind}"
                );
            } else {
                assert!(
                    report.findings.iter().all(|f| f.container.is_none()),
                    "{what}: pod-level findings name no container"
                );
            }
        }
    }
    // The zone spread may also come from a pod anti-affinity.
    let mut spec = good_pod_spec();
    spec.as_object_mut()
        .unwrap()
        .remove("topologySpreadConstraints");
    spec["affinity"] = json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {}}}]}});
    let report = eval_with_namespace(vec![workload("Deployment", &spec, &json!({}))], &profile);
    assert!(report.findings.is_empty(), "{}", describe(&report));
    assert!(replicated("Deployment"));
}

#[test]
fn apparmor_annotations_on_the_pod_template_are_checked_for_every_kind() {
    let profile = strict_profile();
    for kind in KINDS {
        let ann = json!({"container.apparmor.security.beta.kubernetes.io/app": "unconfined"});
        let report = eval_with_namespace(vec![workload(kind, &good_pod_spec(), &ann)], &profile);
        assert_eq!(
            rules_of(&report),
            BTreeSet::from(["apparmor-unconfined"]),
            "{kind}:\n{}",
            describe(&report)
        );
        let ok = json!({"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"});
        let report = eval_with_namespace(vec![workload(kind, &good_pod_spec(), &ok)], &profile);
        assert!(report.findings.is_empty(), "{kind}:\n{}", describe(&report));
    }
}

#[test]
fn replicas_and_disruption_budgets_are_required_for_replicated_workloads_from_high() {
    let profile = strict_profile();
    for kind in ["Deployment", "StatefulSet", "ReplicaSet"] {
        let mut w = workload(kind, &good_pod_spec(), &json!({}));
        w["spec"]["replicas"] = json!(1);
        let report = eval_with_namespace(vec![w.clone()], &profile);
        assert_eq!(
            rules_of(&report),
            BTreeSet::from(["min-replicas"]),
            "{kind}:\n{}",
            describe(&report)
        );
        // Without spec.replicas the apiserver's default of 1 applies.
        w["spec"].as_object_mut().unwrap().remove("replicas");
        let report = eval_with_namespace(vec![w], &profile);
        assert_eq!(
            rules_of(&report),
            BTreeSet::from(["min-replicas"]),
            "{kind}"
        );

        let mut values: Vec<Value> = namespace_objects()
            .into_iter()
            .filter(|o| o["kind"] != "PodDisruptionBudget")
            .collect();
        values.push(workload(kind, &good_pod_spec(), &json!({})));
        let report = eval_values(values.clone(), &profile);
        assert_eq!(
            rules_of(&report),
            BTreeSet::from(["pod-disruption-budget"]),
            "{kind}:\n{}",
            describe(&report)
        );
        // A PDB in another namespace does not count.
        values.push(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": "other"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}));
        let report = eval_values(values, &profile);
        assert!(
            rules_of(&report).contains("pod-disruption-budget"),
            "{kind}"
        );
    }
    // At Schutzbedarf normal neither rule applies.
    let basis = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
    let mut w = workload("Deployment", &good_pod_spec(), &json!({}));
    w["spec"]["replicas"] = json!(1);
    let report = eval_with_namespace(vec![w], &basis);
    assert!(
        !rules_of(&report).contains("min-replicas"),
        "{}",
        describe(&report)
    );
}

#[test]
fn pods_older_than_the_maximum_age_are_reported_and_owned_pods_are_not_rechecked() {
    let profile = strict_profile(); // maxPodAge 72h
    let mut pod = workload("Pod", &good_pod_spec(), &json!({}));
    pod["status"] = json!({"startTime": "2026-11-20T12:00:00Z"});
    let report = eval_with_namespace(vec![pod.clone()], &profile);
    assert_eq!(
        rules_of(&report),
        BTreeSet::from(["pod-max-age"]),
        "{}",
        describe(&report)
    );
    assert!(
        report.findings[0].message.contains("144h"),
        "{}",
        report.findings[0].message
    );
    pod["status"]["startTime"] = json!("2026-11-25T12:00:00Z");
    assert!(
        eval_with_namespace(vec![pod.clone()], &profile)
            .findings
            .is_empty()
    );

    // A pod of a ReplicaSet is the Deployment's business, except for its age.
    let mut spec = good_pod_spec();
    spec["hostNetwork"] = json!(true);
    let mut owned = workload("Pod", &spec, &json!({}));
    owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4f", "uid": "u", "controller": true}]);
    owned["status"] = json!({"startTime": "2026-11-01T00:00:00Z"});
    let report = eval_with_namespace(vec![owned.clone()], &profile);
    assert_eq!(
        rules_of(&report),
        BTreeSet::from(["pod-max-age"]),
        "{}",
        describe(&report)
    );
    // A pod controlled by something the engine does not check is checked itself.
    owned["metadata"]["ownerReferences"][0]["kind"] = json!("SparkApplication");
    let report = eval_with_namespace(vec![owned], &profile);
    assert!(rules_of(&report).contains("host-namespaces"));
}

#[test]
fn workloads_in_the_default_namespace_are_reported() {
    let profile = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
    let mut w = workload("Deployment", &good_pod_spec(), &json!({}));
    w["metadata"]["namespace"] = json!("default");
    let report = eval_values(vec![w], &profile);
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == RuleId::DefaultNamespace)
        .unwrap_or_else(|| panic!("{}", describe(&report)));
    assert_eq!(f.object.kind, "Deployment");
    assert_eq!(f.bsi, &["APP.4.4.A1"]);
}

#[test]
fn namespace_rules_look_at_all_objects_of_the_namespace_together() {
    let profile = strict_profile();
    let without = |kind: &str, name: Option<&str>| -> Report {
        let values = namespace_objects()
            .into_iter()
            .filter(|o| !(o["kind"] == kind && name.is_none_or(|n| o["metadata"]["name"] == n)))
            .collect();
        eval_values(values, &profile)
    };
    let r = without("NetworkPolicy", Some("default-deny"));
    assert_eq!(
        rules_of(&r),
        BTreeSet::from(["network-policy-default-deny", "network-policy-egress-deny"]),
        "{}",
        describe(&r)
    );
    assert!(
        r.findings
            .iter()
            .all(|f| f.object.kind == "Namespace" && f.object.name == NS)
    );
    assert_eq!(
        rules_of(&without("ResourceQuota", None)),
        BTreeSet::from(["resource-quota"])
    );
    assert_eq!(
        rules_of(&without("LimitRange", None)),
        BTreeSet::from(["limit-range"])
    );
    let mut values = namespace_objects();
    values[0]["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("conplus.niedersachsen.de/ressort");
    let r = eval_values(values, &profile);
    assert_eq!(
        rules_of(&r),
        BTreeSet::from(["namespace-labels"]),
        "{}",
        describe(&r)
    );

    // Ingress-only default deny satisfies the ingress rule but not the egress rule.
    let mut values = namespace_objects();
    values[1]["spec"]["policyTypes"] = json!(["Ingress"]);
    assert_eq!(
        rules_of(&eval_values(values, &profile)),
        BTreeSet::from(["network-policy-egress-deny"])
    );
    // A default-deny in another namespace does not count, and the namespace need not be declared.
    let mut other = namespace_objects()[1].clone();
    other["metadata"]["namespace"] = json!("other");
    let r = eval_values(
        vec![other, workload("Deployment", &good_pod_spec(), &json!({}))],
        &profile,
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.rule == RuleId::NetworkPolicyDefaultDeny && f.object.name == NS),
        "{}",
        describe(&r)
    );
    assert!(
        !r.findings
            .iter()
            .any(|f| f.rule == RuleId::NetworkPolicyDefaultDeny && f.object.name == "other")
    );
}

#[test]
fn allow_all_network_policies_are_reported_on_the_policy() {
    let profile = strict_profile();
    let np = |spec: Value| json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "open", "namespace": NS}, "spec": spec});
    // Ingress from every namespace is also a cross-namespace finding (APP.4.4.A7).
    let both = BTreeSet::from(["network-policy-allow-all", "network-policy-cross-namespace"]);
    let only = BTreeSet::from(["network-policy-allow-all"]);
    let bad = [
        (json!({"podSelector": {}, "ingress": [{}]}), &both),
        (
            json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
            &both,
        ),
        (
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"podSelector": {}}]}]}),
            &only,
        ),
        (
            json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}),
            &only,
        ),
    ];
    for (spec, want) in bad {
        let r = eval_with_namespace(vec![np(spec.clone())], &profile);
        assert_eq!(&rules_of(&r), want, "{spec}:\n{}", describe(&r));
        assert_eq!(r.findings[0].object.kind, "NetworkPolicy");
    }
    let good = [
        json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}),
        json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"a": "b"}}, "podSelector": {}}]}]}),
        json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}], "policyTypes": ["Egress"]}),
    ];
    for spec in good {
        let r = eval_with_namespace(vec![np(spec.clone())], &profile);
        assert!(
            !rules_of(&r).contains("network-policy-allow-all"),
            "{spec}:\n{}",
            describe(&r)
        );
    }
}

#[test]
fn rbac_wildcards_cluster_admin_and_anonymous_subjects_are_reported_but_system_defaults_are_not() {
    let profile = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
    let rbac = "rbac.authorization.k8s.io/v1";
    let objects = vec![
        json!({"apiVersion": rbac, "kind": "Role", "metadata": {"name": "all", "namespace": "x"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}]}),
        json!({"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": "tenant-all"},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}]}),
        json!({"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        json!({"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": "tenant-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "Group", "name": "mk-admins"}]}),
        json!({"apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": "public", "namespace": "x"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "view"},
            "subjects": [{"kind": "User", "name": "system:anonymous"}, {"kind": "Group", "name": "system:unauthenticated"}]}),
        json!({"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": "system:public-info-viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:public-info-viewer"},
            "subjects": [{"kind": "Group", "name": "system:unauthenticated"}]}),
    ];
    let r = eval_values(objects, &profile);
    let got: BTreeSet<(String, &str)> = r
        .findings
        .iter()
        .filter(|f| f.object.kind != "Namespace")
        .map(|f| {
            (
                format!("{}/{}", f.object.kind, f.object.name),
                f.rule.as_str(),
            )
        })
        .collect();
    let want: BTreeSet<(String, &str)> = [
        ("Role/all", "rbac-wildcard"),
        ("ClusterRole/tenant-all", "rbac-wildcard"),
        ("ClusterRoleBinding/tenant-admin", "rbac-cluster-admin"),
        ("RoleBinding/public", "rbac-anonymous-subject"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b))
    .collect();
    assert_eq!(got, want, "{}", describe(&r));
    assert_eq!(
        r.findings
            .iter()
            .filter(|f| f.rule == RuleId::RbacAnonymous)
            .count(),
        2
    );
    assert!(
        r.findings
            .iter()
            .all(|f| f.object.kind == "Namespace" || f.bsi == ["APP.4.4.A3"])
    );
}

#[test]
fn services_exposing_ssh_or_node_ports_and_configmaps_with_credentials_are_reported() {
    let profile = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
    let svc = |spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec});
    let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data});
    let cases = [
        (
            svc(json!({"ports": [{"port": 2222, "targetPort": 22}]})),
            vec!["ssh-port"],
        ),
        (
            svc(json!({"type": "NodePort", "ports": [{"port": 22}]})),
            vec!["ssh-port", "service-node-port"],
        ),
        (
            svc(json!({"type": "LoadBalancer", "ports": [{"port": 443}]})),
            vec!["service-node-port"],
        ),
        (
            svc(json!({"ports": [{"port": 443, "targetPort": "https"}]})),
            vec![],
        ),
        (
            cm(json!({"DB_PASSWORD": "Sommer2026!"})),
            vec!["configmap-credentials"],
        ),
        (
            cm(json!({"application.properties": "spring.datasource.password=geheim123\n"})),
            vec!["configmap-credentials"],
        ),
        (
            cm(json!({"DATABASE_URL": "postgres://app:geheim123@db/app"})),
            vec!["configmap-credentials"],
        ),
        (
            cm(json!({"LOG_LEVEL": "info", "PASSWORD_FILE": "/run/secrets/db"})),
            vec![],
        ),
    ];
    for (obj, want) in cases {
        let r = eval_values(vec![obj.clone()], &profile);
        let want: BTreeSet<&str> = want.into_iter().collect();
        assert_eq!(rules_of(&r), want, "{obj}:\n{}", describe(&r));
    }
    let r = eval_values(vec![svc(json!({"ports": [{"port": 22}]}))], &profile);
    assert_eq!(r.findings[0].bsi, ["SYS.1.6.A16"]);
}

fn privileged_deployment(ns: &str, name: &str, annotations: Value) -> Value {
    let mut spec = good_pod_spec();
    spec["containers"][0]["securityContext"]["privileged"] = json!(true);
    let mut w = workload("Deployment", &spec, &json!({}));
    w["metadata"]["namespace"] = json!(ns);
    w["metadata"]["name"] = json!(name);
    w["metadata"]["labels"] = json!({"team": "a"});
    w["metadata"]["annotations"] = annotations;
    w
}

fn profile_with_exceptions(exceptions: Vec<RuleException>) -> ResolvedProfile {
    let mut cp = builtin_profile(ProtectionLevel::Normal);
    cp.metadata.name = Some("mk".into());
    cp.spec.exceptions = exceptions;
    // Keep the test about the exception: only privileged-container is on.
    cp.spec.rules = cp
        .spec
        .rules
        .iter()
        .map(|r| RuleSetting {
            id: r.id.clone(),
            enabled: r.id == "privileged-container",
            severity: None,
        })
        .collect();
    resolve_custom(&cp, ProtectionLevel::Normal).unwrap()
}

fn exception(namespace: &str, selector: Option<ObjectSelector>, expires: &str) -> RuleException {
    RuleException {
        rule: "privileged-container".into(),
        namespace: namespace.into(),
        object_selector: selector,
        justification: "CSI node plugin needs device access".into(),
        approved_by: "IT.N Sicherheitsmanagement".into(),
        expires: expires.into(),
    }
}

#[test]
fn a_valid_exception_silences_matching_findings_and_is_counted() {
    let p = profile_with_exceptions(vec![exception(
        "ns-a",
        Some(ObjectSelector {
            kind: Some("Deployment".into()),
            name: None,
            match_labels: [("team".into(), "a".into())].into(),
        }),
        "2027-01-01T00:00:00Z",
    )]);
    let r = eval_values(
        vec![
            privileged_deployment("ns-a", "web", json!({})),
            privileged_deployment("ns-b", "web", json!({})),
        ],
        &p,
    );
    let failing: Vec<_> = r
        .findings
        .iter()
        .map(|f| f.object.namespace.clone().unwrap())
        .collect();
    assert_eq!(failing, vec!["ns-b"], "{}", describe(&r));
    assert_eq!(r.silenced_count(), 1);
    assert!(
        matches!(&r.silenced[0].by, Silence::Exception { index: 0, approved_by, .. } if approved_by == "IT.N Sicherheitsmanagement")
    );

    // The selector must match: another name or label is not excepted.
    let p = profile_with_exceptions(vec![exception(
        "ns-a",
        Some(ObjectSelector {
            kind: None,
            name: Some("other".into()),
            match_labels: Default::default(),
        }),
        "2027-01-01T00:00:00Z",
    )]);
    let r = eval_values(vec![privileged_deployment("ns-a", "web", json!({}))], &p);
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.silenced_count(), 0);

    // `*` excepts every namespace.
    let p = profile_with_exceptions(vec![exception("*", None, "2027-01-01T00:00:00Z")]);
    let r = eval_values(
        vec![
            privileged_deployment("ns-a", "a", json!({})),
            privileged_deployment("ns-b", "b", json!({})),
        ],
        &p,
    );
    assert!(r.findings.is_empty());
    assert_eq!(r.silenced_count(), 2);
}

#[test]
fn an_exception_for_another_namespace_does_not_apply() {
    let p = profile_with_exceptions(vec![exception("ns-b", None, "2027-01-01T00:00:00Z")]);
    let r = eval_values(vec![privileged_deployment("ns-a", "web", json!({}))], &p);
    assert_eq!(rules_of(&r), BTreeSet::from(["privileged-container"]));
    assert_eq!(r.silenced_count(), 0);
}

#[test]
fn an_expired_exception_stops_applying_and_is_reported_itself() {
    let p = profile_with_exceptions(vec![exception("ns-a", None, "2026-11-26T11:59:59Z")]);
    let r = eval_values(vec![privileged_deployment("ns-a", "web", json!({}))], &p);
    assert_eq!(
        rules_of(&r),
        BTreeSet::from(["privileged-container", "exception-expired"]),
        "{}",
        describe(&r)
    );
    let expired = r
        .findings
        .iter()
        .find(|f| f.rule == RuleId::ExceptionExpired)
        .unwrap();
    assert_eq!(expired.object.kind, "ConformanceProfile");
    assert_eq!(expired.object.name, "mk");
    assert!(
        expired.message.contains("spec.exceptions[0]")
            && expired.message.contains("2026-11-26T11:59:59Z"),
        "{}",
        expired.message
    );
    assert_eq!(r.silenced_count(), 0);
    // The same exception one second before expiry still applies: the clock is the parameter, not the wall.
    let r = evaluate(
        &[SourceObject {
            value: privileged_deployment("ns-a", "web", json!({})),
            location: None,
        }],
        &p,
        "2026-11-26T11:59:58Z".parse().unwrap(),
    );
    assert!(r.findings.is_empty(), "{}", describe(&r));
}

#[test]
fn an_ignore_annotation_silences_only_with_a_reason() {
    let p = profile_with_exceptions(vec![]);
    let with_reason = json!({
        "conformance.conplus.niedersachsen.de/ignore": "privileged-container, image-tag",
        "conformance.conplus.niedersachsen.de/ignore-reason": "GPU driver installer, replaced in Q1"
    });
    let r = eval_values(vec![privileged_deployment("ns-a", "web", with_reason)], &p);
    assert!(r.findings.is_empty(), "{}", describe(&r));
    assert_eq!(r.silenced_count(), 1);
    assert!(
        matches!(&r.silenced[0].by, Silence::Annotation { reason } if reason.starts_with("GPU"))
    );

    let without = json!({"conformance.conplus.niedersachsen.de/ignore": "privileged-container"});
    let r = eval_values(vec![privileged_deployment("ns-a", "web", without)], &p);
    assert_eq!(
        rules_of(&r),
        BTreeSet::from(["privileged-container", "ignore-without-reason"]),
        "{}",
        describe(&r)
    );
    assert_eq!(r.silenced_count(), 0);

    let blank_reason = json!({
        "conformance.conplus.niedersachsen.de/ignore": "privileged-container,no-such-rule",
        "conformance.conplus.niedersachsen.de/ignore-reason": "  "
    });
    let r = eval_values(vec![privileged_deployment("ns-a", "web", blank_reason)], &p);
    let meta: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule == RuleId::IgnoreWithoutReason)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(meta.len(), 2, "{meta:?}");
    assert!(meta.iter().any(|m| m.contains("no-such-rule")));
}

#[test]
fn a_profile_overrides_severities_and_disables_rules() {
    let mut cp = builtin_profile(ProtectionLevel::Normal);
    cp.metadata.name = Some("custom".into());
    for r in &mut cp.spec.rules {
        if r.id == "privileged-container" {
            r.severity = Some(Severity::Info);
        }
        if r.id == "container-resources" {
            r.enabled = false;
        }
    }
    let p = resolve_custom(&cp, ProtectionLevel::Normal).unwrap();
    let mut spec = good_pod_spec();
    spec["containers"][0]["securityContext"]["privileged"] = json!(true);
    spec["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("resources");
    let r = eval_with_namespace(vec![workload("Deployment", &spec, &json!({}))], &p);
    assert_eq!(
        rules_of(&r),
        BTreeSet::from(["privileged-container"]),
        "{}",
        describe(&r)
    );
    assert_eq!(r.findings[0].severity, Severity::Info);
    assert_eq!(r.by_severity.info, 1);
    assert_eq!(r.by_severity.error, 0);
    assert!(
        r.results
            .iter()
            .all(|res| !res.checked.contains(RuleId::ContainerResources))
    );
}

#[test]
fn the_score_weighs_failed_checks_by_severity_over_all_checks_evaluated() {
    // Only two rules on, on one Service: ssh-port (error, 10) and service-node-port (warning, 3).
    let mut cp = builtin_profile(ProtectionLevel::Normal);
    cp.metadata.name = Some("two".into());
    for r in &mut cp.spec.rules {
        r.enabled = matches!(r.id.as_str(), "ssh-port" | "service-node-port");
    }
    let p = resolve_custom(&cp, ProtectionLevel::Normal).unwrap();
    let svc = |ty: &str, port: u16| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": ty, "ports": [{"port": port}]}});
    assert_eq!(eval_values(vec![svc("ClusterIP", 443)], &p).score, 100);
    // 13 weight checked, 3 failed: ⌊1000/13⌋ = 76.
    assert_eq!(eval_values(vec![svc("NodePort", 443)], &p).score, 76);
    // 10 of 13 failed: ⌊300/13⌋ = 23.
    assert_eq!(eval_values(vec![svc("ClusterIP", 22)], &p).score, 23);
    assert_eq!(eval_values(vec![svc("NodePort", 22)], &p).score, 0);
    // Two objects: 26 checked, 3 failed → ⌊2300/26⌋ = 88.
    assert_eq!(
        eval_values(vec![svc("NodePort", 443), svc("ClusterIP", 443)], &p).score,
        88
    );
    // Silenced findings count as passed.
    let mut s = svc("NodePort", 443);
    s["metadata"]["annotations"] = json!({"conformance.conplus.niedersachsen.de/ignore": "service-node-port",
        "conformance.conplus.niedersachsen.de/ignore-reason": "legacy LB"});
    assert_eq!(eval_values(vec![s], &p).score, 100);
    assert_eq!(eval_values(vec![], &p).score, 100);
}

#[test]
fn top_returns_the_most_serious_findings_first_and_is_bounded() {
    let profile = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
    let mut spec = good_pod_spec();
    spec["containers"][0]["securityContext"]["privileged"] = json!(true);
    spec["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("livenessProbe");
    let objects: Vec<Value> = (0..50)
        .map(|i| {
            let mut w = workload("Deployment", &spec, &json!({}));
            w["metadata"]["name"] = json!(format!("web-{i}"));
            w
        })
        .collect();
    let r = eval_with_namespace(objects, &profile);
    assert!(r.findings.len() >= 100);
    let top = r.top(10);
    assert_eq!(top.len(), 10);
    assert!(
        top.iter()
            .all(|f| f.severity == Severity::Error && f.rule == RuleId::PrivilegedContainer)
    );
    assert_eq!(r.top(100_000).len(), r.findings.len());
    assert_eq!(r.by_severity.total(), r.findings.len());
}

#[test]
fn watched_kinds_cover_every_kind_the_rules_read_and_nothing_else() {
    let kinds: BTreeSet<&str> = watched_kinds().iter().map(|k| k.kind).collect();
    for k in KINDS.iter().chain(&[
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodDisruptionBudget",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "Service",
        "ConfigMap",
        "Namespace",
        "ServiceAccount",
        "PersistentVolumeClaim",
    ]) {
        assert!(kinds.contains(k), "{k} missing from watched_kinds()");
    }
    assert!(
        !kinds.contains("Secret"),
        "the rules never read Secrets; watching them would cost memory and trust"
    );
    assert!(
        watched_kinds()
            .iter()
            .filter(|k| !k.namespaced)
            .all(|k| matches!(k.kind, "Namespace" | "ClusterRole" | "ClusterRoleBinding"))
    );
}

#[test]
fn a_service_account_that_disables_automount_satisfies_the_token_rule() {
    let profile = strict_profile();
    let mut spec = good_pod_spec();
    spec.as_object_mut()
        .unwrap()
        .remove("automountServiceAccountToken");
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": NS}, "automountServiceAccountToken": false});
    let r = eval_with_namespace(
        vec![sa, workload("Deployment", &spec, &json!({}))],
        &profile,
    );
    assert!(r.findings.is_empty(), "{}", describe(&r));
}

#[test]
fn namespace_level_findings_are_silenced_by_the_namespace_objects_annotation_or_an_exception() {
    let profile = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
    let mut values: Vec<Value> = namespace_objects()
        .into_iter()
        .filter(|o| o["kind"] != "ResourceQuota")
        .collect();
    let r = eval_values(values.clone(), &profile);
    assert_eq!(
        rules_of(&r),
        BTreeSet::from(["resource-quota"]),
        "{}",
        describe(&r)
    );

    values[0]["metadata"]["annotations"] = json!({
        "conformance.conplus.niedersachsen.de/ignore": "resource-quota",
        "conformance.conplus.niedersachsen.de/ignore-reason": "shared quota via ClusterResourceQuota"
    });
    let r = eval_values(values.clone(), &profile);
    assert!(r.findings.is_empty(), "{}", describe(&r));
    assert_eq!(r.silenced_count(), 1);

    // An exception names the namespace of a namespace-level finding by the namespace's own name.
    let mut cp = builtin_profile(ProtectionLevel::Normal);
    cp.metadata.name = Some("ns-exc".into());
    cp.spec.exceptions = vec![RuleException {
        rule: "resource-quota".into(),
        namespace: NS.into(),
        object_selector: Some(ObjectSelector {
            kind: Some("Namespace".into()),
            ..Default::default()
        }),
        justification: "quota comes with the next release".into(),
        approved_by: "MK".into(),
        expires: "2027-01-01T00:00:00Z".into(),
    }];
    let p = resolve_custom(&cp, ProtectionLevel::Normal).unwrap();
    values[0]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let r = eval_values(values, &p);
    assert!(r.findings.is_empty(), "{}", describe(&r));
    assert_eq!(r.silenced_count(), 1);
}

// ---------------------------------------------------------------------------------------------------------
// The checks that close the gaps of issue 14: a pass and a fail fixture each (tests/fixtures/conformance/gaps)

/// The objects of `tests/fixtures/conformance/gaps/<name>`.
fn gap_fixture(name: &str) -> Vec<SourceObject> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conformance/gaps")
        .join(name);
    let inputs = conplus_operator::conformance::input::read_paths(&[path], std::io::empty());
    assert!(inputs.errors.is_empty(), "{name}: {:?}", inputs.errors);
    inputs.objects
}

/// The built-in profile of veryHigh, which enables every rule of the gaps (the node pool left to the
/// namespace's default).
fn gap_profile() -> ResolvedProfile {
    resolve_profile(None, ProtectionLevel::VeryHigh, None).unwrap()
}

/// The findings of `rule` in `report`, as `Kind ns/name: message`.
fn findings_of(report: &Report, rule: RuleId) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| format!("{}: {}", f.object, f.message))
        .collect()
}

/// Whether `rule` was evaluated on at least one object.
fn evaluated(report: &Report, rule: RuleId) -> bool {
    report.results.iter().any(|r| r.checked.contains(rule))
}

/// The pass fixture of `rule` is evaluated and has no finding of it; the fail fixture has exactly
/// `want` findings of it, each containing its fragment, in that order.
fn pass_and_fail(rule: RuleId, want: &[(&str, &str)]) {
    let pass = evaluate(
        &gap_fixture(&format!("{rule}.pass.yaml")),
        &gap_profile(),
        now(),
    );
    assert!(
        evaluated(&pass, rule),
        "{rule} did not run on its pass fixture"
    );
    assert_eq!(
        findings_of(&pass, rule),
        Vec::<String>::new(),
        "{rule}: pass fixture"
    );
    let fail = evaluate(
        &gap_fixture(&format!("{rule}.fail.yaml")),
        &gap_profile(),
        now(),
    );
    let got = findings_of(&fail, rule);
    assert_eq!(got.len(), want.len(), "{rule}: {got:#?}");
    for (g, (object, fragment)) in got.iter().zip(want) {
        assert!(
            g.starts_with(object) && g.contains(fragment),
            "{rule}: {g:?} should name {object} and say {fragment:?}"
        );
    }
}

#[test]
fn network_policies_admitting_undeclared_namespaces_fail_and_declared_or_platform_ones_pass() {
    pass_and_fail(
        RuleId::NetworkPolicyCrossNamespace,
        &[
            (
                "NetworkPolicy mk-moin-schule-prod/from-everywhere",
                "spec.ingress[0].from[0] admits every namespace",
            ),
            (
                "NetworkPolicy mk-moin-schule-prod/from-everywhere",
                "spec.ingress[0].from[1] selects namespaces by label",
            ),
            (
                "NetworkPolicy mk-moin-schule-prod/from-everywhere",
                "spec.ingress[0].from[2] admits every IP address (ipBlock 0.0.0.0/0)",
            ),
            (
                "NetworkPolicy mk-moin-schule-prod/from-everywhere",
                "spec.ingress[1] has no from",
            ),
            (
                "NetworkPolicy mk-moin-schule-prod/from-portal",
                "admits namespace mk-portal-prod that the onboarding does not declare",
            ),
        ],
    );
}

#[test]
fn the_platforms_namespaces_are_those_of_the_profile_and_the_controller_adds_the_onboardings() {
    let objects = gap_fixture("network-policy-cross-namespace.fail.yaml");
    let mut profile = gap_profile();
    assert_eq!(
        profile.allowed_from_namespaces,
        ["ingress-nginx", "kube-system", "monitoring"]
    );
    profile
        .allowed_from_namespaces
        .push("mk-portal-prod".into());
    let report = evaluate(&objects[..1], &profile, now());
    assert!(
        findings_of(&report, RuleId::NetworkPolicyCrossNamespace).is_empty(),
        "{}",
        describe(&report)
    );
}

#[test]
fn pods_pinned_to_another_node_pool_fail_and_the_namespace_default_places_the_others() {
    pass_and_fail(
        RuleId::DedicatedNodePool,
        &[
            (
                "Deployment mk-moin-schule-dev/portal",
                "no nodeSelector or required node affinity for conplus.niedersachsen.de/node-pool, and no namespace default",
            ),
            (
                "Deployment mk-moin-schule-prod/api",
                "pinned to another node pool than conplus.niedersachsen.de/node-pool=mk: node affinity conplus.niedersachsen.de/node-pool In [mf, mi]",
            ),
            (
                "Deployment mk-moin-schule-prod/portal",
                "pinned to another node pool than conplus.niedersachsen.de/node-pool=mk: nodeSelector conplus.niedersachsen.de/node-pool=mf",
            ),
        ],
    );
}

#[test]
fn the_profiles_pool_wins_over_a_namespace_default_naming_another_pool() {
    let objects = gap_fixture("dedicated-node-pool.pass.yaml");
    let mut profile = gap_profile();
    profile.dedicated_nodes.as_mut().unwrap().node_label_value = Some("mf".into());
    let report = evaluate(&objects, &profile, now());
    let got = findings_of(&report, RuleId::DedicatedNodePool);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[0].starts_with("Deployment mk-moin-schule-prod/api: pinned to another node pool than conplus.niedersachsen.de/node-pool=mf"), "{got:#?}");
    assert!(got[1].starts_with("Deployment mk-moin-schule-prod/portal: no nodeSelector or required node affinity for conplus.niedersachsen.de/node-pool=mf"), "{got:#?}");
}

#[test]
fn volumes_naming_undeclared_persistent_volume_claims_fail_and_declared_ones_pass() {
    pass_and_fail(
        RuleId::PersistentVolumeClaims,
        &[(
            "Deployment mk-moin-schule-prod/portal",
            "volume data names PersistentVolumeClaim data, which is not declared in namespace mk-moin-schule-prod",
        )],
    );
}
