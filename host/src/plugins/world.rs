//! Checks that a component is the kind of plugin it is loaded as, before
//! anything runs, and says precisely what is wrong when it is not.

use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::{AGENT_EXPORT, CONDITION_EXPORT};

/// The two plugin worlds of `wit/plugin.wit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Condition,
    Agent,
}

impl World {
    pub fn name(self) -> &'static str {
        match self {
            World::Condition => "condition-plugin",
            World::Agent => "agent-plugin",
        }
    }

    fn export(self) -> &'static str {
        match self {
            World::Condition => CONDITION_EXPORT,
            World::Agent => AGENT_EXPORT,
        }
    }

    /// Whether the host grants an import of this name to this world. WASI
    /// interfaces are granted (with nothing behind them: no files, no
    /// environment, no sockets), `wasi:http` only to agents.
    fn grants(self, import: &str) -> bool {
        if import.starts_with("livedesk:plugin/host@")
            || import.starts_with("livedesk:plugin/types@")
        {
            return true;
        }
        if import.starts_with("wasi:http/") {
            return self == World::Agent;
        }
        import.starts_with("wasi:")
    }
}

/// The world `component` implements, from its exports.
pub fn detect(engine: &Engine, component: &Component) -> Result<World, String> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    [World::Condition, World::Agent]
        .into_iter()
        .find(|w| exports.iter().any(|e| same_interface(e, w.export())))
        .ok_or_else(|| {
            let found = if exports.is_empty() {
                "it exports nothing".to_owned()
            } else {
                format!("it exports {}", quoted(&exports))
            };
            format!(
                "implements neither `{}` nor `{}` ({found})",
                World::Condition.export(),
                World::Agent.export()
            )
        })
}

/// Whether `component` exports `world`'s interface and imports nothing the
/// host does not grant; the error says which item is missing or extra.
pub fn check(engine: &Engine, component: &Component, world: World) -> Result<(), String> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    if !exports.iter().any(|e| same_interface(e, world.export())) {
        let other = [World::Condition, World::Agent]
            .into_iter()
            .find(|w| exports.iter().any(|e| same_interface(e, w.export())));
        let found = match other {
            Some(w) => format!("it implements the `{}` world instead", w.name()),
            None if exports.is_empty() => "it exports nothing".to_owned(),
            None => format!("it exports {}", quoted(&exports)),
        };
        return Err(format!(
            "does not implement the `{}` world: the export `{}` is missing ({found})",
            world.name(),
            world.export()
        ));
    }
    let extra: Vec<&str> = ty
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| !world.grants(name))
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "imports {} which LiveDesk does not grant to a `{}`",
            quoted(&extra),
            world.name()
        ));
    }
    Ok(())
}

/// `livedesk:plugin/condition@0.1.0` matches itself and any other 0.1.x.
fn same_interface(export: &str, expected: &str) -> bool {
    let Some((name, version)) = expected.split_once('@') else {
        return export == expected;
    };
    let minor = version.rsplit_once('.').map_or(version, |(m, _)| m);
    export
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('@'))
        .and_then(|v| v.strip_prefix(minor))
        .is_some_and(|patch| patch.is_empty() || patch.starts_with('.'))
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
