//! Benchmarks of the engine: what the executor costs per node, how many executions it runs at
//! once, and what compiling a scenario costs.
//!
//! | benchmark | what | target |
//! | --- | --- | --- |
//! | `executor/linear_10` | `engine.execute` of trigger → 10 no-op action nodes in a line, current-thread runtime | ≤ 2 µs per node (≤ 20 µs) |
//! | `executor/linear_50` | the same with 50 action nodes | ≤ 2 µs per node (≤ 100 µs) |
//! | `executor/throughput_10k_x5` | 10,000 executions of a 5-node scenario (trigger → 4 no-op actions) started with `engine.start`, then all waited for, multi-thread runtime; the whole batch | (tracked) |
//! | `compile/50_nodes` | `engine.compile` of a 50-node linear scenario (trigger → 49 actions) | ≤ 1 ms |
//!
//! Every action node calls `bench.noop`, an action that returns its input (schemas `true`, so
//! nothing but the engine is measured), with a one-field mapping that reads the previous step
//! (`{"x": "{{ steps.n3.output.x }}"}`; the first reads `trigger.x`). The time of an execution
//! therefore is the engine's own overhead: building each node's input from its mapping,
//! validating it, calling the action, recording the node result in the store (the default
//! `MemoryStore`), emitting events and scheduling the successors. **The per-node overhead is
//! the time of `linear_N` divided by N**; criterion's `thrpt` line (elements = nodes) is its
//! inverse. The 2 µs target is per node, so `linear_10` should stay under 20 µs and `linear_50`
//! under 100 µs.
//!
//! The memory target (100,000 executions parked on a long delay: ≤ 1 GiB resident) is measured by
//! `cargo run --release --example parked_memory`, not here.
//!
//! The `MemoryStore` keeps every record it is given, so each sample of the executor benchmarks
//! runs on a fresh engine (built before the timer starts): memory stays bounded by one sample.
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
        vec![ActionDef::from_json(
            "noop",
            json!(true),
            json!(true),
            |_cx, v| async move { Ok(v) },
        )]
    }
}

fn registry() -> Arc<Registry> {
    let registry = Registry::new();
    registry.register(Bench).unwrap();
    Arc::new(registry)
}

/// `trigger → n0 → n1 → … → n{actions - 1}`: `actions + 1` nodes.
fn linear(actions: usize) -> Scenario {
    let mut builder =
        Scenario::builder(format!("linear_{actions}"), "Linear").node(NodeBuilder::trigger("t").next(["n0"]));
    for i in 0..actions {
        let input = if i == 0 {
            json!({ "x": "{{ trigger.x }}" })
        } else {
            json!({ "x": format!("{{{{ steps.n{}.output.x }}}}", i - 1) })
        };
        let mut node = NodeBuilder::action(format!("n{i}"), "bench.noop").input(input);
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

fn executor(c: &mut Criterion) {
    let registry = registry();
    let rt = current_thread();
    let mut group = c.benchmark_group("executor");

    for actions in [10, 50] {
        check_linear(&rt, &registry, actions);
        group.throughput(Throughput::Elements(actions as u64));
        group.bench_function(format!("linear_{actions}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let registry = registry.clone();
                async move {
                    let engine = Engine::builder(registry).build();
                    let plan = engine.compile(linear(actions)).await.unwrap();
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

    let mt = multi_thread();
    check_linear(&mt, &registry, 4);
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("throughput_10k_x5", |b| {
        b.to_async(&mt).iter_custom(|iters| {
            let registry = registry.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let engine = Engine::builder(registry.clone()).build();
                    let plan = engine.compile(linear(4)).await.unwrap();
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
    group.finish();
}

fn compile(c: &mut Criterion) {
    let rt = current_thread();
    let engine = Engine::builder(registry()).build();
    let plan = rt.block_on(engine.compile(linear(49))).unwrap();
    assert_eq!(plan.id(), "linear_49");

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
