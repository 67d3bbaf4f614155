//! The OpenAPI document of everything LiveDesk serves, at `/openapi.json`.
//!
//! [`ROUTES`] lists every route the router answers; the document is built
//! from it, and a test requests each listed route from the real daemon, so
//! the list, the document and the router cannot drift apart silently.

use serde_json::{Map, Value, json};

/// One served route.
pub struct Route {
    pub method: &'static str,
    /// With `{name}` for path parameters.
    pub path: &'static str,
    pub summary: &'static str,
    /// The schema of a JSON request body, if it takes one.
    pub body: Option<&'static str>,
    /// The schema of a successful answer.
    pub answer: &'static str,
    pub auth: Auth,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The inbox identifier in the path (and identity hashes) suffice.
    Inbox,
    /// An agent's `api_access_token` header.
    Agent,
    /// `Authorization: Bearer` with the admin token.
    Admin,
    None,
}

macro_rules! client {
    ($tail:literal) => {
        concat!("/public/api/v1/inboxes/{inbox_identifier}", $tail)
    };
}

macro_rules! account {
    ($tail:literal) => {
        concat!("/api/v1/accounts/{account_id}", $tail)
    };
}

macro_rules! route {
    ($method:literal, $path:expr, $summary:literal, $body:expr, $answer:literal, $auth:ident) => {
        Route {
            method: $method,
            path: $path,
            summary: $summary,
            body: $body,
            answer: $answer,
            auth: Auth::$auth,
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!(
        "get",
        client!(""),
        "The inbox: name, timezone, working hours, features",
        None,
        "Inbox",
        Inbox
    ),
    route!(
        "post",
        client!("/contacts"),
        "Create a contact (or update the one with the same identifier)",
        Some("ContactInput"),
        "PublicContact",
        Inbox
    ),
    route!(
        "get",
        client!("/contacts/{source_id}"),
        "A contact",
        None,
        "PublicContact",
        Inbox
    ),
    route!(
        "patch",
        client!("/contacts/{source_id}"),
        "Change a contact",
        Some("ContactChange"),
        "PublicContact",
        Inbox
    ),
    // Rails routes `update` for PUT as for PATCH; Chatwoot clients use both.
    route!(
        "put",
        client!("/contacts/{source_id}"),
        "Change a contact (as PATCH)",
        Some("ContactChange"),
        "PublicContact",
        Inbox
    ),
    route!(
        "get",
        client!("/contacts/{source_id}/conversations"),
        "The contact's conversations, newest first",
        None,
        "PublicConversationList",
        Inbox
    ),
    route!(
        "post",
        client!("/contacts/{source_id}/conversations"),
        "Start a conversation",
        Some("NewConversation"),
        "PublicConversation",
        Inbox
    ),
    route!(
        "get",
        client!("/contacts/{source_id}/conversations/{conversation_id}"),
        "A conversation with its messages",
        None,
        "PublicConversation",
        Inbox
    ),
    route!(
        "post",
        client!("/contacts/{source_id}/conversations/{conversation_id}/toggle_status"),
        "Resolve the conversation",
        None,
        "PublicConversation",
        Inbox
    ),
    route!(
        "post",
        client!("/contacts/{source_id}/conversations/{conversation_id}/toggle_typing"),
        "The customer starts or stops typing",
        Some("Typing"),
        "Empty",
        Inbox
    ),
    route!(
        "post",
        client!("/contacts/{source_id}/conversations/{conversation_id}/update_last_seen"),
        "The customer has seen the conversation",
        None,
        "Empty",
        Inbox
    ),
    route!(
        "get",
        client!("/contacts/{source_id}/conversations/{conversation_id}/messages"),
        "20 messages, before `before` when given",
        None,
        "MessageList",
        Inbox
    ),
    route!(
        "post",
        client!("/contacts/{source_id}/conversations/{conversation_id}/messages"),
        "Send a message as the customer",
        Some("NewIncomingMessage"),
        "Message",
        Inbox
    ),
    route!(
        "patch",
        client!("/contacts/{source_id}/conversations/{conversation_id}/messages/{message_id}"),
        "Answer the CSAT survey",
        Some("CsatAnswer"),
        "Message",
        Inbox
    ),
    route!(
        "put",
        client!("/contacts/{source_id}/conversations/{conversation_id}/messages/{message_id}"),
        "Answer the CSAT survey (as PATCH)",
        Some("CsatAnswer"),
        "Message",
        Inbox
    ),
    route!(
        "get",
        account!("/conversations"),
        "Conversations, 25 a page, with counts",
        None,
        "ConversationPage",
        Agent
    ),
    route!(
        "post",
        account!("/conversations/filter"),
        "Conversations matching filters",
        Some("Filter"),
        "ConversationFilterPage",
        Agent
    ),
    route!(
        "get",
        account!("/conversations/{conversation_id}"),
        "A conversation",
        None,
        "Conversation",
        Agent
    ),
    route!(
        "get",
        account!("/conversations/{conversation_id}/messages"),
        "Messages, private notes included",
        None,
        "AgentMessageList",
        Agent
    ),
    route!(
        "post",
        account!("/conversations/{conversation_id}/messages"),
        "Reply, or write a private note",
        Some("NewOutgoingMessage"),
        "Message",
        Agent
    ),
    route!(
        "post",
        account!("/conversations/{conversation_id}/toggle_status"),
        "Open, set pending, resolve or snooze",
        Some("StatusChange"),
        "StatusChanged",
        Agent
    ),
    route!(
        "post",
        account!("/conversations/{conversation_id}/toggle_typing_status"),
        "The agent starts or stops typing (`is_private`: a note, which the contact is not told of)",
        Some("AgentTyping"),
        "Empty",
        Agent
    ),
    route!(
        "post",
        account!("/conversations/{conversation_id}/assignments"),
        "Assign to an agent or a team",
        Some("Assignment"),
        "Assignee",
        Agent
    ),
    route!(
        "get",
        account!("/conversations/{conversation_id}/decisions"),
        "Every routing decision with its trace and config revision",
        None,
        "Object",
        Agent
    ),
    route!(
        "get",
        account!("/agents"),
        "Agents with availability and open conversations",
        None,
        "ObjectList",
        Agent
    ),
    route!(
        "get",
        account!("/teams"),
        "Teams",
        None,
        "ObjectList",
        Agent
    ),
    route!(
        "get",
        account!("/inboxes"),
        "Inboxes with their identifiers",
        None,
        "Object",
        Agent
    ),
    route!(
        "get",
        account!("/contacts"),
        "Contacts, 25 a page",
        None,
        "Object",
        Agent
    ),
    route!(
        "get",
        account!("/csat_survey_responses"),
        "CSAT answers in a date range",
        None,
        "ObjectList",
        Agent
    ),
    route!(
        "get",
        account!("/csat_survey_responses/metrics"),
        "CSAT figures, by channel and agent",
        None,
        "Object",
        Agent
    ),
    route!(
        "get",
        account!("/reports/summary"),
        "Conversations by status, channel and agent; response and resolution times",
        None,
        "Object",
        Agent
    ),
    route!(
        "get",
        account!("/webhooks/dead"),
        "Events whose webhook delivery was given up",
        None,
        "Object",
        Agent
    ),
    route!(
        "post",
        account!("/webhooks/dead/{event_id}/replay"),
        "Deliver a dead event again",
        None,
        "Object",
        Agent
    ),
    route!(
        "post",
        "/api/v1/profile/availability",
        "Set your own availability",
        Some("Availability"),
        "Object",
        Agent
    ),
    route!(
        "get",
        account!("/queue"),
        "Waiting conversations in draining order, with their place in their pool's queue",
        None,
        "Object",
        Agent
    ),
    route!(
        "get",
        "/api/v1/profile",
        "The agent's profile, with the pubsub token for the realtime socket",
        None,
        "Profile",
        Agent
    ),
    route!(
        "get",
        "/cable",
        "The realtime socket (WebSocket, Action Cable `actioncable-v1-json`)",
        None,
        "Upgrade",
        None
    ),
    route!(
        "get",
        "/",
        "The front page: redirects to the console",
        None,
        "Redirect",
        None
    ),
    route!(
        "get",
        "/app",
        "The agent console (HTML)",
        None,
        "Html",
        None
    ),
    route!(
        "get",
        "/app/app.js",
        "The console's script",
        None,
        "Script",
        None
    ),
    route!(
        "get",
        "/app/app.css",
        "The console's style sheet",
        None,
        "Style",
        None
    ),
    route!("get", "/healthz", "The process is up", None, "Object", None),
    route!(
        "get",
        "/readyz",
        "Storage answers; the active configuration revision",
        None,
        "Object",
        None
    ),
    route!("get", "/metrics", "Prometheus metrics", None, "Text", None),
    route!(
        "post",
        "/admin/reload",
        "Reload the configuration (like SIGHUP)",
        None,
        "Object",
        Admin
    ),
    route!(
        "get",
        "/openapi.json",
        "This document",
        None,
        "Object",
        None
    ),
];

/// A route's path split into segments, `None` where a parameter goes, with
/// its name for metrics (parameters as `{}`).
struct Template {
    segments: Vec<Option<&'static str>>,
    label: String,
    /// The methods it answers, as an `Allow` header lists them.
    allow: String,
}

/// One template per distinct path of [`ROUTES`].
static TEMPLATES: std::sync::LazyLock<Vec<Template>> = std::sync::LazyLock::new(|| {
    let mut templates: Vec<Template> = Vec::new();
    for route in ROUTES {
        let segments: Vec<Option<&'static str>> = route
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| (!s.starts_with('{')).then_some(s))
            .collect();
        let method = route.method.to_ascii_uppercase();
        if let Some(known) = templates.iter_mut().find(|t| t.segments == segments) {
            known.allow = format!("{}, {method}", known.allow);
            continue;
        }
        let label: String = segments
            .iter()
            .map(|s| format!("/{}", s.unwrap_or("{}")))
            .collect();
        let label = if label.is_empty() {
            "/".to_owned()
        } else {
            label
        };
        templates.push(Template {
            segments,
            label,
            allow: method,
        });
    }
    templates
});

/// The route `path` has the shape of: its template with parameters shown
/// as `{}` (`/public/api/v1/inboxes/{}/contacts`), for metrics labels, and
/// the methods it answers, as an `Allow` header lists them (`GET, PATCH`);
/// `None` when no route has its shape. The set of answers is fixed by the
/// routes, so labels stay bounded whatever clients send.
pub fn route_of(path: &str) -> Option<(&'static str, &'static str)> {
    find_template(path).map(|t| (t.label.as_str(), t.allow.as_str()))
}

fn find_template(path: &str) -> Option<&'static Template> {
    let templates: &'static [Template] = &TEMPLATES;
    templates.iter().find(|t| {
        let mut given = path.split('/').filter(|s| !s.is_empty());
        t.segments
            .iter()
            .all(|want| given.next().is_some_and(|s| want.is_none_or(|w| w == s)))
            && given.next().is_none()
    })
}

