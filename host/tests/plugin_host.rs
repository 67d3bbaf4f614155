//! The plugin host with real components built from `plugins/`: what a
//! plugin can and cannot do, and what the host does when it misbehaves.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use livedesk::config::{self, ChannelId, ConditionId, Config};
use livedesk::dsl;
use livedesk::model::{Contact, Conversation, Message};
use livedesk::plugins::{Options, PluginHost, Subject};
use livedesk::routing::{self, AgentBoard, Input, LeafResult, PluginError};

fn rust_plugin(name: &str) -> PathBuf {
    Path::new(env!("LIVEDESK_PLUGIN_DIR")).join(format!("{name}.wasm"))
}

fn python_plugin(name: &str) -> PathBuf {
    Path::new(env!("LIVEDESK_PYTHON_PLUGIN_DIR")).join(format!("{name}.wasm"))
}

/// A configuration with one channel whose rules use the given condition
/// blocks, in order, one rule each. A condition whose block sets no
/// timeout gets a generous one: these tests run beside each other (and
/// beside spinning plugins) on a busy machine, where the few milliseconds
/// of the default budget can pass while a thread waits for a core.
fn config_with(conditions: &[(&str, &Path, &str)]) -> Config {
    let mut text = String::from("agent \"a@x.test\" {}\n");
    for (name, path, extra) in conditions {
        let timeout = if extra.contains("timeout") {
            ""
        } else {
            "timeout 2s"
        };
        text.push_str(&format!(
            "condition \"{name}\" {{\n  plugin \"{}\"\n  {extra}\n  {timeout}\n}}\n",
            path.display()
        ));
    }
    text.push_str("channel \"Web\" {\n  agents \"a@x.test\"\n");
    for (name, _, _) in conditions {
        text.push_str(&format!(
            "  rule \"{name}\" {{\n    when plugin \"{name}\"\n    assign queue\n  }}\n"
        ));
    }
    text.push_str("}\n");
    let program = match dsl::load_text(Path::new("test.livedesk"), text) {
        Ok(program) => program,
        Err(rejected) => panic!("{:?}", rejected.findings),
    };
    let validated = config::validate(&program);
    validated
        .config
        .unwrap_or_else(|| panic!("{:?}", validated.findings))
}

fn options(cache: &tempfile::TempDir) -> Options {
    Options {
        cache_dir: Some(cache.path().to_path_buf()),
        require_secrets: true,
    }
}

fn load(config: &Config) -> (PluginHost, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let host = PluginHost::load(config, &options(&cache))
        .unwrap_or_else(|findings| panic!("{:?}", findings));
    (host, cache)
}

/// The one finding loading `config` must give.
fn rejection(config: &Config) -> String {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    match PluginHost::load(config, &options(&cache)) {
        Ok(_) => panic!("the plugin was accepted"),
        Err(findings) => {
            assert_eq!(findings.len(), 1, "{findings:?}");
            findings[0].message.clone()
        }
    }
}

struct Case {
    contact: Contact,
    conversation: Conversation,
    message: Message,
}

impl Case {
    fn saying(text: &str) -> Self {
        Case {
            contact: Contact::default(),
            conversation: Conversation::default(),
            message: Message {
                content: text.into(),
                ..Message::default()
            },
        }
    }

    fn subject<'a>(&'a self, config: &'a Config) -> Subject<'a> {
        Subject {
            channel: config.channel(ChannelId(0)),
            contact: &self.contact,
            conversation: &self.conversation,
            history: &[],
            message: Some(&self.message),
            at: Utc
                .with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
                .single()
                .unwrap_or_default(),
        }
    }
}

#[test]
fn rust_conditions_answer_from_the_context_and_their_config() {
    let vip = rust_plugin("vip_tier");
    let config = config_with(&[("vip", &vip, "config {\n tiers \"gold\"\n }")]);
    let (host, _cache) = load(&config);
    let mut case = Case::saying("hi");
    assert_eq!(
        host.evaluate(ConditionId(0), &case.subject(&config)),
        Ok(false)
    );
    case.contact
        .custom_attributes
        .insert("tier".into(), "Gold".into());
    assert_eq!(
        host.evaluate(ConditionId(0), &case.subject(&config)),
        Ok(true)
    );
}

