//! [`Router`]: providers by capability, the call loop (selection, failover, parallel calls,
//! hedging), tracking and health.
//!
//! This is the top layer of the crate: it uses every other module and none uses it (the
//! `router` scenario node aside). What the lower layers share with it lives with them: the
//! provider table and its live state in `table`, the snapshot's shape in [`crate::track`],
//! the decision record in `decision`.
//!
//! | idea | file |
//! | --- | --- |
//! | the router, its builder and its handle | `mod.rs` |
//! | one call's constraints, candidates and scores | `plan.rs` |
//! | one attempt | `attempt.rs` |
//! | the call loop: failover, parallel, hedging, deadlines | `execute.rs` |
//! | how an attempt's end is recorded, and cancelling the ones still running | `complete.rs` |
//! | what a call gives back: answer, broadcast, error with its decision | `answer.rs` |
//! | hedging settings | `hedging.rs` |
//! | active health checks | `health_checks.rs` |
//! | filling in a [`RouterSnapshot`](crate::RouterSnapshot) | `snapshot.rs` |

mod answer;
mod attempt;
mod complete;
mod execute;
mod health_checks;
mod hedging;
mod plan;
mod snapshot;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use aura_core::{Error, Result};
use parking_lot::Mutex;
use rand::SeedableRng as _;
use rand::rngs::SmallRng;

pub use self::answer::{Broadcast, RouteError, Routed};
pub use self::health_checks::HealthCheckTask;
pub use self::hedging::Hedging;
use crate::clock::{Clock, SystemClock, to_nanos};
use crate::decision::Decision;
use crate::failover::{FailoverPolicy, RetryBudgetState};
use crate::health::{HealthPolicy, HealthStatus};
use crate::provider::{Provider, ProviderId};
use crate::select::{Strategy, WeightedRandom};
use crate::table::{CapabilityState, HotArena, ProviderState, Table};
use crate::track::{Budget, BudgetState};

/// A hook that sees every decision record.
pub type DecisionHook = Arc<dyn Fn(&Decision) + Send + Sync>;

/// Routes calls of a capability's operations to providers: picks one by a strategy, fails over
/// on retryable errors, runs several at once when asked, ejects the ones that fail, and tracks
/// latency and cost. See the [crate docs](crate) for a walk-through.
///
/// Every method takes `&self`; share a router with an `Arc` (or a [`RouterHandle`]). Providers
/// can be added, removed and re-weighted while calls run: each call reads the provider table
/// once, without a lock, and finishes on the table it started with.
pub struct Router {
    table: ArcSwap<Table>,
    writer: Mutex<Writer>,
    pub(crate) settings: Settings,
    pub(crate) clock: Arc<dyn Clock>,
    seed: u64,
    calls: AtomicU64,
}

/// What only writers (adding and removing providers) touch, under one lock.
#[derive(Debug, Default)]
struct Writer {
    capabilities: HashMap<Arc<str>, Arc<CapabilityState>>,
    arena: HotArena,
}

/// What a router is configured with.
pub(crate) struct Settings {
    pub(crate) strategy: Arc<dyn Strategy>,
    pub(crate) failover: FailoverPolicy,
    pub(crate) health: HealthPolicy,
    pub(crate) hedging: Option<Hedging>,
    /// Peak-EWMA decay time, nanoseconds.
    pub(crate) tau: f64,
    /// The latency assumed before the first sample, nanoseconds.
    pub(crate) default_latency: f64,
    pub(crate) capability_budgets: HashMap<Arc<str>, Budget>,
    pub(crate) on_decision: Option<DecisionHook>,
}

/// A router shared through a scenario's context: the host attaches it with
/// `Context::builder().extension(RouterHandle(router))`, and the `router` node
/// ([`RouterNode`](crate::RouterNode)) finds it there.
#[derive(Clone)]
pub struct RouterHandle(pub Arc<Router>);

impl fmt::Debug for RouterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::ops::Deref for RouterHandle {
    type Target = Router;

    fn deref(&self) -> &Router {
        &self.0
    }
}

