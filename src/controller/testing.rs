//! Test fixtures for the pure steps, built by name instead of positional strings and booleans:
//! `onboarding("ms", "grundsicherung").env("prod").high()` and
//! `observed().provisioned(&env).foreign("ms-grundsicherung-test", None)`.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::model::{NamespaceState, ObjectKey, Observed, OwnedKind};
use crate::api::{
    AccessEntry, AccessRole, Amounts, ConformanceSpec, DeletionPolicy, Environment,
    FachverfahrenOnboarding, FachverfahrenOnboardingSpec, NetworkSpec, Owner, ProtectionLevel,
    ResourceTotals,
};
use crate::resources::{DesiredEnvironment, PlatformSettings, desired};

/// An onboarding `<ressort>-<fachverfahren>` (uid `uid-<ressort>-<fachverfahren>`), Schutzbedarf
/// normal, `deletionPolicy: Retain`, one ops group with admin access, no environments yet.
pub fn onboarding(ressort: &str, fachverfahren: &str) -> OnboardingBuilder {
    let name = format!("{ressort}-{fachverfahren}");
    let mut fvo = FachverfahrenOnboarding::new(
        &name,
        FachverfahrenOnboardingSpec {
            ressort: ressort.into(),
            fachverfahren: fachverfahren.into(),
            display_name: fachverfahren.into(),
            owner: Owner {
                organisation: format!("Ressort {ressort}"),
                contact: format!("{fachverfahren}@{ressort}.niedersachsen.de"),
            },
            aufgabe: None,
            protection_level: ProtectionLevel::Normal,
            environments: Vec::new(),
            access: vec![AccessEntry {
                group: format!("{name}-ops"),
                role: AccessRole::Admin,
                environments: None,
            }],
            network: NetworkSpec::default(),
            conformance: ConformanceSpec::default(),
            deletion_policy: DeletionPolicy::Retain,
        },
    );
    fvo.metadata.uid = Some(format!("uid-{name}"));
    OnboardingBuilder { fvo }
}

/// See [`onboarding`].
#[derive(Clone, Debug)]
pub struct OnboardingBuilder {
    fvo: FachverfahrenOnboarding,
}

impl OnboardingBuilder {
    /// One more environment, with a small quota (1 CPU, 2Gi memory, 10Gi storage, 10 pods).
    pub fn env(self, name: &str) -> Self {
        self.env_with_cpu(name, "1")
    }

    /// One more environment, with the small quota but `cpu` CPUs.
    pub fn env_with_cpu(mut self, name: &str, cpu: &str) -> Self {
        self.fvo.spec.environments.push(Environment {
            name: name.into(),
            quota: ResourceTotals {
                cpu: cpu.into(),
                memory: "2Gi".into(),
                storage: "10Gi".into(),
                pods: "10".into(),
            },
        });
        self
    }

    /// Schutzbedarf hoch.
    pub fn high(mut self) -> Self {
        self.fvo.spec.protection_level = ProtectionLevel::High;
        self
    }

    /// `deletionPolicy`.
    pub fn deletion_policy(mut self, policy: DeletionPolicy) -> Self {
        self.fvo.spec.deletion_policy = policy;
        self
    }

    /// The onboarding itself.
    pub fn build(self) -> FachverfahrenOnboarding {
        self.fvo
    }

    /// Every object of every environment, as the build step makes them.
    pub fn desired(&self) -> Vec<DesiredEnvironment> {
        match desired(&self.fvo, &PlatformSettings::default()) {
            Ok(envs) => envs,
            Err(e) => panic!(
                "fixture {} does not build: {e}",
                self.fvo.spec.fachverfahren
            ),
        }
    }
}

/// What observe found, empty: every namespace absent, nothing owned.
pub fn observed() -> ObservedBuilder {
    ObservedBuilder(Observed::default())
}

/// See [`observed`].
#[derive(Clone, Debug)]
pub struct ObservedBuilder(Observed);

fn namespace(name: &str) -> Arc<Namespace> {
    Arc::new(Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn json<T: serde::Serialize>(o: &T) -> serde_json::Value {
    serde_json::to_value(o).unwrap_or_default()
}

impl ObservedBuilder {
    /// `ns` exists and is proven ours (nothing in it observed yet).
    pub fn ours(mut self, ns: &str) -> Self {
        let namespace = namespace(ns);
        self.0
            .namespaces
            .insert(ns.into(), NamespaceState::Ours(namespace.clone()));
        self.0.owned_namespaces.push(namespace);
        self
    }

    /// `env` as provisioned: its namespace ours and every object of it observed as built.
    pub fn provisioned(self, env: &DesiredEnvironment) -> Self {
        self.provisioned_with_quota(env, env.quota)
    }

    /// `env` as provisioned with its quota (and limits) at `given`.
    pub fn provisioned_with_quota(mut self, env: &DesiredEnvironment, given: Amounts) -> Self {
        let env = env.clone().with_quota(given);
        let ns = env.namespace.metadata.name.clone().unwrap_or_default();
        let namespace = Arc::new(env.namespace.clone());
        self.0
            .namespaces
            .insert(ns.clone(), NamespaceState::Ours(namespace.clone()));
        self.0.owned_namespaces.push(namespace);
        let mut put = |kind, meta: &ObjectMeta, value| {
            let name = meta.name.clone().unwrap_or_default();
            self.0.owned_objects.insert(
                ObjectKey {
                    kind,
                    namespace: ns.clone(),
                    name,
                },
                value,
            );
        };
        put(
            OwnedKind::ResourceQuota,
            &env.resource_quota.metadata,
            json(&env.resource_quota),
        );
        put(
            OwnedKind::LimitRange,
            &env.limit_range.metadata,
            json(&env.limit_range),
        );
        for p in &env.network_policies {
            put(OwnedKind::NetworkPolicy, &p.metadata, json(p));
        }
        for b in &env.role_bindings {
            put(OwnedKind::RoleBinding, &b.metadata, json(b));
        }
        self
    }

    /// An object observed as ours (proven) in `ns`, which no environment declares any more.
    pub fn owned(mut self, kind: OwnedKind, ns: &str, name: &str) -> Self {
        self.0.owned_objects.insert(
            ObjectKey {
                kind,
                namespace: ns.into(),
                name: name.into(),
            },
            serde_json::json!({ "metadata": { "name": name, "namespace": ns } }),
        );
        self
    }

    /// Every object of `kind` in `ns` gone (deleted by someone else).
    pub fn without(mut self, kind: OwnedKind, ns: &str) -> Self {
        self.0
            .owned_objects
            .retain(|k, _| !(k.kind == kind && k.namespace == ns));
        self
    }

    /// `ns` exists, nobody's, released by an onboarding of the same Ressort and Fachverfahren.
    pub fn released(mut self, ns: &str) -> Self {
        self.0
            .namespaces
            .insert(ns.into(), NamespaceState::Released(namespace(ns)));
        self
    }

    /// `ns` exists and is not ours (`claimed_by`: the onboarding that owns it, if any).
    pub fn foreign(mut self, ns: &str, claimed_by: Option<&str>) -> Self {
        self.0.namespaces.insert(
            ns.into(),
            NamespaceState::Foreign {
                claimed_by: claimed_by.map(Into::into),
            },
        );
        self
    }

    /// `ns` is being deleted.
    pub fn terminating(mut self, ns: &str) -> Self {
        self.0
            .namespaces
            .insert(ns.into(), NamespaceState::Terminating);
        self
    }

    /// What observe found.
    pub fn build(self) -> Observed {
        self.0
    }
}
