//! Hot reload: web.yml and the files it names are watched (`scrapegate-watch`), and every new
//! generation is applied to the gateway as prepare → commit ([`Gateway::apply`]). Each outcome
//! is logged here, once, with the file and the reason, and counted by the gateway: a file that
//! does not load, or that the gateway would refuse to start with, leaves the last good
//! generation serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use scrapegate_config::{ConfigError, ValidatedConfig};
use scrapegate_watch::{Loaded, Source, WatchEvent, WatchOptions, Watcher};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::gateway::Gateway;

/// web.yml as a watched source: the toolkit's `web.Validate` plus loading every file it names.
#[derive(Debug, Clone)]
pub struct WebConfigSource {
    path: PathBuf,
}

impl WebConfigSource {
    /// The web.yml at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The web.yml path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Source for WebConfigSource {
    type Config = ValidatedConfig;
    type Error = ConfigError;

    fn load(&self) -> Result<ValidatedConfig, ConfigError> {
        scrapegate_config::load(&self.path)
    }

    fn files(config: &ValidatedConfig) -> Vec<PathBuf> {
        config.files.clone()
    }

    fn referenced_files(&self) -> Vec<PathBuf> {
        scrapegate_config::referenced_files(&self.path)
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// Reads web.yml for start-up exactly as every reload will read it.
pub fn load(source: &WebConfigSource) -> Result<Loaded<ValidatedConfig>, ConfigError> {
    scrapegate_watch::load(source)
}

/// The running reload loop. Dropping it stops watching.
#[derive(Debug)]
pub struct Reloader {
    force: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Reloader {
    /// Watches `source` (whose start-up generation is `initial`) and applies every change to
    /// `gateway`. Needs a tokio runtime.
    pub fn spawn(
        gateway: Gateway,
        source: WebConfigSource,
        initial: &Loaded<ValidatedConfig>,
        opts: WatchOptions,
    ) -> Self {
        let file = source.name();
        let watcher = scrapegate_watch::spawn(source, initial, opts);
        let force = Arc::new(Notify::new());
        let task = tokio::spawn(run(gateway, watcher, file, Arc::clone(&force)));
        Self { force, task }
    }

    /// Re-reads the files now (SIGHUP); the outcome is applied and logged even when nothing
    /// changed.
    pub fn force(&self) {
        self.force.notify_one();
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    gateway: Gateway,
    mut watcher: Watcher<WebConfigSource>,
    file: String,
    force: Arc<Notify>,
) {
    loop {
        tokio::select! {
            () = force.notified() => {
                tracing::info!(file = %file, "Reloading the web config (SIGHUP)");
                watcher.trigger();
            }
            event = watcher.events().recv() => match event {
                Some(event) => apply(&gateway, &file, event),
                None => return,
            },
        }
    }
}

/// Applies one watcher outcome and logs it.
fn apply(gateway: &Gateway, file: &str, event: WatchEvent<WebConfigSource>) {
    let cfg = match event {
        WatchEvent::Loaded(cfg) => cfg,
        WatchEvent::Failed { error } => {
            gateway.refuse(&error);
            tracing::error!(
                file,
                err = %error,
                "Reload failed; still serving the previous web config"
            );
            return;
        }
    };
    match gateway.apply(&cfg) {
        Ok(report) => {
            match &report.tls {
                Some(tls) => tracing::info!(
                    file,
                    generation = report.generation,
                    tls_generation = tls.generation,
                    tls_sessions_reset = tls.trust_reset,
                    "Reloaded the web config"
                ),
                None => tracing::info!(
                    file,
                    generation = report.generation,
                    "Reloaded the web config"
                ),
            }
            if let Some(http2) = report.http2_needs_restart {
                tracing::warn!(file, http2, "http2 changed; it takes effect after a restart");
            }
            for warning in report
                .warnings
                .iter()
                .cloned()
                .chain(scrapegate_config::warnings(&cfg))
            {
                tracing::warn!(file, "{warning}");
            }
        }
        Err(e) => tracing::error!(
            file,
            err = %e,
            "Reload refused; still serving the previous web config"
        ),
    }
}
