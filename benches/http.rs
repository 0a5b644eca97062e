//! The HTTP machinery's overhead: the same loopback call made by hand and through Aura,
//! interleaved in one process, and the import of GitHub's OpenAPI document.
//!
//! | pair | what is compared | target |
//! | --- | --- | --- |
//! | `raw` vs `http-action` | a hand-written reqwest `GET` that reads the JSON answer, vs the `http` app's `request` action (`Action::call`: input schema check, request building, SSRF guard, credentials, error mapping, output) | action ≤ raw + 10 % (or + 10 µs) per call |
//! | `typed` vs `manifest` | a hand-written typed action (`ActionDef::new` with a serde input, the URL formatted by hand, reqwest), vs the same operation declared in a manifest (`DeclarativeApp`) | manifest ≤ typed + 10 % (or + 10 µs) per call |
//! | GitHub import | `openapi::import` of `@octokit/openapi`'s `api.github.com.json` (1,200+ operations), then `DeclarativeApp::new` and `Registry::register` (every schema compiled) | import ≤ 1 s |
//!
//! The server is axum on `127.0.0.1` (its own runtime thread) answering `GET /items/{id}` with
//! a small JSON object. Each variant runs `HTTP_BENCH_CALLS` calls (default 2,000) per round,
//! one after another on one connection (no concurrency: per-call cost); the variants take turns
//! for `HTTP_BENCH_ROUNDS` rounds (default 7), and the figures are the medians of the rounds'
//! mean µs per call: wall time, and the calling thread's CPU time (`/proc/thread-self/schedstat`),
//! on which the overhead targets are judged — the server and the kernel's loopback cost the same
//! for both sides of a pair, and wall time on this shared 2-core machine swings by ±15 %. A
//! pair's overhead is the median of its rounds' differences (both sides of a round run back
//! to back, so the machine's drift cancels out).
//!
//! The import part needs the spec file: `AURA_TEST_GITHUB_SPEC`, or the copy
//! `bash .ci/specs.sh` installs under `target/ci-npm`; without it that part says so.
//!
//! `cargo bench --bench http` (features `http` and `openapi` of aura-connectors, passed through
//! by the root package's features of the same names).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use aura_connectors::http::HttpApp;
use aura_connectors::openapi::{ImportOptions, import};
use aura_core::action::Action;
use aura_core::declarative::DeclarativeApp;
use aura_core::http::HttpPolicy;
use aura_core::net::SsrfGuard;
use aura_core::{ActionDef, App, AppManifest, Context, Registry};
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn start_server() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new().route(
                "/items/{id}",
                get(|Path(id): Path<String>| async move {
                    axum::Json(json!({ "id": id, "name": "widget", "price": 12.5, "tags": ["a", "b"] }))
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

#[derive(Deserialize, JsonSchema)]
struct GetItem {
    id: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Item {
    id: String,
    name: String,
    price: f64,
    tags: Vec<String>,
}

/// The hand-written typed app: what a connector author would write without a manifest.
struct Typed {
    base: String,
    client: reqwest::Client,
}

#[async_trait::async_trait]
impl App for Typed {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("typed", "Typed", semver::Version::new(1, 0, 0))
    }
    fn actions(&self) -> Vec<ActionDef> {
        let state = (self.base.clone(), self.client.clone());
        vec![ActionDef::with_state(
            "get_item",
            state,
            |(base, client): (String, reqwest::Client), cx: Context, input: GetItem| async move {
                let resp = cx.send(client.get(format!("{base}/items/{}", input.id))).await?;
                let item: Item = resp.json().await?;
                Ok(item)
            },
        )]
    }
}

const MANIFEST: &str = "id: shop\nname: Shop\nversion: 1.0.0\nbase_url: http://placeholder.test\noperations:\n  get_item: { method: GET, path: \"/items/{id}\" }\n";

type Variant = (
    &'static str,
    Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>>,
);

fn main() {
    let base = start_server();
    let calls = env_usize("HTTP_BENCH_CALLS", 2000);
    let rounds = env_usize("HTTP_BENCH_ROUNDS", 7);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let policy = HttpPolicy::builder()
            .guard(SsrfGuard::new().allow_network("127.0.0.0/8").unwrap())
            .build();
        let registry = Registry::new();
        registry.register(HttpApp::new().policy(policy.clone())).unwrap();
        let client = reqwest::Client::new();
        registry
            .register(Typed {
                base: base.clone(),
                client: client.clone(),
            })
            .unwrap();
        registry
            .register(
                DeclarativeApp::from_yaml(MANIFEST)
                    .unwrap()
                    .policy(policy)
                    .base_url(&base)
                    .unwrap(),
            )
            .unwrap();
        let http_action: Action = registry.action("http.request").await.unwrap();
        let typed: Action = registry.action("typed.get_item").await.unwrap();
        let manifest: Action = registry.action("shop.get_item").await.unwrap();
        let url = format!("{base}/items/{{id}}");

        let raw_client = client.clone();
        let raw_url = format!("{base}/items/42");
        let variants: Vec<Variant> = vec![
            (
                "raw",
                Box::new(move || {
                    let c = raw_client.clone();
                    let u = raw_url.clone();
                    Box::pin(async move {
                        let v: Value = c.get(&u).send().await.unwrap().json().await.unwrap();
                        assert_eq!(v["id"], "42");
                    })
                }),
            ),
            (
                "http-action",
                Box::new(move || {
                    let a = http_action.clone();
                    let input = json!({ "url": url, "path": { "id": "42" } });
                    Box::pin(async move {
                        let out = a.call(Context::new(), input).await.unwrap();
                        assert_eq!(out["body"]["id"], "42");
                    })
                }),
            ),
            (
                "typed",
                Box::new(move || {
                    let a = typed.clone();
                    Box::pin(async move {
                        let out = a.call(Context::new(), json!({ "id": "42" })).await.unwrap();
                        assert_eq!(out["id"], "42");
                    })
                }),
            ),
            (
                "manifest",
                Box::new(move || {
                    let a = manifest.clone();
                    Box::pin(async move {
                        let out = a.call(Context::new(), json!({ "id": "42" })).await.unwrap();
                        assert_eq!(out["id"], "42");
                    })
                }),
            ),
        ];
        // `HTTP_BENCH_ONLY=http-action` runs only the variants named (for a profiler).
        let only = std::env::var("HTTP_BENCH_ONLY").ok();
        let variants: Vec<Variant> = variants
            .into_iter()
            .filter(|(name, _)| only.as_deref().is_none_or(|o| o.split(',').any(|n| n == *name)))
            .collect();
        // Warm-up: connections open, caches filled.
        for (_, run) in &variants {
            for _ in 0..200 {
                run().await;
            }
        }
        let mut per_round: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        let mut cpu_round: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        for _ in 0..rounds {
            for (i, (_, run)) in variants.iter().enumerate() {
                let cpu = thread_cpu_ns();
                let start = Instant::now();
                for _ in 0..calls {
                    run().await;
                }
                per_round[i].push(start.elapsed().as_secs_f64() * 1e6 / calls as f64);
                cpu_round[i].push((thread_cpu_ns() - cpu) as f64 / 1e3 / calls as f64);
            }
        }
        let walls: Vec<f64> = per_round.iter().map(|r| median(&mut r.clone())).collect();
        let medians: Vec<f64> = cpu_round.iter().map(|r| median(&mut r.clone())).collect();
        println!("\nper call, median of {rounds} interleaved rounds of {calls} calls (µs):");
        println!("  {:<12} {:>10} {:>16}", "", "wall", "caller's CPU");
        for (((name, _), w), c) in variants.iter().zip(&walls).zip(&medians) {
            println!("  {name:<12} {w:10.1} {c:16.1}");
        }
        println!("(the overhead below is the caller's CPU: its thread's time on a CPU, from /proc; the wall time adds the server and the kernel's loopback, the same for both, and the noise of this shared machine)");
        // The overhead of a pair: the median of its rounds' differences (each round measures
        // both sides back to back, so a drift of the machine's speed cancels out).
        let paired = |ours: usize, theirs: usize| {
            let mut extra: Vec<f64> = cpu_round[ours].iter().zip(&cpu_round[theirs]).map(|(o, t)| o - t).collect();
            median(&mut extra)
        };
        let line = |what: &str, extra: f64, theirs: f64| {
            let pct = extra / theirs * 100.0;
            let met = pct <= 10.0 || extra <= 10.0;
            println!(
                "  {what:<28} +{extra:6.1} µs (+{pct:5.1} %)  target ≤ +10 % or ≤ +10 µs: {}",
                if met { "met" } else { "NOT met" }
            );
        };
        if medians.len() == 4 {
            println!("overhead (median of the rounds' differences):");
            line("http-action over raw", paired(1, 0), medians[0]);
            line("manifest over typed", paired(3, 2), medians[2]);
        }
    });
    import_github();
}

/// This thread's CPU time, in nanoseconds (`/proc/thread-self/schedstat`, Linux; 0 elsewhere).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn import_github() {
    let path = std::env::var("AURA_TEST_GITHUB_SPEC").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/ci-npm/node_modules/@octokit/openapi/generated/api.github.com.json"
        )
        .to_owned()
    });
    let Ok(text) = std::fs::read(&path) else {
        println!("\nGitHub import: no spec at {path} (run `bash .ci/specs.sh`): skipped");
        return;
    };
    let runs = env_usize("HTTP_BENCH_IMPORT_RUNS", 5);
    let (mut parse, mut imp, mut reg) = (Vec::new(), Vec::new(), Vec::new());
    let mut counts = (0, 0, 0);
    for _ in 0..runs {
        let t = Instant::now();
        let spec: Value = serde_json::from_slice(&text).unwrap();
        parse.push(t.elapsed());
        let t = Instant::now();
        let imported = import(&spec, &ImportOptions::new()).unwrap();
        imp.push(t.elapsed());
        counts = (imported.operations, imported.skipped, imported.warnings.len());
        let t = Instant::now();
        let app = DeclarativeApp::new(imported.manifest).unwrap();
        let registry = Registry::new();
        registry.register(app).unwrap();
        reg.push(t.elapsed());
    }
    let ms = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    println!(
        "\nGitHub's spec ({} bytes): {} operations imported, {} skipped, {} warnings; median of {runs}:",
        text.len(),
        counts.0,
        counts.1,
        counts.2
    );
    let import_ms = ms(&mut imp);
    println!("  parse JSON              {:8.1} ms", ms(&mut parse));
    println!(
        "  import                  {import_ms:8.1} ms   target ≤ 1,000 ms: {}",
        if import_ms <= 1000.0 { "met" } else { "NOT met" }
    );
    println!(
        "  app built + registered  {:8.1} ms   (every action's schemas compiled)",
        ms(&mut reg)
    );
}
