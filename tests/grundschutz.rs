//! The IT-Grundschutz report over manifests: a compliant Fachverfahren passes every requirement its rules
//! can judge, at every protection level; each single breach fails exactly the requirements its rule
//! serves; and `conplus-operator grundschutz` as a pipeline runs it (formats, exit codes, stdin, errors).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use conplus_operator::api::{ConformanceProfile, FachverfahrenOnboarding, ProtectionLevel};
use conplus_operator::conformance::grundschutz::{
    CATALOGUE, Evaluation, Level, Outcome, assess, rules_for,
};
use conplus_operator::conformance::input::read_paths;
use conplus_operator::conformance::profile::resolve_custom;
use conplus_operator::conformance::{ResolvedProfile, SourceObject, evaluate, resolve_profile};
use conplus_operator::resources::{PlatformSettings, desired};
use jiff::Timestamp;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_conplus-operator");
const NS: &str = "mk-schulportal-prod";
const NOW: &str = "2026-11-26T12:00:00Z";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/grundschutz")
}

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

/// The compliant Fachverfahren of `tests/fixtures/grundschutz/compliant`.
fn compliant() -> Vec<SourceObject> {
    let inputs = read_paths(&[fixtures().join("compliant")], std::io::empty());
    assert!(inputs.errors.is_empty(), "{:?}", inputs.errors);
    inputs.objects
}

/// `profile-strict.yaml`: veryHigh with every optional setting, so that every rule can run.
fn strict() -> ResolvedProfile {
    let text = std::fs::read_to_string(fixtures().join("profile-strict.yaml")).unwrap();
    let cp: ConformanceProfile = serde_saphyr::from_str(&text).unwrap();
    resolve_custom(&cp, ProtectionLevel::VeryHigh).unwrap()
}

/// Per requirement: its outcome, the rules that failed in it and its reason.
struct Judged {
    outcomes: Vec<(&'static str, Outcome, Option<String>)>,
    failed_rules: BTreeSet<&'static str>,
    advice: usize,
    listing: String,
}

impl Judged {
    fn failed(&self) -> BTreeSet<&'static str> {
        self.with(Outcome::Fail)
    }

    fn with(&self, o: Outcome) -> BTreeSet<&'static str> {
        self.outcomes
            .iter()
            .filter(|(_, x, _)| *x == o)
            .map(|(id, _, _)| *id)
            .collect()
    }

    fn outcome(&self, id: &str) -> Outcome {
        self.outcomes.iter().find(|(i, _, _)| *i == id).unwrap().1
    }
}

fn judge(objects: &[SourceObject], profile: &ResolvedProfile) -> Judged {
    let report = evaluate(objects, profile, now());
    let a = assess(&Evaluation::from_report(&report, profile));
    Judged {
        outcomes: a
            .results
            .iter()
            .map(|r| (r.requirement.id, r.outcome, r.reason.clone()))
            .collect(),
        failed_rules: report
            .findings
            .iter()
            .filter(|f| f.severity >= conplus_operator::conformance::Severity::Warning)
            .map(|f| f.rule.as_str())
            .collect(),
        advice: a.results.iter().map(|r| r.advice.len()).sum(),
        listing: conplus_operator::conformance::grundschutz::render::text(&a),
    }
}

/// Requirements that rules can judge.
fn with_rules() -> BTreeSet<&'static str> {
    CATALOGUE
        .iter()
        .filter(|r| !rules_for(r.id).is_empty())
        .map(|r| r.id)
        .collect()
}

#[test]
fn a_compliant_fachverfahren_passes_every_requirement_with_rules_under_the_strictest_profile() {
    let j = judge(&compliant(), &strict());
    assert!(j.failed_rules.is_empty(), "{}", j.listing);
    let passed = j.with(Outcome::Pass);
    let not_passed: BTreeSet<&str> = with_rules().difference(&passed).copied().collect();
    // A pod's age is known only for running Pods: manifests of workloads cannot show it.
    assert_eq!(not_passed, BTreeSet::from(["APP.4.4.A21"]), "{}", j.listing);
    let a21 = j
        .outcomes
        .iter()
        .find(|(id, _, _)| *id == "APP.4.4.A21")
        .unwrap();
    assert_eq!(a21.1, Outcome::NotEvaluated);
    assert!(
        a21.2.as_deref().unwrap().contains("checked live"),
        "{:?}",
        a21.2
    );
    // Every other requirement is organisational evidence.
    let rest: BTreeSet<&str> = CATALOGUE
        .iter()
        .map(|r| r.id)
        .filter(|id| !with_rules().contains(id))
        .collect();
    assert_eq!(j.with(Outcome::Organisational), rest);
}

