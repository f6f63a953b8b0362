//! Test harness: a sandbox API server over HTTP, the operator's CRDs, and the real controller
//! running against it as it would against a cluster.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::fmt::Debug;
use std::time::Duration;

use conplus_operator::api::*;
use conplus_operator::controller::{self, Options};
use futures::FutureExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Env {
    pub sandbox: Sandbox,
    pub client: Client,
    controller: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

pub fn client_for(sandbox: &Sandbox) -> Client {
    let config = kube::Config::new(sandbox.url().parse().unwrap());
    Client::try_from(config).unwrap()
}

impl Env {
    /// A sandbox with the CRDs installed and the controller running.
    pub async fn start() -> Env {
        let mut env = Env::without_controller().await;
        env.start_controller();
        env
    }

    /// A sandbox with the CRDs installed, no controller yet.
    pub async fn without_controller() -> Env {
        // `RUST_LOG=conplus_operator=debug cargo test` shows the controller's logs.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let client = client_for(&sandbox);
        conplus_operator::cli::sandbox::install_crds(&client)
            .await
            .unwrap();
        Env {
            sandbox,
            client,
            controller: None,
        }
    }

    pub fn start_controller(&mut self) {
        assert!(self.controller.is_none(), "controller already running");
        let (tx, rx) = oneshot::channel::<()>();
        let client = self.client.clone();
        let handle = tokio::spawn(controller::run(
            client,
            Options {
                instance: "test".into(),
                ..Options::default()
            },
            rx.map(|_| ()),
        ));
        self.controller = Some((tx, handle));
    }

    pub async fn stop_controller(&mut self) {
        if let Some((tx, handle)) = self.controller.take() {
            let _ = tx.send(());
            // A graceful shutdown finishes running reconciles; abort if it hangs.
            if tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .is_err()
            {
                panic!("controller did not stop within 10s of its shutdown signal");
            }
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = ()>,
    {
        Api::all(self.client.clone())
    }

    pub fn ns_api<K>(&self, ns: &str) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Server-side applies a cluster-scoped `obj` as a user would with kubectl.
    pub async fn apply<K>(&self, obj: &K) -> K
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + Serialize
            + DeserializeOwned
            + Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let mut value = serde_json::to_value(obj).unwrap();
        value["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("creationTimestamp");
        api.patch(
            &obj.name_any(),
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(&value),
        )
        .await
        .unwrap()
    }

    pub async fn delete_fvo(&self, name: &str) {
        self.api::<FachverfahrenOnboarding>()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    /// Waits until `pred` holds for the onboarding; panics with its last state otherwise.
    pub async fn wait_fvo(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&FachverfahrenOnboarding) -> bool,
    ) -> FachverfahrenOnboarding {
        let api = self.api::<FachverfahrenOnboarding>();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let current = api.get_opt(name).await.ok().flatten();
            if let Some(o) = &current
                && pred(o)
            {
                return o.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "onboarding {name}: {what} did not happen within 30s; last state: {:#?}",
                    current.map(|o| o.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `check` returns Some.
    pub async fn eventually<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{what} did not happen within 30s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn is_ready(o: &FachverfahrenOnboarding) -> bool {
    let Some(s) = &o.status else { return false };
    s.observed_generation == o.metadata.generation
        && s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

pub fn condition<'a>(
    o: &'a FachverfahrenOnboarding,
    t: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    o.status.as_ref()?.conditions.iter().find(|c| c.type_ == t)
}

pub fn totals(cpu: &str, memory: &str, storage: &str, pods: &str) -> ResourceTotals {
    ResourceTotals {
        cpu: cpu.into(),
        memory: memory.into(),
        storage: storage.into(),
        pods: pods.into(),
    }
}

pub fn ressort(name: &str, cpu: &str) -> Ressort {
    Ressort::new(
        name,
        RessortSpec {
            display_name: format!("Ressort {name}"),
            budget: totals(cpu, "256Gi", "2Ti", "500"),
        },
    )
}

/// An onboarding of `fachverfahren` in Ressort `ressort` with the given environments, each
/// asking for `cpu` cores.
pub fn onboarding(
    name: &str,
    ressort: &str,
    fachverfahren: &str,
    envs: &[&str],
    cpu: &str,
) -> FachverfahrenOnboarding {
    FachverfahrenOnboarding::new(
        name,
        FachverfahrenOnboardingSpec {
            ressort: ressort.into(),
            fachverfahren: fachverfahren.into(),
            display_name: format!("Fachverfahren {fachverfahren}"),
            owner: Owner {
                organisation: "Referat 1".into(),
                contact: "team@example.niedersachsen.de".into(),
            },
            process: None,
            protection_level: ProtectionLevel::Normal,
            environments: envs
                .iter()
                .map(|e| Environment {
                    name: (*e).into(),
                    quota: totals(cpu, "2Gi", "10Gi", "10"),
                })
                .collect(),
            access: vec![AccessEntry {
                group: format!("{fachverfahren}-devs"),
                role: AccessRole::Edit,
                environments: None,
            }],
            network: NetworkSpec::default(),
            conformance: ConformanceSpec::default(),
            deletion_policy: DeletionPolicy::Retain,
        },
    )
}
