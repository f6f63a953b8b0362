//! Condition types and reasons: the contract that `kubectl wait`, Argo CD and Flux read.

/// The onboarding is fully provisioned (kstatus: the resource is current).
pub const READY: &str = "Ready";
/// Every environment's namespace exists, is ours and is active.
pub const NAMESPACES_READY: &str = "NamespacesReady";
/// Every namespace has its ResourceQuota and LimitRange.
pub const QUOTA_APPLIED: &str = "QuotaApplied";
/// Every namespace has its default-deny and allow policies.
pub const NETWORK_ISOLATED: &str = "NetworkIsolated";
/// Every access group is bound to its role.
pub const ACCESS_GRANTED: &str = "AccessGranted";
/// The onboarding fits its Ressort's budget.
pub const BUDGET_AVAILABLE: &str = "BudgetAvailable";
/// The workloads meet the conformance profile.
pub const CONFORMANT: &str = "Conformant";
/// The operator found one of its objects changed or added to by someone else and set it back
/// to what it declares (the message names the objects, fields and managers; absent until the
/// first repair).
pub const DRIFT_REPAIRED: &str = "DriftRepaired";
/// The onboarding's access groups may read it: its reader ClusterRole `conplus:fvo:<name>:reader`
/// is bound to them. Does not hold up `Ready`.
pub const READ_ACCESS_GRANTED: &str = "ReadAccessGranted";
/// The `Verwaltungsaufgabe` that `spec.aufgabe` names exists (absent when the onboarding names none).
pub const AUFGABE_KNOWN: &str = "AufgabeKnown";
/// More than one Fachverfahren serves a `Verwaltungsaufgabe`.
pub const PARALLEL_SOLUTIONS: &str = "ParallelSolutions";
/// A Ressort's budget is below what its onboardings hold.
pub const OVER_COMMITTED: &str = "OverCommitted";

/// Reasons, CamelCase as Kubernetes wants them.
pub mod reason {
    /// Everything is in place.
    pub const PROVISIONED: &str = "Provisioned";
    /// Objects are being applied.
    pub const PROVISIONING: &str = "Provisioning";
    /// A namespace of the name exists and is not ours.
    pub const NAMESPACE_CONFLICT: &str = "NamespaceConflict";
    /// A namespace is still terminating from an earlier deletion.
    pub const NAMESPACE_TERMINATING: &str = "NamespaceTerminating";
    /// The named Ressort does not exist.
    pub const RESSORT_NOT_FOUND: &str = "RessortNotFound";
    /// The request does not fit the remaining budget.
    pub const BUDGET_EXCEEDED: &str = "BudgetExceeded";
    /// The Ressort's budget is not readable.
    pub const INVALID_BUDGET: &str = "InvalidBudget";
    /// The request fits the budget.
    pub const WITHIN_BUDGET: &str = "WithinBudget";
    /// An increase does not fit; the previous allocation is kept.
    pub const INCREASE_HELD: &str = "IncreaseHeld";
    /// The spec is invalid in a way the schema could not catch.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Waiting on an earlier step.
    pub const WAITING: &str = "Waiting";
    /// Being deleted.
    pub const TERMINATING: &str = "Terminating";
    /// No conformance finding of severity error.
    pub const NO_VIOLATIONS: &str = "NoViolations";
    /// Findings of severity error.
    pub const VIOLATIONS: &str = "Violations";
    /// The named ConformanceProfile does not exist or is invalid.
    pub const PROFILE_NOT_FOUND: &str = "ProfileNotFound";
    /// Nothing provisioned yet to evaluate.
    pub const NOT_EVALUATED: &str = "NotEvaluated";
    /// The budget covers what is held.
    pub const WITHIN_LIMITS: &str = "WithinLimits";
    /// The budget is lower than what is held.
    pub const BUDGET_BELOW_ALLOCATION: &str = "BudgetBelowAllocation";
    /// Objects changed outside the operator were set back to what it declares.
    pub const DRIFT_REPAIRED: &str = "DriftRepaired";
    /// The reader ClusterRole is bound to the access groups.
    pub const READER_ROLE_BOUND: &str = "ReaderRoleBound";
    /// A ClusterRole or ClusterRoleBinding of the reader role's name exists and is not the
    /// operator's for this onboarding: it is left alone.
    pub const READER_ROLE_CONFLICT: &str = "ReaderRoleConflict";
    /// The named Verwaltungsaufgabe exists.
    pub const AUFGABE_FOUND: &str = "AufgabeFound";
    /// No Verwaltungsaufgabe of the name exists.
    pub const AUFGABE_NOT_FOUND: &str = "AufgabeNotFound";
    /// More than one Fachverfahren serves the task.
    pub const SEVERAL_FACHVERFAHREN: &str = "SeveralFachverfahren";
    /// At most one Fachverfahren serves the task.
    pub const SINGLE_FACHVERFAHREN: &str = "SingleFachverfahren";
    /// The Ressort's status is computed.
    pub const BUDGET_TRACKED: &str = "BudgetTracked";
}
