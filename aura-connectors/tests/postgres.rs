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

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn a_scenario_writes_and_reads_rows_with_a_managed_connection() {
    let _gate = PASSWORD_GATE.read().await;
    let server = server();
    let schema = Schema::new(&server, "scenario").await;
    schema
        .exec("CREATE TABLE $S.items (id bigserial PRIMARY KEY, name text NOT NULL, qty int NOT NULL)")
        .await;

    let registry = Arc::new(Registry::new());
    registry.register(PostgresApp::new()).unwrap();
    let manager = ConnectionManager::builder(registry.clone()).build();
    let record = manager
        .create(NewConnection::new("postgres", "warehouse", server.credentials()))
        .await
        .expect("the connection is tested (SELECT 1) and created");
    let engine = Engine::builder(registry.clone())
        .connections(manager.connections().clone())
        .build();
    let yaml = format!(
        r#"
id: pg_items
name: Items in and out
nodes:
  - {{ id: start, kind: trigger, next: [insert] }}
  - id: insert
    kind: action
    config: {{ action: postgres.insert }}
    connection: {conn}
    input:
      table: {schema}.items
      row: {{ name: "{{{{ trigger.name }}}}", qty: "{{{{ trigger.qty }}}}" }}
      returning: [id]
    next: [read]
  - id: read
    kind: action
    config: {{ action: postgres.query }}
    connection: {conn}
    input:
      sql: "SELECT name, qty, qty * 2 AS double FROM {schema}.items WHERE id = $1"
      params: ["{{{{ steps.insert.output.rows[0].id }}}}"]
"#,
        conn = record.id,
        schema = schema.name,
    );
    let plan = engine.deploy(Scenario::from_yaml(&yaml).unwrap()).await.unwrap();
    let run = engine
        .execute(&plan, json!({ "name": "bolts", "qty": 12 }))
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Completed, "{:?}", run.nodes);
    let inserted = run.node("insert").unwrap().output.as_ref().unwrap();
    assert_eq!(inserted["row_count"], 1);
    let read = run.node("read").unwrap().output.as_ref().unwrap();
    assert_eq!(
        **read,
        json!({ "rows": [{ "name": "bolts", "qty": 12, "double": 24 }], "row_count": 1, "truncated": false })
    );
    schema.drop().await;
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn query_maps_postgres_types_to_json() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("types");
    let out = f
        .ok(
            "postgres.query",
            json!({
                "sql": "SELECT 1::int2 AS i2, 2::int4 AS i4, 9007199254740993::int8 AS i8, 1.5::float4 AS f4, \
                        'NaN'::float8 AS nan, 12.50::numeric AS n, -0.000123::numeric(10,6) AS small, true AS b, \
                        'héllo'::text AS t, 'x'::varchar(3) AS v, 'ab'::char(3) AS c, \
                        '{\"a\":[1,2]}'::jsonb AS jb, '[1, \"x\"]'::json AS j, \
                        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, \
                        '2026-03-04 05:06:07.123456+02'::timestamptz AS tz, \
                        '2026-03-04 05:06:07'::timestamp AS ts, '2026-03-04'::date AS d, '13:14:15.5'::time AS tm, \
                        '\\x0001ff'::bytea AS by, ARRAY[1, NULL, 3]::int4[] AS arr, \
                        ARRAY[['a','b'],['c','d']] AS grid, ARRAY[]::text[] AS empty, NULL::int AS nothing"
            }),
        )
        .await;
    assert_eq!(
        out["rows"][0],
        json!({
            "i2": 1, "i4": 2, "i8": 9_007_199_254_740_993_i64, "f4": 1.5, "nan": "NaN",
            "n": "12.50", "small": "-0.000123", "b": true, "t": "héllo", "v": "x", "c": "ab ",
            "jb": { "a": [1, 2] }, "j": [1, "x"], "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "tz": "2026-03-04T03:06:07.123456Z", "ts": "2026-03-04T05:06:07", "d": "2026-03-04",
            "tm": "13:14:15.500", "by": "AAH/", "arr": [1, null, 3], "grid": [["a", "b"], ["c", "d"]],
            "empty": [], "nothing": null
        })
    );

    // Parameters are bound as the types the server infers, from JSON.
    let out = f
        .ok(
            "postgres.query",
            json!({
                "sql": "SELECT $1::numeric + 1 AS n, $2::timestamptz AS tz, $3::uuid AS u, $4::int[] AS a, \
                        $5::jsonb -> 'k' AS k, $6::bytea AS b, $7::text IS NULL AS was_null, $8::date AS d",
                "params": ["12345678901234567890.5", "2026-01-01T00:00:00+01:00",
                           "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", [3, 4], { "k": [true] }, "AAH/", null, "2026-02-03"]
            }),
        )
        .await;
    assert_eq!(
        out["rows"][0],
        json!({
            "n": "12345678901234567891.5", "tz": "2025-12-31T23:00:00Z",
            "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a": [3, 4], "k": [true], "b": "AAH/",
            "was_null": true, "d": "2026-02-03"
        })
    );

    // A column without a JSON mapping is refused before the statement runs, with the cast to use.
    let err = f
        .call("postgres.query", json!({ "sql": "SELECT interval '1 day' AS span" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("span::text"), "{err}");
    // A value that does not fit its parameter's type names the parameter.
    let err = f
        .call(
            "postgres.query",
            json!({ "sql": "SELECT $1::int AS x", "params": ["twelve"] }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.violations()[0].path, "/params/0");
    let err = f
        .call("postgres.query", json!({ "sql": "SELECT $1::int AS x", "params": [] }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // max_rows bounds what comes back.
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": "SELECT g FROM generate_series(1, 50) g", "max_rows": 10 }),
        )
        .await;
    assert_eq!(
        (out["row_count"].clone(), out["truncated"].clone()),
        (json!(10), json!(true))
    );
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn rows_are_inserted_updated_upserted_and_deleted_from_json() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("crud");
    let schema = Schema::new(&f.server, "crud").await;
    schema
        .exec(
            "CREATE TABLE $S.people (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text, \
             age int DEFAULT 30, tags text[], meta jsonb)",
        )
        .await;
    let table = format!("{}.people", schema.name);

    let out = f
        .ok(
            "postgres.insert",
            json!({
                "table": table,
                "rows": [
                    { "email": "ada@x", "name": "Ada", "age": 36, "tags": ["math"], "meta": { "k": 1 } },
                    { "email": "bob@x", "name": "Bob'); DROP TABLE people; --" }
                ],
                "returning": ["id", "email", "age"]
            }),
        )
        .await;
    assert_eq!(out["row_count"], 2);
    assert_eq!(out["rows"][1]["age"], 30, "a missing column gets its DEFAULT");

    let out = f
        .ok(
            "postgres.update",
            json!({ "table": table, "set": { "age": 37 }, "where": { "email": "ada@x" }, "returning": ["*"] }),
        )
        .await;
    assert_eq!(out["rows"][0]["age"], 37);
    assert_eq!(out["rows"][0]["tags"], json!(["math"]));
    assert_eq!(out["rows"][0]["meta"], json!({ "k": 1 }));
    let out = f
        .ok(
            "postgres.update",
            json!({ "table": table, "set": { "name": "?" }, "where": { "email": "nobody@x" } }),
        )
        .await;
    assert_eq!(out["row_count"], 0);

    let out = f
        .ok(
            "postgres.upsert",
            json!({
                "table": table,
                "rows": [{ "email": "ada@x", "name": "Ada L." }, { "email": "cy@x", "name": "Cy" }],
                "on_conflict": ["email"],
                "returning": ["email", "name", "age"]
            }),
        )
        .await;
    assert_eq!(out["row_count"], 2);
    assert_eq!(out["rows"][0], json!({ "email": "ada@x", "name": "Ada L.", "age": 37 }));

    // A duplicate is a Conflict naming the constraint.
    let err = f
        .call("postgres.insert", json!({ "table": table, "row": { "email": "cy@x" } }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.context_value("sqlstate"), Some("23505"));
    assert_eq!(err.context_value("constraint"), Some("people_email_key"));

    let out = f
        .ok(
            "postgres.delete",
            json!({ "table": table, "where": { "email": "bob@x" }, "returning": ["name"] }),
        )
        .await;
    assert_eq!(out["rows"][0]["name"], "Bob'); DROP TABLE people; --");
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": format!("SELECT count(*) AS n FROM {table}") }),
        )
        .await;
    assert_eq!(out["rows"][0]["n"], 2);

    // Unknown names are the server's InvalidInput (42P01, 42703).
    let err = f
        .call(
            "postgres.insert",
            json!({ "table": format!("{}.nope", schema.name), "row": { "a": 1 } }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::InvalidInput, Some("42P01"))
    );
    let err = f.call("postgres.query", json!({ "sql": "SELEC 1" })).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::InvalidInput, Some("42601"))
    );
    let err = f
        .call("postgres.query", json!({ "sql": "SELECT * FROM pg_authid" }))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::Forbidden, Some("42501"))
    );
    let err = f
        .call(
            "postgres.query",
            json!({ "sql": "SELECT 1 / $1::int AS x", "params": [0] }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::InvalidInput, Some("22012"))
    );
    schema.drop().await;
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn a_failed_transaction_keeps_nothing_and_a_good_one_returns_each_result() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("tx");
    let schema = Schema::new(&f.server, "tx").await;
    schema
        .exec("CREATE TABLE $S.accounts (id int PRIMARY KEY, balance numeric NOT NULL CHECK (balance >= 0))")
        .await;
    schema.exec("INSERT INTO $S.accounts VALUES (1, 100), (2, 0)").await;
    let s = &schema.name;
    let transfer = |amount: i64| {
        json!({
            "statements": [
                { "sql": format!("UPDATE {s}.accounts SET balance = balance + $1 WHERE id = 2"), "params": [amount] },
                { "sql": format!("UPDATE {s}.accounts SET balance = balance - $1 WHERE id = 1 RETURNING balance"), "params": [amount] },
                { "sql": format!("SELECT sum(balance) AS total FROM {s}.accounts") }
            ],
            "isolation": "serializable"
        })
    };

    let err = f.call("postgres.transaction", transfer(150)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "the CHECK fails: {err}");
    assert_eq!(err.context_value("statement"), Some("1"));
    assert_eq!(err.context_value("sqlstate"), Some("23514"));
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": format!("SELECT id, balance FROM {s}.accounts ORDER BY id") }),
        )
        .await;
    assert_eq!(
        out["rows"],
        json!([{ "id": 1, "balance": "100" }, { "id": 2, "balance": "0" }]),
        "the first update was rolled back"
    );

    let out = f.ok("postgres.transaction", transfer(40)).await;
    assert_eq!(out["results"][0]["row_count"], 1);
    assert_eq!(out["results"][1]["rows"], json!([{ "balance": "60" }]));
    assert_eq!(out["results"][2]["rows"], json!([{ "total": "100" }]));

    // A statement past its timeout is a Timeout (57014), and rolls the transaction back.
    let err = f
        .call(
            "postgres.transaction",
            json!({ "statements": [
                { "sql": format!("DELETE FROM {s}.accounts") },
                { "sql": "SET LOCAL statement_timeout = 100" },
                { "sql": "SELECT pg_sleep(5)" }
            ] }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::Timeout, Some("57014"))
    );
    assert!(err.is_retryable());
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": format!("SELECT count(*) AS n FROM {s}.accounts") }),
        )
        .await;
    assert_eq!(out["rows"][0]["n"], 2);
    // A void function's result is null.
    let out = f
        .ok("postgres.query", json!({ "sql": "SELECT pg_sleep(0) AS slept" }))
        .await;
    assert_eq!(out["rows"], json!([{ "slept": null }]));

    // The pooled connection is usable after a rollback, outside any transaction.
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": "SELECT current_setting('transaction_isolation') AS iso" }),
        )
        .await;
    assert_eq!(out["rows"][0]["iso"], "read committed");
    schema.drop().await;
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn a_function_is_called_with_bound_arguments() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("call");
    let schema = Schema::new(&f.server, "call").await;
    schema
        .exec("CREATE FUNCTION $S.add_tax(amount numeric, rate numeric) RETURNS numeric LANGUAGE sql AS 'SELECT round(amount * (1 + rate), 2)'")
        .await;
    schema
        .exec("CREATE FUNCTION $S.upto(n int) RETURNS TABLE (i int, sq int) LANGUAGE sql AS 'SELECT g, g * g FROM generate_series(1, n) g'")
        .await;
    schema
        .exec(
            "CREATE FUNCTION $S.fail(msg text) RETURNS int LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''%'', msg; END'",
        )
        .await;
    let s = &schema.name;
    let out = f
        .ok(
            "postgres.call",
            json!({ "function": format!("{s}.add_tax"), "args": ["10.00", 0.2] }),
        )
        .await;
    assert_eq!(out["rows"], json!([{ "add_tax": "12.00" }]));
    let out = f
        .ok("postgres.call", json!({ "function": format!("{s}.upto"), "args": [3] }))
        .await;
    assert_eq!(
        out["rows"],
        json!([{ "i": 1, "sq": 1 }, { "i": 2, "sq": 4 }, { "i": 3, "sq": 9 }])
    );
    let err = f
        .call(
            "postgres.call",
            json!({ "function": format!("{s}.fail"), "args": ["no stock"] }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::InvalidInput, Some("P0001"))
    );
    assert_eq!(err.context_value("server_message"), Some("no stock"));
    schema.drop().await;
}

