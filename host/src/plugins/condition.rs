//! Calling a condition plugin: a fresh instance per call, a wall-clock
//! deadline, a memory cap and a host I/O budget.

use std::sync::Arc;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

use super::bindings::condition::{ConditionPlugin, ConditionPluginPre};
use super::bindings::types as wit;
use super::classify;
use super::engine::deadline_ticks;
use super::report::CallReport;
use super::state::{CallState, Identity};
use crate::routing::PluginError;

pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    ConditionPlugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// A condition plugin ready to be instantiated.
pub struct LoadedCondition {
    pub identity: Arc<Identity>,
    pre: ConditionPluginPre<CallState>,
}

impl LoadedCondition {
    pub fn new(
        linker: &Linker<CallState>,
        component: &Component,
        identity: Arc<Identity>,
    ) -> wasmtime::Result<Self> {
        let pre = ConditionPluginPre::new(linker.instantiate_pre(component)?)?;
        Ok(Self { identity, pre })
    }

    /// Runs `evaluate` once on a fresh instance.
    pub fn call(
        &self,
        context: &wit::Context,
        context_bytes: usize,
    ) -> (Result<bool, PluginError>, CallReport) {
        let started = std::time::Instant::now();
        let mut store = Store::new(
            self.pre.engine(),
            CallState::new(Arc::clone(&self.identity), context_bytes),
        );
        store.limiter(|state| state);
        store.set_epoch_deadline(deadline_ticks(self.identity.limits.timeout));
        let result = self.pre.instantiate(&mut store).and_then(|plugin| {
            store.data_mut().instantiated();
            plugin
                .livedesk_plugin_condition()
                .call_evaluate(&mut store, context)
        });
        let result = match result {
            Ok(Ok(holds)) => Ok(holds),
            Ok(Err(message)) => Err(PluginError::Failed(message)),
            Err(error) => Err(classify(&error, store.data())),
        };
        let state = store.data_mut();
        let report = CallReport {
            elapsed: started.elapsed(),
            peak_memory: state.memory_peak,
            host_io: state.host_io_used,
            output: state.take_output(),
            requests: Vec::new(),
        };
        (result, report)
    }
}
