//! `routes`: the prefix (starts with `/`, normalised, unique; a trailing `/` is dropped as
//! `--route` drops it), the upstream (an absolute `http://` or `https://` URL with a host, as
//! [`UpstreamUrl::parse`] reads `--route` too) and its transport ([`super::transport`]), the
//! `allow` rule
//! (no list present but empty, no duplicates, standard upper-case methods, tokens that
//! `bearer_tokens` defines) and the `anonymous` paths (normalised, under the route's prefix
//! and not taken by a longer prefix, so each can match). `coalesce` is a plain boolean, typed by
//! serde (a wrong type is refused with its line).

use std::str::FromStr;

use http::Method;
use http::uri::PathAndQuery;
use std::path::Path;

use scrapegate_model::{Allow, BearerToken, RouteRule, UpstreamUrl};

use super::raw::{RawAllow, RawRoute};
use super::{At, Problem, transport};

/// The methods `allow.methods` accepts, as HTTP writes them.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
];

/// Validates every route in file order; the first problem wins.
pub(super) fn validate(
    raw: &[RawRoute],
    tokens: &[BearerToken],
    dir: &Path,
) -> Result<Vec<RouteRule>, Problem> {
    let mut routes: Vec<RouteRule> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let at = At::Route(i, &entry.prefix);
        let prefix = prefix(&entry.prefix).map_err(|e| Problem::field(at, "prefix", e))?;
        if let Some(j) = routes.iter().position(|r| r.prefix == prefix) {
            return Err(Problem::field(
                at,
                "prefix",
                format_args!(
                    "{prefix} is given twice (also {})",
                    At::Route(j, &raw[j].prefix)
                ),
            ));
        }
        let upstream =
            UpstreamUrl::parse(&entry.upstream).map_err(|e| Problem::field(at, "upstream", e))?;
        let transport = transport::validate(entry, &upstream, dir, at)?;
        let allow = match &entry.allow {
            None => None,
            Some(allow) => Some(self::allow(allow.as_ref(), tokens, at)?),
        };
        routes.push(RouteRule {
            prefix,
            upstream,
            transport,
            allow,
            anonymous: Vec::new(),
            coalesce: entry.coalesce,
        });
    }
    // Anonymous paths last: whether a longer prefix takes one needs every prefix.
    for (i, entry) in raw.iter().enumerate() {
        let at = At::Route(i, &entry.prefix);
        let anonymous = anonymous(
            entry.anonymous.as_deref().unwrap_or_default(),
            i,
            &routes,
            raw,
        )
        .map_err(|e| Problem::field(at, "anonymous", e))?;
        routes[i].anonymous = anonymous;
    }
    Ok(routes)
}

/// A normalised prefix without its trailing `/` (`/` stays `/`).
fn prefix(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err("must start with '/'".to_owned());
    }
    let trimmed = match text.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    if let Some(problem) = path_problem(trimmed) {
        return Err(format!("{text} {problem}"));
    }
    Ok(trimmed.to_owned())
}

/// Why a path could never equal a normalised request path, if it could not.
fn path_problem(path: &str) -> Option<&'static str> {
    if path.contains('?') {
        return Some("has a query ('?'); give the path only");
    }
    if path.contains('#') {
        return Some("has a fragment ('#')");
    }
    if path.contains("//") {
        return Some("is not normalised (it has '//')");
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Some("is not normalised (it has a '.' or '..' segment)");
    }
    if path.to_ascii_lowercase().contains("%2e") {
        return Some("is not normalised (it has a percent-encoded dot, %2e)");
    }
    if PathAndQuery::from_str(path).is_err() {
        return Some("has characters a request path cannot carry (percent-encode them)");
    }
    None
}

