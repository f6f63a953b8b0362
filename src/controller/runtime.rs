//! The runtime (I/O): opens the watches, wires the controllers to them and runs them until
//! shutdown; the error policy and the measured reconcile.
//!
//! The onboarding, Ressort and task watches are opened once and followed by every controller
//! that needs them ([`Shared`]); every other watch feeds one store and its index. Adding a
//! controller means: its `reconcile` of the same shape as [`super::pipeline::reconcile`],
//! following the shared watches it needs here, and joining it in [`run`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::Api;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::warn;

use super::admissions::Admissions;
use super::conformance::Defaults;
use super::context::Context;
use super::error::{Error, Failure};
use super::events::Recorder;
use super::pipeline::reconcile;
use super::shared::Shared;
use super::stores::{
    self, Index, NoSharedBackoff, Stores, WorkloadStores, keep, owned_stream, owner_of, ressort_of,
    trim_quota,
};
use super::sync::SyncTracker;
use super::{aufgabe, events, reports, ressort};
use crate::api::{ConformanceProfile, FachverfahrenOnboarding, Ressort, Verwaltungsaufgabe};
use crate::resources::{MANAGED_SELECTOR, PlatformSettings};
use crate::telemetry::{Health, Metrics};

/// Objects a shared watch may have handed out that a follower has not taken yet; the watch
/// waits when a follower lags this far behind. The objects waiting are kept alive until taken
/// (seven followers, each usually empty).
const SHARED_BUFFER: usize = 1024;

/// Options of the controller.
#[derive(Clone)]
pub struct Options {
    /// Platform settings.
    pub settings: PlatformSettings,
    /// The reporting instance in Events (the pod name).
    pub instance: String,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Conformance settings of the platform.
    pub conformance: Defaults,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness (set once every watch has synced).
    pub health: Health,
    /// The ConfigMap (namespace, name) of the price list that turns allocated quotas into a monthly
    /// cost (`status.cost`); no cost is shown without one.
    pub prices: Option<(String, String)>,
    /// A label selector (`key=value,…`): only the onboardings and Ressorts it selects are
    /// reconciled (canaries, sharding, tests sharing a cluster); Ressort budgets are read
    /// whatever their labels. `None`: all.
    pub watch_selector: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: PlatformSettings::default(),
            instance: "conplus-operator".into(),
            concurrency: 8,
            conformance: Defaults::default(),
            metrics: Arc::new(Metrics::new()),
            health: Health::new(),
            watch_selector: None,
            prices: None,
        }
    }
}

impl Options {
    /// The watch configuration of the objects this instance reconciles.
    fn selected(&self) -> watcher::Config {
        match &self.watch_selector {
            Some(selector) => stores::list_config().labels(selector),
            None => stores::list_config(),
        }
    }
}

/// [`reconcile`], measured: duration and result go to the metrics.
async fn reconcile_measured(
    fvo: Arc<FachverfahrenOnboarding>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = reconcile(fvo, ctx.clone()).await;
    ctx.metrics.reconcile_finished(
        started.elapsed(),
        result.as_ref().map(|_| ()).map_err(Failure::category),
    );
    result
}

/// The onboardings by phase, for the metrics, kept from the onboarding watch's events (a
/// recount of the whole store after every reconcile grew with the cluster).
#[derive(Default)]
struct Phases {
    of: HashMap<String, String>,
    counts: BTreeMap<String, i64>,
}

impl Phases {
    fn phase_of(o: &FachverfahrenOnboarding) -> String {
        let phase = o.status.as_ref().and_then(|s| s.phase).unwrap_or_default();
        format!("{phase:?}")
    }

    fn set(&mut self, name: String, phase: Option<String>) {
        let old = match phase {
            Some(p) => {
                *self.counts.entry(p.clone()).or_default() += 1;
                self.of.insert(name, p)
            }
            None => self.of.remove(&name),
        };
        if let Some(old) = old
            && let Some(n) = self.counts.get_mut(&old)
        {
            *n -= 1;
            if *n <= 0 {
                self.counts.remove(&old);
            }
        }
    }

