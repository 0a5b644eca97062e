//! Anthropic messages (`POST {base}/v1/messages`).

use async_trait::async_trait;
use aura_core::app::{AuthMethod, Category};
use aura_core::connection::ApiKeyPlacement;
use aura_core::http::{HttpPolicy, HttpRequest};
use aura_core::{ActionDef, App, AppManifest, Context, Error, ErrorKind, Result};
use serde_json::{Map, Value, json};

use super::chat::{self, ChatInput, ChatOutput, FinishReason, Role, ToolCall, ToolChoice, Usage};
use super::client::{Client, Vendor};
use super::pricing::Pricing;
use super::{sse, vendor_error};

/// The API version every request names (`anthropic-version`).
pub const API_VERSION: &str = "2023-06-01";

/// The Anthropic app (`anthropic.chat`): an API key in `x-api-key`.
///
/// ```
/// use aura_connectors::llm::{AnthropicApp, Pricing};
///
/// let app = AnthropicApp::new()
///     .default_model("claude-3-5-haiku-latest")
///     .pricing(Pricing::new().model("claude-3-5-haiku", 0.80, 4.00));
/// aura_core::Registry::new().register(app)?;
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AnthropicApp {
    client: Client,
}

impl Default for AnthropicApp {
    fn default() -> Self {
        Self::new()
    }
}

impl AnthropicApp {
    /// Anthropic at `https://api.anthropic.com`.
    pub fn new() -> Self {
        Self {
            client: Client::new("https://api.anthropic.com"),
        }
    }

    /// Sends to `base_url` instead (the part before `/v1/messages`).
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.client.set_base_url(base_url.into());
        self
    }

    /// The model used when a request names none.
    #[must_use]
    pub fn default_model(mut self, model: impl Into<String>) -> Self {
        self.client.default_model = Some(model.into());
        self
    }

    /// `max_tokens` when a request sets none (default 1,024; Anthropic requires one).
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.client.max_tokens = max_tokens;
        self
    }

    /// The prices that fill each answer's `cost_usd`.
    #[must_use]
    pub fn pricing(mut self, pricing: Pricing) -> Self {
        self.client.pricing = pricing;
        self
    }

    /// Sends through `policy`.
    #[must_use]
    pub fn policy(mut self, policy: HttpPolicy) -> Self {
        self.client.policy = policy;
        self
    }

    /// The request `input` becomes, apart from sending.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the field, for what the input schema cannot check (a
    /// temperature over 1, a tool message without its call's id …).
    pub fn request(&self, input: &ChatInput) -> Result<HttpRequest> {
        self.client.request(&Anthropic, input)
    }
}

#[async_trait]
impl App for AnthropicApp {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("anthropic", "Anthropic", semver::Version::new(1, 0, 0))
            .category(Category::AiMl)
            .description("Chat with Claude models through Anthropic's messages API")
            .tags(["llm", "ai", "chat", "anthropic", "claude"])
            .docs_url("https://docs.anthropic.com/en/api/messages")
            .auth(AuthMethod::ApiKey {
                placement: ApiKeyPlacement::header("x-api-key"),
            })
    }

    fn actions(&self) -> Vec<ActionDef> {
        let chat = |app: Self, cx: Context, input: ChatInput| async move {
            app.client.chat(&Anthropic, "anthropic", &cx, &input).await
        };
        vec![
            ActionDef::with_state("chat", self.clone(), chat)
                .name("Chat (messages)")
                .description("Sends a conversation and returns the model's answer, tool calls, tokens and cost")
                // It changes nothing at the vendor but the bill: safe to try again, as the
                // vendor's SDKs do by default.
                .idempotent(true),
        ]
    }

    /// `GET {base}/v1/models`: cheap, and refused without a valid key.
    async fn test_connection(&self, cx: &Context) -> Result<()> {
        self.client.test(&Anthropic, cx).await
    }
}

/// Anthropic's wire format.
struct Anthropic;

