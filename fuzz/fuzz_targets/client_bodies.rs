//! Every JSON body the client API takes, from arbitrary bytes, read and
//! checked as the routes do before storing anything. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for outcome in livedesk::api::decode_client_bodies(data) {
        // An error must say what was wrong.
        if let Err(e) = outcome {
            assert!(e.body()["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
});
