//! `livedesk migrate`: moves a SQLite desk into PostgreSQL.

use std::process::ExitCode;

use livedesk::desk::{self, Location};

pub fn run(from: &Location, to: &Location) -> anyhow::Result<ExitCode> {
    let copied = desk::migrate(from, to)?;
    let total: u64 = copied.iter().map(|(_, n)| n).sum();
    for (table, n) in &copied {
        println!("{table:>14}: {n}");
    }
    println!("livedesk: copied {total} rows from `{from}` to `{to}`; counts match");
    Ok(ExitCode::SUCCESS)
}
