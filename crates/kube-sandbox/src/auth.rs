//! Who a request is from. The sandbox has no credentials: every client is its administrator
//! (`sandbox-admin` in `system:masters`), who may act as anyone else with kube-apiserver's
//! impersonation headers (`kubectl --as u --as-group g`). Requests of an impersonated user are
//! authorized by RBAC (see `rbac`).

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::rbac::{self, Attributes};
use crate::status::ApiError;
use crate::store::State;

/// The user name of the sandbox's administrator (what `kubectl auth whoami` shows).
pub const ADMIN_USER: &str = "sandbox-admin";
/// The group whose members every authorizer of kube-apiserver allows everything.
pub const MASTERS: &str = "system:masters";
const AUTHENTICATED: &str = "system:authenticated";

/// `authentication.k8s.io/v1` UserInfo.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The administrator every client of the sandbox is.
    pub fn admin() -> Self {
        Self {
            username: ADMIN_USER.into(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            ..Self::default()
        }
    }

    /// In `system:masters`: allowed everything, RBAC escalation checks included.
    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }

    /// As `UserInfo` is serialized in reviews and admission requests.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.username, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }

    /// From a `SubjectAccessReview`'s spec (`user`, `groups`, `uid`, `extra`).
    pub fn from_review_spec(spec: &Value) -> Self {
        let strings = crate::rbac::strings;
        let extra = spec
            .get("extra")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), strings(Some(v))))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            username: spec
                .get("user")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            uid: spec.get("uid").and_then(Value::as_str).unwrap_or("").into(),
            groups: strings(spec.get("groups")),
            extra,
        }
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// Percent-decoding of `Impersonate-Extra-` keys (kube-apiserver unescapes them).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The user the request acts as: the administrator, or whom its `Impersonate-*` headers name,
/// when the administrator may impersonate them (RBAC verb `impersonate`, as kube-apiserver checks).
pub fn authenticate(st: &State, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let requester = UserInfo::admin();
    let user = header_values(headers, "impersonate-user");
    let groups = header_values(headers, "impersonate-group");
    let uid = header_values(headers, "impersonate-uid");
    let extra: Vec<(String, &str)> = headers
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix("impersonate-extra-")?;
            Some((unescape(key).to_lowercase(), v.to_str().ok()?))
        })
        .collect();
    let Some(username) = user.first().map(|u| u.to_string()) else {
        if groups.is_empty() && uid.is_empty() && extra.is_empty() {
            return Ok(requester);
        }
        return Err(ApiError::internal(
            "requested impersonation of groups, uid or extra without impersonating a user",
        ));
    };
    let mut checks: Vec<Attributes> = Vec::new();
    let mut impersonated_groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    match username
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, name)) => {
            checks.push(Attributes::resource(
                "impersonate",
                "",
                "serviceaccounts",
                "",
                ns,
                name,
            ));
            if groups.is_empty() {
                impersonated_groups = vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                ];
            }
        }
        None => checks.push(Attributes::resource(
            "impersonate",
            "",
            "users",
            "",
            "",
            &username,
        )),
    }
    for g in &groups {
        checks.push(Attributes::resource("impersonate", "", "groups", "", "", g));
    }
    for u in &uid {
        checks.push(Attributes::resource(
            "impersonate",
            "authentication.k8s.io",
            "uids",
            "",
            "",
            u,
        ));
    }
    let mut extras: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &extra {
        checks.push(Attributes::resource(
            "impersonate",
            "authentication.k8s.io",
            "userextras",
            k,
            "",
            v,
        ));
        extras.entry(k.clone()).or_default().push(v.to_string());
    }
    for a in &checks {
        let d = rbac::authorize(st, &requester, a);
        if !d.allowed {
            return Err(rbac::forbidden(&requester, a, &d.reason));
        }
    }
    if username != "system:anonymous" && !impersonated_groups.iter().any(|g| g == AUTHENTICATED) {
        impersonated_groups.push(AUTHENTICATED.into());
    }
    Ok(UserInfo {
        username,
        uid: uid.first().map(|u| u.to_string()).unwrap_or_default(),
        groups: impersonated_groups,
        extra: extras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_are_percent_decoded() {
        assert_eq!(unescape("example.com%2fscopes"), "example.com/scopes");
        assert_eq!(unescape("plain"), "plain");
    }
}