/// Every literal word of every route, each once.
pub fn route_words() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = Vec::new();
    for word in TEMPLATES.iter().flat_map(|t| t.segments.iter().flatten()) {
        if !words.contains(word) {
            words.push(word);
        }
    }
    words
}

/// Object schemas, loose where Chatwoot's objects are wide.
fn schemas() -> Value {
    // OpenAPI 3.0 wants `required` absent rather than empty.
    let object = |required: &[&str], properties: Value| {
        let mut schema =
            json!({ "type": "object", "properties": properties, "additionalProperties": true });
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        schema
    };
    let text = json!({ "type": "string" });
    // What a contact may leave out comes back as `null`.
    let optional_text = json!({ "type": "string", "nullable": true });
    // The server's limits, in characters.
    let field = json!({ "type": "string", "nullable": true, "maxLength": 1024 });
    let email = json!({ "type": "string", "nullable": true, "maxLength": 1024, "pattern": "^$|@" });
    let source_id = json!({ "type": "string", "nullable": true, "minLength": 1, "maxLength": 1024, "pattern": "^[A-Za-z0-9._~-]+$" });
    let optional_attributes =
        json!({ "type": "object", "nullable": true, "additionalProperties": true });
    let content =
        json!({ "type": "string", "minLength": 1, "maxLength": 150_000, "pattern": "\\S" });
    let echo_id = json!({ "type": "string", "nullable": true });
    // A filter compares with one scalar.
    let filter_value =
        json!({ "anyOf": [{ "type": "string" }, { "type": "number" }, { "type": "boolean" }] });
    // Epoch seconds the APIs accept: 1970 to the end of year 9999.
    let epoch = json!({ "type": "integer", "format": "int64", "minimum": 0, "maximum": 253_402_300_799_i64, "nullable": true });
    let id = json!({ "type": "integer", "format": "int64" });
    let attributes = json!({ "type": "object", "additionalProperties": true });
    json!({
        "Error": object(&["error", "message"], json!({ "error": text, "message": text })),
        "Empty": object(&[], json!({})),
        "Object": { "type": "object", "additionalProperties": true },
        "ObjectList": { "type": "array", "items": { "$ref": "#/components/schemas/Object" } },
        "Text": { "type": "string" },
        "Profile": object(&["id", "email", "name", "pubsub_token", "availability_status"], json!({
            "id": id, "email": text, "name": text, "available_name": text,
            "pubsub_token": text, "availability_status": text,
            "accounts": { "type": "array", "items": { "type": "object", "additionalProperties": true } },
        })),
        "Inbox": object(&["identifier", "name", "timezone", "working_hours"], json!({
            "identifier": text, "name": text, "timezone": text,
            "working_hours": { "type": "array", "items": { "type": "object", "additionalProperties": true } },
            "working_hours_enabled": { "type": "boolean" }, "csat_survey_enabled": { "type": "boolean" },
            "greeting_enabled": { "type": "boolean" }, "identity_validation_enabled": { "type": "boolean" },
        })),
        "ContactInput": object(&[], json!({
            "identifier": field, "identifier_hash": field, "email": email, "name": field,
            "phone_number": field, "avatar_url": field, "custom_attributes": optional_attributes, "source_id": source_id,
        })),
        "ContactChange": object(&[], json!({
            "identifier": field, "identifier_hash": field, "email": email, "name": field,
            "phone_number": field, "avatar_url": field, "custom_attributes": optional_attributes,
        })),
        "PublicContact": object(&["id", "source_id", "pubsub_token"], json!({
            "id": id, "source_id": text, "pubsub_token": text, "identifier": optional_text, "name": optional_text,
            "email": optional_text, "phone_number": optional_text, "avatar_url": optional_text,
        })),
        "NewConversation": object(&[], json!({ "custom_attributes": attributes })),
        "PublicConversation": object(&["id", "uuid", "inbox_id", "status", "messages", "contact"], json!({
            "id": id, "uuid": text, "inbox_id": id, "status": { "type": "string", "enum": ["open", "pending", "resolved", "snoozed"] },
            "messages": { "type": "array", "items": { "$ref": "#/components/schemas/Message" } },
            "contact": { "type": "object", "additionalProperties": true },
        })),
        "PublicConversationList": { "type": "array", "items": { "$ref": "#/components/schemas/PublicConversation" } },
        "Conversation": object(&["id", "status", "meta"], json!({
            "id": id, "status": text, "meta": { "type": "object", "additionalProperties": true },
        })),
        "ConversationPage": object(&["data"], json!({ "data": { "$ref": "#/components/schemas/ConversationFilterPage" } })),
        "ConversationFilterPage": object(&["meta", "payload"], json!({
            "meta": { "type": "object", "additionalProperties": true },
            "payload": { "type": "array", "items": { "$ref": "#/components/schemas/Conversation" } },
        })),
        "Assignee": { "type": "object", "nullable": true, "additionalProperties": true, "description": "the assignee, or null when unassigned" },
        "Message": object(&["id", "content", "message_type", "content_type", "created_at", "conversation_id"], json!({
            "id": id, "content": text, "message_type": { "type": "integer", "description": "0 incoming, 1 outgoing, 2 activity, 3 template" },
            "content_type": text, "content_attributes": attributes, "created_at": id, "conversation_id": id, "echo_id": optional_text,
            "sender_type": optional_text, "sender_id": { "type": "integer", "nullable": true }, "source_id": optional_text,
            "attachments": { "type": "array", "items": {} }, "sender": { "type": "object", "nullable": true, "additionalProperties": true },
        })),
        "MessageList": { "type": "array", "items": { "$ref": "#/components/schemas/Message" } },
        "AgentMessageList": object(&["payload"], json!({ "payload": { "$ref": "#/components/schemas/MessageList" } })),
        "NewIncomingMessage": object(&["content"], json!({ "content": content, "echo_id": echo_id })),
        "NewOutgoingMessage": object(&["content"], json!({
            "content": content, "private": { "type": "boolean" },
            "message_type": { "type": "string", "nullable": true, "enum": ["outgoing", null] }, "echo_id": echo_id,
        })),
        "Typing": object(&["typing_status"], json!({ "typing_status": { "type": "string", "enum": ["on", "off"] } })),
        "AgentTyping": object(&["typing_status"], json!({ "typing_status": { "type": "string", "enum": ["on", "off"] }, "is_private": { "type": "boolean" } })),
        "CsatAnswer": object(&["submitted_values"], json!({ "submitted_values": object(&["csat_survey_response"], json!({
            "csat_survey_response": object(&["rating"], json!({ "rating": { "type": "integer", "minimum": 1, "maximum": 5 }, "feedback_message": { "type": "string", "nullable": true, "maxLength": 150_000 } })),
        })) })),
        "Filter": object(&["payload"], json!({ "payload": { "type": "array", "items": object(&["attribute_key", "filter_operator", "values"], json!({
            "attribute_key": { "type": "string", "enum": ["status", "assignee_id", "inbox_id"] },
            "filter_operator": { "type": "string", "enum": ["equal_to"] },
            "values": { "type": "array", "minItems": 1, "maxItems": 1, "items": filter_value },
        })) } })),
        "StatusChange": object(&[], json!({ "status": { "type": "string", "nullable": true, "enum": ["open", "pending", "resolved", "snoozed", null] }, "snoozed_until": epoch })),
        "StatusChanged": { "type": "object", "additionalProperties": true },
        "Assignment": {
            "type": "object", "additionalProperties": true,
            "description": "`assignee_id` (an agent's id, or null to unassign) or `team_id` (a team's id, or null to leave the team)",
            "properties": {
                "assignee_id": { "type": "integer", "format": "int64", "nullable": true, "minimum": 1, "maximum": i64::MAX },
                "team_id": { "type": "integer", "format": "int64", "nullable": true, "minimum": 1, "maximum": i64::MAX },
            },
            "anyOf": [{ "required": ["assignee_id"] }, { "required": ["team_id"] }],
        },
        "Availability": object(&["profile"], json!({ "profile": object(&["availability"], json!({ "availability": { "type": "string", "enum": ["online", "busy", "offline"] } })) })),
    })
}

