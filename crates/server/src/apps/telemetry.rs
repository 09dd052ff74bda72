//! The telemetry listener's app (`--web.telemetry-address`): the gateway's own `/metrics`,
//! `/-/healthy` and `/-/ready`, behind the same gate as the proxy.

use std::sync::Arc;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response};

use super::{App, health};
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
        if !health::is_get_or_head(req.method()) {
            return health::get_or_head_only();
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
            path => health::probe(&self.readiness, path).unwrap_or_else(body::not_found),
        }
    }
}
