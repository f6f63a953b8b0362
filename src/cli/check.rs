//! `conplus-operator check`: the conformance rules, offline, over manifests.
//!
//! Reads the inputs (I/O), resolves the profile, evaluates (pure), renders, and maps the outcome to an exit
//! code a pipeline can gate on (stable):
//! - 0: nothing at or above `--min-severity`;
//! - 1: findings at or above it;
//! - 2: an input could not be read or parsed (even if other documents had findings), the inputs hold no
//!   Kubernetes object at all (a failed `helm template` piped in), or a usage error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::ValueEnum;

use crate::api::{ConformanceProfile, ProtectionLevel};
use crate::conformance::apis::removed_api_findings;
use crate::conformance::crd::CrdValidators;
use crate::conformance::engine::{
    SourceObject, Whole, read_when_evaluated, read_whole_already, reads_whole,
};
use crate::conformance::input::{HeadMismatch, InputError, Reading, read_paths_reading};
use crate::conformance::onboardings::onboarding_findings;
use crate::conformance::profile::{
    BUILTIN_PROFILES, ProfileError, ResolvedProfile, resolve_custom, resolve_profile,
};
use crate::conformance::report::{
    Finding, Location, ObjectRef, Report, json, junit, policyreport, sarif, text,
};
use crate::conformance::rules::{PssLevel, RuleId, Severity};
use crate::conformance::{NamespaceScope, evaluate_scoped_reading_later};

/// Exit code: nothing at or above the threshold.
pub const EXIT_OK: u8 = 0;
/// Exit code: findings at or above the threshold.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: unreadable input or usage error.
pub const EXIT_ERROR: u8 = 2;

/// Output format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Findings grouped by object, with file and line.
    Text,
    /// `{"summary": {...}, "findings": [...]}`.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning, GitLab).
    Sarif,
    /// JUnit XML (one test suite per object).
    Junit,
    /// PolicyReports (wgpolicyk8s.io/v1alpha2) as a `v1` List in JSON: one per namespace, one
    /// ClusterPolicyReport for cluster-scoped objects (what the operator keeps in each onboarded namespace).
    #[value(name = "policyreport")]
    PolicyReport,
}

/// `--protection-level`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelArg {
    /// Schutzbedarf normal (profile dvc-basis).
    #[value(name = "normal")]
    Normal,
    /// Schutzbedarf hoch (profile dvc-erhoeht).
    #[value(name = "high")]
    High,
    /// Schutzbedarf sehr hoch (profile dvc-sehr-hoch).
    #[value(name = "veryHigh")]
    VeryHigh,
}

impl From<LevelArg> for ProtectionLevel {
    fn from(l: LevelArg) -> Self {
        match l {
            LevelArg::Normal => ProtectionLevel::Normal,
            LevelArg::High => ProtectionLevel::High,
            LevelArg::VeryHigh => ProtectionLevel::VeryHigh,
        }
    }
}

/// `--min-severity`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeverityArg {
    /// Report everything.
    Info,
    /// Report warnings and errors.
    Warning,
    /// Report errors only.
    Error,
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Error => Severity::Error,
        }
    }
}

/// Options of `check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Files, folders (recursively: *.yaml, *.yml, *.json) or `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A built-in profile (dvc-basis, dvc-erhoeht, dvc-sehr-hoch) or a file holding a ConformanceProfile.
    /// Default: the built-in profile of --protection-level.
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
    /// Schutzbedarf: chooses the built-in profile, and the defaults of a profile file that sets none.
    #[arg(long, value_enum, default_value = "normal")]
    pub protection_level: LevelArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Report and fail only on findings of at least this severity.
    #[arg(long, value_enum, default_value = "info")]
    pub min_severity: SeverityArg,
    /// Evaluate the namespace-level rules (quota, limit range, default-deny policies, labels) for every
    /// namespace named, not only for those whose Namespace object or onboarding is in the input.
    #[arg(long)]
    pub namespace_rules: bool,
    /// Evaluate as of this time (RFC 3339) instead of now: exception expiry and pod age become reproducible.
    #[arg(long, value_name = "TIMESTAMP", hide = true)]
    pub now: Option<jiff::Timestamp>,
    /// The platform's namespaces, from which every namespace may admit traffic (APP.4.4.A7), as `render`
    /// and the operator take them.
    #[command(flatten)]
    pub platform: super::PlatformArgs,
}

