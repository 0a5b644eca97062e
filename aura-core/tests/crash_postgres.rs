//! Two engine processes on one PostgreSQL database, one killed with SIGKILL mid-run: the other
//! takes over everything it left, and every accepted execution completes with exactly-once
//! effects.
//!
//! The children are this test binary run again (`AURA_CRASH_PG_CHILD` set, `--exact` this
//! test's name), with different owners. The parent seeds interrupted executions (as a crashed
//! earlier process would leave them); worker A recovers them (so it holds their leases, short
//! ones) and starts executions of its own; worker B starts executions of its own. A is
//! SIGKILLed at a random point while it runs; the parent then tells B, which recovers what is
//! unfinished until nothing is, once A's leases expire (A held every execution it ran, its own
//! from their creation, the seeded ones from its claims). The action appends `execution node idempotency-key` to a
//! shared call log (one `write` per line): the side-effect counter of an idempotency-key-aware
//! service, which applies each key once. At the end every execution is completed with the
//! right output, each (execution, node) had one idempotency key across both workers, and a node
//! was called again only if it was in flight in A at the kill.
//!
//! Needs a server: `#[ignore = "needs postgres: see .ci/run"]`, `AURA_TEST_POSTGRES_URL`.
//! Bounded: each child has a deadline, the whole test about a minute at most.

#![cfg(feature = "store-postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // Tests fail loudly by design.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::store::{ExecutionRecord, ExecutionStatus, ExecutionStore, NodeStatus, PostgresStore};
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

const TEST_NAME: &str = "a_worker_killed_mid_run_leaves_everything_to_the_other_with_exactly_once_effects";
/// Set in a child: the directory of the logs.
const CHILD_DIR: &str = "AURA_CRASH_PG_CHILD";
/// Set in a child: its owner id (`a` or `b`).
const CHILD_OWNER: &str = "AURA_CRASH_PG_OWNER";
/// Set in a child: the schema of the store.
const CHILD_SCHEMA: &str = "AURA_CRASH_PG_SCHEMA";
/// How long each action call takes: long enough that the kill lands inside calls.
const STEP_TIME: Duration = Duration::from_millis(40);
/// How long a claim lasts: short, so that B takes over A's claims soon after the kill.
const LEASE: Duration = Duration::from_secs(2);
/// Interrupted executions seeded before the workers start (A recovers them).
const SEEDED: usize = 20;
/// Executions each worker starts.
const STARTS: usize = 40;

mod postgres_schema;

use postgres_schema::server_url;

mod crash_app;

use crash_app::{Crash, STEPS, append, scenario};

struct Files {
    calls: PathBuf,
    started: PathBuf,
    /// Created by the parent once A is dead: B may recover then.
    a_dead: PathBuf,
}

