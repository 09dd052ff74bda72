//! The request-path state built from one web.yml: swapped whole on reload, loaded once per
//! request.

use http::header::{HeaderName, HeaderValue};
use scrapegate_config::ValidatedConfig;

use crate::ratelimit::RateLimiter;

/// Headers and limiter of one config generation. Users live in the authenticator, which keeps
/// its cache across reloads.
#[derive(Debug)]
pub struct Snapshot {
    /// The configured response headers, ready to insert.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The `rate_limit` bucket (rebuilt, full, on every applied reload).
    pub limiter: RateLimiter,
    /// 1 for the config loaded at startup, +1 per applied reload.
    pub generation: u64,
}

impl Snapshot {
    /// The state for running without any web.yml: no headers, no limit.
    pub fn empty() -> Self {
        Self {
            headers: Vec::new(),
            limiter: RateLimiter::new(Default::default()),
            generation: 1,
        }
    }

    /// Builds the state for `cfg`. The config crate has validated the header names and
    /// values already; one that still does not fit HTTP is an error here, not a panic.
    pub fn build(cfg: &ValidatedConfig, generation: u64) -> Result<Self, String> {
        let headers = cfg
            .headers
            .iter()
            .map(|(name, value)| {
                let n = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("HTTP header {name:?} is not a valid header name"))?;
                let v = HeaderValue::from_str(value).map_err(|_| {
                    format!("value of HTTP header {name:?} is not a valid header value")
                })?;
                Ok((n, v))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            headers,
            limiter: RateLimiter::new(cfg.rate_limit),
            generation,
        })
    }
}
