//! Evaluating a rule's condition against the input, recording each leaf's
//! result for the trace.

use std::cell::OnceCell;
use std::cmp::Ordering;
use std::time::Instant;

use super::attributes::{Value, resolve};
use super::trace::{LeafResult, LeafTrace};
use super::{ConditionPlugins, Input};
use crate::config::{Attribute, Condition, MessageField, Scalar, Test};

/// What every rule of one decision reads, worked out once: many rules test
/// the hours or search the message text, and both cost more than a lookup.
pub(super) struct Facts<'a, 'i> {
    pub input: &'a Input<'i>,
    pub within_hours: bool,
    content_lowercase: OnceCell<String>,
}

impl<'a, 'i> Facts<'a, 'i> {
    pub fn new(input: &'a Input<'i>) -> Self {
        Self {
            input,
            within_hours: input.channel.is_open(input.at),
            content_lowercase: OnceCell::new(),
        }
    }

    fn content_lowercase(&self) -> &str {
        self.content_lowercase.get_or_init(|| {
            self.input
                .message
                .map_or(String::new(), |m| lowercase(&m.content))
        })
    }
}

pub(super) struct Evaluator<'a, 'i> {
    pub facts: &'a Facts<'a, 'i>,
    pub plugins: &'a dyn ConditionPlugins,
    pub rule: u16,
    pub leaves: &'a mut Vec<LeafTrace>,
    /// Number of the next leaf in depth-first order.
    pub next_leaf: u16,
}

impl Evaluator<'_, '_> {
    pub fn eval(&mut self, condition: &Condition) -> bool {
        match condition {
            Condition::All(parts) => self.chain(parts, false),
            Condition::Any(parts) => self.chain(parts, true),
            Condition::Not(inner) => !self.eval(inner),
            leaf => {
                let result = self.leaf(leaf);
                let matched = result.matched();
                self.leaves.push(LeafTrace {
                    rule: self.rule,
                    leaf: self.next_leaf,
                    result,
                });
                self.next_leaf = self.next_leaf.saturating_add(1);
                matched
            }
        }
    }

    /// `and` stops at the first false, `or` at the first true; leaves that
    /// were not evaluated keep their numbers but leave no trace.
    fn chain(&mut self, parts: &[Condition], stop_on: bool) -> bool {
        for (i, part) in parts.iter().enumerate() {
            if self.eval(part) == stop_on {
                let skipped: usize = parts[i + 1..].iter().map(Condition::leaf_count).sum();
                self.next_leaf = self
                    .next_leaf
                    .saturating_add(u16::try_from(skipped).unwrap_or(u16::MAX));
                return stop_on;
            }
        }
        !stop_on
    }

    fn leaf(&mut self, condition: &Condition) -> LeafResult {
        match condition {
            Condition::Const(b) => LeafResult::Value(*b),
            Condition::WithinHours => LeafResult::Value(self.facts.within_hours),
            Condition::Exists(attribute) => {
                LeafResult::Value(exists(&resolve(attribute, self.facts.input)))
            }
            // The hot case: searching the message, lowercased once per decision.
            Condition::Test {
                attribute: Attribute::Message(MessageField::Content),
                test: Test::Contains(needle),
            } if self.facts.input.message.is_some() => {
                LeafResult::Value(needle.is_in(self.facts.content_lowercase()))
            }
            Condition::Test { attribute, test } => {
                LeafResult::Value(holds(test, &resolve(attribute, self.facts.input)))
            }
            Condition::Plugin(id) => {
                let started = Instant::now();
                let call = self.plugins.evaluate(*id, self.facts.input);
                let elapsed_us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                let output = (!call.output.is_empty()).then(|| Box::new(call.output));
                let (matched, error) = match call.result {
                    Ok(matched) => (matched, None),
                    Err(e) => (false, Some(e.to_string().into())),
                };
                LeafResult::Plugin {
                    condition: *id,
                    matched,
                    elapsed_us,
                    error,
                    output,
                }
            }
            Condition::All(_) | Condition::Any(_) | Condition::Not(_) => LeafResult::Value(false),
        }
    }
}

fn exists(value: &Value<'_>) -> bool {
    match value {
        Value::Missing => false,
        Value::Text(t) => !t.is_empty(),
        Value::List(items) => !items.is_empty(),
        Value::Labels(labels) => !labels.is_empty(),
        Value::Number(_) | Value::Bool(_) => true,
    }
}

/// Whether `test` holds for `value`. A missing attribute fails every test
/// except `!=`.
pub fn holds(test: &Test, value: &Value<'_>) -> bool {
    match test {
        Test::Eq(s) => equals(value, s),
        Test::Ne(s) => !equals(value, s),
        Test::Lt(s) => order(value, s) == Some(Ordering::Less),
        Test::Le(s) => matches!(order(value, s), Some(Ordering::Less | Ordering::Equal)),
        Test::Gt(s) => order(value, s) == Some(Ordering::Greater),
        Test::Ge(s) => matches!(order(value, s), Some(Ordering::Greater | Ordering::Equal)),
        Test::Contains(needle) => match value {
            Value::List(items) => items
                .iter()
                .any(|i| matches!(i, Value::Text(t) if eq_ignore_case(t, needle.as_str()))),
            Value::Labels(labels) => labels.iter().any(|l| eq_ignore_case(l, needle.as_str())),
            other => with_text(other, |t| needle.is_in(&lowercase(t))),
        },
        Test::StartsWith(prefix) => with_text(value, |t| {
            t.get(..prefix.len())
                .is_some_and(|head| eq_ignore_case(head, prefix))
                || (!t.is_ascii() && t.to_lowercase().starts_with(prefix.as_str()))
        }),
        Test::EndsWith(suffix) => with_text(value, |t| {
            t.len()
                .checked_sub(suffix.len())
                .and_then(|i| t.get(i..))
                .is_some_and(|tail| eq_ignore_case(tail, suffix))
                || (!t.is_ascii() && t.to_lowercase().ends_with(suffix.as_str()))
        }),
        Test::Matches(regex) => match value {
            Value::List(items) => items.iter().any(|i| with_text(i, |t| regex.is_match(t))),
            Value::Labels(labels) => labels.iter().any(|l| regex.is_match(l)),
            other => with_text(other, |t| regex.is_match(t)),
        },
        Test::In(options) => options.iter().any(|s| equals(value, s)),
    }
}

