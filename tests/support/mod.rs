//! Test harness: the cluster a test runs against, the operator's CRDs, and the real controller
//! running against it over HTTP, as it would against any cluster.
//!
//! `CONPLUS_TEST_CLUSTER` chooses the cluster:
//! - `sandbox` (default): a fresh in-memory sandbox API server for every test;
//! - `control-plane`: the real kube-apiserver, etcd and kube-controller-manager of
//!   `scripts/control-plane.sh` — the one whose kubeconfig `CONPLUS_CONTROL_PLANE_KUBECONFIG`
//!   names, or else one this test binary starts and that stops when the binary exits;
//! - `external`: the cluster of `KUBECONFIG` (a staging cluster, say).
//!
//! The last two are shared by every test running at once, so tests must not see each other:
//! each gives its Ressorts and onboardings names of its own ([`Env::name`]), every object it
//! applies carries its label ([`TEST_LABEL`]), its controller reconciles only what carries that
//! label, and what it created (namespaces included) is deleted when the test ends, passed or failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use conplus_operator::api::*;
use conplus_operator::controller::{self, Options};
use futures::FutureExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Resource, ResourceExt};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The label every object a test applies carries, valued with the test's tag; the test's
/// controller reconciles only onboardings and Ressorts with it.
pub const TEST_LABEL: &str = "test.conplus.niedersachsen.de/run";

/// Which cluster the tests run against (`CONPLUS_TEST_CLUSTER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded sandbox API server, one per test.
    Sandbox,
    /// The real control plane of `scripts/control-plane.sh`.
    ControlPlane,
    /// The cluster `KUBECONFIG` names.
    External,
}

impl Backend {
    pub fn current() -> Backend {
        match std::env::var("CONPLUS_TEST_CLUSTER").as_deref() {
            Err(_) | Ok("") | Ok("sandbox") => Backend::Sandbox,
            Ok("control-plane") => Backend::ControlPlane,
            Ok("external") => Backend::External,
            Ok(other) => panic!(
                "CONPLUS_TEST_CLUSTER={other:?}: expected sandbox (the default), control-plane or external"
            ),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sandbox => "sandbox",
            Backend::ControlPlane => "control-plane",
            Backend::External => "external",
        }
    }

    /// How long a harness wait allows. The real server is slower than the sandbox: a namespace
    /// terminates only after the namespace controller has emptied it, and controllers of the
    /// control plane run on a shared machine.
    pub fn patience(self) -> Duration {
        match self {
            Backend::Sandbox => Duration::from_secs(30),
            Backend::ControlPlane | Backend::External => Duration::from_secs(120),
        }
    }
}

/// For a test that needs what only the sandbox offers (fault injection, request statistics):
/// true on the sandbox; elsewhere prints why the test is skipped and returns false.
pub fn sandbox_only(why: &str) -> bool {
    let backend = Backend::current();
    if backend != Backend::Sandbox {
        println!("skipped on {}: sandbox only, {why}", backend.name());
    }
    backend == Backend::Sandbox
}

/// For a test of what the sandbox does not implement yet: false on the sandbox, after
/// printing why the test is skipped there.
pub fn not_on_sandbox(why: &str) -> bool {
    let backend = Backend::current();
    if backend == Backend::Sandbox {
        println!("skipped on the sandbox: {why}");
    }
    backend != Backend::Sandbox
}

/// A cluster to run against.
pub struct Cluster {
    pub backend: Backend,
    /// The client configuration (admin).
    pub config: kube::Config,
    /// A kubeconfig file for kubectl.
    pub kubeconfig: PathBuf,
    /// The sandbox, when the backend is the sandbox.
    pub sandbox: Option<Sandbox>,
    _dir: Option<tempfile::TempDir>,
}

