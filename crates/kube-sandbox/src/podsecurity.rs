//! Pod Security admission as kube-apiserver's built-in plugin applies it: a namespace's
//! `pod-security.kubernetes.io/enforce` level refuses Pods that violate it (403, "violates
//! PodSecurity"), its `warn` level adds warnings to Pods and to the Pod templates of workloads.
//! The checks are those of the Pod Security Standards, level `baseline` and `restricted`;
//! reasons and details are worded as upstream's checks word them.

use serde_json::Value;

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
const WARN: &str = "pod-security.kubernetes.io/warn";
const WARN_VERSION: &str = "pod-security.kubernetes.io/warn-version";

/// A level of the Pod Security Standards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// Capabilities baseline lets containers add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls baseline allows.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// Volume types restricted allows.
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

const SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// The level and version a namespace label pair names (`restricted`, `latest`).
fn policy(ns: &Value, level_label: &str, version_label: &str) -> Option<(Level, String)> {
    let labels = ns.pointer("/metadata/labels")?;
    let level = Level::parse(labels.get(level_label)?.as_str()?)?;
    let version = labels
        .get(version_label)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or("latest")
        .to_string();
    Some((level, version))
}

/// `container "a"` or `containers "a", "b"`.
fn containers_phrase(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    if names.len() == 1 {
        format!("container {}", quoted.join(", "))
    } else {
        format!("containers {}", quoted.join(", "))
    }
}

/// Every container of a Pod spec (init, regular, ephemeral).
fn containers(spec: &Value) -> Vec<&Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect()
}

fn name(c: &Value) -> String {
    c.get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn strings_at<'a>(v: &'a Value, pointer: &str) -> Vec<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The violations of `level` by a Pod's metadata and spec: `(reason, detail)` in upstream's
