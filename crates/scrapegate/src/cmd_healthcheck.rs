//! `scrapegate healthcheck [--url URL] [--timeout D]`: one plain-HTTP GET against the health
//! listener (`serve --web.health-address`), exit 0 on a 2xx answer and 1 otherwise.
//!
//! It exists for images without curl or a shell (distroless): a Kubernetes exec probe or a
//! Docker `HEALTHCHECK` runs the binary that is already there. Failures print exactly one line
//! on stderr, which kubelet and Docker keep as the probe's output.

use std::process::ExitCode;
use std::time::Duration;

use crate::probe;
use clap::Args;

use crate::cmd_serve::parse_duration;

/// Flags of `healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// URL to GET: http:// only (the health listener speaks plain HTTP); /-/healthy for
    /// liveness, /-/ready for readiness.
    #[arg(long, default_value = "http://127.0.0.1:9444/-/ready")]
    pub url: String,

    /// Give up after this long (connecting included), e.g. 500ms, 3s.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Runs `healthcheck`. Every failure exits 1, never 2: Docker reserves exit code 2 of a
/// `HEALTHCHECK` command.
pub fn run(args: HealthcheckArgs) -> ExitCode {
    match check(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("scrapegate healthcheck: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The probe; `Err` is the one line to print.
fn check(args: &HealthcheckArgs) -> Result<(), String> {
    let url = probe::probe_url(&args.url).map_err(|e| e.to_string())?;
    if args.timeout.is_zero() {
        return Err("--timeout must be above 0s".into());
    }
    // One request: a current-thread runtime is all it needs, and starts no worker threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // The deadline is created inside the runtime: tokio's timers need its time driver.
    let outcome =
        runtime.block_on(async { tokio::time::timeout(args.timeout, probe::probe(&url)).await });
    match outcome {
        Err(_elapsed) => Err(format!("{url}: timed out after {:?}", args.timeout)),
        Ok(Err(e)) => Err(format!("{url}: {e}")),
        Ok(Ok(status)) if status.is_success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{url}: {status}")),
    }
}
