//! The conformance rules, live: a workload in an onboarded namespace is reflected on the
//! onboarding's status within seconds of every change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::*;

fn deployment(namespace: &str, privileged: bool) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "portal", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "portal"}},
            "template": {
                "metadata": {"labels": {"app": "portal"}},
                "spec": {
                    "serviceAccountName": "portal",
                    "automountServiceAccountToken": false,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "app",
                        "image": "registry.example/portal:1.0",
                        "securityContext": {
                            "privileged": privileged,
                            "allowPrivilegeEscalation": privileged,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]}
                        },
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                        "livenessProbe": {"httpGet": {"path": "/livez", "port": 8080}},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}}
                    }]
                }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_deployment_turns_conformant_false_naming_sys_1_6_a17_and_true_once_fixed() {
    let env = Env::start().await;
    let (mk, name) = (env.name("mk"), env.name("mk-moin"));
    let namespace = format!("{mk}-moin-prod");
    env.apply(&ressort(&mk, "64")).await;
    env.apply(&onboarding(&name, &mk, "moin", &["prod"], "2"))
        .await;
    let ready = env
        .wait_fvo(&name, "Ready and evaluated", |o| {
            is_ready(o) && condition(o, "Conformant").is_some_and(|c| c.status != "Unknown")
        })
        .await;
    // The operator's own objects satisfy the namespace-level rules.
    let first = condition(&ready, "Conformant").unwrap();
    assert_eq!(
        first.status, "True",
        "an empty onboarded namespace is conformant: {}",
        first.message
    );
    let deployments = env.ns_api::<Deployment>(&namespace);
    let params = PatchParams::apply("ressort-team").force();
    deployments
        .patch(
            "portal",
            &params,
            &Patch::Apply(deployment(&namespace, true)),
        )
        .await
        .unwrap();
    let bad = env
        .wait_fvo(&name, "Conformant=False naming the deployment", |o| {
            condition(o, "Conformant")
                .is_some_and(|c| c.status == "False" && c.message.contains("SYS.1.6.A17"))
        })
        .await;
    let c = condition(&bad, "Conformant").unwrap();
    assert!(c.message.contains("SYS.1.6.A17"), "{}", c.message);
    assert!(is_ready(&bad), "conformance must not change Ready");
    let summary = bad.status.clone().unwrap().conformance.unwrap();
    assert!(summary.errors > 0 && summary.score < 100, "{summary:?}");
    assert!(
        summary
            .findings
            .iter()
            .any(|f| f.object.contains("portal") && f.bsi.iter().any(|b| b == "SYS.1.6.A17"))
    );

    let started = tokio::time::Instant::now();
    deployments
        .patch(
            "portal",
            &params,
            &Patch::Apply(deployment(&namespace, false)),
        )
        .await
        .unwrap();
    env.wait_fvo(&name, "no SYS.1.6.A17 finding after the fix", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.conformance.as_ref())
            .is_some_and(|s| {
                !s.findings
                    .iter()
                    .any(|f| f.object.contains("portal") && f.rule.contains("privileged"))
            })
    })
    .await;
    assert!(
        started.elapsed().as_secs() < 10,
        "reflected within seconds, took {:?}",
        started.elapsed()
    );
}
