//! The clients, cached per connection id and credential version, and the one path every
//! command takes: cancellation, the error mapping, and where it happened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aura_core::secret::Scrubber;
use aura_core::{ConnectionId, Context, Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::{Cmd, FromRedisValue};
use tokio::sync::OnceCell;

use super::config::RedisConfig;
use super::error::from_redis;

/// How long the app waits for the server: to connect, and for each answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection and log in.
    pub connect: Duration,
    /// For the answer to one command.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            response: Duration::from_secs(10),
        }
    }
}

/// One connection's client and its multiplexed, reconnecting connection.
#[derive(Clone)]
pub(crate) struct Handle {
    client: redis::Client,
    manager: ConnectionManager,
    /// The password the client was built from, in every form, for error texts.
    pub(crate) scrubber: Arc<Scrubber>,
    /// `host:port`, for error context.
    pub(crate) address: Arc<str>,
}

struct Slot {
    version: u64,
    /// What the client was built from: a context whose connection has the same id and
    /// version but other credentials (a candidate being tested) does not get this client.
    config: RedisConfig,
    cell: Arc<OnceCell<Handle>>,
}

/// What the app's actions and triggers share: the timeouts and the clients.
pub(crate) struct Core {
    pub(crate) timeouts: Timeouts,
    clients: Mutex<HashMap<ConnectionId, Slot>>,
}

impl Core {
    pub(crate) fn new(timeouts: Timeouts) -> Self {
        Self {
            timeouts,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client of the context's connection, connecting (once, however many callers wait)
    /// when there is none for its id and credential version. A newer version replaces the
    /// client of the older one (a replaced password drops the old connection).
    pub(crate) async fn handle(&self, cx: &Context) -> Result<Handle> {
        let conn = cx.require_connection()?;
        let (id, version) = (conn.id().clone(), conn.version());
        let credentials = conn.credentials();
        let config = RedisConfig::from_credentials(&credentials)?;
        let cell = {
            let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            match clients.get(&id) {
                Some(slot) if slot.version == version && slot.config.same_as(&config) => slot.cell.clone(),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    clients.insert(
                        id,
                        Slot {
                            version,
                            config: config.clone(),
                            cell: cell.clone(),
                        },
                    );
                    cell
                }
            }
        };
        let connect = cell.get_or_try_init(|| self.connect(config));
        let handle = tokio::select! {
            biased;
            () = cx.cancellation().cancelled() => return Err(Error::cancelled("the redis connection was cancelled")),
            // No command was sent yet: even one that is not idempotent may be tried again.
            handle = connect => handle.map_err(Error::not_sent)?,
        };
        Ok(handle.clone())
    }

    /// Opens a client for `config` and checks it logs in.
    async fn connect(&self, config: RedisConfig) -> Result<Handle> {
        // The password is the one secret (host, port, user and database are not: scrubbing
        // them would hide where a failure happened).
        let scrubber = Arc::new(Scrubber::of(config.password.as_ref()));
        let address: Arc<str> = config.address().into();
        let client = config.client()?;
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeouts.connect))
            .set_response_timeout(Some(self.timeouts.response))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let open = client.get_connection_manager_with_config(settings);
        // Bounded even if the driver's own timeouts do not cover a step (TLS handshake, login).
        let manager = tokio::time::timeout(self.timeouts.connect * 3, open)
            .await
            .map_err(|_| {
                Error::timeout("redis did not accept the connection in time")
                    .with_context("address", address.to_string())
            })?
            .map_err(|e| from_redis(&e, &scrubber).with_context("address", address.to_string()))?;
        Ok(Handle {
            client,
            manager,
            scrubber,
            address,
        })
    }

    /// `PING` on a new client for the context's connection (not the cached one, which may
    /// have logged in before the server's passwords changed), dropped after.
    pub(crate) async fn ping(&self, cx: &Context) -> Result<()> {
        let conn = cx.require_connection()?;
        let config = RedisConfig::from_credentials(&conn.credentials())?;
        let connect = self.connect(config);
        let handle = tokio::select! {
            biased;
            () = cx.cancellation().cancelled() => return Err(Error::cancelled("the redis connection was cancelled")),
            handle = connect => handle?,
        };
        let mut conn = handle.manager.clone();
        let answer: std::result::Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
        match answer {
            Ok(pong) if pong == "PONG" => Ok(()),
            Ok(_) => Err(Error::new(
                aura_core::ErrorKind::Upstream,
                "redis answered PING with something other than PONG",
            )),
            Err(e) => Err(from_redis(&e, &handle.scrubber).with_context("address", handle.address.to_string())),
        }
    }

    /// Runs `cmd` on the context's connection; a failure names `target` (`("key", "user:1")`)
    /// and the server's address.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        cx: &Context,
        cmd: &Cmd,
        target: (&'static str, &str),
    ) -> Result<T> {
        let handle = self.handle(cx).await?;
        let mut conn = handle.manager.clone();
        let answer = tokio::select! {
            biased;
            () = cx.cancellation().cancelled() => return Err(Error::cancelled("the redis command was cancelled")),
            answer = cmd.query_async::<T>(&mut conn) => answer,
        };
        answer.map_err(|e| {
            from_redis(&e, &handle.scrubber)
                .with_context(target.0, target.1.to_owned())
                .with_context("address", handle.address.to_string())
        })
    }

    /// A dedicated pub/sub connection for the context's connection.
    pub(crate) async fn pubsub(&self, cx: &Context) -> Result<(PubSub, Handle)> {
        let handle = self.handle(cx).await?;
        let open = handle.client.get_async_pubsub();
        let pubsub = tokio::time::timeout(self.timeouts.connect * 3, open)
            .await
            .map_err(|_| {
                Error::timeout("redis did not accept the pub/sub connection in time")
                    .with_context("address", handle.address.to_string())
            })?
            .map_err(|e| from_redis(&e, &handle.scrubber).with_context("address", handle.address.to_string()))?;
        Ok((pubsub, handle))
    }

    /// Drops every cached client.
    pub(crate) fn clear(&self) {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
