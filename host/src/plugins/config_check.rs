//! A plugin's own check of its `config { … }` block (the optional
//! `config-check` export of `wit/plugin.wit`), run when the plugin is
//! loaded: a misspelled key becomes an error at its line in the file
//! instead of a failure on every call.

use std::sync::Arc;

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::agent::AgentState;
use super::bindings::CONFIG_CHECK_EXPORT;
use super::bindings::config_check::ConfigCheckerPre;
use super::bindings::config_check::exports::livedesk::plugin::config_check::ConfigEntry;
use super::classify;
use super::engine::deadline_ticks;
use super::state::{CallState, Identity};

/// One thing the plugin found wrong with its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key it is about; `None` for the block as a whole.
    pub key: Option<String>,
    pub message: String,
}

/// Whether `component` exports a config check (of any compatible version).
pub fn exported(engine: &Engine, component: &Component) -> bool {
    let (name, _) = CONFIG_CHECK_EXPORT
        .split_once('@')
        .unwrap_or((CONFIG_CHECK_EXPORT, ""));
    component
        .component_type()
        .exports(engine)
        .any(|(export, _)| export.split_once('@').is_some_and(|(n, _)| n == name))
}

/// `entries` as the plugin sees them: `None` for a secret not set here.
pub type Entries = Vec<(String, Option<String>)>;

/// Runs a condition plugin's config check.
pub fn condition(
    linker: &Linker<CallState>,
    component: &Component,
    identity: &Arc<Identity>,
    entries: &Entries,
) -> Result<Vec<Problem>, String> {
    let state = CallState::new(Arc::clone(identity), 0);
    run(linker, component, state, |s| s, identity, entries)
}

/// Runs an AI agent's config check. Agents are called asynchronously, but
/// a check needs no network: it runs on a synchronous linker, with no host
/// allowed.
pub fn agent(
    linker: &Linker<AgentState>,
    component: &Component,
    identity: &Arc<Identity>,
    entries: &Entries,
) -> Result<Vec<Problem>, String> {
    let state = AgentState::offline(Arc::clone(identity));
    run(
        linker,
        component,
        state,
        AgentState::call_mut,
        identity,
        entries,
    )
}

fn run<T: 'static>(
    linker: &Linker<T>,
    component: &Component,
    state: T,
    call_state: fn(&mut T) -> &mut CallState,
    identity: &Identity,
    entries: &Entries,
) -> Result<Vec<Problem>, String> {
    let pre = linker
        .instantiate_pre(component)
        .and_then(ConfigCheckerPre::new)
        .map_err(|e| format!("cannot link its config check: {e:#}"))?;
    let mut store = Store::new(linker.engine(), state);
    store.limiter(move |s| call_state(s));
    store.set_epoch_deadline(deadline_ticks(identity.limits.timeout));
    let entries: Vec<ConfigEntry> = entries
        .iter()
        .map(|(key, value)| ConfigEntry {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    let result = pre.instantiate(&mut store).and_then(|checker| {
        call_state(store.data_mut()).instantiated();
        checker
            .livedesk_plugin_config_check()
            .call_check_config(&mut store, &entries)
    });
    match result {
        Ok(problems) => Ok(problems
            .into_iter()
            .map(|p| Problem {
                key: p.key,
                message: p.message,
            })
            .collect()),
        Err(error) => Err(format!(
            "its config check failed: {}",
            classify(&error, call_state(store.data_mut()))
        )),
    }
}