/// order (baseline checks, then restricted ones).
pub fn violations(level: Level, meta: &Value, spec: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if level == Level::Privileged {
        return out;
    }
    let restricted = level == Level::Restricted;
    let all = containers(spec);
    let pod_sc = spec.get("securityContext").cloned().unwrap_or(Value::Null);
    let mut push = |reason: &str, detail: String| out.push((reason.to_string(), detail));

    // appArmorProfile
    let mut bad_apparmor = Vec::new();
    for (k, v) in meta
        .get("annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if k.starts_with("container.apparmor.security.beta.kubernetes.io/")
            && let Some(v) = v.as_str()
            && v != "runtime/default"
            && !v.starts_with("localhost/")
        {
            bad_apparmor.push(format!("{k}={v:?}"));
        }
    }
    let apparmor_bad = |sc: &Value| {
        str_at(sc, "/appArmorProfile/type")
            .is_some_and(|t| t != "RuntimeDefault" && t != "Localhost")
    };
    if apparmor_bad(&pod_sc) {
        bad_apparmor.push(format!(
            "pod must not set securityContext.appArmorProfile.type to {:?}",
            str_at(&pod_sc, "/appArmorProfile/type").unwrap_or("")
        ));
    }
    for c in &all {
        if let Some(sc) = c.get("securityContext")
            && apparmor_bad(sc)
        {
            bad_apparmor.push(format!(
                "container {:?} must not set securityContext.appArmorProfile.type to {:?}",
                name(c),
                str_at(sc, "/appArmorProfile/type").unwrap_or("")
            ));
        }
    }
    if !bad_apparmor.is_empty() {
        push("forbidden AppArmor profiles", bad_apparmor.join(", "));
    }

    // capabilities_baseline (restricted has its own check)
    if !restricted {
        let mut bad: Vec<String> = Vec::new();
        for c in &all {
            let added: Vec<&str> = strings_at(c, "/securityContext/capabilities/add")
                .into_iter()
                .filter(|cap| !BASELINE_CAPABILITIES.contains(cap))
                .collect();
            if !added.is_empty() {
                let caps: Vec<String> = added.iter().map(|c| format!("{c:?}")).collect();
                bad.push(format!(
                    "container {:?} must not include {} in securityContext.capabilities.add",
                    name(c),
                    caps.join(", ")
                ));
            }
        }
        if !bad.is_empty() {
            push("non-default capabilities", bad.join("; "));
        }
    }

    // hostNamespaces
    let host: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|k| spec.get(**k).and_then(Value::as_bool) == Some(true))
        .map(|k| format!("{k}=true"))
        .collect();
    if !host.is_empty() {
        push("host namespaces", host.join(", "));
    }

    let volumes: Vec<&Value> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    // hostPathVolumes (restricted: restrictedVolumes)
    if !restricted {
        let host_paths: Vec<String> = volumes
            .iter()
            .filter(|v| v.get("hostPath").is_some_and(|h| !h.is_null()))
            .map(|v| format!("{:?}", name(v)))
            .collect();
        if !host_paths.is_empty() {
            let noun = if host_paths.len() == 1 {
                "volume"
            } else {
                "volumes"
            };
            push(
                "hostPath volumes",
                format!("{noun} {}", host_paths.join(", ")),
            );
        }
    }

    // hostPorts
    let mut ports: Vec<String> = Vec::new();
    let mut port_containers = Vec::new();
    for c in &all {
        let mut any = false;
        for p in c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(hp) = p.get("hostPort").and_then(Value::as_i64)
                && hp != 0
            {
                ports.push(hp.to_string());
                any = true;
            }
        }
        if any {
            port_containers.push(name(c));
        }
    }
    if !ports.is_empty() {
        let noun = if ports.len() == 1 {
            "hostPort"
        } else {
            "hostPorts"
        };
        push(
            "hostPort",
            format!(
                "{} {} uses {noun} {}",
                if port_containers.len() == 1 {
                    "container"
                } else {
                    "containers"
                },
                port_containers
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                ports.join(", ")
            ),
        );
    }

    // hostProcess
    let host_process = |sc: &Value| {
        sc.pointer("/windowsOptions/hostProcess")
            .and_then(Value::as_bool)
            == Some(true)
    };
    let hp_containers: Vec<String> = all
        .iter()
        .filter(|c| c.get("securityContext").is_some_and(host_process))
        .map(|c| name(c))
        .collect();
    if host_process(&pod_sc) || !hp_containers.is_empty() {
        let detail = if hp_containers.is_empty() {
            "pod must not set securityContext.windowsOptions.hostProcess=true".to_string()
        } else {
            format!(
                "{} must not set securityContext.windowsOptions.hostProcess=true",
                containers_phrase(&hp_containers)
            )
        };
        push("hostProcess", detail);
    }

    // privileged
    let privileged: Vec<String> = all
        .iter()
        .filter(|c| {
            c.pointer("/securityContext/privileged")
                .and_then(Value::as_bool)
                == Some(true)
        })
        .map(|c| name(c))
        .collect();
    if !privileged.is_empty() {
        push(
            "privileged",
            format!(
                "{} must not set securityContext.privileged=true",
                containers_phrase(&privileged)
            ),
        );
    }

    // procMount
    let unmasked: Vec<String> = all
        .iter()
        .filter(|c| str_at(c, "/securityContext/procMount").is_some_and(|p| p != "Default"))
        .map(|c| name(c))
        .collect();
    if !unmasked.is_empty() {
        push(
            "procMount",
            format!(
                "{} must not set securityContext.procMount to \"Unmasked\"",
                containers_phrase(&unmasked)
            ),
        );
    }

    // seLinuxOptions
    let selinux_bad = |sc: &Value| {
        sc.get("seLinuxOptions").is_some_and(|o| {
            !SELINUX_TYPES.contains(&o.get("type").and_then(Value::as_str).unwrap_or(""))
                || o.get("user")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
                || o.get("role")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
        })
    };
    let selinux_containers: Vec<String> = all
        .iter()
        .filter(|c| c.get("securityContext").is_some_and(selinux_bad))
        .map(|c| name(c))
        .collect();
    if selinux_bad(&pod_sc) || !selinux_containers.is_empty() {
        let mut parts = Vec::new();
        if selinux_bad(&pod_sc) {
            parts.push("pod".to_string());
        }
        if !selinux_containers.is_empty() {
            parts.push(containers_phrase(&selinux_containers));
        }
        push(
            "seLinuxOptions",
            format!(
                "{} set forbidden securityContext.seLinuxOptions",
                parts.join(" and ")
            ),
        );
    }

    // seccompProfile_baseline (restricted has its own check, the last one)
    let seccomp = |sc: &Value| str_at(sc, "/seccompProfile/type").map(str::to_string);
    let pod_seccomp = seccomp(&pod_sc);
    if !restricted {
        let mut parts = Vec::new();
        if pod_seccomp.as_deref() == Some("Unconfined") {
            parts.push(
                "pod must not set securityContext.seccompProfile.type to \"Unconfined\""
                    .to_string(),
            );
        }
        let bad: Vec<String> = all
            .iter()
            .filter(|c| c.get("securityContext").and_then(seccomp).as_deref() == Some("Unconfined"))
            .map(|c| name(c))
            .collect();
        if !bad.is_empty() {
            parts.push(format!(
                "{} must not set securityContext.seccompProfile.type to \"Unconfined\"",
                containers_phrase(&bad)
            ));
        }
        if !parts.is_empty() {
            push("seccompProfile", parts.join("; "));
        }
    }

    // sysctls
    let forbidden_sysctls: Vec<String> = pod_sc
        .get("sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .map(str::to_string)
        .collect();
    if !forbidden_sysctls.is_empty() {
        push("forbidden sysctls", forbidden_sysctls.join(", "));
    }

    if !restricted {
        return out;
    }

    // allowPrivilegeEscalation
    let escalating: Vec<String> = all
        .iter()
        .filter(|c| {
            c.pointer("/securityContext/allowPrivilegeEscalation")
                .and_then(Value::as_bool)
                != Some(false)
        })
        .map(|c| name(c))
        .collect();
    if !escalating.is_empty() {
        push(
            "allowPrivilegeEscalation != false",
            format!(
                "{} must set securityContext.allowPrivilegeEscalation=false",
                containers_phrase(&escalating)
            ),
        );
    }

    // capabilities_restricted
    let mut not_dropping = Vec::new();
    let mut adding = Vec::new();
    for c in &all {
        if !strings_at(c, "/securityContext/capabilities/drop").contains(&"ALL") {
            not_dropping.push(name(c));
        }
        let added: Vec<String> = strings_at(c, "/securityContext/capabilities/add")
            .into_iter()
            .filter(|cap| *cap != "NET_BIND_SERVICE")
            .map(|cap| format!("{cap:?}"))
            .collect();
        if !added.is_empty() {
            adding.push(format!(
                "container {:?} must not include {} in securityContext.capabilities.add",
                name(c),
                added.join(", ")
            ));
        }
    }
    let mut parts = Vec::new();
    if !not_dropping.is_empty() {
        parts.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&not_dropping)
        ));
    }
    parts.extend(adding);
    if !parts.is_empty() {
        push("unrestricted capabilities", parts.join("; "));
    }

    // restrictedVolumes
    let mut bad_volumes = Vec::new();
    for v in &volumes {
        let kind = v
            .as_object()
            .into_iter()
            .flatten()
            .find(|(k, val)| k.as_str() != "name" && !val.is_null())
            .map(|(k, _)| k.clone());
        if let Some(kind) = kind
            && !RESTRICTED_VOLUMES.contains(&kind.as_str())
        {
            bad_volumes.push(format!(
                "volume {:?} uses restricted volume type {kind:?}",
                name(v)
            ));
        }
    }
    if !bad_volumes.is_empty() {
        push("restricted volume types", bad_volumes.join(", "));
    }

    // runAsNonRoot
    let pod_non_root = pod_sc.get("runAsNonRoot").and_then(Value::as_bool);
    let mut parts = Vec::new();
    if pod_non_root == Some(false) {
        parts.push("pod must not set securityContext.runAsNonRoot=false".to_string());
    }
    let mut explicit_false = Vec::new();
    let mut unset = Vec::new();
    for c in &all {
        match c
            .pointer("/securityContext/runAsNonRoot")
            .and_then(Value::as_bool)
        {
            Some(false) => explicit_false.push(name(c)),
            None if pod_non_root != Some(true) => unset.push(name(c)),
            _ => {}
        }
    }
    if !explicit_false.is_empty() {
        parts.push(format!(
            "{} must not set securityContext.runAsNonRoot=false",
            containers_phrase(&explicit_false)
        ));
    }
    if !unset.is_empty() && pod_non_root != Some(false) {
        parts.push(format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            containers_phrase(&unset)
        ));
    }
    if !parts.is_empty() {
        push("runAsNonRoot != true", parts.join("; "));
    }

    // runAsUser
    let mut parts = Vec::new();
    if pod_sc.get("runAsUser").and_then(Value::as_i64) == Some(0) {
        parts.push("pod must not set runAsUser=0".to_string());
    }
    let root_users: Vec<String> = all
        .iter()
        .filter(|c| {
            c.pointer("/securityContext/runAsUser")
                .and_then(Value::as_i64)
                == Some(0)
        })
        .map(|c| name(c))
        .collect();
    if !root_users.is_empty() {
        parts.push(format!(
            "{} must not set runAsUser=0",
            containers_phrase(&root_users)
        ));
    }
    if !parts.is_empty() {
        push("runAsUser=0", parts.join("; "));
    }

    // seccompProfile_restricted
    {
        let ok = |t: &Option<String>| {
            t.as_deref()
                .is_some_and(|t| t == "RuntimeDefault" || t == "Localhost")
        };
        let explicit_bad_pod = pod_seccomp.is_some() && !ok(&pod_seccomp);
        let mut missing = Vec::new();
        let mut bad = Vec::new();
        for c in &all {
            let t = c.get("securityContext").and_then(seccomp);
            match t {
                Some(_) if !ok(&t) => bad.push(name(c)),
                None if !ok(&pod_seccomp) => missing.push(name(c)),
                _ => {}
            }
        }
        let mut parts = Vec::new();
        if explicit_bad_pod {
            parts.push(format!(
                "pod must not set securityContext.seccompProfile.type to {:?}",
                pod_seccomp.as_deref().unwrap_or("")
            ));
        }
        if !bad.is_empty() {
            parts.push(format!(
                "{} must not set securityContext.seccompProfile.type to \"Unconfined\"",
                containers_phrase(&bad)
            ));
        }
        if !missing.is_empty() && !explicit_bad_pod {
            parts.push(format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&missing)
            ));
        }
        if !parts.is_empty() {
            push("seccompProfile", parts.join("; "));
        }
    }
    out
}

