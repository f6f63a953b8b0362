//! `kubectl conplus` as a Ressort team runs it: the built binary linked as `kubectl-conplus` into a folder on
//! the PATH, called through the real kubectl (which finds plugins on the PATH and passes every argument on),
//! against the cluster of `CONPLUS_TEST_CLUSTER` with the controller running. And `check --format
//! policyreport`, whose counts must agree with the JSON report of the same input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use conplus_operator::api::Phase;
use support::*;

/// A folder holding `kubectl-conplus`, a link to the built binary.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_conplus-operator"),
        dir.path().join("kubectl-conplus"),
    )
    .unwrap();
    dir
}

/// `kubectl conplus ARGS --kubeconfig K`, with the plugin folder first on the PATH: (exit code, stdout, stderr).
async fn kubectl_conplus(dir: &Path, kubeconfig: &Path, args: &[&str]) -> (i32, String, String) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths: Vec<PathBuf> = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = Command::new(tool("kubectl"));
    cmd.arg("conplus")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env_remove("NO_COLOR");
    // Off the test's runtime: the sandbox answers on it, and a blocking wait here would stall it.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("kubectl runs (.ci/install-tools.sh installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn kubectl_conplus_status_and_why_name_the_budget_that_blocks_an_onboarding() {
    let env = Env::start().await;
    let r = env.name("mk");
    env.apply(&ressort(&r, "1")).await;
    let name = env.name("big");
    env.apply(&onboarding(&name, &r, "plugin", &["dev"], "4"))
        .await;
    env.wait_fvo(&name, "Blocked by the budget", |o| {
        o.status.as_ref().and_then(|s| s.phase) == Some(Phase::Blocked)
    })
    .await;
    let dir = plugin_dir();
    let kubeconfig = &env.cluster.kubeconfig;

    let (code, out, err) = kubectl_conplus(dir.path(), kubeconfig, &["status", &name]).await;
    assert_eq!(code, 0, "{out}{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_default();
    assert!(
        row.contains("Blocked") && row.contains("BudgetExceeded") && row.contains("0/1"),
        "{out}"
    );
    // Not a terminal: no colour codes.
    assert!(!out.contains('\u{1b}'), "{out}");

    let (code, out, err) = kubectl_conplus(dir.path(), kubeconfig, &["why", &name]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("BudgetAvailable is False: BudgetExceeded"),
        "{out}"
    );
    assert!(out.contains("next: lower the quotas"), "{out}");

    let (code, out, err) = kubectl_conplus(
        dir.path(),
        kubeconfig,
        &["status", &name, "--wait", "--timeout-seconds", "1"],
    )
    .await;
    assert_eq!(
        code, 1,
        "a blocked onboarding is not Ready after --wait: {out}{err}"
    );
    assert!(
        out.contains("Blocked, 0/1 environments ready — BudgetExceeded"),
        "{out}"
    );
    assert!(
        err.contains(&format!("kubectl conplus why {name}")),
        "{err}"
    );
}

#[tokio::test]
async fn kubectl_conplus_says_plainly_when_an_onboarding_does_not_exist() {
    let env = Env::without_controller().await;
    let dir = plugin_dir();
    let missing = env.name("nowhere");
    let (code, _, err) =
        kubectl_conplus(dir.path(), &env.cluster.kubeconfig, &["why", &missing]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("FachverfahrenOnboarding {missing} does not exist")),
        "{err}"
    );
}

fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_conplus-operator"))
        .arg("check")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_format_policyreport_counts_agree_with_the_json_report() {
    let input = "tests/fixtures/conformance/bad";
    let (code, json) = check(&["--format", "json", "--namespace-rules", input]);
    assert_eq!(code, 1, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (code, reports) = check(&["--format", "policyreport", "--namespace-rules", input]);
    assert_eq!(code, 1, "{reports}");
    let list: serde_json::Value = serde_json::from_str(&reports).unwrap();
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    assert!(!items.is_empty());
    let sum = |field: &str| -> u64 {
        items
            .iter()
            .map(|i| i["summary"][field].as_u64().unwrap_or(0))
            .sum()
    };
    let by = &json["summary"]["bySeverity"];
    assert_eq!(sum("fail"), by["error"].as_u64().unwrap(), "{reports}");
    assert_eq!(
        sum("warn"),
        by["warning"].as_u64().unwrap() + by["info"].as_u64().unwrap()
    );
    assert_eq!(sum("skip"), json["summary"]["silenced"].as_u64().unwrap());
    for item in items {
        assert_eq!(item["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        let kind = item["kind"].as_str().unwrap();
        assert_eq!(
            kind == "PolicyReport",
            item["metadata"]["namespace"].is_string(),
            "{item}"
        );
        for r in item["results"].as_array().unwrap() {
            assert_eq!(r["source"], "conplus-operator");
            assert!(["pass", "fail", "warn", "skip"].contains(&r["result"].as_str().unwrap()));
            assert!(r["resources"][0]["kind"].is_string(), "{r}");
        }
    }
}
