//! The BSI IT-Grundschutz evidence of CONPlus: every requirement of APP.4.4 *Kubernetes* and SYS.1.6
//! *Containerisierung*, how CONPlus meets it, and whether a set of objects meets it.
//!
//! - [`catalogue`]: the requirements (pure data); the rules of a requirement are derived from the rules'
//!   own BSI references ([`rules_for`]).
//! - [`assess`]: judges every requirement from what an evaluation covered and found (pure).
//! - [`render`]: text, Markdown and JSON of an assessment, and `docs/grundschutz.md` (pure).
//!
//! Offline (`conplus-operator grundschutz`) and live alike: [`crate::conformance::evaluate`] the objects,
//! build an [`Evaluation`] from the report and the profile, then [`assess`] it.

pub mod assess;
pub mod catalogue;
pub mod render;

pub use assess::{Assessment, Counts, Evaluation, Outcome, RequirementResult, RuleState, assess};
pub use catalogue::{CATALOGUE, Coverage, Level, Module, Requirement, requirement, rules_for};
