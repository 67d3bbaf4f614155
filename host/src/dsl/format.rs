//! The canonical layout of a `.livedesk` file: two-space indentation, one
//! setting per line, one blank line between top-level blocks, and every
//! comment kept next to the code it stood beside.
//!
//! Formatting is a pure function of the syntax tree and the original text
//! (the text is only consulted for comments and intentional blank lines), so
//! it is idempotent by construction; `livedesk fmt` still re-parses its
//! output and compares trees before writing anything.

use std::fmt::Write as _;

use super::ast::*;
use crate::source::Span;

/// Formats a parsed file. `text` must be the text `file` was parsed from.
pub fn format(file: &File, text: &str) -> String {
    let mut p = Printer {
        text,
        comments: &file.comments,
        next_comment: 0,
        out: String::new(),
        indent: 0,
        block_start: true,
        line_has_comment: false,
    };
    for (i, item) in file.items.iter().enumerate() {
        let start = item.span().start as usize;
        p.flush_trailing(start);
        let keep_tight = i > 0
            && matches!(item, Item::Include(_))
            && matches!(file.items.get(i - 1), Some(Item::Include(_)))
            && !p.blank_above(start);
        if i > 0 && !keep_tight {
            p.out.push('\n');
        }
        p.item(item);
    }
    p.flush_comments(usize::MAX);
    p.out
}

struct Printer<'a> {
    text: &'a str,
    comments: &'a [Comment],
    next_comment: usize,
    out: String,
    indent: usize,
    /// Right after a block opened (or at the top of the file), where no
    /// blank line belongs.
    block_start: bool,
    /// Whether the last line written already ends in a comment.
    line_has_comment: bool,
}

