//! Anthropic's messages API, as the mock speaks it.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::{Answer, Api, Asked, Fault, header};

pub(super) struct Anthropic;
pub(super) static API: Anthropic = Anthropic;

fn error(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({ "type": "error", "error": { "type": kind, "message": message } }))
}

fn invalid(message: &str) -> ResponseTemplate {
    error(400, "invalid_request_error", message)
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

impl Api for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn authenticate(&self, headers: &http::HeaderMap, api_key: &str) -> Option<ResponseTemplate> {
        let header = |name: &str| header(headers, name);
        if header("x-api-key") != Some(api_key) {
            return Some(error(401, "authentication_error", "invalid x-api-key"));
        }
        if header("anthropic-version").is_none() {
            return Some(invalid("anthropic-version: header is required"));
        }
        None
    }

    fn models(&self) -> Value {
        json!({ "data": [{ "type": "model", "id": "claude-3-5-haiku-20241022", "display_name": "Claude Haiku 3.5", "created_at": "2024-10-22T00:00:00Z" }], "has_more": false, "first_id": "claude-3-5-haiku-20241022", "last_id": "claude-3-5-haiku-20241022" })
    }

    fn check(&self, body: &Value) -> Result<Asked, ResponseTemplate> {
        if !body.is_object() {
            return Err(invalid("Request body is not valid JSON"));
        }
        let Some(model) = body.get("model").and_then(Value::as_str) else {
            return Err(invalid("model: Field required"));
        };
        if !body.get("max_tokens").and_then(Value::as_u64).is_some_and(|n| n >= 1) {
            return Err(invalid("max_tokens: Field required"));
        }
        let Some(messages) = body.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
            return Err(invalid("messages: at least one message is required"));
        };
        for (i, m) in messages.iter().enumerate() {
            match m.get("role").and_then(Value::as_str) {
                Some("user" | "assistant") => {}
                _ => {
                    return Err(invalid(&format!(
                        "messages.{i}.role: Input should be 'user' or 'assistant'"
                    )));
                }
            }
            let content = m.get("content");
            if !content.is_some_and(|c| c.is_string() || c.is_array()) {
                return Err(invalid(&format!("messages.{i}.content: Field required")));
            }
        }
        if let Some(t) = body.get("temperature")
            && !t.as_f64().is_some_and(|t| (0.0..=1.0).contains(&t))
        {
            return Err(invalid("temperature: Input should be less than or equal to 1"));
        }
        if body.get("system").is_some_and(|s| !(s.is_string() || s.is_array())) {
            return Err(invalid("system: Input should be a valid string"));
        }
        Ok(Asked {
            model: model.to_owned(),
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    fn whole(&self, a: &Answer) -> Value {
        let mut content = vec![json!({ "type": "text", "text": a.text })];
        let mut stop = "end_turn";
        if let Some((name, args)) = &a.tool_call {
            content.push(json!({ "type": "tool_use", "id": "toolu_mock1", "name": name, "input": args }));
            stop = "tool_use";
        }
        json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": a.model, "content": content,
            "stop_reason": stop, "stop_sequence": null,
            "usage": { "input_tokens": a.usage.0, "output_tokens": a.usage.1 },
        })
    }

    fn stream(&self, a: &Answer) -> String {
        let mut out = event(
            "message_start",
            &json!({ "type": "message_start", "message": { "id": "msg_mock", "type": "message", "role": "assistant", "content": [], "model": a.model, "stop_reason": null, "stop_sequence": null, "usage": { "input_tokens": a.usage.0, "output_tokens": 1 } } }),
        );
        out.push_str(&event(
            "content_block_start",
            &json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ));
        out.push_str(&event("ping", &json!({ "type": "ping" })));
        let chars: Vec<char> = a.text.chars().collect();
        for piece in chars.chunks(8) {
            out.push_str(&event(
                "content_block_delta",
                &json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": piece.iter().collect::<String>() } }),
            ));
        }
        out.push_str(&event(
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": 0 }),
        ));
        let mut stop = "end_turn";
        if let Some((name, args)) = &a.tool_call {
            out.push_str(&event(
                "content_block_start",
                &json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "toolu_mock1", "name": name, "input": {} } }),
            ));
            let args = args.to_string();
            let (first, second) = args.split_at(args.len() / 2);
            for part in [first, second] {
                out.push_str(&event(
                    "content_block_delta",
                    &json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": part } }),
                ));
            }
            out.push_str(&event(
                "content_block_stop",
                &json!({ "type": "content_block_stop", "index": 1 }),
            ));
            stop = "tool_use";
        }
        out.push_str(&event(
            "message_delta",
            &json!({ "type": "message_delta", "delta": { "stop_reason": stop, "stop_sequence": null }, "usage": { "output_tokens": a.usage.1 } }),
        ));
        out.push_str(&event("message_stop", &json!({ "type": "message_stop" })));
        out
    }

    fn fault(&self, fault: Fault, stream: bool) -> ResponseTemplate {
        match fault {
            Fault::RateLimited { retry_after } => error(
                429,
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests per minute.",
            )
            .insert_header("retry-after", retry_after.to_string()),
            Fault::QuotaExceeded => invalid("Your credit balance is too low to access the Anthropic API."),
            Fault::ServerError => error(
                500,
                "api_error",
                "An unexpected error has occurred internal to Anthropic's systems.",
            ),
            Fault::MidStreamOverload if stream => {
                let mut body = event(
                    "message_start",
                    &json!({ "type": "message_start", "message": { "id": "msg_mock", "type": "message", "role": "assistant", "content": [], "model": "m", "usage": { "input_tokens": 1, "output_tokens": 1 } } }),
                );
                body.push_str(&event(
                    "error",
                    &json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }),
                ));
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/event-stream")
                    .set_body_string(body)
            }
            Fault::Overloaded | Fault::MidStreamOverload => error(529, "overloaded_error", "Overloaded"),
        }
    }
}
