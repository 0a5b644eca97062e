//! Wire formats both ways, from the vendors' documented examples.

use aura_core::{Error, ErrorKind};
use serde_json::json;

use super::*;

fn input(value: serde_json::Value) -> ChatInput {
    serde_json::from_value(value).unwrap()
}

fn with_tools() -> ChatInput {
    input(json!({
        "system": "Be brief.",
        "messages": [
            { "role": "user", "content": "Weather in Paris?" },
            { "role": "assistant", "content": "", "tool_calls": [{ "id": "call_1", "name": "weather", "arguments": { "city": "Paris" } }] },
            { "role": "tool", "tool_call_id": "call_1", "content": "18°C" },
        ],
        "tools": [{ "name": "weather", "description": "Current weather", "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } }],
        "tool_choice": "auto",
        "temperature": 0.5,
        "stop": ["END"],
    }))
}

#[test]
fn openai_requests_follow_the_chat_api() {
    let app = OpenAiApp::new()
        .base_url("http://llm.test/v1/")
        .default_model("gpt-4o-mini");
    let request = app.request(&with_tools()).unwrap();
    assert_eq!(
        request.full_url().unwrap().as_str(),
        "http://llm.test/v1/chat/completions"
    );
    let body = openai::wire(&with_tools(), "gpt-4o-mini", 1024);
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o-mini",
            "max_tokens": 1024,
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Weather in Paris?" },
                { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Paris\"}" } }] },
                { "role": "tool", "tool_call_id": "call_1", "content": "18°C" },
            ],
            "temperature": 0.5,
            "stop": ["END"],
            "tools": [{ "type": "function", "function": { "name": "weather", "description": "Current weather", "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } } }],
            "tool_choice": "auto",
        })
    );
}

#[test]
fn anthropic_requests_follow_the_messages_api() {
    let app = AnthropicApp::new()
        .base_url("http://llm.test")
        .default_model("claude-3-5-haiku-latest");
    let request = app.request(&with_tools()).unwrap();
    assert_eq!(request.full_url().unwrap().as_str(), "http://llm.test/v1/messages");
    assert_eq!(request.header_value("anthropic-version"), Some("2023-06-01"));
    let body = anthropic::wire(&with_tools(), "claude-3-5-haiku-latest", 1024);
    assert_eq!(
        body,
        json!({
            "model": "claude-3-5-haiku-latest",
            "max_tokens": 1024,
            "system": "Be brief.",
            "messages": [
                { "role": "user", "content": [{ "type": "text", "text": "Weather in Paris?" }] },
                { "role": "assistant", "content": [{ "type": "tool_use", "id": "call_1", "name": "weather", "input": { "city": "Paris" } }] },
                { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "call_1", "content": "18°C" }] },
            ],
            "temperature": 0.5,
            "stop_sequences": ["END"],
            "tools": [{ "name": "weather", "description": "Current weather", "input_schema": { "type": "object", "properties": { "city": { "type": "string" } } } }],
            "tool_choice": { "type": "auto" },
        })
    );
}

#[test]
fn consecutive_tool_results_merge_into_one_user_message_for_anthropic() {
    let chat = input(json!({ "messages": [
        { "role": "user", "content": "Two cities" },
        { "role": "assistant", "tool_calls": [{ "id": "a", "name": "w", "arguments": {} }, { "id": "b", "name": "w", "arguments": {} }] },
        { "role": "tool", "tool_call_id": "a", "content": "1" },
        { "role": "tool", "tool_call_id": "b", "content": "2" },
    ] }));
    let body = anthropic::wire(&chat, "m", 10);
    assert_eq!(body["messages"].as_array().unwrap().len(), 3);
    assert_eq!(body["messages"][2]["content"].as_array().unwrap().len(), 2);
}

#[test]
fn what_the_schema_cannot_check_is_refused_before_sending() {
    let no_model = input(json!({ "messages": [{ "role": "user", "content": "hi" }] }));
    let err = OpenAiApp::new().request(&no_model).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.violations()[0].path, "/model");

    let hot = input(json!({ "model": "m", "temperature": 1.5, "messages": [{ "role": "user", "content": "hi" }] }));
    assert!(OpenAiApp::new().request(&hot).is_ok());
    let err = AnthropicApp::new().request(&hot).unwrap_err();
    assert_eq!(err.violations()[0].path, "/temperature");

    let orphan = input(
        json!({ "model": "m", "messages": [{ "role": "tool", "content": "x" }], "tool_choice": { "tool": { "name": "nope" } } }),
    );
    let err = OpenAiApp::new().request(&orphan).unwrap_err();
    let paths: Vec<_> = err.violations().iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["/messages/0/tool_call_id", "/tool_choice/name"]);
}

