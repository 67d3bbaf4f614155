//! What one plugin call did besides answering: for `livedesk plugin run`,
//! the decision trace and the tests that look at plugin errors.

use std::time::Duration;

use serde::Serialize;

use crate::routing::PluginOutput;

/// The measurements and output of one call.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallReport {
    #[serde(rename = "wall_us", serialize_with = "micros")]
    pub elapsed: Duration,
    /// The most linear memory the instance held at once, all memories
    /// together, in bytes.
    pub peak_memory: u64,
    /// Bytes that crossed host calls: the context, config values, log
    /// lines, HTTP bodies.
    pub host_io: u64,
    pub output: PluginOutput,
    /// An agent's HTTP requests, in the order it sent them.
    pub requests: Vec<OutboundRequest>,
}

/// One HTTP request an agent sent (or tried to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboundRequest {
    pub method: String,
    pub url: String,
    /// The response's status; `None` when the request was refused or
    /// failed before a response.
    pub status: Option<u16>,
    /// Why there was no response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
