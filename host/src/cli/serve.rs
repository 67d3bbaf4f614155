//! `livedesk serve`: run the daemon.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use livedesk::daemon;
use livedesk::desk::Location;

pub fn run(
    file: &Path,
    listen: SocketAddr,
    database: Location,
    now: Option<&str>,
    webhooks: livedesk::webhooks::Settings,
    inbox_rate_limit: u32,
    socket: livedesk::live::Settings,
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
    runtime.block_on(daemon::serve(daemon::Options {
        file: file.to_owned(),
        listen,
        database,
        now,
        webhooks,
        inbox_rate_limit,
        socket,
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// The socket's idle timeout: at least two ping intervals, as a client
/// that only answers pings is heard from once per interval.
pub fn socket_idle(text: &str) -> Result<std::time::Duration, String> {
    let idle = duration(text)?;
    if idle < std::time::Duration::from_secs(6) {
        return Err(format!(
            "`{text}` is under 6s, two of the 3 s between pings: clients that only answer pings would time out"
        ));
    }
    Ok(idle)
}

/// A duration such as `250ms`, `5s`, `10m`, `24h` or `7d`.
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` needs a unit: ms, s, m, h or d"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let seconds = |n: u64| std::time::Duration::from_secs(n);
    match unit {
        "ms" => Ok(std::time::Duration::from_millis(number)),
        "s" => Ok(seconds(number)),
        "m" => Ok(seconds(number.saturating_mul(60))),
        "h" => Ok(seconds(number.saturating_mul(3600))),
        "d" => Ok(seconds(number.saturating_mul(24 * 3600))),
        _ => Err(format!(
            "unknown unit `{unit}` in `{text}` (ms, s, m, h, d)"
        )),
    }
}
