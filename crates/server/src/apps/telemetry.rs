//! The telemetry listener's app (`--web.telemetry-address`): the gateway's own `/metrics`,
//! `/-/healthy` and `/-/ready`, behind the same gate as the proxy.

use std::sync::Arc;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::App;
use crate::body::{self, GateBody, RequestBody};
use crate::front::Readiness;
use crate::gate::trace::Trace;
use crate::gate::{self, Exchange, GateState};
use crate::telemetry::{self, Telemetry, labels};
use crate::upstream::Origin;

/// `/metrics`, `/-/healthy`, `/-/ready` behind the gate.
pub(crate) struct TelemetryApp {
    pub(crate) gate: Arc<GateState>,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) readiness: Readiness,
}

impl App for TelemetryApp {
    const NAME: &'static str = "telemetry";

    async fn call<B: RequestBody>(
        &self,
        req: Request<B>,
        origin: &Origin,
        trace: &mut Trace,
    ) -> Response<GateBody> {
        if trace.wants_identity {
            trace.route = Some(labels::TELEMETRY.clone());
        }
        let generation = self.gate.generation.load_full();
        let exchange = Exchange {
            gate: &self.gate,
            generation: &generation,
            origin,
            route: None,
            trace,
        };
        let resp = gate::pass(exchange, req, |req| async move { self.respond(&req) }).await;
        (self.telemetry.metrics).count_response(resp.status().as_u16(), &labels::TELEMETRY);
        resp
    }
}

impl TelemetryApp {
    fn respond<B>(&self, req: &Request<B>) -> Response<GateBody> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return body::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        }
        match req.uri().path() {
            "/metrics" => {
                let mut resp = Response::new(body::full(self.telemetry.render()));
                resp.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(telemetry::CONTENT_TYPE),
                );
                resp
            }
            "/-/healthy" => body::text(StatusCode::OK, "scrapegate is Healthy.\n"),
            "/-/ready" if self.readiness.is_ready() => {
                body::text(StatusCode::OK, "scrapegate is Ready.\n")
            }
            "/-/ready" => body::text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n"),
            _ => body::not_found(),
        }
    }
}