impl Printer<'_> {
    /// Writes comments that stand before `offset`: trailing ones stay at the
    /// end of the line they followed, the others get lines of their own.
    fn flush_comments(&mut self, offset: usize) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start as usize >= offset {
                break;
            }
            // A line holds one trailing comment; a second one (written
            // inside a statement) gets a line of its own.
            if c.trailing && self.out.ends_with('\n') && !self.line_has_comment {
                self.out.pop();
                let _ = writeln!(self.out, "  {}", c.text);
            } else {
                self.separate(c.span.start as usize);
                let _ = writeln!(self.out, "{}{}", "  ".repeat(self.indent), c.text);
                self.block_start = false;
            }
            self.line_has_comment = true;
            self.next_comment += 1;
        }
    }

    /// Writes the trailing comments before `offset`: they belong to the line
    /// already written, before any blank line that comes next.
    fn flush_trailing(&mut self, offset: usize) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if !c.trailing || c.span.start as usize >= offset {
                break;
            }
            self.flush_comments(c.span.end as usize);
        }
    }

    /// Whether the line at `offset` starts with it and has a blank line
    /// right above it in the source.
    fn blank_above(&self, offset: usize) -> bool {
        let before = self.text.get(..offset).unwrap_or("");
        let Some(line_start) = before.rfind('\n') else {
            return false;
        };
        if !before[line_start + 1..].trim().is_empty() {
            return false;
        }
        let above = &before[..line_start];
        let above_start = above.rfind('\n').map_or(0, |i| i + 1);
        above[above_start..].trim().is_empty()
    }

    /// Keeps a blank line the author left above `offset`, except at the top
    /// of a block, and never two in a row.
    fn separate(&mut self, offset: usize) {
        if !self.block_start
            && !self.out.is_empty()
            && !self.out.ends_with("\n\n")
            && self.blank_above(offset)
        {
            self.out.push('\n');
        }
    }

    /// The tree keeps the span of what follows some keywords (`include`'s
    /// path, `when`'s condition); the statement starts at the keyword.
    fn statement_span(&self, keyword: &str, span: Span) -> Span {
        let start = self
            .text
            .get(..span.start as usize)
            .and_then(|t| t.rfind(keyword));
        Span {
            start: start.map_or(span.start, |s| u32::try_from(s).unwrap_or(span.start)),
            ..span
        }
    }

    /// Writes a statement line, with the comments and blank line before it.
    fn statement(&mut self, span: Span, line: &str) {
        self.flush_comments(span.start as usize);
        self.separate(span.start as usize);
        self.line(span, line);
    }

    fn line(&mut self, span: Span, line: &str) {
        self.flush_comments(span.start as usize);
        let _ = writeln!(self.out, "{}{}", "  ".repeat(self.indent), line);
        self.line_has_comment = false;
        self.block_start = false;
    }

    /// `head {`, the body, then `}` after any comments left inside.
    fn block(&mut self, span: Span, head: &str, body: impl FnOnce(&mut Self)) {
        self.statement(span, &format!("{head} {{"));
        self.indent += 1;
        self.block_start = true;
        body(self);
        self.flush_comments((span.end as usize).saturating_sub(1));
        self.indent -= 1;
        let _ = writeln!(self.out, "{}}}", "  ".repeat(self.indent));
        self.line_has_comment = false;
        self.block_start = false;
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Include(path) => {
                let span = self.statement_span("include", path.span);
                self.statement(span, &format!("include {}", quote(&path.value)));
            }
            Item::Agent(b) => self.named_block("agent", b, |_, s| match s {
                AgentSetting::Name(n) => format!("name {}", quote(&n.value)).into(),
                AgentSetting::Capacity(n) => format!("capacity {}", n.value).into(),
                AgentSetting::Token(v) => format!("token {}", value(&v.value)).into(),
                AgentSetting::Availability(a) => format!("availability {}", a.value).into(),
            }),
            Item::Team(b) => self.named_block("team", b, |_, s| match s {
                TeamSetting::Agents(list) => format!("agents {}", quote_list(list)).into(),
            }),
            Item::AiAgent(b) => self.named_block("ai_agent", b, |p, s| match s {
                AiAgentSetting::Plugin(path) => format!("plugin {}", quote(&path.value)).into(),
                AiAgentSetting::AllowHosts(list) => {
                    format!("allow_hosts {}", quote_list(list)).into()
                }
                AiAgentSetting::Enabled(b) => format!("enabled {}", b.value).into(),
                AiAgentSetting::Config(entries) => p.config_block(entries),
                AiAgentSetting::Limit(limit) => plugin_limit(limit).into(),
            }),
            Item::Condition(b) => self.named_block("condition", b, |p, s| match s {
                ConditionSetting::Plugin(path) => format!("plugin {}", quote(&path.value)).into(),
                ConditionSetting::Config(entries) => p.config_block(entries),
                ConditionSetting::Limit(limit) => plugin_limit(limit).into(),
            }),
            Item::Channel(b) => self.named_block("channel", b, Self::channel_setting),
            Item::Test(b) => self.named_block("test", b, Self::test_statement),
        }
    }

    /// A block whose settings each render as one line or print themselves.
    fn named_block<S>(
        &mut self,
        keyword: &str,
        block: &Block<S>,
        setting: impl Fn(&mut Self, &S) -> Line,
    ) {
        let head = format!("{keyword} {}", quote(&block.name.value));
        self.block(block.span, &head, |p| {
            for s in &block.settings {
                match setting(p, &s.value) {
                    Line::Text(text) => p.statement(s.span, &text),
                    Line::Nested(print) => print(p, s.span),
                }
            }
        });
    }

    fn config_block(&mut self, entries: &[ConfigEntry]) -> Line {
        let entries = entries.to_vec();
        Line::Nested(Box::new(move |p, span| {
            p.block(span, "config", |p| {
                for e in &entries {
                    p.statement(
                        e.key.span.to(e.value.span),
                        &format!("{} {}", e.key.value, value(&e.value.value)),
                    );
                }
            })
        }))
    }

    fn channel_setting(&mut self, setting: &ChannelSetting) -> Line {
        match setting {
            ChannelSetting::InboxIdentifier(v) => {
                format!("inbox_identifier {}", value(&v.value)).into()
            }
            ChannelSetting::Welcome(s) => format!("welcome {}", quote(&s.value)).into(),
            ChannelSetting::Csat(on) => format!("csat {}", on_off(on.value)).into(),
            ChannelSetting::Agents(list) => format!("agents {}", quote_list(list)).into(),
            ChannelSetting::AiAgent { name, enabled } => match enabled {
                Some(on) => format!("ai_agent {} {}", quote(&name.value), on_off(on.value)).into(),
                None => format!("ai_agent {}", quote(&name.value)).into(),
            },
            ChannelSetting::Assignment(policy) => format!(
                "assignment {}",
                match policy.value {
                    Policy::LeastLoad => "least_load",
                    Policy::RoundRobin => "round_robin",
                }
            )
            .into(),
            ChannelSetting::ReassignAfter(d) => {
                format!("reassign_after {}", duration(d.value)).into()
            }
            ChannelSetting::Webhook(w) if w.settings.is_empty() => {
                format!("webhook {}", quote(&w.url.value)).into()
            }
            ChannelSetting::Webhook(w) => {
                let w = w.clone();
                Line::Nested(Box::new(move |p, span| {
                    p.block(span, &format!("webhook {}", quote(&w.url.value)), |p| {
                        for s in &w.settings {
                            let text = match &s.value {
                                WebhookSetting::Secret(v) => format!("secret {}", value(&v.value)),
                                WebhookSetting::AllowPrivateNetwork => {
                                    "allow_private_network".to_string()
                                }
                                WebhookSetting::Parallel(n) => format!("parallel {}", n.value),
                            };
                            p.statement(s.span, &text);
                        }
                    })
                }))
            }
            ChannelSetting::IdentityValidation(iv) => {
                let iv = iv.clone();
                Line::Nested(Box::new(move |p, span| {
                    let mode = if iv.required.value {
                        "required"
                    } else {
                        "optional"
                    };
                    p.block(span, &format!("identity_validation {mode}"), |p| {
                        for s in &iv.secrets {
                            p.statement(s.span, &format!("secret {}", value(&s.value)));
                        }
                    })
                }))
            }
            ChannelSetting::Hours(h) => {
                let h = h.clone();
                Line::Nested(Box::new(move |p, span| {
                    p.block(span, &format!("hours {}", quote(&h.timezone.value)), |p| {
                        for e in &h.entries {
                            p.statement(e.span, &hours_entry(&e.value));
                        }
                    })
                }))
            }
            ChannelSetting::Rule(r) => {
                let r = r.clone();
                Line::Nested(Box::new(move |p, span| {
                    p.block(span, &format!("rule {}", quote(&r.name.value)), |p| {
                        let mut lines = when_lines(&r.when.value, p.indent).into_iter();
                        if let Some(first) = lines.next() {
                            p.statement(p.statement_span("when", r.when.span), &first);
                        }
                        for more in lines {
                            let _ = writeln!(p.out, "{}  {more}", "  ".repeat(p.indent));
                            p.line_has_comment = false;
                        }
                        for a in &r.actions {
                            p.statement(a.span, &action(&a.value));
                        }
                    })
                }))
            }
        }
    }

    fn test_statement(&mut self, statement: &TestStatement) -> Line {
        match statement {
            TestStatement::Channel(s) => format!("channel {}", quote(&s.value)).into(),
            TestStatement::At(s) => format!("at {}", quote(&s.value)).into(),
            TestStatement::Message(s) => format!("message {}", quote(&s.value)).into(),
            TestStatement::Agent {
                email,
                availability,
                open,
            } => {
                let mut line = format!("agent {} {}", quote(&email.value), availability.value);
                if let Some(open) = open {
                    let _ = write!(line, " open {}", open.value);
                }
                line.into()
            }
            TestStatement::Contact(attrs) | TestStatement::Conversation(attrs) => {
                let keyword = if matches!(statement, TestStatement::Contact(_)) {
                    "contact"
                } else {
                    "conversation"
                };
                let attrs = attrs.clone();
                Line::Nested(Box::new(move |p, span| {
                    p.block(span, keyword, |p| {
                        for a in &attrs {
                            let value = match &a.value {
                                AttributeValue::One(l) => literal(&l.value),
                                AttributeValue::List(items) => literal_list(items),
                            };
                            p.statement(a.key.span, &format!("{} {value}", a.key.value));
                        }
                    })
                }))
            }
            TestStatement::Expect(e) => format!("expect {}", expectation(e)).into(),
        }
    }
}

