//! Metrics, health and logs of the running operator. I/O: [`serve`] runs the HTTP server of `/livez`,
//! `/readyz` and `/metrics`; [`init_logging`] installs the global log subscriber. The rest is in-memory state.
//!
//! Metrics (Prometheus/OpenMetrics text via `prometheus-client`), all prefixed `conplus_`:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `conplus_reconciles_total` | counter | `result` = `success`/`failure` |
//! | `conplus_reconcile_failures_total` | counter | `category` (the error's `category()`) |
//! | `conplus_reconcile_duration_seconds` | histogram | |
//! | `conplus_onboardings` | gauge | `phase` |
//! | `conplus_ressort_budget_allocated` | gauge | `ressort`, `resource` |
//! | `conplus_ressort_budget_available` | gauge | `ressort`, `resource` |
//! | `conplus_conformance_findings` | gauge | `rule`, `ressort`, `severity` |
//! | `conplus_aufgabe_solutions` | gauge | `aufgabe` (the Fachverfahren that serve a Verwaltungsaufgabe) |
//! | `conplus_cost_monthly_euros` | gauge | `ressort` (with a price list in EUR) |
//!
//! Readiness follows linkerd/kubert: a replica is ready once its first watch sync is done, and a replica
//! that does not hold the Lease is ready without reconciling (it is a warm stand-by, not a broken pod).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// The content type of `/metrics`: OpenMetrics text, which Prometheus prefers and negotiates.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `result` label of a successful reconcile.
pub const RESULT_SUCCESS: &str = "success";
/// The `result` label of a failed reconcile.
pub const RESULT_FAILURE: &str = "failure";

