//! A program under test as a child process: started with piped output whose lines are
//! collected as they come ([`Lines`]), waited on with deadlines, signalled, and killed when the
//! handle is dropped (also when the test panics). The program is named by its path, so the
//! binary crate's tests pass `env!("CARGO_BIN_EXE_scrapegate")` (only they can) and any other
//! test can start any other program the same way.
//!
//! The log helpers read the gateway's logfmt lines (`time=… level=info source=… msg="Listening
//! on" address=127.0.0.1:41234`): [`Proc::listening_on`], [`Proc::address_after`],
//! [`log_field`] and [`address_field`].
//!
//! [`spawn_keeping_stderr`] also keeps every raw byte of stderr ([`RawOutput`]), for assertions
//! on what a log must never contain.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a debug binary may take to come up, or to exit, on a machine shared by several
/// builds.
pub const STARTUP: Duration = Duration::from_secs(30);

/// The lines a child wrote on one of its outputs so far, with a condition variable to wait on.
/// Clones share the same lines.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<Vec<String>>, Condvar)>);

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Lines").field(&self.lock().len()).finish()
    }
}

impl Lines {
    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.0.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, line: String) {
        self.lock().push(line);
        self.0.1.notify_all();
    }

    /// Waits until a line matching `pred` has been written, or `deadline` passes; returns the
    /// first such line.
    pub fn wait_for(&self, deadline: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + deadline;
        let mut lines = self.lock();
        loop {
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if now >= end {
                return None;
            }
            lines = self
                .0
                .1
                .wait_timeout(lines, end - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Every line so far, joined with `\n` (for assertions and failure messages).
    pub fn all(&self) -> String {
        self.lock().join("\n")
    }
}

/// Copies the lines of `r` into `lines` on a thread of its own until the pipe closes.
fn pump(r: impl Read + Send + 'static, lines: Lines) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            match line {
                Ok(l) => lines.push(l),
                Err(_) => return,
            }
        }
    });
}

/// A running child with its stdout and stderr lines; killed and reaped when dropped.
#[derive(Debug)]
pub struct Proc {
    /// The child process.
    pub child: Child,
    /// What it wrote on stderr (the gateway's log).
    pub stderr: Lines,
    /// What it wrote on stdout.
    pub stdout: Lines,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the program at `program` with `args` (stdin closed, stdout and stderr collected).
pub fn spawn(program: impl AsRef<OsStr>, args: &[String]) -> Proc {
    let mut cmd = Command::new(program);
    cmd.args(args);
    Proc::start(cmd)
}

impl Proc {
    /// Starts `cmd` as prepared (environment, `pre_exec`, ...) with stdin closed and stdout
    /// and stderr collected.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()));
        let stderr = Lines::default();
        let stdout = Lines::default();
        pump(child.stderr.take().expect("piped stderr"), stderr.clone());
        pump(child.stdout.take().expect("piped stdout"), stdout.clone());
        Self {
            child,
            stderr,
            stdout,
        }
    }

    /// Waits (up to [`STARTUP`]) for the first log line whose `msg` is `msg` and returns its
    /// `address=` field; panics with the log otherwise.
    pub fn address_after(&self, msg: &str) -> SocketAddr {
        let line = self
            .stderr
            .wait_for(STARTUP, |l| log_field(l, "msg").as_deref() == Some(msg))
            .unwrap_or_else(|| panic!("no {msg:?} log line:\n{}", self.stderr.all()));
        address_field(&line)
    }

    /// The address of the first `Listening on` log line (the first listener).
    pub fn listening_on(&self) -> SocketAddr {
        self.address_after("Listening on")
    }

    /// Waits (bounded) for the process to exit; returns its exit code (`None` when it is
    /// still running at the deadline or was ended by a signal).
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Sends signal `sig` (`libc::SIGTERM`, ...) to the process.
    pub fn signal(&self, sig: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on our own child, which is not reaped while `self` lives.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// VmRSS of the process in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

/// Runs `cmd` to completion with `input` on its stdin (a child that exits without reading it
/// is not an error) and collects its output; panics, after killing it, when it is still
/// running after `limit`.
pub fn run(cmd: &mut Command, input: &[u8], limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()));
    let read_all = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = read_all(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = read_all(child.stderr.take().map(|s| Box::new(s) as _));
    let mut stdin = child.stdin.take().expect("piped stdin");
    match stdin.write_all(input) {
        Ok(()) => {}
        // A refused flag makes the program exit before it reads: its choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("write stdin: {e}"),
    }
    drop(stdin);
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Runs `program` with `args` in the directory `dir` to completion (no input, bounded by
/// [`STARTUP`]) and collects its output: a subcommand run the way an operator types it.
pub fn run_in(program: impl AsRef<OsStr>, args: &[&str], dir: &Path) -> Output {
    run(
        Command::new(program).args(args).current_dir(dir),
        b"",
        STARTUP,
    )
}

/// The value of `key` in a logfmt line, unquoted (`\"`, `\\`, `\n` undone); `None` when the
/// line has no such field.
pub fn log_field(line: &str, key: &str) -> Option<String> {
    let needle = format!(" {key}=");
    let start = if let Some(rest) = line.strip_prefix(&needle[1..]) {
        line.len() - rest.len()
    } else {
        line.find(&needle)? + needle.len()
    };
    let rest = &line[start..];
    let Some(quoted) = rest.strip_prefix('"') else {
        return Some(rest.split(' ').next().unwrap_or("").to_owned());
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// The socket address in a log line's `address=` field; panics when there is none.
pub fn address_field(line: &str) -> SocketAddr {
    log_field(line, "address")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line}"))
}

/// VmRSS of `pid` in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Raises this process's soft RLIMIT_NOFILE to `want` (capped at the hard limit); returns
/// the soft limit now in force. Children started afterwards inherit it.
pub fn raise_nofile(want: u64) -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        assert_eq!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl),
            0,
            "getrlimit"
        );
        let target: libc::rlim_t = want.min(rl.rlim_max);
        if rl.rlim_cur < target {
            rl.rlim_cur = target;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0, "setrlimit");
        }
        assert_eq!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl),
            0,
            "getrlimit"
        );
    }
    rl.rlim_cur
}

