//! The `redis` app against a real redis-server (`AURA_TEST_REDIS_URL`, as `.ci/run` starts it:
//! `redis://:PASSWORD@127.0.0.1:PORT`). Every test is ignored without the server:
//! `AURA_TEST_REDIS_URL=… cargo test -p aura-connectors --features redis --test redis -- --ignored`.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod actions;
mod connections;
mod runtime;
mod tls;
mod triggers;

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
