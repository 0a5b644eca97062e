//! The executor's behaviour: every node kind, parallelism, retries, timeouts, error policies,
//! limits, cancellation, pinned data, breakpoints, re-runs, resumes and redaction.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::app::RateLimit;
use aura_core::connection::Credentials;
use aura_core::engine::{Engine, EventKind, ExecuteOptions};
use aura_core::scenario::{NodeBuilder, OnError, RetryPolicy, Scenario};
use aura_core::store::{ExecutionRecord, ExecutionStatus, NodeResult, NodeStatus};
use aura_core::{ActionDef, App, AppManifest, Context, ErrorKind};
use aura_testkit::{Failure, Harness, MockAction, MockApp};
use serde_json::{Value, json};

fn linear(id: &str, nodes: Vec<NodeBuilder>) -> Scenario {
    Scenario::builder(id, id).nodes(nodes).build()
}

async fn run(h: &Harness, scenario: Scenario, trigger: Value) -> ExecutionRecord {
    h.run(scenario, trigger).await.unwrap().record
}

fn status(r: &ExecutionRecord, node: &str) -> Option<NodeStatus> {
    r.node(node).map(|n| n.status)
}

mod compilation;
mod control;
mod debugging;
mod node_kinds;
mod records;
