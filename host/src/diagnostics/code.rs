//! The codes of findings: a stable name for scripts and a page of
//! explanation for people (`livedesk check --explain CODE`), like
//! `rustc --explain`. Adding a finding means adding its code here, and
//! the compiler then asks for its explanation.

/// What a finding is about. Its kebab-case name is what `--format json`
/// and scripts see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    BadCapacity,
    BadDate,
    BadDayRange,
    BadDuration,
    BadEnvName,
    BadEscape,
    BadInterval,
    BadNumber,
    BadPriority,
    BadRegex,
    BadTime,
    BadTimezone,
    BadUrl,
    CustomAttributeTypo,
    DisabledAiAgent,
    DuplicateAgent,
    DuplicateName,
    DuplicateSetting,
    EmptyPool,
    EmptyTest,
    IncludeCycle,
    IncludeUnreadable,
    LimitOutOfRange,
    MissingSetting,
    NestingTooDeep,
    OtherwiseUnused,
    OverlappingHours,
    PluginConfig,
    PluginHost,
    PluginNotFound,
    PluginRejected,
    SecretInFile,
    ShadowedRule,
    Syntax,
    TypeMismatch,
    UnknownAgent,
    UnknownAiAgent,
    UnknownAttribute,
    UnknownChannel,
    UnknownCondition,
    UnknownRule,
    UnknownTeam,
}