#[test]
fn an_openai_answer_is_read_with_tool_calls_and_usage() {
    // The chat completion object of OpenAI's API reference.
    let out = openai::parse(&json!({
        "id": "chatcmpl-123", "object": "chat.completion", "created": 1677652288, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": null, "tool_calls": [
            { "id": "call_abc", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Paris\"}" } }
        ] }, "logprobs": null, "finish_reason": "tool_calls" }],
        "usage": { "prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99 }
    }))
    .unwrap();
    assert_eq!(out.finish_reason, FinishReason::ToolCalls);
    assert_eq!(out.tool_calls[0].arguments, json!({ "city": "Paris" }));
    assert_eq!(
        out.usage,
        Usage {
            input_tokens: 82,
            output_tokens: 17,
            total_tokens: 99
        }
    );
    let priced = Pricing::new().model("gpt-4o-mini", 0.15, 0.60);
    assert!((priced.of(&out.model, &out.usage).unwrap() - (82.0 * 0.15 + 17.0 * 0.60) / 1e6).abs() < 1e-12);
}

#[test]
fn an_openai_stream_is_collected() {
    let body = concat!(
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\",\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\n\n",
        "data: [DONE]\n\n",
    );
    let out = openai::collect_stream(body).unwrap();
    assert_eq!(out.content, "Hello");
    assert_eq!(out.tool_calls[0].name, "weather");
    assert_eq!(out.tool_calls[0].arguments, json!({ "city": "Paris" }));
    assert_eq!(out.finish_reason, FinishReason::ToolCalls);
    assert_eq!(out.usage.total_tokens, 13);

    let cut = body.replace("data: [DONE]\n\n", "");
    assert_eq!(openai::collect_stream(&cut).unwrap_err().kind(), ErrorKind::Upstream);
}

#[test]
fn an_anthropic_answer_and_stream_are_read() {
    // The message object of Anthropic's API reference.
    let out = anthropic::parse(&json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
        "content": [{ "type": "text", "text": "Let me check." }, { "type": "tool_use", "id": "toolu_01", "name": "weather", "input": { "city": "Paris" } }],
        "stop_reason": "tool_use", "stop_sequence": null, "usage": { "input_tokens": 25, "output_tokens": 12 }
    }))
    .unwrap();
    assert_eq!(out.content, "Let me check.");
    assert_eq!(out.tool_calls[0].id, "toolu_01");
    assert_eq!(out.finish_reason, FinishReason::ToolCalls);
    assert_eq!(out.usage.total_tokens, 37);

    // The streaming example of Anthropic's documentation (text, then a tool use in pieces).
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-haiku-20241022\",\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"weather\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Pa\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ris\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let out = anthropic::collect_stream(stream).unwrap();
    assert_eq!(out.content, "Hello");
    assert_eq!(out.tool_calls[0].arguments, json!({ "city": "Paris" }));
    assert_eq!(
        out.usage,
        Usage {
            input_tokens: 25,
            output_tokens: 15,
            total_tokens: 40
        }
    );

    let overloaded = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    let err = anthropic::collect_stream(overloaded).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());
}

#[test]
fn vendor_error_bodies_refine_the_status_mapping() {
    let refine = |f: fn(Error, &[u8]) -> Error, status: u16, body: serde_json::Value| {
        let bytes = serde_json::to_vec(&body).unwrap();
        f(
            Error::from_http(
                http::StatusCode::from_u16(status).unwrap(),
                &http::HeaderMap::new(),
                &bytes,
            ),
            &bytes,
        )
    };
    let err = refine(
        anthropic::refine,
        529,
        json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }),
    );
    assert_eq!(
        (err.kind(), err.is_retryable(), err.status()),
        (ErrorKind::Unavailable, true, Some(529))
    );
    assert_eq!(err.context_value("vendor_error"), Some("overloaded_error"));
    let err = refine(
        anthropic::refine,
        400,
        json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "max_tokens: required" } }),
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = refine(
        openai::refine,
        429,
        json!({ "error": { "message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota" } }),
    );
    assert_eq!((err.kind(), err.is_retryable()), (ErrorKind::Forbidden, false));
    let err = refine(
        openai::refine,
        429,
        json!({ "error": { "message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded" } }),
    );
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    let err = refine(
        openai::refine,
        404,
        json!({ "error": { "message": "The model does not exist", "type": "invalid_request_error", "code": "model_not_found" } }),
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = refine(
        openai::refine,
        400,
        json!({ "error": { "message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded" } }),
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