impl Vendor for Anthropic {
    const MAX_TEMPERATURE: f64 = 1.0;

    fn chat_request(&self, base: &str) -> HttpRequest {
        HttpRequest::post(format!("{base}/v1/messages")).header("anthropic-version", API_VERSION)
    }

    fn models_request(&self, base: &str) -> HttpRequest {
        HttpRequest::get(format!("{base}/v1/models")).header("anthropic-version", API_VERSION)
    }

    fn wire(&self, input: &ChatInput, model: &str, max_tokens: u32) -> Value {
        wire(input, model, max_tokens)
    }

    fn parse(&self, body: &Value) -> Result<ChatOutput> {
        parse(body)
    }

    fn collect_stream(&self, body: &str) -> Result<ChatOutput> {
        collect_stream(body)
    }

    fn refine(&self, err: Error, body: &[u8]) -> Error {
        refine(err, body)
    }
}

/// The JSON body Anthropic's messages API takes for `input`. Tool results become `user`
/// messages of `tool_result` blocks, and consecutive messages of one role are merged (the API
/// wants them alternating).
pub(crate) fn wire(input: &ChatInput, model: &str, default_max_tokens: u32) -> Value {
    let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &input.messages {
        let (role, blocks) = match m.role {
            Role::User => ("user", vec![json!({ "type": "text", "text": m.content })]),
            Role::Tool => (
                "user",
                vec![json!({ "type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content })],
            ),
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({ "type": "text", "text": m.content }));
                }
                for c in &m.tool_calls {
                    blocks.push(json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments }));
                }
                ("assistant", blocks)
            }
        };
        match messages.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, blocks)| json!({ "role": role, "content": blocks }))
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert(
        "max_tokens".into(),
        input.max_tokens.unwrap_or(default_max_tokens).into(),
    );
    if let Some(system) = &input.system {
        body.insert("system".into(), system.clone().into());
    }
    body.insert("messages".into(), messages.into());
    if let Some(t) = input.temperature {
        body.insert("temperature".into(), t.into());
    }
    if !input.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(input.stop));
    }
    if !input.tools.is_empty() {
        let tools: Vec<Value> = input
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({ "name": t.name, "input_schema": t.parameters });
                if let Some(d) = &t.description {
                    tool["description"] = d.clone().into();
                }
                tool
            })
            .collect();
        body.insert("tools".into(), tools.into());
    }
    if let Some(choice) = &input.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!({ "type": "auto" }),
            ToolChoice::None => json!({ "type": "none" }),
            ToolChoice::Required => json!({ "type": "any" }),
            ToolChoice::Tool { name } => json!({ "type": "tool", "name": name }),
        };
        body.insert("tool_choice".into(), choice);
    }
    if input.stream {
        body.insert("stream".into(), true.into());
    }
    Value::Object(body)
}

