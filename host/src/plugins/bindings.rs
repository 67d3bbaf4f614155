//! Rust types and call glue generated from `wit/plugin.wit`.
//!
//! Conditions are called synchronously on the routing path; agents are
//! called asynchronously because they wait on HTTP. The agent world reuses
//! the condition world's types and host interface, so one conversion from
//! routing input serves both.

pub mod condition {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "condition-plugin",
        imports: { default: trappable },
    });
}

pub mod agent {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "agent-plugin",
        imports: { default: trappable },
        exports: { default: async },
        with: {
            "livedesk:plugin/types": super::condition::livedesk::plugin::types,
            "livedesk:plugin/host": super::condition::livedesk::plugin::host,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
}

/// Only the optional `config-check` export: instantiated on its own, so
/// that a plugin without it still loads.
pub mod config_check {
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "
            package livedesk:host-side;
            world config-checker {
                export livedesk:plugin/config-check@0.1.1;
            }
        ",
        imports: { default: trappable },
    });
}

pub use condition::livedesk::plugin::host::Level;
pub use condition::livedesk::plugin::types;

/// The version of `wit/plugin.wit` this host speaks.
pub const CONTRACT_VERSION: &str = "0.1.1";

/// The fully qualified names a component must export, per world.
pub const CONDITION_EXPORT: &str = "livedesk:plugin/condition@0.1.1";
pub const AGENT_EXPORT: &str = "livedesk:plugin/agent@0.1.1";
pub const CONFIG_CHECK_EXPORT: &str = "livedesk:plugin/config-check@0.1.1";
