//! Coalesced, detached bcrypt jobs on a bounded pool of dedicated threads.
//!
//! A miss either joins the job already registered for its key or enqueues a new one; when the
//! queue is full it is refused at once (`Busy`). The job, not the request, owns the work: it
//! runs to completion on a pool thread, stores its verdict in the cache tier and then wakes
//! every waiter. A request that is cancelled merely stops waiting, so the bcrypt is neither
//! wasted nor restarted (moka's own `try_get_with` would re-run an init future whose task was
//! cancelled, which is why coalescing lives here and the job fills the cache itself).
//! Cache hits never touch this module, so they never wait behind misses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::watch;

use crate::go_hash::GoBcryptHash;
use crate::key::{CacheKey, KeyHashBuilder};
use crate::limiter::{FailureLimiter, source_of};
use crate::metrics::AuthMetrics;
use crate::tiers::{Tiers, Verdict};
use crate::verify::{PreparedPassword, compare_prepared};

/// What a job tells its waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobResult {
    /// The bcrypt ran; the verdict is also in the cache.
    Done(Verdict),
    /// The job was dropped unrun (authenticator shut down, or a bug caught by the pool).
    Abandoned,
}

/// Where a job's result appears.
pub(crate) type Slot = watch::Receiver<Option<JobResult>>;

/// Largest queue accepted; see [`Pool::start`].
const MAX_QUEUE: usize = 1 << 16;

/// Jobs queued or running: by key (for coalescing) and how many each source started.
#[derive(Default)]
struct Inflight {
    jobs: HashMap<CacheKey, Slot, KeyHashBuilder>,
    /// Jobs started per source (IPv4 address or IPv6 /64), for the per-source bound.
    per_source: HashMap<IpAddr, u32>,
}

/// State shared by the authenticator and the pool threads.
pub(crate) struct Core {
    pub(crate) tiers: Tiers,
    pub(crate) metrics: AuthMetrics,
    /// Failures per source. Jobs charge their verdict here themselves, so a client that hangs
    /// up before the verdict is charged all the same.
    pub(crate) limiter: FailureLimiter,
    /// Most jobs one source may have queued or running at once.
    max_per_source: u32,
    /// Bounded by queue capacity plus pool threads.
    inflight: Mutex<Inflight>,
    /// Set when the authenticator is dropped: queued jobs are then abandoned, not run.
    closed: AtomicBool,
}

impl Core {
    pub(crate) fn new(tiers: Tiers, limiter: FailureLimiter, max_per_source: u32) -> Self {
        Self {
            tiers,
            metrics: AuthMetrics::default(),
            limiter,
            max_per_source: max_per_source.max(1),
            inflight: Mutex::new(Inflight::default()),
            closed: AtomicBool::new(false),
        }
    }

    fn inflight(&self) -> MutexGuard<'_, Inflight> {
        // Nothing panics while holding it; if something did, the maps are still consistent.
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a job needs besides its key.
pub(crate) struct JobSpec {
    /// The stored hash, or the decoy for an unknown user.
    pub(crate) hash: GoBcryptHash,
    pub(crate) password: PreparedPassword,
    /// Whether the user exists: an unknown user never matches, whatever the decoy says.
    pub(crate) known: bool,
    /// Who asked: a mismatch is charged to this source's failure count.
    pub(crate) peer: IpAddr,
}

/// How a miss was admitted.
pub(crate) enum Admission {
    /// A job finished for this key just before we looked: its verdict.
    Cached(Verdict),
    /// Wait on this for the job's result.
    Pending(Slot),
    /// Queue full: refuse now.
    Busy,
    /// The source already has its most jobs in flight: refuse now (429).
    SourceBusy,
}

/// A verification to run on the pool.
struct Job {
    key: CacheKey,
    spec: JobSpec,
    core: Arc<Core>,
    tx: watch::Sender<Option<JobResult>>,
    /// Once set, dropping the job does nothing more.
    finished: bool,
}

impl Job {
    fn run(mut self) {
        if self.core.closed.load(Ordering::Relaxed) {
            return self.finish(JobResult::Abandoned);
        }
        let started = Instant::now();
        let matched = compare_prepared(&self.spec.hash, &self.spec.password);
        self.core.metrics.observe_bcrypt(started.elapsed());
        let verdict = if self.spec.known && matched {
            Verdict::Match
        } else {
            Verdict::Mismatch
        };
        // Store before unregistering: a newcomer then finds either the job or the verdict.
        self.core.tiers.store(self.key, verdict);
        if verdict == Verdict::Mismatch {
            // Whether or not anyone still waits for it: a guess is a guess.
            self.core.limiter.record_failure(self.spec.peer);
        }
        self.finish(JobResult::Done(verdict));
    }

    fn finish(&mut self, result: JobResult) {
        self.finished = true;
        let mut inflight = self.core.inflight();
        inflight.jobs.remove(&self.key);
        let source = source_of(self.spec.peer);
        if let Some(n) = inflight.per_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                inflight.per_source.remove(&source);
            }
        }
        drop(inflight);
        self.tx.send_replace(Some(result));
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.finished {
            // Unwinding or shutdown: never leave waiters hanging.
            self.finish(JobResult::Abandoned);
        }
    }
}

