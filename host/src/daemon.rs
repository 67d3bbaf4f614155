//! `livedesk serve`: wires configuration, plugins, storage and HTTP
//! together, runs the timers, and stops on Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{self, Config};
use crate::desk::{Desk, Runtime};
use crate::diagnostics;
use crate::dsl;
use crate::plugins::{self, PluginHost};
use crate::store::SqliteStore;

/// How often reassignment and snooze timers are checked.
const TIMER_PERIOD: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Options {
    pub file: PathBuf,
    pub listen: SocketAddr,
    pub data: PathBuf,
    /// Start the clock at this instant (tests and demos).
    pub now: Option<DateTime<Utc>>,
    pub webhooks: crate::webhooks::Settings,
}

/// Parses and validates `file`; errors are printed with their carets.
pub fn load_config(file: &std::path::Path) -> anyhow::Result<Config> {
    let program = match dsl::load(file)? {
        Ok(program) => program,
        Err(rejected) => {
            eprint!(
                "{}",
                diagnostics::render_human(&rejected.sources, &rejected.findings)
            );
            bail!("`{}` has errors", file.display());
        }
    };
    let validated = config::validate(&program);
    let errors: Vec<_> = validated
        .findings
        .iter()
        .filter(|f| f.is_error())
        .cloned()
        .collect();
    match validated.config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            eprint!("{}", diagnostics::render_human(&program.sources, &errors));
            bail!("`{}` has errors", file.display())
        }
    }
}

/// Loads the plugins `config` names; `None` when it names none.
fn load_plugins(config: &Config) -> anyhow::Result<Option<PluginHost>> {
    if config.conditions.is_empty() && config.ai_agents.is_empty() {
        return Ok(None);
    }
    match PluginHost::load(config, &plugins::Options::default()) {
        Ok(host) => Ok(Some(host)),
        Err(findings) => {
            eprint!("{}", diagnostics::render_human(&config.sources, &findings));
            bail!("plugins could not be loaded")
        }
    }
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let config = load_config(&options.file)?;
    let revision = config.revision.clone();
    let plugins = load_plugins(&config)?;
    let store = SqliteStore::open(&options.data)
        .with_context(|| format!("cannot open storage in `{}`", options.data.display()))?;
    let store: Arc<SqliteStore> = Arc::new(store);
    let runtime = Runtime::prepare(config, plugins, store.as_ref()).await?;
    let clock = options.now.map_or(Clock::system(), Clock::starting_at);
    let desk = Desk::new(store, runtime, clock);

    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let address = listener.local_addr()?;
    announce(&desk, &options, &revision.to_string(), address)?;

    let resumed = desk.resume_ai_turns().await?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed AI agent turns interrupted by a restart");
    }
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(run_timers(Arc::clone(&desk), stopped.clone()));
    tokio::spawn(crate::webhooks::run(
        Arc::clone(&desk),
        options.webhooks,
        stopped.clone(),
    ));
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping");
        let _ = stop.send(true);
    });
    crate::api::serve(listener, desk, stopped).await;
    Ok(())
}

/// Tells the operator (and test harnesses) where LiveDesk listens and
/// which inbox identifiers the front ends use.
fn announce(
    desk: &Desk,
    options: &Options,
    revision: &str,
    address: SocketAddr,
) -> anyhow::Result<()> {
    let runtime = desk.runtime();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "livedesk: serving `{}` (revision {revision}) on http://{address}",
        options.file.display()
    )?;
    for inbox in &runtime.inboxes {
        writeln!(
            out,
            "livedesk: inbox {:?} identifier {}",
            runtime.config.channel(inbox.channel).name,
            inbox.inbox.identifier
        )?;
    }
    out.flush()?;
    Ok(())
}

async fn run_timers(desk: Arc<Desk>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TIMER_PERIOD);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        match desk.run_timers().await {
            Ok(0) => {}
            Ok(moved) => tracing::info!(moved, "reassigned conversations without an agent reply"),
            Err(e) => tracing::warn!("timers failed: {e}"),
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
