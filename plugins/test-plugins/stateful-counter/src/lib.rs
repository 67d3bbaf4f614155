//! Test plugin: counts its calls in a global. If the host ever reused an
//! instance, the second call would see a count above one and say so.

use std::sync::atomic::{AtomicU32, Ordering};

wit_bindgen::generate!({ path: "../../../wit", world: "condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
use livedesk::plugin::types::Context;

static CALLS: AtomicU32 = AtomicU32::new(0);

struct StatefulCounter;

impl Guest for StatefulCounter {
    /// Holds only on an instance's first call.
    fn evaluate(_: Context) -> Result<bool, String> {
        let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(calls == 1)
    }
}

export!(StatefulCounter);
