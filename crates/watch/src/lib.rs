//! scrapegate-watch: the config watcher (hot reload, DESIGN §4.4). It owns noticing that a
//! configuration's files changed and reading them again as one generation; what the files
//! mean is the [`Source`]'s business (web.yml alone, or web.yml and scrapegate.yml as a pair),
//! and applying a generation is the server's.
//!
//! [`load`] reads the first generation; [`spawn`] starts a task that re-reads the source and
//! every file it references whenever one of them may have changed, and publishes the outcome
//! as [`WatchEvent`]s:
//!
//! * notify watches the **parent directories** of every file (and of symlink targets), so atomic
//!   renames and Kubernetes `..data` swaps are seen; events are debounced. While the config is
//!   broken, the files the broken web.yml names are watched too, so the fix is seen at once;
//! * a poll on [`WatchOptions::poll_interval`] runs as a safety net, and alone when notify is
//!   off or cannot be set up (inotify instance or watch limits): the process never dies over it;
//! * [`Watcher::trigger`] (SIGHUP) forces a reload that always reports its outcome;
//! * each reload reads the whole set as one generation: the files are fingerprinted (SHA-256 of
//!   their bytes, since mtimes can stay put) before and after [`Source::load`]; a generation
//!   that moved underneath the load, or a load that failed, is retried a few times shortly
//!   after, because a swap may be half done; new content must also hold still for the settle
//!   time (the debounce) before it is applied, so a truncate-then-write never applies the
//!   empty file in between;
//! * `Loaded` is emitted only when the content really changed (or after a failure, or when
//!   forced); `Failed` once per distinct failing content, not on every poll;
//! * the first look, right after the watches are in place, compares against the fingerprint
//!   taken when the caller's generation was read ([`load`]), so a change made before the
//!   watcher existed is not lost;
//! * files that are mount points of their own (Kubernetes `subPath`) are warned about: no
//!   watcher can ever see their updates.

mod dirs;
mod fingerprint;
mod mounts;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::future::pending;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at, sleep, sleep_until};

use dirs::{DirWatcher, WatchSet};
use fingerprint::{Digest, failure_key, fingerprint};

/// Poll interval used when none is usable (notify unavailable and polling switched off).
const DEFAULT_POLL: Duration = Duration::from_secs(30);
/// How often a failing load is retried before `Failed` is reported (a swap may be mid-way).
const FAILURE_RETRIES: u32 = 3;
/// Pause between those retries.
const RETRY_DELAY: Duration = Duration::from_millis(100);
/// How often a load whose files moved underneath it is redone before it is taken as is.
const UNSTABLE_RETRIES: u32 = 3;
/// A stream of events stretches the debounce window to at most this many debounce periods,
/// so a directory that never goes quiet still gets reloaded.
const DEBOUNCE_STRETCH: u32 = 10;
/// Shortest time new content must hold still before it is applied.
const MIN_SETTLE: Duration = Duration::from_millis(20);
/// Longest debounce honoured; keeps deadline arithmetic far from overflow.
const MAX_DEBOUNCE: Duration = Duration::from_secs(60);
/// Longest poll period honoured, for the same reason.
const MAX_PERIOD: Duration = Duration::from_secs(365 * 24 * 3600);
/// Events buffered for a slow consumer; the watcher waits when the buffer is full.
const EVENT_BUFFER: usize = 16;

/// How the watcher notices changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Period of the polling safety net. `Duration::ZERO` switches polling off while notify
    /// works; if notify cannot be used, 30 s is used instead.
    pub poll_interval: Duration,
    /// Use inotify (notify's recommended watcher). Off: polling only.
    pub use_notify: bool,
    /// Quiet time after a file event before reloading, so a multi-file update lands as one.
    pub debounce: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            poll_interval: DEFAULT_POLL,
            use_notify: true,
            debounce: Duration::from_millis(100),
        }
    }
}

/// What is watched: a configuration made of files, and how to read it.
pub trait Source: Send + Sync + 'static {
    /// A loaded, validated generation.
    type Config: Send + Sync + 'static;
    /// Why a generation does not load; its text is what the consumer logs.
    type Error: fmt::Display + Send + Sync + 'static;

    /// Reads and validates every file of one generation. Blocking; runs on the blocking pool.
    fn load(&self) -> Result<Self::Config, Self::Error>;

    /// The files a loaded generation consists of (the main file first). They are
    /// fingerprinted, and their directories watched.
    fn files(config: &Self::Config) -> Vec<PathBuf>;

    /// The files the source refers to as far as they can be found right now, for a generation
    /// that fails to load (so the file that fixes it is watched too).
    fn referenced_files(&self) -> Vec<PathBuf>;

    /// The main file, for logs.
    fn name(&self) -> String;
}

