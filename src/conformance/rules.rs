//! The rule catalogue: every check with its stable id, BSI references and Pod Security level.
//!
//! Pure data, no I/O. The order of [`RULES`] is the order of `docs/rules.md` and of SARIF's
//! `tool.driver.rules`; ids are stable API (profiles, exceptions and ignore annotations name them),
//! so a rule may be added but never renamed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Advice; does not make an object non-conformant on its own.
    Info,
    /// Should be fixed; deviations need a justification.
    Warning,
    /// Must be fixed before the workload may run on CONPlus.
    Error,
}

impl Severity {
    /// All severities, most serious first.
    pub const ALL: [Severity; 3] = [Severity::Error, Severity::Warning, Severity::Info];

    /// The lower-case name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Weight of a failed check of this severity in the score (see [`super::report::Report::score`]).
    pub fn weight(self) -> u64 {
        match self {
            Severity::Error => 10,
            Severity::Warning => 3,
            Severity::Info => 1,
        }
    }

    /// Parses `error`, `warning` or `info`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Pod Security Standards level a rule implements, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PssLevel {
    /// A control of the `baseline` level (and hence of `restricted`).
    Baseline,
    /// A control only of the `restricted` level.
    Restricted,
    /// Not a Pod Security control.
    None,
}

impl PssLevel {
    /// `baseline`, `restricted` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            PssLevel::Baseline => "baseline",
            PssLevel::Restricted => "restricted",
            PssLevel::None => "none",
        }
    }
}

pub use crate::api::ProtectionLevel;

/// All protection levels, lowest first.
pub const PROTECTION_LEVELS: [ProtectionLevel; 3] = [
    ProtectionLevel::Normal,
    ProtectionLevel::High,
    ProtectionLevel::VeryHigh,
];

/// The order of protection levels (`normal` < `high` < `veryHigh`).
pub fn level_rank(level: ProtectionLevel) -> u8 {
    match level {
        ProtectionLevel::Normal => 0,
        ProtectionLevel::High => 1,
        ProtectionLevel::VeryHigh => 2,
    }
}

/// Parses `normal`, `high` or `veryHigh` (the spelling of the CRDs and the CLI).
pub fn parse_level(s: &str) -> Option<ProtectionLevel> {
    PROTECTION_LEVELS.into_iter().find(|l| l.as_str() == s)
}

/// What a rule looks at; decides where the engine evaluates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The pod spec of a Pod or of a workload's pod template, and its containers.
    PodSpec,
    /// The workload object itself (replicas, PodDisruptionBudget coverage, pod age).
    Workload,
    /// All objects of one namespace together.
    Namespace,
    /// Roles and bindings.
    Rbac,
    /// Services.
    Service,
    /// ConfigMaps.
    ConfigMap,
    /// Findings about the input or the profile itself; cannot be disabled or silenced.
    Meta,
}

macro_rules! rule_ids {
    ($($variant:ident => $id:literal,)*) => {
        /// The stable identifier of a rule. `as usize` indexes [`RULES`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum RuleId { $($variant,)* }

        impl RuleId {
            /// Every rule id, in catalogue order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];

            /// The kebab-case id (`privileged-container`).
            pub fn as_str(self) -> &'static str {
                match self { $(RuleId::$variant => $id,)* }
            }

            /// Looks a rule up by its kebab-case id.
            pub fn parse(s: &str) -> Option<RuleId> {
                match s { $($id => Some(RuleId::$variant),)* _ => None }
            }
        }
    };
}

