//! The DVC conformance rule engine: rules mapped to BSI APP.4.4, SYS.1.6 and the Pod Security Standards.
//!
//! - [`rules`]: the catalogue; [`checks`]: each rule with its check, one file per family (pure).
//! - [`profile`]: built-in profiles and the resolution of a `ConformanceProfile` (pure).
//! - [`engine`]: [`evaluate`] over objects with an injected clock (pure).
//! - [`report`]: the [`Report`] and its text, JSON, SARIF and JUnit renderings (pure).
//! - [`input`]: the one manifest reader (files, folders, stdin; YAML and JSON) with line numbers (I/O).
//! - [`apis`], [`onboardings`]: findings about the input itself (removed API versions; onboardings that
//!   cannot be admitted together).
//! - [`docs`]: `docs/rules.md` rendered from the catalogue.
//!
//! For the controller: [`resolve_profile`] once per onboarding, [`evaluate`] over the objects of its
//! namespaces (watch only [`watched_kinds`], strip with [`strip_unread_fields`]), then write
//! [`Report::score`], [`Report::by_severity`] and [`Report::top`] into the status.

pub mod apis;
pub mod checks;
pub mod crd;
pub mod docs;
pub mod engine;
pub mod grundschutz;
pub mod input;
pub mod onboardings;
pub mod profile;
pub mod report;
pub mod rules;
pub mod secrets;

pub use engine::{
    IGNORE_ANNOTATION, IGNORE_REASON_ANNOTATION, NamespaceScope, SourceObject, WatchedKind,
    evaluate, evaluate_scoped, evaluate_scoped_reading_later, read_whole_already,
    strip_unread_fields, watched_kinds,
};
pub use profile::{ProfileError, ResolvedProfile, builtin_profile, resolve_profile};
pub use report::{
    Finding, Location, ObjectRef, ObjectResult, Report, SeverityCounts, Silence, SilencedFinding,
};
pub use rules::{PssLevel, RULES, Rule, RuleId, Severity};

#[cfg(test)]
mod tests {
    /// The longest function body allowed in `src/conformance/` (issue 12: checks are small functions).
    const MAX_FUNCTION_LINES: usize = 80;

    /// Lines from each `fn` to its closing brace, for every `.rs` file under `dir`. Braces in string and
    /// character literals and after `//` do not count.
    fn function_lengths(dir: &std::path::Path, out: &mut Vec<(usize, String)>) {
        let start = regex::Regex::new(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?fn\s+\w+")
            .expect("the pattern is valid");
        let literals =
            regex::Regex::new(r#""([^"\\]|\\.)*"|'(\\.|[^'\\])'"#).expect("the pattern is valid");
        for entry in std::fs::read_dir(dir).expect("src/conformance is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                function_lengths(&path, out);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let lines: Vec<String> = text
                .lines()
                .map(|l| {
                    let l = literals.replace_all(l, "\"\"");
                    l.split("//").next().unwrap_or_default().to_owned()
                })
                .collect();
            for (i, line) in text.lines().enumerate() {
                if !start.is_match(line) {
                    continue;
                }
                let (mut depth, mut opened) = (0i64, false);
                for (j, l) in lines.iter().enumerate().skip(i) {
                    depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
                    opened |= l.contains('{');
                    if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                        out.push((j - i + 1, format!("{}:{}", path.display(), i + 1)));
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn no_function_in_the_conformance_module_is_longer_than_80_lines() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/conformance");
        let mut lengths = Vec::new();
        function_lengths(&dir, &mut lengths);
        assert!(lengths.len() > 100, "too few functions found: {lengths:?}");
        let long: Vec<_> = lengths
            .iter()
            .filter(|(n, _)| *n > MAX_FUNCTION_LINES)
            .collect();
        assert!(
            long.is_empty(),
            "functions over {MAX_FUNCTION_LINES} lines: {long:?}"
        );
    }
}
