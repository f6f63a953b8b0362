//! Heuristics for credentials written literally into env values and ConfigMaps (SYS.1.6.A8). Pure.
//!
//! Hand-written matchers instead of regexes: they run on every env var of every container, and a miss
//! costs less than a false alarm that teaches people to ignore the rule. A name is credential-like when,
//! lower-cased and without `_`, `-` and `.`, it contains one of [`SECRET_WORDS`] and does not end in a word
//! that marks a reference rather than the secret itself (`_FILE`, `_PATH`, `_NAME`, ...).

/// Words whose presence in a name marks a credential.
const SECRET_WORDS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "credential",
    "accesskey",
    "connectionstring",
];

/// Suffixes that mark a reference to a credential (a file, a Secret's name) or a setting about it.
const REFERENCE_SUFFIXES: [&str; 14] = [
    "file", "path", "dir", "name", "ref", "key", "url", "endpoint", "ttl", "timeout", "length",
    "expiry", "enabled", "policy",
];

/// Whether a variable or key name looks like it holds a credential.
pub fn credential_like_name(name: &str) -> bool {
    // ASCII names up to this long (nearly all) are normalised on the stack: the check runs on every env
    // var and every line of every ConfigMap file, and an allocation per name was most of its cost.
    const STACK: usize = 128;
    let mut buf = [0u8; STACK];
    let mut len = 0;
    if name.len() <= STACK && name.is_ascii() {
        for b in name.bytes().filter(|b| !matches!(b, b'_' | b'-' | b'.')) {
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
        // ASCII in, ASCII out: always UTF-8.
        return std::str::from_utf8(&buf[..len]).is_ok_and(normalised_credential_like);
    }
    let norm: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    normalised_credential_like(&norm)
}

/// [`credential_like_name`] of a name already lower-cased and without `_`, `-` and `.`.
fn normalised_credential_like(norm: &str) -> bool {
    let norm = norm.as_bytes();
    // `apikey`/`privatekey`/`accesskey` end in "key" and must not be taken for references.
    let is_key_word = ["apikey", "privatekey", "accesskey"]
        .iter()
        .any(|w| norm.ends_with(w.as_bytes()));
    holds_any(norm, &SECRET_WORDS)
        && (is_key_word
            || !REFERENCE_SUFFIXES
                .iter()
                .any(|s| norm.ends_with(s.as_bytes())))
}

/// Whether `hay` (a short name) holds one of `words`: a comparison at every position, cheaper on names
/// than building a substring searcher per word.
fn holds_any(hay: &[u8], words: &[&str]) -> bool {
    (0..hay.len()).any(|i| words.iter().any(|w| hay[i..].starts_with(w.as_bytes())))
}

/// Whether a value is a placeholder, a reference or too trivial to be a credential.
fn placeholder(value: &str) -> bool {
    let v = value.trim();
    v.len() < 4
        || v.starts_with("$(")
        || v.starts_with("${")
        || v.starts_with("{{")
        || (v.starts_with('<') && v.ends_with('>'))
        || v.starts_with('/')
        || matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "changeme-in-secret" | "none" | "null"
        )
        || v.chars().all(|c| c.is_ascii_digit())
}

/// Credentials embedded in any value: a PEM private key or a URL with a password.
fn embedded_credential(value: &str) -> Option<&'static str> {
    if memchr::memmem::find(value.as_bytes(), b"PRIVATE KEY-----").is_some() {
        return Some("contains a PEM private key");
    }
    if url_with_password(value) {
        return Some("contains a URL with a password");
    }
    None
}

/// `scheme://user:password@host`, with a password that is not a placeholder.
fn url_with_password(value: &str) -> bool {
    let mut rest = value;
    while let Some(i) = rest.find("://") {
        let after = &rest[i + 3..];
        let authority_end = after
            .find(['/', '?', '#', ' ', '\n', '"', '\''])
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
            && !password.is_empty()
            && !placeholder(password)
        {
            return true;
        }
        rest = after;
    }
    false
}

/// Why an env var `name=value` is a literal credential, if it is one.
pub fn literal_credential(name: &str, value: &str) -> Option<String> {
    if let Some(why) = embedded_credential(value) {
        return Some(why.to_owned());
    }
    (credential_like_name(name) && !placeholder(value))
        .then(|| "a credential-like variable has a literal value".to_owned())
}

