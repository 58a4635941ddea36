//! The `keptn` command line.

mod cli;
mod commands;
mod config;
mod demo;
mod demo_service;
mod evaluate;
mod output;
mod serve;
mod signals;
mod watch;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command};

/// mimalloc rather than the system allocator: with glibc's, a profile of `keptn serve` under
/// load put about a fifth of its request-handling CPU in `malloc`, `free` and
/// `malloc_consolidate`, and with mimalloc its intake at 256 connections rose from about 7k to
/// 10k-13k events/s (docs/performance.md, "`keptn serve`").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    if let Command::Evaluate(args) = &cli.command {
        return ExitCode::from(u8::try_from(evaluate::run(args)).unwrap_or(1));
    }
    if let Command::Completion(args) = &cli.command {
        let mut command = Cli::command();
        clap_complete::generate(args.shell, &mut command, "keptn", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Demo(args) => runtime.block_on(demo::run(args)),
        Command::DemoService(args) => runtime.block_on(demo_service::run(args)).map(|()| 0),
        Command::Serve(args) => runtime.block_on(serve::run(args)).map(|()| 0),
        _ => runtime.block_on(commands::run(cli)),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr: warnings by default, more with -v, overridable with RUST_LOG.
fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .compact()
        .init();
}
