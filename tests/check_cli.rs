//! `conplus-operator check` as a pipeline runs it: the built binary over the fixtures in
//! `tests/fixtures/conformance`, every format, every exit code, stdin, folder recursion and broken input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_conplus-operator");

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance")
}

/// Runs `check ARGS` in the fixture folder, optionally feeding `stdin`.
fn check(args: &[&str], stdin: Option<&str>) -> Output {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    run(&all, stdin)
}

/// Runs the binary with `args` in the fixture folder, optionally feeding `stdin`.
fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(fixtures());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// The messages of the findings of a JSON report.
fn messages_of(j: &Value) -> Vec<&str> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(o)))
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_conformant_folder_exits_0_and_is_read_recursively_skipping_non_manifests() {
    let o = check(&["good"], None);
    assert_eq!(code(&o), 0, "{}", show(&o));
    // namespace.yaml has 4 objects, deployment.yaml 1, nested/service.json 1; values.yaml and README.txt are no objects.
    assert!(stdout(&o).contains("6 objects, 0 findings"), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("skipped 1 YAML/JSON document"),
        "{}",
        show(&o)
    );
    let j = json_of(&check(&["good", "--format", "json"], None));
    assert_eq!(j["summary"]["objects"], 6);
    assert_eq!(j["summary"]["score"], 100);
}

#[test]
fn findings_exit_1_and_text_groups_them_by_object_with_file_and_line() {
    let o = check(&["bad"], None);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let out = stdout(&o);
    let deployment = out
        .find("bad/workloads.yaml:3: Deployment mi-melderegister-test/legacy\n")
        .expect(&out);
    let service = out
        .find("bad/workloads.yaml:25: Service mi-melderegister-test/legacy-ssh\n")
        .expect(&out);
    let privileged = out
        .find("privileged-container: container app: securityContext.privileged is true")
        .expect(&out);
    let ssh = out
        .find("ssh-port: port 22 exposes SSH [SYS.1.6.A16]")
        .expect(&out);
    assert!(
        deployment < privileged && privileged < service && service < ssh,
        "grouped by object:\n{out}"
    );
    assert!(
        out.contains("[SYS.1.6.A17, APP.4.4.A4, PSS baseline]"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("profile dvc-basis"), "{out}");
}

#[test]
fn json_has_the_documented_shape() {
    let o = check(&["bad", "--format", "json"], None);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let j = json_of(&o);
    let summary = &j["summary"];
    for key in ["objects", "findings", "bySeverity", "score"] {
        assert!(
            summary.get(key).is_some(),
            "summary.{key} missing: {summary}"
        );
    }
    assert_eq!(summary["objects"], 2);
    let by = &summary["bySeverity"];
    let total = by["error"].as_u64().unwrap()
        + by["warning"].as_u64().unwrap()
        + by["info"].as_u64().unwrap();
    let findings = j["findings"].as_array().unwrap();
    assert_eq!(total as usize, findings.len());
    assert_eq!(
        summary["findings"].as_u64().unwrap() as usize,
        findings.len()
    );
    for f in findings {
        let keys: BTreeSet<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "rule",
                "severity",
                "bsi",
                "pss",
                "object",
                "container",
                "file",
                "line",
                "message"
            ]),
            "{f}"
        );
        let okeys: BTreeSet<&str> = f["object"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            okeys,
            BTreeSet::from(["apiVersion", "kind", "namespace", "name"])
        );
    }
    let p = findings
        .iter()
        .find(|f| f["rule"] == "privileged-container")
        .unwrap();
    assert_eq!(p["severity"], "error");
    assert_eq!(p["pss"], "baseline");
    assert_eq!(p["bsi"], serde_json::json!(["SYS.1.6.A17", "APP.4.4.A4"]));
    assert_eq!(
        p["object"],
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "mi-melderegister-test", "name": "legacy"})
    );
    assert_eq!(p["container"], "app");
    assert_eq!(p["file"], "bad/workloads.yaml");
    assert_eq!(p["line"], 3);
    // Findings are ordered most serious first.
    let sev: Vec<&str> = findings
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    let first_warning = sev.iter().position(|s| *s == "warning").unwrap();
    assert!(
        sev[..first_warning].iter().all(|s| *s == "error")
            && sev[first_warning..].iter().all(|s| *s != "error")
    );
}

