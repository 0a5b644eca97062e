//! # aura-router
//!
//! Capability routing for Aura. A request names a capability (`chat`, `upload`, `analytics` …)
//! and an operation (`complete`, `publish` …); the router picks a provider by a strategy, fails
//! over on retryable errors, can run several providers at once, ejects the ones that fail and
//! brings them back through a half-open probe, and tracks latency, cost and budgets. Every call
//! leaves a [`Decision`] record that says who could serve it, their scores, why each excluded
//! one was excluded, the pick, and every attempt with its outcome and cost.
//!
//! Selection takes no global lock: the provider table is a copy-on-write snapshot read once per
//! call, and every counter is an atomic of its own provider and operation.
//!
//! ## From `cargo add` to a routed call
//!
//! ```toml
//! [dependencies]
//! aura-router = "0.1"
//! aura-core = "0.1"
//! tokio = { version = "1", features = ["macros", "rt"] }
//! ```
//!
//! Register providers, each serving some operations (an aura-core [`Action`](aura_core::Action)
//! or any async function), with a weight, a cost model and limits; then execute requests:
//!
//! ```
//! use std::time::Duration;
//! use aura_core::{Error, ErrorKind};
//! use aura_router::{CostModel, FailoverPolicy, Operation, Provider, Request, Router};
//! use serde_json::{Value, json};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aura_core::Result<()> {
//! // Two chat providers: a cheap one that is down, and a dearer one that works.
//! let cheap = Provider::builder("cheap")
//!     .weight(3)
//!     .cost(CostModel::per_call(0.0).per_unit("/usage/total_tokens", 1e-6))
//!     .operation(
//!         Operation::new("chat", "complete", |_cx, _input: Value| async move {
//!             Err::<Value, _>(Error::unavailable("connection refused"))
//!         })
//!         .idempotent(true),
//!     )
//!     .build()?;
//! let dear = Provider::builder("dear")
//!     .weight(1)
//!     .cost(CostModel::per_call(0.0).per_unit("/usage/total_tokens", 3e-6))
//!     .operation(
//!         Operation::new("chat", "complete", |_cx, input: Value| async move {
//!             Ok(json!({ "text": format!("re: {}", input["prompt"]), "usage": { "total_tokens": 500 } }))
//!         })
//!         .idempotent(true),
//!     )
//!     .build()?;
//!
//! let router = Router::builder()
//!     .seed(7) // deterministic picks
//!     .failover(FailoverPolicy::default().max_attempts(3).deadline(Duration::from_secs(30)))
//!     .provider(cheap)
//!     .provider(dear)
//!     .build()?;
//!
//! let routed = router
//!     .execute(Request::new("chat", "complete", json!({ "prompt": "hello" })).prefer(["cheap"]))
//!     .await?;
//! assert_eq!(routed.provider, "dear");
//! assert_eq!(routed.value["text"], "re: \"hello\"");
//!
//! // The record explains it: "cheap" was tried first (preferred) and failed over.
//! let attempts = routed.decision.attempts();
//! assert_eq!(attempts[0].provider, "cheap");
//! assert_eq!(attempts[1].provider, "dear");
//! assert!((routed.decision.cost() - 0.0015).abs() < 1e-12);
//! println!("{}", routed.decision);
//!
//! // Bad input does not fail over: it would be just as bad elsewhere.
//! let router2 = Router::builder()
//!     .provider(
//!         Provider::builder("strict")
//!             .operation(Operation::new("chat", "complete", |_cx, _input: Value| async move {
//!                 Err::<Value, _>(Error::invalid_input("prompt is required", vec![]))
//!             }))
//!             .build()?,
//!     )
//!     .build()?;
//! let err = router2.execute(Request::new("chat", "complete", json!({}))).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::InvalidInput);
//! assert_eq!(err.decision().attempts().len(), 1);
//!
//! // Counters, latency percentiles, cost and health of every provider operation:
//! let snapshot = router.snapshot();
//! assert_eq!(snapshot.provider("dear").map(|p| p.successes()), Some(1));
//! # Ok(()) }
//! ```
//!
//! ## What is where
//!
//! | concept | here |
//! | --- | --- |
//! | the router, its builder, its handle for scenarios | [`Router`], [`RouterBuilder`], [`RouterHandle`] |
//! | a call and its answer | [`Request`], [`Routed`], [`RouteError`], [`Broadcast`] |
//! | providers and what they serve, cost and limits | [`provider`]: [`Provider`], [`Operation`], [`CostModel`], [`RateLimit`] |
//! | choosing a provider | [`select`]: [`Strategy`](select::Strategy) and the built-in strategies |
//! | failover, retry budget, back-off | [`failover`]: [`FailoverPolicy`], [`RetryBudget`] |
//! | outlier ejection, half-open probes, active checks, panic rule | [`health`]: [`HealthPolicy`], [`HealthChecks`] |
//! | several providers at once | [`Router::execute_parallel`], [`Router::execute_all`], [`Hedging`] |
//! | counters, latency, cost, budgets, metrics | [`track`]: [`RouterSnapshot`], [`Budget`] |
//! | why a call went where it went | [`Decision`], [`Exclusion`], [`Note`] |
//! | time, injectable | [`Clock`], [`SystemClock`], [`ManualClock`] |
//! | a scenario step `router:<capability>.<operation>` | [`RouterNode`] (kind `"router"`) |
//! | scripted providers for tests (feature `testing`) | `testing` |
//!
//! ## Calls in parallel
//!
//! [`Router::execute_parallel`] runs the `n` best providers at once and returns the first
//! success, cancelling the others; [`Router::execute_all`] returns every answer that arrives
//! within the deadline; with [`Hedging`], a call whose first attempt is slower than its
//! provider's recent p95 gets a second attempt elsewhere. The cost of every attempt counts,
//! losers included. None of this happens to an operation that is not idempotent unless the
//! request carries an idempotency key the operation
//! [honours](Operation::honours_idempotency_key), and neither does a retry after an error
//! that [may have been accepted](aura_core::Error::may_have_been_accepted) (a timeout, a 503 or
//! any 5xx answer, a dropped connection).
//!
//! ## In scenarios
//!
//! A scenario node `{"kind": "router", "config": {"route": "chat.complete"}}` calls the route
//! through the router the host attached to the context as a [`RouterHandle`]; see
//! [`RouterNode`].
//!
//! ## Testing
//!
//! With the `testing` feature (or aura-testkit, which re-exports it), `testing::ScriptedProvider`
//! scripts answers, latency distributions, error sequences, 429s with `Retry-After` and hangs,
//! and a [`ManualClock`] shared by the router and the providers makes all of it run in virtual
//! time. Seed the router ([`RouterBuilder::seed`]) and every pick is reproducible.

