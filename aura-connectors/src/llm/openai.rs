//! OpenAI chat completions (`POST {base}/chat/completions`), and every server that speaks
//! the same API (Azure OpenAI's v1 endpoint, Groq, Together, Mistral, vLLM, Ollama, LM Studio …).

use async_trait::async_trait;
use aura_core::app::{AuthMethod, Category};
use aura_core::http::{HttpPolicy, HttpRequest};
use aura_core::{ActionDef, App, AppManifest, Context, Error, ErrorKind, Result};
use serde_json::{Map, Value, json};

use super::chat::{self, ChatInput, ChatOutput, FinishReason, Role, ToolCall, ToolChoice, Usage};
use super::client::{Client, Vendor};
use super::pricing::Pricing;
use super::{sse, vendor_error};

/// The OpenAI app (`openai.chat`), or an app for a server compatible with its chat API.
///
/// ```
/// use aura_connectors::llm::{OpenAiApp, Pricing};
///
/// let openai = OpenAiApp::new()
///     .default_model("gpt-4o-mini")
///     .pricing(Pricing::new().model("gpt-4o-mini", 0.15, 0.60));
/// let local = OpenAiApp::compatible("ollama", "Ollama", "http://127.0.0.1:11434/v1").default_model("llama3.2");
/// let registry = aura_core::Registry::new();
/// registry.register(openai)?;
/// registry.register(local)?;
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenAiApp {
    id: String,
    name: String,
    client: Client,
}

impl Default for OpenAiApp {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenAiApp {
    /// OpenAI itself: `openai`, at `https://api.openai.com/v1`, bearer API key.
    pub fn new() -> Self {
        Self::compatible("openai", "OpenAI", "https://api.openai.com/v1")
    }

    /// A server compatible with OpenAI's chat API, registered as the app `id` (its actions
    /// are `<id>.chat`), at `base_url` (the part before `/chat/completions`).
    pub fn compatible(id: impl Into<String>, name: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            client: Client::new(&base_url.into()),
        }
    }

    /// Sends to `base_url` instead (a proxy, a regional endpoint, a local mock).
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

    /// `max_tokens` when a request sets none (default 1,024).
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

    /// Sends through `policy` (the default refuses private and loopback addresses: a local
    /// model server needs a guard that allows it).
    #[must_use]
    pub fn policy(mut self, policy: HttpPolicy) -> Self {
        self.client.policy = policy;
        self
    }

    /// The request `input` becomes, apart from sending (so that it can be inspected).
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the field, for what the input schema cannot check.
    pub fn request(&self, input: &ChatInput) -> Result<HttpRequest> {
        self.client.request(&OpenAi, input)
    }
}

#[async_trait]
impl App for OpenAiApp {
    fn manifest(&self) -> AppManifest {
        AppManifest::new(self.id.clone(), self.name.clone(), semver::Version::new(1, 0, 0))
            .category(Category::AiMl)
            .description("Chat completions through OpenAI's chat API (or a server compatible with it)")
            .tags(["llm", "ai", "chat", "openai"])
            .docs_url("https://platform.openai.com/docs/api-reference/chat")
            .auth(AuthMethod::Bearer)
    }

    fn actions(&self) -> Vec<ActionDef> {
        let chat = |app: Self, cx: Context, input: ChatInput| async move {
            app.client.chat(&OpenAi, &app.id, &cx, &input).await
        };
        vec![
            ActionDef::with_state("chat", self.clone(), chat)
                .name("Chat completion")
                .description("Sends a conversation and returns the model's answer, tool calls, tokens and cost")
                // It changes nothing at the vendor but the bill: safe to try again, as the
                // vendor's SDKs do by default.
                .idempotent(true),
        ]
    }

    /// `GET {base}/models`: cheap, and refused without a valid key.
    async fn test_connection(&self, cx: &Context) -> Result<()> {
        self.client.test(&OpenAi, cx).await
    }
}

/// OpenAI's wire format.
struct OpenAi;

impl Vendor for OpenAi {
    const MAX_TEMPERATURE: f64 = 2.0;

    fn chat_request(&self, base: &str) -> HttpRequest {
        HttpRequest::post(format!("{base}/chat/completions"))
    }

    fn models_request(&self, base: &str) -> HttpRequest {
        HttpRequest::get(format!("{base}/models"))
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

/// The JSON body OpenAI's chat API takes for `input`.
pub(crate) fn wire(input: &ChatInput, model: &str, default_max_tokens: u32) -> Value {
    let mut messages = Vec::with_capacity(input.messages.len() + 1);
    if let Some(system) = &input.system {
        messages.push(json!({ "role": "system", "content": system }));
    }
    for m in &input.messages {
        messages.push(match m.role {
            Role::User => json!({ "role": "user", "content": m.content }),
            Role::Tool => json!({ "role": "tool", "tool_call_id": m.tool_call_id, "content": m.content }),
            Role::Assistant if m.tool_calls.is_empty() => json!({ "role": "assistant", "content": m.content }),
            Role::Assistant => json!({
                "role": "assistant",
                "content": if m.content.is_empty() { Value::Null } else { Value::String(m.content.clone()) },
                "tool_calls": m.tool_calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments.to_string() },
                })).collect::<Vec<_>>(),
            }),
        });
    }
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), messages.into());
    body.insert(
        "max_tokens".into(),
        input.max_tokens.unwrap_or(default_max_tokens).into(),
    );
    if let Some(t) = input.temperature {
        body.insert("temperature".into(), t.into());
    }
    if !input.stop.is_empty() {
        body.insert("stop".into(), json!(input.stop));
    }
    if !input.tools.is_empty() {
        let tools: Vec<Value> = input
            .tools
            .iter()
            .map(|t| {
                let mut function = json!({ "name": t.name, "parameters": t.parameters });
                if let Some(d) = &t.description {
                    function["description"] = d.clone().into();
                }
                json!({ "type": "function", "function": function })
            })
            .collect();
        body.insert("tools".into(), tools.into());
    }
    if let Some(choice) = &input.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool { name } => json!({ "type": "function", "function": { "name": name } }),
        };
        body.insert("tool_choice".into(), choice);
    }
    if input.stream {
        body.insert("stream".into(), true.into());
        body.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Value::Object(body)
}

