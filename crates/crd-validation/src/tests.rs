//! Feature tests of the whole pipeline: each proves acceptance and rejection with the
//! exact apiserver field path and message.

use serde_json::{Value, json};

use super::*;

fn validator(schema: Value) -> SchemaValidator {
    try_validator(schema).unwrap()
}

fn try_validator(schema: Value) -> Result<SchemaValidator, SchemaError> {
    let props: JSONSchemaProps = serde_json::from_value(schema).unwrap();
    SchemaValidator::new(
        &props,
        RootInfo {
            api_version: "example.org/v1".into(),
            kind: "Thing".into(),
        },
    )
}

/// A root schema with `spec` as given.
fn with_spec(spec: Value) -> SchemaValidator {
    validator(json!({
        "type": "object",
        "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                       "metadata": {"type": "object"}, "spec": spec}
    }))
}

fn obj(spec: Value) -> Value {
    json!({"apiVersion": "example.org/v1", "kind": "Thing", "metadata": {"name": "x"}, "spec": spec})
}

fn messages(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

/// Validates `spec` on create and returns the error messages.
fn check(v: &SchemaValidator, spec: Value) -> Vec<String> {
    messages(&v.validate(&obj(spec), None))
}

#[test]
fn validator_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SchemaValidator>();
}

// ── pruning ─────────────────────────────────────────────────────────────────────────

#[test]
fn pruning_drops_undeclared_fields_but_keeps_type_and_object_meta() {
    let v = with_spec(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
    let mut o = obj(json!({"a": "x", "b": 1}));
    o["status"] = json!({"x": 1});
    o["metadata"]["labels"] = json!({"k": "v"});
    assert!(v.admit(&mut o, None).is_empty());
    assert_eq!(o["spec"], json!({"a": "x"}));
    assert!(o.get("status").is_none());
    assert_eq!(o["metadata"]["labels"], json!({"k": "v"}));
    assert_eq!(o["apiVersion"], "example.org/v1");
}

#[test]
fn pruning_keeps_preserve_unknown_subtrees_and_prunes_declared_children() {
    let v = with_spec(json!({
        "type": "object",
        "properties": {
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "mixed": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                      "properties": {"inner": {"type": "object", "properties": {"a": {"type": "string"}}}}}
        }
    }));
    let mut o = obj(json!({
        "free": {"anything": {"deep": [1, 2]}},
        "mixed": {"extra": true, "inner": {"a": "x", "gone": 1}}
    }));
    assert!(v.admit(&mut o, None).is_empty());
    assert_eq!(o["spec"]["free"], json!({"anything": {"deep": [1, 2]}}));
    assert_eq!(
        o["spec"]["mixed"],
        json!({"extra": true, "inner": {"a": "x"}})
    );
}

#[test]
fn embedded_resources_keep_api_version_kind_and_metadata() {
    let v = with_spec(json!({
        "type": "object",
        "properties": {"template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                    "properties": {"spec": {"type": "object", "properties": {"x": {"type": "integer"}}}}}}
    }));
    let mut o = obj(json!({"template": {"apiVersion": "v1", "kind": "ConfigMap",
                                       "metadata": {"name": "a"}, "spec": {"x": 1, "y": 2}, "data": {}}}));
    assert!(v.admit(&mut o, None).is_empty());
    assert_eq!(
        o["spec"]["template"],
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "spec": {"x": 1}})
    );
}

#[test]
fn unknown_fields_lists_what_pruning_drops_and_validate_does_not_report_it() {
    let v = with_spec(json!({
        "type": "object",
        "properties": {"list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}
    }));
    let o = obj(json!({"foo": 1, "list": [{"a": "x", "bar": 2}]}));
    assert_eq!(
        v.unknown_fields(&o),
        vec!["spec.foo".to_string(), "spec.list[0].bar".to_string()]
    );
    assert!(v.validate(&o, None).is_empty());
    // validate() does not mutate its input.
    assert_eq!(o["spec"]["foo"], 1);
}

// ── defaulting ──────────────────────────────────────────────────────────────────────

#[test]
fn defaults_are_applied_deep_in_array_items_and_map_values() {
    let v = with_spec(json!({
        "type": "object",
        "properties": {
            "replicas": {"type": "integer", "default": 1},
            "environments": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "tier": {"type": "string", "default": "standard"},
                "limits": {"type": "object", "default": {}, "properties": {"cpu": {"type": "string", "default": "500m"}}}
            }}},
            "quotas": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "max": {"type": "integer", "default": 10}}}}
        }
    }));
    let mut o = obj(
        json!({"environments": [{"name": "dev"}, {"name": "prod", "tier": "gold"}],
                           "quotas": {"a": {}}}),
    );
    assert!(v.admit(&mut o, None).is_empty());
    assert_eq!(
        o["spec"],
        json!({
            "replicas": 1,
            "environments": [
                {"name": "dev", "tier": "standard", "limits": {"cpu": "500m"}},
                {"name": "prod", "tier": "gold", "limits": {"cpu": "500m"}}
            ],
            "quotas": {"a": {"max": 10}}
        })
    );
}

