//! Scale benchmark of the controller: 1,000 onboardings of 3 environments each in the sandbox,
//! with the controller as a separate process (`conplus-operator run`), exactly as against a
//! cluster. Prints time to all Ready, API requests per onboarding against the minimum needed,
//! the floor (the time the sandbox needs for the same number of writes from one client at the
//! same concurrency, without a controller) and the ratio of the two, the latency from a spec
//! change to `Ready` with 5,000 workloads in the namespaces, writes during a full resync, and
//! the controller's memory, peak and per managed object.
//!
//! `cargo bench --bench scale` (or `-- --onboardings 200` for a quicker run; `--aufgaben 30` to have the
//! onboardings name Verwaltungsaufgaben, for the inventory's cost; `--changes 0`
//! skips the latency phase, `--workloads N` sets its workloads).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conplus_operator::api::*;
use conplus_operator::resources::{PlatformSettings, desired};
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use kube_sandbox::{RequestRecord, Sandbox, SandboxConfig};

/// Writes one onboarding needs at the least: per environment the namespace, quota, limits,
/// five policies, one binding and the default ServiceAccount; then the finalizer, the budget
/// reservation and the final status; the reader ClusterRole and its binding; and once its
/// workloads are evaluated, one PolicyReport per environment.
const MIN_WRITES_PER_ONBOARDING: u64 = 3 * 10 + 3 + 2 + 3;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `--aufgaben K`: the onboardings name one of K Verwaltungsaufgaben (`task-0` …), round robin, so that
/// the task controller keeps K inventories of `n / K` solutions each; 0 (default): they name none.
fn aufgabe(i: usize, tasks: usize) -> Option<String> {
    (tasks > 0).then(|| format!("task-{}", i % tasks))
}

fn onboarding(i: usize) -> FachverfahrenOnboarding {
    let q = ResourceTotals {
        cpu: "1".into(),
        memory: "1Gi".into(),
        storage: "1Gi".into(),
        pods: "10".into(),
    };
    FachverfahrenOnboarding::new(
        &format!("fv-{i:04}"),
        FachverfahrenOnboardingSpec {
            ressort: "mk".into(),
            fachverfahren: format!("fv-{i:04}"),
            display_name: format!("Fachverfahren {i}"),
            owner: Owner {
                organisation: "MK".into(),
                contact: "team@mk.niedersachsen.de".into(),
            },
            aufgabe: aufgabe(i, arg("--aufgaben", 0)),
            protection_level: ProtectionLevel::Normal,
            environments: ["dev", "test", "prod"]
                .iter()
                .map(|e| Environment {
                    name: (*e).into(),
                    quota: q.clone(),
                })
                .collect(),
            access: vec![AccessEntry {
                group: format!("fv-{i}-devs"),
                role: AccessRole::Edit,
                environments: None,
            }],
            network: NetworkSpec::default(),
            conformance: ConformanceSpec::default(),
            deletion_policy: DeletionPolicy::Retain,
        },
    )
}

fn start_controller(kubeconfig: &std::path::Path) -> (Child, u16) {
    // A free port for its metrics: two benchmark runs at once do not collide on 8080, and the
    // reconciles are read from it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
        .args(["run", "--kubeconfig"])
        .arg(kubeconfig)
        .args(["--log-level", "warn", "--concurrency", "16"])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the controller");
    (child, port)
}

