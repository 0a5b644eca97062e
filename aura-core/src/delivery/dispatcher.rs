//! [`WebhookDispatcher`]: endpoints, fan-out, figures, log, redelivery, shutdown.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::endpoint::{Endpoint, Route};
use super::log::{Attempt, AttemptLog, EndpointStats};
use super::outbox::Shaped;
use super::retry::{AutoDisable, RetrySchedule};
use super::{DeliveryEvent, MessageId, batch};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::net::SsrfGuard;
use crate::store::{MemoryStore, OutboxEntry, OutboxStore, Page, PageRequest};

/// How many attempts an endpoint's log keeps by default.
const LOG_CAPACITY: usize = 1_000;
/// How many messages are kept for redelivery by default.
const RETAINED_MESSAGES: usize = 1_000;
/// How many events a slow subscriber may fall behind.
const EVENT_BUFFER: usize = 1_024;

/// Sends events to the [`Endpoint`]s subscribed to them; see the [module](super).
///
/// Cheap to clone: clones share the endpoints, the log and the background tasks.
#[derive(Clone)]
pub struct WebhookDispatcher {
    shared: Arc<Shared>,
}

/// Builds a [`WebhookDispatcher`]; made by [`WebhookDispatcher::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct DispatcherBuilder {
    clock: Arc<dyn Clock>,
    outbox: Option<Arc<dyn OutboxStore>>,
    guard: SsrfGuard,
    schedule: RetrySchedule,
    auto_disable: AutoDisable,
    log_capacity: usize,
    retained_messages: usize,
}

impl DispatcherBuilder {
    /// The clock retries, timeouts and batches run on (a
    /// [`ManualClock`](crate::clock::ManualClock) in tests). Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where deliveries not yet finished are kept (see [`OutboxStore`]): a `SqliteStore` or
    /// `PostgresStore` makes them survive a restart — a dispatcher on the same store carries
    /// an endpoint's on when the endpoint is [added](WebhookDispatcher::add_endpoint) again.
    /// Default: in memory (a restart loses them).
    pub fn outbox(mut self, outbox: Arc<dyn OutboxStore>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// The SSRF guard every endpoint and connection passes. Default: [`SsrfGuard::new`],
    /// public addresses only.
    pub fn guard(mut self, guard: SsrfGuard) -> Self {
        self.guard = guard;
        self
    }

    /// The retry schedule. Default: [`RetrySchedule::default`].
    pub fn schedule(mut self, schedule: RetrySchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// When endpoints that keep failing are disabled. Default: [`AutoDisable::default`].
    pub fn auto_disable(mut self, auto_disable: AutoDisable) -> Self {
        self.auto_disable = auto_disable;
        self
    }

    /// How many attempts each endpoint's log keeps (default 1,000).
    pub fn log_capacity(mut self, attempts: usize) -> Self {
        self.log_capacity = attempts.max(1);
        self
    }

    /// How many messages are kept for [`redeliver`](WebhookDispatcher::redeliver) (default
    /// 1,000).
    pub fn retained_messages(mut self, messages: usize) -> Self {
        self.retained_messages = messages;
        self
    }

    /// The dispatcher.
    ///
    /// # Errors
    ///
    /// [`Internal`](crate::ErrorKind::Internal) when the HTTP client cannot be built (TLS).
    pub fn build(self) -> Result<WebhookDispatcher> {
        let client = self.guard.client()?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (alive, done) = mpsc::channel(1);
        Ok(WebhookDispatcher {
            shared: Arc::new(Shared {
                clock: self.clock,
                outbox: self.outbox.unwrap_or_else(|| Arc::new(MemoryStore::new())),
                client,
                guard: self.guard,
                schedule: self.schedule,
                auto_disable: self.auto_disable,
                log_capacity: self.log_capacity,
                retained_messages: self.retained_messages,
                endpoints: RwLock::default(),
                messages: Mutex::default(),
                events,
                stop: CancellationToken::new(),
                alive: Mutex::new(Some(alive)),
                done: tokio::sync::Mutex::new(done),
            }),
        })
    }
}

/// What a dispatcher and its tasks share.
pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) outbox: Arc<dyn OutboxStore>,
    pub(crate) client: reqwest::Client,
    pub(crate) guard: SsrfGuard,
    pub(crate) schedule: RetrySchedule,
    pub(crate) auto_disable: AutoDisable,
    log_capacity: usize,
    retained_messages: usize,
    endpoints: RwLock<HashMap<String, Arc<EndpointState>>>,
    messages: Mutex<VecDeque<Arc<Message>>>,
    events: broadcast::Sender<DeliveryEvent>,
    stop: CancellationToken,
    /// Every background task holds a clone; [`WebhookDispatcher::shutdown`] drops this one
    /// and waits for `done` to see the last go.
    alive: Mutex<Option<mpsc::Sender<()>>>,
    done: tokio::sync::Mutex<mpsc::Receiver<()>>,
}

