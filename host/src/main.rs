//! `livedesk`: check, format, test and explain `.livedesk` files.
//!
//! Exit codes: 0 all good, 1 findings or failing tests, 2 usage or I/O
//! errors — so scripts can tell "your config is wrong" from "I could not
//! run".

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// The daemon allocates and frees many small buffers per request on several
/// threads; mimalloc's per-thread free lists serve that better than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // Plugin log lines and warnings go to stderr; `RUST_LOG` tunes them.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.json_logs() {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
