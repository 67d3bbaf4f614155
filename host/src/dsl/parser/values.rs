//! The leaves of the tree: conditions, literals, strings with their
//! escapes, numbers, durations and sizes.

use super::walk::Walker;
use super::*;

impl Walker {
    /// A size in bytes from `512KiB`, `64MiB`, `1GiB`.
    pub(super) fn size(&mut self, pair: Pair<'_, Rule>) -> Spanned<u64> {
        let text = pair.as_str();
        let (digits, unit) = text.split_at(text.len().saturating_sub(3));
        let per: u64 = match unit {
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            _ => 1 << 30,
        };
        let bytes = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(per));
        let bytes = bytes.unwrap_or_else(|| {
            self.findings.push(
                Finding::error(Code::BadNumber, "size is too large").at(self.span(&pair), "here"),
            );
            0
        });
        self.spanned(&pair, bytes)
    }

    pub(super) fn priority(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Priority>> {
        let p = Priority::parse(pair.as_str())?;
        Some(self.spanned(&pair, p))
    }

    pub(super) fn expr(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Expr>> {
        let span = self.span(&pair);
        let value = match pair.as_rule() {
            Rule::expr | Rule::and_expr => {
                let is_or = pair.as_rule() == Rule::expr;
                let mut parts: Vec<_> = children(pair).filter_map(|p| self.expr(p)).collect();
                if parts.len() == 1 {
                    return parts.pop();
                }
                if is_or {
                    Expr::Or(parts)
                } else {
                    Expr::And(parts)
                }
            }
            Rule::not_expr => {
                let nots = pair
                    .clone()
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::kw_not)
                    .count();
                if nots > scan::MAX_NESTING {
                    self.findings.push(
                        Finding::error(Code::NestingTooDeep, "too many `not`s in a row")
                            .at(span, format!("more than {}", scan::MAX_NESTING))
                            .help("two `not`s cancel out"),
                    );
                    return None;
                }
                let primary = children(pair).next()?;
                let mut e = self.expr(primary)?;
                for _ in 0..nots {
                    e = Spanned::new(Expr::Not(Box::new(e)), span);
                }
                return Some(e);
            }
            Rule::group => Expr::Group(Box::new(self.expr(children(pair).next()?)?)),
            Rule::plugin_ref => Expr::Plugin(self.string(children(pair).next()?)),
            Rule::within_hours => Expr::WithinHours,
            Rule::boolean => Expr::Bool(pair.as_str() == "true"),
            Rule::predicate => {
                let mut inner = pair.into_inner();
                let path = inner.next()?;
                let path = self.spanned(&path, path.as_str().to_string());
                let what = inner.next()?;
                match what.as_rule() {
                    Rule::kw_exists => Expr::Exists(path),
                    Rule::kw_in => {
                        let values = children(inner.next()?)
                            .filter_map(|l| self.literal(l))
                            .collect();
                        Expr::In { path, values }
                    }
                    _ => {
                        let op = cmp_op(what.as_str())?;
                        let value = self.literal(inner.next()?)?;
                        Expr::Compare { path, op, value }
                    }
                }
            }
            _ => return None,
        };
        Some(Spanned::new(value, span))
    }

    pub(super) fn literal(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Literal>> {
        let span = self.span(&pair);
        let value = match pair.as_rule() {
            Rule::string => Literal::String(self.string(pair).value),
            Rule::number => Literal::Number(pair.as_str().to_string()),
            Rule::boolean => Literal::Bool(pair.as_str() == "true"),
            _ => return None,
        };
        Some(Spanned::new(value, span))
    }

    pub(super) fn string_list(&mut self, pair: Pair<'_, Rule>) -> Vec<Spanned<String>> {
        children(pair).map(|s| self.string(s)).collect()
    }

    pub(super) fn value(&mut self, pair: Pair<'_, Rule>) -> Spanned<Value> {
        let span = self.span(&pair);
        let Some(inner) = children(pair).next() else {
            return Spanned::new(Value::Literal(String::new()), span);
        };
        let value = if inner.as_rule() == Rule::env_ref {
            match children(inner).next() {
                Some(name) => Value::Env(self.string(name).value),
                None => Value::Env(String::new()),
            }
        } else {
            Value::Literal(self.string(inner).value)
        };
        Spanned::new(value, span)
    }

    pub(super) fn integer(&mut self, pair: Pair<'_, Rule>) -> Spanned<u64> {
        let n = pair.as_str().parse().unwrap_or_else(|_| {
            self.findings.push(
                Finding::error(Code::BadNumber, "number is too large").at(self.span(&pair), "here"),
            );
            0
        });
        self.spanned(&pair, n)
    }

    pub(super) fn duration(&mut self, pair: Pair<'_, Rule>) -> Spanned<Duration> {
        let text = pair.as_str();
        let unit_len = if text.ends_with("ms") { 2 } else { 1 };
        let (digits, unit) = text.split_at(text.len().saturating_sub(unit_len));
        let unit = match unit {
            "ms" => DurationUnit::Milliseconds,
            "s" => DurationUnit::Seconds,
            "h" => DurationUnit::Hours,
            "d" => DurationUnit::Days,
            _ => DurationUnit::Minutes,
        };
        let amount = digits.parse().unwrap_or_else(|_| {
            self.findings.push(
                Finding::error(Code::BadNumber, "duration is too large")
                    .at(self.span(&pair), "here"),
            );
            0
        });
        self.spanned(&pair, Duration { amount, unit })
    }

    /// A string literal, unescaped. Supported escapes: `\"`, `\\`, `\n`,
    /// `\t`, `\r` and `\u{…}`; anything else is reported where it stands.
    pub(super) fn string(&mut self, pair: Pair<'_, Rule>) -> Spanned<String> {
        let span = self.span(&pair);
        let raw = pair.as_str();
        let body = raw
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(raw);
        let body_start = span.start as usize + 1;
        let mut out = String::with_capacity(body.len());
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let escaped = chars.next();
            let decoded = match escaped {
                Some((_, '"')) => Some('"'),
                Some((_, '\\')) => Some('\\'),
                Some((_, 'n')) => Some('\n'),
                Some((_, 't')) => Some('\t'),
                Some((_, 'r')) => Some('\r'),
                Some((_, 'u')) => {
                    let rest = &body[i + 2..];
                    let code = rest
                        .strip_prefix('{')
                        .and_then(|r| r.split_once('}'))
                        .and_then(|(hex, _)| {
                            u32::from_str_radix(hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .map(|c| (c, hex.len()))
                        });
                    code.map(|(c, len)| {
                        for _ in 0..len + 2 {
                            chars.next();
                        }
                        c
                    })
                }
                _ => None,
            };
            match decoded {
                Some(c) => out.push(c),
                None => {
                    let end = escaped.map_or(i + 1, |(j, c)| j + c.len_utf8());
                    self.findings.push(
                        Finding::error(Code::BadEscape, "unknown escape in string")
                            .at(
                                Span::new(self.file, body_start + i, body_start + end),
                                "not a known escape",
                            )
                            .help("escapes are \\\", \\\\, \\n, \\t, \\r and \\u{…}"),
                    );
                }
            }
        }
        Spanned::new(out, span)
    }
}

pub(super) fn day_number(text: &str) -> Option<u8> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| *d == text)
        .and_then(|i| u8::try_from(i).ok())
}

/// `HH:MM` as minutes since midnight; `24:00` is allowed as the day's end.
pub(super) fn clock_minutes(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

pub(super) fn cmp_op(text: &str) -> Option<CmpOp> {
    Some(match text {
        "==" => CmpOp::Eq,
        "!=" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        "contains" => CmpOp::Contains,
        "starts_with" => CmpOp::StartsWith,
        "ends_with" => CmpOp::EndsWith,
        "matches" => CmpOp::Matches,
        _ => return None,
    })
}
