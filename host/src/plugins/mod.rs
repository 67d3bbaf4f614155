//! The plugin host: routing conditions and AI agents as sandboxed
//! WebAssembly components (`wit/plugin.wit`).
//!
//! [`PluginHost::load`] compiles (or takes from the on-disk cache) every
//! plugin a configuration names, checks that each implements the world it
//! is used as, and pre-links it. Every call then runs on a fresh instance
//! with the plugin's limits (time, memory, host I/O); whatever a plugin
//! does — trap, loop, allocate without end — ends that call only.

pub mod agent;
mod bindings;
pub mod cache;
mod condition;
mod config_check;
pub mod context;
pub mod engine;
mod outbound;
pub mod report;
mod single;
mod state;
mod world;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wasmtime::component::Component;
use wasmtime::{Engine, Trap};

use crate::config::{AiAgentId, ConditionId, Config, Secret};
use crate::diagnostics::{Code, Finding};
use crate::routing::{ConditionPlugins, Input, PluginCall, PluginError};
use crate::source::Span;
use agent::LoadedAgent;
pub use agent::{AgentAction, AgentReply};
pub use bindings::CONTRACT_VERSION;
pub use cache::Origin;
use condition::LoadedCondition;
pub use context::Subject;
pub use report::{CallReport, OutboundRequest};
pub use single::{LimitChanges, LoadedSingle, SinglePlugin};
use state::{CallState, Identity};
pub use world::World;

/// How the host is set up; the defaults suit the daemon and the CLI.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where compiled plugins are kept; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Whether an `env(…)` in a plugin's config that is not set is an
    /// error. `livedesk check` loads plugins without secrets; the value
    /// is then empty.
    pub require_secrets: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cache_dir: cache::default_dir(),
            require_secrets: true,
        }
    }
}

/// Why plugins are loaded, which decides what a missing secret means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `check`, `test`, `explain`: every plugin is compiled and checked
    /// against its world, but an `env(…)` that is not set reads as empty
    /// (routing never calls an AI agent, whose secrets these usually are).
    Check,
    /// The daemon: every secret must be set.
    Serve,
}

/// The plugins `config` names, loaded for `purpose`; `None` when it names
/// none. The one way plugins are loaded.
pub fn load(config: &Config, purpose: Purpose) -> Result<Option<PluginHost>, Vec<Finding>> {
    if config.conditions.is_empty() && config.ai_agents.is_empty() {
        return Ok(None);
    }
    let options = Options {
        require_secrets: purpose == Purpose::Serve,
        ..Options::default()
    };
    PluginHost::load(config, &options).map(Some)
}

/// Every plugin of one configuration, loaded and ready to call.
pub struct PluginHost {
    conditions: Vec<LoadedCondition>,
    agents: Vec<LoadedAgent>,
    /// Kept last so the epoch stops advancing only after use.
    _ticker: engine::EpochTicker,
}

