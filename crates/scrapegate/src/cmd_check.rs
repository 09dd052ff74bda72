//! `scrapegate check web-config FILE...`, a drop-in for `promtool check web-config`, and
//! `scrapegate check config`, which checks a `scrapegate.yml` with its web.yml.
//!
//! `check web-config` has the same output and exit codes as promtool: for each file, in order, `<file> SUCCESS` or
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
//!
//! `scrapegate check config scrapegate.yml [--web.config.file=web.yml]` checks the policy file
//! and, as the server does on every start and reload, the pair: the web.yml is loaded first
//! (when given), then `scrapegate.yml` (tokens read and hashed, routes and rules checked),
//! then the rules that need both (every `allow.users` entry must be a web.yml user; without a
//! web.yml no route may name users). Output is promtool's: `scrapegate.yml SUCCESS` or
//! `scrapegate.yml FAILED: <error>` on stderr, exit 0 or 1. A web.yml that fails by itself is
//! reported as `web.yml FAILED: <error>` (exit 1) and the policy is not judged against it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use scrapegate_model::ConfigSet;

/// What `check` can validate.
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Validate web.yml files: "<file> SUCCESS" or "<file> FAILED: <error>" on stderr.
    WebConfig {
        /// The files to check (at least one).
        #[arg(value_name = "web-config-files")]
        files: Vec<PathBuf>,
    },
    /// Validate a scrapegate.yml, and the pair with web.yml: "<file> SUCCESS" or
    /// "<file> FAILED: <error>" on stderr.
    Config {
        /// The scrapegate.yml to check.
        #[arg(value_name = "config-file")]
        file: PathBuf,
        /// The web.yml it is served with (its basic_auth_users are what allow.users may name).
        #[arg(long = "web.config.file", value_name = "web.yml")]
        web_config_file: Option<PathBuf>,
    },
    /// Check statically that each scrape job of a prometheus.yml would be let in by the gateway
    ///
    /// Output: `job "NAME": SUCCESS` or `job "NAME" FAILED: <reasons>` on stderr, exit 1 if
    /// any job fails or a file does not load.
    ///
    /// Checked per job: the scheme (https when web.yml enables TLS); the served certificate
    /// against tls_config's ca/ca_file (else the system roots) for server_name, else each
    /// target's host (skipped with insecure_skip_verify); the client certificate and key
    /// against client_auth_type, client_ca_file and client_allowed_sans; basic_auth against
    /// web.yml's users (one bcrypt per job) or a Bearer authorization against
    /// scrapegate.yml's bearer_tokens, credentials being needed when users or tokens are
    /// configured; the route metrics_path resolves to, its anonymous paths and its allow
    /// rule for the job's identity and GET. Routes come from scrapegate.yml only: the
    /// serve flags --upstream and --route are not known to this check, and without routes a
    /// default route / that admits anyone authenticated is assumed. Relabelling that changes
    /// __scheme__ or __metrics_path__, service discovery and scrape_config_files are not
    /// followed.
    #[command(verbatim_doc_comment)]
    ScrapeConfig {
        /// The Prometheus configuration file (keys other than those checked are ignored).
        #[arg(value_name = "prometheus.yml")]
        file: PathBuf,
        /// The gateway's web.yml (absent: plain HTTP, no users, as `serve` without it).
        #[arg(long = "web.config.file", value_name = "web.yml")]
        web_config_file: Option<PathBuf>,
        /// The gateway's scrapegate.yml (bearer tokens, routes and their rules).
        #[arg(long = "config.file", value_name = "scrapegate.yml")]
        config_file: Option<PathBuf>,
        /// Only check the jobs with this static target (exactly as written in the job).
        #[arg(long = "target", value_name = "HOST:PORT")]
        target: Option<String>,
    },
}

/// Runs `check`.
pub fn run(cmd: CheckCommand) -> ExitCode {
    match cmd {
        CheckCommand::WebConfig { files } => web_config(&files),
        CheckCommand::Config {
            file,
            web_config_file,
        } => config(&file, web_config_file.as_deref()),
        CheckCommand::ScrapeConfig {
            file,
            web_config_file,
            config_file,
            target,
        } => crate::cmd_check_scrape::run(
            &file,
            web_config_file.as_deref(),
            config_file.as_deref(),
            target.as_deref(),
        ),
    }
}

/// `check config`: web.yml (if given), then scrapegate.yml, then the pair.
fn config(file: &Path, web_config_file: Option<&Path>) -> ExitCode {
    let web = match web_config_file.map(|w| (w, scrapegate_config::load(w))) {
        None => None,
        Some((_, Ok(web))) => Some(web),
        Some((w, Err(e))) => {
            eprintln!("{} FAILED: {e}", w.display());
            return ExitCode::FAILURE;
        }
    };
    let checked = scrapegate_config::load_policy(file)
        .and_then(|policy| scrapegate_config::pair(web, Some(policy)))
        .map_err(|e| e.to_string())
        .and_then(|set| set_warnings(&set));
    let shown = file.display().to_string();
    match checked {
        Ok(warnings) => {
            for warning in warnings {
                eprintln!("{shown} WARNING: {warning}");
            }
            eprintln!("{shown} SUCCESS");
            ExitCode::SUCCESS
        }
        Err(text) => {
            // The policy's errors start with the file's name; the verdict line already has it.
            let reason = text
                .strip_prefix(shown.as_str())
                .and_then(|r| r.strip_prefix(": "))
                .unwrap_or(&text);
            eprintln!("{shown} FAILED: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// What start-up would say about a paired set beyond loading it: the TLS plan (with the client
/// CRLs; a stale list is a warning) and each route's upstream TLS (verification off, no
/// roots). An error is what would stop the gateway from starting.
fn set_warnings(set: &ConfigSet) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    if let Some(web) = &set.web
        && let Some(tls) = &web.tls
    {
        let plan = scrapegate_tls::plan(tls, web.http2)
            .map_err(|e| format!("{}: tls_server_config: {e}", web.path.display()))?;
        warnings.extend(plan.warnings);
    }
    for route in set.policy.iter().flat_map(|p| &p.routes) {
        if let Some(tls) = &route.transport.tls {
            scrapegate_tls::upstream_client_tls(
                tls,
                route.upstream.host(),
                &route.prefix,
                &mut warnings,
            )
            .map_err(|e| e.to_string())?;
        }
    }
    Ok(warnings)
}

/// `check web-config`: promtool's behaviour, file by file.
fn web_config(files: &[PathBuf]) -> ExitCode {
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
    for file in files {
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
