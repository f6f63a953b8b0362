//! Containers: resources, probes, images, environment, ports.

use serde_json::Value;

use super::{
    Check, ContainerKind, Kind, ObjectView, PodView, Violations, arr_at, at, int_at, str_at,
};
use crate::api::ProtectionLevel::{Normal, VeryHigh};
use crate::conformance::rules::bsi::*;
use crate::conformance::rules::{PssLevel, Rule, RuleId, Severity};
use crate::conformance::secrets;

fn container_resources(pod: &PodView<'_>, out: &mut Violations) {
    // Ephemeral containers cannot have resources; the apiserver defaults requests to limits.
    for c in pod
        .containers
        .iter()
        .filter(|c| c.kind != ContainerKind::Ephemeral)
    {
        let mut missing = Vec::new();
        for res in ["cpu", "memory"] {
            let limit = at(c.v, &["resources", "limits", res]).is_some();
            if !limit {
                missing.push(format!("limits.{res}"));
            }
            if !limit && at(c.v, &["resources", "requests", res]).is_none() {
                missing.push(format!("requests.{res}"));
            }
        }
        if !missing.is_empty() {
            missing.sort();
            out.container(c, format!("resources {} not set", missing.join(", ")));
        }
    }
}

fn container_probes(pod: &PodView<'_>, out: &mut Violations) {
    let long_running = match pod.kind {
        "Job" | "CronJob" => false,
        "Pod" => !matches!(
            str_at(pod.spec, &["restartPolicy"]),
            Some("Never" | "OnFailure")
        ),
        _ => true,
    };
    if !long_running {
        return out.not_applicable();
    }
    for c in pod
        .containers
        .iter()
        .filter(|c| c.kind == ContainerKind::Regular)
    {
        let missing: Vec<&str> = ["readinessProbe", "livenessProbe"]
            .into_iter()
            .filter(|p| at(c.v, &[p]).is_none())
            .collect();
        if !missing.is_empty() {
            out.container(c, format!("no {}", missing.join(" and no ")));
        }
    }
}

fn image_tag(pod: &PodView<'_>, out: &mut Violations) {
    for c in &pod.containers {
        let image = str_at(c.v, &["image"]).unwrap_or("");
        let r = ImageRef::parse(image);
        if r.digest.is_none() && r.tag.is_none_or(|t| t == "latest") {
            let msg = match r.tag {
                Some(_) => format!("image {image:?} uses the tag latest"),
                None => format!("image {image:?} has no tag"),
            };
            out.container(c, msg);
        }
    }
}

fn image_digest(pod: &PodView<'_>, out: &mut Violations) {
    for c in &pod.containers {
        let image = str_at(c.v, &["image"]).unwrap_or("");
        if ImageRef::parse(image).digest.is_none() {
            out.container(c, format!("image {image:?} is not pinned by digest"));
        }
    }
}

fn image_registry(pod: &PodView<'_>, out: &mut Violations) {
    let allowed = &pod.profile.allowed_registries;
    if allowed.is_empty() {
        return out.not_applicable();
    }
    for c in &pod.containers {
        let image = str_at(c.v, &["image"]).unwrap_or("");
        let r = ImageRef::parse(image);
        if !allowed.iter().any(|a| r.is_from_registry(a)) {
            let msg = format!(
                "image {image:?} is from registry {} (allowed: {})",
                r.registry,
                allowed.join(", ")
            );
            out.container(c, msg);
        }
    }
}

fn env_literal_secret(pod: &PodView<'_>, out: &mut Violations) {
    for c in &pod.containers {
        for e in arr_at(c.v, &["env"]) {
            let name = str_at(e, &["name"]).unwrap_or("");
            if let Some(value) = str_at(e, &["value"])
                && let Some(why) = secrets::literal_credential(name, value)
            {
                out.container(c, format!("env {name}: {why}"));
            }
        }
    }
}

