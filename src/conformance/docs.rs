//! `docs/rules.md`, rendered from the catalogue. Pure; the test below compares it with the file.

use std::fmt::Write;

use super::engine::{IGNORE_ANNOTATION, IGNORE_REASON_ANNOTATION};
use super::profile::builtin_name;
use super::rules::{PROTECTION_LEVELS, PssLevel, RULES, Rule};

fn levels(rule: &Rule) -> String {
    match rule.min_level {
        None => "always".to_owned(),
        Some(_) => PROTECTION_LEVELS
            .into_iter()
            .filter(|l| rule.default_enabled(*l))
            .map(builtin_name)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn pss(rule: &Rule) -> &'static str {
    match rule.pss {
        PssLevel::None => "–",
        p => p.as_str(),
    }
}

/// The Markdown of `docs/rules.md`.
pub fn render_rules_md() -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"# Conformance rules

<!-- Generated from the rules in src/conformance/checks/. Do not edit: run `UPDATE_DOCS=1 cargo test -p conplus-operator --lib conformance::docs` -->

Every rule has a stable id (used by profiles, exceptions, ignore annotations and all output formats), a
default severity, the BSI IT-Grundschutz requirements it serves (APP.4.4 Kubernetes, SYS.1.6 containers), its
Pod Security Standards level where it is a PSS control, and the built-in profiles that enable it:
`dvc-basis` (Schutzbedarf normal), `dvc-erhoeht` (high) and `dvc-sehr-hoch` (veryHigh). Requirements of level
B and S apply from `normal`, level H from `high`.

- **Profiles** (`ConformanceProfile`, `examples/profiles/`) enable or disable rules, override severities, and
  set allowed registries, maximum pod age, allowed runtime classes and the dedicated node pool. Rules that
  need such a setting are not evaluated while it is empty.
- **Exceptions** (`spec.exceptions[]`: rule, namespace or `*`, optional object selector by kind, name and
  labels, justification, approvedBy, expires) silence matching findings until they expire; an expired
  exception no longer applies and is reported as `exception-expired`.
- **Ignore annotations**: `{IGNORE_ANNOTATION}: "<rule-id>[,<rule-id>]"` on an object silences those rules for
  it only together with `{IGNORE_REASON_ANNOTATION}: "<why>"`; without a reason nothing is silenced and
  `ignore-without-reason` is reported. Silenced findings are counted in every report.
- **Pod templates** of Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job and
  CronJob are checked, with all containers, init containers and ephemeral containers, whatever their group
  version (`extensions/v1beta1` too; a removed version is reported as `removed-api-version` as well). Pods
  and ReplicaSets controlled by a checked workload are not checked again (except for `pod-max-age`).
  Objects no rule reads are counted as `notChecked` in every format.
- **Namespace-level rules** judge all objects of a namespace together. The controller runs them for every
  namespace it provisions; `check` runs them for a namespace only when its `Namespace` object, or an
  onboarding that creates it, is in the input, or with `--namespace-rules` for every namespace named (a
  team's manifests name a namespace whose quota, limits and policies the operator provides); the report
  lists the namespaces it did not evaluate. Objects without `metadata.namespace` (as `helm template`
  prints them) are not attributed to any namespace.
- **Score** (0–100): every (object, rule) pair evaluated weighs 10 (`error`), 3 (`warning`) or 1 (`info`) by
  its effective severity; score = ⌊100 × (1 − weight of pairs with an unsilenced finding ÷ weight of all
  pairs)⌋, 100 when nothing was evaluated. Input and schema errors are reported but not scored.

## Summary

| Rule | Severity | BSI | PSS | Enabled in |
|---|---|---|---|---|
"#
    );
    for r in RULES {
        let bsi = if r.bsi.is_empty() {
            "–".to_owned()
        } else {
            r.bsi.join(", ")
        };
        let _ = writeln!(
            out,
            "| [`{id}`](#{id}) | {} | {bsi} | {} | {} |",
            r.severity,
            pss(r),
            levels(r),
            id = r.id
        );
    }
    out.push_str("\n## Rules\n");
    for r in RULES {
        let bsi = if r.bsi.is_empty() {
            "–".to_owned()
        } else {
            r.bsi.join(", ")
        };
        let _ = write!(
            out,
            "\n### {}\n\n{}.\n\n- Severity: `{}`\n- BSI: {bsi}\n- Pod Security: {}\n- Enabled in: {}\n\n**Why.** {}\n\n**Fix.** {}\n",
            r.id,
            r.title,
            r.severity,
            pss(r),
            levels(r),
            r.rationale,
            r.remediation
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compares `generated` with the file at `rel` (from the crate root); `UPDATE_DOCS=1` rewrites it.
    pub(crate) fn assert_file_is_current(rel: &str, generated: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, generated).unwrap();
            return;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == generated,
            "{rel} is stale: regenerate it with `UPDATE_DOCS=1 cargo test -p conplus-operator --lib conformance::`"
        );
    }

    #[test]
    fn docs_rules_md_is_generated_from_the_catalogue() {
        assert_file_is_current("docs/rules.md", &render_rules_md());
    }

    #[test]
    fn example_profiles_equal_the_builtin_profiles() {
        for level in PROTECTION_LEVELS {
            let p = crate::conformance::profile::builtin_profile(level);
            let yaml = format!(
                "# Built-in profile {} (Schutzbedarf {}). Generated; regenerate with `UPDATE_DOCS=1 cargo test -p conplus-operator --lib conformance::`\n{}",
                builtin_name(level),
                level.as_str(),
                crate::api::to_yaml(&p).unwrap()
            );
            let rel = format!("examples/profiles/{}.yaml", builtin_name(level));
            assert_file_is_current(&rel, &yaml);
            // And the file read back is the built-in profile.
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&rel);
            let read: crate::api::ConformanceProfile =
                serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            assert_eq!(read, p, "{rel}");
        }
    }

    #[test]
    fn every_rule_has_a_section_with_its_anchor() {
        let md = render_rules_md();
        for r in RULES {
            assert!(md.contains(&format!("\n### {}\n", r.id)), "{}", r.id);
        }
    }
}
