//! The LLM apps against local servers that follow each vendor's documented requests, answers,
//! streams and errors (aura-testkit's `LlmMock`), alone and as providers of the router's
//! `chat.complete`.

#![cfg(feature = "llm")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_connectors::llm::{AnthropicApp, ChatOutput, FinishReason, OpenAiApp, Pricing, chat_provider};
use aura_core::connection::{ApiKeyPlacement, ConnectionRecord, Credentials, StaticConnection};
use aura_core::http::HttpPolicy;
use aura_core::net::SsrfGuard;
use aura_core::{Context, ErrorKind, Registry};
use aura_testkit::behavior::connector::{ConnectorFixture, HttpErrorCase};
use aura_testkit::llm::{Fault, LlmMock};
use serde_json::{Value, json};

const OPENAI_KEY: &str = "sk-canary-openai-7c1d";
const ANTHROPIC_KEY: &str = "sk-ant-canary-42ab";

fn loopback() -> HttpPolicy {
    HttpPolicy::builder()
        .guard(SsrfGuard::new().allow_network("127.0.0.0/8").unwrap())
        .build()
}

fn openai_app(mock: &LlmMock) -> OpenAiApp {
    OpenAiApp::new()
        .base_url(mock.uri())
        .default_model("gpt-4o-mini")
        .pricing(Pricing::new().model("gpt-4o-mini", 0.15, 0.60))
        .policy(loopback())
}

fn anthropic_app(mock: &LlmMock) -> AnthropicApp {
    AnthropicApp::new()
        .base_url(mock.uri())
        .default_model("claude-3-5-haiku-latest")
        .pricing(Pricing::new().model("claude-3-5-haiku", 0.80, 4.00))
        .policy(loopback())
}

fn openai_key(key: &str) -> Credentials {
    Credentials::bearer(key)
}

fn anthropic_key(key: &str) -> Credentials {
    Credentials::api_key(key, ApiKeyPlacement::header("x-api-key"))
}

fn cx(app: &str, credentials: Credentials) -> Context {
    Context::builder()
        .connection(Arc::new(StaticConnection::new(ConnectionRecord::new(
            app,
            "key",
            credentials,
        ))))
        .build()
}

async fn call(registry: &Registry, action: &str, cx: Context, input: Value) -> aura_core::Result<ChatOutput> {
    let out = registry.action(action).await.unwrap().call(cx, input).await?;
    Ok(serde_json::from_value(out).unwrap())
}

fn hello(stream: bool) -> Value {
    json!({ "messages": [{ "role": "user", "content": "Say hello" }], "stream": stream })
}

#[tokio::test]
async fn both_vendors_answer_whole_and_streamed_with_usage_and_cost() {
    let openai = LlmMock::openai(OPENAI_KEY).await;
    let claude = LlmMock::anthropic(ANTHROPIC_KEY).await;
    openai.reply("Hello, world! How are you today?");
    claude.reply("Bonjour tout le monde, ça va ?");
    openai.usage(1_000, 500);
    claude.usage(2_000, 1_000);
    let registry = Registry::new();
    registry.register(openai_app(&openai)).unwrap();
    registry.register(anthropic_app(&claude)).unwrap();

    for stream in [false, true] {
        let out = call(
            &registry,
            "openai.chat",
            cx("openai", openai_key(OPENAI_KEY)),
            hello(stream),
        )
        .await
        .unwrap();
        assert_eq!(out.content, "Hello, world! How are you today?", "stream: {stream}");
        assert_eq!((out.provider.as_str(), out.model.as_str()), ("openai", "gpt-4o-mini"));
        assert_eq!(out.finish_reason, FinishReason::Stop);
        assert_eq!(out.usage.total_tokens, 1_500);
        assert!((out.cost_usd.unwrap() - (1_000.0 * 0.15 + 500.0 * 0.60) / 1e6).abs() < 1e-12);

        let out = call(
            &registry,
            "anthropic.chat",
            cx("anthropic", anthropic_key(ANTHROPIC_KEY)),
            hello(stream),
        )
        .await
        .unwrap();
        assert_eq!(out.content, "Bonjour tout le monde, ça va ?", "stream: {stream}");
        assert_eq!(out.usage.total_tokens, 3_000);
        assert!((out.cost_usd.unwrap() - (2_000.0 * 0.80 + 1_000.0 * 4.00) / 1e6).abs() < 1e-12);
    }
    // What went out fits each API (the mocks refuse what does not, with 400s).
    let sent = &claude.requests()[1];
    assert_eq!(sent["max_tokens"], 1024);
    assert_eq!(sent["stream"], true);
    assert_eq!(openai.requests()[1]["stream_options"], json!({ "include_usage": true }));
}

