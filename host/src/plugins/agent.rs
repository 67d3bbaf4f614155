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
use super::outbound::{AllowList, Outbound};
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
    ) -> Result<AgentAction, PluginError> {
        let limits = self.identity.limits;
        let state = AgentState {
            call: CallState::new(Arc::clone(&self.identity), context_bytes),
            http: WasiHttpCtx::new(),
            outbound: Outbound {
                allow: Arc::clone(&self.allow),
                response_cap: limits.host_io,
                first_byte_timeout: limits.timeout,
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
            plugin
                .livedesk_plugin_agent()
                .call_respond(&mut store, context)
                .await
        };
        let outcome = tokio::time::timeout(limits.timeout + GRACE, run).await;
        match outcome {
            Err(_) => Err(PluginError::Timeout(limits.timeout)),
            Ok(Ok(Ok(action))) => Ok(match action {
                Action::Reply(text) => AgentAction::Reply(text),
                Action::ReplyAndHandOff((reply, reason)) => {
                    AgentAction::ReplyAndHandOff { reply, reason }
                }
                Action::Resolve(text) => AgentAction::Resolve(text),
                Action::HandOff(reason) => AgentAction::HandOff(reason),
            }),
            Ok(Ok(Err(message))) => Err(PluginError::Failed(message)),
            Ok(Err(error)) => Err(classify(&error, &store.data().call)),
        }
    }
}