fn reference(schema: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{schema}") })
}

/// The document.
/// What OpenAPI cannot say of `/cable`: the frames (see the README).
const CABLE: &str = "Switching to the WebSocket protocol (send `Connection: Upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Version: 13`, a `Sec-WebSocket-Key`, and optionally `Sec-WebSocket-Protocol: actioncable-v1-json`; without them, 426). The server sends `{\"type\":\"welcome\"}`, then `{\"type\":\"ping\",\"message\":<unix s>}` every 3 s. The client subscribes with `{\"command\":\"subscribe\",\"identifier\":\"{\\\"channel\\\":\\\"RoomChannel\\\",\\\"pubsub_token\\\":\\\"<token>\\\"}\"}` (a contact's `pubsub_token`, or an agent's from `GET /api/v1/profile`; add `\"since\":<cursor>` to resume) and is answered `confirm_subscription` (with the current `cursor`) or `reject_subscription`. Broadcasts arrive as `{\"identifier\":…,\"message\":{\"event\":…,\"data\":…,\"cursor\":<n>}}` with Chatwoot's event names; `{\"command\":\"message\",\"identifier\":…,\"data\":\"{\\\"action\\\":\\\"resume\\\",\\\"since\\\":<n>}\"}` replays what was missed, and `update_presence` answers `presence.update`. The daemon closes with `{\"type\":\"disconnect\",\"reason\":…,\"reconnect\":…}` (`slow_consumer`, `idle_timeout`, `server_restart`). With more than `--socket-connections` open, 503.";