#[test]
fn on_manifests_a_pod_without_start_time_leaves_the_regular_restart_requirement_not_evaluated_saying_it_is_checked_live()
 {
    let mut objects = compliant();
    let mut pod = running_pod("2026-11-26T02:00:00Z");
    pod.value.as_object_mut().unwrap().remove("status");
    objects.push(pod);
    let j = judge(&objects, &strict());
    assert_eq!(
        j.outcome("APP.4.4.A21"),
        Outcome::NotEvaluated,
        "{}",
        j.listing
    );
    assert!(
        j.listing.contains("checked live, not on manifests"),
        "{}",
        j.listing
    );
}

#[test]
fn the_operators_policy_for_a_declared_namespace_passes_separation_only_where_the_input_declares_it()
 {
    let text = std::fs::read_to_string(root().join("examples/moin-schule.yaml")).unwrap();
    let fvo: FachverfahrenOnboarding = serde_saphyr::from_str(&text).unwrap();
    let env = desired(&fvo, &PlatformSettings::default())
        .unwrap()
        .remove(0);
    let mut objects = vec![
        object(serde_json::to_value(&env.resource_quota).unwrap()),
        object(serde_json::to_value(&env.limit_range).unwrap()),
    ];
    for p in &env.network_policies {
        objects.push(object(serde_json::to_value(p).unwrap()));
    }
    let profile = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
    // Neither the onboarding nor the namespace it creates in the input: mk-portal-prod is undeclared.
    let j = judge(&objects, &profile);
    assert_eq!(j.failed(), BTreeSet::from(["APP.4.4.A7"]), "{}", j.listing);
    assert!(j.listing.contains("mk-portal-prod"), "{}", j.listing);
    // The Namespace as the operator renders it records the declared sources; so does the onboarding.
    for declaring in [
        serde_json::to_value(&env.namespace).unwrap(),
        serde_json::to_value(&fvo).unwrap(),
    ] {
        let mut with = objects.clone();
        with.push(object(declaring));
        let j = judge(&with, &profile);
        assert!(j.failed().is_empty(), "{}", j.listing);
    }
}

#[test]
fn a_running_pod_younger_than_the_maximum_age_passes_the_regular_restart_requirement() {
    let mut objects = compliant();
    objects.push(running_pod("2026-11-26T02:00:00Z"));
    let j = judge(&objects, &strict());
    assert_eq!(j.outcome("APP.4.4.A21"), Outcome::Pass, "{}", j.listing);
    assert!(j.failed().is_empty(), "{}", j.listing);
}

#[test]
fn a_compliant_fachverfahren_fails_nothing_under_every_builtin_profile() {
    for level in [
        ProtectionLevel::Normal,
        ProtectionLevel::High,
        ProtectionLevel::VeryHigh,
    ] {
        let profile = resolve_profile(None, level, None).unwrap();
        let j = judge(&compliant(), &profile);
        assert!(j.failed().is_empty(), "{level:?}:\n{}", j.listing);
        let h: BTreeSet<&str> = CATALOGUE
            .iter()
            .filter(|r| r.level == Level::Elevated)
            .map(|r| r.id)
            .collect();
        if level == ProtectionLevel::Normal {
            assert_eq!(
                j.with(Outcome::NotEvaluated),
                h,
                "level H is not considered at normal"
            );
        } else {
            assert!(
                j.with(Outcome::Pass).contains("SYS.1.6.A23"),
                "{}",
                j.listing
            );
        }
    }
}

// -------------------------------------------------------------------------------------------------
// Single breaches

fn find<'a>(objects: &'a mut [SourceObject], kind: &str, name: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .map(|o| &mut o.value)
        .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the fixture"))
}