    /// Follows one event of the onboarding watch; publishes when a count changed.
    fn follow(
        &mut self,
        store: &Store<FachverfahrenOnboarding>,
        event: &watcher::Event<FachverfahrenOnboarding>,
        metrics: &Metrics,
    ) {
        let before = self.counts.clone();
        match event {
            watcher::Event::Apply(o) => self.set(o.name_any(), Some(Self::phase_of(o))),
            watcher::Event::Delete(o) => self.set(o.name_any(), None),
            watcher::Event::InitDone => {
                *self = Phases::default();
                for o in store.state() {
                    self.set(o.name_any(), Some(Self::phase_of(&o)));
                }
            }
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
        if self.counts != before {
            let counts: Vec<_> = self.counts.iter().map(|(p, n)| (p.clone(), *n)).collect();
            metrics.set_onboardings_by_phase(&counts);
        }
    }
}

/// A Ressort's uid and generation.
type RessortVersion = (Option<String>, Option<i64>);

/// Which onboardings a change of a Ressort concerns. Its spec (the budget) concerns every
/// onboarding of it. Its status changes whenever an onboarding's allocation does; that
/// concerns only the onboardings whose admission depends on the others (see
/// [`depends_on_others`]) — requeueing all of them after every allocation change made a
/// thousand reconciles of every spec change in a Ressort of a thousand onboardings.
struct RessortChanges {
    by_ressort: Index<FachverfahrenOnboarding>,
    /// The uid and generation last seen per Ressort (a Ressort recreated under its name
    /// starts at the same generation).
    seen: std::sync::Mutex<HashMap<String, RessortVersion>>,
}

impl RessortChanges {
    fn new(by_ressort: Index<FachverfahrenOnboarding>) -> Self {
        RessortChanges {
            by_ressort,
            seen: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn concerned(&self, ressort: &Ressort) -> Vec<ObjectRef<FachverfahrenOnboarding>> {
        let name = ressort.name_any();
        let version = (ressort.metadata.uid.clone(), ressort.metadata.generation);
        let spec_changed = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), version.clone())
            != Some(version);
        self.by_ressort
            .get(&name)
            .iter()
            .filter(|o| spec_changed || depends_on_others(o))
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect()
    }
}

/// The tasks the onboarding controller has seen, with their uid: onboardings care only that
/// their task exists, so a task's own status writes (one per burst of its onboardings' changes)
/// must not requeue all its onboardings. By uid: a follower may still hand out the last change
/// of a task deleted since, and a task created again under its name is new.
#[derive(Default)]
struct KnownTasks(std::sync::Mutex<HashMap<String, Option<String>>>);

impl KnownTasks {
    /// Whether `task` (this object, by uid) is seen for the first time; remembers it.
    fn first_seen(&self, task: &Verwaltungsaufgabe) -> bool {
        let uid = task.metadata.uid.clone();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task.name_any(), uid.clone())
            != Some(uid)
    }