pub fn document() -> Value {
    let schemas = schemas();
    let mut paths = Map::new();
    for route in ROUTES {
        let path = route.path.to_owned();
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({
                    "name": name, "in": "path", "required": true,
                    "schema": if name.ends_with("_id") && name != "source_id" { json!({ "type": "integer" }) } else { json!({ "type": "string" }) },
                })
            })
            .collect();
        let success = match route.answer {
            "Upgrade" => "101",
            "Redirect" => "302",
            _ => "200",
        };
        let file = |kind: &str| json!({ "description": "OK", "content": { kind: { "schema": { "type": "string" } } } });
        let answer = if route.answer == "Upgrade" {
            json!({ "description": CABLE })
        } else if route.answer == "Redirect" {
            json!({ "description": "To `/app`" })
        } else if route.answer == "Html" {
            file("text/html")
        } else if route.answer == "Script" {
            file("text/javascript")
        } else if route.answer == "Style" {
            file("text/css")
        } else if route.answer == "Text" {
            json!({ "description": "OK", "content": { "application/openmetrics-text": { "schema": reference("Text") } } })
        } else {
            json!({ "description": "OK", "content": { "application/json": { "schema": reference(route.answer) } } })
        };
        let error = json!({ "description": "An error", "content": { "application/json": { "schema": reference("Error") } } });
        let mut operation = json!({
            "summary": route.summary,
            "operationId": format!("{}{}", route.method, path.replace(['/', '{', '}', '.'], "_")),
            "parameters": parameters,
            "responses": { success: answer, "default": error },
        });
        if let Some(body) = route.body {
            // A body with required fields cannot be left out.
            let needed = schemas
                .get(body)
                .is_some_and(|s| s.get("required").is_some() || s.get("anyOf").is_some());
            operation["requestBody"] = json!({ "required": needed, "content": { "application/json": { "schema": reference(body) } } });
        }
        match route.auth {
            Auth::Agent => operation["security"] = json!([{ "agentToken": [] }]),
            Auth::Admin => operation["security"] = json!([{ "adminToken": [] }]),
            Auth::Inbox | Auth::None => {}
        }
        if route.answer == "Upgrade" {
            // The WebSocket handshake's headers (RFC 6455 §4.1).
            let header = |name: &str, schema: Value| json!({ "name": name, "in": "header", "required": true, "schema": schema });
            operation["parameters"] = json!([
                header(
                    "Upgrade",
                    json!({ "type": "string", "enum": ["websocket"] })
                ),
                header(
                    "Connection",
                    json!({ "type": "string", "enum": ["Upgrade"] })
                ),
                header(
                    "Sec-WebSocket-Version",
                    json!({ "type": "string", "enum": ["13"] })
                ),
                header(
                    "Sec-WebSocket-Key",
                    json!({ "type": "string", "pattern": "^[A-Za-z0-9+/]{22}==$" })
                ),
            ]);
        }
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[route.method] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "LiveDesk",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The client API (Chatwoot-compatible, for API-channel inboxes), the agent API (`account_id` is 1) and the operator's endpoints.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "agentToken": { "type": "apiKey", "in": "header", "name": "api_access_token" },
                "adminToken": { "type": "http", "scheme": "bearer" },
            },
        },
    })
}