/// Runs `f` on the value as text; numbers and booleans are written out.
fn with_text(value: &Value<'_>, f: impl Fn(&str) -> bool) -> bool {
    match value {
        Value::Text(t) => f(t),
        Value::Number(n) => f(&n.to_string()),
        Value::Bool(b) => f(if *b { "true" } else { "false" }),
        Value::Missing | Value::List(_) | Value::Labels(_) => false,
    }
}

fn equals(value: &Value<'_>, scalar: &Scalar) -> bool {
    match (value, scalar) {
        (Value::Text(t), Scalar::Str(s)) => t == s,
        (Value::Text(t), Scalar::Num(n)) => t.trim().parse::<f64>().is_ok_and(|v| v == *n),
        (Value::Number(v), Scalar::Num(n)) => v == n,
        (Value::Number(v), Scalar::Str(s)) => s.trim().parse::<f64>().is_ok_and(|n| n == *v),
        (Value::Bool(b), Scalar::Bool(c)) => b == c,
        (Value::Text(t), Scalar::Bool(c)) => t.as_ref() == if *c { "true" } else { "false" },
        (Value::List(items), s) => items.iter().any(|i| equals(i, s)),
        (Value::Labels(labels), Scalar::Str(s)) => labels.iter().any(|l| l == s),
        _ => false,
    }
}

/// Numbers order as numbers (text that reads as a number too); text
/// orders as text, so `time.time >= "09:00"` works.
fn order(value: &Value<'_>, scalar: &Scalar) -> Option<Ordering> {
    match (value, scalar) {
        (Value::Number(v), Scalar::Num(n)) => v.partial_cmp(n),
        (Value::Text(t), Scalar::Num(n)) => t.trim().parse::<f64>().ok()?.partial_cmp(n),
        (Value::Number(v), Scalar::Str(s)) => v.partial_cmp(&s.trim().parse::<f64>().ok()?),
        (Value::Text(t), Scalar::Str(s)) => Some(t.as_ref().cmp(s.as_str())),
        _ => None,
    }
}

/// Lowercase for case-insensitive tests; ASCII text (most of it) takes a
/// much shorter path than full Unicode case mapping.
fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    }
}

fn eq_ignore_case(text: &str, lower: &str) -> bool {
    if text.is_ascii() {
        text.eq_ignore_ascii_case(lower)
    } else {
        text.to_lowercase() == lower
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn text(s: &str) -> Value<'_> {
        Value::Text(Cow::Borrowed(s))
    }

    #[test]
    fn text_tests_ignore_case() {
        assert!(holds(
            &Test::Contains(Box::new("refund".into())),
            &text("I want a REFUND now")
        ));
        assert!(holds(
            &Test::Contains(Box::new("über".into())),
            &text("ÜBER alles")
        ));
        assert!(holds(&Test::StartsWith("hel".into()), &text("Hello")));
        assert!(holds(&Test::EndsWith("lo".into()), &text("HELLO")));
        assert!(!holds(
            &Test::Contains(Box::new("x".into())),
            &Value::Missing
        ));
    }

    #[test]
    fn equality_is_exact_and_missing_is_not_equal() {
        assert!(holds(&Test::Eq(Scalar::Str("vip".into())), &text("vip")));
        assert!(!holds(&Test::Eq(Scalar::Str("vip".into())), &text("VIP")));
        assert!(holds(&Test::Ne(Scalar::Str("vip".into())), &Value::Missing));
        assert!(holds(&Test::Eq(Scalar::Num(80.0)), &text("80")));
    }

    #[test]
    fn ordering_uses_numbers_or_text() {
        assert!(holds(&Test::Gt(Scalar::Num(80.0)), &Value::Number(81.0)));
        assert!(holds(&Test::Gt(Scalar::Num(80.0)), &text("81")));
        assert!(!holds(&Test::Gt(Scalar::Num(80.0)), &text("eighty")));
        assert!(holds(
            &Test::Ge(Scalar::Str("09:00".into())),
            &text("09:30")
        ));
    }

    #[test]
    fn lists_contain_and_match_elements() {
        let owned = ["billing".to_string(), "Urgent".to_string()];
        let labels = Value::Labels(&owned);
        assert!(holds(&Test::Contains(Box::new("urgent".into())), &labels));
        assert!(!holds(&Test::Contains(Box::new("urg".into())), &labels));
        assert!(holds(
            &Test::In(vec![Scalar::Str("billing".into())]),
            &labels
        ));
    }
}
