//! `conplus-operator grundschutz --kubeconfig K [--onboarding NAME]`: the IT-Grundschutz report over the
//! live objects of the onboarded namespaces (I/O: reads the cluster), one report per onboarding.
//!
//! Each onboarding is judged as the controller judges it for `status.conformance`: the objects of the
//! kinds the rules read in its provisioned namespaces, stripped as the controller's caches strip them,
//! under the profile [`effective_profile`] resolves (its own or the platform's default, the Ressort's
//! node pool, the platform's and the declared source namespaces). The counts of a report are what
//! `status.conformance.grundschutz` carries.

use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::{Client, Config, ResourceExt};
use serde_json::Value;

use crate::api::{ConformanceProfile, FachverfahrenOnboarding, Ressort};
use crate::conformance::engine::{SourceObject, evaluate, strip_unread_fields, watched_kinds};
use crate::conformance::profile::ResolvedProfile;
use crate::conformance::report::Report;
use crate::controller::conformance::{Defaults, effective_profile};
use crate::resources::PlatformSettings;

/// Why the live report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The kubeconfig cannot be read or used.
    #[error("--kubeconfig {path}: {message}; pass a readable kubeconfig of the cluster")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A read failed.
    #[error(
        "reading {what} failed: {source}; check that the kubeconfig's user may read it (the operator's reader ClusterRole grants it)"
    )]
    Api {
        /// What was read.
        what: String,
        /// The error.
        source: kube::Error,
    },
    /// No onboarding of that name.
    #[error("onboarding {0} does not exist: list them with `kubectl get fachverfahrenonboardings`")]
    NotFound(String),
    /// The cluster holds no onboarding.
    #[error("the cluster holds no FachverfahrenOnboarding")]
    NoOnboardings,
}

/// One onboarding's objects and the profile they are judged with.
#[derive(Debug)]
pub struct Judged {
    /// The onboarding's name.
    pub onboarding: String,
    /// Its provisioned namespaces.
    pub namespaces: Vec<String>,
    /// The effective profile, or why it cannot be resolved.
    pub profile: Result<ResolvedProfile, String>,
    /// The evaluation, when the profile resolved.
    pub report: Option<Report>,
}

/// A client for the kubeconfig at `path`.
pub async fn connect(path: &std::path::Path) -> Result<Client, LiveError> {
    let err = |message: String| LiveError::Config {
        path: path.display().to_string(),
        message,
    };
    let kc = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| err(e.to_string()))?;
    Client::try_from(config).map_err(|e| err(e.to_string()))
}

fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> LiveError {
    let what = what.into();
    move |source| LiveError::Api { what, source }
}

/// The onboardings to report: the one named, or all (by name).
pub async fn onboardings(
    client: &Client,
    name: Option<&str>,
) -> Result<Vec<FachverfahrenOnboarding>, LiveError> {
    let fvos: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    if let Some(name) = name {
        return match fvos
            .get_opt(name)
            .await
            .map_err(api(format!("onboarding {name}")))?
        {
            Some(f) => Ok(vec![f]),
            None => Err(LiveError::NotFound(name.to_owned())),
        };
    }
    let mut all = fvos
        .list(&ListParams::default())
        .await
        .map_err(api("the onboardings"))?
        .items;
    if all.is_empty() {
        return Err(LiveError::NoOnboardings);
    }
    all.sort_by_key(|f| f.name_any());
    Ok(all)
}

/// The namespaces the controller evaluates for `fvo`: those its status reports provisioned.
pub fn provisioned(fvo: &FachverfahrenOnboarding) -> Vec<String> {
    let mut out: Vec<String> = fvo
        .status
        .iter()
        .flat_map(|s| s.namespaces.iter())
        .filter(|n| n.ready)
        .map(|n| n.name.clone())
        .collect();
    out.sort();
    out
}

/// The objects of `namespaces` as the controller's stores hold them: each Namespace, then the objects
/// of every namespaced kind the rules read (kinds the API server does not serve are skipped, as the
/// controller skips them).
pub async fn objects_in(
    client: &Client,
    namespaces: &[String],
) -> Result<Vec<SourceObject>, LiveError> {
    let source = |mut value: Value| {
        strip_unread_fields(&mut value);
        SourceObject {
            value,
            location: None,
        }
    };
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let mut out = Vec::new();
    for n in namespaces {
        if let Some(ns) = ns_api
            .get_opt(n)
            .await
            .map_err(api(format!("namespace {n}")))?
        {
            let mut v = serde_json::to_value(ns).unwrap_or(Value::Null);
            if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
            out.push(SourceObject {
                value: v,
                location: None,
            });
        }
    }
    let mut kinds = Vec::new();
    for kind in watched_kinds().iter().filter(|k| k.namespaced) {
        let (group, version) = kind
            .api_version
            .rsplit_once('/')
            .unwrap_or(("", kind.api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind.kind);
        if let Ok((ar, _)) = kube::discovery::pinned_kind(client, &gvk).await {
            kinds.push((kind, ar));
        }
    }
    for n in namespaces {
        for (kind, ar) in &kinds {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), n, ar);
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(api_err(kind.kind, n))?;
            for mut o in list.items {
                // A list's items carry no type information; the engine reads it.
                o.types = Some(kube::core::TypeMeta {
                    api_version: kind.api_version.to_owned(),
                    kind: kind.kind.to_owned(),
                });
                out.push(source(serde_json::to_value(o).unwrap_or(Value::Null)));
            }
        }
    }
    Ok(out)
}

fn api_err(kind: &str, ns: &str) -> impl FnOnce(kube::Error) -> LiveError {
    api(format!("{kind} in namespace {ns}"))
}

/// Judges every onboarding of `fvos` as the controller does.
pub async fn judge(
    client: &Client,
    fvos: &[FachverfahrenOnboarding],
    platform: &PlatformSettings,
    defaults: &Defaults,
    now: jiff::Timestamp,
) -> Result<Vec<Judged>, LiveError> {
    let profiles: Api<ConformanceProfile> = Api::all(client.clone());
    let ressorts: Api<Ressort> = Api::all(client.clone());
    let mut out = Vec::new();
    for fvo in fvos {
        // The profile in effect as the controller recorded it (its default, when the spec names none).
        let mut defaults = defaults.clone();
        if defaults.default_profile.is_none() {
            defaults.default_profile = fvo
                .status
                .as_ref()
                .and_then(|s| s.conformance_profile.clone());
        }
        let name = fvo
            .spec
            .conformance
            .profile
            .clone()
            .or(defaults.default_profile.clone());
        let cluster_profile = match &name {
            Some(n) => profiles
                .get_opt(n)
                .await
                .map_err(api(format!("ConformanceProfile {n}")))?,
            None => None,
        };
        let ressort = ressorts
            .get_opt(&fvo.spec.ressort)
            .await
            .map_err(api(format!("Ressort {}", fvo.spec.ressort)))?;
        let profile = effective_profile(
            fvo,
            cluster_profile.as_ref(),
            ressort.as_ref(),
            platform,
            &defaults,
        )
        .map_err(|e| e.to_string());
        let namespaces = provisioned(fvo);
        let report = match &profile {
            Ok(p) => Some(evaluate(&objects_in(client, &namespaces).await?, p, now)),
            Err(_) => None,
        };
        out.push(Judged {
            onboarding: fvo.name_any(),
            namespaces,
            profile,
            report,
        });
    }
    Ok(out)
}
