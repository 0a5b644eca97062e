//! Crash resume on SQLite, proven with SIGKILL: a child process (this test binary, run again
//! with `AURA_CRASH_CHILD` set and `--exact` this test's name) runs executions of a 5-node
//! scenario on one SQLite file and is killed at a random point, again and again; each new
//! child first recovers what the killed one left unfinished. At the end every execution is
//! completed with the right output, a node whose checkpoint was durable at a kill was never
//! called again, one in flight at a kill was called exactly once more, and the file passes
//! `PRAGMA integrity_check`.
//!
//! The kill points are random but seeded: the seed is printed, and `AURA_CRASH_SEED=<seed>`
//! replays one run's delays (the child's timing still varies a little).

#![cfg(feature = "store-sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // Tests fail loudly by design.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::store::{ExecutionStatus, ExecutionStore, NodeStatus, PageRequest, SqliteStore};
use serde_json::json;
use uuid::Uuid;

/// This test's name, for `--exact` when the binary runs itself as the child.
const TEST_NAME: &str = "sigkill_at_random_points_loses_no_execution_and_reruns_only_the_nodes_in_flight";
/// Set in the child: the directory holding the database and the logs.
const CHILD_DIR: &str = "AURA_CRASH_CHILD";
/// Set in the child: how many new executions it starts after recovering.
const CHILD_NEW: &str = "AURA_CRASH_NEW";
/// How long each action call takes: long enough that kills land inside calls.
const STEP_TIME: Duration = Duration::from_millis(4);
/// At least this many SIGKILLs that hit a running child.
const KILLS: usize = 24;

mod crash_app;

use crash_app::{Crash, STEPS, append, number, scenario};

struct Files {
    db: PathBuf,
    calls: PathBuf,
    started: PathBuf,
}

impl Files {
    fn in_dir(dir: &Path) -> Self {
        Self {
            db: dir.join("aura.db"),
            calls: dir.join("calls.log"),
            started: dir.join("started.log"),
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

/// The child: recover what is unfinished, start `AURA_CRASH_NEW` executions (each id written
/// to the started log once `start` returned, so accepted), wait for all of them.
fn child(dir: &Path) {
    let files = Files::in_dir(dir);
    let new: u64 = std::env::var(CHILD_NEW).unwrap().parse().unwrap();
    runtime().block_on(async {
        let store = SqliteStore::open(&files.db).await.unwrap();
        let registry = Arc::new(Registry::new());
        registry
            .register(Crash {
                step_time: STEP_TIME,
                calls: files.calls.clone(),
            })
            .unwrap();
        // The same owner in every child: a restarted worker keeps its identity, so it can claim
        // again the executions its killed predecessor held (another owner waits out the lease).
        let engine = Engine::builder(registry)
            .store(Arc::new(store.clone()))
            .owner("crash-test")
            .build();
        let plan = engine.deploy(scenario()).await.unwrap();
        let mut handles = engine.recover_all().await.unwrap();
        for _ in 0..new {
            let n = u64::from(Uuid::now_v7().as_u128() as u16);
            let handle = engine.start(&plan, json!({ "n": n })).await.unwrap();
            append(&files.started, &format!("{} {n}\n", handle.id())).unwrap();
            handles.push(handle);
        }
        for handle in handles {
            let record = handle.wait().await.unwrap();
            assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
        }
        store.close().await;
    });
}

/// splitmix64: seeded delays without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn spawn_child(dir: &Path, new: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_NEW, new.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Each logged call: (execution, node) → the idempotency keys it was called with, in order.
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

/// Every execution id and trigger `n` the children logged as accepted.
fn started(path: &Path) -> BTreeMap<Uuid, u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            let (id, n) = line.split_once(' ').unwrap();
            (id.parse().unwrap(), n.parse().unwrap())
        })
        .collect()
}

/// The (execution, node) pairs whose checkpoint is durable.
async fn completed_nodes(store: &SqliteStore) -> BTreeSet<(String, String)> {
    let mut done = BTreeSet::new();
    let mut page = PageRequest::first(500);
    loop {
        let listed = store.list("crash", page).await.unwrap();
        for summary in &listed.items {
            let record = store.get(summary.id).await.unwrap().expect("a listed record reads");
            for node in record.nodes.iter().filter(|n| n.status == NodeStatus::Completed) {
                done.insert((record.id.to_string(), node.node_id.to_string()));
            }
        }
        match listed.next {
            Some(cursor) => page = PageRequest::first(500).after(cursor),
            None => return done,
        }
    }
}

