//! [`ScriptedProvider`]: a provider that answers from a script, with latencies, error
//! sequences, rate limits and hangs, and records every call.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aura_core::{Context, Error, ErrorKind, Result};
use parking_lot::Mutex;
use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use serde_json::Value;

use super::Latency;
use crate::clock::{Clock, SystemClock};
use crate::provider::{BoxFuture, Handler, Operation, Provider, ProviderBuilder};

/// How a scripted call fails.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// An error of this kind.
    Error(ErrorKind),
    /// An upstream HTTP status (`503`: retryable; `400`: the caller's fault). 429 becomes a
    /// rate limit without `retry_after`.
    Status(u16),
    /// HTTP 429 with an optional `Retry-After`.
    RateLimited(Option<Duration>),
    /// The provider could not be reached: an [`ErrorKind::Unavailable`] error marked
    /// [`not_sent`](Error::not_sent), as a refused connection gives.
    Unreachable,
    /// Never answers (until cancelled).
    Hang,
}

impl From<ErrorKind> for Fault {
    fn from(kind: ErrorKind) -> Self {
        Self::Error(kind)
    }
}

/// One call a scripted provider received.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptedCall {
    /// Which call, from 1.
    pub number: u64,
    /// Its input.
    pub input: Value,
    /// The context's attempt number.
    pub attempt: u32,
    /// The context's idempotency key.
    pub idempotency_key: Option<String>,
    /// When it arrived (the provider's clock).
    pub at: Duration,
}

type Responder = Arc<dyn Fn(&Value, u64) -> Value + Send + Sync>;

/// A provider that answers from a script. Clones share the script and the record: keep one
/// to look at the calls after handing another to a router.
///
/// What call `n` does, in order of precedence:
/// 1. a standing fault set with [`fail_from_now`](Self::fail_from_now) (until
///    [`recover`](Self::recover));
/// 2. a fault set for call `n` ([`fail_on_call`](Self::fail_on_call));
/// 3. the next scripted step ([`then_return`](Self::then_return), [`then_fail`](Self::then_fail),
///    [`then_rate_limit`](Self::then_rate_limit), [`then_hang`](Self::then_hang));
/// 4. the reply ([`respond_with`](Self::respond_with) or [`returns`](Self::returns)); by default
///    `{"provider": id, "echo": input}`.
///
/// Every call first waits its [`Latency`] on the provider's clock (a
/// [`ManualClock`](crate::ManualClock) makes that instant and exact).
///
/// ```
/// use std::time::Duration;
/// use aura_core::ErrorKind;
/// use aura_router::testing::{Latency, ScriptedProvider};
/// use aura_router::{ManualClock, Request, Router};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aura_core::Result<()> {
/// let clock = ManualClock::new();
/// let flaky = ScriptedProvider::new("flaky")
///     .clock(clock.clone())
///     .latency(Latency::ms(120))
///     .then_fail(ErrorKind::Unavailable)
///     .returns(json!({ "ok": true }));
/// let router = Router::builder()
///     .clock(clock.clone())
///     .provider(flaky.provider("chat", "complete").build()?)
///     .build()?;
///
/// let once = Request::new("chat", "complete", json!({})).max_attempts(1);
/// let first = router.execute(once).await;
/// assert_eq!(first.unwrap_err().kind(), ErrorKind::Unavailable);
/// let second = router.execute(Request::new("chat", "complete", json!({}))).await?;
/// assert_eq!(second.value, json!({ "ok": true }));
/// assert_eq!(flaky.call_count(), 2);
/// assert_eq!(aura_router::Clock::now(&clock), Duration::from_millis(240));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ScriptedProvider {
    inner: Arc<Inner>,
}

struct Inner {
    id: Arc<str>,
    config: Mutex<Config>,
    calls: Mutex<Vec<ScriptedCall>>,
    started: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
}

struct Config {
    clock: Arc<dyn Clock>,
    rng: SmallRng,
    latency: Latency,
    reply: Option<Responder>,
    script: VecDeque<std::result::Result<Value, Fault>>,
    by_call: BTreeMap<u64, Fault>,
    standing: Option<Fault>,
}

