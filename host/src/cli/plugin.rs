//! `livedesk plugin run`: one call of one plugin in the real sandbox, with
//! the real limits, and everything the call did.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use livedesk::config::{self, PluginLimits};
use livedesk::plugins::{
    AgentAction, CallReport, LimitChanges, LoadedSingle, Origin, PluginHost, SinglePlugin, Subject,
    World,
};
use livedesk::routing::PluginError;
use serde_json::{Value, json};

use super::Format;
use super::fixture::Fixture;

/// What `plugin run` was asked to do.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The component (`.wasm`); its world is read from its exports.
    plugin: PathBuf,
    /// The conversation, in the fixture format `explain` reads.
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// A `config { … }` entry, `key=value`; repeat for more.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A host an agent may reach (`host` or `host:port`), as in
    /// `allow_hosts`; repeat for more.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// The call's time limit (default: 5 for conditions, 30000 for agents).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// The linear-memory limit (default: 64 for conditions, 128 for agents).
    #[arg(long)]
    memory_mib: Option<u64>,
    /// The host I/O budget (default: 1024 for conditions, 4096 for agents).
    #[arg(long)]
    host_io_kib: Option<u64>,
    /// The instant the plugin sees as `now` (RFC 3339); else the
    /// fixture's `at`, else now.
    #[arg(long)]
    at: Option<String>,
    /// Calls to make: the first runs on cold memory, the later ones
    /// warm, as in a daemon that has been serving; the result shown is
    /// the last call's.
    #[arg(long, default_value_t = 1)]
    calls: u32,
    /// Compile the component even if the compile cache holds it.
    #[arg(long)]
    no_cache: bool,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// The result of one call, whichever world the plugin implements.
enum Answer {
    Condition(Result<bool, PluginError>),
    Agent(Result<AgentAction, PluginError>),
}

impl Answer {
    fn failed(&self) -> bool {
        matches!(self, Answer::Condition(Err(_)) | Answer::Agent(Err(_)))
    }
}