/// One endpoint as the dispatcher runs it.
pub(crate) struct EndpointState {
    pub(crate) id: String,
    pub(crate) route: Route,
    enabled: AtomicBool,
    /// Cancelled when the endpoint is removed or replaced, or the dispatcher shut down.
    pub(crate) removed: CancellationToken,
    /// What its deliveries run under: a child of `removed`, cancelled when the endpoint is
    /// disabled too, and made anew when it is enabled again.
    run: Mutex<CancellationToken>,
    stats: Mutex<EndpointStats>,
    log: Mutex<AttemptLog>,
    pub(crate) batcher: Option<mpsc::UnboundedSender<OutboxEntry>>,
}

/// A message sent, kept for redelivery.
struct Message {
    id: MessageId,
    envelope: Value,
    endpoints: Vec<String>,
}

impl EndpointState {
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// What a delivery starting now runs under.
    pub(crate) fn run(&self) -> CancellationToken {
        self.run.lock().clone()
    }

    /// Disables it and stops its deliveries (they stay in the outbox); `false` when it was
    /// disabled already.
    fn disable(&self) -> bool {
        let run = self.run.lock();
        if !self.enabled.swap(false, Ordering::SeqCst) {
            return false;
        }
        run.cancel();
        true
    }

    /// Enables it; `true` when it was disabled (its deliveries are to be resumed).
    fn enable(&self) -> bool {
        let mut run = self.run.lock();
        if self.enabled.swap(true, Ordering::SeqCst) {
            return false;
        }
        *run = self.removed.child_token();
        true
    }
}

impl Shared {
    /// Runs `task` in the background, counted by [`WebhookDispatcher::shutdown`].
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let Some(alive) = self.alive.lock().clone() else {
            return Err(Error::cancelled("the webhook dispatcher is shut down"));
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::internal("the webhook dispatcher runs inside a tokio runtime"))?;
        runtime.spawn(async move {
            task.await;
            drop(alive);
        });
        Ok(())
    }

    /// Records an attempt in the endpoint's log and figures, then tells `told`, then disables
    /// the endpoint when it has failed long enough. Returns the attempt as logged.
    pub(crate) fn record(&self, endpoint: &EndpointState, attempt: Attempt, told: Option<DeliveryEvent>) -> Attempt {
        let attempt = endpoint.log.lock().push(attempt);
        let disable = {
            let mut stats = endpoint.stats.lock();
            stats.record(&attempt);
            let rules = &self.auto_disable;
            let by_count = rules.failed_messages.is_some_and(|n| stats.failed_in_a_row >= n);
            let by_time = rules.failing_for.is_some_and(|limit| {
                stats.failed_in_a_row > 0
                    && stats
                        .failing_since
                        .is_some_and(|since| self.clock.now().saturating_sub(since) >= limit)
            });
            (by_count || by_time).then(|| {
                if by_count {
                    format!("{} deliveries in a row failed", stats.failed_in_a_row)
                } else {
                    "it failed without a success for longer than allowed".to_owned()
                }
            })
        };
        if let Some(event) = told {
            self.emit(event);
        }
        if let Some(reason) = disable
            && endpoint.disable()
        {
            tracing::warn!(endpoint = %endpoint.id, %reason, "webhook endpoint disabled");
            self.emit(DeliveryEvent::EndpointDisabled {
                endpoint: endpoint.id.clone(),
                reason,
            });
        }
        attempt
    }

    pub(crate) fn emit(&self, event: DeliveryEvent) {
        // No subscriber is no error.
        let _ = self.events.send(event);
    }
}

impl WebhookDispatcher {
    /// A builder with the system clock, a guard that allows public addresses only, the
    /// default schedule and auto-disable rules.
    pub fn builder() -> DispatcherBuilder {
        DispatcherBuilder {
            clock: Arc::new(SystemClock::new()),
            outbox: None,
            guard: SsrfGuard::new(),
            schedule: RetrySchedule::default(),
            auto_disable: AutoDisable::default(),
            log_capacity: LOG_CAPACITY,
            retained_messages: RETAINED_MESSAGES,
        }
    }

