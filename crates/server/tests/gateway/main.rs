//! The gateway end to end in process: real listeners, real TLS handshakes (rustls clients),
//! a real upstream; the gate's stages, the HTTP/1 and HTTP/2 front end, and reloads.

mod coalescing;
mod gate;
mod hardening;
mod panics;
mod paths;
mod policy;
mod protocol;
mod reload;
mod support;
mod upstream_pool;
