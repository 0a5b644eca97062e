//! Scenarios: multi-step workflows, written in Rust with [`ScenarioBuilder`] or loaded from JSON
//! or YAML — one serde model for all three.
//!
//! ```yaml
//! id: lead_pipeline
//! name: Lead pipeline
//! settings: { max_concurrent: 10, error_policy: { retries: 3 } }
//! nodes:
//!   - id: form
//!     kind: trigger
//!     next: [create_contact]
//!   - id: create_contact
//!     kind: action
//!     config: { action: crm.create_contact }
//!     connection: crm-main
//!     input: { email: "{{ trigger.email }}", name: "{{ trigger.name }}" }
//!     next: [hot_lead]
//!     on_error: { route: [log_failure] }
//!   - id: hot_lead
//!     kind: if
//!     config: { condition: "trigger.score >= 50" }
//!     routes: { "true": [follow_up] }
//!   - id: follow_up
//!     kind: action
//!     config: { action: crm.create_task }
//!     input: { contact_id: "{{ steps.create_contact.output.id }}" }
//!   - id: log_failure
//!     kind: set
//!     input: { failed: "{{ steps.create_contact.output.error.message }}" }
//! ```

mod builder;
pub mod nodes;
mod on_error;
mod retry;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::builder::{NodeBuilder, ScenarioBuilder};
pub use self::on_error::OnError;
pub use self::retry::{RetryPolicy, RetryPolicyBuilder};
use crate::connection::ConnectionId;
use crate::error::{Error, Result};
use crate::node::Node;

/// A scenario definition.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Stable id (`"lead_pipeline"`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Bumped on every change; recorded with each execution.
    #[serde(default = "one")]
    pub version: u32,
    /// Its state: only an active scenario fires on its triggers (see [`ScenarioStatus`]).
    #[serde(default)]
    pub status: ScenarioStatus,
    /// Limits and error policy.
    #[serde(default)]
    pub settings: Settings,
    /// The steps, the trigger first.
    pub nodes: Vec<NodeDef>,
}

fn one() -> u32 {
    1
}

impl Scenario {
    /// Starts building a scenario in Rust.
    pub fn builder(id: impl Into<String>, name: impl Into<String>) -> ScenarioBuilder {
        ScenarioBuilder::new(id, name)
    }

    /// Reads a scenario from JSON; a failure names the line, column and path.
    pub fn from_json(text: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = crate::error::json_pointer(e.path());
            let inner = e.into_inner();
            Error::invalid_definition(format!(
                "the scenario JSON is invalid at line {}, column {}: {inner}",
                inner.line(),
                inner.column()
            ))
            .with_context("field", path)
        })
    }

    /// Reads a scenario from YAML (with `serde_norway`, the maintained successor of the
    /// deprecated `serde_yaml`).
    pub fn from_yaml(text: &str) -> Result<Self> {
        let de = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = crate::error::json_pointer(e.path());
            Error::invalid_definition(format!("the scenario YAML is invalid: {}", e.into_inner()))
                .with_context("field", path)
        })
    }

    /// Writes the scenario as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::internal("the scenario could not be serialized").with_source(e))
    }
}

/// The state a scenario's author gives it: active, draft, paused, or switched off after errors.
///
/// The [trigger runtime](crate::runtime::TriggerRuntime) enforces it: only an active scenario
/// has its webhook served, its schedule fired and its app polled; activating a scenario of
/// another status removes what it had registered. [`crate::engine::Engine::execute`] and
/// `start` run a scenario whatever its status (a direct call is the author's own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioStatus {
    /// Runs on its triggers (the default).
    #[default]
    Active,
    /// Being edited: runs only when called directly.
    Draft,
    /// Switched off by its owner.
    Paused,
    /// Switched off after repeated failures (set by its owner or a host's policy): fires
    /// nothing.
    Error,
}