/// Every byte a child wrote on one output, exactly as written: for assertions that must not
/// depend on line splitting or UTF-8 decoding ("the log never contains the password").
/// Clones share the same bytes.
#[derive(Clone, Default)]
pub struct RawOutput(Arc<(Mutex<RawState>, Condvar)>);

/// The bytes so far, and whether the pipe has closed.
#[derive(Default)]
struct RawState {
    bytes: Vec<u8>,
    closed: bool,
}

impl std::fmt::Debug for RawOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let guard = self.lock();
        f.debug_struct("RawOutput")
            .field("bytes", &guard.bytes.len())
            .field("closed", &guard.closed)
            .finish()
    }
}

impl RawOutput {
    fn lock(&self) -> MutexGuard<'_, RawState> {
        self.0.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.lock().bytes.clone()
    }

    /// Waits until the child closed the pipe (it exited, or was killed), at most `deadline`;
    /// returns whether it did. After it, [`RawOutput::bytes`] is the whole output.
    pub fn wait_closed(&self, deadline: Duration) -> bool {
        let end = Instant::now() + deadline;
        let mut guard = self.lock();
        while !guard.closed {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            guard = self
                .0
                .1
                .wait_timeout(guard, end - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// Copies `r` into `raw` as read, and its lines (split on `\n`, decoded lossily) into
/// `lines`, on a thread of its own until the pipe closes.
fn pump_raw(mut r: impl Read + Send + 'static, raw: RawOutput, lines: Lines) {
    std::thread::spawn(move || {
        let mut pending = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            raw.lock().bytes.extend_from_slice(&buf[..n]);
            pending.extend_from_slice(&buf[..n]);
            while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line[..i]);
                lines.push(text.strip_suffix('\r').unwrap_or(&text).to_owned());
            }
        }
        if !pending.is_empty() {
            lines.push(String::from_utf8_lossy(&pending).into_owned());
        }
        raw.lock().closed = true;
        raw.0.1.notify_all();
    });
}

/// [`spawn`], also keeping every raw byte of the child's stderr ([`RawOutput`]); its lines
/// still arrive in [`Proc::stderr`] (lossily decoded), so the log helpers work as usual.
pub fn spawn_keeping_stderr(program: impl AsRef<OsStr>, args: &[String]) -> (Proc, RawOutput) {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()));
    let stderr = Lines::default();
    let stdout = Lines::default();
    let raw = RawOutput::default();
    pump_raw(
        child.stderr.take().expect("piped stderr"),
        raw.clone(),
        stderr.clone(),
    );
    pump(child.stdout.take().expect("piped stdout"), stdout.clone());
    (
        Proc {
            child,
            stderr,
            stdout,
        },
        raw,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_fields_bare_and_quoted() {
        let line = "time=x level=error msg=\"Reload refused\" file=/tmp/a/web.yml \
                    err=\"a \\\"b\\\" c\\nd\" address=127.0.0.1:80";
        assert_eq!(log_field(line, "time").as_deref(), Some("x"));
        assert_eq!(log_field(line, "msg").as_deref(), Some("Reload refused"));
        assert_eq!(log_field(line, "file").as_deref(), Some("/tmp/a/web.yml"));
        assert_eq!(log_field(line, "err").as_deref(), Some("a \"b\" c\nd"));
        assert_eq!(log_field(line, "rr"), None);
        assert_eq!(address_field(line), "127.0.0.1:80".parse().unwrap());
    }

    #[test]
    fn run_collects_output_and_exit_code() {
        let out = run(
            Command::new("/bin/sh").args(["-c", "cat; echo oops >&2; exit 3"]),
            b"hello",
            STARTUP,
        );
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"oops\n");
    }

    #[test]
    fn proc_lines_and_exit() {
        let mut p = spawn("/bin/sh", &["-c".into(), "echo out; echo err >&2".into()]);
        assert_eq!(p.wait_exit(STARTUP), Some(0));
        assert!(p.stdout.wait_for(STARTUP, |l| l == "out").is_some());
        assert!(p.stderr.wait_for(STARTUP, |l| l == "err").is_some());
    }

    #[test]
    fn raw_stderr_kept_whole() {
        let (mut p, raw) = spawn_keeping_stderr(
            "/bin/sh",
            &["-c".into(), "printf 'a\\377b\\nsecond' >&2".into()],
        );
        assert_eq!(p.wait_exit(STARTUP), Some(0));
        assert!(raw.wait_closed(STARTUP));
        assert_eq!(raw.bytes(), b"a\xffb\nsecond");
        assert!(p.stderr.wait_for(STARTUP, |l| l == "second").is_some());
        assert!(p.stderr.wait_for(STARTUP, |l| l == "a\u{fffd}b").is_some());
    }
}