/// Why a ConfigMap entry `key: value` holds a credential, if it does: a credential-like key with a literal
/// value, or a line of an embedded config file that assigns one (`password = s3cret`, `token: abc`).
pub fn config_credential(key: &str, value: &str) -> Option<String> {
    if let Some(why) = embedded_credential(value) {
        return Some(why.to_owned());
    }
    if !value.contains('\n') {
        return (credential_like_name(key) && !placeholder(value))
            .then(|| "a credential-like key has a literal value".to_owned());
    }
    // The lines as `str::lines` gives them (a CR before the line break goes with the trimming), found by
    // a vectorised search: the embedded files of real ConfigMaps (dashboards, rules) run to megabytes.
    let mut start = 0;
    let breaks = memchr::memchr_iter(b'\n', value.as_bytes()).chain([value.len()]);
    for (i, end) in breaks.enumerate() {
        let line = &value[start..end];
        start = end + 1;
        let line = line.trim().trim_start_matches("export ");
        if line.starts_with('#') || line.starts_with("//") || line.starts_with(';') {
            continue;
        }
        let Some(sep) = memchr::memchr2(b':', b'=', line.as_bytes()) else {
            continue;
        };
        let k = line[..sep].trim();
        if k.is_empty() || k.contains(' ') || !credential_like_name(k) {
            continue;
        }
        let v = line[sep + 1..].trim().trim_matches(['"', '\'', ',']);
        if !v.is_empty() && !placeholder(v) {
            return Some(format!("line {} assigns a literal value to {k}", i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_like_names_are_recognised_and_references_are_not() {
        for n in [
            "DB_PASSWORD",
            "api-key",
            "ApiKey",
            "CLIENT_SECRET",
            "GITHUB_TOKEN",
            "aws.secret.access.key",
            "AWS_ACCESS_KEY",
        ] {
            assert!(credential_like_name(n), "{n}");
        }
        for n in [
            "PASSWORD_FILE",
            "TOKEN_PATH",
            "SECRET_NAME",
            "HOME",
            "PWD",
            "TOKEN_TTL",
            "USERNAME",
            "KEYCLOAK_URL",
        ] {
            assert!(!credential_like_name(n), "{n}");
        }
    }

    #[test]
    fn literal_values_are_findings_and_placeholders_are_not() {
        assert!(literal_credential("DB_PASSWORD", "hunter22").is_some());
        assert!(literal_credential("DB_PASSWORD", "$(DB_PASSWORD_FROM_SECRET)").is_none());
        assert!(literal_credential("DB_PASSWORD", "").is_none());
        assert!(literal_credential("DATABASE_URL", "postgres://app:s3cr3t@db:5432/app").is_some());
        assert!(literal_credential("DATABASE_URL", "postgres://app@db:5432/app").is_none());
        assert!(literal_credential("LOG_LEVEL", "debug").is_none());
    }

    #[test]
    fn config_files_inside_configmaps_are_scanned_line_by_line() {
        assert!(
            config_credential("app.properties", "url=jdbc:x\ndb.password=geheim123\n").is_some()
        );
        assert!(
            config_credential("app.properties", "url=jdbc:x\n# password=geheim123\n").is_none()
        );
        assert!(config_credential("app.yaml", "auth:\n  token: ${TOKEN}\n").is_none());
        assert!(config_credential("tls.key", "-----BEGIN RSA PRIVATE KEY-----\nabc").is_some());
        assert!(config_credential("smtp_password", "geheim123").is_some());
        assert!(config_credential("greeting", "hello").is_none());
    }

    #[test]
    fn embedded_files_with_crlf_line_breaks_name_the_line_of_the_assignment() {
        let file = "# settings\r\nurl=jdbc:x\r\n\r\nexport DB_PASSWORD=geheim123\r\n";
        assert_eq!(
            config_credential("app.env", file).as_deref(),
            Some("line 4 assigns a literal value to DB_PASSWORD")
        );
        assert!(config_credential("app.env", "a=b\r\nc=d\r\n").is_none());
    }

    #[test]
    fn names_that_are_not_ascii_are_recognised_like_ascii_ones() {
        assert!(credential_like_name("Kennwort_PASSWORD_ä"));
        assert!(credential_like_name("ÄPI-TOKEN"));
        assert!(!credential_like_name("ÄPI-TOKEN-FILE"));
        assert!(credential_like_name(&format!("{}_TOKEN", "X".repeat(200))));
    }
}