fn remove(objects: &mut Vec<SourceObject>, kind: &str, name: &str) {
    let before = objects.len();
    objects.retain(|o| !(o.value["kind"] == kind && o.value["metadata"]["name"] == name));
    assert_eq!(objects.len(), before - 1, "no {kind} {name} to remove");
}

fn pod_spec(objects: &mut [SourceObject]) -> &mut Value {
    &mut find(objects, "Deployment", "portal")["spec"]["template"]["spec"]
}

fn container(objects: &mut [SourceObject]) -> &mut Value {
    &mut pod_spec(objects)["containers"][0]
}

fn object(value: Value) -> SourceObject {
    SourceObject {
        value,
        location: None,
    }
}

/// A Pod of the Deployment's ReplicaSet, running since `started`.
fn running_pod(started: &str) -> SourceObject {
    object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "portal-5d4f-x2k9", "namespace": NS, "labels": {"app": "portal"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "portal-5d4f",
                "uid": "0b5c", "controller": true}]},
        "spec": {"containers": [{"name": "portal", "image": "registry.conplus.niedersachsen.de/mk/portal:3.2.1"}]},
        "status": {"startTime": started}
    }))
}

type Breach = fn(&mut Vec<SourceObject>);

/// One breach per rule: what is changed, the rules that must fail, the requirements that must fail.
fn breaches() -> Vec<(
    &'static str,
    Breach,
    &'static [&'static str],
    &'static [&'static str],
)> {
    vec![
        (
            "privileged container",
            |o| container(o)["securityContext"]["privileged"] = json!(true),
            &["privileged-container"],
            &["APP.4.4.A4", "SYS.1.6.A17"],
        ),
        (
            "host network",
            |o| pod_spec(o)["hostNetwork"] = json!(true),
            &["host-namespaces"],
            &["APP.4.4.A4", "SYS.1.6.A17"],
        ),
        (
            "host port",
            |o| container(o)["ports"][0]["hostPort"] = json!(8080),
            &["host-ports"],
            &["APP.4.4.A4", "APP.4.4.A7"],
        ),
        (
            "hostPath volume",
            |o| {
                pod_spec(o)["volumes"][0] = json!({"name": "tmp", "hostPath": {"path": "/var/tmp"}})
            },
            &["host-path-volumes"],
            &["APP.4.4.A4", "SYS.1.6.A19"],
        ),
        (
            "NFS volume",
            |o| {
                pod_spec(o)["volumes"][0] =
                    json!({"name": "tmp", "nfs": {"server": "nfs.itn.local", "path": "/x"}})
            },
            &["volume-types"],
            &["SYS.1.6.A19"],
        ),
        (
            "capability outside the baseline",
            |o| container(o)["securityContext"]["capabilities"]["add"] = json!(["SYS_ADMIN"]),
            &["capabilities-baseline", "capabilities-drop-all"],
            &["SYS.1.6.A17"],
        ),
        (
            "default capabilities kept",
            |o| container(o)["securityContext"]["capabilities"] = json!({}),
            &["capabilities-drop-all"],
            &["SYS.1.6.A17"],
        ),
        (
            "seccomp unconfined",
            |o| pod_spec(o)["securityContext"]["seccompProfile"] = json!({"type": "Unconfined"}),
            &["seccomp-unconfined"],
            &["SYS.1.6.A17", "SYS.1.6.A21"],
        ),
        (
            "no seccomp profile",
            |o| {
                pod_spec(o)["securityContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("seccompProfile");
            },
            &["seccomp-required"],
            &["SYS.1.6.A21"],
        ),
        (
            "AppArmor unconfined",
            |o| container(o)["securityContext"]["appArmorProfile"] = json!({"type": "Unconfined"}),
            &["apparmor-unconfined"],
            &["SYS.1.6.A17", "SYS.1.6.A21"],
        ),
        (
            "SELinux user",
            |o| container(o)["securityContext"]["seLinuxOptions"] = json!({"user": "system_u"}),
            &["selinux-options"],
            &["SYS.1.6.A17", "SYS.1.6.A21"],
        ),
        (
            "unmasked /proc",
            |o| container(o)["securityContext"]["procMount"] = json!("Unmasked"),
            &["proc-mount"],
            &["SYS.1.6.A17"],
        ),
        (
            "unsafe sysctl",
            |o| {
                pod_spec(o)["securityContext"]["sysctls"] =
                    json!([{"name": "kernel.msgmax", "value": "65536"}])
            },
            &["unsafe-sysctls"],
            &["APP.4.4.A4", "SYS.1.6.A17"],
        ),
        (
            "Windows HostProcess",
            |o| container(o)["securityContext"]["windowsOptions"] = json!({"hostProcess": true}),
            &["windows-host-process"],
            &["APP.4.4.A4", "SYS.1.6.A17"],
        ),
        (
            "root allowed",
            |o| pod_spec(o)["securityContext"]["runAsNonRoot"] = json!(false),
            &["run-as-non-root"],
            &["SYS.1.6.A17"],
        ),
        (
            "user id 0",
            |o| container(o)["securityContext"]["runAsUser"] = json!(0),
            &["run-as-user-root"],
            &["SYS.1.6.A17"],
        ),
        (
            "privilege escalation",
            |o| container(o)["securityContext"]["allowPrivilegeEscalation"] = json!(true),
            &["allow-privilege-escalation"],
            &["SYS.1.6.A17"],
        ),
        (
            "writable root file system",
            |o| container(o)["securityContext"]["readOnlyRootFilesystem"] = json!(false),
            &["read-only-root-filesystem"],
            &["SYS.1.6.A23"],
        ),
        (
            "no resources",
            |o| {
                container(o).as_object_mut().unwrap().remove("resources");
            },
            &["container-resources"],
            &["SYS.1.6.A15"],
        ),
        (
            "no probes",
            |o| {
                let c = container(o).as_object_mut().unwrap();
                c.remove("readinessProbe");
                c.remove("livenessProbe");
            },
            &["container-probes"],
            &["APP.4.4.A11"],
        ),
        (
            "default service account",
            |o| {
                pod_spec(o)
                    .as_object_mut()
                    .unwrap()
                    .remove("serviceAccountName");
            },
            &["default-service-account"],
            &["APP.4.4.A9"],
        ),
        (
            "token mounted",
            |o| pod_spec(o)["automountServiceAccountToken"] = json!(true),
            &["service-account-token-automount"],
            &["APP.4.4.A3", "APP.4.4.A9"],
        ),
        (
            "image latest",
            |o| container(o)["image"] = json!("registry.conplus.niedersachsen.de/mk/portal:latest"),
            &["image-tag", "image-digest"],
            &["SYS.1.6.A6"],
        ),
        (
            "image without digest",
            |o| container(o)["image"] = json!("registry.conplus.niedersachsen.de/mk/portal:3.2.1"),
            &["image-digest"],
            &["SYS.1.6.A6"],
        ),
        (
            "image from another registry",
            |o| {
                let c = container(o);
                let img = c["image"]
                    .as_str()
                    .unwrap()
                    .replace("registry.conplus.niedersachsen.de", "docker.io");
                c["image"] = json!(img);
            },
            &["image-registry"],
            &["SYS.1.6.A6"],
        ),
        (
            "literal password",
            |o| container(o)["env"][1] = json!({"name": "DB_PASSWORD", "value": "Sommer2026!"}),
            &["env-literal-secret"],
            &["SYS.1.6.A8"],
        ),
        (
            "credential in a ConfigMap",
            |o| find(o, "ConfigMap", "portal")["data"]["DB_PASSWORD"] = json!("Sommer2026!"),
            &["configmap-credentials"],
            &["SYS.1.6.A8"],
        ),
        (
            "SSH port",
            |o| container(o)["ports"][0]["containerPort"] = json!(22),
            &["ssh-port"],
            &["SYS.1.6.A16"],
        ),
        (
            "no node pool",
            |o| {
                pod_spec(o).as_object_mut().unwrap().remove("nodeSelector");
            },
            &["dedicated-node-pool"],
            &["APP.4.4.A14"],
        ),
        (
            "no sandboxed runtime",
            |o| pod_spec(o)["runtimeClassName"] = json!("runc"),
            &["runtime-class"],
            &["SYS.1.6.A26"],
        ),
        (
            "no zone spreading",
            |o| {
                pod_spec(o)
                    .as_object_mut()
                    .unwrap()
                    .remove("topologySpreadConstraints");
            },
            &["topology-spread"],
            &["APP.4.4.A19", "SYS.1.6.A25"],
        ),
        (
            "one replica",
            |o| find(o, "Deployment", "portal")["spec"]["replicas"] = json!(1),
            &["min-replicas"],
            &["APP.4.4.A19", "SYS.1.6.A25"],
        ),
        (
            "no PodDisruptionBudget",
            |o| remove(o, "PodDisruptionBudget", "portal"),
            &["pod-disruption-budget"],
            &["APP.4.4.A19", "SYS.1.6.A25"],
        ),
        (
            "pod running too long",
            |o| o.push(running_pod("2026-11-24T12:00:00Z")),
            &["pod-max-age"],
            &["APP.4.4.A21"],
        ),
        (
            "deployed into default",
            |o| {
                for obj in o.iter_mut() {
                    if obj.value["kind"] == "Namespace" {
                        obj.value["metadata"]["name"] = json!("default");
                    } else {
                        obj.value["metadata"]["namespace"] = json!("default");
                    }
                }
            },
            &["default-namespace"],
            &["APP.4.4.A1"],
        ),
        (
            "namespace without labels",
            |o| {
                find(o, "Namespace", NS)["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("labels");
            },
            &["namespace-labels"],
            &["APP.4.4.A1"],
        ),
        (
            "no default-deny ingress",
            |o| find(o, "NetworkPolicy", "default-deny")["spec"]["policyTypes"] = json!(["Egress"]),
            &["network-policy-default-deny"],
            &["APP.4.4.A7"],
        ),
        (
            "no default-deny egress",
            |o| {
                find(o, "NetworkPolicy", "default-deny")["spec"]["policyTypes"] = json!(["Ingress"])
            },
            &["network-policy-egress-deny"],
            &["APP.4.4.A18", "SYS.1.6.A21"],
        ),
        (
            "allow-all policy",
            |o| {
                find(o, "NetworkPolicy", "portal-from-ingress")["spec"]["ingress"][0]["from"] =
                    json!([{"podSelector": {}}])
            },
            &["network-policy-allow-all"],
            &["APP.4.4.A7", "APP.4.4.A18"],
        ),
        (
            "no ResourceQuota",
            |o| remove(o, "ResourceQuota", "budget"),
            &["resource-quota"],
            &["SYS.1.6.A15"],
        ),
        (
            "no LimitRange",
            |o| remove(o, "LimitRange", "defaults"),
            &["limit-range"],
            &["SYS.1.6.A15"],
        ),
        (
            "wildcard role",
            |o| find(o, "Role", "portal-reader")["rules"][0]["verbs"] = json!(["*"]),
            &["rbac-wildcard"],
            &["APP.4.4.A3"],
        ),
        (
            "cluster-admin binding",
            |o| find(o, "RoleBinding", "portal-reader")["roleRef"] = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}),
            &["rbac-cluster-admin"],
            &["APP.4.4.A3"],
        ),
        (
            "anonymous subject",
            |o| {
                find(o, "RoleBinding", "portal-reader")["subjects"][0]["name"] =
                    json!("system:anonymous")
            },
            &["rbac-anonymous-subject"],
            &["APP.4.4.A3"],
        ),
        (
            "NodePort service",
            |o| find(o, "Service", "portal")["spec"]["type"] = json!("NodePort"),
            &["service-node-port"],
            &["APP.4.4.A7"],
        ),
        (
            "ingress from a namespace the onboarding does not declare",
            |o| {
                find(o, "NetworkPolicy", "portal-from-ingress")["spec"]["ingress"][0]["from"][0]["namespaceSelector"]
                    ["matchLabels"]["kubernetes.io/metadata.name"] = json!("mf-steuer-prod")
            },
            &["network-policy-cross-namespace"],
            &["APP.4.4.A7"],
        ),
        (
            "pinned to another Ressort's node pool",
            |o| pod_spec(o)["nodeSelector"]["conplus.niedersachsen.de/node-pool"] = json!("mf"),
            &["dedicated-node-pool"],
            &["APP.4.4.A14"],
        ),
        (
            "a volume naming an undeclared claim",
            |o| remove(o, "PersistentVolumeClaim", "portal-uploads"),
            &["persistent-volume-claims"],
            &["SYS.1.6.A19"],
        ),
    ]
}