/// Exit 0 when the plugin answered, 1 when it failed (an error, a trap, a
/// limit), 2 when it could not be run at all.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = args
        .config
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_owned(), value.to_owned()))
            }
            _ => anyhow::bail!("`--config {pair}` is not `key=value`"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let fixture = Fixture::read(args.fixture.as_deref())?;
    let at = fixture.instant(args.at.as_deref())?;
    let cache_dir = if args.no_cache {
        None
    } else {
        livedesk::plugins::cache::default_dir()
    };
    let loaded = PluginHost::single(SinglePlugin {
        path: &args.plugin,
        config,
        limits: limit_changes(&args)?,
        allow_hosts: args.allow_hosts.clone(),
        cache_dir: cache_dir.as_deref(),
    })
    .map_err(|reason| anyhow::anyhow!("plugin {} {reason}", args.plugin.display()))?;

    let channel = fixture_channel();
    let subject = Subject {
        channel: &channel,
        contact: &fixture.contact,
        conversation: &fixture.conversation,
        history: &fixture.history,
        message: fixture.message.as_ref(),
        at,
    };
    anyhow::ensure!(
        (1..=10_000).contains(&args.calls),
        "`--calls {}` is out of range: 1 to 10000",
        args.calls
    );
    let mut times = Vec::with_capacity(args.calls as usize);
    let (mut answer, mut report) = call(&loaded, &subject)?;
    times.push(report.elapsed);
    for _ in 1..args.calls {
        (answer, report) = call(&loaded, &subject)?;
        times.push(report.elapsed);
    }
    let timing = Timing::of(&times);
    match args.format {
        Format::Human => print!(
            "{}",
            human(&args.plugin, &loaded, &answer, &report, &timing)
        ),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&machine(
                &args.plugin,
                &loaded,
                &answer,
                &report,
                &timing
            ))?
        ),
    }
    Ok(if answer.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The limits given on the command line, range-checked as a `.livedesk`
/// file's are; the others stay the defaults of the plugin's world.
fn limit_changes(args: &RunArgs) -> anyhow::Result<LimitChanges> {
    let max = PluginLimits::MAX;
    let in_range = |flag: &str, value: Option<u64>, max: u64| -> anyhow::Result<Option<u64>> {
        match value {
            Some(v) if !(1..=max).contains(&v) => {
                anyhow::bail!("`--{flag} {v}` is out of range: 1 to {max}")
            }
            other => Ok(other),
        }
    };
    let max_ms = u64::try_from(max.timeout.as_millis()).unwrap_or(u64::MAX);
    Ok(LimitChanges {
        timeout: in_range("timeout-ms", args.timeout_ms, max_ms)?.map(Duration::from_millis),
        memory: in_range("memory-mib", args.memory_mib, max.memory >> 20)?.map(|m| m << 20),
        host_io: in_range("host-io-kib", args.host_io_kib, max.host_io >> 10)?.map(|k| k << 10),
    })
}

/// Wall times of repeated calls: the first (cold) and the later ones'.
struct Timing {
    first: Duration,
    /// Median and slowest of the calls after the first.
    warm: Option<(Duration, Duration)>,
    warm_calls: usize,
}

impl Timing {
    fn of(times: &[Duration]) -> Self {
        let first = times.first().copied().unwrap_or_default();
        let mut warm: Vec<Duration> = times.iter().skip(1).copied().collect();
        warm.sort();
        Self {
            first,
            warm: warm
                .get(warm.len() / 2)
                .zip(warm.last())
                .map(|(m, x)| (*m, *x)),
            warm_calls: warm.len(),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn call(loaded: &LoadedSingle, subject: &Subject<'_>) -> anyhow::Result<(Answer, CallReport)> {
    let first = livedesk::config::ConditionId(0);
    Ok(match loaded.world {
        World::Condition => {
            let (result, report) = loaded.host.run_condition(first, subject);
            (Answer::Condition(result), report)
        }
        World::Agent => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the runtime for an agent call")?;
            let agent = livedesk::config::AiAgentId(0);
            let (result, report) = runtime.block_on(loaded.host.run_agent(agent, subject));
            (Answer::Agent(result), report)
        }
    })
}

/// The channel a fixture's conversation is on: no business hours (so
/// always within them), UTC.
fn fixture_channel() -> config::Channel {
    config::Channel {
        name: "fixture".into(),
        inbox_identifier: None,
        webhook: None,
        identity_validation: None,
        welcome: None,
        csat: false,
        hours: None,
        agents: Vec::new(),
        ai_agent: None,
        policy: config::Policy::LeastLoad,
        reassign_after: None,
        rules: Vec::new(),
        span: livedesk::source::Span::default(),
    }
}

fn result_text(answer: &Answer) -> String {
    match answer {
        Answer::Condition(Ok(true)) => "match (the condition holds)".into(),
        Answer::Condition(Ok(false)) => "no match (the condition does not hold)".into(),
        Answer::Agent(Ok(AgentAction::Reply(text))) => format!("reply {text:?}"),
        Answer::Agent(Ok(AgentAction::ReplyAndHandOff { reply, reason })) => {
            format!("reply {reply:?}, then hand off: {reason}")
        }
        Answer::Agent(Ok(AgentAction::Resolve(Some(text)))) => format!("resolve with {text:?}"),
        Answer::Agent(Ok(AgentAction::Resolve(None))) => "resolve".into(),
        Answer::Agent(Ok(AgentAction::HandOff(reason))) => format!("hand off: {reason}"),
        Answer::Condition(Err(e)) | Answer::Agent(Err(e)) => {
            let after = match answer {
                Answer::Condition(_) => "in routing this counts as no match",
                Answer::Agent(_) => "in the daemon this hands the conversation to humans",
            };
            format!("error: the plugin {e} ({after})")
        }
    }
}

fn origin_text(origin: Origin) -> &'static str {
    match origin {
        Origin::Compiled => "compiled",
        Origin::Cached => "from the compile cache",
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

fn human(
    path: &Path,
    loaded: &LoadedSingle,
    answer: &Answer,
    report: &CallReport,
    timing: &Timing,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let limits = loaded.limits;
    let _ = writeln!(
        out,
        "plugin    {} ({})",
        path.display(),
        loaded.world.name()
    );
    let _ = writeln!(
        out,
        "loaded    in {:.1} ms ({})",
        loaded.load_time.as_secs_f64() * 1e3,
        origin_text(loaded.origin)
    );
    let _ = writeln!(out, "result    {}", result_text(answer));
    if timing.warm.is_some() {
        let _ = writeln!(
            out,
            "          (the last call's; the figures below are its too)"
        );
    }
    match timing.warm {
        None => {
            let _ = writeln!(
                out,
                "time      {:.3} ms (limit {} ms)",
                ms(timing.first),
                limits.timeout.as_millis()
            );
        }
        Some((median, slowest)) => {
            let _ = writeln!(
                out,
                "time      first call {:.3} ms; the next {}: median {:.3} ms, slowest {:.3} ms (limit {} ms)",
                ms(timing.first),
                timing.warm_calls,
                ms(median),
                ms(slowest),
                limits.timeout.as_millis()
            );
        }
    }
    let _ = writeln!(
        out,
        "memory    {} peak linear memory (limit {})",
        mib(report.peak_memory),
        mib(limits.memory)
    );
    let _ = writeln!(
        out,
        "host I/O  {} bytes (limit {})",
        report.host_io, limits.host_io
    );
    if report.output.logs.is_empty() {
        let _ = writeln!(out, "logs      none");
    }
    for (n, log) in report.output.logs.iter().enumerate() {
        let head = if n == 0 { "logs" } else { "" };
        let _ = writeln!(out, "{head:<9} {}: {}", log.level.as_str(), log.message);
    }
    if report.output.dropped_logs > 0 {
        let _ = writeln!(
            out,
            "          ({} more lines past the bound, not kept)",
            report.output.dropped_logs
        );
    }
    if let Some(stderr) = &report.output.stderr {
        let _ = writeln!(out, "stderr");
        for line in stderr.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    if loaded.world == World::Agent {
        if report.requests.is_empty() {
            let _ = writeln!(out, "requests  none");
        }
        for (n, r) in report.requests.iter().enumerate() {
            let head = if n == 0 { "requests" } else { "" };
            let outcome = match (&r.status, &r.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => format!("failed: {error}"),
                (None, None) => "no response".into(),
            };
            let _ = writeln!(
                out,
                "{head:<9} {} {} -> {outcome} ({} bytes sent, {} received)",
                r.method, r.url, r.request_bytes, r.response_bytes
            );
        }
    }
    out
}

fn machine(
    path: &Path,
    loaded: &LoadedSingle,
    answer: &Answer,
    report: &CallReport,
    timing: &Timing,
) -> Value {
    let result = match answer {
        Answer::Condition(Ok(holds)) => json!({"kind": if *holds { "match" } else { "no_match" }}),
        Answer::Agent(Ok(action)) => match action {
            AgentAction::Reply(text) => json!({"kind": "reply", "reply": text}),
            AgentAction::ReplyAndHandOff { reply, reason } => {
                json!({"kind": "reply_and_hand_off", "reply": reply, "reason": reason})
            }
            AgentAction::Resolve(text) => json!({"kind": "resolve", "reply": text}),
            AgentAction::HandOff(reason) => json!({"kind": "hand_off", "reason": reason}),
        },
        Answer::Condition(Err(e)) | Answer::Agent(Err(e)) => {
            json!({"kind": "error", "error": e.to_string()})
        }
    };
    let limits = loaded.limits;
    json!({
        "plugin": path.display().to_string(),
        "world": loaded.world.name(),
        "load": {
            "origin": match loaded.origin { Origin::Compiled => "compiled", Origin::Cached => "cached" },
            "us": us(loaded.load_time),
        },
        "result": result,
        "call": report,
        "timing": {
            "first_us": us(timing.first),
            "warm_calls": timing.warm_calls,
            "warm_median_us": timing.warm.map(|(m, _)| us(m)),
            "warm_max_us": timing.warm.map(|(_, x)| us(x)),
        },
        "limits": {
            "timeout_ms": u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
            "memory": limits.memory,
            "host_io": limits.host_io,
        },
    })
}
