//! Durable executions per second: the engine on a `SqliteStore` in a file (WAL,
//! `synchronous = FULL`, group commit) and on a `PostgresStore` (group commit, the server's
//! default `synchronous_commit = on`), against the same run on the `MemoryStore`.
//!
//! Each run: a fresh file in a temporary directory, a 5-node scenario (trigger → 4 no-op
//! actions, as in `benches/engine.rs`), 10,000 executions started with `engine.start` at once,
//! then all awaited. Every execution's create, 5 node checkpoints and finish are durable (on
//! disk, fsynced) before the engine goes on (the trigger's checkpoint, a pure node's, goes in
//! the same batch as the first action's). Prints executions/s per run and the median, and
//! the latency each checkpoint (`save_node`) adds, p50 and p99, as the engine sees it.
//!
//! Targets (durable-stores issue), on a 2-core machine: ≥ 5,000 durable executions/s on
//! SQLite, ≥ 2,000/s on PostgreSQL over loopback.
//!
//! Run with `cargo bench --features store-sqlite,store-postgres --bench durable`
//! (`AURA_BENCH_RUNS`, default 3; `AURA_BENCH_EXECUTIONS`, default 10,000;
//! `AURA_BENCH_POSTGRES_URL`, `postgres://user:password@host:port/database`, for the PostgreSQL
//! part, skipped with a note when unset; `AURA_BENCH_STORES`, a comma-separated subset of
//! `memory,sqlite,postgres`). Each PostgreSQL run works in a fresh schema, dropped after it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::semver::Version;
use aura_core::store::{
    Cursor, ExecutionRecord, ExecutionStatus, ExecutionStore, ExecutionSummary, Lease, MemoryStore, NodeResult, Page,
    PageRequest, PayloadKey, Prune, SqliteStore,
};
use aura_core::{ActionDef, App, AppManifest, Registry};
use samples::Samples;
use serde_json::{Value, json};
use uuid::Uuid;

/// An app with one action that returns its input, with schemas that accept anything.
struct Bench;

#[aura_core::async_trait]
impl App for Bench {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("bench", "Bench", Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::from_json("noop", json!(true), json!(true), |_cx, v| async move { Ok(v) })
                // A no-op may be repeated; an action that is not idempotent adds one durable write
                // (its "running" row) before each call.
                .idempotent(true),
        ]
    }
}

/// `trigger → n0 → n1 → n2 → n3`: 5 nodes.
fn scenario() -> Scenario {
    let mut builder = Scenario::builder("durable_5", "Durable").node(NodeBuilder::trigger("t").next(["n0"]));
    for i in 0..4 {
        let input = if i == 0 {
            json!({ "x": "{{ trigger.x }}" })
        } else {
            json!({ "x": format!("{{{{ steps.n{}.output.x }}}}", i - 1) })
        };
        let mut node = NodeBuilder::action(format!("n{i}"), "bench.noop").input(input);
        if i < 3 {
            node = node.next([format!("n{}", i + 1)]);
        }
        builder = builder.node(node);
    }
    builder.build()
}

/// Latency samples in microseconds, from many tasks.
mod samples {
    use std::sync::Mutex;

    #[derive(Default)]
    pub(crate) struct Samples(Mutex<Vec<u32>>);

    impl Samples {
        pub(crate) fn push(&self, micros: u32) {
            self.0.lock().unwrap().push(micros);
        }

        pub(crate) fn take(&self) -> Vec<u32> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }
}

/// A store that times each `save_node` of the store it wraps.
struct Timed<S> {
    inner: S,
    checkpoints: Samples,
}

#[aura_core::async_trait]
impl<S: ExecutionStore> ExecutionStore for Timed<S> {
    async fn create(&self, record: &ExecutionRecord) -> aura_core::Result<()> {
        self.inner.create(record).await
    }

    async fn create_leased(&self, record: &ExecutionRecord, owner: &str, length: Duration) -> aura_core::Result<Lease> {
        self.inner.create_leased(record, owner, length).await
    }

    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> aura_core::Result<()> {
        let start = Instant::now();
        let done = self.inner.save_node(execution_id, result).await;
        self.checkpoints
            .push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
        done
    }

    /// The engine's checkpoints (every execution it runs is leased): timed.
    async fn save_node_leased(&self, lease: &Lease, result: &NodeResult) -> aura_core::Result<()> {
        let start = Instant::now();
        let done = self.inner.save_node_leased(lease, result).await;
        self.checkpoints
            .push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
        done
    }

