//! Namespaces: labels, quota, limit range (judged over all objects of a namespace).

use super::{Check, NamespaceView, Violations, str_at};
use crate::api::ProtectionLevel::Normal;
use crate::conformance::engine::{PROTECTION_LEVEL_LABEL, RESSORT_LABEL};
use crate::conformance::rules::bsi::*;
use crate::conformance::rules::{PssLevel, Rule, RuleId, Severity};

fn namespace_labels(ns: &NamespaceView<'_>, out: &mut Violations) {
    let Some(nobj) = ns.facts.namespace_obj else {
        return out.not_applicable();
    };
    let missing: Vec<&str> = [RESSORT_LABEL, PROTECTION_LEVEL_LABEL]
        .into_iter()
        .filter(|l| str_at(&nobj.value, &["metadata", "labels", l]).is_none_or(str::is_empty))
        .collect();
    if !missing.is_empty() {
        out.object(format!("labels {} missing", missing.join(", ")));
    }
}

fn resource_quota(ns: &NamespaceView<'_>, out: &mut Violations) {
    if ns.facts.quotas == 0 {
        out.object("the namespace has no ResourceQuota");
    }
}

fn limit_range(ns: &NamespaceView<'_>, out: &mut Violations) {
    if ns.facts.limit_ranges == 0 {
        out.object("the namespace has no LimitRange");
    }
}

// ---------------------------------------------------------------------------------------------------------
// The rules

pub(crate) const NAMESPACE_LABELS: Rule = Rule {
    id: RuleId::NamespaceLabels,
    title: "Namespaces must carry the Ressort and protection-level labels",
    severity: Severity::Warning,
    bsi: &[A1],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Namespace(namespace_labels)],
    rationale: "The labels tie a namespace to its Ressort and Schutzbedarf, so that policies and audits can select it.",
    remediation: "Label the Namespace with `conplus.niedersachsen.de/ressort` and `conplus.niedersachsen.de/protection-level` (the operator does this for onboarded namespaces).",
};

pub(crate) const RESOURCE_QUOTA: Rule = Rule {
    id: RuleId::ResourceQuota,
    title: "Every namespace must have a ResourceQuota",
    severity: Severity::Warning,
    bsi: &[S15],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Namespace(resource_quota)],
    rationale: "A quota caps what one Fachverfahren can take from the shared cluster.",
    remediation: "Add a ResourceQuota to the namespace (the operator derives one from the onboarding's budget).",
};

pub(crate) const LIMIT_RANGE: Rule = Rule {
    id: RuleId::LimitRange,
    title: "Every namespace must have a LimitRange",
    severity: Severity::Warning,
    bsi: &[S15],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Namespace(limit_range)],
    rationale: "A LimitRange gives containers without explicit resources sane defaults and caps.",
    remediation: "Add a LimitRange with default requests and limits for containers.",
};
