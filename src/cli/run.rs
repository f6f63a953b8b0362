//! `conplus-operator run`: the controller against a real cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use tracing::{error, info};

use super::{LogArgs, PlatformArgs, runtime, shutdown_signal};
use crate::controller::{self, Options};

/// Options of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Kubeconfig to use; otherwise `KUBECONFIG`, `~/.kube/config` or the in-cluster config.
    #[arg(long, env = "KUBECONFIG_PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Reconciles running at once.
    #[arg(long, env = "CONPLUS_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Platform settings.
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
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
        let options = Options {
            settings: args.platform.settings(),
            instance: std::env::var("POD_NAME").unwrap_or_else(|_| "conplus-operator".into()),
            concurrency: args.concurrency,
        };
        info!(version = env!("CARGO_PKG_VERSION"), "starting controller");
        controller::run(client, options, shutdown_signal()).await;
        info!("controller stopped");
        ExitCode::SUCCESS
    })
}
