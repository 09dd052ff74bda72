//! Calendar dates of Unix times (UTC), for log timestamps and for the dates in warnings
//! (certificate expiry), without pulling a date-time crate into every binary.

/// The UTC calendar date (year, month 1–12, day 1–31) of a Unix time in seconds
/// (Howard Hinnant's days-to-civil algorithm; exact for any `i64` day count in range).
pub fn civil_date(unix_secs: i64) -> (i64, u32, u32) {
    let z = unix_secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are within 1..=31 and 1..=12 by construction.
    (year, month as u32, day as u32)
}

/// `YYYY-MM-DD` of a Unix time.
pub fn iso_date(unix_secs: i64) -> String {
    let (y, m, d) = civil_date(unix_secs);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::iso_date;

    #[test]
    fn dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(951_782_400), "2000-02-29");
        assert_eq!(iso_date(4_102_444_800), "2100-01-01");
        assert_eq!(iso_date(-1), "1969-12-31");
    }
}
