#![doc = include_str!("docs.md")]

mod anthropic;
mod chat;
mod client;
mod openai;
mod pricing;
mod route;
mod sse;

use aura_core::{Error, ErrorKind};
use serde_json::Value;

pub use self::anthropic::{API_VERSION as ANTHROPIC_VERSION, AnthropicApp};
pub use self::chat::{ChatInput, ChatOutput, FinishReason, Message, Role, Tool, ToolCall, ToolChoice, Usage};
pub use self::openai::OpenAiApp;
pub use self::pricing::Pricing;
pub use self::route::{CAPABILITY, OPERATION, chat_provider};

/// A vendor's error detail refines `err`: its kind when the vendor's type says more than the
/// status, and the type and code in context (the message stays in the scrubbed body excerpt
/// only: a vendor may quote what it was sent).
fn vendor_error(err: Error, kind: Option<ErrorKind>, detail: &Value) -> Error {
    let mut err = match kind {
        Some(kind) => err.with_kind(kind),
        None => err,
    };
    for key in ["type", "code"] {
        if let Some(value) = detail.get(key).and_then(Value::as_str) {
            let value: String = value
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            err = err.with_context(if key == "type" { "vendor_error" } else { "vendor_code" }, value);
        }
    }
    err
}

#[cfg(test)]
mod tests;