#[test]
fn non_nullable_nulls_get_their_default_or_are_dropped() {
    let v = with_spec(json!({
        "type": "object",
        "properties": {
            "a": {"type": "string", "default": "d"},
            "b": {"type": "string"},
            "c": {"type": "string", "nullable": true}
        }
    }));
    let mut o = obj(json!({"a": null, "b": null, "c": null}));
    assert!(v.admit(&mut o, None).is_empty());
    assert_eq!(o["spec"], json!({"a": "d", "c": null}));
}

// ── types, nullable, required ───────────────────────────────────────────────────────

#[test]
fn wrong_types_are_rejected_with_apiserver_wording() {
    let v = with_spec(json!({
        "type": "object",
        "properties": {"replicas": {"type": "integer"}, "name": {"type": "string"},
                       "ratio": {"type": "number"}, "on": {"type": "boolean"},
                       "list": {"type": "array"}, "nested": {"type": "object"}}
    }));
    assert!(
        check(
            &v,
            json!({"replicas": 2, "name": "a", "ratio": 1, "on": true, "list": [], "nested": {}})
        )
        .is_empty()
    );
    assert_eq!(
        check(
            &v,
            json!({"replicas": "2", "name": 5, "ratio": 0.5, "nested": null})
        ),
        vec![
            r#"spec.name: Invalid value: "integer": spec.name in body must be of type string: "integer""#,
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
        ]
    );
    // `nested: null` is dropped before validation (non-nullable, no default), so no error.
    let errs = v.validate(&obj(json!({"on": "yes"})), None);
    assert_eq!(errs[0].error_type, ErrorType::TypeInvalid);
    assert_eq!(errs[0].error_type.reason(), "FieldValueTypeInvalid");
}

#[test]
fn null_is_accepted_only_where_nullable() {
    let v = validator(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "list": {"type": "array", "items": {"type": "string"}},
            "opt": {"type": "array", "nullable": true, "items": {"type": "string", "nullable": true}}
        }}}
    }));
    assert!(check(&v, json!({"opt": null})).is_empty());
    assert!(check(&v, json!({"opt": ["a", null]})).is_empty());
    assert_eq!(
        check(&v, json!({"list": ["a", null]})),
        vec![
            r#"spec.list[1]: Invalid value: "null": spec.list[1] in body must be of type string: "null""#
        ]
    );
}

#[test]
fn missing_required_fields_are_reported_as_required_value() {
    let v = validator(json!({
        "type": "object", "required": ["spec"],
        "properties": {"spec": {"type": "object", "required": ["name", "owner"], "properties": {
            "name": {"type": "string"}, "owner": {"type": "string"}}}}
    }));
    assert!(check(&v, json!({"name": "a", "owner": "b"})).is_empty());
    let errs = v.validate(&obj(json!({"name": "a"})), None);
    assert_eq!(messages(&errs), vec!["spec.owner: Required value"]);
    assert_eq!(errs[0].error_type, ErrorType::Required);
    assert_eq!(errs[0].detail, "");
    let no_spec =
        json!({"apiVersion": "example.org/v1", "kind": "Thing", "metadata": {"name": "x"}});
    assert_eq!(
        messages(&v.validate(&no_spec, None)),
        vec!["spec: Required value"]
    );
}

// ── enum, pattern, format ───────────────────────────────────────────────────────────

#[test]
fn enum_violations_list_the_supported_values() {
    let v = with_spec(json!({"type": "object", "properties": {
        "protectionLevel": {"type": "string", "enum": ["normal", "high", "veryHigh"]},
        "size": {"type": "integer", "enum": [1, 2]}}}));
    assert!(check(&v, json!({"protectionLevel": "high", "size": 2})).is_empty());
    assert_eq!(
        check(&v, json!({"protectionLevel": "extreme", "size": 3})),
        vec![
            r#"spec.protectionLevel: Unsupported value: "extreme": supported values: "normal", "high", "veryHigh""#,
            r#"spec.size: Unsupported value: 3: supported values: "1", "2""#,
        ]
    );
}

#[test]
fn patterns_are_matched_with_kube_openapi_wording() {
    let v = with_spec(json!({"type": "object", "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"}}}));
    assert!(check(&v, json!({"name": "team-a"})).is_empty());
    assert_eq!(
        check(&v, json!({"name": "Team"})),
        vec![
            r#"spec.name: Invalid value: "Team": spec.name in body should match '^[a-z][a-z0-9-]*$'"#
        ]
    );
}