type Labels1 = [(&'static str, String); 1];
type Labels2 = [(&'static str, String); 2];
type Labels3 = [(&'static str, String); 3];

/// The operator's metrics in one registry. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<Labels1, Counter>,
    failures: Family<Labels1, Counter>,
    duration: Histogram,
    onboardings: Family<Labels1, Gauge>,
    budget_allocated: Family<Labels2, Gauge<f64, std::sync::atomic::AtomicU64>>,
    budget_available: Family<Labels2, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// The (ressort, resource) series of the budget gauges, so that those of a deleted Ressort
    /// can be found and removed (a `Family` cannot list its labels).
    budget_series: std::sync::Mutex<std::collections::BTreeSet<(String, String)>>,
    findings: Family<Labels3, Gauge>,
    aufgabe_solutions: Family<Labels1, Gauge>,
    cost_monthly: Family<Labels1, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered and no samples yet.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<Labels1, Counter>::default();
        let failures = Family::<Labels1, Counter>::default();
        // 10 ms to ~41 s: a reconcile is a handful of API calls; the tail shows API trouble and timeouts.
        let duration = Histogram::new(exponential_buckets(0.01, 2.0, 13));
        let onboardings = Family::<Labels1, Gauge>::default();
        let budget_allocated = Family::default();
        let budget_available = Family::default();
        let findings = Family::<Labels3, Gauge>::default();
        let aufgabe_solutions = Family::<Labels1, Gauge>::default();
        let cost_monthly = Family::default();
        // Counters get their `_total` suffix from the encoder.
        registry.register(
            "conplus_reconciles",
            "Reconciles of FachverfahrenOnboardings by result",
            reconciles.clone(),
        );
        registry.register(
            "conplus_reconcile_failures",
            "Failed reconciles by error category",
            failures.clone(),
        );
        registry.register(
            "conplus_reconcile_duration_seconds",
            "Duration of one reconcile of a FachverfahrenOnboarding",
            duration.clone(),
        );
        registry.register(
            "conplus_onboardings",
            "FachverfahrenOnboardings by phase",
            onboardings.clone(),
        );
        registry.register(
            "conplus_ressort_budget_allocated",
            "Budget of a Ressort allocated to its onboardings (cpu in cores, memory and storage in bytes, counts as is)",
            budget_allocated.clone(),
        );
        registry.register(
            "conplus_ressort_budget_available",
            "Budget of a Ressort still available (same units as allocated)",
            budget_available.clone(),
        );
        registry.register(
            "conplus_conformance_findings",
            "Open conformance findings by rule, Ressort and severity",
            findings.clone(),
        );
        registry.register(
            "conplus_aufgabe_solutions",
            "Distinct Fachverfahren that serve a Verwaltungsaufgabe (more than 1: parallel solutions)",
            aufgabe_solutions.clone(),
        );
        registry.register(
            "conplus_cost_monthly_euros",
            "Monthly cost of a Ressort's onboardings from the price list, in euros (status.cost of the Ressort)",
            cost_monthly.clone(),
        );
        Self {
            registry,
            reconciles,
            failures,
            duration,
            onboardings,
            budget_allocated,
            budget_available,
            budget_series: Default::default(),
            findings,
            aufgabe_solutions,
            cost_monthly,
        }
    }

    /// Records one finished reconcile: its duration, its result, and on failure its error category.
    pub fn reconcile_finished(&self, duration: Duration, result: Result<(), &str>) {
        self.duration.observe(duration.as_secs_f64());
        let label = if result.is_ok() {
            RESULT_SUCCESS
        } else {
            RESULT_FAILURE
        };
        self.reconciles
            .get_or_create(&[("result", label.to_string())])
            .inc();
        if let Err(category) = result {
            self.failures
                .get_or_create(&[("category", category.to_string())])
                .inc();
        }
    }

    /// Replaces the onboardings-by-phase gauges: phases not listed disappear (no stale series).
    pub fn set_onboardings_by_phase(&self, counts: &[(String, i64)]) {
        self.onboardings.clear();
        for (phase, n) in counts {
            self.onboardings
                .get_or_create(&[("phase", phase.clone())])
                .set(*n);
        }
    }

    /// Sets the allocated and available amount of one resource of one Ressort.
    pub fn set_ressort_budget(
        &self,
        ressort: &str,
        resource: &str,
        allocated: f64,
        available: f64,
    ) {
        let labels = [
            ("ressort", ressort.to_string()),
            ("resource", resource.to_string()),
        ];
        // Under the lock, so that a concurrent removal cannot leave a series it did not see.
        let mut series = self.series();
        series.insert((ressort.to_string(), resource.to_string()));
        self.budget_allocated.get_or_create(&labels).set(allocated);
        self.budget_available.get_or_create(&labels).set(available);
    }

    fn series(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<(String, String)>> {
        // A panic elsewhere while holding the lock leaves a set that is still consistent.
        self.budget_series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets every budget series of a Ressort (it was deleted).
    pub fn remove_ressort(&self, ressort: &str) {
        self.retain_ressorts(|r| r != ressort);
    }

    /// Forgets the budget series of every Ressort for which `keep` is false: after a Ressort was
    /// deleted, or a relist showed which still exist.
    pub fn retain_ressorts(&self, keep: impl Fn(&str) -> bool) {
        let mut series = self.series();
        series.retain(|(ressort, resource)| {
            if keep(ressort) {
                return true;
            }
            let labels = [("ressort", ressort.clone()), ("resource", resource.clone())];
            self.budget_allocated.remove(&labels);
            self.budget_available.remove(&labels);
            self.cost_monthly.remove(&[("ressort", ressort.clone())]);
            false
        });
    }

    /// Sets how many distinct Fachverfahren serve the task `aufgabe`.
    pub fn set_aufgabe_solutions(&self, aufgabe: &str, fachverfahren: i64) {
        self.aufgabe_solutions
            .get_or_create(&[("aufgabe", aufgabe.to_string())])
            .set(fachverfahren);
    }

    /// Sets a Ressort's monthly cost in euros; `None` (no price list, or another currency) removes it.
    pub fn set_ressort_cost(&self, ressort: &str, euros: Option<f64>) {
        let labels = [("ressort", ressort.to_string())];
        match euros {
            Some(e) => {
                self.cost_monthly.get_or_create(&labels).set(e);
            }
            None => {
                self.cost_monthly.remove(&labels);
            }
        }
    }

    /// Forgets the series of a deleted task.
    pub fn remove_aufgabe(&self, aufgabe: &str) {
        self.aufgabe_solutions
            .remove(&[("aufgabe", aufgabe.to_string())]);
    }

    /// Replaces the whole set of conformance findings: `(rule, ressort, severity, count)`. Counts of the
    /// same labels are added up.
    pub fn set_conformance_findings(&self, findings: &[(String, String, String, i64)]) {
        self.findings.clear();
        for (rule, ressort, severity, count) in findings {
            let labels = [
                ("rule", rule.clone()),
                ("ressort", ressort.clone()),
                ("severity", severity.clone()),
            ];
            self.findings.get_or_create(&labels).inc_by(*count);
        }
    }

    /// The registry in OpenMetrics text format (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would mean a bug in a label, so the
        // partial text is still served rather than nothing.
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        out
    }
}

/// Liveness and readiness of this replica. Clones share the same state.
#[derive(Debug, Clone)]
pub struct Health {
    synced: Arc<AtomicBool>,
    leader: Arc<AtomicBool>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Not synced, and leader: without leader election every replica reconciles, so readiness waits for
    /// the first sync. [`crate::leader::run_as_leader`] sets `leader` to false while it waits for the Lease.
    pub fn new() -> Self {
        Self {
            synced: Arc::new(AtomicBool::new(false)),
            leader: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The first watch sync is done: the caches are complete and reconciles see the whole cluster.
    pub fn set_synced(&self) {
        self.synced.store(true, Ordering::Release);
    }

    /// The caches are gone (the reconciling work stopped); the next term must sync again.
    pub fn clear_synced(&self) {
        self.synced.store(false, Ordering::Release);
    }

    /// Whether this replica holds the Lease (or runs without leader election).
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Release);
    }

    /// Whether this replica holds the Lease.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// Ready: synced, or a stand-by that does not reconcile.
    pub fn is_ready(&self) -> bool {
        self.synced.load(Ordering::Acquire) || !self.is_leader()
    }

    /// Live: the process answers HTTP. A hung runtime cannot answer, which is what the probe detects;
    /// a failed watch is not a reason to restart (the watcher retries with back-off).
    pub fn is_live(&self) -> bool {
        true
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
}

/// The router of `/livez`, `/readyz` and `/metrics`.
pub fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { metrics, health })
}

async fn livez(State(s): State<AppState>) -> Response {
    if s.health.is_live() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not live\n").into_response()
    }
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.health.is_ready() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first watch sync\n",
        )
            .into_response()
    }
}

async fn metrics_handler(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        s.metrics.encode(),
    )
        .into_response()
}

