//! Unit tests: command building, input checks, error mapping, config and cursors (no server).

use std::io;

use aura_core::secret::Scrubber;
use aura_core::{App, Credentials, ErrorKind};
use redis::Value as RedisValue;
use serde_json::json;

use super::triggers::{ack_command, create_group_command, read_command, stream_entries};
use super::*;

/// A command's arguments as text, the command name first.
fn args(cmd: &redis::Cmd) -> Vec<String> {
    cmd.args_iter()
        .map(|a| match a {
            redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => "<cursor>".to_owned(),
        })
        .collect()
}

fn input<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// A server error as the driver reads it off the wire (`-CODE detail`).
fn server_error(line: &str) -> redis::RedisError {
    let value = redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).unwrap();
    match value {
        RedisValue::ServerError(e) => e.into(),
        other => panic!("not a server error: {other:?}"),
    }
}

fn no_secrets() -> Scrubber {
    Scrubber::new()
}

// ---------------------------------------------------------------------------------------------
// commands
// ---------------------------------------------------------------------------------------------

#[test]
fn set_stores_strings_as_they_are_and_other_values_as_json() {
    let cmd = input::<SetInput>(json!({ "key": "k", "value": "plain" }))
        .command()
        .unwrap();
    assert_eq!(args(&cmd), ["SET", "k", "plain"]);
    let cmd = input::<SetInput>(json!({ "key": "k", "value": { "a": [1, true] } }))
        .command()
        .unwrap();
    assert_eq!(args(&cmd), ["SET", "k", r#"{"a":[1,true]}"#]);
    let cmd = input::<SetInput>(json!({ "key": "k", "value": null }))
        .command()
        .unwrap();
    assert_eq!(args(&cmd), ["SET", "k", "null"]);
}

#[test]
fn set_takes_a_ttl_in_seconds_or_milliseconds_and_a_condition() {
    let cmd = input::<SetInput>(json!({ "key": "k", "value": 1, "ttl_secs": 30, "condition": "nx" }))
        .command()
        .unwrap();
    assert_eq!(args(&cmd), ["SET", "k", "1", "EX", "30", "NX"]);
    let cmd = input::<SetInput>(json!({ "key": "k", "value": "v", "ttl_ms": 1500, "condition": "xx" }))
        .command()
        .unwrap();
    assert_eq!(args(&cmd), ["SET", "k", "v", "PX", "1500", "XX"]);
}

#[test]
fn set_refuses_two_ttls_and_a_zero_ttl_before_sending() {
    let both = input::<SetInput>(json!({ "key": "k", "value": "v", "ttl_secs": 1, "ttl_ms": 1 }))
        .command()
        .unwrap_err();
    assert_eq!(both.kind(), ErrorKind::InvalidInput);
    assert_eq!(both.violations()[0].path, "/ttl_ms");
    let zero = input::<SetInput>(json!({ "key": "k", "value": "v", "ttl_secs": 0 }))
        .command()
        .unwrap_err();
    assert_eq!(zero.violations()[0].path, "/ttl_secs");
    let empty = input::<SetInput>(json!({ "key": "", "value": "v" }))
        .command()
        .unwrap_err();
    assert_eq!(empty.violations()[0].path, "/key");
}

#[test]
fn unknown_input_fields_are_refused() {
    assert!(serde_json::from_value::<SetInput>(json!({ "key": "k", "value": "v", "ttl": 3 })).is_err());
    assert!(serde_json::from_value::<SetInput>(json!({ "key": 5, "value": "v" })).is_err());
}

#[test]
fn the_other_actions_build_their_commands() {
    let get = input::<GetInput>(json!({ "key": "k" })).command().unwrap();
    assert_eq!(args(&get), ["GET", "k"]);
    let del = input::<DeleteInput>(json!({ "keys": ["a", "b"] })).command().unwrap();
    assert_eq!(args(&del), ["DEL", "a", "b"]);
    let incr = input::<IncrInput>(json!({ "key": "n" })).command().unwrap();
    assert_eq!(args(&incr), ["INCRBY", "n", "1"]);
    let decr = input::<IncrInput>(json!({ "key": "n", "by": -5 })).command().unwrap();
    assert_eq!(args(&decr), ["INCRBY", "n", "-5"]);
    let all = input::<HashGetInput>(json!({ "key": "h" })).command().unwrap();
    assert_eq!(args(&all), ["HGETALL", "h"]);
    let some = input::<HashGetInput>(json!({ "key": "h", "fields": ["a", "b"] }))
        .command()
        .unwrap();
    assert_eq!(args(&some), ["HMGET", "h", "a", "b"]);
    let hset = input::<HashSetInput>(json!({ "key": "h", "fields": { "b": 2, "a": "x" } }))
        .command()
        .unwrap();
    assert_eq!(args(&hset), ["HSET", "h", "a", "x", "b", "2"]);
    let rpush = input::<ListPushInput>(json!({ "key": "l", "values": ["x", 1] }))
        .command()
        .unwrap();
    assert_eq!(args(&rpush), ["RPUSH", "l", "x", "1"]);
    let lpush = input::<ListPushInput>(json!({ "key": "l", "values": ["x"], "side": "left" }))
        .command()
        .unwrap();
    assert_eq!(args(&lpush), ["LPUSH", "l", "x"]);
    let lpop = input::<ListPopInput>(json!({ "key": "l" })).command().unwrap();
    assert_eq!(args(&lpop), ["LPOP", "l"]);
    let rpop = input::<ListPopInput>(json!({ "key": "l", "side": "right", "count": 3 }))
        .command()
        .unwrap();
    assert_eq!(args(&rpop), ["RPOP", "l", "3"]);
    let publish = input::<PublishInput>(json!({ "channel": "c", "message": { "n": 1 } }))
        .command()
        .unwrap();
    assert_eq!(args(&publish), ["PUBLISH", "c", r#"{"n":1}"#]);
}

#[test]
fn stream_add_trims_about_or_exactly() {
    let plain = input::<StreamAddInput>(json!({ "stream": "s", "fields": { "a": "1" } }))
        .command()
        .unwrap();
    assert_eq!(args(&plain), ["XADD", "s", "*", "a", "1"]);
    let about = input::<StreamAddInput>(json!({ "stream": "s", "fields": { "a": 1 }, "max_len": 1000 }))
        .command()
        .unwrap();
    assert_eq!(args(&about), ["XADD", "s", "MAXLEN", "~", "1000", "*", "a", "1"]);
    let exact = input::<StreamAddInput>(
        json!({ "stream": "s", "fields": { "a": 1 }, "max_len": 10, "exact_max_len": true, "id": "5-1" }),
    )
    .command()
    .unwrap();
    assert_eq!(args(&exact), ["XADD", "s", "MAXLEN", "=", "10", "5-1", "a", "1"]);
}

#[test]
fn empty_collections_are_refused_before_sending() {
    let cases = [
        (
            input::<DeleteInput>(json!({ "keys": [] })).command().unwrap_err(),
            "/keys",
        ),
        (
            input::<HashSetInput>(json!({ "key": "h", "fields": {} }))
                .command()
                .unwrap_err(),
            "/fields",
        ),
        (
            input::<ListPushInput>(json!({ "key": "l", "values": [] }))
                .command()
                .unwrap_err(),
            "/values",
        ),
        (
            input::<StreamAddInput>(json!({ "stream": "s", "fields": {} }))
                .command()
                .unwrap_err(),
            "/fields",
        ),
        (
            input::<StreamAddInput>(json!({ "stream": "s", "fields": { "a": 1 }, "exact_max_len": true }))
                .command()
                .unwrap_err(),
            "/exact_max_len",
        ),
        (
            input::<ListPopInput>(json!({ "key": "l", "count": 0 }))
                .command()
                .unwrap_err(),
            "/count",
        ),
    ];
    for (err, path) in cases {
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(err.violations()[0].path, path);
    }
}

#[tokio::test]
async fn the_input_schemas_refuse_bad_input_before_the_handler() {
    let registry = aura_core::Registry::new();
    registry.register(RedisApp::new()).unwrap();
    let cases = [
        ("redis.set", json!({ "key": 5, "value": "v" })),
        ("redis.set", json!({ "key": "", "value": "v" })),
        ("redis.set", json!({ "key": "k" })),
        ("redis.set", json!({ "key": "k", "value": "v", "ttl_secs": 0 })),
        ("redis.set", json!({ "key": "k", "value": "v", "condition": "maybe" })),
        ("redis.delete", json!({ "keys": [] })),
        ("redis.hash_set", json!({ "key": "h", "fields": {} })),
        ("redis.list_push", json!({ "key": "l", "values": [], "side": "right" })),
        ("redis.list_pop", json!({ "key": "l", "side": "middle" })),
        ("redis.stream_add", json!({ "stream": "s", "fields": {} })),
        ("redis.incr", json!({ "key": "n", "by": "two" })),
    ];
    for (action, bad) in cases {
        let action = registry.action(action).await.unwrap();
        let err = action.validate_input(&bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
    }
}

#[tokio::test]
async fn an_action_without_a_connection_fails_before_any_network() {
    let registry = aura_core::Registry::new();
    registry.register(RedisApp::new()).unwrap();
    let action = registry.action("redis.get").await.unwrap();
    let err = action
        .call(aura_core::Context::new(), json!({ "key": "k" }))
        .await
        .unwrap_err();
    assert_ne!(err.kind(), ErrorKind::Unavailable, "{err}");
}

// ---------------------------------------------------------------------------------------------
// error mapping
// ---------------------------------------------------------------------------------------------

#[test]
fn authentication_errors_are_unauthorized() {
    for line in [
        "NOAUTH Authentication required.",
        "WRONGPASS invalid username-password pair or user is disabled.",
        "ERR AUTH <password> called without any password configured for the default user.",
        "ERR invalid password",
    ] {
        let err = from_redis(&server_error(line), &no_secrets());
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{line}");
        assert!(!err.is_retryable());
    }
    let failed: redis::RedisError = (redis::ErrorKind::AuthenticationFailed, "Password authentication failed").into();
    assert_eq!(from_redis(&failed, &no_secrets()).kind(), ErrorKind::Unauthorized);
}

#[test]
fn noperm_is_forbidden() {
    let err = from_redis(
        &server_error("NOPERM User aura has no permissions to run the 'set' command"),
        &no_secrets(),
    );
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.context_value("code"), Some("NOPERM"));
}

#[test]
fn wrongtype_and_bad_arguments_are_invalid_input() {
    for line in [
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "ERR value is not an integer or out of range",
        "ERR increment or decrement would overflow",
        "ERR syntax error",
        "ERR invalid expire time in 'set' command",
        "ERR The ID specified in XADD is equal or smaller than the target stream top item",
    ] {
        let err = from_redis(&server_error(line), &no_secrets());
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{line}");
    }
}

#[test]
fn a_busy_or_loading_server_is_unavailable_and_retryable() {
    for line in [
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.",
        "LOADING Redis is loading the dataset in memory",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "READONLY You can't write against a read only replica.",
        "OOM command not allowed when used memory > 'maxmemory'.",
    ] {
        let err = from_redis(&server_error(line), &no_secrets());
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{line}");
        assert!(err.is_retryable(), "{line}");
    }
}

#[test]
fn groups_missing_or_existing_are_not_found_and_conflict() {
    let missing = from_redis(
        &server_error("NOGROUP No such key 'orders' or consumer group 'aura' in XREADGROUP with GROUP option"),
        &no_secrets(),
    );
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert_eq!(missing.context_value("code"), Some("NOGROUP"));
    let exists = from_redis(
        &server_error("BUSYGROUP Consumer Group name already exists"),
        &no_secrets(),
    );
    assert_eq!(exists.kind(), ErrorKind::Conflict);
    assert_eq!(exists.context_value("code"), Some("BUSYGROUP"));
}

#[test]
fn connection_failures_are_unavailable_and_timeouts_timeout() {
    let refused: redis::RedisError = io::Error::from(io::ErrorKind::ConnectionRefused).into();
    let err = from_redis(&refused, &no_secrets());
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(!err.may_have_been_accepted(), "nothing was sent");
    let reset: redis::RedisError = io::Error::from(io::ErrorKind::ConnectionReset).into();
    let err = from_redis(&reset, &no_secrets());
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.may_have_been_accepted());
    let timed_out: redis::RedisError = io::Error::from(io::ErrorKind::TimedOut).into();
    assert_eq!(from_redis(&timed_out, &no_secrets()).kind(), ErrorKind::Timeout);
}

#[test]
fn an_untrusted_tls_certificate_is_invalid_input_not_retried() {
    let refused: redis::RedisError =
        io::Error::new(io::ErrorKind::InvalidData, "invalid peer certificate: UnknownIssuer").into();
    let err = from_redis(&refused, &no_secrets());
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!err.is_retryable());
}

#[test]
fn other_errors_are_upstream() {
    let err = from_redis(&server_error("ERR unknown command 'FOO'"), &no_secrets());
    assert_eq!(err.kind(), ErrorKind::Upstream);
    let shape: redis::RedisError = (
        redis::ErrorKind::UnexpectedReturnType,
        "Response was of incompatible type",
    )
        .into();
    assert_eq!(from_redis(&shape, &no_secrets()).kind(), ErrorKind::Upstream);
}

#[test]
fn a_password_echoed_by_the_server_is_scrubbed() {
    let creds = Credentials::custom([("host", "h"), ("password", "hunter2-pw")]);
    let echoed = redis::make_extension_error(
        "WRONGPASS".to_owned(),
        Some("password hunter2-pw was refused".to_owned()),
    );
    let err = from_redis(&echoed, &creds.scrubber());
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let shown = format!("{err} {err:?} {:?}", err.context());
    assert!(!shown.contains("hunter2-pw"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------------------------

#[test]
fn config_reads_the_fields_with_defaults() {
    let config = RedisConfig::from_credentials(&Credentials::custom([("host", "cache.local")])).unwrap();
    assert_eq!((config.host.as_str(), config.port, config.db), ("cache.local", 6379, 0));
    assert!(config.username.is_none() && config.password.is_none() && !config.tls);
    let config = RedisConfig::from_credentials(&Credentials::custom([
        ("host", "10.0.0.5"),
        ("port", "6380"),
        ("username", "aura"),
        ("password", "pw"),
        ("db", "3"),
        ("tls", "true"),
    ]))
    .unwrap();
    assert_eq!(config.port, 6380);
    assert_eq!(config.db, 3);
    assert_eq!(config.username.as_deref(), Some("aura"));
    assert!(config.tls);
    assert_eq!(config.address(), "10.0.0.5:6380");
}

#[test]
fn config_refuses_bad_fields_naming_them() {
    let cases = [
        (Credentials::custom([("port", "1")]), "/credentials/fields/host"),
        (
            Credentials::custom([("host", "redis://h:6379")]),
            "/credentials/fields/host",
        ),
        (
            Credentials::custom([("host", "h"), ("port", "http")]),
            "/credentials/fields/port",
        ),
        (
            Credentials::custom([("host", "h"), ("port", "0")]),
            "/credentials/fields/port",
        ),
        (
            Credentials::custom([("host", "h"), ("db", "-1")]),
            "/credentials/fields/db",
        ),
        (
            Credentials::custom([("host", "h"), ("tls", "sure")]),
            "/credentials/fields/tls",
        ),
        (
            Credentials::custom([("host", "h"), ("ca_cert", "-----BEGIN")]),
            "/credentials/fields/ca_cert",
        ),
        (Credentials::bearer("t"), "/credentials/type"),
    ];
    for (creds, path) in cases {
        let err = RedisConfig::from_credentials(&creds).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(err.violations()[0].path, path);
    }
}

#[test]
fn config_debug_hides_the_password() {
    let creds = Credentials::custom([("host", "h"), ("password", "s3cret-value")]);
    let config = RedisConfig::from_credentials(&creds).unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cret-value"), "{shown}");
    assert!(shown.contains("[redacted]"));
    let info = config.connection_info().unwrap();
    assert!(!format!("{info:?}").contains("s3cret-value"));
}

#[test]
fn the_manifest_declares_the_custom_fields_only_the_password_secret() {
    let manifest = RedisApp::new().manifest();
    manifest.validate().unwrap();
    let aura_core::app::AuthMethod::Custom { fields } = &manifest.auth[0] else {
        panic!("custom auth expected");
    };
    let secret: Vec<_> = fields.iter().filter(|f| f.secret).map(|f| f.name.as_str()).collect();
    assert_eq!(secret, ["password"]);
    let required: Vec<_> = fields.iter().filter(|f| f.required).map(|f| f.name.as_str()).collect();
    assert_eq!(required, ["host"]);
    for name in ["host", "port", "username", "password", "db"] {
        assert!(fields.iter().any(|f| f.name == name), "{name}");
    }
}

#[tokio::test]
async fn every_action_and_trigger_registers() {
    let registry = aura_core::Registry::new();
    registry.register(RedisApp::new()).unwrap();
    for key in [
        "get",
        "set",
        "delete",
        "incr",
        "hash_get",
        "hash_set",
        "list_push",
        "list_pop",
        "publish",
        "stream_add",
    ] {
        registry.action(&format!("redis.{key}")).await.unwrap();
    }
    for key in ["subscribe", "stream"] {
        registry.trigger(&format!("redis.{key}")).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// stream trigger: commands, answers, cursor
// ---------------------------------------------------------------------------------------------

fn stream_params() -> StreamParams {
    input(json!({ "stream": "orders", "group": "g" }))
}

#[test]
fn stream_params_default_to_a_new_group_read_by_aura() {
    let p = stream_params();
    assert_eq!((p.consumer.as_str(), p.count, p.start), ("aura", 100, GroupStart::New));
    assert_eq!(
        args(&read_command(&p, ">")),
        [
            "XREADGROUP",
            "GROUP",
            "g",
            "aura",
            "COUNT",
            "100",
            "STREAMS",
            "orders",
            ">"
        ]
    );
    assert_eq!(
        args(&read_command(&p, "0")),
        [
            "XREADGROUP",
            "GROUP",
            "g",
            "aura",
            "COUNT",
            "100",
            "STREAMS",
            "orders",
            "0"
        ]
    );
    assert_eq!(
        args(&create_group_command(&p)),
        ["XGROUP", "CREATE", "orders", "g", "$", "MKSTREAM"]
    );
    let all: StreamParams = input(json!({ "stream": "orders", "group": "g", "start": "all" }));
    assert_eq!(
        args(&create_group_command(&all)),
        ["XGROUP", "CREATE", "orders", "g", "0", "MKSTREAM"]
    );
}

#[test]
fn the_cursor_round_trips_and_acks_only_its_own_stream_and_group() {
    let cursor = StreamCursor {
        stream: "orders".into(),
        group: "g".into(),
        ack: vec!["1-0".into(), "2-0".into()],
    };
    let stored = serde_json::to_value(&cursor).unwrap();
    assert_eq!(
        stored,
        json!({ "stream": "orders", "group": "g", "ack": ["1-0", "2-0"] })
    );
    let back: StreamCursor = serde_json::from_value(stored).unwrap();
    assert_eq!(back, cursor);
    let ack = ack_command(&stream_params(), &back).unwrap();
    assert_eq!(args(&ack), ["XACK", "orders", "g", "1-0", "2-0"]);
    let other: StreamParams = input(json!({ "stream": "orders", "group": "other" }));
    assert!(ack_command(&other, &back).is_none());
    let empty = StreamCursor { ack: vec![], ..back };
    assert!(ack_command(&stream_params(), &empty).is_none());
}

fn bulk(s: &str) -> RedisValue {
    RedisValue::BulkString(s.as_bytes().to_vec())
}

#[test]
fn stream_answers_are_read_in_resp2_and_resp3_shapes() {
    assert!(stream_entries(RedisValue::Nil).unwrap().is_empty());
    let resp2 = RedisValue::Array(vec![RedisValue::Array(vec![
        bulk("orders"),
        RedisValue::Array(vec![
            RedisValue::Array(vec![
                bulk("1-0"),
                RedisValue::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("x")]),
            ]),
            // Deleted while pending.
            RedisValue::Array(vec![bulk("2-0"), RedisValue::Nil]),
        ]),
    ])]);
    let entries = stream_entries(resp2).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].0, "1-0");
    let fields = entries[0].1.as_ref().unwrap();
    assert_eq!(fields.get("a").map(String::as_str), Some("1"));
    assert_eq!(fields.get("b").map(String::as_str), Some("x"));
    assert_eq!(entries[1], ("2-0".to_owned(), None));

    let resp3 = RedisValue::Map(vec![(
        bulk("orders"),
        RedisValue::Array(vec![RedisValue::Array(vec![
            bulk("3-0"),
            RedisValue::Map(vec![(bulk("k"), bulk("v"))]),
        ])]),
    )]);
    let entries = stream_entries(resp3).unwrap();
    assert_eq!(entries[0].0, "3-0");
    assert_eq!(entries[0].1.as_ref().unwrap()["k"], "v");

    let pending_none = RedisValue::Array(vec![RedisValue::Array(vec![bulk("orders"), RedisValue::Array(vec![])])]);
    assert!(stream_entries(pending_none).unwrap().is_empty());

    let err = stream_entries(RedisValue::Int(3)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
}

#[test]
fn the_subscribe_cursor_round_trips() {
    let cursor = SubscribeCursor {
        received: 7,
        dropped: 1,
    };
    let back: SubscribeCursor = serde_json::from_value(serde_json::to_value(&cursor).unwrap()).unwrap();
    assert_eq!(back, cursor);
    let params: SubscribeParams = input(json!({ "channel": "c" }));
    assert_eq!(params.max_buffer, 10_000);
    assert!(serde_json::from_value::<SubscribeParams>(json!({ "channel": "c", "other": 1 })).is_err());
}

#[tokio::test]
async fn the_scenario_in_the_docs_compiles() {
    let docs = include_str!("docs.md");
    let start = docs.find("```yaml\n").unwrap() + "```yaml\n".len();
    let yaml = &docs[start..start + docs[start..].find("```").unwrap()];
    let scenario = aura_core::scenario::Scenario::from_yaml(yaml).unwrap();
    let registry = std::sync::Arc::new(aura_core::Registry::new());
    registry.register(RedisApp::new()).unwrap();
    let connections = std::sync::Arc::new(aura_core::connection::Connections::new());
    connections.insert_record(
        aura_core::ConnectionRecord::new("redis", "Cache", Credentials::custom([("host", "h")])).with_id("cache"),
    );
    let engine = aura_core::engine::Engine::builder(registry)
        .connections(connections)
        .build();
    engine.compile(scenario).await.unwrap();
}
