//! Outbound webhook delivery: Aura sends events to the URLs that subscribed to them.
//!
//! A [`WebhookDispatcher`] holds [`Endpoint`]s, each subscribed to event types (exact,
//! `prefix.*` or `*`), with an optional filter and transform written in Aura's expressions
//! ([`crate::expr`]). [`WebhookDispatcher::send`] fans an event out to every matching endpoint,
//! keeps each delivery in the [outbox](crate::store::OutboxStore) and returns; deliveries run
//! in background tasks on the dispatcher's [`Clock`](crate::clock::Clock):
//!
//! | part | here |
//! | --- | --- |
//! | signing, per [Standard Webhooks](https://www.standardwebhooks.com/) | [`WebhookSigner`]: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…` |
//! | retries: network failures, timeouts, 408, 429, 5xx; `Retry-After` honoured | [`RetrySchedule`] (Svix's by default, ±20% jitter) |
//! | a timeout per attempt | [`Endpoint::timeout`] |
//! | batching | [`Batching`]: at most N messages, at most a delay |
//! | figures per endpoint | [`WebhookDispatcher::stats`]: [`EndpointStats`] |
//! | a log of attempts, and redelivery | [`WebhookDispatcher::log`]: [`Attempt`]; [`WebhookDispatcher::redeliver`] |
//! | endpoints that keep failing are disabled | [`AutoDisable`], [`DeliveryEvent::EndpointDisabled`] |
//! | no private or loopback targets unless allowed | [`SsrfGuard`](crate::net::SsrfGuard) |
//! | no delivery lost to a restart (with a durable store) | [`DispatcherBuilder::outbox`]: a `SqliteStore` or `PostgresStore` |
//! | Aura's own events (`execution.failed`, `connection.refresh_failed` …) | [`WebhookDispatcher::forward`], [`WebhookDispatcher::forward_connections`] |
//!
//! A 2xx answer is a success; 3xx (redirects are not followed) and other 4xx answers are
//! permanent failures. Deliveries are at least once: a receiver drops duplicates by
//! `webhook-id`, which stays the same across retries and redeliveries of one message.
//!
//! Deliveries not yet finished (pending retries, messages waiting for a batch) are kept in the
//! dispatcher's [outbox](DispatcherBuilder::outbox), written before `send` returns and after
//! every attempt. With a `SqliteStore` or `PostgresStore` they survive a restart: the next
//! dispatcher on the store carries an endpoint's on, each when it is due, as soon as the
//! endpoint is [added](WebhookDispatcher::add_endpoint) again. The default outbox is in
//! memory. Figures, the attempt log and the messages kept for
//! [redelivery](WebhookDispatcher::redeliver) are in memory (bounded).
//!
//! ```
//! use std::time::Duration;
//! use aura_core::delivery::{DeliveryEvent, Endpoint, WebhookDispatcher};
//! use aura_core::net::SsrfGuard;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A receiver on this machine, so loopback is allowed explicitly.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}/hooks", listener.local_addr()?);
//! tokio::spawn(async move {
//!     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!     while let Ok((mut socket, _)) = listener.accept().await {
//!         let mut buf = [0u8; 4096];
//!         let _ = socket.read(&mut buf).await;
//!         let _ = socket.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
//!     }
//! });
//!
//! let dispatcher = WebhookDispatcher::builder()
//!     .guard(SsrfGuard::new().allow_network("127.0.0.1")?)
//!     .build()?;
//! let mut events = dispatcher.subscribe();
//! let secret = aura_core::delivery::WebhookSigner::generate_secret();
//! dispatcher
//!     .add_endpoint(
//!         Endpoint::new("ops", url, secrecy::ExposeSecret::expose_secret(&secret)).event_type("execution.*"),
//!     )
//!     .await?;
//!
//! let id = dispatcher.send("execution.failed", json!({ "scenario_id": "billing" })).await?;
//! match events.recv().await {
//!     Ok(DeliveryEvent::Delivered { messages, .. }) => assert_eq!(messages, vec![id]),
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(dispatcher.stats("ops")?.successes, 1);
//! dispatcher.shutdown().await;
//! # Ok(()) }
//! ```

mod batch;
mod deliver;
mod dispatcher;
mod endpoint;
mod engine_events;
mod log;
mod outbox;
mod retry;
mod signing;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use self::dispatcher::{DispatcherBuilder, WebhookDispatcher};
pub use self::endpoint::{Batching, DEFAULT_TIMEOUT, Endpoint};
pub use self::engine_events::{connection_event_type, execution_event_type};
pub use self::log::{Attempt, AttemptOutcome, EndpointStats};
pub use self::retry::{AutoDisable, RetrySchedule};
pub use self::signing::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, WebhookSigner};

/// A message's id, `msg_<UUID v7>`: its `webhook-id` on every delivery, retry and redelivery.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(String);

impl MessageId {
    /// A new id (time-ordered).
    pub fn new() -> Self {
        Self(format!("msg_{}", uuid::Uuid::now_v7().simple()))
    }

    /// An id from its text.
    pub fn from_string(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// Its text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for MessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the dispatcher tells its [subscribers](WebhookDispatcher::subscribe).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum DeliveryEvent {
    /// A delivery was answered 2xx.
    Delivered {
        /// The endpoint.
        endpoint: String,
        /// The delivery's `webhook-id`.
        delivery_id: String,
        /// The messages it carried.
        messages: Vec<MessageId>,
        /// The attempts it took.
        attempts: u32,
    },
    /// A delivery was given up (a permanent refusal, or its schedule spent).
    Failed {
        /// The endpoint.
        endpoint: String,
        /// The delivery's `webhook-id`.
        delivery_id: String,
        /// The messages it carried.
        messages: Vec<MessageId>,
        /// The attempts it took.
        attempts: u32,
        /// The last attempt's error (never a secret).
        error: String,
    },
    /// The outbox could not be written after an attempt or for a batch (see
    /// [`DispatcherBuilder::outbox`]): the delivery goes on, but after a restart it may be
    /// sent again or later than its schedule says.
    StoreFailed {
        /// The endpoint.
        endpoint: String,
        /// The delivery's `webhook-id`.
        delivery_id: String,
        /// The store's error.
        error: String,
    },
    /// An endpoint that kept failing was disabled (see [`AutoDisable`]).
    EndpointDisabled {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
}
