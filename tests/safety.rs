//! The controller's safety promises against a cluster over HTTP (the sandbox, or the real
//! control plane with `CONPLUS_TEST_CLUSTER`): it deletes only what it can prove it created,
//! takes nothing provisioned away because something elsewhere changed, counts only what it
//! provisions against the budget, adopts again what it released, and heals drift to exactly
//! what it declares. After each fault, the cluster equals a clean run and no foreign object
//! was touched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use conplus_operator::api::*;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use support::*;

/// The names of the objects of kind `K` in `ns`, sorted.
async fn names_in<K>(env: &Env, ns: &str) -> Vec<String>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    names(&env.ns_api::<K>(ns), &ListParams::default()).await
}

/// Creates a copy of `ns/name` (labels and annotations included) as `to_ns/to_name`.
async fn copy_object<K>(env: &Env, ns: &str, name: &str, to_ns: &str, to_name: &str)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let mut obj = env.ns_api::<K>(ns).get(name).await.unwrap();
    let meta = obj.meta_mut();
    meta.name = Some(to_name.into());
    meta.namespace = Some(to_ns.into());
    meta.uid = None;
    meta.resource_version = None;
    meta.managed_fields = None;
    meta.creation_timestamp = None;
    env.ns_api::<K>(to_ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
}

/// Every object of the four owned kinds in `ns`, as `Kind/name`.
async fn contents(env: &Env, ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    for n in names_in::<ResourceQuota>(env, ns).await {
        out.push(format!("ResourceQuota/{n}"));
    }
    for n in names_in::<LimitRange>(env, ns).await {
        out.push(format!("LimitRange/{n}"));
    }
    for n in names_in::<NetworkPolicy>(env, ns).await {
        out.push(format!("NetworkPolicy/{n}"));
    }
    for n in names_in::<RoleBinding>(env, ns).await {
        out.push(format!("RoleBinding/{n}"));
    }
    out
}

/// What a clean run provisions in every namespace of [`onboarding`].
const CLEAN: [&str; 8] = [
    "ResourceQuota/conplus-quota",
    "LimitRange/conplus-limits",
    "NetworkPolicy/conplus-allow-dns",
    "NetworkPolicy/conplus-allow-monitoring",
    "NetworkPolicy/conplus-allow-platform-ingress",
    "NetworkPolicy/conplus-allow-same-namespace",
    "NetworkPolicy/conplus-default-deny",
    "RoleBinding/conplus-edit-",
];

/// Asserts that `ns` holds exactly what a clean run provisions (the RoleBinding by prefix).
async fn assert_clean(env: &Env, ns: &str) {
    let found = contents(env, ns).await;
    assert_eq!(found.len(), CLEAN.len(), "{ns}: {found:#?}");
    for want in CLEAN {
        assert!(
            found.iter().any(|f| f.starts_with(want)),
            "{ns}: {want} missing from {found:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_records_copied_onto_foreign_objects_never_get_them_deleted() {
    let env = Env::start().await;
    let (mk, name) = (env.name("mk"), env.name("mk-moin"));
    let (dev, prod, foreign) = (
        format!("{mk}-moin-dev"),
        format!("{mk}-moin-prod"),
        env.name("foreign"),
    );
    env.apply(&ressort(&mk, "64")).await;
    let mut fvo = onboarding(&name, &mk, "moin", &["dev", "prod"], "1");
    fvo.spec.deletion_policy = DeletionPolicy::Delete;
    env.apply(&fvo).await;
    env.wait_fvo(&name, "Ready", is_ready).await;

    // A namespace of someone else's, holding data, with every label and annotation of the
    // onboarding's prod namespace copied onto it.
    let ours = env.api::<Namespace>().get(&prod).await.unwrap();
    let mut copy = Namespace::default();
    copy.metadata.name = Some(foreign.clone());
    copy.metadata.labels = Some(ours.labels().clone());
    copy.metadata.annotations = Some(ours.annotations().clone());
    env.api::<Namespace>()
        .create(&PostParams::default(), &copy)
        .await
        .unwrap();
    // The operator's objects copied with labels and annotations into it, and a prod policy
    // copied into the onboarding's own dev namespace.
    copy_object::<NetworkPolicy>(&env, &prod, "conplus-default-deny", &foreign, "copied-deny")
        .await;
    let binding = names_in::<RoleBinding>(&env, &prod).await.remove(0);
    copy_object::<RoleBinding>(&env, &prod, &binding, &foreign, "copied-binding").await;
    copy_object::<ResourceQuota>(&env, &prod, "conplus-quota", &foreign, "copied-quota").await;
    copy_object::<NetworkPolicy>(&env, &prod, "conplus-allow-dns", &dev, "copied-from-prod").await;
    // The copies wake the onboarding (they carry its labels); give it rounds to act on them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let foreign_contents = [
        "NetworkPolicy/copied-deny",
        "ResourceQuota/copied-quota",
        "RoleBinding/copied-binding",
    ];
    let survives = |what: &'static str| {
        let env = &env;
        let foreign = foreign.clone();
        let dev = dev.clone();
        async move {
            let ns = env.api::<Namespace>().get(&foreign).await.unwrap();
            assert!(
                ns.metadata.deletion_timestamp.is_none(),
                "{what}: the foreign namespace is being deleted"
            );
            let mut found = contents(env, &foreign).await;
            found.sort();
            assert_eq!(found, foreign_contents, "{what}: foreign namespace");
            assert!(
                names_in::<NetworkPolicy>(env, &dev)
                    .await
                    .contains(&"copied-from-prod".to_string()),
                "{what}: the copy in dev is not the operator's to prune"
            );
        }
    };
    survives("after copying").await;

    // The prod environment goes (deletionPolicy Delete): its namespace is deleted, the copies stay.
    fvo.spec.environments.retain(|e| e.name != "prod");
    env.apply(&fvo).await;
    env.wait_gone::<Namespace>(&prod).await;
    survives("after removing prod").await;

    // The onboarding goes: dev with it, the foreign namespace stays with its contents.
    env.delete_fvo(&name).await;
    env.wait_gone::<Namespace>(&dev).await;
    let ns = env.api::<Namespace>().get(&foreign).await.unwrap();
    assert!(ns.metadata.deletion_timestamp.is_none());
    let mut found = contents(&env, &foreign).await;
    found.sort();
    assert_eq!(found, foreign_contents);
}

