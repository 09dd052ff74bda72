//! External programs some tests drive (`openssl s_client`, `curl`, `promtool`, ...). A missing
//! program is never a failure: the test prints `SKIPPED: <name> not installed` and returns.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::wait::DEADLINE;

/// `openssl` when installed; otherwise prints the loud skip line.
pub fn openssl() -> Option<&'static str> {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        Some("openssl")
    } else {
        eprintln!("SKIPPED: openssl not installed");
        None
    }
}

/// The program at `path` when it exists; otherwise prints the loud skip line.
pub fn tool(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        Some(p)
    } else {
        let name = p
            .file_name()
            .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
        eprintln!("SKIPPED: {name} not installed");
        None
    }
}

/// Runs `openssl s_client` against `addr` (server name `localhost`, trusting `ca_pem`, which
/// is written into `dir`) with extra `args`; returns stdout and stderr together. stdin is
/// closed at once, so s_client exits after the handshake or its failure.
pub async fn s_client(addr: SocketAddr, dir: &Path, ca_pem: &str, args: &[&str]) -> String {
    let ca = dir.join("s_client_ca.pem");
    std::fs::write(&ca, ca_pem).expect("write CA file");
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .arg("-servername")
        .arg("localhost")
        .arg("-CAfile")
        .arg(&ca)
        .args(args)
        .stdin(Stdio::null());
    let out = tokio::time::timeout(
        DEADLINE,
        tokio::task::spawn_blocking(move || cmd.output().expect("run openssl s_client")),
    )
    .await
    .expect("s_client in time")
    .expect("s_client task");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Runs `curl -sS --max-time 20` with `args`; returns the HTTP status (0 when none) and the
/// body.
pub fn curl(curl: &Path, args: &[String]) -> (u16, String) {
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}
