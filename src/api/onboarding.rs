//! `FachverfahrenOnboarding`: one Fachverfahren of one Ressort, with its environments, access,
//! network exposure, protection level and deletion policy.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CostStatus, ResourceTotals};

/// Onboards one Fachverfahren of a Ressort onto CONPlus: for every environment a namespace
/// with quota, limits, default-deny network isolation, access for the Ressort's teams and
/// Pod Security labels, kept within the Ressort's budget.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "conplus.niedersachsen.de",
    version = "v1alpha1",
    kind = "FachverfahrenOnboarding",
    plural = "fachverfahrenonboardings",
    singular = "fachverfahrenonboarding",
    shortname = "fvo",
    category = "conplus",
    status = "FachverfahrenOnboardingStatus",
    derive = "PartialEq",
    printcolumn(name = "Ressort", type_ = "string", json_path = ".spec.ressort"),
    printcolumn(name = "Fachverfahren", type_ = "string", json_path = ".spec.fachverfahren"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Message", type_ = "string", priority = 1, json_path = ".status.conditions[?(@.type==\"Ready\")].message"),
    printcolumn(name = "Conformant", type_ = "string", priority = 1, json_path = ".status.conditions[?(@.type==\"Conformant\")].status"),
    printcolumn(name = "Protection", type_ = "string", priority = 1, json_path = ".spec.protectionLevel"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    selectable = ".spec.ressort",
    validation = Rule::new("size(self.metadata.name) <= 63").message("metadata.name must be at most 63 characters: it is used as a label value on every object of the onboarding"),
)]
#[x_kube(
    validation = Rule::new("self.environments.all(e, size(self.ressort) + size(self.fachverfahren) + size(e.name) + 2 <= 63)")
        .message("every namespace <ressort>-<fachverfahren>-<environment> must fit 63 characters: shorten the environment or Fachverfahren name")
        .field_path(".environments"),
    validation = Rule::new("!has(self.access) || self.access.all(a, !has(a.environments) || a.environments.all(n, self.environments.exists(e, e.name == n)))")
        .message("access[].environments may only name environments declared in spec.environments")
        .field_path(".access"),
)]
#[serde(rename_all = "camelCase")]
pub struct FachverfahrenOnboardingSpec {
    /// Name of the `Ressort` (ministry) this Fachverfahren belongs to. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("ressort is immutable: create a new onboarding to move a Fachverfahren"))]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        length(min = 1, max = 63)
    )]
    pub ressort: String,

    /// Short name of the Fachverfahren, a DNS label (`moin-schule`). Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("fachverfahren is immutable: create a new onboarding to rename a Fachverfahren"))]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        length(min = 1, max = 63)
    )]
    pub fachverfahren: String,

    /// Human-readable name of the Fachverfahren.
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,

    /// Who answers for the Fachverfahren.
    pub owner: Owner,

    /// The administrative task the Fachverfahren carries out: the name of a `Verwaltungsaufgabe`
    /// (`kubectl get vwa`). The task's status lists every Fachverfahren that serves it, for the
    /// consolidation inventory. A name that no task has is reported (`AufgabeKnown=False`) and does not
    /// hold up provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        length(min = 1, max = 63)
    )]
    pub aufgabe: Option<String>,

    /// BSI protection requirement (Schutzbedarf): decides the Pod Security level and the
    /// default conformance profile.
    #[serde(default)]
    pub protection_level: ProtectionLevel,

    /// The environments (dev, test, prod, ...): one namespace each, named
    /// `<ressort>-<fachverfahren>-<name>`.
    #[schemars(length(min = 1, max = 6))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub environments: Vec<Environment>,

    /// Identity-provider groups and the role they get in the environments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub access: Vec<AccessEntry>,

    /// Which other namespaces may reach the Fachverfahren's pods.
    #[serde(default, skip_serializing_if = "NetworkSpec::is_empty")]
    pub network: NetworkSpec,

    /// Conformance checking of the workloads.
    #[serde(default, skip_serializing_if = "ConformanceSpec::is_empty")]
    pub conformance: ConformanceSpec,

    /// What happens to the namespaces when the onboarding (or one environment) is removed:
    /// `Retain` keeps them and their data, released from management; `Delete` deletes them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The organisation and contact responsible for the Fachverfahren.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Organisation (Ressort unit or Dienststelle) that owns the Fachverfahren.
    #[schemars(length(min = 1, max = 256))]
    pub organisation: String,
    /// E-mail address of the responsible team.
    #[schemars(email, length(max = 254))]
    pub contact: String,
}