impl PluginHost {
    /// Loads the plugins `config` names. Each plugin that cannot be loaded
    /// gives one error finding at the name of its block.
    pub fn load(config: &Config, options: &Options) -> Result<Self, Vec<Finding>> {
        let fatal = |e: &dyn std::fmt::Display| {
            vec![Finding::error(
                Code::PluginHost,
                format!("cannot start the plugin host: {e}"),
            )]
        };
        let engine = engine::engine().map_err(|e| fatal(&e))?;
        let condition_linker = condition::linker(&engine).map_err(|e| fatal(&e))?;
        let agent_linker = agent::linker(&engine).map_err(|e| fatal(&e))?;
        // Config checks run during the load and have time limits too.
        let ticker = engine::EpochTicker::start(engine.clone()).map_err(|e| fatal(&e))?;
        let mut check_linker = None;
        let mut loader = Loader {
            cache_dir: options.cache_dir.as_deref(),
            require_secrets: options.require_secrets,
            compiled: HashMap::new(),
            findings: Vec::new(),
        };

        let mut conditions = Vec::with_capacity(config.conditions.len());
        for c in &config.conditions {
            let identity = loader.identity(&c.name, &c.config, c.limits, c.span);
            let component = loader.component(&engine, &c.plugin, World::Condition, c.span);
            if let (Some(identity), Some(component)) = (identity, component) {
                if config_check::exported(&engine, &component) {
                    let checked = config_check::condition(
                        &condition_linker,
                        &component,
                        &identity,
                        &check_entries(&c.config),
                    );
                    loader.config_checked(&c.name, &c.config_spans, &c.config, c.span, checked);
                }
                match LoadedCondition::new(&condition_linker, &component, identity) {
                    Ok(loaded) => conditions.push(loaded),
                    Err(e) => loader.reject(&c.plugin, c.span, &format!("{e:#}")),
                }
            }
        }
        let mut agents = Vec::with_capacity(config.ai_agents.len());
        for a in &config.ai_agents {
            let identity = loader.identity(&a.name, &a.config, a.limits, a.span);
            let component = loader.component(&engine, &a.plugin, World::Agent, a.span);
            if let (Some(identity), Some(component)) = (identity, component) {
                if config_check::exported(&engine, &component) {
                    let linker = match &check_linker {
                        Some(linker) => linker,
                        None => {
                            check_linker.insert(agent::sync_linker(&engine).map_err(|e| fatal(&e))?)
                        }
                    };
                    let checked = config_check::agent(
                        linker,
                        &component,
                        &identity,
                        &check_entries(&a.config),
                    );
                    loader.config_checked(&a.name, &a.config_spans, &a.config, a.span, checked);
                }
                match LoadedAgent::new(&agent_linker, &component, identity, &a.allow_hosts) {
                    Ok(loaded) => agents.push(loaded),
                    Err(e) => loader.reject(&a.plugin, a.span, &format!("{e:#}")),
                }
            }
        }
        if !loader.findings.is_empty() {
            return Err(loader.findings);
        }
        Ok(Self {
            conditions,
            agents,
            _ticker: ticker,
        })
    }

    /// Evaluates a condition plugin on `subject`.
    pub fn evaluate(
        &self,
        condition: ConditionId,
        subject: &Subject<'_>,
    ) -> Result<bool, PluginError> {
        self.run_condition(condition, subject).0
    }

    /// Evaluates a condition plugin on `subject`, with what the call did.
    pub fn run_condition(
        &self,
        condition: ConditionId,
        subject: &Subject<'_>,
    ) -> (Result<bool, PluginError>, CallReport) {
        let Some(plugin) = self.conditions.get(condition.index()) else {
            return (Err(PluginError::Unavailable), CallReport::default());
        };
        let started = Instant::now();
        let (context, bytes) = subject.to_wit();
        let (result, report) = match admit(&plugin.identity, bytes) {
            Ok(()) => plugin.call(&context, bytes),
            Err(e) => (Err(e), CallReport::default()),
        };
        record(&plugin.identity, started, result.as_ref().err());
        (result, report)
    }

    /// Asks an AI agent to answer the conversation. Never fails: a plugin
    /// that errs, traps, runs out of time or returns a malformed action
    /// hands the conversation off, and the reply says why.
    pub async fn respond(&self, agent: AiAgentId, subject: &Subject<'_>) -> AgentReply {
        let started = Instant::now();
        match self.run_agent(agent, subject).await {
            (Ok(action), _) => AgentReply {
                action,
                error: None,
                elapsed: started.elapsed(),
            },
            (Err(e), _) => AgentReply::failed(e, started),
        }
    }

    /// Calls an AI agent on `subject`, with what the call did.
    pub async fn run_agent(
        &self,
        agent: AiAgentId,
        subject: &Subject<'_>,
    ) -> (Result<AgentAction, PluginError>, CallReport) {
        let Some(plugin) = self.agents.get(agent.index()) else {
            return (Err(PluginError::Unavailable), CallReport::default());
        };
        let started = Instant::now();
        let (context, bytes) = subject.to_wit();
        let (result, report) = match admit(&plugin.identity, bytes) {
            Ok(()) => plugin.call(&context, bytes).await,
            Err(e) => (Err(e), CallReport::default()),
        };
        record(&plugin.identity, started, result.as_ref().err());
        (result, report)
    }

