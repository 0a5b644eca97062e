//! Time, injectable: the router reads every instant and sleeps through aura-core's one
//! [`Clock`](aura_core::clock::Clock), re-exported here.

pub(crate) use aura_core::clock::to_nanos;
pub use aura_core::clock::{Clock, ManualClock, Sleep, SystemClock};