/// BSI IT-Grundschutz protection requirement.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ProtectionLevel {
    /// Schutzbedarf normal: Pod Security `baseline` enforced.
    #[default]
    Normal,
    /// Schutzbedarf hoch: Pod Security `restricted` enforced.
    High,
    /// Schutzbedarf sehr hoch: Pod Security `restricted` enforced.
    VeryHigh,
}

impl ProtectionLevel {
    /// The value as written in the spec and in labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtectionLevel::Normal => "normal",
            ProtectionLevel::High => "high",
            ProtectionLevel::VeryHigh => "veryHigh",
        }
    }
}

/// One environment of the Fachverfahren.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// Name of the environment, a DNS label (`dev`, `test`, `prod`).
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        length(min = 1, max = 63)
    )]
    pub name: String,
    /// What the environment's namespace may use; counted against the Ressort's budget.
    pub quota: ResourceTotals,
}

/// A group of the identity provider and its role.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    /// Group name as the identity provider puts it in the token.
    #[schemars(length(min = 1, max = 256))]
    pub group: String,
    /// `admin`, `edit` or `view`: bound to the ClusterRole of the same name.
    pub role: AccessRole,
    /// Environments the group gets access to; all when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 6))]
    #[schemars(extend("x-kubernetes-list-type" = "set", "items" = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}))]
    pub environments: Option<Vec<String>>,
}

/// The role of an access group.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AccessRole {
    /// Full control inside the namespace (ClusterRole `admin`).
    Admin,
    /// Read and write of workloads (ClusterRole `edit`).
    Edit,
    /// Read only (ClusterRole `view`).
    #[default]
    View,
}

impl AccessRole {
    /// The ClusterRole bound for this role.
    pub fn cluster_role(self) -> &'static str {
        match self {
            AccessRole::Admin => "admin",
            AccessRole::Edit => "edit",
            AccessRole::View => "view",
        }
    }
}

/// Network exposure of the Fachverfahren's namespaces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// Namespaces whose pods may reach this Fachverfahren's pods (the platform's ingress
    /// namespace is always allowed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-list-type" = "set", "items" = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}))]
    pub allow_from_namespaces: Vec<String>,

    /// Whether the pods of one namespace may reach each other without a NetworkPolicy of
    /// their own: `Allow` (the operator provisions `conplus-allow-same-namespace`) or `Deny`
    /// (micro-segmentation, BSI APP.4.4.A18: the team allows each connection it needs with
    /// NetworkPolicies naming source and destination). When omitted: `Allow` at protection
    /// level `normal`, `Deny` from `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intra_namespace: Option<IntraNamespace>,
}

impl NetworkSpec {
    fn is_empty(&self) -> bool {
        self.allow_from_namespaces.is_empty() && self.intra_namespace.is_none()
    }

    /// Traffic inside a namespace as declared, or as the protection level implies when omitted.
    pub fn intra_namespace(&self, level: ProtectionLevel) -> IntraNamespace {
        self.intra_namespace.unwrap_or(match level {
            ProtectionLevel::Normal => IntraNamespace::Allow,
            ProtectionLevel::High | ProtectionLevel::VeryHigh => IntraNamespace::Deny,
        })
    }
}

/// Traffic between the pods of one namespace.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum IntraNamespace {
    /// Every pod may reach every other pod of its namespace.
    Allow,
    /// Only what the team's own NetworkPolicies allow (micro-segmentation).
    Deny,
}

/// Conformance checking settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConformanceSpec {
    /// Name of a `ConformanceProfile`; the built-in profile of the protection level when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        length(max = 253)
    )]
    pub profile: Option<String>,
}

