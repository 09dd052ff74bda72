//! Go durations: `time.ParseDuration` for every flag and file value, and `Duration.String()`
//! for logs, so values read and print as they do in Prometheus's own tools.

use std::time::Duration;

/// Parses a duration string as Go's `time.ParseDuration` does; `None` where Go returns an
/// error. The result is in nanoseconds.
pub fn parse_go_duration(input: &str) -> Option<i64> {
    let mut s = input.as_bytes();
    let mut negative = false;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            negative = c == b'-';
            s = &s[1..];
        }
    }
    if s == b"0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return None;
        }
        let before = s.len();
        let (mut v, rest) = leading_int(s)?;
        s = rest;
        let pre = before != s.len();
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let before = s.len();
            let (f, sc, rest) = leading_fraction(s);
            fraction = f;
            scale = sc;
            s = rest;
            post = before != s.len();
        }
        if !pre && !post {
            return None;
        }
        let unit_len = s
            .iter()
            .position(|c| *c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return None;
        }
        let unit = unit_nanos(&s[..unit_len])?;
        s = &s[unit_len..];
        if v > LIMIT / unit {
            return None;
        }
        v *= unit;
        if fraction > 0 {
            v = v.checked_add((fraction as f64 * (unit as f64 / scale)) as u64)?;
            if v > LIMIT {
                return None;
            }
        }
        total = total.checked_add(v)?;
        if total > LIMIT {
            return None;
        }
    }
    if negative {
        return Some((total as i128).wrapping_neg() as i64);
    }
    if total > LIMIT - 1 {
        return None;
    }
    Some(total as i64)
}

fn unit_nanos(unit: &[u8]) -> Option<u64> {
    Some(match unit {
        b"ns" => 1,
        b"us" | b"\xC2\xB5s" | b"\xCE\xBCs" => 1_000,
        b"ms" => 1_000_000,
        b"s" => 1_000_000_000,
        b"m" => 60_000_000_000,
        b"h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// A duration flag or file value: Go's syntax, and neither negative nor beyond `max`. The
/// error names the value and the rule it broke.
pub fn parse_duration_value(input: &str, max: Duration) -> Result<Duration, String> {
    let nanos = parse_go_duration(input).ok_or_else(|| {
        format!("invalid duration {input:?} (Go syntax, e.g. 500ms, 10s, 5m, 1h30m)")
    })?;
    let nanos =
        u64::try_from(nanos).map_err(|_| format!("invalid duration {input:?}: negative"))?;
    let value = Duration::from_nanos(nanos);
    if value > max {
        return Err(format!(
            "invalid duration {input:?}: larger than the maximum of {}",
            format_go(max)
        ));
    }
    Ok(value)
}

/// Go's `Duration.String()`: `0s`, `1.5µs`, `500ms`, `30s`, `5m0s`, `1h0m0s`, `1m30.5s`.
pub fn format_go(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fixed(nanos / scale, nanos % scale, scale));
    }
    let secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let seconds = format!("{}s", fixed(s, frac, 1_000_000_000));
    match (h, m) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// `whole.fraction` with the fraction's trailing zeros removed (and no point when it is 0).
fn fixed(whole: u128, fraction: u128, scale: u128) -> String {
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Go's `leadingInt`: digits up to an overflow of 1<<63, which is an error.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > 1 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Go's `leadingFraction`: digits after the point; once the value would overflow, the remaining
/// digits are consumed but ignored.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let mut x: u64 = 0;
    let mut scale = 1.0;
    let mut overflow = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if !overflow {
            if x > (i64::MAX as u64) / 10 {
                overflow = true;
            } else {
                let y = x * 10 + u64::from(s[i] - b'0');
                if y > 1 << 63 {
                    overflow = true;
                } else {
                    x = y;
                    scale *= 10.0;
                }
            }
        }
        i += 1;
    }
    (x, scale, &s[i..])
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration as p;
    use super::{Duration, format_go, parse_duration_value};

    #[test]
    fn go_strings() {
        let f = |n: u64| format_go(Duration::from_nanos(n));
        assert_eq!(f(0), "0s");
        assert_eq!(f(1), "1ns");
        assert_eq!(f(1_500), "1.5µs");
        assert_eq!(f(500_000_000), "500ms");
        assert_eq!(f(30_000_000_000), "30s");
        assert_eq!(f(300_000_000_000), "5m0s");
        assert_eq!(f(3_600_000_000_000), "1h0m0s");
        assert_eq!(f(90_500_000_000), "1m30.5s");
    }

    #[test]
    fn flag_values() {
        let max = Duration::from_secs(3600);
        assert_eq!(
            parse_duration_value("30s", max),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(parse_duration_value("0s", max), Ok(Duration::ZERO));
        assert!(
            parse_duration_value("7", max)
                .unwrap_err()
                .contains("invalid duration \"7\"")
        );
        assert!(
            parse_duration_value("-1s", max)
                .unwrap_err()
                .contains("negative")
        );
        assert!(
            parse_duration_value("2h", max)
                .unwrap_err()
                .contains("maximum of 1h0m0s")
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(p("1s"), Some(1_000_000_000));
        assert_eq!(p("500ms"), Some(500_000_000));
        assert_eq!(p("1m30s"), Some(90_000_000_000));
        assert_eq!(p("-1s"), Some(-1_000_000_000));
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("0s"), Some(0));
        assert_eq!(p("1.5h"), Some(5_400_000_000_000));
        assert_eq!(p(".5s"), Some(500_000_000));
        assert_eq!(p("1µs"), Some(1_000));
        assert_eq!(p("1d"), None);
        assert_eq!(p("1"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("."), None);
        assert_eq!(p("-9223372036854775808ns"), Some(i64::MIN));
        assert_eq!(p("9223372036854775808ns"), None);
    }
}
