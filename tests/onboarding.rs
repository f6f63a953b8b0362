//! The controller against a cluster over HTTP (the sandbox, or the real control plane with
//! `CONPLUS_TEST_CLUSTER`): convergence, pruning, conflicts, budget, deletion policies,
//! restarts, API faults and idempotence. Every test names its Ressorts with its own tag
//! (`env.name`), so that tests sharing a cluster do not see each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use conplus_operator::api::*;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::ResourceExt;
use kube::api::ListParams;
use kube_sandbox::Fault;
use support::*;

const MANAGED: &str = "app.kubernetes.io/managed-by=conplus-operator";

async fn names_in<K>(env: &Env, ns: &str) -> Vec<String>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    names(&env.ns_api::<K>(ns), &ListParams::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_environment_onboarding_converges_to_ready_with_every_object() {
    let env = Env::start().await;
    let (mk, name) = (env.name("mk"), env.name("mk-moin"));
    env.apply(&ressort(&mk, "64")).await;
    env.apply(&onboarding(
        &name,
        &mk,
        "moin",
        &["dev", "test", "prod"],
        "2",
    ))
    .await;
    let fvo = env.wait_fvo(&name, "Ready", is_ready).await;
    let status = fvo.status.unwrap();
    assert_eq!(status.phase, Some(Phase::Ready));
    assert_eq!(status.namespaces.len(), 3);
    assert_eq!(status.allocated.unwrap().cpu.0, "6");
    for c in [
        "NamespacesReady",
        "QuotaApplied",
        "NetworkIsolated",
        "AccessGranted",
        "BudgetAvailable",
    ] {
        let cond = status
            .conditions
            .iter()
            .find(|x| x.type_ == c)
            .unwrap_or_else(|| panic!("{c} missing"));
        assert_eq!(cond.status, "True", "{c}: {}", cond.message);
    }
    for e in ["dev", "test", "prod"] {
        let ns_name = format!("{mk}-moin-{e}");
        let ns = env.api::<Namespace>().get(&ns_name).await.unwrap();
        let labels = ns.labels();
        assert_eq!(labels["conplus.niedersachsen.de/environment"], e);
        assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
        assert_eq!(
            names_in::<ResourceQuota>(&env, &ns_name).await,
            ["conplus-quota"]
        );
        assert_eq!(
            names_in::<LimitRange>(&env, &ns_name).await,
            ["conplus-limits"]
        );
        assert_eq!(
            names_in::<NetworkPolicy>(&env, &ns_name).await.len(),
            5,
            "deny, dns, same-namespace, ingress, monitoring"
        );
        assert_eq!(names_in::<RoleBinding>(&env, &ns_name).await.len(), 1);
        let sa = env
            .ns_api::<ServiceAccount>(&ns_name)
            .get("default")
            .await
            .unwrap();
        assert_eq!(sa.automount_service_account_token, Some(false));
    }
    let r = env
        .eventually("Ressort status counts the onboarding", || async {
            let r = env.api::<Ressort>().get(&mk).await.ok()?;
            (r.status.as_ref()?.onboardings == 1).then_some(r)
        })
        .await;
    assert_eq!(r.status.unwrap().allocated.unwrap().cpu.0, "6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_with_a_selector_leaves_unselected_onboardings_alone() {
    let env = Env::start().await;
    let (mk, picked, other) = (env.name("mk"), env.name("mk-picked"), env.name("mk-other"));
    env.apply(&ressort(&mk, "64")).await;
    // Created directly, without the test's label that the controller selects.
    env.api::<FachverfahrenOnboarding>()
        .create(
            &Default::default(),
            &onboarding(&other, &mk, "other", &["prod"], "1"),
        )
        .await
        .unwrap();
    env.apply(&onboarding(&picked, &mk, "picked", &["prod"], "1"))
        .await;
    env.wait_fvo(&picked, "Ready", is_ready).await;
    // The Ressort controller counts only what it selects, and the other onboarding has been
    // neither provisioned nor given a status.
    env.eventually("the Ressort counts the selected onboarding", || async {
        let r = env.api::<Ressort>().get(&mk).await.ok()?;
        (r.status?.onboardings == 1).then_some(())
    })
    .await;
    let untouched = env
        .api::<FachverfahrenOnboarding>()
        .get(&other)
        .await
        .unwrap();
    assert!(
        untouched.status.is_none() && untouched.finalizers().is_empty(),
        "an unselected onboarding must not be reconciled: {:?}",
        untouched.status
    );
    assert!(
        env.api::<Namespace>()
            .get_opt(&format!("{mk}-other-prod"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_environment_and_access_entry_are_pruned_and_the_namespace_retained() {
    let env = Env::start().await;
    let (mi, name) = (env.name("mi"), env.name("mi-polis"));
    env.apply(&ressort(&mi, "64")).await;
    let mut fvo = onboarding(&name, &mi, "polis", &["dev", "prod"], "1");
    fvo.spec.access.push(AccessEntry {
        group: "mi-polis-ops".into(),
        role: AccessRole::Admin,
        environments: None,
    });
    env.apply(&fvo).await;
    env.wait_fvo(&name, "Ready", is_ready).await;
    let (dev, prod, staging) = (
        format!("{mi}-polis-dev"),
        format!("{mi}-polis-prod"),
        format!("{mi}-polis-staging"),
    );
    assert_eq!(names_in::<RoleBinding>(&env, &prod).await.len(), 2);
    // dev has the operator's PolicyReport.
    let gvk = kube::api::GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "policyreports");
    let dev_reports: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(env.client.clone(), &dev, &ar);
    env.eventually("dev's PolicyReport", || async {
        dev_reports
            .get_opt("conplus-conformance")
            .await
            .ok()
            .flatten()
    })
    .await;

    // Drop the dev environment and the ops group, add a staging environment.
    fvo.spec.environments.retain(|e| e.name != "dev");
    fvo.spec.environments.push(Environment {
        name: "staging".into(),
        quota: totals("1", "1Gi", "1Gi", "5"),
    });
    fvo.spec.access.retain(|a| a.group != "mi-polis-ops");
    env.apply(&fvo).await;
    let done = env
        .wait_fvo(&name, "Ready after update", |o| {
            is_ready(o) && o.status.as_ref().unwrap().namespaces.len() == 2
        })
        .await;
    let envs: Vec<_> = done
        .status
        .unwrap()
        .namespaces
        .into_iter()
        .map(|n| n.environment)
        .collect();
    assert_eq!(envs, ["prod", "staging"]);
    env.eventually("ops RoleBinding pruned", || async {
        (names_in::<RoleBinding>(&env, &prod).await.len() == 1).then_some(())
    })
    .await;
    assert!(
        env.api::<Namespace>()
            .get_opt(&staging)
            .await
            .unwrap()
            .is_some()
    );
    // Retain: the dev namespace stays, released from management, its contents untouched.
    let released = env
        .eventually("dev namespace released", || async {
            let ns = env.api::<Namespace>().get(&dev).await.ok()?;
            (!ns.labels()
                .contains_key("conplus.niedersachsen.de/onboarding"))
            .then_some(ns)
        })
        .await;
    assert!(
        released.metadata.deletion_timestamp.is_none(),
        "Retain must not delete the namespace"
    );
    let quota = env
        .ns_api::<ResourceQuota>(&dev)
        .get("conplus-quota")
        .await
        .unwrap();
    assert!(
        !quota.labels().contains_key("app.kubernetes.io/managed-by"),
        "released quota keeps no ownership label"
    );
    assert!(
        quota.spec.unwrap().hard.unwrap().contains_key("pods"),
        "released quota keeps its limits"
    );
    // Its PolicyReport goes: nobody would update its findings any more.
    env.eventually("dev's PolicyReport deleted on release", || async {
        dev_reports
            .get_opt("conplus-conformance")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_namespace_without_our_label_is_a_conflict_and_left_untouched() {
    let env = Env::start().await;
    let (mf, name) = (env.name("mf"), env.name("mf-steuer"));
    let (dev, prod) = (format!("{mf}-steuer-dev"), format!("{mf}-steuer-prod"));
    env.apply(&ressort(&mf, "64")).await;
    let mut foreign = Namespace::default();
    foreign.metadata.name = Some(prod.clone());
    foreign.metadata.labels = Some([("team".to_string(), "someone-else".to_string())].into());
    env.apply(&foreign).await;
    env.apply(&onboarding(&name, &mf, "steuer", &["dev", "prod"], "1"))
        .await;
    let fvo = env
        .wait_fvo(&name, "Degraded with a conflict", |o| {
            o.status.as_ref().and_then(|s| s.phase) == Some(Phase::Degraded)
                && condition(o, "NamespacesReady").is_some_and(|c| c.reason == "NamespaceConflict")
        })
        .await;
    let msg = &condition(&fvo, "NamespacesReady").unwrap().message;
    assert!(msg.contains(&prod), "{msg}");
    assert_eq!(condition(&fvo, "Ready").unwrap().status, "False");
    // The other environment is provisioned; nothing is written into the foreign namespace.
    env.eventually("dev provisioned", || async {
        env.api::<Namespace>().get_opt(&dev).await.ok()?.map(|_| ())
    })
    .await;
    let ns = env.api::<Namespace>().get(&prod).await.unwrap();
    assert!(
        !ns.labels().contains_key("app.kubernetes.io/managed-by"),
        "foreign namespace must not be adopted"
    );
    assert!(names_in::<ResourceQuota>(&env, &prod).await.is_empty());
    assert!(names_in::<NetworkPolicy>(&env, &prod).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_onboarding_over_budget_waits_until_the_budget_is_raised() {
    let env = Env::start().await;
    let (ms, first, second) = (env.name("ms"), env.name("ms-first"), env.name("ms-second"));
    env.apply(&ressort(&ms, "10")).await;
    env.apply(&onboarding(&first, &ms, "first", &["prod"], "6"))
        .await;
    env.wait_fvo(&first, "Ready", is_ready).await;
    env.apply(&onboarding(&second, &ms, "second", &["prod"], "6"))
        .await;
    let held = env
        .wait_fvo(&second, "BudgetExceeded", |o| {
            condition(o, "BudgetAvailable").is_some_and(|c| c.reason == "BudgetExceeded")
        })
        .await;
    assert_eq!(held.status.as_ref().unwrap().phase, Some(Phase::Blocked));
    assert_eq!(condition(&held, "Ready").unwrap().reason, "BudgetExceeded");
    assert!(
        env.api::<Namespace>()
            .get_opt(&format!("{ms}-second-prod"))
            .await
            .unwrap()
            .is_none(),
        "not provisioned over budget"
    );
    assert!(
        is_ready(
            &env.api::<FachverfahrenOnboarding>()
                .get(&first)
                .await
                .unwrap()
        ),
        "the first keeps what it has"
    );

    env.apply(&ressort(&ms, "12")).await;
    env.wait_fvo(&second, "Ready after the budget was raised", is_ready)
        .await;
    let r = env
        .eventually("Ressort sums both", || async {
            let r = env.api::<Ressort>().get(&ms).await.ok()?;
            (r.status.as_ref()?.allocated.as_ref()?.cpu.0 == "12").then_some(r)
        })
        .await;
    assert_eq!(r.status.unwrap().onboardings, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_with_retain_keeps_namespaces_and_with_delete_removes_them() {
    let env = Env::start().await;
    let (mu, keep, gone) = (env.name("mu"), env.name("mu-keep"), env.name("mu-gone"));
    env.apply(&ressort(&mu, "64")).await;
    env.apply(&onboarding(&keep, &mu, "keep", &["prod"], "1"))
        .await;
    let mut fvo = onboarding(&gone, &mu, "gone", &["prod"], "1");
    fvo.spec.deletion_policy = DeletionPolicy::Delete;
    env.apply(&fvo).await;
    env.wait_fvo(&keep, "Ready", is_ready).await;
    env.wait_fvo(&gone, "Ready", is_ready).await;

    env.delete_fvo(&keep).await;
    env.delete_fvo(&gone).await;
    env.eventually("both onboardings gone", || async {
        let api = env.api::<FachverfahrenOnboarding>();
        (api.get_opt(&keep).await.ok()?.is_none() && api.get_opt(&gone).await.ok()?.is_none())
            .then_some(())
    })
    .await;
    let (kept_ns, gone_ns) = (format!("{mu}-keep-prod"), format!("{mu}-gone-prod"));
    let kept = env.api::<Namespace>().get(&kept_ns).await.unwrap();
    assert!(kept.metadata.deletion_timestamp.is_none());
    assert!(
        !kept
            .labels()
            .contains_key("conplus.niedersachsen.de/onboarding")
    );
    assert_eq!(
        names_in::<ResourceQuota>(&env, &kept_ns).await,
        ["conplus-quota"],
        "contents stay"
    );
    env.wait_gone::<Namespace>(&gone_ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_ressort_blocks_ready_with_its_reason_everywhere_and_resolves_when_it_appears() {
    let env = Env::start().await;
    let (ml, name) = (env.name("ml"), env.name("ml-agrar"));
    env.apply(&onboarding(&name, &ml, "agrar", &["prod"], "1"))
        .await;
    let o = env
        .wait_fvo(&name, "Ready=False with reason RessortNotFound", |o| {
            condition(o, "Ready").is_some_and(|c| c.reason == "RessortNotFound")
        })
        .await;
    let status = o.status.clone().unwrap();
    // Needs a user's action: not shown as in progress (Argo CD reads Blocked as Degraded).
    assert_eq!(status.phase, Some(Phase::Blocked));
    let ready = condition(&o, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert!(
        ready
            .message
            .contains(&format!("Ressort {ml:?} does not exist")),
        "{ready:?}"
    );
    assert_eq!(
        condition(&o, "BudgetAvailable").unwrap().reason,
        "RessortNotFound"
    );
    // What `kubectl get fvo` shows: the API server's table with the CRD's printer columns.
    let out = env
        .cluster
        .kubectl()
        .args(["get", "fachverfahrenonboarding", &name, "--no-headers"])
        .output()
        .expect("kubectl runs (.ci/install-tools.sh installs it)");
    let row = String::from_utf8_lossy(&out.stdout);
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert!(
        columns.contains(&"Blocked")
            && columns.contains(&"False")
            && columns.contains(&"RessortNotFound"),
        "kubectl get shows phase, Ready and its reason: {row:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    env.apply(&ressort(&ml, "8")).await;
    env.wait_fvo(&name, "Ready once the Ressort exists", is_ready)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_onboarding_quantity_is_reported_as_the_onboardings_fault_not_the_ressorts() {
    let env = Env::start().await;
    let (mw, name) = (env.name("mw"), env.name("mw-foerder"));
    env.apply(&ressort(&mw, "8")).await;
    let fvo = onboarding(&name, &mw, "foerder", &["prod"], "1");
    // Written as an integer, a negative count passes an int-or-string schema without a minimum
    // (and objects stored before a schema change); the controller must refuse it as the
    // onboarding's fault.
    let applied = env
        .api::<FachverfahrenOnboarding>()
        .patch(
            &name,
            &kube::api::PatchParams::apply("kubectl").force(),
            &kube::api::Patch::Apply(&{
                let mut v = serde_json::to_value(&fvo).unwrap();
                v["metadata"]["labels"] = serde_json::json!({ TEST_LABEL: env.tag.clone() });
                v["spec"]["environments"][0]["quota"]["pods"] = serde_json::json!(-1);
                v
            }),
        )
        .await;
    if let Err(e) = &applied {
        // A schema that refuses negative counts says so at once, naming the onboarding's field.
        let text = e.to_string();
        assert!(
            text.contains("pods") && !text.contains("Ressort"),
            "refused for the onboarding's field: {text}"
        );
        return;
    }
    let o = env
        .wait_fvo(&name, "Ready=False with reason InvalidSpec", |o| {
            condition(o, "Ready").is_some_and(|c| c.reason == "InvalidSpec")
        })
        .await;
    assert_eq!(o.status.as_ref().unwrap().phase, Some(Phase::Failed));
    let budget = condition(&o, "BudgetAvailable").unwrap();
    assert_eq!(
        (budget.status.as_str(), budget.reason.as_str()),
        ("Unknown", "InvalidSpec"),
        "the Ressort is not blamed: {budget:?}"
    );
    assert!(
        condition(&o, "Ready")
            .unwrap()
            .message
            .contains("quota.pods"),
        "{:?}",
        condition(&o, "Ready")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_in_the_middle_of_provisioning_loses_nothing_and_duplicates_nothing() {
    let mut env = Env::start().await;
    let (mj, name) = (env.name("mj"), env.name("mj-akte"));
    env.apply(&ressort(&mj, "64")).await;
    // Slow down writes so that the stop lands mid-way through provisioning. Only the sandbox
    // can; on a real server the stop lands wherever provisioning has got to.
    if let Some(sandbox) = &env.cluster.sandbox {
        sandbox.faults().inject(
            Fault::new()
                .verb("apply")
                .delay(Duration::from_millis(150))
                .for_duration(Duration::from_secs(3)),
        );
    }
    env.apply(&onboarding(
        &name,
        &mj,
        "akte",
        &["dev", "test", "prod"],
        "1",
    ))
    .await;
    env.eventually("provisioning started", || async {
        env.api::<Namespace>()
            .get_opt(&format!("{mj}-akte-dev"))
            .await
            .ok()?
            .map(|_| ())
    })
    .await;
    env.stop_controller().await;
    if let Some(sandbox) = &env.cluster.sandbox {
        sandbox.faults().clear();
    }
    env.start_controller();
    env.wait_fvo(&name, "Ready after restart", is_ready).await;
    for e in ["dev", "test", "prod"] {
        let ns = format!("{mj}-akte-{e}");
        assert_eq!(
            names_in::<ResourceQuota>(&env, &ns).await,
            ["conplus-quota"]
        );
        assert_eq!(names_in::<NetworkPolicy>(&env, &ns).await.len(), 5);
        assert_eq!(names_in::<RoleBinding>(&env, &ns).await.len(), 1);
    }
    let all = env
        .api::<Namespace>()
        .list(&ListParams::default().labels(&format!(
            "{MANAGED},conplus.niedersachsen.de/onboarding={name}"
        )))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3, "exactly the three namespaces");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_conflicts_and_dropped_watches_still_converge() {
    if !sandbox_only("injects API errors, conflicts, a compaction and cut watches") {
        return;
    }
    let env = Env::start().await;
    let (mw, name) = (env.name("mw"), env.name("mw-foerder"));
    env.apply(&ressort(&mw, "64")).await;
    let faults = env.sandbox().faults();
    faults.inject(
        Fault::new()
            .verb("apply")
            .resource("resourcequotas")
            .status(500)
            .for_duration(Duration::from_secs(2)),
    );
    faults.inject(
        Fault::new()
            .verb("apply")
            .resource("networkpolicies")
            .status(409)
            .times(3),
    );
    env.apply(&onboarding(&name, &mw, "foerder", &["dev", "prod"], "1"))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Every open watch is cut and the history compacted, as when an API server restarts after
    // an etcd compaction: every watch has to start over with a new list (410 Gone).
    faults.compact();
    faults.close_watches();
    env.wait_fvo(&name, "Ready despite faults", is_ready).await;
    // After the watches came back, a change is still seen.
    let mut fvo = env
        .api::<FachverfahrenOnboarding>()
        .get(&name)
        .await
        .unwrap();
    fvo.spec.environments.push(Environment {
        name: "test".into(),
        quota: totals("1", "1Gi", "1Gi", "5"),
    });
    fvo.metadata.managed_fields = None;
    fvo.metadata.resource_version = None;
    fvo.status = None;
    env.apply(&fvo).await;
    env.wait_fvo(&name, "Ready with three environments", |o| {
        is_ready(o) && o.status.as_ref().unwrap().namespaces.len() == 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_of_a_converged_onboarding_issues_no_write_and_lists_in_pages() {
    if !sandbox_only("counts the controller's writes in the sandbox's request log") {
        return;
    }
    let mut env = Env::start().await;
    let (stk, name) = (env.name("stk"), env.name("stk-kabinett"));
    env.apply(&ressort(&stk, "64")).await;
    env.apply(&onboarding(&name, &stk, "kabinett", &["dev", "prod"], "1"))
        .await;
    env.wait_fvo(&name, "Ready", is_ready).await;
    // Let in-flight events settle, then restart the controller: its first pass over every
    // object is a full resync against warm watches.
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.stop_controller().await;
    env.sandbox().reset_stats();
    env.start_controller();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let stats = env.sandbox().stats();
    let writes = env.sandbox_writes();
    assert_eq!(
        stats.writes(),
        0,
        "a converged onboarding must not be written again: {writes:#?}"
    );
    assert!(stats.verb("list") > 0, "the controller did run (it listed)");
    // Every initial list is paged: a restart holds one page per watch beyond its stores.
    let page = format!("limit={}", conplus_operator::controller::stores::LIST_PAGE);
    let unpaged: Vec<String> = env
        .sandbox()
        .request_log()
        .into_iter()
        .filter(|r| r.verb == "list" && !r.query.split('&').any(|q| q == page))
        .map(|r| format!("{}?{}", r.path, r.query))
        .collect();
    assert!(
        unpaged.is_empty(),
        "lists not in pages of {page}: {unpaged:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_controller_is_ready_within_seconds_of_its_first_sync_not_after_the_sync_timeout()
{
    let mut env = Env::start().await;
    let (mr, names) = (
        env.name("mr"),
        [env.name("mr-a"), env.name("mr-b"), env.name("mr-c")],
    );
    env.apply(&ressort(&mr, "64")).await;
    for (i, name) in names.iter().enumerate() {
        env.apply(&onboarding(
            name,
            &mr,
            &format!("fv{i}"),
            &["dev", "prod"],
            "1",
        ))
        .await;
    }
    for name in &names {
        env.wait_fvo(name, "Ready", is_ready).await;
    }
    env.stop_controller().await;

    // A restart (or a takeover) with onboardings and a Ressort to reconcile at once: every
    // reconcile and the Ressort controller wait for the stores at the same time as readiness.
    let health = conplus_operator::telemetry::Health::new();
    let started = std::time::Instant::now();
    env.start_controller_with(conplus_operator::controller::Options {
        health: health.clone(),
        ..Default::default()
    });
    // Bounded well below the 30 s sync timeout that readiness used to wait out.
    let bound = Duration::from_secs(5);
    while !health.is_ready() {
        assert!(
            started.elapsed() < bound,
            "not ready {bound:?} after start although the stores had synced"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("ready {:?} after start", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_gauges_of_a_deleted_ressort_are_removed() {
    let mut env = Env::without_controller().await;
    let metrics = std::sync::Arc::new(conplus_operator::telemetry::Metrics::new());
    env.start_controller_with(conplus_operator::controller::Options {
        metrics: metrics.clone(),
        ..Default::default()
    });
    let (gone, kept) = (env.name("mgone"), env.name("mkept"));
    env.apply(&ressort(&gone, "8")).await;
    env.apply(&ressort(&kept, "8")).await;
    let series =
        |r: &str| format!("conplus_ressort_budget_available{{ressort=\"{r}\",resource=\"cpu\"}}");
    env.eventually("gauges of both Ressorts", || async {
        let text = metrics.encode();
        (text.contains(&series(&gone)) && text.contains(&series(&kept))).then_some(())
    })
    .await;
    env.api::<Ressort>()
        .delete(&gone, &Default::default())
        .await
        .unwrap();
    env.eventually("gauges of the deleted Ressort removed", || async {
        let text = metrics.encode();
        (!text.contains(&format!("ressort=\"{gone}\""))).then_some(())
    })
    .await;
    assert!(
        metrics.encode().contains(&series(&kept)),
        "the other Ressort's gauges stay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denying_traffic_inside_the_namespace_removes_the_operators_allow_policy() {
    let env = Env::start().await;
    let (mn, name) = (env.name("mn"), env.name("mn-seg"));
    let ns = format!("{mn}-seg-prod");
    env.apply(&ressort(&mn, "8")).await;
    let mut fvo = onboarding(&name, &mn, "seg", &["prod"], "1");
    env.apply(&fvo).await;
    env.wait_fvo(&name, "Ready", is_ready).await;
    assert!(
        names_in::<NetworkPolicy>(&env, &ns)
            .await
            .contains(&"conplus-allow-same-namespace".to_string()),
        "allowed by default at protection level normal"
    );

    fvo.spec.network.intra_namespace = Some(IntraNamespace::Deny);
    env.apply(&fvo).await;
    env.eventually("the allow-same-namespace policy removed", || async {
        let names = names_in::<NetworkPolicy>(&env, &ns).await;
        (!names.contains(&"conplus-allow-same-namespace".to_string())).then_some(names)
    })
    .await;
    env.wait_fvo(
        &name,
        "Ready with traffic inside the namespace denied",
        is_ready,
    )
    .await;
    assert!(
        names_in::<NetworkPolicy>(&env, &ns)
            .await
            .contains(&"conplus-default-deny".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_that_fails_does_not_hold_back_the_others() {
    use k8s_openapi::api::events::v1::Event;
    let env = Env::start().await;
    let (mk, name) = (env.name("mk"), env.name("mk-lager"));
    let (dev, prod) = (format!("{mk}-lager-dev"), format!("{mk}-lager-prod"));
    env.apply(&ressort(&mk, "64")).await;
    // prod's network policies are refused at once (an admission policy of the platform); on the
    // sandbox, every write in dev also takes 300 ms, so that prod surely fails first.
    let networking = ("networking.k8s.io", "networkpolicies");
    let refusal = env
        .refuse(networking, &["CREATE", "UPDATE"], Some(&prod), None)
        .await;
    if env.backend() == Backend::Sandbox {
        env.sandbox().faults().inject(
            Fault::new()
                .verb("apply")
                .namespace(&dev)
                .delay(Duration::from_millis(300)),
        );
    }
    env.apply(&onboarding(&name, &mk, "lager", &["dev", "prod"], "1"))
        .await;
    let events = env.ns_api::<Event>("default");
    let failed = env
        .eventually("the first failed round's Warning", || async {
            events
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some("ApplyFailed")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref())
                            == Some(name.as_str())
                })
        })
        .await;
    let note = failed.note.unwrap_or_default();
    assert!(note.contains(&prod), "the Warning names prod: {note}");
    // And the status says so, where `kubectl get fvo` shows it.
    let o = env.wait_not_ready(&name, "ApplyFailed").await;
    let ready = condition(&o, "Ready").unwrap();
    assert!(ready.message.contains(&prod), "{ready:?}");
    // When that round ended, dev was provisioned in full: prod's failure did not cancel its writes.
    assert_eq!(
        names_in::<ResourceQuota>(&env, &dev).await,
        ["conplus-quota"]
    );
    assert_eq!(names_in::<LimitRange>(&env, &dev).await.len(), 1);
    assert_eq!(names_in::<NetworkPolicy>(&env, &dev).await.len(), 5);
    assert_eq!(names_in::<RoleBinding>(&env, &dev).await.len(), 1);
    let sa = env
        .ns_api::<ServiceAccount>(&dev)
        .get("default")
        .await
        .unwrap();
    assert_eq!(sa.automount_service_account_token, Some(false));
    if env.backend() == Backend::Sandbox {
        env.sandbox().faults().clear();
    }
    env.lift(refusal).await;
    env.wait_fvo(&name, "Ready once prod's policies are accepted", is_ready)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_quota_increase_keeps_its_reservation_on_the_status() {
    let env = Env::start().await;
    let (mw, name) = (env.name("mw"), env.name("mw-kasse"));
    let prod = format!("{mw}-kasse-prod");
    env.apply(&ressort(&mw, "64")).await;
    env.apply(&onboarding(&name, &mw, "kasse", &["prod"], "1"))
        .await;
    let ready = env.wait_fvo(&name, "Ready", is_ready).await;
    let before = ready.status.as_ref().unwrap().allocated.clone();
    // The quota rises, and its write is refused: the round reserves the larger allocation first,
    // then fails; the failure on the status must not give the reservation away.
    let quotas = ("", "resourcequotas");
    let refusal = env
        .refuse(quotas, &["CREATE", "UPDATE"], Some(&prod), None)
        .await;
    let mut fvo = ready.clone();
    fvo.spec.environments[0].quota.cpu = "2".into();
    fvo.status = None;
    fvo.metadata.managed_fields = None;
    fvo.metadata.resource_version = None;
    env.apply(&fvo).await;
    let failed = env.wait_not_ready(&name, "ApplyFailed").await;
    assert_eq!(
        failed.status.as_ref().unwrap().phase,
        Some(Phase::Provisioning),
        "no longer shown as Ready"
    );
    let reserved = failed.status.as_ref().unwrap().allocated.clone();
    assert_ne!(
        reserved, before,
        "the larger allocation is reserved: {reserved:?}"
    );
    env.lift(refusal).await;
    let done = env
        .wait_fvo(&name, "Ready with the larger quota", is_ready)
        .await;
    assert_eq!(done.status.unwrap().allocated, reserved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_of_the_observe_step_is_on_the_status_until_a_round_succeeds() {
    let mut env = Env::without_controller().await;
    // The controller acts as an identity with the operator's ClusterRole, but that it may not get a
    // namespace by name (it still lists and watches them): no admission policy can refuse a read.
    let user = format!("conplus-test-operator-{}", env.tag);
    let mut rules = conplus_operator::rbac::cluster_role_rules();
    let namespaces = rules
        .iter_mut()
        .find(|r| {
            r.resources.as_deref() == Some(&["namespaces".to_string()][..])
                && r.resource_names.is_none()
        })
        .expect("the operator's ClusterRole has a rule on namespaces");
    namespaces.verbs.retain(|v| v != "get");
    env.bind_cluster_role(&user, rules, &user).await;
    let as_restricted = impersonating(&env.cluster, &user, &["system:authenticated"]);
    env.start_controller_as(as_restricted, Default::default());

    let (mj, name) = (env.name("mj"), env.name("mj-akte"));
    let prod = format!("{mj}-akte-prod");
    env.apply(&ressort(&mj, "64")).await;
    // The finalizer is there already: on a cluster where the operator's admission policies are in
    // force, only the operator's own identity may write onboardings, and this one is not it.
    let mut fvo = onboarding(&name, &mj, "akte", &["prod"], "1");
    fvo.metadata.finalizers = Some(vec!["conplus.niedersachsen.de/cleanup".to_string()]);
    // The namespace is not there yet: observe reads it from the API before it is created, and
    // that read is refused.
    env.apply(&fvo).await;
    let failed = env.wait_not_ready(&name, "ObserveFailed").await;
    let ready = condition(&failed, "Ready").unwrap();
    assert!(
        ready.message.contains(&prod) && ready.message.contains("forbidden"),
        "names the namespace and why: {ready:?}"
    );
    assert_eq!(
        failed.status.as_ref().unwrap().observed_generation,
        failed.metadata.generation
    );
    // The operator as deployed: the next round succeeds.
    env.stop_controller().await;
    env.unbind_cluster_role(&user).await;
    env.start_controller();
    env.wait_fvo(&name, "Ready once the read succeeds", is_ready)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_finalizer_is_on_the_status_and_nothing_is_provisioned() {
    let env = Env::start().await;
    let (ml, name) = (env.name("ml"), env.name("ml-forst"));
    let prod = format!("{ml}-forst-prod");
    env.apply(&ressort(&ml, "64")).await;
    // Every update of the onboarding (not its status) is refused: the finalizer cannot be added.
    let onboardings = (conplus_operator::api::GROUP, "fachverfahrenonboardings");
    let refusal = env
        .refuse(onboardings, &["UPDATE"], None, Some(&name))
        .await;
    env.apply(&onboarding(&name, &ml, "forst", &["prod"], "1"))
        .await;
    let failed = env.wait_not_ready(&name, "ApplyFailed").await;
    let ready = condition(&failed, "Ready").unwrap();
    assert!(ready.message.contains("finalizer"), "{ready:?}");
    // Without its finalizer nothing is created: the namespace would outlive a deletion.
    let namespaces = env.api::<Namespace>();
    assert!(namespaces.get_opt(&prod).await.unwrap().is_none());
    env.lift(refusal).await;
    env.wait_fvo(&name, "Ready once the finalizer is added", is_ready)
        .await;
}