fn describe(level: Level, version: &str, found: &[(String, String)]) -> String {
    let list: Vec<String> = found
        .iter()
        .map(|(reason, detail)| format!("{reason} ({detail})"))
        .collect();
    format!(
        "PodSecurity \"{}:{version}\": {}",
        level.name(),
        list.join(", ")
    )
}

/// The Pod template (metadata, spec) of a workload kind, as Pod Security warns about it.
fn template<'a>(group: &str, kind: &str, obj: &'a Value) -> Option<(&'a Value, &'a Value)> {
    let t = match (group, kind) {
        ("", "Pod") => return Some((obj.get("metadata")?, obj.get("spec")?)),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job")
        | ("", "ReplicationController" | "PodTemplate") => obj.pointer("/spec/template")?,
        ("batch", "CronJob") => obj.pointer("/spec/jobTemplate/spec/template")?,
        _ => return None,
    };
    Some((t.get("metadata").unwrap_or(&Value::Null), t.get("spec")?))
}

/// What Pod Security admission says about a new object in a namespace: the refusal message
/// of the enforced level (Pods only), and the warnings of the `warn` level.
pub fn admit(
    group: &str,
    kind: &str,
    obj: &Value,
    namespace: &Value,
) -> (Option<String>, Vec<String>) {
    let Some((meta, spec)) = template(group, kind, obj) else {
        return (None, Vec::new());
    };
    let is_pod = group.is_empty() && kind == "Pod";
    let mut refusal = None;
    if is_pod && let Some((level, version)) = policy(namespace, ENFORCE, ENFORCE_VERSION) {
        let found = violations(level, meta, spec);
        if !found.is_empty() {
            refusal = Some(format!("violates {}", describe(level, &version, &found)));
        }
    }
    let mut warnings = Vec::new();
    if let Some((level, version)) = policy(namespace, WARN, WARN_VERSION) {
        let found = violations(level, meta, spec);
        if !found.is_empty() {
            warnings.push(format!(
                "would violate {}",
                describe(level, &version, &found)
            ));
        }
    }
    (refusal, warnings)
}

