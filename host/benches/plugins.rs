//! What a plugin call costs: a condition call on a Rust component
//! (instantiation included, as every call gets a fresh instance), the bare
//! instantiation of an empty component for comparison, the same call on a
//! Python component, and loading a plugin with and without the compile
//! cache.
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
    let plugin = Path::new(env!("LIVEDESK_PLUGIN_DIR")).join("gpt_agent.wasm");
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
    let mut group = c.benchmark_group("cold load, gpt-agent");
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
    cold_load
);
criterion_main!(benches);
