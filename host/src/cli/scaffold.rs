//! `livedesk plugin new`: a ready plugin project from the templates in
//! `plugins/templates/`, with the contract (`wit/plugin.wit` and its WASI
//! `deps/`) vendored, so that it builds outside LiveDesk's repository.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Language {
    Rust,
    Python,
    Js,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Condition,
    Agent,
}

macro_rules! template {
    ($path:literal) => {
        include_str!(concat!("../../../plugins/templates/", $path))
    };
}

macro_rules! contract {
    ($path:literal) => {
        ($path, include_str!(concat!("../../../wit/", $path)))
    };
}

/// The contract as this LiveDesk speaks it, written into every project.
const CONTRACT: [(&str, &str); 8] = [
    contract!("plugin.wit"),
    contract!("deps/cli.wit"),
    contract!("deps/clocks.wit"),
    contract!("deps/filesystem.wit"),
    contract!("deps/http.wit"),
    contract!("deps/io.wit"),
    contract!("deps/random.wit"),
    contract!("deps/sockets.wit"),
];

/// The files of one project: (path in the project, template).
fn files(language: Language, kind: Kind) -> Vec<(&'static str, &'static str)> {
    let mut files = vec![
        ("README.md", template!("README.md")),
        ("fixture.json", template!("fixture.json")),
    ];
    files.extend(match (language, kind) {
        (Language::Rust, Kind::Condition) => [("src/lib.rs", template!("rust/condition.rs"))],
        (Language::Rust, Kind::Agent) => [("src/lib.rs", template!("rust/agent.rs"))],
        (Language::Python, Kind::Condition) => [("app.py", template!("python/condition.py"))],
        (Language::Python, Kind::Agent) => [("app.py", template!("python/agent.py"))],
        (Language::Js, Kind::Condition) => [("app.js", template!("js/condition.js"))],
        (Language::Js, Kind::Agent) => [("app.js", template!("js/agent.js"))],
    });
    files.extend(match language {
        Language::Rust => vec![("Cargo.toml", template!("rust/Cargo.toml.tmpl"))],
        Language::Python => vec![
            ("build.sh", template!("python/build.sh")),
            ("requirements.txt", template!("python/requirements.txt")),
        ],
        Language::Js => vec![("package.json", template!("js/package.json.tmpl"))],
    });
    files
}

/// A plugin name: what a crate, a package and a `.livedesk` block accept.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    anyhow::ensure!(
        valid,
        "`{name}` is not a plugin name: use 1 to 64 lowercase letters, digits, `-` or `_`, starting with a letter"
    );
    Ok(())
}

pub fn run(
    name: &str,
    language: Language,
    kind: Kind,
    dir: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    check_name(name)?;
    let dir: PathBuf = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        anyhow::bail!(
            "{} exists and is not empty: choose another `--dir`",
            dir.display()
        );
    }
    let file_stem = name.replace('-', "_");
    let world = match kind {
        Kind::Condition => "checked-condition-plugin",
        Kind::Agent => "checked-agent-plugin",
    };
    let (wasm, build, notes) = match language {
        Language::Rust => (
            format!("target/wasm32-wasip2/release/{file_stem}.wasm"),
            "cargo build --release --target wasm32-wasip2".to_owned(),
            "Rust: `rustup target add wasm32-wasip2` once. The bindings come from\n\
             `wit/` through `wit_bindgen::generate!` in `src/lib.rs`.\n",
        ),
        Language::Python => (
            format!("{file_stem}.wasm"),
            "python3 -m pip install -r requirements.txt && sh build.sh".to_owned(),
            "Python: componentize-py builds the component; `componentize-py -d wit -w \n\
             WORLD bindings .` writes the bindings' Python types for your editor.\n",
        ),
        Language::Js => (
            format!("{file_stem}.wasm"),
            "npm install && npm run build".to_owned(),
            "JavaScript: componentize-js (from npm) builds the component; WIT names\n\
             are camelCase in JavaScript, options are `undefined` when absent, and\n\
             variants are `{ tag, val }`.\n",
        ),
    };
    let run_config = match kind {
        Kind::Condition => "--config keyword=password".to_owned(),
        Kind::Agent => {
            "--config keyword=password --config 'answer=Reset it under Settings > Security.'"
                .to_owned()
        }
    };
    let version = livedesk::plugins::CONTRACT_VERSION;
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace(
                "{{kind}}",
                match kind {
                    Kind::Condition => "routing condition",
                    Kind::Agent => "AI agent",
                },
            )
            .replace(
                "{{language}}",
                match language {
                    Language::Rust => "Rust",
                    Language::Python => "Python",
                    Language::Js => "JavaScript",
                },
            )
            .replace("{{version}}", version)
            .replace("{{world}}", world)
            .replace("{{wasm}}", &wasm)
            .replace("{{build}}", &build)
            .replace("{{run_config}}", &run_config)
            .replace("{{language_notes}}", notes)
            .replace(
                "{{disable_http}}",
                if kind == Kind::Condition { " http" } else { "" },
            )
    };
    let snippet = match kind {
        Kind::Condition => template!("condition.livedesk"),
        Kind::Agent => template!("agent.livedesk"),
    };
    let snippet_name = format!("{name}.livedesk");
    let mut written = Vec::new();
    let all = files(language, kind)
        .into_iter()
        .map(|(path, text)| (path.to_owned(), fill(text)))
        .chain(std::iter::once((snippet_name, fill(snippet))))
        .chain(
            CONTRACT
                .iter()
                .map(|(path, text)| (format!("wit/{path}"), (*text).to_owned())),
        );
    for (path, text) in all {
        let target = dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
        written.push(path);
    }
    println!(
        "created {} ({} plugin in {}): {}",
        dir.display(),
        world,
        match language {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
        },
        written.join(", ")
    );
    println!("next:\n    cd {}\n    {build}", dir.display());
    println!("    livedesk plugin run {wasm} --fixture fixture.json {run_config}");
    println!("    livedesk test --deny-plugin-errors {name}.livedesk");
    Ok(ExitCode::SUCCESS)
}
