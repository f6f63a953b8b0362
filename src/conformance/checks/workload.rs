//! Workload shape: service accounts, scheduling (node pool, runtime class, zones), replicas, disruption
//! budgets, namespace, pod age.

use jiff::Timestamp;

use super::{
    Check, Kind, ObjectView, PodView, Violations, arr_at, at, bool_at, int_at,
    label_selector_matches, obj_at, str_at, strs_at,
};
use crate::api::ProtectionLevel::{High, Normal, VeryHigh};
use crate::conformance::rules::bsi::*;
use crate::conformance::rules::{PssLevel, Rule, RuleId, Severity};

/// Whether a workload kind runs replicas of a long-running pod.
fn replicated(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment" | "StatefulSet" | "ReplicaSet" | "ReplicationController"
    )
}

fn service_account<'v>(pod: &PodView<'v>) -> Option<&'v str> {
    str_at(pod.spec, &["serviceAccountName"])
        .or_else(|| str_at(pod.spec, &["serviceAccount"]))
        .filter(|s| !s.is_empty())
}

fn default_service_account(pod: &PodView<'_>, out: &mut Violations) {
    if service_account(pod).is_none_or(|s| s == "default") {
        out.object("the pod runs as service account \"default\"");
    }
}

fn service_account_token_automount(pod: &PodView<'_>, out: &mut Violations) {
    // The pod's setting wins over its ServiceAccount's (as the kubelet decides).
    let sa = service_account(pod).unwrap_or("default");
    let sa_setting = pod
        .facts
        .and_then(|n| n.service_account_automount.get(sa).copied());
    if bool_at(pod.spec, &["automountServiceAccountToken"]).or(sa_setting) != Some(false) {
        out.object("automountServiceAccountToken is not false on the pod or its ServiceAccount");
    }
}

/// The namespace annotation of the PodNodeSelector admission plugin: the node selector every pod of the
/// namespace gets (`label=value,...`). The operator sets it where the profile demands a dedicated pool.
pub const NODE_SELECTOR_ANNOTATION: &str = "scheduler.alpha.kubernetes.io/node-selector";
/// The namespace annotation of the PodTolerationRestriction admission plugin: tolerations (JSON) every
/// pod of the namespace gets.
pub const DEFAULT_TOLERATIONS_ANNOTATION: &str = "scheduler.alpha.kubernetes.io/defaultTolerations";

/// The value the namespace's default node selector gives `label`, if it names it.
fn namespace_selector<'v>(pod: &PodView<'v>, label: &str) -> Option<&'v str> {
    let sel = pod.facts?.annotation(NODE_SELECTOR_ANNOTATION)?;
    sel.split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == label)
        .map(|(_, v)| v.trim())
}

/// Whether a toleration tolerates every taint with key `taint`.
fn tolerates(t: &serde_json::Value, taint: &str) -> bool {
    str_at(t, &["key"]) == Some(taint)
        || (str_at(t, &["key"]).is_none_or(str::is_empty)
            && str_at(t, &["operator"]) == Some("Exists"))
}

/// Whether the pod, or the namespace's default tolerations, tolerate `taint`.
fn tolerated(pod: &PodView<'_>, taint: &str) -> bool {
    arr_at(pod.spec, &["tolerations"])
        .iter()
        .any(|t| tolerates(t, taint))
        || pod
            .facts
            .and_then(|f| f.annotation(DEFAULT_TOLERATIONS_ANNOTATION))
            .and_then(|a| serde_json::from_str::<Vec<serde_json::Value>>(a).ok())
            .is_some_and(|ts| ts.iter().any(|t| tolerates(t, taint)))
}

/// The pools other than `want` that the pod's own nodeSelector or required node affinity name for `label`.
fn pinned_elsewhere(spec: &serde_json::Value, label: &str, want: &str) -> Vec<String> {
    let mut other = Vec::new();
    if let Some(v) = str_at(spec, &["nodeSelector", label]).filter(|v| *v != want) {
        other.push(format!("nodeSelector {label}={v}"));
    }
    for term in required_terms(spec) {
        for e in arr_at(term, &["matchExpressions"]) {
            if str_at(e, &["key"]) != Some(label) {
                continue;
            }
            let vals: Vec<&str> = strs_at(e, &["values"]).collect();
            let elsewhere = match str_at(e, &["operator"]) {
                Some("In") => !vals.contains(&want),
                Some("NotIn") => vals.contains(&want),
                Some("DoesNotExist") => true,
                _ => false,
            };
            if elsewhere {
                other.push(format!(
                    "node affinity {label} {} [{}]",
                    str_at(e, &["operator"]).unwrap_or_default(),
                    vals.join(", ")
                ));
            }
        }
    }
    other
}