rule_ids! {
    PrivilegedContainer => "privileged-container",
    HostNamespaces => "host-namespaces",
    HostPorts => "host-ports",
    HostPathVolumes => "host-path-volumes",
    CapabilitiesBaseline => "capabilities-baseline",
    CapabilitiesDropAll => "capabilities-drop-all",
    SeccompUnconfined => "seccomp-unconfined",
    SeccompRequired => "seccomp-required",
    ApparmorUnconfined => "apparmor-unconfined",
    SelinuxOptions => "selinux-options",
    ProcMount => "proc-mount",
    UnsafeSysctls => "unsafe-sysctls",
    WindowsHostProcess => "windows-host-process",
    VolumeTypes => "volume-types",
    RunAsNonRoot => "run-as-non-root",
    RunAsUserRoot => "run-as-user-root",
    AllowPrivilegeEscalation => "allow-privilege-escalation",
    ReadOnlyRootFilesystem => "read-only-root-filesystem",
    ContainerResources => "container-resources",
    ContainerProbes => "container-probes",
    DefaultServiceAccount => "default-service-account",
    ServiceAccountTokenAutomount => "service-account-token-automount",
    ImageTag => "image-tag",
    ImageDigest => "image-digest",
    ImageRegistry => "image-registry",
    EnvLiteralSecret => "env-literal-secret",
    SecretAsEnv => "secret-as-env",
    SshPort => "ssh-port",
    DedicatedNodePool => "dedicated-node-pool",
    RuntimeClass => "runtime-class",
    TopologySpread => "topology-spread",
    DefaultNamespace => "default-namespace",
    MinReplicas => "min-replicas",
    PodDisruptionBudget => "pod-disruption-budget",
    PodMaxAge => "pod-max-age",
    NamespaceLabels => "namespace-labels",
    NetworkPolicyDefaultDeny => "network-policy-default-deny",
    NetworkPolicyEgressDeny => "network-policy-egress-deny",
    NetworkPolicyAllowAll => "network-policy-allow-all",
    ResourceQuota => "resource-quota",
    LimitRange => "limit-range",
    RbacWildcard => "rbac-wildcard",
    RbacClusterAdmin => "rbac-cluster-admin",
    RbacAnonymous => "rbac-anonymous-subject",
    ServiceNodePort => "service-node-port",
    ConfigMapCredentials => "configmap-credentials",
    CrdSchema => "crd-schema",
    ParseError => "parse-error",
    ExceptionExpired => "exception-expired",
    IgnoreWithoutReason => "ignore-without-reason",
    RemovedApiVersion => "removed-api-version",
    OnboardingAdmission => "onboarding-admission",
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RuleId {
    /// The catalogue entry of this rule.
    pub fn rule(self) -> &'static Rule {
        // RULES is written in the order of the enum; `catalogue_order_matches_rule_ids` proves it.
        &RULES[self as usize]
    }
}

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id.
    pub id: RuleId,
    /// One-line title.
    pub title: &'static str,
    /// Severity unless a profile overrides it.
    pub severity: Severity,
    /// Every BSI IT-Grundschutz requirement the rule serves (`SYS.1.6.A17`).
    pub bsi: &'static [&'static str],
    /// The Pod Security Standards level of the control, if it is one.
    pub pss: PssLevel,
    /// The lowest protection level whose built-in profile enables the rule; `None` for meta rules, which are
    /// always on.
    pub min_level: Option<ProtectionLevel>,
    /// What the rule looks at.
    pub scope: Scope,
    /// Why the rule exists.
    pub rationale: &'static str,
    /// How to fix a finding.
    pub remediation: &'static str,
}

impl Rule {
    /// Whether the built-in profile of `level` enables this rule.
    pub fn default_enabled(&self, level: ProtectionLevel) -> bool {
        self.min_level
            .is_none_or(|min| level_rank(level) >= level_rank(min))
    }

    /// Meta rules report problems of the input or profile; they cannot be disabled or silenced.
    pub fn is_meta(&self) -> bool {
        self.scope == Scope::Meta
    }
}

use ProtectionLevel::{High, Normal, VeryHigh};

const A1: &str = "APP.4.4.A1";
const A3: &str = "APP.4.4.A3";
const A4: &str = "APP.4.4.A4";
const A7: &str = "APP.4.4.A7";
const A9: &str = "APP.4.4.A9";
const A11: &str = "APP.4.4.A11";
const A14: &str = "APP.4.4.A14";
const A18: &str = "APP.4.4.A18";
const A19: &str = "APP.4.4.A19";
const A21: &str = "APP.4.4.A21";
const S6: &str = "SYS.1.6.A6";
const S8: &str = "SYS.1.6.A8";
const S15: &str = "SYS.1.6.A15";
const S16: &str = "SYS.1.6.A16";
const S17: &str = "SYS.1.6.A17";
const S19: &str = "SYS.1.6.A19";
const S21: &str = "SYS.1.6.A21";
const S23: &str = "SYS.1.6.A23";
const S25: &str = "SYS.1.6.A25";
const S26: &str = "SYS.1.6.A26";

