//! `kubectl conplus`: the same binary, installed (or linked) as `kubectl-conplus` on the PATH, answers as a
//! kubectl plugin for the Ressort teams, with their own kubeconfig and rights:
//!
//! - `kubectl conplus status [NAME] [--wait]`: the onboardings the user can see, their environments, Ready
//!   with the blocking reason, budget use, conformance score and top findings;
//! - `kubectl conplus findings [-n NS]`: the namespace's findings from its PolicyReport;
//! - `kubectl conplus why NAME`: what the operator is waiting for, in plain words, with the next step.
//!
//! A team member may read only their own onboarding (`conplus:fvo:<name>:reader`, bound to the onboarding's
//! access groups) and not list all; `status` without a name then finds the onboarding from the operator's
//! ResourceQuota in the current namespace, which the team's `view`/`edit`/`admin` binding lets it read.
//!
//! The rendering functions are pure and tested without a cluster; the thin I/O layer reads with the
//! user's client.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::api::conditions::{self as c, reason};
use crate::api::{FachverfahrenOnboarding, Phase, Ressort};
use crate::conformance::report::policyreport::{self, PolicyReport};
use crate::resources::{MANAGED_SELECTOR, ONBOARDING, ONBOARDING_UID};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Exit code: done (and, with `--wait`, Ready).
pub const EXIT_OK: u8 = 0;
/// Exit code: `--wait` ended before the onboarding was Ready.
pub const EXIT_NOT_READY: u8 = 1;
/// Exit code: the question could not be answered (no access, not found, no cluster).
pub const EXIT_ERROR: u8 = 2;

/// The program name kubectl looks for on the PATH.
pub const PLUGIN_BINARY: &str = "kubectl-conplus";

/// `kubectl conplus`: a Ressort team's view of its onboarding on CONPlus.
#[derive(Parser, Debug)]
#[command(name = "kubectl conplus", bin_name = "kubectl conplus", version)]
pub struct PluginCli {
    /// How to reach the cluster (kubectl's flags).
    #[command(flatten)]
    pub connection: Connection,
    /// What to show.
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// kubectl's connection flags that the plugin honours.
#[derive(Args, Debug, Clone, Default)]
pub struct Connection {
    /// The kubeconfig file (default: `KUBECONFIG`, then `~/.kube/config`).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Impersonate this user (as `kubectl --as`).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Impersonate this group; repeatable (as `kubectl --as-group`).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// No colours, even on a terminal (also with `NO_COLOR` set).
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// The plugin's subcommands.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// The onboardings you can see (or NAME): environments, Ready with its reason, budget, conformance.
    Status(StatusArgs),
    /// The conformance findings of a namespace, from its PolicyReport.
    Findings(FindingsArgs),
    /// What the operator is waiting for with onboarding NAME, and what to do next.
    Why(WhyArgs),
}

/// `status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The onboarding; without it, every onboarding you may list, or the one of the current namespace.
    pub name: Option<String>,
    /// The namespace whose onboarding to show when you may not list onboardings.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Wait until the onboarding is Ready for its current generation, showing progress.
    #[arg(long, requires = "name")]
    pub wait: bool,
    /// How long `--wait` waits, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_seconds: u64,
}

/// `findings`.
#[derive(Args, Debug)]
pub struct FindingsArgs {
    /// The namespace (default: the kubeconfig context's).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Also list the rules that passed.
    #[arg(long)]
    pub passed: bool,
}

/// `why`.
#[derive(Args, Debug)]
pub struct WhyArgs {
    /// The onboarding.
    pub name: String,
}

