//! What every reconcile shares (no I/O of its own): the client, the stores, the settings,
//! the Event recorder, the metrics, and the per-onboarding memory of the runtime (failures
//! for back-off, conformance findings for the metrics).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::{Client, ResourceExt};

use super::admissions::Admissions;
use super::conformance::{Defaults, Live};
use super::events::Recorder;
use super::stores::Stores;
use crate::api::FachverfahrenOnboarding;
use crate::conformance::report::Report;
use crate::resources::PlatformSettings;
use crate::telemetry::{Health, Metrics};

/// How often a converged object is looked at again without any change.
pub const RESYNC: Duration = Duration::from_secs(300);

/// Findings of one rule in one Ressort at one severity: (rule, ressort, severity, count).
type FindingCount = (String, String, String, i64);

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The reflector stores.
    pub stores: Stores,
    /// Platform settings.
    pub settings: PlatformSettings,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Conformance settings of the platform, and the last evaluations.
    pub conformance: Live,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness.
    pub health: Health,
    /// The budget decisions of every Ressort, kept between reconciles and fed by the watches.
    pub admissions: Arc<Admissions>,
    /// Whether PolicyReports are served (see `reports`).
    pub reports: super::served::Memory,
    /// Consecutive failures per onboarding, for back-off.
    failures: Mutex<HashMap<String, u32>>,
    /// Conformance findings per onboarding and in total, for the metrics.
    findings: Mutex<Findings>,
    /// Onboardings whose last round wrote objects and left its status to the next round.
    deferred: Mutex<HashSet<String>>,
    /// The resourceVersions the rounds' status writes produced.
    pub status_writes: StatusWrites,
}

/// Per onboarding, the resourceVersion its last status write produced: the watch event of
/// that write needs no round of its own, since the round that wrote it saw everything before
/// it (a change by anyone else, even in the same instant, has another resourceVersion).
#[derive(Debug, Default)]
pub struct StatusWrites(Mutex<HashMap<String, String>>);

impl StatusWrites {
    /// The round wrote the status of `name`, which the API server stored as `resource_version`.
    pub fn record(&self, name: &str, resource_version: Option<String>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match resource_version {
            Some(rv) => map.insert(name.to_string(), rv),
            None => map.remove(name),
        };
    }

    /// Whether this watch event of an onboarding is the one its own status write produced, and
    /// nothing else. True once: the write is forgotten when its event came, so that the
    /// memory holds only writes whose events are still on their way.
    pub fn is_own(&self, fvo: &FachverfahrenOnboarding) -> bool {
        let (Some(name), Some(rv)) = (&fvo.metadata.name, &fvo.metadata.resource_version) else {
            return false;
        };
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(name) != Some(rv) {
            return false;
        }
        map.remove(name);
        true
    }
}

/// Conformance findings per onboarding, and their totals by (rule, ressort, severity).
#[derive(Default)]
struct Findings {
    of: HashMap<String, Vec<FindingCount>>,
    totals: BTreeMap<(String, String, String), i64>,
}

impl Context {
    /// A context with no failures or findings recorded yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        stores: Stores,
        admissions: Arc<Admissions>,
        settings: PlatformSettings,
        recorder: Recorder,
        conformance: Defaults,
        metrics: Arc<Metrics>,
        health: Health,
    ) -> Self {
        Context {
            client,
            stores,
            settings,
            recorder,
            conformance: Live::new(conformance),
            metrics,
            health,
            admissions,
            reports: Default::default(),
            failures: Mutex::new(HashMap::new()),
            findings: Mutex::new(Findings::default()),
            deferred: Mutex::new(HashSet::new()),
            status_writes: StatusWrites::default(),
        }
    }
    /// Counts one more consecutive failure of `name`; returns the count.
    pub fn record_failure(&self, name: &str) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(name.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// `name` reconciled without error: its back-off starts over.
    pub fn clear_failures(&self, name: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Whether the status of a round of `name` that wrote objects may wait for the next round:
    /// the watch events of those writes bring it, and it sees the objects written and
    /// evaluates conformance, so one status write serves both rounds. Once only: when the
    /// next round writes again (someone keeps changing an object), its status is written.
    pub fn defer_status(&self, name: &str) -> bool {
        self.deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string())
    }

    /// The status of `name` is current: the next round that writes may defer it again.
    pub fn status_current(&self, name: &str) {
        self.deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Keeps this onboarding's findings for the metrics and republishes the totals.
    pub fn record_findings(&self, fvo: &FachverfahrenOnboarding, report: &Report) {
        let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
        for f in &report.findings {
            *counts
                .entry((f.rule.as_str().to_string(), f.severity.as_str().to_string()))
                .or_default() += 1;
        }
        let ressort = fvo.spec.ressort.clone();
        let mine = counts
            .into_iter()
            .map(|((rule, sev), n)| (rule, ressort.clone(), sev, n))
            .collect();
        let mut all = self.findings.lock().unwrap_or_else(|p| p.into_inner());
        let Findings { of, totals } = &mut *all;
        // The totals change by what this onboarding's findings changed: no recount of all.
        let old = of.insert(fvo.name_any(), mine).unwrap_or_default();
        for ((rule, ressort, sev, n), sign) in old.into_iter().map(|f| (f, -1)).chain(
            of.get(&fvo.name_any())
                .into_iter()
                .flatten()
                .cloned()
                .map(|f| (f, 1)),
        ) {
            let key = (rule, ressort, sev);
            let total = totals.entry(key.clone()).or_default();
            *total += sign * n;
            if *total == 0 {
                totals.remove(&key);
            }
        }
        let flat: Vec<_> = totals
            .iter()
            .map(|((r, ress, s), n)| (r.clone(), ress.clone(), s.clone(), *n))
            .collect();
        self.metrics.set_conformance_findings(&flat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::moin_schule;

    fn at(name: &str, rv: &str) -> FachverfahrenOnboarding {
        let mut fvo = moin_schule();
        fvo.metadata.name = Some(name.into());
        fvo.metadata.resource_version = Some(rv.into());
        fvo
    }

    #[test]
    fn only_the_event_of_the_own_status_write_is_skipped_and_only_once() {
        let writes = StatusWrites::default();
        writes.record("a", Some("7".into()));
        // Someone else's change of the onboarding (or one of another onboarding) brings a round.
        assert!(!writes.is_own(&at("a", "6")));
        assert!(!writes.is_own(&at("b", "7")));
        // The event of the write itself does not, once.
        assert!(writes.is_own(&at("a", "7")));
        assert!(!writes.is_own(&at("a", "7")));
    }

    #[test]
    fn a_later_write_replaces_the_earlier_and_an_unknown_version_forgets_it() {
        let writes = StatusWrites::default();
        writes.record("a", Some("7".into()));
        writes.record("a", Some("9".into()));
        assert!(!writes.is_own(&at("a", "7")));
        assert!(writes.is_own(&at("a", "9")));
        writes.record("a", Some("11".into()));
        writes.record("a", None);
        assert!(!writes.is_own(&at("a", "11")));
    }
}