    async fn finish(&self, record: &ExecutionRecord) -> aura_core::Result<()> {
        self.inner.finish(record).await
    }

    async fn finish_leased(&self, lease: &Lease, record: &ExecutionRecord) -> aura_core::Result<()> {
        self.inner.finish_leased(lease, record).await
    }

    async fn save_exact_leased(&self, lease: &Lease, key: &PayloadKey, value: &Arc<Value>) -> aura_core::Result<()> {
        self.inner.save_exact_leased(lease, key, value).await
    }

    async fn renew_owned(&self, owner: &str, extend: Duration) -> aura_core::Result<u64> {
        self.inner.renew_owned(owner, extend).await
    }

    async fn claim_next(
        &self,
        owner: &str,
        length: Duration,
        limit: usize,
        limits: &aura_core::store::ConcurrencyLimits,
    ) -> aura_core::Result<Vec<Lease>> {
        self.inner.claim_next(owner, length, limit, limits).await
    }

    async fn get(&self, execution_id: Uuid) -> aura_core::Result<Option<ExecutionRecord>> {
        self.inner.get(execution_id).await
    }

    async fn list(&self, scenario_id: &str, page: PageRequest) -> aura_core::Result<Page<ExecutionSummary>> {
        self.inner.list(scenario_id, page).await
    }

    async fn unfinished(&self) -> aura_core::Result<Vec<ExecutionRecord>> {
        self.inner.unfinished().await
    }

    async fn prune(&self, prune: Prune) -> aura_core::Result<usize> {
        self.inner.prune(prune).await
    }

    async fn claim(&self, execution_id: Uuid, owner: &str, lease: Duration) -> aura_core::Result<Option<Lease>> {
        self.inner.claim(execution_id, owner, lease).await
    }

    async fn renew(&self, lease: &Lease, extend: Duration) -> aura_core::Result<Option<Lease>> {
        self.inner.renew(lease, extend).await
    }

    async fn release(&self, lease: &Lease) -> aura_core::Result<()> {
        self.inner.release(lease).await
    }

    async fn save_exact(&self, execution_id: Uuid, key: &PayloadKey, value: &Arc<Value>) -> aura_core::Result<()> {
        self.inner.save_exact(execution_id, key, value).await
    }

    async fn exact(&self, execution_id: Uuid, key: &PayloadKey) -> aura_core::Result<Option<Arc<Value>>> {
        self.inner.exact(execution_id, key).await
    }
}

struct Run {
    per_second: f64,
    checkpoints: Vec<u32>,
}

