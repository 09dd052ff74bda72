//! Request paths with their dot segments removed (RFC 3986 §5.2.4), before anything routes
//! or rewrites them: `/node/../bb/metrics` must not reach the node upstream as
//! `/../bb/metrics`, nor `/bb/../../etc/passwd` the blackbox upstream as a climb out of its
//! path. Percent-encoded dots (`%2e`, `%2E`) count as dots, as upstreams decode them; a path
//! that climbs above `/` is refused (400). The query string is never touched.

use std::borrow::Cow;

/// The path climbs above `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClimbsAboveRoot;

/// `path` without `.` and `..` segments; borrowed unchanged when it has none (the common
/// case costs one scan and no allocation).
pub fn normalise(path: &str) -> Result<Cow<'_, str>, ClimbsAboveRoot> {
    if !path.starts_with('/') || !path.split('/').any(is_dot_segment) {
        return Ok(Cow::Borrowed(path));
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = path[1..].split('/').peekable();
    let mut ends_in_directory = false;
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match dots(segment) {
            Some(1) => ends_in_directory = last,
            Some(_) => {
                kept.pop().ok_or(ClimbsAboveRoot)?;
                ends_in_directory = last;
            }
            None => kept.push(segment),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if ends_in_directory || out.is_empty() {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

fn is_dot_segment(segment: &str) -> bool {
    dots(segment).is_some()
}

/// 1 for `.`, 2 for `..` (either dot may be written `%2e` or `%2E`), `None` otherwise.
fn dots(segment: &str) -> Option<usize> {
    let mut rest = segment;
    let mut count = 0;
    while !rest.is_empty() {
        rest = if let Some(r) = rest.strip_prefix('.') {
            r
        } else if rest
            .as_bytes()
            .get(..3)
            .is_some_and(|b| b.eq_ignore_ascii_case(b"%2e"))
        {
            // Compared as bytes: the segment may hold a multi-byte character across byte 3
            // (http accepts UTF-8 in paths), where a `str` slice would panic.
            &rest[3..]
        } else {
            return None;
        };
        count += 1;
    }
    (1..=2).contains(&count).then_some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(path: &str) -> Result<String, ClimbsAboveRoot> {
        normalise(path).map(Cow::into_owned)
    }

    #[test]
    fn ordinary_paths_are_borrowed_unchanged() {
        for path in [
            "/",
            "/metrics",
            "/node/metrics",
            "/a.b/c..d/.e",
            "/x/...",
            "*",
        ] {
            assert!(
                matches!(normalise(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(n("/node/./metrics").unwrap(), "/node/metrics");
        assert_eq!(n("/node/../bb/metrics").unwrap(), "/bb/metrics");
        assert_eq!(n("/node/%2e%2e/bb/metrics").unwrap(), "/bb/metrics");
        assert_eq!(n("/node/.%2E/bb").unwrap(), "/bb");
        assert_eq!(n("/node/%2E/x").unwrap(), "/node/x");
        assert_eq!(n("/node/x/..").unwrap(), "/node/");
        assert_eq!(n("/node/.").unwrap(), "/node/");
        assert_eq!(n("/node/..").unwrap(), "/");
        assert_eq!(n("/..a/b").unwrap(), "/..a/b");
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        for path in [
            "/..",
            "/../etc/passwd",
            "/bb/../../etc/passwd",
            "/%2e%2e/x",
            "/a/%2E%2E/..",
        ] {
            assert_eq!(n(path), Err(ClimbsAboveRoot), "{path}");
        }
    }

    #[test]
    fn multi_byte_characters_in_segments_are_kept() {
        for path in ["/a€", "/.a€/x", "/%2€", "/é/€€"] {
            assert!(
                matches!(normalise(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
        assert_eq!(n("/a€/../b").unwrap(), "/b");
        assert_eq!(n("/x/./.a€").unwrap(), "/x/.a€");
    }
}
