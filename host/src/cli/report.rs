//! `livedesk report csat`: the CSAT report from a desk's database, without
//! a running daemon or its configuration.

use livedesk::desk::Location;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use livedesk::reports::csat;

use super::Format;

/// An RFC 3339 instant or a date (midnight UTC).
fn instant(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("`{text}` is neither a date (2026-11-01) nor an RFC 3339 time"))?;
    Ok(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

pub fn run(
    database: &Location,
    since: Option<&str>,
    until: Option<&str>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let until = until
        .map(instant)
        .transpose()?
        .unwrap_or_else(|| Utc::now() + Duration::seconds(1));
    let since = since
        .map(instant)
        .transpose()?
        .unwrap_or(DateTime::UNIX_EPOCH);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime
        .block_on(livedesk::desk::stored_csat_report(database, since, until))?
        .with_context(|| format!("no LiveDesk desk at `{database}`"))?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Human => print!("{}", render(&report, since, until)),
    }
    Ok(ExitCode::SUCCESS)
}

fn figures_line(name: &str, f: &csat::Figures) -> String {
    let percent = |x: f64| format!("{:.1}%", x * 100.0);
    format!(
        "{name:<28} sent {:>5}  responses {:>5}  rate {:>6}  average {:>4}  satisfied {:>6}  [{}]\n",
        f.sent,
        f.responses,
        percent(f.response_rate),
        f.average_rating.map_or("-".into(), |a| format!("{a:.2}")),
        f.satisfaction_score.map_or("-".into(), percent),
        (1..=5)
            .map(|r| format!(
                "{r}:{}",
                f.distribution.get(&r.to_string()).copied().unwrap_or(0)
            ))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn render(report: &csat::Report, since: DateTime<Utc>, until: DateTime<Utc>) -> String {
    let mut out = format!(
        "CSAT surveys sent from {} to {}\n\n",
        since.to_rfc3339(),
        until.to_rfc3339()
    );
    out += &figures_line("all", &report.total);
    out += "\nby channel\n";
    for (name, f) in &report.by_channel {
        out += &figures_line(name, f);
    }
    out += "\nby agent\n";
    for (name, f) in &report.by_agent {
        out += &figures_line(name, f);
    }
    out
}