    /// Runs `task` in the background until it ends; [`shutdown`](Self::shutdown) waits for it.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        self.shared.spawn(task)
    }

    /// Cancelled once the dispatcher shuts down.
    pub(crate) fn stopping(&self) -> CancellationToken {
        self.shared.stop.clone()
    }

    /// Adds (or replaces) an endpoint, and carries on its deliveries kept in the outbox (a
    /// previous run's, on a durable [outbox](DispatcherBuilder::outbox)). Its URL is checked
    /// by the guard (an address host at once, a name on every connection), its secret, filter
    /// and transform compiled. A replaced endpoint's figures and log are dropped; its pending
    /// deliveries go on, to the new one.
    ///
    /// # Errors
    ///
    /// [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition) naming the endpoint and the
    /// field (`/secret`, `/filter`, `/transform/...`, `/event_types/0`);
    /// [`Forbidden`](crate::ErrorKind::Forbidden) or
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) from the guard for `/url`;
    /// the outbox's error when its entries cannot be read (the endpoint is added all the same;
    /// adding it again retries);
    /// [`Cancelled`](crate::ErrorKind::Cancelled) after [`shutdown`](Self::shutdown).
    pub async fn add_endpoint(&self, endpoint: Endpoint) -> Result<()> {
        let route = endpoint.compile(&self.shared.guard)?;
        let (batcher, queue) = match route.batch {
            Some(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let removed = self.shared.stop.child_token();
        let state = Arc::new(EndpointState {
            id: endpoint.id().to_owned(),
            route,
            enabled: AtomicBool::new(endpoint.is_enabled()),
            run: Mutex::new(removed.child_token()),
            removed,
            stats: Mutex::default(),
            log: Mutex::new(AttemptLog::new(self.shared.log_capacity)),
            batcher,
        });
        if let (Some(queue), Some(batching)) = (queue, state.route.batch) {
            self.shared
                .spawn(batch::run(self.shared.clone(), state.clone(), queue, batching))?;
        }
        let old = self.shared.endpoints.write().insert(state.id.clone(), state.clone());
        if let Some(old) = old {
            old.removed.cancel();
        }
        if !state.is_enabled() {
            // Its deliveries wait until it is enabled; its batches still form.
            state.run.lock().cancel();
        }
        self.shared.resume(&state, state.is_enabled(), true).await.map(drop)
    }

    /// Removes an endpoint: its pending deliveries and batches are dropped, from the outbox
    /// too (also when the endpoint was not added since a restart). `false` when there was
    /// neither an endpoint of that id nor anything kept for one.
    ///
    /// # Errors
    ///
    /// The outbox's error when its entries cannot be removed.
    pub async fn remove_endpoint(&self, id: &str) -> Result<bool> {
        let removed = self.shared.endpoints.write().remove(id);
        let was_there = removed.map(|e| e.removed.cancel()).is_some();
        let dropped = self.shared.outbox.clear_outbox(id).await?;
        Ok(was_there || dropped > 0)
    }

    /// Enables or disables an endpoint. Disabling stops its deliveries, which stay in the
    /// outbox; enabling one that was disabled (by hand or for failing) carries them on and
    /// starts its failure counts again.
    ///
    /// # Errors
    ///
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown endpoint; the outbox's error
    /// when the deliveries to carry on cannot be read (the endpoint is enabled all the same).
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        let endpoint = self.endpoint(id)?;
        if !enabled {
            endpoint.disable();
            return Ok(());
        }
        if !endpoint.enable() {
            return Ok(());
        }
        {
            let mut stats = endpoint.stats.lock();
            stats.failed_in_a_row = 0;
            stats.failing_since = None;
        }
        self.shared.resume(&endpoint, true, false).await.map(drop)
    }

    /// The ids of the endpoints, sorted.
    pub fn endpoints(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.shared.endpoints.read().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn endpoint(&self, id: &str) -> Result<Arc<EndpointState>> {
        self.shared
            .endpoints
            .read()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found("no such webhook endpoint").with_context("endpoint", id.to_owned()))
    }

    /// Sends an event of `event_type` with `payload` (its `data`) to every enabled endpoint
    /// subscribed to the type whose filter holds, and returns its id once its deliveries are
    /// kept in the [outbox](DispatcherBuilder::outbox); they run in the background.
    ///
    /// The event is `{ "type": event_type, "timestamp": <RFC 3339>, "data": payload }`: the
    /// body sent unless the endpoint transforms it, and what filters and transforms read as
    /// `trigger`. A filter or transform that fails is logged as a failed attempt of that
    /// endpoint.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an empty event type;
    /// the outbox's error when the deliveries cannot be kept (then none is made);
    /// [`Cancelled`](crate::ErrorKind::Cancelled) after [`shutdown`](Self::shutdown);
    /// [`Internal`](crate::ErrorKind::Internal) outside a tokio runtime.
    pub async fn send(&self, event_type: &str, payload: Value) -> Result<MessageId> {
        if event_type.trim().is_empty() {
            return Err(Error::invalid_input("an event needs a type", vec![]));
        }
        if self.shared.stop.is_cancelled() {
            return Err(Error::cancelled("the webhook dispatcher is shut down"));
        }
        let id = MessageId::new();
        let envelope = json!({
            "type": event_type,
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": payload,
        });
        let targets: Vec<Arc<EndpointState>> = self
            .shared
            .endpoints
            .read()
            .values()
            .filter(|e| e.is_enabled() && e.route.subscribes(event_type))
            .cloned()
            .collect();
        let sent_to = self.dispatch(&id, &envelope, targets).await?;
        self.retain(Message {
            id: id.clone(),
            envelope,
            endpoints: sent_to,
        });
        Ok(id)
    }

    /// Shapes message `id` for each of `targets`, keeps the entries in the outbox in one
    /// write, then starts them. Answers the endpoints it went to.
    async fn dispatch(
        &self,
        id: &MessageId,
        envelope: &Value,
        targets: Vec<Arc<EndpointState>>,
    ) -> Result<Vec<String>> {
        let mut sent_to = Vec::with_capacity(targets.len());
        let mut entries = Vec::with_capacity(targets.len());
        let mut starting = Vec::with_capacity(targets.len());
        for endpoint in targets {
            match self.shared.shape(&endpoint, id, envelope)? {
                Shaped::Dropped => continue,
                Shaped::Failed => {}
                Shaped::Entry(entry) => {
                    entries.push(entry);
                    starting.push(endpoint.clone());
                }
            }
            sent_to.push(endpoint.id.clone());
        }
        self.shared.outbox.write_outbox(&entries, &[]).await?;
        let wait = self.shared.first_wait();
        for (endpoint, entry) in starting.iter().zip(entries) {
            self.shared.start(endpoint, entry, wait)?;
        }
        Ok(sent_to)
    }

    fn retain(&self, message: Message) {
        if self.shared.retained_messages == 0 {
            return;
        }
        let mut messages = self.shared.messages.lock();
        while messages.len() >= self.shared.retained_messages {
            messages.pop_front();
        }
        messages.push_back(Arc::new(message));
    }

    /// Delivers a message again, with the same `webhook-id`, to every endpoint it went to that
    /// is still there and enabled (through the filter and transform as they are now). Returns
    /// how many endpoints it goes to.
    ///
    /// # Errors
    ///
    /// [`NotFound`](crate::ErrorKind::NotFound) when the message is no longer kept (see
    /// [`DispatcherBuilder::retained_messages`]); as [`send`](Self::send) otherwise.
    pub async fn redeliver(&self, id: &MessageId) -> Result<usize> {
        let message = self
            .shared
            .messages
            .lock()
            .iter()
            .rev()
            .find(|m| &m.id == id)
            .cloned()
            .ok_or_else(|| {
                Error::not_found("the message is not kept any more").with_context("message", id.to_string())
            })?;
        let targets: Vec<Arc<EndpointState>> = message
            .endpoints
            .iter()
            .filter_map(|endpoint_id| self.endpoint(endpoint_id).ok())
            .filter(|endpoint| endpoint.is_enabled())
            .collect();
        Ok(self.dispatch(&message.id, &message.envelope, targets).await?.len())
    }

    /// An endpoint's figures.
    ///
    /// # Errors
    ///
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown endpoint.
    pub fn stats(&self, id: &str) -> Result<EndpointStats> {
        let endpoint = self.endpoint(id)?;
        let mut stats = endpoint.stats.lock().clone();
        stats.enabled = endpoint.is_enabled();
        Ok(stats)
    }

    /// A page of an endpoint's attempts, newest first.
    ///
    /// # Errors
    ///
    /// [`NotFound`](crate::ErrorKind::NotFound) for an unknown endpoint.
    pub fn log(&self, id: &str, page: &PageRequest) -> Result<Page<Attempt>> {
        Ok(self.endpoint(id)?.log.lock().page(page))
    }

    /// The dispatcher's events from now on (deliveries, failures, endpoints disabled). A
    /// subscriber that falls more than 1,024 events behind misses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<DeliveryEvent> {
        self.shared.events.subscribe()
    }

    /// Stops: refuses new messages, ends attempts in flight, and waits for every background
    /// task to end. Pending retries and messages waiting for a batch stay in the outbox: a
    /// dispatcher on the same durable store carries them on.
    pub async fn shutdown(&self) {
        self.shared.stop.cancel();
        drop(self.shared.alive.lock().take());
        let mut done = self.shared.done.lock().await;
        while done.recv().await.is_some() {}
    }
}

impl fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("clock", &self.clock)
            .field("guard", &self.guard)
            .field("schedule", &self.schedule)
            .field("auto_disable", &self.auto_disable)
            .field("log_capacity", &self.log_capacity)
            .field("retained_messages", &self.retained_messages)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WebhookDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookDispatcher")
            .field("endpoints", &self.endpoints())
            .field("schedule", &self.shared.schedule)
            .field("guard", &self.shared.guard)
            .finish_non_exhaustive()
    }
}
