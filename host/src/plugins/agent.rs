//! Calling an AI agent plugin: asynchronous, because agents wait on a
//! language model over `wasi:http`; bounded by the agent's time limit both
//! inside wasm (epochs) and outside (`tokio::time::timeout`), so neither a
//! spinning guest nor a stalled server holds a conversation forever.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::agent::AgentPluginPre;
use super::bindings::agent::exports::livedesk::plugin::agent::Action;
use super::bindings::condition::livedesk::plugin::host;
use super::bindings::types as wit;
use super::classify;
use super::engine::deadline_ticks;
use super::outbound::{AllowList, Journal, Outbound};
use super::report::CallReport;
use super::state::{CallState, Identity};
use crate::routing::PluginError;

/// How often a running agent yields to the executor, so that one busy
/// agent never starves other requests on its thread.
const YIELD_EVERY: Duration = Duration::from_millis(10);
/// Extra time the outer timeout allows for the guest to be interrupted.
const GRACE: Duration = Duration::from_millis(500);

/// What an AI agent decided to do with the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAction {
    /// Send this text; the agent keeps the conversation.
    Reply(String),
    /// Send this text, then pass the conversation to human agents.
    ReplyAndHandOff { reply: String, reason: String },
    /// Resolve the conversation, optionally with a closing message.
    Resolve(Option<String>),
    /// Pass the conversation to human agents.
    HandOff(String),
}

/// An agent's answer, with what went wrong if it failed.
#[derive(Debug, Clone)]
pub struct AgentReply {
    pub action: AgentAction,
    /// Set when the plugin failed and the action is the host's hand-off.
    pub error: Option<PluginError>,
    pub elapsed: Duration,
}

impl AgentReply {
    pub(super) fn failed(error: PluginError, started: Instant) -> Self {
        Self {
            action: AgentAction::HandOff(format!("the AI agent failed: {error}")),
            error: Some(error),
            elapsed: started.elapsed(),
        }
    }
}

pub struct AgentState {
    call: CallState,
    http: WasiHttpCtx,
    outbound: Outbound,
}

impl AgentState {
    /// A store for a call that may reach no host (a config check).
    pub fn offline(identity: Arc<Identity>) -> Self {
        let limits = identity.limits;
        Self {
            call: CallState::new(identity, 0),
            http: WasiHttpCtx::new(),
            outbound: Outbound {
                allow: Arc::new(AllowList::default()),
                response_cap: limits.host_io,
                first_byte_timeout: limits.timeout,
                journal: Journal::default(),
            },
        }
    }

    pub fn call_mut(&mut self) -> &mut CallState {
        &mut self.call
    }
}

impl WasiView for AgentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.call.ctx()
    }
}

impl WasiHttpView for AgentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.call.table,
            hooks: &mut self.outbound,
        }
    }
}

pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<AgentState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    // The world's own `add_to_linker` would add `wasi:http` again: add
    // just the LiveDesk interface.
    host::add_to_linker::<AgentState, HasSelf<CallState>>(&mut linker, |s| &mut s.call)?;
    Ok(linker)
}

/// A synchronous linker for the agent world, for calls that need no
/// network and run where no executor is at hand (a config check at load).
pub fn sync_linker(engine: &Engine) -> wasmtime::Result<Linker<AgentState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
    host::add_to_linker::<AgentState, HasSelf<CallState>>(&mut linker, |s| &mut s.call)?;
    Ok(linker)
}

/// An agent plugin ready to be instantiated.
pub struct LoadedAgent {
    pub identity: Arc<Identity>,
    allow: Arc<AllowList>,
    pre: AgentPluginPre<AgentState>,
}

impl LoadedAgent {
    pub fn new(
        linker: &Linker<AgentState>,
        component: &Component,
        identity: Arc<Identity>,
        allow_hosts: &[String],
    ) -> wasmtime::Result<Self> {
        let pre = AgentPluginPre::new(linker.instantiate_pre(component)?)?;
        Ok(Self {
            identity,
            allow: Arc::new(AllowList::new(allow_hosts)),
            pre,
        })
    }

    /// Runs `respond` once on a fresh instance.
    pub async fn call(
        &self,
        context: &wit::Context,
        context_bytes: usize,
    ) -> (Result<AgentAction, PluginError>, CallReport) {
        let limits = self.identity.limits;
        let journal = Journal::default();
        let state = AgentState {
            call: CallState::new(Arc::clone(&self.identity), context_bytes),
            http: WasiHttpCtx::new(),
            outbound: Outbound {
                allow: Arc::clone(&self.allow),
                response_cap: limits.host_io,
                first_byte_timeout: limits.timeout,
                journal: journal.clone(),
            },
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.call);
        let started = Instant::now();
        let slice = deadline_ticks(YIELD_EVERY).max(1);
        store.set_epoch_deadline(slice);
        store.epoch_deadline_callback(move |_| {
            if started.elapsed() >= limits.timeout {
                return Err(Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Yield(slice))
        });

        let run = async {
            let plugin = self.pre.instantiate_async(&mut store).await?;
            store.data_mut().call.instantiated();
            plugin
                .livedesk_plugin_agent()
                .call_respond(&mut store, context)
                .await
        };
        let outcome = tokio::time::timeout(limits.timeout + GRACE, run).await;
        let result = match outcome {
            Err(_) => Err(PluginError::Timeout(limits.timeout)),
            Ok(Ok(Ok(action))) => checked(action),
            Ok(Ok(Err(message))) => Err(PluginError::Failed(message)),
            Ok(Err(error)) => Err(classify(&error, &store.data().call)),
        };
        let state = &mut store.data_mut().call;
        let report = CallReport {
            elapsed: started.elapsed(),
            peak_memory: state.memory_peak,
            host_io: state.host_io_used,
            output: state.take_output(),
            requests: journal.requests(),
        };
        (result, report)
    }
}

/// The most characters of a reply the host sends on; a longer one is a
/// malformed action (a runaway generation), not a message.
pub const MAX_REPLY_CHARS: usize = 10_000;

/// The agent's action if it is one the host can carry out: a reply with
/// text in it and at most [`MAX_REPLY_CHARS`], a hand-off with a reason.
fn checked(action: Action) -> Result<AgentAction, PluginError> {
    let malformed = |why: &str| Err(PluginError::Malformed(why.to_owned()));
    let reply_problem = |text: &str| {
        if text.trim().is_empty() {
            Some("an empty reply")
        } else if text.chars().count() > MAX_REPLY_CHARS {
            Some("a reply longer than 10,000 characters")
        } else {
            None
        }
    };
    match action {
        Action::Reply(text) => match reply_problem(&text) {
            Some(why) => malformed(why),
            None => Ok(AgentAction::Reply(text)),
        },
        Action::ReplyAndHandOff((reply, reason)) => match reply_problem(&reply) {
            Some(why) => malformed(why),
            None if reason.trim().is_empty() => malformed("a hand-off without a reason"),
            None => Ok(AgentAction::ReplyAndHandOff { reply, reason }),
        },
        Action::Resolve(Some(text)) if text.chars().count() > MAX_REPLY_CHARS => {
            malformed("a closing message longer than 10,000 characters")
        }
        Action::Resolve(text) => Ok(AgentAction::Resolve(text.filter(|t| !t.trim().is_empty()))),
        Action::HandOff(reason) if reason.trim().is_empty() => {
            malformed("a hand-off without a reason")
        }
        Action::HandOff(reason) => Ok(AgentAction::HandOff(reason)),
    }
}
