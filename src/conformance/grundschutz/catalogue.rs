//! Every requirement of the BSI modules APP.4.4 *Kubernetes* and SYS.1.6 *Containerisierung*
//! (IT-Grundschutz-Kompendium, Edition 2023) and how CONPlus meets it. Pure data.
//!
//! Ids, levels and withdrawn status follow the BSI's own text of Edition 2023 (`XML_Kompendium_2023.xml`
//! and the module PDFs): APP.4.4 has 21 requirements (A1–A5 B, A6–A12 S, A13–A21 H), SYS.1.6 has 26
//! (A1–A8 B, A9–A20 S, A21–A26 H); neither module has a withdrawn ("ENTFALLEN") requirement in this
//! edition, and both are unchanged from Edition 2022. Titles and explanations are our own words.
//!
//! Which rules check a requirement is not written here: [`rules_for`] derives it from each rule's BSI
//! references in the rule catalogue, so the two cannot drift apart.

use serde::Serialize;

use crate::conformance::rules::RuleId;
use crate::resources::{limit_range, network_policy, resource_quota, service_account};

/// The edition of the IT-Grundschutz-Kompendium the catalogue follows.
pub const EDITION: &str = "IT-Grundschutz-Kompendium, Edition 2023";

/// A BSI module the catalogue covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Module {
    /// APP.4.4 Kubernetes.
    #[serde(rename = "APP.4.4")]
    App44,
    /// SYS.1.6 Containerisierung.
    #[serde(rename = "SYS.1.6")]
    Sys16,
}

impl Module {
    /// Both modules, in catalogue order.
    pub const ALL: [Module; 2] = [Module::App44, Module::Sys16];

    /// `APP.4.4` or `SYS.1.6`.
    pub fn id(self) -> &'static str {
        match self {
            Module::App44 => "APP.4.4",
            Module::Sys16 => "SYS.1.6",
        }
    }

    /// The module's title.
    pub fn title(self) -> &'static str {
        match self {
            Module::App44 => "Kubernetes",
            Module::Sys16 => "Containerisierung",
        }
    }
}

/// The level of a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Level {
    /// Basis-Anforderung: must be met.
    #[serde(rename = "B")]
    Basis,
    /// Standard-Anforderung: should be met (state of the art).
    #[serde(rename = "S")]
    Standard,
    /// Anforderung bei erhöhtem Schutzbedarf: considered from protection level `high`.
    #[serde(rename = "H")]
    Elevated,
}

impl Level {
    /// All levels, basis first.
    pub const ALL: [Level; 3] = [Level::Basis, Level::Standard, Level::Elevated];

    /// `B`, `S` or `H`, as the Kompendium writes it.
    pub fn letter(self) -> &'static str {
        match self {
            Level::Basis => "B",
            Level::Standard => "S",
            Level::Elevated => "H",
        }
    }

    /// `basis`, `standard` or `elevated`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Basis => "basis",
            Level::Standard => "standard",
            Level::Elevated => "elevated",
        }
    }
}

/// How CONPlus meets a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Coverage {
    /// Rules check what the requirement asks of a Fachverfahren's objects.
    Automated,
    /// The operator creates the objects that meet it (listed in [`Requirement::provisioned`]); rules may
    /// verify them.
    Provisioned,
    /// Rules or provisioning cover a part; [`Requirement::remaining`] names the rest.
    Partial,
    /// Nothing on the objects shows it; the platform operator produces the evidence named in
    /// [`Requirement::remaining`].
    Organisational,
    /// Does not apply to CONPlus; [`Requirement::remaining`] says why.
    NotApplicable,
}

impl Coverage {
    /// Every coverage, in documentation order.
    pub const ALL: [Coverage; 5] = [
        Coverage::Automated,
        Coverage::Provisioned,
        Coverage::Partial,
        Coverage::Organisational,
        Coverage::NotApplicable,
    ];

    /// As written in every output: `automated`, `provisioned`, `partial`, `organisational`,
    /// `not applicable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Automated => "automated",
            Coverage::Provisioned => "provisioned",
            Coverage::Partial => "partial",
            Coverage::Organisational => "organisational",
            Coverage::NotApplicable => "not applicable",
        }
    }
}

/// An object the operator creates for every environment of an onboarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Provision {
    /// The Kubernetes kind (or, for a label, the kind that carries it).
    pub kind: &'static str,
    /// Its name (or name pattern, or label key).
    pub name: &'static str,
    /// What it does for the requirement.
    pub what: &'static str,
}

