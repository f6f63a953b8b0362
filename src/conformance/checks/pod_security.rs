//! Pod security: the controls of the Pod Security Standards (baseline and restricted). The container
//! `securityContext` checks are table entries ([`SecurityContextCheck`]); the rest read the pod spec.

use serde_json::Value;

use super::{
    Check, PodView, SecurityContextCheck, Violations, arr_at, at, bool_at, int_at, obj_at, str_at,
    strs_at,
};
use crate::api::ProtectionLevel::{High, Normal};
use crate::conformance::rules::bsi::*;
use crate::conformance::rules::{PssLevel, Rule, RuleId, Severity};

// ---------------------------------------------------------------------------------------------------------
// securityContext fields, table-driven

const PRIVILEGED: SecurityContextCheck = SecurityContextCheck {
    field: "privileged",
    pod: false,
    verdict: |v| {
        (v.and_then(Value::as_bool) == Some(true))
            .then(|| "securityContext.privileged is true".into())
    },
    also: None,
};

const SECCOMP: SecurityContextCheck = SecurityContextCheck {
    field: "seccompProfile",
    pod: true,
    verdict: |v| {
        (v.and_then(|s| str_at(s, &["type"])) == Some("Unconfined"))
            .then(|| "securityContext.seccompProfile.type is Unconfined".into())
    },
    also: None,
};

const APPARMOR: SecurityContextCheck = SecurityContextCheck {
    field: "appArmorProfile",
    pod: true,
    verdict: |v| {
        v.and_then(|s| str_at(s, &["type"]))
            .filter(|t| !matches!(*t, "RuntimeDefault" | "Localhost"))
            .map(|t| format!("securityContext.appArmorProfile.type is {t}"))
    },
    also: Some(apparmor_annotations),
};

const SELINUX: SecurityContextCheck = SecurityContextCheck {
    field: "seLinuxOptions",
    pod: true,
    verdict: selinux_problem,
    also: None,
};

const PROC_MOUNT_FIELD: SecurityContextCheck = SecurityContextCheck {
    field: "procMount",
    pod: false,
    verdict: |v| {
        v.and_then(Value::as_str)
            .filter(|p| *p != "Default")
            .map(|pm| format!("securityContext.procMount is {pm}"))
    },
    also: None,
};

const WINDOWS_HOST_PROCESS_FIELD: SecurityContextCheck = SecurityContextCheck {
    field: "windowsOptions",
    pod: true,
    verdict: |v| {
        (v.and_then(|w| bool_at(w, &["hostProcess"])) == Some(true))
            .then(|| "securityContext.windowsOptions.hostProcess is true".into())
    },
    also: None,
};

const RUN_AS_USER: SecurityContextCheck = SecurityContextCheck {
    field: "runAsUser",
    pod: true,
    verdict: |v| {
        (v.and_then(Value::as_i64) == Some(0)).then(|| "securityContext.runAsUser is 0".into())
    },
    also: None,
};

const NO_PRIVILEGE_ESCALATION: SecurityContextCheck = SecurityContextCheck {
    field: "allowPrivilegeEscalation",
    pod: false,
    verdict: |v| {
        (v.and_then(Value::as_bool) != Some(false))
            .then(|| "securityContext.allowPrivilegeEscalation is not false".into())
    },
    also: None,
};

const READ_ONLY_ROOT: SecurityContextCheck = SecurityContextCheck {
    field: "readOnlyRootFilesystem",
    pod: false,
    verdict: |v| {
        (v.and_then(Value::as_bool) != Some(true))
            .then(|| "securityContext.readOnlyRootFilesystem is not true".into())
    },
    also: None,
};

fn apparmor_annotations(pod: &PodView<'_>, out: &mut Violations) {
    let Some(ann) = pod.template_meta.and_then(|m| obj_at(m, &["annotations"])) else {
        return;
    };
    for (k, val) in ann {
        let Some(cname) = k.strip_prefix("container.apparmor.security.beta.kubernetes.io/") else {
            continue;
        };
        let val = val.as_str().unwrap_or("");
        if !(val.is_empty() || val == "runtime/default" || val.starts_with("localhost/")) {
            out.named(cname.to_owned(), format!("annotation {k} is {val:?}"));
        }
    }
}

fn selinux_problem(o: Option<&Value>) -> Option<String> {
    let o = o?;
    let mut p = Vec::new();
    if let Some(t) = str_at(o, &["type"]).filter(|t| {
        !matches!(
            *t,
            "" | "container_t" | "container_init_t" | "container_kvm_t" | "container_engine_t"
        )
    }) {
        p.push(format!("type {t:?}"));
    }
    for f in ["user", "role"] {
        if let Some(x) = str_at(o, &[f]).filter(|x| !x.is_empty()) {
            p.push(format!("{f} {x:?}"));
        }
    }
    (!p.is_empty()).then(|| format!("seLinuxOptions sets {}", p.join(", ")))
}

