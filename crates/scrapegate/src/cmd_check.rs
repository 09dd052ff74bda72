//! `scrapegate check web-config FILE...`: a drop-in for `promtool check web-config`.
//!
//! Same output and exit codes as promtool: for each file, in order, `<file> SUCCESS` or
//! `<file> FAILED: <error>` on stderr; it keeps going after a failure and exits 1 if any file
//! failed, else 0. Like promtool (whose kingpin flag parser checks that every argument is an
//! existing file before anything runs), a path that does not exist or is a directory is refused
//! up front with `scrapegate: error: path '<file>' does not exist, try --help` (or
//! `'<file>' is a directory`) and exit code 1, and no file is checked; no file at all gives
//! promtool's `required argument 'web-config-files' not provided` and exit code 1.
//!
//! Beyond promtool, a valid file may get `<file> WARNING: <text>` lines after its verdict (the
//! verdict and exit code do not change): settings rustls cannot serve, RSA keys, certificates
//! near expiry, high bcrypt costs, SAN lists that are never checked, an empty client CA, and
//! the HTTP/2 cipher requirement that makes the server refuse to start.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

/// What `check` can validate.
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Validate web.yml files: "<file> SUCCESS" or "<file> FAILED: <error>" on stderr.
    WebConfig {
        /// The files to check (at least one).
        #[arg(value_name = "web-config-files")]
        files: Vec<PathBuf>,
    },
}

/// Runs `check`.
pub fn run(cmd: CheckCommand) -> ExitCode {
    let CheckCommand::WebConfig { files } = cmd;
    if files.is_empty() {
        // promtool's wording and exit code, rather than clap's usage error (exit 2).
        eprintln!(
            "scrapegate: error: required argument 'web-config-files' not provided, try --help"
        );
        return ExitCode::FAILURE;
    }
    if let Some(problem) = files.iter().find_map(|f| argument_problem(f)) {
        eprintln!("scrapegate: error: {problem}, try --help");
        return ExitCode::FAILURE;
    }
    let mut all_ok = true;
    for file in &files {
        let shown = file.display();
        match scrapegate_config::load(file) {
            Ok(cfg) => {
                eprintln!("{shown} SUCCESS");
                for warning in warnings_for(&cfg) {
                    eprintln!("{shown} WARNING: {warning}");
                }
            }
            Err(e) => {
                all_ok = false;
                eprintln!("{shown} FAILED: {e}");
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// kingpin's `ExistingFiles` check, with its texts.
fn argument_problem(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(_) => Some(format!("path '{}' does not exist", path.display())),
        Ok(m) if m.is_dir() => Some(format!("'{}' is a directory", path.display())),
        Ok(_) => None,
    }
}

/// What the gateway would make of a file promtool accepts: the TLS plan's warnings (or why
/// the gateway would refuse to serve it, e.g. Go's HTTP/2 cipher rule, which promtool skips),
/// then the config crate's advice. Start-up and reload use the same plan.
fn warnings_for(cfg: &scrapegate_config::ValidatedConfig) -> Vec<String> {
    let mut out = match &cfg.tls {
        None => Vec::new(),
        Some(settings) => match scrapegate_tls::plan(settings, cfg.http2) {
            Ok(plan) => plan.warnings,
            Err(e) => vec![format!(
                "promtool accepts this file, but the server will refuse to start: {e}"
            )],
        },
    };
    out.extend(scrapegate_config::warnings(cfg));
    out
}