#[test]
fn each_single_breach_fails_exactly_the_requirements_its_rule_serves() {
    let profile = strict();
    let mut covered = BTreeSet::new();
    let mut wrong = Vec::new();
    for (what, breach, rules, requirements) in breaches() {
        let mut objects = compliant();
        breach(&mut objects);
        let j = judge(&objects, &profile);
        let want_rules: BTreeSet<&str> = rules.iter().copied().collect();
        let want: BTreeSet<&str> = requirements.iter().copied().collect();
        if j.failed_rules != want_rules || j.failed() != want {
            wrong.push(format!(
                "{what}: rules {:?} (want {want_rules:?}), requirements {:?} (want {want:?})",
                j.failed_rules,
                j.failed()
            ));
        }
        covered.extend(want);
    }
    assert!(
        wrong.is_empty(),
        "each breach must violate only its rule and fail its requirements:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        covered,
        with_rules(),
        "every requirement with rules has a breach that fails it"
    );
}

#[test]
fn a_secret_read_from_an_environment_variable_is_advice_and_fails_nothing() {
    let mut objects = compliant();
    container(&mut objects)["env"][1] = json!({"name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "portal-db", "key": "password"}}});
    let j = judge(&objects, &strict());
    assert!(j.failed().is_empty(), "{}", j.listing);
    assert_eq!(j.advice, 1, "{}", j.listing);
    assert!(
        j.listing.contains("advice: info secret-as-env"),
        "{}",
        j.listing
    );
}

#[test]
fn what_the_operator_provisions_for_an_onboarding_meets_the_requirements_it_is_provisioned_for() {
    let text = std::fs::read_to_string(root().join("examples/moin-schule.yaml")).unwrap();
    let fvo: FachverfahrenOnboarding = serde_saphyr::from_str(&text).unwrap();
    // The onboarding in the input declares the namespaces its policies admit (APP.4.4.A7).
    let mut objects = vec![object(serde_json::to_value(&fvo).unwrap())];
    for env in desired(&fvo, &PlatformSettings::default()).unwrap() {
        let mut push = |v: Value| objects.push(object(v));
        push(serde_json::to_value(&env.namespace).unwrap());
        push(serde_json::to_value(&env.resource_quota).unwrap());
        push(serde_json::to_value(&env.limit_range).unwrap());
        push(serde_json::to_value(&env.default_service_account).unwrap());
        for p in &env.network_policies {
            push(serde_json::to_value(p).unwrap());
        }
        for b in &env.role_bindings {
            push(serde_json::to_value(b).unwrap());
        }
    }
    let profile = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
    let j = judge(&objects, &profile);
    assert!(j.failed().is_empty(), "{}", j.listing);
    for id in ["APP.4.4.A1", "APP.4.4.A3", "APP.4.4.A7", "SYS.1.6.A15"] {
        assert_eq!(j.outcome(id), Outcome::Pass, "{id}\n{}", j.listing);
    }
}

// -------------------------------------------------------------------------------------------------
// The command

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("grundschutz").args(args).current_dir(fixtures());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(o)))
}