fn secret_as_env(pod: &PodView<'_>, out: &mut Violations) {
    for c in &pod.containers {
        for e in arr_at(c.v, &["env"]) {
            if at(e, &["valueFrom", "secretKeyRef"]).is_some() {
                let name = str_at(e, &["name"]).unwrap_or("");
                out.container(c, format!("env {name} is read from a Secret"));
            }
        }
        for ef in arr_at(c.v, &["envFrom"]) {
            if let Some(s) = str_at(ef, &["secretRef", "name"]) {
                out.container(c, format!("envFrom reads Secret {s:?}"));
            }
        }
    }
}

fn ssh_container_port(pod: &PodView<'_>, out: &mut Violations) {
    for c in &pod.containers {
        for p in arr_at(c.v, &["ports"]) {
            if int_at(p, &["containerPort"]) == Some(22) {
                out.container(c, "containerPort 22 (SSH) is declared");
            }
        }
    }
}

fn ssh_service_port(obj: &ObjectView<'_>, out: &mut Violations) {
    for p in arr_at(obj.v, &["spec", "ports"]) {
        let port = int_at(p, &["port"]);
        let target = at(p, &["targetPort"]);
        let target_22 = target.and_then(Value::as_i64) == Some(22)
            || target.and_then(Value::as_str) == Some("ssh");
        if port == Some(22) || target_22 {
            let msg = match target {
                Some(t) => format!("port {} → targetPort {t} exposes SSH", port.unwrap_or(0)),
                None => format!("port {} exposes SSH", port.unwrap_or(0)),
            };
            out.object(msg);
        }
    }
}

/// The Service kind (in the core group).
pub(crate) const SERVICE: Kind = Kind {
    groups: &[""],
    kind: "Service",
};

/// A parsed image reference (`registry/path:tag@digest`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImageRef<'a> {
    /// The registry host (`docker.io` when the reference names none).
    pub registry: &'a str,
    /// The repository path after the registry (`library/nginx` for `nginx`).
    pub path: String,
    /// The tag (`1.4.2`), if any.
    pub tag: Option<&'a str>,
    /// The digest (`sha256:…`), if any.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub(crate) fn parse(image: &'a str) -> Self {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (image, None),
        };
        // A ':' after the last '/' separates the tag; one before it belongs to a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        // Docker's rule: the first component is a registry when it has a '.' or ':' or is localhost.
        let (registry, path) = match name.split_once('/') {
            Some((first, p))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first, p.to_owned())
            }
            Some(_) => ("docker.io", name.to_owned()),
            None => ("docker.io", format!("library/{name}")),
        };
        ImageRef {
            registry,
            path,
            tag,
            digest,
        }
    }

    /// Whether the image is from `allowed` (`registry` or `registry/path-prefix`).
    pub(crate) fn is_from_registry(&self, allowed: &str) -> bool {
        let allowed = allowed.trim_end_matches('/');
        match allowed.split_once('/') {
            None => self.registry == allowed,
            Some((reg, prefix)) => {
                self.registry == reg
                    && (self.path == prefix || self.path.starts_with(&format!("{prefix}/")))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The rules

pub(crate) const CONTAINER_RESOURCES: Rule = Rule {
    id: RuleId::ContainerResources,
    title: "Containers must declare CPU and memory requests and limits",
    severity: Severity::Warning,
    bsi: &[S15],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(container_resources)],
    rationale: "Without limits, one container can exhaust the node for every other tenant; without requests, scheduling is guesswork.",
    remediation: "Set `resources.requests.cpu`, `resources.requests.memory`, `resources.limits.cpu` and `resources.limits.memory` on every container.",
};

pub(crate) const CONTAINER_PROBES: Rule = Rule {
    id: RuleId::ContainerProbes,
    title: "Long-running containers must have readiness and liveness probes",
    severity: Severity::Warning,
    bsi: &[A11],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(container_probes)],
    rationale: "Probes let the platform detect and restart hung containers and keep traffic away from pods that are not ready.",
    remediation: "Add `readinessProbe` and `livenessProbe` to every container of a Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod.",
};

pub(crate) const IMAGE_TAG: Rule = Rule {
    id: RuleId::ImageTag,
    title: "Images must have an explicit version, never `latest`",
    severity: Severity::Error,
    bsi: &[S6],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(image_tag)],
    rationale: "A moving tag makes deployments irreproducible and lets untested images reach production.",
    remediation: "Reference the image with a version tag (`registry/app:1.4.2`) or a digest.",
};

