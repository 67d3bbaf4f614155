//! Parsing and validating a generated 5,000-rule configuration.
//!
//!     cargo bench -p livedesk --bench dsl

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use livedesk::{config, dsl};

/// `rules` rules over ten channels. With `regexes`, a quarter of them use
/// `matches` with a pattern no other rule shares (the worst case: nothing to
/// reuse); without, those rules use `starts_with`.
fn generated(rules: usize, regexes: bool) -> String {
    let mut text = String::from("# generated\n");
    for i in 0..20 {
        text.push_str(&format!(
            "agent \"a{i}@x.test\" {{\n  name \"Agent {i}\"\n  capacity 5\n}}\n\n"
        ));
    }
    text.push_str("team \"billing\" {\n  agents \"a0@x.test\", \"a1@x.test\"\n}\n\n");
    let per_channel = rules / 10;
    for ch in 0..10 {
        text.push_str(&format!(
            "channel \"Channel {ch}\" {{\n  agents \"a{}@x.test\", \"a{}@x.test\"\n",
            ch,
            ch + 10
        ));
        text.push_str("  hours \"Asia/Jakarta\" {\n    mon..fri 09:00-12:00, 13:00-17:00\n    2026-12-25 closed\n  }\n");
        for r in 0..per_channel {
            let when = match r % 4 {
                0 => format!("message.content contains \"word{r}\" and within_hours"),
                1 => format!(
                    "contact.tier in [\"gold\", \"vip{r}\"] or contact.email ends_with \"@c{r}.test\""
                ),
                2 if regexes => format!("message.content matches \"(?i)order #{ch}-{r}\\\\b\""),
                2 => format!("message.content starts_with \"order #{ch}-{r}\""),
                _ => format!(
                    "not (conversation.priority == \"low\") and time.hour >= {}",
                    r % 24
                ),
            };
            let target = if r % 2 == 0 {
                "team \"billing\"".to_string()
            } else {
                format!("agent \"a{}@x.test\"", r % 20)
            };
            text.push_str(&format!(
                "  rule \"rule {r}\" {{\n    when {when}\n    assign {target}\n  }}\n"
            ));
        }
        text.push_str("}\n\n");
    }
    text
}

fn check(text: &str) -> config::Validated {
    let program = dsl::load_text(Path::new("generated.livedesk"), text.to_string())
        .unwrap_or_else(|r| panic!("{:?}", r.findings.first()));
    let validated = config::validate(&program);
    assert!(
        validated.config.is_some(),
        "{:?}",
        validated.findings.first()
    );
    validated
}

fn bench(c: &mut Criterion) {
    let with_regexes = generated(5_000, true);
    let plain = generated(5_000, false);
    let rules: usize = check(&with_regexes)
        .config
        .map(|c| c.channels.iter().map(|ch| ch.rules.len()).sum())
        .unwrap_or(0);
    assert_eq!(rules, 5_000);

    let mut group = c.benchmark_group("dsl");
    group.sample_size(20);
    group.bench_function(
        "parse + validate 5,000 rules, 1,250 distinct regexes",
        |b| b.iter(|| check(black_box(&with_regexes))),
    );
    group.bench_function("parse + validate 5,000 rules, no regexes", |b| {
        b.iter(|| check(black_box(&plain)))
    });
    group.bench_function("parse 5,000 rules", |b| {
        b.iter(|| {
            dsl::load_text(Path::new("generated.livedesk"), black_box(&plain).clone()).is_ok()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
