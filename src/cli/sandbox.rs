//! `conplus-operator sandbox`: an in-memory Kubernetes API server with the CRDs installed and
//! the controller running against it over HTTP — the operator without a cluster.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use kube_sandbox::{FaultPlan, Sandbox, SandboxConfig};

use super::manifests::{apply_documents, read_documents};
use super::{LogArgs, PlatformArgs, runtime, shutdown_signal};
use crate::api::FachverfahrenOnboarding;
use crate::controller::{self, Options};
use crate::resources::FIELD_MANAGER;

/// Options of `sandbox`.
#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// Where to write the kubeconfig (for `kubectl --kubeconfig`).
    #[arg(long, default_value = "sandbox.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Port on 127.0.0.1 of the read-only inventory page (its URL is printed); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub inventory_port: u16,
    /// Apply the manifests in this file or folder after start.
    #[arg(long)]
    pub apply: Option<PathBuf>,
    /// Serve the API alone (CRDs installed), for `conplus-operator run` as a separate process.
    #[arg(long)]
    pub no_operator: bool,
    /// Exit once every onboarding is Ready (exit code 1 if that takes longer than the timeout).
    #[arg(long)]
    pub exit_when_ready: bool,
    /// How long `--exit-when-ready` waits.
    #[arg(long, default_value_t = 60)]
    pub timeout_seconds: u64,
    /// Inject faults into the API server, to see clients (the controller, kubectl, tests) cope.
    /// Rules separated by `;`, each comma-separated `key=value`:
    /// a request rule matches on `verb` (get, list, watch, create, update, patch, apply, delete,
    /// deletecollection), `resource` (plural), `namespace`, `name` and answers `status=CODE`
    /// (default 500; 409, 429 with `retry-after=SECS`, 503, ...) or waits `delay=DURATION`,
    /// for a share `rate=0..1` of the matching requests, the next `times=N` or `for=DURATION`;
    /// `watch-cut=DURATION` ends every open watch at that interval; `compact=DURATION` forgets
    /// the watch history at that interval (older resourceVersions get 410 Gone).
    /// Durations: 500ms, 30s, 2m. Example:
    /// `--faults 'verb=update,rate=0.1,status=409; verb=list,status=503,times=3; watch-cut=30s; compact=2m'`.
    /// Repeatable.
    #[arg(long = "faults", value_name = "SPEC", value_parser = parse_faults)]
    pub faults: Vec<FaultPlan>,
    /// Platform settings for the controller.
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

fn parse_faults(spec: &str) -> Result<FaultPlan, String> {
    FaultPlan::parse(spec).map_err(|e| e.to_string())
}

/// Errors of the sandbox setup.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A CRD could not be installed.
    #[error("installing CRD {name}: {source}")]
    InstallCrd {
        /// The CRD.
        name: String,
        /// Why.
        source: kube::Error,
    },
    /// A CRD did not become Established.
    #[error("CRD {0} did not become Established")]
    NotEstablished(String),
}

/// Installs (server-side applies) the operator's CRDs and waits until they are Established.
pub async fn install_crds(client: &Client) -> Result<(), SetupError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    // The PolicyReport CRD too: a cluster with Kyverno or Policy Reporter has it, and the
    // controller writes a report into every onboarded namespace.
    let all = crate::api::crds()
        .into_iter()
        .chain([crate::conformance::report::policyreport::crd()]);
    for crd in all {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(|source| SetupError::InstallCrd {
            name: name.clone(),
            source,
        })?;
        let established = async {
            loop {
                if let Ok(c) = api.get(&name).await {
                    let ok = c
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True");
                    if ok {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), established)
            .await
            .map_err(|_| SetupError::NotEstablished(name.clone()))?;
    }
    Ok(())
}

/// A one-line summary of every onboarding (see [`summary_line`]).
async fn summary(client: &Client) -> Result<Vec<(String, bool)>, kube::Error> {
    let api: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(summary_line)
        .collect())
}

/// `name: Phase (Ready reason: Ready message)` and whether it is Ready: the reason and message
/// say what holds a not-ready onboarding up.
pub fn summary_line(o: &FachverfahrenOnboarding) -> (String, bool) {
    let status = o.status.clone().unwrap_or_default();
    let ready = crate::controller::conditions::ready_condition(&status);
    let is_ready = ready.is_some_and(|c| c.status == "True");
    let phase = status
        .phase
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "-".into());
    let reason = ready
        .map(|c| format!(" ({}: {})", c.reason, c.message))
        .unwrap_or_default();
    (format!("{}: {phase}{reason}", o.name_any()), is_ready)
}

/// Runs the sandbox until Ctrl-C / SIGTERM (or until every onboarding is Ready).
pub fn main(args: SandboxArgs) -> ExitCode {
    args.log.init();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(run(args))
}

