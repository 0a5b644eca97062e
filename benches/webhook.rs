//! The embedded-webhook benchmark: the same webhook flow served by a hand-written axum handler
//! and by Aura embedded in an axum handler, side by side in one process, loaded by `wrk`.
//!
//! | server | what | target |
//! | --- | --- | --- |
//! | `hand` | axum `POST /hook`: `score = value`, `if score > 10` → `{"ok": true, "score": …}`, written by hand with serde_json | (the reference) |
//! | `aura` | axum `POST /hook` → `engine.start(&plan, body)` → `handle.response()`, default `MemoryStore` (`Keep::all`) | aura/hand ≥ 0.6 req/s at c=10 and c=50 |
//! | `aura-keep-none` | the same on an engine built with `.keep(Keep::none())` (no store work) | aura-keep-none/hand ≥ 0.75 req/s at c=10 and c=50 |
//! | `runtime` | the trigger runtime's axum router (`TriggerRuntime::router`) serving the scenario's webhook, default `MemoryStore` | runtime/hand ≥ 0.6 req/s at c=10 and c=50 (issue 12) |
//! | `runtime-sqlite` | the same on a `SqliteStore` (each execution on disk before its answer) | ≥ 5,000 req/s (issue 12) |
//!
//! The Aura flow is `aura_testkit::flows::webhook_score` (also `examples/record_size.rs`'s): `trigger("hook") → set("score",
//! {"score": "{{ trigger.value }}"}) → if_("check", "steps.score.output.score > 10")` route
//! `"true"` → `respond("reply", 200)` with `{"ok": true, "score": "{{ steps.score.output.score }}"}`.
//! The handler answers with the response's status and JSON body (500 if the execution ended
//! without one); it spawns nothing of its own.
//!
//! The three servers listen on `127.0.0.1` ephemeral ports, on one multi-thread tokio runtime
//! (one worker per core). Each is checked once (`{"value":42}` must give `{"ok":true,"score":42}`)
//! and then driven by `wrk -t1 -c{C} -d{D}s --latency` with a Lua script that posts
//! `{"value":42}` as `application/json`, for C in {10, 50}. The runs are **interleaved**: for each
//! C, `WEBHOOK_BENCH_ROUNDS` rounds (default 3) of (hand, aura, aura-keep-none), each run
//! `WEBHOOK_BENCH_SECS` seconds (default 5), after a 1 s warm-up of each server. With the
//! defaults the whole bench takes about 1 min 40 s.
//!
//! The table gives, per server and C, the median over the rounds of wrk's `Requests/sec`, of its
//! p50 and p99 latencies and of the server CPU per request, and the ratios of the medians
//! aura/hand and aura-keep-none/hand (with the range of the per-round ratios). Server CPU per
//! request is this process's CPU time (`utime + stime` from `/proc/self/stat`, Linux only) over
//! the run divided by wrk's request count: it holds nothing of wrk, which is another process,
//! but it does share the 2 cores with wrk, so req/s is bounded by both.
//!
//! Requires `wrk` (`apt-get install wrk`). Run with `cargo bench --bench webhook`;
//! `WEBHOOK_BENCH_ONLY=hand,runtime` runs only the servers named.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/wrk.rs"]
mod wrk;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use aura_core::Registry;
use aura_core::compile::Plan;
use aura_core::engine::{Engine, Keep};
use aura_core::runtime::TriggerRuntime;
use aura_core::scenario::Scenario;
use aura_core::store::{ExecutionStore, SqliteStore};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use wrk::{ScriptFile, env_u64, latency, median};

/// Connection counts wrk runs with.
const CONNECTIONS: [u32; 2] = [10, 50];

/// The request body every server gets.
const BODY: &str = r#"{"value":42}"#;

/// The wrk script: every request a JSON POST of [`BODY`].
const SCRIPT: &str = r#"wrk.method = "POST"
wrk.body = '{"value":42}'
wrk.headers["Content-Type"] = "application/json"
"#;

// ---------------------------------------------------------------------------------------------
// The servers.

/// The hand-written handler: the same logic with serde_json.
async fn hand(Json(body): Json<Value>) -> Json<Value> {
    let score = body.get("value").cloned().unwrap_or(Value::Null);
    if score.as_f64().is_some_and(|s| s > 10.0) {
        Json(json!({ "ok": true, "score": score }))
    } else {
        Json(json!({ "ok": false }))
    }
}