impl Files {
    fn in_dir(dir: &Path) -> Self {
        Self {
            calls: dir.join("calls.log"),
            started: dir.join("started.log"),
            a_dead: dir.join("a-dead"),
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn open(schema: &str) -> PostgresStore {
    PostgresStore::builder(server_url())
        .schema(schema)
        .open()
        .await
        .unwrap()
}

/// A worker: both start executions of their own (logged once `start` returned, so accepted);
/// A then recovers what is unfinished and not its own (the seeded executions: it claims them);
/// both wait for theirs; B then waits for A's death and recovers until nothing is unfinished.
fn child(dir: &Path) {
    let files = Files::in_dir(dir);
    let owner = std::env::var(CHILD_OWNER).unwrap();
    let schema = std::env::var(CHILD_SCHEMA).unwrap();
    runtime().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(40);
        let store = open(&schema).await;
        let registry = Arc::new(Registry::new());
        registry
            .register(Crash {
                step_time: STEP_TIME,
                calls: files.calls.clone(),
            })
            .unwrap();
        let engine = Engine::builder(registry)
            .store(Arc::new(store.clone()))
            .owner(format!("worker-{owner}"))
            .lease(LEASE)
            .build();
        let plan = engine.deploy(scenario()).await.unwrap();
        let mut handles = Vec::new();
        for _ in 0..STARTS {
            let n = u64::from(Uuid::now_v7().as_u128() as u16);
            let handle = engine.start(&plan, json!({ "n": n })).await.unwrap();
            append(&files.started, &format!("{} {n} {owner}\n", handle.id())).unwrap();
            handles.push(handle);
        }
        if owner == "a" {
            handles.extend(engine.recover_all().await.unwrap());
        }
        for handle in handles {
            let record = handle.wait().await.unwrap();
            assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
        }
        if owner == "b" {
            while !files.a_dead.exists() {
                assert!(Instant::now() < deadline, "worker A was never killed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // What A left, once its leases expire (claims fail until then): A leased its own
            // executions from their creation and the seeded ones by its claims.
            while !store.unfinished().await.unwrap().is_empty() {
                assert!(Instant::now() < deadline, "B did not finish A's executions in time");
                for handle in engine.recover_all().await.unwrap() {
                    let record = handle.wait().await.unwrap();
                    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        store.close().await;
    });
}

fn spawn_child(dir: &Path, owner: &str, schema: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            TEST_NAME,
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_OWNER, owner)
        .env(CHILD_SCHEMA, schema)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Each logged call: (execution, node) → the idempotency keys it was called with.
fn calls(path: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut calls: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "a whole call log line: {line:?}");
        calls
            .entry((fields[0].to_owned(), fields[1].to_owned()))
            .or_default()
            .push(fields[2].to_owned());
    }
    calls
}

/// Every accepted execution: id → (trigger `n`, owner).
fn started(path: &Path) -> BTreeMap<Uuid, (u64, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (
                fields[0].parse().unwrap(),
                (fields[1].parse().unwrap(), fields[2].to_owned()),
            )
        })
        .collect()
}

/// An execution as a crashed process leaves it: running, its trigger checkpointed.
fn interrupted(n: u64) -> ExecutionRecord {
    let mut record: ExecutionRecord = serde_json::from_value(json!({
        "id": Uuid::now_v7(),
        "scenario_id": "crash",
        "scenario_version": 1,
        "trigger": { "n": n },
        "status": "running",
        "started_at": chrono::Utc::now(),
        "ended_at": null,
        "nodes": [],
    }))
    .unwrap();
    record
        .nodes
        .push(aura_testkit::behavior::store::node("t", None, json!({ "n": n })));
    record
}

/// The (execution, node) pairs whose checkpoint is durable, and every execution id.
async fn completed_nodes(store: &PostgresStore, ids: &BTreeSet<Uuid>) -> BTreeSet<(String, String)> {
    let mut done = BTreeSet::new();
    for id in ids {
        let Some(record) = store.get(*id).await.unwrap() else {
            continue;
        };
        for node in record.nodes.iter().filter(|n| n.status == NodeStatus::Completed) {
            done.insert((id.to_string(), node.node_id.to_string()));
        }
    }
    done
}

#[test]
#[ignore = "needs postgres: see .ci/run"]
fn a_worker_killed_mid_run_leaves_everything_to_the_other_with_exactly_once_effects() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        child(Path::new(&dir));
        return;
    }
    let url = server_url();
    let schema = format!("aura_crash_{}", Uuid::now_v7().simple());
    let dir = tempfile::tempdir().unwrap();
    let files = Files::in_dir(dir.path());
    let rt = runtime();
    let began = Instant::now();
    let seed = Uuid::now_v7().as_u128() as u64;
    println!("crash_postgres: seed {seed}");

    let mut seeded = BTreeMap::new();
    rt.block_on(async {
        let store = open(&schema).await;
        for i in 0..SEEDED {
            let n = 1000 + i as u64;
            let record = interrupted(n);
            store.create(&record).await.unwrap();
            seeded.insert(record.id, n);
        }
        store.close().await;
    });

