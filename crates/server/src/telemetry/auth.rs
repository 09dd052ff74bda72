//! The auth crate's counters, gauge and histogram, exported at scrape time.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use scrapegate_auth::Authenticator;

/// Reads the authenticator's atomic counters on each scrape.
#[derive(Debug)]
pub(crate) struct AuthCollector {
    pub(crate) inner: Arc<Authenticator>,
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
