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

/// The conformance Warning Events in `namespace` regarding `kind/name`: (rule, note, uid),
/// the rule taken from the note's start (`privileged-container (SYS.1.6.A17): ...`).
async fn violation_events(
    env: &Env,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Vec<(String, String, Option<String>)> {
    let events = env
        .ns_api::<k8s_openapi::api::events::v1::Event>(namespace)
        .list(&Default::default())
        .await
        .unwrap();
    events
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("ConformanceViolation"))
        .filter_map(|e| {
            let r = e.regarding?;
            (r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name)).then(|| {
                let note = e.note.unwrap_or_default();
                let rule = note.split(' ').next().unwrap_or_default().to_string();
                (rule, note, r.uid)
            })
        })
        .collect()
}

/// The error findings of the onboarding's status on `object` (`Deployment ns/name`): (rule, message).
fn error_findings(
    o: &conplus_operator::api::FachverfahrenOnboarding,
    object: &str,
) -> Vec<(String, String)> {
    o.status
        .as_ref()
        .and_then(|s| s.conformance.as_ref())
        .map(|c| {
            c.findings
                .iter()
                .filter(|f| f.severity == "error" && f.object == object)
                .map(|f| (f.rule.clone(), f.message.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_events_land_on_each_offending_object_in_its_namespace_one_series_per_rule() {
    let env = Env::start().await;
    let (mk, name) = (env.name("mk"), env.name("mk-ev"));
    let (prod, dev) = (format!("{mk}-ev-prod"), format!("{mk}-ev-dev"));
    env.apply(&ressort(&mk, "64")).await;
    env.apply(&onboarding(&name, &mk, "ev", &["dev", "prod"], "2"))
        .await;
    env.wait_fvo(&name, "Ready and evaluated", |o| {
        is_ready(o) && condition(o, "Conformant").is_some_and(|c| c.status == "True")
    })
    .await;
    let params = PatchParams::apply("ressort-team").force();
    // prod: a privileged container; dev: an otherwise fine container that takes a host port.
    let portal = env
        .ns_api::<Deployment>(&prod)
        .patch("portal", &params, &Patch::Apply(deployment(&prod, true)))
        .await
        .unwrap();
    let mut worker = deployment(&dev, false);
    worker["metadata"]["name"] = "worker".into();
    worker["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 8080, "hostPort": 8080}]);
    let worker = env
        .ns_api::<Deployment>(&dev)
        .patch("worker", &params, &Patch::Apply(worker))
        .await
        .unwrap();

    let (portal_ref, worker_ref) = (
        format!("Deployment {prod}/portal"),
        format!("Deployment {dev}/worker"),
    );
    let bad = env
        .wait_fvo(&name, "error findings on both deployments", |o| {
            !error_findings(o, &portal_ref).is_empty() && !error_findings(o, &worker_ref).is_empty()
        })
        .await;
    for (ns, object, reference, uid) in [
        (&prod, "portal", &portal_ref, portal.metadata.uid.clone()),
        (&dev, "worker", &worker_ref, worker.metadata.uid.clone()),
    ] {
        let findings = error_findings(&bad, reference);
        let rules: std::collections::BTreeSet<String> =
            findings.iter().map(|(r, _)| r.clone()).collect();
        let events = env
            .eventually(&format!("an Event per rule on {reference}"), || async {
                let events = violation_events(&env, ns, "Deployment", object).await;
                let seen: std::collections::BTreeSet<String> =
                    events.iter().map(|(r, _, _)| r.clone()).collect();
                rules.is_subset(&seen).then_some(events)
            })
            .await;
        for (rule, message) in &findings {
            let (_, note, event_uid) = events
                .iter()
                .find(|(r, _, _)| r == rule)
                .unwrap_or_else(|| panic!("no Event for {rule} on {reference}: {events:?}"));
            assert!(
                note.contains(message.as_str()),
                "{rule} on {reference}: note {note:?} lacks {message:?}"
            );
            assert_eq!(event_uid, &uid, "the Event names the object's uid");
        }
        let per_rule = events.iter().filter(|(r, _, _)| rules.contains(r)).count();
        assert_eq!(
            per_rule,
            rules.len(),
            "one series per rule on {reference}: {events:?}"
        );
    }
    assert!(
        violation_events(&env, &prod, "Deployment", "worker")
            .await
            .is_empty()
            && violation_events(&env, &dev, "Deployment", "portal")
                .await
                .is_empty(),
        "each object's Events stay in its own namespace"
    );
    let in_default = env
        .ns_api::<k8s_openapi::api::events::v1::Event>("default")
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("ConformanceViolation")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str())
        })
        .count();
    assert_eq!(
        in_default, 0,
        "no conformance Events on the onboarding in default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_counts_in_one_series_and_starts_again_once_its_event_is_gone() {
    use conplus_operator::controller::events::Recorder;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::api::events::v1::Event;
    use kube::api::{DeleteParams, ListParams};
    use kube::runtime::events::EventType;

    let env = Env::without_controller().await;
    let subject = env.name("subject");
    let regarding = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        namespace: Some("default".into()),
        name: Some(subject.clone()),
        uid: Some(format!("uid-{subject}")),
        ..Default::default()
    };
    let recorder = Recorder::new(env.client.clone(), "conplus-operator", "test");
    let publish = |action: &'static str, note: &'static str| {
        let (recorder, regarding) = (recorder.clone(), regarding.clone());
        async move {
            recorder
                .publish(
                    EventType::Warning,
                    "ConformanceViolation",
                    action,
                    note.into(),
                    &regarding,
                )
                .await
                .unwrap();
        }
    };
    let events: kube::Api<Event> = env.ns_api("default");
    let about = ListParams::default().fields(&format!("regarding.name={subject}"));
    let listed = || async { events.list(&about).await.unwrap().items };

    publish("rule-a", "first").await;
    publish("rule-a", "second").await;
    publish("rule-b", "other rule").await;
    let now = listed().await;
    assert_eq!(now.len(), 2, "one Event per rule: {now:?}");
    let a = now
        .iter()
        .find(|e| e.action.as_deref() == Some("rule-a"))
        .unwrap();
    assert_eq!(a.series.as_ref().map(|s| s.count), Some(2), "{a:?}");
    assert_eq!(a.note.as_deref(), Some("first"));
    assert_eq!(a.reporting_controller.as_deref(), Some("conplus-operator"));
    assert_eq!(a.reporting_instance.as_deref(), Some("test"));
    let b = now
        .iter()
        .find(|e| e.action.as_deref() == Some("rule-b"))
        .unwrap();
    assert!(b.series.is_none(), "{b:?}");

    // The Event is deleted (or expired) while the series is remembered: the next one is a new Event.
    let first = a.metadata.name.clone().unwrap();
    events
        .delete(&first, &DeleteParams::default())
        .await
        .unwrap();
    publish("rule-a", "third").await;
    let now = listed().await;
    let again = now
        .iter()
        .find(|e| e.action.as_deref() == Some("rule-a"))
        .unwrap();
    assert_ne!(again.metadata.name.as_deref(), Some(first.as_str()));
    assert_eq!(again.note.as_deref(), Some("third"));
    assert!(again.series.is_none(), "{again:?}");
}
