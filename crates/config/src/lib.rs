//! scrapegate-config: reads Prometheus's web configuration file exactly as exporter-toolkit does.
//! (Skeleton: the parser, validation and watcher land with their issues.)

pub mod model;
pub mod watch;

pub use model::*;

use std::fmt;
use std::path::Path;

/// A web.yml load or validation failure. `Display` is the Go toolkit's error text, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// Wraps a Go-formatted message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Reads, parses and validates a web.yml as `web.Validate` does (spec §3.1).
pub fn load(path: &Path) -> Result<ValidatedConfig, ConfigError> {
    let _ = path;
    Err(ConfigError::new("not implemented yet"))
}
