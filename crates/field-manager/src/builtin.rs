//! Merge shapes of built-in Kubernetes kinds, transcribed from the `+listType`, `+listMapKey`,
//! `+mapType` and `+structType` markers of `k8s.io/api` (v1.33). Only what differs from the
//! defaults is listed: undeclared struct fields are granular structs and undeclared lists atomic.

use std::collections::BTreeMap;

use crate::schema::{ListType, TypeSchema, object_meta};

/// A granular struct with the given named fields.
pub(crate) fn obj(fields: Vec<(&str, TypeSchema)>) -> TypeSchema {
    TypeSchema::Object {
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        values: None,
        atomic: false,
    }
}

/// A struct or map owned and replaced as a whole (`+structType=atomic`, `+mapType=atomic`).
pub(crate) fn atomic_obj() -> TypeSchema {
    TypeSchema::Object {
        fields: BTreeMap::new(),
        values: Some(Box::new(TypeSchema::Scalar)),
        atomic: true,
    }
}

/// `map[string]string` (or quantities): granular, one owned field per key.
pub(crate) fn string_map() -> TypeSchema {
    TypeSchema::Object {
        fields: BTreeMap::new(),
        values: Some(Box::new(TypeSchema::Scalar)),
        atomic: false,
    }
}

/// A list of objects keyed by `keys` (`+listType=map`).
pub(crate) fn keyed(items: TypeSchema, keys: &[&str]) -> TypeSchema {
    TypeSchema::List {
        items: Box::new(items),
        list_type: ListType::Map(keys.iter().map(|k| k.to_string()).collect()),
    }
}

/// A list of scalars merged by value (`+listType=set`).
pub(crate) fn set_of_scalars() -> TypeSchema {
    TypeSchema::List {
        items: Box::new(TypeSchema::Scalar),
        list_type: ListType::Set,
    }
}

/// A list replaced as a whole (`+listType=atomic`).
fn atomic_list() -> TypeSchema {
    TypeSchema::List {
        items: Box::new(TypeSchema::Deduced),
        list_type: ListType::Atomic,
    }
}

fn any_struct() -> TypeSchema {
    obj(vec![])
}

fn conditions() -> TypeSchema {
    keyed(any_struct(), &["type"])
}

fn container() -> TypeSchema {
    obj(vec![
        ("ports", keyed(any_struct(), &["containerPort", "protocol"])),
        ("env", keyed(any_struct(), &["name"])),
        ("envFrom", atomic_list()),
        ("volumeMounts", keyed(any_struct(), &["mountPath"])),
        ("volumeDevices", keyed(any_struct(), &["devicePath"])),
        (
            "resources",
            obj(vec![
                ("limits", string_map()),
                ("requests", string_map()),
                ("claims", keyed(any_struct(), &["name"])),
            ]),
        ),
    ])
}

fn pod_spec() -> TypeSchema {
    obj(vec![
        ("containers", keyed(container(), &["name"])),
        ("initContainers", keyed(container(), &["name"])),
        ("ephemeralContainers", keyed(container(), &["name"])),
        ("volumes", keyed(any_struct(), &["name"])),
        ("imagePullSecrets", keyed(any_struct(), &["name"])),
        ("hostAliases", keyed(any_struct(), &["ip"])),
        (
            "topologySpreadConstraints",
            keyed(any_struct(), &["topologyKey", "whenUnsatisfiable"]),
        ),
        ("resourceClaims", keyed(any_struct(), &["name"])),
        ("schedulingGates", keyed(any_struct(), &["name"])),
        ("tolerations", atomic_list()),
        ("nodeSelector", atomic_obj()),
        ("overhead", string_map()),
    ])
}

fn pod_template() -> TypeSchema {
    obj(vec![("metadata", object_meta()), ("spec", pod_spec())])
}

