//! Deployed scenarios: one row per scenario and version; the [`ScenarioStore`] impl.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::error::{from_sqlx, retrying, unreadable};
use super::rows::{json, nanos, time};
use crate::error::Result;
use crate::store::scenarios::version_conflict;
use crate::store::{DeployedScenario, ScenarioStore};

const TABLE: &str = "scenarios";
const COLUMNS: &str = "id, version, definition, deployed_at";

fn deployed(row: &PgRow) -> Result<DeployedScenario> {
    let get = |column: &'static str| move |_| unreadable(TABLE, column);
    let version: i64 = row.try_get("version").map_err(get("version"))?;
    let definition: String = row.try_get("definition").map_err(get("definition"))?;
    Ok(DeployedScenario {
        scenario_id: row.try_get("id").map_err(get("id"))?,
        version: u32::try_from(version).map_err(|_| unreadable(TABLE, "version"))?,
        definition: serde_json::from_str(&definition).map_err(|_| unreadable(TABLE, "definition"))?,
        deployed_at: time(row.try_get("deployed_at").map_err(get("deployed_at"))?),
    })
}

impl PostgresStore {
    async fn scenarios_where(
        &self,
        sql: String,
        id: Option<&str>,
        version: Option<u32>,
    ) -> Result<Vec<DeployedScenario>> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = id {
            q = q.bind(id.to_owned());
        }
        if let Some(version) = version {
            q = q.bind(i64::from(version));
        }
        let found = q
            .fetch_all(&self.inner.pool)
            .await
            .map_err(|e| from_sqlx(e, "reading deployed scenarios", TABLE))?;
        found.iter().map(deployed).collect()
    }
}

#[async_trait]
impl ScenarioStore for PostgresStore {
    async fn save_scenario(&self, d: &DeployedScenario) -> Result<bool> {
        let (text, at, version) = (json(&d.definition)?, nanos(d.deployed_at)?, i64::from(d.version));
        let done = retrying(|| {
            sqlx::query(
                "INSERT INTO scenarios (id, version, definition, deployed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id, version) DO NOTHING",
            )
            .bind(d.scenario_id.as_str())
            .bind(version)
            .bind(text.as_str())
            .bind(at)
            .execute(&self.inner.pool)
        })
        .await
        .map_err(|e| {
            from_sqlx(e, "keeping a deployed scenario", TABLE).with_context("scenario", d.scenario_id.clone())
        })?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        let kept = self
            .scenario(&d.scenario_id, d.version)
            .await?
            .map(|k| k.definition)
            .unwrap_or(Value::Null);
        if kept == d.definition {
            Ok(false)
        } else {
            Err(version_conflict(&d.scenario_id, d.version))
        }
    }

    async fn scenario(&self, scenario_id: &str, version: u32) -> Result<Option<DeployedScenario>> {
        let sql = format!("SELECT {COLUMNS} FROM scenarios WHERE id = $1 AND version = $2");
        Ok(self.scenarios_where(sql, Some(scenario_id), Some(version)).await?.pop())
    }

    async fn latest_scenario(&self, scenario_id: &str) -> Result<Option<DeployedScenario>> {
        let sql = format!("SELECT {COLUMNS} FROM scenarios WHERE id = $1 ORDER BY version DESC LIMIT 1");
        Ok(self.scenarios_where(sql, Some(scenario_id), None).await?.pop())
    }

    async fn latest_scenarios(&self) -> Result<Vec<DeployedScenario>> {
        let sql = format!("SELECT DISTINCT ON (id) {COLUMNS} FROM scenarios ORDER BY id, version DESC");
        self.scenarios_where(sql, None, None).await
    }

    async fn scenario_versions(&self, scenario_id: &str) -> Result<Vec<u32>> {
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM scenarios WHERE id = $1 ORDER BY version")
            .bind(scenario_id)
            .fetch_all(&self.inner.pool)
            .await
            .map_err(|e| from_sqlx(e, "reading deployed scenarios", TABLE))?;
        versions
            .into_iter()
            .map(|v| u32::try_from(v).map_err(|_| unreadable(TABLE, "version")))
            .collect()
    }
}
