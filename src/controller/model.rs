//! The shared model of the pipeline (pure, no I/O): what observe found ([`Observed`]), what
//! a declared namespace is to an onboarding ([`NamespaceState`]), and the kinds and keys of
//! the namespaced objects the operator owns ([`OwnedKind`], [`ObjectKey`]).
//!
//! Every step imports its types from here and from the steps before it, never from a later
//! one: `budget ← model ← ownership ← observe`, `model ← admit ← plan ← apply`, `plan ← status`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::ApiResource;
use serde_json::Value;

use super::budget::Admission;
use crate::api::{Amounts, FachverfahrenOnboarding, Ressort};

/// A namespaced kind the operator creates in an onboarding's namespaces. Adding a kind here
/// (and to [`Owned`]) is all the generic apply, prune and release code needs.
///
/// The order is alphabetical: it is the order in which objects are pruned and released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OwnedKind {
    /// `LimitRange`.
    LimitRange,
    /// `NetworkPolicy`.
    NetworkPolicy,
    /// `ResourceQuota`.
    ResourceQuota,
    /// `RoleBinding`.
    RoleBinding,
}

impl OwnedKind {
    /// Every owned kind.
    pub const ALL: [OwnedKind; 4] = [
        OwnedKind::LimitRange,
        OwnedKind::NetworkPolicy,
        OwnedKind::ResourceQuota,
        OwnedKind::RoleBinding,
    ];

    /// The kind's name, as in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnedKind::LimitRange => "LimitRange",
            OwnedKind::NetworkPolicy => "NetworkPolicy",
            OwnedKind::ResourceQuota => "ResourceQuota",
            OwnedKind::RoleBinding => "RoleBinding",
        }
    }

    /// Group, version and plural of the kind, for untyped requests (delete, release).
    pub fn api_resource(self) -> ApiResource {
        match self {
            OwnedKind::LimitRange => ApiResource::erase::<LimitRange>(&()),
            OwnedKind::NetworkPolicy => ApiResource::erase::<NetworkPolicy>(&()),
            OwnedKind::ResourceQuota => ApiResource::erase::<ResourceQuota>(&()),
            OwnedKind::RoleBinding => ApiResource::erase::<RoleBinding>(&()),
        }
    }
}

impl fmt::Display for OwnedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The typed side of an [`OwnedKind`]: lets the generic apply find the observed object of a
/// desired one.
pub trait Owned {
    /// The kind.
    const KIND: OwnedKind;
}

impl Owned for LimitRange {
    const KIND: OwnedKind = OwnedKind::LimitRange;
}
impl Owned for NetworkPolicy {
    const KIND: OwnedKind = OwnedKind::NetworkPolicy;
}
impl Owned for ResourceQuota {
    const KIND: OwnedKind = OwnedKind::ResourceQuota;
}
impl Owned for RoleBinding {
    const KIND: OwnedKind = OwnedKind::RoleBinding;
}

/// A namespaced object the operator owns, by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The kind.
    pub kind: OwnedKind,
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

/// What a desired namespace is found to be.
#[derive(Clone, Debug, PartialEq)]
pub enum NamespaceState {
    /// It does not exist.
    Absent,
    /// It is ours and not terminating.
    Ours(Arc<Namespace>),
    /// It is being deleted.
    Terminating,
    /// It exists, is nobody's, and carries the record that the operator released it from an
    /// onboarding of the same Ressort and Fachverfahren (`deletionPolicy: Retain`): it is
    /// adopted again, with its data, once the environment is admitted.
    Released(Arc<Namespace>),
    /// It exists and is not this onboarding's (`claimed_by`: the onboarding that owns it).
    Foreign {
        /// The other onboarding, when it is one.
        claimed_by: Option<String>,
    },
}

/// What one onboarding holds by observation, as the sibling view of every other onboarding of
/// its Ressort reads it: the sum of the quotas proven to be its own, and its declared
/// environments whose namespace is not proven its own (environment, namespace).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Holding {
    /// The sum of its proven quotas, when it has any.
    pub held: Option<Amounts>,
    /// Declared environments whose namespace is not proven to be the onboarding's.
    pub unproven: Vec<(String, String)>,
    /// What admission reads of the onboarding itself, parsed.
    pub ask: Ask,
}

