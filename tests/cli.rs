//! The `render`, `crd` and `sandbox` subcommands, run as the built binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_conplus-operator"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn render_prints_every_object_of_every_environment_of_the_example() {
    let out = bin()
        .args([
            "render",
            "-f",
            "examples/moin-schule.yaml",
            "--ingress-namespace",
            "plattform-ingress",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple::<serde_json::Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect();
    let count = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).count();
    assert_eq!(count("Namespace"), 3);
    assert_eq!(count("ResourceQuota"), 3);
    assert_eq!(count("LimitRange"), 3);
    assert_eq!(
        count("NetworkPolicy"),
        3 * 5,
        "four platform policies (none inside the namespace at protection level high) and the declared namespaces, per environment"
    );
    assert!(
        !text.contains("conplus-allow-same-namespace"),
        "moin.schule is at protection level high: traffic inside a namespace is denied"
    );
    assert_eq!(
        count("RoleBinding"),
        3 + 3 + 2,
        "betrieb and support everywhere, entwicklung in dev and test"
    );
    assert_eq!(count("ServiceAccount"), 3);
    assert!(
        text.contains("plattform-ingress"),
        "platform flags reach the builders"
    );
}

#[test]
fn render_with_the_ressort_gives_the_namespaces_its_node_pool_as_default_node_selector() {
    let render = |files: &[&str]| {
        let mut args = vec!["render"];
        for f in files {
            args.extend(["-f", f]);
        }
        let out = bin().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        serde_saphyr::from_multiple::<serde_json::Value>(&text)
            .unwrap()
            .into_iter()
            .filter(|d| d["kind"] == "Namespace")
            .map(|ns| {
                ns["metadata"]["annotations"]["scheduler.alpha.kubernetes.io/node-selector"].clone()
            })
            .collect::<Vec<_>>()
    };
    // moin.schule is at protection level high: its profile demands the Ressort's dedicated pool.
    let with = render(&["examples/ressort-mk.yaml", "examples/moin-schule.yaml"]);
    assert_eq!(with.len(), 3);
    for selector in &with {
        assert_eq!(
            selector.as_str().map(|s| s.ends_with("=mk")),
            Some(true),
            "{with:?}"
        );
    }
    let without = render(&["examples/moin-schule.yaml"]);
    assert!(
        without.iter().all(serde_json::Value::is_null),
        "{without:?}"
    );
}

#[test]
fn render_of_a_file_without_onboardings_fails_with_exit_code_2() {
    let out = bin()
        .args(["render", "-f", "examples/ressort-mk.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no FachverfahrenOnboarding"));
}

#[test]
fn crd_prints_what_crds_directory_holds() {
    let out = bin().arg("crd").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/conplus-operator.yaml"
    ))
    .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

#[test]
fn sandbox_with_the_examples_exits_once_every_onboarding_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let out = bin()
        .args([
            "sandbox",
            "--apply",
            "examples/",
            "--exit-when-ready",
            "--timeout-seconds",
            "60",
            "--log-level",
            "warn",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("onboarding mk-moin-schule: Ready"),
        "{stdout}"
    );
    assert!(stdout.contains("all onboardings are Ready"), "{stdout}");
    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(config.contains("server: http://127.0.0.1:"), "{config}");
}

/// Ends the child process this test started, by its own handle.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sandbox_faults_from_the_command_line_fail_the_matching_requests_only() {
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/tools/bin/kubectl");
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file());
    let Some(kubectl) = Some(local).filter(|p| p.exists()).or(on_path) else {
        // A missing tool fails the test, as in kube-sandbox's kubectl tests, unless asked to skip.
        assert!(
            std::env::var("KUBE_SANDBOX_SKIP_KUBECTL_TESTS").as_deref() == Ok("1"),
            "no kubectl: run .ci/install-tools.sh, or set KUBE_SANDBOX_SKIP_KUBECTL_TESTS=1 to skip"
        );
        return;
    };
    let help = bin().args(["sandbox", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--faults <SPEC>"), "{help}");
    assert!(help.contains("watch-cut=DURATION"), "{help}");

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Child(
        bin()
            .args([
                "sandbox",
                "--no-operator",
                "--log-level",
                "warn",
                "--faults",
                "verb=list,resource=configmaps,status=503; watch-cut=1s",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.starts_with("sandbox API server listening") {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("injecting faults: 1 request rule(s), watch cuts every 1s")),
        "{seen:?}"
    );
    let run = |args: &[&str]| {
        Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .output()
            .unwrap()
    };
    let cms = run(&["get", "configmaps", "-A"]);
    assert!(!cms.status.success());
    assert!(
        String::from_utf8_lossy(&cms.stderr)
            .contains("the server is currently unable to handle the request"),
        "{}",
        String::from_utf8_lossy(&cms.stderr)
    );
    let ns = run(&["get", "namespaces", "-o", "name"]);
    assert!(
        ns.status.success(),
        "{}",
        String::from_utf8_lossy(&ns.stderr)
    );
    // A watch is cut after about a second; kubectl then ends with success.
    let started = std::time::Instant::now();
    let watch = run(&["get", "namespaces", "--watch", "--request-timeout=20s"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the watch was not cut: {:?}, {}",
        started.elapsed(),
        String::from_utf8_lossy(&watch.stderr)
    );
}

#[test]
fn sandbox_refuses_a_fault_spec_it_cannot_read_naming_the_key() {
    let out = bin()
        .args(["sandbox", "--faults", "verb=get,colour=red"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown key \"colour\""), "{stderr}");
}