/// A generation read by [`load`], with the fingerprint [`spawn`] compares against.
pub struct Loaded<C> {
    /// The generation.
    pub config: C,
    baseline: Option<Digest>,
}

impl<C: fmt::Debug> fmt::Debug for Loaded<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Reads the first generation (start-up) the way every reload reads one. The files are
/// fingerprinted before the load; if the load turns out to consist of other files, no baseline
/// is kept and the watcher's first look reloads.
pub fn load<S: Source>(source: &S) -> Result<Loaded<S::Config>, S::Error> {
    let before_files = source.referenced_files();
    let before = fingerprint(&before_files);
    let config = source.load()?;
    let baseline = (S::files(&config) == before_files).then_some(before);
    Ok(Loaded { config, baseline })
}

/// The outcome of one reload.
pub enum WatchEvent<S: Source> {
    /// A new generation passed validation; swap it in.
    Loaded(Arc<S::Config>),
    /// The files on disk do not validate; keep serving the last good generation.
    Failed {
        /// The load error.
        error: S::Error,
    },
}

impl<S: Source> fmt::Debug for WatchEvent<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loaded(_) => f.write_str("Loaded"),
            Self::Failed { error } => write!(f, "Failed({error})"),
        }
    }
}

/// Handle on a running watcher. Dropping it stops the watcher.
pub struct Watcher<S: Source> {
    events: mpsc::Receiver<WatchEvent<S>>,
    trigger: Arc<Notify>,
    task: JoinHandle<()>,
}

impl<S: Source> Watcher<S> {
    /// The stream of reload outcomes.
    pub fn events(&mut self) -> &mut mpsc::Receiver<WatchEvent<S>> {
        &mut self.events
    }

    /// Forces a reload now (SIGHUP). Its outcome is always emitted, `Loaded` even when
    /// nothing changed. Triggers arriving while one is pending are merged into it.
    pub fn trigger(&self) {
        self.trigger.notify_one();
    }
}

impl<S: Source> Drop for Watcher<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S: Source> std::fmt::Debug for Watcher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

/// Starts watching `source`, whose current good generation is `initial` (from [`load`]).
/// Needs a tokio runtime (the watcher runs on its own task and does file reads on the
/// blocking pool).
pub fn spawn<S: Source>(source: S, initial: &Loaded<S::Config>, opts: WatchOptions) -> Watcher<S> {
    let (events_tx, events) = mpsc::channel(EVENT_BUFFER);
    let trigger = Arc::new(Notify::new());
    let reloader = Reloader {
        source: Arc::new(source),
        known_files: S::files(&initial.config),
        good: None,
        failed: None,
        events: events_tx,
        dirs: None,
        settle: opts.debounce.clamp(MIN_SETTLE, MAX_DEBOUNCE),
        pinned: HashSet::new(),
    };
    let task = tokio::spawn(reloader.run(opts, Arc::clone(&trigger), initial.baseline));
    Watcher {
        events,
        trigger,
        task,
    }
}

/// What one read of the files found.
enum Outcome<S: Source> {
    /// The fingerprint matches the last good generation; `load` was not needed.
    Unchanged,
    /// `load` succeeded. `stable` is false when the files changed while being read.
    Loaded {
        config: Box<S::Config>,
        files: Vec<PathBuf>,
        digest: Digest,
        stable: bool,
    },
    /// `load` failed; `key` identifies the failing content, `files` is what the broken
    /// web.yml refers to (so those files are watched until it is fixed).
    Failed {
        error: S::Error,
        key: Digest,
        files: Vec<PathBuf>,
    },
}

/// Reads one generation: fingerprint, load, fingerprint again. Blocking.
fn read_generation<S: Source>(
    source: &S,
    known: &[PathBuf],
    skip_if: Option<Digest>,
) -> Outcome<S> {
    let before = fingerprint(known);
    if skip_if == Some(before) {
        return Outcome::Unchanged;
    }
    match source.load() {
        Ok(config) => {
            let files = S::files(&config);
            let digest = fingerprint(&files);
            let stable = files.as_slice() == known && digest == before;
            Outcome::Loaded {
                config: Box::new(config),
                files,
                digest,
                stable,
            }
        }
        Err(error) => {
            // Keyed on what the broken config refers to, not on the last good set: a new,
            // still broken certificate is a new failure even if the message repeats.
            let files = source.referenced_files();
            let key = failure_key(&fingerprint(&files), &error.to_string());
            Outcome::Failed { error, key, files }
        }
    }
}

/// Why a reload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The first look, compared against the fingerprint taken when the caller's generation was
    /// read (`None`: that generation's files moved, so anything loaded counts as a change).
    Startup(Option<Digest>),
    /// SIGHUP: always load, always report.
    Forced,
    /// A file event or a poll: report only real changes.
    IfChanged,
}