    let mut a = spawn_child(dir.path(), "a", &schema);
    // Wait until A holds leases on seeded executions (it has started its own before), then B
    // starts too; A is killed a random moment later, while it runs.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut watch = rt.block_on(sqlx::PgConnection::connect(&url)).unwrap();
    // Live leases only: a released lease stays as an expired row.
    let sql = format!(
        "SELECT count(*) FROM {schema}.leases WHERE owner = 'worker-a' \
         AND until > (extract(epoch FROM now()) * 1000000000)::bigint"
    );
    let mut claimed_by_a = || -> i64 {
        let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()));
        rt.block_on(query.fetch_one(&mut watch)).unwrap()
    };
    // A claims the seeded executions one after another (and releases each as it ends): wait
    // for a few live claims.
    while claimed_by_a() < 5 {
        assert!(
            Instant::now() < deadline,
            "worker A never claimed the seeded executions"
        );
        assert!(a.try_wait().unwrap().is_none(), "worker A ended before it was killed");
        std::thread::sleep(Duration::from_millis(1));
    }
    rt.block_on(watch.close()).unwrap();
    let mut b = spawn_child(dir.path(), "b", &schema);
    std::thread::sleep(Duration::from_millis(10 + seed % 60));
    assert!(a.try_wait().unwrap().is_none(), "worker A ended before it was killed");
    a.kill().unwrap(); // SIGKILL on Unix.
    assert!(!a.wait().unwrap().success());
    // A's backends notice the closed sockets; a commit A had already sent may still land:
    // let the server settle before reading what was durable at the kill.
    std::thread::sleep(Duration::from_millis(500));

    let at_kill = calls(&files.calls);
    let started_by_a: BTreeSet<Uuid> = started(&files.started)
        .into_iter()
        .filter(|(_, (_, owner))| owner == "a")
        .map(|(id, _)| id)
        .chain(seeded.keys().copied())
        .collect();
    let done = rt.block_on(async {
        let store = open(&schema).await;
        let done = completed_nodes(&store, &started_by_a).await;
        store.close().await;
        done
    });
    // A's nodes not durable at the kill but called: in flight in A; called once more later.
    let in_flight: BTreeMap<(String, String), usize> = at_kill
        .iter()
        .filter(|(pair, _)| !done.contains(*pair))
        .filter(|((id, _), _)| started_by_a.contains(&id.parse::<Uuid>().unwrap()))
        .map(|(pair, keys)| (pair.clone(), keys.len()))
        .collect();
    std::fs::write(&files.a_dead, b"").unwrap();

    let deadline = Instant::now() + Duration::from_secs(45);
    let status = loop {
        if let Some(status) = b.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            b.kill().unwrap();
            panic!("worker B did not finish in 45 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "worker B finished everything: {status}");

    let started = started(&files.started);
    let calls = calls(&files.calls);
    rt.block_on(async {
        let store = open(&schema).await;
        assert!(
            store.unfinished().await.unwrap().is_empty(),
            "nothing is left unfinished"
        );
        let mut expected: BTreeMap<Uuid, u64> = seeded.clone();
        expected.extend(started.iter().map(|(id, (n, _))| (*id, *n)));
        for (id, n) in &expected {
            let record = store
                .get(*id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{id} is stored"));
            assert_eq!(record.status, ExecutionStatus::Completed, "{id}: {:?}", record.error);
            assert_eq!(record.output.as_ref(), Some(&json!({ "n": n + 4 })), "{id}");
            for step in STEPS {
                let pair = (id.to_string(), step.to_owned());
                let keys = calls.get(&pair).map(Vec::as_slice).unwrap_or_default();
                let distinct: BTreeSet<&String> = keys.iter().collect();
                assert_eq!(
                    distinct.len(),
                    1,
                    "{id}: {step} had one idempotency key across both workers (one effect): {keys:?}"
                );
                let times = in_flight.get(&pair).map_or(1, |before| before + 1);
                assert_eq!(
                    keys.len(),
                    times,
                    "{id}: {step} ran once, or once more if it was in flight in A at the kill"
                );
            }
        }
        assert!(
            started.values().any(|(_, o)| o == "a"),
            "A had accepted executions of its own"
        );
        println!(
            "crash_postgres: {} executions ({} seeded, {} by A, {} by B), {} nodes in flight at the kill, {:.1} s",
            expected.len(),
            seeded.len(),
            started.values().filter(|(_, o)| o == "a").count(),
            started.values().filter(|(_, o)| o == "b").count(),
            in_flight.len(),
            began.elapsed().as_secs_f64()
        );
        store.close().await;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
}
