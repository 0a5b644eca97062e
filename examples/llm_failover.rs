//! Route chat completions over three LLM providers; one of them starts failing.
//!
//! ```text
//! cargo run --example llm_failover
//! ```
//!
//! Three mock providers with different prices and latencies share the traffic by weight. After
//! a while `openai` starts answering HTTP 503: calls fail over to the others at once, the
//! router ejects it, probes it when the ejection ends (half-open), ejects it for longer when
//! the probe fails, and takes it back when a probe succeeds after it recovers. The example
//! prints the traffic shift, the health changes, one decision record and the cost totals.
//!
//! Everything runs on a `ManualClock`: the five minutes of simulated traffic take milliseconds.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use aura_router::testing::{Fault, Latency, ScriptedProvider};
use aura_router::{Clock, CostModel, HealthPolicy, HealthStatus, ManualClock, Request, Router};
use serde_json::json;

const PROVIDERS: [&str; 3] = ["openai", "anthropic", "mistral"];
const REQUESTS: usize = 300;
const FAILS_AT: usize = 60;
const RECOVERS_AT: usize = 190;
const BLOCK: usize = 20;

/// A mock chat-completion provider: answers with a message and a token count.
fn chat_provider(id: &'static str, clock: &ManualClock, mean_ms: u64, seed: u64) -> ScriptedProvider {
    ScriptedProvider::new(id)
        .clock(clock.clone())
        .seed(seed)
        .latency(Latency::Normal {
            mean: Duration::from_millis(mean_ms),
            std_dev: Duration::from_millis(mean_ms / 5),
        })
        .respond_with(move |input, n| {
            let tokens = 150 + (n * 37) % 300;
            json!({
                "model": id,
                "choices": [{ "message": { "role": "assistant", "content": format!("({id}) re: {}", input["prompt"]) } }],
                "usage": { "total_tokens": tokens },
            })
        })
}

fn secs(d: Duration) -> String {
    format!("{:6.1}s", d.as_secs_f64())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> aura_core::Result<()> {
    let clock = ManualClock::new();
    // (id, weight, mean latency, $ per 1k tokens)
    let specs = [
        ("openai", 5, 400, 0.010),
        ("anthropic", 3, 650, 0.006),
        ("mistral", 2, 900, 0.002),
    ];
    let mocks: Vec<ScriptedProvider> = specs
        .iter()
        .enumerate()
        .map(|(i, (id, _, ms, _))| chat_provider(id, &clock, *ms, i as u64))
        .collect();

    let mut builder = Router::builder().clock(clock.clone()).seed(2024).health(
        HealthPolicy::default()
            .consecutive_failures(3)
            .ejection(Duration::from_secs(30), Duration::from_secs(300)),
    );
    for ((_, weight, _, per_1k), mock) in specs.iter().zip(&mocks) {
        builder = builder.provider(
            mock.provider("chat", "complete")
                .weight(*weight)
                .cost(CostModel::per_call(0.0).per_unit("/usage/total_tokens", per_1k / 1000.0))
                .tag("kind", "llm")
                .build()?,
        );
    }
    let router = builder.build()?;

    println!(
        "Three chat providers, weights 5 / 3 / 2; openai fails from request {FAILS_AT}, recovers at {RECOVERS_AT}.\n"
    );
    println!("  requests   time     openai anthropic  mistral   failovers   openai health");
    let mut shown_failover = false;
    let mut last_health = HealthStatus::Healthy;
    let mut events = Vec::new();
    let mut block = [0usize; 3];
    let mut failovers = 0;
    for n in 1..=REQUESTS {
        if n == FAILS_AT {
            mocks[0].fail_from_now(Fault::Status(503));
            events.push(format!("{}  openai starts answering 503", secs(clock.now())));
        }
        if n == RECOVERS_AT {
            mocks[0].recover();
            events.push(format!(
                "{}  openai is fixed (the router does not know yet)",
                secs(clock.now())
            ));
        }
        let request = Request::new("chat", "complete", json!({ "prompt": format!("question {n}") }));
        let routed = router.execute(request).await?;
        let winner = PROVIDERS.iter().position(|p| routed.provider == *p).unwrap_or(0);
        block[winner] += 1;
        let attempts = routed.decision.attempts();
        if attempts.len() > 1 {
            failovers += 1;
            if !shown_failover {
                shown_failover = true;
                println!("\n  The first failover, as its decision record tells it:\n");
                for line in routed.decision.to_string().lines() {
                    println!("    {line}");
                }
                println!();
            }
        }
        if let Some(probe) = attempts.iter().find(|a| a.probe) {
            let outcome = if matches!(probe.outcome, aura_router::AttemptOutcome::Success) {
                "succeeds"
            } else {
                "fails"
            };
            events.push(format!(
                "{}  half-open probe to {} {outcome}",
                secs(probe.started),
                probe.provider
            ));
        }
        let health = router
            .health("openai", "chat", "complete")
            .unwrap_or(HealthStatus::Healthy);
        if health != last_health {
            let what = match health {
                HealthStatus::Ejected { until } => {
                    format!(
                        "openai ejected until {} ({} s)",
                        secs(until).trim(),
                        (until - clock.now()).as_secs()
                    )
                }
                HealthStatus::Healthy => "openai healthy again".to_owned(),
                HealthStatus::HalfOpen => "openai half-open: its next call is a probe".to_owned(),
                HealthStatus::Probing => "openai probing".to_owned(),
            };
            events.push(format!("{}  {what}", secs(clock.now())));
            last_health = health;
        }
        if n % BLOCK == 0 {
            let status = match health {
                HealthStatus::Healthy => "healthy".to_owned(),
                HealthStatus::Ejected { until } => format!("ejected until {}", secs(until).trim()),
                HealthStatus::HalfOpen => "half-open".to_owned(),
                HealthStatus::Probing => "probing".to_owned(),
            };
            println!(
                "  {:>3}-{:<3}  {}   {:>6}   {:>6}   {:>6}   {:>9}   {status}",
                n + 1 - BLOCK,
                n,
                secs(clock.now()),
                block[0],
                block[1],
                block[2],
                failovers
            );
            block = [0; 3];
            failovers = 0;
        }
        // The next request arrives a little later.
        clock.advance(Duration::from_millis(300));
    }

    println!("\n  Health events:");
    for event in &events {
        println!("    {event}");
    }

    let snapshot = router.snapshot();
    println!(
        "\n  Totals after {REQUESTS} requests ({} simulated):",
        secs(clock.now()).trim()
    );
    println!("    provider    ok  errors   p50      p95      tokens     cost");
    let mut total = 0.0;
    for p in &snapshot.providers {
        let op = &p.operations[0];
        let ms = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{} ms", d.as_millis()));
        println!(
            "    {:<10} {:>3}  {:>5}   {:<7}  {:<7}  {:>7}   ${:.4}",
            p.id.as_str(),
            op.successes,
            op.errors,
            ms(op.latency.p50),
            ms(op.latency.p95),
            op.units_total,
            p.cost_total
        );
        total += p.cost_total;
    }
    println!("    total cost ${total:.4}; every request answered.");
    Ok(())
}