/// Serves `/livez`, `/readyz` and `/metrics` on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TelemetryError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| TelemetryError::Bind { addr, source })?;
    serve_on(listener, metrics, health, shutdown).await
}

/// [`serve`] on a listener bound by the caller (tests bind port 0 and read the port back).
pub async fn serve_on(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TelemetryError> {
    axum::serve(listener, router(metrics, health))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(TelemetryError::Serve)
}

/// Errors of the HTTP server and of the log setup.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The address could not be bound.
    #[error("binding the metrics/health server to {addr}: {source}; choose another --metrics-addr")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("the metrics/health server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// `--log-format` is neither `plain` nor `json`.
    #[error("unknown log format {0:?}; use plain or json")]
    LogFormat(String),
    /// `--log-level` is not a tracing filter.
    #[error(
        "invalid log level {level:?}: {source}; use e.g. info or conplus_operator=debug,kube=info"
    )]
    LogLevel {
        /// The filter given.
        level: String,
        /// Why it does not parse.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was installed before.
    #[error("logging was already initialised")]
    AlreadyInitialised,
}

/// Timestamps as ISO-8601 in UTC with milliseconds: `2026-11-26T18:11:52.123Z`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IsoUtc;

impl tracing_subscriber::fmt::time::FormatTime for IsoUtc {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(
            w,
            "{}",
            jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        )
    }
}

/// A log subscriber writing to `writer` in `format` (`plain` or `json`) with the filter `level`.
pub fn log_subscriber<W>(
    format: &str,
    level: &str,
    writer: W,
) -> Result<Box<dyn tracing::Subscriber + Send + Sync>, TelemetryError>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|source| {
        TelemetryError::LogLevel {
            level: level.to_string(),
            source,
        }
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(IsoUtc)
        .with_writer(writer);
    match format {
        "plain" => Ok(Box::new(builder.with_ansi(false).finish())),
        // Flattened so that log shippers find `message` at the top level next to `timestamp` and `level`.
        "json" => Ok(Box::new(builder.json().flatten_event(true).finish())),
        other => Err(TelemetryError::LogFormat(other.to_string())),
    }
}