// ---------------------------------------------------------------------------------------------------------
// The pod spec

fn host_namespaces(pod: &PodView<'_>, out: &mut Violations) {
    let on: Vec<&str> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|f| bool_at(pod.spec, &[f]) == Some(true))
        .collect();
    if !on.is_empty() {
        out.object(format!("{} set to true", on.join(", ")));
    }
}

fn host_ports(pod: &PodView<'_>, out: &mut Violations) {
    for c in &pod.containers {
        for p in arr_at(c.v, &["ports"]) {
            if let Some(hp) = int_at(p, &["hostPort"]).filter(|hp| *hp != 0) {
                out.container(c, format!("ports[].hostPort {hp} is set"));
            }
        }
    }
}

fn host_path_volumes(pod: &PodView<'_>, out: &mut Violations) {
    for vol in arr_at(pod.spec, &["volumes"]) {
        if let Some(path) = at(vol, &["hostPath"]) {
            let name = str_at(vol, &["name"]).unwrap_or("");
            let p = str_at(path, &["path"]).unwrap_or("");
            out.object(format!("volume {name:?} mounts hostPath {p:?}"));
        }
    }
}

fn volume_types(pod: &PodView<'_>, out: &mut Violations) {
    const ALLOWED: [&str; 8] = [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    for vol in arr_at(pod.spec, &["volumes"]) {
        let Some(map) = vol.as_object() else { continue };
        let name = str_at(vol, &["name"]).unwrap_or("");
        // hostPath is reported by host-path-volumes already.
        for ty in map
            .keys()
            .filter(|k| *k != "name" && *k != "hostPath" && !ALLOWED.contains(&k.as_str()))
        {
            out.object(format!("volume {name:?} has type {ty}"));
        }
    }
}

fn capabilities_baseline(pod: &PodView<'_>, out: &mut Violations) {
    const BASELINE: [&str; 13] = [
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
    for c in &pod.containers {
        let added: Vec<&str> = strs_at(c.v, &["securityContext", "capabilities", "add"])
            .filter(|cap| !BASELINE.contains(cap))
            .collect();
        if !added.is_empty() {
            out.container(c, format!("capabilities.add contains {}", added.join(", ")));
        }
    }
}

fn capabilities_drop_all(pod: &PodView<'_>, out: &mut Violations) {
    for c in &pod.containers {
        let caps = |f: &str| strs_at(c.v, &["securityContext", "capabilities", f]);
        let mut problems = Vec::new();
        if !caps("drop").any(|cap| cap == "ALL") {
            problems.push("capabilities.drop does not contain ALL".to_owned());
        }
        let extra: Vec<&str> = caps("add")
            .filter(|cap| *cap != "NET_BIND_SERVICE")
            .collect();
        if !extra.is_empty() {
            problems.push(format!("capabilities.add contains {}", extra.join(", ")));
        }
        if !problems.is_empty() {
            out.container(c, problems.join("; "));
        }
    }
}

fn seccomp_required(pod: &PodView<'_>, out: &mut Violations) {
    let pod_seccomp = pod.psc(&["seccompProfile", "type"]).and_then(Value::as_str);
    // An explicit Unconfined is seccomp-unconfined's finding; this rule reports the absence.
    if matches!(
        pod_seccomp,
        Some("RuntimeDefault" | "Localhost" | "Unconfined")
    ) {
        return;
    }
    for c in &pod.containers {
        if c.sc("seccompProfile")
            .and_then(|s| str_at(s, &["type"]))
            .is_none()
        {
            out.container(c, "no seccompProfile on the container or the pod");
        }
    }
}

fn unsafe_sysctls(pod: &PodView<'_>, out: &mut Violations) {
    const SAFE: [&str; 12] = [
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
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    ];
    let unsafe_: Vec<&str> = pod
        .security_context
        .map(|s| arr_at(s, &["sysctls"]))
        .unwrap_or(&[])
        .iter()
        .filter_map(|s| str_at(s, &["name"]))
        .filter(|n| !SAFE.contains(n))
        .collect();
    if !unsafe_.is_empty() {
        out.object(format!("unsafe sysctls {}", unsafe_.join(", ")));
    }
}

fn run_as_non_root(pod: &PodView<'_>, out: &mut Violations) {
    let pod_nonroot = pod.psc(&["runAsNonRoot"]).and_then(Value::as_bool);
    for c in &pod.containers {
        match c
            .sc("runAsNonRoot")
            .and_then(Value::as_bool)
            .or(pod_nonroot)
        {
            Some(true) => {}
            Some(false) => out.container(c, "runAsNonRoot is false"),
            None => out.container(c, "runAsNonRoot is not set on the container or the pod"),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The rules

pub(crate) const PRIVILEGED_CONTAINER: Rule = Rule {
    id: RuleId::PrivilegedContainer,
    title: "Containers must not run privileged",
    severity: Severity::Error,
    bsi: &[S17, A4],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::SecurityContext(&PRIVILEGED)],
    rationale: "A privileged container has every capability and all host devices; a compromise of it is a compromise of the node and of every other tenant's pods on it.",
    remediation: "Remove `securityContext.privileged: true`; grant only the single capability the process needs.",
};

pub(crate) const HOST_NAMESPACES: Rule = Rule {
    id: RuleId::HostNamespaces,
    title: "Pods must not share the host's network, PID or IPC namespace",
    severity: Severity::Error,
    bsi: &[A4, S17],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::Pod(host_namespaces)],
    rationale: "hostNetwork, hostPID and hostIPC remove the separation between the pod and the node and let it see other tenants' traffic and processes.",
    remediation: "Remove `hostNetwork`, `hostPID` and `hostIPC` from the pod spec (or set them to false).",
};

pub(crate) const HOST_PORTS: Rule = Rule {
    id: RuleId::HostPorts,
    title: "Containers must not bind host ports",
    severity: Severity::Error,
    bsi: &[A4, A7],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::Pod(host_ports)],
    rationale: "A hostPort bypasses NetworkPolicies and Services and ties the pod to a node.",
    remediation: "Remove `ports[].hostPort`; expose the port with a Service instead.",
};

pub(crate) const HOST_PATH_VOLUMES: Rule = Rule {
    id: RuleId::HostPathVolumes,
    title: "Pods must not mount hostPath volumes",
    severity: Severity::Error,
    bsi: &[S19, A4],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::Pod(host_path_volumes)],
    rationale: "hostPath gives access to the node's file system; data stored there is neither declared nor portable between nodes.",
    remediation: "Use a PersistentVolumeClaim for data that must survive restarts, an emptyDir for temporary data.",
};

pub(crate) const CAPABILITIES_BASELINE: Rule = Rule {
    id: RuleId::CapabilitiesBaseline,
    title: "Containers may add only the capabilities of the baseline set",
    severity: Severity::Error,
    bsi: &[S17],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::Pod(capabilities_baseline)],
    rationale: "Capabilities such as NET_ADMIN or SYS_ADMIN give a container powers over the node's kernel.",
    remediation: "Remove capabilities from `securityContext.capabilities.add` beyond AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID and SYS_CHROOT.",
};

