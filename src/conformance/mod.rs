//! The DVC conformance rule engine: rules mapped to BSI APP.4.4, SYS.1.6 and the Pod Security Standards.
//!
//! - [`rules`]: the catalogue (pure data).
//! - [`profile`]: built-in profiles and the resolution of a `ConformanceProfile` (pure).
//! - [`engine`]: [`evaluate`] over objects with an injected clock (pure).
//! - [`report`]: the [`Report`] and its text, JSON, SARIF and JUnit renderings (pure).
//! - [`input`]: the one manifest reader (files, folders, stdin; YAML and JSON) with line numbers (I/O).
//! - [`apis`], [`onboardings`]: findings about the input itself (removed API versions; onboardings that
//!   cannot be admitted together).
//! - [`docs`]: `docs/rules.md` rendered from the catalogue.
//!
//! For the controller: [`resolve_profile`] once per onboarding, [`evaluate`] over the objects of its
//! namespaces (watch only [`watched_kinds`], strip with [`strip_unread_fields`]), then write
//! [`Report::score`], [`Report::by_severity`] and [`Report::top`] into the status.

pub mod apis;
pub mod crd;
pub mod docs;
pub mod engine;
pub mod grundschutz;
pub mod input;
pub mod onboardings;
pub mod profile;
pub mod report;
pub mod rules;
pub mod secrets;

pub use engine::{
    IGNORE_ANNOTATION, IGNORE_REASON_ANNOTATION, NamespaceScope, SourceObject, WatchedKind,
    evaluate, evaluate_scoped, strip_unread_fields, watched_kinds,
};
pub use profile::{ProfileError, ResolvedProfile, builtin_profile, resolve_profile};
pub use report::{
    Finding, Location, ObjectRef, ObjectResult, Report, SeverityCounts, Silence, SilencedFinding,
};
pub use rules::{PssLevel, RULES, Rule, RuleId, Severity};
