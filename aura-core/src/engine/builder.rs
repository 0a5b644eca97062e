//! [`EngineBuilder`]: an engine's parts and settings, with their defaults.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::limits::{RateLimiters, ResultCache};
use super::{Engine, Inner, Keep, Retention};
use crate::app::RateLimit;
use crate::clock::{Clock, SystemClock};
use crate::connection::{ConnectionId, Connections};
use crate::registry::Registry;
use crate::store::{ExecutionStore, MemoryStore, RateLimitStore, ScenarioStore};

/// Builds an [`Engine`].
pub struct EngineBuilder {
    registry: Arc<Registry>,
    connections: Arc<Connections>,
    store: Arc<dyn ExecutionStore>,
    scenarios: Option<Arc<dyn ScenarioStore>>,
    rate_limits: HashMap<ConnectionId, RateLimit>,
    shared_rate_limits: Option<Arc<dyn RateLimitStore>>,
    event_capacity: usize,
    cache_capacity: u64,
    payload_limit: usize,
    http: Option<reqwest::Client>,
    extensions: http::Extensions,
    clock: Arc<dyn Clock>,
    owner: String,
    lease: std::time::Duration,
    worker_capacity: usize,
    poll_interval: std::time::Duration,
    max_depth: u32,
    late_binding: bool,
    keep: Keep,
    park_after: std::time::Duration,
    /// The shortest wait that parks an execution in the store
    /// ([`EngineBuilder::park_in_store_after`]).
    park_in_store_after: std::time::Duration,
    retention: Option<Retention>,
}

impl EngineBuilder {
    /// A builder over `registry`, with the defaults.
    pub(super) fn new(registry: Arc<Registry>) -> Self {
        Self {
            registry,
            connections: Arc::new(Connections::new()),
            store: Arc::new(MemoryStore::new()),
            scenarios: None,
            rate_limits: HashMap::new(),
            shared_rate_limits: None,
            event_capacity: 4096,
            cache_capacity: 10_000,
            payload_limit: 256 * 1024,
            http: None,
            extensions: http::Extensions::new(),
            clock: Arc::new(SystemClock::new()),
            owner: Uuid::now_v7().to_string(),
            lease: std::time::Duration::from_secs(30),
            worker_capacity: 64,
            poll_interval: std::time::Duration::from_secs(1),
            max_depth: 16,
            late_binding: false,
            keep: Keep::all(),
            park_after: std::time::Duration::from_secs(1),
            park_in_store_after: std::time::Duration::from_secs(60),
            retention: None,
        }
    }

    /// Which executions' records go to the store (default [`Keep::all`]: every one,
    /// checkpointed after each node). [`Keep::none`] and [`Keep::sampled`] spare the store's
    /// work where crash resume is not wanted.
    #[must_use]
    pub fn keep(mut self, keep: Keep) -> Self {
        self.keep = keep;
        self
    }