#[test]
fn min_severity_filters_the_output_and_the_exit_code() {
    // list.yaml has one warning only.
    let o = check(&["list.yaml"], None);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let o = check(
        &["list.yaml", "--min-severity", "error", "--format", "json"],
        None,
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(json_of(&o)["findings"], serde_json::json!([]));
    let j = json_of(&check(
        &["bad", "--min-severity", "error", "--format", "json"],
        None,
    ));
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] == "error")
    );
    assert_eq!(j["summary"]["bySeverity"]["warning"], 0);
}

#[test]
fn list_items_are_checked_one_by_one_with_their_own_lines() {
    let j = json_of(&check(&["list.yaml", "--format", "json"], None));
    assert_eq!(j["summary"]["objects"], 2);
    let f = &j["findings"][0];
    assert_eq!(
        (
            f["rule"].as_str(),
            f["object"]["name"].as_str(),
            f["line"].as_u64()
        ),
        (Some("service-node-port"), Some("b"), Some(11))
    );
}

#[test]
fn stdin_is_read_for_dash_as_yaml_or_json() {
    let yaml = std::fs::read_to_string(fixtures().join("bad/workloads.yaml")).unwrap();
    let o = check(&["-", "--format", "json"], Some(&yaml));
    assert_eq!(code(&o), 1, "{}", show(&o));
    let j = json_of(&o);
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["file"] == "-")
    );
    assert_eq!(j["summary"]["objects"], 2);

    // `kubectl get -o json` output: a List in JSON.
    let json_in = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 443}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}
    ]}"#;
    let o = check(&["-", "--format", "json"], Some(json_in));
    assert_eq!(code(&o), 1, "{}", show(&o));
    let j = json_of(&o);
    assert_eq!(j["summary"]["objects"], 2);
    assert_eq!(j["findings"][0]["object"]["name"], "lb");
    let o = check(
        &["-"],
        Some(r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}"#),
    );
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(stdout(&o).contains("1 object, 0 findings"), "{}", show(&o));
}

#[test]
fn a_broken_document_exits_2_and_the_other_documents_are_still_reported() {
    let o = check(&["broken", "list.yaml", "--format", "json"], None);
    assert_eq!(code(&o), 2, "{}", show(&o));
    let j = json_of(&o);
    let findings = j["findings"].as_array().unwrap();
    let parse = findings
        .iter()
        .find(|f| f["rule"] == "parse-error")
        .expect("parse-error finding");
    assert_eq!(parse["file"], "broken/mixed.yaml");
    // The broken document spans lines 9–14; the error is reported inside it, not at line 1.
    let line = parse["line"].as_u64().unwrap();
    assert!((9..=14).contains(&line), "line {line}");
    assert!(findings.iter().any(|f| f["rule"] == "configmap-credentials"
        && f["object"]["name"] == "leaky"
        && f["line"] == 16));
    assert!(
        findings
            .iter()
            .any(|f| f["object"]["name"] == "b" && f["file"] == "list.yaml")
    );
    // Text names file and line too.
    let o = check(&["broken"], None);
    assert_eq!(code(&o), 2);
    assert!(stdout(&o).contains("broken/mixed.yaml:"), "{}", show(&o));
}

#[test]
fn unreadable_paths_and_usage_errors_exit_2() {
    let o = check(&["does-not-exist.yaml"], None);
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(stdout(&o).contains("cannot read file"), "{}", show(&o));
    let o = check(&["good", "--profile", "dvc-unbekannt"], None);
    assert_eq!(code(&o), 2, "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("dvc-basis") && err.contains("dvc-unbekannt"),
        "{err}"
    );
    assert_eq!(code(&check(&["good", "--format", "yaml"], None)), 2);
    assert_eq!(
        code(&check(&["good", "--protection-level", "hoch"], None)),
        2
    );
    assert_eq!(code(&check(&[], None)), 2, "no path is a usage error");
}

