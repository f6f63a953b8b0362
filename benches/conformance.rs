//! Throughput of the conformance engine (`cargo bench --bench conformance`).
//!
//! The corpus imitates onboarded namespaces: per namespace a Namespace, two NetworkPolicies, a quota, a
//! LimitRange, a PodDisruptionBudget, RBAC, ConfigMaps, Services and workloads of every pod-template kind,
//! a third of them with violations, plus Pods owned by ReplicaSets (as a live cluster has them). Goal:
//! `evaluate` at ≥ 100,000 objects per second on one core.

use std::hint::black_box;

use conplus_operator::api::ProtectionLevel;
use conplus_operator::conformance::input::{Inputs, parse_text};
use conplus_operator::conformance::{SourceObject, evaluate, resolve_profile};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

fn pod_spec(i: usize, good: bool) -> Value {
    let mut c = json!({
        "name": "app",
        "image": format!("registry.conplus.niedersachsen.de/fv{}/app:1.{}.0", i % 17, i % 9),
        "ports": [{"containerPort": 8080, "name": "http"}],
        "env": [{"name": "LOG_FORMAT", "value": "json"}, {"name": "DB_HOST", "value": "db"},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]
    });
    if !good {
        c["securityContext"]["privileged"] = json!(true);
        c["image"] = json!("nginx:latest");
        c["env"][1] = json!({"name": "API_TOKEN", "value": "abcdef123456"});
        c.as_object_mut().map(|m| m.remove("livenessProbe"));
    }
    json!({
        "serviceAccountName": "app",
        "automountServiceAccountToken": false,
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [{"name": "migrate", "image": "registry.conplus.niedersachsen.de/tools/migrate:3.1",
            "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}},
            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
        "containers": [c],
        "volumes": [{"name": "tmp", "emptyDir": {}}]
    })
}

/// About `n` objects in namespaces of 20.
fn corpus(n: usize) -> Vec<SourceObject> {
    let mut out = Vec::with_capacity(n + 20);
    let mut i = 0;
    while out.len() < n {
        let ns = format!("fv{i}-prod");
        let meta = |name: &str| json!({"name": name, "namespace": ns, "labels": {"app": name}});
        let template = |name: &str, good: bool| json!({"metadata": {"labels": {"app": name}}, "spec": pod_spec(i, good)});
        let good = i % 3 != 0;
        let objs = vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
                "conplus.niedersachsen.de/ressort": "mk", "conplus.niedersachsen.de/protection-level": "normal"}}}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("deny"),
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("web"),
                "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}]}]}}),
            json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("q"), "spec": {"hard": {"cpu": "4"}}}),
            json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": meta("l"), "spec": {"limits": [{"type": "Container"}]}}),
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("web"),
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("dev"),
                "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta("dev"),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "dev"},
                "subjects": [{"kind": "Group", "name": "mk-dev"}]}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cfg"),
                "data": {"LOG_LEVEL": "info", "application.yaml": "server:\n  port: 8080\nspring:\n  datasource:\n    url: jdbc:postgresql://db/app\n"}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("web"),
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template("web", good)}}),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("db"),
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}}, "template": template("db", true)}}),
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta("agent"),
                "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent", true)}}),
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("report"),
                "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template("report", good)}}}}),
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("migrate"), "spec": {"template": template("migrate", true)}}),
        ];
        out.extend(objs.into_iter().map(|value| SourceObject {
            value,
            location: None,
        }));
        for p in 0..5 {
            let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("web-{p}"), "namespace": ns, "labels": {"app": "web"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "u", "controller": true}]},
                "spec": pod_spec(i, good), "status": {"startTime": "2026-11-20T10:00:00Z", "phase": "Running"}});
            if p == 4 {
                pod["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("ownerReferences"));
            }
            out.push(SourceObject {
                value: pod,
                location: None,
            });
        }
        i += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let now: jiff::Timestamp = "2026-11-26T12:00:00Z"
        .parse()
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let objects = corpus(4000);
    let mut group = c.benchmark_group("conformance");
    group.throughput(Throughput::Elements(objects.len() as u64));
    for level in [ProtectionLevel::Normal, ProtectionLevel::VeryHigh] {
        let Ok(profile) = resolve_profile(None, level, None) else {
            return;
        };
        group.bench_function(format!("evaluate/{}", level.as_str()), |b| {
            b.iter(|| black_box(evaluate(black_box(&objects), &profile, now)))
        });
    }
    // What `check` adds on top: splitting and parsing YAML.
    let yaml: String = objects
        .iter()
        .map(|o| serde_saphyr::to_string(&o.value).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n");
    group.bench_function("parse-yaml", |b| {
        b.iter(|| {
            let mut inputs = Inputs::default();
            parse_text("corpus.yaml", black_box(&yaml), false, &mut inputs);
            black_box(inputs.objects.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