impl ConformanceSpec {
    fn is_empty(&self) -> bool {
        self.profile.is_none()
    }
}

/// What happens to namespaces that are no longer declared.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the namespaces and their data; only the operator's labels are removed.
    #[default]
    Retain,
    /// Delete the namespaces and everything in them.
    Delete,
}

/// The lifecycle phase, a summary of the conditions. `Blocked`, `Degraded` and `Failed` need
/// someone to act (the `Ready` condition's reason and message say what); `Pending` and
/// `Provisioning` resolve on their own.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Not looked at by the operator yet.
    #[default]
    Pending,
    /// Objects are being created or updated, or a namespace of an earlier deletion is still
    /// terminating.
    Provisioning,
    /// Every environment is provisioned.
    Ready,
    /// Nothing is provisioned until someone acts outside the onboarding's spec: its Ressort is
    /// missing, the Ressort's budget is invalid or exhausted, or its namespaces are taken.
    Blocked,
    /// Some environments are provisioned, others are not, or the provisioned ones cannot follow
    /// the spec (a conflict, a held increase, a missing Ressort).
    Degraded,
    /// The spec cannot be carried out as written.
    Failed,
    /// Being deleted.
    Terminating,
}

/// Observed state of a `FachverfahrenOnboarding`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FachverfahrenOnboardingStatus {
    /// Summary of the conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `NamespacesReady`, `QuotaApplied`, `NetworkIsolated`, `AccessGranted`,
    /// `BudgetAvailable`, `Conformant`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// One entry per declared environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["environment"]))]
    pub namespaces: Vec<NamespaceStatus>,
    /// What this onboarding holds of its Ressort's budget (the sum over its provisioned
    /// environments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated: Option<ResourceTotals>,
    /// What the allocated quotas and provisioned namespaces cost per month, from the platform's price
    /// list (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostStatus>,
    /// The conformance profile in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformance_profile: Option<String>,
    /// The result of the conformance rules over the onboarding's namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformance: Option<ConformanceStatus>,
}

/// The conformance of the workloads in the onboarding's namespaces, bounded in size however
/// many workloads there are.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConformanceStatus {
    /// The profile evaluated.
    pub profile: String,
    /// 0–100: the share of (object, rule) checks passed, weighted by severity.
    pub score: i32,
    /// Objects evaluated.
    pub objects: i32,
    /// Findings of severity `error`.
    pub errors: i32,
    /// Findings of severity `warning`.
    pub warnings: i32,
    /// Findings of severity `info`.
    pub infos: i32,
    /// Findings silenced by a justified exception or ignore annotation.
    pub silenced: i32,
    /// The most important findings (at most ten).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub findings: Vec<ConformanceFinding>,
    /// The BSI IT-Grundschutz requirements of APP.4.4 and SYS.1.6 judged over the same objects
    /// (`conplus-operator grundschutz --onboarding` lists them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grundschutz: Option<GrundschutzCounts>,
}

/// How many BSI IT-Grundschutz requirements the onboarding's objects meet.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrundschutzCounts {
    /// Requirements whose rules were evaluated and found nothing.
    pub passed: i32,
    /// Requirements a rule found violated.
    pub failed: i32,
    /// Requirements with rules that could not be evaluated (level H at protection level normal, rules
    /// the profile disables, no object they apply to).
    pub not_evaluated: i32,
    /// Requirements met only by evidence the platform operator produces (open until it is produced).
    pub organisational_open: i32,
}

/// One finding of a conformance rule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConformanceFinding {
    /// The rule's id (see docs/rules.md).
    pub rule: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// The BSI IT-Grundschutz requirements the rule serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bsi: Vec<String>,
    /// `Kind namespace/name` of the object.
    pub object: String,
    /// The container, for container-level rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// What is wrong and what to change.
    pub message: String,
}

/// The namespace of one environment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    /// The environment's name.
    pub environment: String,
    /// The namespace's name.
    pub name: String,
    /// Whether the namespace and everything in it is provisioned.
    pub ready: bool,
    /// Why it is not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