#[test]
fn the_protection_level_chooses_the_builtin_profile() {
    // The conformant basis deployment lacks what `high` adds: a PodDisruptionBudget, zone spread, node pool.
    let o = check(
        &["good", "--protection-level", "high", "--format", "json"],
        None,
    );
    assert_eq!(code(&o), 1, "{}", show(&o));
    let rules: BTreeSet<String> = json_of(&o)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect();
    for r in [
        "pod-disruption-budget",
        "topology-spread",
        "dedicated-node-pool",
    ] {
        assert!(rules.contains(r), "{r} missing from {rules:?}");
    }
    assert!(
        !rules.contains("runtime-class"),
        "runtime classes are demanded only at veryHigh"
    );
    let by_name = json_of(&check(
        &["good", "--profile", "dvc-erhoeht", "--format", "json"],
        None,
    ));
    assert_eq!(by_name["findings"], json_of(&o)["findings"]);
    assert_eq!(by_name["summary"]["profile"], "dvc-erhoeht");
}

#[test]
fn a_profile_file_applies_its_overrides_and_exceptions_and_reports_expired_ones() {
    let args = [
        "bad",
        "--profile",
        "profiles/mk-with-exceptions.yaml",
        "--format",
        "json",
        "--now",
        "2026-11-26T12:00:00Z",
    ];
    let o = check(&args, None);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let j = json_of(&o);
    let findings = j["findings"].as_array().unwrap();
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(
        !rules.contains(&"privileged-container"),
        "excepted: {rules:?}"
    );
    assert!(!rules.contains(&"image-tag"), "disabled: {rules:?}");
    assert!(
        rules.contains(&"env-literal-secret"),
        "its exception expired: {rules:?}"
    );
    let nodeport = findings
        .iter()
        .find(|f| f["rule"] == "service-node-port")
        .unwrap();
    assert_eq!(nodeport["severity"], "error", "severity override");
    let expired = findings
        .iter()
        .find(|f| f["rule"] == "exception-expired")
        .unwrap();
    assert_eq!(expired["file"], "profiles/mk-with-exceptions.yaml");
    assert_eq!(j["summary"]["silenced"], 1);
    assert_eq!(j["summary"]["profile"], "mk-schule");

    // Before the second exception expired, it silenced the literal password too.
    let mut early = args;
    early[6] = "2026-01-01T00:00:00Z";
    let j = json_of(&check(&early, None));
    assert_eq!(j["summary"]["silenced"], 2);
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "exception-expired")
    );
}

#[test]
fn conplus_resources_are_validated_against_their_crd_schema() {
    let o = check(&["conplus-resources.yaml", "--format", "json"], None);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let j = json_of(&o);
    let by_kind: BTreeSet<(String, u64)> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|f| assert_eq!(f["rule"], "crd-schema", "{f}"))
        .map(|f| {
            (
                f["object"]["kind"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        by_kind.contains(&("ConformanceProfile".to_owned(), 2)),
        "{by_kind:?}"
    );
    assert!(by_kind.contains(&("Ressort".to_owned(), 10)), "{by_kind:?}");
    assert!(
        by_kind.contains(&("FachverfahrenOnboarding".to_owned(), 16)),
        "{by_kind:?}"
    );
    let text = stdout(&check(&["conplus-resources.yaml"], None));
    assert!(
        text.contains("unknown rule \"privileged-containers\""),
        "{text}"
    );
    // Onboardings: the schema's and the controller's own rules.
    let o = check(&["onboardings/mk-moin-schule.yaml"], None);
    assert_eq!(code(&o), 0, "a valid onboarding: {}", show(&o));
    let o = check(&["onboardings/mi-broken.yaml", "--format", "json"], None);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let j = json_of(&o);
    let messages = messages_of(&j);
    assert!(
        messages.iter().any(|m| m.starts_with("spec.access"))
            && messages.iter().any(|m| m.contains("quota.memory")),
        "schema errors not reported: {messages:?}"
    );
    let long = json_of(&check(
        &["onboardings/mw-too-long.yaml", "--format", "json"],
        None,
    ));
    let f = &long["findings"][0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("at most 63 characters"),
        "{long}"
    );
    assert_eq!(
        (f["rule"].as_str(), f["line"].as_u64()),
        (Some("crd-schema"), Some(4))
    );
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] == "crd-schema" && f["line"] == 3)
    );
    // The shipped example profiles are valid.
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/profiles");
    let o = check(&[examples.to_str().unwrap()], None);
    assert_eq!(code(&o), 0, "{}", show(&o));
}

