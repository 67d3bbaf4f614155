//! Builds the plugins in `../plugins` to `wasm32-wasip2` components, so that
//! `cargo build`, `cargo test` and `cargo run` need no separate step.
//!
//! The Rust plugins are a workspace of their own with their own target
//! directory (`plugins/target`): the `.livedesk` examples point at the
//! components there, and the host's build never waits on the plugins' lock.
//! Python plugins (`plugins/python/*/app.py`) are built with componentize-py
//! into `plugins/target/python/`; when componentize-py is not on `PATH`, it
//! is installed once into a virtual environment under `plugins/target`.
//! JavaScript plugins (`plugins/js/*/app.js`) are built with
//! componentize-js, installed once with `npm ci` into
//! `plugins/target/js-tools`; without Node.js they are skipped with a
//! warning (the tests that need them say so), unless `LIVEDESK_REQUIRE_NODE`
//! is set (CI), which makes a missing Node an error.
//!
//! A newcomer's machine has a stable toolchain but not always its
//! `wasm32-wasip2` target: `rust-toolchain.toml` lists the target, but rustup
//! only adds listed targets when it installs the toolchain itself. So the
//! target is added here, through rustup, when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let host = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = host.parent().map(Path::to_path_buf).unwrap_or_default();
    let plugins = root.join("plugins");
    watch(&root.join("wit"));
    watch(&plugins.join("Cargo.toml"));
    watch(&plugins.join("Cargo.lock"));
    for crate_dir in crate_dirs(&plugins) {
        watch(&crate_dir.join("Cargo.toml"));
        watch(&crate_dir.join("src"));
        // Test plugins built against other versions of the contract.
        watch(&crate_dir.join("wit"));
    }

    // The fuzz targets build the library on a nightly toolchain and need
    // no plugins (nor a wasm target for nightly): they set this.
    println!("cargo:rerun-if-env-changed=LIVEDESK_SKIP_PLUGINS");
    if std::env::var_os("LIVEDESK_SKIP_PLUGINS").is_some() {
        return;
    }
    ensure_wasm_target();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&plugins)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(plugins.join("target"));
    // The host's build settings are not the plugins': start from a clean slate.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        // Also the wrappers `cargo clippy` and coverage tools install.
        let wrapper = matches!(
            key.as_ref(),
            "RUSTFLAGS" | "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER" | "CLIPPY_ARGS"
        );
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || wrapper {
            command.env_remove(key.as_ref());
        }
    }
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("building the plugins failed ({status})"),
        Err(e) => panic!("cannot run cargo to build the plugins: {e}"),
    }
    println!(
        "cargo:rustc-env=LIVEDESK_PLUGIN_DIR={}",
        plugins.join("target/wasm32-wasip2/release").display()
    );

    build_python_plugins(&root, &plugins);
    build_js_plugins(&root, &plugins);
}

fn build_js_plugins(root: &Path, plugins: &Path) {
    let sources = plugins.join("js");
    // The directory, so that a new plugin in it is built too (the tools
    // are installed under `plugins/target`, not here).
    watch(&sources);
    println!("cargo:rerun-if-env-changed=LIVEDESK_REQUIRE_NODE");
    let apps = app_dirs(&sources, "app.js");
    if apps.is_empty() {
        return;
    }
    let node = Command::new("node").arg("--version").output();
    let npm = Command::new("npm").arg("--version").output();
    if !(node.is_ok_and(|o| o.status.success()) && npm.is_ok_and(|o| o.status.success())) {
        if std::env::var_os("LIVEDESK_REQUIRE_NODE").is_some() {
            panic!("LIVEDESK_REQUIRE_NODE is set but Node.js (`node`, `npm`) is not installed");
        }
        println!(
            "cargo:warning=JavaScript plugins skipped: Node.js (`node`, `npm`) is not installed; \
             its tests will say so (Debian: `apt-get install nodejs npm`)"
        );
        return;
    }
    let out = plugins.join("target/js");
    let mut componentize = None;
    for app in apps {
        let source = app.join("app.js");
        let name = app
            .file_name()
            .map(|n| n.to_string_lossy().replace('-', "_"))
            .unwrap_or_default();
        let wasm = out.join(format!("{name}.wasm"));
        // componentize-js takes ten seconds a plugin: skip components
        // newer than their sources.
        if newer_than(&wasm, &[source.clone(), root.join("wit/plugin.wit")]) {
            continue;
        }
        let world = js_world(&source);
        let componentize = componentize.get_or_insert_with(|| componentize_js(plugins, &sources));
        let mut command = Command::new(&*componentize);
        command.arg(&source).arg("--wit").arg(root.join("wit"));
        command.args(["--world-name", &world, "--disable", "fetch-event"]);
        // `fetch` runs on `wasi:http`, which only agents are granted.
        if !world.contains("agent") {
            command.arg("http");
        }
        let _ = std::fs::create_dir_all(&out);
        match command.arg("--out").arg(&wasm).status() {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("componentize-js failed on {} ({s})", source.display()),
            Err(e) => panic!("cannot run componentize-js: {e}"),
        }
    }
    println!("cargo:rustc-env=LIVEDESK_JS_PLUGIN_DIR={}", out.display());
}

/// The world a JavaScript plugin names on its first line
/// (`// livedesk-world: checked-condition-plugin`); a condition if none.
fn js_world(source: &Path) -> String {
    std::fs::read_to_string(source)
        .ok()
        .and_then(|text| {
            let first = text.lines().next()?.trim().to_owned();
            let world = first.strip_prefix("// livedesk-world:")?.trim().to_owned();
            Some(world)
        })
        .unwrap_or_else(|| "condition-plugin".to_owned())
}

