//! What the controllers that summarise onboardings on another resource share (the Ressort's budget,
//! the Verwaltungsaufgabe's inventory): where their objects come from, the status write when it
//! changed, and the error policy.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::warn;

use super::error::{Error, Failure, Target, WriteError};
use crate::resources::FIELD_MANAGER;

/// Where a summarising controller gets the objects it reconciles.
pub enum Source<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// The onboarding controller's watch of every object, and a follower of it (no selector:
    /// the objects reconciled are the objects read).
    Shared(Store<K>, super::shared::Follower<K>),
    /// A watch of its own with this configuration: with a selector, an instance summarises only
    /// the objects it selects, since it sees only the onboardings it selects.
    Own(watcher::Config),
}

/// The controller over `source`; `on_event` sees every event of an own watch after its store
/// applied it (a deleted object is never reconciled again: what goes with it goes there).
pub fn controller<K>(
    client: Client,
    source: Source<K>,
    mut on_event: impl FnMut(&watcher::Event<K>, &Store<K>) + Send + 'static,
) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    match source {
        Source::Shared(store, changed) => Controller::for_shared_stream(changed, store),
        Source::Own(selected) => {
            let (store, writer) = reflector::store();
            let known = store.clone();
            let stream = watcher(Api::<K>::all(client), selected)
                .default_backoff()
                .reflect(writer)
                .inspect_ok(move |event| on_event(event, &known))
                .applied_objects();
            Controller::for_stream(stream, store)
        }
    }
}

/// Writes `status` on the cluster-scoped `obj` by server-side apply when it differs from `current`.
pub async fn write_status_if_changed<K, S>(
    client: &Client,
    obj: &K,
    current: Option<&S>,
    status: &S,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(());
    }
    let name = obj.name_any();
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    Api::<K>::all(client.clone())
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|source| WriteError::Api {
            what: Target(format!("status of {} {name}", K::kind(&()))),
            source,
        })?;
    Ok(())
}

/// Logs a failed reconcile and tries again in five seconds (the next burst of changes, or the
/// resync, brings the object back anyway).
pub fn error_policy<K: Resource<DynamicType = ()>, C>(
    obj: Arc<K>,
    error: &Error,
    _ctx: Arc<C>,
) -> Action {
    warn!(
        kind = %K::kind(&()),
        name = %obj.name_any(),
        category = error.category(),
        "reconcile failed: {error}"
    );
    Action::requeue(Duration::from_secs(5))
}
