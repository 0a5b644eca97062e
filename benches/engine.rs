//! Benchmarks of the engine: what the executor costs per node, how it holds up with many
//! executions in flight, and what compiling a scenario costs.
//!
//! | benchmark | what | target |
//! | --- | --- | --- |
//! | `executor/linear_10` | `engine.execute` of trigger → 10 no-op action nodes in a line, current-thread runtime | ≤ 10 µs |
//! | `executor/linear_50` | the same with 50 action nodes | ≤ 1 µs per node (≤ 50 µs) |
//! | `executor/in_flight_10k_x5` | 10,000 executions of a 5-node scenario (trigger → 4 actions that each yield to the runtime once) started with `engine.start`, then all waited for, multi-thread runtime; the whole batch | per execution within 1.5× of `one_at_a_time_10k_x5` |
//! | `executor/one_at_a_time_10k_x5` | the same 10,000 executions, each `engine.execute`d after the previous one ended | (the baseline of the line above) |
//! | `executor/webhook_flow` | the embedded-webhook benchmark's flow (`set` → `if` → `respond`) through `engine.start` + `handle.response()`, no HTTP, current-thread runtime | (tracked: the engine's share of `benches/webhook.rs`) |
//! | `executor/webhook_flow_keep_none` | the same on an engine with `Keep::none()` | (tracked) |
//! | `compile/50_nodes` | `engine.compile` of a 50-node linear scenario (trigger → 49 actions) | ≤ 1 ms |
//!
//! Every action node calls `bench.noop`, an action that returns its input (schemas `true`, so
//! nothing but the engine is measured), with a one-field mapping that reads the previous step
//! (`{"x": "{{ steps.n3.output.x }}"}`; the first reads `trigger.x`). The time of an execution
//! therefore is the engine's own overhead: building each node's input from its mapping,
//! validating it, calling the action, recording the node result in the store (the default
//! `MemoryStore`), emitting events and scheduling the successors. **The per-node overhead is
//! the time of `linear_N` divided by N**; criterion's `thrpt` line (elements = nodes) is its
//! inverse.
//!
//! **Steady state.** Each benchmark runs on one long-lived engine whose store was filled to its
//! retention limit (10,000 finished records) before the timer starts: every measured execution
//! also pays for evicting the oldest record, as in a host that has run for a while.
//!
//! **In flight.** `bench.yield` returns its input after one `tokio::task::yield_now()`, so each
//! of the 10,000 executions started by `in_flight_10k_x5` is parked in the runtime at once;
//! `one_at_a_time_10k_x5` runs the same work with one execution in flight. The ratio of the two
//! is what 10,000 concurrent executions cost over one at a time.
//!
//! **The allocator.** With 10,000 executions in flight on two worker threads, memory allocated
//! on one thread is freed on another, and glibc's allocator then takes its arenas' locks: a
//! profile of `in_flight_10k_x5` shows about a sixth of the time in futex waits and wake-ups
//! under `free`. A host with many executions in flight should use jemalloc or mimalloc (set as
//! its `#[global_allocator]`); to measure with one without rebuilding, preload it:
//! `apt-get install libjemalloc2 libmimalloc2.0`, then
//! `LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 cargo bench --bench engine`.
//! The README gives both.
//!
//! The memory targets are measured by examples, not here: `cargo run --release --example
//! parked_memory` (100,000 executions parked on a long delay: ≤ 500 MiB resident) and `cargo run
//! --release --example record_size` (a kept record of the webhook flow: ≤ 2 KB).
//!
//! Run with `cargo bench --bench engine` (add `-- --warm-up-time 1 --measurement-time 3` for a
//! quick look).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::semver::Version;
use aura_core::store::ExecutionStatus;
use aura_core::{ActionDef, App, AppManifest, Registry};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// Executions started at once by `throughput_10k_x5`.
const BATCH: usize = 10_000;

/// An app with one action that returns its input, with schemas that accept anything.
struct Bench;

#[aura_core::async_trait]
impl App for Bench {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("bench", "Bench", Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::from_json("noop", json!(true), json!(true), |_cx, v| async move { Ok(v) }),
            ActionDef::from_json("yield", json!(true), json!(true), |_cx, v| async move {
                tokio::task::yield_now().await;
                Ok(v)
            }),
        ]
    }
}

fn registry() -> Arc<Registry> {
    let registry = Registry::new();
    registry.register(Bench).unwrap();
    Arc::new(registry)
}

/// `trigger → n0 → n1 → … → n{actions - 1}`: `actions + 1` nodes calling `bench.noop`.
fn linear(actions: usize) -> Scenario {
    chain(actions, "bench.noop")
}

