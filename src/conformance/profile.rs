//! Built-in profiles and the resolution of a [`ConformanceProfile`] into a [`ResolvedProfile`].
//!
//! Pure: no I/O, no clock (expiry is judged by the engine against its injected `now`).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use kube::api::ObjectMeta;

use super::report::Location;
use super::rules::{PROTECTION_LEVELS, ProtectionLevel, RULES, RuleId, Severity, level_rank};
use crate::api::ConformanceProfile;
use crate::api::profile::{ConformanceProfileSpec, DedicatedNodes, ObjectSelector, RuleSetting};

/// Name of the built-in profile for Schutzbedarf `normal`.
pub const DVC_BASIS: &str = "dvc-basis";
/// Name of the built-in profile for Schutzbedarf `hoch`.
pub const DVC_ERHOEHT: &str = "dvc-erhoeht";
/// Name of the built-in profile for Schutzbedarf `sehr hoch`.
pub const DVC_SEHR_HOCH: &str = "dvc-sehr-hoch";

/// The node label of CONPlus's dedicated node pools (APP.4.4.A14).
pub const NODE_POOL_LABEL: &str = "conplus.niedersachsen.de/node-pool";

/// A profile cannot be used; the message says what to change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    /// The named profile is neither built in nor the given cluster profile.
    #[error(
        "conformance profile {name:?} not found: use one of the built-in profiles dvc-basis, dvc-erhoeht, dvc-sehr-hoch or create a ConformanceProfile named {name:?}"
    )]
    NotFound {
        /// The name that was asked for.
        name: String,
    },
    /// `spec.rules[].id` or `spec.exceptions[].rule` names no rule.
    #[error("{field}: unknown rule {id:?}; the rule ids are listed in docs/rules.md")]
    UnknownRule {
        /// Where the id was found, e.g. `spec.rules[2].id`.
        field: String,
        /// The unknown id.
        id: String,
    },
    /// A rule that reports problems of the input or profile was listed in `spec.rules`.
    #[error(
        "{field}: rule {id:?} reports problems of the input or profile itself and cannot be configured"
    )]
    MetaRule {
        /// Where the id was found.
        field: String,
        /// The id.
        id: String,
    },
    /// `spec.maxPodAge` is not a duration.
    #[error("spec.maxPodAge: {value:?} is not a positive duration; write e.g. \"168h\" or \"7d\"")]
    InvalidMaxPodAge {
        /// The value given.
        value: String,
    },
    /// `spec.exceptions[].expires` is not an RFC 3339 timestamp.
    #[error(
        "spec.exceptions[{index}].expires: {value:?} is not an RFC 3339 timestamp; write e.g. \"2026-12-31T23:59:59Z\""
    )]
    InvalidExpiry {
        /// Index of the exception.
        index: usize,
        /// The value given.
        value: String,
    },
}

/// An exception of a resolved profile, with its expiry parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Exception {
    /// The rule excepted.
    pub rule: RuleId,
    /// Namespace, or `*` for all namespaces and cluster-scoped objects.
    pub namespace: String,
    /// Optional narrowing to some objects.
    pub object_selector: Option<ObjectSelector>,
    /// Why.
    pub justification: String,
    /// Who approved it.
    pub approved_by: String,
    /// When it stops applying.
    pub expires: Timestamp,
    /// Index in `spec.exceptions`, for messages.
    pub index: usize,
}

