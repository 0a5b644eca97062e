#![doc = include_str!("docs.md")]

mod actions;
mod codec;
mod config;
mod core;
mod error;
mod sql;
mod triggers;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aura_core::app::Category;
use aura_core::trigger::TriggerDef;
use aura_core::{ActionDef, App, AppManifest, ConnectionId, Context, Result};

pub use self::actions::{
    CallInput, DEFAULT_MAX_ROWS, DeleteInput, Isolation, QueryInput, QueryOutput, TransactionInput, TransactionOutput,
    TransactionStatement, UpdateInput, UpsertInput, WriteInput,
};
pub use self::config::{PostgresConfig, SslMode};
use self::core::{PoolSettings, Pools};
pub use self::error::{from_sqlx, kind_of_sqlstate};
use self::triggers::Listeners;
pub use self::triggers::{NewRowsParams, Notification, NotifyParams};

/// What the actions and triggers share: the pools and the listeners.
pub(crate) struct PostgresState {
    pub(crate) pools: Pools,
    pub(crate) listeners: Listeners,
}

/// The `postgres` app. Register it; connections give `host`, `port`, `database`, `user`,
/// `password` and `ssl_mode` as custom credentials.
///
/// ```
/// use aura_connectors::postgres::PostgresApp;
///
/// let registry = aura_core::Registry::new();
/// registry.register(PostgresApp::new().max_connections(10))?;
/// assert_eq!(registry.manifest("postgres")?.category, aura_core::app::Category::Database);
/// # Ok::<(), aura_core::Error>(())
/// ```
///
/// Clones share the pools and listeners: keep one to call [`PostgresApp::pools`] after
/// registering another.
#[derive(Clone)]
pub struct PostgresApp {
    state: Arc<PostgresState>,
}

impl Default for PostgresApp {
    fn default() -> Self {
        Self::with_settings(PoolSettings::default())
    }
}

impl std::fmt::Debug for PostgresApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresApp")
            .field("pools", &self.state.pools.held().len())
            .finish()
    }
}

impl PostgresApp {
    /// The app with pools of at most 5 connections, a 10 s acquire timeout and a 5 min idle
    /// timeout.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_settings(settings: PoolSettings) -> Self {
        Self {
            state: Arc::new(PostgresState {
                pools: Pools::new(settings),
                listeners: Listeners::default(),
            }),
        }
    }

    /// The most connections each connection's pool opens (default 5; at least 1). Set it
    /// before registering the app.
    #[must_use]
    pub fn max_connections(self, max: u32) -> Self {
        let mut settings = self.state.pools.settings;
        settings.max_connections = max.max(1);
        Self::with_settings(settings)
    }

    /// How long an action waits for a pooled connection before failing with `Unavailable`
    /// (default 10 s). Set it before registering the app.
    #[must_use]
    pub fn acquire_timeout(self, timeout: Duration) -> Self {
        let mut settings = self.state.pools.settings;
        settings.acquire_timeout = timeout;
        Self::with_settings(settings)
    }

    /// The pools held now, as (connection id, credential version): one per connection, for
    /// the version its credentials had when it was last used. For monitoring and tests.
    pub fn pools(&self) -> Vec<(ConnectionId, u64)> {
        self.state.pools.held()
    }
}

#[async_trait]
impl App for PostgresApp {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("postgres", "PostgreSQL", semver::Version::new(1, 0, 0))
            .category(Category::Database)
            .description(
                "Query PostgreSQL with bound parameters, write rows from JSON, call functions, \
                 run transactions; trigger on new rows and on LISTEN/NOTIFY",
            )
            .tags(["postgres", "postgresql", "sql", "database"])
            .docs_url("https://www.postgresql.org/docs/current/")
            .auth(config::auth_method())
    }

    fn actions(&self) -> Vec<ActionDef> {
        let s = &self.state;
        vec![
            ActionDef::with_state("query", s.clone(), actions::query)
                .name("Run a query")
                .description("One SQL statement with $1..$n bound from a JSON array; returns the rows"),
            ActionDef::with_state("insert", s.clone(), actions::insert)
                .name("Insert rows")
                .description("Inserts one row or several from JSON objects"),
            ActionDef::with_state("update", s.clone(), actions::update)
                .name("Update rows")
                .description("Sets columns on the rows matching an equality map"),
            ActionDef::with_state("upsert", s.clone(), actions::upsert)
                .name("Insert or update rows")
                .description("Inserts rows, updating those that conflict on the given columns"),
            ActionDef::with_state("delete", s.clone(), actions::delete)
                .name("Delete rows")
                .description("Deletes the rows matching an equality map"),
            ActionDef::with_state("call", s.clone(), actions::call)
                .name("Call a function")
                .description("Calls a function with bound arguments and returns its result as rows"),
            ActionDef::with_state("transaction", s.clone(), actions::transaction)
                .name("Run a transaction")
                .description("Runs several statements in one transaction: all or nothing"),
        ]
    }

    fn triggers(&self) -> Vec<TriggerDef> {
        vec![
            TriggerDef::polling(
                "new_rows",
                triggers::NewRows {
                    state: self.state.clone(),
                },
            )
            .name("New rows")
            .description("Rows whose increasing key column is past the last one seen")
            .params_schema(aura_core::schema::generate::<NewRowsParams>()),
            TriggerDef::polling(
                "notify",
                triggers::Notify {
                    state: self.state.clone(),
                },
            )
            .name("Notifications (LISTEN/NOTIFY)")
            .description("Notifications sent on a channel since the last poll (at most once)")
            .params_schema(aura_core::schema::generate::<NotifyParams>()),
        ]
    }

    async fn test_connection(&self, cx: &Context) -> Result<()> {
        core::check(cx, self.state.pools.settings.acquire_timeout).await
    }

    async fn cleanup(&self) -> Result<()> {
        self.state.listeners.clear();
        self.state.pools.close_all().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
