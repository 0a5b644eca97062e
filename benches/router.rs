//! Benchmarks of aura-router's hot paths: picking a provider and a routed call end to end.
//!
//! | benchmark | what | target |
//! | --- | --- | --- |
//! | `select/weighted_random/{4,64,1000}` | filter + score + pick among N providers, decision record included (`Router::select`) | ≤ 1 µs at 64, ≤ 10 µs at 1,000 |
//! | `select/{power_of_two,scored}/{4,64,1000}` | the same with other strategies | (tracked) |
//! | `call/direct` | the no-op operation called directly, no router (the baseline) | — |
//! | `call/routed` | a routed no-op call end to end (`Router::execute`) | ≤ 5 µs over `call/direct` |
//! | `call/failover` | the first provider fails, the second answers | (tracked) |
//!
//! Run with `cargo bench --bench router` (add `-- --warm-up-time 1 --measurement-time 3` for a
//! quick look).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use aura_core::{Context, Error};
use aura_router::select::{PowerOfTwo, Scored, Strategy, WeightedRandom};
use aura_router::{FailoverPolicy, HealthPolicy, Operation, Provider, Request, RetryBudget, Router};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

async fn noop(_cx: Context, _input: Value) -> aura_core::Result<Value> {
    Ok(Value::Null)
}

fn noop_operation() -> Operation {
    Operation::new("chat", "complete", noop).idempotent(true)
}

fn router_with(n: usize, strategy: impl Strategy + 'static) -> Router {
    let mut builder = Router::builder().seed(1).strategy(strategy);
    for i in 0..n {
        builder = builder.provider(
            Provider::builder(format!("provider-{i:04}"))
                .weight(1 + (i % 7) as u32)
                .tag("region", if i % 2 == 0 { "eu" } else { "us" })
                .operation(noop_operation())
                .build()
                .unwrap(),
        );
    }
    builder.build().unwrap()
}

fn request() -> Request {
    Request::new("chat", "complete", json!({ "prompt": "hello" }))
}

fn selection(c: &mut Criterion) {
    let mut group = c.benchmark_group("select");
    for n in [4usize, 64, 1000] {
        let request = request();
        let router = router_with(n, WeightedRandom);
        group.bench_with_input(BenchmarkId::new("weighted_random", n), &n, |b, _| {
            b.iter(|| black_box(router.select(black_box(&request))))
        });
        let router = router_with(n, PowerOfTwo);
        group.bench_with_input(BenchmarkId::new("power_of_two", n), &n, |b, _| {
            b.iter(|| black_box(router.select(black_box(&request))))
        });
        let router = router_with(n, Scored::default());
        group.bench_with_input(BenchmarkId::new("scored", n), &n, |b, _| {
            b.iter(|| black_box(router.select(black_box(&request))))
        });
    }
    group.finish();
}

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("call");

    // The baseline: what a caller without a router does for the same call (build the request,
    // a context, clone the input, call the function).
    group.bench_function("direct", |b| {
        b.to_async(&rt).iter(|| async {
            let request = request();
            black_box(noop(Context::new(), request.input().clone()).await.unwrap())
        })
    });

    let router = router_with(1, WeightedRandom);
    group.bench_function("routed", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(router.execute(request()).await.unwrap()) })
    });

    let failing = Operation::new("chat", "complete", |_cx: Context, _input: Value| async {
        Err::<Value, _>(Error::unavailable("down"))
    })
    .idempotent(true);
    let router = Router::builder()
        .strategy(aura_router::select::Priority::in_order())
        .health(HealthPolicy::never_eject())
        .failover(FailoverPolicy::default().retry_budget(RetryBudget::unlimited()))
        .provider(Provider::builder("down").operation(failing).build().unwrap())
        .provider(
            Provider::builder("up")
                .priority(1)
                .operation(noop_operation())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    group.bench_function("failover", |b| {
        b.to_async(&rt).iter(|| async {
            let routed = router.execute(request()).await.unwrap();
            assert_eq!(routed.provider, "up");
            black_box(routed)
        })
    });
    group.finish();
}

criterion_group!(benches, selection, calls);
criterion_main!(benches);
