//! The connector behaviour suite (aura-testkit).

use super::*;

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
