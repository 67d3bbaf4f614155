//! The command line: flags in, one command run, an exit code out.

mod check;
mod explain;
mod fixture;
mod fmt;
mod identity;
mod migrate;
mod plugin;
mod report;
mod scaffold;
mod serve;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use livedesk::config::{self, Config};
use livedesk::desk::Location;
use livedesk::diagnostics;
use livedesk::plugins;
use livedesk::routing::{ConditionPlugins, NoPlugins};

#[derive(Parser)]
#[command(
    name = "livedesk",
    version,
    about = "A routing host for the API channels of a help desk"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr look: `human`, or `json` (one object per
    /// line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

impl Cli {
    pub fn json_logs(&self) -> bool {
        self.log_format == LogFormat::Json
    }
}

#[derive(Subcommand)]
enum Command {
    /// Parse and validate files; print every error and warning.
    Check {
        #[arg(required_unless_present = "explain")]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Exit 1 on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// Explain a finding's code (`unknown-agent`) with an example;
        /// `--explain all` prints every one.
        #[arg(long, value_name = "CODE", conflicts_with = "files")]
        explain: Option<String>,
    },
    /// Rewrite files in the canonical layout (comments are kept).
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; exit 1 if any file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Run the `test` blocks of files.
    Test {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Fail any test in which a plugin returned an error, trapped or
        /// hit a limit, unless the test says `expect plugin "…" error`.
        #[arg(long)]
        deny_plugin_errors: bool,
    },
    /// Write, run and inspect plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Show how a conversation would be routed, with the full trace.
    Explain {
        file: PathBuf,
        /// The channel the conversation arrives on.
        #[arg(long)]
        channel: String,
        /// JSON with `contact`, `conversation`, `message`, `agents` and `at`.
        #[arg(long)]
        fixture: Option<PathBuf>,
        /// The instant to route at (RFC 3339); overrides the fixture's `at`.
        #[arg(long)]
        at: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run the daemon: the client API, the agent API and routing.
    Serve {
        file: PathBuf,
        /// Address to listen on; port 0 picks a free port (printed at start).
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: std::net::SocketAddr,
        /// Where the desk is kept: a SQLite data directory (`sqlite:DIR`
        /// or just `DIR`), or a PostgreSQL URL (`postgres://…`) that
        /// several instances may share.
        #[arg(long, visible_alias = "data", default_value = "livedesk-data")]
        database: Location,
        /// Start the clock at this RFC 3339 instant instead of now; it runs
        /// on from there (for tests and demos of business hours).
        #[arg(long)]
        now: Option<String>,
        /// Wait after a webhook delivery's first failure; doubled after
        /// each further one (with ±20 % jitter).
        #[arg(long, default_value = "5s", value_parser = serve::duration)]
        webhook_retry_base: std::time::Duration,
        /// The longest wait between two delivery attempts.
        #[arg(long, default_value = "1h", value_parser = serve::duration)]
        webhook_retry_max: std::time::Duration,
        /// Give up on an event still failing this long after it happened.
        #[arg(long, default_value = "24h", value_parser = serve::duration)]
        webhook_give_up_after: std::time::Duration,
        /// Keep delivered events this long after delivery, then delete
        /// them (dead events stay until replayed).
        #[arg(long, default_value = "7d", value_parser = serve::duration)]
        webhook_keep_delivered: std::time::Duration,
        /// Client API requests per second one inbox may make (bursts of a
        /// second's worth); beyond it, 429. 0 turns the limit off.
        #[arg(long, default_value_t = 1000)]
        inbox_rate_limit: u32,
        /// How long an instance keeps the webhook events it took: after
        /// it, other instances on the same PostgreSQL take over the events
        /// of one that stopped mid-delivery.
        #[arg(long, default_value = "60s", value_parser = serve::duration)]
        webhook_lease: std::time::Duration,
        /// Realtime socket (`/cable`) connections open at once; more get 503.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        socket_connections: u32,
        /// Frames that may wait for one socket client; a client further
        /// behind is disconnected (`slow_consumer`) and may resume.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        socket_backlog: u32,
        /// Disconnect a socket client that sent nothing, not even a pong,
        /// for this long (at least 6s: pings go every 3 s).
        #[arg(long, default_value = "30s", value_parser = serve::socket_idle)]
        socket_idle: std::time::Duration,
        /// Keep broadcasts this long for socket clients that resume; one
        /// resuming from further back gets `resync_required`.
        #[arg(long, default_value = "24h", value_parser = serve::duration)]
        socket_retention: std::time::Duration,
    },
    /// Copy a SQLite desk into an empty PostgreSQL database.
    Migrate {
        /// The desk to copy: `sqlite:DIR`.
        #[arg(long)]
        from: Location,
        /// The empty database to copy it into: `postgres://…`.
        #[arg(long)]
        to: Location,
    },
    /// Reports from a desk's database.
    Report {
        #[command(subcommand)]
        report: Report,
    },
    /// Print the `identifier_hash` a front end must send for a user.
    IdentityHash {
        file: PathBuf,
        #[arg(long)]
        channel: String,
        identifier: String,
    },
}

#[derive(Subcommand)]
enum Report {
    /// Customer satisfaction: surveys sent, responses, rates, ratings, by
    /// channel and agent.
    Csat {
        /// The desk: a SQLite directory or a PostgreSQL URL.
        #[arg(long, visible_alias = "data", default_value = "livedesk-data")]
        database: Location,
        /// From this date (2026-11-01) or RFC 3339 instant; default: all.
        #[arg(long)]
        since: Option<String>,
        /// Until this date or instant (exclusive); default: now.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Write a ready plugin project: the source with the WIT bindings
    /// wired, the contract (`wit/`, with its WASI `deps/`), a build file,
    /// a fixture, a `.livedesk` file with tests, and a README.
    New {
        /// The plugin's name: lowercase letters, digits, `-`, `_`.
        name: String,
        #[arg(long, value_enum)]
        lang: scaffold::Language,
        #[arg(long, value_enum)]
        kind: scaffold::Kind,
        /// Where to write it (default: a new directory named NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Call a plugin once on a fixture in the real sandbox, with the real
    /// limits; print its answer, log lines, standard error, time, memory,
    /// host I/O and (for agents) its HTTP requests. Exits 1 when the
    /// plugin fails.
    Run(plugin::RunArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check {
            explain: Some(code),
            ..
        } => check::explain(&code),
        Command::Check {
            files,
            format,
            deny_warnings,
            explain: None,
        } => check::run(&files, format, deny_warnings),
        Command::Fmt { files, check } => fmt::run(&files, check),
        Command::Test {
            files,
            deny_plugin_errors,
        } => test::run(&files, deny_plugin_errors),
        Command::Plugin {
            command:
                PluginCommand::New {
                    name,
                    lang,
                    kind,
                    dir,
                },
        } => scaffold::run(&name, lang, kind, dir.as_deref()),
        Command::Plugin {
            command: PluginCommand::Run(args),
        } => plugin::run(args),
        Command::Explain {
            file,
            channel,
            fixture,
            at,
            format,
        } => explain::run(&file, &channel, fixture.as_deref(), at.as_deref(), format),
        Command::Serve {
            file,
            listen,
            database,
            now,
            webhook_retry_base,
            webhook_retry_max,
            webhook_give_up_after,
            webhook_keep_delivered,
            inbox_rate_limit,
            webhook_lease,
            socket_connections,
            socket_backlog,
            socket_idle,
            socket_retention,
        } => serve::run(
            &file,
            listen,
            database,
            now.as_deref(),
            livedesk::webhooks::Settings {
                retry_base: webhook_retry_base,
                retry_max: webhook_retry_max,
                give_up_after: webhook_give_up_after,
                keep_delivered: webhook_keep_delivered,
                lease: webhook_lease,
                ..livedesk::webhooks::Settings::default()
            },
            inbox_rate_limit,
            livedesk::live::Settings {
                connections: socket_connections as usize,
                backlog: socket_backlog as usize,
                idle: socket_idle,
                retention: socket_retention,
            },
        ),
        Command::Report {
            report:
                Report::Csat {
                    database,
                    since,
                    until,
                    format,
                },
        } => report::run(&database, since.as_deref(), until.as_deref(), format),
        Command::Migrate { from, to } => migrate::run(&from, &to),
        Command::IdentityHash {
            file,
            channel,
            identifier,
        } => identity::run(&file, &channel, &identifier),
    }
}

/// `file` as a configuration, its errors printed with their carets to
/// stderr; `Err` when it cannot be read. The commands that need a valid
/// configuration start here; the count of errors says why there is none.
pub fn load(file: &std::path::Path) -> anyhow::Result<(Option<Config>, usize)> {
    let loaded = config::load(file)?;
    let errors: Vec<_> = loaded
        .findings
        .iter()
        .filter(|f| f.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        eprint!("{}", diagnostics::render_human(&loaded.sources, &errors));
    }
    let count = errors.len().max(usize::from(loaded.config.is_none()));
    Ok((loaded.config, count))
}

/// Loads the plugins `config` names for routing (`test`, `explain`),
/// printing why one cannot be loaded; `None` when one cannot.
pub fn load_plugins(config: &Config) -> Option<Box<dyn ConditionPlugins>> {
    match plugins::load(config, plugins::Purpose::Check) {
        Ok(Some(host)) => Some(Box::new(host)),
        Ok(None) => Some(Box::new(NoPlugins)),
        Err(findings) => {
            eprint!("{}", diagnostics::render_human(&config.sources, &findings));
            None
        }
    }
}

/// The channel called `name`, or an error naming the closest one.
pub fn channel(config: &Config, name: &str) -> anyhow::Result<config::ChannelId> {
    config.channel_named(name).ok_or_else(|| {
        let names = config.channels.iter().map(|c| c.name.as_str());
        match diagnostics::did_you_mean(name, names) {
            Some(close) => anyhow::anyhow!("unknown channel `{name}`; did you mean \"{close}\"?"),
            None => anyhow::anyhow!("unknown channel `{name}`"),
        }
    })
}