/// The catalogue, in [`RuleId`] order.
pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId::PrivilegedContainer,
        title: "Containers must not run privileged",
        severity: Severity::Error,
        bsi: &[S17, A4],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "A privileged container has every capability and all host devices; a compromise of it is a compromise of the node and of every other tenant's pods on it.",
        remediation: "Remove `securityContext.privileged: true`; grant only the single capability the process needs.",
    },
    Rule {
        id: RuleId::HostNamespaces,
        title: "Pods must not share the host's network, PID or IPC namespace",
        severity: Severity::Error,
        bsi: &[A4, S17],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "hostNetwork, hostPID and hostIPC remove the separation between the pod and the node and let it see other tenants' traffic and processes.",
        remediation: "Remove `hostNetwork`, `hostPID` and `hostIPC` from the pod spec (or set them to false).",
    },
    Rule {
        id: RuleId::HostPorts,
        title: "Containers must not bind host ports",
        severity: Severity::Error,
        bsi: &[A4, A7],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "A hostPort bypasses NetworkPolicies and Services and ties the pod to a node.",
        remediation: "Remove `ports[].hostPort`; expose the port with a Service instead.",
    },
    Rule {
        id: RuleId::HostPathVolumes,
        title: "Pods must not mount hostPath volumes",
        severity: Severity::Error,
        bsi: &[S19, A4],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "hostPath gives access to the node's file system; data stored there is neither declared nor portable between nodes.",
        remediation: "Use a PersistentVolumeClaim for data that must survive restarts, an emptyDir for temporary data.",
    },
    Rule {
        id: RuleId::CapabilitiesBaseline,
        title: "Containers may add only the capabilities of the baseline set",
        severity: Severity::Error,
        bsi: &[S17],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "Capabilities such as NET_ADMIN or SYS_ADMIN give a container powers over the node's kernel.",
        remediation: "Remove capabilities from `securityContext.capabilities.add` beyond AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID and SYS_CHROOT.",
    },
    Rule {
        id: RuleId::CapabilitiesDropAll,
        title: "Containers must drop ALL capabilities and add at most NET_BIND_SERVICE",
        severity: Severity::Error,
        bsi: &[S17],
        pss: PssLevel::Restricted,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "A container that keeps the runtime's default capabilities has more privileges than an application needs.",
        remediation: "Set `securityContext.capabilities.drop: [ALL]` on every container; add back only NET_BIND_SERVICE if a port below 1024 is needed.",
    },
    Rule {
        id: RuleId::SeccompUnconfined,
        title: "Seccomp must not be set to Unconfined",
        severity: Severity::Error,
        bsi: &[S21, S17],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "An unconfined container may call every system call of the node's kernel.",
        remediation: "Remove `seccompProfile.type: Unconfined`; use `RuntimeDefault`.",
    },
    Rule {
        id: RuleId::SeccompRequired,
        title: "A seccomp profile (RuntimeDefault or Localhost) must be set",
        severity: Severity::Error,
        bsi: &[S21],
        pss: PssLevel::Restricted,
        min_level: Some(High),
        scope: Scope::PodSpec,
        rationale: "Extended security policies restrict the system calls a container may make.",
        remediation: "Set `spec.securityContext.seccompProfile.type: RuntimeDefault` on the pod (or `Localhost` with a profile).",
    },
    Rule {
        id: RuleId::ApparmorUnconfined,
        title: "AppArmor must not be set to unconfined",
        severity: Severity::Error,
        bsi: &[S21, S17],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "The runtime's AppArmor profile confines what a compromised process may do on the node.",
        remediation: "Remove `appArmorProfile.type: Unconfined` and the annotation `container.apparmor.security.beta.kubernetes.io/<container>: unconfined`; use `RuntimeDefault` or `Localhost`.",
    },
    Rule {
        id: RuleId::SelinuxOptions,
        title: "SELinux options must not set a custom user, role or privileged type",
        severity: Severity::Error,
        bsi: &[S21, S17],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "A custom SELinux user or role, or a type other than the container types, can lift the confinement of the container.",
        remediation: "Remove `seLinuxOptions.user` and `.role`; use a type of container_t, container_init_t, container_kvm_t or container_engine_t.",
    },
    Rule {
        id: RuleId::ProcMount,
        title: "/proc must be mounted with the default mask",
        severity: Severity::Error,
        bsi: &[S17],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "An unmasked /proc exposes kernel interfaces of the node.",
        remediation: "Remove `securityContext.procMount` or set it to `Default`.",
    },
    Rule {
        id: RuleId::UnsafeSysctls,
        title: "Pods may set only safe sysctls",
        severity: Severity::Error,
        bsi: &[S17, A4],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "Unsafe sysctls change kernel parameters shared with other pods on the node.",
        remediation: "Remove `spec.securityContext.sysctls` entries outside the safe set of the Pod Security Standards.",
    },
    Rule {
        id: RuleId::WindowsHostProcess,
        title: "Windows containers must not run as HostProcess",
        severity: Severity::Error,
        bsi: &[S17, A4],
        pss: PssLevel::Baseline,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "A HostProcess container has administrator access to the Windows node.",
        remediation: "Remove `securityContext.windowsOptions.hostProcess: true`.",
    },
    Rule {
        id: RuleId::VolumeTypes,
        title: "Pods may use only declared, non-host volume types",
        severity: Severity::Error,
        bsi: &[S19],
        pss: PssLevel::Restricted,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "Persistent data belongs in PersistentVolumeClaims declared with the deployment; other volume types reach storage the platform does not manage.",
        remediation: "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and secret volumes.",
    },
    Rule {
        id: RuleId::RunAsNonRoot,
        title: "Containers must run as a non-root user",
        severity: Severity::Error,
        bsi: &[S17],
        pss: PssLevel::Restricted,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "A process running as root inside a container is one kernel bug away from root on the node.",
        remediation: "Set `spec.securityContext.runAsNonRoot: true` (and a non-zero `runAsUser` if the image has no numeric USER).",
    },
    Rule {
        id: RuleId::RunAsUserRoot,
        title: "Containers must not set runAsUser 0",
        severity: Severity::Error,
        bsi: &[S17],
        pss: PssLevel::Restricted,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "User id 0 is root.",
        remediation: "Set `runAsUser` to a non-zero id, or remove it and let the image's numeric USER apply.",
    },
    Rule {
        id: RuleId::AllowPrivilegeEscalation,
        title: "Containers must forbid privilege escalation",
        severity: Severity::Error,
        bsi: &[S17],
        pss: PssLevel::Restricted,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "Without `allowPrivilegeEscalation: false`, setuid binaries can gain more privileges than the container started with.",
        remediation: "Set `securityContext.allowPrivilegeEscalation: false` on every container.",
    },
    Rule {
        id: RuleId::ReadOnlyRootFilesystem,
        title: "Containers must use a read-only root file system",
        severity: Severity::Error,
        bsi: &[S23],
        pss: PssLevel::None,
        min_level: Some(High),
        scope: Scope::PodSpec,
        rationale: "An immutable container cannot be altered persistently by an attacker; changes are lost on restart.",
        remediation: "Set `securityContext.readOnlyRootFilesystem: true`; mount an emptyDir where the application writes temporary files.",
    },
    Rule {
        id: RuleId::ContainerResources,
        title: "Containers must declare CPU and memory requests and limits",
        severity: Severity::Warning,
        bsi: &[S15],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "Without limits, one container can exhaust the node for every other tenant; without requests, scheduling is guesswork.",
        remediation: "Set `resources.requests.cpu`, `resources.requests.memory`, `resources.limits.cpu` and `resources.limits.memory` on every container.",
    },
    Rule {
        id: RuleId::ContainerProbes,
        title: "Long-running containers must have readiness and liveness probes",
        severity: Severity::Warning,
        bsi: &[A11],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "Probes let the platform detect and restart hung containers and keep traffic away from pods that are not ready.",
        remediation: "Add `readinessProbe` and `livenessProbe` to every container of a Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod.",
    },
    Rule {
        id: RuleId::DefaultServiceAccount,
        title: "Workloads must not use the default service account",
        severity: Severity::Warning,
        bsi: &[A9],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "The `default` service account is shared by every workload of the namespace; its permissions cannot be tailored to one application.",
        remediation: "Create a ServiceAccount for the workload and set `spec.serviceAccountName`.",
    },
    Rule {
        id: RuleId::ServiceAccountTokenAutomount,
        title: "Service account tokens must not be mounted unless needed",
        severity: Severity::Warning,
        bsi: &[A9, A3],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "A mounted token lets anyone who compromises the container talk to the Kubernetes API.",
        remediation: "Set `automountServiceAccountToken: false` on the pod spec (or on its ServiceAccount) unless the application calls the API.",
    },
    Rule {
        id: RuleId::ImageTag,
        title: "Images must have an explicit version, never `latest`",
        severity: Severity::Error,
        bsi: &[S6],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "A moving tag makes deployments irreproducible and lets untested images reach production.",
        remediation: "Reference the image with a version tag (`registry/app:1.4.2`) or a digest.",
    },
    Rule {
        id: RuleId::ImageDigest,
        title: "Images must be pinned by digest",
        severity: Severity::Error,
        bsi: &[S6],
        pss: PssLevel::None,
        min_level: Some(VeryHigh),
        scope: Scope::PodSpec,
        rationale: "Only a digest guarantees that the image that runs is the one that was scanned and approved.",
        remediation: "Reference the image as `registry/app:1.4.2@sha256:<digest>`.",
    },
    Rule {
        id: RuleId::ImageRegistry,
        title: "Images must come from an allowed registry",
        severity: Severity::Error,
        bsi: &[S6],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "Only images from registries the platform scans and trusts may run. Evaluated only when the profile lists `allowedRegistries`.",
        remediation: "Mirror the image into one of the profile's `allowedRegistries` and reference it there.",
    },
    Rule {
        id: RuleId::EnvLiteralSecret,
        title: "Credentials must not be written literally into environment variables",
        severity: Severity::Error,
        bsi: &[S8],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "A literal credential in a manifest ends up in Git, in Helm values and in `kubectl get -o yaml`.",
        remediation: "Store the credential in a Secret and mount it as a file (or reference it with `valueFrom.secretKeyRef`).",
    },
    Rule {
        id: RuleId::SecretAsEnv,
        title: "Secrets should be mounted as files rather than environment variables",
        severity: Severity::Info,
        bsi: &[S8],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "Environment variables leak into child processes, crash dumps and logs more easily than files.",
        remediation: "Mount the Secret as a volume and read the credential from the file.",
    },
    Rule {
        id: RuleId::SshPort,
        title: "No SSH daemon port (22) may be exposed",
        severity: Severity::Error,
        bsi: &[S16],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::PodSpec,
        rationale: "Administration happens through the Kubernetes API, not through an SSH daemon inside a container.",
        remediation: "Remove the SSH server from the image and port 22 from containers and Services; use `kubectl exec` or `kubectl debug` for diagnosis.",
    },
    Rule {
        id: RuleId::DedicatedNodePool,
        title: "Pods must be scheduled onto the dedicated node pool",
        severity: Severity::Error,
        bsi: &[A14],
        pss: PssLevel::None,
        min_level: Some(High),
        scope: Scope::PodSpec,
        rationale: "Workloads with elevated protection needs run on nodes not shared with other Ressorts. Evaluated only when the profile sets `dedicatedNodes`.",
        remediation: "Add the profile's node-pool label to `spec.nodeSelector` (or a required node affinity) and a toleration for its taint.",
    },
    Rule {
        id: RuleId::RuntimeClass,
        title: "Pods must use an isolating runtime class",
        severity: Severity::Error,
        bsi: &[S26],
        pss: PssLevel::None,
        min_level: Some(VeryHigh),
        scope: Scope::PodSpec,
        rationale: "A sandboxing runtime (gVisor, Kata) adds a kernel boundary between the container and the node. Evaluated only when the profile lists `allowedRuntimeClasses`.",
        remediation: "Set `spec.runtimeClassName` to one of the profile's `allowedRuntimeClasses`.",
    },
    Rule {
        id: RuleId::TopologySpread,
        title: "Replicated workloads must spread over zones",
        severity: Severity::Warning,
        bsi: &[A19, S25],
        pss: PssLevel::None,
        min_level: Some(High),
        scope: Scope::PodSpec,
        rationale: "Replicas in one zone fail together.",
        remediation: "Add a `topologySpreadConstraints` entry with `topologyKey: topology.kubernetes.io/zone` (or a pod anti-affinity on that key).",
    },
    Rule {
        id: RuleId::DefaultNamespace,
        title: "Workloads must not run in the default namespace",
        severity: Severity::Warning,
        bsi: &[A1],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::Workload,
        rationale: "Each Fachverfahren and environment has its own namespace; `default` separates nothing.",
        remediation: "Deploy into the namespace the onboarding created for the environment.",
    },
    Rule {
        id: RuleId::MinReplicas,
        title: "Workloads must run at least two replicas",
        severity: Severity::Error,
        bsi: &[A19, S25],
        pss: PssLevel::None,
        min_level: Some(High),
        scope: Scope::Workload,
        rationale: "A single replica is unavailable during every node drain and every crash.",
        remediation: "Set `spec.replicas` to 2 or more.",
    },
    Rule {
        id: RuleId::PodDisruptionBudget,
        title: "Replicated workloads must be covered by a PodDisruptionBudget",
        severity: Severity::Warning,
        bsi: &[A19, S25],
        pss: PssLevel::None,
        min_level: Some(High),
        scope: Scope::Workload,
        rationale: "Without a PodDisruptionBudget a node drain may evict every replica at once.",
        remediation: "Add a PodDisruptionBudget in the same namespace whose selector matches the pod template's labels.",
    },
    Rule {
        id: RuleId::PodMaxAge,
        title: "Pods must be restarted regularly",
        severity: Severity::Warning,
        bsi: &[A21],
        pss: PssLevel::None,
        min_level: Some(High),
        scope: Scope::Workload,
        rationale: "Regular restarts remove anything an attacker placed in a running container. Evaluated only when the profile sets `maxPodAge`, on Pods with a start time.",
        remediation: "Restart the workload (`kubectl rollout restart`) regularly, e.g. by a scheduled rollout.",
    },
    Rule {
        id: RuleId::NamespaceLabels,
        title: "Namespaces must carry the Ressort and protection-level labels",
        severity: Severity::Warning,
        bsi: &[A1],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::Namespace,
        rationale: "The labels tie a namespace to its Ressort and Schutzbedarf, so that policies and audits can select it.",
        remediation: "Label the Namespace with `conplus.niedersachsen.de/ressort` and `conplus.niedersachsen.de/protection-level` (the operator does this for onboarded namespaces).",
    },
    Rule {
        id: RuleId::NetworkPolicyDefaultDeny,
        title: "Every namespace must have a default-deny ingress NetworkPolicy",
        severity: Severity::Error,
        bsi: &[A7],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::Namespace,
        rationale: "Without a default deny, every pod of the cluster may reach every pod of the namespace.",
        remediation: "Add a NetworkPolicy with `podSelector: {}` and `policyTypes: [Ingress]` and no ingress rules; allow the needed traffic with further policies.",
    },
    Rule {
        id: RuleId::NetworkPolicyEgressDeny,
        title: "Egress must be restricted by a default-deny egress NetworkPolicy",
        severity: Severity::Error,
        bsi: &[S21, A18],
        pss: PssLevel::None,
        min_level: Some(High),
        scope: Scope::Namespace,
        rationale: "A compromised container without egress restriction can exfiltrate data or reach other services freely.",
        remediation: "Add a NetworkPolicy with `podSelector: {}` and `policyTypes: [Egress]` and no egress rules; allow DNS and needed destinations explicitly.",
    },
    Rule {
        id: RuleId::NetworkPolicyAllowAll,
        title: "NetworkPolicies must not allow all traffic",
        severity: Severity::Error,
        bsi: &[A18, A7],
        pss: PssLevel::None,
        min_level: Some(High),
        scope: Scope::Namespace,
        rationale: "A rule that allows every source or destination undoes the default deny; micro-segmentation needs policies that name their peers.",
        remediation: "Give every ingress/egress rule a `from`/`to` peer with a pod or namespace selector that is not empty, or a narrow ipBlock.",
    },
    Rule {
        id: RuleId::ResourceQuota,
        title: "Every namespace must have a ResourceQuota",
        severity: Severity::Warning,
        bsi: &[S15],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::Namespace,
        rationale: "A quota caps what one Fachverfahren can take from the shared cluster.",
        remediation: "Add a ResourceQuota to the namespace (the operator derives one from the onboarding's budget).",
    },
    Rule {
        id: RuleId::LimitRange,
        title: "Every namespace must have a LimitRange",
        severity: Severity::Warning,
        bsi: &[S15],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::Namespace,
        rationale: "A LimitRange gives containers without explicit resources sane defaults and caps.",
        remediation: "Add a LimitRange with default requests and limits for containers.",
    },
    Rule {
        id: RuleId::RbacWildcard,
        title: "Roles must not use wildcards",
        severity: Severity::Error,
        bsi: &[A3],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::Rbac,
        rationale: "A `*` in apiGroups, resources or verbs grants today's and every future permission.",
        remediation: "List the API groups, resources and verbs the role needs explicitly.",
    },
    Rule {
        id: RuleId::RbacClusterAdmin,
        title: "Nothing may be bound to cluster-admin",
        severity: Severity::Error,
        bsi: &[A3],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::Rbac,
        rationale: "cluster-admin controls the whole platform, including every other Ressort's data.",
        remediation: "Bind a role with the permissions actually needed, limited to the tenant's namespaces.",
    },
    Rule {
        id: RuleId::RbacAnonymous,
        title: "Nothing may be bound to anonymous or unauthenticated users",
        severity: Severity::Error,
        bsi: &[A3],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::Rbac,
        rationale: "Bindings to `system:anonymous` or `system:unauthenticated` give permissions to anyone who can reach the API server.",
        remediation: "Remove the subject `system:anonymous` / `system:unauthenticated` from the binding.",
    },
    Rule {
        id: RuleId::ServiceNodePort,
        title: "Services should not be exposed through NodePort or LoadBalancer",
        severity: Severity::Warning,
        bsi: &[A7],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::Service,
        rationale: "NodePort and LoadBalancer Services open ports on every node or to the outside, around the platform's ingress and its NetworkPolicies.",
        remediation: "Use a ClusterIP Service behind the platform's Ingress or Gateway.",
    },
    Rule {
        id: RuleId::ConfigMapCredentials,
        title: "ConfigMaps must not contain credentials",
        severity: Severity::Error,
        bsi: &[S8],
        pss: PssLevel::None,
        min_level: Some(Normal),
        scope: Scope::ConfigMap,
        rationale: "ConfigMaps are readable by everyone with view rights and are not encrypted at rest.",
        remediation: "Move the credential into a Secret and mount it as a file.",
    },
    Rule {
        id: RuleId::CrdSchema,
        title: "CONPlus resources must be valid against their CRD schema",
        severity: Severity::Error,
        bsi: &[],
        pss: PssLevel::None,
        min_level: None,
        scope: Scope::Meta,
        rationale: "An onboarding, Ressort or profile the API server would reject fails late, after the merge.",
        remediation: "Fix the field named in the message; `kubectl explain` describes every field.",
    },
    Rule {
        id: RuleId::ParseError,
        title: "Every input document must be readable",
        severity: Severity::Error,
        bsi: &[],
        pss: PssLevel::None,
        min_level: None,
        scope: Scope::Meta,
        rationale: "A document that does not parse cannot be checked, and would not apply either.",
        remediation: "Fix the YAML or JSON syntax at the reported line.",
    },
    Rule {
        id: RuleId::ExceptionExpired,
        title: "Expired exceptions must be renewed or removed",
        severity: Severity::Warning,
        bsi: &[],
        pss: PssLevel::None,
        min_level: None,
        scope: Scope::Meta,
        rationale: "An exception is granted for a limited time; after `expires` it no longer applies and the findings it covered are reported again.",
        remediation: "Fix the findings the exception covered and remove it, or have a renewed exception approved with a new `expires`.",
    },
    Rule {
        id: RuleId::IgnoreWithoutReason,
        title: "Ignore annotations need a reason",
        severity: Severity::Warning,
        bsi: &[],
        pss: PssLevel::None,
        min_level: None,
        scope: Scope::Meta,
        rationale: "Silencing a rule without saying why cannot be reviewed; without a reason the annotation does not apply.",
        remediation: "Add `conformance.conplus.niedersachsen.de/ignore-reason` explaining why the rules may be ignored, or fix the findings, or name only existing rule ids.",
    },
    Rule {
        id: RuleId::RemovedApiVersion,
        title: "Objects must use an API version Kubernetes still serves",
        severity: Severity::Error,
        bsi: &[],
        pss: PssLevel::None,
        min_level: None,
        scope: Scope::Meta,
        rationale: "An API version removed from Kubernetes (such as `extensions/v1beta1` or `batch/v1beta1`) is refused by the API server: the manifest cannot be applied. Its workloads are still checked by kind.",
        remediation: "Move the object to the API version named in the message (`kubectl convert` helps); mind the fields that changed with it.",
    },
    Rule {
        id: RuleId::OnboardingAdmission,
        title: "The onboardings of one input must be admissible together",
        severity: Severity::Error,
        bsi: &[],
        pss: PssLevel::None,
        min_level: None,
        scope: Scope::Meta,
        rationale: "The controller admits onboardings oldest first within their Ressort's budget, gives every environment the namespace `<ressort>-<fachverfahren>-<environment>` and needs the Ressort to exist: onboardings over budget, colliding namespaces, a Fachverfahren claimed twice or a missing Ressort fail only after the merge.",
        remediation: "Lower the quotas or raise the Ressort's budget; rename the Fachverfahren or environment so that namespace names differ; keep one onboarding per Ressort and Fachverfahren; add the Ressort or fix `spec.ressort`.",
    },
];

