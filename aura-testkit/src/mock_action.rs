//! [`MockAction`]: an action with scripted results that records its calls.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aura_core::{ActionDef, Context, Error, Result};
use schemars::JsonSchema;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::failure::Failure;

type BoxFuture = Pin<Box<dyn Future<Output = Result<Value>> + Send>>;
type SyncResponder = Arc<dyn Fn(&Value, u32) -> Result<Value> + Send + Sync>;
type AsyncResponder = Arc<dyn Fn(Context, Value, u32) -> BoxFuture + Send + Sync>;

/// How an unscripted call is answered.
#[derive(Clone)]
enum Responder {
    Sync(SyncResponder),
    Async(AsyncResponder),
}

/// One call a mock action received.
#[derive(Clone, Debug)]
pub struct RecordedCall {
    /// Which call this was, from 1.
    pub number: u32,
    /// The input, as validated.
    pub input: Value,
    /// The context's attempt number.
    pub attempt: u32,
    /// The context's idempotency key.
    pub idempotency_key: Option<String>,
    /// The id of the connection it ran with.
    pub connection_id: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

/// A mock action. Clone it before handing it to a [`crate::MockApp`] and keep the clone to
/// look at its calls: clones share their script and record.
///
/// What a call returns, in order of precedence:
/// 1. a failure set for its call number ([`fail_on_call`](Self::fail_on_call),
///    [`fail_times`](Self::fail_times));
/// 2. the next scripted step ([`then_return`](Self::then_return), [`then_fail`](Self::then_fail));
/// 3. the closure ([`respond_with`](Self::respond_with)), the async closure
///    ([`respond_async`](Self::respond_async), which gets the call's [`Context`]), the wait for
///    cancellation ([`hang`](Self::hang)) or the fixed value ([`returns`](Self::returns)); by
///    default the input itself (an echo).
///
/// Injected latency ([`latency`](Self::latency)) comes before any of these, and follows
/// tokio's clock, so tests with paused time run instantly.
///
/// While calls run, [`in_flight`](Self::in_flight) counts them and
/// [`max_in_flight`](Self::max_in_flight) keeps the peak, for concurrency limits;
/// [`cancellations`](Self::cancellations) counts the calls that were stopped before they
/// answered: their context was cancelled (the engine's cancel, a max duration) or their future
/// was dropped (a node timeout). [`wait_in_flight`](Self::wait_in_flight)
/// and [`wait_cancellations`](Self::wait_cancellations) let a test wait for those without
/// sleeping.
///
/// ```
/// use aura_core::{Context, Registry};
/// use aura_testkit::{MockAction, MockApp};
/// use serde_json::json;
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aura_core::Result<()> {
/// let slow = MockAction::new("slow").hang();
/// let registry = Registry::new();
/// registry.register(MockApp::new("crm").action(slow.clone()))?;
/// let action = registry.action("crm.slow").await?;
///
/// let cancel = CancellationToken::new();
/// let cx = Context::builder().cancellation(cancel.clone()).build();
/// let call = tokio::spawn(async move { action.call(cx, json!({})).await });
/// slow.wait_in_flight(1).await;
/// cancel.cancel();
/// assert!(call.await.expect("the call task").is_err());
/// slow.wait_cancellations(1).await;
/// assert_eq!(slow.in_flight(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MockAction {
    key: String,
    config: Arc<Mutex<Config>>,
    state: Arc<State>,
}

#[derive(Clone)]
struct Config {
    name: Option<String>,
    input_schema: Value,
    output_schema: Value,
    idempotent: bool,
    cache_ttl: Option<Duration>,
    latency: Duration,
    responder: Option<Responder>,
    script: VecDeque<std::result::Result<Value, Failure>>,
    failures: BTreeMap<u32, Failure>,
}

#[derive(Default)]
struct State {
    counter: AtomicU32,
    calls: Mutex<Vec<RecordedCall>>,
    in_flight: AtomicU32,
    max_in_flight: AtomicU32,
    cancellations: AtomicU32,
    /// Woken whenever a call starts or ends.
    changed: Notify,
}

impl State {
    /// Waits until `done` holds, checking after every start and end of a call.
    async fn wait(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done(self) {
                return;
            }
            changed.await;
        }
    }
}