/// Runs `check` and returns its exit code.
pub fn run(args: CheckArgs) -> ExitCode {
    let stdin = std::io::stdin();
    let (outcome, inputs) = check_keeping_inputs(&args, stdin.lock());
    // The process ends right after this: freeing the parsed objects and the report one by one would cost
    // about a tenth of the run on large inputs, and the operating system takes the memory back at once.
    std::mem::forget(inputs);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    if let Some(e) = &outcome.usage_error {
        let _ = writeln!(err, "error: {e}");
    }
    for note in &outcome.notes {
        let _ = writeln!(err, "note: {note}");
    }
    if out
        .write_all(outcome.output.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        // A closed pipe (`| head`) is not a conformance result.
        return ExitCode::from(EXIT_ERROR);
    }
    ExitCode::from(outcome.code)
}

/// What `check` printed and returned; separated from [`run`] so that tests need no process.
#[derive(Debug)]
pub struct Outcome {
    /// The rendered report (stdout).
    pub output: String,
    /// Notes for stderr.
    pub notes: Vec<String>,
    /// A usage error (bad profile), printed to stderr.
    pub usage_error: Option<String>,
    /// The exit code.
    pub code: u8,
}

/// `--profile` could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProfileArgError {
    #[error("--profile {0}: {1}")]
    Read(String, std::io::Error),
    #[error("--profile {0}: not a ConformanceProfile: {1}")]
    Parse(String, Box<serde_saphyr::Error>),
    #[error("--profile {0}: {1}")]
    Invalid(String, ProfileError),
    #[error(
        "--profile {0}: no such built-in profile or file; the built-in profiles are {builtins}",
        builtins = BUILTIN_PROFILES.join(", ")
    )]
    NotFound(String),
}