/// Reconciles the controller on `port` finished so far (`conplus_reconciles_total`, every
/// result), read from its `/metrics`.
fn reconciles(port: u16) -> Option<f64> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    conn.read_to_string(&mut body).ok()?;
    Some(
        body.lines()
            .filter(|l| l.starts_with("conplus_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

/// Objects the controller keeps per onboarding: the onboarding and, per environment, the
/// namespace, quota, limits, five policies, one binding and the `default` ServiceAccount.
const OBJECTS_PER_ONBOARDING: u64 = 1 + 3 * 10;

/// A memory figure of a process in KiB from `/proc/PID/status` (`VmHWM`: peak, `VmRSS`: now).
fn status_kib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) a process has used so far, in seconds (`/proc/PID/stat`, at the
/// usual 100 clock ticks per second).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident memory of a process in MiB (Linux `VmHWM`).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    Some(status_kib(pid, "VmHWM:")? / 1024.0)
}

/// Resident memory of a process now, in bytes (Linux `VmRSS`).
fn rss_bytes(pid: u32) -> Option<f64> {
    Some(status_kib(pid, "VmRSS:")? * 1024.0)
}

fn ready_at(o: &FachverfahrenOnboarding, generation: Option<i64>) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.observed_generation == generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// `q`-th quantile (0..=1) of sorted `xs`, nearest rank.
fn quantile(xs: &[Duration], q: f64) -> Duration {
    if xs.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

fn apply_params() -> PatchParams {
    PatchParams::apply("bench").force()
}

/// A workload in an onboarded namespace, as a team would deploy it.
fn deployment(ns: &str, i: usize) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("app-{i}"), "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": format!("app-{i}")}},
            "template": {
                "metadata": {"labels": {"app": format!("app-{i}")}},
                "spec": {"containers": [{
                    "name": "app", "image": "registry.example/app:1.0",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                  "limits": {"cpu": "100m", "memory": "64Mi"}},
                    "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false,
                                        "readOnlyRootFilesystem": true,
                                        "capabilities": {"drop": ["ALL"]}}
                }]}
            }
        }
    }))
    .unwrap()
}

/// Server-side applies the namespaced `obj`.
async fn apply_object<K>(client: &Client, obj: &K)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), obj.meta().namespace.as_deref().unwrap());
    api.patch(&obj.name_any(), &apply_params(), &Patch::Apply(obj))
        .await
        .unwrap();
}

/// The floor: a fresh sandbox takes `writes` writes from one client, 16 at a time — the
/// objects the controller writes for `n` onboardings (namespaces first), topped up with
/// ConfigMaps for the finalizer, reservation, status and ServiceAccount writes.
async fn floor(n: usize, writes: u64) -> Duration {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::try_from(kube::Config::new(sandbox.url().parse().unwrap())).unwrap();
    let settings = PlatformSettings::default();
    let envs: Vec<_> = (0..n)
        .flat_map(|i| {
            let mut o = onboarding(i);
            o.metadata.uid = Some(format!("uid-{i}"));
            desired(&o, &settings).unwrap()
        })
        .collect();
    let start = Instant::now();
    futures::stream::iter(&envs)
        .for_each_concurrent(16, |e| {
            let client = client.clone();
            async move {
                let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
                let name = e.namespace.name_any();
                api.patch(&name, &apply_params(), &Patch::Apply(&e.namespace))
                    .await
                    .unwrap();
            }
        })
        .await;
    let mut done = envs.len() as u64;
    enum Obj<'a> {
        Q(&'a ResourceQuota),
        L(&'a LimitRange),
        N(&'a NetworkPolicy),
        R(&'a RoleBinding),
    }
    let objects: Vec<Obj> = envs
        .iter()
        .flat_map(|e| {
            [Obj::Q(&e.resource_quota), Obj::L(&e.limit_range)]
                .into_iter()
                .chain(e.network_policies.iter().map(Obj::N))
                .chain(e.role_bindings.iter().map(Obj::R))
        })
        .collect();
    done += objects.len() as u64;
    futures::stream::iter(objects)
        .for_each_concurrent(16, |o| {
            let client = client.clone();
            async move {
                match o {
                    Obj::Q(x) => apply_object(&client, x).await,
                    Obj::L(x) => apply_object(&client, x).await,
                    Obj::N(x) => apply_object(&client, x).await,
                    Obj::R(x) => apply_object(&client, x).await,
                }
            }
        })
        .await;
    let rest = writes.saturating_sub(done) as usize;
    let namespaces: Vec<String> = envs
        .iter()
        .filter_map(|e| e.namespace.metadata.name.clone())
        .collect();
    futures::stream::iter(0..rest)
        .for_each_concurrent(16, |i| {
            let client = client.clone();
            let ns = namespaces[i % namespaces.len()].clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("w-{i}"), "namespace": ns},
                    "data": {"k": "v"}
                }))
                .unwrap();
                apply_object(&client, &cm).await
            }
        })
        .await;
    let took = start.elapsed();
    sandbox.shutdown().await;
    took
}

