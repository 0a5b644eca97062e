//! An execution interrupted by SIGKILL and finished after a restart, on a SQLite file.
//!
//! ```text
//! cargo run --example durable_restart
//! ```
//!
//! ```text
//! order ─▶ reserve ─▶ ship ─▶ notify
//!                     (slow: waits for a flag file the first process never sees)
//! ```
//!
//! The example runs itself twice. The first run is a child process (the same binary, started
//! with `child <dir>`): it opens `aura.db` in a temporary directory with
//! `SqliteStore::open` (WAL, `synchronous = FULL`), starts one execution and gets stuck in
//! `ship`. Meanwhile this process watches the file through a second `SqliteStore`; once
//! `reserve`'s checkpoint is on disk and `ship` has been called, it kills the child with
//! SIGKILL: no shutdown, no flush. Then it opens the same file, as a restarted host would,
//! and calls `Engine::recover_all()`.
//!
//! What the durability contract promises, and what the example checks (it exits non-zero
//! otherwise): the execution completes under its own id; `reserve`, durable before the kill,
//! is not called again (its recorded output is reused); `ship`, in flight at the kill, is
//! called once more, with the same idempotency key, so a service that honours the key
//! applies it once. Each action appends its call to a log file, so the counts survive the
//! kill.

#![allow(clippy::print_stdout)]

#[path = "support/record_table.rs"]
mod record_table;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::semver::Version;
use aura_core::store::{ExecutionRecord, ExecutionStatus, ExecutionStore, NodeStatus, SqliteStore};
use aura_core::{ActionDef, App, AppManifest, Context, Error, Registry, Result};
use serde_json::{Value, json};

/// The scenario's action nodes, in order.
const NODES: [&str; 3] = ["reserve", "ship", "notify"];

/// How long this process waits for the child to reach `ship`.
const WAIT_FOR_CHILD: Duration = Duration::from_secs(30);

/// Where the example keeps its state: the database, the call log, the flag `ship` waits for.
struct Files {
    db: PathBuf,
    calls: PathBuf,
    release: PathBuf,
}

impl Files {
    fn in_dir(dir: &Path) -> Self {
        Self {
            db: dir.join("aura.db"),
            calls: dir.join("calls.log"),
            release: dir.join("ship.release"),
        }
    }
}

fn io_error(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::internal(format!("{what}: {e}"))
}

/// The shop app: three actions that log each call (`node idempotency-key`, one line per
/// call) and answer at once, except `ship`, which first waits for the release flag.
struct Shop {
    calls: PathBuf,
    release: PathBuf,
}

impl Shop {
    fn action(&self, node: &'static str) -> ActionDef {
        let (calls, release) = (self.calls.clone(), self.release.clone());
        ActionDef::from_json(node, json!(true), json!(true), move |cx: Context, input: Value| {
            let (calls, release) = (calls.clone(), release.clone());
            async move {
                let line = format!("{node} {}\n", cx.idempotency_key().unwrap_or("-"));
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&calls)
                    .and_then(|mut f| f.write_all(line.as_bytes()))
                    .map_err(io_error("writing the call log"))?;
                if node == "ship" {
                    while !release.exists() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                Ok(json!({ "order": input["order"], "done": node }))
            }
        })
        .idempotent(true)
    }
}