#[test]
fn the_command_reports_every_requirement_as_json_and_exits_0_for_a_compliant_fachverfahren() {
    let o = run(
        &[
            "compliant",
            "--profile",
            "profile-strict.yaml",
            "--format",
            "json",
            "--now",
            NOW,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let j = json_of(&o);
    let reqs = j["requirements"].as_array().unwrap();
    assert_eq!(reqs.len(), 47);
    let ids: Vec<&str> = reqs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = CATALOGUE.iter().map(|r| r.id).collect();
    assert_eq!(ids, want);
    assert_eq!(j["profile"], "mk-strict");
    assert_eq!(j["protectionLevel"], "veryHigh");
    assert_eq!(j["edition"], "IT-Grundschutz-Kompendium, Edition 2023");
    assert_eq!(j["totals"]["all"]["requirements"], 47);
    assert_eq!(j["totals"]["all"]["fail"], 0);
    assert_eq!(j["totals"]["B"]["requirements"], 13);
    assert_eq!(j["totals"]["S"]["requirements"], 19);
    assert_eq!(j["totals"]["H"]["requirements"], 15);
    let a7 = &reqs[6];
    assert_eq!(a7["id"], "APP.4.4.A7");
    assert_eq!(a7["coverage"], "provisioned");
    assert_eq!(a7["result"], "pass");
    assert_eq!(a7["provisioned"][0]["name"], "conplus-default-deny");
    assert!(
        a7["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "pass"),
        "{a7}"
    );
    let a2 = &reqs[1];
    assert_eq!(
        (a2["coverage"].as_str(), a2["result"].as_str()),
        (Some("organisational"), Some("organisational"))
    );
    assert!(!a2["remaining"].as_str().unwrap().is_empty());
}

#[test]
fn a_breach_exits_1_and_the_markdown_names_the_failed_requirement_with_file_and_line() {
    let mut objects: Vec<String> = Vec::new();
    for f in ["namespace.yaml", "portal.yaml"] {
        objects.push(std::fs::read_to_string(fixtures().join("compliant").join(f)).unwrap());
    }
    let input = objects
        .join("---\n")
        .replace("containerPort: 8080", "containerPort: 22");
    let o = run(
        &[
            "-",
            "--profile",
            "profile-strict.yaml",
            "--format",
            "markdown",
        ],
        Some(&input),
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let md = String::from_utf8(o.stdout).unwrap();
    assert!(
        md.contains(
            "| SYS.1.6.A16 | S | No remote maintenance access in containers | partial | **fail** |"
        ),
        "{md}"
    );
    assert!(md.contains("### SYS.1.6.A16"), "{md}");
    assert!(
        md.contains("error ssh-port: Deployment mk-schulportal-prod/portal"),
        "{md}"
    );
    assert!(md.contains("(-:"), "stdin findings carry a line: {md}");
    for r in CATALOGUE {
        assert_eq!(md.matches(&format!("| {} |", r.id)).count(), 1, "{}", r.id);
    }
}

#[test]
fn level_h_is_not_evaluated_at_normal_and_the_text_says_why() {
    let o = run(&["compliant", "--protection-level", "normal"], None);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("profile dvc-basis, protection level normal, 14 objects"),
        "{text}"
    );
    assert!(text.contains("  A23  H  not evaluated "), "{text}");
    assert!(
        text.contains("level H is considered from protection level high"),
        "{text}"
    );
    assert!(
        text.contains("H (elevated)            15     0     0             15"),
        "{text}"
    );
}

#[test]
fn the_examples_fail_no_requirement() {
    let o = run(
        &[
            root().join("examples").to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(json_of(&o)["totals"]["all"]["fail"], 0);
}

#[test]
fn unreadable_input_exits_2_with_the_report_and_the_error() {
    let broken = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n---\nkind: [unclosed\n";
    let o = run(&["-", "--format", "json"], Some(broken));
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let j = json_of(&o);
    assert_eq!(j["inputErrors"].as_array().unwrap().len(), 1, "{j}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error: -:"),
        "{}",
        show(&o)
    );
}

#[test]
fn no_objects_a_missing_path_and_an_unknown_profile_exit_2() {
    let empty = tempfile::tempdir().unwrap();
    let o = run(&[empty.path().to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no Kubernetes objects"),
        "{}",
        show(&o)
    );

    let o = run(&["does-not-exist.yaml"], None);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));

    let o = run(&["compliant", "--profile", "dvc-unbekannt"], None);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no such built-in profile"),
        "{}",
        show(&o)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn live_options_without_a_kubeconfig_or_with_paths_and_an_unreadable_kubeconfig_exit_2() {
    let o = run(&["--onboarding", "mk-moin-schule"], None);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let o = run(&["compliant", "--kubeconfig", "kubeconfig"], None);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be used with"),
        "{}",
        show(&o)
    );
    let o = run(&["--kubeconfig", "no-such-kubeconfig"], None);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("error: --kubeconfig no-such-kubeconfig: "),
        "{}",
        show(&o)
    );
}
