//! `livedesk serve`: wires configuration, plugins, storage and HTTP
//! together, runs the timers, and stops on Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::config::{self, Config, Loaded};
use crate::desk::{Desk, Runtime};
use crate::diagnostics;
use crate::plugins::{self, PluginHost};
use crate::store::{self, Location, Notice};

/// How often reassignment and snooze timers are checked.
const TIMER_PERIOD: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Options {
    pub file: PathBuf,
    pub listen: SocketAddr,
    /// Where the desk is kept: a SQLite directory or a PostgreSQL URL.
    pub database: Location,
    /// Start the clock at this instant (tests and demos).
    pub now: Option<DateTime<Utc>>,
    pub webhooks: crate::webhooks::Settings,
    /// Client API requests per second per inbox; 0 for no limit.
    pub inbox_rate_limit: u32,
    /// The realtime socket's limits.
    pub socket: crate::live::Settings,
}

/// The configuration in `file`, or an error carrying every error finding
/// rendered with its caret: the start prints it, a reload logs it.
fn load_config(file: &std::path::Path) -> anyhow::Result<Config> {
    let loaded = config::load(file)?;
    let Loaded {
        sources,
        config,
        findings,
    } = loaded;
    config.ok_or_else(|| {
        let errors: Vec<_> = findings.into_iter().filter(|f| f.is_error()).collect();
        anyhow::anyhow!(
            "`{}` has errors:\n{}",
            file.display(),
            diagnostics::render_human(&sources, &errors)
        )
    })
}

/// The plugins `config` names, loaded to serve (every secret set).
fn load_plugins(config: &Config) -> anyhow::Result<Option<PluginHost>> {
    plugins::load(config, plugins::Purpose::Serve).map_err(|findings| {
        anyhow::anyhow!(
            "plugins could not be loaded:\n{}",
            diagnostics::render_human(&config.sources, &findings)
        )
    })
}

/// What a shutdown had to cut short; all zero when everything finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Daemon tasks (webhook round, timers, reloads) still running after
    /// the grace period.
    pub tasks_cut_short: usize,
    /// AI-agent turns still running after theirs; they are resumed at the
    /// next start.
    pub ai_turns_cut_short: usize,
}

/// `livedesk serve`: listens on `options.listen` and runs until SIGTERM
/// or Ctrl-C.
pub async fn serve(options: Options) -> anyhow::Result<Drained> {
    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    run(listener, options, wait_for_signal()).await
}

