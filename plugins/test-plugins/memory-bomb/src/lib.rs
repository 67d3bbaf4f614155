//! Hostile test plugin: allocates until something stops it.

wit_bindgen::generate!({ path: "../../../wit", world: "condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
use livedesk::plugin::types::Context;

struct MemoryBomb;

impl Guest for MemoryBomb {
    fn evaluate(_: Context) -> Result<bool, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // 1 MiB at a time, touched so it is really committed.
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export!(MemoryBomb);