impl Router {
    /// Starts configuring a router.
    pub fn builder() -> RouterBuilder {
        RouterBuilder::default()
    }

    /// Adds a provider; an error if one with the same id is already there.
    pub fn add(&self, provider: Provider) -> Result<()> {
        let mut writer = self.writer.lock();
        let table = self.table.load();
        if table.by_id.contains_key(provider.id.as_str()) {
            return Err(
                Error::conflict(format!("provider {} is already registered", provider.id))
                    .with_context("provider", provider.id.to_string()),
            );
        }
        let mut providers = table.providers.clone();
        let writer = &mut *writer;
        providers.push(Arc::new(ProviderState::new(provider, &mut writer.arena)));
        self.publish(providers, &mut writer.capabilities);
        Ok(())
    }

    /// Adds a provider, or replaces the one with the same id (whose counters, health and
    /// budget start afresh). Returns whether one was replaced.
    pub fn upsert(&self, provider: Provider) -> bool {
        let mut writer = self.writer.lock();
        let table = self.table.load();
        let mut providers = table.providers.clone();
        let state = Arc::new(ProviderState::new(provider, &mut writer.arena));
        let replaced = match table.by_id.get(state.def.id.as_str()) {
            Some(&i) => {
                providers[i] = state;
                true
            }
            None => {
                providers.push(state);
                false
            }
        };
        self.publish(providers, &mut writer.capabilities);
        replaced
    }

    /// Removes a provider: it gets no new calls; calls already running finish. Returns whether
    /// it was there.
    pub fn remove(&self, id: &str) -> bool {
        let mut writer = self.writer.lock();
        let table = self.table.load();
        if !table.by_id.contains_key(id) {
            return false;
        }
        let providers = table
            .providers
            .iter()
            .filter(|p| p.def.id.as_str() != id)
            .cloned()
            .collect();
        self.publish(providers, &mut writer.capabilities);
        true
    }

    /// Changes a provider's weight, at once and without copying the table (0: no traffic).
    pub fn set_weight(&self, id: &str, weight: u32) -> Result<()> {
        let table = self.table.load();
        let provider = table
            .provider(id)
            .ok_or_else(|| Error::not_found(format!("no provider {id}")).with_context("provider", id.to_owned()))?;
        provider.hot.weight.store(weight, Ordering::Relaxed);
        Ok(())
    }

    /// The ids of every provider, in registration order.
    pub fn providers(&self) -> Vec<ProviderId> {
        self.table.load().providers.iter().map(|p| p.def.id.clone()).collect()
    }

    /// The health of one provider's operation now, if it serves it.
    pub fn health(&self, provider: &str, capability: &str, operation: &str) -> Option<HealthStatus> {
        let table = self.table.load();
        let provider = table.provider(provider)?;
        let op = provider
            .ops
            .iter()
            .find(|o| &*o.capability == capability && &*o.name == operation)?;
        Some(op.health.status(to_nanos(self.clock.now())))
    }