    /// A condition plugin's counters since load, for logs and metrics.
    pub fn condition_stats(&self, condition: ConditionId) -> Option<StatsSnapshot> {
        let plugin = self.conditions.get(condition.index())?;
        Some(plugin.identity.stats.snapshot())
    }

    /// An AI agent's counters since load.
    pub fn agent_stats(&self, agent: AiAgentId) -> Option<StatsSnapshot> {
        let plugin = self.agents.get(agent.index())?;
        Some(plugin.identity.stats.snapshot())
    }
}

/// Refuses a call whose context alone exceeds the plugin's host I/O
/// budget, before any store is made for it.
fn admit(plugin: &Identity, context_bytes: usize) -> Result<(), PluginError> {
    let limit = plugin.limits.host_io;
    if context_bytes as u64 > limit {
        return Err(PluginError::HostIo(limit));
    }
    Ok(())
}

/// Counts a finished call and logs why it failed, if it did.
fn record(plugin: &Identity, started: Instant, error: Option<&PluginError>) {
    let stats = &plugin.stats;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    stats.calls.fetch_add(1, Ordering::Relaxed);
    stats.micros.fetch_add(micros, Ordering::Relaxed);
    if let Some(error) = error {
        stats.failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(plugin = &*plugin.name, "plugin call failed: {error}");
    }
}

impl ConditionPlugins for PluginHost {
    fn evaluate(&self, condition: ConditionId, input: &Input<'_>) -> PluginCall {
        let (result, report) = self.run_condition(condition, &Subject::from(input));
        PluginCall {
            result,
            output: report.output,
        }
    }
}

/// Calls and failures of one plugin since load.
#[derive(Debug, Default)]
pub struct Stats {
    calls: AtomicU64,
    failures: AtomicU64,
    micros: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub calls: u64,
    pub failures: u64,
    /// Wall time of all calls together, in microseconds.
    pub micros: u64,
}

impl Stats {
    fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            micros: self.micros.load(Ordering::Relaxed),
        }
    }
}

/// A plugin's config as its config check sees it: a secret that is not
/// set here (`livedesk check` runs without the daemon's) is `None`.
fn check_entries(config: &[(String, Secret)]) -> config_check::Entries {
    config
        .iter()
        .map(|(key, secret)| (key.clone(), secret.resolve().ok()))
        .collect()
}

/// Loads each plugin file once, however many blocks name it.
struct Loader<'a> {
    cache_dir: Option<&'a Path>,
    require_secrets: bool,
    compiled: HashMap<(PathBuf, bool), Option<Component>>,
    findings: Vec<Finding>,
}