impl Cluster {
    /// The cluster `CONPLUS_TEST_CLUSTER` chooses.
    pub async fn connect() -> Cluster {
        let backend = Backend::current();
        match backend {
            Backend::Sandbox => {
                let dir = tempfile::tempdir().unwrap();
                let kubeconfig = dir.path().join("kubeconfig");
                let sandbox = Sandbox::start(SandboxConfig {
                    kubeconfig: Some(kubeconfig.clone()),
                    ..SandboxConfig::default()
                })
                .await
                .unwrap();
                let config = kube::Config::new(sandbox.url().parse().unwrap());
                Cluster {
                    backend,
                    config,
                    kubeconfig,
                    sandbox: Some(sandbox),
                    _dir: Some(dir),
                }
            }
            Backend::ControlPlane | Backend::External => {
                let kubeconfig = if backend == Backend::ControlPlane {
                    control_plane_kubeconfig()
                } else {
                    std::env::var_os("KUBECONFIG")
                        .map(PathBuf::from)
                        .or_else(|| {
                            std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config"))
                        })
                        .expect("CONPLUS_TEST_CLUSTER=external needs KUBECONFIG")
                };
                Cluster {
                    backend,
                    config: config_from(&kubeconfig).await,
                    kubeconfig,
                    sandbox: None,
                    _dir: None,
                }
            }
        }
    }

    pub fn client(&self) -> Client {
        Client::try_from(self.config.clone()).unwrap()
    }

