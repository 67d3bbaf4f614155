//! The GPT agent plugin against an in-test server that speaks the Chat
//! Completions protocol: replies, tool-call hand-offs, API failures, and
//! the outbound allow-list.

#[path = "../../tests/support/chat_server.rs"]
mod chat_server;

use std::path::Path;

use chat_server::ChatServer;
use chrono::Utc;
use livedesk::config::{self, AiAgentId, ChannelId, Config};
use livedesk::dsl;
use livedesk::model::{Contact, Conversation, Message, MessageType};
use livedesk::plugins::{AgentAction, Options, PluginHost, Subject};
use serde_json::json;

fn gpt_config(base_url: &str, allow: &str) -> Config {
    let plugin = Path::new(env!("LIVEDESK_PLUGIN_DIR")).join("gpt_agent.wasm");
    let text = format!(
        r#"agent "a@x.test" {{}}
ai_agent "Assistant" {{
  plugin "{}"
  allow_hosts "{allow}"
  timeout 10s
  config {{
    api_key "sk-test"
    base_url "{base_url}"
    model "gpt-test"
    system_prompt "Be brief."
    temperature "0.2"
    max_tokens "200"
  }}
}}
channel "Web" {{
  agents "a@x.test"
  ai_agent "Assistant"
}}
"#,
        plugin.display()
    );
    let program = dsl::load_text(Path::new("agent.livedesk"), text)
        .unwrap_or_else(|r| panic!("{:?}", r.findings));
    let validated = config::validate(&program);
    validated
        .config
        .unwrap_or_else(|| panic!("{:?}", validated.findings))
}

/// The GPT agent pointed at `server` and allowed to reach it.
fn local_gpt_config(server: &ChatServer) -> Config {
    gpt_config(
        &format!("http://127.0.0.1:{}/v1", server.port),
        &format!("127.0.0.1:{}", server.port),
    )
}

fn message(content: &str, message_type: MessageType) -> Message {
    Message {
        content: content.into(),
        message_type,
        ..Message::default()
    }
}

fn respond(config: &Config) -> livedesk::plugins::AgentReply {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let options = Options {
        cache_dir: Some(cache.path().to_path_buf()),
        require_secrets: true,
    };
    let host = PluginHost::load(config, &options).unwrap_or_else(|f| panic!("{f:?}"));
    let history = vec![
        message("Hi, my parcel has not arrived", MessageType::Incoming),
        message(
            "Sorry to hear that! What is the order number?",
            MessageType::Outgoing,
        ),
        message("Ayu joined the conversation", MessageType::Activity),
    ];
    let current = message("It is 1234", MessageType::Incoming);
    let (contact, conversation) = (Contact::default(), Conversation::default());
    let subject = Subject {
        channel: config.channel(ChannelId(0)),
        contact: &contact,
        conversation: &conversation,
        history: &history,
        message: Some(&current),
        at: Utc::now(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(host.respond(AiAgentId(0), &subject))
}

#[test]
fn a_reply_is_returned_and_the_conversation_is_sent_with_its_roles() {
    let server = ChatServer::start(
        200,
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Order 1234 ships tomorrow."}, "finish_reason": "stop"}]}),
    );
    let config = local_gpt_config(&server);
    let reply = respond(&config);
    assert_eq!(
        reply.action,
        AgentAction::Reply("Order 1234 ships tomorrow.".into())
    );
    assert!(reply.error.is_none());

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer sk-test"));
    let body = &seen[0].body;
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(body["tools"][0]["function"]["name"], "handoff");
    let roles: Vec<(&str, &str)> = body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| {
                    (
                        m["role"].as_str().unwrap_or(""),
                        m["content"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        roles,
        [
            ("system", "Be brief."),
            ("user", "Hi, my parcel has not arrived"),
            ("assistant", "Sorry to hear that! What is the order number?"),
            ("user", "It is 1234"),
        ]
    );
}

#[test]
fn a_handoff_tool_call_hands_the_conversation_off() {
    let server = ChatServer::start(
        200,
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "handoff", "arguments": "{\"reason\": \"customer asks for a refund\"}"}}
        ]}, "finish_reason": "tool_calls"}]}),
    );
    let config = local_gpt_config(&server);
    let reply = respond(&config);
    assert_eq!(
        reply.action,
        AgentAction::HandOff("customer asks for a refund".into())
    );
}

#[test]
fn an_api_error_hands_the_conversation_off() {
    let server = ChatServer::start(
        500,
        json!({"error": {"message": "internal error", "type": "server_error"}}),
    );
    let config = local_gpt_config(&server);
    let reply = respond(&config);
    match &reply.action {
        AgentAction::HandOff(reason) => assert!(reason.contains("HTTP 500"), "{reason}"),
        other => panic!("expected a hand-off, got {other:?}"),
    }
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_host_outside_the_allow_list_is_never_contacted() {
    let server = ChatServer::start(200, json!({"choices": []}));
    // The server is real and reachable, but only api.openai.com is allowed.
    let config = gpt_config(
        &format!("http://127.0.0.1:{}/v1", server.port),
        "api.openai.com",
    );
    assert_refused(&config, &server, "HttpRequestDenied");
}

#[test]
fn a_listed_name_that_resolves_to_a_private_address_is_refused() {
    let server = ChatServer::start(200, json!({"choices": []}));
    // `localhost` is allowed by name, but it resolves to loopback, and only
    // an entry that is the address itself opens a private address.
    let config = gpt_config(
        &format!("http://localhost:{}/v1", server.port),
        &format!("localhost:{}", server.port),
    );
    assert_refused(&config, &server, "DestinationIpProhibited");
}

/// The agent hands off with `code` in the reason, and `server` never sees
/// a request.
fn assert_refused(config: &Config, server: &ChatServer, code: &str) {
    match respond(config).action {
        AgentAction::HandOff(reason) => assert!(reason.contains(code), "{reason}"),
        other => panic!("expected a hand-off, got {other:?}"),
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    let seen = server.seen();
    assert!(seen.is_empty(), "the server was contacted: {seen:?}");
}
