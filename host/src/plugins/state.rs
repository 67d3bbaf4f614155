//! What a store holds during one plugin call: the plugin's name and
//! config, the call's budgets, and an empty WASI context.
//!
//! The WASI context grants nothing: no preopened directories, no
//! environment variables, no arguments, and every socket address is
//! refused. Standard error is kept in a bounded buffer so that a plugin's
//! panic message or traceback can be shown with its trap, and log lines are
//! kept (bounded too) for the trace of the decision that made the call.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::Level;
use super::bindings::condition::livedesk::plugin::{host, types};
use crate::config::PluginLimits;
use crate::routing::{LogLevel, PluginLog, PluginOutput};

/// How much of a plugin's standard error is kept: a Python traceback of a
/// dozen frames fits. Writes past it fail, as on a full pipe.
const STDERR_CAPACITY: usize = 16 * 1024;
/// Log lines and bytes of log text one call keeps for its trace; the rest
/// are counted. (They still count against the host I/O budget, and the
/// daemon's own log sees every line.)
const KEPT_LOG_LINES: usize = 32;
const KEPT_LOG_BYTES: usize = 8 * 1024;
/// Table elements an instance may grow to; far above what real plugins use.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// The parts of a plugin that every call shares.
#[derive(Debug)]
pub struct Identity {
    pub name: Arc<str>,
    /// The `config { … }` block with `env(…)` resolved at load.
    pub config: Vec<(String, String)>,
    pub limits: PluginLimits,
    pub stats: super::Stats,
}

pub struct CallState {
    pub identity: Arc<Identity>,
    /// Bytes that crossed host calls so far.
    pub host_io_used: u64,
    pub host_io_exceeded: bool,
    /// The memory size the plugin asked for and was refused.
    pub memory_refused: Option<usize>,
    /// Linear memory of all the instance's memories now, and at most.
    memory_now: u64,
    pub memory_peak: u64,
    /// Memory grown after instantiation, by the call itself.
    pub memory_grown_in_call: u64,
    instantiated: bool,
    logs: Vec<PluginLog>,
    log_bytes: usize,
    dropped_logs: u32,
    stderr: MemoryOutputPipe,
    wasi: WasiCtx,
    pub table: ResourceTable,
}

impl CallState {
    /// A call whose context of `context_bytes` has already been admitted
    /// against the host I/O budget.
    pub fn new(identity: Arc<Identity>, context_bytes: usize) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build();
        Self {
            identity,
            host_io_used: context_bytes as u64,
            host_io_exceeded: false,
            memory_refused: None,
            memory_now: 0,
            memory_peak: 0,
            memory_grown_in_call: 0,
            instantiated: false,
            logs: Vec::new(),
            log_bytes: 0,
            dropped_logs: 0,
            stderr,
            wasi,
            table: ResourceTable::new(),
        }
    }

    /// Counts `bytes` against the call's host I/O budget; false once the
    /// budget is spent.
    pub fn charge(&mut self, bytes: usize) -> bool {
        self.host_io_used = self.host_io_used.saturating_add(bytes as u64);
        if self.host_io_used > self.identity.limits.host_io {
            self.host_io_exceeded = true;
        }
        !self.host_io_exceeded
    }

    /// The last line the plugin wrote to standard error, e.g. a panic
    /// message (Rust's hint about backtraces left out).
    pub fn last_stderr_line(&self) -> Option<String> {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .map(str::to_owned)
    }

    /// Marks the end of instantiation: memory grown from here on is the
    /// call's.
    pub fn instantiated(&mut self) {
        self.instantiated = true;
    }

    /// What the call logged and wrote to standard error.
    pub fn take_output(&mut self) -> PluginOutput {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        PluginOutput {
            logs: std::mem::take(&mut self.logs),
            dropped_logs: self.dropped_logs,
            stderr: (!text.is_empty()).then(|| text.into()),
        }
    }

    fn keep_log(&mut self, level: LogLevel, message: &str) {
        if self.logs.len() >= KEPT_LOG_LINES || self.log_bytes + message.len() > KEPT_LOG_BYTES {
            self.dropped_logs = self.dropped_logs.saturating_add(1);
            return;
        }
        self.log_bytes += message.len();
        self.logs.push(PluginLog {
            level,
            message: message.into(),
        });
    }

    fn budget_error(&self) -> wasmtime::Error {
        wasmtime::Error::msg(format!(
            "host I/O budget of {} bytes spent",
            self.identity.limits.host_io
        ))
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for CallState {
    // Also asked for each memory's initial size, with `current` 0, so the
    // sum below is every memory of the instance.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired as u64 <= self.identity.limits.memory;
        if !allowed {
            self.memory_refused = Some(desired);
            return Ok(false);
        }
        let grown = desired.saturating_sub(current) as u64;
        self.memory_now = self.memory_now.saturating_add(grown);
        self.memory_peak = self.memory_peak.max(self.memory_now);
        if self.instantiated {
            self.memory_grown_in_call = self.memory_grown_in_call.saturating_add(grown);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl types::Host for CallState {}

impl host::Host for CallState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        // Log lines past the budget are dropped, not fatal: logging must
        // never change a plugin's answer.
        let used = self.host_io_used.saturating_add(message.len() as u64);
        if used > self.identity.limits.host_io {
            return Ok(());
        }
        self.host_io_used = used;
        let plugin = &*self.identity.name;
        let level = match level {
            Level::Debug => {
                tracing::debug!(plugin, "{message}");
                LogLevel::Debug
            }
            Level::Info => {
                tracing::info!(plugin, "{message}");
                LogLevel::Info
            }
            Level::Warn => {
                tracing::warn!(plugin, "{message}");
                LogLevel::Warn
            }
            Level::Error => {
                tracing::error!(plugin, "{message}");
                LogLevel::Error
            }
        };
        self.keep_log(level, &message);
        Ok(())
    }

    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let identity = Arc::clone(&self.identity);
        let value = identity
            .config
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone());
        let bytes = key.len() + value.as_ref().map_or(0, String::len);
        if !self.charge(bytes) {
            return Err(self.budget_error());
        }
        Ok(value)
    }

    fn config_entries(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        let entries = self.identity.config.clone();
        let bytes = entries.iter().map(|(k, v)| k.len() + v.len()).sum();
        if !self.charge(bytes) {
            return Err(self.budget_error());
        }
        Ok(entries)
    }
}
