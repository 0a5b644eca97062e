//! Deployed scenarios, versioned: every definition the engine deployed, by scenario id and
//! version, so that a restarted engine deploys them again
//! ([`Engine::load_deployed`](crate::engine::Engine::load_deployed)) and a re-run or a recovery
//! runs the version its execution recorded
//! ([`ExecutionRecord::scenario_version`](super::ExecutionRecord::scenario_version)).
//!
//! # What a version is
//!
//! A version is the scenario's declared [`version`](crate::scenario::Scenario::version):
//! the author bumps it on every change. Deploying a version again with the same definition
//! changes nothing (a restart, a second process deploying the same code); deploying it with a
//! different definition is refused with a [`Conflict`](crate::ErrorKind::Conflict) naming the
//! scenario and the version: bump the version. "The same definition" means equal as JSON (the
//! [`Scenario`](crate::scenario::Scenario) serialised), so formatting and key order do not
//! matter. The latest version of a scenario is its highest, not its last deployed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One deployed version of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployedScenario {
    /// The scenario.
    pub scenario_id: String,
    /// Its declared version.
    pub version: u32,
    /// The definition: the [`Scenario`](crate::scenario::Scenario) as JSON.
    pub definition: Value,
    /// When it was first deployed.
    pub deployed_at: DateTime<Utc>,
}

impl DeployedScenario {
    /// The definition of `scenario`, deployed now.
    pub fn of(scenario: &crate::scenario::Scenario) -> Result<Self> {
        let definition = serde_json::to_value(scenario)
            .map_err(|e| Error::internal("the scenario could not be serialized").with_source(e))?;
        Ok(Self {
            scenario_id: scenario.id.clone(),
            version: scenario.version,
            definition,
            deployed_at: Utc::now(),
        })
    }

    /// The definition as a [`Scenario`](crate::scenario::Scenario) again.
    pub fn scenario(&self) -> Result<crate::scenario::Scenario> {
        let text = serde_json::to_string(&self.definition)
            .map_err(|e| Error::internal("a stored scenario could not be serialized").with_source(e))?;
        crate::scenario::Scenario::from_json(&text).map_err(|e| {
            e.with_context("scenario", self.scenario_id.clone())
                .with_context("version", self.version.to_string())
        })
    }
}

/// The error of a version deployed again with another definition.
pub(crate) fn version_conflict(scenario_id: &str, version: u32) -> Error {
    Error::conflict(format!(
        "version {version} of scenario {scenario_id} is deployed already with another definition: \
         bump the scenario's version"
    ))
    .with_context("scenario", scenario_id.to_owned())
    .with_context("version", version.to_string())
}

/// Where deployed scenarios are kept (see the module docs). Implemented by
/// [`MemoryStore`](super::MemoryStore), `SqliteStore` and `PostgresStore`.
#[async_trait]
pub trait ScenarioStore: Send + Sync + 'static {
    /// Keeps a deployed version: `true` when it is new, `false` when this version was kept
    /// already with an equal definition; a different definition is a
    /// [`Conflict`](crate::ErrorKind::Conflict) naming scenario and version, and the kept one
    /// stays.
    async fn save_scenario(&self, deployed: &DeployedScenario) -> Result<bool>;

    /// One version of a scenario.
    async fn scenario(&self, scenario_id: &str, version: u32) -> Result<Option<DeployedScenario>>;

    /// A scenario's latest (highest) version.
    async fn latest_scenario(&self, scenario_id: &str) -> Result<Option<DeployedScenario>>;

    /// The latest version of every scenario, by scenario id.
    async fn latest_scenarios(&self) -> Result<Vec<DeployedScenario>>;

    /// Every version kept of a scenario, lowest first.
    async fn scenario_versions(&self, scenario_id: &str) -> Result<Vec<u32>>;
}
