//! End-to-end tests of the `livedesk` command line: the real binary, real
//! files, real exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn examples() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(workspace().join("examples"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "livedesk"))
                .map(|p| {
                    format!(
                        "examples/{}",
                        p.file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn temp_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
    path.display().to_string()
}

#[test]
fn examples_pass_check() {
    let files = examples();
    assert!(files.len() >= 2, "expected the examples, found {files:?}");
    let args: Vec<&str> = std::iter::once("check")
        .chain(files.iter().map(String::as_str))
        .collect();
    let out = livedesk(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("examples/acme.livedesk: ok"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn examples_run_at_least_ten_passing_tests() {
    let files = examples();
    let args: Vec<&str> = std::iter::once("test")
        .chain(files.iter().map(String::as_str))
        .collect();
    let out = livedesk(&args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let passed = text
        .lines()
        .filter(|l| l.starts_with("test ") && l.ends_with(" ... ok"))
        .count();
    assert!(passed >= 10, "only {passed} tests passed:\n{text}");
    assert!(!text.contains("FAILED"), "{text}");
}

const MISSPELLED: &str = r#"agent "alice@acme.test" { name "Alice" }

channel "Web" {
  agents "alice@acme.test"
  rule "VIP" {
    when contact.tier == "vip"
    assign agent "alise@acme.test"
  }
}
"#;

#[test]
fn misspelled_agent_is_reported_with_location_caret_and_suggestion() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = temp_file(&dir, "bad.livedesk", MISSPELLED);
    let out = livedesk(&["check", &file]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "error: unknown agent `alise@acme.test`
  --> {file}:7:18
  |
7 |     assign agent \"alise@acme.test\"
  |                  ^^^^^^^^^^^^^^^^^ no agent has this name
  |
  = help: did you mean \"alice@acme.test\"?

"
    );
    assert_eq!(stderr(&out), expected);

    let out = livedesk(&["check", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    let finding = &doc[0]["findings"][0];
    assert_eq!(finding["code"], "unknown-agent");
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["line"], 7);
    assert_eq!(finding["column"], 18);
    assert_eq!(finding["file"], file.as_str());
    assert_eq!(finding["help"], "did you mean \"alice@acme.test\"?");
}

#[test]
fn syntax_errors_name_what_was_expected() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = temp_file(
        &dir,
        "syntax.livedesk",
        "agent \"a@b.test\" {\n  capasity 5\n}\n",
    );
    let out = livedesk(&["check", &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: expected `availability`, `capacity`, `name` or `token`"),
        "{err}"
    );
    assert!(err.contains(&format!("{file}:2:3")), "{err}");
    assert!(err.contains("^^^^^^^^ unexpected `capasity`"), "{err}");
    assert!(err.contains("help: did you mean \"capacity\"?"), "{err}");
}

#[test]
fn check_reports_every_problem_in_one_run() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = temp_file(
        &dir,
        "many.livedesk",
        r#"agent "a@x.test" { capacity 0 }
channel "Web" {
  agents "a@x.test", "b@x.test"
  hours "Asia/Jakrta" { mon 09:00-17:00  mon 16:00-18:00 }
  rule "All" { when true  assign agent "a@x.test" }
  rule "Never" { when message.content matches "(unclosed"  assign queue }
  rule "Typo" { when mesage.content == "x"  assign queue }
  webhook "https://hooks.x.test/in" { parallel 0 }
}
"#,
    );
    let out = livedesk(&["check", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let codes: Vec<&str> = doc[0]["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["code"].as_str()).collect())
        .unwrap_or_default();
    for code in [
        "bad-capacity",
        "unknown-agent",
        "bad-timezone",
        "bad-regex",
        "unknown-attribute",
        "limit-out-of-range",
    ] {
        assert!(codes.contains(&code), "missing {code} in {codes:?}");
    }
}

#[test]
fn warnings_fail_only_with_deny_warnings() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = temp_file(
        &dir,
        "shadow.livedesk",
        r#"agent "a@x.test" { capacity 2 }
channel "Web" {
  agents "a@x.test"
  rule "Catch all" { when true  assign agent "a@x.test" }
  rule "Refunds" { when message.content contains "refund"  assign queue }
}
"#,
    );
    let out = livedesk(&["check", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: rule `Refunds` can never match"),
        "{}",
        stderr(&out)
    );
    let out = livedesk(&["check", "--deny-warnings", &file]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn include_cycles_are_reported() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = temp_file(&dir, "a.livedesk", "include \"b.livedesk\"\n");
    temp_file(&dir, "b.livedesk", "include \"a.livedesk\"\n");
    let out = livedesk(&["check", &a]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("include cycle through `a.livedesk`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let out = livedesk(&["check", "does/not/exist.livedesk"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read `does/not/exist.livedesk`"),
        "{}",
        stderr(&out)
    );
    let out = livedesk(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn fmt_is_idempotent_on_every_example() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut files = examples();
    files.push("examples/acme/people.livedesk".into());
    for example in files {
        let text = std::fs::read_to_string(workspace().join(&example))
            .unwrap_or_else(|e| panic!("{example}: {e}"));
        let out = livedesk(&["fmt", "--check", &example]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{example} is not formatted: {}",
            stdout(&out)
        );
        // Formatting a formatted file changes nothing, byte for byte.
        let copy = temp_file(&dir, "copy.livedesk", &text);
        let out = livedesk(&["fmt", &copy]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(&copy).unwrap_or_default(),
            text,
            "{example}"
        );
    }
}

const MESSY: &str = r#"# Agents first
agent "a@x.test" {name "A"   capacity 3 # three at most
}
channel   "Web" { agents "a@x.test"
  # route refunds
  rule "Refunds" { when (message.content contains "refund" or message.content contains "money back") and not contact.tier=="vip" assign agent "a@x.test" label "billing","refund" }
}
"#;

const MESSY_FORMATTED: &str = r#"# Agents first
agent "a@x.test" {
  name "A"
  capacity 3  # three at most
}

channel "Web" {
  agents "a@x.test"
  # route refunds
  rule "Refunds" {
    when (message.content contains "refund" or message.content contains "money back")
      and not contact.tier == "vip"
    assign agent "a@x.test"
    label "billing", "refund"
  }
}
"#;

#[test]
fn fmt_check_fails_on_unformatted_files_and_fmt_keeps_comments() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = temp_file(&dir, "messy.livedesk", MESSY);
    let out = livedesk(&["fmt", "--check", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("would reformat"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        MESSY,
        "--check must not write"
    );

    let out = livedesk(&["fmt", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        MESSY_FORMATTED
    );
    let out = livedesk(&["fmt", "--check", &file]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn identity_hash_uses_the_channel_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_livedesk"))
        .args([
            "identity-hash",
            "examples/acme.livedesk",
            "--channel",
            "Acme App",
            "user-42",
        ])
        .env("ACME_HMAC_KEY", "Jefe")
        .current_dir(workspace())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // HMAC-SHA256("Jefe", "user-42"), computed independently.
    let hash = stdout(&out);
    assert_eq!(hash.trim().len(), 64);
    assert_eq!(
        hash.trim(),
        livedesk::identity::identifier_hash(b"Jefe", "user-42")
    );
    assert!(
        hash.trim()
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );

    let out = livedesk(&[
        "identity-hash",
        "examples/acme.livedesk",
        "--channel",
        "Acme Ap",
        "user-42",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean \"Acme App\"?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_prints_the_decision_and_its_trace() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let fixture = temp_file(
        &dir,
        "refund.json",
        r#"{
  "contact": {"email": "someone@example.test", "custom_attributes": {"tier": "gold"}},
  "message": {"content": "I want a refund"},
  "agents": {"alice@acme.test": {"availability": "online", "open_conversations": 3}}
}"#,
    );
    let out = livedesk(&[
        "explain",
        "examples/acme.livedesk",
        "--channel",
        "Acme App",
        "--fixture",
        &fixture,
        "--at",
        "2026-11-24T10:00:00+07:00",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("decision  assign agent \"citra@acme.test\""),
        "{text}"
    );
    assert!(
        text.contains("by        routing rule \"Refunds in office hours\""),
        "{text}"
    );
    assert!(text.contains("1. \"VIP customers\": no match"), "{text}");
    assert!(
        text.contains("contact.tier == \"vip\"   [contact.tier = \"gold\"]"),
        "{text}"
    );
    assert!(
        text.contains("2. \"Refunds in office hours\": matched"),
        "{text}"
    );
    assert!(text.contains("3. \"Night shift\": not tried"), "{text}");
    assert!(
        text.contains("alice@acme.test              online   3/5 open  eligible"),
        "{text}"
    );
    assert!(text.contains("<- picked"), "{text}");

    let out = livedesk(&[
        "explain",
        "examples/acme.livedesk",
        "--channel",
        "Acme App",
        "--fixture",
        &fixture,
        "--at",
        "2026-11-24T10:00:00+07:00",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["outcome"]["agent"], "citra@acme.test");
    assert_eq!(doc["rules"][1]["matched"], true);
    assert_eq!(doc["greeting"]["kind"], "welcome");
}

#[test]
fn failing_test_blocks_fail_the_run() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = temp_file(
        &dir,
        "wrong.livedesk",
        r#"agent "a@x.test" { capacity 1  availability online }
agent "b@x.test" { capacity 1  availability online }
channel "Web" { agents "a@x.test", "b@x.test" }
test "Expects the wrong agent" {
  channel "Web"
  at "2026-11-24T10:00:00Z"
  expect agent "b@x.test"
}
"#,
    );
    let out = livedesk(&["test", &file]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("test Expects the wrong agent ... FAILED"),
        "{text}"
    );
    assert!(
        text.contains("expected agent \"b@x.test\", got agent \"a@x.test\""),
        "{text}"
    );
    assert!(
        text.contains("test result: FAILED. 0 passed; 1 failed"),
        "{text}"
    );
}

#[test]
fn fmt_is_idempotent_on_the_corpus_and_keeps_meaning() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let corpus = workspace().join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    assert!(files.len() >= 3, "corpus missing: {files:?}");
    for original in files {
        let text = std::fs::read_to_string(&original).unwrap_or_default();
        let copy = temp_file(&dir, "corpus.livedesk", &text);
        let first = livedesk(&["fmt", &copy]);
        assert_eq!(
            first.status.code(),
            Some(0),
            "{}: {}",
            original.display(),
            stderr(&first)
        );
        let once = std::fs::read_to_string(&copy).unwrap_or_default();
        let again = livedesk(&["fmt", "--check", &copy]);
        assert_eq!(
            again.status.code(),
            Some(0),
            "{} is not stable:\n{once}",
            original.display()
        );
        // Every comment survives formatting.
        for comment in text.lines().filter_map(|l| {
            l.find(" #")
                .or(l.find('#').filter(|&i| i == 0))
                .map(|i| l[i..].trim())
        }) {
            if !comment.contains('"') {
                assert!(
                    once.contains(comment),
                    "{}: lost {comment:?}\n{once}",
                    original.display()
                );
            }
        }
        // Valid files stay valid, with the same test results.
        let before = livedesk(&["check", original.to_str().unwrap_or_default()]);
        let after = livedesk(&["check", &copy]);
        assert_eq!(
            before.status.code(),
            after.status.code(),
            "{}",
            original.display()
        );
    }
}

#[test]
fn check_rejects_a_plugin_of_the_wrong_world() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let echo = workspace().join("plugins/target/wasm32-wasip2/release/agent_echo.wasm");
    let file = temp_file(
        &dir,
        "wrong-world.livedesk",
        &format!(
            "agent \"a@x.test\" {{}}\ncondition \"echo\" {{\n  plugin \"{}\"\n}}\n\
             channel \"Web\" {{\n  agents \"a@x.test\"\n  rule \"r\" {{\n    when plugin \"echo\"\n    assign queue\n  }}\n}}\n",
            echo.display()
        ),
    );
    let out = livedesk(&["check", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("plugin `agent_echo.wasm` does not implement the `condition-plugin` world"),
        "{err}"
    );
    assert!(err.contains("wrong-world.livedesk:2:"), "{err}");
}

#[test]
fn test_runs_real_rust_and_python_plugins() {
    let out = livedesk(&["test", "examples/plugins.livedesk"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("test Indonesian is answered from Jakarta ... ok"),
        "{text}"
    );
    assert!(
        text.contains("test A refund request goes to billing ... ok"),
        "{text}"
    );
    assert!(text.contains("6 passed; 0 failed"), "{text}");
}

/// A configuration whose one rule asks the `trap` plugin, which always
/// fails, with `tests` appended. Its time limit is generous, so that on a
/// loaded machine it traps rather than times out.
fn trapping_config(dir: &tempfile::TempDir, tests: &str) -> String {
    let trap = workspace().join("plugins/target/wasm32-wasip2/release/trap.wasm");
    temp_file(
        dir,
        "trapping.livedesk",
        &format!(
            "agent \"a@x.test\" {{ availability online }}\ncondition \"broken\" {{\n  plugin \"{}\"\n  timeout 1s\n}}\n\
             channel \"Web\" {{\n  agents \"a@x.test\"\n  rule \"r\" {{\n    when plugin \"broken\"\n    assign queue\n  }}\n}}\n{tests}",
            trap.display()
        ),
    )
}

#[test]
fn a_failing_plugin_is_a_warning_in_tests_and_a_failure_when_denied() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = trapping_config(
        &dir,
        "test \"no rule\" {\n  channel \"Web\"\n  expect no_rule\n}\n",
    );
    // The trap reads as "no match": the test passes, with a warning.
    let out = livedesk(&["test", &file]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("test no rule ... ok"), "{text}");
    assert!(
        text.contains("warning: plugin \"broken\" trapped:")
            && text.contains("this plugin always fails"),
        "{text}"
    );

    let out = livedesk(&["test", "--deny-plugin-errors", &file]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("test no rule ... FAILED"), "{text}");
    assert!(text.contains("    plugin \"broken\" trapped:"), "{text}");
}

#[test]
fn tests_can_expect_a_plugin_to_answer_or_to_fail() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = trapping_config(
        &dir,
        "test \"fails as expected\" {\n  channel \"Web\"\n  expect plugin \"broken\" error\n}\n\
         test \"wrongly expected to answer\" {\n  channel \"Web\"\n  expect plugin \"broken\" ok\n}\n",
    );
    let out = livedesk(&["test", "--deny-plugin-errors", &file]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    // An expected failure does not trip `--deny-plugin-errors`.
    assert!(text.contains("test fails as expected ... ok"), "{text}");
    assert!(
        text.contains("test wrongly expected to answer ... FAILED")
            && text.contains("expected plugin \"broken\" to answer, but it trapped:"),
        "{text}"
    );
    assert!(text.contains("1 passed; 1 failed"), "{text}");

    // A name that is no condition is a caret error with a suggestion.
    let typo = trapping_config(
        &dir,
        "test \"typo\" {\n  channel \"Web\"\n  expect plugin \"brokne\" ok\n}\n",
    );
    let out = livedesk(&["check", &typo]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown condition `brokne`"), "{err}");
    assert!(err.contains("broken"), "{err}");
}

#[test]
fn explain_shows_a_plugins_standard_error_and_log_lines() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = trapping_config(&dir, "");
    let out = livedesk(&["explain", &file, "--channel", "Web"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("stderr:"), "{text}");
    assert!(text.contains("panicked at"), "{text}");
    let out = livedesk(&["explain", &file, "--channel", "Web", "--format", "json"]);
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let result = &json["rules"][0]["conditions"][0]["result"]["plugin"];
    assert!(
        result["output"]["stderr"]
            .as_str()
            .is_some_and(|s| s.contains("this plugin always fails")),
        "{json}"
    );
}

#[test]
fn a_missing_plugin_file_says_paths_are_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = temp_file(
        &dir,
        "missing.livedesk",
        "condition \"c\" {\n  plugin \"build/c.wasm\"\n}\n",
    );
    let out = livedesk(&["check", &file]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("missing.livedesk:2:10"), "{err}");
    assert!(
        err.contains(
            "plugin paths are relative to the file that names them; build the plugin first"
        ),
        "{err}"
    );
    // The hint is for an author outside LiveDesk's repository too.
    assert!(!err.contains("build plugins with `cargo build`"), "{err}");
}

#[test]
fn plugin_limits_out_of_range_are_errors_with_the_range() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let vip = workspace().join("plugins/target/wasm32-wasip2/release/vip_tier.wasm");
    let file = temp_file(
        &dir,
        "limits.livedesk",
        &format!(
            "condition \"vip\" {{\n  plugin \"{}\"\n  timeout 0ms\n  memory 4GiB\n}}\n",
            vip.display()
        ),
    );
    let out = livedesk(&["check", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("limits.livedesk:3:11"), "{err}");
    assert!(err.contains("must be 1ms to 600s"), "{err}");
    assert!(err.contains("must be 1MiB to 1GiB"), "{err}");
}

#[test]
fn a_rule_whose_target_has_nobody_free_queues_or_steps_aside_as_it_says() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = temp_file(
        &dir,
        "otherwise.livedesk",
        r#"agent "vip@x.test" { capacity 1 }
agent "any@x.test" { capacity 1  availability online }
channel "Web" {
  agents "any@x.test"
  rule "VIPs wait for their agent" {
    when contact.tier == "vip"
    assign agent "vip@x.test"
  }
  rule "Gold customers try their agent first" {
    when contact.tier == "gold"
    assign agent "vip@x.test"
    otherwise continue
  }
}
test "The VIP agent starts offline: a VIP waits in the queue" {
  channel "Web"
  contact { tier "vip" }
  expect queued
  expect rule "VIPs wait for their agent"
}
test "A gold customer goes on to the channel's agents" {
  channel "Web"
  contact { tier "gold" }
  expect agent "any@x.test"
  expect no_rule
}
test "Once the VIP agent is online, gold goes to them" {
  channel "Web"
  contact { tier "gold" }
  agent "vip@x.test" online
  expect agent "vip@x.test"
  expect rule "Gold customers try their agent first"
}
"#,
    );
    let out = livedesk(&["test", &file]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("3 passed; 0 failed"), "{text}");
    // The explanation says why the rule stepped aside.
    let fixture = temp_file(
        &dir,
        "gold.json",
        r#"{"contact": {"custom_attributes": {"tier": "gold"}}}"#,
    );
    let out = livedesk(&[
        "explain",
        &file,
        "--channel",
        "Web",
        "--fixture",
        &fixture,
        "--format",
        "json",
    ]);
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    assert!(doc.to_string().contains("otherwise continue"), "{doc}");
    // `otherwise` on a rule that assigns no agent or team is a warning.
    let unused = temp_file(
        &dir,
        "unused.livedesk",
        "channel \"Web\" {\n  rule \"All\" {\n    when true\n    assign queue\n    otherwise continue\n  }\n}\n",
    );
    let out = livedesk(&["check", &unused]);
    assert!(
        stderr(&out).contains("`otherwise` has nothing to fall back from"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_test_of_a_channel_without_hours_needs_no_time_and_a_broken_file_is_counted() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let timeless = temp_file(
        &dir,
        "timeless.livedesk",
        r#"agent "a@x.test" { availability online }
channel "Web" { agents "a@x.test" }
test "No hours, no time" {
  channel "Web"
  expect agent "a@x.test"
}
"#,
    );
    let out = livedesk(&["test", &timeless]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let with_hours = temp_file(
        &dir,
        "hours.livedesk",
        r#"channel "Web" {
  hours "UTC" { mon..fri 09:00-17:00 }
}
test "Hours need a time" {
  channel "Web"
  expect queued
}
"#,
    );
    let out = livedesk(&["test", &with_hours]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("it needs `at`"), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("test result: FAILED. 1 configuration error; 0 passed; 0 failed"),
        "{text}"
    );
    assert!(!text.contains("test result: ok"), "{text}");
}

#[test]
fn check_explains_every_code_of_its_findings() {
    let out = livedesk(&["check", "--explain", "unknown-agent"]);
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    assert!(page.starts_with("unknown-agent\n"), "{page}");
    assert!(page.contains("For example:"), "{page}");
    // Every code a finding of `check --format json` shows has a page.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = temp_file(&dir, "bad.livedesk", MISSPELLED);
    let out = livedesk(&["check", "--format", "json", &file]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let codes: Vec<String> = doc[0]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str().map(str::to_owned))
        .collect();
    assert!(!codes.is_empty(), "{doc}");
    for code in codes {
        let out = livedesk(&["check", "--explain", &code]);
        assert_eq!(out.status.code(), Some(0), "{code}");
    }
    let all = stdout(&livedesk(&["check", "--explain", "all"]));
    assert!(all.matches("For example:").count() >= 40, "{all}");
    let unknown = livedesk(&["check", "--explain", "unknown-agnet"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("did you mean `unknown-agent`?"),
        "{}",
        stderr(&unknown)
    );
}