    /// `kubectl` against this cluster, with the admin's credentials.
    pub fn kubectl(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(tool("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }
}

async fn config_from(path: &Path) -> kube::Config {
    let kc = Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("reading kubeconfig {}: {e}", path.display()));
    kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", path.display()))
}

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from `.ci/tools/bin` (where `.ci/install-tools.sh` puts kubectl and helm), else `PATH`.
pub fn tool(name: &str) -> PathBuf {
    let local = root().join(".ci/tools/bin").join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from(name)
    }
}

/// The kubeconfig of the control plane: `CONPLUS_CONTROL_PLANE_KUBECONFIG`, or one started
/// once for this test binary by `scripts/control-plane.sh`, stopping when the binary exits.
fn control_plane_kubeconfig() -> PathBuf {
    static STARTED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    if let Some(path) = std::env::var_os("CONPLUS_CONTROL_PLANE_KUBECONFIG") {
        return PathBuf::from(path);
    }
    let started = STARTED.get_or_init(|| {
        let kubeconfig = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("control-plane-{}.kubeconfig", std::process::id()));
        let out = std::process::Command::new("bash")
            .arg(root().join("scripts/control-plane.sh"))
            .args(["up", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--owner-pid", &std::process::id().to_string()])
            .output()
            .map_err(|e| format!("running scripts/control-plane.sh: {e}"))?;
        if out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
            Ok(kubeconfig)
        } else {
            Err(format!(
                "scripts/control-plane.sh up failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    match started {
        Ok(path) => path.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// A short random tag, unique to one test among those sharing a cluster.
pub fn new_tag() -> String {
    use std::hash::{BuildHasher, RandomState};
    // RandomState is seeded randomly per instance; the time and pid guard against reuse.
    let seed = RandomState::new().hash_one((
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    ));
    // Starts with a letter so that the names built from it stay DNS labels in every position.
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut n = seed;
    let mut tag = String::from(char::from(b'a' + (n % 26) as u8));
    n /= 26;
    for _ in 0..4 {
        tag.push(char::from(alphabet[(n % 36) as usize]));
        n /= 36;
    }
    tag
}

pub struct Env {
    pub cluster: Cluster,
    pub client: Client,
    /// This test's tag: part of its names and the value of [`TEST_LABEL`].
    pub tag: String,
    controller: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Env {
    /// A cluster with the CRDs installed and the controller running.
    pub async fn start() -> Env {
        let mut env = Env::without_controller().await;
        env.start_controller();
        env
    }

    /// A cluster with the CRDs installed, no controller yet.
    pub async fn without_controller() -> Env {
        // `RUST_LOG=conplus_operator=debug cargo test` shows the controller's logs.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let cluster = Cluster::connect().await;
        let client = cluster.client();
        conplus_operator::cli::sandbox::install_crds(&client)
            .await
            .unwrap();
        let env = Env {
            cluster,
            client,
            tag: new_tag(),
            controller: None,
        };
        env.grant_operator_access().await;
        env
    }

    /// Binds the operator's ClusterRole (`conplus_operator::rbac`, as `deploy/base` and the chart grant it) to
    /// [`OPERATOR_USER`], as whom the tests' controller acts. Once per test binary on the control plane; the
    /// binding stays there (the control plane is the tests' own). Not on an external cluster: the binding would
    /// outlive the tests and widen the access of a real operator's ServiceAccount, so the controller acts as the
    /// kubeconfig's user there.
    async fn grant_operator_access(&self) {
        static GRANTED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        match self.backend() {
            Backend::Sandbox => return self.grant_operator_access_now().await,
            Backend::External => return,
            Backend::ControlPlane => {}
        }
        GRANTED
            .get_or_init(|| self.grant_operator_access_now())
            .await;
    }

    async fn grant_operator_access_now(&self) {
        let rules = conplus_operator::rbac::cluster_role_rules();
        self.bind_cluster_role("conplus-test-operator", rules, OPERATOR_USER)
            .await;
    }

    /// Applies a ClusterRole `name` with `rules` and a ClusterRoleBinding `name` of it to the user `user`
    /// (server-side apply: what is there of those names becomes this).
    pub async fn bind_cluster_role(
        &self,
        name: &str,
        rules: Vec<k8s_openapi::api::rbac::v1::PolicyRule>,
        user: &str,
    ) {
        use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
        let role = ClusterRole {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            rules: Some(rules),
            ..Default::default()
        };
        let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        }))
        .unwrap();
        let params = kube::api::PatchParams::apply("conplus-tests").force();
        Api::<ClusterRole>::all(self.client.clone())
            .patch(name, &params, &kube::api::Patch::Apply(&role))
            .await
            .unwrap();
        Api::<ClusterRoleBinding>::all(self.client.clone())
            .patch(name, &params, &kube::api::Patch::Apply(&binding))
            .await
            .unwrap();
    }

    /// Deletes the ClusterRoleBinding and ClusterRole of [`Env::bind_cluster_role`].
    pub async fn unbind_cluster_role(&self, name: &str) {
        use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
        let params = kube::api::DeleteParams::default();
        Api::<ClusterRoleBinding>::all(self.client.clone())
            .delete(name, &params)
            .await
            .unwrap();
        Api::<ClusterRole>::all(self.client.clone())
            .delete(name, &params)
            .await
            .unwrap();
    }

    pub fn backend(&self) -> Backend {
        self.cluster.backend
    }

    /// The sandbox, for a test that checked [`sandbox_only`] first.
    pub fn sandbox(&self) -> &Sandbox {
        self.cluster
            .sandbox
            .as_ref()
            .expect("only on the sandbox: check sandbox_only() first")
    }

    /// The writes the sandbox's request log holds, as `verb path status` (sandbox only).
    pub fn sandbox_writes(&self) -> Vec<String> {
        self.sandbox()
            .request_log()
            .into_iter()
            .filter(|r| ["create", "update", "patch", "apply", "delete"].contains(&r.verb.as_str()))
            .map(|r| format!("{} {} {}", r.verb, r.path, r.status))
            .collect()
    }

    /// `base` made unique to this test (`mk` → `mk-x3f9q`). Ressort names carry the tag, so the
    /// namespaces `<ressort>-<fachverfahren>-<environment>` of the test are its own too.
    pub fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.tag)
    }

    /// The label selector of this test's objects.
    pub fn selector(&self) -> String {
        format!("{TEST_LABEL}={}", self.tag)
    }

    pub fn start_controller(&mut self) {
        self.start_controller_with(Options::default());
    }

    /// Starts the controller with `options` (its readiness, its metrics), limited to this
    /// test's objects.
    pub fn start_controller_with(&mut self, options: Options) {
        let client = match self.backend() {
            Backend::External => self.client.clone(),
            Backend::Sandbox | Backend::ControlPlane => {
                impersonating(&self.cluster, OPERATOR_USER, &OPERATOR_GROUPS)
            }
        };
        self.start_controller_as(client, options);
    }

    /// Starts the controller with `options`, limited to this test's objects, talking to the cluster
    /// through `client` (one that impersonates an identity with less access, say).
    pub fn start_controller_as(&mut self, client: Client, options: Options) {
        assert!(self.controller.is_none(), "controller already running");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(controller::run(
            client,
            Options {
                instance: "test".into(),
                watch_selector: Some(self.selector()),
                ..options
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

    /// Server-side applies a cluster-scoped `obj` as a user would with kubectl, labelled as
    /// this test's.
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
        let metadata = value["metadata"].as_object_mut().unwrap();
        metadata.remove("creationTimestamp");
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| serde_json::json!({}));
        if labels.is_null() {
            *labels = serde_json::json!({});
        }
        labels[TEST_LABEL] = self.tag.clone().into();
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

    /// Waits until the onboarding says `Ready=False` with `reason` at its current generation.
    pub async fn wait_not_ready(&self, name: &str, reason: &str) -> FachverfahrenOnboarding {
        let what = format!("Ready=False with reason {reason} at the current generation");
        self.wait_fvo(name, &what, |o| {
            condition(o, "Ready").is_some_and(|c| {
                c.status == "False"
                    && c.reason == reason
                    && c.observed_generation == o.metadata.generation
            })
        })
        .await
    }

    /// Waits until `pred` holds for the onboarding; panics with its last state otherwise.
    pub async fn wait_fvo(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&FachverfahrenOnboarding) -> bool,
    ) -> FachverfahrenOnboarding {
        let api = self.api::<FachverfahrenOnboarding>();
        let patience = self.backend().patience();
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let current = api.get_opt(name).await.ok().flatten();
            if let Some(o) = &current
                && pred(o)
            {
                return o.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "onboarding {name}: {what} did not happen within {patience:?} on {}; last state: {:#?}",
                    self.backend().name(),
                    current.map(|o| o.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the cluster-scoped object `name` of kind `K` no longer exists (a namespace
    /// on a real cluster goes only once the namespace controller has emptied it).
    pub async fn wait_gone<K>(&self, name: &str)
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + DeserializeOwned
            + Debug,
    {
        let api = self.api::<K>();
        self.eventually(&format!("{} {name} gone", K::kind(&())), || async {
            api.get_opt(name).await.ok()?.is_none().then_some(())
        })
        .await
    }

    /// Waits until `check` returns Some.
    pub async fn eventually<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let patience = self.backend().patience();
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{what} did not happen within {patience:?} on {}",
                    self.backend().name()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Env {
    /// On a shared cluster: stops the controller and deletes what the test created, whether it
    /// passed or failed (`CONPLUS_TEST_KEEP=1` keeps it for a look).
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.controller.take() {
            let _ = tx.send(());
            handle.abort();
        }
        if self.cluster.sandbox.is_some() || std::env::var_os("CONPLUS_TEST_KEEP").is_some() {
            return;
        }
        let (config, tag) = (self.cluster.config.clone(), self.tag.clone());
        // The test's runtime may be a current-thread one that is blocked right here: clean up
        // on a thread of its own with a runtime and a client of its own.
        let cleaned = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = Client::try_from(config).map_err(|e| e.to_string())?;
                tokio::time::timeout(Duration::from_secs(60), delete_test_objects(&client, &tag))
                    .await
                    .map_err(|_| "timed out after 60s".to_string())?
            })
        })
        .join();
        match cleaned {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cleaning up after test {}: {e}", self.tag),
            Err(_) => eprintln!("cleaning up after test {}: the cleanup panicked", self.tag),
        }
    }
}

/// Deletes the onboardings, Ressorts, profiles, ClusterRoleBindings and namespaces of the test tagged `tag`: those
/// labelled with it or named with it. The onboardings' finalizers are removed first: their
/// controller is gone, and their namespaces are deleted here whatever their deletion policy.
/// Namespaces are not waited for: the namespace controller empties and removes them.
async fn delete_test_objects(client: &Client, tag: &str) -> Result<(), String> {
    let fvos: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    let unfinalize = Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}));
    for name in names_of_test(&fvos, tag).await? {
        let _ = fvos
            .patch(&name, &PatchParams::default(), &unfinalize)
            .await;
        let _ = fvos.delete(&name, &DeleteParams::default()).await;
    }
    delete_of_test(&Api::<Ressort>::all(client.clone()), tag).await?;
    delete_of_test(&Api::<ConformanceProfile>::all(client.clone()), tag).await?;
    // Tests of the admission policies bind the onboarder ClusterRole to groups of their own.
    delete_of_test(
        &Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(client.clone()),
        tag,
    )
    .await?;
    // A test may create a ClusterRole of a reader role's name that is not the operator's.
    delete_of_test(
        &Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(client.clone()),
        tag,
    )
    .await?;
    delete_of_test(&Api::<Namespace>::all(client.clone()), tag).await
}

/// The objects of `api` that belong to the test tagged `tag` and are not being deleted yet.
async fn names_of_test<K>(api: &Api<K>, tag: &str) -> Result<Vec<String>, String>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let infix = format!("-{tag}");
    Ok(api
        .list_metadata(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|o| {
            o.metadata.deletion_timestamp.is_none()
                && (o.name_any().contains(&infix)
                    || o.labels().get(TEST_LABEL).is_some_and(|t| t == tag))
        })
        .map(|o| o.name_any())
        .collect())
}

async fn delete_of_test<K>(api: &Api<K>, tag: &str) -> Result<(), String>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    for name in names_of_test(api, tag).await? {
        let _ = api.delete(&name, &DeleteParams::default()).await;
    }
    Ok(())
}

