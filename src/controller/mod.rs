//! The controllers: the reconcile pipeline of `FachverfahrenOnboarding`, the status of
//! `Ressort` ([`ressort`]) and the inventory on `Verwaltungsaufgabe` ([`aufgabe`]).
//!
//! One reconcile ([`pipeline::reconcile`]) runs these steps in order; only the steps marked
//! I/O reach the API, the pure ones take plain data and cannot:
//!
//! | step | module | |
//! |---|---|---|
//! | finalizer | [`finalizer`] | I/O: adds the finalizer; on deletion carries out the deletion policy |
//! | observe | [`observe`] | I/O, reads: the onboarding's Ressort, siblings, namespaces and objects, from the indexed [`stores`] |
//! | validate | [`validate`] | pure: what the schema could not check; the desired objects ([`crate::resources`]) |
//! | admit | [`admit`] | pure: the budget decision within the Ressort ([`budget`]) |
//! | plan | [`plan`] | pure: what to apply, prune, release or delete |
//! | apply | [`apply`] | I/O, writes: budget reservation, then server-side apply in a fixed order, then pruning |
//! | status | [`status`], [`conformance`], [`conditions`] | pure: the status of the round |
//! | reader | [`reader`] | I/O: the onboarding's reader ClusterRole and its binding to the access groups; its condition |
//! | publish | [`publish`], [`events`] | I/O, writes: the round's Events, and the status when it changed |
//! | reports | [`reports`] | I/O: the PolicyReport of each namespace, written only when its findings changed |
//!
//! The shared model lives in [`model`] (pure) and proof of ownership in [`ownership`] (pure);
//! every module imports only from those and from steps before it. [`runtime`] opens the
//! watches, shares them between the controllers and runs them; [`error`] has one error type
//! per failing step.

pub mod admissions;
pub mod admit;
pub mod apply;
pub mod aufgabe;
pub mod budget;
pub mod conditions;
pub mod conformance;
pub mod context;
pub mod drift;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod index;
pub mod kept;
pub mod model;
pub mod observe;
pub mod ownership;
pub mod pipeline;
pub mod plan;
pub mod publish;
pub mod reader;
pub mod reports;
pub mod ressort;
pub mod runtime;
pub mod served;
pub mod shared;
pub mod status;
pub mod stores;
pub mod summary;
pub mod sync;
#[cfg(test)]
pub(crate) mod testing;
pub mod validate;

pub use context::{Context, RESYNC};
pub use error::Error;
pub use events::CONFORMANCE_VIOLATION;
pub use finalizer::FINALIZER;
pub use pipeline::reconcile;
pub use runtime::{Options, error_policy, run};