#[test]
fn sarif_output_has_the_fields_code_scanning_requires() {
    let o = check(&["bad", "broken", "--format", "sarif"], None);
    assert_eq!(code(&o), 2, "{}", show(&o));
    let s = json_of(&o);
    assert_eq!(s["version"], "2.1.0");
    assert!(s["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &s["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "conplus-operator");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.len() >= 40);
    for r in rules {
        assert!(r["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(
            r["shortDescription"]["text"].is_string() && r["fullDescription"]["text"].is_string()
        );
        assert!(r["help"]["text"].is_string() && r["help"]["markdown"].is_string());
        assert!(
            ["error", "warning", "note"]
                .contains(&r["defaultConfiguration"]["level"].as_str().unwrap())
        );
        assert!(r["properties"]["tags"].is_array());
    }
    let priv_rule = rules
        .iter()
        .find(|r| r["id"] == "privileged-container")
        .unwrap();
    let tags: Vec<&str> = priv_rule["properties"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"SYS.1.6.A17")
            && tags.contains(&"APP.4.4.A4")
            && tags.contains(&"pss-baseline"),
        "{tags:?}"
    );
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for res in results {
        let id = res["ruleId"].as_str().unwrap();
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], id, "ruleIndex points at the rule");
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().unwrap()));
        assert!(
            res["message"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        let phys = &res["locations"][0]["physicalLocation"];
        let uri = phys["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            uri == "bad/workloads.yaml" || uri == "broken/mixed.yaml",
            "{uri}"
        );
        assert!(phys["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    assert!(results.iter().any(|r| r["ruleId"] == "parse-error"));
}

/// A small well-formedness check: balanced tags, quoted attributes, no raw `<` or `&` in text.
fn assert_well_formed_xml(xml: &str) -> Vec<String> {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        assert!(!text.contains('>'), "raw > in text: {text}");
        for (i, _) in text.match_indices('&') {
            let ent = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| ent.starts_with(e)),
                "bad entity: {ent}"
            );
        }
        let gt = rest[lt..].find('>').expect("unclosed tag") + lt;
        let tag = &rest[lt + 1..gt];
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        assert!(!tag.contains('<'), "< inside tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else {
            let name = tag.split([' ', '/']).next().unwrap().to_owned();
            seen.push(name.clone());
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[gt + 1..];
    }
    assert!(rest.trim().is_empty());
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    seen
}

#[test]
fn junit_output_is_well_formed_with_a_suite_per_object_and_a_failure_per_finding() {
    let o = check(&["bad", "--format", "junit"], None);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let xml = stdout(&o);
    let elements = assert_well_formed_xml(&xml);
    assert_eq!(elements[0], "testsuites");
    let findings = json_of(&check(&["bad", "--format", "json"], None))["findings"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        elements.iter().filter(|e| *e == "failure").count(),
        findings
    );
    // Deployment, Service and the namespace.
    assert_eq!(
        elements.iter().filter(|e| *e == "testsuite").count(),
        3,
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"Deployment mi-melderegister-test/legacy\""),
        "{xml}"
    );
    assert!(xml.contains("file=\"bad/workloads.yaml:3\""), "{xml}");
    // Passed checks are test cases too.
    assert!(xml.contains("<testcase name=\"host-namespaces\" classname=\"Deployment mi-melderegister-test/legacy\"/>"), "{xml}");
    assert_well_formed_xml(&stdout(&check(&["good", "--format", "junit"], None)));
}

/// Runs `check --format json FILE` on `content` with the address space capped at 1 GiB (`ulimit -v`): an
/// input that made the reader allocate without bound would end in an allocation failure (abort), not in
/// exit 2. The wall-clock bound is generous (the machine is shared); it proves that the work stops, not
/// its speed.
fn check_hostile(name: &str, content: &[u8]) -> (Output, std::time::Duration) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, content).unwrap();
    let started = std::time::Instant::now();
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" check --format json \"$1\"")
        .arg(BIN)
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(took.as_secs() < 20, "took {took:?}\n{}", show(&o));
    (o, took)
}

/// The parse-error message of a hostile input's JSON report.
fn parse_error_of(o: &Output) -> String {
    assert_eq!(code(o), 2, "{}", show(o));
    let j = json_of(o);
    let f = &j["findings"][0];
    assert_eq!(f["rule"], "parse-error", "{}", show(o));
    f["message"].as_str().unwrap().to_owned()
}

