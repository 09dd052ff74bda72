//! `scrapegate demo`: everything needed to see the gateway work, in one command.

use std::process::ExitCode;

use clap::Args;

/// Flags of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {}

pub fn run(args: DemoArgs) -> ExitCode {
    let _ = args;
    ExitCode::FAILURE
}
