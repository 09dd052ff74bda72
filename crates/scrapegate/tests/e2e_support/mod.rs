//! Shared helpers of the `e2e_*` tests: the real binary as a child process (killed on drop),
//! its log lines, a hyper upstream on loopback, throwaway certificates and cheap bcrypt hashes.
#![allow(dead_code)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// Generous: a debug binary on a machine shared by several builds.
pub const STARTUP: Duration = Duration::from_secs(30);

/// Collected output lines of a child, with a condition variable to wait on.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Lines {
    fn push(&self, line: String) {
        let (m, cv) = &*self.0;
        m.lock().unwrap().push(line);
        cv.notify_all();
    }

    /// Waits (bounded) for a line matching `pred`; returns it.
    pub fn wait_for(&self, deadline: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let (m, cv) = &*self.0;
        let end = Instant::now() + deadline;
        let mut lines = m.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if now >= end {
                return None;
            }
            lines = cv.wait_timeout(lines, end - now).unwrap().0;
        }
    }

    pub fn all(&self) -> String {
        self.0.0.lock().unwrap().join("\n")
    }
}

/// The binary under test, killed when dropped (even when the test panics).
pub struct Proc {
    pub child: Child,
    pub stderr: Lines,
    pub stdout: Lines,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pump(r: impl std::io::Read + Send + 'static, lines: Lines) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            match line {
                Ok(l) => lines.push(l),
                Err(_) => return,
            }
        }
    });
}

/// Starts `scrapegate` with `args`.
pub fn spawn(args: &[String]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scrapegate"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scrapegate");
    let stderr = Lines::default();
    let stdout = Lines::default();
    pump(child.stderr.take().unwrap(), stderr.clone());
    pump(child.stdout.take().unwrap(), stdout.clone());
    Proc {
        child,
        stderr,
        stdout,
    }
}

impl Proc {
    /// The address of the first `Listening on` log line.
    pub fn listening_on(&self) -> SocketAddr {
        let line = self
            .stderr
            .wait_for(STARTUP, |l| l.contains("msg=\"Listening on\""))
            .unwrap_or_else(|| panic!("no Listening on line:\n{}", self.stderr.all()));
        address_field(&line)
    }

    /// Waits (bounded) for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process by its id.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }
}

/// A hyper HTTP/1.1 upstream on 127.0.0.1. `/slow` answers after 2 s. Counts requests.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

pub async fn upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let hits2 = Arc::clone(&hits);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let hits = Arc::clone(&hits2);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    hits.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if req.uri().path() == "/slow" {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                        let leaked = req.headers().contains_key("authorization");
                        let body = if leaked {
                            "AUTHORIZATION LEAKED".to_string()
                        } else {
                            "demo_metric 1\n".to_string()
                        };
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Upstream {
        addr,
        hits,
        _task: task,
    }
}

/// CA + server certificate for localhost/127.0.0.1 written as ca.pem, server.crt, server.key.
pub fn write_pki(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "e2e CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

/// The address in a log line's `address=` field.
pub fn address_field(line: &str) -> SocketAddr {
    line.split("address=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line}"))
}

/// A temporary directory with the test PKI ([`write_pki`]) and a `web.yml` serving
/// `server.crt`/`server.key` over TLS, followed by `rest`: more `tls_server_config` keys
/// (indented two spaces) and further sections. Returns the directory and the web.yml path.
pub fn tls_site(rest: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_pki(dir.path());
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{rest}"),
    )
    .unwrap();
    (dir, web)
}

/// A cheap (cost 4) `$2y$` hash.
pub fn hash(password: &str) -> String {
    bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY)
}

/// The path of `tool` when installed, else prints the loud skip line and returns `None`.
pub fn tool(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        Some(p)
    } else {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        eprintln!("SKIPPED: {name} not installed");
        None
    }
}

/// Runs curl with `args`; returns (HTTP status, body).
pub fn curl(curl: &Path, args: &[String]) -> (u16, String) {
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}
