//! The consolidation inventory against a cluster (the sandbox, or the real control plane with
//! `CONPLUS_TEST_CLUSTER`): a `Verwaltungsaufgabe` lists the onboardings that name it and says when
//! several Fachverfahren serve it, onboardings say whether the task they name exists, and
//! `conplus-operator inventory` reads the same from the cluster.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use conplus_operator::api::*;
use kube::ResourceExt;
use support::*;

/// A task whose display name is as unique as its name: on a shared cluster the page and the
/// inventory list other tests' tasks too.
fn task(name: &str) -> Verwaltungsaufgabe {
    Verwaltungsaufgabe::new(
        name,
        VerwaltungsaufgabeSpec {
            display_name: format!("Zeiterfassung {name}"),
            kind: AufgabeKind::Querschnitt,
            number: None,
            description: None,
            owner: None,
        },
    )
}

fn serving(
    name: &str,
    ressort: &str,
    fachverfahren: &str,
    aufgabe: &str,
) -> FachverfahrenOnboarding {
    let mut o = onboarding(name, ressort, fachverfahren, &["prod"], "1");
    o.spec.aufgabe = Some(aufgabe.into());
    o
}

fn parallel(t: &Verwaltungsaufgabe) -> Option<&str> {
    t.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "ParallelSolutions")
        .map(|c| c.status.as_str())
}

