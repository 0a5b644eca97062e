//! The `redis` app against a real redis-server (`AURA_TEST_REDIS_URL`, as `.ci/run` starts it:
//! `redis://:PASSWORD@127.0.0.1:PORT`). Every test is ignored without the server:
//! `AURA_TEST_REDIS_URL=… cargo test -p aura-connectors --features redis --test redis -- --ignored`.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aura_connectors::redis::RedisApp;
use aura_core::connection::{ConnectionManager, NewConnection, StaticConnection};
use aura_core::engine::Engine;
use aura_core::scenario::Scenario;
use aura_core::store::ExecutionStatus;
use aura_core::{ConnectionRecord, Context, Credentials, ErrorKind, Registry};
use serde_json::{Value, json};

/// The server's address and password, from `AURA_TEST_REDIS_URL`.
struct Server {
    host: String,
    port: String,
    password: String,
}

fn server() -> Server {
    let url = std::env::var("AURA_TEST_REDIS_URL")
        .expect("AURA_TEST_REDIS_URL is not set: start redis-server (see .ci/servers/redis.sh) and set it");
    let rest = url
        .strip_prefix("redis://")
        .expect("AURA_TEST_REDIS_URL must be redis://:PASSWORD@HOST:PORT");
    let (auth, addr) = rest.rsplit_once('@').unwrap_or(("", rest));
    let password = auth.split_once(':').map_or(auth, |(_, p)| p).to_owned();
    let addr = addr.trim_end_matches('/');
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "6379"));
    Server {
        host: host.to_owned(),
        port: port.to_owned(),
        password,
    }
}

fn good() -> Credentials {
    let s = server();
    Credentials::custom([("host", s.host), ("port", s.port), ("password", s.password)])
}

const WRONG_PASSWORD: &str = "wrong-password-canary-7f3a";

fn bad() -> Credentials {
    let s = server();
    Credentials::custom([
        ("host", s.host),
        ("port", s.port),
        ("password", WRONG_PASSWORD.to_owned()),
    ])
}

/// A name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("aura-test:{prefix}:{nanos:x}:{}", N.fetch_add(1, Ordering::Relaxed))
}

async fn registry() -> Arc<Registry> {
    let registry = Arc::new(Registry::new());
    registry.register(RedisApp::new()).unwrap();
    registry
}

fn context(credentials: Credentials) -> Context {
    let record = ConnectionRecord::new("redis", "test", credentials).with_id(unique("conn"));
    Context::builder()
        .connection(Arc::new(StaticConnection::new(record)))
        .build()
}

async fn call(registry: &Registry, cx: &Context, action: &str, input: Value) -> aura_core::Result<Value> {
    registry.action(action).await?.call(cx.clone(), input).await
}

