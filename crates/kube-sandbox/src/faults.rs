//! Fault injection driven from test code: fail or delay matching requests, close watches,
//! compact the watch history.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::Store;

/// What a matching request suffers.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP status (as a `metav1.Status` of the matching reason).
    Fail {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Wait this long, then serve the request normally.
    Delay(Duration),
}

#[derive(Debug, Clone, PartialEq)]
enum Limit {
    Forever,
    Times(u64),
    For(Duration),
}

/// A fault rule, built like `Fault::new().verb("create").resource("configmaps").status(500).times(2)`.
/// Every matcher is optional; an unconfigured fault fails every request with 500, forever.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    verb: Option<String>,
    resource: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    action: FaultAction,
    limit: Limit,
}

impl Default for Fault {
    fn default() -> Self {
        Self::new()
    }
}

impl Fault {
    /// A fault matching every request, failing it with 500 until cleared.
    pub fn new() -> Self {
        Self {
            verb: None,
            resource: None,
            namespace: None,
            name: None,
            action: FaultAction::Fail {
                status: 500,
                retry_after: None,
            },
            limit: Limit::Forever,
        }
    }

    /// Match only this verb: get, list, watch, create, update, patch, apply, delete, deletecollection.
    pub fn verb(mut self, verb: impl Into<String>) -> Self {
        self.verb = Some(verb.into());
        self
    }

    /// Match only this resource (plural, e.g. `configmaps`; `status` writes count as their resource).
    pub fn resource(mut self, plural: impl Into<String>) -> Self {
        self.resource = Some(plural.into());
        self
    }

    /// Match only requests in this namespace.
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Match only requests for the object of this name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Fail with this HTTP status (500, 429, 409, 503, ...).
    pub fn status(mut self, status: u16) -> Self {
        let retry_after = match self.action {
            FaultAction::Fail { retry_after, .. } => retry_after,
            FaultAction::Delay(_) => None,
        };
        self.action = FaultAction::Fail {
            status,
            retry_after,
        };
        self
    }

    /// Send `Retry-After: secs` (and `details.retryAfterSeconds`) with the failure.
    pub fn retry_after(mut self, secs: u64) -> Self {
        let status = match self.action {
            FaultAction::Fail { status, .. } => status,
            FaultAction::Delay(_) => 429,
        };
        self.action = FaultAction::Fail {
            status,
            retry_after: Some(secs),
        };
        self
    }

    /// Delay matching requests by `d` instead of failing them.
    pub fn delay(mut self, d: Duration) -> Self {
        self.action = FaultAction::Delay(d);
        self
    }

    /// Apply to the next `n` matching requests only.
    pub fn times(mut self, n: u64) -> Self {
        self.limit = Limit::Times(n);
        self
    }

    /// Apply for `d` from the moment it is injected.
    pub fn for_duration(mut self, d: Duration) -> Self {
        self.limit = Limit::For(d);
        self
    }

    fn matches(&self, req: &FaultTarget<'_>) -> bool {
        let m = |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w == got);
        m(&self.verb, req.verb)
            && m(&self.resource, req.resource)
            && m(&self.namespace, req.namespace)
            && m(&self.name, req.name)
    }
}

/// The request facts a fault matches on.
pub(crate) struct FaultTarget<'a> {
    pub verb: &'a str,
    pub resource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

#[derive(Debug)]
struct Rule {
    fault: Fault,
    remaining: Option<u64>,
    until: Option<Instant>,
}

/// A cheap, cloneable handle to the sandbox's fault injection.
#[derive(Clone)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Rule>>>,
    store: Arc<Store>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Faults {
    pub(crate) fn new(store: Arc<Store>) -> Self {
        Self {
            rules: Arc::default(),
            store,
        }
    }

    /// Adds a fault rule; rules are checked in the order injected, the first live match applies.
    pub fn inject(&self, fault: Fault) {
        let (remaining, until) = match fault.limit {
            Limit::Forever => (None, None),
            Limit::Times(n) => (Some(n), None),
            Limit::For(d) => (None, Some(Instant::now() + d)),
        };
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(Rule {
                fault,
                remaining,
                until,
            });
        }
    }

    /// Removes every fault rule.
    pub fn clear(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    /// Ends every open watch stream (clients see the stream end, as on an apiserver restart).
    pub fn close_watches(&self) {
        self.store.close_watches();
    }

    /// Forgets the watch history: a watch or a paged list from an older resourceVersion gets
    /// 410 Gone, as after an etcd compaction.
    pub fn compact(&self) {
        self.store.compact();
    }

    /// The action for a request, consuming one use of a counted rule.
    pub(crate) fn check(&self, target: &FaultTarget<'_>) -> Option<FaultAction> {
        let mut rules = self.rules.lock().ok()?;
        let now = Instant::now();
        rules.retain(|r| r.remaining != Some(0) && r.until.is_none_or(|u| u > now));
        let rule = rules.iter_mut().find(|r| r.fault.matches(target))?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        Some(rule.fault.action.clone())
    }
}
