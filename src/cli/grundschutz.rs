//! `conplus-operator grundschutz`: every requirement of BSI APP.4.4 and SYS.1.6, judged for manifests
//! or, with `--kubeconfig`, for the live objects of the onboarded namespaces.
//!
//! Reads the inputs as `check` does, or the cluster ([`super::grundschutz_live`]) (I/O), evaluates the
//! conformance rules (pure), assesses every requirement of the catalogue (pure) and renders it. Exit
//! codes as `check`: 0 no requirement failed, 1 at least one failed, 2 an input could not be read, the
//! input holds no objects, or a usage error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::check::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, LevelArg, load_profile};
use super::grundschutz_live::{self as live_io, Judged};
use crate::conformance::grundschutz::{Evaluation, assess, render};
use crate::conformance::input::{Inputs, read_paths};
use crate::conformance::profile::platform_namespaces;
use crate::controller::conformance::Defaults;

/// Output format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line per requirement with findings and reasons below, totals per level.
    Text,
    /// Totals, a table of every requirement, failures, reasons and the evidence still owed.
    Markdown,
    /// `{"totals": {...}, "requirements": [...]}`, one entry per requirement.
    Json,
}

/// Options of `grundschutz`.
#[derive(clap::Args, Debug)]
pub struct GrundschutzArgs {
    /// Files, folders (recursively: *.yaml, *.yml, *.json) or `-` for standard input.
    #[arg(
        required_unless_present = "kubeconfig",
        conflicts_with = "kubeconfig",
        value_name = "PATH"
    )]
    pub paths: Vec<PathBuf>,
    /// Judge the live objects of the onboarded namespaces of the cluster of this kubeconfig, one report
    /// per onboarding, as the controller does for `status.conformance.grundschutz`.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// With --kubeconfig: only this onboarding.
    #[arg(long, value_name = "NAME", requires = "kubeconfig")]
    pub onboarding: Option<String>,
    /// With --kubeconfig: the profile of onboardings that name none, as the operator's flag (default:
    /// the profile the onboarding's status names).
    #[arg(long, env = "CONPLUS_DEFAULT_PROFILE", requires = "kubeconfig")]
    pub default_profile: Option<String>,
    /// With --kubeconfig: image registries allowed when a profile lists none, as the operator's flag.
    #[arg(long, env = "CONPLUS_ALLOWED_REGISTRIES", value_delimiter = ',')]
    pub allowed_registries: Vec<String>,
    /// The platform's namespaces, from which every namespace may admit traffic (APP.4.4.A7).
    #[command(flatten)]
    pub platform: super::PlatformArgs,
    /// A built-in profile (dvc-basis, dvc-erhoeht, dvc-sehr-hoch) or a file holding a ConformanceProfile.
    /// Default: the built-in profile of --protection-level. Not with --kubeconfig: each onboarding's own.
    #[arg(long, value_name = "NAME|FILE", conflicts_with = "kubeconfig")]
    pub profile: Option<String>,
    /// Schutzbedarf: chooses the built-in profile, and decides whether level H requirements apply.
    #[arg(long, value_enum, default_value = "normal")]
    pub protection_level: LevelArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Evaluate as of this time (RFC 3339) instead of now: exception expiry becomes reproducible.
    #[arg(long, value_name = "TIMESTAMP", hide = true)]
    pub now: Option<jiff::Timestamp>,
}

/// What `grundschutz` printed and returned; separate from [`run`] so that tests need no process.
#[derive(Debug)]
pub struct Outcome {
    /// The rendered report (stdout).
    pub output: String,
    /// Errors for stderr.
    pub errors: Vec<String>,
    /// The exit code.
    pub code: u8,
}

impl Outcome {
    fn error(message: String) -> Outcome {
        Outcome {
            output: String::new(),
            errors: vec![message],
            code: EXIT_ERROR,
        }
    }
}

/// Runs `grundschutz` and returns its exit code.
pub fn run(args: GrundschutzArgs) -> ExitCode {
    let stdin = std::io::stdin();
    let outcome = grundschutz(&args, stdin.lock());
    let mut err = std::io::stderr().lock();
    for e in &outcome.errors {
        let _ = writeln!(err, "error: {e}");
    }
    let mut out = std::io::stdout().lock();
    if out
        .write_all(outcome.output.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        // A closed pipe (`| head`) is not a result.
        return ExitCode::from(EXIT_ERROR);
    }
    ExitCode::from(outcome.code)
}