/// Resolves `--profile` (a built-in name or a file) for `--protection-level`; shared with `grundschutz`.
pub(crate) fn load_profile(
    profile: Option<&str>,
    level: ProtectionLevel,
) -> Result<ResolvedProfile, ProfileArgError> {
    let Some(p) = profile else {
        return resolve_profile(None, level, None)
            .map_err(|e| ProfileArgError::Invalid(String::new(), e));
    };
    let p = p.to_owned();
    if BUILTIN_PROFILES.contains(&p.as_str()) {
        return resolve_profile(Some(&p), level, None)
            .map_err(|e| ProfileArgError::Invalid(p.clone(), e));
    }
    let path = std::path::Path::new(&p);
    if !path.is_file() {
        return Err(ProfileArgError::NotFound(p.clone()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ProfileArgError::Read(p.clone(), e))?;
    let cp: ConformanceProfile =
        serde_saphyr::from_str_with_options(&text, crate::conformance::input::yaml_options())
            .map_err(|e| ProfileArgError::Parse(p.clone(), Box::new(e)))?;
    let mut resolved =
        resolve_custom(&cp, level).map_err(|e| ProfileArgError::Invalid(p.clone(), e))?;
    let line = text
        .lines()
        .position(|l| l.starts_with("kind:"))
        .map_or(1, |i| i + 1);
    resolved.source = Some(Location {
        file: Arc::from(p.as_str()),
        line,
    });
    Ok(resolved)
}

fn parse_error_finding(file: &Arc<str>, line: usize, message: &str) -> Finding {
    let rule = RuleId::ParseError.rule();
    Finding {
        rule: RuleId::ParseError,
        severity: rule.severity,
        bsi: rule.bsi,
        pss: PssLevel::None,
        object: ObjectRef::default(),
        container: None,
        message: message.to_owned(),
        location: Some(Location {
            file: file.clone(),
            line: line.max(1),
        }),
    }
}

/// Checks the inputs named by `args` (`-` reads `stdin`) and renders the result.
pub fn check(args: &CheckArgs, stdin: impl std::io::Read) -> Outcome {
    check_keeping_inputs(args, stdin).0
}

/// What `check` read and found, handed back so that the caller chooses when to free it.
#[derive(Default)]
struct Leftovers {
    _objects: Vec<SourceObject>,
    _report: Option<Report>,
}

/// [`check`], with the parsed objects and the report handed back instead of freed.
fn check_keeping_inputs(args: &CheckArgs, stdin: impl std::io::Read) -> (Outcome, Leftovers) {
    let profile = match load_profile(args.profile.as_deref(), args.protection_level.into()) {
        Ok(mut p) => {
            p.allowed_from_namespaces =
                crate::conformance::profile::platform_namespaces(&args.platform.settings());
            p
        }
        Err(e) => {
            let outcome = Outcome {
                output: String::new(),
                notes: Vec::new(),
                usage_error: Some(e.to_string()),
                code: EXIT_ERROR,
            };
            return (outcome, Leftovers::default());
        }
    };
    // Workloads and the other kinds only their own rules read are parsed whole when their rules run.
    let reading = Reading {
        wanted: Some(reads_whole),
        later: Some(read_when_evaluated),
    };
    let mut inputs = read_paths_reading(&args.paths, stdin, reading);
    if inputs.objects.is_empty() && inputs.errors.is_empty() {
        return (no_objects(inputs.notes), Leftovers::default());
    }
    let whole = |i| inputs.whole(i);
    let report = match evaluate(args, &profile, &inputs.objects, &inputs.errors, &whole) {
        Ok(report) => report,
        // A document read as its head does not read whole as that object (it does not parse): everything is
        // read whole, as without heads, and evaluated again.
        Err(HeadMismatch) => {
            inputs.read_deferred();
            if inputs.objects.is_empty() && inputs.errors.is_empty() {
                return (no_objects(inputs.notes), Leftovers::default());
            }
            let (objects, errors) = (&inputs.objects, &inputs.errors);
            let Ok(report) = evaluate(args, &profile, objects, errors, &read_whole_already);
            report
        }
    };
    let input_failed = !inputs.errors.is_empty();
    let (skipped, mut notes) = (inputs.skipped, inputs.notes);
    if skipped > 0 {
        let docs = if skipped == 1 {
            "document"
        } else {
            "documents"
        };
        notes.push(format!("skipped {skipped} YAML/JSON {docs} without apiVersion and kind (not Kubernetes objects)"));
    }
    let outcome = render(args.format, &report, notes, input_failed);
    let leftovers = Leftovers {
        _objects: inputs.objects,
        _report: Some(report),
    };
    (outcome, leftovers)
}

/// What `check` says when the inputs hold no object.
fn no_objects(notes: Vec<String>) -> Outcome {
    Outcome {
        output: String::new(),
        notes,
        usage_error: Some(
            "the input holds no Kubernetes object (empty, or only documents without apiVersion and kind): did the command producing it fail?"
                .to_owned(),
        ),
        code: EXIT_ERROR,
    }
}

/// The report over the parsed objects (of which those `whole` reads are heads only, read whole when their
/// rules run): the rules, the CONPlus resources' schemas, removed APIs, the onboardings' own checks and the
/// inputs that could not be read, filtered by `--min-severity`.
fn evaluate<E: Send>(
    args: &CheckArgs,
    profile: &ResolvedProfile,
    objects: &[SourceObject],
    errors: &[InputError],
    whole: Whole<'_, E>,
) -> Result<Report, E> {
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let scope = if args.namespace_rules {
        NamespaceScope::All
    } else {
        NamespaceScope::Declared
    };
    let mut report: Report = evaluate_scoped_reading_later(objects, whole, profile, now, scope)?;
    // Compiling the CRD schemas is most of a small input's time: only when there is a CONPlus resource.
    let schema_findings: Vec<Finding> = if objects.iter().any(|o| CrdValidators::applies(&o.value))
    {
        let validators = CrdValidators::new();
        objects
            .iter()
            .flat_map(|o| validators.validate(o))
            .collect()
    } else {
        Vec::new()
    };
    report.add_findings(schema_findings);
    report.add_findings(removed_api_findings(objects));
    report.add_findings(onboarding_findings(objects));
    report.add_findings(
        errors
            .iter()
            .map(|e| parse_error_finding(&e.file, e.line, &e.message)),
    );
    report.retain_min_severity(args.min_severity.into());
    Ok(report)
}

/// The report in `format` and the exit code for it.
fn render(format: Format, report: &Report, notes: Vec<String>, input_failed: bool) -> Outcome {
    let output = match format {
        Format::Text => text::render(report),
        Format::Json => json::render(report),
        Format::Sarif => sarif::render(report),
        Format::Junit => junit::render(report),
        Format::PolicyReport => policyreport::render(report, jiff::Timestamp::now()),
    };
    let code = if input_failed {
        EXIT_ERROR
    } else if report.findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    };
    Outcome {
        output,
        notes,
        usage_error: None,
        code,
    }
}