/// Installs the global log subscriber: stderr, `plain` or `json`, ISO-8601 UTC timestamps.
pub fn init_logging(format: &str, level: &str) -> Result<(), TelemetryError> {
    let subscriber = log_subscriber(format, level, std::io::stderr)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| TelemetryError::AlreadyInitialised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_reconcile_counts_as_failure_under_its_category() {
        let m = Metrics::new();
        m.reconcile_finished(Duration::from_millis(20), Ok(()));
        m.reconcile_finished(Duration::from_millis(30), Err("ApplyFailed"));
        let text = m.encode();
        assert!(
            text.contains("conplus_reconciles_total{result=\"success\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("conplus_reconciles_total{result=\"failure\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("conplus_reconcile_failures_total{category=\"ApplyFailed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("conplus_reconcile_duration_seconds_count 2"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn setting_phases_again_drops_phases_no_longer_present() {
        let m = Metrics::new();
        m.set_onboardings_by_phase(&[("Ready".into(), 3), ("Pending".into(), 1)]);
        m.set_onboardings_by_phase(&[("Ready".into(), 4)]);
        let text = m.encode();
        assert!(
            text.contains("conplus_onboardings{phase=\"Ready\"} 4"),
            "{text}"
        );
        assert!(
            !text.contains("phase=\"Pending\""),
            "stale phase kept: {text}"
        );
    }

    #[test]
    fn findings_replace_the_previous_set_and_add_up_duplicates() {
        let m = Metrics::new();
        let f = |r: &str, s: &str, n| (r.to_string(), "mk".to_string(), s.to_string(), n);
        m.set_conformance_findings(&[f("no-latest-tag", "error", 2)]);
        m.set_conformance_findings(&[
            f("run-as-non-root", "error", 1),
            f("run-as-non-root", "error", 2),
        ]);
        let text = m.encode();
        assert!(
            text.contains(
                "conplus_conformance_findings{rule=\"run-as-non-root\",ressort=\"mk\",severity=\"error\"} 3"
            ),
            "{text}"
        );
        assert!(!text.contains("no-latest-tag"), "{text}");
    }

    #[test]
    fn budget_gauges_carry_ressort_and_resource() {
        let m = Metrics::new();
        m.set_ressort_budget("mk", "cpu", 1.5, 2.5);
        let text = m.encode();
        assert!(
            text.contains("conplus_ressort_budget_allocated{ressort=\"mk\",resource=\"cpu\"} 1.5"),
            "{text}"
        );
        assert!(
            text.contains("conplus_ressort_budget_available{ressort=\"mk\",resource=\"cpu\"} 2.5"),
            "{text}"
        );
        m.remove_ressort("mk");
        assert!(!m.encode().contains("ressort=\"mk\""));
    }

    #[test]
    fn budget_gauges_of_ressorts_no_longer_kept_are_removed_and_the_others_stay() {
        let m = Metrics::new();
        for r in ["mk", "mi", "ms"] {
            m.set_ressort_budget(r, "cpu", 1.0, 1.0);
            m.set_ressort_budget(r, "pods", 3.0, 4.0);
        }
        m.retain_ressorts(|r| r == "mi");
        let text = m.encode();
        assert!(!text.contains("ressort=\"mk\""), "{text}");
        assert!(!text.contains("ressort=\"ms\""), "{text}");
        assert!(
            text.contains("conplus_ressort_budget_available{ressort=\"mi\",resource=\"pods\"} 4"),
            "{text}"
        );
        // Set again after removal: the series comes back.
        m.set_ressort_budget("mk", "cpu", 2.0, 0.0);
        assert!(m.encode().contains("ressort=\"mk\""));
    }

    #[test]
    fn a_leader_is_ready_only_after_sync_and_a_stand_by_is_ready_at_once() {
        let h = Health::new();
        assert!(
            !h.is_ready(),
            "a leader without synced caches must not be ready"
        );
        h.set_leader(false);
        assert!(h.is_ready(), "a stand-by is ready without reconciling");
        h.set_leader(true);
        h.clone().set_synced();
        assert!(h.is_ready(), "clones share state");
        h.clear_synced();
        assert!(!h.is_ready());
    }

    #[test]
    fn unknown_log_format_and_bad_level_are_refused() {
        assert!(matches!(
            log_subscriber("xml", "info", std::io::sink),
            Err(TelemetryError::LogFormat(_))
        ));
        assert!(matches!(
            log_subscriber("json", "info,=[", std::io::sink),
            Err(TelemetryError::LogLevel { .. })
        ));
    }
}
