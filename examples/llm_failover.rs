//! Route chat completions over three LLM providers; one of them starts failing.
//!
//! ```text
//! cargo run --example llm_failover
//! ```
//!
//! Three providers of the router capability `chat.complete`, each a real connector of
//! aura-connectors' `llm` feature talking HTTP to a local server that answers like its vendor
//! (aura-testkit's `LlmMock`: the vendor's request checks, answers, usage and errors):
//! `openai` (OpenAI's chat API), `anthropic` (Anthropic's messages API) and `mistral` (an
//! OpenAI-compatible server). They share the traffic by weight; each answer's cost comes from
//! its tokens and the model's price. After a while `openai` starts answering `503 overloaded`:
//! calls fail over to the others at once, the router ejects it, probes it when the ejection
//! ends (half-open), ejects it for longer when the probe fails, and takes it back when a probe
//! succeeds after it recovers. The example prints the traffic shift, the health changes, one
//! decision record and the cost totals. It runs on loopback in a few seconds.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_connectors::llm::{AnthropicApp, OpenAiApp, Pricing, chat_provider};
use aura_core::Registry;
use aura_core::connection::{ApiKeyPlacement, Connection, ConnectionRecord, Credentials, StaticConnection};
use aura_core::http::HttpPolicy;
use aura_core::net::SsrfGuard;
use aura_router::{HealthPolicy, HealthStatus, Request, Router};
use aura_testkit::llm::{Fault, LlmMock, Vendor};
use serde_json::json;

const PROVIDERS: [&str; 3] = ["openai", "anthropic", "mistral"];
const REQUESTS: usize = 300;
const FAILS_AT: usize = 60;
const RECOVERS_AT: usize = 190;
const BLOCK: usize = 20;
/// Time between two requests.
const PACE: Duration = Duration::from_millis(8);