fn workload(
    extra_spec: Vec<(&str, TypeSchema)>,
    status_conditions: TypeSchema,
) -> Vec<(&'static str, TypeSchema)> {
    let mut spec = vec![("selector", atomic_obj()), ("template", pod_template())];
    spec.extend(extra_spec);
    vec![
        ("spec", obj(spec)),
        ("status", obj(vec![("conditions", status_conditions)])),
    ]
}

fn job_spec() -> TypeSchema {
    obj(vec![
        ("selector", atomic_obj()),
        ("template", pod_template()),
    ])
}

/// Splits `group/version` into the group (`""` for the core group).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// The schema of a built-in kind, or None when the kind is not built in.
pub(crate) fn schema_for(api_version: &str, kind: &str) -> Option<TypeSchema> {
    let group = group_of(api_version);
    let body: Vec<(&str, TypeSchema)> = match (group, kind) {
        ("", "Pod") => vec![
            ("spec", pod_spec()),
            ("status", obj(vec![("conditions", conditions())])),
        ],
        ("", "PodTemplate") => vec![("template", pod_template())],
        ("", "ReplicationController") => vec![
            (
                "spec",
                obj(vec![
                    ("selector", atomic_obj()),
                    ("template", pod_template()),
                ]),
            ),
            ("status", obj(vec![("conditions", conditions())])),
        ],
        ("apps", "Deployment") | ("apps", "ReplicaSet") | ("apps", "DaemonSet") => {
            workload(vec![], conditions())
        }
        ("apps", "StatefulSet") => {
            workload(vec![("volumeClaimTemplates", atomic_list())], conditions())
        }
        // Job conditions are `+listType=atomic`.
        ("batch", "Job") => vec![
            ("spec", job_spec()),
            ("status", obj(vec![("conditions", atomic_list())])),
        ],
        ("batch", "CronJob") => vec![(
            "spec",
            obj(vec![(
                "jobTemplate",
                obj(vec![("metadata", object_meta()), ("spec", job_spec())]),
            )]),
        )],
        ("", "Service") => vec![
            (
                "spec",
                obj(vec![
                    ("ports", keyed(any_struct(), &["port", "protocol"])),
                    ("selector", atomic_obj()),
                ]),
            ),
            ("status", obj(vec![("conditions", conditions())])),
        ],
        ("", "Namespace") => vec![
            ("spec", obj(vec![("finalizers", atomic_list())])),
            ("status", obj(vec![("conditions", conditions())])),
        ],
        ("", "ResourceQuota") => vec![
            ("spec", obj(vec![("hard", string_map())])),
            (
                "status",
                obj(vec![("hard", string_map()), ("used", string_map())]),
            ),
        ],
        ("", "LimitRange") => vec![("spec", obj(vec![("limits", atomic_list())]))],
        ("", "ConfigMap") => vec![("data", string_map()), ("binaryData", string_map())],
        ("", "Secret") => vec![("data", string_map()), ("stringData", string_map())],
        ("", "ServiceAccount") => vec![
            ("secrets", keyed(any_struct(), &["name"])),
            ("imagePullSecrets", atomic_list()),
        ],
        ("", "PersistentVolumeClaim") => vec![
            ("spec", obj(vec![("selector", atomic_obj())])),
            ("status", obj(vec![("conditions", conditions())])),
        ],
        ("", "Node") => vec![("status", obj(vec![("conditions", conditions())]))],
        ("networking.k8s.io", "NetworkPolicy") => vec![(
            "spec",
            obj(vec![
                ("podSelector", atomic_obj()),
                ("ingress", atomic_list()),
                ("egress", atomic_list()),
            ]),
        )],
        ("rbac.authorization.k8s.io", "RoleBinding")
        | ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            vec![("subjects", atomic_list()), ("roleRef", atomic_obj())]
        }
        ("rbac.authorization.k8s.io", "Role") | ("rbac.authorization.k8s.io", "ClusterRole") => {
            vec![("rules", atomic_list())]
        }
        ("policy", "PodDisruptionBudget") => vec![
            ("spec", obj(vec![("selector", atomic_obj())])),
            ("status", obj(vec![("conditions", conditions())])),
        ],
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            vec![("status", obj(vec![("conditions", conditions())]))]
        }
        ("", "Event")
        | ("events.k8s.io", "Event")
        | ("", "Endpoints")
        | ("", "PersistentVolume")
        | ("coordination.k8s.io", "Lease")
        | ("networking.k8s.io", "Ingress")
        | ("networking.k8s.io", "IngressClass")
        | ("discovery.k8s.io", "EndpointSlice")
        | ("storage.k8s.io", "StorageClass")
        | ("scheduling.k8s.io", "PriorityClass")
        | ("apps", "ControllerRevision")
        | ("autoscaling", "HorizontalPodAutoscaler")
        | ("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
        | ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => vec![],
        _ => return None,
    };
    let mut fields = vec![("metadata", object_meta())];
    fields.extend(body);
    Some(obj(fields))
}

