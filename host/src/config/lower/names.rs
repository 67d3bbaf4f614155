//! Definitions by name: each defined once, and references resolved to
//! ids with a "did you mean" when they name nothing.

use super::*;

impl Lowerer<'_> {
    pub(super) fn no_duplicates<S>(&mut self, kind: &str, blocks: &[&Block<S>]) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for b in blocks {
            if let Some(first) = seen.get(b.name.value.as_str()) {
                self.findings.push(
                    Finding::error(
                        Code::DuplicateName,
                        format!("{kind} `{}` is defined twice", b.name.value),
                    )
                    .at(b.name.span, "defined again here")
                    .related(*first, "first defined here")
                    .help(format!("give each {kind} its own name, or merge the two")),
                );
            } else {
                seen.insert(&b.name.value, b.name.span);
            }
        }
    }

    pub(super) fn resolve(
        &mut self,
        kind: &str,
        code: Code,
        name: &Spanned<String>,
        table: &[&str],
    ) -> Option<u32> {
        match table.iter().position(|n| *n == name.value) {
            Some(i) => Some(id(i)),
            None => {
                let keyword = if kind == "AI agent" { "ai_agent" } else { kind };
                let help = help_for(&name.value, table.iter().copied()).unwrap_or_else(|| {
                    format!("define it with `{keyword} \"{}\" {{ … }}`", name.value)
                });
                self.findings.push(
                    Finding::error(code, format!("unknown {kind} `{}`", name.value))
                        .at(name.span, format!("no {kind} has this name"))
                        .help(help),
                );
                None
            }
        }
    }
}
