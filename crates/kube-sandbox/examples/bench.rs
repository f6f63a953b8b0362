//! Throughput of the sandbox through `kube::Client`:
//! `cargo run --release -p kube-sandbox --example bench [-- OBJECTS RUNS]`.
//!
//! Per run: create OBJECTS ConfigMaps (32 requests in flight), get each, list them unpaged and
//! in pages of 500, then measure watch fan-out: 10 watchers each receive every event of
//! 2,000 further creates. Prints per-run figures and the median over the runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

const IN_FLIGHT: usize = 32;
const WATCHERS: usize = 10;
const WATCH_EVENTS: usize = 2_000;

fn cm(name: String) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"bench": "yes"}}, "data": {"key": "value", "other": "x".repeat(100)}})).unwrap()
}

struct Run {
    create_rps: f64,
    get_rps: f64,
    list_unpaged: Duration,
    list_paged: Duration,
    watch_events_per_sec: f64,
}

async fn run_once(objects: usize) -> Run {
    let sandbox = Sandbox::start(SandboxConfig {
        watch_history: 50_000,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut config = kube::Config::new(sandbox.url().parse().unwrap());
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let started = Instant::now();
    futures::stream::iter(0..objects)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &cm(format!("cm-{i:05}")))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let create_rps = objects as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    futures::stream::iter(0..objects)
        .map(|i| {
            let api = api.clone();
            async move { api.get(&format!("cm-{i:05}")).await.map(|_| ()) }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let get_rps = objects as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let all = api.list(&ListParams::default()).await.unwrap();
    let list_unpaged = started.elapsed();
    assert_eq!(all.items.len(), objects);

    let started = Instant::now();
    let mut count = 0;
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(500);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.unwrap();
        count += page.items.len();
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    let list_paged = started.elapsed();
    assert_eq!(count, objects);

    // Watch fan-out: every watcher must see every create.
    let rv = sandbox.resource_version().to_string();
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let stream = api
            .watch(&WatchParams::default().disable_bookmarks(), &rv)
            .await
            .unwrap();
        watchers.push(tokio::spawn(async move {
            let mut stream = stream.boxed();
            let mut seen = 0;
            while seen < WATCH_EVENTS {
                match stream.next().await {
                    Some(Ok(WatchEvent::Added(_))) => seen += 1,
                    Some(Ok(_)) => {}
                    other => panic!("watch ended early: {other:?}"),
                }
            }
            Instant::now()
        }));
    }
    let started = Instant::now();
    futures::stream::iter(0..WATCH_EVENTS)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &cm(format!("w-{i:05}")))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let mut last = started;
    for w in watchers {
        last = last.max(w.await.unwrap());
    }
    let watch_events_per_sec =
        (WATCH_EVENTS * WATCHERS) as f64 / last.duration_since(started).as_secs_f64();
    sandbox.shutdown().await;
    Run {
        create_rps,
        get_rps,
        list_unpaged,
        list_paged,
        watch_events_per_sec,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let objects: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    println!(
        "kube-sandbox bench: {objects} ConfigMaps, {IN_FLIGHT} requests in flight, {WATCHERS} watchers x {WATCH_EVENTS} events, {runs} runs"
    );
    let mut results = Vec::new();
    for r in 0..runs {
        let run = run_once(objects).await;
        println!(
            "run {}: create {:.0}/s, get {:.0}/s, list {} unpaged {:.0} ms, paged (500) {:.0} ms, watch fan-out {:.0} events/s",
            r + 1,
            run.create_rps,
            run.get_rps,
            objects,
            run.list_unpaged.as_secs_f64() * 1e3,
            run.list_paged.as_secs_f64() * 1e3,
            run.watch_events_per_sec
        );
        results.push(run);
    }
    println!(
        "median: create {:.0} req/s | get {:.0} req/s | list {} objects unpaged {:.0} ms, paged {:.0} ms | watch fan-out to {WATCHERS} watchers {:.0} events/s",
        median(results.iter().map(|r| r.create_rps).collect()),
        median(results.iter().map(|r| r.get_rps).collect()),
        objects,
        median(
            results
                .iter()
                .map(|r| r.list_unpaged.as_secs_f64() * 1e3)
                .collect()
        ),
        median(
            results
                .iter()
                .map(|r| r.list_paged.as_secs_f64() * 1e3)
                .collect()
        ),
        median(results.iter().map(|r| r.watch_events_per_sec).collect()),
    );
}
