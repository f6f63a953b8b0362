//! The errors of the pipeline (pure): one enum per step that can fail, each variant naming
//! the action that failed, wrapped by the driver's [`Error`]. The pure steps cannot fail:
//! what is wrong with an onboarding is a problem on its status, not an error.

use std::fmt;

/// A failed read of the observe step.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// Reading a namespace that is not in the store failed.
    #[error("reading namespace {name} failed: {source}")]
    ReadNamespace {
        /// The namespace.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// Reading one object by name failed.
    #[error("reading {what} failed: {source}")]
    Read {
        /// The object: `ClusterRole conplus:fvo:x:reader`.
        what: String,
        /// The API error.
        source: kube::Error,
    },
}

/// What a write was about, for error messages: `apply NetworkPolicy ns/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target(pub String);

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A failed write: of the apply step, of the status, of the finalizer.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The API refused or failed the write.
    #[error("{what} failed: {source}")]
    Api {
        /// What was written.
        what: Target,
        /// The API error.
        source: kube::Error,
    },
    /// The write took longer than its bound.
    #[error("{what} timed out")]
    Timeout {
        /// What was written.
        what: Target,
    },
    /// An object could not be turned into JSON or back (a bug).
    #[error("serialising an object failed: {0}")]
    Serialize(#[source] serde_json::Error),
}

impl WriteError {
    /// Whether the API answered 404 (the object is gone).
    pub fn is_not_found(&self) -> bool {
        matches!(self, WriteError::Api { source: kube::Error::Api(s), .. } if s.code == 404)
    }
}

/// A failed step of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Observe: a read failed.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// Finalizer, apply or status: a write failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A failed step as the Event, the metric and the status show it: the category is the Event's
/// reason, the metric's label and, with the error as its message, the reason of `Ready=False` (see
/// [`super::publish::on_failure`]).
pub trait Failure: fmt::Display {
    /// The category (`ApplyFailed`, `ObserveFailed`, `Timeout`, `Conflict`).
    fn category(&self) -> &'static str;
    /// Whether someone wrote in between: retried at once, nothing to show.
    fn is_conflict(&self) -> bool;
}

impl Failure for ObserveError {
    fn category(&self) -> &'static str {
        "ObserveFailed"
    }
    fn is_conflict(&self) -> bool {
        false
    }
}

impl Failure for WriteError {
    fn category(&self) -> &'static str {
        match self {
            e if e.is_conflict() => "Conflict",
            WriteError::Api { .. } => "ApplyFailed",
            WriteError::Timeout { .. } => "Timeout",
            WriteError::Serialize(_) => "InternalError",
        }
    }
    /// Whether the API answered 409 (someone wrote in between).
    fn is_conflict(&self) -> bool {
        matches!(self, WriteError::Api { source: kube::Error::Api(s), .. } if s.code == 409)
    }
}

impl Failure for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Observe(e) => e.category(),
            Error::Write(e) => e.category(),
        }
    }
    /// Whether someone wrote in between: retried at once, without back-off.
    fn is_conflict(&self) -> bool {
        matches!(self, Error::Write(e) if e.is_conflict())
    }
}