    /// The clock the router reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn load_table(&self) -> Arc<Table> {
        self.table.load_full()
    }

    /// A per-call random number generator: seeded from the router's seed and the call's
    /// sequence number, so that the same seed and the same calls make the same picks.
    pub(crate) fn call_rng(&self) -> SmallRng {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        SmallRng::seed_from_u64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn publish(&self, providers: Vec<Arc<ProviderState>>, capabilities: &mut HashMap<Arc<str>, Arc<CapabilityState>>) {
        let settings = &self.settings;
        let new_capability = |name: &Arc<str>| CapabilityState {
            name: name.clone(),
            budget: settings.capability_budgets.get(name).map(|b| BudgetState::new(*b)),
            retries: RetryBudgetState::new(settings.failover.retry_budget),
        };
        let table = Table::build(providers, capabilities, &new_capability);
        self.table.store(Arc::new(table));
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("providers", &self.providers())
            .field("strategy", &self.settings.strategy)
            .field("failover", &self.settings.failover)
            .field("health", &self.settings.health)
            .field("hedging", &self.settings.hedging)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Router`]; see [`Router::builder`].
#[must_use]
pub struct RouterBuilder {
    clock: Option<Arc<dyn Clock>>,
    seed: Option<u64>,
    strategy: Arc<dyn Strategy>,
    failover: FailoverPolicy,
    health: HealthPolicy,
    hedging: Option<Hedging>,
    latency_decay: Duration,
    default_latency: Duration,
    capability_budgets: HashMap<Arc<str>, Budget>,
    on_decision: Option<DecisionHook>,
    providers: Vec<Provider>,
}

impl Default for RouterBuilder {
    fn default() -> Self {
        Self {
            clock: None,
            seed: None,
            strategy: Arc::new(WeightedRandom),
            failover: FailoverPolicy::default(),
            health: HealthPolicy::default(),
            hedging: None,
            latency_decay: Duration::from_secs(10),
            default_latency: Duration::ZERO,
            capability_budgets: HashMap::new(),
            on_decision: None,
            providers: Vec::new(),
        }
    }
}

impl RouterBuilder {
    /// The clock (default: [`SystemClock`]); a [`ManualClock`](crate::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// An already shared clock.
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The seed of every random pick (default: a random seed). With a fixed seed, the same
    /// calls in the same order make the same picks.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The default strategy (default [`WeightedRandom`]); a request can name its own.
    pub fn strategy(mut self, strategy: impl Strategy + 'static) -> Self {
        self.strategy = Arc::new(strategy);
        self
    }

    /// The failover policy.
    pub fn failover(mut self, policy: FailoverPolicy) -> Self {
        self.failover = policy;
        self
    }

    /// The outlier detection policy.
    pub fn health(mut self, policy: HealthPolicy) -> Self {
        self.health = policy;
        self
    }

    /// Hedges every call of an idempotent operation (a request can turn it off, or on when
    /// this is not set, with the default [`Hedging`]).
    pub fn hedging(mut self, hedging: Hedging) -> Self {
        self.hedging = Some(hedging);
        self
    }

    /// The decay time of peak-EWMA latencies (default 10 s).
    pub fn latency_decay(mut self, tau: Duration) -> Self {
        self.latency_decay = tau.max(Duration::from_nanos(1));
        self
    }

    /// The latency a provider operation is taken to have before its first sample (default 0:
    /// an untried provider looks fast, so latency-based strategies try it soon).
    pub fn default_latency(mut self, latency: Duration) -> Self {
        self.default_latency = latency;
        self
    }

    /// A spending budget for every provider of a capability together.
    pub fn capability_budget(mut self, capability: impl Into<Arc<str>>, budget: Budget) -> Self {
        self.capability_budgets.insert(capability.into(), budget);
        self
    }

    /// Calls `hook` with the decision record of every routed call (for logs and audits).
    pub fn on_decision(mut self, hook: impl Fn(&Decision) + Send + Sync + 'static) -> Self {
        self.on_decision = Some(Arc::new(hook));
        self
    }

    /// Adds a provider.
    pub fn provider(mut self, provider: Provider) -> Self {
        self.providers.push(provider);
        self
    }

    /// Builds the router; an error if two providers share an id.
    pub fn build(self) -> Result<Router> {
        let seed = self
            .seed
            .unwrap_or_else(|| RandomState::new().hash_one(std::time::SystemTime::now()));
        let router = Router {
            table: ArcSwap::from_pointee(Table::default()),
            writer: Mutex::new(Writer::default()),
            settings: Settings {
                strategy: self.strategy,
                failover: self.failover,
                health: self.health,
                hedging: self.hedging,
                tau: self.latency_decay.as_nanos() as f64,
                default_latency: self.default_latency.as_nanos() as f64,
                capability_budgets: self.capability_budgets,
                on_decision: self.on_decision,
            },
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
            seed,
            calls: AtomicU64::new(0),
        };
        for provider in self.providers {
            router.add(provider)?;
        }
        Ok(router)
    }
}

impl fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterBuilder")
            .field("strategy", &self.strategy)
            .field("providers", &self.providers.len())
            .finish_non_exhaustive()
    }
}
