//! A routing condition: is this contact a VIP?
//!
//! Holds when the contact's tier attribute is one of the listed tiers, or
//! when a numeric score attribute reaches a threshold. Config (all optional):
//!
//! - `attribute`: the custom attribute holding the tier (default `tier`)
//! - `tiers`: comma-separated tiers that count as VIP (default `vip`)
//! - `score_attribute`, `min_score`: a numeric attribute and its threshold
//!
//! It checks its config when LiveDesk loads it (`config-check`): an
//! unknown key or a `min_score` that is not a number is an error at its
//! line in the `.livedesk` file.

wit_bindgen::generate!({ path: "../../wit", world: "checked-condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
use exports::livedesk::plugin::config_check::{self, ConfigEntry, ConfigProblem};
use livedesk::plugin::host::{self, Level};
use livedesk::plugin::types::{Attribute, AttributeValue, Context};

struct VipTier;

fn attribute<'a>(attributes: &'a [Attribute], key: &str) -> Option<&'a AttributeValue> {
    attributes.iter().find(|a| a.key == key).map(|a| &a.value)
}

impl Guest for VipTier {
    fn evaluate(context: Context) -> Result<bool, String> {
        let custom = &context.contact.custom_attributes;
        let tier_key = host::config("attribute").unwrap_or_else(|| "tier".to_string());
        let tiers = host::config("tiers").unwrap_or_else(|| "vip".to_string());
        if let Some(AttributeValue::Text(tier)) = attribute(custom, &tier_key)
            && tiers
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(tier))
        {
            return Ok(true);
        }
        let (Some(score_key), Some(min)) =
            (host::config("score_attribute"), host::config("min_score"))
        else {
            return Ok(false);
        };
        let min: f64 = min
            .trim()
            .parse()
            .map_err(|_| format!("min_score `{min}` is not a number"))?;
        let score = match attribute(custom, &score_key) {
            Some(AttributeValue::Number(n)) => Some(*n),
            Some(AttributeValue::Text(t)) => t.trim().parse().ok(),
            _ => None,
        };
        if score.is_none() {
            host::log(
                Level::Debug,
                &format!("contact has no numeric `{score_key}`"),
            );
        }
        Ok(score.is_some_and(|s| s >= min))
    }
}

const KEYS: [&str; 4] = ["attribute", "tiers", "score_attribute", "min_score"];

impl config_check::Guest for VipTier {
    fn check_config(entries: Vec<ConfigEntry>) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let has = |key: &str| entries.iter().any(|e| e.key == key);
        for entry in &entries {
            if !KEYS.contains(&entry.key.as_str()) {
                let hint = KEYS.iter().find(|k| close(k, &entry.key)).map_or_else(
                    || format!("the keys are {}", KEYS.join(", ")),
                    |k| format!("did you mean `{k}`?"),
                );
                problems.push(ConfigProblem {
                    key: Some(entry.key.clone()),
                    message: format!("unknown key; {hint}"),
                });
            }
        }
        if let Some(ConfigEntry {
            value: Some(min), ..
        }) = entries.iter().find(|e| e.key == "min_score")
            && min.trim().parse::<f64>().is_err()
        {
            problems.push(ConfigProblem {
                key: Some("min_score".into()),
                message: format!("`{min}` is not a number"),
            });
        }
        if has("min_score") != has("score_attribute") {
            problems.push(ConfigProblem {
                key: None,
                message: "`score_attribute` and `min_score` go together: set both or neither"
                    .into(),
            });
        }
        problems
    }
}

/// Whether `a` and `b` differ by at most two edits (a typo).
fn close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous.last().is_some_and(|d| *d <= 2)
}

export!(VipTier);
