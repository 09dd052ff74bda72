//! Hot reload: web.yml, scrapegate.yml and the files they name are watched
//! (`scrapegate-watch`) as one set, and every new generation is applied to the gateway as
//! prepare → commit ([`Gateway::apply_set`]). Each outcome is logged here, once, with the file
//! and the reason, and counted by the gateway: a pair that does not load, that does not fit
//! together (a rule naming a user web.yml lacks), or that the gateway would refuse to start
//! with, leaves the last good pair serving.

use std::path::PathBuf;
use std::sync::Arc;

use scrapegate_config::ConfigError;
use scrapegate_model::ConfigSet;
use scrapegate_watch::{Loaded, Source, WatchEvent, WatchOptions, Watcher};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::gateway::Gateway;

/// The configuration files as a watched source: web.yml (the toolkit's `web.Validate` plus
/// loading every file it names) and scrapegate.yml (with its token files), checked together.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    web: Option<PathBuf>,
    policy: Option<PathBuf>,
}

impl ConfigSource {
    /// `--web.config.file` and `--config.file`, either optional.
    pub fn new(web: Option<PathBuf>, policy: Option<PathBuf>) -> Self {
        Self { web, policy }
    }

    /// True when there is no file to watch.
    pub fn is_empty(&self) -> bool {
        self.web.is_none() && self.policy.is_none()
    }
}

impl Source for ConfigSource {
    type Config = ConfigSet;
    type Error = ConfigError;

    /// web.yml first (its errors are the toolkit's texts), then scrapegate.yml, then the rules
    /// that join them: one verdict for start-up, reload and `check config`.
    fn load(&self) -> Result<ConfigSet, ConfigError> {
        let web = self
            .web
            .as_deref()
            .map(scrapegate_config::load)
            .transpose()?;
        let policy = self
            .policy
            .as_deref()
            .map(scrapegate_config::load_policy)
            .transpose()?;
        scrapegate_config::pair(web, policy)
    }

    fn files(config: &ConfigSet) -> Vec<PathBuf> {
        config.files()
    }

    fn referenced_files(&self) -> Vec<PathBuf> {
        let web = self
            .web
            .iter()
            .flat_map(|p| scrapegate_config::referenced_files(p));
        let policy = self
            .policy
            .iter()
            .flat_map(|p| scrapegate_config::referenced_policy_files(p));
        web.chain(policy).collect()
    }

    fn name(&self) -> String {
        let names: Vec<String> = [&self.web, &self.policy]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect();
        names.join(" + ")
    }
}

/// Reads the configuration files for start-up exactly as every reload will read them.
pub fn load(source: &ConfigSource) -> Result<Loaded<ConfigSet>, ConfigError> {
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
        source: ConfigSource,
        initial: &Loaded<ConfigSet>,
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
    mut watcher: Watcher<ConfigSource>,
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
fn apply(gateway: &Gateway, file: &str, event: WatchEvent<ConfigSource>) {
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
    match gateway.apply_set(&cfg) {
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
                tracing::warn!(
                    file,
                    http2,
                    "http2 changed; it takes effect after a restart"
                );
            }
            for warning in report
                .warnings
                .iter()
                .cloned()
                .chain(cfg.web.iter().flat_map(scrapegate_config::warnings))
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
