//! Reading samples out of a Prometheus text or OpenMetrics exposition.

/// The value of the first sample called `name`: an exact metric name, optionally with its
/// labels as exposed, e.g. `scrapegate_tls_handshake_failures_total{reason="timeout"}`. A
/// name without labels matches neither a longer name nor a labelled sample.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let rest = l.strip_prefix(name)?;
        if !name.ends_with('}') && !rest.starts_with(' ') {
            return None;
        }
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Every sample line of the metric family `family` (the name itself, or with `_total`,
/// `_bucket`, ... suffixes or labels), comments left out.
pub fn samples<'a>(text: &'a str, family: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(move |l| l.starts_with(family))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP a_total x\na_total 3\na_total_other 9\nb{reason=\"timeout\"} 2\nb{reason=\"x\"} 5\n";

    #[test]
    fn exact_names_and_labels() {
        assert_eq!(metric(TEXT, "a_total"), Some(3.0));
        assert_eq!(metric(TEXT, "a"), None);
        assert_eq!(metric(TEXT, "b"), None);
        assert_eq!(metric(TEXT, "b{reason=\"x\"}"), Some(5.0));
        assert_eq!(samples(TEXT, "b").count(), 2);
    }
}
