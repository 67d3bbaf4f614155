//! What a plugin call costs: a condition call on a Rust component
//! (instantiation included, as every call gets a fresh instance), the bare
//! instantiation of an empty component for comparison, the same call on a
//! Python and a JavaScript component, and loading a plugin (the Rust GPT
//! adapter, the JavaScript knowledge-base agent) with and without the
//! compile cache. The JavaScript cases need the JavaScript plugins, which
//! the build makes when Node.js is installed.
//!
//!     cargo bench -p livedesk --bench plugins

use std::hint::black_box;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use livedesk::config::{self, ChannelId, ConditionId, Config};
use livedesk::dsl;
use livedesk::model::{Contact, Conversation, Message};
use livedesk::plugins::{Options, PluginHost, Subject, engine};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

fn config_with(plugin: &Path, extra: &str) -> Config {
    let text = format!(
        "agent \"a@x.test\" {{}}\ncondition \"c\" {{\n plugin \"{}\"\n {extra}\n}}\n\
         channel \"Web\" {{\n agents \"a@x.test\"\n rule \"r\" {{ when plugin \"c\" assign queue }}\n}}\n",
        plugin.display()
    );
    let program = dsl::load_text(Path::new("bench.livedesk"), text)
        .unwrap_or_else(|r| panic!("{:?}", r.findings));
    config::validate(&program)
        .config
        .unwrap_or_else(|| panic!("invalid bench config"))
}

fn uncached() -> Options {
    Options {
        cache_dir: None,
        require_secrets: true,
    }
}

fn condition_call(c: &mut Criterion, name: &str, plugin: PathBuf, extra: &str, message: &str) {
    let config = config_with(&plugin, extra);
    let host = PluginHost::load(&config, &uncached()).unwrap_or_else(|f| panic!("{f:?}"));
    let mut contact = Contact::default();
    contact
        .custom_attributes
        .insert("tier".into(), "gold".into());
    // What the JavaScript condition matches; the others ignore it.
    contact.email = Some("dana@example.test".into());
    let conversation = Conversation::default();
    let message = Message {
        content: message.into(),
        ..Message::default()
    };
    let subject = Subject {
        channel: config.channel(ChannelId(0)),
        contact: &contact,
        conversation: &conversation,
        history: &[],
        message: Some(&message),
        at: Utc
            .with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
            .single()
            .unwrap_or_default(),
    };
    if let Err(e) = host.evaluate(ConditionId(0), &subject) {
        panic!("{name}: {e}");
    }
    c.bench_function(name, |b| {
        b.iter(|| host.evaluate(ConditionId(0), black_box(&subject)))
    });
}

fn rust_condition(c: &mut Criterion) {
    let plugin = Path::new(env!("LIVEDESK_PLUGIN_DIR")).join("vip_tier.wasm");
    condition_call(c, "condition call, Rust (vip-tier)", plugin, "", "hello");
}

fn python_condition(c: &mut Criterion) {
    let plugin = Path::new(env!("LIVEDESK_PYTHON_PLUGIN_DIR")).join("language_match.wasm");
    condition_call(
        c,
        "condition call, Python (language-match)",
        plugin,
        "timeout 1s\n memory 256MiB\n config { language \"id\" }",
        "Halo, saya mau tanya tentang pesanan saya",
    );
}

fn js_condition(c: &mut Criterion) {
    let Some(dir) = option_env!("LIVEDESK_JS_PLUGIN_DIR") else {
        eprintln!("skipped the JavaScript cases: no Node.js, so no JavaScript plugins");
        return;
    };
    condition_call(
        c,
        "condition call, JavaScript (email-domain)",
        Path::new(dir).join("email_domain.wasm"),
        "timeout 1s\n memory 256MiB\n config { domains \"example.test\" }",
        "hello",
    );
}

/// The smallest component there is: the preamble and nothing else.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

fn bare_instantiation(c: &mut Criterion) {
    let engine = engine::engine().unwrap_or_else(|e| panic!("{e}"));
    let component = Component::new(&engine, EMPTY_COMPONENT).unwrap_or_else(|e| panic!("{e}"));
    let pre = Linker::<()>::new(&engine)
        .instantiate_pre(&component)
        .unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("bare instantiation, empty component", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine, ());
            black_box(pre.instantiate(&mut store).is_ok())
        })
    });
}

fn cold_load(c: &mut Criterion) {
    cold_load_of(
        c,
        "cold load, gpt-agent (Rust)",
        &Path::new(env!("LIVEDESK_PLUGIN_DIR")).join("gpt_agent.wasm"),
    );
    match option_env!("LIVEDESK_JS_PLUGIN_DIR") {
        Some(dir) => cold_load_of(
            c,
            "cold load, kb-agent (JavaScript)",
            &Path::new(dir).join("kb_agent.wasm"),
        ),
        None => eprintln!("skipped the JavaScript cold load: no JavaScript plugins"),
    }
}

fn cold_load_of(c: &mut Criterion, group: &str, plugin: &Path) {
    let text = format!(
        "agent \"a@x.test\" {{}}\nai_agent \"g\" {{ plugin \"{}\" }}\nchannel \"Web\" {{ agents \"a@x.test\" }}\n",
        plugin.display()
    );
    let program = dsl::load_text(Path::new("bench.livedesk"), text)
        .unwrap_or_else(|r| panic!("{:?}", r.findings));
    let config = config::validate(&program)
        .config
        .unwrap_or_else(|| panic!("invalid bench config"));
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cached = Options {
        cache_dir: Some(cache.path().to_path_buf()),
        require_secrets: true,
    };
    drop(PluginHost::load(&config, &cached));
    let mut group = c.benchmark_group(group);
    group.sample_size(10);
    group.bench_function("compiling", |b| {
        b.iter(|| PluginHost::load(&config, &uncached()).is_ok())
    });
    group.bench_function("from the cache", |b| {
        b.iter(|| PluginHost::load(&config, &cached).is_ok())
    });
    group.finish();
}

criterion_group!(
    benches,
    rust_condition,
    bare_instantiation,
    python_condition,
    js_condition,
    cold_load
);
criterion_main!(benches);
