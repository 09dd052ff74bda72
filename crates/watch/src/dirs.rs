//! The inotify side of the watcher: which directories to watch, which names in them matter,
//! and a notify callback that does nothing but poke the reload task.
//!
//! Directories, not files, are watched: an atomic rename or a Kubernetes `..data` symlink swap
//! replaces the inode, and a watch on the file itself then goes silent for good.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

/// The name Kubernetes swaps atomically in Secret and ConfigMap volumes.
const K8S_DATA: &str = "..data";

/// What to watch for one generation of files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct WatchSet {
    /// Directories to watch, non-recursively.
    pub(crate) dirs: BTreeSet<PathBuf>,
    /// Full paths whose events schedule a reload (besides any `..data` entry).
    pub(crate) names: HashSet<PathBuf>,
}

impl WatchSet {
    /// Derives the set from the files of a generation: each file's (absolute, lexical) parent
    /// directory, and when the file is a symlink, its resolved target's directory too, so an
    /// in-place write through a link elsewhere is seen as well.
    pub(crate) fn derive(files: &[PathBuf]) -> Self {
        let mut set = Self::default();
        for file in files {
            let abs = std::path::absolute(file).unwrap_or_else(|_| file.clone());
            set.add(&abs);
            if let Ok(real) = std::fs::canonicalize(&abs)
                && real != abs
            {
                set.add(&real);
            }
        }
        set
    }

    fn add(&mut self, file: &Path) {
        if let Some(dir) = file.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            self.dirs.insert(dir.to_path_buf());
        }
        self.names.insert(file.to_path_buf());
    }

    /// True when an event touching `path` may change the config.
    fn matches(&self, path: &Path) -> bool {
        self.names.contains(path) || path.file_name() == Some(OsStr::new(K8S_DATA))
    }
}

/// A notify watcher over a [`WatchSet`]'s directories.
pub(crate) struct DirWatcher {
    inner: RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
    filter: Arc<RwLock<WatchSet>>,
}

impl DirWatcher {
    /// Creates the inotify instance. Fails when the system refuses one (for example the
    /// per-user instance limit), in which case the caller falls back to polling.
    pub(crate) fn new(poke: mpsc::Sender<()>) -> notify::Result<Self> {
        let filter = Arc::new(RwLock::new(WatchSet::default()));
        let seen = Arc::clone(&filter);
        let inner = in_batch_thread(move || {
            notify::recommended_watcher(move |res: notify::Result<Event>| {
                let relevant = match res {
                    Ok(event) => is_relevant(&event, &seen),
                    // An error (e.g. a queue overflow) may have swallowed a real change.
                    Err(_) => true,
                };
                if relevant {
                    // Full means a reload is already pending; the event is covered by it.
                    let _ = poke.try_send(());
                }
            })
        })?;
        Ok(Self {
            inner,
            watched: BTreeSet::new(),
            filter,
        })
    }

    /// Moves the watches to `set`: adds the new directories, drops the ones no longer needed.
    /// Blocks briefly (notify talks to its own thread), so call it off the async runtime.
    /// Returns how many directories are being watched.
    pub(crate) fn update(&mut self, set: WatchSet) -> usize {
        for gone in self.watched.difference(&set.dirs) {
            // A deleted directory already lost its watch; the error is expected then.
            let _ = self.inner.unwatch(gone);
        }
        let mut now_watched = BTreeSet::new();
        for dir in &set.dirs {
            if self.watched.contains(dir) {
                now_watched.insert(dir.clone());
                continue;
            }
            match self.inner.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    now_watched.insert(dir.clone());
                }
                Err(err) => tracing::warn!(
                    dir = %dir.display(),
                    error = %err,
                    "cannot watch directory for config changes; relying on polling for it"
                ),
            }
        }
        self.watched = now_watched;
        let count = self.watched.len();
        match self.filter.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        count
    }
}

/// Runs `make` on a short-lived thread in the `SCHED_BATCH` class, so that the thread notify
/// starts there for its event loop inherits the class. Every event in a watched directory
/// wakes that thread, unrelated ones included (a log written beside web.yml: thousands a
/// second), and a waking `SCHED_BATCH` thread never preempts the thread serving requests; it
/// runs when that one waits. Config changes are not urgent: the reload settles first anyway.
fn in_batch_thread<T: Send>(make: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let maker = std::thread::Builder::new()
            .name("scrapegate-watch-init".into())
            .spawn_scoped(scope, move || {
                enter_batch_class();
                make()
            })
            .expect("spawning a thread");
        match maker.join() {
            Ok(made) => made,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Moves the calling thread to `SCHED_BATCH` (Linux; elsewhere nothing). A failure costs only
/// the preemptions it would spare, so it is logged at debug level, not returned.
fn enter_batch_class() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 names the calling thread, and `param` outlives the call.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &raw const param) };
        if rc != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "the watcher thread stays in the normal scheduling class"
            );
        }
    }
}

