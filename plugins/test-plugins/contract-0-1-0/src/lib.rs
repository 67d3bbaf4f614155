//! Test plugin: a condition built against contract 0.1.0 (its own copy of
//! the WIT as it was then). A host speaking a later 0.1.x must load it.

wit_bindgen::generate!({ path: "wit", world: "condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
use livedesk::plugin::types::Context;

struct Contract010;

impl Guest for Contract010 {
    fn evaluate(context: Context) -> Result<bool, String> {
        Ok(context.message.is_some_and(|m| m.content.contains("old")))
    }
}

export!(Contract010);