    /// Attaches a value to every node's context, found with [`crate::Context::extension`]: how
    /// custom nodes reach host services (an `aura_router::RouterHandle`, a connection pool …).
    #[must_use]
    pub fn extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }

    /// The connections nodes may use (default: none).
    #[must_use]
    pub fn connections(mut self, connections: Arc<Connections>) -> Self {
        self.connections = connections;
        self
    }

    /// Where deployed scenarios are kept (default: nowhere, they live in memory only).
    ///
    /// With a scenario store, [`Engine::deploy`] keeps each deployed definition under its id
    /// and declared version before it answers (see [`crate::store::ScenarioStore`] for what a
    /// version is: a version deployed again with another definition is a
    /// [`Conflict`](crate::ErrorKind::Conflict)); a new engine on the same store deploys them
    /// again with [`Engine::load_deployed`]; and a re-run or a recovery runs the version its
    /// execution recorded, compiled from the store, when that is not the deployed one. A
    /// `SqliteStore` or `PostgresStore` serves as both stores: pass it to both.
    #[must_use]
    pub fn scenarios(mut self, store: Arc<dyn ScenarioStore>) -> Self {
        self.scenarios = Some(store);
        self
    }

    /// Where execution records go (default: a [`MemoryStore`]).
    #[must_use]
    pub fn store(mut self, store: Arc<dyn ExecutionStore>) -> Self {
        self.store = store;
        self
    }

    /// Overrides the rate limit of one connection (default: the app manifest's).
    #[must_use]
    pub fn rate_limit(mut self, connection: impl Into<ConnectionId>, limit: RateLimit) -> Self {
        self.rate_limits.insert(connection.into(), limit);
        self
    }

    /// Keeps the connections' rate limits in `store`, shared with every engine that uses it
    /// (default: each engine limits its own calls). With N workers on N machines sharing a
    /// `PostgresStore`, pass it here too, so that a connection makes at most its documented
    /// rate between all of them rather than N times it.
    ///
    /// Each limited call then takes its room in the store (on PostgreSQL, one short
    /// transaction on a row of that connection), on the store's clock: real time, not the
    /// engine's [`clock`](Self::clock). When the store cannot answer, the engine logs a
    /// warning and limits its own calls meanwhile.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aura_core::engine::Engine;
    /// use aura_core::store::MemoryStore;
    /// use aura_core::Registry;
    ///
    /// let store = Arc::new(MemoryStore::new());
    /// let engine = Engine::builder(Arc::new(Registry::new()))
    ///     .store(store.clone())
    ///     .shared_rate_limits(store)
    ///     .build();
    /// # drop(engine);
    /// ```
    #[must_use]
    pub fn shared_rate_limits(mut self, store: Arc<dyn RateLimitStore>) -> Self {
        self.shared_rate_limits = Some(store);
        self
    }

    /// How many events a slow subscriber may fall behind before it misses some (default 4096).
    #[must_use]
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// How many cached action results to keep (default 10,000).
    #[must_use]
    pub fn cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Payloads (inputs, outputs, trigger data) bigger than this many bytes are stored
    /// truncated, with a marker (default 256 KiB).
    #[must_use]
    pub fn payload_limit(mut self, bytes: usize) -> Self {
        self.payload_limit = bytes;
        self
    }

    /// The HTTP client actions get (default: the shared one).
    #[must_use]
    pub fn http(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock retry back-off sleeps, delays and max durations follow (default:
    /// [`SystemClock`]); tests drive time with a [`crate::clock::ManualClock`].
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Who this engine is in the store's leases (default: a random id per engine). Every
    /// execution the engine runs with checkpoints is leased to its owner from its creation to
    /// its end, so that no other process, nor a worker of this one, takes it up meanwhile.
    /// Processes sharing a store need different owners. On PostgreSQL, give each process a
    /// stable owner (a host name, a pod name): a process restarted under the same owner takes
    /// up its own executions at once, while another owner waits for their leases to run out.
    /// (A SQLite file serves one process at a time: leases from an earlier opening of the file
    /// do not count, whatever the owner.) An empty owner is nobody's (it marks an execution
    /// [parked in the store](Self::park_in_store_after)): it keeps the random default.
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        let owner = owner.into();
        if !owner.is_empty() {
            self.owner = owner;
        }
        self
    }

    /// How long a lease on an execution lasts unless renewed (default 30 seconds). One
    /// heartbeat per engine renews all of its leases every third of this, so this is how long
    /// the executions of a process that died wait before another process takes them up.
    #[must_use]
    pub fn lease(mut self, lease: std::time::Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The most executions one call of [`Engine::work`] runs at once (default 64).
    #[must_use]
    pub fn worker_capacity(mut self, executions: usize) -> Self {
        self.worker_capacity = executions.max(1);
        self
    }

    /// How often an idle worker ([`Engine::work`]) looks for work without being woken
    /// (default 1 second): the fallback for stores without a signal of new work, and for
    /// executions left by a process that died (their leases run out without a signal).
    #[must_use]
    pub fn poll_interval(mut self, interval: std::time::Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How deep sub-scenarios may nest (default 16): a sub-scenario node deeper than this
    /// fails with an [`crate::ErrorKind::InvalidDefinition`] error naming the scenario and the
    /// node, instead of recursing without end.
    #[must_use]
    pub fn max_sub_scenario_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }

    /// Whether a scenario may name sub-scenarios and an error scenario that are not deployed
    /// (default `false`: [`Engine::deploy`] refuses them, naming the node and field, and
    /// refuses a deploy that closes a cycle of sub-scenario calls). With late binding, a
    /// reference is resolved when it runs (and fails there if still unknown), and a cycle is
    /// only logged: the engine's sub-scenario depth limit is then what stops a runaway call.
    #[must_use]
    pub fn late_binding(mut self, allowed: bool) -> Self {
        self.late_binding = allowed;
        self
    }

    /// The shortest wait (a `delay` node, any node that returns
    /// [`Route::Wait`](crate::node::Route::Wait)) that *parks* its execution (default 1 s).
    ///
    /// A parked execution holds no running future while it waits: only its state (the
    /// outputs so far, its record, its handle) and a timer, about a third of the memory of an
    /// execution waiting in place (`cargo run --release --example parked_memory`). It goes on
    /// when the wait is over, or ends at once when it is cancelled or its max duration is
    /// spent. An execution parks only when nothing else of it is in flight (a wait in one of
    /// two concurrent branches, or inside an iterate body, waits in place); waking one costs a
    /// few microseconds, so short waits are better waited in place. `Duration::MAX` never
    /// parks.
    #[must_use]
    pub fn park_after(mut self, wait: std::time::Duration) -> Self {
        self.park_after = wait;
        self
    }

    /// The shortest wait that parks an execution *in the store* (default 1 minute): its state
    /// leaves memory altogether, and only the store holds it until it wakes. Two waits park
    /// so: a node's own wait (a `delay` node …), and the back-off before a failed node's next
    /// retry (a service's long `Retry-After` …): the node is then saved as
    /// [`NodeStatus::Waiting`](crate::store::NodeStatus::Waiting) without an output, with its
    /// last error and attempts, and is called again when the retry is due, the attempts made
    /// before counting against its retry policy.
    ///
    /// This needs an engine that checkpoints (the default [`Keep`]) on a durable store that
    /// can park ([`ExecutionStore::park_leased`]: `SqliteStore`, `PostgresStore`). A waiting
    /// node is then saved as [`NodeStatus::Waiting`](crate::store::NodeStatus::Waiting) with
    /// its output and the time its wait ends; when the wait is at least this long, the
    /// execution's lease is handed to nobody until then, and the engine lets it go. When it
    /// wakes, any process takes it up: this engine (which claims it at once, so that the
    /// [`ExecutionHandle`](super::ExecutionHandle) that started it follows it to its end), or a worker
    /// ([`Engine::work`]) of any process sharing the store, or [`Engine::recover_all`] after a
    /// restart. It goes on from its waiting node, which is not called again. What it held in
    /// memory (its outputs, its record) is read back from the store. While parked in the
    /// store, an execution holds no concurrency slot of its scenario, and its max duration
    /// does not run: a delay of a day needs no max duration of a day (a wait in memory counts).
    /// A cancel through its handle ends it at once, without waiting for the wake. An execution
    /// that waits in an iterate body or beside another branch in flight, or that runs with a
    /// breakpoint or as a sub-scenario, waits in memory ([`park_after`](Self::park_after)).
    /// `Duration::MAX` never parks in the store.
    #[must_use]
    pub fn park_in_store_after(mut self, wait: std::time::Duration) -> Self {
        self.park_in_store_after = wait;
        self
    }

    /// Prunes finished executions from the store as `retention` says, on a task of the
    /// engine's, so that the host need not call [`ExecutionStore::prune`] itself (default: no
    /// retention, nothing is pruned; the [`MemoryStore`] still keeps only its newest 10,000).
    ///
    /// The task starts with [`build`](Self::build), which must then run inside a tokio runtime
    /// (outside one, a warning is logged and nothing is pruned), prunes at once and then every
    /// interval on the engine's [`clock`](Self::clock), and ends when the engine is dropped.
    /// See [`Retention`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aura_core::engine::{Engine, Retention};
    /// use aura_core::Registry;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // The newest 500 finished executions of each scenario, checked every 10 minutes.
    /// let engine = Engine::builder(Arc::new(Registry::new()))
    ///     .retention(Retention::new().keep_per_scenario(500))
    ///     .build();
    /// # drop(engine);
    /// # }
    /// ```
    #[must_use]
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    /// The engine.
    pub fn build(self) -> Engine {
        let (events, _) = broadcast::channel(self.event_capacity);
        let stopped = CancellationToken::new();
        if let Some(retention) = self.retention {
            retention.spawn(self.store.clone(), self.clock.clone(), stopped.clone());
        }
        let engine = Engine {
            inner: Arc::new(Inner {
                registry: self.registry,
                connections: self.connections,
                store: self.store,
                plans: RwLock::default(),
                scenarios: self.scenarios,
                versions: RwLock::default(),
                events,
                subscribed: std::sync::atomic::AtomicBool::new(false),
                event_capacity: self.event_capacity,
                keep: self.keep,
                completed: std::sync::atomic::AtomicU64::new(0),
                limiters: RateLimiters::new(self.rate_limits)
                    .with_clock(self.clock.clone())
                    .shared(self.shared_rate_limits),
                cache: ResultCache::new(self.cache_capacity),
                http: self.http,
                payload_limit: self.payload_limit,
                plain_redactor: Arc::new(super::redact::Redactor::new(Vec::new(), self.payload_limit)),
                extensions: Arc::new(self.extensions),
                clock: self.clock,
                owner: self.owner,
                lease: self.lease,
                heartbeat: std::sync::OnceLock::new(),
                worker_capacity: self.worker_capacity,
                poll_interval: self.poll_interval,
                max_depth: self.max_depth,
                late_binding: self.late_binding,
                park_after: self.park_after,
                park_in_store_after: self.park_in_store_after,
                sub_scenarios: std::sync::OnceLock::new(),
                _stop: stopped.clone().drop_guard(),
                stopped,
            }),
        };
        super::events::watch_store(&engine.inner);
        engine
    }
}
