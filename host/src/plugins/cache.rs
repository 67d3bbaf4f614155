//! Compiled plugins, kept on disk so that a restart or reload does not pay
//! for compilation again.
//!
//! An entry is named by the SHA-256 of the `.wasm` file and the engine's
//! compatibility hash (wasmtime version, target, and every setting that
//! changes generated code), so a changed plugin or a new LiveDesk never
//! loads a stale artifact. Entries are written to a temporary file and
//! renamed into place, so a crash never leaves half an artifact under a
//! valid name.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled plugins are kept: `$LIVEDESK_CACHE_DIR`, else the user's
/// cache directory.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LIVEDESK_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("livedesk").join("plugins"))
}

/// How a component came to be loaded, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Compiled,
    Cached,
}

/// Loads the component in `bytes`, from the cache when it holds a
/// compatible artifact, compiling (and caching) it otherwise. Cache
/// failures only cost time: they are logged and compilation goes on.
pub fn load(
    engine: &Engine,
    dir: Option<&Path>,
    bytes: &[u8],
) -> wasmtime::Result<(Component, Origin)> {
    let Some(dir) = dir else {
        return Ok((Component::new(engine, bytes)?, Origin::Compiled));
    };
    let entry = dir.join(entry_name(engine, bytes));
    if entry.is_file() {
        // SAFETY: the file is one this module wrote with
        // `precompile_component` for an engine with the same compatibility
        // hash (it is part of the name), into a directory that belongs to
        // LiveDesk; wasmtime checks the artifact's header again before
        // using it.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &entry) };
        match loaded {
            Ok(component) => return Ok((component, Origin::Cached)),
            Err(e) => {
                tracing::warn!(path = %entry.display(), "ignoring unusable cache entry: {e:#}")
            }
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    if let Err(e) = store(dir, &entry, &compiled) {
        tracing::warn!(path = %entry.display(), "cannot cache compiled plugin: {e}");
    }
    // SAFETY: `compiled` was produced just now by this engine.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, &compiled)? };
    Ok((component, Origin::Compiled))
}

fn entry_name(engine: &Engine, bytes: &[u8]) -> String {
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let content = Sha256::digest(bytes);
    let hex: String = content.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}-{:016x}.cwasm", engine_hash.finish())
}

fn store(dir: &Path, entry: &Path, compiled: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, compiled)?;
    std::fs::rename(&temporary, entry)
}