impl Loader<'_> {
    fn identity(
        &mut self,
        name: &str,
        config: &[(String, Secret)],
        limits: crate::config::PluginLimits,
        span: Span,
    ) -> Option<Arc<Identity>> {
        let mut resolved = Vec::with_capacity(config.len());
        for (key, secret) in config {
            match secret.resolve() {
                Ok(value) => resolved.push((key.clone(), value)),
                Err(e) if !self.require_secrets => {
                    tracing::debug!(plugin = name, "config `{key}` left empty: {e}");
                    resolved.push((key.clone(), String::new()));
                }
                Err(e) => {
                    self.findings.push(
                        Finding::error(
                            Code::PluginConfig,
                            format!("plugin `{name}`: config `{key}`: {e}"),
                        )
                        .at(span, "in this plugin"),
                    );
                    return None;
                }
            }
        }
        Some(Arc::new(Identity {
            name: name.into(),
            config: resolved,
            limits,
            stats: Stats::default(),
        }))
    }

    fn component(
        &mut self,
        engine: &Engine,
        path: &Path,
        world: World,
        span: Span,
    ) -> Option<Component> {
        let key = (path.to_path_buf(), world == World::Agent);
        if let Some(done) = self.compiled.get(&key) {
            return done.clone();
        }
        let loaded = self.compile(engine, path, world);
        let component = match loaded {
            Ok(component) => Some(component),
            Err(reason) => {
                self.reject(path, span, &reason);
                None
            }
        };
        self.compiled.insert(key, component.clone());
        component
    }

    fn compile(&self, engine: &Engine, path: &Path, world: World) -> Result<Component, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
        let (component, origin) =
            cache::load(engine, self.cache_dir, &bytes).map_err(|e| not_a_component(&bytes, &e))?;
        tracing::debug!(path = %path.display(), ?origin, "plugin loaded");
        world::check(engine, &component, world)?;
        Ok(component)
    }

    /// Findings for what a plugin's config check said: at the key it
    /// names, else at the `config` block, else at the plugin's name.
    fn config_checked(
        &mut self,
        name: &str,
        spans: &crate::config::ConfigSpans,
        config: &[(String, Secret)],
        at: Span,
        checked: Result<Vec<config_check::Problem>, String>,
    ) {
        let problems = match checked {
            Ok(problems) => problems,
            Err(reason) => {
                self.findings.push(
                    Finding::error(Code::PluginConfig, format!("plugin `{name}`: {reason}"))
                        .at(at, "in this plugin"),
                );
                return;
            }
        };
        for problem in problems {
            let key_span = problem.key.as_ref().and_then(|key| {
                let index = config.iter().position(|(k, _)| k == key)?;
                spans.keys.get(index).copied()
            });
            let (span, label) = match (key_span, spans.block) {
                (Some(span), _) => (span, "the plugin's config check rejects this"),
                (None, Some(block)) => (block, "in this config block"),
                (None, None) => (at, "this plugin has no config block"),
            };
            let message = match &problem.key {
                Some(key) => format!("plugin `{name}`: config `{key}`: {}", problem.message),
                None => format!("plugin `{name}`: config: {}", problem.message),
            };
            self.findings
                .push(Finding::error(Code::PluginConfig, message).at(span, label));
        }
    }

    fn reject(&mut self, path: &Path, span: Span, reason: &str) {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        self.findings.push(
            Finding::error(Code::PluginRejected, format!("plugin `{file}` {reason}"))
                .at(span, "used here")
                .help("plugins implement a world of `wit/plugin.wit`; see the plugin guide in plugins/README.md"),
        );
    }
}

/// Why `bytes` could not be compiled as a component, with what to do about
/// the usual cause: a core module built for `wasm32-wasip1` (or
/// `wasm32-unknown-unknown`) rather than a `wasm32-wasip2` component.
fn not_a_component(bytes: &[u8], error: &wasmtime::Error) -> String {
    // A binary's version field: 1 for a core module, 0x0d (with layer 1)
    // for a component.
    let core_module = bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0];
    if core_module {
        return "is a core WebAssembly module, not a component: build it for the \
                `wasm32-wasip2` target (`cargo build --target wasm32-wasip2`), or wrap it \
                with `wasm-tools component new`"
            .to_owned();
    }
    format!("is not a valid WebAssembly component: {error:#}")
}

/// Why a call ended early, from the error wasmtime returned and what the
/// store saw on the way.
fn classify(error: &wasmtime::Error, state: &CallState) -> PluginError {
    let limits = state.identity.limits;
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        // Growing by a mebibyte or more and then running out of time is
        // most likely an allocation loop: say so, or the author looks for
        // a slow loop instead.
        if state.memory_grown_in_call >= 1 << 20 {
            return PluginError::TimeoutGrowingMemory {
                timeout: limits.timeout,
                grown: state.memory_grown_in_call,
                peak: state.memory_peak,
                limit: limits.memory,
            };
        }
        return PluginError::Timeout(limits.timeout);
    }
    if state.memory_refused.is_some() {
        return PluginError::MemoryLimit(limits.memory);
    }
    if state.host_io_exceeded {
        return PluginError::HostIo(limits.host_io);
    }
    let mut message = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    if let Some(line) = state.last_stderr_line() {
        message = format!("{message} ({line})");
    }
    PluginError::Trap(message)
}

// The daemon shares one host between its worker threads.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<PluginHost>();
};