/// The names of the objects `api` lists with `params`, sorted.
pub async fn names<K>(api: &Api<K>, params: &ListParams) -> Vec<String>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut names: Vec<String> = api
        .list(params)
        .await
        .unwrap()
        .items
        .iter()
        .map(|o| o.name_any())
        .collect();
    names.sort();
    names
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
            onboarders: Vec::new(),
            node_pool: None,
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
            aufgabe: None,
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

/// The name (`fullnameOverride`) under which [`Env::install_admission_policies`] installs the chart's admission
/// policies: apart from a real installation's `conplus-operator-*` on an external cluster, whose policies stay and
/// are evaluated beside these.
pub const TEST_ADMISSION_RELEASE: &str = "conplus-operator-test";

/// The identity the tests' controller acts as on the sandbox and the control plane: the operator's ServiceAccount
/// of `deploy/base` and the chart, with the operator's ClusterRole ([`Env::grant_operator_access`]) and nothing
/// else, so that every test proves the operator's RBAC enough for what it does. The admission policies exempt it
/// as they exempt the operator.
pub const OPERATOR_USER: &str = "system:serviceaccount:conplus-system:conplus-operator";

/// The groups of [`OPERATOR_USER`], as kube-apiserver gives them to a ServiceAccount.
pub const OPERATOR_GROUPS: [&str; 3] = [
    "system:serviceaccounts",
    "system:serviceaccounts:conplus-system",
    "system:authenticated",
];