/// One requirement of APP.4.4 or SYS.1.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// `APP.4.4.A1`.
    pub id: &'static str,
    /// B, S or H.
    pub level: Level,
    /// A short title in our own words.
    pub title: &'static str,
    /// The BSI's German title, where it is short.
    pub title_de: Option<&'static str>,
    /// Withdrawn ("ENTFALLEN") in this edition.
    pub withdrawn: bool,
    /// How CONPlus meets it.
    pub coverage: Coverage,
    /// What the operator creates for it.
    pub provisioned: &'static [Provision],
    /// How it is met: what the rules check, what the operator does.
    pub how: &'static str,
    /// What is not covered and the evidence the platform operator must produce instead; for
    /// [`Coverage::NotApplicable`] the reason. Empty when nothing remains.
    pub remaining: &'static str,
}

impl Requirement {
    /// The module, from the id.
    pub fn module(&self) -> Module {
        if self.id.starts_with("SYS.1.6.") {
            Module::Sys16
        } else {
            Module::App44
        }
    }

    /// The rules that check it (see [`rules_for`]).
    pub fn rules(&self) -> Vec<RuleId> {
        rules_for(self.id)
    }
}

/// The rules whose BSI references name `requirement`, in catalogue order. The single link between the
/// requirement catalogue and the rule catalogue.
pub fn rules_for(requirement: &str) -> Vec<RuleId> {
    RuleId::ALL
        .iter()
        .copied()
        .filter(|id| id.rule().bsi.contains(&requirement))
        .collect()
}

/// The requirement with this id.
pub fn requirement(id: &str) -> Option<&'static Requirement> {
    CATALOGUE.iter().find(|r| r.id == id)
}

/// BSI references of rules that name no requirement of the catalogue, as `(rule, reference)`.
pub fn unknown_references() -> Vec<(RuleId, &'static str)> {
    RuleId::ALL
        .iter()
        .flat_map(|id| id.rule().bsi.iter().map(move |b| (*id, *b)))
        .filter(|(_, b)| requirement(b).is_none())
        .collect()
}

const NAMESPACE: Provision = Provision {
    kind: "Namespace",
    name: "<ressort>-<fachverfahren>-<environment>",
    what: "one namespace per Fachverfahren and environment, labelled with Ressort, Fachverfahren, environment and protection level",
};
const POD_SECURITY: Provision = Provision {
    kind: "Namespace",
    name: crate::resources::namespace::PSS_ENFORCE,
    what: "Pod Security admission enforces `baseline` at protection level normal and `restricted` from high",
};
const QUOTA: Provision = Provision {
    kind: "ResourceQuota",
    name: resource_quota::NAME,
    what: "CPU, memory, storage and pods capped per environment as the onboarding declares",
};
const LIMITS: Provision = Provision {
    kind: "LimitRange",
    name: limit_range::NAME,
    what: "default requests and limits for every container, capped by the quota",
};
const DEFAULT_DENY: Provision = Provision {
    kind: "NetworkPolicy",
    name: network_policy::DEFAULT_DENY,
    what: "denies all ingress and egress of every pod",
};
const ALLOW_DNS: Provision = Provision {
    kind: "NetworkPolicy",
    name: network_policy::ALLOW_DNS,
    what: "allows DNS to the cluster DNS namespace only",
};
const ALLOW_SAME_NAMESPACE: Provision = Provision {
    kind: "NetworkPolicy",
    name: network_policy::ALLOW_SAME_NAMESPACE,
    what: "allows traffic between the pods of the namespace; not provisioned when `spec.network.intraNamespace` is `Deny`, the default from protection level high",
};
const ALLOW_INGRESS: Provision = Provision {
    kind: "NetworkPolicy",
    name: network_policy::ALLOW_INGRESS,
    what: "allows ingress from the platform's ingress controller",
};
const ALLOW_MONITORING: Provision = Provision {
    kind: "NetworkPolicy",
    name: network_policy::ALLOW_MONITORING,
    what: "allows ingress from the platform's monitoring",
};
const ALLOW_FROM_NAMESPACES: Provision = Provision {
    kind: "NetworkPolicy",
    name: network_policy::ALLOW_FROM_NAMESPACES,
    what: "allows ingress only from the namespaces in `spec.network.allowFromNamespaces`",
};
const NODE_POOL: Provision = Provision {
    kind: "Namespace",
    name: crate::conformance::checks::workload::NODE_SELECTOR_ANNOTATION,
    what: "where the profile's `dedicatedNodes` demands a pool, the pool (the profile's value, else the Ressort's `spec.nodePool`) as the namespace's default node selector, and a default toleration of the pool's taint (`scheduler.alpha.kubernetes.io/defaultTolerations`), for the PodNodeSelector and PodTolerationRestriction admission plugins",
};
const ACCESS: Provision = Provision {
    kind: "RoleBinding",
    name: "conplus-<role>-<group>-<hash>",
    what: "binds each declared access group to the ClusterRole admin, edit or view, only in the Fachverfahren's namespaces",
};
const DEFAULT_SA: Provision = Provision {
    kind: "ServiceAccount",
    name: service_account::NAME,
    what: "`automountServiceAccountToken: false` on the namespace's default service account",
};

