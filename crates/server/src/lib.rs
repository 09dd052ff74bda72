//! scrapegate-server: everything between a socket and the exporter.
//!
//! This crate owns the listeners ([`listener`]), the hyper front end with its connection
//! limit, timers and graceful drain (`conn`, [`clock`]), the Gate pipeline every request goes
//! through — the global `rate_limit` bucket ([`ratelimit`]), basic auth, configured response
//! headers ([`gate`]) — routing ([`routes`]) and the pooled, streaming upstream client
//! ([`upstream`]), the gateway's own metrics ([`telemetry`]), the credential-free probe
//! listener ([`health`]), and applying reloaded configs
//! to the running state ([`Gateway::apply`]). It validates nothing itself: configs arrive
//! validated from `scrapegate-config`, TLS state comes from `scrapegate-tls` and credential
//! checks from `scrapegate-auth`.
//!
//! The `rate_limit` bucket is **global**: one per gateway, shared by every listener (the
//! telemetry listener included; the health listener stays outside it), client, user and path.

mod authn;
pub mod body;
pub mod clock;
mod coalesce;
mod conn;
pub mod gate;
mod gateway;
pub mod health;
pub mod listener;
pub mod ratelimit;
pub mod routes;
pub mod sample;
mod snapshot;
pub mod telemetry;
mod tlsfront;
pub mod upstream;

pub use authn::Decision;
pub use gate::Handler;
pub use gateway::{ApplyError, ApplyReport, Gateway, GatewayError, ServerOptions};
/// The `http` crate, whose types [`Gateway::handle`] takes and returns.
pub use http;
pub use routes::{RouteError, Routes};
pub use snapshot::Snapshot;
pub use upstream::UpstreamOptions;
