//! `replay-tool`: the auditor's command line, `ledger replay` on its own. Reads a deployment's
//! events topic — an embedded data directory or Kafka — and never writes to it. Parses
//! arguments and calls [`order_ledger::commands::replay`]; an error is exit status 3.

use std::process::ExitCode;

use clap::Parser;
use order_ledger::cli::ReplayToolCli;
use order_ledger::commands;

/// The allocator of `ledger` (see main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    event_log::process::disable_transparent_huge_pages();
    let cli = ReplayToolCli::parse();
    let out = &mut std::io::stdout().lock();
    let code = commands::config(cli.config.as_deref())
        .and_then(|config| commands::replay(&config, cli.replay, out));
    code.unwrap_or_else(|error| {
        if commands::output_closed(&error) {
            return ExitCode::SUCCESS;
        }
        eprintln!("replay-tool: {error:#}");
        ExitCode::from(3)
    })
}
