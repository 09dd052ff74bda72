//! yaml.v2's scalar resolution (`resolve.go`): YAML 1.1 booleans and nulls, Go integer syntax,
//! floats and timestamps. Only plain, untagged scalars are resolved; quoted ones are strings.

use crate::ConfigError;

/// The standard tag prefix.
pub const TAG_PREFIX: &str = "tag:yaml.org,2002:";
pub const STR_TAG: &str = "tag:yaml.org,2002:str";
pub const NULL_TAG: &str = "tag:yaml.org,2002:null";
pub const BOOL_TAG: &str = "tag:yaml.org,2002:bool";
pub const INT_TAG: &str = "tag:yaml.org,2002:int";
pub const FLOAT_TAG: &str = "tag:yaml.org,2002:float";
pub const TIMESTAMP_TAG: &str = "tag:yaml.org,2002:timestamp";
pub const MERGE_TAG: &str = "tag:yaml.org,2002:merge";
pub const SEQ_TAG: &str = "tag:yaml.org,2002:seq";
pub const MAP_TAG: &str = "tag:yaml.org,2002:map";

/// A resolved scalar value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Fits Go's `int64` (or `uint64`: kept in an `i128`).
    Int(i128),
    Float(f64),
    /// A string (`!!str`, `!!timestamp` or any unresolvable tag): decoders use the original text.
    Str,
    /// A `!!timestamp` (only its tag matters here).
    Timestamp,
    /// The `<<` merge key.
    Merge,
}

/// yaml.v2's `shortTag`: `tag:yaml.org,2002:x` → `!!x`.
pub fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(TAG_PREFIX) {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_owned(),
    }
}

/// yaml.v2's `resolve(tag, in)`: returns the resolved tag and value. `tag` is `""` for a plain
/// untagged scalar. An explicit tag that does not fit the text is a fatal yaml.v2 error.
pub fn resolve(tag: &str, input: &str) -> Result<(String, Value), ConfigError> {
    let resolvable = matches!(
        tag,
        "" | STR_TAG | BOOL_TAG | NULL_TAG | INT_TAG | FLOAT_TAG | TIMESTAMP_TAG
    );
    if !resolvable {
        return Ok((tag.to_owned(), Value::Str));
    }
    let (rtag, value) = resolve_untagged(tag, input);
    match tag {
        "" | STR_TAG => Ok((rtag.to_owned(), value)),
        t if t == rtag => Ok((rtag.to_owned(), value)),
        FLOAT_TAG if rtag == INT_TAG => match value {
            Value::Int(i) => Ok((FLOAT_TAG.to_owned(), Value::Float(i as f64))),
            other => Ok((rtag.to_owned(), other)),
        },
        _ => Err(ConfigError::new(format!(
            "yaml: cannot decode {} `{}` as a {}",
            short_tag(rtag),
            input,
            short_tag(tag)
        ))),
    }
}

fn resolve_untagged(tag: &str, input: &str) -> (&'static str, Value) {
    if tag == STR_TAG {
        return (STR_TAG, Value::Str);
    }
    if let Some(found) = lookup(input) {
        return found;
    }
    let first = input.as_bytes().first().copied();
    match first {
        Some(b'.') => {
            if let Some(f) = go_parse_float(input) {
                return (FLOAT_TAG, Value::Float(f));
            }
        }
        Some(b'0'..=b'9' | b'+' | b'-') => {
            if (tag.is_empty() || tag == TIMESTAMP_TAG) && is_timestamp(input) {
                return (TIMESTAMP_TAG, Value::Timestamp);
            }
            let plain: String = input.chars().filter(|c| *c != '_').collect();
            if let Some(i) = go_parse_int(&plain) {
                return (INT_TAG, Value::Int(i));
            }
            if is_yaml_style_float(&plain) {
                if let Some(f) = go_parse_float(&plain) {
                    return (FLOAT_TAG, Value::Float(f));
                }
            }
            let (negative, digits) = match plain.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, plain.as_str()),
            };
            if let Some(bin) = digits.strip_prefix("0b") {
                if let Some(v) = parse_radix_u64(bin, 2) {
                    let v = i128::from(v);
                    let v = if negative { -v } else { v };
                    if (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&v) {
                        return (INT_TAG, Value::Int(v));
                    }
                }
            }
        }
        _ => {}
    }
    (STR_TAG, Value::Str)
}

