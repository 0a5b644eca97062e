//! The actions: typed inputs and outputs, one handler each. Statements built here
//! ([`super::sql`]) are checked before any connection is made.

use std::sync::Arc;

use aura_core::{Context, Error, Result, Violation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::PostgresState;
use super::core::{self, Session};
use super::sql::{self, Statement};

/// The most rows an action returns unless it says otherwise.
pub const DEFAULT_MAX_ROWS: u32 = 10_000;

/// What a statement returned.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct QueryOutput {
    /// The rows, each an object of column name to value (see the type mapping in the module
    /// docs; a later column of the same name wins).
    pub rows: Vec<Map<String, Value>>,
    /// Rows returned, or rows affected for a statement that returns none (`UPDATE` without
    /// `RETURNING`).
    pub row_count: u64,
    /// Whether more rows than `max_rows` came back and the rest were left out.
    pub truncated: bool,
}

/// `postgres.query`: one SQL statement with bound parameters.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryInput {
    /// One SQL statement; values go in `$1`, `$2` … and in `params`, never in the text.
    #[schemars(length(min = 1))]
    pub sql: String,
    /// The values of `$1..$n`, in order, each bound as the type PostgreSQL infers for it.
    #[serde(default)]
    pub params: Vec<Value>,
    /// The most rows to return (default 10 000); more are left out and `truncated` is true.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_rows: Option<u32>,
}

/// Rows to write: one (`row`) or several (`rows`).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteInput {
    /// The table, plain or schema-qualified (`orders`, `sales.orders`); names are exact
    /// (case-sensitive).
    pub table: String,
    /// One row: column name to value.
    #[serde(default)]
    pub row: Option<Map<String, Value>>,
    /// Several rows; a column missing from a row gets its `DEFAULT`.
    #[serde(default)]
    pub rows: Option<Vec<Map<String, Value>>>,
    /// Columns to return (`["*"]` for all); default none.
    #[serde(default)]
    pub returning: Option<Vec<String>>,
}

impl WriteInput {
    fn rows(&self) -> Result<Vec<Map<String, Value>>> {
        match (&self.row, &self.rows) {
            (Some(row), None) => Ok(vec![row.clone()]),
            (None, Some(rows)) => Ok(rows.clone()),
            _ => Err(Error::invalid_input(
                "give either `row` or `rows`",
                vec![Violation::new("/rows", "exactly one of `row` and `rows` is required")],
            )),
        }
    }
}

/// `postgres.upsert`: rows inserted, or updated where they conflict.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertInput {
    /// The table, plain or schema-qualified.
    pub table: String,
    /// One row.
    #[serde(default)]
    pub row: Option<Map<String, Value>>,
    /// Several rows.
    #[serde(default)]
    pub rows: Option<Vec<Map<String, Value>>>,
    /// The columns of the unique constraint or primary key that decides a conflict.
    #[schemars(length(min = 1))]
    pub on_conflict: Vec<String>,
    /// The columns to overwrite on a conflict (default: every written column not in
    /// `on_conflict`; none means `DO NOTHING`).
    #[serde(default)]
    pub update: Option<Vec<String>>,
    /// Columns to return (`["*"]` for all).
    #[serde(default)]
    pub returning: Option<Vec<String>>,
}

/// `postgres.update`: set columns on the rows matching `where`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInput {
    /// The table, plain or schema-qualified.
    pub table: String,
    /// Column name to new value.
    pub set: Map<String, Value>,
    /// Column name to value, all of which must match (`null` matches `IS NULL`); required.
    #[serde(rename = "where")]
    pub filter: Map<String, Value>,
    /// Columns to return (`["*"]` for all).
    #[serde(default)]
    pub returning: Option<Vec<String>>,
}

/// `postgres.delete`: delete the rows matching `where`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    /// The table, plain or schema-qualified.
    pub table: String,
    /// Column name to value, all of which must match (`null` matches `IS NULL`); required.
    #[serde(rename = "where")]
    pub filter: Map<String, Value>,
    /// Columns to return (`["*"]` for all).
    #[serde(default)]
    pub returning: Option<Vec<String>>,
}

/// `postgres.call`: a function called with bound arguments.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallInput {
    /// The function, plain or schema-qualified (`now`, `billing.close_month`).
    pub function: String,
    /// Its arguments, in order, bound as the types PostgreSQL resolves.
    #[serde(default)]
    pub args: Vec<Value>,
}

/// One statement of a transaction.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionStatement {
    /// One SQL statement.
    #[schemars(length(min = 1))]
    pub sql: String,
    /// The values of its `$1..$n`.
    #[serde(default)]
    pub params: Vec<Value>,
}

/// The isolation level of a transaction.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// PostgreSQL's default.
    #[default]
    ReadCommitted,
    /// One snapshot for the whole transaction.
    RepeatableRead,
    /// As if transactions ran one after another (may fail with a retryable serialization
    /// error, `Unavailable`).
    Serializable,
}

