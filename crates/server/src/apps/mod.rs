//! The apps behind the listeners, one per listener kind: [`proxy::ProxyApp`] (the gate, then
//! route and forward), [`telemetry::TelemetryApp`] (the gate, then the gateway's own
//! `/metrics`, `/-/healthy`, `/-/ready`) and [`health::HealthApp`] (probe answers only,
//! outside the gate). The front end serves any of them the same way.

pub(crate) mod health;
pub(crate) mod proxy;
pub(crate) mod telemetry;

use http::{Request, Response};

use crate::body::{GateBody, RequestBody};
use crate::gate::trace::Trace;
use crate::upstream::Origin;

/// What a listener does with each request.
pub(crate) trait App: Send + Sync + 'static {
    /// Whether this listener's connections speak TLS when web.yml enables it.
    const TLS: bool = true;
    /// The listener's name in the access log.
    const NAME: &'static str;

    /// Answers one request from `origin` and counts it in `scrapegate_requests_total`;
    /// `trace` learns how authentication ended and who asked.
    fn call<B: RequestBody>(
        &self,
        req: Request<B>,
        origin: &Origin,
        trace: &mut Trace,
    ) -> impl Future<Output = Response<GateBody>> + Send;
}