/// What went wrong, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No usable kubeconfig.
    #[error("no cluster configuration: {0}; pass --kubeconfig or set KUBECONFIG")]
    Config(String),
    /// The user's rights do not reach the object.
    #[error(
        "you may not {verb} {what}: {message}. Members of an onboarding's access groups (spec.access) may \
         read that onboarding and its namespaces; ask your platform team to add your group"
    )]
    Forbidden {
        /// The verb refused.
        verb: &'static str,
        /// The object or collection.
        what: String,
        /// The API server's message.
        message: String,
    },
    /// The object does not exist.
    #[error("{what} does not exist{hint}")]
    NotFound {
        /// The object.
        what: String,
        /// What to try instead.
        hint: String,
    },
    /// Any other API error.
    #[error("reading {what}: {source}")]
    Api {
        /// The object or collection.
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// `status` without a name found nothing to show.
    #[error(
        "you may not list onboardings and no namespace was given: name yours (`kubectl conplus status NAME`) \
         or pass -n with one of its namespaces"
    )]
    NothingVisible,
}

/// Whether the binary was started as the kubectl plugin (its file name is `kubectl-conplus`).
pub fn invoked_as_plugin(argv0: &std::ffi::OsStr) -> bool {
    std::path::Path::new(argv0)
        .file_stem()
        .is_some_and(|s| s == PLUGIN_BINARY)
}

/// Entry point when started as `kubectl-conplus`.
pub fn main() -> ExitCode {
    let cli = PluginCli::parse();
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let colour = !cli.connection.no_color
        && std::env::var_os("NO_COLOR").is_none()
        && std::io::stdout().is_terminal();
    match runtime.block_on(run(cli, colour)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn run(cli: PluginCli, colour: bool) -> Result<u8, PluginError> {
    let (client, default_ns) = connect(&cli.connection).await?;
    match cli.command {
        PluginCommand::Status(args) => status(&client, &default_ns, args, colour).await,
        PluginCommand::Findings(args) => {
            let ns = args.namespace.unwrap_or(default_ns);
            let report = policy_report(&client, &ns).await?;
            // Best effort, and only for a report with a record to compare: the onboarding of the
            // namespace, when the user may read it.
            let fvo = if ownership_record(&report).is_some()
                && let Ok(Some(name)) = onboarding_of_namespace(&client, &ns).await
            {
                onboarding(&client, &name).await.ok()
            } else {
                None
            };
            if let Some(warning) = not_the_operators(&ns, &report, fvo.as_ref()) {
                eprintln!("warning: {warning}");
            }
            print!("{}", render_findings(&ns, &report, args.passed, colour));
            Ok(EXIT_OK)
        }
        PluginCommand::Why(args) => {
            let fvo = onboarding(&client, &args.name).await?;
            let ressort = ressort(&client, &fvo.spec.ressort).await;
            print!("{}", explain(&fvo, ressort.as_ref()));
            Ok(EXIT_OK)
        }
    }
}

/// A client for the user's kubeconfig, context and impersonation, and the context's namespace.
pub(crate) async fn connect(conn: &Connection) -> Result<(Client, String), PluginError> {
    let options = KubeConfigOptions {
        context: conn.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config_error = |e: &dyn std::fmt::Display| PluginError::Config(e.to_string());
    let mut config = match &conn.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| PluginError::Config(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| config_error(&e))?
        }
        None if conn.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| config_error(&e))?,
        None => Config::infer().await.map_err(|e| config_error(&e))?,
    };
    if let Some(user) = &conn.as_user {
        config.auth_info.impersonate = Some(user.clone());
    }
    if !conn.as_group.is_empty() {
        config.auth_info.impersonate_groups = Some(conn.as_group.clone());
    }
    let ns = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| PluginError::Config(e.to_string()))?;
    Ok((client, ns))
}

fn api_error(verb: &'static str, what: String, hint: &str, e: kube::Error) -> PluginError {
    match &e {
        kube::Error::Api(s) if s.is_forbidden() => PluginError::Forbidden {
            verb,
            what,
            message: s.message.clone(),
        },
        kube::Error::Api(s) if s.is_not_found() => PluginError::NotFound {
            what,
            hint: hint.to_string(),
        },
        _ => PluginError::Api { what, source: e },
    }
}

async fn onboarding(client: &Client, name: &str) -> Result<FachverfahrenOnboarding, PluginError> {
    Api::<FachverfahrenOnboarding>::all(client.clone())
        .get(name)
        .await
        .map_err(|e| {
            api_error(
                "get",
                format!("FachverfahrenOnboarding {name}"),
                " (names are listed with `kubectl get fvo` by those who may list them)",
                e,
            )
        })
}