/// `trigger → n0 → … → n{actions - 1}`, each node calling `action`.
fn chain(actions: usize, action: &str) -> Scenario {
    let mut builder = Scenario::builder(format!("linear_{actions}_{}", action.replace('.', "_")), "Linear")
        .node(NodeBuilder::trigger("t").next(["n0"]));
    for i in 0..actions {
        let input = if i == 0 {
            json!({ "x": "{{ trigger.x }}" })
        } else {
            json!({ "x": format!("{{{{ steps.n{}.output.x }}}}", i - 1) })
        };
        let mut node = NodeBuilder::action(format!("n{i}"), action).input(input);
        if i + 1 < actions {
            node = node.next([format!("n{}", i + 1)]);
        }
        builder = builder.node(node);
    }
    builder.build()
}

fn trigger_data() -> Value {
    json!({ "x": 42 })
}

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Checks once that the scenario runs as intended: every node completes, the value goes through.
fn check_linear(runtime: &Runtime, registry: &Arc<Registry>, actions: usize) {
    runtime.block_on(async {
        let engine = Engine::builder(registry.clone()).build();
        let plan = engine.compile(linear(actions)).await.unwrap();
        let record = engine.execute(&plan, trigger_data()).await.unwrap();
        assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
        assert_eq!(record.nodes.len(), actions + 1);
        assert_eq!(record.output, Some(json!({ "x": 42 })));
    });
}

/// How many finished records the default `MemoryStore` keeps.
const RETENTION: usize = 10_000;

/// A long-lived engine with the scenario deployed and its store full (steady state).
async fn steady(registry: &Arc<Registry>, scenario: Scenario) -> (Engine, Arc<aura_core::compile::Plan>) {
    let engine = Engine::builder(registry.clone()).build();
    let plan = engine.deploy(scenario).await.unwrap();
    for _ in 0..RETENTION {
        engine.execute(&plan, trigger_data()).await.unwrap();
    }
    (engine, plan)
}

fn executor(c: &mut Criterion) {
    let registry = registry();
    let rt = current_thread();
    let mut group = c.benchmark_group("executor");

    for actions in [10, 50] {
        check_linear(&rt, &registry, actions);
        let (engine, plan) = rt.block_on(steady(&registry, linear(actions)));
        group.throughput(Throughput::Elements(actions as u64));
        group.bench_function(format!("linear_{actions}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (engine, plan) = (engine.clone(), plan.clone());
                async move {
                    let input = trigger_data();
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(engine.execute(&plan, input.clone()).await.unwrap());
                    }
                    start.elapsed()
                }
            });
        });
    }

    for (name, keep) in [
        ("webhook_flow", aura_core::engine::Keep::all()),
        ("webhook_flow_keep_none", aura_core::engine::Keep::none()),
    ] {
        let engine = Engine::builder(registry.clone()).keep(keep).build();
        let plan = rt
            .block_on(engine.deploy(aura_testkit::flows::webhook_score()))
            .unwrap();
        rt.block_on(async {
            for _ in 0..RETENTION {
                engine.execute(&plan, json!({ "value": 42 })).await.unwrap();
            }
        });
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let mut handle = engine.start(&plan, json!({ "value": 42 })).await.unwrap();
                black_box(handle.response().await.unwrap());
            });
        });
    }

    let mt = multi_thread();
    check_linear(&mt, &registry, 4);
    let (engine, plan) = mt.block_on(steady(&registry, chain(4, "bench.yield")));
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("in_flight_10k_x5", |b| {
        b.to_async(&mt).iter_custom(|iters| {
            let (engine, plan) = (engine.clone(), plan.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let input = trigger_data();
                    let start = Instant::now();
                    let mut handles = Vec::with_capacity(BATCH);
                    for _ in 0..BATCH {
                        handles.push(engine.start(&plan, input.clone()).await.unwrap());
                    }
                    for handle in handles {
                        let record = handle.wait().await.unwrap();
                        debug_assert_eq!(record.status, ExecutionStatus::Completed);
                        black_box(record);
                    }
                    total += start.elapsed();
                }
                total
            }
        });
    });
    group.bench_function("one_at_a_time_10k_x5", |b| {
        b.to_async(&mt).iter_custom(|iters| {
            let (engine, plan) = (engine.clone(), plan.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let input = trigger_data();
                    let start = Instant::now();
                    for _ in 0..BATCH {
                        black_box(engine.execute(&plan, input.clone()).await.unwrap());
                    }
                    total += start.elapsed();
                }
                total
            }
        });
    });
    group.finish();
}

fn compile(c: &mut Criterion) {
    let rt = current_thread();
    let engine = Engine::builder(registry()).build();
    let plan = rt.block_on(engine.compile(linear(49))).unwrap();
    assert_eq!(plan.id(), "linear_49_bench_noop");

    let mut group = c.benchmark_group("compile");
    group.bench_function("50_nodes", |b| {
        b.to_async(&rt).iter_batched(
            || linear(49),
            |scenario| engine.compile(scenario),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, executor, compile);
criterion_main!(benches);