#[test]
fn an_endless_loop_is_stopped_at_its_time_limit_and_the_host_keeps_serving() {
    let spin = rust_plugin("spin_forever");
    let vip = rust_plugin("vip_tier");
    let config = config_with(&[("spin", &spin, "timeout 20ms"), ("vip", &vip, "")]);
    let (host, _cache) = load(&config);
    let case = Case::saying("hi");

    let started = Instant::now();
    let result = host.evaluate(ConditionId(0), &case.subject(&config));
    let took = started.elapsed();
    assert_eq!(result, Err(PluginError::Timeout(Duration::from_millis(20))));
    // Stopped within its limit plus the epoch tick and some scheduling slack.
    assert!(took < Duration::from_millis(500), "took {took:?}");

    // The same host answers the next call, and another plugin's.
    assert_eq!(
        host.evaluate(ConditionId(1), &case.subject(&config)),
        Ok(false)
    );
    let again = host.evaluate(ConditionId(0), &case.subject(&config));
    assert_eq!(again, Err(PluginError::Timeout(Duration::from_millis(20))));
    let stats = host
        .condition_stats(ConditionId(0))
        .unwrap_or_else(|| panic!("no stats"));
    assert_eq!((stats.calls, stats.failures), (2, 2));
}

#[test]
fn other_calls_go_on_while_a_plugin_spins() {
    let spin = rust_plugin("spin_forever");
    let vip = rust_plugin("vip_tier");
    let config = config_with(&[("spin", &spin, "timeout 3s"), ("vip", &vip, "")]);
    let (host, _cache) = load(&config);
    let case = Case::saying("hi");
    std::thread::scope(|scope| {
        let spinning = scope.spawn(|| host.evaluate(ConditionId(0), &case.subject(&config)));
        // Give the spinner a head start so it is inside the plugin.
        std::thread::sleep(Duration::from_millis(200));
        // Meanwhile, on another thread, the same host answers, and all of
        // it while the spinner still spins: a host that ran one call at a
        // time could answer only after the spinner's 3 s budget ran out.
        for _ in 0..50 {
            assert_eq!(
                host.evaluate(ConditionId(1), &case.subject(&config)),
                Ok(false)
            );
        }
        assert!(!spinning.is_finished(), "the spinner stopped too early");
        let result = spinning
            .join()
            .unwrap_or_else(|_| panic!("spinner panicked"));
        assert_eq!(result, Err(PluginError::Timeout(Duration::from_secs(3))));
    });
}

/// Under the default 5 ms a memory bomb may run out of time before it
/// reaches 64 MiB: the error says it was growing its memory either way.
#[test]
fn a_memory_bomb_under_a_short_time_limit_is_reported_as_growing_memory() {
    let bomb = rust_plugin("memory_bomb");
    let config = config_with(&[("bomb", &bomb, "")]);
    let (host, _cache) = load(&config);
    let result = host.evaluate(ConditionId(0), &Case::saying("hi").subject(&config));
    match result {
        Err(e @ (PluginError::TimeoutGrowingMemory { .. } | PluginError::MemoryLimit(_))) => {
            assert!(e.to_string().contains("memory"), "{e}")
        }
        other => panic!("expected a memory error, got {other:?}"),
    }
}

#[test]
fn a_memory_bomb_is_denied_at_its_memory_limit() {
    let bomb = rust_plugin("memory_bomb");
    let config = config_with(&[("bomb", &bomb, "memory 16MiB\n timeout 2s")]);
    let (host, _cache) = load(&config);
    let result = host.evaluate(ConditionId(0), &Case::saying("hi").subject(&config));
    assert_eq!(result, Err(PluginError::MemoryLimit(16 << 20)));
}