/// What the admit step reads of one onboarding, with its quantities parsed: derived once per
/// version of the onboarding (kept in its [`Holding`]) instead of in every reconcile of every
/// other onboarding of the Ressort.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ask {
    /// Its creation time (absent only for objects not yet persisted).
    pub created: Option<jiff::Timestamp>,
    /// Its `status.allocated`, or nothing when absent or unreadable.
    pub recorded: Amounts,
    /// Per declared environment, its quota (environments whose quota cannot be read are left out).
    pub requested: Vec<(String, Amounts)>,
    /// Whether it is being deleted.
    pub deleting: bool,
}

impl Ask {
    /// What admission reads of `o`.
    pub fn of(o: &FachverfahrenOnboarding) -> Ask {
        Ask {
            created: o.metadata.creation_timestamp.as_ref().map(|t| t.0),
            recorded: o
                .status
                .as_ref()
                .and_then(|s| s.allocated.as_ref())
                .and_then(|a| a.amounts().ok())
                .unwrap_or_default(),
            requested: o
                .spec
                .environments
                .iter()
                .filter_map(|e| Some((e.name.clone(), e.quota.amounts().ok()?)))
                .collect(),
            deleting: o.metadata.deletion_timestamp.is_some(),
        }
    }
}

/// Everything the pure steps need.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// The onboarding's Ressort, when it exists.
    pub ressort: Option<Arc<Ressort>>,
    /// The onboardings of the same Ressort, this one included (empty when the decision comes
    /// from the admission ledger, see `decided`).
    pub siblings: Vec<Arc<FachverfahrenOnboarding>>,
    /// What each of `siblings` holds and asks for, in the same order, as observe derived it
    /// (kept per version of each sibling); empty when not derived, then admit parses the
    /// siblings itself.
    pub holdings: Vec<Arc<Holding>>,
    /// What each onboarding of the Ressort holds by observation: the sum of the quotas in
    /// the namespaces proven to be its own (by onboarding name). Rebuilds what was admitted
    /// when `status.allocated` is lost.
    pub held: BTreeMap<String, Amounts>,
    /// The environments of each onboarding of the Ressort whose namespace exists and is not
    /// its own (by onboarding name): they are not provisioned and hold no budget.
    pub conflicts: BTreeMap<String, BTreeSet<String>>,
    /// The budget decision for this onboarding as the admission ledger keeps it for its
    /// Ressort (see [`super::admissions`]); `None`: not looked up, admit derives it from
    /// `siblings`. When set, `siblings` and `holdings` are left empty and `held` and `conflicts`
    /// carry this onboarding only: the ledger keeps the others.
    pub decided: Option<Decided>,
    /// The state of each declared environment's namespace.
    pub namespaces: BTreeMap<String, NamespaceState>,
    /// Every namespace proven to be this onboarding's.
    pub owned_namespaces: Vec<Arc<Namespace>>,
    /// Every namespaced object proven to be this onboarding's, as JSON.
    pub owned_objects: BTreeMap<ObjectKey, Value>,
    /// The `default` ServiceAccounts of the declared namespaces, as JSON.
    pub service_accounts: BTreeMap<String, Value>,
}

impl Observed {
    /// The observed object of ours of `kind` named `name` in `namespace`, as JSON.
    pub fn owned(&self, kind: OwnedKind, namespace: &str, name: &str) -> Option<&Value> {
        self.owned_objects.get(&ObjectKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }
}

/// The admission ledger's decision for one onboarding: `None` when its Ressort is missing or
/// its budget unreadable.
#[derive(Clone, Debug, PartialEq)]
pub struct Decided(pub Option<Admission>);

/// Whether a namespace is active (not being deleted).
pub fn namespace_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_none_or(|p| p == "Active")
}
