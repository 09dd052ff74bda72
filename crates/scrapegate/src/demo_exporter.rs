//! A tiny built-in exporter for `scrapegate demo`: serves a few metrics in the Prometheus
//! text format on `/metrics`, so the demo needs nothing else running.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves the sample exporter on `listener` until the task is aborted.
pub fn spawn(listener: TcpListener) -> JoinHandle<()> {
    let scrapes = Arc::new(AtomicU64::new(0));
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let scrapes = Arc::clone(&scrapes);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let n = if req.uri().path() == "/metrics" {
                        scrapes.fetch_add(1, Ordering::Relaxed) + 1
                    } else {
                        0
                    };
                    async move { Ok::<_, Infallible>(answer(req.uri().path(), n, started)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    })
}

fn answer(path: &str, scrapes: u64, started: f64) -> Response<Full<Bytes>> {
    if path != "/metrics" {
        let mut r = Response::new(Full::new(Bytes::from_static(b"404 page not found\n")));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    }
    let body = format!(
        "# HELP demo_scrapes_total Scrapes of this sample exporter.\n\
         # TYPE demo_scrapes_total counter\n\
         demo_scrapes_total {scrapes}\n\
         # HELP demo_start_time_seconds Start time of the sample exporter.\n\
         # TYPE demo_start_time_seconds gauge\n\
         demo_start_time_seconds {started:.3}\n\
         # HELP demo_temperature_celsius A made-up temperature.\n\
         # TYPE demo_temperature_celsius gauge\n\
         demo_temperature_celsius{{room=\"lab\"}} 21.5\n\
         demo_temperature_celsius{{room=\"server\"}} 27.25\n\
         # HELP demo_up Always 1.\n\
         # TYPE demo_up gauge\n\
         demo_up 1\n"
    );
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
