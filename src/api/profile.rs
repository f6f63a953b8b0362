//! `ConformanceProfile`: which DVC/BSI rules apply, at what severity, with which exceptions.
//!
//! Resolved into a [`crate::conformance::ResolvedProfile`] by [`crate::conformance::resolve_profile`]; the
//! built-in profiles `dvc-basis`, `dvc-erhoeht` and `dvc-sehr-hoch` are values of this type too
//! (`examples/profiles/*.yaml`).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ProtectionLevel;
pub use crate::conformance::rules::Severity;

/// Which conformance rules apply to the onboardings that name this profile, at what severity, and which
/// time-limited, justified exceptions are granted.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "conplus.niedersachsen.de",
    version = "v1alpha1",
    kind = "ConformanceProfile",
    shortname = "cprof",
    derive = "PartialEq",
    doc = "A set of DVC conformance rules (mapped to BSI APP.4.4, SYS.1.6 and the Pod Security Standards) with severities, allowed registries and justified, expiring exceptions.",
    printcolumn = r#"{"name":"Level","type":"string","jsonPath":".spec.protectionLevel"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ConformanceProfileSpec {
    /// The protection level (Schutzbedarf) whose built-in rule set is the starting point: a rule not listed
    /// in `rules` is enabled, at its default severity, exactly when the built-in profile of this level
    /// enables it. Unset: the protection level of the onboarding that uses the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_level: Option<ProtectionLevel>,

    /// Per-rule settings on top of the protection level's defaults (rule ids: `docs/rules.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub rules: Vec<RuleSetting>,

    /// Image registries (host, optionally with a path prefix: `registry.example.org/team`) workloads may pull
    /// from. Empty: any registry (the rule `image-registry` is then not evaluated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_registries: Vec<String>,

    /// Maximum age of a running pod as a duration (`168h`, `7d`), for APP.4.4.A21. Unset: not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pod_age: Option<String>,

    /// Runtime classes pods must use (`gvisor`, `kata`), for SYS.1.6.A26. Empty: not evaluated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_runtime_classes: Vec<String>,

    /// The dedicated node pool pods must be scheduled on (APP.4.4.A14). Unset: not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated_nodes: Option<DedicatedNodes>,

    /// Time-limited, justified exceptions. An expired exception no longer applies and is reported itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<RuleException>,
}

/// Enables or disables one rule and optionally overrides its severity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleSetting {
    /// The rule's id, e.g. `privileged-container`.
    pub id: String,
    /// Whether the rule is evaluated. Default: true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Severity of the rule's findings; unset: the rule's default severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

fn default_true() -> bool {
    true
}

/// A node pool reserved for the workloads of a profile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DedicatedNodes {
    /// The node label that identifies the pool; pods must select it by `nodeSelector` or a required node
    /// affinity.
    pub node_label: String,
    /// The label's value; unset: any value (the operator fills in the Ressort's pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_label_value: Option<String>,
    /// The taint key of the pool's nodes; pods must tolerate it. Unset: no toleration is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taint_key: Option<String>,
}

/// One justified, approved, expiring exception from a rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleException {
    /// The rule the exception is from.
    pub rule: String,
    /// The namespace whose objects are excepted; `*` for every namespace and for cluster-scoped objects.
    pub namespace: String,
    /// Narrows the exception to some objects of the namespace. Unset: every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_selector: Option<ObjectSelector>,
    /// Why the deviation is acceptable.
    #[schemars(length(min = 1))]
    pub justification: String,
    /// Who approved the exception (name or role).
    #[schemars(length(min = 1))]
    pub approved_by: String,
    /// When the exception stops applying (RFC 3339, e.g. `2026-12-31T23:59:59Z`).
    #[schemars(extend("format" = "date-time"))]
    pub expires: String,
}

/// Selects objects by kind, name and labels; every field set must match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSelector {
    /// The object's kind, e.g. `Deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels the object must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}
