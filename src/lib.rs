//! conplus-operator: onboards Fachverfahren of the Ressorts of Lower Saxony onto CONPlus.
//!
//! - [`api`]: the custom resources (`FachverfahrenOnboarding`, `Ressort`, `ConformanceProfile`,
//!   `Verwaltungsaufgabe`).
//! - [`resources`]: pure builders of the Kubernetes objects an onboarding produces.
//! - [`controller`]: the reconcile pipeline (observe → validate → admit → plan → apply → status).
//! - [`conformance`]: the DVC/BSI rule engine, live and offline.
//! - [`inventory`]: the consolidation inventory of tasks and the Fachverfahren that serve them.
//! - [`cli`]: the subcommands of the binary.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod cli;
pub mod conformance;
pub mod controller;
pub mod inventory;
pub mod leader;
pub mod rbac;
pub mod resources;
pub mod telemetry;
