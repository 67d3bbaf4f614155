//! The Action Cable protocol as Rails 7 speaks it (`actioncable-v1-json`):
//! the frames a client sends, and the ones the daemon writes.
//!
//! A client names a subscription by an *identifier*: a JSON object sent
//! as a string, which every frame of that subscription repeats exactly.
//! LiveDesk reads `channel`, `pubsub_token`, and its own `since` (the
//! cursor to resume from) out of it.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The subprotocol Rails' client asks for.
pub const SUBPROTOCOL: &str = "actioncable-v1-json";

/// A frame a client sent.
#[derive(Debug, PartialEq)]
pub enum Command {
    Subscribe {
        identifier: String,
    },
    Unsubscribe {
        identifier: String,
    },
    /// `perform(action, data)` on a subscription.
    Perform {
        identifier: String,
        action: Action,
    },
}

/// What a client may perform on a `RoomChannel` subscription.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Chatwoot's: answers `presence.update`.
    UpdatePresence,
    /// LiveDesk's: everything after `since`, then live.
    Resume {
        since: i64,
    },
    Unknown(String),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    #[error("the frame is not a JSON command: {0}")]
    NotJson(String),
    #[error("unknown command `{0}`")]
    UnknownCommand(String),
    #[error("`data` is not a JSON object with an `action`: {0}")]
    BadData(String),
}

#[derive(Deserialize)]
struct RawCommand {
    command: String,
    identifier: String,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Deserialize)]
struct RawAction {
    action: String,
    #[serde(default)]
    since: Option<i64>,
}

pub fn parse_command(text: &str) -> Result<Command, FrameError> {
    let raw: RawCommand =
        serde_json::from_str(text).map_err(|e| FrameError::NotJson(e.to_string()))?;
    let identifier = raw.identifier;
    match raw.command.as_str() {
        "subscribe" => Ok(Command::Subscribe { identifier }),
        "unsubscribe" => Ok(Command::Unsubscribe { identifier }),
        "message" => {
            let data = raw.data.unwrap_or_default();
            let action: RawAction =
                serde_json::from_str(&data).map_err(|e| FrameError::BadData(e.to_string()))?;
            let action = match (action.action.as_str(), action.since) {
                ("update_presence", _) => Action::UpdatePresence,
                ("resume", Some(since)) => Action::Resume { since },
                ("resume", None) => {
                    return Err(FrameError::BadData("`resume` needs `since`".into()));
                }
                (other, _) => Action::Unknown(other.to_owned()),
            };
            Ok(Command::Perform { identifier, action })
        }
        other => Err(FrameError::UnknownCommand(other.to_owned())),
    }
}

/// What a subscription's identifier says.
#[derive(Debug, PartialEq)]
pub struct Identifier {
    pub channel: String,
    pub pubsub_token: String,
    /// Chatwoot's agents send their user id along.
    pub user_id: Option<i64>,
    pub since: Option<i64>,
}

#[derive(Deserialize)]
struct RawIdentifier {
    channel: String,
    #[serde(default)]
    pubsub_token: Option<String>,
    #[serde(default)]
    user_id: Option<serde_json::Value>,
    #[serde(default)]
    since: Option<i64>,
}

/// Why a subscription is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Refusal {
    #[error("the identifier is not a JSON object: {0}")]
    BadIdentifier(String),
    #[error("unknown channel `{0}` (LiveDesk serves RoomChannel)")]
    UnknownChannel(String),
    #[error("no pubsub_token")]
    NoToken,
    #[error("`since` must be a cursor of 0 or more")]
    BadCursor,
}

pub fn parse_identifier(identifier: &str) -> Result<Identifier, Refusal> {
    let raw: RawIdentifier =
        serde_json::from_str(identifier).map_err(|e| Refusal::BadIdentifier(e.to_string()))?;
    if raw.channel != "RoomChannel" {
        return Err(Refusal::UnknownChannel(raw.channel));
    }
    let pubsub_token = raw
        .pubsub_token
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::NoToken)?;
    if raw.since.is_some_and(|s| s < 0) {
        return Err(Refusal::BadCursor);
    }
    // Rails' clients send ids as numbers or as strings.
    let user_id = match raw.user_id {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Ok(Identifier {
        channel: raw.channel,
        pubsub_token,
        user_id,
        since: raw.since,
    })
}

/// `identifier` as a JSON string, to repeat in frames.
pub fn quoted(identifier: &str) -> String {
    // A `str` always serializes.
    serde_json::to_string(identifier).unwrap_or_else(|_| String::from("\"\""))
}

pub fn welcome() -> String {
    r#"{"type":"welcome"}"#.to_owned()
}

