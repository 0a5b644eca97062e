//! Local LLM vendors: servers that answer like OpenAI's chat completions API and Anthropic's
//! messages API — the requests they accept, the answers and streams they send, the errors they
//! give (401 with the vendor's error body, 400 for a malformed request, 429 with
//! `Retry-After`, Anthropic's 529 `overloaded_error`, OpenAI's `insufficient_quota`) — with
//! scripted faults and latency, for testing LLM connectors and routing without a vendor.
//!
//! ```
//! use aura_testkit::llm::{Fault, LlmMock};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let claude = LlmMock::anthropic("sk-ant-test").await;
//! claude.reply("Bonjour");
//! claude.fail_next(1, Fault::Overloaded);
//! let answer = reqwest::Client::new()
//!     .post(format!("{}/v1/messages", claude.uri()))
//!     .header("x-api-key", "sk-ant-test")
//!     .header("anthropic-version", "2023-06-01")
//!     .json(&serde_json::json!({ "model": "claude-x", "max_tokens": 10, "messages": [{ "role": "user", "content": "Hi" }] }))
//!     .send()
//!     .await
//!     .unwrap();
//! assert_eq!(answer.status(), 529);
//! # }
//! ```

mod anthropic;
mod openai;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Which API a mock speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// OpenAI's chat completions (`/v1/chat/completions`, bearer key).
    OpenAi,
    /// Anthropic's messages (`/v1/messages`, `x-api-key` and `anthropic-version`).
    Anthropic,
}

/// A failure a mock answers with instead of a completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` (seconds) and the vendor's rate-limit error body.
    RateLimited {
        /// The `Retry-After` seconds.
        retry_after: u64,
    },
    /// Overloaded: Anthropic's 529 `overloaded_error`, OpenAI's 503.
    Overloaded,
    /// 500 and the vendor's server error body.
    ServerError,
    /// OpenAI's 429 `insufficient_quota` (out of credit); Anthropic's 400 about the credit
    /// balance.
    QuotaExceeded,
    /// A streamed answer that starts, then ends in an error event (Anthropic's documented
    /// mid-stream `overloaded_error`; OpenAI's stream error chunk). A request without
    /// streaming gets [`Fault::Overloaded`].
    MidStreamOverload,
}

/// What the mock answers next.
#[derive(Debug, Default)]
struct Script {
    reply: Option<String>,
    tool_call: Option<(String, Value)>,
    faults: VecDeque<Fault>,
    failing: Option<Fault>,
    requests: Vec<Value>,
    usage: (u64, u64),
}

/// A local LLM vendor on 127.0.0.1 (a [`wiremock`] server with the vendor's behaviour).
#[derive(Clone)]
pub struct LlmMock {
    server: Arc<MockServer>,
    vendor: Vendor,
    script: Arc<Mutex<Script>>,
}

impl std::fmt::Debug for LlmMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmMock")
            .field("vendor", &self.vendor)
            .field("uri", &self.server.uri())
            .finish_non_exhaustive()
    }
}

impl LlmMock {
    /// A server speaking OpenAI's chat API that accepts `api_key` as its bearer token.
    pub async fn openai(api_key: &str) -> Self {
        Self::start(Vendor::OpenAi, api_key, Duration::ZERO).await
    }

    /// A server speaking Anthropic's messages API that accepts `api_key` in `x-api-key`.
    pub async fn anthropic(api_key: &str) -> Self {
        Self::start(Vendor::Anthropic, api_key, Duration::ZERO).await
    }