/// Prints a nested block at the span of the setting that holds it.
type PrintNested = Box<dyn FnOnce(&mut Printer<'_>, Span)>;

/// What a setting prints: one line, or a nested block that prints itself.
enum Line {
    Text(String),
    Nested(PrintNested),
}

impl From<String> for Line {
    fn from(text: String) -> Self {
        Line::Text(text)
    }
}

fn expectation(e: &Expectation) -> String {
    match e {
        Expectation::Agent(n) => format!("agent {}", quote(&n.value)),
        Expectation::Team(n) => format!("team {}", quote(&n.value)),
        Expectation::AiAgent(n) => format!("ai_agent {}", quote(&n.value)),
        Expectation::Rule(n) => format!("rule {}", quote(&n.value)),
        Expectation::Label(n) => format!("label {}", quote(&n.value)),
        Expectation::Priority(p) => format!("priority {}", p.value.as_str()),
        Expectation::Queued => "queued".into(),
        Expectation::NoRule => "no_rule".into(),
        Expectation::Welcome => "welcome".into(),
        Expectation::Unavailable => "unavailable".into(),
        Expectation::NoGreeting => "no_greeting".into(),
        Expectation::Plugin { name, ok } => {
            format!(
                "plugin {} {}",
                quote(&name.value),
                if *ok { "ok" } else { "error" }
            )
        }
    }
}

fn action(a: &Action) -> String {
    match a {
        Action::AssignAgent(n) => format!("assign agent {}", quote(&n.value)),
        Action::AssignTeam(n) => format!("assign team {}", quote(&n.value)),
        Action::AssignAiAgent(n) => format!("assign ai_agent {}", quote(&n.value)),
        Action::AssignQueue => "assign queue".into(),
        Action::Labels(list) => format!("label {}", quote_list(list)),
        Action::Priority(p) => format!("priority {}", p.value.as_str()),
        Action::Otherwise(f) => format!("otherwise {}", f.value.as_str()),
    }
}

/// Longest line the formatter writes a condition on before breaking it.
const MAX_WIDTH: usize = 100;

/// `when …` on one line, or broken before each top-level `or`/`and` when
/// it would be longer than [`MAX_WIDTH`].
fn when_lines(e: &Expr, indent: usize) -> Vec<String> {
    let one = format!("when {}", expr(e));
    let (parts, op) = match e {
        Expr::Or(parts) => (parts, "or"),
        Expr::And(parts) => (parts, "and"),
        _ => return vec![one],
    };
    if indent * 2 + one.len() <= MAX_WIDTH {
        return vec![one];
    }
    let mut lines = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        lines.push(if i == 0 {
            format!("when {}", expr(&part.value))
        } else {
            format!("{op} {}", expr(&part.value))
        });
    }
    lines
}