/// A profile ready for [`super::evaluate`]: every rule's effective severity, or `None` when disabled.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedProfile {
    /// The profile's name (`dvc-basis` or the ConformanceProfile's name).
    pub name: String,
    /// The protection level the rule defaults came from.
    pub protection_level: ProtectionLevel,
    /// Indexed by `RuleId as usize`.
    severities: Vec<Option<Severity>>,
    /// Allowed image registries; empty: any.
    pub allowed_registries: Vec<String>,
    /// Maximum pod age; `None`: not evaluated.
    pub max_pod_age: Option<SignedDuration>,
    /// Allowed runtime classes; empty: not evaluated.
    pub allowed_runtime_classes: Vec<String>,
    /// Dedicated node pool; `None`: not evaluated. The controller may fill in `node_label_value` with the
    /// Ressort's pool before evaluating.
    pub dedicated_nodes: Option<DedicatedNodes>,
    /// Namespaces from which a NetworkPolicy of any namespace may admit traffic (APP.4.4.A7), besides the
    /// namespace itself and those declared for it (by an onboarding in the input that creates it, or the
    /// operator's annotation on the Namespace): the platform's ingress, DNS and monitoring namespaces;
    /// live, the controller adds the onboarding's `spec.network.allowFromNamespaces`.
    pub allowed_from_namespaces: Vec<String>,
    /// Exceptions, expired ones included (the engine reports those).
    pub exceptions: Vec<Exception>,
    /// Where the profile was read from (for findings about it); `None` for built-in and cluster profiles.
    pub source: Option<Location>,
}

impl ResolvedProfile {
    /// The effective severity of a rule, `None` when the profile disables it. Meta rules are always on.
    pub fn severity(&self, id: RuleId) -> Option<Severity> {
        self.severities.get(id as usize).copied().flatten()
    }

    /// Whether the rule is evaluated.
    pub fn enabled(&self, id: RuleId) -> bool {
        self.severity(id).is_some()
    }
}

/// The names of the built-in profiles, lowest protection level first.
pub const BUILTIN_PROFILES: [&str; 3] = [DVC_BASIS, DVC_ERHOEHT, DVC_SEHR_HOCH];

/// The built-in profile's name for a protection level.
pub fn builtin_name(level: ProtectionLevel) -> &'static str {
    match level {
        ProtectionLevel::Normal => DVC_BASIS,
        ProtectionLevel::High => DVC_ERHOEHT,
        ProtectionLevel::VeryHigh => DVC_SEHR_HOCH,
    }
}

/// The built-in profile of a protection level as a `ConformanceProfile` (what `examples/profiles/` holds).
///
/// Every configurable rule is listed explicitly, so that the YAML documents the full rule set of the level.
pub fn builtin_profile(level: ProtectionLevel) -> ConformanceProfile {
    let rules = RULES
        .iter()
        .filter(|r| !r.is_meta())
        .map(|r| RuleSetting {
            id: r.id.as_str().to_owned(),
            enabled: r.default_enabled(level),
            severity: None,
        })
        .collect();
    let elevated = level_rank(level) >= level_rank(ProtectionLevel::High);
    let spec = ConformanceProfileSpec {
        protection_level: Some(level),
        rules,
        // CONPlus does not prescribe registries for every tenant; a Ressort's own profile lists its mirrors.
        allowed_registries: Vec::new(),
        // APP.4.4.A21: a week at `hoch`, three days at `sehr hoch`.
        max_pod_age: match level {
            ProtectionLevel::Normal => None,
            ProtectionLevel::High => Some("168h".to_owned()),
            ProtectionLevel::VeryHigh => Some("72h".to_owned()),
        },
        allowed_runtime_classes: if level == ProtectionLevel::VeryHigh {
            vec!["gvisor".to_owned(), "kata".to_owned()]
        } else {
            Vec::new()
        },
        dedicated_nodes: elevated.then(|| DedicatedNodes {
            node_label: NODE_POOL_LABEL.to_owned(),
            node_label_value: None,
            taint_key: Some(NODE_POOL_LABEL.to_owned()),
        }),
        exceptions: Vec::new(),
    };
    ConformanceProfile {
        metadata: ObjectMeta {
            name: Some(builtin_name(level).to_owned()),
            ..ObjectMeta::default()
        },
        spec,
    }
}