/// The ids of the rules as a bit set (there are fewer than 128 rules).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleSet(u128);

impl RuleSet {
    /// Adds a rule.
    pub fn insert(&mut self, id: RuleId) {
        self.0 |= 1u128 << (id as u32);
    }

    /// Whether a rule is in the set.
    pub fn contains(&self, id: RuleId) -> bool {
        self.0 & (1u128 << (id as u32)) != 0
    }

    /// Number of rules in the set.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The rules in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = RuleId> + '_ {
        RuleId::ALL.iter().copied().filter(|id| self.contains(*id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_order_matches_rule_ids() {
        assert_eq!(RULES.len(), RuleId::ALL.len());
        assert!(RULES.len() < 128, "RuleSet is a u128 bit set");
        for (i, rule) in RULES.iter().enumerate() {
            assert_eq!(
                rule.id as usize,
                i,
                "RULES[{i}] is {} but should be {:?}",
                rule.id,
                RuleId::ALL[i]
            );
        }
    }

    #[test]
    fn rule_ids_are_kebab_case_and_round_trip() {
        for id in RuleId::ALL {
            let s = id.as_str();
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{s}"
            );
            assert!(
                !s.starts_with('-') && !s.ends_with('-') && !s.contains("--"),
                "{s}"
            );
            assert_eq!(RuleId::parse(s), Some(*id));
        }
    }

    #[test]
    fn every_checkable_requirement_of_the_domain_table_has_a_rule() {
        let wanted = [
            A1, A3, A4, A7, A9, A11, A14, A18, A19, A21, S6, S8, S15, S16, S17, S19, S21, S23, S25,
            S26,
        ];
        for bsi in wanted {
            assert!(
                RULES.iter().any(|r| r.bsi.contains(&bsi)),
                "no rule serves {bsi}"
            );
        }
        // Every non-meta rule serves at least one requirement, and references are well formed.
        let re = regex::Regex::new(r"^(APP\.4\.4|SYS\.1\.6)\.A\d+$").unwrap();
        for rule in RULES {
            assert_eq!(rule.bsi.is_empty(), rule.is_meta(), "{}", rule.id);
            for b in rule.bsi {
                assert!(re.is_match(b), "{}: {b}", rule.id);
            }
        }
    }

    #[test]
    fn elevated_requirements_are_enabled_only_from_high() {
        // DOMAIN.md: level H requirements apply from Schutzbedarf `hoch`.
        for id in [
            RuleId::ReadOnlyRootFilesystem,
            RuleId::MinReplicas,
            RuleId::PodMaxAge,
            RuleId::SeccompRequired,
        ] {
            assert!(!id.rule().default_enabled(ProtectionLevel::Normal), "{id}");
            assert!(id.rule().default_enabled(ProtectionLevel::High), "{id}");
        }
        assert!(
            !RuleId::RuntimeClass
                .rule()
                .default_enabled(ProtectionLevel::High)
        );
        assert!(
            RuleId::RuntimeClass
                .rule()
                .default_enabled(ProtectionLevel::VeryHigh)
        );
    }
}
