//! `scrapegate check web-config FILE...`: a drop-in for `promtool check web-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

/// What `check` can validate.
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Validate web.yml files: "<file> SUCCESS" or "<file> FAILED: <error>" on stderr.
    WebConfig {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(cmd: CheckCommand) -> ExitCode {
    let CheckCommand::WebConfig { files } = cmd;
    let _ = files;
    ExitCode::FAILURE
}