/// Ressort `mk-<tag>` with 64 cores and its onboarding `mk-moin-<tag>` of the Fachverfahren
/// `moin` with `envs` of `cpu` cores each, Ready; returns the two names.
async fn onboarded(env: &Env, envs: &[&str], cpu: &str) -> (String, String) {
    let (mk, name) = (env.name("mk"), env.name("mk-moin"));
    env.apply(&ressort(&mk, "64")).await;
    env.apply(&onboarding(&name, &mk, "moin", envs, cpu)).await;
    env.wait_fvo(&name, "Ready", is_ready).await;
    (mk, name)
}

/// After a fault that leaves the onboarding of [`onboarded`] with 2 × 2 cores nothing to be
/// admitted by: rounds have run, every object is still there and its allocation on record;
/// once its Ressort is as it was (64 cores), it is Ready again with the same objects.
async fn kept_then_restored(env: &Env, mk: &str, name: &str, namespaces: &[String]) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    for ns in namespaces {
        assert_clean(env, ns).await;
    }
    let o = fvo_now(env, name).await;
    assert_eq!(
        o.status.as_ref().unwrap().allocated.as_ref().unwrap().cpu.0,
        "4",
        "the allocation is kept"
    );
    env.apply(&ressort(mk, "64")).await;
    env.wait_fvo(name, "Ready once the Ressort is as it was", is_ready)
        .await;
    for ns in namespaces {
        assert_clean(env, ns).await;
    }
}

/// Waits until the condition `type_` of the onboarding `name` has `reason`; returns the
/// onboarding and the condition's message.
async fn wait_reason(
    env: &Env,
    name: &str,
    type_: &str,
    reason: &str,
) -> (FachverfahrenOnboarding, String) {
    let o = env
        .wait_fvo(name, &format!("{type_} {reason}"), |o| {
            condition(o, type_).is_some_and(|c| c.reason == reason)
        })
        .await;
    let msg = condition(&o, type_).unwrap().message.clone();
    (o, msg)
}

