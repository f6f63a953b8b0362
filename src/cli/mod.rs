//! The subcommands of `conplus-operator`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod check;
pub mod grundschutz;
pub mod grundschutz_live;
pub mod inventory;
pub mod manifests;
pub mod plugin;
pub mod render;
pub mod run;
pub mod sandbox;

/// Onboards Fachverfahren onto CONPlus, the Kubernetes platform of IT.Niedersachsen.
#[derive(Parser, Debug)]
#[command(name = "conplus-operator", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller against the cluster of the kubeconfig (or in-cluster config).
    Run(run::RunArgs),
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Print, offline, the objects an onboarding would produce (for review in merge requests).
    Render(render::RenderArgs),
    /// Start an in-memory Kubernetes API server with the CRDs and the controller, no cluster needed.
    Sandbox(sandbox::SandboxArgs),
    /// Check manifests against the DVC conformance rules (for pipelines).
    Check(check::CheckArgs),
    /// Judge manifests, or the live onboardings, against every requirement of BSI IT-Grundschutz
    /// APP.4.4 and SYS.1.6.
    Grundschutz(grundschutz::GrundschutzArgs),
    /// The consolidation inventory: which Ressort runs which Fachverfahren for which Verwaltungsaufgabe,
    /// and where several Fachverfahren serve the same task; from the cluster or offline from manifests.
    Inventory(inventory::InventoryArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // Linked or copied as `kubectl-conplus`, the binary is the kubectl plugin of the Ressort teams.
    if std::env::args_os()
        .next()
        .is_some_and(|argv0| plugin::invoked_as_plugin(&argv0))
    {
        return plugin::main();
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run::main(args),
        Command::Crd => match crate::api::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: rendering the CRDs failed: {e}");
                ExitCode::from(2)
            }
        },
        Command::Render(args) => render::main(args),
        Command::Sandbox(args) => sandbox::main(args),
        Command::Check(args) => check::run(args),
        Command::Grundschutz(args) => grundschutz::run(args),
        Command::Inventory(args) => inventory::run(args),
    }
}

/// Platform settings as command-line flags with environment fallbacks.
#[derive(clap::Args, Debug, Clone)]
pub struct PlatformArgs {
    /// Namespace of the platform's ingress controller (always allowed to reach workloads).
    #[arg(
        long,
        env = "CONPLUS_INGRESS_NAMESPACE",
        default_value = "ingress-nginx"
    )]
    pub ingress_namespace: String,
    /// Namespace of the cluster DNS.
    #[arg(long, env = "CONPLUS_DNS_NAMESPACE", default_value = "kube-system")]
    pub dns_namespace: String,
    /// Namespace of the monitoring stack (allowed to scrape workloads).
    #[arg(
        long,
        env = "CONPLUS_MONITORING_NAMESPACE",
        default_value = "monitoring"
    )]
    pub monitoring_namespace: String,
}

impl PlatformArgs {
    /// As the builders take them.
    pub fn settings(&self) -> crate::resources::PlatformSettings {
        crate::resources::PlatformSettings {
            ingress_namespace: self.ingress_namespace.clone(),
            dns_namespace: self.dns_namespace.clone(),
            monitoring_namespace: self.monitoring_namespace.clone(),
        }
    }
}

/// Log output options.
#[derive(clap::Args, Debug, Clone)]
pub struct LogArgs {
    /// `plain` or `json`; timestamps are ISO-8601 in UTC either way.
    #[arg(long, env = "CONPLUS_LOG_FORMAT", default_value = "plain", value_parser = ["plain", "json"])]
    pub log_format: String,
    /// A tracing filter (`info`, `conplus_operator=debug,kube=info`).
    #[arg(long, env = "CONPLUS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl LogArgs {
    /// Installs the global subscriber (stderr, ISO-8601 UTC timestamps). A second call (tests,
    /// the sandbox) keeps the first subscriber.
    pub fn init(&self) {
        if let Err(e) = crate::telemetry::init_logging(&self.log_format, &self.log_level)
            && !matches!(e, crate::telemetry::TelemetryError::AlreadyInitialised)
        {
            eprintln!("warning: {e}; logging with the defaults");
            let _ = crate::telemetry::init_logging("plain", "info");
        }
    }
}

/// A runtime for the async subcommands.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, std::io::Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = futures::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
