//! `Verwaltungsaufgabe`: one administrative task of the state (an internal cross-cutting process or a
//! specialised task), the entry of the consolidation inventory that onboardings name with `spec.aufgabe`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CostStatus, ProtectionLevel};

/// An administrative task of Lower Saxony's administration (a cross-cutting internal process such as time
/// recording, or a specialised task such as school staffing). Onboardings name the task their Fachverfahren
/// carries out (`spec.aufgabe`); the status lists every Fachverfahren on CONPlus that serves it, so that
/// parallel solutions for the same task are visible.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "conplus.niedersachsen.de",
    version = "v1alpha1",
    kind = "Verwaltungsaufgabe",
    plural = "verwaltungsaufgaben",
    singular = "verwaltungsaufgabe",
    shortname = "vwa",
    category = "conplus",
    status = "VerwaltungsaufgabeStatus",
    derive = "PartialEq",
    printcolumn(name = "Display Name", type_ = "string", priority = 1, json_path = ".spec.displayName"),
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.kind"),
    printcolumn(name = "Ressorts", type_ = "integer", json_path = ".status.ressorts"),
    printcolumn(name = "Fachverfahren", type_ = "integer", json_path = ".status.fachverfahren"),
    printcolumn(name = "Parallel", type_ = "string", json_path = ".status.conditions[?(@.type==\"ParallelSolutions\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63").message("metadata.name must be a DNS label of at most 63 characters: onboardings name the task with it in spec.aufgabe"),
)]
#[serde(rename_all = "camelCase")]
pub struct VerwaltungsaufgabeSpec {
    /// The task's name as the administration uses it (`Eingliederungshilfe nach SGB IX`).
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,
    /// `Querschnitt` (an internal process every Ressort has, such as time recording) or `Fachaufgabe` (a
    /// specialised task of one or a few Ressorts).
    pub kind: AufgabeKind,
    /// The task's number in a catalogue the state keeps (for example a Leistungskatalog or process map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub number: Option<String>,
    /// What the task is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,
    /// The Ressort responsible for consolidating the task's solutions (a `Ressort`'s name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        length(min = 1, max = 40)
    )]
    pub owner: Option<String>,
}

/// The kind of an administrative task.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AufgabeKind {
    /// A cross-cutting internal process of the administration (Querschnittsaufgabe).
    Querschnitt,
    /// A specialised task (Fachaufgabe).
    Fachaufgabe,
}

impl AufgabeKind {
    /// The value as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            AufgabeKind::Querschnitt => "Querschnitt",
            AufgabeKind::Fachaufgabe => "Fachaufgabe",
        }
    }
}

/// Observed state of a `Verwaltungsaufgabe`: the inventory of the Fachverfahren that serve it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerwaltungsaufgabeStatus {
    /// Every onboarding that names the task, ordered by Ressort, Fachverfahren and onboarding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["onboarding"]))]
    pub solutions: Vec<Solution>,
    /// The number of distinct Ressorts among the solutions.
    #[serde(default)]
    pub ressorts: i32,
    /// The number of distinct Fachverfahren (Ressort and Fachverfahren name) among the solutions.
    #[serde(default)]
    pub fachverfahren: i32,
    /// What the solutions cost per month together (the sum of their onboardings' `status.cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostStatus>,
    /// `ParallelSolutions`: True when more than one Fachverfahren serves the task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One Fachverfahren on CONPlus that serves the task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Solution {
    /// The `FachverfahrenOnboarding`'s name.
    pub onboarding: String,
    /// The Ressort that runs it.
    pub ressort: String,
    /// The Fachverfahren's short name.
    pub fachverfahren: String,
    /// The Fachverfahren's display name.
    pub display_name: String,
    /// The organisation that owns it.
    pub owner_organisation: String,
    /// Its environments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// Its protection level.
    pub protection_level: ProtectionLevel,
    /// Whether the onboarding is Ready.
    pub ready: bool,
    /// Its conformance score (0–100), once evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformance_score: Option<i32>,
    /// What it costs per month (its onboarding's `status.cost.monthly`, in the task's currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_cost: Option<String>,
}