fn required_terms(spec: &serde_json::Value) -> &[serde_json::Value] {
    arr_at(
        spec,
        &[
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        ],
    )
}

/// Whether the pod's own spec names `label` in its nodeSelector or required node affinity.
fn names_label(spec: &serde_json::Value, label: &str) -> bool {
    str_at(spec, &["nodeSelector", label]).is_some()
        || required_terms(spec).iter().any(|t| {
            arr_at(t, &["matchExpressions"])
                .iter()
                .any(|e| str_at(e, &["key"]) == Some(label))
        })
}

fn dedicated_node_pool(pod: &PodView<'_>, out: &mut Violations) {
    let Some(dn) = pod.profile.dedicated_nodes.as_ref() else {
        return out.not_applicable();
    };
    let label = dn.node_label.as_str();
    let from_namespace = namespace_selector(pod, label);
    // The pool: the profile's (the controller fills in the Ressort's), else the namespace default's.
    let want = dn.node_label_value.as_deref().or(from_namespace);
    let mut problems = Vec::new();
    let elsewhere = want
        .map(|w| pinned_elsewhere(pod.spec, label, w))
        .unwrap_or_default();
    // The namespace default applies to pods that do not name the label themselves.
    let by_default =
        from_namespace.is_some_and(|v| want == Some(v)) && !names_label(pod.spec, label);
    if let Some(w) = want
        && !elsewhere.is_empty()
    {
        problems.push(format!(
            "pinned to another node pool than {label}={w}: {}",
            elsewhere.join(", ")
        ));
    } else if !by_default && !selects_node_pool(pod.spec, label, want) {
        let want = match want {
            Some(val) => format!("{label}={val}"),
            None => label.to_owned(),
        };
        problems.push(format!(
            "no nodeSelector or required node affinity for {want}, and no namespace default ({NODE_SELECTOR_ANNOTATION}) selects it"
        ));
    }
    if let Some(taint) = &dn.taint_key
        && !tolerated(pod, taint)
    {
        problems.push(format!("no toleration for taint {taint}"));
    }
    if !problems.is_empty() {
        out.object(problems.join("; "));
    }
}

/// Whether a pod spec is pinned to a node pool by nodeSelector or by every required node-affinity term.
fn selects_node_pool(spec: &serde_json::Value, label: &str, value: Option<&str>) -> bool {
    if let Some(v) = str_at(spec, &["nodeSelector", label])
        && value.is_none_or(|want| want == v)
    {
        return true;
    }
    let terms = required_terms(spec);
    !terms.is_empty()
        && terms.iter().all(|t| {
            arr_at(t, &["matchExpressions"]).iter().any(|e| {
                str_at(e, &["key"]) == Some(label)
                    && match (str_at(e, &["operator"]), value) {
                        (Some("Exists"), None) => true,
                        (Some("In"), want) => {
                            let vals = arr_at(e, &["values"]);
                            !vals.is_empty()
                                && vals
                                    .iter()
                                    .all(|x| want.is_none_or(|w| x.as_str() == Some(w)))
                        }
                        _ => false,
                    }
            })
        })
}

fn runtime_class(pod: &PodView<'_>, out: &mut Violations) {
    let allowed = &pod.profile.allowed_runtime_classes;
    if allowed.is_empty() {
        return out.not_applicable();
    }
    let rc = str_at(pod.spec, &["runtimeClassName"]);
    if !rc.is_some_and(|rc| allowed.iter().any(|a| a == rc)) {
        out.object(format!(
            "runtimeClassName is {} (allowed: {})",
            rc.map_or_else(|| "not set".to_owned(), |r| format!("{r:?}")),
            allowed.join(", ")
        ));
    }
}

fn topology_spread(pod: &PodView<'_>, out: &mut Violations) {
    if !replicated(pod.kind) {
        return out.not_applicable();
    }
    let zone = |k: Option<&str>| {
        matches!(
            k,
            Some("topology.kubernetes.io/zone" | "failure-domain.beta.kubernetes.io/zone")
        )
    };
    let anti = |when: &str, path: &[&str]| {
        arr_at(pod.spec, &["affinity", "podAntiAffinity", when])
            .iter()
            .any(|t| zone(str_at(t, path)))
    };
    let spread = arr_at(pod.spec, &["topologySpreadConstraints"])
        .iter()
        .any(|c| zone(str_at(c, &["topologyKey"])));
    if !spread
        && !anti(
            "requiredDuringSchedulingIgnoredDuringExecution",
            &["topologyKey"],
        )
        && !anti(
            "preferredDuringSchedulingIgnoredDuringExecution",
            &["podAffinityTerm", "topologyKey"],
        )
    {
        out.object(
            "no topologySpreadConstraints or pod anti-affinity over topology.kubernetes.io/zone",
        );
    }
}

