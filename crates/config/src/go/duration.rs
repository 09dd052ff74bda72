//! Go's `time.ParseDuration`.

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
