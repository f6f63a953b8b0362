//! Shared watches (I/O plumbing): one watch and one store per kind, followed by several
//! controllers. The onboardings feed the onboarding, Ressort and task controllers; the
//! Ressorts and the tasks feed the onboarding controller, and their own controller when no
//! selector makes it watch on its own.
//!
//! kube-runtime's shared stores (`reflector::store_shared`, kube 5.0) hand a follower only the
//! reference of a changed object and look the object up when the follower reads it. When the
//! object is deleted in between (an onboarding whose finalizer was just released, right after
//! its last status write), the follower's stream answers `Pending` without arranging to be
//! woken: the controller reading it sleeps until something else wakes its task. An onboarding
//! deleted next then kept its finalizer until the resync. Here every follower gets the object
//! as its event carried it, over a channel of its own that wakes it.

use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStream, TryStreamExt};
use kube::Resource;
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::watcher;
use tokio::sync::mpsc;

/// The changes a follower reads.
pub type Follower<K> = BoxStream<'static, Arc<K>>;

/// A store fed by one watch, and the followers of its changes.
pub struct Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store: Store<K>,
    writer: Writer<K>,
    followers: Vec<mpsc::Sender<Arc<K>>>,
    buffer: usize,
}

impl<K> Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// An empty store whose followers may lag `buffer` objects behind before the watch waits
    /// for them.
    pub fn new(buffer: usize) -> Self {
        let (store, writer) = reflector::store();
        Self {
            store,
            writer,
            followers: Vec::new(),
            buffer: buffer.max(1),
        }
    }

    /// The store (ready once the watch's initial list is in).
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// A follower: every object the watch applies (and, after each initial list, every object
    /// in the store), in the watch's order. A follower that is never read stalls the watch
    /// once `buffer` objects wait for it: only follow what is read.
    pub fn follow(&mut self) -> Follower<K> {
        let (tx, rx) = mpsc::channel(self.buffer);
        self.followers.push(tx);
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|obj| (obj, rx)) },
        )
        .boxed()
    }

    /// `events` applied to the store, each then handed to every follower (waiting for room
    /// when one lags `buffer` behind); the events pass on unchanged.
    pub fn reflect<S>(
        self,
        events: S,
    ) -> impl Stream<Item = Result<watcher::Event<K>, S::Error>> + Send + 'static
    where
        S: TryStream<Ok = watcher::Event<K>> + Send + 'static,
        S::Error: Send + 'static,
    {
        let Shared {
            store,
            mut writer,
            followers,
            ..
        } = self;
        let followers = Arc::new(followers);
        events.and_then(move |event| {
            writer.apply_watcher_event(&event);
            let changed: Vec<Arc<K>> = match &event {
                watcher::Event::Apply(obj) => {
                    store.get(&ObjectRef::from_obj(obj)).into_iter().collect()
                }
                watcher::Event::InitDone => store.state(),
                watcher::Event::Delete(_) | watcher::Event::Init | watcher::Event::InitApply(_) => {
                    Vec::new()
                }
            };
            let followers = followers.clone();
            async move {
                for obj in changed {
                    for follower in followers.iter() {
                        // A follower that is gone (its controller ended) is skipped.
                        let _ = follower.send(obj.clone()).await;
                    }
                }
                Ok(event)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    fn object(name: &str, version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    async fn next(follower: &mut (impl Stream<Item = Arc<ConfigMap>> + Unpin)) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(5), follower.next())
            .await
            .ok()
            .flatten()
            .and_then(|o| o.metadata.resource_version.clone())
    }

    /// Counts the wake-ups of the task polling a follower.
    #[derive(Default)]
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl futures::task::ArcWake for Wakes {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// What a controller does with its trigger stream: reads until it says `Pending`.
    fn drain(
        follower: &mut (impl Stream<Item = Arc<ConfigMap>> + Unpin),
        wakes: &Arc<Wakes>,
    ) -> Vec<String> {
        let waker = futures::task::waker(wakes.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut seen = Vec::new();
        while let std::task::Poll::Ready(Some(o)) = follower.poll_next_unpin(&mut cx) {
            seen.extend(o.metadata.resource_version.clone());
        }
        seen
    }

    /// The watch of `shared` fed by hand: the events to send, each event once it passed the
    /// followers, and the task.
    #[allow(clippy::type_complexity)]
    fn run(
        shared: Shared<ConfigMap>,
    ) -> (
        futures::channel::mpsc::UnboundedSender<watcher::Event<ConfigMap>>,
        futures::channel::mpsc::UnboundedReceiver<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let (events, rx) = futures::channel::mpsc::unbounded();
        let (passed, through) = futures::channel::mpsc::unbounded();
        let watch = tokio::spawn(
            shared
                .reflect(rx.map(Ok::<_, std::convert::Infallible>))
                .for_each(move |e| {
                    let _ = passed.unbounded_send(e.is_ok());
                    async {}
                }),
        );
        (events, through, watch)
    }

    #[tokio::test]
    async fn a_follower_is_woken_for_the_next_change_after_an_object_it_had_not_read_was_deleted() {
        let mut shared = Shared::<ConfigMap>::new(16);
        let mut first = shared.follow();
        let mut second = shared.follow();
        let (events, mut through, watch) = run(shared);
        let send = |e| events.unbounded_send(e).unwrap();
        send(watcher::Event::Init);
        send(watcher::Event::InitDone);
        // `a` changes and is deleted before the followers read the change.
        send(watcher::Event::Apply(object("a", "2")));
        send(watcher::Event::Delete(object("a", "3")));
        for _ in 0..4 {
            assert_eq!(through.next().await, Some(true));
        }
        let wakes = Arc::new(Wakes::default());
        let before = drain(&mut first, &wakes);
        // The follower waits now: the next change wakes it (kube 5.0's shared store left it
        // asleep here, having handed out nothing).
        send(watcher::Event::Apply(object("b", "4")));
        assert_eq!(through.next().await, Some(true));
        assert!(wakes.0.load(std::sync::atomic::Ordering::SeqCst) > 0);
        assert_eq!(before, ["2"], "the change before the deletion");
        assert_eq!(drain(&mut first, &wakes), ["4"]);
        // The other follower sees the same changes in the same order.
        assert_eq!(next(&mut second).await.as_deref(), Some("2"));
        assert_eq!(next(&mut second).await.as_deref(), Some("4"));
        drop(events);
        watch.await.unwrap();
    }

    #[tokio::test]
    async fn an_initial_list_hands_every_listed_object_to_the_followers() {
        let mut shared = Shared::<ConfigMap>::new(16);
        let store = shared.store();
        let mut follower = shared.follow();
        let events = futures::stream::iter([
            watcher::Event::Init,
            watcher::Event::InitApply(object("a", "1")),
            watcher::Event::InitApply(object("b", "2")),
            watcher::Event::InitDone,
        ])
        .map(Ok::<_, std::convert::Infallible>);
        let watch = tokio::spawn(shared.reflect(events).for_each(|_| async {}));
        let mut seen = vec![next(&mut follower).await, next(&mut follower).await];
        seen.sort();
        assert_eq!(seen, [Some("1".to_string()), Some("2".to_string())]);
        watch.await.unwrap();
        assert_eq!(store.state().len(), 2);
        assert!(store.wait_until_ready().await.is_ok());
    }

    #[tokio::test]
    async fn a_follower_that_lags_a_full_buffer_behind_holds_the_watch_and_a_dropped_one_does_not()
    {
        let mut shared = Shared::<ConfigMap>::new(1);
        let mut slow = shared.follow();
        let gone = shared.follow();
        drop(gone);
        let (events, mut through, watch) = run(shared);
        for e in [
            watcher::Event::Init,
            watcher::Event::InitDone,
            watcher::Event::Apply(object("a", "1")),
            watcher::Event::Apply(object("b", "2")),
        ] {
            events.unbounded_send(e).unwrap();
        }
        // Init, InitDone and the first change pass; the second waits for room.
        for _ in 0..3 {
            assert_eq!(through.next().await, Some(true));
        }
        let held = tokio::time::timeout(Duration::from_millis(200), through.next()).await;
        assert!(held.is_err(), "the watch waits for the slow follower");
        assert_eq!(next(&mut slow).await.as_deref(), Some("1"));
        assert_eq!(through.next().await, Some(true));
        assert_eq!(next(&mut slow).await.as_deref(), Some("2"));
        drop(events);
        watch.await.unwrap();
    }
}
