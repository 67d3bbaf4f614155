//! One plugin file loaded on its own, outside any configuration, for
//! `livedesk plugin run`: its world is read from what it exports.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::agent::{self, LoadedAgent};
use super::condition::{self, LoadedCondition};
use super::state::Identity;
use super::{Origin, PluginHost, Stats, World, cache, engine, not_a_component, world};
use crate::config::PluginLimits;

/// A plugin file and what to load it with.
pub struct SinglePlugin<'a> {
    pub path: &'a Path,
    pub config: Vec<(String, String)>,
    /// Changes to the defaults of the plugin's world.
    pub limits: LimitChanges,
    /// Hosts an agent may reach.
    pub allow_hosts: Vec<String>,
    pub cache_dir: Option<&'a Path>,
}

/// Limits that replace a world's defaults; `None` keeps the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitChanges {
    pub timeout: Option<std::time::Duration>,
    pub memory: Option<u64>,
    pub host_io: Option<u64>,
}

impl LimitChanges {
    fn apply(self, base: PluginLimits) -> PluginLimits {
        PluginLimits {
            timeout: self.timeout.unwrap_or(base.timeout),
            memory: self.memory.unwrap_or(base.memory),
            host_io: self.host_io.unwrap_or(base.host_io),
        }
    }
}

/// A [`SinglePlugin`] ready to call: id 0 of its world.
pub struct LoadedSingle {
    pub host: PluginHost,
    pub world: World,
    pub limits: PluginLimits,
    pub origin: Origin,
    /// Reading and compiling (or taking from the cache) and pre-linking.
    pub load_time: std::time::Duration,
}

impl PluginHost {
    /// Loads one plugin file as the world it implements.
    pub fn single(plugin: SinglePlugin<'_>) -> Result<LoadedSingle, String> {
        let started = Instant::now();
        let engine = engine::engine().map_err(|e| format!("cannot start the plugin host: {e}"))?;
        let bytes = std::fs::read(plugin.path).map_err(|e| format!("cannot read it: {e}"))?;
        let (component, origin) = cache::load(&engine, plugin.cache_dir, &bytes)
            .map_err(|e| not_a_component(&bytes, &e))?;
        let world = world::detect(&engine, &component)?;
        world::check(&engine, &component, world)?;
        let limits = plugin.limits.apply(match world {
            World::Condition => PluginLimits::CONDITION,
            World::Agent => PluginLimits::AGENT,
        });
        let name = plugin
            .path
            .file_stem()
            .map_or_else(|| "plugin".to_owned(), |s| s.to_string_lossy().into_owned());
        let identity = Arc::new(Identity {
            name: name.into(),
            config: plugin.config,
            limits,
            stats: Stats::default(),
        });
        let fail = |e: wasmtime::Error| format!("{e:#}");
        let (mut conditions, mut agents) = (Vec::new(), Vec::new());
        match world {
            World::Condition => {
                let linker = condition::linker(&engine).map_err(fail)?;
                conditions.push(LoadedCondition::new(&linker, &component, identity).map_err(fail)?);
            }
            World::Agent => {
                let linker = agent::linker(&engine).map_err(fail)?;
                agents.push(
                    LoadedAgent::new(&linker, &component, identity, &plugin.allow_hosts)
                        .map_err(fail)?,
                );
            }
        }
        let ticker = engine::EpochTicker::start(engine)
            .map_err(|e| format!("cannot start the plugin host: {e}"))?;
        Ok(LoadedSingle {
            host: Self {
                conditions,
                agents,
                _ticker: ticker,
            },
            world,
            limits,
            origin,
            load_time: started.elapsed(),
        })
    }
}
