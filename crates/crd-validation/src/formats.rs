//! String formats as kube-openapi's `strfmt.Default` registry checks them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;

fn re(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

static HOSTNAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$",
    )
});
static UUID: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"));
static UUID3: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
});
static UUID4: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
});
static UUID5: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
});
static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    // net/mail.ParseAddress accepts a bare addr-spec or `Display Name <addr-spec>`.
    re(r#"^(?:[^<>@\s]+@[^<>@\s]+\.?[^<>@\s]*|[^<>]*<[^<>@\s]+@[^<>@\s]+>)$"#)
});
static URI: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*:[^\s]*|/[^\s]*)$"));
static DATE_TIME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|[+\-]\d{2}:?\d{2})?$",
    )
});
static DATE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"^(\d{4})-(\d{2})-(\d{2})$"));
static MAC: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"^(?:[0-9a-fA-F]{2}(?:[:\-][0-9a-fA-F]{2}){5}|[0-9a-fA-F]{2}(?:[:\-][0-9a-fA-F]{2}){7}|[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4}){2})$",
    )
});
static HEX_COLOR: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static RGB_COLOR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$",
    )
});
static SSN: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$"));
static BSON_OBJECT_ID: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"^[0-9a-fA-F]{24}$"));

fn matches(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(s))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

fn valid_date(caps: &regex::Captures<'_>) -> bool {
    let num = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    match (num(1), num(2), num(3)) {
        (Some(y), Some(m), Some(d)) => (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m),
        _ => false,
    }
}

fn is_date_time(s: &str) -> bool {
    let Some(caps) = DATE_TIME.as_ref().and_then(|r| r.captures(s)) else {
        return false;
    };
    let num = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    valid_date(&caps)
        && num(4).is_some_and(|h| h < 24)
        && num(5).is_some_and(|m| m < 60)
        && num(6).is_none_or(|sec| sec < 60)
}

fn is_date(s: &str) -> bool {
    DATE.as_ref()
        .and_then(|r| r.captures(s))
        .is_some_and(|c| valid_date(&c))
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(bits) = prefix.parse::<u32>() else {
        return false;
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => bits <= 32,
        Ok(IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

/// Go's `time.ParseDuration` plus strfmt's `d`/`w` units: `1h30m`, `1.5s`, `2d`.
pub(crate) fn parse_duration_nanos(s: &str) -> Option<i128> {
    let s = s.trim();
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            "w" => 604_800e9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    let nanos = total as i128;
    Some(if negative { -nanos } else { nanos })
}

/// Decodes standard base64 the way Go's `base64.StdEncoding` does.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// Whether `value` is valid for the (supported, normalised) format `format`.
/// Unknown formats are accepted, as kube-openapi skips formats it does not know.
pub(crate) fn validates(format: &str, value: &str) -> bool {
    match format.replace('-', "").to_ascii_lowercase().as_str() {
        "datetime" => is_date_time(value),
        "date" => is_date(value),
        "email" => matches(&EMAIL, value),
        "hostname" => value.len() <= 255 && matches(&HOSTNAME, value),
        "ipv4" => value.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => value.contains(':') && value.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(value),
        "uri" => matches(&URI, value),
        "uuid" => matches(&UUID, value),
        "uuid3" => matches(&UUID3, value),
        "uuid4" => matches(&UUID4, value),
        "uuid5" => matches(&UUID5, value),
        "byte" => decode_base64(value).is_some(),
        "duration" => parse_duration_nanos(value).is_some(),
        "mac" => matches(&MAC, value),
        "hexcolor" => matches(&HEX_COLOR, value),
        "rgbcolor" => matches(&RGB_COLOR, value),
        "ssn" => matches(&SSN, value),
        "bsonobjectid" => matches(&BSON_OBJECT_ID, value),
        // password, isbn*, creditcard and anything else: not checked here.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::validates;

    #[test]
    fn formats_accept_valid_and_reject_invalid_values() {
        let cases = [
            ("date-time", "2024-02-29T10:00:00Z", "2024-02-30T10:00:00Z"),
            ("date", "2023-12-31", "2023-13-01"),
            ("email", "a.b@example.org", "not-an-email"),
            ("hostname", "api.example.org", "-bad-.org"),
            ("ipv4", "10.0.0.1", "10.0.0.256"),
            ("ipv6", "fd00::1", "10.0.0.1"),
            ("cidr", "10.0.0.0/8", "10.0.0.0/33"),
            ("uri", "https://example.org/x", "not a uri"),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567"),
            ("byte", "aGVsbG8=", "not base64!"),
            ("duration", "1h30m", "soon"),
        ];
        for (format, good, bad) in cases {
            assert!(validates(format, good), "{format} should accept {good}");
            assert!(!validates(format, bad), "{format} should reject {bad}");
        }
    }
}
