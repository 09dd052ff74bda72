//! A real Prometheus server (the Debian package's `/usr/bin/prometheus`) scraping through the
//! gateway: started as a child on a free loopback port with a given `prometheus.yml`, and its
//! targets' health read from `/api/v1/targets` with deadline-bounded waits. A missing binary
//! is never a failure: [`Prometheus::start`] prints the loud skip line and returns `None`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::net::free_addr;
use crate::process::Proc;
use crate::tools::tool;

/// Where the Debian package installs Prometheus.
pub const BIN: &str = "/usr/bin/prometheus";

/// A running Prometheus (killed when dropped) and the address of its API.
#[derive(Debug)]
pub struct Prometheus {
    /// The process (its log in `proc.stderr`).
    pub proc: Proc,
    /// Its web listener (plain HTTP on loopback).
    pub addr: SocketAddr,
}

/// The state of one scrape target as `/api/v1/targets` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetState {
    /// `up`, `down` or `unknown`.
    pub health: String,
    /// The last scrape's error, empty when it succeeded (e.g. `server returned HTTP status
    /// 401 Unauthorized`).
    pub last_error: String,
}

impl Prometheus {
    /// Starts [`BIN`] with `--config.file=config`, its TSDB in `storage` and `--log.level=warn`
    /// on a free loopback port; `None` (after printing `SKIPPED: prometheus not installed`)
    /// when it is not installed.
    pub fn start(config: &Path, storage: &Path) -> Option<Self> {
        let bin = tool(BIN)?;
        let addr = free_addr();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", storage.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn");
        Some(Self {
            proc: Proc::start(cmd),
            addr,
        })
    }

    /// GET `path` on its API over plain HTTP/1.0; the whole answer (head and body), or `None`
    /// while it is not up yet.
    pub fn get(&self, path: &str) -> Option<String> {
        let mut tcp = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).ok()?;
        tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(tcp, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut out = String::new();
        tcp.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// The state of each job in `jobs` (its first target), read from `/api/v1/targets` once;
    /// `None` for a job Prometheus does not list (yet).
    pub fn targets(&self, jobs: &[&str]) -> Vec<Option<TargetState>> {
        let json = self.get("/api/v1/targets").unwrap_or_default();
        jobs.iter().map(|job| target_state(&json, job)).collect()
    }

    /// Polls `/api/v1/targets` every 250 ms until `done` holds for the states of `jobs` (in
    /// that order); returns them. Panics after `deadline` with the last states seen, the
    /// Prometheus log and `context` (e.g. the gateway's log).
    pub async fn wait_targets(
        &self,
        jobs: &[&str],
        deadline: Duration,
        context: impl Fn() -> String,
        done: impl Fn(&[Option<TargetState>]) -> bool,
    ) -> Vec<TargetState> {
        let end = Instant::now() + deadline;
        loop {
            let states = self.targets(jobs);
            if done(&states) {
                return states
                    .into_iter()
                    .map(|s| s.expect("done() accepted a missing target"))
                    .collect();
            }
            assert!(
                Instant::now() < end,
                "Prometheus targets never reached the expected state within {deadline:?}: \
                 {jobs:?} = {states:?}\n--- prometheus log ---\n{}\n--- context ---\n{}",
                self.proc.stderr.all(),
                context()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The state of the first target of `job` in a `/api/v1/targets` answer (the fields after its
/// `"scrapePool"`, as Prometheus writes them), JSON string escapes undone.
pub fn target_state(json: &str, job: &str) -> Option<TargetState> {
    let chunk = json
        .split("\"scrapePool\":\"")
        .skip(1)
        .find(|c| c.starts_with(&format!("{job}\"")))?;
    let field = |name: &str| -> Option<String> {
        let start = chunk.find(&format!("\"{name}\":\""))? + name.len() + 4;
        json_string(&chunk[start..])
    };
    Some(TargetState {
        health: field("health")?,
        last_error: field("lastError").unwrap_or_default(),
    })
}

/// The JSON string whose opening quote came just before `rest`, unescaped; `None` when it
/// does not end.
fn json_string(rest: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).ok()?;
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_of_jobs() {
        let json = r#"{"status":"success","data":{"activeTargets":[
            {"labels":{"job":"good"},"scrapePool":"good","lastError":"","health":"up"},
            {"labels":{"job":"bad"},"scrapePool":"bad","lastError":"server returned HTTP status 401 Unauthorized \"x\" \u003c","health":"down"}]}}"#;
        assert_eq!(
            target_state(json, "good"),
            Some(TargetState {
                health: "up".into(),
                last_error: String::new()
            })
        );
        let bad = target_state(json, "bad").unwrap();
        assert_eq!(bad.health, "down");
        assert_eq!(
            bad.last_error,
            "server returned HTTP status 401 Unauthorized \"x\" <"
        );
        assert_eq!(target_state(json, "goo"), None);
    }
}
