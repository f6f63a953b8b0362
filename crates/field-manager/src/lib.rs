//! Server-side apply, `metadata.managedFields` and strategic merge patch over JSON objects,
//! with the semantics of kube-apiserver's structured-merge-diff (v4) and field manager.
//!
//! - [`apply`]: server-side apply (`application/apply-patch+yaml`) with conflicts, `force`,
//!   shared ownership and removal of fields a manager stops applying.
//! - [`record_update`]: ownership bookkeeping after create / update / non-apply patch
//!   (operation `Update`).
//! - [`strategic_merge`]: `application/strategic-merge-patch+json` for built-in kinds.
//! - [`TypeSchema`]: the merge shape of a kind, from a CRD schema or the built-in table.
//!
//! `managedFields` entries are encoded exactly as kube-apiserver does (`FieldsV1` with `f:`,
//! `k:`, `v:` elements and `.` markers; entries sorted by operation, time, manager) so clients
//! that read them (kubectl, client-go's `Extract*` apply configurations) work unchanged.
//!
//! # Notes for callers
//! - Entries are keyed like kube-apiserver keys managers: Apply entries by (manager,
//!   subresource), Update entries by (manager, subresource, apiVersion).
//! - An Apply entry's `time` changes only when the apply changed the object; a manager that
//!   only starts sharing a field gets an entry without `time`, as in kube-apiserver.
//! - Applying to an object that has no managedFields first credits its fields to
//!   `before-first-apply` (Update), and more than 10 Update entries are folded into
//!   `ancient-changes`, both as kube-apiserver does.
//! - Keyed-list merge order follows structured-merge-diff: live-only items keep their place,
//!   applied items follow the applied order.
//! - `FieldsV1` keys come out in JSON string order (serde_json maps are sorted); the content
//!   equals the server's, the byte order of `k:` siblings may differ.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod builtin;
mod fieldset;
mod managed;
mod schema;
mod smp;
mod typed;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use schema::{ListType, TypeSchema};

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The name of the manager that owns the field.
    pub manager: String,
    /// `.spec.replicas`, `.metadata.labels.app`, `.spec.containers[name="app"].image`.
    pub field: String,
}

/// Why a server-side apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change; retry with `force=true` to take them, or
    /// leave them out of the applied configuration. Display gives kube-apiserver's message.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration cannot be applied (400 Bad Request in kube-apiserver).
    #[error("invalid apply configuration: {0}")]
    Invalid(String),
}

/// Why a strategic merge patch could not be applied (400 Bad Request).
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch is malformed: fix the patch document as the message says.
    #[error("invalid patch: {0}")]
    Invalid(String),
}

/// Which part of the object a write addresses: the main resource or a subresource (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource<'a> {
    /// The resource itself.
    Main,
    /// A subresource such as `status` or `scale`; recorded as the entry's `subresource`.
    Named(&'a str),
}

/// kube-apiserver's message for an apply conflict (409), e.g.
/// `Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {:?}: {}",
            c.manager, c.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m:?}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Server-side apply of `applied` by `manager` onto `live` (None on create). Returns the new
/// object with `metadata.managedFields` updated; fields the manager applied before and no
/// longer applies are removed unless another manager owns them.
///
/// The caller strips what the endpoint resets before calling (e.g. `status` on the main
/// resource of kinds with a status subresource) and validates apiVersion/kind/name.
/// The Apply entry's `time` is set to `now` only when the object changed, as kube-apiserver
/// does; a no-op apply returns an object equal to `live`.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    subresource: Subresource<'_>,
    force: bool,
    schema: &TypeSchema,
    now: &str,
) -> Result<Value, ApplyError> {
    managed::apply(live, applied, manager, subresource, force, schema, now)
}

/// After a non-apply write (create, update, patch) by `manager`, record in
/// `managedFields` the fields it set or changed (operation `Update`) and take them from
/// other managers' sets. Removed fields leave every set. A non-empty `managedFields` list in
/// `new` (main resource only) replaces the live one, as kube-apiserver allows; an empty or
/// missing one keeps the live entries.
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    subresource: Subresource<'_>,
    schema: &TypeSchema,
    now: &str,
) -> Value {
    managed::record_update(old, new, manager, subresource, schema, now)
}

/// Strategic merge patch (`application/strategic-merge-patch+json`) of `patch` onto `live`.
///
/// kube-apiserver answers 415 to strategic merge patches on custom resources; the caller must
/// refuse them before calling (here they would act as a JSON merge patch).
pub fn strategic_merge(
    live: &Value,
    patch: &Value,
    schema: &TypeSchema,
) -> Result<Value, PatchError> {
    smp::strategic_merge(live, patch, schema)
}
