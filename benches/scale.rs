//! Scale benchmark of the controller: 1,000 onboardings of 3 environments each in the sandbox,
//! with the controller as a separate process (`conplus-operator run`), exactly as against a
//! cluster. Prints time to all Ready, API requests per onboarding against the minimum needed,
//! writes during a full resync, and the controller's peak memory.
//!
//! `cargo bench --bench scale` (or `-- --onboardings 200` for a quicker run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conplus_operator::api::*;
use futures::StreamExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use kube_sandbox::{Sandbox, SandboxConfig};

/// Writes one onboarding needs at the least: per environment the namespace, quota, limits,
/// five policies, one binding and the default ServiceAccount; then the finalizer, the budget
/// reservation and the final status.
const MIN_WRITES_PER_ONBOARDING: u64 = 3 * 10 + 3;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
            process: None,
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

fn start_controller(kubeconfig: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
        .args(["run", "--kubeconfig"])
        .arg(kubeconfig)
        .args(["--log-level", "warn", "--concurrency", "16"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the controller")
}

/// Peak resident memory of a process in MiB (Linux `VmHWM`).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

async fn ready_count(api: &Api<FachverfahrenOnboarding>) -> usize {
    let list = api.list(&ListParams::default()).await.unwrap();
    list.items
        .iter()
        .filter(|o| {
            o.status.as_ref().is_some_and(|s| {
                s.observed_generation == o.metadata.generation
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        })
        .count()
}

#[tokio::main]
async fn main() {
    let n = arg("--onboardings", 1000);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let sandbox = Sandbox::start(SandboxConfig {
        kubeconfig: Some(kubeconfig.clone()),
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
                },
            )),
        )
        .await
        .unwrap();

    let mut controller = start_controller(&kubeconfig);
    tokio::time::sleep(Duration::from_secs(1)).await;
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
    loop {
        if ready_count(&api).await == n {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "not all Ready within 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all_ready = start.elapsed();
    // Let trailing watch events settle, then count what the controller did.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = sandbox.stats();
    let peak = peak_rss_mib(controller.id());

    // A full resync: a restarted controller goes over every onboarding against warm watches.
    controller.kill().ok();
    controller.wait().ok();
    sandbox.reset_stats();
    let mut controller = start_controller(&kubeconfig);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let resync = sandbox.stats();
    let resync_peak = peak_rss_mib(controller.id());
    controller.kill().ok();
    controller.wait().ok();

    let writes = stats.writes().saturating_sub(n as u64); // the benchmark's own creates
    println!("onboardings:                 {n} x 3 environments");
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
        "writes during full resync:   {} (goal 0; by verb {:?})",
        resync.writes(),
        resync.by_verb
    );
    println!(
        "controller peak RSS:         {:.1} MiB (after resync: {:.1} MiB)",
        peak.unwrap_or(f64::NAN),
        resync_peak.unwrap_or(f64::NAN)
    );
    sandbox.shutdown().await;
}
