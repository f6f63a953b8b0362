//! `conplus-operator grundschutz`: every requirement of BSI APP.4.4 and SYS.1.6, judged for manifests.
//!
//! Reads the inputs as `check` does (I/O), evaluates the conformance rules (pure), assesses every
//! requirement of the catalogue (pure) and renders it. Exit codes as `check`: 0 no requirement failed,
//! 1 at least one failed, 2 an input could not be read, the input holds no objects, or a usage error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::check::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, LevelArg, load_profile};
use crate::conformance::grundschutz::{Evaluation, assess, render};
use crate::conformance::input::{Inputs, read_paths};

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
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A built-in profile (dvc-basis, dvc-erhoeht, dvc-sehr-hoch) or a file holding a ConformanceProfile.
    /// Default: the built-in profile of --protection-level.
    #[arg(long, value_name = "NAME|FILE")]
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

/// Assesses the inputs named by `args` (`-` reads `stdin`) and renders the result.
pub fn grundschutz(args: &GrundschutzArgs, stdin: impl std::io::Read) -> Outcome {
    let profile = match load_profile(args.profile.as_deref(), args.protection_level.into()) {
        Ok(p) => p,
        Err(e) => return Outcome::error(e.to_string()),
    };
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
