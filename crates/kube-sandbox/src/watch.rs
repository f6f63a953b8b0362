//! Watch streams: newline-delimited JSON events, resumable from a resourceVersion within the
//! retained history, with bookmarks, initial events, selectors and timeouts.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::api::{Target, to_version};
use crate::list::{Render, partial_metadata};
use crate::registry::GroupResource;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Event, EventType, Store};

/// The watch query parameters.
#[derive(Debug, Clone, Default)]
pub struct WatchOpts {
    pub resource_version: Option<String>,
    pub allow_bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
}

struct Filter {
    target: Target,
    opts: WatchOpts,
    render: Render,
    /// Where the target's objects are stored: every watcher sees every event and keeps those
    /// of this key, so it is computed once, not per event.
    key: GroupResource,
}

impl Filter {
    fn selected(&self, obj: &Value) -> bool {
        let ns_ok = !self.target.def.namespaced
            || self.target.namespace.is_empty()
            || crate::meta::namespace_of(obj) == self.target.namespace;
        ns_ok && self.opts.label_selector.matches(obj) && self.opts.field_selector.matches(obj)
    }

    /// The event this watcher sees for a change, if any (objects moving across the
    /// selector boundary appear as ADDED / DELETED).
    fn translate(&self, ev: &Event) -> Option<(EventType, Arc<Value>)> {
        if ev.gr != self.key {
            return None;
        }
        let now = self.selected(&ev.object);
        let before = ev.old.as_ref().is_some_and(|o| self.selected(o));
        match ev.kind {
            EventType::Added => now.then_some((EventType::Added, ev.object.clone())),
            EventType::Deleted => {
                (before || now).then_some((EventType::Deleted, ev.object.clone()))
            }
            EventType::Modified => match (before, now) {
                (true, true) => Some((EventType::Modified, ev.object.clone())),
                (false, true) => Some((EventType::Added, ev.object.clone())),
                (true, false) => Some((EventType::Deleted, ev.object.clone())),
                (false, false) => None,
            },
        }
    }

    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        let object = match self.render {
            Render::Metadata => partial_metadata(obj),
            // `kubectl get -w`: each event carries a one-row Table.
            Render::Table => {
                let rv = crate::meta::rv_of(obj).parse().unwrap_or(0);
                crate::table::table(
                    &self.target.def,
                    &self.target.version,
                    &[Arc::new(obj.clone())],
                    rv,
                    None,
                    "Metadata",
                )
            }
            Render::Full
                if self.target.version == self.target.def.version
                    && !crate::events::is_view(&self.target.def) =>
            {
                return event_line(kind, obj);
            }
            Render::Full => to_version(&self.target.def, obj, &self.target.version),
        };
        event_line(kind, &object)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let def = &self.target.def;
        let (kind, av) = match self.render {
            Render::Metadata => (
                "PartialObjectMetadata".to_string(),
                "meta.k8s.io/v1".to_string(),
            ),
            _ => (
                def.kind.clone(),
                crate::registry::api_version(&def.group, &self.target.version),
            ),
        };
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let mut s = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": av, "metadata": meta}}).to_string();
        s.push('\n');
        Bytes::from(s)
    }
}

