//! What a grammar error says: the rules the parser expected, named as an
//! author reads them.

use super::*;

pub(super) fn grammar_error(file: FileId, text: &str, error: &pest::error::Error<Rule>) -> Finding {
    let at = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    // Point at the whole word where parsing stopped, not one character.
    let word_len = text[at..]
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len() - at);
    let found = &text[at..at + word_len];
    let span = Span::new(file, at, at + word_len.max(usize::from(at < text.len())));
    match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut expected: Vec<&str> = positives.iter().map(|r| describe(*r)).collect();
            expected.sort_unstable();
            expected.dedup();
            let list = join_or(&expected);
            let keywords = positives.iter().filter_map(|r| keyword_text(*r));
            let help = if found.is_empty() {
                None
            } else {
                help_for(found, keywords)
            };
            let label = if found.is_empty() {
                "unexpected end of input".to_string()
            } else {
                format!("unexpected `{found}`")
            };
            Finding::error(Code::Syntax, format!("expected {list}"))
                .at(span, label)
                .help_opt(help)
        }
        ErrorVariant::CustomError { message } => {
            Finding::error(Code::Syntax, message.clone()).at(span, "here")
        }
    }
}

pub(super) fn join_or(items: &[&str]) -> String {
    match items {
        [] => "something else".to_string(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The keyword a `kw_*` rule matches, for "did you mean" on grammar errors.
pub(super) fn keyword_text(kind: Rule) -> Option<&'static str> {
    describe(kind)
        .strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
        .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// How a grammar rule is named in an error message.
pub(super) fn describe(kind: Rule) -> &'static str {
    match kind {
        Rule::EOI => "end of file",
        Rule::string | Rule::string_list => "a string",
        Rule::integer => "a whole number",
        Rule::number => "a number",
        Rule::duration => "a duration like `15m`",
        Rule::size => "a size like `64MiB`",
        Rule::boolean => "`true` or `false`",
        Rule::on_off => "`on` or `off`",
        Rule::value | Rule::env_ref => "a string or `env(\"NAME\")`",
        Rule::ident | Rule::config_entry | Rule::attribute => "a name",
        Rule::policy => "`least_load` or `round_robin`",
        Rule::validation_mode => "`required` or `optional`",
        Rule::priority_level => "`low`, `medium`, `high` or `urgent`",
        Rule::availability => "`online`, `busy` or `offline`",
        Rule::day | Rule::day_set | Rule::day_range | Rule::weekly_hours => "a day (`mon` … `sun`)",
        Rule::date | Rule::date_hours => "a date like `2026-12-25`",
        Rule::clock | Rule::interval | Rule::day_hours => "hours like `09:00-17:00`",
        Rule::path | Rule::predicate => "an attribute like `contact.email`",
        Rule::cmp_op => "an operator (`==`, `!=`, `<`, `contains`, `matches`, …)",
        Rule::list => "a list like `[\"a\", \"b\"]`",
        Rule::expr | Rule::and_expr | Rule::not_expr | Rule::group => "a condition",
        Rule::kw_agent
        | Rule::agent
        | Rule::assign_agent
        | Rule::test_agent
        | Rule::expect_agent => "`agent`",
        Rule::kw_agents | Rule::channel_agents | Rule::team_agents => "`agents`",
        Rule::kw_ai_agent
        | Rule::ai_agent
        | Rule::channel_ai_agent
        | Rule::assign_ai_agent
        | Rule::expect_ai_agent => "`ai_agent`",
        Rule::kw_all_day => "`all_day`",
        Rule::kw_allow_hosts | Rule::allow_hosts => "`allow_hosts`",
        Rule::kw_allow_private | Rule::allow_private_network => "`allow_private_network`",
        Rule::kw_and => "`and`",
        Rule::kw_assign | Rule::assign => "`assign`",
        Rule::kw_assignment | Rule::assignment => "`assignment`",
        Rule::kw_at | Rule::test_at => "`at`",
        Rule::kw_availability | Rule::agent_availability => "`availability`",
        Rule::kw_capacity | Rule::agent_capacity => "`capacity`",
        Rule::kw_channel | Rule::channel | Rule::test_channel => "`channel`",
        Rule::kw_closed => "`closed`",
        Rule::kw_condition | Rule::condition => "`condition`",
        Rule::kw_config | Rule::plugin_config => "`config`",
        Rule::kw_contact | Rule::test_contact => "`contact`",
        Rule::kw_conversation | Rule::test_conversation => "`conversation`",
        Rule::kw_csat | Rule::csat => "`csat`",
        Rule::kw_enabled | Rule::ai_enabled => "`enabled`",
        Rule::kw_env => "`env`",
        Rule::kw_exists => "`exists`",
        Rule::kw_expect | Rule::expect => "`expect`",
        Rule::kw_host_io | Rule::plugin_host_io => "`host_io`",
        Rule::kw_hours | Rule::hours => "`hours`",
        Rule::kw_identity_validation | Rule::identity_validation => "`identity_validation`",
        Rule::kw_in => "`in`",
        Rule::kw_inbox_identifier | Rule::inbox_identifier => "`inbox_identifier`",
        Rule::kw_include | Rule::include => "`include`",
        Rule::kw_label | Rule::set_label | Rule::expect_label => "`label`",
        Rule::kw_memory | Rule::plugin_memory => "`memory`",
        Rule::kw_message | Rule::test_message => "`message`",
        Rule::kw_name | Rule::agent_name => "`name`",
        Rule::kw_no_greeting | Rule::expect_no_greeting => "`no_greeting`",
        Rule::kw_no_rule | Rule::expect_no_rule => "`no_rule`",
        Rule::kw_not => "`not`",
        Rule::kw_open => "`open`",
        Rule::kw_or => "`or`",
        Rule::kw_otherwise | Rule::otherwise => "`otherwise`",
        Rule::fallback => "`queue` or `continue`",
        Rule::kw_parallel | Rule::webhook_parallel => "`parallel`",
        Rule::kw_plugin | Rule::plugin_path | Rule::plugin_ref | Rule::expect_plugin => "`plugin`",
        Rule::plugin_verdict => "`ok` or `error`",
        Rule::kw_priority | Rule::set_priority | Rule::expect_priority => "`priority`",
        Rule::kw_queue | Rule::assign_queue => "`queue`",
        Rule::kw_queued | Rule::expect_queued => "`queued`",
        Rule::kw_reassign_after | Rule::reassign_after => "`reassign_after`",
        Rule::kw_rule | Rule::rule | Rule::expect_rule => "`rule`",
        Rule::kw_secret | Rule::secret => "`secret`",
        Rule::kw_team | Rule::team | Rule::assign_team | Rule::expect_team => "`team`",
        Rule::kw_test | Rule::test => "`test`",
        Rule::kw_timeout | Rule::plugin_timeout => "`timeout`",
        Rule::kw_token | Rule::agent_token => "`token`",
        Rule::kw_unavailable | Rule::unavailable | Rule::expect_unavailable => "`unavailable`",
        Rule::kw_webhook | Rule::webhook => "`webhook`",
        Rule::kw_welcome | Rule::welcome | Rule::expect_welcome => "`welcome`",
        Rule::kw_when | Rule::rule_when => "`when`",
        Rule::kw_within_hours | Rule::within_hours => "`within_hours`",
        _ => "something else",
    }
}

pub(super) fn is_keyword(kind: Rule) -> bool {
    matches!(
        kind,
        Rule::kw_agent
            | Rule::kw_agents
            | Rule::kw_ai_agent
            | Rule::kw_all_day
            | Rule::kw_allow_hosts
            | Rule::kw_allow_private
            | Rule::kw_and
            | Rule::kw_assign
            | Rule::kw_assignment
            | Rule::kw_at
            | Rule::kw_availability
            | Rule::kw_capacity
            | Rule::kw_channel
            | Rule::kw_closed
            | Rule::kw_condition
            | Rule::kw_config
            | Rule::kw_contact
            | Rule::kw_conversation
            | Rule::kw_csat
            | Rule::kw_enabled
            | Rule::kw_env
            | Rule::kw_exists
            | Rule::kw_expect
            | Rule::kw_host_io
            | Rule::kw_hours
            | Rule::kw_identity_validation
            | Rule::kw_in
            | Rule::kw_inbox_identifier
            | Rule::kw_include
            | Rule::kw_label
            | Rule::kw_memory
            | Rule::kw_message
            | Rule::kw_name
            | Rule::kw_no_greeting
            | Rule::kw_no_rule
            | Rule::kw_not
            | Rule::kw_open
            | Rule::kw_or
            | Rule::kw_otherwise
            | Rule::kw_parallel
            | Rule::kw_plugin
            | Rule::kw_priority
            | Rule::kw_queue
            | Rule::kw_queued
            | Rule::kw_reassign_after
            | Rule::kw_rule
            | Rule::kw_secret
            | Rule::kw_team
            | Rule::kw_test
            | Rule::kw_timeout
            | Rule::kw_token
            | Rule::kw_unavailable
            | Rule::kw_webhook
            | Rule::kw_welcome
            | Rule::kw_when
            | Rule::kw_within_hours
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grammar's keyword rules, `kw_agent = @{ "agent" ~ … }`, as
    /// (rule name, word).
    fn grammar_keywords() -> Vec<(String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../grammar/livedesk.pest");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .filter_map(|line| {
                let (name, rest) = line.split_once('=')?;
                let name = name.trim();
                let word = rest.split('"').nth(1)?;
                name.starts_with("kw_")
                    .then(|| (name.to_owned(), word.to_owned()))
            })
            .collect()
    }

    /// The tables above are written by hand; the grammar is the truth.
    #[test]
    fn every_keyword_of_the_grammar_is_known_and_described_by_its_word() {
        let keywords = grammar_keywords();
        assert!(keywords.len() > 50, "{keywords:?}");
        for (name, word) in &keywords {
            let kind = Rule::all_rules()
                .iter()
                .copied()
                .find(|r| format!("{r:?}") == *name)
                .unwrap_or_else(|| panic!("no rule {name}"));
            assert!(is_keyword(kind), "`{name}` is missing from is_keyword");
            assert_eq!(
                keyword_text(kind),
                Some(word.as_str()),
                "`{name}` is described as {:?}",
                describe(kind)
            );
        }
        // And nothing else is a keyword.
        let in_grammar: Vec<&str> = keywords.iter().map(|(n, _)| n.as_str()).collect();
        for kind in Rule::all_rules() {
            if is_keyword(*kind) {
                assert!(
                    in_grammar.contains(&format!("{kind:?}").as_str()),
                    "{kind:?}"
                );
            }
        }
    }
}