/// Runs the daemon on `listener` until `shutdown` resolves (`listen` in
/// the options is not used), then drains: no new connections, requests in
/// flight answered, the webhook round in progress recorded, AI-agent turns
/// given [`AI_TURN_GRACE`] to finish. Every task it starts belongs to one
/// tracker, so when it returns nothing of it runs on.
pub async fn run(
    listener: TcpListener,
    options: Options,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Drained> {
    let config = load_config(&options.file)?;
    let revision = config.revision.clone();
    let plugins = load_plugins(&config)?;
    let store = store::open(&options.database)
        .with_context(|| format!("cannot open the desk at `{}`", options.database))?;
    let runtime = Runtime::prepare(config, plugins, store.as_ref()).await?;
    let clock = options.now.map_or(Clock::system(), Clock::starting_at);
    let desk = Desk::new(store, runtime, clock);

    let address = listener.local_addr()?;
    announce(&desk, &options, &revision.to_string(), address)?;

    // The file may have changed while the daemon was stopped.
    reroute_departed(&desk).await;
    let resumed = desk.resume_ai_turns().await?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed AI agent turns interrupted by a restart");
    }
    let stopping = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (reload_requests, reloads) = mpsc::channel(8);
    tasks.spawn(run_timers(Arc::clone(&desk), stopping.clone()));
    tasks.spawn(crate::webhooks::run(
        Arc::clone(&desk),
        options.webhooks,
        stopping.clone(),
    ));
    tasks.spawn(crate::webhooks::retention::run(
        Arc::clone(&desk),
        options.webhooks.keep_delivered,
        stopping.clone(),
    ));
    tasks.spawn(run_reloads(
        Arc::clone(&desk),
        options.file.clone(),
        reloads,
        stopping.clone(),
    ));
    tasks.spawn(forward_sighup(reload_requests.clone(), stopping.clone()));
    tasks.spawn(follow_other_instances(
        Arc::clone(&desk),
        reload_requests.clone(),
        stopping.clone(),
    ));
    tasks.close();
    let live = crate::live::Live::start(&desk, options.socket, stopping.clone()).await?;
    let settings = crate::api::Settings {
        live,
        admin_token: std::env::var("LIVEDESK_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        reload: reload_requests,
        inbox_limiter: crate::api::RateLimiter::new(options.inbox_rate_limit),
    };
    let stop = async {
        shutdown.await;
        tracing::info!("stopping: no new connections; finishing requests and deliveries");
        stopping.cancel();
    };
    tokio::join!(
        crate::api::serve(listener, Arc::clone(&desk), settings, stopping.clone()),
        stop
    );
    // The delivery worker finishes the round it is in (each request has
    // its own time limit), records it, and stops; so do the others.
    let mut drained = Drained::default();
    if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
        .await
        .is_err()
    {
        drained.tasks_cut_short = tasks.len();
        tracing::warn!(
            tasks = drained.tasks_cut_short,
            "tasks still running after the grace period are cut short; webhook deliveries in flight are retried at next start"
        );
    }
    let turns = desk.tasks();
    turns.close();
    if tokio::time::timeout(AI_TURN_GRACE, turns.wait())
        .await
        .is_err()
    {
        drained.ai_turns_cut_short = turns.len();
        tracing::warn!(
            turns = drained.ai_turns_cut_short,
            "AI agent turns cut short by the stop; they are resumed at next start"
        );
    }
    Ok(drained)
}

/// How long shutdown waits for AI-agent turns in flight: a model's answer
/// takes seconds, and a turn cut short is only resumed at the next start.
pub const AI_TURN_GRACE: Duration = Duration::from_secs(10);

/// How long shutdown waits for requests and deliveries in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub use crate::api::ReloadRequest;

/// Loads `file` again and, if it is valid and its plugins load, swaps it in
/// atomically. Requests in flight finish on the configuration they
/// started with. Answers the active revision.
async fn reload(desk: &Desk, file: &std::path::Path) -> Result<String, String> {
    let current = desk.runtime().config.revision.clone();
    let path = file.to_owned();
    let loaded = tokio::task::spawn_blocking(move || {
        let config = load_config(&path)?;
        if config.revision == current {
            return Ok(None);
        }
        let plugins = load_plugins(&config)?;
        Ok::<_, anyhow::Error>(Some((config, plugins)))
    })
    .await
    .map_err(|e| format!("reload stopped: {e}"))?
    .map_err(|e| format!("{e:#}"))?;
    let Some((config, plugins)) = loaded else {
        return Ok(desk.runtime().config.revision.to_string());
    };
    let revision = config.revision.to_string();
    let runtime = Runtime::prepare(config, plugins, desk.store().as_ref())
        .await
        .map_err(|e| e.to_string())?;
    desk.replace_runtime(runtime);
    reroute_departed(desk).await;
    Ok(revision)
}

/// Routes again the conversations of agents the active configuration no
/// longer gives their channel; a failure is logged and tried again by
/// the next reload or start.
async fn reroute_departed(desk: &Desk) {
    match desk.reassign_departed().await {
        Ok(0) => {}
        Ok(moved) => tracing::info!(moved, "routed again the conversations of departed agents"),
        Err(e) => tracing::warn!("cannot route again the conversations of departed agents: {e}"),
    }
}

async fn run_reloads(
    desk: Arc<Desk>,
    file: PathBuf,
    mut requests: mpsc::Receiver<ReloadRequest>,
    stopped: CancellationToken,
) {
    loop {
        let request = tokio::select! {
            request = requests.recv() => request,
            _ = stopped.cancelled() => return,
        };
        let Some(answer) = request else { return };
        let before = desk.runtime().config.revision.to_string();
        let result = reload(&desk, &file).await;
        match &result {
            Ok(revision) if *revision == before => {
                tracing::info!(revision = %revision, "reload: configuration unchanged");
            }
            Ok(revision) => {
                tracing::info!(revision = %revision, previous = %before, "reloaded");
                // Instances sharing the database reload theirs too.
                desk.store().announce(Notice::Revision(revision.clone()));
            }
            Err(e) => {
                tracing::error!(revision = %before, "reload refused, the active configuration stays: {e}")
            }
        }
        if let Some(answer) = answer {
            let _ = answer.send(result);
        }
    }
}

/// Acts on what other instances on the same database commit: their
/// events wake the webhook worker (any instance may deliver them), and a
/// configuration revision made active there reloads this one's file.
async fn follow_other_instances(
    desk: Arc<Desk>,
    requests: mpsc::Sender<ReloadRequest>,
    stopped: CancellationToken,
) {
    let mut notices = desk.store().notices();
    loop {
        let notice = tokio::select! {
            notice = notices.recv() => notice,
            _ = stopped.cancelled() => return,
        };
        match notice {
            Ok(Notice::Events) | Err(broadcast::error::RecvError::Lagged(_)) => {
                desk.changes().notify_one();
            }
            Ok(Notice::Revision(revision)) => {
                if desk.runtime().config.revision.to_string() != revision {
                    tracing::info!(revision = %revision, "another instance reloaded; reloading");
                    if requests.send(None).await.is_err() {
                        return;
                    }
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn forward_sighup(requests: mpsc::Sender<ReloadRequest>, stopped: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be watched; reload with POST /admin/reload");
            return;
        };
        loop {
            tokio::select! {
                hangup = hangups.recv() => {
                    if hangup.is_none() || requests.send(None).await.is_err() {
                        return;
                    }
                }
                _ = stopped.cancelled() => return,
            }
        }
    }
    #[cfg(not(unix))]
    {
        drop(requests);
        stopped.cancelled().await;
    }
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

async fn run_timers(desk: Arc<Desk>, stopped: CancellationToken) {
    let mut tick = tokio::time::interval(TIMER_PERIOD);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.cancelled() => return,
        }
        match desk.run_timers().await {
            Ok(0) => {}
            Ok(moved) => tracing::info!(moved, "reassigned conversations without an agent reply"),
            Err(e) => tracing::warn!("timers failed: {e}"),
        }
        match desk.route_stranded().await {
            Ok(0) => {}
            Ok(routed) => tracing::info!(routed, "routed conversations left unrouted by a stop"),
            Err(e) => tracing::warn!("routing stranded conversations failed: {e}"),
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