/// `{"object":…,"type":…}` and a newline: the bytes `json!({"type": kind, "object": obj})` gives
/// (keys in order), written straight from the stored object instead of from a copy of it.
fn event_line(kind: &str, obj: &Value) -> Bytes {
    const HEAD: &[u8] = b"{\"object\":";
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(HEAD);
    if crate::stored::write_json(&mut out, obj).is_err() {
        // Writing a `Value` into memory does not fail; should it, the line still parses.
        out.truncate(HEAD.len());
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"type\":");
    if serde_json::to_writer(&mut out, kind).is_err() {
        out.extend_from_slice(b"\"\"");
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn error_line(err: &ApiError) -> Bytes {
    let mut s = json!({"type": "ERROR", "object": err.to_status()}).to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Starts a watch; the returned body streams events until timeout, close or disconnect.
pub fn start(store: Arc<Store>, target: Target, opts: WatchOpts, render: Render) -> Body {
    let key = target.def.storage_key();
    let filter = Filter {
        target,
        opts,
        render,
        key,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial: Vec<Bytes> = Vec::new();
    let mut gone = false;
    let (rv, receiver) = {
        let st = store.read();
        let receiver = store.subscribe();
        let from = filter
            .opts
            .resource_version
            .as_deref()
            .filter(|r| !r.is_empty() && *r != "0");
        if filter.opts.send_initial_events || from.is_none() {
            let ns = (filter.target.def.namespaced && !filter.target.namespace.is_empty())
                .then_some(filter.target.namespace.as_str());
            for obj in st.list(&filter.key, ns) {
                if filter.selected(&obj) {
                    initial.push(filter.line("ADDED", &obj));
                }
            }
            if filter.opts.send_initial_events {
                initial.push(filter.bookmark(st.rv, true));
            }
        } else if let Some(from) = from {
            match from.parse::<u64>() {
                Ok(from_rv) => match st.events_since(&filter.key, from_rv) {
                    Some(events) => {
                        for ev in events {
                            if let Some((kind, obj)) = filter.translate(&ev) {
                                initial.push(filter.line(kind.as_str(), &obj));
                            }
                        }
                    }
                    None => {
                        initial.push(error_line(&ApiError::gone(format!(
                            "too old resource version: {from_rv} ({})",
                            st.compacted_rv + 1
                        ))));
                        gone = true;
                    }
                },
                Err(_) => {
                    initial.push(error_line(&ApiError::bad_request(format!(
                        "resourceVersion: Invalid value: \"{from}\": must be a non-negative integer"
                    ))));
                    gone = true;
                }
            }
        }
        (st.rv, receiver)
    };
    let closer = store.closer();
    tokio::spawn(run(store, filter, tx, initial, gone, rv, receiver, closer));
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }))
}

#[allow(clippy::too_many_arguments)]
async fn run(
    store: Arc<Store>,
    filter: Filter,
    tx: mpsc::Sender<Bytes>,
    initial: Vec<Bytes>,
    gone: bool,
    start_rv: u64,
    mut receiver: broadcast::Receiver<Arc<Event>>,
    mut closer: tokio::sync::watch::Receiver<u64>,
) {
    for line in initial {
        if tx.send(line).await.is_err() {
            return;
        }
    }
    if gone {
        return;
    }
    let mut last_rv = start_rv;
    let deadline = filter.opts.timeout.map(|d| tokio::time::Instant::now() + d);
    let mut bookmarks = tokio::time::interval(store.bookmark_interval);
    bookmarks.tick().await;
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => return,
            _ = closer.changed() => return,
            _ = tx.closed() => return,
            _ = bookmarks.tick(), if filter.opts.allow_bookmarks => {
                // Drain what is already sent, under the lock, so the bookmark's version
                // does not skip an event still queued for this watcher.
                let (pending, rv) = {
                    let st = store.read();
                    let mut pending = Vec::new();
                    loop {
                        match receiver.try_recv() {
                            Ok(ev) => pending.push(ev),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                                let _ = tx.try_send(error_line(&ApiError::gone("too old resource version: watch fell behind")));
                                return;
                            }
                            Err(_) => break,
                        }
                    }
                    (pending, st.rv)
                };
                for ev in pending {
                    last_rv = ev.rv;
                    if let Some((kind, obj)) = filter.translate(&ev)
                        && tx.send(filter.line(kind.as_str(), &obj)).await.is_err()
                    {
                        return;
                    }
                }
                last_rv = last_rv.max(rv);
                if tx.send(filter.bookmark(last_rv, false)).await.is_err() {
                    return;
                }
            }
            ev = receiver.recv() => match ev {
                Ok(ev) => {
                    if ev.rv <= last_rv {
                        continue;
                    }
                    last_rv = ev.rv;
                    if let Some((kind, obj)) = filter.translate(&ev)
                        && tx.send(filter.line(kind.as_str(), &obj)).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = tx.send(error_line(&ApiError::gone(format!("too old resource version: {last_rv} (watch fell behind)")))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_line_is_byte_identical_to_serialising_the_event_object() {
        let obj = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a\"b", "namespace": "ns", "labels": {"z": "1", "a": "ä\n"}},
            "data": {"k": "line\tone\u{1}", "n": "3"},
            "list": [1, 2.5, null, true, {"b": [], "a": {}}]
        });
        for kind in ["ADDED", "MODIFIED", "DELETED"] {
            let mut expected = json!({"type": kind, "object": obj}).to_string();
            expected.push('\n');
            assert_eq!(event_line(kind, &obj), Bytes::from(expected));
        }
    }
}
