//! `scrapegate serve` (the default subcommand).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Flags of `serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// web.yml path; absent = plain HTTP, no auth.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let _ = args;
    ExitCode::FAILURE
}
