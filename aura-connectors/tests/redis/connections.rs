//! Credentials, timeouts, replaced passwords, a scenario on a managed connection.

use super::*;

// ---------------------------------------------------------------------------------------------
// connections and errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_wrong_password_is_unauthorized_and_never_shown() {
    let (registry, cx) = (registry().await, context(bad()));
    let err = call(&registry, &cx, "redis.get", json!({ "key": "k" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let shown = format!(
        "{err} | {err:?} | {:?} | {:?}",
        err.context(),
        std::error::Error::source(&err)
    );
    assert!(!shown.contains(WRONG_PASSWORD), "{shown}");

    // Through the manager: creating the connection runs PING, which fails the same way.
    let manager = ConnectionManager::builder(registry.clone()).build();
    let err = manager
        .create(NewConnection::new("redis", "bad", bad()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!format!("{err} {err:?}").contains(WRONG_PASSWORD));
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn test_connection_pings_and_an_unreachable_server_is_unavailable() {
    let registry = registry().await;
    let manager = ConnectionManager::builder(registry.clone()).build();
    manager
        .create(NewConnection::new("redis", "good", good()))
        .await
        .unwrap();
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let nowhere = Credentials::custom([("host", "127.0.0.1".to_owned()), ("port", port.to_string())]);
    let err = manager
        .create(NewConnection::new("redis", "nowhere", nowhere.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    // An action that is not idempotent may be tried again: nothing was sent.
    let err = call(&registry, &context(nowhere), "redis.incr", json!({ "key": "k" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable() && !err.may_have_been_accepted(), "{err}");
    // No password at all, on a server that requires one.
    let s = server();
    let anonymous = Credentials::custom([("host", s.host), ("port", s.port)]);
    let err = manager
        .create(NewConnection::new("redis", "anonymous", anonymous))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn an_answer_later_than_the_response_timeout_is_a_timeout() {
    use aura_connectors::redis::Timeouts;
    let registry = Arc::new(Registry::new());
    registry
        .register(RedisApp::with_timeouts(Timeouts {
            connect: Duration::from_secs(5),
            response: Duration::from_millis(200),
        }))
        .unwrap();
    let cx = context(good());
    let key = unique("slow");
    call(&registry, &cx, "redis.get", json!({ "key": key })).await.unwrap();
    // The server holds write commands for a second (reads, and the other tests' clients, go on).
    raw_query::<()>(redis::cmd("CLIENT").arg("PAUSE").arg(1000).arg("WRITE")).await;
    let err = call(&registry, &cx, "redis.incr", json!({ "key": key }))
        .await
        .unwrap_err();
    raw_query::<()>(&mut redis::cmd("CLIENT").arg("UNPAUSE").to_owned()).await;
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.may_have_been_accepted(), "a timed-out INCRBY may have run");
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_replaced_password_drops_the_old_client() {
    let registry = registry().await;
    let manager = ConnectionManager::builder(registry.clone()).build();
    let record = manager
        .create(NewConnection::new("redis", "rotating", good()))
        .await
        .unwrap();
    let conn = manager.connections().get(&record.id).unwrap();
    let cx = Context::builder().connection(conn.clone()).build();
    call(&registry, &cx, "redis.get", json!({ "key": "k" })).await.unwrap();
    // The new credentials are refused (so no cached client of the old version may serve them).
    let err = manager.replace_credentials(&record.id, bad(), true).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let replaced = manager.replace_credentials(&record.id, bad(), false).await.unwrap();
    assert!(replaced.version > record.version);
    let err = call(&registry, &cx, "redis.get", json!({ "key": "k" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_scenario_uses_the_actions_by_key_with_a_managed_connection() {
    let registry = registry().await;
    let manager = ConnectionManager::builder(registry.clone()).build();
    let record = manager
        .create(NewConnection::new("redis", "cache", good()))
        .await
        .unwrap();
    let engine = Engine::builder(registry.clone())
        .connections(manager.connections())
        .build();
    let key = unique("scenario");
    let yaml = format!(
        r#"
id: redis-scenario
name: Redis from a scenario
nodes:
  - {{ id: start, kind: trigger, next: [count] }}
  - id: count
    kind: action
    connection: {conn}
    config: {{ action: redis.incr }}
    input: {{ key: "{key}", by: "{{{{ trigger.by }}}}" }}
    next: [save]
  - id: save
    kind: action
    connection: {conn}
    config: {{ action: redis.hash_set }}
    input: {{ key: "{key}:last", fields: {{ count: "{{{{ steps.count.output.value }}}}", who: "{{{{ trigger.who }}}}" }} }}
    next: [read]
  - id: read
    kind: action
    connection: {conn}
    config: {{ action: redis.hash_get }}
    input: {{ key: "{key}:last" }}
"#,
        conn = record.id,
    );
    let plan = engine.deploy(Scenario::from_yaml(&yaml).unwrap()).await.unwrap();
    let run = engine.execute(&plan, json!({ "by": 5, "who": "ada" })).await.unwrap();
    assert_eq!(run.status, ExecutionStatus::Completed, "{:?}", run.error);
    let count = run.node("count").unwrap().output.clone().unwrap();
    assert_eq!(*count, json!({ "value": 5 }));
    let read = run.node("read").unwrap().output.clone().unwrap();
    assert_eq!(*read, json!({ "fields": { "count": "5", "who": "ada" } }));
}