/// `conplus-operator inventory ARGS` against the test's cluster: (exit code, stdout, stderr).
async fn inventory(env: &Env, args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_conplus-operator"));
    cmd.arg("inventory")
        .args(args)
        .arg("--kubeconfig")
        .arg(&env.cluster.kubeconfig);
    // The sandbox runs in this process: a blocking wait here would stall it.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_ressorts_naming_one_task_are_parallel_solutions_until_two_leave() {
    let env = Env::start().await;
    let zeit = env.name("zeiterfassung");
    env.apply(&task(&zeit)).await;
    let mut names = Vec::new();
    for r in ["mk", "ms", "mi"] {
        let ressort = env.name(r);
        env.apply(&ressort_(&ressort)).await;
        let name = format!("{ressort}-zeit");
        env.apply(&serving(&name, &ressort, &format!("zeit{r}"), &zeit))
            .await;
        names.push(name);
    }
    let api = env.api::<Verwaltungsaufgabe>();
    let listed = env
        .eventually("the task lists three solutions, parallel", || async {
            let t = api.get(&zeit).await.ok()?;
            (parallel(&t) == Some("True") && t.status.as_ref()?.solutions.len() == 3).then_some(t)
        })
        .await;
    let status = listed.status.unwrap();
    assert_eq!((status.ressorts, status.fachverfahren), (3, 3));
    let solution_names: Vec<&str> = status
        .solutions
        .iter()
        .map(|s| s.onboarding.as_str())
        .collect();
    for n in &names {
        assert!(
            solution_names.contains(&n.as_str()),
            "{n} in {solution_names:?}"
        );
    }
    env.wait_fvo(&names[0], "Ready, AufgabeKnown", |o| {
        is_ready(o) && condition(o, "AufgabeKnown").is_some_and(|c| c.status == "True")
    })
    .await;

    // The inventory command reads the same from the cluster.
    let (code, csv, err) = inventory(&env, &["--format", "csv", "--parallel-only"]).await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with(&format!("{zeit};")))
        .collect();
    assert_eq!(rows.len(), 3, "one row per solution: {csv}");
    assert!(
        rows.iter().all(|r| r.contains(";Querschnitt;yes;")),
        "{rows:?}"
    );

    // Two leave: one is deleted, one names another task.
    env.delete_fvo(&names[1]).await;
    let mut moved = serving(&names[2], &env.name("mi"), "zeitmi", &zeit);
    moved.spec.aufgabe = Some(env.name("schichtplanung"));
    env.apply(&moved).await;
    let single = env
        .eventually("ParallelSolutions turns False", || async {
            let t = api.get(&zeit).await.ok()?;
            (parallel(&t) == Some("False")).then_some(t)
        })
        .await;
    let status = single.status.unwrap();
    assert_eq!(status.fachverfahren, 1);
    assert_eq!(status.solutions[0].onboarding, names[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_task_is_reported_without_holding_provisioning_up() {
    let env = Env::start().await;
    let ressort = env.name("mu");
    env.apply(&ressort_(&ressort)).await;
    let name = format!("{ressort}-luft");
    let missing = env.name("luftreinhaltung");
    env.apply(&serving(&name, &ressort, "luft", &missing)).await;
    let o = env
        .wait_fvo(&name, "Ready with AufgabeKnown=False", |o| {
            is_ready(o) && condition(o, "AufgabeKnown").is_some_and(|c| c.status == "False")
        })
        .await;
    let known = condition(&o, "AufgabeKnown").unwrap();
    assert_eq!(known.reason, "AufgabeNotFound");
    assert!(
        known.message.contains("kubectl get vwa"),
        "{}",
        known.message
    );

    // Creating the task turns the condition True without a change to the onboarding.
    env.apply(&task(&missing)).await;
    env.wait_fvo(&name, "AufgabeKnown=True", |o| {
        condition(o, "AufgabeKnown").is_some_and(|c| c.status == "True")
    })
    .await;
    let ns = env
        .api::<k8s_openapi::api::core::v1::Namespace>()
        .get(&format!("{ressort}-luft-prod"))
        .await
        .unwrap();
    assert_eq!(
        ns.labels().get("conplus.niedersachsen.de/aufgabe"),
        Some(&missing),
        "the namespace is labelled with its task"
    );
}

fn ressort_(name: &str) -> Ressort {
    ressort(name, "16")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costs_add_up_exactly_across_onboarding_ressort_and_task() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let mut env = Env::without_controller().await;
    let prices = env.name("prices");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": prices, "namespace": "default"},
        "data": {"currency": "EUR", "cpuCoreMonth": "25.50", "memoryGiBMonth": "3.2",
                 "storageGiBMonth": "0.1234", "namespaceMonth": "10"}
    }))
    .unwrap();
    env.ns_api::<ConfigMap>("default")
        .patch(
            &prices,
            &kube::api::PatchParams::apply("kubectl").force(),
            &kube::api::Patch::Apply(&cm),
        )
        .await
        .unwrap();
    env.start_controller_with(conplus_operator::controller::Options {
        prices: Some(("default".into(), prices.clone())),
        ..Default::default()
    });
    let zeit = env.name("zeiterfassung");
    env.apply(&task(&zeit)).await;
    let ressort = env.name("mf");
    env.apply(&ressort_(&ressort)).await;
    // Each onboarding: 1 core, 2 GiB, 10 GiB storage per environment (support::onboarding).
    let a = format!("{ressort}-a");
    let b = format!("{ressort}-b");
    let mut first = onboarding(&a, &ressort, "a", &["dev", "prod"], "1");
    first.spec.aufgabe = Some(zeit.clone());
    let mut second = onboarding(&b, &ressort, "b", &["prod"], "500m");
    second.spec.aufgabe = Some(zeit.clone());
    env.apply(&first).await;
    env.apply(&second).await;
    let cost =
        |o: &FachverfahrenOnboarding| o.status.as_ref()?.cost.as_ref().map(|c| c.monthly.clone());
    // a: 2 cores × 25.50 + 4 GiB × 3.20 + 20 GiB × 0.1234 + 2 × 10 = 51 + 12.80 + 2.468 + 20 = 86.27 (rounded once).
    let a_cost = env
        .wait_fvo(&a, "Ready with a cost", |o| {
            is_ready(o) && cost(o).is_some()
        })
        .await;
    assert_eq!(cost(&a_cost).as_deref(), Some("86.27"));
    // b: 0.5 × 25.50 + 2 × 3.20 + 10 × 0.1234 + 10 = 12.75 + 6.40 + 1.234 + 10 = 30.38.
    let b_cost = env
        .wait_fvo(&b, "Ready with a cost", |o| {
            is_ready(o) && cost(o).is_some()
        })
        .await;
    assert_eq!(cost(&b_cost).as_deref(), Some("30.38"));
    let ressorts = env.api::<Ressort>();
    env.eventually(
        "the Ressort's cost is the sum of its onboardings'",
        || async {
            let r = ressorts.get(&ressort).await.ok()?;
            (r.status?.cost?.monthly == "116.65").then_some(())
        },
    )
    .await;
    let tasks = env.api::<Verwaltungsaufgabe>();
    env.eventually("the task's cost is the sum of its solutions'", || async {
        let t = tasks.get(&zeit).await.ok()?;
        let status = t.status?;
        let listed: Vec<_> = status
            .solutions
            .iter()
            .filter_map(|s| s.monthly_cost.clone())
            .collect();
        (status.cost?.monthly == "116.65" && listed.len() == 2).then_some(())
    })
    .await;
}

