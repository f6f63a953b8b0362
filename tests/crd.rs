//! The generated CRDs: `crds/` is current, and the schema with its CEL rules rejects bad input
//! with a message naming the field, as kube-apiserver will on `kubectl apply`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use conplus_operator::api::crds;
use crd_validation::{RootInfo, SchemaValidator};
use serde_json::{Value, json};

const CRD_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/conplus-operator.yaml");

#[test]
fn crds_directory_matches_the_crds_generated_from_the_rust_types() {
    let generated = conplus_operator::api::crds_yaml().unwrap();
    if std::env::var_os("UPDATE_CRDS").is_some() {
        std::fs::write(CRD_FILE, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(CRD_FILE).unwrap_or_default();
    assert!(
        committed == generated,
        "crds/conplus-operator.yaml is stale: run `cargo run -- crd > crds/conplus-operator.yaml` (or `UPDATE_CRDS=1 cargo test --test crd`)"
    );
}

fn validator(kind: &str) -> SchemaValidator {
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap();
    let schema = crd.spec.versions[0]
        .schema
        .clone()
        .unwrap()
        .open_api_v3_schema
        .unwrap();
    SchemaValidator::new(
        &schema,
        RootInfo {
            api_version: "conplus.niedersachsen.de/v1alpha1".into(),
            kind: kind.into(),
        },
    )
    .unwrap()
}

fn onboarding() -> Value {
    json!({
        "apiVersion": "conplus.niedersachsen.de/v1alpha1",
        "kind": "FachverfahrenOnboarding",
        "metadata": {"name": "mk-moin-schule"},
        "spec": {
            "ressort": "mk",
            "fachverfahren": "moin-schule",
            "displayName": "moin.schule",
            "owner": {"organisation": "MK", "contact": "team@mk.niedersachsen.de"},
            "environments": [
                {"name": "dev", "quota": {"cpu": "2", "memory": "4Gi", "storage": "10Gi", "pods": 20}},
                {"name": "prod", "quota": {"cpu": "500m", "memory": "1Gi", "storage": "1Gi", "pods": "5"}}
            ],
            "access": [{"group": "mk-devs", "role": "edit", "environments": ["dev"]}]
        }
    })
}

fn errors(v: &SchemaValidator, mut obj: Value, old: Option<&Value>) -> Vec<String> {
    v.admit(&mut obj, old)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn assert_rejected(obj: Value, field: &str, words: &str) {
    let errs = errors(&validator("FachverfahrenOnboarding"), obj, None);
    assert!(
        errs.iter().any(|e| e.contains(field) && e.contains(words)),
        "expected an error naming {field} with {words:?}, got {errs:#?}"
    );
}

#[test]
fn a_valid_onboarding_is_accepted_and_defaulted() {
    let v = validator("FachverfahrenOnboarding");
    let mut obj = onboarding();
    assert!(
        v.admit(&mut obj, None).is_empty(),
        "{:?}",
        v.admit(&mut onboarding(), None)
    );
    assert_eq!(obj["spec"]["protectionLevel"], "normal");
    assert_eq!(obj["spec"]["deletionPolicy"], "Retain");
}

#[test]
fn fachverfahren_must_be_a_dns_label() {
    let mut o = onboarding();
    o["spec"]["fachverfahren"] = json!("Moin_Schule");
    assert_rejected(o, "spec.fachverfahren", "should match");
}

#[test]
fn unknown_protection_level_is_rejected_listing_the_supported_values() {
    let mut o = onboarding();
    o["spec"]["protectionLevel"] = json!("extreme");
    assert_rejected(o, "spec.protectionLevel", "\"veryHigh\"");
}

#[test]
fn quota_that_is_not_a_quantity_is_rejected() {
    let mut o = onboarding();
    o["spec"]["environments"][0]["quota"]["memory"] = json!("viel");
    assert_rejected(o, "spec.environments[0].quota.memory", "should match");
}

#[test]
fn duplicate_environment_names_are_rejected() {
    let mut o = onboarding();
    o["spec"]["environments"][1]["name"] = json!("dev");
    assert_rejected(o, "spec.environments[1]", "Duplicate value");
}

#[test]
fn namespace_name_longer_than_63_characters_is_rejected() {
    let mut o = onboarding();
    o["spec"]["fachverfahren"] = json!("a".repeat(60));
    assert_rejected(o, "spec.environments", "must fit 63 characters");
}

#[test]
fn access_to_an_undeclared_environment_is_rejected() {
    let mut o = onboarding();
    o["spec"]["access"][0]["environments"] = json!(["staging"]);
    assert_rejected(o, "spec.access", "may only name environments declared");
}

#[test]
fn too_many_environments_are_rejected() {
    let mut o = onboarding();
    let env = o["spec"]["environments"][0].clone();
    o["spec"]["environments"] = Value::Array(
        (0..7)
            .map(|i| {
                let mut e = env.clone();
                e["name"] = json!(format!("e{i}"));
                e
            })
            .collect(),
    );
    assert_rejected(o, "spec.environments", "Too many");
}

#[test]
fn ressort_and_fachverfahren_are_immutable_after_creation() {
    let v = validator("FachverfahrenOnboarding");
    let old = onboarding();
    let mut moved = onboarding();
    moved["spec"]["ressort"] = json!("mi");
    let errs = errors(&v, moved, Some(&old));
    assert!(
        errs.iter()
            .any(|e| e.contains("spec.ressort") && e.contains("immutable")),
        "{errs:#?}"
    );
    let mut renamed = onboarding();
    renamed["spec"]["fachverfahren"] = json!("moin");
    let errs = errors(&v, renamed, Some(&old));
    assert!(
        errs.iter()
            .any(|e| e.contains("spec.fachverfahren") && e.contains("immutable")),
        "{errs:#?}"
    );
    // Other fields may change.
    let mut grown = onboarding();
    grown["spec"]["displayName"] = json!("moin.schule 2");
    assert!(errors(&v, grown, Some(&old)).is_empty());
}

#[test]
fn contact_must_be_an_email_address() {
    let mut o = onboarding();
    o["spec"]["owner"]["contact"] = json!("not an address");
    assert_rejected(o, "spec.owner.contact", "email");
}

#[test]
fn ressort_name_must_fit_into_namespace_names() {
    let errs = ressort_errors("kultusministerium-niedersachsen-abteilung-1", json!(1));
    assert!(
        errs.iter().any(|e| e.contains("at most 40 characters")),
        "{errs:#?}"
    );
}

#[test]
fn negative_quantities_are_rejected_whether_written_as_integer_or_string() {
    let mut o = onboarding();
    o["spec"]["environments"][0]["quota"]["pods"] = json!(-1);
    assert_rejected(
        o,
        "spec.environments[0].quota.pods",
        "greater than or equal to 0",
    );
    let mut o = onboarding();
    o["spec"]["environments"][0]["quota"]["cpu"] = json!("-1");
    assert_rejected(o, "spec.environments[0].quota.cpu", "should match");
    for pods in [json!(-1), json!("-1")] {
        let errs = ressort_errors("mk", pods.clone());
        assert!(
            errs.iter().any(|e| e.contains("spec.budget.pods")),
            "pods {pods}: {errs:#?}"
        );
    }
    // Zero and positive integers stay valid.
    let mut o = onboarding();
    o["spec"]["environments"][0]["quota"]["pods"] = json!(0);
    assert!(errors(&validator("FachverfahrenOnboarding"), o, None).is_empty());
}

/// The schema's errors for a Ressort `name` whose budget has `pods`.
fn ressort_errors(name: &str, pods: Value) -> Vec<String> {
    let mut r = json!({"apiVersion": "conplus.niedersachsen.de/v1alpha1", "kind": "Ressort",
        "metadata": {"name": name},
        "spec": {"displayName": "MK", "budget": {"cpu": "1", "memory": "1Gi", "storage": "1Gi", "pods": pods}}});
    validator("Ressort")
        .admit(&mut r, None)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

const POLICYREPORT_CRD_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/policyreport-crd/policyreports.yaml"
);
const POLICYREPORT_CRD_TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/charts/conplus-operator/templates/policyreport-crd.yaml"
);

/// The chart's template: its `{{ … }}` lines before the generated CRD, the CRD, and its `{{- end }}`.
fn template_parts(text: &str) -> (Vec<&str>, String, Vec<&str>) {
    const END: &str = "{{- end }}";
    let lines: Vec<&str> = text.lines().collect();
    let head = lines
        .iter()
        .take_while(|l| l.starts_with("{{") && **l != END)
        .count();
    let tail = lines.iter().rev().take_while(|l| **l == END).count();
    let tail = tail.min(lines.len() - head);
    let body: String = lines[head..lines.len() - tail]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    (
        lines[..head].to_vec(),
        body,
        lines[lines.len() - tail..].to_vec(),
    )
}

#[test]
fn the_policyreport_crd_of_deploy_and_the_chart_is_the_one_generated_from_the_code() {
    let generated = conplus_operator::conformance::report::policyreport::crd_yaml().unwrap();
    let template = std::fs::read_to_string(POLICYREPORT_CRD_TEMPLATE).unwrap();
    let (head, _, tail) = template_parts(&template);
    if std::env::var_os("UPDATE_CRDS").is_some() {
        std::fs::write(POLICYREPORT_CRD_FILE, &generated).unwrap();
        let text = format!("{}\n{generated}{}\n", head.join("\n"), tail.join("\n"));
        std::fs::write(POLICYREPORT_CRD_TEMPLATE, text).unwrap();
    }
    let committed = std::fs::read_to_string(POLICYREPORT_CRD_FILE).unwrap_or_default();
    assert!(
        committed == generated,
        "deploy/policyreport-crd/policyreports.yaml is stale: `UPDATE_CRDS=1 cargo test --test crd`"
    );
    let template = std::fs::read_to_string(POLICYREPORT_CRD_TEMPLATE).unwrap();
    let (head, body_now, tail) = template_parts(&template);
    assert!(
        body_now == generated,
        "templates/policyreport-crd.yaml is stale: `UPDATE_CRDS=1 cargo test --test crd`"
    );
    assert!(
        head.iter().any(|l| l.contains("lookup")) && tail == ["{{- end }}"],
        "the chart installs the CRD only when the cluster lacks it: {head:?} {tail:?}"
    );
}