pub fn ping(unix_seconds: i64) -> String {
    format!(r#"{{"type":"ping","message":{unix_seconds}}}"#)
}

/// `confirm_subscription`, with LiveDesk's `cursor`: where the subscription
/// starts, to resume from should nothing arrive before a reconnect.
pub fn confirm(quoted_identifier: &str, cursor: i64) -> String {
    format!(
        r#"{{"identifier":{quoted_identifier},"type":"confirm_subscription","cursor":{cursor}}}"#
    )
}

pub fn reject(quoted_identifier: &str) -> String {
    format!(r#"{{"identifier":{quoted_identifier},"type":"reject_subscription"}}"#)
}

/// Why the daemon closes a connection, as Rails names its reasons
/// (`server_restart`) and LiveDesk adds its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ServerRestart,
    /// The client did not read its frames fast enough.
    SlowConsumer,
    /// Nothing came from the client (not even a pong) for too long.
    IdleTimeout,
    InvalidRequest,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ServerRestart => "server_restart",
            Reason::SlowConsumer => "slow_consumer",
            Reason::IdleTimeout => "idle_timeout",
            Reason::InvalidRequest => "invalid_request",
        }
    }
}

pub fn disconnect(reason: Reason) -> String {
    format!(
        r#"{{"type":"disconnect","reason":"{}","reconnect":{}}}"#,
        reason.as_str(),
        reason != Reason::InvalidRequest
    )
}

/// A broadcast's `message`: `{"event", "data", "cursor"}`, written once
/// and framed for each subscriber.
pub fn event_message(name: &str, data: &RawValue, cursor: Option<i64>) -> String {
    let name = quoted(name);
    match cursor {
        Some(cursor) => format!(
            r#"{{"event":{name},"data":{},"cursor":{cursor}}}"#,
            data.get()
        ),
        None => format!(r#"{{"event":{name},"data":{}}}"#, data.get()),
    }
}

pub fn message(quoted_identifier: &str, event_message: &str) -> String {
    format!(r#"{{"identifier":{quoted_identifier},"message":{event_message}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_commands_rails_sends() {
        let id = r#"{"channel":"RoomChannel","pubsub_token":"t1"}"#;
        let frame = serde_json::json!({"command": "subscribe", "identifier": id}).to_string();
        assert_eq!(
            parse_command(&frame),
            Ok(Command::Subscribe {
                identifier: id.to_owned()
            })
        );
        let frame = serde_json::json!({
            "command": "message", "identifier": id,
            "data": r#"{"action":"update_presence"}"#,
        })
        .to_string();
        assert_eq!(
            parse_command(&frame),
            Ok(Command::Perform {
                identifier: id.to_owned(),
                action: Action::UpdatePresence
            })
        );
        let frame = serde_json::json!({
            "command": "message", "identifier": id,
            "data": r#"{"action":"resume","since":41}"#,
        })
        .to_string();
        assert_eq!(
            parse_command(&frame),
            Ok(Command::Perform {
                identifier: id.to_owned(),
                action: Action::Resume { since: 41 }
            })
        );
        assert!(matches!(parse_command("nope"), Err(FrameError::NotJson(_))));
        assert_eq!(
            parse_command(r#"{"command":"dance","identifier":"{}"}"#),
            Err(FrameError::UnknownCommand("dance".into()))
        );
    }

    #[test]
    fn reads_identifiers_and_refuses_what_is_not_a_room() {
        let parsed = parse_identifier(
            r#"{"channel":"RoomChannel","pubsub_token":"abc","user_id":"5","since":9}"#,
        );
        assert_eq!(
            parsed,
            Ok(Identifier {
                channel: "RoomChannel".into(),
                pubsub_token: "abc".into(),
                user_id: Some(5),
                since: Some(9),
            })
        );
        assert_eq!(
            parse_identifier(r#"{"channel":"ChatChannel","pubsub_token":"abc"}"#),
            Err(Refusal::UnknownChannel("ChatChannel".into()))
        );
        assert_eq!(
            parse_identifier(r#"{"channel":"RoomChannel","pubsub_token":""}"#),
            Err(Refusal::NoToken)
        );
        assert_eq!(
            parse_identifier(r#"{"channel":"RoomChannel","pubsub_token":"a","since":-1}"#),
            Err(Refusal::BadCursor)
        );
    }

    #[test]
    fn frames_repeat_the_identifier_as_a_string() {
        let id = quoted(r#"{"channel":"RoomChannel","pubsub_token":"t"}"#);
        assert_eq!(
            confirm(&id, 7),
            r#"{"identifier":"{\"channel\":\"RoomChannel\",\"pubsub_token\":\"t\"}","type":"confirm_subscription","cursor":7}"#
        );
        let data =
            serde_json::value::to_raw_value(&serde_json::json!({"id": 1})).unwrap_or_default();
        let body = event_message("message.created", &data, Some(3));
        let frame: serde_json::Value =
            serde_json::from_str(&message(&id, &body)).unwrap_or_default();
        assert_eq!(frame["message"]["event"], "message.created");
        assert_eq!(frame["message"]["cursor"], 3);
        assert_eq!(
            disconnect(Reason::SlowConsumer),
            r#"{"type":"disconnect","reason":"slow_consumer","reconnect":true}"#
        );
    }
}
