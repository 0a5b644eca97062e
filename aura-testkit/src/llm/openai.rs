//! OpenAI's chat completions API, as the mock speaks it.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::{Answer, Api, Asked, Fault, header, masked};

pub(super) struct OpenAi;
pub(super) static API: OpenAi = OpenAi;

const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];

fn error(status: u16, message: &str, kind: &str, code: Option<&str>, param: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({ "error": { "message": message, "type": kind, "param": param, "code": code } }))
}

fn invalid(message: &str, param: &str) -> ResponseTemplate {
    error(400, message, "invalid_request_error", None, Some(param))
}

impl Api for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn authenticate(&self, headers: &http::HeaderMap, api_key: &str) -> Option<ResponseTemplate> {
        let header = |name: &str| header(headers, name);
        let given = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        match given {
            Some(key) if key == api_key => None,
            Some(key) => Some(error(
                401,
                &format!(
                    "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                    masked(key)
                ),
                "invalid_request_error",
                Some("invalid_api_key"),
                None,
            )),
            None => Some(error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
                None,
            )),
        }
    }

    fn models(&self) -> Value {
        json!({ "object": "list", "data": [{ "id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system" }] })
    }

    fn check(&self, body: &Value) -> Result<Asked, ResponseTemplate> {
        if !body.is_object() {
            return Err(invalid("We could not parse the JSON body of your request.", "body"));
        }
        let Some(model) = body.get("model").and_then(Value::as_str) else {
            return Err(invalid("you must provide a model parameter", "model"));
        };
        let Some(messages) = body.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
            return Err(invalid("[] is too short - 'messages'", "messages"));
        };
        for (i, m) in messages.iter().enumerate() {
            let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
            if !ROLES.contains(&role) {
                return Err(invalid(
                    &format!(
                        "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
                    ),
                    &format!("messages[{i}].role"),
                ));
            }
            if role == "tool" && m.get("tool_call_id").and_then(Value::as_str).is_none() {
                return Err(invalid(
                    "Missing required parameter: 'messages[].tool_call_id'.",
                    &format!("messages[{i}].tool_call_id"),
                ));
            }
        }
        for (i, t) in body
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if t.get("type").and_then(Value::as_str) != Some("function") || t.pointer("/function/name").is_none() {
                return Err(invalid(
                    "Missing required parameter: 'tools[].function'.",
                    &format!("tools[{i}]"),
                ));
            }
        }
        if let Some(t) = body.get("temperature")
            && !t.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t))
        {
            return Err(invalid(
                "Invalid 'temperature': decimal above maximum value.",
                "temperature",
            ));
        }
        Ok(Asked {
            model: model.to_owned(),
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    fn whole(&self, a: &Answer) -> Value {
        let mut message = json!({ "role": "assistant", "content": a.text, "refusal": null });
        let mut finish = "stop";
        if let Some((name, args)) = &a.tool_call {
            message["tool_calls"] = json!([{ "id": "call_mock1", "type": "function", "function": { "name": name, "arguments": args.to_string() } }]);
            finish = "tool_calls";
        }
        json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1733500000, "model": a.model,
            "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
            "usage": { "prompt_tokens": a.usage.0, "completion_tokens": a.usage.1, "total_tokens": a.usage.0 + a.usage.1 },
        })
    }

    fn stream(&self, a: &Answer) -> String {
        let chunk = |delta: Value, finish: Value| {
            let c = json!({ "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1733500000, "model": a.model,
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] });
            format!("data: {c}\n\n")
        };
        let mut out = chunk(json!({ "role": "assistant", "content": "" }), Value::Null);
        // The text in pieces of up to 8 characters, as tokens arrive.
        let chars: Vec<char> = a.text.chars().collect();
        for piece in chars.chunks(8) {
            out.push_str(&chunk(
                json!({ "content": piece.iter().collect::<String>() }),
                Value::Null,
            ));
        }
        let mut finish = "stop";
        if let Some((name, args)) = &a.tool_call {
            let args = args.to_string();
            let (first, second) = args.split_at(args.len() / 2);
            out.push_str(&chunk(
                json!({ "tool_calls": [{ "index": 0, "id": "call_mock1", "type": "function", "function": { "name": name, "arguments": first } }] }),
                Value::Null,
            ));
            out.push_str(&chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": second } }] }),
                Value::Null,
            ));
            finish = "tool_calls";
        }
        out.push_str(&chunk(json!({}), json!(finish)));
        let usage = json!({ "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1733500000, "model": a.model, "choices": [],
            "usage": { "prompt_tokens": a.usage.0, "completion_tokens": a.usage.1, "total_tokens": a.usage.0 + a.usage.1 } });
        out.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
        out
    }

    fn fault(&self, fault: Fault, stream: bool) -> ResponseTemplate {
        match fault {
            Fault::RateLimited { retry_after } => error(
                429,
                "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.",
                "requests",
                Some("rate_limit_exceeded"),
                None,
            )
            .insert_header("retry-after", retry_after.to_string()),
            Fault::QuotaExceeded => error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                Some("insufficient_quota"),
                None,
            ),
            Fault::ServerError => error(
                500,
                "The server had an error while processing your request.",
                "server_error",
                None,
                None,
            ),
            Fault::MidStreamOverload if stream => {
                let body = format!(
                    "data: {}\n\ndata: {}\n\n",
                    json!({ "id": "chatcmpl-mock", "object": "chat.completion.chunk", "model": "m", "choices": [{ "index": 0, "delta": { "content": "Hel" }, "finish_reason": null }] }),
                    json!({ "error": { "message": "The server is overloaded.", "type": "server_error", "code": "overloaded" } })
                );
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/event-stream")
                    .set_body_string(body)
            }
            Fault::Overloaded | Fault::MidStreamOverload => error(
                503,
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
                None,
            ),
        }
    }
}
