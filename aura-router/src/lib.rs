//! # aura-router
//!
//! Capability routing for Aura: a request names a capability (`CHAT_COMPLETION`, `UPLOAD` …)
//! and an operation; the router picks a provider by weighted scoring, fails over on retryable
//! errors, can call several providers in parallel, and tracks health, latency and cost.
//!
//! **Status: not yet implemented.** This crate is a placeholder so that the workspace has its
//! final shape; the router arrives with its own issue and will bring:
//!
//! - providers (an aura-core action per operation, or any async function) with weights,
//!   priority tiers, cost models, tags, in-flight limits and per-operation idempotency;
//! - selection strategies: weighted random, score-based (peak-EWMA latency, in-flight, cost,
//!   health, budget), lowest latency, lowest cost, ordered priority, power of two choices, and
//!   a user-defined strategy trait;
//! - failover with a retry budget, outlier ejection with half-open probes, hedging;
//! - a decision record for every routed call, and a scenario node `router:<capability>.<operation>`.
//!
//! It depends only on aura-core.