#[tokio::test]
async fn tool_calls_come_back_parsed_streamed_or_not() {
    let openai = LlmMock::openai(OPENAI_KEY).await;
    let claude = LlmMock::anthropic(ANTHROPIC_KEY).await;
    for mock in [&openai, &claude] {
        mock.tool_call("weather", json!({ "city": "Paris", "unit": "celsius" }));
    }
    let registry = Registry::new();
    registry.register(openai_app(&openai)).unwrap();
    registry.register(anthropic_app(&claude)).unwrap();
    let input = |stream: bool| {
        json!({
            "messages": [{ "role": "user", "content": "Weather in Paris?" }],
            "tools": [{ "name": "weather", "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } }],
            "tool_choice": "required",
            "stream": stream,
        })
    };
    for stream in [false, true] {
        for (action, credentials) in [
            ("openai.chat", openai_key(OPENAI_KEY)),
            ("anthropic.chat", anthropic_key(ANTHROPIC_KEY)),
        ] {
            let app = action.split('.').next().unwrap();
            let out = call(&registry, action, cx(app, credentials), input(stream))
                .await
                .unwrap();
            assert_eq!(out.finish_reason, FinishReason::ToolCalls, "{action} stream: {stream}");
            assert_eq!(out.tool_calls.len(), 1);
            assert_eq!(out.tool_calls[0].name, "weather");
            assert_eq!(
                out.tool_calls[0].arguments,
                json!({ "city": "Paris", "unit": "celsius" })
            );
        }
    }
    assert_eq!(claude.requests()[0]["tool_choice"], json!({ "type": "any" }));
    assert_eq!(openai.requests()[0]["tool_choice"], json!("required"));
}

#[tokio::test]
async fn vendor_failures_become_the_right_errors() {
    let openai = LlmMock::openai(OPENAI_KEY).await;
    let claude = LlmMock::anthropic(ANTHROPIC_KEY).await;
    let registry = Registry::new();
    registry.register(openai_app(&openai)).unwrap();
    registry.register(anthropic_app(&claude)).unwrap();
    let fails = |action: &'static str, credentials: Credentials, stream: bool| {
        let registry = &registry;
        async move {
            let app = action.split('.').next().unwrap();
            call(registry, action, cx(app, credentials), hello(stream))
                .await
                .unwrap_err()
        }
    };

    claude.fail_next(1, Fault::RateLimited { retry_after: 7 });
    let err = fails("anthropic.chat", anthropic_key(ANTHROPIC_KEY), false).await;
    assert_eq!(
        (err.kind(), err.retry_after()),
        (ErrorKind::RateLimited, Some(Duration::from_secs(7)))
    );

    claude.fail_next(1, Fault::Overloaded);
    let err = fails("anthropic.chat", anthropic_key(ANTHROPIC_KEY), false).await;
    assert_eq!(
        (err.kind(), err.status(), err.is_retryable()),
        (ErrorKind::Unavailable, Some(529), true)
    );

    claude.fail_next(1, Fault::MidStreamOverload);
    let err = fails("anthropic.chat", anthropic_key(ANTHROPIC_KEY), true).await;
    assert_eq!((err.kind(), err.is_retryable()), (ErrorKind::Unavailable, true));

    openai.fail_next(1, Fault::QuotaExceeded);
    let err = fails("openai.chat", openai_key(OPENAI_KEY), false).await;
    assert_eq!((err.kind(), err.is_retryable()), (ErrorKind::Forbidden, false));

    openai.fail_next(1, Fault::Overloaded);
    let err = fails("openai.chat", openai_key(OPENAI_KEY), false).await;
    assert_eq!((err.kind(), err.is_retryable()), (ErrorKind::Unavailable, true));

    let wrong = "sk-canary-wrong-key-9999";
    let err = fails("openai.chat", openai_key(wrong), false).await;
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.context_value("vendor_code"), Some("invalid_api_key"));
    assert!(!format!("{err} {err:?}").contains(wrong));
    let err = fails("anthropic.chat", anthropic_key(wrong), false).await;
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
}