/// Starts `executions` executions at once on an engine over `store`, waits for all.
async fn run<S: ExecutionStore>(registry: &Arc<Registry>, store: Arc<Timed<S>>, executions: usize) -> Run {
    let engine = Engine::builder(registry.clone()).store(store.clone()).build();
    let plan = engine.compile(scenario()).await.unwrap();
    // Warm-up: statements prepared, pages cached.
    for _ in 0..200 {
        engine.execute(&plan, json!({ "x": 1 })).await.unwrap();
    }
    store.checkpoints.take();

    let start = Instant::now();
    // Started concurrently: `start` returns once the execution is durable, so starting them one
    // after another would measure one commit per start.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..executions {
        let (engine, plan) = (engine.clone(), plan.clone());
        tasks.spawn(async move {
            let handle = engine.start(&plan, json!({ "x": i })).await.unwrap();
            handle.wait().await.unwrap()
        });
    }
    while let Some(done) = tasks.join_next().await {
        let record = done.unwrap();
        assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    }
    let elapsed = start.elapsed();
    Run {
        per_second: executions as f64 / elapsed.as_secs_f64(),
        checkpoints: store.checkpoints.take(),
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What one store's runs measured.
#[derive(Default)]
struct Report {
    per_second: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
}

impl Report {
    fn add(&mut self, store: &str, i: usize, mut result: Run) {
        result.checkpoints.sort_unstable();
        let (p50, p99) = (
            percentile(&result.checkpoints, 0.50),
            percentile(&result.checkpoints, 0.99),
        );
        println!(
            "  {store} run {}: {:>8.0} executions/s; checkpoint latency p50 {p50} µs, p99 {p99} µs ({} checkpoints)",
            i + 1,
            result.per_second,
            result.checkpoints.len()
        );
        self.per_second.push(result.per_second);
        self.p50.push(f64::from(p50));
        self.p99.push(f64::from(p99));
    }

    fn print(self, store: &str, runs: usize) {
        if self.per_second.is_empty() {
            return;
        }
        println!(
            "  {store} store: median {:>8.0} durable executions/s over {runs} runs; checkpoint latency median p50 {:.0} µs, p99 {:.0} µs",
            median(self.per_second),
            median(self.p50),
            median(self.p99)
        );
    }
}

/// Every execution (and the warm-up's) is in the store.
async fn assert_all_stored<S: ExecutionStore>(store: &S, executions: usize) {
    let mut seen = 0;
    let mut page = PageRequest::first(5_000);
    loop {
        let listed = store.list("durable_5", page.clone()).await.unwrap();
        seen += listed.items.len();
        match listed.next {
            Some(next) => page = PageRequest::first(5_000).after(Cursor::new(next.as_str())),
            None => break,
        }
    }
    assert_eq!(seen, executions + 200, "every execution (and the warm-up's) is stored");
}

#[cfg(feature = "store-postgres")]
mod postgres {
    use aura_core::store::PostgresStore;

    /// A store in a fresh schema of the server at `url`.
    pub(crate) async fn open(url: &str, schema: &str) -> PostgresStore {
        PostgresStore::builder(url.to_owned())
            .schema(schema)
            .open()
            .await
            .unwrap()
    }

    /// Drops a run's schema.
    pub(crate) async fn drop_schema(url: &str, schema: &str) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let runs = env("AURA_BENCH_RUNS", 3).max(1);
    let executions = env("AURA_BENCH_EXECUTIONS", 10_000).max(1);
    let stores = std::env::var("AURA_BENCH_STORES").unwrap_or_else(|_| "memory,sqlite,postgres".to_owned());
    let wants = |store: &str| stores.split(',').any(|s| s.trim() == store);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let registry = {
        let registry = Registry::new();
        registry.register(Bench).unwrap();
        Arc::new(registry)
    };
    println!(
        "durable: {executions} executions of a 5-node no-op scenario, started at once, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    runtime.block_on(async {
        let mut memory = Vec::new();
        for _ in 0..runs {
            if !wants("memory") {
                break;
            }
            let store = Arc::new(Timed {
                inner: MemoryStore::with_retention(executions * 2),
                checkpoints: Samples::default(),
            });
            memory.push(run(&registry, store, executions).await.per_second);
        }

        let mut sqlite = Report::default();
        for i in 0..runs {
            if !wants("sqlite") {
                break;
            }
            let dir = tempfile::tempdir().unwrap();
            let inner = SqliteStore::open(dir.path().join("aura.db")).await.unwrap();
            let store = Arc::new(Timed {
                inner: inner.clone(),
                checkpoints: Samples::default(),
            });
            let result = run(&registry, store, executions).await;
            sqlite.add("sqlite", i, result);
            assert_all_stored(&inner, executions).await;
            inner.close().await;
        }

        #[cfg_attr(not(feature = "store-postgres"), allow(unused_mut))]
        let mut postgres = Report::default();
        let url = std::env::var("AURA_BENCH_POSTGRES_URL").ok().filter(|u| !u.is_empty());
        if wants("postgres") {
            match url {
                #[cfg(feature = "store-postgres")]
                Some(url) => {
                    for i in 0..runs {
                        let schema = format!("aura_bench_{}", Uuid::now_v7().simple());
                        let inner = postgres::open(&url, &schema).await;
                        let store = Arc::new(Timed {
                            inner: inner.clone(),
                            checkpoints: Samples::default(),
                        });
                        let result = run(&registry, store, executions).await;
                        postgres.add("postgres", i, result);
                        assert_all_stored(&inner, executions).await;
                        inner.close().await;
                        postgres::drop_schema(&url, &schema).await;
                    }
                }
                #[cfg(not(feature = "store-postgres"))]
                Some(_) => println!("  postgres: skipped (build with --features store-postgres)"),
                None => println!("  postgres: skipped (set AURA_BENCH_POSTGRES_URL to a server's URL)"),
            }
        }
        if !memory.is_empty() {
            println!(
                "  memory store: median {:>8.0} executions/s over {runs} runs",
                median(memory)
            );
        }
        sqlite.print("sqlite", runs);
        postgres.print("postgres", runs);
    });
}