/// The onboarding `name` as it is now.
async fn fvo_now(env: &Env, name: &str) -> FachverfahrenOnboarding {
    env.api::<FachverfahrenOnboarding>()
        .get(name)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_ressort_takes_nothing_away_and_recreating_it_changes_nothing() {
    let env = Env::start().await;
    let (mk, name) = onboarded(&env, &["dev", "prod"], "2").await;
    let namespaces = [format!("{mk}-moin-dev"), format!("{mk}-moin-prod")];

    env.api::<Ressort>()
        .delete(&mk, &Default::default())
        .await
        .unwrap();
    let (o, _) = wait_reason(&env, &name, "BudgetAvailable", "RessortNotFound").await;
    assert_eq!(condition(&o, "Ready").unwrap().status, "False");
    kept_then_restored(&env, &mk, &name, &namespaces).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_budget_or_quota_is_refused_by_the_api_and_changes_nothing() {
    let env = Env::start().await;
    let (mk, name) = onboarded(&env, &["prod"], "2").await;
    let params = PatchParams::apply("kubectl").force();
    for pods in [serde_json::json!(-1), serde_json::json!("-1")] {
        let refused = env
            .api::<Ressort>()
            .patch(
                &mk,
                &params,
                &Patch::Apply(serde_json::json!({
                    "apiVersion": "conplus.niedersachsen.de/v1alpha1", "kind": "Ressort",
                    "metadata": {"name": mk},
                    "spec": {"displayName": "x", "budget": {"cpu": "64", "memory": "256Gi", "storage": "2Ti", "pods": pods}}
                })),
            )
            .await;
        assert!(
            matches!(&refused, Err(kube::Error::Api(s)) if s.code == 422),
            "budget pods {pods}: {refused:?}"
        );
        let mut fvo = onboarding(&name, &mk, "moin", &["prod"], "2");
        fvo.spec.environments[0].quota.pods = "x".into();
        let mut value = serde_json::to_value(&fvo).unwrap();
        value["spec"]["environments"][0]["quota"]["pods"] = pods.clone();
        let refused = env
            .api::<FachverfahrenOnboarding>()
            .patch(&name, &params, &Patch::Apply(value))
            .await;
        assert!(
            matches!(&refused, Err(kube::Error::Api(s)) if s.code == 422),
            "quota pods {pods}: {refused:?}"
        );
    }
    assert!(is_ready(&fvo_now(&env, &name).await));
    assert_clean(&env, &format!("{mk}-moin-prod")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_status_allocated_over_a_lowered_budget_takes_nothing_away() {
    let mut env = Env::start().await;
    let (mk, name) = onboarded(&env, &["dev", "prod"], "2").await;
    let namespaces = [format!("{mk}-moin-dev"), format!("{mk}-moin-prod")];
    // While the operator is down, the budget is lowered below what is provisioned and the
    // onboarding's status is lost (a restore without status).
    env.stop_controller().await;
    env.apply(&ressort(&mk, "1")).await;
    env.api::<FachverfahrenOnboarding>()
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"allocated": null}})),
        )
        .await
        .unwrap();
    env.start_controller();
    let o = env
        .wait_fvo(&name, "the allocation rebuilt from the quotas", |o| {
            o.status
                .as_ref()
                .and_then(|s| s.allocated.as_ref())
                .is_some_and(|a| a.cpu.0 == "4")
        })
        .await;
    assert!(is_ready(&o), "{:?}", o.status);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for ns in &namespaces {
        assert_clean(&env, ns).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onboarding_whose_namespaces_all_conflict_holds_no_budget() {
    let env = Env::start().await;
    let (mk, blocked, next) = (env.name("mk"), env.name("mk-blocked"), env.name("mk-next"));
    env.apply(&ressort(&mk, "3")).await;
    for e in ["dev", "prod"] {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(format!("{mk}-blocked-{e}"));
        env.apply(&ns).await;
    }
    env.apply(&onboarding(&blocked, &mk, "blocked", &["dev", "prod"], "1"))
        .await;
    let (_, msg) = wait_reason(&env, &blocked, "NamespacesReady", "NamespaceConflict").await;
    assert!(!msg.contains("remove it"), "never advise deleting: {msg}");
    env.apply(&onboarding(&next, &mk, "next", &["prod"], "3"))
        .await;
    env.wait_fvo(&next, "Ready: the blocked one holds nothing", is_ready)
        .await;
    let o = fvo_now(&env, &blocked).await;
    assert!(
        o.status
            .as_ref()
            .and_then(|s| s.allocated.as_ref())
            .is_none_or(|a| a.cpu.0 == "0"),
        "{:?}",
        o.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_namespace_is_adopted_again_with_its_data() {
    let env = Env::start().await;
    let (mk, first, again) = (env.name("mk"), env.name("mk-moin"), env.name("mk-moin-2"));
    let prod = format!("{mk}-moin-prod");
    env.apply(&ressort(&mk, "64")).await;
    env.apply(&onboarding(&first, &mk, "moin", &["prod"], "1"))
        .await;
    env.wait_fvo(&first, "Ready", is_ready).await;
    let mut data = k8s_openapi::api::core::v1::ConfigMap::default();
    data.metadata.name = Some("data".into());
    data.data = Some([("k".to_string(), "v".to_string())].into());
    env.ns_api::<k8s_openapi::api::core::v1::ConfigMap>(&prod)
        .create(&PostParams::default(), &data)
        .await
        .unwrap();
    // deletionPolicy Retain: the namespace is released.
    env.delete_fvo(&first).await;
    env.eventually("the onboarding gone", || async {
        env.api::<FachverfahrenOnboarding>()
            .get_opt(&first)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    // The Fachverfahren is onboarded again (a GitOps re-sync, a recreated onboarding).
    env.apply(&onboarding(&again, &mk, "moin", &["prod"], "1"))
        .await;
    let o = env
        .wait_fvo(&again, "Ready in the released namespace", is_ready)
        .await;
    let ns = env.api::<Namespace>().get(&prod).await.unwrap();
    assert_eq!(
        ns.annotations()
            .get("conplus.niedersachsen.de/onboarding-uid"),
        o.metadata.uid.as_ref()
    );
    assert!(
        !ns.annotations()
            .contains_key("conplus.niedersachsen.de/onboarding-released-from")
    );
    assert!(
        env.ns_api::<k8s_openapi::api::core::v1::ConfigMap>(&prod)
            .get_opt("data")
            .await
            .unwrap()
            .is_some(),
        "the data stayed"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_clean(&env, &prod).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_that_adds_to_any_owned_kind_is_removed_and_reported_with_its_manager() {
    let mut env = Env::start().await;
    let (mk, name) = onboarded(&env, &["prod"], "1").await;
    let ns = format!("{mk}-moin-prod");
    let binding = names_in::<RoleBinding>(&env, &ns).await.remove(0);
    let by = PatchParams {
        field_manager: Some("kubectl-patch".into()),
        ..Default::default()
    };
    let merge = |v: serde_json::Value| Patch::Merge(v);
    env.ns_api::<NetworkPolicy>(&ns)
        .patch(
            "conplus-default-deny",
            &by,
            &merge(serde_json::json!({"spec": {"ingress": [{}]}})),
        )
        .await
        .unwrap();
    env.ns_api::<ResourceQuota>(&ns)
        .patch(
            "conplus-quota",
            &by,
            &merge(serde_json::json!({"spec": {"hard": {"count/secrets": "5"}}})),
        )
        .await
        .unwrap();
    let mut limits = env
        .ns_api::<LimitRange>(&ns)
        .get("conplus-limits")
        .await
        .unwrap()
        .spec
        .unwrap()
        .limits;
    limits[0].max = Some(
        [(
            "cpu".to_string(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("100".into()),
        )]
        .into(),
    );
    env.ns_api::<LimitRange>(&ns)
        .patch(
            "conplus-limits",
            &by,
            &merge(serde_json::json!({"spec": {"limits": limits}})),
        )
        .await
        .unwrap();
    let mut subjects = env
        .ns_api::<RoleBinding>(&ns)
        .get(&binding)
        .await
        .unwrap()
        .subjects
        .unwrap();
    let mut intruder = subjects[0].clone();
    intruder.name = "intruders".into();
    subjects.push(intruder);
    env.ns_api::<RoleBinding>(&ns)
        .patch(
            &binding,
            &by,
            &merge(serde_json::json!({"subjects": subjects})),
        )
        .await
        .unwrap();
    env.api::<Namespace>()
        .patch(
            &ns,
            &by,
            &merge(serde_json::json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}})),
        )
        .await
        .unwrap();

    env.eventually("every change set back", || async {
        let deny = env
            .ns_api::<NetworkPolicy>(&ns)
            .get("conplus-default-deny")
            .await
            .ok()?;
        let quota = env
            .ns_api::<ResourceQuota>(&ns)
            .get("conplus-quota")
            .await
            .ok()?;
        let lr = env
            .ns_api::<LimitRange>(&ns)
            .get("conplus-limits")
            .await
            .ok()?;
        let rb = env.ns_api::<RoleBinding>(&ns).get(&binding).await.ok()?;
        let namespace = env.api::<Namespace>().get(&ns).await.ok()?;
        (deny.spec?.ingress.is_none_or(|i| i.is_empty())
            && !quota.spec?.hard?.contains_key("count/secrets")
            && lr.spec?.limits[0].max.is_none()
            && rb.subjects?.len() == 1
            && namespace
                .labels()
                .get("pod-security.kubernetes.io/enforce")
                .map(String::as_str)
                == Some("baseline"))
        .then_some(())
    })
    .await;
    let (_, msg) = wait_reason(&env, &name, "DriftRepaired", "DriftRepaired").await;
    assert!(
        msg.contains("conplus-default-deny")
            && msg.contains("spec.ingress (added by kubectl-patch)"),
        "{msg}"
    );
    assert!(msg.contains("count/secrets"), "{msg}");
    let events = env
        .api::<k8s_openapi::api::events::v1::Event>()
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("DriftRepaired")
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.contains("kubectl-patch"))),
        "an Event names who changed it"
    );
    assert!(is_ready(&fvo_now(&env, &name).await));
    assert_clean(&env, &ns).await;
    // The other manager owns nothing any more: the next rounds see no drift and write nothing.
    let deny = env
        .ns_api::<NetworkPolicy>(&ns)
        .get("conplus-default-deny")
        .await
        .unwrap();
    let managers: Vec<_> = deny
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        !managers.iter().any(|m| m == "kubectl-patch"),
        "{managers:?}"
    );
    if sandbox_only("counts the controller's writes after the repair") {
        // In-flight events settle (the Ressort's status too), then a restart resyncs everything.
        tokio::time::sleep(Duration::from_secs(2)).await;
        env.stop_controller().await;
        env.sandbox().reset_stats();
        env.start_controller();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let writes = env.sandbox_writes();
        assert_eq!(
            env.sandbox().stats().writes(),
            0,
            "a repaired onboarding is converged: {writes:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_budget_takes_nothing_away_and_fixing_it_changes_nothing() {
    let env = Env::start().await;
    let (mk, name) = onboarded(&env, &["dev", "prod"], "2").await;
    let namespaces = [format!("{mk}-moin-dev"), format!("{mk}-moin-prod")];
    // A quantity by the schema's pattern that no quota can hold (10^40 cores): the API accepts
    // it, the operator cannot read it.
    env.apply(&ressort(&mk, "1e40")).await;
    let (o, msg) = wait_reason(&env, &name, "BudgetAvailable", "InvalidBudget").await;
    assert!(msg.contains("spec.budget"), "{msg}");
    assert_eq!(condition(&o, "Ready").unwrap().reason, "InvalidBudget");
    kept_then_restored(&env, &mk, &name, &namespaces).await;
}

/// Takes the ownership record off every object of kind `K` in `ns`, as a version of the
/// operator without records left them.
async fn strip_records<K>(env: &Env, ns: &str)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let unrecord = Patch::Merge(serde_json::json!({"metadata": {"annotations": {RECORD: null}}}));
    for name in names_in::<K>(env, ns).await {
        env.ns_api::<K>(ns)
            .patch(&name, &PatchParams::default(), &unrecord)
            .await
            .unwrap();
    }
}

/// The operator's ownership record (`conplus_operator::resources::ONBOARDING_UID`).
const RECORD: &str = "conplus.niedersachsen.de/onboarding-uid";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_provisioned_before_ownership_records_are_taken_over_on_upgrade() {
    let mut env = Env::start().await;
    let (mk, name) = onboarded(&env, &["dev", "prod"], "1").await;
    let namespaces = [format!("{mk}-moin-dev"), format!("{mk}-moin-prod")];
    env.stop_controller().await;
    let unrecord = Patch::Merge(serde_json::json!({"metadata": {"annotations": {RECORD: null}}}));
    for ns in &namespaces {
        env.api::<Namespace>()
            .patch(ns, &PatchParams::default(), &unrecord)
            .await
            .unwrap();
        strip_records::<ResourceQuota>(&env, ns).await;
        strip_records::<LimitRange>(&env, ns).await;
        strip_records::<NetworkPolicy>(&env, ns).await;
        strip_records::<RoleBinding>(&env, ns).await;
    }
    // The upgraded operator starts.
    env.start_controller();
    let uid = fvo_now(&env, &name).await.metadata.uid.unwrap();
    env.eventually("every namespace and object recorded again", || async {
        for ns in &namespaces {
            let recorded =
                |a: &std::collections::BTreeMap<String, String>| a.get(RECORD) == Some(&uid);
            if !recorded(env.api::<Namespace>().get(ns).await.ok()?.annotations()) {
                return None;
            }
            for p in env
                .ns_api::<NetworkPolicy>(ns)
                .list(&ListParams::default())
                .await
                .ok()?
            {
                if !recorded(p.annotations()) {
                    return None;
                }
            }
        }
        Some(())
    })
    .await;
    let o = env.wait_fvo(&name, "Ready", is_ready).await;
    assert!(is_ready(&o));
    for ns in &namespaces {
        assert_clean(&env, ns).await;
    }
}
