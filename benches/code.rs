//! The `code` node: what a script costs on top of the node it replaces.
//!
//! | benchmark | what | target |
//! | --- | --- | --- |
//! | `code/trivial` | a warm `code` node running `return input.value + 1` (pooled runtime, compiled script): convert the input in, call, convert the result out | ≤ 20 µs |
//! | `code/set_baseline` | a `set` node on the same input: what any node costs, for comparison | (tracked) |
//! | `code/transform_1000` | a script filtering and reshaping 1,000 trigger items (about 90 KB of JSON) | (tracked) |
//! | `code/cold_runtime` | the same trivial call when the pool is empty: set up a runtime and compile | (tracked) |
//!
//! Before the timings it prints the memory one pooled runtime holds (QuickJS's own count,
//! after a run).
//!
//! Run with `cargo bench --bench code` (add `-- --warm-up-time 1 --measurement-time 3` for a
//! quick look).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use aura_core::code::{Limits, Sandbox};
use aura_core::expr::Scope;
use aura_core::node::{Node, PrepareContext};
use aura_core::scenario::nodes::{CodeNode, SetNode};
use aura_core::{Context, Registry};
use criterion::Criterion;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const TRANSFORM: &str = r#"
    return trigger.orders
        .filter(o => o.status === "paid" && o.total >= 20)
        .map(o => ({ id: o.id, customer: o.customer.email.toLowerCase(), total: Math.round(o.total * 100) / 100, items: o.lines.length }));
"#;

fn orders(n: u32) -> Value {
    let orders: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": i,
                "status": if i % 3 == 0 { "refunded" } else { "paid" },
                "total": f64::from(i % 50) * 1.37,
                "customer": { "email": format!("Customer{i}@Example.com"), "name": "A Customer" },
                "lines": [{ "sku": "A-1", "qty": 1 }, { "sku": "B-2", "qty": 2 }],
            })
        })
        .collect();
    json!({ "orders": orders })
}

fn prepared(rt: &Runtime, mut node: impl Node) -> impl Node {
    let registry = Registry::new();
    let cx = PrepareContext {
        registry: &registry,
        scenario_id: "bench",
        node_id: "code",
    };
    rt.block_on(node.prepare(&cx)).expect("the script compiles");
    node
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let sandbox = Sandbox::new(Limits::default().idle(1));
    let cx = Context::builder()
        .extension(sandbox.clone())
        .extension(Scope::new(&json!({})))
        .build();
    let input = Arc::new(json!({ "value": 41 }));

    let trivial = prepared(&rt, CodeNode::new("return input.value + 1"));
    let out = rt.block_on(trivial.run_shared(&cx, input.clone())).unwrap();
    assert_eq!(*out.value, json!(42));
    let stats = sandbox.stats();
    println!(
        "code: one pooled runtime holds {} KiB (idle runtimes: {})",
        stats.memory / 1024,
        stats.idle
    );

    let set = prepared(&rt, SetNode::default());
    let mut group = c.benchmark_group("code");
    group.bench_function("trivial", |b| {
        b.iter(|| rt.block_on(trivial.run_shared(&cx, black_box(input.clone()))).unwrap())
    });
    group.bench_function("set_baseline", |b| {
        b.iter(|| rt.block_on(set.run_shared(&cx, black_box(input.clone()))).unwrap())
    });

    let trigger = orders(1000);
    println!(
        "code: transform_1000 reads {} KB of JSON",
        trigger.to_string().len() / 1000
    );
    let transform = prepared(&rt, CodeNode::new(TRANSFORM));
    let big = Context::builder()
        .extension(sandbox.clone())
        .extension(Scope::new(&trigger))
        .build();
    let out = rt.block_on(transform.run_shared(&big, Arc::new(Value::Null))).unwrap();
    let expected = (0..1000)
        .filter(|i| i % 3 != 0 && f64::from(i % 50) * 1.37 >= 20.0)
        .count();
    assert_eq!(out.value.as_array().map(Vec::len), Some(expected));
    group.bench_function("transform_1000", |b| {
        b.iter(|| rt.block_on(transform.run_shared(&big, Arc::new(Value::Null))).unwrap())
    });

    group.bench_function("cold_runtime", |b| {
        b.iter_batched(
            || {
                let cold = Sandbox::new(Limits::default().idle(1));
                Context::builder()
                    .extension(cold)
                    .extension(Scope::new(&json!({})))
                    .build()
            },
            |cold| rt.block_on(trivial.run_shared(&cold, input.clone())).unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
