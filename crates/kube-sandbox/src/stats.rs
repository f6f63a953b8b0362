//! Request counters and the bounded request log.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

/// One served request, as recorded in the request log.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// When the request arrived.
    pub time: SystemTime,
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// get, list, watch, create, update, patch, apply, delete, deletecollection, or `discovery`.
    pub verb: String,
    /// Plural resource (`configmaps`), empty for discovery.
    pub resource: String,
    /// `status`, `scale`, `finalize` or empty.
    pub subresource: String,
    /// Namespace in the path, or empty.
    pub namespace: String,
    /// Object name in the path, or empty.
    pub name: String,
    /// `User-Agent` header.
    pub user_agent: String,
    /// `fieldManager` query parameter, or empty.
    pub field_manager: String,
    /// HTTP status of the response (for a watch: of the response head).
    pub status: u16,
}

/// A snapshot of the request counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestStats {
    /// Every request, discovery included.
    pub total: u64,
    /// Requests per verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `apply`,
    /// `delete`, `deletecollection`, `discovery`).
    pub by_verb: BTreeMap<String, u64>,
    /// Requests per plural resource (`configmaps`; subresource writes count as `pods/status`).
    pub by_resource: BTreeMap<String, u64>,
}

impl RequestStats {
    /// Requests of one verb.
    pub fn verb(&self, verb: &str) -> u64 {
        self.by_verb.get(verb).copied().unwrap_or(0)
    }

    /// Requests for one resource.
    pub fn resource(&self, resource: &str) -> u64 {
        self.by_resource.get(resource).copied().unwrap_or(0)
    }

    /// Mutating requests: create, update, patch, apply, delete, deletecollection.
    pub fn writes(&self) -> u64 {
        [
            "create",
            "update",
            "patch",
            "apply",
            "delete",
            "deletecollection",
        ]
        .iter()
        .map(|v| self.verb(v))
        .sum()
    }
}

pub(crate) struct Recorder {
    stats: Mutex<RequestStats>,
    log: Mutex<VecDeque<RequestRecord>>,
    capacity: usize,
}

impl Recorder {
    pub fn new(capacity: usize) -> Self {
        Self {
            stats: Mutex::default(),
            log: Mutex::new(VecDeque::new()),
            capacity,
        }
    }

    pub fn record(&self, rec: RequestRecord) {
        if let Ok(mut s) = self.stats.lock() {
            s.total += 1;
            *s.by_verb.entry(rec.verb.clone()).or_default() += 1;
            if !rec.resource.is_empty() {
                let key = if rec.subresource.is_empty() {
                    rec.resource.clone()
                } else {
                    format!("{}/{}", rec.resource, rec.subresource)
                };
                *s.by_resource.entry(key).or_default() += 1;
            }
        }
        if let Ok(mut log) = self.log.lock() {
            if log.len() >= self.capacity {
                log.pop_front();
            }
            log.push_back(rec);
        }
    }

    pub fn stats(&self) -> RequestStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut s) = self.stats.lock() {
            *s = RequestStats::default();
        }
        if let Ok(mut log) = self.log.lock() {
            log.clear();
        }
    }

    pub fn log(&self) -> Vec<RequestRecord> {
        self.log
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}