    /// The task was deleted.
    fn forget(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

/// Whether `o`'s admission may change when another onboarding of its Ressort changes: unless
/// it asks for no more than it holds (`status.allocated`), which is admitted whatever the
/// others hold (see [`super::budget`]). Being deleted, or unreadable, counts as depending.
fn depends_on_others(o: &FachverfahrenOnboarding) -> bool {
    let held = o
        .status
        .as_ref()
        .and_then(|s| s.allocated.as_ref())
        .and_then(|a| a.amounts().ok());
    let requested = o
        .spec
        .environments
        .iter()
        .map(|e| e.quota.amounts().ok())
        .try_fold(crate::api::Amounts::default(), |sum, a| Some(sum.plus(a?)));
    match (held, requested) {
        (Some(held), Some(requested)) if o.metadata.deletion_timestamp.is_none() => {
            !requested.fits_within(&held)
        }
        _ => true,
    }
}

/// Maps a changed object with the operator's label to the onboarding its label names and to
/// the one owning its namespace, whose conformance reads it (the two differ for a copy).
fn owners<K: kube::Resource>(
    namespaces: &stores::Namespaces,
) -> impl Fn(K) -> Vec<ObjectRef<FachverfahrenOnboarding>> + Send + Sync + 'static {
    let namespaces = namespaces.clone();
    move |o: K| {
        let mut out: Vec<_> = owner_of(&o).into_iter().collect();
        let of_namespace = o
            .meta()
            .namespace
            .as_deref()
            .and_then(|ns| namespaces.get(&ObjectRef::new(ns)))
            .and_then(|ns| owner_of(ns.as_ref()));
        if let Some(owner) = of_namespace
            && !out.contains(&owner)
        {
            out.push(owner);
        }
        out
    }
}

/// Back-off on failure: a conflict (someone wrote in between) is retried at once; other
/// errors back off exponentially per onboarding, from half a second up to five minutes.
pub fn error_policy(fvo: Arc<FachverfahrenOnboarding>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = fvo.name_any();
    let conflict = error.is_conflict();
    let n = if conflict {
        1
    } else {
        ctx.record_failure(&name)
    };
    warn!(onboarding = %name, category = error.category(), attempt = n, "reconcile failed: {error}");
    let recorder = ctx.recorder.clone();
    let note = error.to_string();
    let reason = error.category();
    // Events are published off the error path: error_policy is synchronous.
    tokio::spawn(async move {
        events::publish(
            &recorder,
            &fvo,
            EventType::Warning,
            reason,
            "Reconcile",
            note,
        )
        .await;
    });
    if conflict {
        return Action::requeue(Duration::from_millis(200));
    }
    let millis = 500u64.saturating_mul(1u64 << n.saturating_sub(1).min(10));
    Action::requeue(Duration::from_millis(millis.min(300_000)))
}

/// Runs both controllers until `shutdown` resolves.
pub async fn run(
    client: Client,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    // Every watch below reports its first initial list here; reconciles and /readyz wait for all.
    let (tracker, synced_rx) = SyncTracker::new();

    // Followed by the three controllers: the onboardings (indexed by Ressort and by task).
    let mut fvo_shared = Shared::new(SHARED_BUFFER);
    let onboardings = fvo_shared.store();
    // One table of the onboardings for both indexes.
    let [by_ressort, by_aufgabe] = Index::by_keys([ressort_of, aufgabe::aufgabe_of]);
    let fvo_for_onboardings = fvo_shared.follow();
    let fvo_for_ressorts = fvo_shared.follow();
    let fvo_for_aufgaben = fvo_shared.follow();
    // The followers get no deletions (only the changes before one): a deleted onboarding's
    // Ressort recounts through this channel.
    let (gone_fvo_tx, gone_fvo_rx) = futures::channel::mpsc::unbounded();
    // Nor is the task an onboarding stopped naming: that task recounts.
    let (left_task_tx, left_task_rx) = futures::channel::mpsc::unbounded();
    let holdings = stores::Memo::default();
    // The budget decisions, kept between reconciles: the watches below mark what changed.
    let admissions = Arc::new(Admissions::default());
    let fvo_watch = {
        let (store, idx) = (onboardings.clone(), by_ressort.clone());
        let ledger = admissions.clone();
        let by_task = by_aufgabe.clone();
        let held = holdings.clone();
        let (mut phases, metrics) = (Phases::default(), options.metrics.clone());
        let api: Api<FachverfahrenOnboarding> = Api::all(client.clone());
        tracker
            .track(
                fvo_shared.reflect(
                    watcher(api, options.selected())
                        .default_backoff()
                        .modify(stores::drop_managed_fields),
                ),
            )
            .inspect_ok(move |event| {
                let before = match event {
                    watcher::Event::Apply(o) | watcher::Event::Delete(o) => by_task.key_for(o),
                    _ => None,
                };
                // Keeps the index by task as well (they share their table).
                idx.apply(&store, &(), event);
                let after = match event {
                    watcher::Event::Apply(o) => by_task.key_for(o),
                    _ => None,
                };
                if let Some(left) = before.filter(|b| Some(b) != after.as_ref()) {
                    let _ =
                        left_task_tx.unbounded_send(ObjectRef::<Verwaltungsaufgabe>::new(&left));
                }
                phases.follow(&store, event, &metrics);
                match event {
                    watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                        ledger.onboarding_changed(&o.name_any());
                    }
                    watcher::Event::InitDone => ledger.everything_changed(),
                    watcher::Event::Init | watcher::Event::InitApply(_) => {}
                }
                if let watcher::Event::Delete(o) = event {
                    held.forget(&o.name_any());
                    let _ = gone_fvo_tx.unbounded_send(ObjectRef::<Ressort>::new(&o.spec.ressort));
                }
            })
            .for_each(|_| futures::future::ready(()))
    };
    // Budgets are read whatever their labels; the Ressort controller reconciles the selected
    // ones. Without a selector the two are the same watch.
    let mut ressort_shared = Shared::new(SHARED_BUFFER);
    let ressorts = ressort_shared.store();
    let ressorts_for_onboardings = ressort_shared.follow();
    // A follower that is never read would stall the shared watch: only when it is read.
    let ressorts_for_ressorts = options
        .watch_selector
        .is_none()
        .then(|| ressort_shared.follow());
    let (gone_ressort_tx, gone_ressort_rx) = futures::channel::mpsc::unbounded();
    let ressort_watch = {
        let (known, metrics) = (ressorts.clone(), options.metrics.clone());
        tracker
            .track(
                ressort_shared.reflect(
                    watcher(Api::<Ressort>::all(client.clone()), stores::list_config())
                        .default_backoff()
                        .modify(stores::drop_managed_fields),
                ),
            )
            .inspect_ok(move |event| {
                // A deleted Ressort is never reconciled again: its gauges go here. After a
                // relist (InitDone) the store also misses Ressorts deleted while the watch
                // was down.
                if matches!(event, watcher::Event::Delete(_) | watcher::Event::InitDone) {
                    metrics.retain_ressorts(|name| known.get(&ObjectRef::new(name)).is_some());
                }
                if let watcher::Event::Delete(r) = event {
                    let _ = gone_ressort_tx.unbounded_send(r.clone());
                }
            })
            .for_each(|_| futures::future::ready(()))
    };

