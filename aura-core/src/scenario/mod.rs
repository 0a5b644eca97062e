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

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::builder::{NodeBuilder, ScenarioBuilder};
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
    /// Its state (data only today: see [`ScenarioStatus`]).
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
/// Today it is data only: it is loaded, written and kept with the [`Scenario`], and nothing
/// reads it. The compiler does not look at it, and [`crate::engine::Engine::deploy`],
/// `execute` and `start` run a scenario whatever its status. The trigger runtime that starts
/// scenarios on their webhooks, polls and schedules (a later issue) is what will enforce it;
/// the variants say what it will do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioStatus {
    /// Meant to run on its triggers (the default).
    #[default]
    Active,
    /// Being edited; meant to run only when called directly.
    Draft,
    /// Switched off by its owner.
    Paused,
    /// Meant for a scenario switched off after repeated failures (nothing sets it yet).
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
                Error::invalid_definition(format!("node {:?} of kind {:?}: {e}", raw.id, raw.kind))
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

/// What happens when a node fails (after its retries).
///
/// One shape in JSON and YAML: the word `stop` or `continue`, or a map with the one key `route`
/// (`on_error: { route: [handler] }`, `"on_error": {"route": ["handler"]}`). YAML's tag form
/// `!route [handler]` is read too; a scenario is always written in the map form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// The execution fails (default).
    #[default]
    Stop,
    /// The error becomes the node's output (`{"error": {...}}`) and the execution goes on.
    Continue,
    /// The execution goes on along these nodes instead, with the error as the node's output.
    Route(Vec<String>),
}

impl OnError {
    fn is_stop(&self) -> bool {
        matches!(self, Self::Stop)
    }
}

const ON_ERROR_SHAPES: &str = "`stop`, `continue` or `{ route: [node ids] }`";

impl Serialize for OnError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Stop => s.serialize_str("stop"),
            Self::Continue => s.serialize_str("continue"),
            Self::Route(targets) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("route", targets)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OnError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(OnErrorVisitor)
    }
}

struct OnErrorVisitor;

impl OnErrorVisitor {
    fn word<E: serde::de::Error>(word: &str) -> std::result::Result<OnError, E> {
        match word {
            "stop" => Ok(OnError::Stop),
            "continue" => Ok(OnError::Continue),
            other => Err(E::custom(format!("unknown on_error {other:?}: expected {ON_ERROR_SHAPES}"))),
        }
    }
}

impl<'de> serde::de::Visitor<'de> for OnErrorVisitor {
    type Value = OnError;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(ON_ERROR_SHAPES)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<OnError, E> {
        Self::word(v)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<OnError, A::Error> {
        use serde::de::Error as _;
        let Some(key) = map.next_key::<String>()? else {
            return Err(A::Error::custom(format!("an empty on_error map: expected {ON_ERROR_SHAPES}")));
        };
        let value = match key.as_str() {
            "route" => OnError::Route(map.next_value()?),
            // `{ stop: null }` / `{ continue: null }`: the unit variants as a map, as serde writes
            // them in some formats.
            "stop" | "continue" => {
                map.next_value::<serde::de::IgnoredAny>()?;
                Self::word(&key)?
            }
            other => {
                return Err(A::Error::custom(format!(
                    "unknown on_error key {other:?}: expected {ON_ERROR_SHAPES}"
                )));
            }
        };
        if map.next_key::<String>()?.is_some() {
            return Err(A::Error::custom(format!("on_error has one key: expected {ON_ERROR_SHAPES}")));
        }
        Ok(value)
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> std::result::Result<OnError, A::Error> {
        use serde::de::VariantAccess;
        let (tag, variant) = data.variant::<String>()?;
        match tag.as_str() {
            "route" => Ok(OnError::Route(variant.newtype_variant()?)),
            word => {
                let value = Self::word(word)?;
                variant.unit_variant()?;
                Ok(value)
            }
        }
    }
}

/// How a node is retried: `retries` retries after the first attempt, the delay starting at
/// `base_delay` and doubling (with jitter) up to `max_delay`.
///
/// The delays are capped by `max_delay` from the first retry on: a `base_delay` larger than
/// `max_delay` is cut down to it ([`RetryPolicy::capped`]; the builder and the compiler apply
/// it, so a policy read from JSON or YAML follows the same rule).
///
/// ```
/// use std::time::Duration;
/// use aura_core::scenario::RetryPolicy;
///
/// let policy = RetryPolicy::builder(4)
///     .base_delay(Duration::from_secs(10))
///     .max_delay(Duration::from_secs(2))
///     .build();
/// assert_eq!(policy.base_delay, Duration::from_secs(2));
/// assert_eq!(policy.delay(1), Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first delay (default 200 ms); it doubles each time, with jitter.
    #[serde(default = "base_delay", rename = "base_delay_ms", with = "crate::durations::millis")]
    pub base_delay: Duration,
    /// The longest delay (default 30 s).
    #[serde(default = "max_delay", rename = "max_delay_ms", with = "crate::durations::millis")]
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// `retries` retries with the default delays.
    pub fn new(retries: u32) -> Self {
        Self {
            retries,
            base_delay: base_delay(),
            max_delay: max_delay(),
        }
    }

    /// Starts a policy of `retries` retries (default delays: 200 ms doubling up to 30 s).
    pub fn builder(retries: u32) -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: Self::new(retries),
        }
    }

    /// The policy with `base_delay` cut down to `max_delay` when it is larger.
    #[must_use]
    pub fn capped(mut self) -> Self {
        self.base_delay = self.base_delay.min(self.max_delay);
        self
    }

    /// The delay before retry `retry` (1 for the first), before jitter: `base_delay` doubled
    /// `retry - 1` times, never more than `max_delay`.
    pub fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// Builds a [`RetryPolicy`]; see [`RetryPolicy::builder`].
#[derive(Clone, Debug)]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl RetryPolicyBuilder {
    /// The first delay (default 200 ms); capped by the max delay.
    #[must_use]
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.policy.base_delay = delay;
        self
    }

    /// The longest delay, from the first retry on (default 30 s).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.policy.max_delay = delay;
        self
    }

    /// The policy, its base delay capped by the max delay.
    pub fn build(self) -> RetryPolicy {
        self.policy.capped()
    }
}

fn base_delay() -> Duration {
    Duration::from_millis(200)
}

fn max_delay() -> Duration {
    Duration::from_secs(30)
}
