//! Whether the cluster serves PolicyReports, as the reports step ([`super::reports`]) last
//! found out: kept in the context between rounds, so that a cluster without the CRD is asked
//! again only every [`RECHECK_SERVED`] and says so once in the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// How long the step trusts that PolicyReports are not served (or not writable) before asking
/// again.
pub const RECHECK_SERVED: Duration = Duration::from_secs(300);

/// Whether the cluster serves PolicyReports, as last found out, and when.
#[derive(Debug, Default)]
pub struct Memory {
    served: Mutex<Option<(bool, Instant)>>,
}

impl Memory {
    /// `Some(served)` while the last answer is to be trusted.
    pub(super) fn known(&self) -> Option<bool> {
        let last = *self.served.lock().unwrap_or_else(|p| p.into_inner());
        match last {
            Some((true, _)) => Some(true),
            Some((false, at)) if at.elapsed() < RECHECK_SERVED => Some(false),
            _ => None,
        }
    }

    /// Records whether PolicyReports are served; logs a change, so that it is said once.
    pub(super) fn set(&self, served: bool, why: &str) {
        let mut last = self.served.lock().unwrap_or_else(|p| p.into_inner());
        let before = last.map(|(s, _)| s);
        *last = Some((served, Instant::now()));
        drop(last);
        match (before, served) {
            (Some(false), true) | (None, true) => info!("PolicyReports are served: writing them"),
            (Some(true), false) | (None, false) => warn!(
                "PolicyReports are not written: {why}; install the CRD (chart value \
                 policyReports.installCRD, or deploy/policyreport-crd) — asked again every {}s",
                RECHECK_SERVED.as_secs()
            ),
            _ => {}
        }
    }
}