    // The tasks: shared by the task controller (their status) and the onboarding controller
    // (AufgabeKnown). The followers get no deletions: a deleted task's onboardings look again
    // through the channel below.
    let mut aufgabe_shared = Shared::new(SHARED_BUFFER);
    let aufgaben = aufgabe_shared.store();
    let aufgaben_for_onboardings = aufgabe_shared.follow();
    // A follower that is never read would stall the shared watch: only when it is read.
    let aufgaben_for_tasks = options
        .watch_selector
        .is_none()
        .then(|| aufgabe_shared.follow());
    let (gone_task_tx, gone_task_rx) = futures::channel::mpsc::unbounded();
    let known_tasks: Arc<KnownTasks> = Arc::default();
    let forget_task = known_tasks.clone();
    let aufgabe_watch = tracker
        .track(
            aufgabe_shared.reflect(
                watcher(
                    Api::<Verwaltungsaufgabe>::all(client.clone()),
                    stores::list_config(),
                )
                .default_backoff(),
            ),
        )
        .inspect_ok({
            let metrics = options.metrics.clone();
            move |event| {
                if let watcher::Event::Delete(t) = event {
                    metrics.remove_aufgabe(&t.name_any());
                    forget_task.forget(&t.name_any());
                    let _ = gone_task_tx.unbounded_send(t.clone());
                }
            }
        })
        .for_each(|_| futures::future::ready(()));