fn finish(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("end_turn" | "stop_sequence") => FinishReason::Stop,
        Some("max_tokens") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

fn output() -> ChatOutput {
    ChatOutput {
        provider: "anthropic".to_owned(),
        model: String::new(),
        content: String::new(),
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Other,
        usage: Usage::default(),
        cost_usd: None,
    }
}

fn tokens(usage: &Value, key: &str) -> u64 {
    usage.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// A whole (not streamed) message.
pub(crate) fn parse(body: &Value) -> Result<ChatOutput> {
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::new(ErrorKind::Upstream, "the message has no content"))?;
    let mut out = output();
    body.get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .clone_into(&mut out.model);
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => out
                .content
                .push_str(block.get("text").and_then(Value::as_str).unwrap_or_default()),
            Some("tool_use") => out.tool_calls.push(ToolCall {
                id: block.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                name: block.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                arguments: block.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            _ => {}
        }
    }
    out.finish_reason = finish(body.get("stop_reason").and_then(Value::as_str));
    let usage = body.get("usage").cloned().unwrap_or_default();
    out.usage = Usage::new(tokens(&usage, "input_tokens"), tokens(&usage, "output_tokens"));
    Ok(out)
}

/// A streamed message (`message_start`, content blocks and their deltas, `message_delta`,
/// `message_stop`), collected. An `error` event (an overload mid-stream) is the error it
/// names.
pub(crate) fn collect_stream(body: &str) -> Result<ChatOutput> {
    let mut out = output();
    // Blocks by index: text, or a tool use whose input arrives as partial JSON.
    let mut blocks: Vec<(Option<ToolCall>, String)> = Vec::new();
    let mut stopped = false;
    let mut input_tokens = 0;
    let mut output_tokens = 0;
    for event in sse::events(body) {
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|_| Error::new(ErrorKind::Upstream, "a streamed event is not JSON"))?;
        match event.name.as_str() {
            "message_start" => {
                let message = data.get("message").cloned().unwrap_or_default();
                message
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .clone_into(&mut out.model);
                let usage = message.get("usage").cloned().unwrap_or_default();
                input_tokens = tokens(&usage, "input_tokens");
                output_tokens = tokens(&usage, "output_tokens");
            }
            "content_block_start" => {
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                if index > blocks.len() + 64 {
                    return Err(Error::new(
                        ErrorKind::Upstream,
                        "a streamed block index is out of range",
                    ));
                }
                if index >= blocks.len() {
                    blocks.resize(index + 1, (None, String::new()));
                }
                let block = data.get("content_block").cloned().unwrap_or_default();
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    blocks[index].0 = Some(ToolCall {
                        id: block.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        name: block.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        arguments: Value::Null,
                    });
                } else if let Some(text) = block.get("text").and_then(Value::as_str) {
                    blocks[index].1.push_str(text);
                }
            }
            "content_block_delta" => {
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                let Some(block) = blocks.get_mut(index) else {
                    return Err(Error::new(
                        ErrorKind::Upstream,
                        "a streamed delta names no started block",
                    ));
                };
                let delta = data.get("delta").cloned().unwrap_or_default();
                let part = delta
                    .get("text")
                    .or_else(|| delta.get("partial_json"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                block.1.push_str(part);
            }
            "message_delta" => {
                out.finish_reason = finish(data.pointer("/delta/stop_reason").and_then(Value::as_str));
                if let Some(n) = data.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    output_tokens = n;
                }
            }
            "message_stop" => stopped = true,
            "error" => {
                let bytes = serde_json::to_vec(&data).unwrap_or_default();
                return Err(refine(
                    Error::new(ErrorKind::Upstream, "the stream ended in an error"),
                    &bytes,
                ));
            }
            _ => {}
        }
    }
    if !stopped {
        return Err(Error::new(ErrorKind::Upstream, "the stream ended before message_stop"));
    }
    for (call, text) in blocks {
        match call {
            Some(mut call) => {
                call.arguments = chat::arguments(&text);
                out.tool_calls.push(call);
            }
            None => out.content.push_str(&text),
        }
    }
    out.usage = Usage::new(input_tokens, output_tokens);
    Ok(out)
}

/// Anthropic's error body (`{"type": "error", "error": {"type", "message"}}`) refines the
/// status mapping: `overloaded_error` (529) is Unavailable, `invalid_request_error` InvalidInput …
pub(crate) fn refine(err: Error, body: &[u8]) -> Error {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return err;
    };
    let Some(detail) = value.get("error") else {
        return err;
    };
    let kind = match detail.get("type").and_then(Value::as_str).unwrap_or_default() {
        "invalid_request_error" | "request_too_large" => Some(ErrorKind::InvalidInput),
        "authentication_error" => Some(ErrorKind::Unauthorized),
        "permission_error" => Some(ErrorKind::Forbidden),
        "not_found_error" => Some(ErrorKind::NotFound),
        "rate_limit_error" => Some(ErrorKind::RateLimited),
        "overloaded_error" => Some(ErrorKind::Unavailable),
        "api_error" | "timeout_error" => Some(ErrorKind::Upstream),
        _ => None,
    };
    vendor_error(err, kind, detail)
}