fn connection(app: &str, credentials: Credentials) -> Arc<dyn Connection> {
    Arc::new(StaticConnection::new(ConnectionRecord::new(
        app,
        "example",
        credentials,
    )))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> aura_core::Result<()> {
    // The local vendors, with their own latencies.
    let openai = LlmMock::start(Vendor::OpenAi, "sk-openai-example", Duration::from_millis(4)).await;
    let anthropic = LlmMock::start(Vendor::Anthropic, "sk-ant-example", Duration::from_millis(7)).await;
    let mistral = LlmMock::start(Vendor::OpenAi, "mistral-example", Duration::from_millis(10)).await;
    for (mock, id, output_tokens) in [
        (&openai, "openai", 180),
        (&anthropic, "anthropic", 210),
        (&mistral, "mistral", 240),
    ] {
        mock.reply(format!("An answer from {id}."));
        mock.usage(120, output_tokens);
    }

    // The connectors: the servers are on loopback, which the SSRF guard must be told to allow.
    let policy = HttpPolicy::builder()
        .guard(SsrfGuard::new().allow_network("127.0.0.0/8")?)
        .build();
    let registry = Registry::new();
    registry.register(
        OpenAiApp::new()
            .base_url(openai.uri())
            .default_model("gpt-4o-mini")
            .pricing(Pricing::new().model("gpt-4o-mini", 0.15, 0.60))
            .policy(policy.clone()),
    )?;
    registry.register(
        AnthropicApp::new()
            .base_url(anthropic.uri())
            .default_model("claude-3-5-haiku-latest")
            .pricing(Pricing::new().model("claude-3-5-haiku", 0.80, 4.00))
            .policy(policy.clone()),
    )?;
    registry.register(
        OpenAiApp::compatible("mistral", "Mistral", mistral.uri())
            .default_model("mistral-small-latest")
            .pricing(Pricing::new().model("mistral-small", 0.10, 0.30))
            .policy(policy),
    )?;

    let providers = [
        (
            "openai",
            5,
            connection("openai", Credentials::bearer("sk-openai-example")),
        ),
        (
            "anthropic",
            3,
            connection(
                "anthropic",
                Credentials::api_key("sk-ant-example", ApiKeyPlacement::header("x-api-key")),
            ),
        ),
        (
            "mistral",
            2,
            connection("mistral", Credentials::bearer("mistral-example")),
        ),
    ];
    let mut builder = Router::builder().seed(2024).health(
        HealthPolicy::default()
            .consecutive_failures(3)
            .ejection(Duration::from_millis(300), Duration::from_secs(2)),
    );
    for (id, weight, conn) in providers {
        let action = registry.action(&format!("{id}.chat")).await?;
        builder = builder.provider(chat_provider(id, action, conn).weight(weight).build()?);
    }
    let router = builder.build()?;

    println!(
        "Three chat providers on local vendor servers, weights 5 / 3 / 2; openai fails from request {FAILS_AT}, recovers at {RECOVERS_AT}.\n"
    );
    println!("  requests   time     openai anthropic  mistral   failovers   openai health");
    let start = Instant::now();
    let secs = |at: Instant| format!("{:6.2}s", at.duration_since(start).as_secs_f64());
    let mut shown_failover = false;
    let mut last_health = HealthStatus::Healthy;
    let mut events = Vec::new();
    let mut block = [0usize; 3];
    let mut failovers = 0;
    for n in 1..=REQUESTS {
        if n == FAILS_AT {
            openai.fail_from_now(Fault::Overloaded);
            events.push(format!(
                "{}  openai starts answering 503 overloaded",
                secs(Instant::now())
            ));
        }
        if n == RECOVERS_AT {
            openai.recover();
            events.push(format!(
                "{}  openai is fixed (the router does not know yet)",
                secs(Instant::now())
            ));
        }
        let request = Request::new(
            "chat",
            "complete",
            json!({ "messages": [{ "role": "user", "content": format!("question {n}") }] }),
        );
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
                println!("    the answer: {}\n", routed.value["content"]);
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
                secs(Instant::now()),
                probe.provider
            ));
        }
        let health = router
            .health("openai", "chat", "complete")
            .unwrap_or(HealthStatus::Healthy);
        if health != last_health {
            let what = match health {
                HealthStatus::Ejected { .. } => "openai ejected".to_owned(),
                HealthStatus::Healthy => "openai healthy again".to_owned(),
                HealthStatus::HalfOpen => "openai half-open: its next call is a probe".to_owned(),
                HealthStatus::Probing => "openai probing".to_owned(),
            };
            events.push(format!("{}  {what}", secs(Instant::now())));
            last_health = health;
        }
        if n % BLOCK == 0 {
            let status = match health {
                HealthStatus::Healthy => "healthy",
                HealthStatus::Ejected { .. } => "ejected",
                HealthStatus::HalfOpen => "half-open",
                HealthStatus::Probing => "probing",
            };
            println!(
                "  {:>3}-{:<3}  {}   {:>6}   {:>6}   {:>6}   {:>9}   {status}",
                n + 1 - BLOCK,
                n,
                secs(Instant::now()),
                block[0],
                block[1],
                block[2],
                failovers
            );
            block = [0; 3];
            failovers = 0;
        }
        tokio::time::sleep(PACE).await;
    }

    println!("\n  Health events:");
    for event in &events {
        println!("    {event}");
    }

    let snapshot = router.snapshot();
    println!(
        "\n  Totals after {REQUESTS} requests ({}):",
        secs(Instant::now()).trim()
    );
    println!("    provider    ok  errors   p50      p95         cost");
    let mut total = 0.0;
    for p in &snapshot.providers {
        let op = &p.operations[0];
        let ms = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{} ms", d.as_millis()));
        println!(
            "    {:<10} {:>3}  {:>5}   {:<7}  {:<7}   ${:.6}",
            p.id.as_str(),
            op.successes,
            op.errors,
            ms(op.latency.p50),
            ms(op.latency.p95),
            p.cost_total
        );
        total += p.cost_total;
    }
    println!("    total cost ${total:.6}; every request answered.");
    Ok(())
}