/// The Ressort, when the user may read it (its budget is shown; without it, the rest still is).
async fn ressort(client: &Client, name: &str) -> Option<Ressort> {
    Api::<Ressort>::all(client.clone()).get(name).await.ok()
}

async fn policy_report(client: &Client, ns: &str) -> Result<PolicyReport, PluginError> {
    let gvk = GroupVersionKind::gvk(policyreport::GROUP, policyreport::VERSION, "PolicyReport");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "policyreports");
    let obj = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar)
        .get(policyreport::NAME)
        .await
        .map_err(|e| {
            api_error(
                "get",
                format!("PolicyReport {ns}/{}", policyreport::NAME),
                " in this namespace: the operator writes it into every onboarded namespace once its \
                 workloads are evaluated (and only where the cluster serves wgpolicyk8s.io PolicyReports); \
                 `kubectl conplus status NAME` shows the onboarding's top findings meanwhile",
                e,
            )
        })?;
    let value = serde_json::to_value(&obj).map_err(|e| PluginError::Config(e.to_string()))?;
    serde_json::from_value(value)
        .map_err(|e| PluginError::Config(format!("the PolicyReport does not read: {e}")))
}

/// The onboarding of a namespace, from the label on the operator's ResourceQuota there.
async fn onboarding_of_namespace(client: &Client, ns: &str) -> Result<Option<String>, PluginError> {
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(MANAGED_SELECTOR))
        .await
        .map_err(|e| api_error("list", format!("ResourceQuotas in {ns}"), "", e))?;
    Ok(quotas
        .items
        .iter()
        .find_map(|q| q.metadata.labels.as_ref()?.get(ONBOARDING).cloned()))
}

async fn status(
    client: &Client,
    default_ns: &str,
    args: StatusArgs,
    colour: bool,
) -> Result<u8, PluginError> {
    if args.wait
        && let Some(name) = &args.name
    {
        return wait(
            client,
            name,
            Duration::from_secs(args.timeout_seconds),
            colour,
        )
        .await;
    }
    let onboardings = match (&args.name, &args.namespace) {
        (Some(name), _) => vec![onboarding(client, name).await?],
        (None, ns) => match Api::<FachverfahrenOnboarding>::all(client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(list) => list.items,
            Err(kube::Error::Api(s)) if s.is_forbidden() => {
                let ns = ns.clone().unwrap_or_else(|| default_ns.to_string());
                match onboarding_of_namespace(client, &ns).await {
                    Ok(Some(name)) => vec![onboarding(client, &name).await?],
                    _ => return Err(PluginError::NothingVisible),
                }
            }
            Err(e) => return Err(api_error("list", "FachverfahrenOnboardings".into(), "", e)),
        },
    };
    let mut ressorts = BTreeMap::new();
    for fvo in &onboardings {
        if !ressorts.contains_key(&fvo.spec.ressort)
            && let Some(r) = ressort(client, &fvo.spec.ressort).await
        {
            ressorts.insert(fvo.spec.ressort.clone(), r);
        }
    }
    print!("{}", render_status(&onboardings, &ressorts, colour));
    Ok(EXIT_OK)
}

/// Polls until Ready for the current generation, printing each change of phase or reason.
async fn wait(
    client: &Client,
    name: &str,
    timeout: Duration,
    colour: bool,
) -> Result<u8, PluginError> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let fvo = onboarding(client, name).await?;
        let line = progress_line(&fvo);
        if line != last {
            println!("[{:>4}s] {line}", started.elapsed().as_secs());
            last = line;
        }
        if is_ready(&fvo) {
            print!(
                "{}",
                render_status(std::slice::from_ref(&fvo), &BTreeMap::new(), colour)
            );
            return Ok(EXIT_OK);
        }
        if started.elapsed() >= timeout {
            eprintln!(
                "not Ready after {}s; `kubectl conplus why {name}` says what it waits for",
                timeout.as_secs()
            );
            return Ok(EXIT_NOT_READY);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn condition<'a>(fvo: &'a FachverfahrenOnboarding, type_: &str) -> Option<&'a Condition> {
    fvo.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// Ready for the generation the user wrote last.
