//! A routing condition: is this contact a VIP?
//!
//! Holds when the contact's tier attribute is one of the listed tiers, or
//! when a numeric score attribute reaches a threshold. Config (all optional):
//!
//! - `attribute`: the custom attribute holding the tier (default `tier`)
//! - `tiers`: comma-separated tiers that count as VIP (default `vip`)
//! - `score_attribute`, `min_score`: a numeric attribute and its threshold

wit_bindgen::generate!({ path: "../../wit", world: "condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
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

export!(VipTier);
