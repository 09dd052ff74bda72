//! Stage 4: the configured response headers (web.yml `http_server_config.headers`). Go sets
//! them before auth and the app run, so every response carries them except the two Go writes
//! on its own (its rate limiter's 429 and a 500), and the configured value replaces any other.

use http::{Response, StatusCode};

use crate::body::GateBody;
use crate::generation::Generation;

/// Adds the generation's headers to `response` (not to a 429 or a 500).
pub(super) fn apply(
    generation: &Generation,
    mut response: Response<GateBody>,
) -> Response<GateBody> {
    let status = response.status();
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::INTERNAL_SERVER_ERROR {
        let headers = response.headers_mut();
        for (name, value) in &generation.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
    response
}
