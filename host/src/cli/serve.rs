//! `livedesk serve`: run the daemon.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use livedesk::daemon;

pub fn run(
    file: &Path,
    listen: SocketAddr,
    data: &Path,
    now: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let now = now
        .map(|text| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&chrono::Utc))
                .with_context(|| format!("`--now {text}` is not an RFC 3339 time"))
        })
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(daemon::run(daemon::Options {
        file: file.to_owned(),
        listen,
        data: data.to_owned(),
        now,
    }))?;
    Ok(ExitCode::SUCCESS)
}
