//! The connection pool of a route whose upstream is not plain TCP (TLS, a unix socket, or
//! both): one keep-alive client per route, built when its generation is prepared and kept by
//! the next generation while the route's transport is unchanged, so a reload that does not
//! touch it costs no handshake. Plain-TCP routes share [`super::Upstream`]'s client instead.

use std::sync::Arc;

use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use scrapegate_model::{UpstreamTransport, UpstreamUrl};
use scrapegate_tls::TlsError;

use super::connect::Connector;
use super::{UPSTREAM_READ_BUF, UpstreamOptions};
use crate::body::GateBody;
use crate::telemetry::Metrics;

/// One route's own pool.
pub struct RoutePool {
    client: Client<Connector, GateBody>,
    /// What it was built for, to tell whether the next generation may keep it.
    url: UpstreamUrl,
    transport: UpstreamTransport,
}

impl std::fmt::Debug for RoutePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutePool")
            .field("url", &self.url.authority)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl RoutePool {
    /// Builds the pool of `route` (its label) for `url` over `transport`; TLS warnings go to
    /// `warnings`.
    pub(crate) fn build(
        route: &Arc<str>,
        url: &UpstreamUrl,
        transport: &UpstreamTransport,
        opts: &UpstreamOptions,
        metrics: &Metrics,
        warnings: &mut Vec<String>,
    ) -> Result<Self, TlsError> {
        let tls = transport
            .tls
            .as_ref()
            .map(|tls| scrapegate_tls::upstream_client_tls(tls, url.host(), route, warnings))
            .transpose()?;
        let handshakes = metrics
            .upstream_tls_handshakes
            .get_or_create(&[("route", Arc::clone(route))])
            .clone();
        let connector = Connector::new(
            transport.unix_socket.as_deref(),
            tls,
            opts.connect_timeout,
            Arc::clone(route),
            handshakes,
        );
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(opts.pool_idle_timeout)
            .pool_max_idle_per_host(opts.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .http1_max_buf_size(UPSTREAM_READ_BUF)
            .build(connector);
        Ok(Self {
            client,
            url: url.clone(),
            transport: transport.clone(),
        })
    }

    /// True when this pool serves `url` over `transport` as built.
    pub(crate) fn serves(&self, url: &UpstreamUrl, transport: &UpstreamTransport) -> bool {
        self.url == *url && self.transport == *transport
    }

    pub(crate) fn request(&self, req: http::Request<GateBody>) -> ResponseFuture {
        self.client.request(req)
    }
}