#[test]
fn formats_are_checked_and_unsupported_formats_ignored() {
    let v = with_spec(json!({"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"},
        "when": {"type": "string", "format": "date-time"},
        "mail": {"type": "string", "format": "email"},
        "net": {"type": "string", "format": "cidr"},
        "count": {"type": "integer", "format": "int32"},
        "custom": {"type": "string", "format": "k8s-short-name"}}}));
    assert!(
        check(
            &v,
            json!({"id": "123e4567-e89b-12d3-a456-426614174000", "when": "2025-01-01T00:00:00Z",
                          "mail": "a@b.de", "net": "10.0.0.0/16",
                          // apiserver strips int32 from CRD schemas: no range check.
                          "count": 9_999_999_999_i64, "custom": "ANY thing"})
        )
        .is_empty()
    );
    assert_eq!(
        check(&v, json!({"id": "nope", "when": "yesterday"})),
        vec![
            r#"spec.id: Invalid value: "nope": spec.id in body must be of type uuid: "nope""#,
            r#"spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday""#,
        ]
    );
}

// ── numbers, strings, lists, objects ────────────────────────────────────────────────

#[test]
fn numeric_bounds_and_multiple_of_are_enforced() {
    let v = with_spec(json!({"type": "object", "properties": {
        "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
        "share": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true},
        "step": {"type": "integer", "multipleOf": 5},
        "big": {"type": "integer", "maximum": 1000000}}}));
    assert!(
        check(
            &v,
            json!({"replicas": 10, "share": 0.5, "step": 15, "big": 1000000})
        )
        .is_empty()
    );
    assert_eq!(
        check(
            &v,
            json!({"replicas": 0, "share": 1.0, "step": 7, "big": 1000001})
        ),
        vec![
            "spec.big: Invalid value: 1000001: spec.big in body should be less than or equal to 1000000",
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
            "spec.share: Invalid value: 1: spec.share in body should be less than 1",
            "spec.step: Invalid value: 7: spec.step in body should be a multiple of 5",
        ]
    );
    assert_eq!(
        check(&v, json!({"share": 0})),
        vec!["spec.share: Invalid value: 0: spec.share in body should be greater than 0"]
    );
}