/// `postgres.transaction`: several statements, all or nothing.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionInput {
    /// The statements, run in order in one transaction: if one fails, none is kept.
    #[schemars(length(min = 1))]
    pub statements: Vec<TransactionStatement>,
    /// The isolation level (default `read_committed`).
    #[serde(default)]
    pub isolation: Isolation,
}

/// What a transaction returned: each statement's result, in order.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct TransactionOutput {
    /// One result per statement.
    pub results: Vec<QueryOutput>,
}

fn max_rows(given: Option<u32>) -> usize {
    given.unwrap_or(DEFAULT_MAX_ROWS) as usize
}

/// Runs one statement on a pooled connection.
async fn run_one(state: &PostgresState, cx: &Context, statement: &Statement, limit: usize) -> Result<QueryOutput> {
    let session: Session = state.pools.session(cx)?;
    let mut conn = session.acquire().await?;
    core::run(&mut conn, &session, &statement.sql, &statement.params, limit).await
}

/// `postgres.query`.
pub(crate) async fn query(state: Arc<PostgresState>, cx: Context, input: QueryInput) -> Result<QueryOutput> {
    let statement = Statement {
        sql: input.sql,
        params: input.params,
    };
    run_one(&state, &cx, &statement, max_rows(input.max_rows)).await
}

/// `postgres.insert`.
pub(crate) async fn insert(state: Arc<PostgresState>, cx: Context, input: WriteInput) -> Result<QueryOutput> {
    let statement = sql::insert(&input.table, &input.rows()?, input.returning.as_deref())?;
    run_one(&state, &cx, &statement, usize::MAX).await
}

/// `postgres.upsert`.
pub(crate) async fn upsert(state: Arc<PostgresState>, cx: Context, input: UpsertInput) -> Result<QueryOutput> {
    let rows = WriteInput {
        table: input.table.clone(),
        row: input.row,
        rows: input.rows,
        returning: None,
    }
    .rows()?;
    let statement = sql::upsert(
        &input.table,
        &rows,
        &input.on_conflict,
        input.update.as_deref(),
        input.returning.as_deref(),
    )?;
    run_one(&state, &cx, &statement, usize::MAX).await
}

/// `postgres.update`.
pub(crate) async fn update(state: Arc<PostgresState>, cx: Context, input: UpdateInput) -> Result<QueryOutput> {
    let statement = sql::update(&input.table, &input.set, &input.filter, input.returning.as_deref())?;
    run_one(&state, &cx, &statement, usize::MAX).await
}

/// `postgres.delete`.
pub(crate) async fn delete(state: Arc<PostgresState>, cx: Context, input: DeleteInput) -> Result<QueryOutput> {
    let statement = sql::delete(&input.table, &input.filter, input.returning.as_deref())?;
    run_one(&state, &cx, &statement, usize::MAX).await
}

/// `postgres.call`.
pub(crate) async fn call(state: Arc<PostgresState>, cx: Context, input: CallInput) -> Result<QueryOutput> {
    let statement = sql::call(&input.function, &input.args)?;
    run_one(&state, &cx, &statement, max_rows(None)).await
}

/// `postgres.transaction`: `BEGIN`, each statement, `COMMIT`; the first failure rolls back and
/// is returned with the failing statement's index in its context (`statement`). A transaction
/// dropped half-way (cancelled, timed out) is rolled back by sqlx before its connection is used
/// again.
pub(crate) async fn transaction(
    state: Arc<PostgresState>,
    cx: Context,
    input: TransactionInput,
) -> Result<TransactionOutput> {
    let session = state.pools.session(&cx)?;
    let mut tx = session.pool.begin().await.map_err(|e| session.error(e))?;
    let isolation = match input.isolation {
        Isolation::ReadCommitted => None,
        Isolation::RepeatableRead => Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"),
        Isolation::Serializable => Some("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
    };
    if let Some(set) = isolation {
        sqlx::Executor::execute(&mut *tx, set)
            .await
            .map_err(|e| session.error(e))?;
    }
    let mut results = Vec::with_capacity(input.statements.len());
    for (i, st) in input.statements.iter().enumerate() {
        match core::run(&mut tx, &session, &st.sql, &st.params, max_rows(None)).await {
            Ok(out) => results.push(out),
            Err(err) => {
                if let Err(e) = tx.rollback().await {
                    tracing::warn!(error = %session.error(e), "postgres ROLLBACK failed");
                }
                return Err(err
                    .with_path_prefix(&format!("/statements/{i}"))
                    .with_context("statement", i.to_string()));
            }
        }
    }
    tx.commit()
        .await
        .map_err(|e| session.error(e).with_context("statement", "COMMIT"))?;
    Ok(TransactionOutput { results })
}
