//! Go formatting helpers, so messages read byte-for-byte like kube-apiserver's
//! (`%q`, `%v` of a float64, `json.Marshal`).

use serde_json::Value;

/// Go's `strconv.Quote`: double quotes, backslash escapes, printable Unicode kept.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Splits Rust's shortest scientific rendering (`1.5e6`) into mantissa and exponent.
fn sci_parts(f: f64) -> (String, i32) {
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse().unwrap_or(0)),
        None => (s, 0),
    }
}

/// Go's exponent suffix: sign always, at least two digits (`e+06`, `e-07`).
fn go_exp(e: i32, min_digits: usize) -> String {
    let sign = if e < 0 { '-' } else { '+' };
    format!("e{sign}{:0width$}", e.abs(), width = min_digits)
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): `10`, `2.5`, `1e+06`.
pub(crate) fn float_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (mantissa, exp) = sci_parts(f);
    // %g with the shortest precision switches to exponent form at 1e+06 and below 1e-04.
    if !(-4..6).contains(&exp) {
        format!("{mantissa}{}", go_exp(exp, 2))
    } else {
        format!("{f}")
    }
}

/// Go's `encoding/json` rendering of a float64.
fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (mantissa, exp) = sci_parts(f);
        format!("{mantissa}{}", go_exp(exp, 1))
    } else {
        format!("{f}")
    }
}

/// Renders a JSON number the way a Go `interface{}` decoded from JSON prints with `%v`
/// (int64 for integers, float64 otherwise).
pub(crate) fn number_v(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        float_v(n.as_f64().unwrap_or(0.0))
    }
}

/// Go's `json.Marshal` of an unstructured value: sorted keys, HTML-safe escaping.
pub(crate) fn json_marshal(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go escapes HTML-significant characters and the JS line separators.
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                out.push_str(&json_float(n.as_f64().unwrap_or(0.0)));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                if let Some(val) = map.get(k) {
                    write_json(val, out);
                }
            }
            out.push('}');
        }
    }
}

/// How apimachinery's `field.Error.ErrorBody()` prints a bad value: strings quoted,
/// numbers and booleans bare, everything else as JSON.
pub(crate) fn bad_value(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_v(n),
        other => json_marshal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_go_percent_v() {
        assert_eq!(float_v(10.0), "10");
        assert_eq!(float_v(2.5), "2.5");
        assert_eq!(float_v(1_000_000.0), "1e+06");
        assert_eq!(float_v(123_456.0), "123456");
        assert_eq!(float_v(0.00001), "1e-05");
        assert_eq!(float_v(0.0001), "0.0001");
    }

    #[test]
    fn json_marshal_sorts_keys_and_escapes_html() {
        assert_eq!(
            json_marshal(&json!({"b": 1, "a": "<x>"})),
            r#"{"a":"\u003cx\u003e","b":1}"#
        );
        assert_eq!(json_marshal(&json!([1.5, null, true])), "[1.5,null,true]");
    }

    #[test]
    fn strings_are_quoted_like_strconv_quote() {
        assert_eq!(quote("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(quote("grün"), "\"grün\"");
    }
}
