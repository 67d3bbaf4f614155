//! The shape of the code: data flows one way between the crate's modules.
//!
//! Reads the sources (not the compiled crate): every `crate::module` a
//! module names outside comments is an edge of the module graph, and
//! `livedesk::module` for the command line. The graph must have no cycle,
//! and none of the edges the design forbids — the ones that once ran
//! backwards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The module a file belongs to: `desk` for `desk/…`, with desk's own
/// submodules kept apart (`desk::messages`) to see cycles inside it.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let parts: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    match parts.as_slice() {
        [only] if only == "lib" || only == "main" => None,
        [desk, sub, ..] if desk == "desk" && sub != "mod" => Some(format!("desk::{sub}")),
        [first, ..] => Some(first.clone()),
        [] => None,
    }
}

/// The code of a file without its comment lines.
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names following `prefix` (`crate::`), e.g. `store` in `crate::store::Tx`.
fn named_after<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    text.match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (end > 0).then(|| &rest[..end])
        })
        .collect()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = code(&std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}")));
        let mut targets: Vec<String> = named_after(&text, "crate::")
            .into_iter()
            .chain(named_after(&text, "livedesk::"))
            .map(str::to_owned)
            .collect();
        // Inside the desk, `super::messages` is an edge between submodules.
        if module.starts_with("desk::") {
            targets.extend(
                named_after(&text, "super::")
                    .into_iter()
                    .filter(|name| {
                        src.join("desk").join(format!("{name}.rs")).is_file()
                            || src.join("desk").join(name).is_dir()
                    })
                    .map(|name| format!("desk::{name}")),
            );
        }
        let top = module.split("::").next().unwrap_or_default().to_owned();
        let entry = edges.entry(module.clone()).or_default();
        for target in targets {
            let is_module = src.join(format!("{target}.rs")).is_file()
                || src.join(&target).is_dir()
                || target.starts_with("desk::");
            if is_module && target != module && target != top {
                entry.insert(target);
            }
        }
    }
    edges
}

/// A cycle through `start`, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        // An edge to `desk` from outside reaches every desk submodule.
        let next: Vec<String> = edges
            .get(node)
            .into_iter()
            .flatten()
            .flat_map(|t| {
                if t == "desk" && !node.starts_with("desk") {
                    edges
                        .keys()
                        .filter(|k| k.starts_with("desk"))
                        .cloned()
                        .collect::<Vec<_>>()
                } else {
                    vec![t.clone()]
                }
            })
            .collect();
        for target in next {
            if let Some(found) = visit(&target, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(found) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(found);
        }
    }
    None
}

#[test]
fn the_module_graph_has_no_cycle() {
    let edges = graph();
    assert!(edges.contains_key("dsl") && edges.contains_key("desk::messages"));
    if let Some(found) = cycle(&edges) {
        panic!(
            "a module cycle: {}\n\nthe graph: {edges:#?}",
            found.join(" -> ")
        );
    }
}

#[test]
fn no_module_uses_one_the_design_puts_above_it() {
    let edges = graph();
    // (from, to, why)
    let forbidden = [
        (
            "diagnostics",
            "dsl",
            "spans and sources live below both, in `source`",
        ),
        (
            "model",
            "dsl",
            "the AST uses model types, not the other way",
        ),
        ("model", "config", "model is plain data"),
        ("dsl", "config", "the text layer knows nothing of meaning"),
        ("config", "routing", "the engine reads the configuration"),
        (
            "routing",
            "plugins",
            "the engine defines the traits plugins implement",
        ),
        ("routing", "store", "the engine is pure"),
        (
            "api",
            "daemon",
            "the api owns the reload request; the daemon fulfils it",
        ),
        ("api", "store", "handlers go through the desk"),
        ("cli", "store", "the command line goes through the desk"),
        (
            "desk::conversations",
            "desk::messages",
            "messages build on conversations",
        ),
    ];
    let broken: Vec<String> = forbidden
        .iter()
        .filter(|(from, to, _)| edges.get(*from).is_some_and(|t| t.contains(*to)))
        .map(|(from, to, why)| format!("{from} -> {to}: {why}"))
        .collect();
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
