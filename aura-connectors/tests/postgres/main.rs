//! The `postgres` app against a real PostgreSQL server.
//!
//! Every test needs one: `.ci/run` starts it and sets `AURA_TEST_POSTGRES_URL`
//! (`postgres://user:password@127.0.0.1:port/db`); by hand:
//!
//! ```text
//! AURA_TEST_POSTGRES_URL=postgres://aura:aura-pass@127.0.0.1:54410/aura \
//!   cargo test -p aura-connectors --features postgres --test postgres -- --ignored
//! ```
//!
//! Each test works in a schema of its own, so they run in parallel (and beside aura-core's
//! store tests on the same database). The test that changes the role's password holds a lock
//! the others share.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod actions;
mod credentials;
mod scenario;
mod suite;
mod triggers;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aura_connectors::postgres::PostgresApp;
use aura_core::connection::{ConnectionManager, NewConnection};
use aura_core::engine::Engine;
use aura_core::scenario::Scenario;
use aura_core::store::ExecutionStatus;
use aura_core::trigger::TriggerParams;
use aura_core::{ConnectionRecord, Context, Credentials, ErrorKind, Registry};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::RwLock;

/// Taken for writing by the one test that changes the role's password, for reading by the rest.
static PASSWORD_GATE: RwLock<()> = RwLock::const_new(());

/// The server's address, parsed into the connector's credential fields.
#[derive(Clone)]
struct Server {
    host: String,
    port: u16,
    database: String,
    user: String,
    password: String,
}

fn server() -> Server {
    let url = std::env::var("AURA_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "AURA_TEST_POSTGRES_URL is not set: these tests need a PostgreSQL server \
             (postgres://user:password@127.0.0.1:port/db; .ci/run starts one)"
        )
    });
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .expect("AURA_TEST_POSTGRES_URL starts with postgres://");
    let (auth, location) = rest.rsplit_once('@').expect("the URL has user:password@");
    let (user, password) = auth.split_once(':').expect("the URL has user:password");
    let (hostport, database) = location.split_once('/').expect("the URL names a database");
    let database = database.split('?').next().unwrap_or(database);
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    Server {
        host: host.to_owned(),
        port: port.parse().expect("a port number"),
        database: database.to_owned(),
        user: user.to_owned(),
        password: password.to_owned(),
    }
}

impl Server {
    fn credentials(&self) -> Credentials {
        self.credentials_with(&self.password)
    }

    fn credentials_with(&self, password: &str) -> Credentials {
        Credentials::custom([
            ("host", self.host.clone()),
            ("port", self.port.to_string()),
            ("database", self.database.clone()),
            ("user", self.user.clone()),
            ("password", password.to_owned()),
            ("ssl_mode", "disable".to_owned()),
        ])
    }

    /// A pool of the test's own, to set up and check behind the connector's back.
    async fn admin(&self) -> PgPool {
        self.admin_of(2).await
    }

    /// The same with at most `max` connections (1: the one session outlives a password change).
    async fn admin_of(&self, max: u32) -> PgPool {
        let options = PgConnectOptions::new_without_pgpass()
            .host(&self.host)
            .port(self.port)
            .database(&self.database)
            .username(&self.user)
            .password(&self.password);
        PgPoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await
            .expect("the test's own connection to PostgreSQL")
    }
}

/// A fresh schema for one test (dropped at the end when the test passes).
struct Schema {
    name: String,
    admin: PgPool,
}

impl Schema {
    async fn new(server: &Server, test: &str) -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("pgc_{test}_{:x}", nanos % 0xffff_ffff_ffff);
        let admin = server.admin().await;
        exec(&admin, &format!("CREATE SCHEMA {name}")).await;
        Self { name, admin }
    }

    async fn exec(&self, sql: &str) {
        exec(&self.admin, &sql.replace("$S", &self.name)).await;
    }

    async fn drop(self) {
        exec(&self.admin, &format!("DROP SCHEMA {} CASCADE", self.name)).await;
        self.admin.close().await;
    }
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn context(credentials: Credentials, name: &str) -> Context {
    let record = ConnectionRecord::new("postgres", name, credentials).with_id(name.to_owned());
    Context::builder()
        .connection(Arc::new(aura_core::connection::StaticConnection::new(record)))
        .build()
}

struct Fixture {
    registry: Arc<Registry>,
    server: Server,
    cx: Context,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let registry = Arc::new(Registry::new());
        registry.register(PostgresApp::new()).unwrap();
        let server = server();
        let cx = context(server.credentials(), name);
        Self { registry, server, cx }
    }

    async fn call(&self, action: &str, input: Value) -> aura_core::Result<Value> {
        self.registry.action(action).await?.call(self.cx.clone(), input).await
    }

    async fn ok(&self, action: &str, input: Value) -> Value {
        self.call(action, input.clone())
            .await
            .unwrap_or_else(|e| panic!("{action} {input}: {e} {:?}", e.context()))
    }
}