#[aura_core::async_trait]
impl App for Shop {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("shop", "Shop", Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<ActionDef> {
        NODES.iter().map(|node| self.action(node)).collect()
    }
}

fn scenario() -> Scenario {
    let mut builder = Scenario::builder("order", "Order").node(NodeBuilder::trigger("order").next([NODES[0]]));
    for (i, node) in NODES.iter().enumerate() {
        let mut step =
            NodeBuilder::action(*node, format!("shop.{node}")).input(json!({ "order": "{{ trigger.order }}" }));
        if let Some(next) = NODES.get(i + 1) {
            step = step.next([*next]);
        }
        builder = builder.node(step);
    }
    builder.build()
}

/// An engine over the SQLite file: the embedded default.
async fn engine(files: &Files) -> Result<(Engine, SqliteStore)> {
    let store = SqliteStore::open(&files.db).await?;
    let registry = Arc::new(Registry::new());
    registry.register(Shop {
        calls: files.calls.clone(),
        release: files.release.clone(),
    })?;
    let engine = Engine::builder(registry).store(Arc::new(store.clone())).build();
    engine.deploy(scenario()).await?;
    Ok((engine, store))
}

/// The first process: start one execution and run it (it never gets past `ship`).
async fn child(dir: &Path) -> Result<()> {
    let files = Files::in_dir(dir);
    let (engine, _store) = engine(&files).await?;
    let plan = engine
        .plan("order")
        .ok_or_else(|| Error::not_found("the scenario is deployed"))?;
    let handle = engine.start(&plan, json!({ "order": "A-1042" })).await?;
    handle.wait().await?;
    Ok(())
}

/// Each node's logged calls: the idempotency key of each call, in order.
fn calls(files: &Files) -> Result<Vec<(&'static str, Vec<String>)>> {
    let text = std::fs::read_to_string(&files.calls).map_err(io_error("reading the call log"))?;
    Ok(NODES
        .iter()
        .map(|node| {
            let keys = text
                .lines()
                .filter_map(|line| line.split_once(' '))
                .filter(|(n, _)| n == node)
                .map(|(_, key)| key.to_owned())
                .collect();
            (*node, keys)
        })
        .collect())
}

/// Polls the file through its own store until the child's execution has `reserve` completed
/// and `ship` called.
async fn wait_mid_run(files: &Files, child: &mut Child) -> Result<ExecutionRecord> {
    let watcher = SqliteStore::open(&files.db).await?;
    let deadline = Instant::now() + WAIT_FOR_CHILD;
    loop {
        if let Some(status) = child.try_wait().map_err(io_error("checking the child"))? {
            return Err(Error::internal(format!("the child stopped before the kill: {status}")));
        }
        if Instant::now() > deadline {
            return Err(Error::timeout("the child did not reach `ship`"));
        }
        if let Some(record) = watcher.unfinished().await?.into_iter().next() {
            let reserved = record
                .nodes
                .iter()
                .any(|n| &*n.node_id == "reserve" && n.status == NodeStatus::Completed);
            let shipping = calls(files).is_ok_and(|c| c.iter().any(|(n, keys)| *n == "ship" && !keys.is_empty()));
            if reserved && shipping {
                watcher.close().await;
                return Ok(record);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn parent() -> Result<()> {
    let dir = tempfile::tempdir().map_err(io_error("creating a temporary directory"))?;
    let files = Files::in_dir(dir.path());
    let exe = std::env::current_exe().map_err(io_error("finding this program"))?;

    // 1. The first process runs the execution.
    let mut child = Command::new(exe)
        .arg("child")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .map_err(io_error("starting the child"))?;
    let seen = match wait_mid_run(&files, &mut child).await {
        Ok(seen) => seen,
        Err(e) => {
            // The child is ours; do not leave it running.
            child.kill().map_err(io_error("stopping the child"))?;
            return Err(e);
        }
    };
    let durable: Vec<String> = seen
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Completed && n.item.is_none())
        .map(|n| n.node_id.to_string())
        .collect();
    println!(
        "child {} ran execution {}: durable before the kill: {}; in flight: ship",
        child.id(),
        seen.id,
        durable.join(", ")
    );

    // 2. SIGKILL: the process stops where it is.
    child.kill().map_err(io_error("killing the child"))?;
    let status = child.wait().map_err(io_error("waiting for the child"))?;
    println!("SIGKILL sent mid-run: the child ended with {status}");

    // 3. A restarted host opens the same file and recovers what is unfinished.
    std::fs::write(&files.release, b"").map_err(io_error("writing the release flag"))?;
    let (engine, store) = engine(&files).await?;
    let handles = engine.recover_all().await?;
    println!(
        "restarted on the same file: recover_all() resumed {} execution(s)",
        handles.len()
    );
    let mut finished = Vec::new();
    for handle in handles {
        finished.push(handle.wait().await?);
    }
    let record = store
        .get(seen.id)
        .await?
        .ok_or_else(|| Error::not_found("the execution is in the store"))?;

    // 4. Who ran how often.
    let mut broken = Vec::new();
    println!("\n  {:<8} {:>5}", "node", "calls");
    for (node, keys) in calls(&files)? {
        let verdict = match (durable.iter().any(|d| d == node), keys.len()) {
            (true, 1) => "ran once: durable before the kill, its output reused".to_owned(),
            (false, 1) => "ran once, after the restart".to_owned(),
            (false, 2) if keys[0] == keys[1] => "ran again: in flight at the kill, same idempotency key".to_owned(),
            (durable, n) => {
                broken.push(format!(
                    "{node} ran {n} time(s) (durable before the kill: {durable}), keys {keys:?}"
                ));
                format!("WRONG: {n} call(s)")
            }
        };
        println!("  {node:<8} {:>5}  {verdict}", keys.len());
    }
    record_table::print_record("The record after the restart", &record);

    if record.status != ExecutionStatus::Completed || finished.len() != 1 {
        broken.push(format!(
            "the execution is {:?} after the restart ({} resumed)",
            record.status,
            finished.len()
        ));
    }
    store.close().await;
    if broken.is_empty() {
        println!("\nThe execution finished under its own id; no durable node ran twice.");
        Ok(())
    } else {
        Err(Error::internal(format!(
            "the durability contract was broken: {}",
            broken.join("; ")
        )))
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (Some(mode), Some(dir)) if mode == "child" => child(Path::new(&dir)).await,
        _ => parent().await,
    }
}
