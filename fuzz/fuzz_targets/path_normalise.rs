//! Request-path normalisation (`crates/server/src/path.rs`) on arbitrary input, called
//! directly: `normalise` on the input as a `str` (when it is UTF-8), then, when the input
//! parses as a request target, the front end's `with_normalised_path` on a request with that
//! URI.
//!
//! Checks: no panic; a path not starting with `/` comes back unchanged; for one that does,
//! the output starts with `/`, has no `.` or `..` segment (dots possibly written `%2e` /
//! `%2E`), is no longer than the input, and normalises to itself, borrowed (idempotent); a
//! path is refused only if it has a `..` segment; the request keeps its scheme, authority
//! and query as sent, gets the normalised path, and is never refused when its path is not.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use scrapegate_server::fuzzing::{normalise, with_normalised_path};
use scrapegate_server::http::{Request, Uri};

/// A dot segment, written independently of `path.rs` as the finite list it is: one or two
/// dots, each `.` or `%2e` in any case.
fn is_dot_segment(segment: &str) -> bool {
    matches!(
        segment.to_ascii_lowercase().as_str(),
        "." | "%2e" | ".." | ".%2e" | "%2e." | "%2e%2e"
    )
}

fn has_dot_dot(path: &str) -> bool {
    path.split('/').any(|s| {
        matches!(
            s.to_ascii_lowercase().as_str(),
            ".." | ".%2e" | "%2e." | "%2e%2e"
        )
    })
}

fn check_path(path: &str) {
    match normalise(path) {
        Ok(out) => {
            if !path.starts_with('/') {
                assert_eq!(&*out, path, "a path without a leading / changed");
                return;
            }
            if let Cow::Borrowed(b) = out {
                assert_eq!(b, path, "borrowed output differs from the input");
            }
            assert!(
                out.starts_with('/'),
                "{path:?} -> {out:?} lost the leading /"
            );
            assert!(
                !out.split('/').any(is_dot_segment),
                "{path:?} -> {out:?} still has a dot segment"
            );
            assert!(out.len() <= path.len(), "{path:?} -> {out:?} grew");
            match normalise(&out) {
                Ok(Cow::Borrowed(again)) => assert_eq!(again, &*out),
                other => panic!("{path:?} -> {out:?} -> {other:?}: not idempotent"),
            }
        }
        Err(_) => assert!(
            path.starts_with('/') && has_dot_dot(path),
            "{path:?} refused without a .. segment"
        ),
    }
}

fuzz_target!(|input: &[u8]| {
    if let Ok(path) = std::str::from_utf8(input) {
        check_path(path);
    }
    let Ok(uri) = Uri::try_from(input) else {
        return;
    };
    let expected = normalise(uri.path()).map(Cow::into_owned);
    let req = Request::builder().uri(uri.clone()).body(()).unwrap();
    match (with_normalised_path(req), expected) {
        (Ok(req), Ok(path)) => {
            let got = req.uri();
            assert_eq!(got.path(), path, "{uri}");
            assert_eq!(got.query(), uri.query(), "{uri}: query changed");
            assert_eq!(got.scheme(), uri.scheme(), "{uri}");
            assert_eq!(got.authority(), uri.authority(), "{uri}");
        }
        (Err(_), Err(_)) => {}
        (got, expected) => panic!(
            "{uri}: request {:?}, path {expected:?}",
            got.map(|r| r.uri().clone())
        ),
    }
});