#[test]
fn a_trap_makes_the_condition_not_match_and_says_why() {
    let trap = rust_plugin("trap");
    let config = config_with(&[("trap", &trap, "")]);
    let (host, _cache) = load(&config);
    let case = Case::saying("hi");
    match host.evaluate(ConditionId(0), &case.subject(&config)) {
        Err(PluginError::Trap(message)) => {
            assert!(message.contains("this plugin always fails"), "{message}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }

    // Through the routing engine: the rule does not match, the trace says why.
    let input = Input::new(
        &config,
        ChannelId(0),
        &case.contact,
        &case.conversation,
        Some(&case.message),
        Utc::now(),
    );
    let decision = routing::decide(&input, &AgentBoard::default(), &host);
    assert_eq!(decision.rule(), None);
    match &decision.trace.leaves[0].result {
        LeafResult::Plugin {
            matched: false,
            error: Some(e),
            ..
        } => assert!(e.contains("trapped"), "{e}"),
        other => panic!("unexpected trace {other:?}"),
    }
}

#[test]
fn every_call_gets_a_fresh_instance() {
    let counter = rust_plugin("stateful_counter");
    let config = config_with(&[("counter", &counter, "")]);
    let (host, _cache) = load(&config);
    let case = Case::saying("hi");
    // The plugin holds only on an instance's first call: with state kept
    // between calls the second answer would be false.
    for _ in 0..3 {
        assert_eq!(
            host.evaluate(ConditionId(0), &case.subject(&config)),
            Ok(true)
        );
    }
}

#[test]
fn a_plugin_of_the_wrong_world_is_rejected_at_load_naming_the_world() {
    let echo = rust_plugin("agent_echo");
    let config = config_with(&[("echo", &echo, "")]);
    let message = &rejection(&config);
    assert!(message.contains("`condition-plugin` world"), "{message}");
    assert!(
        message.contains("livedesk:plugin/condition@0.1.1"),
        "{message}"
    );
    assert!(
        message.contains("`agent-plugin` world instead"),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_rejected() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm not really").unwrap_or_else(|e| panic!("{e}"));
    let config = config_with(&[("bogus", &bogus, "")]);
    let message = rejection(&config);
    assert!(
        message.contains("not a valid WebAssembly component"),
        "{message}"
    );
}

#[test]
fn the_host_io_budget_bounds_what_crosses_host_calls() {
    let vip = rust_plugin("vip_tier");
    let config = config_with(&[("vip", &vip, "host_io 1KiB")]);
    let (host, _cache) = load(&config);
    let case = Case::saying(&"x".repeat(4096));
    assert_eq!(
        host.evaluate(ConditionId(0), &case.subject(&config)),
        Err(PluginError::HostIo(1024))
    );
}

#[test]
fn compiled_plugins_are_cached_on_disk_and_reused() {
    let vip = rust_plugin("vip_tier");
    let config = config_with(&[("vip", &vip, "")]);
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let entries = || {
        std::fs::read_dir(cache.path())
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(entries(), 0);
    drop(PluginHost::load(&config, &options(&cache)).unwrap_or_else(|f| panic!("{f:?}")));
    assert_eq!(entries(), 1);
    // A second load reads the entry; a corrupt entry is replaced, not fatal.
    drop(PluginHost::load(&config, &options(&cache)).unwrap_or_else(|f| panic!("{f:?}")));
    assert_eq!(entries(), 1);
    for entry in std::fs::read_dir(cache.path())
        .into_iter()
        .flatten()
        .flatten()
    {
        std::fs::write(entry.path(), b"garbage").unwrap_or_else(|e| panic!("{e}"));
    }
    let host = PluginHost::load(&config, &options(&cache)).unwrap_or_else(|f| panic!("{f:?}"));
    assert_eq!(
        host.evaluate(ConditionId(0), &Case::saying("hi").subject(&config)),
        Ok(false)
    );
}

#[test]
fn a_python_condition_runs_like_any_other() {
    let language = python_plugin("language_match");
    let config = config_with(&[(
        "indonesian",
        &language,
        "timeout 200ms\n memory 128MiB\n config {\n language \"id\"\n }",
    )]);
    let (host, _cache) = load(&config);
    let yes = Case::saying("Halo, saya mau tanya tentang pesanan saya");
    let no = Case::saying("Hello, where is my order? I have been waiting for a week");
    assert_eq!(
        host.evaluate(ConditionId(0), &yes.subject(&config)),
        Ok(true)
    );
    assert_eq!(
        host.evaluate(ConditionId(0), &no.subject(&config)),
        Ok(false)
    );
}

#[test]
fn a_condition_that_imports_the_network_is_rejected_naming_the_import() {
    let sneaky = rust_plugin("sneaky_http");
    let config = config_with(&[("sneaky", &sneaky, "")]);
    let message = &rejection(&config);
    assert!(
        message.contains("`wasi:http/outgoing-handler@0.2"),
        "{message}"
    );
    assert!(
        message.contains("does not grant to a `condition-plugin`"),
        "{message}"
    );
}