/// A plain driver connection, to look at the server's state behind the app's back.
async fn raw() -> redis::aio::MultiplexedConnection {
    let s = server();
    let url = format!("redis://:{}@{}:{}", s.password, s.host, s.port);
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn raw_query<T: redis::FromRedisValue>(cmd: &mut redis::Cmd) -> T {
    cmd.query_async(&mut raw().await).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// actions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn set_get_and_delete_strings_and_json_values() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("str");
    let out = call(&registry, &cx, "redis.set", json!({ "key": key, "value": "hello" }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "written": true }));
    let out = call(&registry, &cx, "redis.get", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": "hello" }));

    call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": key, "value": { "n": 1, "ok": true } }),
    )
    .await
    .unwrap();
    let out = call(&registry, &cx, "redis.get", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": r#"{"n":1,"ok":true}"# }));

    // NX does not overwrite; XX does not create.
    let out = call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": key, "value": "x", "condition": "nx" }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "written": false }));
    let missing = unique("missing");
    let out = call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": missing, "value": "x", "condition": "xx" }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "written": false }));
    let out = call(&registry, &cx, "redis.get", json!({ "key": missing }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "value": null }));

    let out = call(&registry, &cx, "redis.delete", json!({ "keys": [key, missing] }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "deleted": 1 }));
    let out = call(&registry, &cx, "redis.get", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": null }));
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_ttl_is_set_and_the_key_expires() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("ttl");
    call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": key, "value": "v", "ttl_secs": 100 }),
    )
    .await
    .unwrap();
    let ttl: i64 = raw_query(redis::cmd("TTL").arg(&key)).await;
    assert!((90..=100).contains(&ttl), "TTL {ttl}");

    let short = unique("ttl-ms");
    call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": short, "value": "v", "ttl_ms": 300 }),
    )
    .await
    .unwrap();
    let pttl: i64 = raw_query(redis::cmd("PTTL").arg(&short)).await;
    assert!((1..=300).contains(&pttl), "PTTL {pttl}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = call(&registry, &cx, "redis.get", json!({ "key": short }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "value": null }), "expired");
    let ttl: i64 = raw_query(redis::cmd("TTL").arg(&short)).await;
    assert_eq!(ttl, -2, "the key is gone");
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn incr_counts_and_refuses_a_value_that_is_not_an_integer() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("n");
    let out = call(&registry, &cx, "redis.incr", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": 1 }));
    let out = call(&registry, &cx, "redis.incr", json!({ "key": key, "by": 41 }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "value": 42 }));
    let out = call(&registry, &cx, "redis.incr", json!({ "key": key, "by": -2 }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "value": 40 }));

    let text = unique("text");
    call(&registry, &cx, "redis.set", json!({ "key": text, "value": "abc" }))
        .await
        .unwrap();
    let err = call(&registry, &cx, "redis.incr", json!({ "key": text }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.context_value("key"), Some(text.as_str()));
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn hashes_are_set_and_read_whole_or_by_field() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("hash");
    let out = call(
        &registry,
        &cx,
        "redis.hash_set",
        json!({ "key": key, "fields": { "name": "Ada", "age": 36, "tags": ["x"] } }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "added": 3 }));
    let out = call(
        &registry,
        &cx,
        "redis.hash_set",
        json!({ "key": key, "fields": { "age": 37 } }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "added": 0 }), "overwritten, not added");
    let out = call(&registry, &cx, "redis.hash_get", json!({ "key": key }))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({ "fields": { "name": "Ada", "age": "37", "tags": r#"["x"]"# } })
    );
    let out = call(
        &registry,
        &cx,
        "redis.hash_get",
        json!({ "key": key, "fields": ["name", "missing"] }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "fields": { "name": "Ada" } }));
    let out = call(&registry, &cx, "redis.hash_get", json!({ "key": unique("none") }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "fields": {} }));
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn lists_are_pushed_and_popped_at_either_end() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("list");
    let out = call(
        &registry,
        &cx,
        "redis.list_push",
        json!({ "key": key, "values": ["b", "c"] }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "length": 2 }));
    let out = call(
        &registry,
        &cx,
        "redis.list_push",
        json!({ "key": key, "values": ["a"], "side": "left" }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "length": 3 }));
    let out = call(
        &registry,
        &cx,
        "redis.list_push",
        json!({ "key": key, "values": [4, 5] }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "length": 5 }));
    // a b c 4 5
    let out = call(&registry, &cx, "redis.list_pop", json!({ "key": key }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "values": ["a"] }));
    let out = call(
        &registry,
        &cx,
        "redis.list_pop",
        json!({ "key": key, "side": "right", "count": 2 }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "values": ["5", "4"] }));
    let out = call(&registry, &cx, "redis.list_pop", json!({ "key": key, "count": 10 }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "values": ["b", "c"] }));
    let out = call(&registry, &cx, "redis.list_pop", json!({ "key": key }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "values": [] }), "empty list");
    let out = call(&registry, &cx, "redis.list_pop", json!({ "key": key, "count": 2 }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "values": [] }), "empty list, with a count");
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_command_on_a_key_of_another_type_is_invalid_input_naming_the_key() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("typed");
    call(&registry, &cx, "redis.set", json!({ "key": key, "value": "plain" }))
        .await
        .unwrap();
    let err = call(
        &registry,
        &cx,
        "redis.list_push",
        json!({ "key": key, "values": ["x"] }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.context_value("key"), Some(key.as_str()));
    assert_eq!(err.context_value("code"), Some("WRONGTYPE"));
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn publish_counts_receivers_and_stream_add_appends_and_trims() {
    let (registry, cx) = (registry().await, context(good()));
    let out = call(
        &registry,
        &cx,
        "redis.publish",
        json!({ "channel": unique("nobody"), "message": "hi" }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "receivers": 0 }));

    let stream = unique("stream");
    let first = call(
        &registry,
        &cx,
        "redis.stream_add",
        json!({ "stream": stream, "fields": { "order": 1, "who": "ada" } }),
    )
    .await
    .unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(id.contains('-'), "{id}");
    let entries: Vec<(String, Vec<(String, String)>)> =
        raw_query(redis::cmd("XRANGE").arg(&stream).arg("-").arg("+")).await;
    assert_eq!(
        entries,
        [(
            id,
            vec![
                ("order".to_owned(), "1".to_owned()),
                ("who".to_owned(), "ada".to_owned())
            ]
        )]
    );
    for i in 0..5 {
        call(
            &registry,
            &cx,
            "redis.stream_add",
            json!({ "stream": stream, "fields": { "i": i }, "max_len": 2, "exact_max_len": true }),
        )
        .await
        .unwrap();
    }
    let len: u64 = raw_query(redis::cmd("XLEN").arg(&stream)).await;
    assert_eq!(len, 2, "trimmed to exactly 2");
    let err = call(
        &registry,
        &cx,
        "redis.stream_add",
        json!({ "stream": stream, "fields": { "i": 0 }, "id": "1-1" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "an id below the top: {err}");
}

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

// ---------------------------------------------------------------------------------------------
// triggers
// ---------------------------------------------------------------------------------------------

/// A context for a trigger poll: the connection, the trigger node's params, and where.
fn poll_context(connection: &Arc<StaticConnection>, params: Value) -> Context {
    Context::builder()
        .connection(connection.clone())
        .scenario_id("redis-triggers")
        .node_id(unique("node"))
        .extension(aura_core::trigger::TriggerParams(Arc::new(params)))
        .build()
}

fn static_connection() -> Arc<StaticConnection> {
    Arc::new(StaticConnection::new(
        ConnectionRecord::new("redis", "test", good()).with_id(unique("conn")),
    ))
}

async fn poll(
    registry: &Registry,
    trigger: &str,
    cx: &Context,
    cursor: Option<Value>,
) -> aura_core::trigger::Poll<Value, Value> {
    registry.trigger(trigger).await.unwrap().poll(cx, cursor).await.unwrap()
}

fn keys(poll: &aura_core::trigger::Poll<Value, Value>) -> Vec<String> {
    poll.items.iter().map(|i| i.dedupe_key.clone()).collect()
}

async fn publish(registry: &Registry, channel: &str, message: Value) -> u64 {
    let cx = context(good());
    let out = call(
        registry,
        &cx,
        "redis.publish",
        json!({ "channel": channel, "message": message }),
    )
    .await
    .unwrap();
    out["receivers"].as_u64().unwrap()
}

/// Polls until `n` items came (pub/sub messages arrive a little after PUBLISH returns).
async fn poll_until(
    registry: &Registry,
    trigger: &str,
    cx: &Context,
    mut cursor: Option<Value>,
    n: usize,
) -> (Vec<aura_core::TriggerItem>, Option<Value>) {
    let mut items = Vec::new();
    for _ in 0..50 {
        let p = poll(registry, trigger, cx, cursor.clone()).await;
        items.extend(p.items);
        cursor = Some(p.cursor);
        if items.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (items, cursor)
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn subscribe_drains_the_messages_published_since_the_last_poll() {
    let registry = registry().await;
    let channel = unique("chan");
    let cx = poll_context(&static_connection(), json!({ "channel": channel }));
    // The first poll subscribes: nothing yet.
    let first = poll(&registry, "redis.subscribe", &cx, None).await;
    assert!(first.items.is_empty());
    assert_eq!(
        publish(&registry, &channel, json!("one")).await,
        1,
        "the trigger is subscribed"
    );
    publish(&registry, &channel, json!({ "n": 2 })).await;
    publish(&registry, &channel, json!("three")).await;

    let (items, cursor) = poll_until(&registry, "redis.subscribe", &cx, Some(first.cursor), 3).await;
    let messages: Vec<&Value> = items.iter().map(|i| &i.data["message"]).collect();
    assert_eq!(messages, [&json!("one"), &json!(r#"{"n":2}"#), &json!("three")]);
    assert!(items.iter().all(|i| i.data["channel"] == json!(channel)));
    let mut keys: Vec<&str> = items.iter().map(|i| i.dedupe_key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 3, "distinct dedupe keys");
    assert_eq!(cursor.as_ref().unwrap()["received"], json!(3));

    // Drained: the next poll has nothing.
    let again = poll(&registry, "redis.subscribe", &cx, cursor).await;
    assert!(again.items.is_empty());
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_pattern_subscription_names_the_channel_and_the_pattern() {
    let registry = registry().await;
    let prefix = unique("pat");
    let pattern = format!("{prefix}.*");
    let cx = poll_context(&static_connection(), json!({ "pattern": pattern }));
    poll(&registry, "redis.subscribe", &cx, None).await;
    publish(&registry, &format!("{prefix}.a"), json!("x")).await;
    publish(&registry, &format!("{prefix}-other"), json!("not matched")).await;
    publish(&registry, &format!("{prefix}.b"), json!("y")).await;
    let (items, _) = poll_until(&registry, "redis.subscribe", &cx, None, 2).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].data["channel"], json!(format!("{prefix}.a")));
    assert_eq!(items[0].data["pattern"], json!(pattern));
    assert_eq!(items[1].data["message"], json!("y"));
}

/// An ACL user of its own (`rules` after `on >PASSWORD`), for a test that must act on its
/// connections alone or check permissions; its credentials.
async fn acl_user(rules: &[&str]) -> (String, Credentials) {
    let name = unique("user").replace(':', "-");
    let password = unique("pw").replace(':', "-");
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(&name).arg("on").arg(format!(">{password}"));
    for rule in rules {
        cmd.arg(*rule);
    }
    raw_query::<()>(&mut cmd).await;
    let s = server();
    let creds = Credentials::custom([
        ("host", s.host),
        ("port", s.port),
        ("username", name.clone()),
        ("password", password),
    ]);
    (name, creds)
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_subscription_lost_with_its_connection_is_made_again() {
    let registry = registry().await;
    let channel = unique("lost");
    let (user, creds) = acl_user(&["~*", "&*", "+@all"]).await;
    let connection = Arc::new(StaticConnection::new(
        ConnectionRecord::new("redis", "acl", creds).with_id(unique("conn")),
    ));
    let cx = poll_context(&connection, json!({ "channel": channel }));
    poll(&registry, "redis.subscribe", &cx, None).await;
    // The server drops this user's connections (the subscription's among them).
    let killed: i64 = raw_query(redis::cmd("CLIENT").arg("KILL").arg("USER").arg(&user)).await;
    assert!(killed >= 1);
    // A poll notices (the connection is gone, or PING fails) and the next subscribes again.
    let mut subscribed = false;
    for _ in 0..50 {
        poll(&registry, "redis.subscribe", &cx, None).await;
        if publish(&registry, &channel, json!("ping")).await == 1 {
            subscribed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(subscribed, "subscribed again");
    let (items, _) = poll_until(&registry, "redis.subscribe", &cx, None, 1).await;
    assert_eq!(items.last().unwrap().data["message"], json!("ping"));
    raw_query::<()>(redis::cmd("ACL").arg("DELUSER").arg(&user)).await;
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn an_acl_user_logs_in_by_name_and_a_command_it_may_not_run_is_forbidden() {
    let registry = registry().await;
    let (user, creds) = acl_user(&["~*", "+@all", "-set"]).await;
    let manager = ConnectionManager::builder(registry.clone()).build();
    let record = manager
        .create(NewConnection::new("redis", "limited", creds))
        .await
        .unwrap();
    let cx = Context::builder()
        .connection(manager.connections().get(&record.id).unwrap())
        .build();
    let key = unique("acl");
    call(&registry, &cx, "redis.incr", json!({ "key": key })).await.unwrap();
    let err = call(&registry, &cx, "redis.set", json!({ "key": key, "value": "v" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert_eq!(err.context_value("key"), Some(key.as_str()));
    raw_query::<()>(redis::cmd("ACL").arg("DELUSER").arg(&user)).await;
}

async fn pending(stream: &str, group: &str) -> u64 {
    let summary: (u64, Value2, Value2, Value2) = raw_query(redis::cmd("XPENDING").arg(stream).arg(group)).await;
    summary.0
}

/// Any answer (XPENDING's summary has parts of several shapes).
type Value2 = redis::Value;

async fn add(registry: &Registry, stream: &str, n: u64) -> String {
    let cx = context(good());
    let out = call(
        registry,
        &cx,
        "redis.stream_add",
        json!({ "stream": stream, "fields": { "n": n } }),
    )
    .await
    .unwrap();
    out["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn stream_entries_come_once_and_are_acknowledged_by_the_next_poll() {
    let registry = registry().await;
    let stream = unique("orders");
    let cx = poll_context(&static_connection(), json!({ "stream": stream, "group": "g" }));
    // The first poll creates the group (and the stream): nothing yet.
    let first = poll(&registry, "redis.stream", &cx, None).await;
    assert!(first.items.is_empty());
    let groups: Vec<redis::Value> = raw_query(redis::cmd("XINFO").arg("GROUPS").arg(&stream)).await;
    assert_eq!(groups.len(), 1, "the group exists");

    let a = add(&registry, &stream, 1).await;
    let b = add(&registry, &stream, 2).await;
    let second = poll(&registry, "redis.stream", &cx, Some(first.cursor)).await;
    assert_eq!(keys(&second), [a.clone(), b.clone()], "dedupe key = entry id");
    assert_eq!(second.items[0].data["fields"], json!({ "n": "1" }));
    assert_eq!(second.items[0].data["stream"], json!(stream));
    assert_eq!(second.cursor["ack"], json!([a, b]));
    assert_eq!(
        pending(&stream, "g").await,
        2,
        "not acknowledged before the runtime stored the cursor"
    );

    // The next poll (its cursor stored with the executions) acknowledges them; nothing new.
    let third = poll(&registry, "redis.stream", &cx, Some(second.cursor)).await;
    assert!(third.items.is_empty(), "each entry once");
    assert_eq!(pending(&stream, "g").await, 0, "acknowledged");
    let fourth = poll(&registry, "redis.stream", &cx, Some(third.cursor)).await;
    assert!(fourth.items.is_empty());
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_poll_after_a_crash_delivers_the_pending_entries_again() {
    let registry = registry().await;
    let stream = unique("crash");
    let cx = poll_context(
        &static_connection(),
        json!({ "stream": stream, "group": "g", "consumer": "w1" }),
    );
    let first = poll(&registry, "redis.stream", &cx, None).await;
    let a = add(&registry, &stream, 1).await;
    let delivered = poll(&registry, "redis.stream", &cx, Some(first.cursor.clone())).await;
    assert_eq!(keys(&delivered), [a.as_str()]);

    // The process died before the runtime stored `delivered.cursor`: the stored cursor is
    // still the one before. The entry is delivered again, with the same dedupe key.
    let b = add(&registry, &stream, 2).await;
    let again = poll(&registry, "redis.stream", &cx, Some(first.cursor)).await;
    assert_eq!(keys(&again), [a.as_str()], "the pending entry first, alone");
    assert_eq!(pending(&stream, "g").await, 1);

    // Once that poll's cursor is stored, the entry is acknowledged and the new one comes.
    let next = poll(&registry, "redis.stream", &cx, Some(again.cursor)).await;
    assert_eq!(keys(&next), [b.as_str()]);
    assert_eq!(pending(&stream, "g").await, 1, "a acknowledged, b pending");
    let last = poll(&registry, "redis.stream", &cx, Some(next.cursor)).await;
    assert!(last.items.is_empty());
    assert_eq!(pending(&stream, "g").await, 0);
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_full_poll_says_more_and_a_group_can_start_with_the_whole_stream() {
    let registry = registry().await;
    let stream = unique("backlog");
    for n in 0..5 {
        add(&registry, &stream, n).await;
    }
    let cx = poll_context(
        &static_connection(),
        json!({ "stream": stream, "group": "all", "start": "all", "count": 2 }),
    );
    let mut cursor = None;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let p = poll(&registry, "redis.stream", &cx, cursor.take()).await;
        seen.extend(keys(&p));
        cursor = Some(p.cursor);
        if !p.more {
            break;
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut distinct = seen.clone();
    distinct.dedup();
    assert_eq!(distinct, seen);
    poll(&registry, "redis.stream", &cx, cursor).await;
    assert_eq!(pending(&stream, "all").await, 0);
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// The TLS port's credentials (`AURA_TEST_REDIS_TLS_URL`, `rediss://:PASSWORD@HOST:PORT`, and
/// the CA that signed the server's certificate, `AURA_TEST_REDIS_CA`, a PEM file), with or
/// without that CA.
fn tls_credentials(with_ca: bool) -> Credentials {
    let url = std::env::var("AURA_TEST_REDIS_TLS_URL")
        .expect("AURA_TEST_REDIS_TLS_URL is not set: start redis-server with TLS (see .ci/servers/redis.sh)");
    let ca = std::env::var("AURA_TEST_REDIS_CA").expect("AURA_TEST_REDIS_CA (the CA's PEM file) is not set");
    let rest = url
        .strip_prefix("rediss://")
        .expect("AURA_TEST_REDIS_TLS_URL must be rediss://:PASSWORD@HOST:PORT");
    let (auth, addr) = rest.rsplit_once('@').unwrap();
    let password = auth.split_once(':').map_or(auth, |(_, p)| p);
    let (host, port) = addr.trim_end_matches('/').rsplit_once(':').unwrap();
    let mut fields = vec![
        ("host", host.to_owned()),
        ("port", port.to_owned()),
        ("password", password.to_owned()),
        ("tls", "true".to_owned()),
    ];
    if with_ca {
        fields.push(("ca_cert", std::fs::read_to_string(ca).unwrap()));
    }
    Credentials::custom(fields)
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn tls_with_the_servers_ca_works_and_an_untrusted_certificate_is_refused() {
    let registry = registry().await;
    let manager = ConnectionManager::builder(registry.clone()).build();
    let record = manager
        .create(NewConnection::new("redis", "tls", tls_credentials(true)))
        .await
        .unwrap();
    let cx = Context::builder()
        .connection(manager.connections().get(&record.id).unwrap())
        .build();
    let key = unique("tls");
    call(&registry, &cx, "redis.set", json!({ "key": key, "value": "over tls" }))
        .await
        .unwrap();
    let out = call(&registry, &cx, "redis.get", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": "over tls" }));

    // The system's roots do not know the test CA.
    let err = manager
        .create(NewConnection::new("redis", "untrusted", tls_credentials(false)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(
        !err.is_retryable(),
        "a certificate nobody trusts does not get better: {err}"
    );
}

// ---------------------------------------------------------------------------------------------
// the stream trigger under the trigger runtime
// ---------------------------------------------------------------------------------------------

/// The next trigger event `wanted` picks (ten seconds at most: a guard against a hang).
async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<aura_core::runtime::TriggerEvent>,
    wanted: impl Fn(&aura_core::runtime::TriggerEventKind) -> bool,
) -> aura_core::runtime::TriggerEventKind {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.unwrap();
            if wanted(&event.kind) {
                return event.kind;
            }
        }
    })
    .await
    .expect("the trigger event came")
}

/// The `n` field of every execution's trigger data.
async fn started(store: &dyn aura_core::store::ExecutionStore, scenario: &str) -> Vec<String> {
    let mut out = Vec::new();
    let page = store
        .list(scenario, aura_core::store::PageRequest::first(100))
        .await
        .unwrap();
    for summary in page.items {
        let record = store.get(summary.id).await.unwrap().unwrap();
        out.push(record.trigger["fields"]["n"].as_str().unwrap().to_owned());
    }
    out.sort();
    out
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn under_the_runtime_a_failed_commit_redelivers_and_each_entry_runs_once() {
    use aura_core::runtime::{TriggerEventKind, TriggerRuntime};
    use aura_testkit::{HookedStore, StoreCall};

    let stream = unique("runtime");
    let registry = registry().await;
    add(&registry, &stream, 1).await;

    let memory = Arc::new(aura_core::store::MemoryStore::new());
    let commits = Arc::new(AtomicU64::new(0));
    let counted = commits.clone();
    // The second poll's commit fails: the process "dies" after XREADGROUP delivered entry 2
    // and before its execution (and the cursor acknowledging it) were stored.
    let store = Arc::new(HookedStore::new(memory.clone(), move |call| match call {
        StoreCall::CommitPoll(_) if counted.fetch_add(1, Ordering::SeqCst) == 1 => {
            Err(aura_core::Error::unavailable("the process stopped here"))
        }
        _ => Ok(()),
    }));
    let connections = Arc::new(aura_core::connection::Connections::new());
    connections.insert_record(ConnectionRecord::new("redis", "cache", good()).with_id("cache"));
    let clock = aura_core::clock::ManualClock::new();
    let engine = Engine::builder(registry.clone())
        .store(store)
        .connections(connections)
        .clock(clock.shared())
        .build();
    let triggers = TriggerRuntime::new(engine);
    let mut events = triggers.subscribe();
    let yaml = format!(
        r#"
id: stream-runtime
name: Stream entries
nodes:
  - id: entry
    kind: trigger
    connection: cache
    config: {{ trigger: redis.stream, poll: {{ every_secs: 60, start: all, params: {{ stream: "{stream}", group: g, start: all }} }} }}
    next: [note]
  - {{ id: note, kind: set, input: {{ n: "{{{{ trigger.fields.n }}}}" }} }}
"#
    );
    triggers.deploy(Scenario::from_yaml(&yaml).unwrap()).await.unwrap();
    let polled = |k: &TriggerEventKind| matches!(k, TriggerEventKind::Polled { .. });

    // Poll 1: entry 1, stored with its cursor.
    assert_eq!(
        next_event(&mut events, polled).await,
        TriggerEventKind::Polled { new: 1, more: false }
    );
    assert_eq!(started(memory.as_ref(), "stream-runtime").await, ["1"]);
    assert_eq!(pending(&stream, "g").await, 1, "acknowledged by the next poll");

    // Poll 2: entry 1 acknowledged, entry 2 delivered, and the commit fails.
    add(&registry, &stream, 2).await;
    clock.advance(Duration::from_secs(60));
    let failed = next_event(&mut events, |k| matches!(k, TriggerEventKind::Failed { .. })).await;
    let TriggerEventKind::Failed { retry_in, .. } = failed else {
        unreachable!()
    };
    assert_eq!(started(memory.as_ref(), "stream-runtime").await, ["1"]);
    assert_eq!(pending(&stream, "g").await, 1, "entry 2 pending, never acknowledged");

    // Poll 3 (from the stored cursor, the one before): entry 2 again, now stored; a
    // redelivery asks for the next poll at once.
    clock.advance(retry_in);
    assert_eq!(
        next_event(&mut events, polled).await,
        TriggerEventKind::Polled { new: 1, more: true }
    );
    // Poll 4, at once: entry 2 acknowledged, nothing new.
    assert_eq!(
        next_event(&mut events, polled).await,
        TriggerEventKind::Polled { new: 0, more: false }
    );
    triggers.shutdown().await;
    assert_eq!(
        started(memory.as_ref(), "stream-runtime").await,
        ["1", "2"],
        "each entry once"
    );
    assert_eq!(pending(&stream, "g").await, 0);
    assert!(commits.load(Ordering::SeqCst) >= 4);
}
