#![doc = include_str!("docs.md")]

mod actions;
mod config;
mod core;
mod error;
mod triggers;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aura_core::app::Category;
use aura_core::trigger::TriggerDef;
use aura_core::{ActionDef, App, AppManifest, Context, Result};

pub use self::actions::{
    DeleteInput, DeleteOutput, GetInput, GetOutput, HashGetInput, HashGetOutput, HashSetInput, HashSetOutput,
    IncrInput, IncrOutput, ListPopInput, ListPopOutput, ListPushInput, ListPushOutput, PublishInput, PublishOutput,
    SetCondition, SetInput, SetOutput, Side, StreamAddInput, StreamAddOutput, stored_text,
};
pub use self::config::{DEFAULT_PORT, RedisConfig};
pub use self::core::Timeouts;
pub use self::error::from_redis;
pub use self::triggers::{
    GroupStart, PubSubMessage, StreamCursor, StreamEntry, StreamParams, SubscribeCursor, SubscribeParams,
};

/// The `redis` app: its clients are cached per connection id and credential version, its
/// pub/sub subscriptions live in the `subscribe` trigger.
///
/// ```
/// use aura_connectors::redis::RedisApp;
///
/// let registry = aura_core::Registry::new();
/// registry.register(RedisApp::new())?;
/// assert_eq!(registry.manifest("redis")?.id, "redis");
/// # Ok::<(), aura_core::Error>(())
/// ```
pub struct RedisApp {
    core: Arc<core::Core>,
    subscriptions: Arc<triggers::Subscriptions>,
}

impl Default for RedisApp {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RedisApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisApp")
            .field("timeouts", &self.core.timeouts)
            .finish_non_exhaustive()
    }
}

/// A subscription no poll asked for in this long is closed.
const SUBSCRIPTION_IDLE: Duration = Duration::from_secs(3600);

impl RedisApp {
    /// The app with the default [`Timeouts`] (5 s to connect, 10 s per answer).
    pub fn new() -> Self {
        Self::with_timeouts(Timeouts::default())
    }

    /// The app waiting for the server as long as `timeouts` say.
    pub fn with_timeouts(timeouts: Timeouts) -> Self {
        Self {
            core: Arc::new(core::Core::new(timeouts)),
            subscriptions: Arc::new(triggers::Subscriptions::new(SUBSCRIPTION_IDLE)),
        }
    }
}

#[async_trait]
impl App for RedisApp {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("redis", "Redis", semver::Version::new(1, 0, 0))
            .category(Category::Database)
            .description("Strings, counters, hashes, lists, pub/sub and streams on Redis (or Valkey)")
            .tags(["redis", "valkey", "cache", "queue", "pubsub", "streams"])
            .auth(RedisConfig::auth_method())
    }

    fn actions(&self) -> Vec<ActionDef> {
        let core = &self.core;
        vec![
            ActionDef::with_state("get", core.clone(), actions::get)
                .name("Get a value")
                .description("GET: a key's string value, null when missing")
                .idempotent(true),
            ActionDef::with_state("set", core.clone(), actions::set)
                .name("Set a value")
                .description("SET: a string (JSON text for other values), with an optional TTL and NX / XX")
                .idempotent(true),
            ActionDef::with_state("delete", core.clone(), actions::delete)
                .name("Delete keys")
                .description("DEL: removes keys, returns how many existed")
                .idempotent(true),
            ActionDef::with_state("incr", core.clone(), actions::incr)
                .name("Increment a counter")
                .description("INCRBY: adds to an integer, returns the new value"),
            ActionDef::with_state("hash_get", core.clone(), actions::hash_get)
                .name("Get hash fields")
                .description("HMGET / HGETALL: some or all fields of a hash")
                .idempotent(true),
            ActionDef::with_state("hash_set", core.clone(), actions::hash_set)
                .name("Set hash fields")
                .description("HSET: sets fields of a hash, returns how many were new")
                .idempotent(true),
            ActionDef::with_state("list_push", core.clone(), actions::list_push)
                .name("Push to a list")
                .description("RPUSH / LPUSH: adds values at one end, returns the new length"),
            ActionDef::with_state("list_pop", core.clone(), actions::list_pop)
                .name("Pop from a list")
                .description("LPOP / RPOP: removes and returns values from one end"),
            ActionDef::with_state("publish", core.clone(), actions::publish)
                .name("Publish a message")
                .description("PUBLISH: sends a message on a channel, returns how many received it"),
            ActionDef::with_state("stream_add", core.clone(), actions::stream_add)
                .name("Add to a stream")
                .description("XADD: appends an entry, optionally trimming the stream, returns its id"),
        ]
    }

    fn triggers(&self) -> Vec<TriggerDef> {
        vec![
            TriggerDef::polling(
                "subscribe",
                triggers::Subscribe {
                    core: self.core.clone(),
                    subscriptions: self.subscriptions.clone(),
                },
            )
            .name("Messages on a pub/sub channel")
            .description("SUBSCRIBE / PSUBSCRIBE; each poll takes what arrived since the last (at most once)")
            .params_schema(aura_core::schema::generate::<SubscribeParams>()),
            TriggerDef::polling(
                "stream",
                triggers::StreamTrigger {
                    core: self.core.clone(),
                },
            )
            .name("New entries of a stream")
            .description("XREADGROUP through a consumer group, acknowledged once accepted (at least once)")
            .params_schema(aura_core::schema::generate::<StreamParams>()),
        ]
    }

    /// `PING` with the connection's credentials, on a client of its own.
    async fn test_connection(&self, cx: &Context) -> Result<()> {
        self.core.ping(cx).await
    }

    async fn cleanup(&self) -> Result<()> {
        self.subscriptions.clear();
        self.core.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