pub(crate) const CAPABILITIES_DROP_ALL: Rule = Rule {
    id: RuleId::CapabilitiesDropAll,
    title: "Containers must drop ALL capabilities and add at most NET_BIND_SERVICE",
    severity: Severity::Error,
    bsi: &[S17],
    pss: PssLevel::Restricted,
    min_level: Some(Normal),
    checks: &[Check::Pod(capabilities_drop_all)],
    rationale: "A container that keeps the runtime's default capabilities has more privileges than an application needs.",
    remediation: "Set `securityContext.capabilities.drop: [ALL]` on every container; add back only NET_BIND_SERVICE if a port below 1024 is needed.",
};

pub(crate) const SECCOMP_UNCONFINED: Rule = Rule {
    id: RuleId::SeccompUnconfined,
    title: "Seccomp must not be set to Unconfined",
    severity: Severity::Error,
    bsi: &[S21, S17],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::SecurityContext(&SECCOMP)],
    rationale: "An unconfined container may call every system call of the node's kernel.",
    remediation: "Remove `seccompProfile.type: Unconfined`; use `RuntimeDefault`.",
};

pub(crate) const SECCOMP_REQUIRED: Rule = Rule {
    id: RuleId::SeccompRequired,
    title: "A seccomp profile (RuntimeDefault or Localhost) must be set",
    severity: Severity::Error,
    bsi: &[S21],
    pss: PssLevel::Restricted,
    min_level: Some(High),
    checks: &[Check::Pod(seccomp_required)],
    rationale: "Extended security policies restrict the system calls a container may make.",
    remediation: "Set `spec.securityContext.seccompProfile.type: RuntimeDefault` on the pod (or `Localhost` with a profile).",
};

pub(crate) const APPARMOR_UNCONFINED: Rule = Rule {
    id: RuleId::ApparmorUnconfined,
    title: "AppArmor must not be set to unconfined",
    severity: Severity::Error,
    bsi: &[S21, S17],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::SecurityContext(&APPARMOR)],
    rationale: "The runtime's AppArmor profile confines what a compromised process may do on the node.",
    remediation: "Remove `appArmorProfile.type: Unconfined` and the annotation `container.apparmor.security.beta.kubernetes.io/<container>: unconfined`; use `RuntimeDefault` or `Localhost`.",
};

