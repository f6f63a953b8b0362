//! Workload shape: service accounts, scheduling (node pool, runtime class, zones), replicas, disruption
//! budgets, namespace, pod age.

use jiff::Timestamp;

use super::{
    Check, Kind, ObjectView, PodView, Violations, arr_at, at, bool_at, int_at,
    label_selector_matches, obj_at, str_at,
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

fn dedicated_node_pool(pod: &PodView<'_>, out: &mut Violations) {
    let Some(dn) = pod.profile.dedicated_nodes.as_ref() else {
        return out.not_applicable();
    };
    let mut problems = Vec::new();
    if !selects_node_pool(pod.spec, &dn.node_label, dn.node_label_value.as_deref()) {
        let want = match &dn.node_label_value {
            Some(val) => format!("{}={}", dn.node_label, val),
            None => dn.node_label.clone(),
        };
        problems.push(format!(
            "no nodeSelector or required node affinity for {want}"
        ));
    }
    if let Some(taint) = &dn.taint_key {
        let tolerated = arr_at(pod.spec, &["tolerations"]).iter().any(|t| {
            str_at(t, &["key"]) == Some(taint.as_str())
                || (str_at(t, &["key"]).is_none_or(str::is_empty)
                    && str_at(t, &["operator"]) == Some("Exists"))
        });
        if !tolerated {
            problems.push(format!("no toleration for taint {taint}"));
        }
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
    let terms = arr_at(
        spec,
        &[
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        ],
    );
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
    rationale: "Workloads with elevated protection needs run on nodes not shared with other Ressorts. Evaluated only when the profile sets `dedicatedNodes`.",
    remediation: "Add the profile's node-pool label to `spec.nodeSelector` (or a required node affinity) and a toleration for its taint.",
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
