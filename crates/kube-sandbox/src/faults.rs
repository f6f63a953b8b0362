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
    /// The share of matching requests affected (1.0: all).
    rate: f64,
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
            rate: 1.0,
        }
    }

    /// Affect only this share of the matching requests, at random (0.0 to 1.0; e.g. 0.05 fails
    /// one request in twenty).
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate.clamp(0.0, 1.0);
        self
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
        let rule = rules.iter_mut().find(|r| {
            r.fault.matches(target)
                && (r.fault.rate >= 1.0 || rand::random_bool(r.fault.rate.clamp(0.0, 1.0)))
        })?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        Some(rule.fault.action.clone())
    }
}

/// Why a fault specification could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultSpecError {
    /// A part is not `key=value`.
    #[error("fault rule {rule:?}: {part:?} is not key=value")]
    NotKeyValue { rule: String, part: String },
    /// A key no rule knows.
    #[error(
        "fault rule {rule:?}: unknown key {key:?}; known: verb, resource, namespace, name, status, retry-after, delay, rate, times, for, watch-cut, compact"
    )]
    UnknownKey { rule: String, key: String },
    /// A value of the wrong form.
    #[error("fault rule {rule:?}: {key}={value:?} {expected}")]
    BadValue {
        rule: String,
        key: String,
        value: String,
        expected: &'static str,
    },
}

/// Faults described as text, for a sandbox started from the command line: rules separated by
/// `;`, each a comma-separated list of `key=value`.
///
/// - a request rule: `verb=update,resource=configmaps,status=409,rate=0.1` (matchers `verb`,
///   `resource`, `namespace`, `name`; effect `status=CODE` (default 500), `retry-after=SECS` or
///   `delay=DURATION`; extent `rate=0..1`, `times=N`, `for=DURATION`);
/// - `watch-cut=DURATION`: every open watch is ended at that interval;
/// - `compact=DURATION`: the watch history is forgotten at that interval (410 Gone for older
///   resourceVersions).
///
/// Durations are `500ms`, `30s`, `2m` or plain seconds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultPlan {
    /// Request rules, in order.
    pub rules: Vec<Fault>,
    /// Interval of watch cuts.
    pub watch_cut: Option<Duration>,
    /// Interval of compactions.
    pub compact: Option<Duration>,
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

impl FaultPlan {
    /// Reads a specification (see the type's documentation).
    pub fn parse(spec: &str) -> Result<Self, FaultSpecError> {
        let mut plan = FaultPlan::default();
        for rule in spec.split(';').map(str::trim).filter(|r| !r.is_empty()) {
            let mut fault = Fault::new();
            let mut is_request_rule = false;
            for part in rule.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((key, value)) = part.split_once('=') else {
                    return Err(FaultSpecError::NotKeyValue {
                        rule: rule.into(),
                        part: part.into(),
                    });
                };
                let (key, value) = (key.trim(), value.trim());
                let bad = |expected: &'static str| FaultSpecError::BadValue {
                    rule: rule.into(),
                    key: key.into(),
                    value: value.into(),
                    expected,
                };
                let duration =
                    || parse_duration(value).ok_or_else(|| bad("is no duration (500ms, 30s, 2m)"));
                match key {
                    "watch-cut" => plan.watch_cut = Some(duration()?),
                    "compact" => plan.compact = Some(duration()?),
                    _ => {
                        is_request_rule = true;
                        fault = match key {
                            "verb" => fault.verb(value),
                            "resource" => fault.resource(value),
                            "namespace" => fault.namespace(value),
                            "name" => fault.name(value),
                            "status" => fault.status(
                                value
                                    .parse()
                                    .ok()
                                    .filter(|c| (400..600).contains(c))
                                    .ok_or_else(|| bad("is no HTTP error status (400-599)"))?,
                            ),
                            "retry-after" => fault.retry_after(
                                value.parse().map_err(|_| bad("is no number of seconds"))?,
                            ),
                            "delay" => fault.delay(duration()?),
                            "rate" => fault.rate(
                                value
                                    .parse::<f64>()
                                    .ok()
                                    .filter(|r| (0.0..=1.0).contains(r))
                                    .ok_or_else(|| bad("is no share between 0 and 1"))?,
                            ),
                            "times" => fault.times(value.parse().map_err(|_| bad("is no count"))?),
                            "for" => fault.for_duration(duration()?),
                            _ => {
                                return Err(FaultSpecError::UnknownKey {
                                    rule: rule.into(),
                                    key: key.into(),
                                });
                            }
                        };
                    }
                }
            }
            if is_request_rule {
                plan.rules.push(fault);
            }
        }
        Ok(plan)
    }

    /// Injects the request rules and starts the periodic watch cuts and compactions (stopped by
    /// aborting the returned task, or with the runtime).
    pub fn install(&self, faults: &Faults) -> tokio::task::JoinHandle<()> {
        for rule in &self.rules {
            faults.inject(rule.clone());
        }
        let (faults, cut, compact) = (faults.clone(), self.watch_cut, self.compact);
        tokio::spawn(async move {
            let tick = |d: Option<Duration>| {
                let mut i = tokio::time::interval(d.unwrap_or(Duration::from_secs(3600)));
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            };
            let (mut cut_tick, mut compact_tick) = (tick(cut), tick(compact));
            // An interval fires at once; the first cut comes one period after start.
            cut_tick.tick().await;
            compact_tick.tick().await;
            loop {
                tokio::select! {
                    _ = cut_tick.tick(), if cut.is_some() => faults.close_watches(),
                    _ = compact_tick.tick(), if compact.is_some() => faults.compact(),
                    else => return,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_spec_reads_request_rules_watch_cuts_and_compactions() {
        let plan = FaultPlan::parse(
            "verb=update,resource=configmaps,status=409,rate=0.25; watch-cut=30s; compact=2m; verb=list,delay=500ms,times=3",
        )
        .unwrap();
        assert_eq!(
            plan.rules,
            vec![
                Fault::new()
                    .verb("update")
                    .resource("configmaps")
                    .status(409)
                    .rate(0.25),
                Fault::new()
                    .verb("list")
                    .delay(Duration::from_millis(500))
                    .times(3),
            ]
        );
        assert_eq!(plan.watch_cut, Some(Duration::from_secs(30)));
        assert_eq!(plan.compact, Some(Duration::from_secs(120)));
    }

    #[test]
    fn a_fault_spec_names_what_is_wrong() {
        assert!(matches!(
            FaultPlan::parse("verb=get,status=200"),
            Err(FaultSpecError::BadValue { .. })
        ));
        assert!(matches!(
            FaultPlan::parse("color=red"),
            Err(FaultSpecError::UnknownKey { .. })
        ));
        assert!(matches!(
            FaultPlan::parse("watch-cut"),
            Err(FaultSpecError::NotKeyValue { .. })
        ));
        assert!(matches!(
            FaultPlan::parse("rate=2"),
            Err(FaultSpecError::BadValue { .. })
        ));
    }
}