fn finish(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("stop") => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

fn unexpected(what: &str) -> Error {
    Error::new(ErrorKind::Upstream, format!("the chat answer has no {what}"))
}

fn usage(value: &Value) -> Usage {
    let n = |k: &str| value.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage::new(n("prompt_tokens"), n("completion_tokens"))
}

/// A whole (not streamed) chat completion.
pub(crate) fn parse(body: &Value) -> Result<ChatOutput> {
    let choice = body.pointer("/choices/0").ok_or_else(|| unexpected("choices"))?;
    let message = choice.get("message").ok_or_else(|| unexpected("message"))?;
    let tool_calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|c| ToolCall {
                    id: c.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    name: c
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    arguments: chat::arguments(c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("")),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ChatOutput {
        provider: String::new(),
        model: body.get("model").and_then(Value::as_str).unwrap_or_default().to_owned(),
        content: message
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        tool_calls,
        finish_reason: finish(choice.get("finish_reason").and_then(Value::as_str)),
        usage: body.get("usage").map(usage).unwrap_or_default(),
        cost_usd: None,
    })
}

/// A streamed chat completion (`data:` chunks of deltas, then `[DONE]`), collected.
pub(crate) fn collect_stream(body: &str) -> Result<ChatOutput> {
    let mut out = ChatOutput {
        provider: String::new(),
        model: String::new(),
        content: String::new(),
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Other,
        usage: Usage::default(),
        cost_usd: None,
    };
    // Tool calls arrive in pieces keyed by index: id and name first, arguments in parts.
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut done = false;
    for event in sse::events(body) {
        if event.data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value = serde_json::from_str(&event.data)
            .map_err(|_| Error::new(ErrorKind::Upstream, "a streamed chunk is not JSON"))?;
        if let Some(err) = chunk.get("error") {
            return Err(refine(
                Error::new(ErrorKind::Upstream, "the stream ended in an error"),
                &serde_json::to_vec(&json!({ "error": err })).unwrap_or_default(),
            ));
        }
        if let Some(model) = chunk.get("model").and_then(Value::as_str) {
            model.clone_into(&mut out.model);
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            out.usage = usage(u);
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            continue;
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            out.finish_reason = finish(Some(reason));
        }
        let Some(delta) = choice.get("delta") else { continue };
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            out.content.push_str(text);
        }
        for part in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            let index = part.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            if index >= calls.len() {
                // A bounded vector: indexes come in order, one new call at a time.
                if index > calls.len() + 64 {
                    return Err(Error::new(
                        ErrorKind::Upstream,
                        "a streamed tool call index is out of range",
                    ));
                }
                calls.resize(index + 1, Default::default());
            }
            let call = &mut calls[index];
            if let Some(id) = part.get("id").and_then(Value::as_str) {
                id.clone_into(&mut call.0);
            }
            if let Some(name) = part.pointer("/function/name").and_then(Value::as_str) {
                call.1.push_str(name);
            }
            if let Some(args) = part.pointer("/function/arguments").and_then(Value::as_str) {
                call.2.push_str(args);
            }
        }
    }
    if !done {
        return Err(Error::new(ErrorKind::Upstream, "the stream ended before [DONE]"));
    }
    out.tool_calls = calls
        .into_iter()
        .map(|(id, name, args)| ToolCall {
            id,
            name,
            arguments: chat::arguments(&args),
        })
        .collect();
    Ok(out)
}

/// OpenAI's error body (`{"error": {"type", "code", "message"}}`) refines the status mapping.
pub(crate) fn refine(err: Error, body: &[u8]) -> Error {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return err;
    };
    let Some(detail) = value.get("error") else {
        return err;
    };
    let code = detail.get("code").and_then(Value::as_str).unwrap_or_default();
    let kind_name = detail.get("type").and_then(Value::as_str).unwrap_or_default();
    let kind = match (code, kind_name) {
        ("invalid_api_key", _) | (_, "authentication_error") => Some(ErrorKind::Unauthorized),
        // Out of credit: waiting does not help, so not a rate limit.
        ("insufficient_quota", _) => Some(ErrorKind::Forbidden),
        ("rate_limit_exceeded", _) => Some(ErrorKind::RateLimited),
        ("model_not_found", _) => Some(ErrorKind::NotFound),
        // A 400 about the request itself (a 404's type is this too: the status says more).
        ("context_length_exceeded", _) | (_, "invalid_request_error") if err.status() == Some(400) => {
            Some(ErrorKind::InvalidInput)
        }
        _ => None,
    };
    vendor_error(err, kind, detail)
}