#[tokio::test]
async fn the_router_fails_over_from_an_overloaded_vendor() {
    let openai = LlmMock::openai(OPENAI_KEY).await;
    let claude = LlmMock::anthropic(ANTHROPIC_KEY).await;
    claude.fail_from_now(Fault::Overloaded);
    let registry = Registry::new();
    registry.register(openai_app(&openai)).unwrap();
    registry.register(anthropic_app(&claude)).unwrap();
    let connection = |app: &str, credentials| -> Arc<dyn aura_core::connection::Connection> {
        Arc::new(StaticConnection::new(ConnectionRecord::new(app, "key", credentials)))
    };
    let router = aura_router::Router::builder()
        .strategy(aura_router::select::Priority::in_order())
        .provider(
            chat_provider(
                "anthropic",
                registry.action("anthropic.chat").await.unwrap(),
                connection("anthropic", anthropic_key(ANTHROPIC_KEY)),
            )
            .priority(0)
            .build()
            .unwrap(),
        )
        .provider(
            chat_provider(
                "openai",
                registry.action("openai.chat").await.unwrap(),
                connection("openai", openai_key(OPENAI_KEY)),
            )
            .priority(1)
            .build()
            .unwrap(),
        )
        .build()
        .unwrap();
    let routed = router
        .execute(aura_router::Request::new("chat", "complete", hello(false)))
        .await
        .unwrap();
    assert_eq!(routed.provider.as_str(), "openai");
    assert_eq!(routed.decision.attempts().len(), 2, "{}", routed.decision);
    assert_eq!(routed.value["content"], "Hello from openai");
    // The same input went to both: each provider used its own default model.
    assert_eq!(claude.requests()[0]["model"], "claude-3-5-haiku-latest");
    assert_eq!(openai.requests()[0]["model"], "gpt-4o-mini");
}

async fn openai_fixture() -> ConnectorFixture {
    let mock = LlmMock::openai(OPENAI_KEY).await;
    ConnectorFixture::new(openai_app(&mock))
        .credentials(openai_key(OPENAI_KEY))
        .bad_credentials(openai_key("sk-canary-refused-0000"))
        .bad_input("openai.chat", json!({ "messages": [] }))
        .bad_input(
            "openai.chat",
            json!({ "messages": [{ "role": "robot", "content": "hi" }] }),
        )
        .bad_input(
            "openai.chat",
            json!({ "messages": [{ "role": "tool", "content": "orphan" }] }),
        )
        .call("openai.chat", hello(true))
        .http_errors(HttpErrorCase::new("openai.chat", |_| hello(false)).app_at(|base| {
            Arc::new(
                OpenAiApp::new()
                    .base_url(format!("{base}/v1"))
                    .default_model("m")
                    .policy(loopback()),
            )
        }))
        .guard(mock)
}

async fn anthropic_fixture() -> ConnectorFixture {
    let mock = LlmMock::anthropic(ANTHROPIC_KEY).await;
    ConnectorFixture::new(anthropic_app(&mock))
        .credentials(anthropic_key(ANTHROPIC_KEY))
        .bad_credentials(anthropic_key("sk-ant-canary-refused"))
        .bad_input(
            "anthropic.chat",
            json!({ "messages": [{ "role": "user", "content": "hi" }], "temperature": 1.5 }),
        )
        .bad_input(
            "anthropic.chat",
            json!({ "messages": [{ "role": "user", "content": "hi" }], "max_tokens": 0 }),
        )
        .call("anthropic.chat", hello(false))
        .http_errors(
            HttpErrorCase::new("anthropic.chat", |_| hello(false))
                .app_at(|base| Arc::new(AnthropicApp::new().base_url(base).default_model("m").policy(loopback()))),
        )
        .guard(mock)
}

mod openai_suite {
    use super::*;
    aura_testkit::connector_behavior!(async { openai_fixture().await });
}

mod anthropic_suite {
    use super::*;
    aura_testkit::connector_behavior!(async { anthropic_fixture().await });
}
