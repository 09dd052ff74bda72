//! The gate's view of basic auth: a thin adapter over `scrapegate_auth::Authenticator`, and
//! the exporter of its counters.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use scrapegate_auth::{AuthDecision, AuthSettings, Authenticator};
use scrapegate_config::User;

/// The gate's decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// bcrypt pool saturated: 503 with `Retry-After`.
    Busy(Duration),
    /// Too many failures from this client: 429 with `Retry-After`.
    Limited(Duration),
}

/// Basic auth for the gateway.
#[derive(Debug, Clone)]
pub struct Authn {
    inner: Arc<Authenticator>,
}

fn pairs(users: &[User]) -> impl Iterator<Item = (&str, &str)> {
    users.iter().map(|u| (u.name.as_str(), u.hash.as_str()))
}

impl Authn {
    /// Builds the authenticator for `users` (its bcrypt pool threads start here).
    pub fn new(users: &[User], settings: AuthSettings) -> Result<Self, String> {
        let inner = Authenticator::new(pairs(users), settings).map_err(|e| e.to_string())?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Replaces the users, keeping the verification cache.
    pub fn replace_users(&self, users: &[User]) -> Result<(), String> {
        self.inner
            .replace_users(pairs(users))
            .map_err(|e| e.to_string())
    }

    /// True when requests need credentials.
    pub fn has_users(&self) -> bool {
        self.inner.has_users()
    }

    /// Decides one request.
    pub async fn check(&self, authorization: Option<&[u8]>, peer: IpAddr) -> Decision {
        match self.inner.check(authorization, peer).await {
            AuthDecision::Allow => Decision::Allow,
            AuthDecision::Deny => Decision::Deny,
            AuthDecision::Busy { retry_after } => Decision::Busy(retry_after),
            AuthDecision::Limited { retry_after } => Decision::Limited(retry_after),
        }
    }

    /// A collector exporting the authenticator's counters at scrape time.
    pub fn collector(&self) -> AuthCollector {
        AuthCollector {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Reads the authenticator's atomic counters on each scrape.
#[derive(Debug)]
pub struct AuthCollector {
    inner: Arc<Authenticator>,
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

impl Collector for AuthCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = self.inner.metrics();
        counter(
            &mut enc,
            "auth_allowed",
            "Basic-auth checks allowed",
            m.allowed(),
        )?;
        counter(
            &mut enc,
            "auth_denied",
            "Basic-auth checks denied (401)",
            m.denied(),
        )?;
        counter(
            &mut enc,
            "auth_cache_hits",
            "Credentials answered from the success cache without bcrypt",
            m.cache_hits(),
        )?;
        counter(
            &mut enc,
            "auth_cache_misses",
            "Credentials found in neither cache tier",
            m.cache_misses(),
        )?;
        counter(
            &mut enc,
            "auth_failure_cache_hits",
            "Credentials denied from the failure cache without bcrypt",
            m.failure_hits(),
        )?;
        counter(
            &mut enc,
            "auth_coalesced",
            "Cache misses that joined a bcrypt already running for the same credentials",
            m.coalesced(),
        )?;
        counter(
            &mut enc,
            "auth_busy",
            "Cache misses refused with 503 because the bcrypt queue was full",
            m.busy(),
        )?;
        counter(
            &mut enc,
            "auth_limited",
            "Checks refused with 429 by the per-source failure limiter",
            m.limited(),
        )?;
        let g = ConstGauge::new(m.queue_depth() as i64);
        g.encode(enc.encode_descriptor(
            "auth_bcrypt_queue_depth",
            "bcrypt jobs waiting for a pool thread",
            None,
            g.metric_type(),
        )?)?;
        let h = m.bcrypt_duration();
        let mut buckets = Vec::with_capacity(h.buckets.len() + 1);
        let mut prev = 0;
        for (bound, cumulative) in &h.buckets {
            buckets.push((*bound, cumulative - prev));
            prev = *cumulative;
        }
        buckets.push((f64::MAX, h.count - prev));
        let mut me = enc.encode_descriptor(
            "auth_bcrypt_duration_seconds",
            "Time one bcrypt verification took",
            None,
            MetricType::Histogram,
        )?;
        me.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            h.sum_seconds,
            h.count,
            &buckets,
            None,
        )
    }
}
