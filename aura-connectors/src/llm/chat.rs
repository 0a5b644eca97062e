//! One chat shape for every vendor: what a scenario (or the router) sends and gets back.
//!
//! Each vendor module translates [`ChatInput`] to its wire format and its answer (whole or
//! streamed) back to [`ChatOutput`], so that one request can go to any provider of the
//! `chat.complete` capability.

use aura_core::{Error, Result, Violation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A chat completion request, the same for every vendor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatInput {
    /// The model; when absent, the app's default model (each provider of a routed capability
    /// has its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub model: Option<String>,
    /// Instructions for the model (OpenAI's `system` message, Anthropic's `system`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The conversation so far, oldest first: at least one message.
    #[schemars(length(min = 1))]
    pub messages: Vec<Message>,
    /// The most tokens to generate (default: the app's, 1,024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<u32>,
    /// Sampling temperature (OpenAI 0–2, Anthropic 0–1: checked per vendor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// Sequences that end the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Tools (functions) the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Streams the answer (server-sent events) and collects it into the output: the same
    /// output as without streaming, with the first token sooner at the vendor's end.
    #[serde(default)]
    pub stream: bool,
}

/// Who speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering one of the model's tool calls.
    Tool,
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// The text (a tool result's text for [`Role::Tool`]).
    #[serde(default)]
    pub content: String,
    /// The tool calls an assistant message made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For [`Role::Tool`]: the id of the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Its name (`[a-zA-Z0-9_-]{1,64}`, as both vendors require).
    #[schemars(regex(pattern = r"^[a-zA-Z0-9_-]{1,64}$"))]
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its arguments (an object schema).
    pub parameters: Value,
}

/// Whether and which tool the model must call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool.
    None,
    /// Some tool.
    Required,
    /// This tool.
    Tool {
        /// Its name.
        name: String,
    },
}

/// A call of a tool by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCall {
    /// The vendor's id of the call (a tool result answers it).
    pub id: String,
    /// The tool.
    pub name: String,
    /// Its arguments, as JSON (a model that sent arguments that do not parse gets them as a
    /// string).
    pub arguments: Value,
}

/// Why the model stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It finished (or met a stop sequence).
    Stop,
    /// It reached `max_tokens`.
    Length,
    /// It called tools.
    ToolCalls,
    /// The vendor's filter stopped it.
    ContentFilter,
    /// Anything else the vendor said.
    Other,
}

/// Tokens used by a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    /// Tokens read (the prompt).
    pub input_tokens: u64,
    /// Tokens written (the answer).
    pub output_tokens: u64,
    /// Both.
    pub total_tokens: u64,
}

impl Usage {
    pub(crate) fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
        }
    }
}

/// A chat completion, the same for every vendor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatOutput {
    /// The app that answered (`openai`, `anthropic`, or a compatible server's id).
    pub provider: String,
    /// The model that answered, as the vendor names it.
    pub model: String,
    /// The answer's text (the text parts joined).
    pub content: String,
    /// The tools the model called, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// The tokens used.
    pub usage: Usage,
    /// What the call cost in US dollars, when the app knows the model's price
    /// ([`Pricing`](super::Pricing)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// Checks what the schema cannot: the model (given or the app's), and the conversation's
/// shape. Returns the model to use.
pub(crate) fn check(input: &ChatInput, default_model: Option<&str>, max_temperature: f64) -> Result<String> {
    let mut violations = Vec::new();
    let model = input.model.as_deref().or(default_model).unwrap_or_default().to_owned();
    if model.trim().is_empty() {
        violations.push(Violation::new("/model", "is required: this app has no default model"));
    }
    if let Some(t) = input.temperature
        && !(0.0..=max_temperature).contains(&t)
    {
        violations.push(Violation::new(
            "/temperature",
            format!("must be between 0 and {max_temperature} for this vendor"),
        ));
    }
    for (i, m) in input.messages.iter().enumerate() {
        match m.role {
            Role::Tool if m.tool_call_id.as_deref().is_none_or(str::is_empty) => violations.push(Violation::new(
                format!("/messages/{i}/tool_call_id"),
                "is required for a tool message",
            )),
            Role::User | Role::Tool if !m.tool_calls.is_empty() => violations.push(Violation::new(
                format!("/messages/{i}/tool_calls"),
                "only an assistant message makes tool calls",
            )),
            _ => {}
        }
    }
    if let Some(ToolChoice::Tool { name }) = &input.tool_choice
        && !input.tools.iter().any(|t| &t.name == name)
    {
        violations.push(Violation::new("/tool_choice/name", "names no tool of `tools`"));
    }
    for (i, tool) in input.tools.iter().enumerate() {
        if !tool.parameters.is_object() {
            violations.push(Violation::new(
                format!("/tools/{i}/parameters"),
                "must be a JSON Schema object",
            ));
        }
    }
    if violations.is_empty() {
        Ok(model)
    } else {
        Err(Error::invalid_input("the chat request does not fit", violations))
    }
}

/// Arguments as JSON when they parse, else as the string the model wrote.
pub(crate) fn arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}