pub fn is_ready(fvo: &FachverfahrenOnboarding) -> bool {
    let current =
        fvo.status.as_ref().and_then(|s| s.observed_generation) == fvo.metadata.generation;
    current && condition(fvo, c::READY).is_some_and(|c| c.status == "True")
}

/// One line of `--wait` progress: phase, environments ready, Ready's reason.
pub fn progress_line(fvo: &FachverfahrenOnboarding) -> String {
    let phase = phase(fvo);
    let (ready, total) = environments(fvo);
    let reason = condition(fvo, c::READY)
        .map(|c| format!(" — {}: {}", c.reason, c.message))
        .unwrap_or_default();
    format!("{phase}, {ready}/{total} environments ready{reason}")
}

fn phase(fvo: &FachverfahrenOnboarding) -> String {
    match fvo.status.as_ref().and_then(|s| s.phase) {
        Some(p) => format!("{p:?}"),
        None => "Pending".to_string(),
    }
}

fn environments(fvo: &FachverfahrenOnboarding) -> (usize, usize) {
    let ready = fvo
        .status
        .as_ref()
        .map_or(0, |s| s.namespaces.iter().filter(|n| n.ready).count());
    (ready, fvo.spec.environments.len())
}

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn phase_colour(p: Option<Phase>) -> &'static str {
    match p {
        Some(Phase::Ready) => "32",
        Some(Phase::Blocked | Phase::Failed) => "31",
        Some(Phase::Degraded) => "33",
        _ => "36",
    }
}

fn budget_use(fvo: &FachverfahrenOnboarding, ressort: Option<&Ressort>) -> String {
    let held = fvo.status.as_ref().and_then(|s| s.allocated.as_ref());
    match (held, ressort) {
        (Some(a), Some(r)) => format!(
            "cpu {}/{} mem {}/{}",
            a.cpu.0, r.spec.budget.cpu.0, a.memory.0, r.spec.budget.memory.0
        ),
        (Some(a), None) => format!("cpu {} mem {}", a.cpu.0, a.memory.0),
        (None, _) => "-".to_string(),
    }
}

/// The monthly cost of what the onboarding holds (`86.27 EUR/month`), `-` before it is computed.
fn cost(fvo: &FachverfahrenOnboarding) -> String {
    fvo.status
        .as_ref()
        .and_then(|s| s.cost.as_ref())
        .map_or_else(
            || "-".to_string(),
            |c| format!("{} {}/{}", c.monthly, c.currency, c.period),
        )
}

/// The BSI IT-Grundschutz counts of the onboarding's objects, when the operator has assessed them.
fn grundschutz_line(fvo: &FachverfahrenOnboarding) -> Option<String> {
    let g = fvo
        .status
        .as_ref()?
        .conformance
        .as_ref()?
        .grundschutz
        .as_ref()?;
    Some(format!(
        "Grundschutz: {} met, {} violated, {} not evaluated, {} open (organisational)",
        g.passed, g.failed, g.not_evaluated, g.organisational_open
    ))
}