    /// A server of `vendor` accepting `api_key`, answering every request after `latency`.
    pub async fn start(vendor: Vendor, api_key: &str, latency: Duration) -> Self {
        let server = MockServer::start().await;
        let script = Arc::new(Mutex::new(Script {
            usage: (12, 8),
            ..Script::default()
        }));
        let responder = Responder {
            vendor,
            api_key: api_key.to_owned(),
            latency,
            script: script.clone(),
        };
        let (chat, models) = match vendor {
            Vendor::OpenAi => ("/v1/chat/completions", "/v1/models"),
            Vendor::Anthropic => ("/v1/messages", "/v1/models"),
        };
        Mock::given(method("POST"))
            .and(path(chat))
            .respond_with(responder.clone())
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(models))
            .respond_with(responder)
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            vendor,
            script,
        }
    }

    /// The base URL an app is given: `http://127.0.0.1:PORT/v1` for OpenAI (its paths start
    /// after `/v1`), `http://127.0.0.1:PORT` for Anthropic.
    pub fn uri(&self) -> String {
        match self.vendor {
            Vendor::OpenAi => format!("{}/v1", self.server.uri()),
            Vendor::Anthropic => self.server.uri(),
        }
    }

    /// The text of the next answers (default: `Hello from <vendor>`).
    pub fn reply(&self, text: impl Into<String>) {
        self.script.lock().reply = Some(text.into());
    }

    /// The next answers call `tool` with `arguments` (after any text).
    pub fn tool_call(&self, tool: impl Into<String>, arguments: Value) {
        self.script.lock().tool_call = Some((tool.into(), arguments));
    }

    /// The tokens each answer reports: read and written.
    pub fn usage(&self, input: u64, output: u64) {
        self.script.lock().usage = (input, output);
    }

    /// The next `n` chat requests fail with `fault`.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.script.lock().faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Every chat request fails with `fault` until [`recover`](Self::recover).
    pub fn fail_from_now(&self, fault: Fault) {
        self.script.lock().failing = Some(fault);
    }

    /// Ends [`fail_from_now`](Self::fail_from_now).
    pub fn recover(&self) {
        self.script.lock().failing = None;
    }

    /// The bodies of the chat requests received, valid or not, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.script.lock().requests.clone()
    }
}

#[derive(Clone)]
struct Responder {
    vendor: Vendor,
    api_key: String,
    latency: Duration,
    script: Arc<Mutex<Script>>,
}

/// What a chat request asked for, once checked.
struct Asked {
    model: String,
    stream: bool,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let answer = self.answer(request);
        if self.latency.is_zero() {
            answer
        } else {
            answer.set_delay(self.latency)
        }
    }
}

impl Responder {
    fn answer(&self, request: &Request) -> ResponseTemplate {
        let vendor = match self.vendor {
            Vendor::OpenAi => &openai::API as &dyn Api,
            Vendor::Anthropic => &anthropic::API,
        };
        if let Some(refused) = vendor.authenticate(&request.headers, &self.api_key) {
            return refused;
        }
        if request.method.as_str() == "GET" {
            return ResponseTemplate::new(200).set_body_json(vendor.models());
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut script = self.script.lock();
        script.requests.push(body.clone());
        let asked = match vendor.check(&body) {
            Ok(asked) => asked,
            Err(refused) => return refused,
        };
        if let Some(fault) = script.faults.pop_front().or(script.failing) {
            return vendor.fault(fault, asked.stream);
        }
        let text = script
            .reply
            .clone()
            .unwrap_or_else(|| format!("Hello from {}", vendor.name()));
        let answer = Answer {
            model: asked.model,
            text,
            tool_call: script.tool_call.clone(),
            usage: script.usage,
        };
        if asked.stream {
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(vendor.stream(&answer))
        } else {
            ResponseTemplate::new(200).set_body_json(vendor.whole(&answer))
        }
    }
}

/// An answer to give, in either vendor's shape.
struct Answer {
    model: String,
    text: String,
    tool_call: Option<(String, Value)>,
    usage: (u64, u64),
}

/// One vendor's API: authentication, request checks, answers, streams and faults.
trait Api: Sync {
    fn name(&self) -> &'static str;
    fn authenticate(&self, headers: &http::HeaderMap, api_key: &str) -> Option<ResponseTemplate>;
    fn models(&self) -> Value;
    fn check(&self, body: &Value) -> Result<Asked, ResponseTemplate>;
    fn whole(&self, answer: &Answer) -> Value;
    fn stream(&self, answer: &Answer) -> String;
    fn fault(&self, fault: Fault, stream: bool) -> ResponseTemplate;
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `sk-…abcd`: a key as vendors quote it back (its end only).
fn masked(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}