/// The watcher task's state.
struct Reloader<S: Source> {
    source: Arc<S>,
    /// Files of the last good generation (web.yml first): what is fingerprinted.
    known_files: Vec<PathBuf>,
    /// Fingerprint of the last good generation.
    good: Option<Digest>,
    /// Key of the last reported failure, while the config stays broken.
    failed: Option<Digest>,
    events: mpsc::Sender<WatchEvent<S>>,
    dirs: Option<DirWatcher>,
    /// How long new content must stay unchanged before it is applied.
    settle: Duration,
    /// Files already reported as single-file mounts (warned about once).
    pinned: HashSet<PathBuf>,
}

impl<S: Source> Reloader<S> {
    async fn run(mut self, opts: WatchOptions, trigger: Arc<Notify>, initial: Option<Digest>) {
        let (poke_tx, mut pokes) = mpsc::channel::<()>(1);
        if opts.use_notify {
            match DirWatcher::new(poke_tx.clone()) {
                Ok(watcher) => {
                    self.dirs = Some(watcher);
                    if self.refresh_watches().await == 0 {
                        // Nothing could be watched (e.g. the inotify watch limit): the poll
                        // below must not be off then.
                        self.dirs = None;
                    }
                }
                Err(err) => tracing::warn!(
                    file = %self.source.name(),
                    err = %err,
                    "cannot set up file notifications; polling only"
                ),
            }
        }
        let mut poll_every = opts.poll_interval.min(MAX_PERIOD);
        if poll_every.is_zero() && self.dirs.is_none() {
            poll_every = DEFAULT_POLL;
        }
        let mut poll = (!poll_every.is_zero()).then(|| {
            let mut tick = interval_at(Instant::now() + poll_every, poll_every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            tick
        });
        let poll_text = match poll {
            Some(_) => scrapegate_model::duration::format_go(poll_every),
            None => "off".to_owned(),
        };
        tracing::info!(
            file = %self.source.name(),
            inotify = self.dirs.is_some(),
            poll_interval = %poll_text,
            "Watching the config files"
        );

        // Anything that changed between the caller's load and the watches being in place
        // would otherwise go unseen until the next poll: compare one fresh generation now.
        self.reload(Mode::Startup(initial)).await;

        let debounce = opts.debounce.min(MAX_DEBOUNCE);
        // (fire at, latest allowed fire time) of a pending debounced reload.
        let mut due: Option<(Instant, Instant)> = None;
        let consumer = self.events.clone();
        loop {
            tokio::select! {
                () = consumer.closed() => return,
                () = trigger.notified() => {
                    due = None;
                    self.reload(Mode::Forced).await;
                }
                Some(()) = pokes.recv() => {
                    let now = Instant::now();
                    due = Some(match due {
                        None => (now + debounce, now + debounce * DEBOUNCE_STRETCH),
                        Some((_, cap)) => ((now + debounce).min(cap), cap),
                    });
                }
                () = wait_until(due.map(|(at, _)| at)) => {
                    due = None;
                    self.reload(Mode::IfChanged).await;
                }
                () = tick(&mut poll) => self.reload(Mode::IfChanged).await,
            }
        }
    }

    /// Re-reads the files and reports the outcome as `mode` asks.
    async fn reload(&mut self, mode: Mode) {
        let forced = mode == Mode::Forced;
        let mut failures = 0;
        let mut unstable = 0;
        loop {
            // While broken, every look loads: the fix may restore the last good bytes exactly.
            let skip_if = match mode {
                Mode::IfChanged if self.failed.is_none() => self.good,
                _ => None,
            };
            let source = Arc::clone(&self.source);
            let known = self.known_files.clone();
            let outcome =
                tokio::task::spawn_blocking(move || read_generation(&*source, &known, skip_if))
                    .await;
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(err) => {
                    tracing::error!(file = %self.source.name(), err = %err, "config reload task failed");
                    return;
                }
            };
            match outcome {
                Outcome::Unchanged => return,
                Outcome::Loaded { files, stable, .. } if !stable && unstable < UNSTABLE_RETRIES => {
                    unstable += 1;
                    // A new file set needs no pause; content moving under us is a swap in
                    // progress, which gets a moment to finish.
                    if files == self.known_files {
                        sleep(RETRY_DELAY).await;
                    }
                    self.known_files = files;
                }
                Outcome::Loaded {
                    config,
                    files,
                    digest,
                    ..
                } => {
                    // A writer that truncates and then writes leaves a short window in which
                    // the file is empty, and an empty web.yml is valid (no TLS, no users).
                    // So new content must hold still for a moment before it is applied.
                    if self.good != Some(digest)
                        && unstable < UNSTABLE_RETRIES
                        && !self.settled(&files, digest).await
                    {
                        unstable += 1;
                        self.known_files = files;
                        continue;
                    }
                    self.accept(*config, files, digest, mode).await;
                    return;
                }
                Outcome::Failed { .. } if failures < FAILURE_RETRIES => {
                    failures += 1;
                    tracing::debug!(attempt = failures, "config load failed; retrying");
                    sleep(RETRY_DELAY).await;
                }
                Outcome::Failed { error, key, files } => {
                    self.reject(error, key, files, forced).await;
                    return;
                }
            }
        }
    }