use Coverage::{Automated, Organisational, Partial, Provisioned};
use Level::{Basis, Elevated, Standard};

/// All requirements: APP.4.4 A1–A21, then SYS.1.6 A1–A26.
pub static CATALOGUE: &[Requirement] = &[
    // ---------------------------------------------------------------------------------------------
    // APP.4.4 Kubernetes
    Requirement {
        id: "APP.4.4.A1",
        level: Basis,
        title: "Plan how applications and their environments are separated",
        title_de: Some("Planung der Separierung der Anwendungen"),
        withdrawn: false,
        coverage: Provisioned,
        provisioned: &[NAMESPACE, QUOTA, DEFAULT_DENY],
        how: "Every environment of every Fachverfahren gets its own namespace with its own quota and network isolation. Rules check that workloads do not run in `default` and that namespaces carry the Ressort and protection-level labels.",
        remaining: "The separation plan of the platform operator: which protection levels and attack surfaces share a cluster, and how namespaces, clusters and networks follow the network zone concept.",
    },
    Requirement {
        id: "APP.4.4.A2",
        level: Basis,
        title: "Plan CI/CD automation over the whole lifecycle",
        title_de: Some("Planung der Automatisierung mit CI/CD"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "Onboardings are declared in Git and applied by GitOps; `conplus-operator check` gates manifests in the pipeline.",
        remaining: "A CI/CD plan from commissioning to decommissioning (development, test, operation, monitoring, updates) that includes the role and rights concept and how Kubernetes Secrets are protected.",
    },
    Requirement {
        id: "APP.4.4.A3",
        level: Basis,
        title: "Authenticate and authorise every action; grant least privilege",
        title_de: None,
        withdrawn: false,
        coverage: Partial,
        provisioned: &[ACCESS],
        how: "Teams get only the ClusterRoles admin, edit or view in their own namespaces. Rules reject wildcard roles, bindings to cluster-admin or to anonymous and unauthenticated subjects, and service account tokens mounted without need.",
        remaining: "Authentication and authorisation of the API server (no anonymous access, identity provider), the platform's concept for unrestricted rights, and who may define automation and create persistent volumes.",
    },
    Requirement {
        id: "APP.4.4.A4",
        level: Basis,
        title: "Isolate pods from each other and from the node",
        title_de: Some("Separierung von Pods"),
        withdrawn: false,
        coverage: Partial,
        provisioned: &[POD_SECURITY],
        how: "Rules reject pods that share the host's PID, IPC or network namespace, privileged containers, hostPath volumes, host ports, unsafe sysctls and Windows HostProcess containers.",
        remaining: "The isolation mechanisms of the node kernel (namespaces and cgroups, including separate user IDs, e.g. user namespaces): node hardening evidence of the platform operator.",
    },
    Requirement {
        id: "APP.4.4.A5",
        level: Basis,
        title: "Back up the cluster",
        title_de: Some("Datensicherung im Cluster"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "Onboardings are declarative and can be re-applied from Git; `deletionPolicy: Retain`, the default, keeps a namespace and its data when an onboarding is removed.",
        remaining: "A backup concept with restore tests covering persistent volumes, the configuration of Kubernetes and the control plane, the cluster state with its extensions, etcd, the infrastructure applications, and the code and image registries; snapshots do not replace backups.",
    },
    Requirement {
        id: "APP.4.4.A6",
        level: Standard,
        title: "Initialise pods in init containers",
        title_de: Some("Initialisierung von Pods"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "Kubernetes starts a pod's containers only after its init containers have succeeded.",
        remaining: "The supplier's deployment description shows that initialisation runs in init containers (review of the Helm chart).",
    },
    Requirement {
        id: "APP.4.4.A7",
        level: Standard,
        title: "Separate networks; deny traffic between namespaces unless declared",
        title_de: Some("Separierung der Netze bei Kubernetes"),
        withdrawn: false,
        coverage: Provisioned,
        provisioned: &[
            DEFAULT_DENY,
            ALLOW_DNS,
            ALLOW_SAME_NAMESPACE,
            ALLOW_INGRESS,
            ALLOW_MONITORING,
            ALLOW_FROM_NAMESPACES,
        ],
        how: "Every namespace starts from default deny; only DNS, the namespace itself, the platform's ingress and monitoring, and the namespaces the onboarding declares are allowed. Rules require a default-deny ingress policy in every namespace, report every NetworkPolicy that admits traffic from another namespace than these (an empty or label-based namespaceSelector, an ipBlock of every address, a rule without sources), and reject allow-all policies, host ports and NodePort or LoadBalancer Services. Live the declared namespaces are the onboarding's `spec.network.allowFromNamespaces`; on manifests those of an onboarding in the input that creates the namespace, or those the operator records on the Namespace (annotation `conplus.niedersachsen.de/allow-from-namespaces`, as `render` prints it), else none.",
        remaining: "Separation of the node, control-plane and application networks and of the administration ports, and who may manage the CNI.",
    },
    Requirement {
        id: "APP.4.4.A8",
        level: Standard,
        title: "Version configuration files and restrict access to them",
        title_de: None,
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "Onboardings, Ressorts and profiles are Kubernetes resources kept in Git.",
        remaining: "Versioned and annotated configuration of the cluster, its extensions and applications (Git history and reviews), minimal access to the repositories and GitOps tools, and restricted access to the control plane's configuration files.",
    },
    Requirement {
        id: "APP.4.4.A9",
        level: Standard,
        title: "Give workloads their own service accounts with minimal rights",
        title_de: Some("Nutzung von Kubernetes Service-Accounts"),
        withdrawn: false,
        coverage: Partial,
        provisioned: &[DEFAULT_SA],
        how: "Rules require workloads not to use the `default` service account and not to mount a token they do not need.",
        remaining: "The rights of service accounts (none for `default`), privileged service accounts only for the control plane, and an own token for each automation program: RBAC review.",
    },
    Requirement {
        id: "APP.4.4.A10",
        level: Standard,
        title: "Run automation processes with least privilege",
        title_de: None,
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "The operator itself runs under its own service account with the RBAC rules its chart documents one by one.",
        remaining: "The permission concept of the CI/CD pipelines: only the rights needed, and separate processes for user groups with different rights.",
    },
    Requirement {
        id: "APP.4.4.A11",
        level: Standard,
        title: "Readiness and liveness checks for every container",
        title_de: Some("Überwachung der Container"),
        withdrawn: false,
        coverage: Automated,
        provisioned: &[],
        how: "Rules require readiness and liveness probes on every long-running container; Kubernetes restarts a container whose liveness probe fails and keeps traffic from pods that are not ready.",
        remaining: "That each probe reflects the real availability of the service, with periods that fit it, is reviewed with the supplier.",
    },
    Requirement {
        id: "APP.4.4.A12",
        level: Standard,
        title: "Secure the infrastructure applications",
        title_de: None,
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "For the image registry, the GitOps and automation tools and the storage management: personal and service accounts, encrypted communication on every port, minimal permissions, change logging and regular backups.",
    },
    Requirement {
        id: "APP.4.4.A13",
        level: Elevated,
        title: "Audit the configuration automatically against a baseline",
        title_de: None,
        withdrawn: false,
        coverage: Partial,
        provisioned: &[POD_SECURITY],
        how: "The operator evaluates every object in the onboarded namespaces continuously against the conformance profile and reports the result on the onboarding (`status.conformance`) and as Events; `conplus-operator check` audits manifests before they are merged; Pod Security admission enforces its level in every namespace.",
        remaining: "An audit of the nodes' and of Kubernetes' own settings against a benchmark (e.g. the CIS Kubernetes Benchmark), and enforcing the profile at admission rather than reporting it.",
    },
    Requirement {
        id: "APP.4.4.A14",
        level: Elevated,
        title: "Dedicated nodes for dedicated tasks",
        title_de: Some("Verwendung dedizierter Nodes"),
        withdrawn: false,
        coverage: Partial,
        provisioned: &[NODE_POOL],
        how: "The Ressort names its node pool (`spec.nodePool`); where the profile sets `dedicatedNodes`, the operator makes that pool the default node selector and toleration of the onboarding's namespaces, and rules require every pod to be placed on the pool (by the namespace default or its own selector) and to tolerate its taint; a pod pinned to another pool is a finding.",
        remaining: "Node roles (bastion, management and storage nodes), the labels and taints of the pools and the admission plugins that apply the namespace defaults are platform design.",
    },
    Requirement {
        id: "APP.4.4.A15",
        level: Elevated,
        title: "Own cluster or nodes for very high protection needs",
        title_de: None,
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "At protection level veryHigh the placement on a dedicated node pool is checked under APP.4.4.A14.",
        remaining: "The assignment of each Fachverfahren with very high protection needs to a cluster or node pool that no other application uses (cluster plan of the platform operator).",
    },
    Requirement {
        id: "APP.4.4.A16",
        level: Elevated,
        title: "Automate the operation of critical applications with operators",
        title_de: Some("Verwendung von Operatoren"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "The onboarding of Fachverfahren is itself automated by this operator.",
        remaining: "A decision, for each particularly critical Fachverfahren and for the control plane, whether operators automate its operation.",
    },
    Requirement {
        id: "APP.4.4.A17",
        level: Elevated,
        title: "Attest nodes before they join the cluster",
        title_de: Some("Attestierung von Nodes"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "Cryptographically secured (where possible TPM-backed) node attestation before a node is admitted: platform evidence.",
    },
    Requirement {
        id: "APP.4.4.A18",
        level: Elevated,
        title: "Micro-segment the traffic inside a namespace",
        title_de: Some("Verwendung von Mikro-Segmentierung"),
        withdrawn: false,
        coverage: Partial,
        provisioned: &[DEFAULT_DENY],
        how: "From protection level high the operator allows no traffic inside a namespace (`spec.network.intraNamespace: Deny` unless declared otherwise): every connection needs a NetworkPolicy of the team. Rules reject NetworkPolicies that allow every source or destination and require a default-deny egress policy.",
        remaining: "That each allowed connection names its source and destination precisely (labels, service accounts or certificates), and that only authorised persons can change those labels.",
    },
    Requirement {
        id: "APP.4.4.A19",
        level: Elevated,
        title: "Keep applications running when a site fails",
        title_de: Some("Hochverfügbarkeit von Kubernetes"),
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "Rules require at least two replicas, a PodDisruptionBudget and spreading over zones.",
        remaining: "Failover or restart at another site with the configuration, images, data, network connections and hardware available there, and the control plane and infrastructure applications spread over fire zones.",
    },
    Requirement {
        id: "APP.4.4.A20",
        level: Elevated,
        title: "Encrypt persistent data",
        title_de: Some("Verschlüsselte Datenhaltung bei Pods"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "Encryption at rest of etcd and of the storage that backs persistent volumes (encryption configuration, storage classes).",
    },
    Requirement {
        id: "APP.4.4.A21",
        level: Elevated,
        title: "Restart pods regularly",
        title_de: Some("Regelmäßiger Restart von Pods"),
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "Rules report pods older than the profile's `maxPodAge` (168 hours at high, 72 hours at veryHigh). A pod's age needs its start time, so it is checked live; on manifests the report says `not evaluated` and why.",
        remaining: "The requirement names 24 hours for very high protection needs with an increased risk of interference: such a Fachverfahren needs a profile with `maxPodAge: 24h` and a scheduled restart that keeps it available.",
    },
    // ---------------------------------------------------------------------------------------------
    // SYS.1.6 Containerisierung
    Requirement {
        id: "SYS.1.6.A1",
        level: Basis,
        title: "Plan the use of containers",
        title_de: Some("Planung des Container-Einsatzes"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "Each onboarding records the Fachverfahren's task, owner, environments and protection level.",
        remaining: "A documented plan with the goal of using containers and the security aspects of installation, operation and decommissioning, including the operating effort.",
    },
    Requirement {
        id: "SYS.1.6.A2",
        level: Basis,
        title: "Plan container management over the lifecycle",
        title_de: Some("Planung der Verwaltung von Containern"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "Containers are started, stopped and monitored only through Kubernetes; an onboarding's `deletionPolicy` declares what happens at decommissioning.",
        remaining: "A management plan from commissioning to decommissioning, including updates, that treats the authors of containers like administrators.",
    },
    Requirement {
        id: "SYS.1.6.A3",
        level: Basis,
        title: "Assess what containerisation does to isolation and availability",
        title_de: None,
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "Health checks are checked under APP.4.4.A11.",
        remaining: "An assessment, per protection level, of the isolation of containers and virtual networks, of the logical and overlay networks (NET.1, NET.3), and of availability and throughput.",
    },
    Requirement {
        id: "SYS.1.6.A4",
        level: Basis,
        title: "Plan how images are provided and distributed",
        title_de: None,
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "A documented process for building, storing, mirroring and promoting images.",
    },
    Requirement {
        id: "SYS.1.6.A5",
        level: Basis,
        title: "Separate administration and access networks",
        title_de: None,
        withdrawn: false,
        coverage: Partial,
        provisioned: &[DEFAULT_DENY, ALLOW_FROM_NAMESPACES],
        how: "Only the communication the onboarding declares is allowed into a Fachverfahren's namespaces.",
        remaining: "Separation of the host and container administration networks from the access networks, and host administration only from the administration network (platform network design).",
    },
    Requirement {
        id: "SYS.1.6.A6",
        level: Basis,
        title: "Use images from trusted sources with unique versions",
        title_de: Some("Verwendung sicherer Images"),
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "Rules require an explicit version (never `latest`), a digest at veryHigh, and a registry of the profile's `allowedRegistries` where it lists any.",
        remaining: "That sources and image creators are trusted and identifiable, that base images are not deprecated, and that patch management checks newer versions.",
    },
    Requirement {
        id: "SYS.1.6.A7",
        level: Basis,
        title: "Keep container logs outside the container",
        title_de: None,
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "The DVC requires logs on stdout and stderr, which Kubernetes keeps outside the container.",
        remaining: "The platform's log collection, which stores logs outside the containers (on the node and centrally).",
    },
    Requirement {
        id: "SYS.1.6.A8",
        level: Basis,
        title: "Store credentials securely",
        title_de: None,
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "Rules reject credentials written literally into environment variables or ConfigMaps and advise mounting Secrets as files.",
        remaining: "No credentials inside images (image scanning), Secrets encrypted at rest, and access to Secrets limited to authorised persons.",
    },
    Requirement {
        id: "SYS.1.6.A9",
        level: Standard,
        title: "Make sure the application suits container operation",
        title_de: Some("Eignung für Container-Betrieb"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "The supplier's statement that the Fachverfahren copes with containers ending unexpectedly, and the documented result of SYS.1.6.A3.",
    },
    Requirement {
        id: "SYS.1.6.A10",
        level: Standard,
        title: "A policy for images and container operation",
        title_de: None,
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "The conformance profile (built-in `dvc-basis`, `dvc-erhoeht`, `dvc-sehr-hoch`, or a Ressort's own) is the machine-readable policy: rules, allowed registries and runtime classes, justified exceptions; it is applied live and in pipelines.",
        remaining: "The written policy, including how images are provided and deployed.",
    },
    Requirement {
        id: "SYS.1.6.A11",
        level: Standard,
        title: "One service per container",
        title_de: Some("Nur ein Dienst pro Container"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "The supplier's deployment description shows one service per container.",
    },
    Requirement {
        id: "SYS.1.6.A12",
        level: Standard,
        title: "Document trusted image sources and sign images",
        title_de: Some("Verteilung sicherer Images"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "Pinning by digest (SYS.1.6.A6) keeps an image from changing after it was approved.",
        remaining: "Documented trusted sources and supply process, image metadata that makes function and history traceable, and signatures verified before deployment.",
    },
    Requirement {
        id: "SYS.1.6.A13",
        level: Standard,
        title: "Release images through test and approval",
        title_de: Some("Freigabe von Images"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "The test and release process for production images (OPS.1.1.6).",
    },
    Requirement {
        id: "SYS.1.6.A14",
        level: Standard,
        title: "Update images through patch management",
        title_de: Some("Aktualisierung von Images"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "The patch and change concept decides when and how image updates are rolled out (OPS.1.1.3).",
    },
    Requirement {
        id: "SYS.1.6.A15",
        level: Standard,
        title: "Reserve and limit resources per container",
        title_de: Some("Limitierung der Ressourcen pro Container"),
        withdrawn: false,
        coverage: Provisioned,
        provisioned: &[QUOTA, LIMITS],
        how: "Rules require CPU and memory requests and limits on every container, and a ResourceQuota and a LimitRange in every namespace.",
        remaining: "Limits of network bandwidth, and documentation of how the system reacts when a limit is exceeded.",
    },
    Requirement {
        id: "SYS.1.6.A16",
        level: Standard,
        title: "No remote maintenance access in containers",
        title_de: None,
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "Rules reject containers and Services that expose an SSH port (22); administration goes through the Kubernetes API (`kubectl exec`, `kubectl debug`).",
        remaining: "Other remote-maintenance software inside images (image review). Administrative access from a container to the host is checked under SYS.1.6.A17.",
    },
    Requirement {
        id: "SYS.1.6.A17",
        level: Standard,
        title: "Run containers without privileges",
        title_de: None,
        withdrawn: false,
        coverage: Partial,
        provisioned: &[POD_SECURITY],
        how: "Rules reject privileged containers, root users, privilege escalation, added capabilities beyond the baseline, kept default capabilities, unconfined seccomp and AppArmor, custom SELinux options and an unmasked /proc.",
        remaining: "A container runtime run by a non-privileged account and encapsulated further (e.g. CPU virtualisation extensions). Exceptions carry a justification and an approver in the profile.",
    },
    Requirement {
        id: "SYS.1.6.A18",
        level: Standard,
        title: "No host permissions for the accounts inside containers",
        title_de: Some("Accounts der Anwendungsdienste"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "Non-root users and the absence of hostPath volumes are checked under SYS.1.6.A17 and SYS.1.6.A19.",
        remaining: "Where a container exchanges data with the host, the account and its rights on the host are documented and minimal.",
    },
    Requirement {
        id: "SYS.1.6.A19",
        level: Standard,
        title: "Mount only the storage a container needs",
        title_de: None,
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "Rules reject hostPath volumes and volume types outside the declared, platform-managed ones, and volumes naming a PersistentVolumeClaim that is not declared in the namespace (on manifests: in the input).",
        remaining: "Permissions on network storage are set on the storage itself.",
    },
    Requirement {
        id: "SYS.1.6.A20",
        level: Standard,
        title: "Version the container configuration",
        title_de: Some("Absicherung von Konfigurationsdaten"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "Container configuration (Helm charts, values, manifests) versioned in Git with traceable changes.",
    },
    Requirement {
        id: "SYS.1.6.A21",
        level: Elevated,
        title: "Restrict containers with extended security policies",
        title_de: Some("Erweiterte Sicherheitsrichtlinien"),
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "Rules require a seccomp profile (RuntimeDefault or Localhost), reject unconfined seccomp and AppArmor and custom SELinux options, and require a default-deny egress policy.",
        remaining: "Mandatory access control active on the nodes (AppArmor or SELinux enforcing) and restrictions of file-system access.",
    },
    Requirement {
        id: "SYS.1.6.A22",
        level: Elevated,
        title: "Preserve container state for investigations",
        title_de: Some("Vorsorge für Untersuchungen"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "Rules and tooling to capture the state of a container (e.g. checkpoints, volume snapshots) for forensic analysis.",
    },
    Requirement {
        id: "SYS.1.6.A23",
        level: Elevated,
        title: "Immutable containers",
        title_de: Some("Unveränderlichkeit der Container"),
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "Rules require a read-only root file system on every container.",
        remaining: "Writable volume mounts (e.g. an emptyDir for temporary files) are not checked.",
    },
    Requirement {
        id: "SYS.1.6.A24",
        level: Elevated,
        title: "Detect attacks through host-based monitoring",
        title_de: Some("Hostbasierte Angriffserkennung"),
        withdrawn: false,
        coverage: Organisational,
        provisioned: &[],
        how: "",
        remaining: "Runtime monitoring of network connections, processes, file access and system calls (e.g. Falco) that feeds security incident handling.",
    },
    Requirement {
        id: "SYS.1.6.A25",
        level: Elevated,
        title: "Decide where high availability is realised",
        title_de: None,
        withdrawn: false,
        coverage: Partial,
        provisioned: &[],
        how: "Rules require at least two replicas, a PodDisruptionBudget and spreading over zones.",
        remaining: "The decision, per Fachverfahren with high availability needs, on which level (pod, node, site) availability is realised.",
    },
    Requirement {
        id: "SYS.1.6.A26",
        level: Elevated,
        title: "Isolate containers further (sandboxed runtime, dedicated hosts)",
        title_de: None,
        withdrawn: false,
        coverage: Automated,
        provisioned: &[],
        how: "At veryHigh, rules require a sandboxing runtime class (gVisor, Kata) from the profile's `allowedRuntimeClasses`; the dedicated node pool is checked under APP.4.4.A14.",
        remaining: "",
    },
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::resources::{PlatformSettings, desired, fixtures::moin_schule, role_binding};

    /// The ids and levels of Edition 2023, from the BSI's text (`XML_Kompendium_2023.xml`): APP.4.4 A1–A5
    /// basis, A6–A12 standard, A13–A21 elevated; SYS.1.6 A1–A8 basis, A9–A20 standard, A21–A26 elevated.
    fn edition_2023() -> Vec<(String, Level)> {
        let module = |prefix: &str, n: u32, basis: u32, standard: u32| {
            (1..=n)
                .map(|i| {
                    let level = if i <= basis {
                        Basis
                    } else if i <= standard {
                        Standard
                    } else {
                        Elevated
                    };
                    (format!("{prefix}.A{i}"), level)
                })
                .collect::<Vec<_>>()
        };
        let mut all = module("APP.4.4", 21, 5, 12);
        all.extend(module("SYS.1.6", 26, 8, 20));
        all
    }

    #[test]
    fn catalogue_lists_every_requirement_of_edition_2023_once_with_its_level() {
        let want = edition_2023();
        let got: Vec<(String, Level)> = CATALOGUE
            .iter()
            .map(|r| (r.id.to_owned(), r.level))
            .collect();
        let ids: BTreeSet<&str> = CATALOGUE.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), CATALOGUE.len(), "a requirement is listed twice");
        for (id, level) in &want {
            assert!(
                got.contains(&(id.clone(), *level)),
                "{id} ({}) missing or with another level",
                level.letter()
            );
        }
        assert_eq!(got, want, "catalogue order or extra entries");
        assert_eq!(
            CATALOGUE
                .iter()
                .filter(|r| r.module() == Module::App44)
                .count(),
            21
        );
        assert_eq!(
            CATALOGUE
                .iter()
                .filter(|r| r.module() == Module::Sys16)
                .count(),
            26
        );
        // Neither module withdrew a requirement in Edition 2023.
        assert!(CATALOGUE.iter().all(|r| !r.withdrawn));
    }

    #[test]
    fn every_bsi_reference_of_a_rule_names_a_requirement_of_the_catalogue() {
        assert_eq!(
            unknown_references(),
            [],
            "rules reference requirements the catalogue does not know"
        );
    }

    #[test]
    fn coverage_agrees_with_the_rules_that_reference_a_requirement() {
        for r in CATALOGUE {
            let rules = r.rules();
            match r.coverage {
                Coverage::Automated => {
                    assert!(
                        !rules.is_empty(),
                        "{} is automated but no rule references it",
                        r.id
                    )
                }
                Coverage::Organisational | Coverage::NotApplicable => assert!(
                    rules.is_empty(),
                    "{} is {} but rules {rules:?} reference it: reclassify it",
                    r.id,
                    r.coverage.as_str()
                ),
                Coverage::Provisioned => {
                    assert!(
                        !r.provisioned.is_empty(),
                        "{} names nothing provisioned",
                        r.id
                    )
                }
                Coverage::Partial => assert!(
                    !rules.is_empty() || !r.provisioned.is_empty() || !r.how.is_empty(),
                    "{} is partial but says nothing about what covers it",
                    r.id
                ),
            }
            if r.coverage != Coverage::Automated && r.coverage != Coverage::Provisioned {
                assert!(
                    !r.remaining.is_empty(),
                    "{}: what remains must be named",
                    r.id
                );
            }
            if !rules.is_empty() {
                assert!(!r.how.is_empty(), "{}: say what its rules check", r.id);
            }
        }
    }

    #[test]
    fn every_requirement_the_domain_calls_checkable_has_rules() {
        // The table "BSI IT-Grundschutz requirements that can be checked on Kubernetes objects".
        for id in [
            "APP.4.4.A1",
            "APP.4.4.A3",
            "APP.4.4.A4",
            "APP.4.4.A7",
            "APP.4.4.A9",
            "APP.4.4.A11",
            "APP.4.4.A14",
            "APP.4.4.A18",
            "APP.4.4.A19",
            "APP.4.4.A21",
            "SYS.1.6.A6",
            "SYS.1.6.A8",
            "SYS.1.6.A15",
            "SYS.1.6.A16",
            "SYS.1.6.A17",
            "SYS.1.6.A19",
            "SYS.1.6.A21",
            "SYS.1.6.A23",
            "SYS.1.6.A25",
            "SYS.1.6.A26",
        ] {
            assert!(!rules_for(id).is_empty(), "{id}");
        }
    }

    #[test]
    fn titles_are_short_and_german_titles_appear_only_when_short() {
        for r in CATALOGUE {
            assert!(r.title.len() <= 70, "{}: title too long", r.id);
            assert!(!r.title.ends_with('.'), "{}", r.id);
            if let Some(de) = r.title_de {
                assert!(de.chars().count() <= 45, "{}: German title too long", r.id);
            }
        }
    }

    #[test]
    fn provisioned_objects_are_those_the_builders_create() {
        // Traffic inside the namespace allowed, so that every policy the catalogue names is built.
        let mut fvo = moin_schule();
        fvo.spec.network.intra_namespace = Some(crate::api::IntraNamespace::Allow);
        let envs = desired(&fvo, &PlatformSettings::default()).unwrap();
        // The scheduling defaults the controller adds where the profile demands the Ressort's pool.
        let ressort = crate::api::Ressort::new(
            "mk",
            crate::api::RessortSpec {
                display_name: "mk".into(),
                budget: crate::resources::fixtures::totals("1", "1Gi", "1Gi", "1"),
                onboarders: Vec::new(),
                node_pool: Some("mk".into()),
            },
        );
        let defaults = crate::controller::conformance::Defaults::default();
        let pool =
            crate::controller::conformance::node_defaults(&fvo, None, Some(&ressort), &defaults);
        let envs = crate::controller::conformance::with_node_defaults(envs, &pool);
        let env = &envs[0];
        let ns = &env.namespace;
        let mut names: BTreeSet<(String, String)> = BTreeSet::new();
        let mut add = |kind: &str, name: Option<&String>| {
            names.insert((kind.to_owned(), name.cloned().unwrap_or_default()));
        };
        add("ResourceQuota", env.resource_quota.metadata.name.as_ref());
        add("LimitRange", env.limit_range.metadata.name.as_ref());
        add(
            "ServiceAccount",
            env.default_service_account.metadata.name.as_ref(),
        );
        for p in &env.network_policies {
            add("NetworkPolicy", p.metadata.name.as_ref());
        }
        let mut labels = ns.metadata.labels.clone().unwrap_or_default();
        labels.extend(ns.metadata.annotations.clone().unwrap_or_default());
        for r in CATALOGUE {
            for p in r.provisioned {
                match p.kind {
                    "Namespace" if p.name.contains('<') => {
                        assert_eq!(ns.metadata.name.as_deref(), Some("mk-moin-schule-dev"))
                    }
                    "Namespace" => {
                        assert!(
                            labels.contains_key(p.name),
                            "{}: label or annotation {}",
                            r.id,
                            p.name
                        )
                    }
                    "RoleBinding" => {
                        assert!(p.name.starts_with(role_binding::PREFIX), "{}", r.id);
                        assert!(!env.role_bindings.is_empty());
                    }
                    kind => assert!(
                        names.contains(&(kind.to_owned(), p.name.to_owned())),
                        "{}: the builders create no {kind} {}",
                        r.id,
                        p.name
                    ),
                }
            }
        }
    }
}