#[test]
fn sigkill_at_random_points_loses_no_execution_and_reruns_only_the_nodes_in_flight() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        child(Path::new(&dir));
        return;
    }
    let seed = std::env::var("AURA_CRASH_SEED")
        .map(|s| s.parse().unwrap())
        .unwrap_or_else(|_| Uuid::now_v7().as_u128() as u64);
    println!("crash_resume: seed {seed} (AURA_CRASH_SEED={seed} replays the kill delays)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let files = Files::in_dir(dir.path());
    let rt = runtime();
    let began = Instant::now();

    // Per (execution, node) not completed at a kill: how many calls were logged by then. The
    // next call completes it, so in the end it must have been called exactly once more.
    let mut in_flight_at_kill: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut kills = 0;
    let mut kills_mid_node = 0;
    let mut rounds = 0;
    while kills < KILLS {
        rounds += 1;
        assert!(
            rounds <= 4 * KILLS,
            "only {kills} kills hit a running child in {rounds} rounds"
        );
        let new = 1 + rng.below(6);
        let delay = Duration::from_millis(rng.below(40));
        let calls_before = file_len(&files.calls);
        let mut child = spawn_child(dir.path(), new);
        // Wait until the child calls its first action, then a random delay, then SIGKILL.
        let deadline = Instant::now() + Duration::from_secs(10);
        while file_len(&files.calls) == calls_before && Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        std::thread::sleep(delay);
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "a child that was not killed failed: {status}");
            continue;
        }
        child.kill().unwrap(); // SIGKILL on Unix.
        let status = child.wait().unwrap();
        if status.success() {
            // The child finished between `try_wait` and the signal (a zombie takes SIGKILL
            // without effect): not a kill, so another round.
            continue;
        }
        assert!(
            std::os::unix::process::ExitStatusExt::signal(&status) == Some(9),
            "the child died of the SIGKILL, not of its own failure: {status}"
        );
        kills += 1;

        let done = rt.block_on(async {
            let store = SqliteStore::open(&files.db).await.unwrap();
            let done = completed_nodes(&store).await;
            store.close().await;
            done
        });
        let mut hit = false;
        for (pair, keys) in calls(&files.calls) {
            if !done.contains(&pair) {
                in_flight_at_kill.insert(pair, keys.len());
                hit = true;
            }
        }
        kills_mid_node += usize::from(hit);
        println!(
            "crash_resume: kill {kills}: {new} new, SIGKILL {} ms after the first call{}",
            delay.as_millis(),
            if hit { ", nodes in flight" } else { "" },
        );
    }
    // A last child, not killed, finishes what is left.
    let mut last = spawn_child(dir.path(), 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = last.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            last.kill().unwrap();
            panic!("the last child did not finish in 20 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success(), "the last child recovered everything: {status}");

    let started = started(&files.started);
    let calls = calls(&files.calls);
    rt.block_on(async {
        let store = SqliteStore::open(&files.db).await.unwrap();
        assert!(
            store.unfinished().await.unwrap().is_empty(),
            "nothing is left unfinished"
        );
        let mut ids = BTreeSet::new();
        let mut page = PageRequest::first(500);
        loop {
            let listed = store.list("crash", page).await.unwrap();
            ids.extend(listed.items.iter().map(|s| s.id));
            match listed.next {
                Some(cursor) => page = PageRequest::first(500).after(cursor),
                None => break,
            }
        }
        for id in started.keys() {
            assert!(ids.contains(id), "accepted execution {id} is in the store");
        }
        for id in &ids {
            let record = store.get(*id).await.unwrap().expect("every listed record reads");
            assert_eq!(record.status, ExecutionStatus::Completed, "{id}: {:?}", record.error);
            let n = number(&record.trigger["n"]).expect("the trigger data is intact");
            if let Some(logged) = started.get(id) {
                assert_eq!(n, *logged, "{id}: the trigger data is the one started");
            }
            assert_eq!(
                record.output.as_ref(),
                Some(&json!({ "n": n + 4 })),
                "{id}: the output is computed from checkpoints and re-run nodes alike"
            );
            for step in STEPS {
                let node = record
                    .nodes
                    .iter()
                    .find(|r| &*r.node_id == step && r.item.is_none())
                    .unwrap_or_else(|| panic!("{id}: node {step} is in the record"));
                assert_eq!(node.status, NodeStatus::Completed, "{id}: {step}");
                let pair = (id.to_string(), step.to_owned());
                let keys = calls.get(&pair).map(Vec::as_slice).unwrap_or_default();
                let expected = in_flight_at_kill.get(&pair).map_or(1, |before| before + 1);
                assert_eq!(
                    keys.len(),
                    expected,
                    "{id}: {step} ran once, plus once per kill that caught it in flight \
                     (seed {seed}): a node whose checkpoint was durable ran again, or one never ran"
                );
                assert!(
                    keys.iter().all(|k| k == &keys[0] && k != "-"),
                    "{id}: {step} got one idempotency key across resumes: {keys:?}"
                );
            }
        }
        let reruns = in_flight_at_kill.len();
        println!(
            "crash_resume: {kills} kills ({kills_mid_node} with nodes in flight) in {rounds} rounds, \
             {} executions, {reruns} nodes ran again, {:.1} s",
            ids.len(),
            began.elapsed().as_secs_f64()
        );
        assert!(ids.len() >= started.len() && !started.is_empty());
        assert!(
            kills_mid_node * 2 >= kills,
            "most kills caught nodes in flight: {kills_mid_node} of {kills}"
        );
        store.close().await;
    });

    let integrity: Vec<(String,)> = rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&files.db)
            .connect()
            .await
            .unwrap();
        sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    });
    assert_eq!(integrity, vec![("ok".to_owned(),)], "PRAGMA integrity_check");
}