/// Struct fields a built-in kind always has in its Go form (non-pointer structs), so a write
/// that fills them does not own the struct node itself (no `.` marker on `f:spec`).
pub(crate) fn implicit_struct_paths(
    api_version: &str,
    kind: &str,
) -> &'static [&'static [&'static str]] {
    const TEMPLATE: &[&[&str]] = &[
        &["spec"],
        &["spec", "template"],
        &["spec", "template", "metadata"],
        &["spec", "template", "spec"],
        &["spec", "template", "spec", "containers"],
        &["status"],
    ];
    const DEPLOYMENT: &[&[&str]] = &[
        &["spec"],
        &["spec", "strategy"],
        &["spec", "template"],
        &["spec", "template", "metadata"],
        &["spec", "template", "spec"],
        &["spec", "template", "spec", "containers"],
        &["status"],
    ];
    const UPDATE_STRATEGY: &[&[&str]] = &[
        &["spec"],
        &["spec", "updateStrategy"],
        &["spec", "template"],
        &["spec", "template", "metadata"],
        &["spec", "template", "spec"],
        &["spec", "template", "spec", "containers"],
        &["status"],
    ];
    const CRONJOB: &[&[&str]] = &[
        &["spec"],
        &["spec", "jobTemplate"],
        &["spec", "jobTemplate", "spec"],
        &["spec", "jobTemplate", "spec", "template"],
        &["spec", "jobTemplate", "spec", "template", "metadata"],
        &["spec", "jobTemplate", "spec", "template", "spec"],
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ],
        &["status"],
    ];
    const SPEC_STATUS: &[&[&str]] = &[&["spec"], &["status"]];
    // Pod.spec.containers is not omitempty: the empty Go Pod has `containers: null`.
    const POD: &[&[&str]] = &[&["spec"], &["spec", "containers"], &["status"]];
    // PodTemplate.template is a non-pointer struct.
    const POD_TEMPLATE: &[&[&str]] = &[
        &["template"],
        &["template", "metadata"],
        &["template", "spec"],
        &["template", "spec", "containers"],
    ];
    const SPEC: &[&[&str]] = &[&["spec"]];
    match (group_of(api_version), kind) {
        ("apps", "Deployment") => DEPLOYMENT,
        ("apps", "StatefulSet") | ("apps", "DaemonSet") => UPDATE_STRATEGY,
        ("apps", "ReplicaSet") | ("batch", "Job") | ("", "ReplicationController") => TEMPLATE,
        ("batch", "CronJob") => CRONJOB,
        ("", "Pod") => POD,
        ("", "PodTemplate") => POD_TEMPLATE,
        ("", "Service")
        | ("", "Namespace")
        | ("", "ResourceQuota")
        | ("", "PersistentVolumeClaim")
        | ("", "PersistentVolume")
        | ("", "Node")
        | ("networking.k8s.io", "Ingress")
        | ("policy", "PodDisruptionBudget")
        | ("apiextensions.k8s.io", "CustomResourceDefinition") => SPEC_STATUS,
        ("", "LimitRange") | ("networking.k8s.io", "NetworkPolicy") => SPEC,
        _ => &[],
    }
}