/// A scenario's limits and error policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// An execution running longer is cancelled and fails (default 5 minutes).
    #[serde(
        default = "five_minutes",
        rename = "max_duration_secs",
        with = "crate::durations::secs"
    )]
    pub max_duration: Duration,
    /// At most this many executions run at once; extra ones wait, in order (default: no limit).
    /// In one engine, started ones wait for a slot; across processes sharing a store, workers
    /// ([`crate::engine::Engine::work`]) claim queued ones only while fewer than this many run
    /// anywhere (see [`crate::store::ConcurrencyLimits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// What happens on errors.
    #[serde(default)]
    pub error_policy: ErrorPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_duration: five_minutes(),
            max_concurrent: None,
            error_policy: ErrorPolicy::default(),
        }
    }
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// How a scenario deals with failing nodes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorPolicy {
    /// How many times a node whose error is retryable is tried again (exponential backoff with
    /// jitter, honouring `Retry-After`), unless the node sets its own `retry`.
    #[serde(default)]
    pub retries: u32,
    /// A scenario to run with the failed execution's details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_scenario: Option<String>,
    /// Whether an action that is not idempotent, and was in flight when the process stopped,
    /// is called again when the execution is recovered. Default `false`: it may have run, so
    /// the node fails with an error saying so (kind `Conflict`, context `may_have_run`); check
    /// the service, then [`rerun`](crate::engine::Engine::rerun) the execution.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rerun_in_flight: bool,
}

/// One node of a scenario: what it is (`kind` + `config`), its connection, how its input is
/// built, and where it leads.
///
/// In JSON, `config` may be left out for kinds that need none (`set`, `merge`, `trigger`).
#[derive(Debug)]
pub struct NodeDef {
    /// Unique within the scenario.
    pub id: String,
    /// The node itself: `{"kind": "...", "config": {...}}`.
    pub node: Box<dyn Node>,
    /// The connection its app calls run with.
    pub connection: Option<ConnectionId>,
    /// How its input is built (see [`crate::expr`]); without one it receives its predecessor's
    /// output (an object keyed by predecessor id when it has several).
    pub input: Option<Value>,
    /// The nodes that follow it.
    pub next: Vec<String>,
    /// For branching nodes: the nodes that follow each named route.
    pub routes: BTreeMap<String, Vec<String>>,
    /// What happens when it fails.
    pub on_error: OnError,
    /// Its own retry policy, instead of the scenario's.
    pub retry: Option<RetryPolicy>,
    /// How long one attempt may take (default: no limit below the scenario's max duration).
    pub timeout: Option<Duration>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodeDef {
    /// Unique within the scenario.
    id: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config: Option<Value>,
    /// The connection its app calls run with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connection: Option<ConnectionId>,
    /// How its input is built (see [`crate::expr`]); without one it receives its predecessor's
    /// output (an object keyed by predecessor id when it has several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input: Option<Value>,
    /// The nodes that follow it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    next: Vec<String>,
    /// For branching nodes: the nodes that follow each named route.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    routes: BTreeMap<String, Vec<String>>,
    /// What happens when it fails.
    #[serde(default, skip_serializing_if = "OnError::is_stop")]
    on_error: OnError,
    /// Its own retry policy, instead of the scenario's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry: Option<RetryPolicy>,
    /// How long one attempt may take (default: no limit below the scenario's max duration).
    #[serde(
        default,
        rename = "timeout_secs",
        with = "crate::durations::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    timeout: Option<Duration>,
}

impl TryFrom<RawNodeDef> for NodeDef {
    type Error = Error;

    fn try_from(raw: RawNodeDef) -> Result<Self> {
        let config = raw.config.unwrap_or_else(|| Value::Object(serde_json::Map::new()));
        let node: Box<dyn Node> = serde_json::from_value(serde_json::json!({ "kind": raw.kind, "config": config }))
            .map_err(|e| {
                // Node kinds that exist behind a cargo feature say which.
                let hint = match raw.kind.as_str() {
                    "code" if !cfg!(feature = "code-js") => " (the code node needs aura-core's `code-js` feature)",
                    _ => "",
                };
                Error::invalid_definition(format!("node {:?} of kind {:?}: {e}{hint}", raw.id, raw.kind))
                    .with_context("node", raw.id.clone())
            })?;
        Ok(Self {
            id: raw.id,
            node,
            connection: raw.connection,
            input: raw.input,
            next: raw.next,
            routes: raw.routes,
            on_error: raw.on_error,
            retry: raw.retry,
            timeout: raw.timeout,
        })
    }
}

impl Serialize for NodeDef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let tagged = serde_json::to_value(&self.node).map_err(serde::ser::Error::custom)?;
        let kind = tagged
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let config = tagged
            .get("config")
            .cloned()
            .filter(|c| c.as_object().is_none_or(|m| !m.is_empty()) && !c.is_null());
        RawNodeDef {
            id: self.id.clone(),
            kind,
            config,
            connection: self.connection.clone(),
            input: self.input.clone(),
            next: self.next.clone(),
            routes: self.routes.clone(),
            on_error: self.on_error.clone(),
            retry: self.retry.clone(),
            timeout: self.timeout,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for NodeDef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Self::try_from(RawNodeDef::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
