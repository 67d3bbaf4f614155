//! The Chat Completions request and the reading of its answer.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::exports::livedesk::plugin::agent::Action;
use crate::livedesk::plugin::host;
use crate::livedesk::plugin::types::{Context, Message, MessageType};

const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
const DEFAULT_MODEL: &str = "gpt-4o-mini";
const DEFAULT_PROMPT: &str = "You are a helpful customer-support agent. Answer briefly. \
     If you cannot help, or the customer asks for a person, call the `handoff` tool.";

pub struct Settings {
    pub base_url: String,
    pub api_key: Option<String>,
    model: String,
    system_prompt: String,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
}

impl Settings {
    pub fn from_host() -> Result<Self, String> {
        let number = |key: &str| -> Result<Option<f64>, String> {
            host::config(key)
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| format!("`{key}` is not a number: {v}"))
                })
                .transpose()
        };
        Ok(Self {
            base_url: host::config("base_url").unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            api_key: host::config("api_key").filter(|k| !k.is_empty()),
            model: host::config("model").unwrap_or_else(|| DEFAULT_MODEL.into()),
            system_prompt: host::config("system_prompt").unwrap_or_else(|| DEFAULT_PROMPT.into()),
            temperature: number("temperature")?,
            max_tokens: number("max_tokens")?.map(|n| n as u32),
        })
    }
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'a str,
    content: &'a str,
}

/// The conversation as Chat Completions messages: customers speak as
/// `user`, agents (human or AI) as `assistant`; activity notes and surveys
/// are left out.
fn messages<'a>(system_prompt: &'a str, context: &'a Context) -> Vec<ChatMessage<'a>> {
    let mut out = vec![ChatMessage {
        role: "system",
        content: system_prompt,
    }];
    let spoken = |m: &&'a Message| m.content_type == "text" && !m.content.trim().is_empty();
    let role = |m: &Message| match m.message_type {
        MessageType::Incoming => Some("user"),
        MessageType::Outgoing => Some("assistant"),
        MessageType::Activity | MessageType::Template => None,
    };
    let history = &context.conversation.recent_messages;
    for m in history.iter().filter(spoken) {
        if let Some(role) = role(m) {
            out.push(ChatMessage {
                role,
                content: &m.content,
            });
        }
    }
    // The message being answered, unless the history already ends with it.
    if let Some(current) = &context.message {
        let already = history.last().is_some_and(|last| {
            last.content == current.content && last.created_at == current.created_at
        });
        if !already && !current.content.trim().is_empty() {
            out.push(ChatMessage {
                role: "user",
                content: &current.content,
            });
        }
    }
    out
}

pub fn request(settings: &Settings, context: &Context) -> serde_json::Value {
    let mut body = json!({
        "model": settings.model,
        "messages": messages(&settings.system_prompt, context),
        "tools": [{
            "type": "function",
            "function": {
                "name": "handoff",
                "description": "Pass the conversation to a human support agent.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "reason": { "type": "string", "description": "Why a human is needed." }
                    },
                    "required": ["reason"]
                }
            }
        }],
    });
    if let Some(t) = settings.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = settings.max_tokens {
        body["max_tokens"] = json!(n);
    }
    body
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: AssistantMessage,
}

#[derive(Deserialize)]
struct AssistantMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
}

#[derive(Deserialize)]
struct ToolCall {
    function: FunctionCall,
}

#[derive(Deserialize)]
struct FunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct HandoffArguments {
    reason: Option<String>,
}

/// What to do with the model's answer.
pub fn action(body: &[u8]) -> Result<Action, String> {
    let completion: Completion = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let message = completion
        .choices
        .into_iter()
        .next()
        .ok_or("no choices")?
        .message;
    let reply = message.content.filter(|c| !c.trim().is_empty());
    let handoff = message
        .tool_calls
        .iter()
        .find(|c| c.function.name == "handoff");
    Ok(match (reply, handoff) {
        (reply, Some(call)) => {
            let reason = serde_json::from_str::<HandoffArguments>(&call.function.arguments)
                .ok()
                .and_then(|a| a.reason)
                .unwrap_or_else(|| "the AI agent asked for a human".into());
            match reply {
                Some(reply) => Action::ReplyAndHandOff((reply, reason)),
                None => Action::HandOff(reason),
            }
        }
        (Some(reply), None) => Action::Reply(reply),
        (None, None) => return Err("an empty reply".into()),
    })
}
