//! A scenario on a connection the manager created.

use super::*;

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
