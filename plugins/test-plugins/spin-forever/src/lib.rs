//! Hostile test plugin: never returns. The host must stop it.

wit_bindgen::generate!({ path: "../../../wit", world: "condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
use livedesk::plugin::types::Context;

struct SpinForever;

impl Guest for SpinForever {
    fn evaluate(context: Context) -> Result<bool, String> {
        let mut n: u64 = context.now;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export!(SpinForever);
