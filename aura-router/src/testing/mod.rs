//! Test doubles for routed calls (cargo feature `testing`; aura-testkit re-exports them).
//!
//! | idea | here |
//! | --- | --- |
//! | a provider that answers from a script | [`ScriptedProvider`] |
//! | how long its calls take | [`Latency`] |
//! | how its calls fail | [`Fault`] |
//! | what it received | [`ScriptedCall`] |
//!
//! Time comes from a [`Clock`](crate::Clock): give the provider and the router the same
//! [`ManualClock`](crate::ManualClock) and latencies, ejections and cool-downs all happen in
//! virtual time.

mod latency;
mod scripted;

pub use self::latency::Latency;
pub use self::scripted::{Fault, ScriptedCall, ScriptedProvider};