async fn run(args: SandboxArgs) -> ExitCode {
    let config = SandboxConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], args.port)),
        kubeconfig: Some(args.kubeconfig.clone()),
        ..Default::default()
    };
    let sandbox = match Sandbox::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: starting the sandbox API server: {e}");
            return ExitCode::from(2);
        }
    };
    let client = match super::run::client(Some(&args.kubeconfig)).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = install_crds(&client).await {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    // Faults start once the CRDs are installed, so that setup itself is not refused.
    let fault_tasks: Vec<_> = args
        .faults
        .iter()
        .map(|plan| plan.install(&sandbox.faults()))
        .collect();
    for plan in &args.faults {
        println!(
            "injecting faults: {} request rule(s), watch cuts every {}, compactions every {}",
            plan.rules.len(),
            plan.watch_cut
                .map(|d| format!("{d:?}"))
                .unwrap_or_else(|| "-".into()),
            plan.compact
                .map(|d| format!("{d:?}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!("sandbox API server listening on {}", sandbox.url());
    println!("kubeconfig written to {}", args.kubeconfig.display());
    println!(
        "  try: kubectl --kubeconfig {} get fvo,ressort",
        args.kubeconfig.display()
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = stop_rx.map(|_| ()).shared();
    let page_addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.inventory_port));
    match crate::inventory::serve::bind(page_addr).await {
        Ok(listener) => {
            if let Ok(addr) = listener.local_addr() {
                println!("  inventory page: http://{addr}/");
            }
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                if let Err(e) = crate::inventory::serve::serve_on(listener, client, stop).await {
                    eprintln!("error: {e}");
                }
            });
        }
        Err(e) => eprintln!("warning: {e}; the sandbox runs without it"),
    }
    let controller_task = (!args.no_operator).then(|| {
        let options = Options {
            settings: args.platform.settings(),
            instance: "sandbox".into(),
            ..Options::default()
        };
        tokio::spawn(controller::run(client.clone(), options, stop.clone()))
    });
    if args.no_operator {
        println!(
            "controller not started (--no-operator): run `conplus-operator run --kubeconfig {}`",
            args.kubeconfig.display()
        );
    }

    if let Some(dir) = &args.apply {
        let applied = match read_documents(dir) {
            Ok(docs) => apply_documents(&client, &docs, "conplus-sandbox").await,
            Err(e) => Err(e),
        };
        match applied {
            Ok(names) => println!(
                "applied {} objects from {}: {}",
                names.len(),
                dir.display(),
                names.join(", ")
            ),
            Err(e) => {
                eprintln!("error: {e}");
                let _ = stop_tx.send(());
                sandbox.shutdown().await;
                return ExitCode::from(2);
            }
        }
    }

    let code = watch_progress(&client, &args).await;
    let _ = stop_tx.send(());
    if let Some(task) = controller_task {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    for task in fault_tasks {
        task.abort();
    }
    sandbox.shutdown().await;
    println!("sandbox stopped");
    code
}

/// Prints each change of the onboardings' summaries until a signal (or, with
/// `--exit-when-ready`, until all are Ready).
async fn watch_progress(client: &Client, args: &SandboxArgs) -> ExitCode {
    let signal = shutdown_signal().shared();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_seconds);
    let mut last: Vec<String> = Vec::new();
    loop {
        if let Ok(lines) = summary(client).await {
            let text: Vec<String> = lines.iter().map(|(l, _)| l.clone()).collect();
            if text != last {
                for l in &text {
                    println!("onboarding {l}");
                }
                last = text;
            }
            if args.exit_when_ready && !lines.is_empty() && lines.iter().all(|(_, r)| *r) {
                println!("all onboardings are Ready");
                return ExitCode::SUCCESS;
            }
        }
        if args.exit_when_ready && tokio::time::Instant::now() > deadline {
            eprintln!(
                "error: not every onboarding became Ready within {}s",
                args.timeout_seconds
            );
            for l in &last {
                eprintln!("  onboarding {l}");
            }
            return ExitCode::FAILURE;
        }
        tokio::select! {
            _ = signal.clone() => return ExitCode::SUCCESS,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DeletionPolicy;
    use crate::controller::model::Observed;
    use crate::controller::{plan, status};
    use crate::resources::{PlatformSettings, desired, fixtures::moin_schule};

    #[test]
    fn summary_line_of_an_onboarding_without_its_ressort_names_the_blocking_reason() {
        let mut fvo = moin_schule();
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        let plan = plan::build(envs, &Observed::default(), None, DeletionPolicy::Retain);
        fvo.status = Some(status::compute(&status::StatusInput {
            fvo: &fvo,
            ressort_found: false,
            admission: None,
            plan: &plan,
            problems: &[],
            now: jiff::Timestamp::UNIX_EPOCH,
        }));
        let (line, ready) = summary_line(&fvo);
        assert!(!ready);
        assert!(
            line.starts_with(
                "mk-moin-schule-onboarding: Blocked (RessortNotFound: Ressort \"mk\" does not exist"
            ),
            "{line}"
        );
    }
}