/// Resolves the profile an onboarding uses.
///
/// - `name` unset: the built-in profile of `level`.
/// - `name` a built-in profile: that profile (whatever `level` is: the onboarding chose it).
/// - otherwise `cluster_profile` must be the ConformanceProfile of that name; rules it does not list get the
///   defaults of its `spec.protectionLevel`, or of `level` when unset.
pub fn resolve_profile(
    name: Option<&str>,
    level: ProtectionLevel,
    cluster_profile: Option<&ConformanceProfile>,
) -> Result<ResolvedProfile, ProfileError> {
    let builtin = |l: ProtectionLevel| resolve_spec(builtin_name(l), &builtin_profile(l).spec, l);
    match name {
        None => builtin(level),
        Some(n) => {
            if let Some(l) = PROTECTION_LEVELS
                .into_iter()
                .find(|l| builtin_name(*l) == n)
            {
                return builtin(l);
            }
            match cluster_profile {
                Some(p) if p.metadata.name.as_deref() == Some(n) => resolve_spec(n, &p.spec, level),
                _ => Err(ProfileError::NotFound { name: n.to_owned() }),
            }
        }
    }
}

/// Resolves a `ConformanceProfile` read from a file or the cluster, whatever its name.
pub fn resolve_custom(
    profile: &ConformanceProfile,
    level: ProtectionLevel,
) -> Result<ResolvedProfile, ProfileError> {
    let name = profile
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| "unnamed".to_owned());
    resolve_spec(&name, &profile.spec, level)
}

fn resolve_spec(
    name: &str,
    spec: &ConformanceProfileSpec,
    fallback_level: ProtectionLevel,
) -> Result<ResolvedProfile, ProfileError> {
    let level = spec.protection_level.unwrap_or(fallback_level);
    let mut severities: Vec<Option<Severity>> = RULES
        .iter()
        .map(|r| r.default_enabled(level).then_some(r.severity))
        .collect();
    for (i, setting) in spec.rules.iter().enumerate() {
        let field = format!("spec.rules[{i}].id");
        let id = RuleId::parse(&setting.id).ok_or_else(|| ProfileError::UnknownRule {
            field: field.clone(),
            id: setting.id.clone(),
        })?;
        if id.rule().is_meta() {
            return Err(ProfileError::MetaRule {
                field,
                id: setting.id.clone(),
            });
        }
        severities[id as usize] = setting
            .enabled
            .then(|| setting.severity.unwrap_or(id.rule().severity));
    }
    let max_pod_age = spec
        .max_pod_age
        .as_deref()
        .map(|v| {
            parse_duration(v).ok_or_else(|| ProfileError::InvalidMaxPodAge {
                value: v.to_owned(),
            })
        })
        .transpose()?;
    let mut exceptions = Vec::with_capacity(spec.exceptions.len());
    for (index, e) in spec.exceptions.iter().enumerate() {
        let rule = RuleId::parse(&e.rule).ok_or_else(|| ProfileError::UnknownRule {
            field: format!("spec.exceptions[{index}].rule"),
            id: e.rule.clone(),
        })?;
        let expires: Timestamp = e.expires.parse().map_err(|_| ProfileError::InvalidExpiry {
            index,
            value: e.expires.clone(),
        })?;
        exceptions.push(Exception {
            rule,
            namespace: e.namespace.clone(),
            object_selector: e.object_selector.clone(),
            justification: e.justification.clone(),
            approved_by: e.approved_by.clone(),
            expires,
            index,
        });
    }
    Ok(ResolvedProfile {
        name: name.to_owned(),
        protection_level: level,
        severities,
        allowed_registries: spec.allowed_registries.clone(),
        max_pod_age,
        allowed_runtime_classes: spec.allowed_runtime_classes.clone(),
        dedicated_nodes: spec.dedicated_nodes.clone(),
        allowed_from_namespaces: platform_namespaces(&crate::resources::PlatformSettings::default()),
        exceptions,
        source: None,
    })
}

/// The namespaces of the platform that every onboarded namespace admits traffic from (ingress, DNS,
/// monitoring), as the operator's NetworkPolicies name them.
pub fn platform_namespaces(settings: &crate::resources::PlatformSettings) -> Vec<String> {
    let mut v = vec![
        settings.ingress_namespace.clone(),
        settings.dns_namespace.clone(),
        settings.monitoring_namespace.clone(),
    ];
    v.dedup();
    v
}

/// Parses `90m`, `168h`, `7d`, `1d12h` (Go-style units plus `d` = 24h) into a positive duration.
pub fn parse_duration(s: &str) -> Option<SignedDuration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' if chars.peek() != Some(&'s') => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    // Trailing digits without a unit are not a duration.
    (digits.is_empty() && total > 0).then(|| SignedDuration::from_secs(total))
}