fn default_namespace(pod: &PodView<'_>, out: &mut Violations) {
    if pod.namespace == Some("default") {
        out.object("the workload is in namespace \"default\"");
    }
}

/// `spec.replicas`, which the apiserver defaults to 1.
fn replicas(pod: &PodView<'_>) -> i64 {
    int_at(pod.object, &["spec", "replicas"]).unwrap_or(1)
}

fn min_replicas(pod: &PodView<'_>, out: &mut Violations) {
    if !replicated(pod.kind) {
        return out.not_applicable();
    }
    let replicas = replicas(pod);
    if replicas < 2 {
        out.object(format!("spec.replicas is {replicas}"));
    }
}

fn pod_disruption_budget(pod: &PodView<'_>, out: &mut Violations) {
    // A PodDisruptionBudget over one replica would only block drains; min-replicas reports that case.
    if !replicated(pod.kind) || replicas(pod) < 2 {
        return out.not_applicable();
    }
    let labels = pod.template_meta.and_then(|m| obj_at(m, &["labels"]));
    let covered = pod.facts.is_some_and(|n| {
        n.pdb_selectors
            .iter()
            .any(|sel| label_selector_matches(sel, labels))
    });
    if !covered {
        out.object("no PodDisruptionBudget in the namespace selects the pod template's labels");
    }
}

fn persistent_volume_claims(pod: &PodView<'_>, out: &mut Violations) {
    let claims: Vec<(&str, &str)> = arr_at(pod.spec, &["volumes"])
        .iter()
        .filter_map(|v| {
            let claim = str_at(v, &["persistentVolumeClaim", "claimName"])?;
            Some((str_at(v, &["name"]).unwrap_or_default(), claim))
        })
        .collect();
    if claims.is_empty() {
        return out.not_applicable();
    }
    let where_ = pod
        .namespace
        .map_or_else(|| "the input".to_owned(), |ns| format!("namespace {ns}"));
    for (volume, claim) in claims {
        if !pod.facts.is_some_and(|f| f.claims.contains(claim)) {
            out.object(format!(
                "volume {volume} names PersistentVolumeClaim {claim}, which is not declared in {where_}"
            ));
        }
    }
}

/// Pods (in the core group).
const POD: Kind = Kind {
    groups: &[""],
    kind: "Pod",
};

fn pod_max_age(obj: &ObjectView<'_>, out: &mut Violations) {
    let v = obj.v;
    let started = str_at(v, &["status", "startTime"])
        .or_else(|| str_at(v, &["metadata", "creationTimestamp"]))
        .and_then(|s| s.parse::<Timestamp>().ok());
    let (Some(max), Some(started), Some(_)) = (obj.profile.max_pod_age, started, at(v, &["spec"]))
    else {
        return out.not_applicable();
    };
    let age = obj.now.duration_since(started);
    if age > max {
        let hours = age.as_secs() / 3600;
        let max_h = max.as_secs() / 3600;
        out.object(format!(
            "the pod has run for {hours}h, longer than the maximum of {max_h}h"
        ));
    }
}

// ---------------------------------------------------------------------------------------------------------
// The rules

pub(crate) const DEFAULT_SERVICE_ACCOUNT: Rule = Rule {
    id: RuleId::DefaultServiceAccount,
    title: "Workloads must not use the default service account",
    severity: Severity::Warning,
    bsi: &[A9],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(default_service_account)],
    rationale: "The `default` service account is shared by every workload of the namespace; its permissions cannot be tailored to one application.",
    remediation: "Create a ServiceAccount for the workload and set `spec.serviceAccountName`.",
};

pub(crate) const SERVICE_ACCOUNT_TOKEN_AUTOMOUNT: Rule = Rule {
    id: RuleId::ServiceAccountTokenAutomount,
    title: "Service account tokens must not be mounted unless needed",
    severity: Severity::Warning,
    bsi: &[A9, A3],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(service_account_token_automount)],
    rationale: "A mounted token lets anyone who compromises the container talk to the Kubernetes API.",
    remediation: "Set `automountServiceAccountToken: false` on the pod spec (or on its ServiceAccount) unless the application calls the API.",
};