/// With every onboarding converged: `workloads` Deployments spread over the `prod`
/// namespaces, then `changes` spec changes one after the other (alternately a quota change
/// and one more environment), each timed from the write to `Ready` with its generation.
async fn change_latency(
    client: &Client,
    n: usize,
    workloads: usize,
    changes: usize,
) -> Vec<Duration> {
    let started = Instant::now();
    futures::stream::iter(0..workloads)
        .for_each_concurrent(16, |w| {
            let client = client.clone();
            async move {
                let ns = format!("mk-fv-{:04}-prod", w % n);
                apply_object(&client, &deployment(&ns, w)).await
            }
        })
        .await;
    println!(
        "workloads created:           {workloads} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let api: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    // Let the conformance re-evaluations of the new workloads settle: every onboarding Ready
    // and no onboarding's status changed for 2 s (Ready alone does not wait for them).
    let mut last = None;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let list = api.list(&ListParams::default()).await.unwrap();
        let versions: Vec<_> = list
            .items
            .iter()
            .map(|o| o.metadata.resource_version.clone())
            .collect();
        let ready = list
            .items
            .iter()
            .filter(|o| ready_at(o, o.metadata.generation))
            .count();
        if ready == n && last.as_ref() == Some(&versions) {
            break;
        }
        last = Some(versions);
    }
    println!(
        "settled after workloads:     {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut latencies = Vec::with_capacity(changes);
    for c in 0..changes {
        let i = (c * 7919) % n;
        let mut o = onboarding(i);
        if c % 2 == 0 {
            for e in &mut o.spec.environments {
                e.quota.cpu = "2".into();
            }
        } else {
            o.spec.environments.push(Environment {
                name: format!("e{c}"),
                quota: o.spec.environments[0].quota.clone(),
            });
        }
        let t = Instant::now();
        let written = api
            .patch(&o.name_any(), &apply_params(), &Patch::Apply(&o))
            .await
            .unwrap();
        let generation = written.metadata.generation;
        loop {
            let now = api.get(&o.name_any()).await.unwrap();
            if ready_at(&now, generation) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "change {c} not Ready"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(t.elapsed());
    }
    let mut slowest: Vec<(Duration, usize)> = latencies.iter().copied().zip(0..).collect();
    slowest.sort();
    let slowest: Vec<String> = slowest
        .iter()
        .rev()
        .take(5)
        .map(|(d, c)| {
            let what = if c % 2 == 0 { "quota" } else { "environment" };
            format!("#{c} ({what}) {:.0} ms", d.as_secs_f64() * 1000.0)
        })
        .collect();
    println!("slowest changes:             {}", slowest.join(", "));
    latencies.sort();
    latencies
}

fn is_write(r: &RequestRecord) -> bool {
    matches!(
        r.verb.as_str(),
        "create" | "update" | "patch" | "apply" | "delete" | "deletecollection"
    )
}

/// The controller's writes in `log` by verb and resource (`apply namespaces`,
/// `apply fachverfahrenonboardings/status`); the benchmark's own (manager `bench`) are left out.
fn writes_by_resource(log: &[RequestRecord]) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for r in log
        .iter()
        .filter(|r| is_write(r) && r.field_manager != "bench")
    {
        let sub = if r.subresource.is_empty() {
            String::new()
        } else {
            format!("/{}", r.subresource)
        };
        *by.entry(format!("{} {}{sub}", r.verb, r.resource))
            .or_default() += 1;
    }
    by
}

/// Waits until all `n` onboardings are `Ready` at their generation, counted from one watch
/// (listing all of them every half second, as before, cost the sandbox more than the
/// controller did at 10,000). Panics after `limit`.
/// Waits until all `n` onboardings are Ready; returns when (since `start`) the first 10 %, 20 %, …
/// of them were Ready at once, which shows whether the time goes to the bulk or to a tail.
async fn wait_all_ready(
    api: &Api<FachverfahrenOnboarding>,
    n: usize,
    limit: Duration,
    start: Instant,
) -> Vec<Duration> {
    use kube::runtime::{WatchStreamExt, watcher};
    let mut ready = std::collections::HashSet::new();
    let mut deciles = Vec::new();
    let events = watcher(api.clone(), watcher::Config::default()).default_backoff();
    let mut events = std::pin::pin!(events);
    let count = async {
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Init) => ready.clear(),
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    if ready_at(&o, o.metadata.generation) {
                        ready.insert(o.name_any());
                    } else {
                        ready.remove(&o.name_any());
                    }
                }
                Ok(watcher::Event::Delete(o)) => {
                    ready.remove(&o.name_any());
                }
                Ok(watcher::Event::InitDone) | Err(_) => {}
            }
            while deciles.len() < 10 && ready.len() * 10 >= n * (deciles.len() + 1) {
                deciles.push(start.elapsed());
            }
            if ready.len() == n {
                return;
            }
        }
    };
    tokio::time::timeout(limit, count)
        .await
        .expect("all onboardings Ready in time");
    deciles
}