#[test]
fn string_lengths_are_enforced_in_characters() {
    let v = with_spec(json!({"type": "object", "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 5}}}));
    assert!(check(&v, json!({"name": "äöüß"})).is_empty());
    assert_eq!(
        check(&v, json!({"name": "abcdef"})),
        vec!["spec.name: Too long: may not be more than 5 bytes"]
    );
    assert_eq!(
        check(&v, json!({"name": "a"})),
        vec![r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#]
    );
}

#[test]
fn list_sizes_and_unique_items_are_enforced() {
    let v = with_spec(json!({"type": "object", "properties": {
        "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
        "uniq": {"type": "array", "uniqueItems": true, "items": {"type": "integer"}}}}));
    assert!(check(&v, json!({"tags": ["a", "b"], "uniq": [1, 2]})).is_empty());
    assert_eq!(
        check(&v, json!({"tags": ["a", "b", "c"], "uniq": [1, 1]})),
        vec![
            "spec.tags: Too many: 3: must have at most 2 items",
            r#"spec.uniq: Invalid value: "": spec.uniq in body shouldn't contain duplicates"#,
        ]
    );
    assert_eq!(
        check(&v, json!({"tags": []})),
        vec!["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"]
    );
}

#[test]
fn property_counts_are_enforced() {
    let v = with_spec(json!({"type": "object", "properties": {
        "labels": {"type": "object", "minProperties": 1, "maxProperties": 2,
                   "additionalProperties": {"type": "string"}}}}));
    assert!(check(&v, json!({"labels": {"a": "1"}})).is_empty());
    assert_eq!(
        check(&v, json!({"labels": {"a": "1", "b": "2", "c": "3"}})),
        vec!["spec.labels: Too many: 3: must have at most 2 items"]
    );
    assert_eq!(
        check(&v, json!({"labels": {}})),
        vec![
            "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties"
        ]
    );
}

#[test]
fn additional_properties_validate_every_map_value() {
    let v = with_spec(json!({"type": "object", "properties": {
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}}}}));
    assert!(check(&v, json!({"labels": {"team": "abc"}})).is_empty());
    // kube-openapi names map values with a dot (unlike CEL errors, which use [key]).
    assert_eq!(
        check(&v, json!({"labels": {"team": "abcd", "n": 1}})),
        vec![
            r#"spec.labels.n: Invalid value: "integer": spec.labels.n in body must be of type string: "integer""#,
            "spec.labels.team: Too long: may not be more than 3 bytes",
        ]
    );
}

// ── list types, int-or-string, value validations ───────────────────────────────────

#[test]
fn list_type_set_rejects_duplicate_items() {
    let v = with_spec(json!({"type": "object", "properties": {
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}));
    assert!(check(&v, json!({"tags": ["a", "b"]})).is_empty());
    let errs = v.validate(&obj(json!({"tags": ["a", "b", "a"]})), None);
    assert_eq!(
        messages(&errs),
        vec![r#"spec.tags[2]: Duplicate value: "a""#]
    );
    assert_eq!(errs[0].error_type, ErrorType::Duplicate);
}

#[test]
fn list_type_map_rejects_duplicate_keys_with_the_key_as_value() {
    let v = with_spec(json!({"type": "object", "properties": {
        "environments": {"type": "array", "x-kubernetes-list-type": "map",
                         "x-kubernetes-list-map-keys": ["name"],
                         "items": {"type": "object", "required": ["name"], "properties": {
                             "name": {"type": "string"}, "replicas": {"type": "integer"}}}}}}));
    assert!(
        check(
            &v,
            json!({"environments": [{"name": "dev"}, {"name": "prod"}]})
        )
        .is_empty()
    );
    assert_eq!(
        check(
            &v,
            json!({"environments": [{"name": "dev", "replicas": 1}, {"name": "dev", "replicas": 2}]})
        ),
        vec![r#"spec.environments[1]: Duplicate value: {"name":"dev"}"#]
    );
}

#[test]
fn int_or_string_accepts_both_and_nothing_else() {
    let v = with_spec(json!({"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": true}}}));
    assert!(check(&v, json!({"port": 8080})).is_empty());
    assert!(check(&v, json!({"port": "http"})).is_empty());
    assert_eq!(
        check(&v, json!({"port": true})),
        vec![
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
        ]
    );
}

#[test]
fn any_of_one_of_all_of_and_not_are_value_validations() {
    let v = with_spec(json!({"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": true,
                 "anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[a-z]+$"}]},
        "one": {"type": "integer", "oneOf": [{"minimum": 10}, {"maximum": 0}]},
        "all": {"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 4}]},
        "not": {"type": "string", "not": {"enum": ["forbidden"]}}}}));
    assert!(
        check(
            &v,
            json!({"port": "http", "one": 11, "all": "abc", "not": "ok"})
        )
        .is_empty()
    );
    assert_eq!(
        check(&v, json!({"port": "HTTP"})),
        vec![
            r#"<nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)"#,
            r#"spec.port: Invalid value: "HTTP": spec.port in body should match '^[a-z]+$'"#,
        ]
    );
    assert_eq!(
        check(&v, json!({"one": 5})),
        vec![
            r#"<nil>: Invalid value: "": "spec.one" must validate one and only one schema (oneOf). Found none valid"#,
            "spec.one: Invalid value: 5: spec.one in body should be greater than or equal to 10",
        ]
    );
    assert_eq!(
        check(&v, json!({"all": "a"})),
        vec![
            r#"spec.all: Invalid value: "a": spec.all in body should be at least 2 chars long"#,
            r#"<nil>: Invalid value: "": "spec.all" must validate all the schemas (allOf)"#,
        ]
    );
    assert_eq!(
        check(&v, json!({"not": "forbidden"})),
        vec![r#"<nil>: Invalid value: "": "spec.not" must not validate the schema (not)"#]
    );
}

// ── CEL ─────────────────────────────────────────────────────────────────────────────

#[test]
fn cel_rule_failure_reports_the_message_at_the_declaring_node() {
    let v = with_spec(json!({"type": "object",
        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.min <= self.max", "message": "min must not exceed max"}]}));
    assert!(check(&v, json!({"min": 1, "max": 2})).is_empty());
    let errs = v.validate(&obj(json!({"min": 3, "max": 2})), None);
    assert_eq!(
        messages(&errs),
        vec![r#"spec: Invalid value: "object": min must not exceed max"#]
    );
    assert_eq!(errs[0].error_type, ErrorType::Invalid);
}

#[test]
fn cel_rule_without_message_reports_failed_rule() {
    let v = with_spec(json!({"type": "object", "properties": {
        "name": {"type": "string", "x-kubernetes-validations": [{"rule": "self.startsWith('fv-')"}]}}}));
    assert!(check(&v, json!({"name": "fv-a"})).is_empty());
    assert_eq!(
        check(&v, json!({"name": "a"})),
        vec![r#"spec.name: Invalid value: "string": failed rule: self.startsWith('fv-')"#]
    );
}

#[test]
fn cel_rules_at_the_root_are_reported_at_nil_and_see_kind() {
    let v = validator(json!({"type": "object",
        "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "x-kubernetes-validations": [
            {"rule": "self.kind == 'Thing' && self.metadata.name.size() < 5", "message": "short names only"}]}));
    assert!(check(&v, json!({"n": 1})).is_empty());
    let mut long = obj(json!({}));
    long["metadata"]["name"] = json!("very-long");
    assert_eq!(
        messages(&v.validate(&long, None)),
        vec![r#"<nil>: Invalid value: "object": short names only"#]
    );
}

#[test]
fn cel_transition_rule_makes_a_field_immutable() {
    let v = with_spec(json!({"type": "object", "properties": {
        "ressort": {"type": "string",
                    "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "ressort is immutable"}]}}}));
    let old = obj(json!({"ressort": "mi"}));
    // create: transition rules do not run
    assert!(v.validate(&old, None).is_empty());
    // unchanged update passes
    assert!(
        v.validate(&obj(json!({"ressort": "mi"})), Some(&old))
            .is_empty()
    );
    // changed update fails
    assert_eq!(
        messages(&v.validate(&obj(json!({"ressort": "mk"})), Some(&old))),
        vec![r#"spec.ressort: Invalid value: "string": ressort is immutable"#]
    );
    // the field did not exist before: the rule does not run
    assert!(
        v.validate(&obj(json!({"ressort": "mk"})), Some(&obj(json!({}))))
            .is_empty()
    );
}

#[test]
fn optional_old_self_runs_on_create_with_an_optional() {
    let v = with_spec(json!({"type": "object", "properties": {
        "size": {"type": "integer", "x-kubernetes-validations": [{
            "rule": "!oldSelf.hasValue() || self >= oldSelf.value()",
            "message": "size may only grow", "optionalOldSelf": true}]}}}));
    assert!(v.validate(&obj(json!({"size": 1})), None).is_empty());
    assert!(
        v.validate(&obj(json!({"size": 3})), Some(&obj(json!({"size": 2}))))
            .is_empty()
    );
    assert_eq!(
        messages(&v.validate(&obj(json!({"size": 1})), Some(&obj(json!({"size": 2}))))),
        vec![r#"spec.size: Invalid value: "integer": size may only grow"#]
    );
    // Without optionalOldSelf a rule on create would not run; with it, `oldSelf` is none.
    let create_only = with_spec(json!({"type": "object", "properties": {
        "size": {"type": "integer", "x-kubernetes-validations": [{
            "rule": "oldSelf.hasValue() || self < 10", "message": "start small", "optionalOldSelf": true}]}}}));
    assert_eq!(
        check(&create_only, json!({"size": 20})),
        vec![r#"spec.size: Invalid value: "integer": start small"#]
    );
}

#[test]
fn message_expression_builds_the_message_from_the_value() {
    let v = with_spec(json!({"type": "object", "properties": {
        "replicas": {"type": "integer", "x-kubernetes-validations": [{
            "rule": "self <= 5", "messageExpression": "'replicas ' + string(self) + ' exceeds 5'"}]}}}));
    assert!(check(&v, json!({"replicas": 5})).is_empty());
    assert_eq!(
        check(&v, json!({"replicas": 7})),
        vec![r#"spec.replicas: Invalid value: "integer": replicas 7 exceeds 5"#]
    );
}

#[test]
fn cel_rules_on_list_items_and_lists_report_item_paths() {
    let v = with_spec(json!({"type": "object", "properties": {
        "environments": {"type": "array",
            "x-kubernetes-validations": [
                {"rule": "self.all(e, e.name.size() <= 8)", "message": "names are at most 8 characters"},
                {"rule": "self.map(e, e.name).distinct().size() == self.size()", "message": "environment names must be unique"}],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "replicas": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "!has(self.replicas) || self.replicas > 0",
                                               "message": "replicas must be positive"}]}}}}));
    assert!(
        check(
            &v,
            json!({"environments": [{"name": "dev"}, {"name": "prod", "replicas": 2}]})
        )
        .is_empty()
    );
    assert_eq!(
        check(
            &v,
            json!({"environments": [{"name": "dev", "replicas": 0}, {"name": "dev"}, {"name": "production"}]})
        ),
        vec![
            r#"spec.environments: Invalid value: "array": names are at most 8 characters"#,
            r#"spec.environments: Invalid value: "array": environment names must be unique"#,
            r#"spec.environments[0]: Invalid value: "object": replicas must be positive"#,
        ]
    );
}

#[test]
fn exists_one_uniqueness_rule_works() {
    let v = with_spec(json!({"type": "object", "properties": {
        "pods": {"type": "array", "items": {"type": "string"},
                 "x-kubernetes-validations": [{"rule": "self.all(x, self.exists_one(y, x == y))",
                                                "message": "entries in pods must be unique"}]}}}));
    assert!(check(&v, json!({"pods": ["a", "b"]})).is_empty());
    assert_eq!(
        check(&v, json!({"pods": ["a", "a"]})),
        vec![r#"spec.pods: Invalid value: "array": entries in pods must be unique"#]
    );
}

#[test]
fn cel_quantity_functions_from_the_kubernetes_library_are_available() {
    let v = with_spec(json!({"type": "object", "properties": {
        "memory": {"type": "string", "x-kubernetes-validations": [
            {"rule": "isQuantity(self)", "message": "memory must be a quantity"},
            {"rule": "!isQuantity(self) || quantity(self).compareTo(quantity('4Gi')) <= 0",
             "message": "memory may not exceed 4Gi"}]}}}));
    assert!(check(&v, json!({"memory": "512Mi"})).is_empty());
    assert_eq!(
        check(&v, json!({"memory": "8Gi"})),
        vec![r#"spec.memory: Invalid value: "string": memory may not exceed 4Gi"#]
    );
    assert_eq!(
        check(&v, json!({"memory": "lots"})),
        vec![r#"spec.memory: Invalid value: "string": memory must be a quantity"#]
    );
}

#[test]
fn cel_reason_and_field_path_shape_the_error() {
    let v = with_spec(json!({"type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "x-kubernetes-validations": [
            {"rule": "!(has(self.a) && has(self.b))", "message": "a and b are exclusive",
             "reason": "FieldValueForbidden", "fieldPath": ".b"},
            {"rule": "has(self.a) || has(self.b)", "message": "a or b is needed", "reason": "FieldValueRequired"}]}));
    assert!(check(&v, json!({"a": "x"})).is_empty());
    let errs = v.validate(&obj(json!({"a": "x", "b": "y"})), None);
    assert_eq!(
        messages(&errs),
        vec!["spec.b: Forbidden: a and b are exclusive"]
    );
    assert_eq!(errs[0].error_type.reason(), "FieldValueForbidden");
    assert_eq!(
        check(&v, json!({})),
        vec!["spec: Required value: a or b is needed"]
    );
}

#[test]
fn cel_rules_on_map_values_use_key_paths() {
    let v = with_spec(json!({"type": "object", "properties": {
        "quotas": {"type": "object", "additionalProperties": {"type": "integer",
            "x-kubernetes-validations": [{"rule": "self >= 0", "message": "must not be negative"}]}}}}));
    assert!(check(&v, json!({"quotas": {"cpu": 1}})).is_empty());
    assert_eq!(
        check(&v, json!({"quotas": {"cpu": -1}})),
        vec![r#"spec.quotas[cpu]: Invalid value: "integer": must not be negative"#]
    );
}

#[test]
fn cel_is_skipped_when_the_schema_validation_has_blocking_errors() {
    let v = with_spec(json!({"type": "object", "required": ["name"],
        "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.n > 0", "message": "n must be positive"}]}));
    assert_eq!(
        check(&v, json!({"n": 0})),
        vec![
            "spec.name: Required value",
            "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ]
    );
    // A non-blocking schema error (Invalid) does not stop the rules.
    let pattern = with_spec(json!({"type": "object",
        "properties": {"name": {"type": "string", "pattern": "^a"}, "n": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.n > 0", "message": "n must be positive"}]}));
    assert_eq!(
        check(&pattern, json!({"name": "b", "n": 0})),
        vec![
            r#"spec.name: Invalid value: "b": spec.name in body should match '^a'"#,
            r#"spec: Invalid value: "object": n must be positive"#,
        ]
    );
}

#[test]
fn cel_sees_defaults_escaped_names_and_typed_formats() {
    let v = with_spec(json!({"type": "object",
        "properties": {
            "tier": {"type": "string", "default": "standard"},
            "namespace": {"type": "string"},
            "max-size": {"type": "integer"},
            "expires": {"type": "string", "format": "date-time"},
            "timeout": {"type": "string", "format": "duration"}},
        "x-kubernetes-validations": [
            {"rule": "self.tier == 'standard'", "message": "tier defaulted"},
            {"rule": "!has(self.__namespace__) || self.__namespace__ != 'kube-system'", "message": "no kube-system"},
            {"rule": "!has(self.max__dash__size) || self.max__dash__size < 10", "message": "max-size below 10"},
            {"rule": "!has(self.expires) || self.expires > timestamp('2020-01-01T00:00:00Z')", "message": "expires after 2020"},
            {"rule": "!has(self.timeout) || self.timeout <= duration('1h')", "message": "timeout at most 1h"}]}));
    assert!(check(&v, json!({"namespace": "team", "max-size": 3, "expires": "2030-01-01T00:00:00Z", "timeout": "30m"})).is_empty());
    assert_eq!(
        check(
            &v,
            json!({"namespace": "kube-system", "max-size": 30, "expires": "2019-01-01T00:00:00Z", "timeout": "2h"})
        ),
        vec![
            r#"spec: Invalid value: "object": no kube-system"#,
            r#"spec: Invalid value: "object": max-size below 10"#,
            r#"spec: Invalid value: "object": expires after 2020"#,
            r#"spec: Invalid value: "object": timeout at most 1h"#,
        ]
    );
}

#[test]
fn transition_rules_on_map_list_items_correlate_by_key() {
    let v = with_spec(json!({"type": "object", "properties": {
        "environments": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "cluster": {"type": "string", "x-kubernetes-validations": [
                    {"rule": "self == oldSelf", "message": "cluster is immutable"}]}}}}}}));
    let old = obj(
        json!({"environments": [{"name": "dev", "cluster": "c1"}, {"name": "prod", "cluster": "c2"}]}),
    );
    // reordered, unchanged: passes
    let reordered = obj(
        json!({"environments": [{"name": "prod", "cluster": "c2"}, {"name": "dev", "cluster": "c1"}]}),
    );
    assert!(v.validate(&reordered, Some(&old)).is_empty());
    let changed = obj(
        json!({"environments": [{"name": "prod", "cluster": "c9"}, {"name": "new", "cluster": "c5"}]}),
    );
    assert_eq!(
        messages(&v.validate(&changed, Some(&old))),
        vec![r#"spec.environments[0].cluster: Invalid value: "string": cluster is immutable"#]
    );
}

#[test]
fn cel_runtime_errors_are_reported_with_the_rule() {
    let v = with_spec(
        json!({"type": "object", "properties": {"a": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "self.a == 'x'"}]}),
    );
    let errs = v.validate(&obj(json!({})), None);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "spec");
    assert!(
        errs[0].detail.ends_with("evaluating rule: self.a == 'x'"),
        "{}",
        errs[0].detail
    );
}

#[test]
fn schemas_with_broken_rules_or_patterns_are_rejected_at_compile_time() {
    let broken_rule = try_validator(
        json!({"type": "object", "properties": {"spec": {"type": "object",
        "x-kubernetes-validations": [{"rule": "self.a >="}]}}}),
    );
    let Err(SchemaError::Invalid { path, message }) = broken_rule else {
        panic!("expected an error")
    };
    assert_eq!(path, "properties[spec].x-kubernetes-validations[0]");
    assert!(message.contains("compilation failed"), "{message}");
    assert!(
        try_validator(
            json!({"type": "object", "properties": {"spec": {"type": "string", "pattern": "("}}})
        )
        .is_err()
    );
    assert!(
        try_validator(
            json!({"type": "object", "properties": {"spec": {"type": "object",
        "x-kubernetes-validations": [{"rule": "true", "reason": "Bogus"}]}}})
        )
        .is_err()
    );
    assert!(
        try_validator(
            json!({"type": "object", "properties": {"metadata": {"type": "object",
        "properties": {"labels": {"type": "object"}}}}})
        )
        .is_err()
    );
    assert!(
        try_validator(
            json!({"type": "object", "properties": {"metadata": {"type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}}}}})
        )
        .is_ok()
    );
}

// ── messages ────────────────────────────────────────────────────────────────────────

#[test]
fn field_errors_display_like_apimachinery() {
    let e = |field: &str, error_type, value: Option<Value>, detail: &str| FieldError {
        field: field.into(),
        error_type,
        value,
        detail: detail.into(),
    };
    assert_eq!(
        e(
            "spec.name",
            ErrorType::Invalid,
            Some(json!("Foo")),
            "detail"
        )
        .to_string(),
        r#"spec.name: Invalid value: "Foo": detail"#
    );
    assert_eq!(
        e("spec.x", ErrorType::Required, None, "").to_string(),
        "spec.x: Required value"
    );
    assert_eq!(
        e(
            "spec.y",
            ErrorType::NotSupported,
            Some(json!("z")),
            r#"supported values: "a", "b""#
        )
        .to_string(),
        r#"spec.y: Unsupported value: "z": supported values: "a", "b""#
    );
    assert_eq!(
        e(
            "spec.list[1]",
            ErrorType::Duplicate,
            Some(json!({"name": "dev"})),
            ""
        )
        .to_string(),
        r#"spec.list[1]: Duplicate value: {"name":"dev"}"#
    );
    assert_eq!(
        e("spec.n", ErrorType::Invalid, Some(json!(1.5)), "d").to_string(),
        "spec.n: Invalid value: 1.5: d"
    );
    assert_eq!(
        e("spec.n", ErrorType::Invalid, None, "d").to_string(),
        "spec.n: Invalid value: d"
    );
}

#[test]
fn invalid_message_aggregates_like_apiserver() {
    let a = FieldError {
        field: "spec.a".into(),
        error_type: ErrorType::Invalid,
        value: Some(json!("v")),
        detail: "detail".into(),
    };
    let b = FieldError {
        field: "spec.b".into(),
        error_type: ErrorType::Required,
        value: None,
        detail: String::new(),
    };
    assert_eq!(
        invalid_message(
            "FachverfahrenOnboarding",
            "conplus.niedersachsen.de",
            "x",
            &[a.clone(), b.clone(), b.clone()]
        ),
        r#"FachverfahrenOnboarding.conplus.niedersachsen.de "x" is invalid: [spec.a: Invalid value: "v": detail, spec.b: Required value]"#
    );
    assert_eq!(
        invalid_message(
            "FachverfahrenOnboarding",
            "conplus.niedersachsen.de",
            "x",
            &[b]
        ),
        r#"FachverfahrenOnboarding.conplus.niedersachsen.de "x" is invalid: spec.b: Required value"#
    );
    assert_eq!(
        invalid_message("Pod", "", "p", &[a]),
        r#"Pod "p" is invalid: spec.a: Invalid value: "v": detail"#
    );
}

#[test]
fn admit_mutates_and_reports_like_validate() {
    let v = with_spec(json!({"type": "object", "properties": {
        "replicas": {"type": "integer", "default": 1, "maximum": 3}}}));
    let mut o = obj(json!({"junk": true, "replicas": 5}));
    let from_validate = v.validate(&o, None);
    let from_admit = v.admit(&mut o, None);
    assert_eq!(from_validate, from_admit);
    assert_eq!(
        messages(&from_admit),
        vec![
            "spec.replicas: Invalid value: 5: spec.replicas in body should be less than or equal to 3"
        ]
    );
    assert_eq!(o["spec"], json!({"replicas": 5}));
}

#[test]
fn updates_ratchet_errors_of_unchanged_values() {
    let v = with_spec(json!({"type": "object", "properties": {
        "name": {"type": "string", "minLength": 3},
        "other": {"type": "string"},
        "n": {"type": "integer", "x-kubernetes-validations": [{"rule": "self < 10", "message": "n below 10"}]}}}));
    // Stored before the schema was tightened: invalid today, but unchanged on this update.
    let old = obj(json!({"name": "ab", "n": 20, "other": "a"}));
    let unchanged = obj(json!({"name": "ab", "n": 20, "other": "b"}));
    assert!(v.validate(&unchanged, Some(&old)).is_empty());
    // The same values on create are rejected.
    assert_eq!(v.validate(&unchanged, None).len(), 2);
    assert_eq!(
        messages(&v.validate(&obj(json!({"name": "a", "n": 21})), Some(&old))),
        vec![
            r#"spec.name: Invalid value: "a": spec.name in body should be at least 3 chars long"#,
            r#"spec.n: Invalid value: "integer": n below 10"#,
        ]
    );
}

#[test]
fn common_kubernetes_cel_idioms_evaluate() {
    let rules = [
        "self.name.matches('^[a-z]+$')",
        "!format.dns1123Label().validate(self.name).hasValue()",
        "self.items.exists(i, i == 'b') && self.items.exists_one(i, i == 'a')",
        "self.items.filter(i, i != 'a').size() == 1",
        "isURL(self.url) && url(self.url).getHost() == 'example.org'",
        "isIP(self.ip) && ip(self.ip).family() == 4",
        "self.name.lowerAscii().split('-').size() == 1",
        "int(self.count) + 1 == 3 && double(self.count) == 2.0",
        "size(self.items) == 2 && 'a' in self.items",
        "has(self.labels) && self.labels.all(k, k.startsWith('x'))",
        "self.labels['x-y'] == 'z'",
    ];
    for rule in rules {
        let v = with_spec(json!({"type": "object",
            "properties": {"name": {"type": "string"}, "url": {"type": "string"}, "ip": {"type": "string"},
                           "count": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}},
                           "labels": {"type": "object", "additionalProperties": {"type": "string"}}},
            "x-kubernetes-validations": [{"rule": rule}]}));
        let errs = check(
            &v,
            json!({"name": "abc", "url": "https://example.org/x", "ip": "10.0.0.1",
                                     "count": 2, "items": ["a", "b"], "labels": {"x-y": "z"}}),
        );
        assert!(errs.is_empty(), "{rule}: {errs:?}");
    }
}

#[test]
fn embedded_resources_need_api_version_and_kind() {
    let v = with_spec(json!({"type": "object", "properties": {
        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                     "x-kubernetes-preserve-unknown-fields": true}}}));
    assert!(
        check(
            &v,
            json!({"template": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}})
        )
        .is_empty()
    );
    assert_eq!(
        check(&v, json!({"template": {"kind": "Config_Map"}})),
        vec![
            "spec.template.apiVersion: Required value: must not be empty",
            r#"spec.template.kind: Invalid value: "Config_Map": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
        ]
    );
}

#[test]
fn rules_using_macros_the_cel_engine_lacks_are_rejected_at_compile_time() {
    for rule in [
        "cel.bind(x, self.n, x > 0)",
        "self.items.sortBy(i, i) == self.items",
    ] {
        let result = try_validator(
            json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": rule}]}}}),
        );
        let Err(SchemaError::Invalid { message, .. }) = result else {
            panic!("{rule} accepted")
        };
        assert!(message.contains("cannot evaluate"), "{message}");
    }
}
