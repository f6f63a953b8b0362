//! An in-memory Kubernetes API server over plain HTTP, faithful to kube-apiserver where
//! clients can tell: discovery, CRUD with resourceVersion concurrency, watches with history,
//! server-side apply, the status subresource, finalizers, garbage collection, namespace
//! termination, CustomResourceDefinitions with schema validation, and `metav1.Status` errors.
//! It knows nothing of the operators tested against it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_sandbox::SandboxError> {
//! let sandbox = kube_sandbox::Sandbox::start(Default::default()).await?;
//! println!("{}", sandbox.url());
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod api;
mod auth;
mod body;
mod crd;
mod discovery;
mod events;
mod faults;
mod gc;
mod http;
mod list;
mod meta;
mod podsecurity;
mod protobuf;
mod rbac;
mod registry;
mod selectors;
mod stats;
mod status;
mod store;
mod stored;
mod table;
mod typed;
mod vap;
mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultAction, FaultPlan, FaultSpecError, Faults};
pub use stats::{RequestRecord, RequestStats};

use crate::registry::GroupResource;
use crate::stats::Recorder;
use crate::store::Store;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free one. Default `127.0.0.1:0`.
    pub addr: SocketAddr,
    /// Where to write a kubeconfig for `kube::Client` and `kubectl`; none by default.
    pub kubeconfig: Option<PathBuf>,
    /// Events kept for watches resuming from a resourceVersion (older ones get 410 Gone).
    pub watch_history: usize,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// Requests kept in the request log.
    pub request_log_capacity: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            kubeconfig: None,
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(2),
            request_log_capacity: 100_000,
        }
    }
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}: {source}; choose another address or port 0")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("cannot write the kubeconfig to {path}: {source}; choose a writable path")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A running sandbox API server. Dropping it without [`Sandbox::shutdown`] aborts the server.
pub struct Sandbox {
    addr: SocketAddr,
    kubeconfig: Option<PathBuf>,
    store: Arc<Store>,
    faults: Faults,
    recorder: Arc<Recorder>,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    gc: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Namespaces that exist on a fresh cluster.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-node-lease", "kube-public", "kube-system"];

impl Sandbox {
    /// Starts listening and serving; built-in kinds and the initial namespaces exist.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: config.addr,
            source,
        })?;
        let store = Arc::new(Store::new(
            config.watch_history,
            config.bookmark_interval,
            registry::builtins(),
        ));
        {
            let mut st = store.write();
            let ns_gr = GroupResource {
                group: String::new(),
                resource: "namespaces".into(),
            };
            for ns in INITIAL_NAMESPACES {
                let obj = json!({
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns, "uid": meta::new_uid(), "creationTimestamp": meta::now(), "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                });
                st.put(&ns_gr, obj);
                api::create_default_service_account(&mut st, ns);
            }
            rbac::bootstrap(&mut st);
        }
        let faults = Faults::new(store.clone());
        let recorder = Arc::new(Recorder::new(config.request_log_capacity));
        let app = Arc::new(http::App {
            store: store.clone(),
            faults: faults.clone(),
            recorder: recorder.clone(),
            server_addr: addr.to_string(),
        });
        let router = axum::Router::new().fallback(http::handle).with_state(app);
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let mut server_rx = rx.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = server_rx.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "sandbox API server stopped with an error");
            }
        });
        let gc = tokio::spawn(gc::run(store.clone(), rx));
        let sandbox = Sandbox {
            addr,
            kubeconfig: config.kubeconfig.clone(),
            store,
            faults,
            recorder,
            shutdown,
            server: Some(server),
            gc: Some(gc),
        };
        if let Some(path) = &config.kubeconfig {
            std::fs::write(path, sandbox.kubeconfig_yaml()).map_err(|source| {
                SandboxError::Kubeconfig {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        tracing::info!(url = %sandbox.url(), "sandbox API server listening");
        Ok(sandbox)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig (cluster, user without credentials, context `sandbox`) that `kube::Client`
    /// and `kubectl` use unchanged.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\npreferences: {{}}\nclusters:\n- name: sandbox\n  cluster:\n    server: {}\ncontexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox\n    namespace: default\ncurrent-context: sandbox\nusers:\n- name: sandbox\n  user: {{}}\n",
            self.url()
        )
    }

    /// Where the kubeconfig was written, if asked to.
    pub fn kubeconfig_path(&self) -> Option<&Path> {
        self.kubeconfig.as_deref()
    }

    /// The fault injection handle (cheap to clone).
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// Request counters since start or the last [`Sandbox::reset_stats`].
    pub fn stats(&self) -> RequestStats {
        self.recorder.stats()
    }

    /// Zeroes the counters and empties the request log.
    pub fn reset_stats(&self) {
        self.recorder.reset();
    }

    /// The most recent requests, oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.recorder.log()
    }

    /// The current resourceVersion (of the last write).
    pub fn resource_version(&self) -> u64 {
        self.store.read().rv
    }

    /// Closes every watch, stops listening and waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        self.store.close_watches();
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            // Keep-alive connections of clients still alive would hold a graceful shutdown.
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                tracing::warn!("sandbox API server did not stop within 5s");
            }
        }
        if let Some(gc) = self.gc.take() {
            let _ = gc.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.store.close_watches();
        let _ = self.shutdown.send(true);
        if let Some(s) = self.server.take() {
            s.abort();
        }
        if let Some(g) = self.gc.take() {
            g.abort();
        }
    }
}
