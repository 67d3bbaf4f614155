//! Hostile test plugin: traps (a Rust panic aborts the instance).

wit_bindgen::generate!({ path: "../../../wit", world: "condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
use livedesk::plugin::types::Context;

struct Trap;

impl Guest for Trap {
    fn evaluate(context: Context) -> Result<bool, String> {
        if context.now > 0 {
            panic!("this plugin always fails");
        }
        Ok(true)
    }
}

export!(Trap);
