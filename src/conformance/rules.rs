//! The rule catalogue: every check with its stable id, BSI references and Pod Security level.
//!
//! Pure data, no I/O. Each rule is defined, with its check, in its family's file under
//! [`super::checks`]; `catalogue!` below lists them in catalogue order. The order of [`RULES`] is the order of `docs/rules.md` and of SARIF's
//! `tool.driver.rules`; ids are stable API (profiles, exceptions and ignore annotations name them),
//! so a rule may be added but never renamed.

use serde::{Deserialize, Serialize};

pub use super::checks::Check;
use super::checks::{containers, namespace, network, objects, pod_security, rbac, workload};

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
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "camelCase")]
#[strum(serialize_all = "lowercase")]
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
        self.into()
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
        s.parse().ok()
    }
}

/// The Pod Security Standards level a rule implements, if any.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "camelCase")]
#[strum(serialize_all = "lowercase")]
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
        self.into()
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

/// The BSI IT-Grundschutz requirements the rules name.
pub mod bsi {
    pub const A1: &str = "APP.4.4.A1";
    pub const A3: &str = "APP.4.4.A3";
    pub const A4: &str = "APP.4.4.A4";
    pub const A7: &str = "APP.4.4.A7";
    pub const A9: &str = "APP.4.4.A9";
    pub const A11: &str = "APP.4.4.A11";
    pub const A14: &str = "APP.4.4.A14";
    pub const A18: &str = "APP.4.4.A18";
    pub const A19: &str = "APP.4.4.A19";
    pub const A21: &str = "APP.4.4.A21";
    pub const S6: &str = "SYS.1.6.A6";
    pub const S8: &str = "SYS.1.6.A8";
    pub const S15: &str = "SYS.1.6.A15";
    pub const S16: &str = "SYS.1.6.A16";
    pub const S17: &str = "SYS.1.6.A17";
    pub const S19: &str = "SYS.1.6.A19";
    pub const S21: &str = "SYS.1.6.A21";
    pub const S23: &str = "SYS.1.6.A23";
    pub const S25: &str = "SYS.1.6.A25";
    pub const S26: &str = "SYS.1.6.A26";
}

