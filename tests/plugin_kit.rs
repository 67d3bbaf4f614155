//! End to end: the plugin author's tools — `livedesk plugin run` on every
//! first-party plugin, and the WIT contract's version check — through the
//! real binary and real compiled components.

#[path = "support/chat_server.rs"]
mod chat_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chat_server::ChatServer;
use serde_json::{Value, json};

fn livedesk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livedesk"))
        .args(args)
        .current_dir(workspace())
        .output()
        .unwrap_or_else(|e| panic!("cannot run livedesk: {e}"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn rust_plugin(name: &str) -> String {
    Path::new(env!("LIVEDESK_PLUGIN_DIR"))
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

fn python_plugin(name: &str) -> String {
    Path::new(env!("LIVEDESK_PYTHON_PLUGIN_DIR"))
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

/// `plugin run … --format json`, parsed, with its exit code.
fn run_json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["plugin", "run", "--format", "json"];
    all.extend_from_slice(args);
    let out = livedesk(&all);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code(), json)
}

#[test]
fn plugin_run_prints_result_time_and_memory_for_each_first_party_condition() {
    let cases = [
        (
            rust_plugin("vip_tier"),
            vec![
                "tiers=gold, platinum",
                "score_attribute=lifetime_value",
                "min_score=1000",
            ],
            "examples/fixtures/indonesian-order.json",
            "match",
        ),
        (
            rust_plugin("keyword_score"),
            vec!["keywords=refund:3, money back:3", "threshold=3"],
            "examples/fixtures/bug-report.json",
            "no_match",
        ),
        (
            python_plugin("language_match"),
            vec!["language=id"],
            "examples/fixtures/indonesian-order.json",
            "match",
        ),
    ];
    for (plugin, config, fixture, expected) in cases {
        let mut args = vec![plugin.as_str(), "--fixture", fixture, "--timeout-ms", "200"];
        for entry in &config {
            args.extend_from_slice(&["--config", entry]);
        }
        let (code, json) = run_json(&args);
        assert_eq!(code, Some(0), "{plugin}: {json}");
        assert_eq!(json["world"], "condition-plugin", "{json}");
        assert_eq!(json["result"]["kind"], expected, "{plugin}: {json}");
        assert!(
            json["call"]["wall_us"].as_u64().is_some_and(|t| t > 0),
            "{json}"
        );
        // A component's memory holds at least its stack and data.
        assert!(
            json["call"]["peak_memory"]
                .as_u64()
                .is_some_and(|m| m >= 64 << 10),
            "{json}"
        );
        assert!(
            json["call"]["host_io"].as_u64().is_some_and(|b| b > 0),
            "{json}"
        );

        // The same in words.
        let mut human = vec!["plugin", "run"];
        human.extend_from_slice(&args);
        let out = livedesk(&human);
        let said = text(&out.stdout);
        for line in ["result    ", "time      ", "memory    ", "host I/O  "] {
            assert!(said.contains(line), "{plugin}: {said}");
        }
    }
}

#[test]
fn plugin_run_shows_a_python_traceback_and_log_lines() {
    // The plugin logs, then raises from a nested call: the whole
    // traceback is kept, not only its last line.
    let (code, json) = run_json(&[&python_plugin("raise_error"), "--timeout-ms", "200"]);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(json["result"]["kind"], "error", "{json}");
    let output = &json["call"]["output"];
    let stderr = output["stderr"].as_str().unwrap_or_default();
    for part in [
        "Traceback (most recent call last)",
        "in ratio",
        "ZeroDivisionError",
    ] {
        assert!(stderr.contains(part), "{part}: {json}");
    }
    assert_eq!(
        output["logs"],
        json!([{"level": "info", "message": "computing the ratio"}])
    );
}

#[test]
fn plugin_run_lists_an_agents_http_requests() {
    let server = ChatServer::start(
        200,
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the model"}, "finish_reason": "stop"}]}),
    );
    let host = format!("127.0.0.1:{}", server.port);
    let base = format!("base_url=http://{host}/v1");
    let (code, json) = run_json(&[
        &rust_plugin("gpt_agent"),
        "--fixture",
        "examples/fixtures/bug-report.json",
        "--config",
        "api_key=sk-test",
        "--config",
        &base,
        "--config",
        "model=gpt-test",
        "--allow-host",
        &host,
    ]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["world"], "agent-plugin");
    assert_eq!(json["result"]["kind"], "reply", "{json}");
    assert_eq!(json["result"]["reply"], "Hello from the model", "{json}");
    let requests = json["call"]["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(requests.len(), 1, "{json}");
    assert_eq!(requests[0]["method"], "POST");
    assert_eq!(
        requests[0]["url"],
        format!("http://{host}/v1/chat/completions")
    );
    assert_eq!(requests[0]["status"], 200);
    assert!(
        requests[0]["request_bytes"].as_u64().is_some_and(|b| b > 0),
        "{json}"
    );
    assert!(
        requests[0]["response_bytes"]
            .as_u64()
            .is_some_and(|b| b > 0),
        "{json}"
    );

    // Without `--allow-host` the request is refused, and says so; the
    // adapter then hands off by itself.
    let (code, json) = run_json(&[
        &rust_plugin("gpt_agent"),
        "--config",
        "api_key=sk-test",
        "--config",
        &base,
    ]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["result"]["kind"], "hand_off", "{json}");
    let requests = json["call"]["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(requests.len(), 1, "{json}");
    assert_eq!(requests[0]["status"], Value::Null, "{json}");
    assert!(
        requests[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("denied") || e.contains("Denied")),
        "{json}"
    );
}

#[test]
fn plugin_run_refuses_out_of_range_limits_and_explains_a_core_module() {
    let out = livedesk(&[
        "plugin",
        "run",
        &rust_plugin("vip_tier"),
        "--memory-mib",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`--memory-mib 0` is out of range: 1 to 1024"),
        "{}",
        text(&out.stderr)
    );

    // The smallest core module: what `cargo build --target wasm32-wasip1` makes.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap_or_else(|e| panic!("{e}"));
    let out = livedesk(&["plugin", "run", &core.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("is a core WebAssembly module, not a component")
            && err.contains("wasm32-wasip2"),
        "{err}"
    );
}

#[test]
fn a_component_built_for_an_incompatible_contract_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = |plugin: &str| {
        let file = dir.path().join("contract.livedesk");
        std::fs::write(
            &file,
            format!(
                "condition \"c\" {{\n  plugin \"{}\"\n}}\nchannel \"Web\" {{\n  rule \"r\" {{\n    when plugin \"c\"\n    assign queue\n  }}\n}}\n",
                rust_plugin(plugin)
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        file.display().to_string()
    };
    // Built against 0.1.0, the previous version of this series: loads.
    let out = livedesk(&["check", &config("contract_0_1_0")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (code, json) = run_json(&[&rust_plugin("contract_0_1_0"), "--timeout-ms", "200"]);
    assert_eq!(
        (code, &json["result"]["kind"]),
        (Some(0), &json!("no_match")),
        "{json}"
    );

    // Built against 0.2.0, an incompatible series: refused, both named.
    let out = livedesk(&["check", &config("contract_0_2_0")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("was built for `livedesk:plugin@0.2.0`, but this LiveDesk speaks `livedesk:plugin@0.1.1`"),
        "{err}"
    );
    assert!(err.contains("contract.livedesk:1:11"), "{err}");
}

#[test]
fn check_runs_a_plugins_own_config_check_with_a_caret_at_the_key() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("vip.livedesk");
    std::fs::write(
        &file,
        format!(
            "condition \"vip\" {{\n  plugin \"{}\"\n  config {{\n    tiers \"gold\"\n    score_attribute \"ltv\"\n    min_scroe \"10\"\n  }}\n}}\nchannel \"Web\" {{\n  rule \"r\" {{\n    when plugin \"vip\"\n    assign queue\n  }}\n}}\n",
            rust_plugin("vip_tier")
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = livedesk(&["check", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("plugin `vip`: config `min_scroe`: unknown key; did you mean `min_score`?"),
        "{err}"
    );
    // The caret is under the key, on line 6.
    assert!(err.contains("vip.livedesk:6:5"), "{err}");
    assert!(
        err.contains("^^^^^^^^^ the plugin's config check rejects this"),
        "{err}"
    );
    // A problem with no key points at the config block, on line 3.
    assert!(
        err.contains("plugin `vip`: config: `score_attribute` and `min_score` go together"),
        "{err}"
    );
    assert!(err.contains("vip.livedesk:3:3"), "{err}");
}

#[test]
fn plugin_run_runs_the_javascript_plugins() {
    let Some(js) = option_env!("LIVEDESK_JS_PLUGIN_DIR") else {
        assert!(
            std::env::var("LIVEDESK_REQUIRE_NODE").as_deref() != Ok("1"),
            "Node.js is required (LIVEDESK_REQUIRE_NODE=1) but the JavaScript plugins were not built"
        );
        eprintln!(
            "skipped: no Node.js here, so no JavaScript plugins (Debian: apt-get install nodejs npm)"
        );
        return;
    };
    let condition = Path::new(js)
        .join("email_domain.wasm")
        .display()
        .to_string();
    let (code, json) = run_json(&[
        &condition,
        "--fixture",
        "examples/fixtures/bug-report.json",
        "--config",
        "domains=example.test",
        "--calls",
        "5",
        "--timeout-ms",
        "200",
    ]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["world"], "condition-plugin");
    assert_eq!(json["result"]["kind"], "match", "{json}");
    assert!(
        json["timing"]["warm_median_us"].as_u64().is_some(),
        "{json}"
    );

    // Its config check runs too: a JavaScript plugin's error is a caret.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("js.livedesk");
    std::fs::write(
        &file,
        format!(
            "condition \"key\" {{\n  plugin \"{condition}\"\n  config {{\n    domain \"bigcorp.test\"\n  }}\n}}\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = livedesk(&["check", &file.display().to_string()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("plugin `key`: config `domain`: unknown key; the only key is `domains`")
            && err.contains("js.livedesk:4:5"),
        "{err}"
    );
    assert!(err.contains("`domains` is required"), "{err}");

    // The agent fetches over `wasi:http`; the request is listed.
    let server = ChatServer::start(
        200,
        json!({"results": [{"answer": "Try turning it off and on.", "score": 0.8}]}),
    );
    let host = format!("127.0.0.1:{}", server.port);
    let base = format!("base_url=http://{host}");
    let (code, json) = run_json(&[
        &Path::new(js).join("kb_agent.wasm").display().to_string(),
        "--fixture",
        "examples/fixtures/bug-report.json",
        "--config",
        &base,
        "--allow-host",
        &host,
    ]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        json["result"]["reply"], "Try turning it off and on.",
        "{json}"
    );
    assert_eq!(
        json["call"]["requests"][0]["url"],
        format!("http://{host}/search")
    );
    assert_eq!(json["call"]["requests"][0]["status"], 200);
}

/// Runs `program args` in `dir`, failing the test with its output if it fails.
fn build_step(dir: &Path, program: &str, args: &[&str], env: &[(&str, String)]) {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    // The suite's own target directory must not receive the project's build.
    command.env_remove("CARGO_TARGET_DIR");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} in {} failed:\n{}{}",
        dir.display(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Every template, as a newcomer uses it: `plugin new`, the README's build
/// command, `plugin run` on the fixture, the generated tests with
/// `--deny-plugin-errors`, and `check` catching a misspelled config key
/// through the plugin's own config check.
#[test]
fn every_template_makes_a_project_that_builds_and_passes_its_own_tests() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let node = option_env!("LIVEDESK_JS_PLUGIN_DIR").is_some();
    if !node {
        assert!(
            std::env::var("LIVEDESK_REQUIRE_NODE").as_deref() != Ok("1"),
            "Node.js is required (LIVEDESK_REQUIRE_NODE=1) but not installed"
        );
        eprintln!(
            "skipped the JavaScript templates: no Node.js here (Debian: apt-get install nodejs npm)"
        );
    }
    // componentize-py as the build installed it, if it is not on PATH.
    let venv = workspace().join("plugins/target/python-venv/bin");
    let path = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for lang in ["rust", "python", "js"] {
        if lang == "js" && !node {
            continue;
        }
        for kind in ["condition", "agent"] {
            let name = format!("my-{lang}-{kind}");
            let project = dir.path().join(&name);
            let out = livedesk(&[
                "plugin",
                "new",
                &name,
                "--lang",
                lang,
                "--kind",
                kind,
                "--dir",
                &project.display().to_string(),
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            for vendored in [
                "wit/plugin.wit",
                "wit/deps/http.wit",
                "fixture.json",
                "README.md",
            ] {
                assert!(project.join(vendored).is_file(), "{name}: no {vendored}");
            }
            let stem = name.replace('-', "_");
            let wasm = match lang {
                "rust" => {
                    let target = project.join("target").display().to_string();
                    build_step(
                        &project,
                        "cargo",
                        &["build", "--release", "--target", "wasm32-wasip2"],
                        &[("CARGO_TARGET_DIR", target)],
                    );
                    format!("target/wasm32-wasip2/release/{stem}.wasm")
                }
                "python" => {
                    build_step(&project, "sh", &["build.sh"], &[("PATH", path.clone())]);
                    format!("{stem}.wasm")
                }
                _ => {
                    build_step(
                        &project,
                        "npm",
                        &["install", "--silent", "--no-audit", "--no-fund"],
                        &[],
                    );
                    build_step(&project, "npm", &["run", "--silent", "build"], &[]);
                    format!("{stem}.wasm")
                }
            };
            let wasm = project.join(wasm).display().to_string();
            let fixture = project.join("fixture.json").display().to_string();
            let (code, json) = run_json(&[
                &wasm,
                "--fixture",
                &fixture,
                "--config",
                "keyword=password",
                "--config",
                "answer=Reset it under Settings.",
                "--timeout-ms",
                "500",
            ]);
            assert_eq!(code, Some(0), "{name}: {json}");
            let expected = if kind == "condition" {
                "match"
            } else {
                "reply"
            };
            assert_eq!(json["result"]["kind"], expected, "{name}: {json}");

            let snippet = project.join(format!("{name}.livedesk"));
            let out = livedesk(&[
                "test",
                "--deny-plugin-errors",
                &snippet.display().to_string(),
            ]);
            let said = text(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{name}: {said}{}",
                text(&out.stderr)
            );
            assert!(said.contains(" passed; 0 failed"), "{name}: {said}");

            let misspelled = project.join("misspelled.livedesk");
            let original = std::fs::read_to_string(&snippet).unwrap_or_default();
            std::fs::write(&misspelled, original.replace("keyword \"", "keywrod \""))
                .unwrap_or_else(|e| panic!("{e}"));
            let out = livedesk(&["check", &misspelled.display().to_string()]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name}: {err}");
            assert!(
                err.contains("config `keywrod`: unknown key")
                    && err.contains("^^^^^^^ the plugin's config check rejects this"),
                "{name}: {err}"
            );
        }
    }
}