    /// Waits the settle time and tells whether `files` still fingerprint as `digest`.
    async fn settled(&self, files: &[PathBuf], digest: Digest) -> bool {
        sleep(self.settle).await;
        let files = files.to_vec();
        matches!(
            tokio::task::spawn_blocking(move || fingerprint(&files)).await,
            Ok(now) if now == digest
        )
    }

    async fn accept(&mut self, config: S::Config, files: Vec<PathBuf>, digest: Digest, mode: Mode) {
        let changed = match mode {
            // At startup the baseline is the fingerprint of the caller's generation.
            Mode::Startup(initial) => initial != Some(digest),
            Mode::Forced | Mode::IfChanged => self.good != Some(digest),
        };
        let forced = mode == Mode::Forced;
        let recovered = self.failed.take().is_some();
        self.good = Some(digest);
        if self.known_files != files {
            self.known_files = files;
        }
        // Symlink targets move with every Kubernetes swap, so the watch set is re-derived
        // after every good load, changed or not.
        self.refresh_watches().await;
        self.warn_pinned_files().await;
        if changed || recovered || forced {
            // The consumer logs the outcome it applies; this is the watcher's own trace.
            tracing::debug!(
                file = %self.source.name(),
                files = self.known_files.len(),
                changed,
                "config reloaded"
            );
            let _ = self.events.send(WatchEvent::Loaded(Arc::new(config))).await;
        }
    }

    async fn reject(&mut self, error: S::Error, key: Digest, files: Vec<PathBuf>, forced: bool) {
        // Watch what the broken config points at as well (say, a certificate in a directory
        // that is new to it), so the fix is seen without waiting for a poll.
        let mut watch = self.known_files.clone();
        watch.extend(files.into_iter().filter(|f| !self.known_files.contains(f)));
        self.watch_files(watch).await;
        if !forced && self.failed == Some(key) {
            return;
        }
        self.failed = Some(key);
        // The error text goes to the consumer, which logs it once; only the fact is traced.
        tracing::debug!(file = %self.source.name(), "config reload failed");
        let _ = self.events.send(WatchEvent::Failed { error }).await;
    }

    /// Warns once per file that is a mount point of its own (a Kubernetes `subPath` mount):
    /// no reload can ever see its updates.
    async fn warn_pinned_files(&mut self) {
        let files = self.known_files.clone();
        let Ok(pinned) =
            tokio::task::spawn_blocking(move || mounts::single_file_mounts(&files)).await
        else {
            return;
        };
        for file in pinned {
            if self.pinned.insert(file.clone()) {
                tracing::warn!(
                    file = %file.display(),
                    "file is a mount point of its own (a Kubernetes subPath mount?): updates \
                     to it never reach this path; mount the whole volume instead"
                );
            }
        }
    }

    /// Points the directory watches at the current file set (on the blocking pool, since
    /// notify answers through its own thread). Returns how many directories are watched.
    async fn refresh_watches(&mut self) -> usize {
        self.watch_files(self.known_files.clone()).await
    }

    /// Points the directory watches at `files`. Returns how many directories are watched.
    async fn watch_files(&mut self, files: Vec<PathBuf>) -> usize {
        let Some(mut dirs) = self.dirs.take() else {
            return 0;
        };
        let result = tokio::task::spawn_blocking(move || {
            let count = dirs.update(WatchSet::derive(&files));
            (dirs, count)
        })
        .await;
        match result {
            Ok((dirs, count)) => {
                if count == 0 {
                    tracing::warn!("no config directory could be watched; relying on polling");
                }
                self.dirs = Some(dirs);
                count
            }
            Err(err) => {
                tracing::error!(err = %err, "updating config watches failed");
                0
            }
        }
    }
}

/// Sleeps until `at`, or forever when nothing is pending.
async fn wait_until(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => pending().await,
    }
}

/// The next poll tick, or never when polling is off.
async fn tick(poll: &mut Option<Interval>) {
    match poll {
        Some(interval) => {
            interval.tick().await;
        }
        None => pending().await,
    }
}
