//! # aura-testkit
//!
//! Test Aura apps, scenarios and routed providers without the network. Put it in
//! `[dev-dependencies]`.
//!
//! Mock apps in a few lines: [`MockApp`] with [`MockAction`]s that answer from a script, a
//! closure or an async closure that sees the call's [`Context`](aura_core::Context), record
//! every call with its input, inject latency and failures by call number or error kind, count
//! the calls in flight and the calls stopped by cancellation or a timeout; and [`MockPolling`]
//! triggers that serve scripted pages.
//!
//! ```
//! use aura_core::{Context, ErrorKind, Registry};
//! use aura_testkit::{MockAction, MockApp};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aura_core::Result<()> {
//! let create = MockAction::new("create_contact")
//!     .returns(json!({ "id": 42 }))
//!     .fail_on_call(1, ErrorKind::Unavailable);
//! let registry = Registry::new();
//! registry.register(MockApp::new("crm").action(create.clone()))?;
//!
//! let action = registry.action("crm.create_contact").await?;
//! let first = action.call(Context::new(), json!({ "email": "a@b.test" })).await;
//! assert_eq!(first.unwrap_err().kind(), ErrorKind::Unavailable);
//! let second = action.call(Context::new(), json!({ "email": "a@b.test" })).await?;
//! assert_eq!(second, json!({ "id": 42 }));
//!
//! assert_eq!(create.call_count(), 2);
//! assert_eq!(create.calls()[1].input["email"], "a@b.test");
//! # Ok(()) }
//! ```
//!
//! [`Harness`] runs a scenario against mock apps and checks node statuses and outputs in a few
//! lines; [`Harness::builder`] takes the store under test, a payload limit and a clock (on a
//! [`ManualClock`] retry back-offs take no time, and node timeouts and the max duration fire
//! when the test moves the clock past them).
//!
//! For the router: [`ScriptedProvider`] (latency distributions, error sequences, 429 with
//! `Retry-After`, hangs) and [`ManualClock`], a fake clock for cooldowns and ejections.
//!
//! [`OAuth2Server`] is a real, strict OAuth 2.0 authorization server on loopback
//! (authorization code with PKCE, client credentials, refresh with or without rotation,
//! scripted §5.2 errors, revocation) with a protected resource, for testing connections and
//! token refresh without a vendor.
//!
//! [`openapi`] checks HTTP requests against real OpenAPI documents: a
//! [`RecordingProxy`](openapi::RecordingProxy) in front of a mock (Prism in CI) records what a
//! client sent, and a [`SpecChecker`](openapi::SpecChecker) says whether each request is a
//! valid call of an operation of the spec.
//!
//! [`behavior`] holds the behaviour suites every store must pass: one set of checks per store
//! trait ([`store_behavior!`] for execution stores, [`sealed_behavior!`] for connection
//! backends), run against the memory and SQLite stores in aura-core's tests; and the one suite
//! every connector passes ([`connector_behavior!`]: manifest and schemas, bad input refused
//! before the network, `test_connection` through a connection manager, a call from a
//! scenario, secrets in no error, log or record, polling cursors), run against each connector
//! of aura-connectors on its real server.
//!
//! [`llm`] runs local LLM vendors ([`LlmMock`](llm::LlmMock)): servers that accept, answer,
//! stream and fail like OpenAI's chat completions API and Anthropic's messages API, with
//! scripted faults (429 with `Retry-After`, 529 overloaded, out of credit, mid-stream errors)
//! and latency.
//!
//! Not here yet: general HTTP mocks for connector tests (use [`wiremock`] directly) and the
//! other vendors' mocks. They come with the issues that add vendor connectors.

mod app;
pub mod behavior;
mod failure;
pub mod flows;
mod harness;
mod hooked_store;
pub mod llm;
mod mock_action;
mod mock_polling;
pub mod oauth2_server;
pub mod openapi;
mod providers;

pub use app::MockApp;
pub use failure::Failure;
pub use harness::{Harness, HarnessBuilder, Run};
pub use hooked_store::{HookedStore, StoreCall};
pub use mock_action::{MockAction, RecordedCall};
pub use mock_polling::MockPolling;
pub use oauth2_server::{OAuth2Server, OAuth2ServerBuilder, RecordedTokenRequest};
pub use providers::{Fault, Latency, ManualClock, ScriptedCall, ScriptedProvider};
