//! `Ressort`: a ministry of Lower Saxony and the budget all its onboardings share.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CostStatus, ResourceTotals};

/// A Ressort (ministry) of Lower Saxony and the resource budget that all its
/// `FachverfahrenOnboarding`s together may declare, over all their environments.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "conplus.niedersachsen.de",
    version = "v1alpha1",
    kind = "Ressort",
    plural = "ressorts",
    singular = "ressort",
    shortname = "ressort",
    category = "conplus",
    status = "RessortStatus",
    derive = "PartialEq",
    printcolumn(name = "Display Name", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Onboardings", type_ = "integer", json_path = ".status.onboardings"),
    printcolumn(name = "CPU", type_ = "string", json_path = ".status.allocated.cpu", priority = 1),
    printcolumn(name = "Memory", type_ = "string", json_path = ".status.allocated.memory", priority = 1),
    printcolumn(name = "Monthly", type_ = "string", json_path = ".status.cost.monthly", priority = 1),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 40").message("metadata.name must be a DNS label of at most 40 characters: it starts every namespace name of the Ressort"),
)]
#[serde(rename_all = "camelCase")]
pub struct RessortSpec {
    /// Full name of the ministry (`Niedersächsisches Kultusministerium`).
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,
    /// The most that all onboardings of this Ressort may declare together.
    pub budget: ResourceTotals,
    /// The groups whose members may create, change and delete the `FachverfahrenOnboarding`s of this Ressort
    /// (`spec.ressort` naming it), as the API server authenticates them (`kubectl auth whoami`). Enforced by the
    /// admission policy `conplus-operator-onboarders` that the chart and `deploy/admission` install; the platform
    /// team's groups are exempt from it. Empty: only the platform team onboards into this Ressort.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 256)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub onboarders: Vec<String>,
    /// The Ressort's dedicated node pool (BSI APP.4.4.A14): the value of the node label a
    /// `ConformanceProfile`'s `dedicatedNodes` names. Where the profile of an onboarding demands a
    /// dedicated pool and gives no value itself, the operator sets this pool as the default node
    /// selector of the onboarding's namespaces. Unset: no default is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"),
        length(min = 1, max = 63)
    )]
    pub node_pool: Option<String>,
}

/// Observed state of a `Ressort`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RessortStatus {
    /// The sum of what the admitted onboardings hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated: Option<ResourceTotals>,
    /// What is left of the budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<ResourceTotals>,
    /// What the Ressort's onboardings cost per month together (the sum of their `status.cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostStatus>,
    /// Number of onboardings of this Ressort.
    #[serde(default)]
    pub onboardings: i32,
    /// `Ready`, and `OverCommitted` when the budget was lowered below what is provisioned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
