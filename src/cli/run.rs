//! `conplus-operator run`: the controller against a real cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use tracing::{error, info};

use std::sync::Arc;

use futures::FutureExt;

use super::{LogArgs, PlatformArgs, runtime, shutdown_signal};
use crate::controller::conformance::Defaults;
use crate::controller::{self, Options};
use crate::leader;
use crate::telemetry::{self, Health, Metrics};

/// Options of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Kubeconfig to use; otherwise `KUBECONFIG`, `~/.kube/config` or the in-cluster config.
    #[arg(long, env = "KUBECONFIG_PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Reconciles running at once.
    #[arg(long, env = "CONPLUS_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Where `/livez`, `/readyz` and `/metrics` are served.
    #[arg(long, env = "CONPLUS_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: std::net::SocketAddr,
    /// Serve the read-only inventory page (tasks, their Fachverfahren, Ressorts, onboardings) on this
    /// address, e.g. `0.0.0.0:8081`; off when not given.
    #[arg(long, env = "CONPLUS_INVENTORY_ADDR")]
    pub inventory_addr: Option<std::net::SocketAddr>,
    /// The price list, a ConfigMap `NAMESPACE/NAME` (keys `currency`, `cpuCoreMonth`, `memoryGiBMonth`,
    /// `storageGiBMonth`, `namespaceMonth`, decimals): onboardings, Ressorts and tasks then show their
    /// monthly cost. The chart creates it with `prices.enabled`.
    #[arg(long, env = "CONPLUS_PRICES", value_name = "NAMESPACE/NAME", value_parser = parse_prices)]
    pub prices: Option<(String, String)>,
    /// Reconcile only while holding the leader Lease (for more than one replica).
    #[arg(long, env = "CONPLUS_LEADER_ELECTION")]
    pub leader_election: bool,
    /// Namespace of the leader Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "conplus-system")]
    pub lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = crate::leader::DEFAULT_LEASE_NAME)]
    pub lease_name: String,
    /// Conformance profile of onboardings that name none (default: the built-in profile of
    /// their protection level).
    #[arg(long, env = "CONPLUS_DEFAULT_PROFILE")]
    pub default_profile: Option<String>,
    /// Image registries allowed when a profile lists none (comma-separated).
    #[arg(long, env = "CONPLUS_ALLOWED_REGISTRIES", value_delimiter = ',')]
    pub allowed_registries: Vec<String>,
    /// Reconcile only the onboardings and Ressorts this label selector picks (`key=value,…`),
    /// e.g. for a canary or one shard; give a Ressort and its onboardings the same labels.
    #[arg(long, env = "CONPLUS_SELECTOR")]
    pub selector: Option<String>,
    /// Platform settings.
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

fn parse_prices(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("{text:?}: write the ConfigMap as NAMESPACE/NAME")),
    }
}

/// Errors that stop `run` before the controller starts.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The kubeconfig could not be read.
    #[error("reading kubeconfig {path}: {source}; pass --kubeconfig or set KUBECONFIG")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: kube::config::KubeconfigError,
    },
    /// No configuration was found.
    #[error("no cluster configuration: {0}; pass --kubeconfig, set KUBECONFIG, or run in a pod")]
    Infer(#[from] kube::config::InferConfigError),
    /// The client could not be built.
    #[error("building the API client: {0}")]
    Client(#[from] kube::Error),
    /// The API server refused `--selector`.
    #[error("--selector {selector:?} was refused: {source}; write it as for kubectl get -l")]
    Selector {
        /// The selector.
        selector: String,
        /// The server's answer.
        source: kube::Error,
    },
}

/// Asks the API server to list one onboarding with `selector`, so that a malformed selector
/// stops `run` with the server's reason instead of failing every watch later.
async fn check_selector(client: &Client, selector: &str) -> Result<(), RunError> {
    let api: kube::Api<crate::api::FachverfahrenOnboarding> = kube::Api::all(client.clone());
    match api
        .list_metadata(&kube::api::ListParams::default().labels(selector).limit(1))
        .await
    {
        Err(source @ kube::Error::Api(_)) => Err(RunError::Selector {
            selector: selector.to_string(),
            source,
        }),
        // Other errors (the server not reachable yet) are for the watches to retry.
        _ => Ok(()),
    }
}

/// Builds a client from an explicit kubeconfig file or the usual inference.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<Client, RunError> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|source| RunError::Kubeconfig {
                path: path.to_path_buf(),
                source,
            })?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|source| RunError::Kubeconfig {
                    path: path.to_path_buf(),
                    source,
                })?
        }
        None => Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub fn main(args: RunArgs) -> ExitCode {
    args.log.init();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async {
        let client = match client(args.kubeconfig.as_deref()).await {
            Ok(c) => c,
            Err(e) => {
                error!("{e}");
                return ExitCode::from(2);
            }
        };
        if let Some(selector) = &args.selector
            && let Err(e) = check_selector(&client, selector).await
        {
            error!("{e}");
            return ExitCode::from(2);
        }
        let identity = std::env::var("POD_NAME").unwrap_or_else(|_| "conplus-operator".into());
        let metrics = Arc::new(Metrics::new());
        let health = Health::new();
        let options = Options {
            settings: args.platform.settings(),
            instance: identity.clone(),
            concurrency: args.concurrency,
            conformance: Defaults {
                default_profile: args.default_profile.clone(),
                allowed_registries: args
                    .allowed_registries
                    .iter()
                    .filter(|r| !r.is_empty())
                    .cloned()
                    .collect(),
            },
            metrics: metrics.clone(),
            health: health.clone(),
            watch_selector: args.selector.clone(),
            prices: args.prices.clone(),
        };
        // One signal, observed by the HTTP server, the election and the controller.
        let shutdown = shutdown_signal().shared();
        let server = tokio::spawn(telemetry::serve(
            args.metrics_addr,
            metrics,
            health.clone(),
            shutdown.clone(),
        ));
        if let Some(addr) = args.inventory_addr {
            match crate::inventory::serve::bind(addr).await {
                Ok(listener) => {
                    info!(%addr, "serving the inventory page");
                    let (client, stop) = (client.clone(), shutdown.clone());
                    tokio::spawn(async move {
                        if let Err(e) =
                            crate::inventory::serve::serve_on(listener, client, stop).await
                        {
                            error!("{e}");
                        }
                    });
                }
                Err(e) => {
                    error!("{e}");
                    return ExitCode::from(2);
                }
            }
        }
        info!(
            version = env!("CARGO_PKG_VERSION"),
            leader_election = args.leader_election,
            "starting controller"
        );
        let code = if args.leader_election {
            let result = leader::run_as_leader(
                client.clone(),
                &args.lease_namespace,
                &args.lease_name,
                &identity,
                leader::DEFAULT_LEASE_DURATION,
                health,
                shutdown.clone(),
                |stop| controller::run(client.clone(), options.clone(), stop),
            )
            .await;
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    error!("{e}");
                    ExitCode::from(2)
                }
            }
        } else {
            health.set_leader(true);
            controller::run(client, options, shutdown.clone()).await;
            ExitCode::SUCCESS
        };
        match server.await {
            Ok(Err(e)) => {
                error!("{e}");
                return ExitCode::from(2);
            }
            Err(e) => error!("the HTTP server task failed: {e}"),
            Ok(Ok(())) => {}
        }
        info!("controller stopped");
        code
    })
}
