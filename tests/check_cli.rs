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
    let messages: Vec<&str> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
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
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc).unwrap();
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
                Some(&serde_yaml::to_string(&fvo).unwrap()),
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
