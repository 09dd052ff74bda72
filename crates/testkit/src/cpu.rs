//! CPU time spent by a process, for tests that bound what idle or hostile connections cost:
//! this process's own (`getrusage(RUSAGE_SELF)`, for in-process servers) or a child's
//! (`/proc/<pid>/stat`, for the gateway binary). User plus system time, every thread.
//!
//! An in-process measurement counts everything the test binary does, so measure in a test
//! binary of its own (or serialise the tests in it) and keep the clients idle meanwhile.

use std::time::{Duration, Instant};

/// User plus system CPU time this process has used so far, all threads.
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage fills a local, zero-initialised struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(
            libc::getrusage(libc::RUSAGE_SELF, &mut usage),
            0,
            "getrusage"
        );
        usage
    };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(tv.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(tv.tv_usec).unwrap_or(0))
}

/// User plus system CPU time process `pid` has used so far, from `/proc/<pid>/stat`
/// (clock-tick resolution, usually 10 ms).
pub fn pid_cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are
    // state (3), ..., utime (14), stime (15).
    let rest = &stat[stat.rfind(')').expect("stat comm") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&hz| hz > 0)
        .unwrap_or(100);
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// CPU used over a wall-clock window, started by [`CpuWindow::start`].
#[derive(Debug, Clone, Copy)]
pub struct CpuWindow {
    cpu: Duration,
    wall: Instant,
}

impl CpuWindow {
    /// Starts measuring this process ([`process_cpu_time`]).
    pub fn start() -> Self {
        Self {
            cpu: process_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// CPU time used since the start, and the wall time elapsed.
    pub fn used(&self) -> (Duration, Duration) {
        (process_cpu_time() - self.cpu, self.wall.elapsed())
    }

    /// CPU used since the start as a share of one core (0.01 = 1% of a CPU).
    pub fn share(&self) -> f64 {
        let (cpu, wall) = self.used();
        cpu.as_secs_f64() / wall.as_secs_f64().max(f64::EPSILON)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_up() {
        let window = CpuWindow::start();
        let before = pid_cpu_time(std::process::id());
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let (cpu, wall) = window.used();
        assert!(cpu >= Duration::from_millis(30), "{cpu:?} over {wall:?}");
        assert!(pid_cpu_time(std::process::id()) > before);
    }
}