/// yaml.v2's `resolveMap`: the YAML 1.1 booleans, the nulls, the special floats and `<<`.
fn lookup(input: &str) -> Option<(&'static str, Value)> {
    Some(match input {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            (BOOL_TAG, Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            (BOOL_TAG, Value::Bool(false))
        }
        "" | "~" | "null" | "Null" | "NULL" => (NULL_TAG, Value::Null),
        ".nan" | ".NaN" | ".NAN" => (FLOAT_TAG, Value::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            (FLOAT_TAG, Value::Float(f64::INFINITY))
        }
        "-.inf" | "-.Inf" | "-.INF" => (FLOAT_TAG, Value::Float(f64::NEG_INFINITY)),
        "<<" => (MERGE_TAG, Value::Merge),
        _ => return None,
    })
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i128> {
    let (negative, unsigned, body) = match s.as_bytes().first() {
        Some(b'-') => (true, false, &s[1..]),
        Some(b'+') => (false, false, &s[1..]),
        _ => (false, true, s),
    };
    let (radix, digits) =
        if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, r)
        } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, r)
        } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, r)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    let magnitude = i128::from(parse_radix_u64(digits, radix)?);
    let _ = unsigned;
    if negative {
        let v = -magnitude;
        (v >= i128::from(i64::MIN)).then_some(v)
    } else if magnitude <= i128::from(i64::MAX) {
        Some(magnitude)
    } else {
        // ParseUint accepts no sign.
        (s.as_bytes().first() != Some(&b'+')).then_some(magnitude)
    }
}

fn parse_radix_u64(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms YAML produces; out-of-range values
/// are an error in Go, so they are refused here too.
fn go_parse_float(s: &str) -> Option<f64> {
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

/// yaml.v2's `parseTimestamp`: `YYYY-M-D`, optionally followed by a time. The date must be
/// valid; the time part is checked for its shape only.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let year_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if year_len != 4 || b.get(4) != Some(&b'-') {
        return false;
    }
    let rest = &s[5..];
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut parts = date.split('-');
    let (Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let num = |p: &str| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit());
    if !num(m) || !num(d) {
        return false;
    }
    let (m, d): (u32, u32) = (m.parse().unwrap_or(0), d.parse().unwrap_or(0));
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return false;
    }
    match time {
        None => true,
        Some(t) => {
            let hms: Vec<&str> = t.splitn(3, ':').collect();
            hms.len() == 3
                && num(hms[0])
                && num(hms[1])
                && hms[2].len() >= 2
                && hms[2].as_bytes()[0].is_ascii_digit()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_scalars() {
        assert_eq!(resolve("", "yes").unwrap().1, Value::Bool(true));
        assert_eq!(resolve("", "Off").unwrap().1, Value::Bool(false));
        assert_eq!(resolve("", "~").unwrap().1, Value::Null);
        assert_eq!(resolve("", "0x1F").unwrap().1, Value::Int(31));
        assert_eq!(resolve("", "010").unwrap().1, Value::Int(8));
        assert_eq!(resolve("", "1_000").unwrap().1, Value::Int(1000));
        assert_eq!(resolve("", "1.5").unwrap().1, Value::Float(1.5));
        assert_eq!(resolve("", "1e3").unwrap().1, Value::Float(1000.0));
        assert_eq!(resolve("", "2001-12-14").unwrap().1, Value::Timestamp);
        assert_eq!(resolve("", "1d").unwrap().1, Value::Str);
        assert_eq!(resolve("", "-0b11").unwrap().1, Value::Int(-3));
        assert_eq!(
            resolve("", "18446744073709551615").unwrap().1,
            Value::Int(i128::from(u64::MAX))
        );
        assert_eq!(
            resolve("", "99999999999999999999").unwrap().1,
            Value::Float(1e20)
        );
        assert!(resolve(INT_TAG, "abc").is_err());
    }
}