/// The user that probes whether the admission policies are in force: allowed by RBAC to create ConfigMaps in
/// `default`, exempt from no policy.
const ADMISSION_PROBE_USER: &str = "conplus-test-admission-probe";

impl Env {
    /// Installs the admission policies of the chart (`templates/admission.yaml`, `templates/onboarder-clusterrole.yaml`)
    /// into the cluster, as the platform team would, with this test's controller exempt as the operator is: its
    /// identity (`kubectl auth whoami`) joins `admission.exemptUsers`, the operator's ServiceAccount of
    /// `deploy/base` stays exempt too. Returns once kube-apiserver enforces them. Once per test binary; the
    /// cluster-scoped objects stay (installing them again changes nothing).
    pub async fn install_admission_policies(&self) {
        static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        // Every test has a sandbox of its own; the other clusters are shared by the test binary.
        if self.backend() == Backend::Sandbox {
            return self.install_admission_policies_now().await;
        }
        INSTALLED
            .get_or_init(|| self.install_admission_policies_now())
            .await;
    }

    async fn install_admission_policies_now(&self) {
        {
            {
                let identity = self.identity().await;
                let yaml = render_admission_policies(&identity);
                self.kubectl_stdin(
                    &[
                        "apply",
                        "--server-side",
                        "--force-conflicts",
                        "--field-manager=conplus-tests",
                        "-f",
                        "-",
                    ],
                    &yaml,
                );
                self.kubectl_apply(&admission_probe_rbac());
                // kube-apiserver loads policies from an informer: the probe, a record label on a ConfigMap
                // (dry run), is refused once they are in force.
                let probe: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(
                    impersonating(&self.cluster, ADMISSION_PROBE_USER, &[]),
                    "default",
                );
                let mut cm = k8s_openapi::api::core::v1::ConfigMap::default();
                cm.metadata.name = Some("conplus-test-admission-probe".into());
                cm.metadata.labels =
                    Some([(ONBOARDING_RECORD.to_string(), "probe".to_string())].into());
                let dry_run = kube::api::PostParams {
                    dry_run: true,
                    ..Default::default()
                };
                self.eventually("the admission policies in force", || async {
                    refusal_by_policy(&probe.create(&dry_run, &cm).await, "ownership-records")
                        .map(|_| ())
                })
                .await;
                // The onboarders policy reads the Ressorts through an informer of its own; until that has
                // synced, kube-apiserver refuses every onboarding (failurePolicy Fail), the exempt included.
                let fvos: Api<FachverfahrenOnboarding> = Api::all(self.client.clone());
                let fvo = onboarding(
                    "conplus-test-admission-probe",
                    "probe",
                    "probe",
                    &["dev"],
                    "1",
                );
                self.eventually("the onboarders policy's Ressorts synced", || async {
                    fvos.create(&dry_run, &fvo).await.ok().map(|_| ())
                })
                .await;
            }
        }
    }