fn with_params(cx: &Context, params: Value) -> Context {
    let mut b = cx.to_builder();
    b = b.extension(TriggerParams(Arc::new(params)));
    b.build()
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn new_rows_come_once_in_key_order_from_the_cursor() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("newrows");
    let schema = Schema::new(&f.server, "newrows").await;
    schema
        .exec("CREATE TABLE $S.events (id bigserial PRIMARY KEY, kind text, at timestamptz DEFAULT now())")
        .await;
    schema
        .exec("INSERT INTO $S.events (kind) SELECT 'old-' || g FROM generate_series(1, 5) g")
        .await;
    let trigger = f.registry.trigger("postgres.new_rows").await.unwrap();
    let cx = with_params(
        &f.cx,
        json!({ "table": format!("{}.events", schema.name), "key_column": "id", "columns": ["kind"], "batch_size": 3 }),
    );

    let first = trigger.poll(&cx, None).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(first.more, "a full batch says more");
    assert_eq!(first.cursor, json!(3));
    assert_eq!(first.items[0].dedupe_key, "1");
    assert_eq!(first.items[0].data, json!({ "kind": "old-1", "id": 1 }));
    let second = trigger.poll(&cx, Some(first.cursor)).await.unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(!second.more);
    let cursor = second.cursor;
    assert_eq!(cursor, json!(5));

    let again = trigger.poll(&cx, Some(cursor.clone())).await.unwrap();
    assert!(again.items.is_empty());
    assert_eq!(again.cursor, cursor, "an empty poll keeps the cursor");

    schema
        .exec("INSERT INTO $S.events (kind) VALUES ('new-a'), ('new-b')")
        .await;
    let fresh = trigger.poll(&cx, Some(cursor)).await.unwrap();
    let kinds: Vec<&Value> = fresh.items.iter().map(|i| &i.data["kind"]).collect();
    assert_eq!(kinds, [&json!("new-a"), &json!("new-b")]);
    let keys: Vec<&str> = fresh.items.iter().map(|i| i.dedupe_key.as_str()).collect();
    assert_eq!(keys, ["6", "7"]);

    // A timestamp key works the same way (its cursor is the RFC 3339 text).
    let by_time = with_params(
        &f.cx,
        json!({ "table": format!("{}.events", schema.name), "key_column": "at" }),
    );
    schema
        .exec("UPDATE $S.events SET at = '2026-01-01T00:00:00Z'::timestamptz + id * interval '1 second'")
        .await;
    let polled = trigger
        .poll(&by_time, Some(json!("2026-01-01T00:00:05Z")))
        .await
        .unwrap();
    assert_eq!(polled.items.len(), 2);
    assert_eq!(polled.cursor, json!("2026-01-01T00:00:07Z"));

    // Bad params are refused before any query.
    let bad = with_params(&f.cx, json!({ "table": "x; --", "key_column": "id" }));
    assert_eq!(
        trigger.poll(&bad, None).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    schema.drop().await;
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn notifications_are_drained_by_each_poll() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("notify");
    let admin = f.server.admin().await;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let channel = format!("aura_test_{:x}", nanos % 0xffff_ffff_ffff);
    let trigger = f.registry.trigger("postgres.notify").await.unwrap();
    let cx = with_params(&f.cx, json!({ "channel": channel }));

    let first = trigger.poll(&cx, None).await.unwrap();
    assert!(first.items.is_empty(), "nothing before LISTEN");
    for payload in [r#"{"order": 1}"#, "plain text"] {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&channel)
            .bind(payload)
            .execute(&admin)
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 2 && Instant::now() < deadline {
        got.extend(trigger.poll(&cx, Some(Value::Null)).await.unwrap().items);
    }
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].data["json"], json!({ "order": 1 }));
    assert_eq!(got[0].data["channel"], json!(channel));
    assert_eq!(got[1].data["payload"], "plain text");
    assert_eq!(got[1].data["json"], Value::Null);
    assert_ne!(got[0].dedupe_key, got[1].dedupe_key);
    let after = trigger.poll(&cx, Some(Value::Null)).await.unwrap();
    assert!(after.items.is_empty(), "each notification comes once");

    let bad = with_params(&f.cx, json!({ "channel": "a; UNLISTEN *" }));
    assert_eq!(
        trigger.poll(&bad, None).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    admin.close().await;
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn test_connection_refuses_a_wrong_password_without_showing_it() {
    let _gate = PASSWORD_GATE.read().await;
    let server = server();
    let registry = Arc::new(Registry::new());
    registry.register(PostgresApp::new()).unwrap();
    let manager = ConnectionManager::builder(registry.clone()).build();
    let canary = "wrong-Passw0rd-canary";
    let err = manager
        .create(NewConnection::new("postgres", "bad", server.credentials_with(canary)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert_eq!(err.context_value("sqlstate"), Some("28P01"));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(canary), "{shown}");

    // An action with the bad credentials is refused the same way.
    let err = registry
        .action("postgres.query")
        .await
        .unwrap()
        .call(
            context(server.credentials_with(canary), "bad-action"),
            json!({ "sql": "SELECT 1 AS one" }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(!format!("{err} {err:?}").contains(canary));
}

/// Sessions of the role whose `application_name` starts with `prefix`.
async fn sessions(admin: &PgPool, prefix: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1 || '%'")
        .bind(prefix)
        .fetch_one(admin)
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn a_replaced_password_drops_the_old_pool() {
    let _gate = PASSWORD_GATE.write().await;
    let server = server();
    // One session, opened before the password changes and kept (a pool would open another).
    let admin = server.admin_of(1).await;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let new_password = format!("Rotated{nanos:x}");
    // The body runs as a task so that the original password is restored even if it fails.
    let body = {
        let (server, admin, new_password) = (server.clone(), admin.clone(), new_password.clone());
        tokio::spawn(async move {
            let app = PostgresApp::new();
            let registry = Arc::new(Registry::new());
            registry.register(app.clone()).unwrap();
            let manager = ConnectionManager::builder(registry.clone()).build();
            let record = manager
                .create(NewConnection::new("postgres", "rotating", server.credentials()))
                .await
                .unwrap();
            let live = manager.connections().get(&record.id).unwrap();
            let cx = Context::builder().connection(live).build();
            let query = registry.action("postgres.query").await.unwrap();
            let select = json!({ "sql": "SELECT current_setting('application_name') AS app" });
            let out = query.call(cx.clone(), select.clone()).await.unwrap();
            let old_name = format!("aura v{} {}", record.version, record.id);
            assert_eq!(out["rows"][0]["app"], json!(old_name));
            assert_eq!(app.pools(), vec![(record.id.clone(), record.version)]);

            exec(&admin, &format!("ALTER ROLE CURRENT_USER PASSWORD '{new_password}'")).await;
            // The old pool's sessions outlive the change: only dropping the pool ends them.
            assert!(sessions(&admin, &old_name).await >= 1);
            let replaced = manager
                .replace_credentials(&record.id, server.credentials_with(&new_password), true)
                .await
                .expect("the new password passes test_connection");
            assert!(replaced.version > record.version);

            let out = query.call(cx.clone(), select).await.unwrap();
            let new_name = format!("aura v{} {}", replaced.version, record.id);
            assert_eq!(out["rows"][0]["app"], json!(new_name));
            assert_eq!(app.pools(), vec![(record.id.clone(), replaced.version)]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while sessions(&admin, &old_name).await > 0 {
                assert!(Instant::now() < deadline, "the old pool's sessions were not closed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The old password is refused now.
            let err = registry
                .test_connection(&context(server.credentials(), "old-password"))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unauthorized);
        })
    };
    let outcome = body.await;
    exec(
        &admin,
        &format!(
            "ALTER ROLE CURRENT_USER PASSWORD '{}'",
            server.password.replace('\'', "''")
        ),
    )
    .await;
    admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

// ---------------------------------------------------------------------------------------------
// The connector behaviour suite (aura-testkit)
// ---------------------------------------------------------------------------------------------

/// Drops a fixture's schema when the fixture goes (on a runtime of its own: the test's may be
/// ending).
struct DropSchema {
    server: Server,
    name: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (server, sql) = (
            self.server.clone(),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let admin = server.admin_of(1).await;
                exec(&admin, &sql).await;
                admin.close().await;
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("the behaviour suite's schema {} was left behind", self.name);
        }
    }
}

async fn behaviour_fixture() -> aura_testkit::behavior::connector::ConnectorFixture {
    use aura_testkit::behavior::connector::{ConnectorFixture, PollingCase};

    let gate = PASSWORD_GATE.read().await;
    let server = server();
    let schema = Schema::new(&server, "suite").await;
    schema
        .exec("CREATE TABLE $S.items (id bigserial PRIMARY KEY, label text NOT NULL)")
        .await;
    let table = format!("{}.items", schema.name);
    let (admin, produce_into) = (schema.admin.clone(), table.clone());
    let dropper = DropSchema {
        server: server.clone(),
        name: schema.name.clone(),
    };
    ConnectorFixture::new(PostgresApp::new())
        .credentials(server.credentials())
        .bad_credentials(server.credentials_with("wrong-password-value"))
        .canary("wrong-password-value")
        .bad_input(
            "postgres.insert",
            json!({ "table": "items; DROP TABLE items", "row": { "label": "x" } }),
        )
        .bad_input("postgres.insert", json!({ "table": table, "row": { "label\"": "x" } }))
        .bad_input(
            "postgres.update",
            json!({ "table": table, "set": { "label": "x" }, "where": {} }),
        )
        .bad_input(
            "postgres.upsert",
            json!({ "table": table, "row": { "id": 1 }, "on_conflict": [] }),
        )
        .bad_input("postgres.delete", json!({ "table": "a.b.c", "where": { "id": 1 } }))
        .bad_input("postgres.call", json!({ "function": "pg_sleep(1); --" }))
        .bad_input("postgres.query", json!({ "sql": 5 }))
        .bad_input("postgres.transaction", json!({ "statements": [] }))
        .call(
            "postgres.insert",
            json!({ "table": table, "row": { "label": "from the suite" }, "returning": ["id", "label"] }),
        )
        .polling(
            PollingCase::new("postgres.new_rows", json!({ "table": table, "key_column": "id" })).produce(move || {
                let (admin, table) = (admin.clone(), produce_into.clone());
                async move {
                    exec(&admin, &format!("INSERT INTO {table} (label) VALUES ('produced')")).await;
                }
            }),
        )
        .guard(gate)
        .guard(dropper)
}

aura_testkit::connector_behavior!(
    #[ignore = "needs postgres: see .ci/run"]
    async {
        behaviour_fixture().await
    }
);
