//! The overload benchmark: the trigger runtime's webhook receiver offered many times the load
//! it can sustain, to show that it sheds the excess with `503` + `Retry-After` and that its
//! memory stays bounded instead of growing with a queue.
//!
//! | what | target |
//! | --- | --- |
//! | offered load ÷ sustainable rate | ≥ 10× (the condition of the test, not a result) |
//! | resident memory over the run | bounded: flat once the in-flight limit is reached (growth over the second half of the run ≤ 16 MiB) |
//!
//! The scenario answers at once (`respond: accepted`, a `202`) and then waits 200 ms in a
//! `delay` node, so each accepted request holds one of the runtime's in-flight places for
//! 200 ms: with `max_in_flight(M)` (`OVERLOAD_BENCH_IN_FLIGHT`, default 128) the sustainable
//! rate is M / 0.2 s (640 req/s by default). `wrk -t1 -c{C}` (`OVERLOAD_BENCH_CONNECTIONS`,
//! default 512, more than M) posts for `OVERLOAD_BENCH_SECS` (default 10) seconds; since a
//! refused request is answered at once, the load offered is many times the sustainable rate.
//! A sampler reads this process's resident memory (`VmRSS`) every 100 ms.
//!
//! The report: requests offered per second, accepted (2xx) per second, refused (`503`) share,
//! offered ÷ sustainable, resident memory before, at the peak and at the end, and its growth
//! over the second half of the run. Every accepted request must have become an execution that
//! finishes: the bench waits for the store to hold them all, finished, and fails otherwise.
//!
//! Requires `wrk` (`apt-get install wrk`) and Linux (`/proc/self/status`). Run with
//! `cargo bench --bench overload --features webhook-axum`.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/wrk.rs"]
#[allow(dead_code)]
mod wrk;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::runtime::TriggerRuntime;
use aura_core::scenario::Scenario;
use aura_core::store::{ExecutionStore, MemoryStore, PageRequest};
use wrk::{ScriptFile, env_u64};

/// Each accepted request holds its place this long.
const HOLD: Duration = Duration::from_millis(200);

const SCENARIO: &str = r#"
id: slow
name: Slow
nodes:
  - { id: hook, kind: trigger, config: { webhook: { path: slow, respond: accepted } }, next: [wait] }
  - { id: wait, kind: delay, config: { seconds: 0.2 } }
"#;

const SCRIPT: &str = r#"wrk.method = "POST"
wrk.body = '{"value":42}'
wrk.headers["Content-Type"] = "application/json"
"#;

/// This process's resident memory in KiB (`VmRSS`).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("the overload bench reads /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    wrk::require();
    let in_flight = env_u64("OVERLOAD_BENCH_IN_FLIGHT", 128) as usize;
    let connections = env_u64("OVERLOAD_BENCH_CONNECTIONS", 512) as u32;
    let secs = env_u64("OVERLOAD_BENCH_SECS", 10);
    let script = ScriptFile::new("overload", SCRIPT);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Room for every execution the run can accept, so that none is dropped by retention.
    let kept = (in_flight as f64 / HOLD.as_secs_f64()) as usize * (secs as usize + 2) * 2;
    let store = Arc::new(MemoryStore::with_retention(kept));
    let (triggers, url) = runtime.block_on(async {
        let engine = Engine::builder(Arc::new(Registry::new()))
            .store(store.clone() as Arc<dyn ExecutionStore>)
            .build();
        let triggers = TriggerRuntime::builder(engine).max_in_flight(in_flight).build();
        triggers.deploy(Scenario::from_yaml(SCENARIO).unwrap()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        let router = triggers.router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (triggers, url)
    });
    let sustainable = in_flight as f64 / HOLD.as_secs_f64();
    println!(
        "overload bench: max_in_flight {in_flight}, each accepted request held {HOLD:?} (sustainable {sustainable:.0} req/s), wrk -t1 -c{connections} for {secs} s"
    );

    // A short warm-up, then the measured run with the memory sampler.
    wrk::run(&script.0, &url, connections, 1);
    std::thread::sleep(HOLD * 2);
    let before = rss_kib();
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let running = running.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = Vec::new();
            while running.load(Ordering::Relaxed) {
                samples.push((start.elapsed(), rss_kib()));
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        })
    };
    let out = wrk::run(&script.0, &url, connections, secs);
    running.store(false, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let end = rss_kib();

    // Every accepted request became an execution that finishes.
    let (executions, unfinished) = runtime.block_on(async {
        triggers.shutdown().await;
        let mut all = Vec::new();
        let mut page = PageRequest::first(10_000);
        loop {
            let got = store.list("slow", page.clone()).await.unwrap();
            all.extend(got.items);
            match got.next {
                Some(cursor) => page = PageRequest::first(10_000).after(cursor),
                None => break,
            }
        }
        let unfinished = all.iter().filter(|e| !e.status.is_finished()).count();
        (all.len(), unfinished)
    });

    let accepted = out.requests - out.non_2xx;
    let offered_rps = out.rps;
    let accepted_rps = accepted as f64 / secs as f64;
    let peak = samples.iter().map(|(_, k)| *k).max().unwrap_or(end);
    let half = samples.len() / 2;
    let second_half: Vec<u64> = samples[half..].iter().map(|(_, k)| *k).collect();
    let growth = second_half.last().copied().unwrap_or(end) as i64 - second_half.first().copied().unwrap_or(end) as i64;

    println!();
    println!(
        "| offered req/s | accepted (2xx) req/s | refused (503) | offered ÷ sustainable | RSS before | RSS peak | RSS end | RSS growth, second half |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {offered_rps:.0} | {accepted_rps:.0} | {:.1} % | {:.1}× | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.1} MiB |",
        100.0 * out.non_2xx as f64 / out.requests.max(1) as f64,
        offered_rps / sustainable,
        mib(before),
        mib(peak),
        mib(end),
        growth as f64 / 1024.0,
    );
    println!();
    println!(
        "{executions} executions stored ({accepted} accepted in the measured run, the rest in the warm-up), {unfinished} unfinished after shutdown; {}",
        out.socket_errors.as_deref().unwrap_or("no socket errors")
    );
    println!("targets: offered ≥ 10× sustainable; RSS growth over the second half ≤ 16 MiB");
    assert_eq!(unfinished, 0, "every accepted execution finishes");
    assert!(
        executions as u64 >= accepted,
        "{executions} stored < {accepted} accepted"
    );
}
