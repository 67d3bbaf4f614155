//! Plugin blocks (conditions and AI agents): paths, config entries, secrets
//! and limits.

use super::*;

impl Lowerer<'_> {
    pub(super) fn secret(&mut self, value: &Spanned<Value>, what: &str, sensitive: bool) -> Secret {
        match &value.value {
            Value::Env(name) => {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.findings.push(
                        Finding::error(
                            Code::BadEnvName,
                            format!("`{name}` is not an environment variable name"),
                        )
                        .at(value.span, "use letters, digits and `_`"),
                    );
                }
                Secret::Env(name.clone())
            }
            Value::Literal(text) => {
                if sensitive {
                    self.findings.push(
                        Finding::warning(
                            Code::SecretInFile,
                            format!("{what} is written in the file"),
                        )
                        .at(
                            value.span,
                            "anyone who can read this file can read the secret",
                        )
                        .help("read it from the environment: `env(\"NAME\")`"),
                    );
                }
                Secret::Literal(text.clone())
            }
        }
    }

    /// A plugin path, relative to the file that names it; the file must exist.
    pub(super) fn plugin_path(&mut self, path: &Spanned<String>) -> PathBuf {
        let base = self
            .program
            .sources
            .path(path.span.file)
            .parent()
            .unwrap_or(Path::new(""));
        let full = base.join(&path.value);
        if !full.is_file() {
            self.findings.push(
                Finding::error(Code::PluginNotFound, format!("plugin file `{}` not found", full.display()))
                    .at(path.span, "no such file")
                    .help("plugin paths are relative to the file that names them; build the plugin first (its README says how; LiveDesk's own plugins are built by `cargo build` in its repository)"),
            );
        }
        full
    }

    pub(super) fn plugin_config(
        &mut self,
        entries: &[ast::ConfigEntry],
        into: &mut Vec<(String, Secret)>,
        spans: &mut ConfigSpans,
        block: Span,
    ) {
        spans.block.get_or_insert(block);
        for e in entries {
            if into.iter().any(|(k, _)| *k == e.key.value) {
                self.findings.push(
                    Finding::error(
                        Code::DuplicateSetting,
                        format!("config key `{}` is set twice", e.key.value),
                    )
                    .at(e.key.span, "set again here"),
                );
                continue;
            }
            let secret = self.secret(&e.value, "a plugin setting", false);
            into.push((e.key.value.clone(), secret));
            spans.keys.push(e.key.span);
        }
    }

    pub(super) fn ai_agent(&mut self, b: &Block<ast::AiAgentSetting>) -> AiAgent {
        let (mut plugin, mut enabled) = (None, None);
        let (mut hosts, mut config) = (Vec::new(), Vec::new());
        let mut spans = ConfigSpans::default();
        let mut limits = LimitSlots::default();
        for s in &b.settings {
            match &s.value {
                ast::AiAgentSetting::Plugin(p) => {
                    let path = self.plugin_path(p);
                    self.once(&mut plugin, path, s.span, "plugin");
                }
                ast::AiAgentSetting::AllowHosts(list) => {
                    hosts.extend(list.iter().map(|h| h.value.clone()))
                }
                ast::AiAgentSetting::Config(entries) => {
                    self.plugin_config(entries, &mut config, &mut spans, s.span)
                }
                ast::AiAgentSetting::Enabled(e) => {
                    self.once(&mut enabled, e.value, s.span, "enabled")
                }
                ast::AiAgentSetting::Limit(limit) => self.limit(&mut limits, limit, s.span),
            }
        }
        let plugin = self.required(plugin, b.span, "AI agent", "plugin \"agent.wasm\"");
        AiAgent {
            name: b.name.value.clone(),
            plugin,
            allow_hosts: hosts,
            config,
            config_spans: spans,
            enabled: enabled.is_none_or(|(e, _)| e),
            limits: limits.or(PluginLimits::AGENT),
            span: b.name.span,
        }
    }

    pub(super) fn plugin_condition(&mut self, b: &Block<ast::ConditionSetting>) -> PluginCondition {
        let mut plugin = None;
        let mut config = Vec::new();
        let mut spans = ConfigSpans::default();
        let mut limits = LimitSlots::default();
        for s in &b.settings {
            match &s.value {
                ast::ConditionSetting::Plugin(p) => {
                    let path = self.plugin_path(p);
                    self.once(&mut plugin, path, s.span, "plugin");
                }
                ast::ConditionSetting::Config(entries) => {
                    self.plugin_config(entries, &mut config, &mut spans, s.span)
                }
                ast::ConditionSetting::Limit(limit) => self.limit(&mut limits, limit, s.span),
            }
        }
        let plugin = self.required(plugin, b.span, "condition", "plugin \"condition.wasm\"");
        PluginCondition {
            name: b.name.value.clone(),
            plugin,
            config,
            config_spans: spans,
            limits: limits.or(PluginLimits::CONDITION),
            span: b.name.span,
        }
    }

    /// One `timeout`, `memory` or `host_io` setting, checked against the
    /// host's ceiling.
    pub(super) fn limit(&mut self, slots: &mut LimitSlots, limit: &ast::PluginLimit, span: Span) {
        let max = PluginLimits::MAX;
        let (what, fits, range, at) = match limit {
            ast::PluginLimit::Timeout(d) => {
                let value = d.value.to_std();
                self.once(&mut slots.timeout, value, span, "timeout");
                let fits = !value.is_zero() && value <= max.timeout;
                ("timeout", fits, "1ms to 600s", d.span)
            }
            ast::PluginLimit::Memory(bytes) => {
                self.once(&mut slots.memory, bytes.value, span, "memory");
                let fits = (1 << 20..=max.memory).contains(&bytes.value);
                ("memory", fits, "1MiB to 1GiB", bytes.span)
            }
            ast::PluginLimit::HostIo(bytes) => {
                self.once(&mut slots.host_io, bytes.value, span, "host_io");
                let fits = (1 << 10..=max.host_io).contains(&bytes.value);
                ("host_io", fits, "1KiB to 64MiB", bytes.span)
            }
        };
        if !fits {
            self.findings.push(
                Finding::error(Code::LimitOutOfRange, format!("`{what}` is out of range"))
                    .at(at, format!("must be {range}")),
            );
        }
    }
}

/// The limits a plugin block sets; unset ones take the kind's default.
#[derive(Default)]
pub(super) struct LimitSlots {
    timeout: Option<(std::time::Duration, Span)>,
    memory: Option<(u64, Span)>,
    host_io: Option<(u64, Span)>,
}

impl LimitSlots {
    pub(super) fn or(self, default: PluginLimits) -> PluginLimits {
        PluginLimits {
            timeout: self.timeout.map_or(default.timeout, |(v, _)| v),
            memory: self.memory.map_or(default.memory, |(v, _)| v),
            host_io: self.host_io.map_or(default.host_io, |(v, _)| v),
        }
    }
}

pub(super) fn visit_plugins(expr: &Spanned<ast::Expr>, f: &mut dyn FnMut(&Spanned<String>)) {
    match &expr.value {
        ast::Expr::Or(parts) | ast::Expr::And(parts) => {
            parts.iter().for_each(|p| visit_plugins(p, f))
        }
        ast::Expr::Not(inner) | ast::Expr::Group(inner) => visit_plugins(inner, f),
        ast::Expr::Plugin(name) => f(name),
        _ => {}
    }
}