#[test]
fn an_alias_bomb_ends_with_exit_2_within_the_parsers_budget() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("data: {x: *a9}\n");
    let (o, _) = check_hostile("bomb.yaml", bomb.as_bytes());
    let msg = parse_error_of(&o);
    assert!(msg.contains("alias") || msg.contains("budget"), "{msg}");
}

#[test]
fn a_50_mb_file_ends_with_exit_2_naming_the_size_limit() {
    let mut big = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n".to_vec();
    while big.len() < 50_000_000 {
        big.extend_from_slice(
            b"  k: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n",
        );
    }
    let (o, _) = check_hostile("big.yaml", &big);
    assert!(parse_error_of(&o).contains("larger than 16 MiB"));
}

#[test]
fn a_hundred_thousand_levels_of_nesting_end_with_exit_2_naming_the_depth() {
    let levels = 100_000;
    let flow = format!("a: {}{}\n", "[".repeat(levels), "]".repeat(levels));
    let (o, _) = check_hostile("deep.yaml", flow.as_bytes());
    let msg = parse_error_of(&o);
    assert!(msg.contains("nest") || msg.contains("depth"), "{msg}");
    let json = format!("{}{}\n", "{\"a\":".repeat(levels), "}".repeat(levels));
    let (o, _) = check_hostile("deep.json", json.as_bytes());
    let msg = parse_error_of(&o);
    assert!(
        msg.contains("nest") || msg.contains("depth") || msg.contains("recursion"),
        "{msg}"
    );
    // Block nesting, one space deeper per level (as deep as fits in the size limit).
    let mut block = String::new();
    for i in 0..5_000 {
        block.push_str(&" ".repeat(i));
        block.push_str("a:\n");
    }
    let (o, _) = check_hostile("deep-block.yaml", block.as_bytes());
    let msg = parse_error_of(&o);
    assert!(msg.contains("nest") || msg.contains("depth"), "{msg}");
}

#[test]
fn binary_garbage_ends_with_exit_2_as_not_text() {
    // A deterministic pseudo-random byte stream (xorshift), 1 MB.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let garbage: Vec<u8> = (0..1_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let (o, _) = check_hostile("garbage.yaml", &garbage);
    let msg = parse_error_of(&o);
    assert!(msg.contains("binary"), "{msg}");
}

/// The rules of the JSON findings, as (rule, object name) pairs.
fn rules_by_object(j: &Value) -> BTreeSet<(String, String)> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["object"]["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn has(j: &Value, rule: &str, name: &str) -> bool {
    rules_by_object(j).contains(&(rule.to_owned(), name.to_owned()))
}

#[test]
fn a_yaml_stream_of_json_documents_is_checked_like_yaml() {
    let input = "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"ssh\", \"namespace\": \"a\"}, \"spec\": {\"ports\": [{\"port\": 22}]}}\n---\n{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\", \"namespace\": \"a\"}, \"data\": {\"password\": \"hunter2\"}}\n";
    let o = check(&["-", "--format", "json"], Some(input));
    assert_eq!(code(&o), 1, "{}", show(&o));
    let j = json_of(&o);
    assert!(!has(&j, "parse-error", ""), "{}", show(&o));
    assert!(has(&j, "ssh-port", "ssh"), "{}", show(&o));
    assert!(has(&j, "configmap-credentials", "c"), "{}", show(&o));
}

const OLD_DAEMONSET: &str = "apiVersion: extensions/v1beta1
kind: DaemonSet
metadata: {name: node-agent, namespace: monitoring}
spec:
  template:
    spec:
      hostPID: true
      containers:
      - name: agent
        image: registry.example/agent:1.0
        securityContext: {privileged: true}
        volumeMounts: [{name: root, mountPath: /host}]
      volumes:
      - name: root
        hostPath: {path: /}
";

#[test]
fn a_workload_in_a_removed_api_version_is_checked_by_kind_and_the_version_reported() {
    let o = check(&["-", "--format", "json"], Some(OLD_DAEMONSET));
    assert_eq!(code(&o), 1, "{}", show(&o));
    let j = json_of(&o);
    for rule in [
        "privileged-container",
        "host-namespaces",
        "host-path-volumes",
        "removed-api-version",
    ] {
        assert!(has(&j, rule, "node-agent"), "{rule}: {}", show(&o));
    }
    let removed = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "removed-api-version")
        .unwrap();
    assert!(
        removed["message"].as_str().unwrap().contains("apps/v1"),
        "{removed}"
    );
}