/// A route's `allow`: present means some list or `methods` is given, and no list is empty.
fn allow(raw: Option<&RawAllow>, tokens: &[BearerToken], at: At<'_>) -> Result<Allow, Problem> {
    let empty = || {
        Problem::entry(
            at,
            "allow is present but empty (leave it out to admit anyone web.yml authenticates)",
        )
    };
    let Some(raw) = raw else {
        return Err(empty());
    };
    if raw.users.is_none()
        && raw.tokens.is_none()
        && raw.client_sans.is_none()
        && raw.methods.is_none()
    {
        return Err(empty());
    }
    let users = list(&raw.users, "allow.users", at)?;
    let allowed_tokens = list(&raw.tokens, "allow.tokens", at)?;
    let client_sans = list(&raw.client_sans, "allow.client_sans", at)?;
    let methods = list(&raw.methods, "allow.methods", at)?;
    for name in allowed_tokens.iter().flatten() {
        if !tokens.iter().any(|t| t.name == *name) {
            return Err(Problem::field(
                at,
                "allow.tokens",
                format_args!("{name:?} is not a name in bearer_tokens"),
            ));
        }
    }
    let methods = match methods {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|m| method(m).map_err(|e| Problem::field(at, "allow.methods", e)))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(Allow {
        users,
        tokens: allowed_tokens,
        client_sans,
        methods,
    })
}

/// One `allow` list: absent is `None`; present must be non-empty, without empty or
/// repeated entries.
fn list(
    raw: &Option<Option<Vec<String>>>,
    field: &str,
    at: At<'_>,
) -> Result<Option<Vec<String>>, Problem> {
    let Some(present) = raw else {
        return Ok(None);
    };
    let entries = present.as_deref().unwrap_or_default();
    if entries.is_empty() {
        return Err(Problem::field(
            at,
            field,
            "present but empty (an empty list admits no one; leave it out instead)",
        ));
    }
    for (k, entry) in entries.iter().enumerate() {
        if entry.is_empty() {
            return Err(Problem::field(at, field, "an entry is empty"));
        }
        if entries[..k].contains(entry) {
            return Err(Problem::field(
                at,
                field,
                format_args!("{entry:?} is listed twice"),
            ));
        }
    }
    Ok(Some(entries.to_vec()))
}

/// A standard method, written in upper case.
fn method(name: &str) -> Result<Method, String> {
    if METHODS.contains(&name) {
        return Method::from_bytes(name.as_bytes()).map_err(|e| e.to_string());
    }
    let upper = name.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        return Err(format!(
            "{name:?} is not an HTTP method: methods are upper case ({upper})"
        ));
    }
    Err(format!(
        "{name:?} is not a standard HTTP method (one of {})",
        METHODS.join(", ")
    ))
}

/// A route's anonymous paths: each normalised, unique, under the route's prefix and not
/// under a longer prefix of another route (which would take the request).
fn anonymous(
    raw: &[String],
    own: usize,
    routes: &[RouteRule],
    raw_routes: &[RawRoute],
) -> Result<Vec<String>, String> {
    let prefix = &routes[own].prefix;
    for (k, path) in raw.iter().enumerate() {
        if raw[..k].contains(path) {
            return Err(format!("{path:?} is listed twice"));
        }
        if let Some(problem) = path_problem(path) {
            return Err(format!("{path:?} {problem}"));
        }
        if !under(path, prefix) {
            return Err(format!(
                "{path:?} does not start with the route's prefix {prefix}, so it could never match"
            ));
        }
        let taken = routes
            .iter()
            .enumerate()
            .filter(|(j, r)| *j != own && r.prefix.len() > prefix.len() && under(path, &r.prefix))
            .max_by_key(|(_, r)| r.prefix.len());
        if let Some((j, _)) = taken {
            return Err(format!(
                "{path:?} is routed to {} (a longer prefix), so it could never match here",
                At::Route(j, &raw_routes[j].prefix)
            ));
        }
    }
    Ok(raw.to_vec())
}

/// `path` is `prefix` or below it on a segment boundary (the `--route` matching rule).
fn under(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return path.starts_with('/');
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_boundary() {
        assert!(under("/node", "/node"));
        assert!(under("/node/x", "/node"));
        assert!(!under("/nodes", "/node"));
        assert!(under("/x", "/"));
    }
}
