//! Scripted router providers and the fake clock, for router tests and users' tests.
//!
//! They live in aura-router (behind its `testing` feature, which this crate turns on) so that
//! the router's own tests use the same doubles; this module re-exports them next to the rest
//! of the testkit.
//!
//! ```
//! use std::time::Duration;
//! use aura_core::ErrorKind;
//! use aura_router::{Request, Router};
//! use aura_testkit::{Latency, ManualClock, ScriptedProvider};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aura_core::Result<()> {
//! let clock = ManualClock::new();
//! let primary = ScriptedProvider::new("primary")
//!     .clock(clock.clone())
//!     .latency(Latency::ms(200))
//!     .then_rate_limit(Duration::from_secs(30));
//! let backup = ScriptedProvider::new("backup").clock(clock.clone()).returns(json!({ "ok": true }));
//! let router = Router::builder()
//!     .clock(clock.clone())
//!     .provider(primary.provider("chat", "complete").priority(0).build()?)
//!     .provider(backup.provider("chat", "complete").priority(1).build()?)
//!     .strategy(aura_router::select::Priority::in_order())
//!     .build()?;
//!
//! let routed = router.execute(Request::new("chat", "complete", json!({}))).await?;
//! assert_eq!(routed.provider, "backup");
//! assert_eq!(primary.call_count(), 1);
//! assert!(matches!(
//!     routed.decision.attempts()[0].outcome,
//!     aura_router::AttemptOutcome::Failed { kind: ErrorKind::RateLimited, .. }
//! ));
//! # Ok(()) }
//! ```

pub use aura_router::ManualClock;
pub use aura_router::testing::{Fault, Latency, ScriptedCall, ScriptedProvider};
