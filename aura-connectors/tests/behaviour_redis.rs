//! The connector behaviour suite on the `redis` app, against a real redis-server
//! (`AURA_TEST_REDIS_URL`, as `.ci/run` starts it: `redis://:PASSWORD@127.0.0.1:PORT`):
//! `AURA_TEST_REDIS_URL=… cargo test -p aura-connectors --features redis --test behaviour_redis -- --ignored`.
//! The polling check runs on `redis.stream` (a consumer group on a stream of its own).

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use aura_connectors::redis::RedisApp;
use aura_core::connection::Credentials;
use aura_testkit::behavior::connector::{ConnectorFixture, PollingCase};
use serde_json::json;

const WRONG_PASSWORD: &str = "wrong-password-canary-Redis-51c2";

/// Host, port and password from `AURA_TEST_REDIS_URL`.
fn server() -> (String, String, String) {
    let url = std::env::var("AURA_TEST_REDIS_URL")
        .expect("AURA_TEST_REDIS_URL is not set: start redis-server (see .ci/servers/redis.sh) and set it");
    let rest = url
        .strip_prefix("redis://")
        .expect("AURA_TEST_REDIS_URL must be redis://:PASSWORD@HOST:PORT");
    let (auth, addr) = rest.rsplit_once('@').unwrap_or(("", rest));
    let password = auth.split_once(':').map_or(auth, |(_, p)| p);
    let (host, port) = addr.trim_end_matches('/').rsplit_once(':').unwrap_or((addr, "6379"));
    (host.to_owned(), port.to_owned(), password.to_owned())
}

fn credentials(password: &str) -> Credentials {
    let (host, port, _) = server();
    Credentials::custom([("host", host), ("port", port), ("password", password.to_owned())])
}

async fn fixture() -> ConnectorFixture {
    let (host, port, password) = server();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let stream = format!("aura-test:behaviour:{nanos:x}");
    let url = format!("redis://:{password}@{host}:{port}");
    let target = stream.clone();
    ConnectorFixture::new(RedisApp::new())
        .credentials(credentials(&password))
        .bad_credentials(credentials(WRONG_PASSWORD))
        .canary(WRONG_PASSWORD)
        .bad_input("redis.set", json!({ "key": 5, "value": "v" }))
        .bad_input("redis.set", json!({ "key": "k" }))
        .bad_input(
            "redis.set",
            json!({ "key": "k", "value": "v", "ttl_secs": 1, "ttl_ms": 1 }),
        )
        .bad_input("redis.get", json!({ "key": "" }))
        .bad_input("redis.delete", json!({ "keys": [] }))
        .bad_input("redis.list_pop", json!({ "key": "l", "side": "middle" }))
        .bad_input(
            "redis.stream_add",
            json!({ "stream": "s", "fields": { "a": 1 }, "exact_max_len": true }),
        )
        .call(
            "redis.set",
            json!({ "key": format!("{stream}:call"), "value": { "n": 1 }, "ttl_secs": 60 }),
        )
        .polling(
            PollingCase::new("redis.stream", json!({ "stream": stream, "group": "behaviour" })).produce(move || {
                let (url, stream) = (url.clone(), target.clone());
                async move {
                    let mut conn = redis::Client::open(url)
                        .unwrap()
                        .get_multiplexed_async_connection()
                        .await
                        .unwrap();
                    let _: String = redis::cmd("XADD")
                        .arg(&stream)
                        .arg("*")
                        .arg("n")
                        .arg(1)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                }
            }),
        )
}

aura_testkit::connector_behavior!(
    #[ignore = "needs redis: see .ci/run"]
    async {
        fixture().await
    }
);