#[tokio::main]
async fn main() {
    let n = arg("--onboardings", 1000);
    let changes = arg("--changes", 200);
    let workloads = arg("--workloads", 5000);
    if std::env::args().any(|a| a == "--floor-only") {
        // The sandbox alone, for profiling it: the writes a run of `n` onboardings makes.
        let writes = (MIN_WRITES_PER_ONBOARDING + 1) * n as u64;
        let took = floor(n, writes).await;
        println!(
            "floor ({writes} writes, 1 client, 16 at a time): {:.1} s",
            took.as_secs_f64()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let sandbox = Sandbox::start(SandboxConfig {
        kubeconfig: Some(kubeconfig.clone()),
        // Every request of the run is kept, for the writes by resource below.
        request_log_capacity: 4_000_000,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = Client::try_from(kube::Config::new(sandbox.url().parse().unwrap())).unwrap();
    conplus_operator::cli::sandbox::install_crds(&client)
        .await
        .unwrap();
    let ressorts: Api<Ressort> = Api::all(client.clone());
    let budget = ResourceTotals {
        cpu: "100k".into(),
        memory: "100Ti".into(),
        storage: "100Ti".into(),
        pods: "1M".into(),
    };
    ressorts
        .patch(
            "mk",
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&Ressort::new(
                "mk",
                RessortSpec {
                    display_name: "MK".into(),
                    budget,
                    onboarders: Vec::new(),
                    node_pool: None,
                },
            )),
        )
        .await
        .unwrap();

    let tasks = arg("--aufgaben", 0);
    let task_api: Api<Verwaltungsaufgabe> = Api::all(client.clone());
    for j in 0..tasks {
        let t = Verwaltungsaufgabe::new(
            &format!("task-{j}"),
            VerwaltungsaufgabeSpec {
                display_name: format!("Aufgabe {j}"),
                kind: AufgabeKind::Querschnitt,
                number: None,
                description: None,
                owner: None,
            },
        );
        task_api
            .patch(
                &t.name_any(),
                &PatchParams::apply("bench").force(),
                &Patch::Apply(&t),
            )
            .await
            .unwrap();
    }
    let (mut controller, port) = start_controller(&kubeconfig);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_bytes(controller.id());
    let cpu_idle = cpu_seconds(controller.id());
    let own_cpu_idle = cpu_seconds(std::process::id());
    sandbox.reset_stats();
    let api: Api<FachverfahrenOnboarding> = Api::all(client.clone());
    let start = Instant::now();
    futures::stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let api = api.clone();
            async move {
                let o = onboarding(i);
                api.patch(
                    &o.name_any(),
                    &PatchParams::apply("bench").force(),
                    &Patch::Apply(&o),
                )
                .await
                .unwrap();
            }
        })
        .await;
    let created = start.elapsed();
    let deciles = wait_all_ready(&api, n, Duration::from_secs(1800), start).await;
    let all_ready = start.elapsed();
    let cpu_at_ready = cpu_seconds(controller.id());
    let own_cpu_at_ready = cpu_seconds(std::process::id());
    // Let trailing watch events settle, then count what the controller did.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = sandbox.stats();
    let rounds = reconciles(port);
    let writes_by_resource = writes_by_resource(&sandbox.request_log());
    let peak = peak_rss_mib(controller.id());
    let converged_rss = rss_bytes(controller.id());
    let latencies = if changes > 0 {
        change_latency(&client, n, workloads, changes).await
    } else {
        Vec::new()
    };
    let loaded_rss = rss_bytes(controller.id());
    let peak_with_workloads = peak_rss_mib(controller.id());

    // A full resync: a restarted controller goes over every onboarding against warm watches.
    // In-flight work settles first (the Ressort's status follows the last change after its
    // one-second debounce), so that the restart starts from a converged state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    controller.kill().ok();
    controller.wait().ok();
    sandbox.reset_stats();
    let (mut controller, _) = start_controller(&kubeconfig);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let resync = sandbox.stats();
    let resync_writes: Vec<String> = sandbox
        .request_log()
        .iter()
        .filter(|r| is_write(r))
        .map(|r| {
            format!(
                "{} {}{} {}/{} by {}",
                r.verb,
                r.resource,
                if r.subresource.is_empty() {
                    String::new()
                } else {
                    format!("/{}", r.subresource)
                },
                r.namespace,
                r.name,
                r.field_manager
            )
        })
        .collect();
    let resync_peak = peak_rss_mib(controller.id());
    controller.kill().ok();
    controller.wait().ok();

    let writes = stats.writes().saturating_sub(n as u64); // the benchmark's own creates
    let floor = floor(n, writes).await;
    println!("onboardings:                 {n} x 3 environments");
    println!("Verwaltungsaufgaben:         {tasks} (each onboarding names one; 0: none)");
    println!(
        "created in:                  {:.1} s",
        created.as_secs_f64()
    );
    println!(
        "time to all Ready:           {:.1} s",
        all_ready.as_secs_f64()
    );
    println!(
        "API requests (all):          {} ({:.1} per onboarding)",
        stats.total,
        stats.total as f64 / n as f64
    );
    println!(
        "  of them writes:            {writes} ({:.1} per onboarding; minimum {MIN_WRITES_PER_ONBOARDING})",
        writes as f64 / n as f64
    );
    println!("  by verb:                   {:?}", stats.by_verb);
    println!(
        "  writes by resource (per onboarding): {}",
        writes_by_resource
            .iter()
            .map(|(k, v)| format!("{k} {:.2}", *v as f64 / n as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let (Some(cpu), Some(idle)) = (cpu_at_ready, cpu_idle) {
        println!(
            "controller CPU until all Ready: {:.1} s (user + system)",
            cpu - idle
        );
    }
    println!(
        "Ready by share (10 %, 20 %, …, 100 %): {}",
        deciles
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let (Some(cpu), Some(idle)) = (own_cpu_at_ready, own_cpu_idle) {
        println!(
            "sandbox CPU until all Ready: {:.1} s (user + system; with this benchmark's own client)",
            cpu - idle
        );
    }
    if let Some(rounds) = rounds {
        println!(
            "reconciles until settled:    {rounds} ({:.2} per onboarding)",
            rounds / n as f64
        );
    }
    println!(
        "floor (same writes, 1 client, 16 at a time, no controller): {:.1} s; all Ready / floor = {:.2}",
        floor.as_secs_f64(),
        all_ready.as_secs_f64() / floor.as_secs_f64()
    );
    if !latencies.is_empty() {
        println!(
            "spec change to Ready ({} changes, {workloads} workloads): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            latencies.len(),
            quantile(&latencies, 0.5).as_secs_f64() * 1000.0,
            quantile(&latencies, 0.99).as_secs_f64() * 1000.0,
            quantile(&latencies, 1.0).as_secs_f64() * 1000.0
        );
    }
    let objects = n as u64 * OBJECTS_PER_ONBOARDING;
    if let (Some(idle), Some(converged)) = (idle_rss, converged_rss) {
        println!(
            "memory per managed object:   {:.0} bytes (RSS {:.1} MiB idle, {:.1} MiB with {objects} objects)",
            (converged - idle) / objects as f64,
            idle / 1048576.0,
            converged / 1048576.0
        );
    }
    if let (Some(converged), Some(loaded), true) = (converged_rss, loaded_rss, changes > 0) {
        println!(
            "memory per workload:         {:.0} bytes (RSS {:.1} MiB with {workloads} workloads; peak {:.1} MiB)",
            (loaded - converged) / workloads as f64,
            loaded / 1048576.0,
            peak_with_workloads.unwrap_or(f64::NAN)
        );
    }
    println!(
        "writes during full resync:   {} (goal 0; by verb {:?})",
        resync.writes(),
        resync.by_verb
    );
    for w in &resync_writes {
        println!("  {w}");
    }
    println!(
        "controller peak RSS:         {:.1} MiB (after resync: {:.1} MiB)",
        peak.unwrap_or(f64::NAN),
        resync_peak.unwrap_or(f64::NAN)
    );
    sandbox.shutdown().await;
}
