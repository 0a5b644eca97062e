//! Behaviour suites: the same checks for every implementation of a store trait, each gated on
//! what the implementation declares it supports (OpenDAL's model).
//!
//! | suite | trait | entry point |
//! | --- | --- | --- |
//! | [`store`] | [`ExecutionStore`](aura_core::store::ExecutionStore) | [`store_behavior!`](crate::store_behavior) |
//! | [`sealed`] | [`SealedStore`](aura_core::connection::SealedStore) | [`sealed_behavior!`](crate::sealed_behavior) |
//! | [`triggers`] | [`TriggerStateStore`](aura_core::store::TriggerStateStore) | [`trigger_state_behavior!`](crate::trigger_state_behavior) |
//! | [`audit`] | [`AuditLog`](aura_core::store::AuditLog) | [`audit_behavior!`](crate::audit_behavior) |
//! | [`outbox`] | [`OutboxStore`](aura_core::store::OutboxStore) | [`outbox_behavior!`](crate::outbox_behavior) |
//! | [`scenarios`] | [`ScenarioStore`](aura_core::store::ScenarioStore) | [`scenario_store_behavior!`](crate::scenario_store_behavior) |
//! | [`connector`] | every connector of aura-connectors ([`App`](aura_core::App)) | [`connector_behavior!`](crate::connector_behavior) |
//! | [`rates`] | [`RateLimitStore`](aura_core::store::RateLimitStore) | its two check functions, called from a test |
//!
//! A backend's test file names a fixture (how to make a fresh, empty store and what it
//! supports) and invokes the macro, which writes one `#[tokio::test]` per check:
//!
//! ```
//! use std::sync::Arc;
//! use aura_core::store::MemoryStore;
//! use aura_testkit::behavior::store::StoreFixture;
//!
//! aura_testkit::store_behavior!(async { StoreFixture::new(Arc::new(MemoryStore::new())).keeps_exact(true) });
//! # fn main() {}
//! ```

pub mod audit;
pub mod connector;
pub mod outbox;
pub mod rates;
pub mod scenarios;
pub mod sealed;
pub mod store;
pub mod triggers;
