//! Advice for `scrapegate check web-config` beyond promtool's verdict.

use crate::model::ValidatedConfig;

/// Warnings about a valid config (none change the verdict).
pub fn warnings(cfg: &ValidatedConfig) -> Vec<String> {
    let _ = cfg;
    Vec::new()
}