/// Debian's headless Chromium (`CHROMIUM`, else `chromium` on the PATH). A missing browser fails the
/// test (`.ci/run` installs it) unless `CONPLUS_SKIP_BROWSER_TESTS=1` says to skip.
fn chromium() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join("chromium"))
                .find(|p| p.is_file())
        });
    if path.is_none() {
        assert!(
            std::env::var("CONPLUS_SKIP_BROWSER_TESTS").as_deref() == Ok("1"),
            "no chromium: install Debian's chromium (apt-get install chromium), set CHROMIUM, or set CONPLUS_SKIP_BROWSER_TESTS=1 to skip"
        );
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_page_shows_tasks_and_parallel_solutions_in_a_browser() {
    let Some(browser) = chromium() else { return };
    let env = Env::start().await;
    let zeit = env.name("zeiterfassung");
    env.apply(&task(&zeit)).await;
    let mut names = Vec::new();
    for r in ["mk", "ms"] {
        let ressort = env.name(r);
        env.apply(&ressort_(&ressort)).await;
        let name = format!("{ressort}-zeit");
        env.apply(&serving(&name, &ressort, &format!("zeit{r}"), &zeit))
            .await;
        names.push(name);
    }
    for n in &names {
        env.wait_fvo(n, "Ready", is_ready).await;
    }
    let ressorts = env.api::<Ressort>();
    for r in ["mk", "ms"] {
        let name = env.name(r);
        env.eventually("the Ressort counts its onboarding", || async {
            (ressorts.get(&name).await.ok()?.status?.onboardings == 1).then_some(())
        })
        .await;
    }
    let listener = conplus_operator::inventory::serve::bind(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(conplus_operator::inventory::serve::serve_on(
        listener,
        env.client.clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let screenshot = std::env::var("UPDATE_DOCS")
        .is_ok_and(|v| v == "1")
        .then(|| root().join("docs/inventory-page.png"));
    let dom = tokio::task::spawn_blocking(move || {
        let run = |extra: &[String]| {
            std::process::Command::new(&browser)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--window-size=1280,900",
                ])
                .args(extra)
                .arg(&url)
                .output()
                .unwrap()
        };
        if let Some(path) = screenshot {
            run(&[format!("--screenshot={}", path.display())]);
        }
        let out = run(&["--dump-dom".to_string()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap();
    let _ = stop_tx.send(());
    let _ = server.await;
    assert!(dom.contains("<h1>CONPlus-Inventar</h1>"), "{dom}");
    assert!(dom.contains("lang=\"de\""));
    // The task's row is highlighted and names both Fachverfahren.
    let row = dom
        .split("<tr")
        .find(|r| r.contains(&format!("Zeiterfassung {zeit}<")))
        .unwrap_or_else(|| panic!("no highlighted row of the task: {dom}"));
    assert!(
        row.contains("class=\"parallel\""),
        "the row is highlighted: {row}"
    );
    assert!(row.contains("ja: 2 Fachverfahren"), "{row}");
    for n in &names {
        assert!(dom.contains(n.as_str()), "{n} on the page");
    }
}