    let managed = stores::list_config().labels(MANAGED_SELECTOR);
    // Every namespace (metadata only): observe tells absent, ours and foreign apart from it.
    let (namespaces, ns_stream) = stores::namespace_stream(&client, &tracker);
    let (quotas, quota_stream) =
        stores::kept_stream::<ResourceQuota>(&client, managed.clone(), true, trim_quota, &tracker);
    let (limit_ranges, lr_stream) =
        stores::kept_stream::<LimitRange>(&client, managed.clone(), true, keep, &tracker);
    let (network_policies, np_stream) =
        stores::kept_stream::<NetworkPolicy>(&client, managed.clone(), true, keep, &tracker);
    let (role_bindings, rb_stream) =
        stores::kept_stream::<RoleBinding>(&client, managed.clone(), true, keep, &tracker);
    // The reader roles and bindings (cluster-wide, the operator's label) and the PolicyReports:
    // the reader and reports steps compare with them instead of reading by name. Their changes
    // bring no round (the operator's own writes of them would double the rounds); the streams
    // are drained below.
    let (reader_roles, role_stream) =
        stores::kept_stream::<ClusterRole>(&client, managed.clone(), true, keep, &tracker);
    let (reader_bindings, binding_stream) =
        stores::kept_stream::<ClusterRoleBinding>(&client, managed, true, keep, &tracker);
    let (policy_reports, report_stream) =
        stores::report_stream(&client, reports::api_resource(), reports::trim);
    let drained = futures::stream::select(
        futures::stream::select(role_stream.map(|_| ()), binding_stream.map(|_| ())),
        report_stream.map(|_| ()),
    )
    .for_each(|_| futures::future::ready(()));
    let sa_config = stores::list_config().fields("metadata.name=default");
    let (service_accounts, sa_stream) =
        stores::kept_stream::<ServiceAccount>(&client, sa_config, false, keep, &tracker);
    let (profiles, profile_stream) =
        owned_stream::<ConformanceProfile>(&client, stores::list_config(), false, keep, &tracker);
    let (kind_stores, kind_streams) = stores::workload_streams(&client, &tracker).await;
    let (prices, price_stream) = match &options.prices {
        Some((namespace, name)) => {
            let (store, stream) = price_watch(&client, namespace, name, &tracker);
            (Some(store), Some(stream))
        }
        None => (None, None),
    };

    let stores = Stores {
        onboardings: onboardings.clone(),
        onboardings_by_ressort: by_ressort.clone(),
        ressorts: ressorts.clone(),
        aufgaben: aufgaben.clone(),
        onboardings_by_aufgabe: by_aufgabe.clone(),
        namespaces: namespaces.clone(),
        owned: stores::OwnedStores {
            quotas,
            limit_ranges,
            network_policies,
            role_bindings,
        },
        service_accounts,
        prices,
        workloads: WorkloadStores {
            kinds: kind_stores,
            profiles: profiles.store,
        },
        holdings: holdings.clone(),
        reader_roles,
        reader_bindings,
        policy_reports,
        synced: synced_rx.clone(),
    };
    let sync_task = tracker.start();
    let recorder = Recorder::new(client.clone(), "conplus-operator", &options.instance);
    let ctx = Arc::new(Context::new(
        client.clone(),
        stores,
        admissions.clone(),
        options.settings.clone(),
        recorder,
        options.conformance.clone(),
        options.metrics.clone(),
        options.health.clone(),
    ));