/// Decides in the notify thread whether an event can matter. Our own reads open the files,
/// so open and read-close events must be ignored or every reload would schedule the next.
fn is_relevant(event: &Event, filter: &RwLock<WatchSet>) -> bool {
    if event.need_rescan() {
        return true;
    }
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
        EventKind::Access(_) => return false,
        _ => {}
    }
    let guard = match filter.read() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    event.paths.iter().any(|p| guard.matches(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_watches_parent_and_symlink_target_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("real");
        std::fs::create_dir(&real_dir).unwrap();
        std::fs::write(real_dir.join("cert.pem"), b"x").unwrap();
        let link = dir.path().join("cert.pem");
        std::os::unix::fs::symlink(real_dir.join("cert.pem"), &link).unwrap();
        let set = WatchSet::derive(std::slice::from_ref(&link));
        let canon_real = std::fs::canonicalize(&real_dir).unwrap();
        assert!(set.dirs.contains(dir.path()));
        assert!(set.dirs.contains(&canon_real));
        assert!(set.matches(&link));
        assert!(set.matches(&canon_real.join("cert.pem")));
        assert!(set.matches(&dir.path().join("..data")));
        assert!(!set.matches(&dir.path().join("other.pem")));
    }

    #[test]
    fn unwatchable_directories_are_skipped_not_fatal() {
        let (poke, _rx) = mpsc::channel(1);
        let mut watcher = DirWatcher::new(poke).expect("inotify available in tests");
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("no-such-dir").join("web.yml");
        assert_eq!(
            watcher.update(WatchSet::derive(std::slice::from_ref(&gone))),
            0
        );
        let there = dir.path().join("web.yml");
        assert_eq!(watcher.update(WatchSet::derive(&[there, gone])), 1);
        // Moving away from a directory that was deleted meanwhile is fine too.
        drop(dir);
        assert_eq!(watcher.update(WatchSet::default()), 0);
    }

    /// The scheduling policy of each thread of this process whose name starts with `prefix`
    /// (the kernel keeps 15 bytes of it): field 41 of `/proc/self/task/<tid>/stat`.
    #[cfg(target_os = "linux")]
    fn policies_of(prefix: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
            // Fields after the parenthesised name, which may hold spaces.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let policy = rest.split(' ').nth(41 - 3).unwrap().parse().unwrap();
            out.push(policy);
        }
        out
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_notify_thread_runs_in_the_batch_class() {
        let (poke, _rx) = mpsc::channel(1);
        let _watcher = DirWatcher::new(poke).unwrap();
        // Every watcher of this process is made by `DirWatcher::new`, other tests' included.
        // A new thread names itself once it runs, so its name may lag its creation a little.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let policies = loop {
            let policies = policies_of("notify-rs");
            if !policies.is_empty() || std::time::Instant::now() > deadline {
                break policies;
            }
            std::thread::yield_now();
        };
        assert!(!policies.is_empty(), "no notify thread found");
        assert!(
            policies.iter().all(|&p| p == libc::SCHED_BATCH as u32),
            "notify threads' policies: {policies:?}"
        );
        // The caller's own class is left alone.
        // SAFETY: pid 0 names the calling thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }

    #[test]
    fn read_access_is_ignored() {
        let filter = RwLock::new(WatchSet::derive(&[PathBuf::from("/x/web.yml")]));
        let open = Event::new(EventKind::Access(AccessKind::Open(AccessMode::Any)))
            .add_path(PathBuf::from("/x/web.yml"));
        assert!(!is_relevant(&open, &filter));
        let written = Event::new(EventKind::Access(AccessKind::Close(AccessMode::Write)))
            .add_path(PathBuf::from("/x/web.yml"));
        assert!(is_relevant(&written, &filter));
        let elsewhere = Event::new(EventKind::Create(notify::event::CreateKind::File))
            .add_path(PathBuf::from("/x/unrelated"));
        assert!(!is_relevant(&elsewhere, &filter));
    }
}