/// The `status` table: one line per onboarding, then its top findings indented.
pub fn render_status(
    onboardings: &[FachverfahrenOnboarding],
    ressorts: &BTreeMap<String, Ressort>,
    colour: bool,
) -> String {
    if onboardings.is_empty() {
        return "no onboardings\n".to_string();
    }
    let header = [
        "NAME",
        "RESSORT",
        "PHASE",
        "ENVS",
        "READY",
        "BUDGET (held/ressort)",
        "COST",
        "AUFGABE",
        "SCORE",
    ];
    let mut rows: Vec<[String; 9]> = Vec::new();
    for fvo in onboardings {
        let (ready, total) = environments(fvo);
        let reason = condition(fvo, c::READY).map_or_else(|| "-".to_string(), |c| c.reason.clone());
        let score = fvo
            .status
            .as_ref()
            .and_then(|s| s.conformance.as_ref())
            .map_or_else(
                || "-".to_string(),
                |c| format!("{} ({}E {}W)", c.score, c.errors, c.warnings),
            );
        rows.push([
            fvo.metadata.name.clone().unwrap_or_default(),
            fvo.spec.ressort.clone(),
            phase(fvo),
            format!("{ready}/{total}"),
            reason,
            budget_use(fvo, ressorts.get(&fvo.spec.ressort)),
            cost(fvo),
            fvo.spec.aufgabe.clone().unwrap_or_else(|| "-".to_string()),
            score,
        ]);
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let _ = writeln!(out, "{}", line(&header.map(str::to_string)));
    for (fvo, row) in onboardings.iter().zip(&rows) {
        let mut text = line(row);
        let p = fvo.status.as_ref().and_then(|s| s.phase);
        if colour {
            // Colour the phase cell only, after alignment (escape codes have no width).
            text = text.replacen(&row[2], &paint(true, phase_colour(p), &row[2]), 1);
        }
        let _ = writeln!(out, "{text}");
        if let Some(g) = grundschutz_line(fvo) {
            let _ = writeln!(out, "  {g}");
        }
        for f in fvo
            .status
            .as_ref()
            .and_then(|s| s.conformance.as_ref())
            .map(|c| c.findings.iter().take(3).collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let sev = if f.severity == "error" {
                paint(colour, "31", &f.severity)
            } else {
                paint(colour, "33", &f.severity)
            };
            let _ = writeln!(
                out,
                "  {sev} {} ({}) {}: {}",
                f.rule,
                f.bsi.join(", "),
                f.object,
                f.message
            );
        }
    }
    out
}

/// The uid of the onboarding the report's ownership record names, if it carries one.
fn ownership_record(report: &PolicyReport) -> Option<&str> {
    report
        .metadata
        .annotations
        .as_ref()?
        .get(ONBOARDING_UID)
        .map(String::as_str)
}

/// What to say when the report of `ns` is not the operator's for the namespace's onboarding `fvo` (pure): it
/// carries no ownership record, or one of another onboarding (an earlier one of the same name). The operator
/// leaves such a report alone, so its findings are not the onboarding's current ones.
pub fn not_the_operators(
    ns: &str,
    report: &PolicyReport,
    fvo: Option<&FachverfahrenOnboarding>,
) -> Option<String> {
    let record = ownership_record(report);
    let report_name = format!("PolicyReport {ns}/{}", policyreport::NAME);
    match (record, fvo) {
        (None, _) => Some(format!(
            "{report_name} was not written by the operator (it carries no ownership record): its findings \
             are not the operator's"
        )),
        (Some(record), Some(fvo)) if fvo.metadata.uid.as_deref() != Some(record) => {
            let name = fvo.metadata.name.as_deref().unwrap_or_default();
            Some(format!(
                "{report_name} was not written for onboarding {name} (its record names another one, an \
                 earlier onboarding of the name perhaps): its findings are not current; `kubectl conplus \
                 status {name}` shows the onboarding's"
            ))
        }
        _ => None,
    }
}

/// `findings`: the PolicyReport's summary and its results (passes only with `passed`).
pub fn render_findings(ns: &str, report: &PolicyReport, passed: bool, colour: bool) -> String {
    let s = report.summary;
    let mut out = format!(
        "{ns}: {} fail, {} warn, {} skip, {} pass\n",
        s.fail, s.warn, s.skip, s.pass
    );
    for r in report
        .results
        .iter()
        .filter(|r| passed || r.result != "pass")
    {
        let what = r
            .resources
            .first()
            .map(|o| {
                format!(
                    "{} {}",
                    o.kind.as_deref().unwrap_or(""),
                    o.name.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        let container = r
            .properties
            .get("container")
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let tag = match r.result.as_str() {
            "fail" => paint(colour, "31", "FAIL"),
            "warn" => paint(colour, "33", "WARN"),
            "skip" => paint(colour, "90", "SKIP"),
            _ => paint(colour, "32", "PASS"),
        };
        let _ = writeln!(
            out,
            "{tag} {} ({}) {what}{container}{}",
            r.policy,
            r.category.as_deref().unwrap_or("-"),
            r.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
    }
    if let Some(n) = report
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(policyreport::OMITTED))
    {
        let _ = writeln!(
            out,
            "… {n} more results counted above but not listed in the report"
        );
    }
    out
}

/// The next step for a reason of the Ready condition (or of the condition that blocks it).
fn next_step(reason_: &str) -> &'static str {
    match reason_ {
        reason::RESSORT_NOT_FOUND => {
            "the platform team creates the Ressort named in spec.ressort (or the onboarding names the right one)"
        }
        reason::BUDGET_EXCEEDED | reason::INCREASE_HELD => {
            "lower the quotas in spec.environments, or ask the Ressort's budget owner to raise spec.budget of the \
             Ressort; nothing already provisioned is taken away meanwhile"
        }
        reason::INVALID_BUDGET => {
            "the platform team corrects the Ressort's spec.budget (the message names the field)"
        }
        reason::NAMESPACE_CONFLICT => {
            "a namespace of that name exists and is not this onboarding's: the platform team renames or releases it \
             (the operator never takes over what it did not create)"
        }
        reason::NAMESPACE_TERMINATING => {
            "wait: the namespace of an earlier deletion is still being removed"
        }
        reason::INVALID_SPEC => "correct the onboarding's spec as the message says",
        reason::VIOLATIONS => {
            "fix the findings (`kubectl conplus findings -n NAMESPACE`) or have an exception approved in the \
             ConformanceProfile"
        }
        reason::PROFILE_NOT_FOUND => {
            "create the ConformanceProfile or correct spec.conformance.profile"
        }
        reason::READER_ROLE_CONFLICT => {
            "the platform team deletes or renames the ClusterRole or ClusterRoleBinding the message names (the \
             operator never changes what it did not create); meanwhile the access groups cannot read the onboarding"
        }
        reason::PROVISIONING | reason::WAITING => "wait: the operator is applying the objects",
        reason::TERMINATING => "wait: the onboarding is being deleted",
        _ => "see the message; `kubectl describe fvo NAME` shows the operator's Events",
    }
}

/// `why`: what the operator waits for, condition by condition, with the next step.
pub fn explain(fvo: &FachverfahrenOnboarding, ressort: Option<&Ressort>) -> String {
    let name = fvo.metadata.name.clone().unwrap_or_default();
    let mut out = String::new();
    let Some(status) = &fvo.status else {
        return format!(
            "{name}: the operator has not looked at this onboarding yet. Is it running? (the platform team: \
             `kubectl -n conplus-system get pods`)\n"
        );
    };
    if status.observed_generation != fvo.metadata.generation {
        let _ = writeln!(
            out,
            "{name}: your last change (generation {}) is not processed yet; the status below is of generation {}.",
            fvo.metadata.generation.unwrap_or_default(),
            status.observed_generation.unwrap_or_default()
        );
    }
    if is_ready(fvo) {
        let _ = writeln!(out, "{name} is Ready: every environment is provisioned.");
    }
    let order = [
        c::BUDGET_AVAILABLE,
        c::NAMESPACES_READY,
        c::QUOTA_APPLIED,
        c::NETWORK_ISOLATED,
        c::ACCESS_GRANTED,
        c::READ_ACCESS_GRANTED,
        c::CONFORMANT,
        c::READY,
    ];
    for t in order {
        if let Some(cond) = condition(fvo, t).filter(|c| c.status != "True") {
            let _ = writeln!(
                out,
                "{t} is {}: {} — {}",
                cond.status, cond.reason, cond.message
            );
            let _ = writeln!(out, "  next: {}", next_step(&cond.reason));
        }
    }
    for ns in status.namespaces.iter().filter(|n| !n.ready) {
        let _ = writeln!(
            out,
            "environment {} (namespace {}) is not ready{}",
            ns.environment,
            ns.name,
            ns.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
    }
    if let Some(r) = ressort
        && let Some(avail) = r.status.as_ref().and_then(|s| s.available.as_ref())
    {
        let _ = writeln!(
            out,
            "Ressort {} has available: cpu {}, memory {}, storage {}, pods {}",
            fvo.spec.ressort, avail.cpu.0, avail.memory.0, avail.storage.0, avail.pods.0
        );
    }
    if out.is_empty() {
        let _ = writeln!(out, "{name}: phase {}, nothing is blocking.", phase(fvo));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        ConformanceFinding, ConformanceStatus, CostStatus, FachverfahrenOnboardingStatus,
        GrundschutzCounts, NamespaceStatus,
    };
    use crate::resources::fixtures::moin_schule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation: Some(1),
            last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
        }
    }

    fn blocked_by_budget() -> FachverfahrenOnboarding {
        let mut fvo = moin_schule();
        fvo.metadata.generation = Some(1);
        fvo.status = Some(FachverfahrenOnboardingStatus {
            phase: Some(Phase::Blocked),
            observed_generation: Some(1),
            conditions: vec![
                cond(
                    c::READY,
                    "False",
                    reason::BUDGET_EXCEEDED,
                    "needs cpu 8, 2 available",
                ),
                cond(
                    c::BUDGET_AVAILABLE,
                    "False",
                    reason::BUDGET_EXCEEDED,
                    "needs cpu 8, 2 available",
                ),
            ],
            namespaces: vec![NamespaceStatus {
                environment: "dev".to_string(),
                name: "mk-moin-schule-dev".to_string(),
                ready: false,
                message: Some("not admitted".to_string()),
            }],
            conformance: Some(ConformanceStatus {
                profile: "dvc-basis".to_string(),
                score: 80,
                errors: 1,
                findings: vec![ConformanceFinding {
                    rule: "run-as-non-root".to_string(),
                    severity: "error".to_string(),
                    bsi: vec!["APP.4.4.A4".to_string()],
                    object: "Deployment mk-moin-schule-dev/web".to_string(),
                    container: None,
                    message: "runs as root".to_string(),
                }],
                ..ConformanceStatus::default()
            }),
            ..FachverfahrenOnboardingStatus::default()
        });
        fvo
    }

    #[test]
    fn why_names_the_blocking_condition_and_the_next_step_for_it() {
        let text = explain(&blocked_by_budget(), None);
        assert!(
            text.contains("BudgetAvailable is False: BudgetExceeded"),
            "{text}"
        );
        assert!(text.contains("raise spec.budget of the Ressort"), "{text}");
        assert!(
            text.contains(
                "environment dev (namespace mk-moin-schule-dev) is not ready: not admitted"
            ),
            "{text}"
        );
        assert!(!text.contains("is Ready"), "{text}");
    }

    #[test]
    fn why_says_when_the_operator_has_not_seen_the_last_change() {
        let mut fvo = blocked_by_budget();
        fvo.metadata.generation = Some(2);
        assert!(explain(&fvo, None).contains("generation 2) is not processed yet"));
        assert!(!is_ready(&fvo));
    }

    #[test]
    fn status_table_shows_phase_reason_and_top_finding_without_colour_codes_off_a_terminal() {
        let text = render_status(&[blocked_by_budget()], &BTreeMap::new(), false);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        assert!(header.starts_with("NAME"), "{text}");
        let row = lines.next().unwrap_or_default();
        assert!(
            row.contains("Blocked") && row.contains("BudgetExceeded") && row.contains("0/2"),
            "{text}"
        );
        assert!(
            text.contains("error run-as-non-root (APP.4.4.A4)"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'));
        let coloured = render_status(&[blocked_by_budget()], &BTreeMap::new(), true);
        assert!(
            coloured.contains("\u{1b}[31mBlocked\u{1b}[0m"),
            "{coloured}"
        );
    }

    #[test]
    fn status_table_shows_the_task_the_monthly_cost_and_the_grundschutz_counts() {
        let mut fvo = blocked_by_budget();
        let before = render_status(std::slice::from_ref(&fvo), &BTreeMap::new(), false);
        assert!(!before.contains("Grundschutz:"), "{before}");
        fvo.spec.aufgabe = Some("unterrichtsversorgung".to_string());
        if let Some(status) = fvo.status.as_mut() {
            status.cost = Some(CostStatus {
                monthly: "86.27".to_string(),
                currency: "EUR".to_string(),
                period: "month".to_string(),
            });
            if let Some(conformance) = status.conformance.as_mut() {
                conformance.grundschutz = Some(GrundschutzCounts {
                    passed: 12,
                    failed: 2,
                    not_evaluated: 5,
                    organisational_open: 3,
                });
            }
        }
        let text = render_status(&[fvo], &BTreeMap::new(), false);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        assert!(
            header.contains("COST") && header.contains("AUFGABE"),
            "{text}"
        );
        let row = lines.next().unwrap_or_default();
        assert!(
            row.contains("86.27 EUR/month") && row.contains("unterrichtsversorgung"),
            "{text}"
        );
        assert_eq!(
            lines.next().unwrap_or_default(),
            "  Grundschutz: 12 met, 2 violated, 5 not evaluated, 3 open (organisational)",
            "{text}"
        );
    }

    #[test]
    fn findings_list_failures_and_say_how_many_were_left_out() {
        let mut report = policyreport::report(
            Some("ns"),
            vec![
                policyreport::PolicyReportResult {
                    policy: "run-as-non-root".to_string(),
                    result: "fail".to_string(),
                    ..Default::default()
                },
                policyreport::PolicyReportResult {
                    policy: "image-digest".to_string(),
                    result: "pass".to_string(),
                    ..Default::default()
                },
            ],
            BTreeMap::new(),
            policyreport::Timestamp::default(),
        );
        report.metadata.annotations = Some(BTreeMap::from([(
            policyreport::OMITTED.to_string(),
            "4".to_string(),
        )]));
        let text = render_findings("ns", &report, false, false);
        assert!(
            text.starts_with("ns: 1 fail, 0 warn, 0 skip, 1 pass"),
            "{text}"
        );
        assert!(text.contains("FAIL run-as-non-root"), "{text}");
        assert!(!text.contains("image-digest"), "{text}");
        assert!(text.contains("4 more results"), "{text}");
        assert!(render_findings("ns", &report, true, false).contains("PASS image-digest"));
    }

    #[test]
    fn a_report_without_the_onboardings_record_is_called_not_the_operators() {
        let mut report =
            policyreport::report(Some("ns"), vec![], BTreeMap::new(), Default::default());
        let mut fvo = crate::resources::fixtures::moin_schule();
        fvo.metadata.uid = Some("uid-now".to_string());
        let said = not_the_operators("ns", &report, Some(&fvo)).unwrap_or_default();
        assert!(said.contains("no ownership record"), "{said}");
        let record = |uid: &str| {
            Some(BTreeMap::from([(
                ONBOARDING_UID.to_string(),
                uid.to_string(),
            )]))
        };
        report.metadata.annotations = record("uid-earlier");
        let said = not_the_operators("ns", &report, Some(&fvo)).unwrap_or_default();
        assert!(
            said.contains("not written for onboarding mk-moin-schule-onboarding")
                && said.contains("kubectl conplus status mk-moin-schule-onboarding"),
            "{said}"
        );
        // The onboarding's own, or one the user may not compare (the onboarding unreadable): nothing said.
        assert_eq!(not_the_operators("ns", &report, None), None);
        report.metadata.annotations = record("uid-now");
        assert_eq!(not_the_operators("ns", &report, Some(&fvo)), None);
    }

    #[test]
    fn the_binary_is_the_plugin_only_under_the_plugin_name() {
        assert!(invoked_as_plugin(std::ffi::OsStr::new(
            "/usr/local/bin/kubectl-conplus"
        )));
        assert!(!invoked_as_plugin(std::ffi::OsStr::new(
            "target/debug/conplus-operator"
        )));
    }
}
