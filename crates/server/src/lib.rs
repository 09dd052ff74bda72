//! scrapegate-server: everything between a socket and the exporter.
//!
//! * `front/` — the front end: listeners ([`listener`]), connection budgets per listener and
//!   per source, TLS handshakes, HTTP/1 and HTTP/2, the connection clock (header, idle and
//!   drain deadlines), parking of idle HTTP/1 connections, HTTP/2 write coalescing, request
//!   paths without dot segments, the access log;
//! * `apps/` — one app per listener kind: the proxy (gate, then route and forward), the
//!   telemetry endpoints (gate, then `/metrics`, `/-/healthy`, `/-/ready`) and the health
//!   probes (no gate);
//! * `gate/` — the stages every gated request passes, one file each, listed once: methods
//!   (CONNECT, TRACE), the global `rate_limit` bucket, authentication (basic, bearer,
//!   anonymous paths), the route's `allow` rule, then the app, then the configured headers;
//! * routing ([`Routes`]) and the pooled, streaming upstream client, whose requests leave at
//!   the end of the scheduler's turn (`upstream/deferred_write.rs`);
//! * generations: reload as prepare → commit ([`Gateway::apply`]), and the reload loop that
//!   turns watcher events into applied generations, logged and counted ([`reload`]);
//! * the gateway's own metrics, and panic containment ([`panics`]).
//!
//! It validates nothing itself: configs arrive validated from `scrapegate-config`, TLS plans
//! and state come from `scrapegate-tls`, credential checks from `scrapegate-auth`.
//!
//! The `rate_limit` bucket is **global**: one per gateway, shared by every gated listener
//! (the telemetry listener included; the health listener stays outside the gate), client,
//! user and path.

mod apps;
mod body;
mod front;
mod gate;
mod gateway;
mod generation;
mod options;
pub mod panics;
mod path;
mod ratelimit;
pub mod reload;
mod routes;
mod telemetry;
mod turn;
mod upstream;

pub use body::GateBody;
pub use front::listener;
pub use gateway::{Gateway, GatewayError};
pub use generation::{ReloadError, ReloadReport};
/// The `http` crate, whose types [`Gateway::handle`] takes and returns.
pub use http;
pub use options::ServerOptions;
pub use routes::{RouteError, Routes};
pub use telemetry::Metrics;
pub use upstream::UpstreamOptions;

/// Internals the fuzz targets (`fuzz/`) drive directly. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::body::{BodyWatch, ClientBody};
    pub use crate::front::request::with_normalised_path;
    pub use crate::path::{ClimbsAboveRoot, normalise};
    pub use crate::upstream::UpstreamFailure;
}