const WITH_UNREAD: &str = "apiVersion: v1
kind: Secret
metadata: {name: s, namespace: team}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.org}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: team}
spec:
  ports: [{port: 80}]
";

#[test]
fn objects_no_rule_reads_are_counted_as_not_checked_in_every_format() {
    let o = check(&["-", "--format", "json"], Some(WITH_UNREAD));
    assert_eq!(json_of(&o)["summary"]["notChecked"], 2, "{}", show(&o));
    let o = check(&["-", "--format", "sarif"], Some(WITH_UNREAD));
    assert_eq!(
        json_of(&o)["runs"][0]["properties"]["notChecked"],
        2,
        "{}",
        show(&o)
    );
    let o = check(&["-"], Some(WITH_UNREAD));
    assert!(
        stdout(&o)
            .contains("2 objects not checked: no rule reads CustomResourceDefinition, Secret"),
        "{}",
        show(&o)
    );
    let o = check(&["-", "--format", "junit"], Some(WITH_UNREAD));
    let xml = stdout(&o);
    assert_well_formed_xml(&xml);
    // Two objects and the namespace `team`, whose namespace rules were not evaluated.
    assert!(xml.contains("skipped=\"3\""), "{xml}");
    assert!(
        xml.contains("<skipped message=\"no rule reads Secret\"/>"),
        "{xml}"
    );
}

#[test]
fn junit_has_no_empty_suites() {
    let o = check(&["-", "--format", "junit"], Some(WITH_UNREAD));
    let xml = stdout(&o);
    assert!(!xml.contains("tests=\"0\""), "{xml}");
    let o = check(&["bad", "good", "--format", "junit"], None);
    let xml = stdout(&o);
    assert!(!xml.contains("tests=\"0\""), "{xml}");
}

const TEAM_DEPLOYMENT: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: mk-moin-schule-dev}
data: {mode: dev}
";

#[test]
fn namespace_rules_apply_only_to_namespaces_the_input_declares_or_when_asked() {
    let ns_rules = [
        "resource-quota",
        "limit-range",
        "network-policy-default-deny",
    ];
    // A team's manifests name a namespace the operator provides: its rules are not the team's.
    let o = check(&["-", "--format", "json"], Some(TEAM_DEPLOYMENT));
    assert_eq!(code(&o), 0, "{}", show(&o));
    let j = json_of(&o);
    assert_eq!(
        j["summary"]["namespaceRulesNotEvaluated"],
        serde_json::json!(["mk-moin-schule-dev"])
    );
    let o = check(&["-"], Some(TEAM_DEPLOYMENT));
    assert!(
        stdout(&o).contains("namespace rules not evaluated for mk-moin-schule-dev"),
        "{}",
        show(&o)
    );
    // Asked for, or with the Namespace in the input, they are evaluated.
    let o = check(
        &["-", "--format", "json", "--namespace-rules"],
        Some(TEAM_DEPLOYMENT),
    );
    let j = json_of(&o);
    for r in ns_rules {
        assert!(has(&j, r, "mk-moin-schule-dev"), "{r}: {}", show(&o));
    }
    let with_ns = format!(
        "{TEAM_DEPLOYMENT}---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: mk-moin-schule-dev}}\n"
    );
    let j = json_of(&check(&["-", "--format", "json"], Some(&with_ns)));
    for r in ns_rules {
        assert!(has(&j, r, "mk-moin-schule-dev"), "{r}: {j}");
    }
    // An onboarding that creates the namespace makes them evaluated too: its objects are the operator's.
    let onboarding =
        std::fs::read_to_string(fixtures().join("onboardings/mk-moin-schule.yaml")).unwrap();
    let with_fvo = format!("{TEAM_DEPLOYMENT}---\n{onboarding}");
    let j = json_of(&check(&["-", "--format", "json"], Some(&with_fvo)));
    assert!(has(&j, "resource-quota", "mk-moin-schule-dev"), "{j}");
    assert_eq!(
        j["summary"]["namespaceRulesNotEvaluated"],
        serde_json::json!([])
    );
}

