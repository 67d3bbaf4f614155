//! Checks that a component is the kind of plugin it is loaded as, before
//! anything runs, and says precisely what is wrong when it is not.

use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::{AGENT_EXPORT, CONDITION_EXPORT, CONTRACT_VERSION};

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

/// A contract version, `major.minor.patch`.
type Version = (u64, u64, u64);

fn parse_version(text: &str) -> Option<Version> {
    let mut parts = text.splitn(3, '.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

fn version_text((major, minor, patch): Version) -> String {
    format!("{major}.{minor}.{patch}")
}

/// Whether a component built for `built` runs on a host speaking
/// `host`: the same series (for 0.x, the same minor version) and no later.
fn compatible(built: Version, host: Version) -> bool {
    let series = |(major, minor, _): Version| if major == 0 { (0, minor) } else { (major, 0) };
    series(built) == series(host) && built <= host
}

/// Refuses a component built for a contract version this host does not
/// speak, naming both (the policy is in `wit/plugin.wit`'s header).
pub fn check_version(engine: &Engine, component: &Component) -> Result<(), String> {
    let Some(host) = parse_version(CONTRACT_VERSION) else {
        return Ok(());
    };
    let ty = component.component_type();
    let names = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(ty.exports(engine).map(|(name, _)| name));
    let built = names
        .filter_map(|name| name.strip_prefix("livedesk:plugin/"))
        .filter_map(|rest| rest.split_once('@'))
        .filter_map(|(_, version)| parse_version(version))
        .max();
    let Some(built) = built else {
        return Ok(());
    };
    if compatible(built, host) {
        return Ok(());
    }
    let (built_text, host_text) = (version_text(built), version_text(host));
    let first = version_text((host.0, if host.0 == 0 { host.1 } else { 0 }, 0));
    let why = if built > host && compatible((built.0, built.1, 0), host) {
        "a later version than this LiveDesk knows: upgrade LiveDesk, or rebuild the plugin against its `wit/plugin.wit`"
    } else {
        "an incompatible version of the contract: rebuild the plugin against this LiveDesk's `wit/plugin.wit`"
    };
    Err(format!(
        "was built for `livedesk:plugin@{built_text}`, but this LiveDesk speaks `livedesk:plugin@{host_text}` \
         (it loads components built for {first} to {host_text}); {built_text} is {why}"
    ))
}

/// The world `component` implements, from its exports.
pub fn detect(engine: &Engine, component: &Component) -> Result<World, String> {
    check_version(engine, component)?;
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
    check_version(engine, component)?;
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

/// `livedesk:plugin/condition@0.1.1` matches itself and any other 0.1.x
/// (whether that version may load is [`check_version`]'s to say).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_one_series_up_to_the_hosts_are_compatible() {
        let host = (0, 1, 1);
        assert!(compatible((0, 1, 0), host));
        assert!(compatible((0, 1, 1), host));
        assert!(!compatible((0, 1, 2), host), "later than the host");
        assert!(!compatible((0, 2, 0), host), "another series");
        assert!(!compatible((0, 0, 9), host), "an earlier series");
        assert!(compatible((1, 0, 0), (1, 3, 0)));
        assert!(!compatible((2, 0, 0), (1, 3, 0)));
        assert_eq!(parse_version("0.1.1"), Some((0, 1, 1)));
        assert_eq!(parse_version("0.1"), None);
        assert_eq!(parse_version("0.1.x"), None);
    }
}
