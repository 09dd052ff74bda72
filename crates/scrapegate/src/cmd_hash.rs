//! `scrapegate hash-password [--cost N]`.

use std::process::ExitCode;

use clap::Args;

/// Flags of `hash-password`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// bcrypt cost (4..=31).
    #[arg(long, default_value_t = 10)]
    pub cost: u32,
}

pub fn run(args: HashArgs) -> ExitCode {
    let _ = args;
    ExitCode::FAILURE
}