    // The event of a round's own status write brings no round: that round saw everything
    // before it. Without this, every onboarding took one more full round (observe, compare
    // every owned object, evaluate) that could find nothing to do.
    let own = ctx.clone();
    let fvo_trigger =
        fvo_for_onboardings.filter(move |fvo| std::future::ready(!own.status_writes.is_own(fvo)));
    let mut controller = Controller::for_shared_stream(fvo_trigger, onboardings.clone())
        .with_config(
            ControllerConfig::default()
                .concurrency(options.concurrency)
                .debounce(Duration::from_millis(200)),
        )
        // Every watch above has its own back-off. kube-runtime's default wraps all trigger
        // streams in one shared back-off: after an etcd compaction, each of the ~25 watches
        // reports its 410 in turn, and the shared back-off grew until no watch was polled for
        // half a minute — a changed onboarding went unnoticed.
        .trigger_backoff(NoSharedBackoff);
    // A change to any object the rules read requeues the onboarding owning its namespace.
    for (stream, ar) in kind_streams {
        let ns_store = namespaces.store.clone();
        controller = controller.watches_stream_with(
            stream,
            move |o: kube::api::DynamicObject| {
                let ns = o.namespace()?;
                let owner = ns_store.get(&ObjectRef::new(&ns))?;
                owner_of(owner.as_ref())
            },
            ar,
        );
    }
    let by_profile = onboardings.clone();
    let concerned = RessortChanges::new(by_ressort.clone());
    controller = controller
        .watches_shared_stream(ressorts_for_onboardings, move |r: Arc<Ressort>| {
            concerned.concerned(&r)
        });
    let of_task = move |name: &str| {
        by_aufgabe
            .get(name)
            .iter()
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect::<Vec<_>>()
    };
    let of_task_too = of_task.clone();
    controller = controller.watches_shared_stream(
        aufgaben_for_onboardings,
        move |t: Arc<Verwaltungsaufgabe>| {
            if known_tasks.first_seen(&t) {
                of_task(&t.name_any())
            } else {
                Vec::new()
            }
        },
    );
    if let Some(stream) = price_stream {
        // New prices: every onboarding's cost changes.
        let all = onboardings.clone();
        controller = controller.watches_stream(stream, move |_: ConfigMap| {
            all.state()
                .iter()
                .map(|o| ObjectRef::from_obj(o.as_ref()))
                .collect::<Vec<_>>()
        });
    }
    let ns_for_sa = namespaces.store.clone();
    let onboarding_controller = controller
        .watches_stream(
            gone_ressort_rx.map(Ok::<Ressort, watcher::Error>),
            move |r: Ressort| {
                by_ressort
                    .get(&r.name_any())
                    .iter()
                    .map(|o| ObjectRef::from_obj(o.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches_stream(
            gone_task_rx.map(Ok::<Verwaltungsaufgabe, watcher::Error>),
            move |t: Verwaltungsaufgabe| of_task_too(&t.name_any()),
        )
        .watches_stream(profile_stream, move |p: ConformanceProfile| {
            let name = p.name_any();
            by_profile
                .state()
                .into_iter()
                .filter(|o| o.spec.conformance.profile.as_deref() == Some(name.as_str()))
                .map(|o| ObjectRef::from_obj(o.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(ns_stream, {
            let ledger = admissions.clone();
            move |o: Namespace| {
                ledger.namespace_changed(&o.name_any());
                let owner = owner_of(&o);
                if let Some(owner) = &owner {
                    ledger.onboarding_changed(&owner.name);
                }
                owner
            }
        })
        .watches_stream(quota_stream, {
            let (ledger, to) = (admissions.clone(), owners(&namespaces.store));
            move |q: ResourceQuota| {
                if let Some(ns) = q.namespace() {
                    ledger.namespace_changed(&ns);
                }
                let owners = to(q);
                for owner in &owners {
                    ledger.onboarding_changed(&owner.name);
                }
                owners
            }
        })
        .watches_stream(lr_stream, owners(&namespaces.store))
        .watches_stream(np_stream, owners(&namespaces.store))
        .watches_stream(rb_stream, owners(&namespaces.store))
        .watches_stream(sa_stream, move |sa: ServiceAccount| {
            let ns = sa.namespace()?;
            let owner = ns_for_sa.get(&ObjectRef::new(&ns))?;
            owner_of(owner.as_ref())
        })
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_measured, error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));

    // Ready once every watch has its initial list (for /readyz).
    let (mut synced, health) = (synced_rx.clone(), ctx.health.clone());
    let readiness = tokio::spawn(async move {
        // Err: the sync task ended without syncing (shutdown): not ready.
        if synced.wait_for(|s| *s).await.is_ok() {
            health.set_synced();
        }
    });
    let ressort_controller = ressort::controller(ressort::Watches {
        client: client.clone(),
        by_ressort: ctx.stores.onboardings_by_ressort.clone(),
        changed_onboardings: fvo_for_ressorts,
        gone_onboardings: gone_fvo_rx,
        ressorts: match ressorts_for_ressorts {
            Some(changed) => super::summary::Source::Shared(ressorts, changed),
            None => super::summary::Source::Own(options.selected()),
        },
        synced: synced_rx.clone(),
        metrics: options.metrics.clone(),
        shutdown: shutdown.clone(),
    });
    let task_controller = aufgabe::controller(aufgabe::Watches {
        client: client.clone(),
        tasks: match aufgaben_for_tasks {
            Some(changed) => super::summary::Source::Shared(aufgaben, changed),
            None => super::summary::Source::Own(options.selected()),
        },
        by_aufgabe: ctx.stores.onboardings_by_aufgabe.clone(),
        changed_onboardings: fvo_for_aufgaben,
        left: left_task_rx,
        synced: synced_rx,
        metrics: options.metrics.clone(),
        shutdown: shutdown.clone(),
    });
    // The shared watches run as long as the controllers: they end with them.
    let controllers =
        futures::future::join3(onboarding_controller, ressort_controller, task_controller);
    futures::pin_mut!(controllers);
    let watches = futures::future::join4(fvo_watch, ressort_watch, aufgabe_watch, drained);
    futures::pin_mut!(watches);
    futures::future::select(controllers, watches).await;
    // A later term (leader election) starts with new stores and tasks of its own.
    readiness.abort();
    sync_task.abort();
}

/// The watch of the price list's ConfigMap, and its store. A price list that cannot be read is
/// logged as an error each time it changes, and no cost is shown until it is corrected.
fn price_watch(
    client: &Client,
    namespace: &str,
    name: &str,
    tracker: &SyncTracker,
) -> (
    Store<ConfigMap>,
    impl futures::Stream<Item = Result<ConfigMap, watcher::Error>> + Send + 'static,
) {
    let (store, writer) = reflector::store();
    let config = stores::list_config().fields(&format!("metadata.name={name}"));
    let stream = tracker
        .track(
            watcher(
                Api::<ConfigMap>::namespaced(client.clone(), namespace),
                config,
            )
            .default_backoff()
            .reflect(writer),
        )
        .applied_objects()
        .inspect_ok(|cm: &ConfigMap| {
            if let Err(e) =
                crate::inventory::cost::PriceList::parse(&cm.data.clone().unwrap_or_default())
            {
                tracing::error!(
                    configmap = %cm.name_any(),
                    "the price list cannot be read, no cost is shown until it is corrected: {e}"
                );
            }
        });
    (store, stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, uid: &str, version: &str) -> Verwaltungsaufgabe {
        let mut t = Verwaltungsaufgabe::new(
            name,
            crate::api::VerwaltungsaufgabeSpec {
                display_name: "Schulportal".into(),
                kind: crate::api::AufgabeKind::Fachaufgabe,
                number: None,
                description: None,
                owner: None,
            },
        );
        t.metadata.uid = Some(uid.into());
        t.metadata.resource_version = Some(version.into());
        t
    }

    #[test]
    fn a_task_recreated_under_its_name_is_new_even_after_a_late_change_of_the_deleted_one() {
        let known = KnownTasks::default();
        assert!(known.first_seen(&task("portal", "u1", "1")));
        // Its own status write: nothing new for its onboardings.
        assert!(!known.first_seen(&task("portal", "u1", "2")));
        // Deleted; a follower still hands out its last change, then the task comes back.
        known.forget("portal");
        assert!(known.first_seen(&task("portal", "u1", "2")));
        assert!(known.first_seen(&task("portal", "u2", "5")));
        assert!(!known.first_seen(&task("portal", "u2", "6")));
    }
}