#[test]
fn a_misspelt_onboarding_field_is_named_as_unknown_like_the_api_server_does() {
    let onboarding = std::fs::read_to_string(fixtures().join("onboardings/mk-moin-schule.yaml"))
        .unwrap()
        .replace("  environments:", "  enviroments:");
    let o = check(&["-", "--format", "json"], Some(&onboarding));
    assert_eq!(code(&o), 1, "{}", show(&o));
    let j = json_of(&o);
    let messages = messages_of(&j);
    assert!(
        messages.contains(&"spec.enviroments: unknown field \"spec.enviroments\""),
        "{messages:?}"
    );
}

fn onboarding(name: &str, ressort: &str, fachverfahren: &str, env: &str, cpu: &str) -> String {
    format!(
        "---
apiVersion: conplus.niedersachsen.de/v1alpha1
kind: FachverfahrenOnboarding
metadata:
  name: {name}
spec:
  ressort: {ressort}
  fachverfahren: {fachverfahren}
  displayName: {name}
  owner: {{organisation: Referat 1, contact: team@{ressort}.niedersachsen.de}}
  protectionLevel: normal
  environments:
  - name: {env}
    quota: {{cpu: \"{cpu}\", memory: 1Gi, storage: 1Gi, pods: \"10\"}}
"
    )
}

fn ressort(name: &str, cpu: &str) -> String {
    format!(
        "---
apiVersion: conplus.niedersachsen.de/v1alpha1
kind: Ressort
metadata: {{name: {name}}}
spec:
  displayName: {name}
  budget: {{cpu: \"{cpu}\", memory: 64Gi, storage: 1Ti, pods: \"500\"}}
"
    )
}

/// The `onboarding-admission` findings as (onboarding, message).
fn admission_findings(input: &str) -> Vec<(String, String)> {
    let o = check(&["-", "--format", "json"], Some(input));
    json_of(&o)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "onboarding-admission")
        .map(|f| {
            (
                f["object"]["name"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn onboardings_over_their_ressorts_budget_are_found_oldest_admitted_first() {
    let input = ressort("mk", "10")
        + &onboarding("mk-b", "mk", "b", "prod", "6")
        + &onboarding("mk-a", "mk", "a", "prod", "6");
    let found = admission_findings(&input);
    // Without creation times the controller orders by name: mk-a is admitted, mk-b is not.
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "mk-b");
    assert!(
        found[0].1.contains("budget of Ressort mk") && found[0].1.contains("cpu (left 4)"),
        "{found:?}"
    );
}

#[test]
fn onboardings_colliding_on_namespace_or_fachverfahren_and_a_missing_ressort_are_found() {
    // `a-b` + `c` and `a` + `b-c` both yield namespace a-b-c-prod.
    let input = ressort("a", "100")
        + &onboarding("one", "a-b", "c", "prod", "1")
        + &onboarding("two", "a", "b-c", "prod", "1")
        + &onboarding("three", "a", "b-c", "test", "1");
    let found = admission_findings(&input);
    let about = |name: &str, what: &str| found.iter().any(|(n, m)| n == name && m.contains(what));
    assert!(
        about(
            "two",
            "yields namespace a-b-c-prod, which onboarding one yields too"
        ),
        "{found:?}"
    );
    assert!(about("three", "already onboarded by two"), "{found:?}");
    assert!(about("one", "Ressort a-b is not in the input"), "{found:?}");
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn empty_input_exits_2_with_a_message() {
    for input in ["", "# only a comment\n---\n", "replicaCount: 3\n"] {
        let o = check(&["-"], Some(input));
        assert_eq!(code(&o), 2, "{input:?}: {}", show(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("no Kubernetes object"),
            "{}",
            show(&o)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(code(&check(&[empty.to_str().unwrap()], None)), 2);
}

#[test]
fn sarif_from_helm_template_on_stdin_points_at_the_templates() {
    let input = "---\n# Source: app/templates/daemonset.yaml\n".to_owned() + OLD_DAEMONSET;
    let o = check(&["-", "--format", "sarif"], Some(&input));
    let s = json_of(&o);
    let results = s["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{}", show(&o));
    for r in results {
        let phys = &r["locations"][0]["physicalLocation"];
        assert_eq!(
            phys["artifactLocation"]["uri"], "app/templates/daemonset.yaml",
            "{r}"
        );
        assert_eq!(phys["region"]["startLine"], 2, "{r}");
    }
}

/// The official SARIF 2.1.0 schema (OASIS, draft-07 form) as the `serde-sarif` package ships it
/// beside the types generated from it: the version locked in Cargo.lock, in Cargo's registry
/// sources (present, since the package is built), not copied into the project.
fn sarif_schema_path() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"serde-sarif\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .expect("serde-sarif is locked in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))
        .expect("CARGO_HOME or HOME is set");
    let sources = cargo_home.join("registry/src");
    std::fs::read_dir(&sources)
        .unwrap()
        .map(|index| {
            index
                .unwrap()
                .path()
                .join(format!("serde-sarif-{version}/src/schema.json"))
        })
        .find(|schema| schema.is_file())
        .unwrap_or_else(|| {
            panic!(
                "serde-sarif {version}'s schema.json under {}",
                sources.display()
            )
        })
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let mut schema: Value =
        serde_json::from_str(&std::fs::read_to_string(sarif_schema_path()).unwrap()).unwrap();
    // The published schema's `run.language` pattern has a stray `]` (`…{2}]?$`) that the meta-schema's
    // `format: regex` refuses; corrected here as intended (a language tag like `de` or `de-DE`). The log
    // sets no `language`, so the correction cannot make it pass.
    for definition in ["run", "toolComponent"] {
        schema["definitions"][definition]["properties"]["language"]["pattern"] =
            Value::from("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    let validator = jsonschema::validator_for(&schema).unwrap();
    let helm = "---\n# Source: app/templates/daemonset.yaml\n".to_owned() + OLD_DAEMONSET;
    let runs = [
        check(&["bad", "broken", "--format", "sarif"], None),
        check(&["good", "--format", "sarif"], None),
        check(&["-", "--format", "sarif"], Some(&helm)),
        check(&["-", "--format", "sarif"], Some(WITH_UNREAD)),
    ];
    for o in &runs {
        let log = json_of(o);
        let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{}", show(o));
    }
    // The schema is enforced: a log without `runs` does not pass.
    assert!(!validator.is_valid(&serde_json::json!({"version": "2.1.0"})));
}

#[test]
fn every_example_rendered_at_every_protection_level_passes_that_levels_profile_without_warnings() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut onboardings = Vec::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for value in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            if value["kind"] == "FachverfahrenOnboarding" {
                onboardings.push((path.display().to_string(), value));
            }
        }
    }
    assert!(!onboardings.is_empty(), "no onboarding in examples/");
    let mut failures = Vec::new();
    for (file, onboarding) in &onboardings {
        for level in ["normal", "high", "veryHigh"] {
            let mut fvo = onboarding.clone();
            fvo["spec"]["protectionLevel"] = level.into();
            let rendered = run(
                &["render", "-f", "-"],
                Some(&serde_saphyr::to_string(&fvo).unwrap()),
            );
            assert!(
                rendered.status.success(),
                "{file} at {level}: {}",
                show(&rendered)
            );
            let checked = check(
                &[
                    "-",
                    "--protection-level",
                    level,
                    "--format",
                    "json",
                    "--min-severity",
                    "warning",
                ],
                Some(&stdout(&rendered)),
            );
            let report = json_of(&checked);
            for f in report["findings"].as_array().unwrap() {
                failures.push(format!(
                    "{file} at {level}: {} {} on {}: {}",
                    f["severity"], f["rule"], f["object"], f["message"]
                ));
            }
            if code(&checked) != 0 {
                failures.push(format!("{file} at {level}: {}", show(&checked)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "the operator's own objects fail its own profile:\n{}",
        failures.join("\n")
    );
}

#[test]
fn rendered_policies_admit_the_platforms_namespaces_that_check_is_given_as_render_was() {
    let fvo = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/moin-schule.yaml"),
    )
    .unwrap();
    let rendered = run(
        &["render", "-f", "-", "--ingress-namespace", "traefik"],
        Some(&fvo),
    );
    assert!(rendered.status.success(), "{}", show(&rendered));
    let cross = |extra: &[&str]| {
        let mut args = vec!["-", "--format", "json"];
        args.extend_from_slice(extra);
        let checked = check(&args, Some(&stdout(&rendered)));
        json_of(&checked)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "network-policy-cross-namespace")
            .map(|f| f["message"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cross(&["--ingress-namespace", "traefik"]),
        Vec::<String>::new()
    );
    let without = cross(&[]);
    assert!(
        !without.is_empty()
            && without
                .iter()
                .all(|m| m.contains("admits namespace traefik")),
        "{without:#?}"
    );
}