pub(crate) const IMAGE_DIGEST: Rule = Rule {
    id: RuleId::ImageDigest,
    title: "Images must be pinned by digest",
    severity: Severity::Error,
    bsi: &[S6],
    pss: PssLevel::None,
    min_level: Some(VeryHigh),
    checks: &[Check::Pod(image_digest)],
    rationale: "Only a digest guarantees that the image that runs is the one that was scanned and approved.",
    remediation: "Reference the image as `registry/app:1.4.2@sha256:<digest>`.",
};

pub(crate) const IMAGE_REGISTRY: Rule = Rule {
    id: RuleId::ImageRegistry,
    title: "Images must come from an allowed registry",
    severity: Severity::Error,
    bsi: &[S6],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(image_registry)],
    rationale: "Only images from registries the platform scans and trusts may run. Evaluated only when the profile lists `allowedRegistries`.",
    remediation: "Mirror the image into one of the profile's `allowedRegistries` and reference it there.",
};

pub(crate) const ENV_LITERAL_SECRET: Rule = Rule {
    id: RuleId::EnvLiteralSecret,
    title: "Credentials must not be written literally into environment variables",
    severity: Severity::Error,
    bsi: &[S8],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(env_literal_secret)],
    rationale: "A literal credential in a manifest ends up in Git, in Helm values and in `kubectl get -o yaml`.",
    remediation: "Store the credential in a Secret and mount it as a file (or reference it with `valueFrom.secretKeyRef`).",
};

pub(crate) const SECRET_AS_ENV: Rule = Rule {
    id: RuleId::SecretAsEnv,
    title: "Secrets should be mounted as files rather than environment variables",
    severity: Severity::Info,
    bsi: &[S8],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[Check::Pod(secret_as_env)],
    rationale: "Environment variables leak into child processes, crash dumps and logs more easily than files.",
    remediation: "Mount the Secret as a volume and read the credential from the file.",
};

pub(crate) const SSH_PORT: Rule = Rule {
    id: RuleId::SshPort,
    title: "No SSH daemon port (22) may be exposed",
    severity: Severity::Error,
    bsi: &[S16],
    pss: PssLevel::None,
    min_level: Some(Normal),
    checks: &[
        Check::Pod(ssh_container_port),
        Check::Object {
            kinds: &[SERVICE],
            check: ssh_service_port,
        },
    ],
    rationale: "Administration happens through the Kubernetes API, not through an SSH daemon inside a container.",
    remediation: "Remove the SSH server from the image and port 22 from containers and Services; use `kubectl exec` or `kubectl debug` for diagnosis.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_are_split_like_docker_does() {
        let r = ImageRef::parse("nginx");
        assert_eq!(
            (r.registry, r.path.as_str(), r.tag, r.digest),
            ("docker.io", "library/nginx", None, None)
        );
        let r = ImageRef::parse("registry.local:5000/team/app:1.2@sha256:abc");
        assert_eq!(r.registry, "registry.local:5000");
        assert_eq!(r.path, "team/app");
        assert_eq!(r.tag, Some("1.2"));
        assert_eq!(r.digest, Some("sha256:abc"));
        let r = ImageRef::parse("localhost:5000/app");
        assert_eq!((r.registry, r.tag), ("localhost:5000", None));
        assert!(
            ImageRef::parse("registry.example.org/team/app:1")
                .is_from_registry("registry.example.org/team")
        );
        assert!(
            !ImageRef::parse("registry.example.org/teamx/app:1")
                .is_from_registry("registry.example.org/team")
        );
        assert!(ImageRef::parse("bitnami/redis:7").is_from_registry("docker.io"));
    }
}