pub(crate) const SELINUX_OPTIONS: Rule = Rule {
    id: RuleId::SelinuxOptions,
    title: "SELinux options must not set a custom user, role or privileged type",
    severity: Severity::Error,
    bsi: &[S21, S17],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::SecurityContext(&SELINUX)],
    rationale: "A custom SELinux user or role, or a type other than the container types, can lift the confinement of the container.",
    remediation: "Remove `seLinuxOptions.user` and `.role`; use a type of container_t, container_init_t, container_kvm_t or container_engine_t.",
};

pub(crate) const PROC_MOUNT: Rule = Rule {
    id: RuleId::ProcMount,
    title: "/proc must be mounted with the default mask",
    severity: Severity::Error,
    bsi: &[S17],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::SecurityContext(&PROC_MOUNT_FIELD)],
    rationale: "An unmasked /proc exposes kernel interfaces of the node.",
    remediation: "Remove `securityContext.procMount` or set it to `Default`.",
};

pub(crate) const UNSAFE_SYSCTLS: Rule = Rule {
    id: RuleId::UnsafeSysctls,
    title: "Pods may set only safe sysctls",
    severity: Severity::Error,
    bsi: &[S17, A4],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::Pod(unsafe_sysctls)],
    rationale: "Unsafe sysctls change kernel parameters shared with other pods on the node.",
    remediation: "Remove `spec.securityContext.sysctls` entries outside the safe set of the Pod Security Standards.",
};

pub(crate) const WINDOWS_HOST_PROCESS: Rule = Rule {
    id: RuleId::WindowsHostProcess,
    title: "Windows containers must not run as HostProcess",
    severity: Severity::Error,
    bsi: &[S17, A4],
    pss: PssLevel::Baseline,
    min_level: Some(Normal),
    checks: &[Check::SecurityContext(&WINDOWS_HOST_PROCESS_FIELD)],
    rationale: "A HostProcess container has administrator access to the Windows node.",
    remediation: "Remove `securityContext.windowsOptions.hostProcess: true`.",
};

pub(crate) const VOLUME_TYPES: Rule = Rule {
    id: RuleId::VolumeTypes,
    title: "Pods may use only declared, non-host volume types",
    severity: Severity::Error,
    bsi: &[S19],
    pss: PssLevel::Restricted,
    min_level: Some(Normal),
    checks: &[Check::Pod(volume_types)],
    rationale: "Persistent data belongs in PersistentVolumeClaims declared with the deployment; other volume types reach storage the platform does not manage.",
    remediation: "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and secret volumes.",
};

pub(crate) const RUN_AS_NON_ROOT: Rule = Rule {
    id: RuleId::RunAsNonRoot,
    title: "Containers must run as a non-root user",
    severity: Severity::Error,
    bsi: &[S17],
    pss: PssLevel::Restricted,
    min_level: Some(Normal),
    checks: &[Check::Pod(run_as_non_root)],
    rationale: "A process running as root inside a container is one kernel bug away from root on the node.",
    remediation: "Set `spec.securityContext.runAsNonRoot: true` (and a non-zero `runAsUser` if the image has no numeric USER).",
};

pub(crate) const RUN_AS_USER_ROOT: Rule = Rule {
    id: RuleId::RunAsUserRoot,
    title: "Containers must not set runAsUser 0",
    severity: Severity::Error,
    bsi: &[S17],
    pss: PssLevel::Restricted,
    min_level: Some(Normal),
    checks: &[Check::SecurityContext(&RUN_AS_USER)],
    rationale: "User id 0 is root.",
    remediation: "Set `runAsUser` to a non-zero id, or remove it and let the image's numeric USER apply.",
};

pub(crate) const ALLOW_PRIVILEGE_ESCALATION: Rule = Rule {
    id: RuleId::AllowPrivilegeEscalation,
    title: "Containers must forbid privilege escalation",
    severity: Severity::Error,
    bsi: &[S17],
    pss: PssLevel::Restricted,
    min_level: Some(Normal),
    checks: &[Check::SecurityContext(&NO_PRIVILEGE_ESCALATION)],
    rationale: "Without `allowPrivilegeEscalation: false`, setuid binaries can gain more privileges than the container started with.",
    remediation: "Set `securityContext.allowPrivilegeEscalation: false` on every container.",
};

pub(crate) const READ_ONLY_ROOT_FILESYSTEM: Rule = Rule {
    id: RuleId::ReadOnlyRootFilesystem,
    title: "Containers must use a read-only root file system",
    severity: Severity::Error,
    bsi: &[S23],
    pss: PssLevel::None,
    min_level: Some(High),
    checks: &[Check::SecurityContext(&READ_ONLY_ROOT)],
    rationale: "An immutable container cannot be altered persistently by an attacker; changes are lost on restart.",
    remediation: "Set `securityContext.readOnlyRootFilesystem: true`; mount an emptyDir where the application writes temporary files.",
};