impl ScriptedProvider {
    /// A provider that answers at once with `{"provider": id, "echo": input}`, on the system
    /// clock.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                id: id.into(),
                config: Mutex::new(Config {
                    clock: Arc::new(SystemClock::new()),
                    rng: SmallRng::seed_from_u64(0),
                    latency: Latency::Zero,
                    reply: None,
                    script: VecDeque::new(),
                    by_call: BTreeMap::new(),
                    standing: None,
                }),
                calls: Mutex::new(Vec::new()),
                started: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
            }),
        }
    }

    /// The clock its latencies run on (give it the router's).
    #[must_use]
    pub fn clock(self, clock: impl Clock) -> Self {
        self.inner.config.lock().clock = Arc::new(clock);
        self
    }

    /// An already shared clock.
    #[must_use]
    pub fn shared_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.inner.config.lock().clock = clock;
        self
    }

    /// The seed of its latency samples (default 0).
    #[must_use]
    pub fn seed(self, seed: u64) -> Self {
        self.inner.config.lock().rng = SmallRng::seed_from_u64(seed);
        self
    }

    /// How long each call takes.
    #[must_use]
    pub fn latency(self, latency: Latency) -> Self {
        self.set_latency(latency);
        self
    }

    /// Answers every call with `value` (once the script is used up).
    #[must_use]
    pub fn returns(self, value: Value) -> Self {
        self.inner.config.lock().reply = Some(Arc::new(move |_, _| value.clone()));
        self
    }

    /// Answers every call with `f(input, call_number)` (once the script is used up).
    #[must_use]
    pub fn respond_with(self, f: impl Fn(&Value, u64) -> Value + Send + Sync + 'static) -> Self {
        self.inner.config.lock().reply = Some(Arc::new(f));
        self
    }

    /// The next unscripted call answers `value`.
    #[must_use]
    pub fn then_return(self, value: Value) -> Self {
        self.inner.config.lock().script.push_back(Ok(value));
        self
    }

    /// The next unscripted call fails.
    #[must_use]
    pub fn then_fail(self, fault: impl Into<Fault>) -> Self {
        self.inner.config.lock().script.push_back(Err(fault.into()));
        self
    }

    /// The next `n` unscripted calls fail.
    #[must_use]
    pub fn then_fail_times(self, n: usize, fault: impl Into<Fault>) -> Self {
        let fault = fault.into();
        self.inner
            .config
            .lock()
            .script
            .extend(std::iter::repeat_n(Err(fault), n));
        self
    }

    /// The next unscripted call answers 429 with this `Retry-After`.
    #[must_use]
    pub fn then_rate_limit(self, retry_after: Duration) -> Self {
        self.then_fail(Fault::RateLimited(Some(retry_after)))
    }

    /// The next unscripted call never answers.
    #[must_use]
    pub fn then_hang(self) -> Self {
        self.then_fail(Fault::Hang)
    }

    /// Call `n` (from 1) fails, whatever the script says.
    #[must_use]
    pub fn fail_on_call(self, n: u64, fault: impl Into<Fault>) -> Self {
        self.inner.config.lock().by_call.insert(n, fault.into());
        self
    }

    /// From now on every call fails this way (an outage), until [`recover`](Self::recover).
    pub fn fail_from_now(&self, fault: impl Into<Fault>) {
        self.inner.config.lock().standing = Some(fault.into());
    }

    /// Ends a standing fault.
    pub fn recover(&self) {
        self.inner.config.lock().standing = None;
    }

    /// Changes the latency from now on.
    pub fn set_latency(&self, latency: Latency) {
        self.inner.config.lock().latency = latency;
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Calls received.
    pub fn call_count(&self) -> u64 {
        self.inner.started.load(Ordering::SeqCst)
    }

    /// Calls that ran to the end (answered or failed).
    pub fn completed_count(&self) -> u64 {
        self.inner.completed.load(Ordering::SeqCst)
    }

    /// Calls dropped or cancelled before they ended.
    pub fn cancelled_count(&self) -> u64 {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Every call received, in order.
    pub fn calls(&self) -> Vec<ScriptedCall> {
        self.inner.calls.lock().clone()
    }

    /// Its health as a probe would see it: an error during a standing fault.
    pub fn check(&self) -> Result<()> {
        match &self.inner.config.lock().standing {
            Some(fault) => Err(self.error(fault)),
            None => Ok(()),
        }
    }

    /// The handler behind an [`Operation`].
    pub fn handler(&self) -> Handler {
        let me = self.clone();
        Arc::new(move |cx, input| Box::pin(me.clone().call(cx, input)) as BoxFuture<Result<Value>>)
    }

    /// An operation it serves (not idempotent unless declared so on the result).
    pub fn operation(&self, capability: impl Into<Arc<str>>, operation: impl Into<Arc<str>>) -> Operation {
        Operation::from_handler(capability, operation, self.handler())
    }

    /// A provider builder with its id, serving `capability.operation` (idempotent), with
    /// [`check`](Self::check) as its probe. Set weight, cost and limits on it, then build.
    pub fn provider(&self, capability: impl Into<Arc<str>>, operation: impl Into<Arc<str>>) -> ProviderBuilder {
        let me = self.clone();
        Provider::builder(self.inner.id.clone())
            .operation(self.operation(capability, operation).idempotent(true))
            .probe(move |_cx| {
                let me = me.clone();
                async move { me.check() }
            })
    }

    fn error(&self, fault: &Fault) -> Error {
        let id = &self.inner.id;
        match fault {
            Fault::Error(kind) => Error::new(*kind, format!("scripted {kind} from {id}")),
            Fault::Status(429) => Error::rate_limited(format!("scripted 429 from {id}"), None).with_status(429),
            Fault::Status(status) => Error::upstream(*status, "scripted failure"),
            Fault::RateLimited(after) => {
                Error::rate_limited(format!("scripted 429 from {id}"), *after).with_status(429)
            }
            Fault::Unreachable => Error::unavailable(format!("scripted: {id} refused the connection")).not_sent(),
            Fault::Hang => Error::internal("a hang has no error"),
        }
    }

    async fn call(self, cx: Context, input: Value) -> Result<Value> {
        let n = self.inner.started.fetch_add(1, Ordering::SeqCst) + 1;
        let (step, latency, clock) = {
            let mut config = self.inner.config.lock();
            let step = if let Some(fault) = &config.standing {
                Err(fault.clone())
            } else if let Some(fault) = config.by_call.remove(&n) {
                Err(fault)
            } else if let Some(step) = config.script.pop_front() {
                step
            } else {
                Ok(match &config.reply {
                    Some(reply) => reply(&input, n),
                    None => serde_json::json!({ "provider": &*self.inner.id, "echo": input }),
                })
            };
            let latency = {
                let Config { latency, rng, .. } = &mut *config;
                latency.sample(n, rng)
            };
            (step, latency, config.clock.clone())
        };
        self.inner.calls.lock().push(ScriptedCall {
            number: n,
            input,
            attempt: cx.attempt(),
            idempotency_key: cx.idempotency_key().map(str::to_owned),
            at: clock.now(),
        });
        let mut guard = Pending(&self.inner, true);
        let work = async {
            if !latency.is_zero() {
                clock.sleep(latency).await;
            }
            match step {
                Ok(value) => Ok(value),
                Err(Fault::Hang) => std::future::pending().await,
                Err(fault) => Err(self.error(&fault)),
            }
        };
        let result = tokio::select! {
            biased;
            () = cx.cancellation().cancelled() => return Err(Error::cancelled("the scripted call was cancelled")),
            result = work => result,
        };
        guard.1 = false;
        self.inner.completed.fetch_add(1, Ordering::SeqCst);
        result
    }
}

/// Counts a call as cancelled if it is dropped (or cancelled) before it ends.
struct Pending<'a>(&'a Inner, bool);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl fmt::Debug for ScriptedProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedProvider")
            .field("id", &self.inner.id)
            .field("calls", &self.call_count())
            .finish_non_exhaustive()
    }
}
