//! Panic containment. Release builds unwind (the workspace profile), so a panic ends only the
//! task it happens in: one connection (tokio catches it at the task boundary) or one bcrypt job
//! (the pool catches it and wakes the job's waiters). [`install_hook`] makes every panic a
//! single error log line with its location (the payload may hold request data, so only a
//! short, escaped excerpt is kept) and counts it in `scrapegate_panics_total`.

use std::sync::atomic::{AtomicU64, Ordering};

static PANICS: AtomicU64 = AtomicU64::new(0);

/// Panics since the process started.
pub fn count() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// Replaces the default panic hook (a multi-line message on stderr) with one log line and a
/// count. Call once at start-up.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        PANICS.fetch_add(1, Ordering::Relaxed);
        let location = info.location().map_or_else(
            || "unknown".to_owned(),
            |l| format!("{}:{}", l.file(), l.line()),
        );
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let excerpt: String = payload.chars().take(200).collect();
        tracing::error!(
            location = %location,
            thread = std::thread::current().name().unwrap_or("unnamed"),
            panic = %excerpt.escape_debug(),
            "A task panicked; it was ended and the gateway keeps serving"
        );
    }));
}
