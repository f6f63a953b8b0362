//! Objects: credentials in ConfigMaps, and the rules about the input itself (unreadable documents,
//! invalid CONPlus resources, removed API versions, onboardings that cannot be admitted together, expired
//! exceptions, ignore annotations without a reason). Those meta rules have no check of their own here:
//! the reader, [`crate::conformance::crd`], [`crate::conformance::apis`],
//! [`crate::conformance::onboardings`] and the engine report them; they cannot be disabled or silenced.

use super::{Check, Kind, ObjectView, Violations, obj_at};
use crate::api::ProtectionLevel::Normal;
use crate::conformance::rules::bsi::*;
use crate::conformance::rules::{PssLevel, Rule, RuleId, Severity};
use crate::conformance::secrets;

const CONFIG_MAP: Kind = Kind {
    groups: &[""],
    kind: "ConfigMap",
};

fn config_map_credentials(obj: &ObjectView<'_>, out: &mut Violations) {
    let Some(data) = obj_at(obj.v, &["data"]) else {
        return;
    };
    for (key, val) in data {
        let Some(val) = val.as_str() else { continue };
        if let Some(why) = secrets::config_credential(key, val) {
            out.object(format!("data.{key}: {why}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The rules

pub(crate) const CONFIG_MAP_CREDENTIALS: Rule = Rule {
    id: RuleId::ConfigMapCredentials,
    title: "ConfigMaps must not contain credentials",
    severity: Severity::Error,
    bsi: &[S8],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Object {
        kinds: &[CONFIG_MAP],
        check: config_map_credentials,
    }],
    rationale: "ConfigMaps are readable by everyone with view rights and are not encrypted at rest.",
    remediation: "Move the credential into a Secret and mount it as a file.",
};

pub(crate) const CRD_SCHEMA: Rule = Rule {
    id: RuleId::CrdSchema,
    title: "CONPlus resources must be valid against their CRD schema",
    severity: Severity::Error,
    bsi: &[],
    pss: PssLevel::None,
    min_level: None,
    checks: &[],
    rationale: "An onboarding, Ressort or profile the API server would reject fails late, after the merge.",
    remediation: "Fix the field named in the message; `kubectl explain` describes every field.",
};

pub(crate) const PARSE_ERROR: Rule = Rule {
    id: RuleId::ParseError,
    title: "Every input document must be readable",
    severity: Severity::Error,
    bsi: &[],
    pss: PssLevel::None,
    min_level: None,
    checks: &[],
    rationale: "A document that does not parse cannot be checked, and would not apply either.",
    remediation: "Fix the YAML or JSON syntax at the reported line.",
};

pub(crate) const EXCEPTION_EXPIRED: Rule = Rule {
    id: RuleId::ExceptionExpired,
    title: "Expired exceptions must be renewed or removed",
    severity: Severity::Warning,
    bsi: &[],
    pss: PssLevel::None,
    min_level: None,
    checks: &[],
    rationale: "An exception is granted for a limited time; after `expires` it no longer applies and the findings it covered are reported again.",
    remediation: "Fix the findings the exception covered and remove it, or have a renewed exception approved with a new `expires`.",
};

pub(crate) const IGNORE_WITHOUT_REASON: Rule = Rule {
    id: RuleId::IgnoreWithoutReason,
    title: "Ignore annotations need a reason",
    severity: Severity::Warning,
    bsi: &[],
    pss: PssLevel::None,
    min_level: None,
    checks: &[],
    rationale: "Silencing a rule without saying why cannot be reviewed; without a reason the annotation does not apply.",
    remediation: "Add `conformance.conplus.niedersachsen.de/ignore-reason` explaining why the rules may be ignored, or fix the findings, or name only existing rule ids.",
};

pub(crate) const REMOVED_API_VERSION: Rule = Rule {
    id: RuleId::RemovedApiVersion,
    title: "Objects must use an API version Kubernetes still serves",
    severity: Severity::Error,
    bsi: &[],
    pss: PssLevel::None,
    min_level: None,
    checks: &[],
    rationale: "An API version removed from Kubernetes (such as `extensions/v1beta1` or `batch/v1beta1`) is refused by the API server: the manifest cannot be applied. Its workloads are still checked by kind.",
    remediation: "Move the object to the API version named in the message (`kubectl convert` helps); mind the fields that changed with it.",
};

pub(crate) const ONBOARDING_ADMISSION: Rule = Rule {
    id: RuleId::OnboardingAdmission,
    title: "The onboardings of one input must be admissible together",
    severity: Severity::Error,
    bsi: &[],
    pss: PssLevel::None,
    min_level: None,
    checks: &[],
    rationale: "The controller admits onboardings oldest first within their Ressort's budget, gives every environment the namespace `<ressort>-<fachverfahren>-<environment>` and needs the Ressort to exist: onboardings over budget, colliding namespaces, a Fachverfahren claimed twice or a missing Ressort fail only after the merge.",
    remediation: "Lower the quotas or raise the Ressort's budget; rename the Fachverfahren or environment so that namespace names differ; keep one onboarding per Ressort and Fachverfahren; add the Ressort or fix `spec.ressort`.",
};
