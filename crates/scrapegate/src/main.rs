//! The `scrapegate` binary: command-line parsing, logging and the subcommands. No business logic
//! lives here; each subcommand calls into the library crates.

mod allocator;
mod cmd_check;
mod cmd_check_scrape;
mod cmd_demo;
mod cmd_hash;
mod cmd_healthcheck;
mod cmd_serve;
mod demo_exporter;
mod logging;
mod probe;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: allocator::Mimalloc = allocator::Mimalloc;

/// TLS, client certificates and cached bcrypt basic auth in front of Prometheus exporters,
/// configured by the same web.yml the exporters read.
#[derive(Debug, Parser)]
#[command(name = "scrapegate", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// `serve` flags, accepted without the subcommand name (`serve` is the default).
    #[command(flatten)]
    serve: cmd_serve::ServeArgs,

    /// Only log messages of this level or above: debug, info, warn or error.
    #[arg(long = "log.level", global = true, default_value = "info")]
    log_level: logging::Level,

    /// Log line format: logfmt or json (to stderr).
    #[arg(long = "log.format", global = true, default_value = "logfmt")]
    log_format: logging::Format,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default subcommand).
    Serve(Box<cmd_serve::ServeArgs>),
    /// Validate configuration files, like promtool.
    #[command(subcommand)]
    Check(cmd_check::CheckCommand),
    /// Read a password on stdin and print its bcrypt hash ($2y$).
    HashPassword(cmd_hash::HashArgs),
    /// Run a self-contained demo: throwaway CA, a demo user, a sample upstream, the gateway.
    Demo(cmd_demo::DemoArgs),
    /// GET the health listener (--web.health-address) once: exit 0 on 2xx, 1 otherwise.
    /// An exec probe for images without curl.
    Healthcheck(cmd_healthcheck::HealthcheckArgs),
}

fn main() -> ExitCode {
    // A bad flag value is a start-up failure like any other: exit 1 (clap's own code is 2),
    // with clap's message naming the flag and what is wrong.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let access = match &cli.command {
        None => cli.serve.log_access,
        Some(Command::Serve(args)) => args.log_access,
        Some(_) => false,
    };
    logging::init(cli.log_level, cli.log_format, access);
    scrapegate_server::panics::install_hook();
    match cli.command {
        None => cmd_serve::run(cli.serve),
        Some(Command::Serve(args)) => cmd_serve::run(*args),
        Some(Command::Check(cmd)) => cmd_check::run(cmd),
        Some(Command::HashPassword(args)) => cmd_hash::run(args),
        Some(Command::Demo(args)) => cmd_demo::run(args),
        Some(Command::Healthcheck(args)) => cmd_healthcheck::run(args),
    }
}
