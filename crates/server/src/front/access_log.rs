//! The access log (`--log.access`): one line per request, written when its response has been
//! sent (or abandoned), in the process's log format under the target `scrapegate::access`.
//! It names the remote address, listener, method, path (never the query), route, status,
//! response bytes, duration, identity (`user`, `token` name, client-certificate `san`, or
//! `-`) and how authentication ended (`auth`). It never holds a password, token, digest,
//! Authorization header or query string.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request};
use scrapegate_model::duration::format_go;

use crate::gate::trace::{AuthResult, Trace};

/// One request's line, filled in as the request goes and written on drop.
pub(crate) struct AccessLine {
    started: Instant,
    remote: IpAddr,
    listener: &'static str,
    method: Method,
    path: String,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    route: Option<Arc<str>>,
    result: AuthResult,
    user: Option<String>,
    token: Option<String>,
    sans: Option<Arc<[String]>>,
}

impl AccessLine {
    /// Starts the line of `req`: the path without its query.
    pub(crate) fn start<B>(
        req: &Request<B>,
        remote: IpAddr,
        listener: &'static str,
        sans: Option<Arc<[String]>>,
    ) -> Self {
        Self {
            started: Instant::now(),
            remote,
            listener,
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            status: 0,
            bytes: 0,
            route: None,
            result: AuthResult::Ok,
            user: None,
            token: None,
            sans,
        }
    }

    /// Takes what the stages found out.
    pub(crate) fn record(&mut self, trace: Trace, status: u16) {
        self.status = status;
        self.route = trace.route;
        self.result = trace.result;
        self.user = trace.user;
        self.token = trace.token;
    }
}

impl Drop for AccessLine {
    fn drop(&mut self) {
        let dash = || "-".to_owned();
        let san = self
            .sans
            .as_deref()
            .filter(|s| !s.is_empty())
            .map_or_else(dash, |s| s.join(","));
        tracing::info!(
            target: "scrapegate::access",
            remote = %self.remote,
            listener = self.listener,
            method = %self.method,
            path = %self.path,
            route = self.route.as_deref().unwrap_or("-"),
            status = self.status,
            bytes = self.bytes,
            duration = %format_go(self.started.elapsed()),
            user = self.user.as_deref().unwrap_or("-"),
            token = self.token.as_deref().unwrap_or("-"),
            san = %san,
            auth = self.result.as_str(),
            "request"
        );
    }
}