/// What the Aura handler needs.
struct Aura {
    engine: Engine,
    plan: Arc<Plan>,
}

/// The Aura handler: start the execution, answer with what its respond node set.
async fn aura(State(app): State<Arc<Aura>>, Json(body): Json<Value>) -> Response {
    let mut h = match app.engine.start(&app.plan, body).await {
        Ok(h) => h,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("start failed: {e}")).into_response(),
    };
    match h.response().await {
        Some(r) => {
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, Json(&*r.body)).into_response()
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no response").into_response(),
    }
}

/// Serves `router` on an ephemeral loopback port; returns the address.
async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// An Aura server on an engine with `keep`.
async fn aura_server(keep: Keep) -> SocketAddr {
    let engine = Engine::builder(Arc::new(Registry::new())).keep(keep).build();
    let plan = engine.deploy(aura_testkit::flows::webhook_score()).await.unwrap();
    let app = Arc::new(Aura { engine, plan });
    serve(Router::new().route("/hook", post(aura)).with_state(app)).await
}

/// The flow as the trigger runtime serves it: the same nodes, the trigger a webhook at `hook`.
const RUNTIME_FLOW: &str = r#"
id: score
name: Score
nodes:
  - { id: hook, kind: trigger, config: { webhook: { path: hook } }, next: [score] }
  - { id: score, kind: set, input: { score: "{{ trigger.value }}" }, next: [check] }
  - { id: check, kind: if, config: { condition: "steps.score.output.score > 10" }, routes: { "true": [reply] } }
  - { id: reply, kind: respond, input: { ok: true, score: "{{ steps.score.output.score }}" } }
"#;

/// A trigger runtime's router serving [`RUNTIME_FLOW`], on `store` (default: in memory).
async fn runtime_server(store: Option<Arc<dyn ExecutionStore>>) -> SocketAddr {
    let mut engine = Engine::builder(Arc::new(Registry::new()));
    if let Some(store) = store {
        engine = engine.store(store);
    }
    let triggers = TriggerRuntime::new(engine.build());
    triggers
        .deploy(Scenario::from_yaml(RUNTIME_FLOW).unwrap())
        .await
        .unwrap();
    serve(triggers.router()).await
}

/// One server under test.
struct Server {
    name: &'static str,
    addr: SocketAddr,
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
}

/// Posts [`BODY`] once and checks the answer.
async fn check(client: &reqwest::Client, server: &Server) {
    let response = client
        .post(server.url())
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: request failed: {e}", server.name));
    let status = response.status();
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{}: answered {status} with a body that is not JSON ({e}): {text}",
            server.name
        )
    });
    let expected = json!({ "ok": true, "score": 42 });
    assert!(
        status == reqwest::StatusCode::OK && body == expected,
        "{}: answered {status} {body}, expected 200 {expected}",
        server.name
    );
}

// ---------------------------------------------------------------------------------------------
// wrk.

/// What one wrk run gave.
#[derive(Clone, Copy, Debug)]
struct Run {
    rps: f64,
    /// Latencies in microseconds.
    p50_us: f64,
    p99_us: f64,
    requests: u64,
    /// Server CPU per request, microseconds (`None` when `/proc/self/stat` is not readable).
    cpu_us: Option<f64>,
}

