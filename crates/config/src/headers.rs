//! The toolkit's `validateHeaderConfig` (spec §3.4): five allowed names, two with fixed values;
//! the accepted headers leave here as ready-to-send HTTP header values.

use scrapegate_model::bcrypt::go_quote_bytes;

use http::{HeaderName, HeaderValue};

use crate::ConfigError;

/// Allowed header names (exact case) and, for the enumerated ones, their values.
const ALLOWED: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The value as Go's `net/http` writes it: CR and LF become spaces, then surrounding spaces
/// and tabs are trimmed (a folded YAML scalar ends in a newline, for one).
fn as_go_sends(value: &str) -> String {
    value
        .replace(['\r', '\n'], " ")
        .trim_matches([' ', '\t'])
        .to_owned()
}

/// Checks the headers in file order (Go walks a map, so with several bad headers the one it
/// reports can vary; any of them is a valid Go outcome) and converts them to what Go sends. A
/// value Go accepts but HTTP cannot carry even then (a control character other than CR, LF or
/// tab) is refused here rather than at serve time.
pub fn validate_headers(
    headers: &[(String, String)],
) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let Some((_, values)) = ALLOWED.iter().find(|(n, _)| n == name) else {
            return Err(ConfigError::new(format!(
                "HTTP header {} can not be configured",
                go_quote_bytes(name.as_bytes())
            )));
        };
        if !values.is_empty() && !values.contains(&value.as_str()) {
            let list: Vec<String> = values
                .iter()
                .map(|v| go_quote_bytes(v.as_bytes()))
                .collect();
            return Err(ConfigError::new(format!(
                "invalid value for {name}. Expected one of: [{}], but got: {}",
                list.join(" "),
                go_quote_bytes(value.as_bytes())
            )));
        }
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::new(format!("HTTP header {name:?} is not a valid name")))?;
        let header_value = HeaderValue::from_str(&as_go_sends(value)).map_err(|_| {
            ConfigError::new(format!(
                "the value of HTTP header {name} is not a valid header value"
            ))
        })?;
        out.push((header_name, header_value));
    }
    Ok(out)
}
