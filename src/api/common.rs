//! Types shared by the CONPlus resources: quantities as users write them, resource totals,
//! and the schema fragments the CRDs reuse.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::quantity::{Amount, QuantityError};

/// The pattern of a DNS label (RFC 1123), as Kubernetes checks namespace names.
pub const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// kube-apiserver's pattern for a quantity written as a string, without the minus sign:
/// a budget or quota is never negative.
pub const QUANTITY_PATTERN: &str = r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// A Kubernetes quantity as the user wrote it: `500m`, `4Gi`, or a bare number (`pods: 20`).
/// Kept as text so that what the user wrote round-trips; [`QuantityValue::amount`] parses it.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct QuantityValue(pub String);

impl QuantityValue {
    /// The exact amount, or why the text is not a quantity.
    pub fn amount(&self) -> Result<Amount, QuantityError> {
        self.0.parse()
    }
}

impl fmt::Debug for QuantityValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for QuantityValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for QuantityValue {
    fn from(s: &str) -> Self {
        QuantityValue(s.to_string())
    }
}

impl Serialize for QuantityValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for QuantityValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // int-or-string: YAML `pods: 20` arrives as a number.
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = QuantityValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as 500m, 4Gi or 20")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(QuantityValue(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(QuantityValue(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(QuantityValue(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(QuantityValue(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for QuantityValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "QuantityValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A Kubernetes quantity: a number with an optional suffix (500m, 2, 4Gi, 100).",
            "x-kubernetes-int-or-string": true,
            "pattern": QUANTITY_PATTERN,
            // The pattern checks strings only: an integer (`pods: -1`) needs its own bound.
            "minimum": 0,
            "maxLength": 32,
        })
    }
}

/// The four resources a budget and a quota are declared in.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTotals {
    /// CPU, in cores (`4`, `1500m`). Becomes `requests.cpu` and `limits.cpu`.
    pub cpu: QuantityValue,
    /// Memory, in bytes (`8Gi`). Becomes `requests.memory` and `limits.memory`.
    pub memory: QuantityValue,
    /// Persistent storage requested by all claims (`100Gi`). Becomes `requests.storage`.
    pub storage: QuantityValue,
    /// Number of pods (`20`).
    pub pods: QuantityValue,
}

/// Resource totals parsed into exact amounts, for arithmetic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amounts {
    /// CPU in milli-cores.
    pub cpu: Amount,
    /// Memory in milli-bytes.
    pub memory: Amount,
    /// Storage in milli-bytes.
    pub storage: Amount,
    /// Pods in milli-pods.
    pub pods: Amount,
}

/// Which of the four resources an operation concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceName {
    /// CPU.
    Cpu,
    /// Memory.
    Memory,
    /// Storage.
    Storage,
    /// Pods.
    Pods,
}

impl ResourceName {
    /// All four, in the order they are reported.
    pub const ALL: [ResourceName; 4] = [
        ResourceName::Cpu,
        ResourceName::Memory,
        ResourceName::Storage,
        ResourceName::Pods,
    ];

    /// The field name in `budget`/`quota`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceName::Cpu => "cpu",
            ResourceName::Memory => "memory",
            ResourceName::Storage => "storage",
            ResourceName::Pods => "pods",
        }
    }

    /// Whether the resource counts bytes (printed with binary suffixes).
    pub fn is_bytes(self) -> bool {
        matches!(self, ResourceName::Memory | ResourceName::Storage)
    }
}

/// A field of a [`ResourceTotals`] that is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {source}")]
pub struct TotalsError {
    /// `cpu`, `memory`, `storage` or `pods`.
    pub field: &'static str,
    /// Why it does not parse.
    pub source: QuantityError,
}

impl ResourceTotals {
    /// Parse all four quantities.
    pub fn amounts(&self) -> Result<Amounts, TotalsError> {
        let parse = |field: &'static str, q: &QuantityValue| {
            q.amount().map_err(|source| TotalsError { field, source })
        };
        Ok(Amounts {
            cpu: parse("cpu", &self.cpu)?,
            memory: parse("memory", &self.memory)?,
            storage: parse("storage", &self.storage)?,
            pods: parse("pods", &self.pods)?,
        })
    }
}

impl Amounts {
    /// The amount of one resource.
    pub fn get(&self, name: ResourceName) -> Amount {
        match name {
            ResourceName::Cpu => self.cpu,
            ResourceName::Memory => self.memory,
            ResourceName::Storage => self.storage,
            ResourceName::Pods => self.pods,
        }
    }

    /// Component-wise sum.
    pub fn plus(self, o: Amounts) -> Amounts {
        Amounts {
            cpu: self.cpu.saturating_add(o.cpu),
            memory: self.memory.saturating_add(o.memory),
            storage: self.storage.saturating_add(o.storage),
            pods: self.pods.saturating_add(o.pods),
        }
    }

    /// Component-wise difference (may go negative: an over-committed budget).
    pub fn minus(self, o: Amounts) -> Amounts {
        Amounts {
            cpu: self.cpu.saturating_sub(o.cpu),
            memory: self.memory.saturating_sub(o.memory),
            storage: self.storage.saturating_sub(o.storage),
            pods: self.pods.saturating_sub(o.pods),
        }
    }

    /// Component-wise maximum.
    pub fn max(self, o: Amounts) -> Amounts {
        Amounts {
            cpu: self.cpu.max(o.cpu),
            memory: self.memory.max(o.memory),
            storage: self.storage.max(o.storage),
            pods: self.pods.max(o.pods),
        }
    }

    /// Whether every component is at most the other's.
    pub fn fits_within(&self, limit: &Amounts) -> bool {
        self.exceeding(limit).is_empty()
    }

    /// The resources in which `self` exceeds `limit`.
    pub fn exceeding(&self, limit: &Amounts) -> Vec<ResourceName> {
        ResourceName::ALL
            .into_iter()
            .filter(|r| self.get(*r) > limit.get(*r))
            .collect()
    }

    /// Canonical text form, as a quota or status carries it.
    pub fn to_totals(&self) -> ResourceTotals {
        let text = |r: ResourceName| QuantityValue(self.get(r).to_canonical(r.is_bytes()));
        ResourceTotals {
            cpu: text(ResourceName::Cpu),
            memory: text(ResourceName::Memory),
            storage: text(ResourceName::Storage),
            pods: text(ResourceName::Pods),
        }
    }
}

/// What an onboarding, a Ressort or a task costs, from the platform's price list and the allocated
/// quotas: exact to the cent (an onboarding's figure is rounded once; Ressorts and tasks add those up).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostStatus {
    /// The cost per period, a decimal with two places (`1234.50`).
    pub monthly: String,
    /// The currency (`EUR`).
    pub currency: String,
    /// The period of the figure: `month`.
    pub period: String,
}