pub(crate) const DEDICATED_NODE_POOL: Rule = Rule {
    id: RuleId::DedicatedNodePool,
    title: "Pods must be scheduled onto the dedicated node pool",
    severity: Severity::Error,
    bsi: &[A14],
    pss: PssLevel::None,
    min_level: Some(High),
    checks: &[Check::Pod(dedicated_node_pool)],
    rationale: "Workloads with elevated protection needs run on nodes not shared with other Ressorts. Evaluated only when the profile sets `dedicatedNodes`. The pool is the profile's `nodeLabelValue`, else the Ressort's `spec.nodePool`, which the operator sets as the namespace's default node selector (`scheduler.alpha.kubernetes.io/node-selector`) and default toleration: a pod that does not name the pool label itself gets them; a pod pinned to another pool is a finding.",
    remediation: "Remove a nodeSelector or node affinity that names another pool; without the namespace default, add the pool label to `spec.nodeSelector` (or a required node affinity) and a toleration for its taint.",
};

pub(crate) const RUNTIME_CLASS: Rule = Rule {
    id: RuleId::RuntimeClass,
    title: "Pods must use an isolating runtime class",
    severity: Severity::Error,
    bsi: &[S26],
    pss: PssLevel::None,
    min_level: Some(VeryHigh),
    checks: &[Check::Pod(runtime_class)],
    rationale: "A sandboxing runtime (gVisor, Kata) adds a kernel boundary between the container and the node. Evaluated only when the profile lists `allowedRuntimeClasses`.",
    remediation: "Set `spec.runtimeClassName` to one of the profile's `allowedRuntimeClasses`.",
};

pub(crate) const TOPOLOGY_SPREAD: Rule = Rule {
    id: RuleId::TopologySpread,
    title: "Replicated workloads must spread over zones",
    severity: Severity::Warning,
    bsi: &[A19, S25],
    pss: PssLevel::None,
    min_level: Some(High),
    checks: &[Check::Pod(topology_spread)],
    rationale: "Replicas in one zone fail together.",
    remediation: "Add a `topologySpreadConstraints` entry with `topologyKey: topology.kubernetes.io/zone` (or a pod anti-affinity on that key).",
};

pub(crate) const DEFAULT_NAMESPACE: Rule = Rule {
    id: RuleId::DefaultNamespace,
    title: "Workloads must not run in the default namespace",
    severity: Severity::Warning,
    bsi: &[A1],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(default_namespace)],
    rationale: "Each Fachverfahren and environment has its own namespace; `default` separates nothing.",
    remediation: "Deploy into the namespace the onboarding created for the environment.",
};

pub(crate) const MIN_REPLICAS: Rule = Rule {
    id: RuleId::MinReplicas,
    title: "Workloads must run at least two replicas",
    severity: Severity::Error,
    bsi: &[A19, S25],
    pss: PssLevel::None,
    min_level: Some(High),
    checks: &[Check::Pod(min_replicas)],
    rationale: "A single replica is unavailable during every node drain and every crash.",
    remediation: "Set `spec.replicas` to 2 or more.",
};

pub(crate) const POD_DISRUPTION_BUDGET: Rule = Rule {
    id: RuleId::PodDisruptionBudget,
    title: "Replicated workloads must be covered by a PodDisruptionBudget",
    severity: Severity::Warning,
    bsi: &[A19, S25],
    pss: PssLevel::None,
    min_level: Some(High),
    checks: &[Check::Pod(pod_disruption_budget)],
    rationale: "Without a PodDisruptionBudget a node drain may evict every replica at once.",
    remediation: "Add a PodDisruptionBudget in the same namespace whose selector matches the pod template's labels.",
};

pub(crate) const PERSISTENT_VOLUME_CLAIMS: Rule = Rule {
    id: RuleId::PersistentVolumeClaims,
    title: "Volumes must name only PersistentVolumeClaims declared in the namespace",
    severity: Severity::Warning,
    bsi: &[S19],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(persistent_volume_claims)],
    rationale: "A container gets only the storage the Fachverfahren declares (DVC: persistent volumes are declared in the deployment descriptor); a claim that is not declared is someone else's data or a volume nobody accounts for. Offline the claims must be in the input, live in the namespace.",
    remediation: "Declare the PersistentVolumeClaim with the workload (in the same chart or manifests), or use a `volumeClaimTemplates` entry of a StatefulSet.",
};

pub(crate) const POD_MAX_AGE: Rule = Rule {
    id: RuleId::PodMaxAge,
    title: "Pods must be restarted regularly",
    severity: Severity::Warning,
    bsi: &[A21],
    pss: PssLevel::None,
    min_level: Some(High),
    checks: &[Check::Object {
        kinds: &[POD],
        check: pod_max_age,
    }],
    rationale: "Regular restarts remove anything an attacker placed in a running container. Evaluated only when the profile sets `maxPodAge`, on Pods with a start time.",
    remediation: "Restart the workload (`kubectl rollout restart`) regularly, e.g. by a scheduled rollout.",
};
