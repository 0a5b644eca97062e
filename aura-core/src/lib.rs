//! # aura-core
//!
//! The contracts and the catalogue of Aura, an integration runtime that Rust services embed:
//! the engine behind tools like n8n, Zapier and Make.com, shipped as crates.
//!
//! | concept | here |
//! | --- | --- |
//! | App: a service Aura talks to | [`App`], [`AppManifest`] |
//! | Action: one typed operation of an app | [`ActionDef`] (what you write), [`Action`] (compiled) |
//! | Trigger: how an app starts a scenario | [`trigger`]: polling, webhook, schedule, manual (the contracts; the runtimes that drive them come later) |
//! | Connection: authenticated access to one account | [`connection`]: [`Connection`], [`ConnectionRecord`], [`Credentials`], [`connection::ConnectionManager`] (lifecycle, OAuth2, refresh), [`connection::CredentialStore`] (encrypted at rest) |
//! | Node: one step of a scenario | [`node::Node`]; the built-in kinds in [`scenario::nodes`] |
//! | Scenario: a workflow of nodes | [`scenario::Scenario`] (Rust builder, JSON or YAML) |
//! | Mapping: how a node's input is built | [`expr`]: minijinja expressions and templates |
//! | Plan: a compiled scenario | [`compile::Plan`], [`compile::compile`] |
//! | Execution: one run, with a record per node | [`engine::Engine`], [`store::ExecutionRecord`], [`store::ExecutionStore`] |
//! | A queue many workers share (one process, or many on PostgreSQL) | [`engine::Engine::enqueue`], [`engine::Engine::work`], [`store::Lease`] (leases with fencing tokens) |
//! | What outlives a restart besides executions | [`store::TriggerStateStore`] (cursors, dedupe keys, a poll's atomic commit), [`store::AuditLog`] (who did what to which connection), [`store::ScenarioStore`] (deployed scenarios, versioned) |
//! | The catalogue | [`Registry`] |
//! | Keys and `app.key` references | [`Key`], [`Reference`] ([`key`]) |
//! | Errors | [`Error`], [`ErrorKind`] |
//! | Outbound webhooks: events sent to subscribed URLs, signed, retried | [`delivery`]: [`delivery::WebhookDispatcher`], [`delivery::Endpoint`] |
//! | Outbound safety: no private or loopback targets unless allowed | [`net`]: [`net::SsrfGuard`] |
//! | Calling HTTP APIs: requests as data, credentials, redirects, limits, pagination, one error mapping | [`http`]: [`http::HttpPolicy`], [`http::HttpRequest`], [`http::Paginate`] |
//! | Time and rate limits, shared by the engine and aura-router | [`clock`]: [`clock::Clock`], [`clock::ManualClock`]; [`rate_limit`]: [`rate_limit::RateLimit`], [`rate_limit::RateLimiter`] |
//!
//! ## From `cargo add` to a call
//!
//! ```
//! use aura_core::{ActionDef, App, AppManifest, Context, Registry, Result};
//! use aura_core::app::Category;
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Greet { name: String }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Greeting { text: String }
//!
//! async fn greet(_cx: Context, input: Greet) -> Result<Greeting> {
//!     Ok(Greeting { text: format!("Hello, {}!", input.name) })
//! }
//!
//! struct Hello;
//!
//! #[async_trait::async_trait]
//! impl App for Hello {
//!     fn manifest(&self) -> AppManifest {
//!         AppManifest::new("hello", "Hello", semver::Version::new(1, 0, 0))
//!             .category(Category::Workflow)
//!             .description("Says hello")
//!     }
//!     fn actions(&self) -> Vec<ActionDef> {
//!         vec![ActionDef::new("greet", greet).name("Greet someone").idempotent(true)]
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! let registry = Registry::new();
//! registry.register(Hello)?;
//!
//! let greet = registry.action("hello.greet").await?;
//! let out = greet.call(Context::new(), json!({ "name": "Ada" })).await?;
//! assert_eq!(out, json!({ "text": "Hello, Ada!" }));
//!
//! // Bad input never reaches the handler; the error names every bad field.
//! let err = greet.call(Context::new(), json!({ "name": 42 })).await.unwrap_err();
//! assert_eq!(err.violations()[0].path, "/name");
//! # Ok(()) }
//! ```
//!
//! ## A scenario
//!
//! ```
//! use std::sync::Arc;
//! use aura_core::engine::Engine;
//! use aura_core::scenario::{NodeBuilder, Scenario};
//! use aura_core::Registry;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aura_core::Result<()> {
//! let engine = Engine::builder(Arc::new(Registry::new())).build();
//! let scenario = Scenario::from_yaml(r#"
//! id: triage
//! name: Triage
//! nodes:
//!   - { id: form, kind: trigger, next: [score] }
//!   - id: score
//!     kind: if
//!     config: { condition: "trigger.budget >= 10000" }
//!     routes: { "true": [sales], "false": [nurture] }
//!   - { id: sales, kind: set, input: { queue: sales, who: "{{ trigger.email }}" } }
//!   - { id: nurture, kind: set, input: { queue: nurture, who: "{{ trigger.email }}" } }
//! "#)?;
//! let plan = engine.deploy(scenario).await?;
//! let record = engine.execute(&plan, json!({ "email": "cto@big.test", "budget": 50000 })).await?;
//! assert_eq!(record.output, Some(json!({ "queue": "sales", "who": "cto@big.test" })));
//! # Ok(()) }
//! ```
//!
//! Secrets are [`secrecy`] types from the moment they are read until they go on the wire, and
//! never appear in `Debug`, `Display`, errors or serialized records.

pub mod action;
pub mod app;
mod audit;
pub mod clock;
#[cfg(feature = "code-js")]
pub mod code;
pub mod compile;
pub mod connection;
mod connection_manager;
pub mod context;
pub mod declarative;
pub mod delivery;
mod durations;
pub mod engine;
pub mod error;
pub mod expr;
pub mod http;
mod http_client;
pub mod key;
pub mod net;
pub mod node;
mod page;
pub mod rate_limit;
pub mod registry;
pub mod runtime;
pub mod scenario;
pub mod schema;
pub mod secret;
pub mod store;
pub mod trigger;

pub use action::{Action, ActionDef, ActionManifest};
pub use app::{App, AppConfig, AppManifest};
pub use connection::{Connection, ConnectionId, ConnectionRecord, ConnectionStatus, Credentials};
pub use context::Context;
pub use error::{Error, ErrorKind, Result, Violation};
pub use key::{Key, Reference};
pub use node::{Node, NodeOutput, Route, SharedOutput};
pub use registry::Registry;
pub use schema::Schema;
pub use trigger::{Trigger, TriggerDef, TriggerItem};

// Re-exported so that connector authors use the same versions Aura does.
pub use async_trait::async_trait;
pub use schemars;
pub use secrecy;
pub use semver;
pub use typetag;

// The README's examples are compiled (and run, unless marked `no_run`) as doctests, so that the
// front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