/// componentize-js, installed with `npm ci` from `plugins/js`'s lock file
/// into `plugins/target/js-tools`.
fn componentize_js(plugins: &Path, sources: &Path) -> PathBuf {
    let tools = plugins.join("target/js-tools");
    let installed = tools.join("node_modules/.bin/componentize-js");
    let lock = sources.join("package-lock.json");
    // Installed from this lock file already: the copy in `tools` matches.
    let current = std::fs::read(tools.join("package-lock.json")).ok();
    if installed.is_file() && current == std::fs::read(&lock).ok() {
        return installed;
    }
    let copied = std::fs::create_dir_all(&tools)
        .and_then(|()| std::fs::copy(sources.join("package.json"), tools.join("package.json")))
        .and_then(|_| std::fs::copy(&lock, tools.join("package-lock.json")));
    if let Err(e) = copied {
        panic!("cannot prepare {}: {e}", tools.display());
    }
    let status = Command::new("npm")
        .args(["ci", "--silent", "--no-audit", "--no-fund"])
        .current_dir(&tools)
        .status();
    match status {
        Ok(s) if s.success() => installed,
        other => panic!(
            "cannot install componentize-js (`npm ci` in {}: {other:?})",
            tools.display()
        ),
    }
}

const WASM_TARGET: &str = "wasm32-wasip2";

/// Adds the `wasm32-wasip2` target to the toolchain in use when its standard
/// library is missing, or stops the build with the one command to run.
fn ensure_wasm_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.is_some_and(|dir| dir.is_dir()) {
        return;
    }
    // rustup sets RUSTUP_TOOLCHAIN for the processes its proxies start, so
    // the target goes to the toolchain that builds the plugins.
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", WASM_TARGET]);
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        rustup.arg("--toolchain").arg(toolchain);
    }
    println!(
        "cargo:warning=the {WASM_TARGET} target is missing: adding it with `rustup target add {WASM_TARGET}`"
    );
    match rustup.status() {
        Ok(status) if status.success() => {}
        outcome => panic!(
            "the plugins need the {WASM_TARGET} target and adding it failed ({outcome:?}): \
             run `rustup target add {WASM_TARGET}`"
        ),
    }
}

fn build_python_plugins(root: &Path, plugins: &Path) {
    let sources = plugins.join("python");
    // The directory, so that a new plugin in it is built too.
    watch(&sources);
    let apps = app_dirs(&sources, "app.py");
    if apps.is_empty() {
        return;
    }
    let out = plugins.join("target/python");
    let mut componentize = None;
    for app in apps {
        watch(&app);
        let name = app
            .file_name()
            .map(|n| n.to_string_lossy().replace('-', "_"))
            .unwrap_or_default();
        let wasm = out.join(format!("{name}.wasm"));
        // componentize-py takes half a minute: skip components newer than
        // their sources.
        if newer_than(&wasm, &[app.join("app.py"), root.join("wit/plugin.wit")]) {
            continue;
        }
        let componentize = componentize
            .get_or_insert_with(|| componentize_py(plugins, &sources.join("requirements.txt")));
        let status = Command::new(&*componentize)
            .arg("-d")
            .arg(root.join("wit"))
            .args(["-w", "condition-plugin", "componentize", "-p"])
            .arg(&app)
            .args(["app", "-o"])
            .arg(&wasm)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("componentize-py failed on {} ({s})", app.display()),
            Err(e) => panic!("cannot run componentize-py: {e}"),
        }
    }
    println!(
        "cargo:rustc-env=LIVEDESK_PYTHON_PLUGIN_DIR={}",
        out.display()
    );
}

/// `componentize-py` from `PATH`, or from a virtual environment made for it.
fn componentize_py(plugins: &Path, requirements: &Path) -> PathBuf {
    let on_path = Command::new("componentize-py").arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return PathBuf::from("componentize-py");
    }
    let venv = plugins.join("target/python-venv");
    let installed = venv.join("bin/componentize-py");
    if installed.is_file() {
        return installed;
    }
    let steps: [(&str, Vec<std::ffi::OsString>); 2] = [
        (
            "python3",
            vec!["-m".into(), "venv".into(), venv.clone().into()],
        ),
        (
            "pip",
            vec![
                "install".into(),
                "--quiet".into(),
                "-r".into(),
                requirements.into(),
            ],
        ),
    ];
    for (program, args) in steps {
        let program = if program == "pip" {
            venv.join("bin/pip")
        } else {
            PathBuf::from(program)
        };
        match Command::new(&program).args(&args).status() {
            Ok(s) if s.success() => {}
            other => panic!(
                "cannot install componentize-py ({} {:?}: {other:?}); install it with \
                 `pip install -r plugins/python/requirements.txt`",
                program.display(),
                args
            ),
        }
    }
    installed
}

/// The directories under `sources` that hold a plugin's `source` file.
fn app_dirs(sources: &Path, source: &str) -> Vec<PathBuf> {
    std::fs::read_dir(sources)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(source).is_file())
        .collect()
}

fn newer_than(target: &Path, sources: &[PathBuf]) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(target) else {
        return false;
    };
    sources
        .iter()
        .all(|s| modified(s).is_some_and(|m| m <= built))
}

fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

/// Every directory under `plugins/` with a `Cargo.toml`, but not the target.
fn crate_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() || path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.join("Cargo.toml").is_file() {
            found.push(path.clone());
        }
        found.extend(crate_dirs(&path));
    }
    found
}