/// Counts one running call. On drop it counts the call out, and counts a cancellation when
/// the call did not answer (its future was dropped: cancel, timeout) or answered after its
/// context was cancelled.
struct InFlight<'a> {
    state: &'a State,
    cancellation: CancellationToken,
    answered: bool,
}

impl<'a> InFlight<'a> {
    fn enter(state: &'a State, cx: &Context) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        state.changed.notify_waiters();
        Self {
            state,
            cancellation: cx.cancellation().clone(),
            answered: false,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.answered || self.cancellation.is_cancelled() {
            self.state.cancellations.fetch_add(1, Ordering::SeqCst);
        }
        self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.state.changed.notify_waiters();
    }
}

impl MockAction {
    /// A mock action that accepts any input and echoes it back.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            config: Arc::new(Mutex::new(Config {
                name: None,
                input_schema: Value::Bool(true),
                output_schema: Value::Bool(true),
                idempotent: false,
                cache_ttl: None,
                latency: Duration::ZERO,
                responder: None,
                script: VecDeque::new(),
                failures: BTreeMap::new(),
            })),
            state: Arc::default(),
        }
    }

    fn configure(self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config.lock().unwrap_or_else(PoisonError::into_inner));
        self
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.configure(|c| c.name = Some(name))
    }

    /// Validates input against a JSON Schema.
    #[must_use]
    pub fn input_schema(self, schema: Value) -> Self {
        self.configure(|c| c.input_schema = schema)
    }

    /// Validates input against the schema of `T`.
    #[must_use]
    pub fn input<T: JsonSchema>(self) -> Self {
        self.input_schema(aura_core::schema::generate::<T>())
    }

    /// Declares the output schema.
    #[must_use]
    pub fn output_schema(self, schema: Value) -> Self {
        self.configure(|c| c.output_schema = schema)
    }

    /// Declares the action idempotent.
    #[must_use]
    pub fn idempotent(self, idempotent: bool) -> Self {
        self.configure(|c| c.idempotent = idempotent)
    }

    /// Declares the action cacheable.
    #[must_use]
    pub fn cacheable(self, ttl: Duration) -> Self {
        self.configure(|c| c.cache_ttl = Some(ttl))
    }

    /// Every call returns `value` (unless a script step or failure says otherwise).
    #[must_use]
    pub fn returns(self, value: Value) -> Self {
        self.respond_with(move |_, _| Ok(value.clone()))
    }

    /// Every call is answered by `f(input, call_number)`.
    #[must_use]
    pub fn respond_with(self, f: impl Fn(&Value, u32) -> Result<Value> + Send + Sync + 'static) -> Self {
        self.configure(|c| c.responder = Some(Responder::Sync(Arc::new(f))))
    }

    /// Every call is answered by the future `f(context, input, call_number)`: it may wait, call
    /// other things, and watch `context.cancellation()`. A call whose context is cancelled
    /// stops at once whatever the future does (the action drops it) and counts in
    /// [`cancellations`](Self::cancellations).
    ///
    /// ```
    /// use aura_testkit::MockAction;
    /// use serde_json::json;
    ///
    /// let lookup = MockAction::new("lookup").respond_async(|cx, input, n| async move {
    ///     tokio::task::yield_now().await;
    ///     Ok(json!({ "id": input["id"], "call": n, "attempt": cx.attempt() }))
    /// });
    /// # let _ = lookup;
    /// ```
    #[must_use]
    pub fn respond_async<F, Fut>(self, f: F) -> Self
    where
        F: Fn(Context, Value, u32) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value>> + Send + 'static,
    {
        let f = Arc::new(move |cx: Context, input: Value, n: u32| -> BoxFuture { Box::pin(f(cx, input, n)) });
        self.configure(|c| c.responder = Some(Responder::Async(f)))
    }

    /// Every unscripted call waits until its context is cancelled, then fails with
    /// [`ErrorKind::Cancelled`](aura_core::ErrorKind::Cancelled): a call that never answers,
    /// for testing cancel, timeouts and max durations.
    #[must_use]
    pub fn hang(self) -> Self {
        self.respond_async(|cx, _, _| async move {
            cx.cancellation().cancelled().await;
            Err(Error::cancelled("the mock action was cancelled"))
        })
    }

    /// The next unscripted call returns `value`.
    #[must_use]
    pub fn then_return(self, value: Value) -> Self {
        self.configure(|c| c.script.push_back(Ok(value)))
    }

    /// The next unscripted call fails.
    #[must_use]
    pub fn then_fail(self, failure: impl Into<Failure>) -> Self {
        let failure = failure.into();
        self.configure(|c| c.script.push_back(Err(failure)))
    }

    /// Call number `n` (from 1) fails.
    #[must_use]
    pub fn fail_on_call(self, n: u32, failure: impl Into<Failure>) -> Self {
        let failure = failure.into();
        self.configure(|c| {
            c.failures.insert(n, failure);
        })
    }

    /// The first `times` calls fail.
    #[must_use]
    pub fn fail_times(self, times: u32, failure: impl Into<Failure>) -> Self {
        let failure = failure.into();
        self.configure(|c| {
            for n in 1..=times {
                c.failures.insert(n, failure.clone());
            }
        })
    }

    /// Every call waits `latency` first (on tokio's clock).
    #[must_use]
    pub fn latency(self, latency: Duration) -> Self {
        self.configure(|c| c.latency = latency)
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many calls were received.
    pub fn call_count(&self) -> u32 {
        self.state.counter.load(Ordering::SeqCst)
    }

    /// How many calls are running now.
    pub fn in_flight(&self) -> u32 {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The most calls that ran at the same time so far.
    pub fn max_in_flight(&self) -> u32 {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many calls were stopped before they answered: their context was cancelled, or their
    /// future was dropped (a node timeout).
    pub fn cancellations(&self) -> u32 {
        self.state.cancellations.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` calls run at the same time.
    pub async fn wait_in_flight(&self, n: u32) {
        self.state.wait(|s| s.in_flight.load(Ordering::SeqCst) >= n).await;
    }

    /// Waits until at least `n` calls were stopped (see [`cancellations`](Self::cancellations)).
    pub async fn wait_cancellations(&self, n: u32) {
        self.state.wait(|s| s.cancellations.load(Ordering::SeqCst) >= n).await;
    }

    /// The definition a [`crate::MockApp`] registers.
    pub fn to_def(&self) -> ActionDef {
        let config = self.config.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mock = self.clone();
        let mut def = ActionDef::from_json(
            self.key.clone(),
            config.input_schema.clone(),
            config.output_schema.clone(),
            move |cx, input| {
                let mock = mock.clone();
                async move { mock.run(cx, input).await }
            },
        )
        .idempotent(config.idempotent);
        if let Some(name) = config.name {
            def = def.name(name);
        }
        if let Some(ttl) = config.cache_ttl {
            def = def.cacheable(ttl);
        }
        def
    }

    async fn run(&self, cx: Context, input: Value) -> Result<Value> {
        let mut in_flight = InFlight::enter(&self.state, &cx);
        let number = self.state.counter.fetch_add(1, Ordering::SeqCst) + 1;
        self.state
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(RecordedCall {
                number,
                input: input.clone(),
                attempt: cx.attempt(),
                idempotency_key: cx.idempotency_key().map(str::to_owned),
                connection_id: cx.connection().map(|c| c.id().to_string()),
                at: Instant::now(),
            });
        let (latency, outcome) = {
            let mut c = self.config.lock().unwrap_or_else(PoisonError::into_inner);
            let outcome = match c.failures.get(&number) {
                Some(f) => Outcome::Fail(f.clone()),
                None => match c.script.pop_front() {
                    Some(Ok(v)) => Outcome::Return(v),
                    Some(Err(f)) => Outcome::Fail(f),
                    None => Outcome::Respond(c.responder.clone()),
                },
            };
            (c.latency, outcome)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let result: Result<Value> = match outcome {
            Outcome::Fail(f) => Err(f.to_error()),
            Outcome::Return(v) => Ok(v),
            Outcome::Respond(Some(Responder::Sync(r))) => r(&input, number),
            Outcome::Respond(Some(Responder::Async(r))) => r(cx, input, number).await,
            Outcome::Respond(None) => Ok(input),
        };
        in_flight.answered = true;
        result.map_err(|e: Error| e.with_context("call", number.to_string()))
    }
}

enum Outcome {
    Fail(Failure),
    Return(Value),
    Respond(Option<Responder>),
}

impl fmt::Debug for MockAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockAction")
            .field("key", &self.key)
            .field("calls", &self.call_count())
            .finish_non_exhaustive()
    }
}
