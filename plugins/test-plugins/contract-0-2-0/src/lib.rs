//! Test plugin: a condition built against an incompatible contract,
//! 0.2.0. A host speaking 0.1.x must refuse it, naming both versions.

wit_bindgen::generate!({ path: "wit", world: "condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
use livedesk::plugin::types::Context;

struct Contract020;

impl Guest for Contract020 {
    fn evaluate(_: Context) -> Result<u8, String> {
        Ok(1)
    }
}

export!(Contract020);