// Layers, lowest first (`python3 .ci/cycles.py` keeps them acyclic): shared vocabulary
// (`clock`, `millis`, `health`, `failover`, `provider`), tracking (`track`), the provider
// table and its live state (`table`), the decision record and selection (`decision`,
// `select`), a call (`request`), and on top the router and its scenario node.
mod clock;
mod decision;
pub mod failover;
pub mod health;
mod millis;
mod node;
pub mod provider;
mod request;
mod router;
pub mod select;
mod table;
#[cfg(feature = "testing")]
pub mod testing;
pub mod track;

pub use self::clock::{Clock, ManualClock, Sleep, SystemClock};
pub use self::decision::{AttemptKind, AttemptOutcome, AttemptRecord, CandidateRecord, Decision, Exclusion, Note};
pub use self::failover::{Backoff, FailoverAction, FailoverPolicy, RetryBudget};
pub use self::health::{FailureRate, HealthChecks, HealthPolicy, HealthStatus};
pub use self::node::RouterNode;
pub use self::provider::{Cost, CostModel, Meter, Operation, Provider, ProviderBuilder, ProviderId, RateLimit};
pub use self::request::Request;
pub use self::router::{
    Broadcast, DecisionHook, HealthCheckTask, Hedging, RouteError, Routed, Router, RouterBuilder, RouterHandle,
};
pub use self::track::{Budget, RouterSnapshot};

/// Re-exported: strategies draw from [`rand::rngs::SmallRng`].
pub use rand;
