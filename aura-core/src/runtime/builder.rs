//! [`TriggerRuntimeBuilder`]: a runtime's settings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use tokio::sync::{Mutex, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Shared, TriggerRuntime};
use crate::engine::Engine;

/// Settings of a runtime ([`TriggerRuntime::builder`]).
#[derive(Clone, Debug)]
pub(super) struct Options {
    pub(super) body_limit: usize,
    pub(super) max_in_flight: usize,
    pub(super) respond_timeout: Duration,
    pub(super) dedupe_for: Duration,
    pub(super) retry_after: Duration,
    pub(super) grace: Duration,
    pub(super) public_url: Option<String>,
}

/// Builds a [`TriggerRuntime`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TriggerRuntimeBuilder {
    engine: Engine,
    options: Options,
    epoch: Option<DateTime<Utc>>,
}

impl TriggerRuntimeBuilder {
    /// The largest webhook body taken (default 16 MiB); bigger ones get `413`. A route may
    /// set its own (`body_limit_bytes`).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.options.body_limit = bytes.max(1);
        self
    }

    /// How many webhook executions may be in flight at once (default 1,024): past that a
    /// request gets `503` with `Retry-After`, so that memory stays bounded under overload.
    pub fn max_in_flight(mut self, executions: usize) -> Self {
        self.options.max_in_flight = executions.max(1);
        self
    }

    /// How long a webhook waits for a `respond` node by default (10 s); then `202` with the
    /// execution id. A route may set its own (`respond: { wait_secs: … }`).
    pub fn respond_timeout(mut self, timeout: Duration) -> Self {
        self.options.respond_timeout = timeout;
        self
    }

    /// How long a webhook delivery id is remembered to drop retries (default 7 days).
    pub fn dedupe_for(mut self, ttl: Duration) -> Self {
        self.options.dedupe_for = ttl.max(Duration::from_secs(1));
        self
    }

    /// The `Retry-After` an overloaded or stopping runtime answers with (default 1 s).
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.options.retry_after = wait;
        self
    }

    /// How late a schedule firing may be and still count as on time rather than missed
    /// (default 60 s; missed ones follow the schedule's `missed` policy).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.options.grace = grace;
        self
    }

    /// The URL where the host serves [`TriggerRuntime::router`] from outside
    /// (`https://hooks.example.com/hooks`): with it, activating a webhook whose app registers
    /// hooks through its API ([`Trigger::subscribe`](crate::trigger::Trigger::subscribe))
    /// subscribes `<public_url>/<path>`, keeping the service's answer in the store; a
    /// deactivation unsubscribes. Without it, nothing is registered (the service is set up by
    /// hand).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.options.public_url = Some(url.into());
        self
    }

    /// The wall time at the engine clock's origin (default: now minus the clock's reading).
    /// With a [`ManualClock`](crate::clock::ManualClock), tests start the world at a chosen
    /// date (the night of a daylight-saving change …) and move it with the clock.
    pub fn epoch(mut self, at: DateTime<Utc>) -> Self {
        self.epoch = Some(at);
        self
    }

    /// The runtime, with nothing active yet.
    pub fn build(self) -> TriggerRuntime {
        let clock = self.engine.clock().clone();
        let epoch = self.epoch.unwrap_or_else(|| {
            Utc::now() - chrono::Duration::from_std(clock.now()).unwrap_or(chrono::Duration::zero())
        });
        let (events, _) = broadcast::channel(1024);
        TriggerRuntime {
            shared: Arc::new(Shared {
                engine: self.engine,
                clock,
                epoch,
                in_flight: Arc::new(Semaphore::new(self.options.max_in_flight)),
                largest_body: std::sync::atomic::AtomicUsize::new(self.options.body_limit),
                options: self.options,
                routes: RwLock::new(HashMap::new()),
                active: Mutex::new(HashMap::new()),
                stopping: CancellationToken::new(),
                tracker: TaskTracker::new(),
                events,
                health: parking_lot::Mutex::new(HashMap::new()),
                pruning: std::sync::OnceLock::new(),
            }),
        }
    }
}

impl TriggerRuntime {
    /// A runtime over `engine` with the default settings.
    pub fn new(engine: Engine) -> Self {
        Self::builder(engine).build()
    }

    /// Starts building a runtime over `engine`.
    pub fn builder(engine: Engine) -> TriggerRuntimeBuilder {
        TriggerRuntimeBuilder {
            engine,
            options: Options {
                body_limit: 16 * 1024 * 1024,
                max_in_flight: 1024,
                respond_timeout: Duration::from_secs(10),
                dedupe_for: Duration::from_secs(7 * 24 * 3600),
                retry_after: Duration::from_secs(1),
                grace: Duration::from_secs(60),
                public_url: None,
            },
            epoch: None,
        }
    }
}
