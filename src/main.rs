//! `ledger`: the order-ledger command line. Parses arguments and calls the library
//! ([`order_ledger::commands`]); an error it returns is exit status 3.

use std::io;
use std::process::ExitCode;

use clap::Parser;
use order_ledger::cli::{Cli, Command};
use order_ledger::commands;

/// mimalloc instead of the system allocator: sled's page cache allocates and frees small
/// nodes at a high rate, and glibc's malloc slows down as its heap fragments (BENCHMARKS.md,
/// replay tool: rebuild).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    event_log::process::disable_transparent_huge_pages();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEDGER_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) if commands::output_closed(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ledger: {error:#}");
            ExitCode::from(3)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let out = &mut io::stdout().lock();
    let config = commands::config(cli.config.as_deref())?;
    match cli.command {
        Command::Rules(args) => commands::rules(args, out),
        Command::Validate(args) => commands::validate(&config, args, out),
        Command::Schemas(args) => commands::schemas(args, out),
        Command::Topics(args) => commands::topics(&config, args, out),
        Command::Serve(args) => commands::serve(&config, args, out),
        Command::Submit(args) => commands::submit(&config, args, out),
        Command::Query(args) => commands::query(&config, args, out),
        Command::Rebuild(args) => commands::rebuild(&config, args, out),
        Command::Replay(args) => commands::replay(&config, args, out),
        Command::Reconcile(args) => commands::reconcile(&config, args, out),
        Command::Demo(args) => commands::demo(&config, args, out),
        Command::Bench(args) => commands::bench(cli.config.as_deref(), args, out),
        Command::OrderId(args) => commands::order_id(args, out),
        Command::Token(args) => commands::token(args, out),
    }
}
