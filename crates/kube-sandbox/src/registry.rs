//! The kinds the sandbox serves: built-ins and those of CustomResourceDefinitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use crd_validation::SchemaValidator;
use field_manager::TypeSchema;

/// How `metadata.name` is validated for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces, services).
    Label,
    /// Any path segment (RBAC kinds: `system:controller:x`).
    PathSegment,
}

/// An additional printer column of a CRD version (or a built-in's).
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// The CRD-specific facts of a custom kind.
#[derive(Debug, Clone)]
pub struct CustomInfo {
    /// Served versions, storage version first.
    pub versions: Vec<String>,
    /// Compiled schema per version (the storage one is used for validation).
    pub validators: BTreeMap<String, Arc<SchemaValidator>>,
    /// Printer columns per version.
    pub columns: BTreeMap<String, Vec<PrinterColumn>>,
    /// The CRD's uid, to notice it was replaced.
    pub crd_name: String,
    /// The `openAPIV3Schema` per version, as published under `/openapi/v3`.
    pub schemas: BTreeMap<String, serde_json::Value>,
    /// `selectableFields` per version, as field-selector keys (`spec.ressort`).
    pub selectable_fields: BTreeMap<String, Vec<String>>,
}

/// One served resource (group + plural), with everything routing and semantics need.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    /// Preferred (storage) version.
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub has_status: bool,
    /// Whether `metadata.generation` is maintained.
    pub uses_generation: bool,
    /// Whether delete returns the deleted object (true) or a Success `Status`.
    pub delete_returns_object: bool,
    pub name_rule: NameRule,
    /// A review kind (access reviews, SelfSubjectReview): only `create`, answered and not stored.
    pub create_only: bool,
    pub custom: Option<CustomInfo>,
    /// Merge shape for server-side apply and strategic merge.
    pub type_schema: Arc<TypeSchema>,
}

impl ResourceDef {
    /// `apps/v1`, `v1`.
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// Versions this resource is served under.
    pub fn served_versions(&self) -> Vec<String> {
        match &self.custom {
            Some(c) => c.versions.clone(),
            None => vec![self.version.clone()],
        }
    }

    /// The key under which it is stored and looked up.
    pub fn key(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.plural.clone(),
        }
    }

    /// Where its objects are stored (events.k8s.io/v1 Events are core/v1 Events).
    pub fn storage_key(&self) -> GroupResource {
        crate::events::storage_key(self)
    }

    /// Verbs as listed in discovery.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.create_only {
            return vec!["create"];
        }
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// The validator of the storage version, for custom kinds.
    pub fn validator(&self) -> Option<&Arc<SchemaValidator>> {
        self.custom
            .as_ref()
            .and_then(|c| c.validators.get(&self.version))
    }
}

/// `group/version`, or `version` for the core group.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// A resource's identity regardless of version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

struct B {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    generation: bool,
    returns_object: bool,
    name_rule: NameRule,
    create_only: bool,
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    generation: bool,
    returns_object: bool,
) -> B {
    B {
        group,
        version,
        kind,
        plural,
        namespaced,
        short,
        categories,
        status,
        generation,
        returns_object,
        name_rule: NameRule::Subdomain,
        create_only: false,
    }
}