/// Whether a Pod update changes what Pod Security checks (kube-apiserver lets other updates
/// through unchecked): the number of containers, an image, or a seccomp annotation.
pub fn significant_pod_update(new: &Value, old: &Value) -> bool {
    const SECCOMP: &str = "seccomp.security.alpha.kubernetes.io/pod";
    const CONTAINER_SECCOMP: &str = "container.seccomp.security.alpha.kubernetes.io/";
    let annotation = |o: &Value, k: &str| {
        o.pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .map(String::from)
    };
    if annotation(new, SECCOMP) != annotation(old, SECCOMP) {
        return true;
    }
    let list = |o: &Value, k: &str| -> Vec<Value> {
        o.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let container_changed = |c: &Value, oc: &Value| {
        let key = format!("{CONTAINER_SECCOMP}{}", name(c));
        c.get("image") != oc.get("image") || annotation(new, &key) != annotation(old, &key)
    };
    for k in ["containers", "initContainers"] {
        let (n, o) = (list(new, k), list(old, k));
        if n.len() != o.len() || n.iter().zip(&o).any(|(c, oc)| container_changed(c, oc)) {
            return true;
        }
    }
    let old_ephemeral = list(old, "ephemeralContainers");
    list(new, "ephemeralContainers").iter().any(|c| {
        match old_ephemeral.iter().find(|oc| name(oc) == name(c)) {
            Some(oc) => container_changed(c, oc),
            None => true,
        }
    })
}

/// The enforce level of a namespace's labels; none (or an invalid one) is privileged.
fn enforced(ns: &Value) -> (Level, String) {
    policy(ns, ENFORCE, ENFORCE_VERSION).unwrap_or((Level::Privileged, "latest".into()))
}

/// What Pod Security admission warns when a namespace's enforce level changes to a level
/// other than privileged: which of its existing Pods violate the new level (one line per
/// distinct violation, naming the first Pod and counting the others).
pub fn namespace_update_warnings(new: &Value, old: &Value, pods: &[&Value]) -> Vec<String> {
    let (level, version) = enforced(new);
    if (level, version.as_str()) == (enforced(old).0, enforced(old).1.as_str())
        || level == Level::Privileged
    {
        return Vec::new();
    }
    let mut order: Vec<String> = Vec::new();
    let mut seen: std::collections::HashMap<String, (String, usize)> = Default::default();
    for pod in pods {
        let (Some(meta), Some(spec)) = (pod.get("metadata"), pod.get("spec")) else {
            continue;
        };
        let found = violations(level, meta, spec);
        if found.is_empty() {
            continue;
        }
        // kube-apiserver names only the checks here, not their details.
        let reason = found
            .iter()
            .map(|(reason, _)| reason.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let pod_name = meta.get("name").and_then(Value::as_str).unwrap_or("");
        match seen.get_mut(&reason) {
            Some((_, count)) => *count += 1,
            None => {
                order.push(reason.clone());
                seen.insert(reason, (pod_name.to_string(), 1));
            }
        }
    }
    if order.is_empty() {
        return Vec::new();
    }
    let namespace = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut out = vec![format!(
        "existing pods in namespace {namespace:?} violate the new PodSecurity enforce level \"{}:{version}\"",
        level.name()
    )];
    for reason in order {
        let (pod, count) = &seen[&reason];
        if *count == 1 {
            out.push(format!("{pod}: {reason}"));
        } else if *count == 2 {
            out.push(format!("{pod} (and 1 other pod): {reason}"));
        } else {
            out.push(format!("{pod} (and {} other pods): {reason}", count - 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ns(labels: Value) -> Value {
        json!({"metadata": {"name": "team", "labels": labels}})
    }

    fn pod(sc: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "x", "securityContext": sc}]}})
    }

    #[test]
    fn a_privileged_pod_violates_restricted_in_upstreams_words() {
        let (refusal, _) = admit(
            "",
            "Pod",
            &pod(json!({"privileged": true})),
            &ns(json!({ENFORCE: "restricted"})),
        );
        assert_eq!(
            refusal.unwrap(),
            "violates PodSecurity \"restricted:latest\": privileged (container \"app\" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
    }

    #[test]
    fn baseline_admits_a_root_pod_and_refuses_host_access() {
        let baseline = ns(json!({ENFORCE: "baseline", ENFORCE_VERSION: "v1.35"}));
        assert_eq!(admit("", "Pod", &pod(json!({})), &baseline).0, None);
        let mut host = pod(json!({}));
        host["spec"]["hostNetwork"] = json!(true);
        host["spec"]["volumes"] = json!([{"name": "root", "hostPath": {"path": "/"}}]);
        assert_eq!(
            admit("", "Pod", &host, &baseline).0.unwrap(),
            "violates PodSecurity \"baseline:v1.35\": host namespaces (hostNetwork=true), hostPath volumes (volume \"root\")"
        );
    }

    #[test]
    fn a_conformant_pod_passes_restricted_and_workloads_only_warn() {
        let restricted = ns(json!({ENFORCE: "restricted", WARN: "restricted"}));
        let ok = pod(json!({
            "runAsNonRoot": true, "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
        }));
        assert_eq!(admit("", "Pod", &ok, &restricted), (None, Vec::new()));
        let deployment = json!({"spec": {"template": pod(json!({"privileged": true}))}});
        let (refusal, warnings) = admit("apps", "Deployment", &deployment, &restricted);
        assert_eq!(refusal, None);
        assert!(
            warnings[0].starts_with("would violate PodSecurity \"restricted:latest\": privileged")
        );
    }

    #[test]
    fn only_image_container_and_seccomp_changes_of_a_pod_are_checked_again() {
        let old = pod(json!({}));
        let mut relabelled = old.clone();
        relabelled["metadata"]["labels"] = json!({"a": "b"});
        assert!(!significant_pod_update(&relabelled, &old));
        let mut new_image = old.clone();
        new_image["spec"]["containers"][0]["image"] = json!("y");
        assert!(significant_pod_update(&new_image, &old));
    }

    #[test]
    fn a_stricter_enforce_label_warns_about_the_pods_already_there() {
        let old = ns(json!({ENFORCE: "baseline"}));
        let new = ns(json!({ENFORCE: "restricted"}));
        let mut a = pod(json!({"privileged": true}));
        a["metadata"]["name"] = json!("a");
        let mut b = a.clone();
        b["metadata"]["name"] = json!("b");
        let warnings = namespace_update_warnings(&new, &old, &[&a, &b]);
        assert_eq!(
            warnings[0],
            "existing pods in namespace \"team\" violate the new PodSecurity enforce level \"restricted:latest\""
        );
        assert!(
            warnings[1]
                .starts_with("a (and 1 other pod): privileged, allowPrivilegeEscalation != false")
        );
        assert!(namespace_update_warnings(&new, &new, &[&a]).is_empty());
        assert!(namespace_update_warnings(&ns(json!({})), &new, &[&a]).is_empty());
    }
}
