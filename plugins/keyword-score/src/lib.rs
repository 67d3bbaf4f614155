//! A routing condition: does the message read like a given intent?
//!
//! Scores the message (and, with `history on`, the conversation's recent
//! incoming messages) by weighted keywords and holds when the score reaches
//! the threshold. Config:
//!
//! - `keywords`: `word:weight` pairs separated by commas, e.g.
//!   `refund:3, money back:3, chargeback:5, cancel:1` (weight defaults to 1)
//! - `threshold`: the score needed (default 3)
//! - `history`: `on` to count recent incoming messages too

wit_bindgen::generate!({ path: "../../wit", world: "condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
use livedesk::plugin::host::{self, Level};
use livedesk::plugin::types::{Context, MessageType};

struct KeywordScore;

fn keywords(spec: &str) -> Result<Vec<(String, f64)>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|entry| match entry.rsplit_once(':') {
            Some((word, weight)) => weight
                .trim()
                .parse()
                .map(|w| (word.trim().to_lowercase(), w))
                .map_err(|_| format!("weight of `{word}` is not a number")),
            None => Ok((entry.to_lowercase(), 1.0)),
        })
        .collect()
}

impl Guest for KeywordScore {
    fn evaluate(context: Context) -> Result<bool, String> {
        let spec = host::config("keywords").ok_or("config needs `keywords`")?;
        let keywords = keywords(&spec)?;
        let threshold: f64 = match host::config("threshold") {
            Some(t) => t
                .trim()
                .parse()
                .map_err(|_| format!("threshold `{t}` is not a number"))?,
            None => 3.0,
        };
        let mut texts: Vec<String> = context
            .message
            .iter()
            .map(|m| m.content.to_lowercase())
            .collect();
        if host::config("history").as_deref() == Some("on") {
            texts.extend(
                context
                    .conversation
                    .recent_messages
                    .iter()
                    .filter(|m| m.message_type == MessageType::Incoming)
                    .map(|m| m.content.to_lowercase()),
            );
        }
        let score: f64 = keywords
            .iter()
            .filter(|(word, _)| texts.iter().any(|t| t.contains(word.as_str())))
            .map(|(_, weight)| weight)
            .sum();
        host::log(
            Level::Debug,
            &format!("score {score} (threshold {threshold})"),
        );
        Ok(score >= threshold)
    }
}

export!(KeywordScore);