/// This process's CPU time (user + system), in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 if that fails).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// Runs wrk against `server` for `secs` seconds with `connections` connections; every answer
/// must be a 2xx.
fn wrk(script: &Path, server: &Server, connections: u32, secs: u64, tick_us: f64) -> Run {
    let before = cpu_ticks();
    let out = wrk::run(script, &server.url(), connections, secs);
    let after = cpu_ticks();
    assert!(
        out.non_2xx == 0 && out.socket_errors.is_none(),
        "{} at c={connections}: {} non-2xx answers; {}",
        server.name,
        out.non_2xx,
        out.socket_errors.as_deref().unwrap_or("no socket errors")
    );
    let cpu_us = match (before, after) {
        (Some(b), Some(a)) if out.requests > 0 => Some(a.saturating_sub(b) as f64 * tick_us / out.requests as f64),
        _ => None,
    };
    Run {
        rps: out.rps,
        p50_us: out.p50_us,
        p99_us: out.p99_us,
        requests: out.requests,
        cpu_us,
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter, so arguments are ignored.
    wrk::require();
    let secs = env_u64("WEBHOOK_BENCH_SECS", 5);
    let rounds = env_u64("WEBHOOK_BENCH_ROUNDS", 3) as usize;
    let tick_us = 1e6 / ticks_per_second();
    let script = ScriptFile::new("webhook", SCRIPT);

    let runtime: Runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let servers = runtime.block_on(async {
        let sqlite: Arc<dyn ExecutionStore> = Arc::new(SqliteStore::open(dir.path().join("bench.db")).await.unwrap());
        let servers = [
            Server {
                name: "hand",
                addr: serve(Router::new().route("/hook", post(hand))).await,
            },
            Server {
                name: "aura",
                addr: aura_server(Keep::all()).await,
            },
            Server {
                name: "aura-keep-none",
                addr: aura_server(Keep::none()).await,
            },
            Server {
                name: "runtime",
                addr: runtime_server(None).await,
            },
            Server {
                name: "runtime-sqlite",
                addr: runtime_server(Some(sqlite)).await,
            },
        ];
        // `WEBHOOK_BENCH_ONLY=hand,runtime-sqlite`: those servers only (a profile of one);
        // the hand-written one stays first when kept, for the ratios.
        let only = std::env::var("WEBHOOK_BENCH_ONLY").ok();
        let servers: Vec<Server> = servers
            .into_iter()
            .filter(|s| only.as_deref().is_none_or(|o| o.split(',').any(|n| n.trim() == s.name)))
            .collect();
        assert!(!servers.is_empty(), "WEBHOOK_BENCH_ONLY names no server");
        let client = reqwest::Client::new();
        for server in &servers {
            check(&client, server).await;
        }
        servers
    });
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "webhook bench: POST {BODY} to {} servers, {workers} tokio workers, wrk -t1, {rounds} interleaved round(s) of {secs} s per server and connection count",
        servers.len()
    );

    for server in &servers {
        wrk(&script.0, server, 10, 1, tick_us);
    }

    // runs[c][server][round]
    let mut runs: Vec<Vec<Vec<Run>>> = Vec::new();
    for &c in &CONNECTIONS {
        let mut per_server = vec![Vec::with_capacity(rounds); servers.len()];
        for round in 0..rounds {
            for (i, server) in servers.iter().enumerate() {
                let run = wrk(&script.0, server, c, secs, tick_us);
                println!(
                    "  c={c:<3} round {}/{rounds} {:<15} {:>9.0} req/s  p50 {:>9}  p99 {:>9}  {} requests",
                    round + 1,
                    server.name,
                    run.rps,
                    latency(run.p50_us),
                    latency(run.p99_us),
                    run.requests
                );
                per_server[i].push(run);
            }
        }
        runs.push(per_server);
    }
    // Let the servers go before the report; nothing is in flight any more.
    runtime.shutdown_timeout(Duration::from_secs(1));

    println!();
    println!("| server | c | req/s (median) | p50 | p99 | server CPU / request | ÷ hand (median; per-round range) |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (ci, &c) in CONNECTIONS.iter().enumerate() {
        let has_hand = servers[0].name == "hand";
        let hand_rps = median(runs[ci][0].iter().map(|r| r.rps).collect());
        for (si, server) in servers.iter().enumerate() {
            let rs = &runs[ci][si];
            let rps = median(rs.iter().map(|r| r.rps).collect());
            let p50 = median(rs.iter().map(|r| r.p50_us).collect());
            let p99 = median(rs.iter().map(|r| r.p99_us).collect());
            let cpus: Option<Vec<f64>> = rs.iter().map(|r| r.cpu_us).collect();
            let cpu = cpus.map_or_else(|| "n/a".to_owned(), |v| format!("{:.1} µs", median(v)));
            let ratio = if si == 0 || !has_hand {
                "—".to_owned()
            } else {
                let per_round: Vec<f64> = rs.iter().zip(&runs[ci][0]).map(|(r, h)| r.rps / h.rps).collect();
                let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                format!("{:.2} ({lo:.2}–{hi:.2})", rps / hand_rps)
            };
            println!(
                "| {} | {c} | {rps:.0} | {} | {} | {cpu} | {ratio} |",
                server.name,
                latency(p50),
                latency(p99)
            );
        }
    }
    println!();
    println!("targets: aura ÷ hand ≥ 0.6 at c=10 and c=50; aura-keep-none ÷ hand ≥ 0.75 (issue 10);");
    println!("         runtime ÷ hand ≥ 0.6 at c=10 and c=50; runtime-sqlite ≥ 5,000 req/s (issue 12)");
}
