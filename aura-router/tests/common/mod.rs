//! Shared helpers for the router's behaviour tests.

#![allow(dead_code, unreachable_pub)]

use aura_router::testing::ScriptedProvider;
use aura_router::{ManualClock, Request};
use serde_json::{Value, json};

/// A scripted chat provider on `clock` that answers with its id and 100 tokens of usage.
pub fn chat(id: &str, clock: &ManualClock) -> ScriptedProvider {
    let name = id.to_owned();
    ScriptedProvider::new(id)
        .clock(clock.clone())
        .respond_with(move |_, n| json!({ "provider": name, "call": n, "usage": { "total_tokens": 100 } }))
}

/// A `chat.complete` request.
pub fn request() -> Request {
    Request::new("chat", "complete", json!({ "prompt": "hello" }))
}

/// Which provider answered.
pub fn who(value: &Value) -> &str {
    value["provider"].as_str().unwrap_or_default()
}
