//! Deployed scenarios: one row per scenario and version, written through the writer; the
//! [`ScenarioStore`] impl.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::SqliteStore;
use super::error::{from_sqlx, unreadable};
use super::rows::{json, nanos, time};
use super::writer::{Op, Reply};
use crate::error::{Error, Result};
use crate::store::scenarios::version_conflict;
use crate::store::{DeployedScenario, ScenarioStore};

const TABLE: &str = "scenarios";
const COLUMNS: &str = "id, version, definition, deployed_at";

/// A deployed version's columns, ready to bind.
#[derive(Debug)]
pub(super) struct ScenarioRow {
    id: String,
    version: i64,
    definition: Value,
    text: String,
    deployed_at: i64,
}

/// Keeps the version unless it is kept already: then an equal definition is `Changed(false)`,
/// another one a conflict (and the kept one stays).
pub(super) async fn save(conn: &mut SqliteConnection, row: &ScenarioRow) -> Result<Result<Reply>> {
    let failed = |e| from_sqlx(e, "keeping a deployed scenario", TABLE).with_context("scenario", row.id.clone());
    let done = sqlx::query(
        "INSERT INTO scenarios (id, version, definition, deployed_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (id, version) DO NOTHING",
    )
    .bind(row.id.as_str())
    .bind(row.version)
    .bind(row.text.as_str())
    .bind(row.deployed_at)
    .execute(&mut *conn)
    .await
    .map_err(failed)?;
    if done.rows_affected() == 1 {
        return Ok(Ok(Reply::Changed(true)));
    }
    let kept: String = sqlx::query_scalar("SELECT definition FROM scenarios WHERE id = ?1 AND version = ?2")
        .bind(row.id.as_str())
        .bind(row.version)
        .fetch_one(&mut *conn)
        .await
        .map_err(failed)?;
    let kept: Value = serde_json::from_str(&kept).map_err(|_| unreadable(TABLE, "definition"))?;
    if kept == row.definition {
        Ok(Ok(Reply::Changed(false)))
    } else {
        Ok(Err(version_conflict(
            &row.id,
            u32::try_from(row.version).unwrap_or(u32::MAX),
        )))
    }
}

fn deployed(row: &SqliteRow) -> Result<DeployedScenario> {
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

impl SqliteStore {
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
            .fetch_all(&self.inner.readers)
            .await
            .map_err(|e| from_sqlx(e, "reading deployed scenarios", TABLE))?;
        found.iter().map(deployed).collect()
    }
}

#[async_trait]
impl ScenarioStore for SqliteStore {
    async fn save_scenario(&self, d: &DeployedScenario) -> Result<bool> {
        let row = ScenarioRow {
            id: d.scenario_id.clone(),
            version: i64::from(d.version),
            definition: d.definition.clone(),
            text: json(&d.definition)?,
            deployed_at: nanos(d.deployed_at)?,
        };
        match self.inner.writer.write(Op::SaveScenario(Box::new(row))).await? {
            Reply::Changed(new) => Ok(new),
            _ => Err(Error::internal(
                "the SQLite writer answered a scenario write with something else",
            )),
        }
    }

    async fn scenario(&self, scenario_id: &str, version: u32) -> Result<Option<DeployedScenario>> {
        let sql = format!("SELECT {COLUMNS} FROM scenarios WHERE id = ?1 AND version = ?2");
        Ok(self.scenarios_where(sql, Some(scenario_id), Some(version)).await?.pop())
    }

    async fn latest_scenario(&self, scenario_id: &str) -> Result<Option<DeployedScenario>> {
        let sql = format!("SELECT {COLUMNS} FROM scenarios WHERE id = ?1 ORDER BY version DESC LIMIT 1");
        Ok(self.scenarios_where(sql, Some(scenario_id), None).await?.pop())
    }

    async fn latest_scenarios(&self) -> Result<Vec<DeployedScenario>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM scenarios AS s WHERE version = \
             (SELECT max(version) FROM scenarios WHERE id = s.id) ORDER BY id"
        );
        self.scenarios_where(sql, None, None).await
    }

    async fn scenario_versions(&self, scenario_id: &str) -> Result<Vec<u32>> {
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM scenarios WHERE id = ?1 ORDER BY version")
            .bind(scenario_id)
            .fetch_all(&self.inner.readers)
            .await
            .map_err(|e| from_sqlx(e, "reading deployed scenarios", TABLE))?;
        versions
            .into_iter()
            .map(|v| u32::try_from(v).map_err(|_| unreadable(TABLE, "version")))
            .collect()
    }
}