/// A condition in canonical spacing; parentheses exactly where written.
pub fn expr(e: &Expr) -> String {
    let join = |parts: &[Spanned<Expr>], sep: &str| {
        parts
            .iter()
            .map(|p| expr(&p.value))
            .collect::<Vec<_>>()
            .join(sep)
    };
    match e {
        Expr::Or(parts) => join(parts, " or "),
        Expr::And(parts) => join(parts, " and "),
        Expr::Not(inner) => format!("not {}", expr(&inner.value)),
        Expr::Group(inner) => format!("({})", expr(&inner.value)),
        Expr::Plugin(name) => format!("plugin {}", quote(&name.value)),
        Expr::WithinHours => "within_hours".into(),
        Expr::Bool(b) => b.to_string(),
        Expr::Exists(path) => format!("{} exists", path.value),
        Expr::In { path, values } => format!("{} in {}", path.value, literal_list(values)),
        Expr::Compare { path, op, value } => {
            format!("{} {} {}", path.value, op.as_str(), literal(&value.value))
        }
    }
}

fn hours_entry(e: &HoursEntry) -> String {
    match e {
        HoursEntry::Weekly { days, hours } => {
            let days: Vec<_> = days.iter().map(day_range).collect();
            format!("{} {}", days.join(", "), day_hours(hours))
        }
        HoursEntry::Date { date, hours } => format!("{} {}", date.value, day_hours(hours)),
        HoursEntry::Unavailable(msg) => format!("unavailable {}", quote(&msg.value)),
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_range(r: &DayRange) -> String {
    let name = |d: u8| DAYS.get(usize::from(d)).copied().unwrap_or("mon");
    if r.first == r.last {
        name(r.first).to_string()
    } else {
        format!("{}..{}", name(r.first), name(r.last))
    }
}

fn day_hours(h: &DayHours) -> String {
    match h {
        DayHours::Closed => "closed".into(),
        DayHours::AllDay => "all_day".into(),
        DayHours::Intervals(list) => list
            .iter()
            .map(|i| format!("{}-{}", clock(i.value.open), clock(i.value.close)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn duration(d: Duration) -> String {
    let unit = match d.unit {
        DurationUnit::Milliseconds => "ms",
        DurationUnit::Seconds => "s",
        DurationUnit::Minutes => "m",
        DurationUnit::Hours => "h",
        DurationUnit::Days => "d",
    };
    format!("{}{unit}", d.amount)
}

fn plugin_limit(limit: &PluginLimit) -> String {
    match limit {
        PluginLimit::Timeout(d) => format!("timeout {}", duration(d.value)),
        PluginLimit::Memory(bytes) => format!("memory {}", size(bytes.value)),
        PluginLimit::HostIo(bytes) => format!("host_io {}", size(bytes.value)),
    }
}

/// The largest unit that writes the size exactly.
fn size(bytes: u64) -> String {
    for (unit, per) in [("GiB", 1u64 << 30), ("MiB", 1 << 20)] {
        if bytes >= per && bytes % per == 0 {
            return format!("{}{unit}", bytes / per);
        }
    }
    format!("{}KiB", bytes / 1024)
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn value(v: &Value) -> String {
    match v {
        Value::Literal(s) => quote(s),
        Value::Env(name) => format!("env({})", quote(name)),
    }
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::String(s) => quote(s),
        Literal::Number(n) => n.clone(),
        Literal::Bool(b) => b.to_string(),
    }
}

fn literal_list(items: &[Spanned<Literal>]) -> String {
    let items: Vec<_> = items.iter().map(|l| literal(&l.value)).collect();
    format!("[{}]", items.join(", "))
}

fn quote_list(items: &[Spanned<String>]) -> String {
    items
        .iter()
        .map(|s| quote(&s.value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A string literal that parses back to `s`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