    /// The user name the test's client authenticates as.
    pub async fn identity(&self) -> String {
        use k8s_openapi::api::authentication::v1::SelfSubjectReview;
        let review: SelfSubjectReview = Api::all(self.client.clone())
            .create(&Default::default(), &SelfSubjectReview::default())
            .await
            .unwrap_or_else(|e| panic!("SelfSubjectReview (kubectl auth whoami): {e}"));
        review
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .expect("the API server names the test's user")
    }

    /// Applies the manifests `yaml` (admin, server-side, as the tests' field manager) with kubectl.
    pub fn kubectl_apply(&self, yaml: &str) -> String {
        let args = [
            "apply",
            "--server-side",
            "--field-manager=conplus-tests",
            "-f",
            "-",
        ];
        self.kubectl_stdin(&args, yaml)
    }

    /// Runs kubectl (admin) with `input` on its standard input; panics with its output when it fails.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .cluster
            .kubectl()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs (.ci/install-tools.sh installs it)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The message of `result` when it is a 403 from the admission policy `<release>-<policy>` (any of the operator's
/// policies when `policy` is empty), as kube-apiserver words it.
pub fn refusal_by_policy<T>(result: &Result<T, kube::Error>, policy: &str) -> Option<String> {
    match result {
        Err(kube::Error::Api(status))
            if status.code == 403
                && status.message.contains("ValidatingAdmissionPolicy")
                && (policy.is_empty() || status.message.contains(&format!("-{policy}'"))) =>
        {
            Some(status.message.clone())
        }
        _ => None,
    }
}

impl Env {
    /// Installs the ClusterRole that aggregates reading PolicyReports into `view`, `edit` and `admin`
    /// (`deploy/base/policyreports-view.yaml`, the same as the chart's), as an installation of the operator
    /// does, and waits until a namespace viewer may read PolicyReports (the aggregation has happened).
    pub async fn install_policyreport_viewers(&self) {
        let text =
            std::fs::read_to_string(root().join("deploy/base/policyreports-view.yaml")).unwrap();
        let role: k8s_openapi::api::rbac::v1::ClusterRole = serde_saphyr::from_str(&text).unwrap();
        let api = self.api::<k8s_openapi::api::rbac::v1::ClusterRole>();
        api.patch(
            &role.name_any(),
            &PatchParams::apply("conplus-tests").force(),
            &Patch::Apply(&role),
        )
        .await
        .unwrap();
        let view = api.clone();
        self.eventually("view aggregates reading PolicyReports", || {
            let view = view.clone();
            async move {
                let role = view.get("view").await.ok()?;
                role.rules
                    .unwrap_or_default()
                    .iter()
                    .any(|r| {
                        r.resources
                            .as_ref()
                            .is_some_and(|res| res.iter().any(|x| x == "policyreports"))
                    })
                    .then_some(())
            }
        })
        .await;
    }
}

/// The label the operator records an object's onboarding in (`conplus_operator::resources::ONBOARDING`).
const ONBOARDING_RECORD: &str = "conplus.niedersachsen.de/onboarding";

/// A client acting as `user` in `groups` (and system:authenticated), with the admin's credentials and
/// impersonation headers, as `kubectl --as --as-group` does.
pub fn impersonating(cluster: &Cluster, user: &str, groups: &[&str]) -> Client {
    let mut config = cluster.config.clone();
    config.auth_info.impersonate = Some(user.to_string());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    Client::try_from(config).unwrap()
}

/// `helm template` of the chart's admission policies and onboarder ClusterRole, with `identity` exempt besides the
/// chart's default exemptions.
fn render_admission_policies(identity: &str) -> String {
    let values: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("charts/conplus-operator/values.yaml")).unwrap(),
    )
    .unwrap();
    let mut exempt: Vec<String> =
        serde_json::from_value(values["admission"]["exemptUsers"].clone()).unwrap();
    exempt.push(identity.to_string());
    let out = std::process::Command::new(tool("helm"))
        .args(["template", "conplus-operator"])
        .arg(root().join("charts/conplus-operator"))
        .args(["--namespace", "conplus-system"])
        .args(["--show-only", "templates/admission.yaml"])
        .args(["--show-only", "templates/onboarder-clusterrole.yaml"])
        .args([
            "--set",
            &format!("fullnameOverride={TEST_ADMISSION_RELEASE}"),
        ])
        // The ServiceAccount of deploy/base (tests/examples_live.rs runs the operator binary as it).
        .args(["--set", "serviceAccount.name=conplus-operator"])
        .arg("--set-json")
        .arg(format!(
            "admission.exemptUsers={}",
            serde_json::to_string(&exempt).unwrap()
        ))
        .output()
        .expect("helm runs (.ci/install-tools.sh installs it)");
    assert!(
        out.status.success(),
        "helm template of the admission policies: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// RBAC for the probe of [`Env::install_admission_policies`]: create ConfigMaps in `default` (probed with dry runs
/// only).
fn admission_probe_rbac() -> String {
    format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {ADMISSION_PROBE_USER}
  namespace: default
rules:
  - apiGroups: [""]
    resources: ["configmaps"]
    verbs: ["create"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {ADMISSION_PROBE_USER}
  namespace: default
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {ADMISSION_PROBE_USER}
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: {ADMISSION_PROBE_USER}
"#
    )
}

/// A refusal of writes in force on the test's cluster ([`Env::refuse`]); [`Env::lift`] ends it.
#[must_use = "lift the refusal when the test no longer needs it"]
pub struct Refusal {
    /// The name of the ValidatingAdmissionPolicy and its binding.
    policy: String,
    /// The name of its probe.
    probe: String,
}

impl Env {
    /// Has the API server refuse the `operations` (`CREATE`, `UPDATE`) on `resource` (plural, of API
    /// `group`) in `namespace` (any when `None`) of the object `name` (any when `None`), as an admission
    /// policy of the platform would: a ValidatingAdmissionPolicy and its binding, in force when this
    /// returns (kube-apiserver loads policies from an informer: a probe, a dry-run ConfigMap the policy
    /// refuses too, tells when).
    pub async fn refuse(
        &self,
        (group, resource): (&str, &str),
        operations: &[&str],
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Refusal {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let policy = format!(
            "conplus-test-refuse-{}-{}",
            self.tag,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let probe = format!("{policy}-probe");
        let in_ns = namespace.map_or("true".to_string(), |ns| {
            format!("request.namespace == '{ns}'")
        });
        let named = name.map_or("true".to_string(), |n| format!("request.name == '{n}'"));
        let refused = format!(
            "(request.resource.resource == 'configmaps' && request.name == '{probe}') || \
             (request.resource.group == '{group}' && request.resource.resource == '{resource}' \
             && {in_ns} && {named})"
        );
        let vap = serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": policy},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [
                    {"apiGroups": [group], "apiVersions": ["*"], "resources": [resource],
                     "operations": operations},
                    {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"],
                     "operations": ["CREATE"]}
                ]},
                "validations": [{
                    "expression": format!("!({refused})"),
                    "reason": "Forbidden",
                    "message": "refused by an admission policy of the test"
                }]
            }
        });
        let binding = serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": policy},
            "spec": {"policyName": policy, "validationActions": ["Deny"]}
        });
        self.kubectl_apply(&format!("{vap}\n---\n{binding}\n"));
        self.wait_probe(&probe, true).await;
        Refusal { policy, probe }
    }

    /// Ends a refusal of [`Env::refuse`], once the API server admits again what it refused.
    pub async fn lift(&self, refusal: Refusal) {
        let Refusal { policy, probe } = refusal;
        for kind in [
            "validatingadmissionpolicybinding",
            "validatingadmissionpolicy",
        ] {
            self.kubectl_stdin(&["delete", kind, &policy, "--ignore-not-found"], "");
        }
        self.wait_probe(&probe, false).await;
    }

    /// Waits until a dry-run ConfigMap named `probe` is refused by an admission policy, or admitted.
    async fn wait_probe(&self, probe: &str, refused: bool) {
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(self.client.clone(), "default");
        let mut cm = k8s_openapi::api::core::v1::ConfigMap::default();
        cm.metadata.name = Some(probe.to_string());
        let dry_run = kube::api::PostParams {
            dry_run: true,
            ..Default::default()
        };
        let what = if refused {
            "the test's admission policy in force"
        } else {
            "the test's admission policy lifted"
        };
        self.eventually(what, || async {
            let result = api.create(&dry_run, &cm).await;
            let by_policy = matches!(&result, Err(kube::Error::Api(s))
                if s.code == 403 && s.message.contains("ValidatingAdmissionPolicy"));
            (by_policy == refused).then_some(())
        })
        .await;
    }
}