/// Assesses the inputs named by `args` (`-` reads `stdin`), or the cluster of `--kubeconfig`, and
/// renders the result.
pub fn grundschutz(args: &GrundschutzArgs, stdin: impl std::io::Read) -> Outcome {
    if let Some(kubeconfig) = &args.kubeconfig {
        return live(args, kubeconfig);
    }
    let mut profile = match load_profile(args.profile.as_deref(), args.protection_level.into()) {
        Ok(p) => p,
        Err(e) => return Outcome::error(e.to_string()),
    };
    profile.allowed_from_namespaces = platform_namespaces(&args.platform.settings());
    let Inputs {
        objects, errors, ..
    } = read_paths(&args.paths, stdin);
    let input_errors: Vec<String> = errors
        .iter()
        .map(|e| match e.line {
            0 => format!("{}: {}", e.file, e.message),
            line => format!("{}:{line}: {}", e.file, e.message),
        })
        .collect();
    if objects.is_empty() && input_errors.is_empty() {
        return Outcome::error("no Kubernetes objects in the input".to_owned());
    }
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let report = crate::conformance::evaluate(&objects, &profile, now);
    let assessment = assess(&Evaluation::from_report(&report, &profile));
    let output = match args.format {
        Format::Text => render::text(&assessment),
        Format::Markdown => render::markdown(&assessment),
        Format::Json => render::json(&assessment, &input_errors),
    };
    let code = if !input_errors.is_empty() {
        EXIT_ERROR
    } else if assessment.failed() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    };
    Outcome {
        output,
        errors: input_errors,
        code,
    }
}

/// The report over the live objects of the onboardings (one, or all) of the cluster of `kubeconfig`.
fn live(args: &GrundschutzArgs, kubeconfig: &std::path::Path) -> Outcome {
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(e) => return Outcome::error(format!("starting the runtime failed: {e}")),
    };
    let defaults = Defaults {
        default_profile: args.default_profile.clone(),
        allowed_registries: args
            .allowed_registries
            .iter()
            .filter(|r| !r.is_empty())
            .cloned()
            .collect(),
    };
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let platform = args.platform.settings();
    let judged = runtime.block_on(async {
        let client = live_io::connect(kubeconfig).await?;
        let fvos = live_io::onboardings(&client, args.onboarding.as_deref()).await?;
        live_io::judge(&client, &fvos, &platform, &defaults, now).await
    });
    match judged {
        Ok(j) => render_live(args, &j),
        Err(e) => Outcome::error(e.to_string()),
    }
}

/// One report per onboarding: as for manifests when one is named; for all, each under a heading
/// (JSON: an array of reports, each with `onboarding` and `namespaces`).
fn render_live(args: &GrundschutzArgs, judged: &[Judged]) -> Outcome {
    let single = args.onboarding.is_some();
    let (mut output, mut errors, mut failed) = (String::new(), Vec::new(), false);
    let mut docs = Vec::new();
    for j in judged {
        let (Ok(profile), Some(report)) = (&j.profile, &j.report) else {
            let why = j.profile.as_ref().err().cloned().unwrap_or_default();
            errors.push(format!(
                "onboarding {}: {why}: create the ConformanceProfile or correct spec.conformance.profile",
                j.onboarding
            ));
            continue;
        };
        if j.namespaces.is_empty() {
            errors.push(format!(
                "onboarding {}: no namespace is provisioned yet: its status lists none ready",
                j.onboarding
            ));
        }
        let a = assess(&Evaluation::from_live_report(report, profile));
        failed |= a.failed();
        let heading = format!(
            "Onboarding {} (namespaces: {})",
            j.onboarding,
            j.namespaces.join(", ")
        );
        match args.format {
            Format::Text if single => output.push_str(&render::text(&a)),
            Format::Text => output.push_str(&format!("== {heading}\n{}\n", render::text(&a))),
            Format::Markdown if single => output.push_str(&render::markdown(&a)),
            Format::Markdown => {
                output.push_str(&format!("# {heading}\n\n{}\n", render::markdown(&a)))
            }
            Format::Json => {
                let mut doc: serde_json::Value =
                    serde_json::from_str(&render::json(&a, &[])).unwrap_or_default();
                if let Some(m) = doc.as_object_mut() {
                    m.insert("onboarding".into(), j.onboarding.clone().into());
                    m.insert("namespaces".into(), j.namespaces.clone().into());
                }
                docs.push(doc);
            }
        }
    }
    if args.format == Format::Json {
        let doc = match (single, docs.len()) {
            (true, 1) => docs.pop().unwrap_or_default(),
            _ => serde_json::Value::Array(docs),
        };
        output = serde_json::to_string_pretty(&doc).unwrap_or_default();
        output.push('\n');
    }
    let code = if !errors.is_empty() {
        EXIT_ERROR
    } else if failed {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    };
    Outcome {
        output,
        errors,
        code,
    }
}