/// Declares [`RuleId`] (its kebab-case string form derived) and [`RULES`] from one list of rules, in
/// catalogue order: the order of `docs/rules.md` and of SARIF's `tool.driver.rules`. Ids are stable API
/// (profiles, exceptions and ignore annotations name them): a rule may be added but never renamed.
macro_rules! catalogue {
    ($($(#[$attr:meta])* $variant:ident = $rule:path,)*) => {
        /// The stable identifier of a rule. `as usize` indexes [`RULES`].
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            strum::Display,
            strum::EnumString,
            strum::IntoStaticStr,
            strum::VariantArray,
        )]
        #[strum(serialize_all = "kebab-case")]
        #[repr(u8)]
        pub enum RuleId { $($(#[$attr])* $variant,)* }

        /// The catalogue, in [`RuleId`] order.
        pub static RULES: &[Rule] = &[$($rule,)*];
    };
}

catalogue! {
    PrivilegedContainer = pod_security::PRIVILEGED_CONTAINER,
    HostNamespaces = pod_security::HOST_NAMESPACES,
    HostPorts = pod_security::HOST_PORTS,
    HostPathVolumes = pod_security::HOST_PATH_VOLUMES,
    CapabilitiesBaseline = pod_security::CAPABILITIES_BASELINE,
    CapabilitiesDropAll = pod_security::CAPABILITIES_DROP_ALL,
    SeccompUnconfined = pod_security::SECCOMP_UNCONFINED,
    SeccompRequired = pod_security::SECCOMP_REQUIRED,
    ApparmorUnconfined = pod_security::APPARMOR_UNCONFINED,
    SelinuxOptions = pod_security::SELINUX_OPTIONS,
    ProcMount = pod_security::PROC_MOUNT,
    UnsafeSysctls = pod_security::UNSAFE_SYSCTLS,
    WindowsHostProcess = pod_security::WINDOWS_HOST_PROCESS,
    VolumeTypes = pod_security::VOLUME_TYPES,
    RunAsNonRoot = pod_security::RUN_AS_NON_ROOT,
    RunAsUserRoot = pod_security::RUN_AS_USER_ROOT,
    AllowPrivilegeEscalation = pod_security::ALLOW_PRIVILEGE_ESCALATION,
    ReadOnlyRootFilesystem = pod_security::READ_ONLY_ROOT_FILESYSTEM,
    ContainerResources = containers::CONTAINER_RESOURCES,
    ContainerProbes = containers::CONTAINER_PROBES,
    DefaultServiceAccount = workload::DEFAULT_SERVICE_ACCOUNT,
    ServiceAccountTokenAutomount = workload::SERVICE_ACCOUNT_TOKEN_AUTOMOUNT,
    ImageTag = containers::IMAGE_TAG,
    ImageDigest = containers::IMAGE_DIGEST,
    ImageRegistry = containers::IMAGE_REGISTRY,
    EnvLiteralSecret = containers::ENV_LITERAL_SECRET,
    SecretAsEnv = containers::SECRET_AS_ENV,
    SshPort = containers::SSH_PORT,
    DedicatedNodePool = workload::DEDICATED_NODE_POOL,
    RuntimeClass = workload::RUNTIME_CLASS,
    TopologySpread = workload::TOPOLOGY_SPREAD,
    DefaultNamespace = workload::DEFAULT_NAMESPACE,
    MinReplicas = workload::MIN_REPLICAS,
    PodDisruptionBudget = workload::POD_DISRUPTION_BUDGET,
    PersistentVolumeClaims = workload::PERSISTENT_VOLUME_CLAIMS,
    PodMaxAge = workload::POD_MAX_AGE,
    NamespaceLabels = namespace::NAMESPACE_LABELS,
    NetworkPolicyDefaultDeny = network::NETWORK_POLICY_DEFAULT_DENY,
    NetworkPolicyEgressDeny = network::NETWORK_POLICY_EGRESS_DENY,
    NetworkPolicyAllowAll = network::NETWORK_POLICY_ALLOW_ALL,
    NetworkPolicyCrossNamespace = network::NETWORK_POLICY_CROSS_NAMESPACE,
    ResourceQuota = namespace::RESOURCE_QUOTA,
    LimitRange = namespace::LIMIT_RANGE,
    RbacWildcard = rbac::RBAC_WILDCARD,
    RbacClusterAdmin = rbac::RBAC_CLUSTER_ADMIN,
    #[strum(serialize = "rbac-anonymous-subject")]
    RbacAnonymous = rbac::RBAC_ANONYMOUS,
    ServiceNodePort = network::SERVICE_NODE_PORT,
    #[strum(serialize = "configmap-credentials")]
    ConfigMapCredentials = objects::CONFIG_MAP_CREDENTIALS,
    CrdSchema = objects::CRD_SCHEMA,
    ParseError = objects::PARSE_ERROR,
    ExceptionExpired = objects::EXCEPTION_EXPIRED,
    IgnoreWithoutReason = objects::IGNORE_WITHOUT_REASON,
    RemovedApiVersion = objects::REMOVED_API_VERSION,
    OnboardingAdmission = objects::ONBOARDING_ADMISSION,
}

impl RuleId {
    /// Every rule id, in catalogue order.
    pub const ALL: &'static [RuleId] = <RuleId as strum::VariantArray>::VARIANTS;

    /// The kebab-case id (`privileged-container`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Looks a rule up by its kebab-case id.
    pub fn parse(s: &str) -> Option<RuleId> {
        s.parse().ok()
    }

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
    /// What the rule checks, and on what; empty for meta rules (findings about the input or the profile).
    pub checks: &'static [Check],
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
        self.checks.is_empty()
    }
}

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
    use super::bsi::*;
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