impl Code {
    /// Every code, in the order of their names.
    pub const ALL: &[Code] = &[
        Code::BadCapacity,
        Code::BadDate,
        Code::BadDayRange,
        Code::BadDuration,
        Code::BadEnvName,
        Code::BadEscape,
        Code::BadInterval,
        Code::BadNumber,
        Code::BadPriority,
        Code::BadRegex,
        Code::BadTime,
        Code::BadTimezone,
        Code::BadUrl,
        Code::CustomAttributeTypo,
        Code::DisabledAiAgent,
        Code::DuplicateAgent,
        Code::DuplicateName,
        Code::DuplicateSetting,
        Code::EmptyPool,
        Code::EmptyTest,
        Code::IncludeCycle,
        Code::IncludeUnreadable,
        Code::LimitOutOfRange,
        Code::MissingSetting,
        Code::NestingTooDeep,
        Code::OtherwiseUnused,
        Code::OverlappingHours,
        Code::PluginConfig,
        Code::PluginHost,
        Code::PluginNotFound,
        Code::PluginRejected,
        Code::SecretInFile,
        Code::ShadowedRule,
        Code::Syntax,
        Code::TypeMismatch,
        Code::UnknownAgent,
        Code::UnknownAiAgent,
        Code::UnknownAttribute,
        Code::UnknownChannel,
        Code::UnknownCondition,
        Code::UnknownRule,
        Code::UnknownTeam,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadCapacity => "bad-capacity",
            Code::BadDate => "bad-date",
            Code::BadDayRange => "bad-day-range",
            Code::BadDuration => "bad-duration",
            Code::BadEnvName => "bad-env-name",
            Code::BadEscape => "bad-escape",
            Code::BadInterval => "bad-interval",
            Code::BadNumber => "bad-number",
            Code::BadPriority => "bad-priority",
            Code::BadRegex => "bad-regex",
            Code::BadTime => "bad-time",
            Code::BadTimezone => "bad-timezone",
            Code::BadUrl => "bad-url",
            Code::CustomAttributeTypo => "custom-attribute-typo",
            Code::DisabledAiAgent => "disabled-ai-agent",
            Code::DuplicateAgent => "duplicate-agent",
            Code::DuplicateName => "duplicate-name",
            Code::DuplicateSetting => "duplicate-setting",
            Code::EmptyPool => "empty-pool",
            Code::EmptyTest => "empty-test",
            Code::IncludeCycle => "include-cycle",
            Code::IncludeUnreadable => "include-unreadable",
            Code::LimitOutOfRange => "limit-out-of-range",
            Code::MissingSetting => "missing-setting",
            Code::NestingTooDeep => "nesting-too-deep",
            Code::OtherwiseUnused => "otherwise-unused",
            Code::OverlappingHours => "overlapping-hours",
            Code::PluginConfig => "plugin-config",
            Code::PluginHost => "plugin-host",
            Code::PluginNotFound => "plugin-not-found",
            Code::PluginRejected => "plugin-rejected",
            Code::SecretInFile => "secret-in-file",
            Code::ShadowedRule => "shadowed-rule",
            Code::Syntax => "syntax",
            Code::TypeMismatch => "type-mismatch",
            Code::UnknownAgent => "unknown-agent",
            Code::UnknownAiAgent => "unknown-ai-agent",
            Code::UnknownAttribute => "unknown-attribute",
            Code::UnknownChannel => "unknown-channel",
            Code::UnknownCondition => "unknown-condition",
            Code::UnknownRule => "unknown-rule",
            Code::UnknownTeam => "unknown-team",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// What the code means and how to fix it: one paragraph and an example.
    pub fn explanation(self) -> (&'static str, &'static str) {
        match self {
            Code::BadCapacity => (
                r#"An agent's capacity is out of range: it must be from 1 to 4294967295 open conversations."#,
                r#"agent "a@x.test" { capacity 0 }"#,
            ),
            Code::BadDate => (
                r#"A date in business hours is not a real calendar date."#,
                r#"hours "UTC" { 2026-02-30 closed }"#,
            ),
            Code::BadDayRange => (
                r#"A weekday range runs backwards or names a day twice."#,
                r#"hours "UTC" { fri..mon 09:00-17:00 }   # write `mon..fri`"#,
            ),
            Code::BadDuration => (
                r#"A duration is zero or out of range for its setting (`reassign_after`, plugin timeouts)."#,
                r#"channel "Web" { reassign_after 0m }"#,
            ),
            Code::BadEnvName => (
                r#"`env("…")` names something that cannot be an environment variable: empty, or with characters other than letters, digits and `_`."#,
                r#"token env("ALICE TOKEN")"#,
            ),
            Code::BadEscape => (
                r#"A string holds a backslash escape the language does not know. Strings know `\"`, `\\`, `\n`, `\t`, `\r` and `\u{…}`."#,
                r#"welcome "Hi \q there""#,
            ),
            Code::BadInterval => (
                r#"An hours interval opens and closes at the same minute. Overnight intervals (closing earlier than they open) are allowed and run into the next day."#,
                r#"hours "UTC" { mon 09:00-09:00 }"#,
            ),
            Code::BadNumber => (
                r#"A number is not one the setting can hold: not a whole number where one is needed, or too large."#,
                r#"agent "a@x.test" { capacity 99999999999999999999 }"#,
            ),
            Code::BadPriority => (
                r#"A priority is not one of `low`, `medium`, `high` or `urgent`."#,
                r#"rule "R" { when true  assign queue  priority critical }"#,
            ),
            Code::BadRegex => (
                r#"The pattern after `matches` is not a valid regular expression (Rust regex syntax), or is too large to compile."#,
                r#"rule "R" { when message.content matches "(unclosed"  assign queue }"#,
            ),
            Code::BadTime => (
                r#"A time is not valid: an `at` that is not RFC 3339, or a clock time past 23:59."#,
                r#"test "T" { channel "Web"  at "tomorrow"  expect queued }"#,
            ),
            Code::BadTimezone => (
                r#"The timezone of `hours` is not an IANA timezone name."#,
                r#"hours "Jakarta" { mon..fri 09:00-17:00 }   # "Asia/Jakarta""#,
            ),
            Code::BadUrl => (
                r#"A webhook URL is not an absolute `http` or `https` URL."#,
                r#"webhook "hooks.acme.test/livedesk""#,
            ),
            Code::CustomAttributeTypo => (
                r#"A condition reads a custom attribute whose name is one letter or two away from a built-in field, which is almost always a typo. Rename the attribute if it really is custom."#,
                r#"rule "R" { when contact.emial exists  assign queue }"#,
            ),
            Code::DisabledAiAgent => (
                r#"A channel uses an AI agent that is turned off (`enabled false` or `ai_agent "…" off`): conversations go to humans instead."#,
                r#"ai_agent "gpt" { plugin "gpt.wasm"  enabled false }
channel "Web" { ai_agent "gpt" }"#,
            ),
            Code::DuplicateAgent => (
                r#"Two `agent` blocks have the same email. An agent is defined once and used by email everywhere else."#,
                r#"agent "a@x.test" { name "A" }
agent "a@x.test" { name "Also A" }"#,
            ),
            Code::DuplicateName => (
                r#"Two things of the same kind have the same name (two channels, two teams, two AI agents, two conditions, two tests). Names identify them everywhere, so each must be unique."#,
                r#"team "billing" { agents "a@x.test" }
team "billing" { agents "b@x.test" }"#,
            ),
            Code::DuplicateSetting => (
                r#"A block sets the same thing twice (two `capacity` lines, two `assign`s in a rule, a config key twice). Only one can hold; keep the one you mean."#,
                r#"agent "a@x.test" {
  capacity 5
  capacity 8
}"#,
            ),
            Code::EmptyPool => (
                r#"A channel or team has no agents, so auto-assignment can only queue its conversations."#,
                r#"channel "Web" { }"#,
            ),
            Code::EmptyTest => (
                r#"A test expects nothing, so it cannot fail. Add what should happen."#,
                r#"test "T" { channel "Web" }"#,
            ),
            Code::IncludeCycle => (
                r#"Files include each other in a loop. Every `include` in the cycle is shown; remove one of them."#,
                r#"# a.livedesk
include "b.livedesk"
# b.livedesk
include "a.livedesk""#,
            ),
            Code::IncludeUnreadable => (
                r#"An included file cannot be read: it does not exist or cannot be opened. Paths are relative to the file that includes them."#,
                r#"include "people/missing.livedesk""#,
            ),
            Code::LimitOutOfRange => (
                r#"A plugin limit (`timeout`, `memory`, `host_io`) is outside what the host allows."#,
                r#"condition "vip" { plugin "vip.wasm"  timeout 10m }"#,
            ),
            Code::MissingSetting => (
                r#"A block lacks something it cannot do without: a rule without `assign`, a plugin without `plugin`, a test without `channel`, a test of a channel with business hours without `at`."#,
                r#"rule "VIP" {
  when contact.tier == "vip"
}                        # assigns nobody"#,
            ),
            Code::NestingTooDeep => (
                r#"A condition nests parentheses (or `not`s) deeper than the parser allows, which guards against stack exhaustion. Flatten the condition or split it into rules."#,
                r#"rule "Deep" {
  when not not not not not not not not not not … true   # hundreds deep
  assign queue
}"#,
            ),
            Code::OtherwiseUnused => (
                r#"A rule says `otherwise`, but it assigns to an AI agent or the queue: `otherwise` only says what happens when an agent or team target has nobody free."#,
                r#"rule "R" { when true  assign queue  otherwise continue }"#,
            ),
            Code::OverlappingHours => (
                r#"Two intervals of the same day overlap. The channel is open during either, so the overlap is redundant at best and usually a typing mistake."#,
                r#"hours "UTC" { mon 09:00-13:00, 12:00-17:00 }"#,
            ),
            Code::PluginConfig => (
                r#"A plugin's `config` entry cannot be read: an `env(…)` the daemon needs is not set."#,
                r#"ai_agent "gpt" { plugin "gpt.wasm"  config { api_key env("OPENAI_API_KEY") } }"#,
            ),
            Code::PluginHost => (
                r#"The plugin host itself could not start (the WebAssembly engine or its compile cache). The message says why; the configuration is not at fault."#,
                r#"# no file fixes this: check memory limits and the cache directory"#,
            ),
            Code::PluginNotFound => (
                r#"The plugin file does not exist. Plugin paths are relative to the `.livedesk` file that names them."#,
                r#"condition "vip" { plugin "plugins/vip.wasm" }"#,
            ),
            Code::PluginRejected => (
                r#"The plugin file is not a component of the world its block needs: not a WebAssembly component (a core module built for `wasm32-wasip1`), or a component that does not export the condition (or agent) interface of `wit/plugin.wit`."#,
                r#"condition "vip" { plugin "agent.wasm" }   # an agent, used as a condition"#,
            ),
            Code::SecretInFile => (
                r#"A secret (an agent token, a webhook or identity secret, an API key) is written in the file. Secrets come from the environment with `env("NAME")`, so files can be shared and committed."#,
                r#"agent "a@x.test" { token "s3cr3t" }   # token env("ALICE_TOKEN")"#,
            ),
            Code::ShadowedRule => (
                r#"A rule can never match because an earlier rule of the channel always does (its condition is `true`). Rules are tried in order; move the catch-all last."#,
                r#"rule "Everything" { when true  assign queue }
rule "VIP" { when contact.tier == "vip"  assign agent "a@x.test" }"#,
            ),
            Code::Syntax => (
                r#"The file does not follow the grammar of the language: a keyword, a string or a brace is missing or out of place. The caret points at the first thing the parser could not read, and the message lists what it expected there."#,
                r#"agent "a@x.test" {
  capasity 5        # `capacity` is meant
}"#,
            ),
            Code::TypeMismatch => (
                r#"A comparison mixes kinds that cannot compare: a number compared with text, `contains` on a number, a regex on a list."#,
                r#"rule "R" { when time.hour == "nine"  assign queue }"#,
            ),
            Code::UnknownAgent => (
                r#"A name refers to an agent no `agent` block defines. The help line suggests the closest defined email."#,
                r#"channel "Web" { agents "alise@x.test" }"#,
            ),
            Code::UnknownAiAgent => (
                r#"A name refers to an AI agent no `ai_agent` block defines."#,
                r#"channel "Web" { ai_agent "Asistant" }"#,
            ),
            Code::UnknownAttribute => (
                r#"A condition reads an attribute that does not exist: `contact.`, `conversation.` and `message.` have fixed fields plus custom attributes, but `channel.` and `time.` have only their fixed ones."#,
                r#"rule "Late" { when time.hours > 18  assign queue }   # `time.hour`"#,
            ),
            Code::UnknownChannel => (
                r#"A test names a channel no `channel` block defines."#,
                r#"test "T" { channel "Webb"  expect queued }"#,
            ),
            Code::UnknownCondition => (
                r#"`plugin "…"` in a condition names no `condition` block."#,
                r#"rule "VIP" { when plugin "vipp"  assign queue }"#,
            ),
            Code::UnknownRule => (
                r#"`expect rule "…"` names no rule of the test's channel."#,
                r#"test "T" { channel "Web"  expect rule "Refuns" }"#,
            ),
            Code::UnknownTeam => (
                r#"A name refers to a team no `team` block defines."#,
                r#"rule "Refunds" { when true  assign team "biling" }"#,
            ),
        }
    }

    /// The page `livedesk check --explain CODE` prints.
    pub fn render_explanation(self) -> String {
        let (text, example) = self.explanation();
        let example: String = example.lines().map(|l| format!("    {l}\n")).collect();
        format!(
            "{}\n\n{}\n\nFor example:\n\n{example}",
            self.as_str(),
            textwrap(text)
        )
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `text` broken into lines of at most 76 columns, at spaces.
fn textwrap(text: &str) -> String {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > 76 {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole catalogue renders, every code with a paragraph and an
    /// example, and names round-trip.
    #[test]
    fn every_code_explains_itself_with_an_example() {
        let mut catalogue = String::new();
        for code in Code::ALL {
            let (text, example) = code.explanation();
            assert!(text.len() > 40, "{code}: the explanation is too short");
            assert!(!example.trim().is_empty(), "{code}: no example");
            assert_eq!(Code::parse(code.as_str()), Some(*code));
            let page = code.render_explanation();
            assert!(page.starts_with(code.as_str()) && page.contains("For example:"));
            catalogue.push_str(&page);
        }
        assert!(
            catalogue.lines().all(|l| l.len() <= 100),
            "a line of the catalogue is too long"
        );
        let names: std::collections::BTreeSet<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len(), "two codes share a name");
    }
}