/// A review kind: created, answered, never stored.
const fn review(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> B {
    B {
        create_only: true,
        ..b(
            group, "v1", kind, plural, namespaced, NONE, NONE, false, false, true,
        )
    }
}

/// The built-in kinds, with the scope, short names, categories and subresources of upstream.
pub fn builtins() -> Vec<ResourceDef> {
    let mut list = vec![
        B {
            name_rule: NameRule::Label,
            ..b(
                "",
                "v1",
                "Namespace",
                "namespaces",
                false,
                &["ns"],
                NONE,
                true,
                false,
                true,
            )
        },
        b(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            true,
            &["quota"],
            NONE,
            true,
            false,
            false,
        ),
        b(
            "",
            "v1",
            "LimitRange",
            "limitranges",
            true,
            &["limits"],
            NONE,
            false,
            false,
            false,
        ),
        b(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            true,
            &["sa"],
            NONE,
            false,
            false,
            false,
        ),
        b(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            true,
            &["cm"],
            NONE,
            false,
            false,
            false,
        ),
        b(
            "", "v1", "Secret", "secrets", true, NONE, NONE, false, false, false,
        ),
        B {
            name_rule: NameRule::Label,
            ..b(
                "",
                "v1",
                "Service",
                "services",
                true,
                &["svc"],
                ALL,
                true,
                false,
                true,
            )
        },
        b(
            "",
            "v1",
            "Pod",
            "pods",
            true,
            &["po"],
            ALL,
            true,
            false,
            true,
        ),
        // Still served by every cluster and read by workload checkers (conformance rules).
        b(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            true,
            &["rc"],
            ALL,
            true,
            true,
            false,
        ),
        b(
            "",
            "v1",
            "Event",
            "events",
            true,
            &["ev"],
            NONE,
            false,
            false,
            false,
        ),
        b(
            "",
            "v1",
            "Endpoints",
            "endpoints",
            true,
            &["ep"],
            NONE,
            false,
            false,
            false,
        ),
        b(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
            &["pvc"],
            NONE,
            true,
            false,
            false,
        ),
        b(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            true,
            &["ev"],
            NONE,
            false,
            false,
            false,
        ),
        b(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            true,
            NONE,
            NONE,
            false,
            false,
            false,
        ),
        b(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
            &["netpol"],
            NONE,
            false,
            true,
            false,
        ),
        b(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            true,
            &["ing"],
            NONE,
            true,
            true,
            false,
        ),
        B {
            name_rule: NameRule::PathSegment,
            ..b(
                "rbac.authorization.k8s.io",
                "v1",
                "Role",
                "roles",
                true,
                NONE,
                NONE,
                false,
                false,
                false,
            )
        },
        B {
            name_rule: NameRule::PathSegment,
            ..b(
                "rbac.authorization.k8s.io",
                "v1",
                "RoleBinding",
                "rolebindings",
                true,
                NONE,
                NONE,
                false,
                false,
                false,
            )
        },
        B {
            name_rule: NameRule::PathSegment,
            ..b(
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRole",
                "clusterroles",
                false,
                NONE,
                NONE,
                false,
                false,
                false,
            )
        },
        B {
            name_rule: NameRule::PathSegment,
            ..b(
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRoleBinding",
                "clusterrolebindings",
                false,
                NONE,
                NONE,
                false,
                false,
                false,
            )
        },
        b(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            true,
            &["deploy"],
            ALL,
            true,
            true,
            false,
        ),
        b(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            true,
            &["sts"],
            ALL,
            true,
            true,
            false,
        ),
        b(
            "apps",
            "v1",
            "DaemonSet",
            "daemonsets",
            true,
            &["ds"],
            ALL,
            true,
            true,
            false,
        ),
        b(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            true,
            &["rs"],
            ALL,
            true,
            true,
            false,
        ),
        b(
            "batch", "v1", "Job", "jobs", true, NONE, ALL, true, true, false,
        ),
        b(
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            true,
            &["cj"],
            ALL,
            true,
            true,
            false,
        ),
        b(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            &["pdb"],
            NONE,
            true,
            true,
            false,
        ),
        b(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
            false,
            NONE,
            &["api-extensions"],
            true,
            true,
            false,
        ),
        b(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
            false,
            NONE,
            &["api-extensions"],
            false,
            true,
            false,
        ),
        review(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
        ),
        review(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "subjectaccessreviews",
            false,
        ),
        review(
            "authorization.k8s.io",
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            true,
        ),
        review(
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            false,
        ),
        review(
            "authentication.k8s.io",
            "SelfSubjectReview",
            "selfsubjectreviews",
            false,
        ),
        b(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["crd", "crds"],
            NONE,
            true,
            true,
            true,
        ),
    ];
    list.drain(..)
        .map(|b| ResourceDef {
            group: b.group.into(),
            version: b.version.into(),
            kind: b.kind.into(),
            plural: b.plural.into(),
            singular: b.kind.to_lowercase(),
            namespaced: b.namespaced,
            short_names: b.short.iter().map(|s| s.to_string()).collect(),
            categories: b.categories.iter().map(|s| s.to_string()).collect(),
            has_status: b.status,
            uses_generation: b.generation,
            delete_returns_object: b.returns_object,
            name_rule: b.name_rule,
            create_only: b.create_only,
            custom: None,
            type_schema: Arc::new(TypeSchema::builtin(
                &api_version(b.group, b.version),
                b.kind,
            )),
        })
        .collect()
}