/// Built-in profiles keyed by name, for listings.
pub fn builtin_profiles() -> BTreeMap<&'static str, ConformanceProfile> {
    PROTECTION_LEVELS
        .into_iter()
        .map(|l| (builtin_name(l), builtin_profile(l)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::profile::RuleException;

    #[test]
    fn no_name_resolves_to_the_builtin_profile_of_the_protection_level() {
        let p = resolve_profile(None, ProtectionLevel::High, None).unwrap();
        assert_eq!(p.name, DVC_ERHOEHT);
        assert!(p.enabled(RuleId::ReadOnlyRootFilesystem));
        let p = resolve_profile(None, ProtectionLevel::Normal, None).unwrap();
        assert_eq!(p.name, DVC_BASIS);
        assert!(!p.enabled(RuleId::ReadOnlyRootFilesystem));
        assert!(p.enabled(RuleId::ParseError), "meta rules are always on");
    }

    #[test]
    fn a_named_cluster_profile_overrides_severity_and_disables_rules() {
        let mut cp = ConformanceProfile::new(
            "mk-schule",
            ConformanceProfileSpec {
                rules: vec![
                    RuleSetting {
                        id: "container-probes".into(),
                        enabled: true,
                        severity: Some(Severity::Error),
                    },
                    RuleSetting {
                        id: "image-tag".into(),
                        enabled: false,
                        severity: None,
                    },
                ],
                ..Default::default()
            },
        );
        let p = resolve_profile(Some("mk-schule"), ProtectionLevel::High, Some(&cp)).unwrap();
        assert_eq!(p.severity(RuleId::ContainerProbes), Some(Severity::Error));
        assert_eq!(p.severity(RuleId::ImageTag), None);
        // Unlisted rules follow the onboarding's level because the profile sets none.
        assert!(p.enabled(RuleId::MinReplicas));
        cp.spec.protection_level = Some(ProtectionLevel::Normal);
        let p = resolve_profile(Some("mk-schule"), ProtectionLevel::High, Some(&cp)).unwrap();
        assert!(!p.enabled(RuleId::MinReplicas));
    }

    #[test]
    fn unknown_profile_names_and_rule_ids_are_errors_that_name_the_fix() {
        let err = resolve_profile(Some("nope"), ProtectionLevel::Normal, None).unwrap_err();
        assert!(err.to_string().contains("dvc-basis"), "{err}");
        let cp = ConformanceProfile::new(
            "x",
            ConformanceProfileSpec {
                rules: vec![RuleSetting {
                    id: "no-such-rule".into(),
                    enabled: true,
                    severity: None,
                }],
                ..Default::default()
            },
        );
        let err = resolve_profile(Some("x"), ProtectionLevel::Normal, Some(&cp)).unwrap_err();
        assert_eq!(
            err,
            ProfileError::UnknownRule {
                field: "spec.rules[0].id".into(),
                id: "no-such-rule".into()
            }
        );
        let cp = ConformanceProfile::new(
            "x",
            ConformanceProfileSpec {
                exceptions: vec![RuleException {
                    rule: "image-tag".into(),
                    namespace: "a".into(),
                    object_selector: None,
                    justification: "j".into(),
                    approved_by: "b".into(),
                    expires: "next tuesday".into(),
                }],
                ..Default::default()
            },
        );
        let err = resolve_profile(Some("x"), ProtectionLevel::Normal, Some(&cp)).unwrap_err();
        assert!(
            matches!(err, ProfileError::InvalidExpiry { index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn durations_accept_days_hours_minutes_and_reject_garbage() {
        assert_eq!(parse_duration("7d"), Some(SignedDuration::from_hours(168)));
        assert_eq!(
            parse_duration("1d12h"),
            Some(SignedDuration::from_hours(36))
        );
        assert_eq!(parse_duration("90m"), Some(SignedDuration::from_mins(90)));
        for bad in ["", "7", "h", "7x", "0h", "-1h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