/// The bounded pool: `threads` dedicated threads fed by a queue of `queue_capacity` jobs.
pub(crate) struct Pool {
    core: Arc<Core>,
    sender: SyncSender<Job>,
    threads: usize,
}

impl Pool {
    /// Starts the pool threads. If the OS refuses a thread the pool runs with fewer (logged);
    /// with none, every miss is answered `Busy`.
    pub(crate) fn start(core: Arc<Core>, threads: usize, queue_capacity: usize) -> Self {
        // The channel allocates its slots up front: keep a typo from reserving gigabytes.
        let (sender, receiver) = sync_channel::<Job>(queue_capacity.min(MAX_QUEUE));
        let receiver = Arc::new(Mutex::new(receiver));
        let mut started = 0;
        for i in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || worker(&receiver));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "could not start a bcrypt pool thread"),
            }
        }
        Self {
            core,
            sender,
            threads: started,
        }
    }

    /// Number of pool threads running.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Joins the job for `key`, or enqueues a new one built by `spec` for `peer`, or refuses.
    pub(crate) fn admit(
        &self,
        key: CacheKey,
        peer: IpAddr,
        spec: impl FnOnce() -> JobSpec,
    ) -> Admission {
        let core = &self.core;
        let mut inflight = core.inflight();
        if let Some(slot) = inflight.jobs.get(&key) {
            core.metrics.count_coalesced();
            return Admission::Pending(slot.clone());
        }
        // A job may have finished between the caller's cache lookup and this lock.
        if let Some(verdict) = core.tiers.lookup(&key) {
            return Admission::Cached(verdict);
        }
        let source = source_of(peer);
        let started = inflight.per_source.get(&source).copied().unwrap_or(0);
        if started >= core.max_per_source {
            return Admission::SourceBusy;
        }
        let (tx, slot) = watch::channel(None);
        let job = Job {
            key,
            spec: spec(),
            core: Arc::clone(core),
            tx,
            finished: false,
        };
        core.metrics.queue_push();
        match self.sender.try_send(job) {
            Ok(()) => {
                // A worker that already finished it is blocked on this lock until we insert,
                // so its removal always comes after.
                inflight.jobs.insert(key, slot.clone());
                *inflight.per_source.entry(source).or_insert(0) += 1;
                Admission::Pending(slot)
            }
            Err(TrySendError::Full(mut job) | TrySendError::Disconnected(mut job)) => {
                // Disarm: its drop must not take the lock we hold, and nobody waits on it.
                job.finished = true;
                core.metrics.queue_pop();
                core.metrics.count_busy();
                Admission::Busy
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Queued jobs get abandoned quickly instead of burning CPU for nobody; the threads exit
        // once the queue is drained and the sender (dropped right after this) is gone.
        self.core.closed.store(true, Ordering::Relaxed);
    }
}

/// Waits for a job's result. Cancel-safe: dropping this only stops waiting.
pub(crate) async fn wait(mut slot: Slot) -> JobResult {
    match slot.wait_for(Option::is_some).await {
        Ok(value) => value.unwrap_or(JobResult::Abandoned),
        Err(_) => JobResult::Abandoned,
    }
}

/// Niceness of the pool threads where `SCHED_IDLE` is refused (see [`lower_priority`]).
const POOL_NICE: i32 = 19;

/// Moves the calling pool thread below every request worker. bcrypt is the one CPU-heavy
/// thing the gateway does, and a flood of wrong passwords can keep every pool thread busy.
///
/// Linux: `SCHED_IDLE`, so a pool thread only gets CPU the other threads leave idle, and a
/// waking request worker takes its CPU at once. Nice 19 is not enough: the scheduler lets a
/// running thread finish its time slice (milliseconds, whatever its weight) before a woken
/// one runs, and a flood measured cached scrapes up to 27% slower that way. On an idle
/// machine bcrypt still runs at full speed. Where `SCHED_IDLE` is refused, nice 19. Best
/// effort: a failure only costs the isolation, so it is logged, not fatal.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; the call only reads `param`.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param) } == 0 {
            return;
        }
        // SAFETY: gettid has no preconditions; setpriority only reads its arguments.
        let rc = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, POOL_NICE)
        };
        if rc != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "could not lower the bcrypt thread's priority");
        }
    }
}

fn worker(receiver: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let next = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = next else {
            return;
        };
        job.core.metrics.queue_pop();
        // A panic would be a bug; the job's drop still wakes its waiters, and the thread lives on.
        let _ = catch_unwind(AssertUnwindSafe(move || job.run()));
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn lower_priority_moves_only_the_calling_thread_down() {
        // SAFETY (all calls below): pid/tid 0 is the calling thread; the calls have no
        // preconditions and only read their arguments.
        let policy_and_nice = || unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            (
                libc::sched_getscheduler(0),
                libc::getpriority(libc::PRIO_PROCESS, tid),
            )
        };
        let caller_before = policy_and_nice();
        let lowered = std::thread::spawn(move || {
            lower_priority();
            policy_and_nice()
        })
        .join()
        .unwrap();
        assert!(
            lowered.0 == libc::SCHED_IDLE || lowered.1 == POOL_NICE,
            "pool thread kept policy {} nice {}",
            lowered.0,
            lowered.1
        );
        assert_eq!(
            policy_and_nice(),
            caller_before,
            "the caller's priority changed"
        );
    }
}
