//! A webhook server: an axum app that mounts Aura's trigger runtime under `/hooks`, with two
//! scenarios loaded from YAML files and every execution kept in a SQLite file.
//!
//! ```text
//! cargo run --example webhook_server            # serves until Ctrl-C
//! cargo run --example webhook_server -- --once  # sends its own two requests, then stops
//! ```
//!
//! | scenario | file | what it does |
//! | --- | --- | --- |
//! | `github_push` | `examples/scenarios/github_push.yaml` | a GitHub push webhook, verified (`X-Hub-Signature-256`), filtered to `main`, announced in chat; a retried delivery runs once |
//! | `score` | `examples/scenarios/score.yaml` | `webhook → set → if → respond`: the caller gets the respond node's answer |
//!
//! It prints each URL with a `curl` line that works (the GitHub one signed with the demo
//! secret), sends both requests itself once, and prints what came back. `AURA_ADDR` sets the
//! address (default `127.0.0.1:8080`), `AURA_GITHUB_SECRET` the GitHub hook's secret.

#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use aura_core::connection::{ConnectionRecord, Connections, Credentials};
use aura_core::engine::Engine;
use aura_core::runtime::TriggerRuntime;
use aura_core::scenario::Scenario;
use aura_core::semver::Version;
use aura_core::store::SqliteStore;
use aura_core::{ActionDef, App, AppManifest, Context, Registry, Result};
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The demo secret of the GitHub hook (set the same in the hook's settings on GitHub).
const DEMO_SECRET: &str = "demo-github-secret";

/// A push to main, as GitHub sends it (trimmed).
const PUSH: &str = r#"{"ref":"refs/heads/main","repository":{"full_name":"acme/shop"},"head_commit":{"message":"Fix the checkout total","author":{"name":"Ada"}}}"#;

// ---------------------------------------------------------------------------------------------
// A chat app whose `post` action keeps messages in memory (a real one would call Slack).
// ---------------------------------------------------------------------------------------------

/// What `chat.post` takes.
#[derive(Deserialize, JsonSchema)]
struct Post {
    /// The channel.
    channel: String,
    /// The message.
    text: String,
}

/// What `chat.post` returns.
#[derive(Serialize, JsonSchema)]
struct Posted {
    /// The message's id in the channel.
    id: usize,
}

#[derive(Clone, Default)]
struct Chat(Arc<Mutex<Vec<String>>>);

#[aura_core::async_trait]
impl App for Chat {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("chat", "Team chat", Version::new(1, 0, 0)).description("Posts messages to channels")
    }

    fn actions(&self) -> Vec<ActionDef> {
        let messages = self.0.clone();
        vec![
            ActionDef::new("post", move |_cx: Context, post: Post| {
                let messages = messages.clone();
                async move {
                    let line = format!("{} {}", post.channel, post.text);
                    println!("  chat ▸ {line}");
                    let mut messages = messages.lock().unwrap_or_else(PoisonError::into_inner);
                    messages.push(line);
                    Ok::<_, aura_core::Error>(Posted { id: messages.len() })
                }
            })
            .name("Post a message"),
        ]
    }
}

fn signature(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("any key"));
    mac.update(body.as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[tokio::main]
async fn main() -> Result<()> {
    let once = std::env::args().any(|a| a == "--once");
    let addr: SocketAddr = std::env::var("AURA_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".to_owned())
        .parse()
        .map_err(|_| aura_core::Error::invalid_input("AURA_ADDR is not an address (127.0.0.1:8080)", vec![]))?;
    let secret = std::env::var("AURA_GITHUB_SECRET").unwrap_or_else(|_| DEMO_SECRET.to_owned());

    // The registry, the connection holding the hook's secret, the SQLite store.
    let registry = Registry::new();
    registry.register(Chat::default())?;
    let connections = Arc::new(Connections::new());
    connections.insert_record(
        ConnectionRecord::new(
            "github",
            "GitHub hooks",
            Credentials::custom([("secret", secret.as_str())]),
        )
        .with_id("github-hooks"),
    );
    let dir = tempfile::tempdir().map_err(|e| aura_core::Error::internal("no temporary directory").with_source(e))?;
    let store = Arc::new(SqliteStore::open(dir.path().join("aura.db")).await?);
    let engine = Engine::builder(Arc::new(registry))
        .connections(connections)
        .store(store)
        .build();

    // The trigger runtime, with both scenarios from their files.
    let triggers = TriggerRuntime::new(engine);
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
    for file in ["github_push.yaml", "score.yaml"] {
        let text = std::fs::read_to_string(here.join(file))
            .map_err(|e| aura_core::Error::not_found(format!("examples/scenarios/{file}")).with_source(e))?;
        triggers.deploy(Scenario::from_yaml(&text)?).await?;
    }

    // The host's app: its own routes, and the webhooks under /hooks.
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest("/hooks", triggers.router());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| aura_core::Error::unavailable(format!("cannot listen on {addr}")).with_source(e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| aura_core::Error::internal("no address").with_source(e))?;
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn({
        let stop = stop.clone();
        async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        }
    });

    let delivery = uuid::Uuid::now_v7();
    let github_signature = signature(&secret, PUSH);
    println!("Aura's webhooks are served on http://{addr}/hooks/");
    println!();
    println!("  score (webhook → set → if → respond):");
    println!("    curl -s -X POST http://{addr}/hooks/score -H 'content-type: application/json' -d '{{\"value\":42}}'");
    println!("  github_push (signed with the demo secret; send it twice: it runs once):");
    println!(
        "    curl -s -X POST http://{addr}/hooks/github/push -H 'content-type: application/json' \\\n      -H 'X-GitHub-Delivery: {delivery}' -H 'X-Hub-Signature-256: {github_signature}' \\\n      -d '{PUSH}'"
    );
    println!();

    // Both requests, sent once from here.
    let http = reqwest::Client::new();
    let score = http
        .post(format!("http://{addr}/hooks/score"))
        .header("content-type", "application/json")
        .body(r#"{"value":42}"#)
        .send()
        .await
        .map_err(|e| aura_core::Error::unavailable("the score request failed").with_source(e))?;
    println!(
        "POST /hooks/score {{\"value\":42}} → {} {}",
        score.status(),
        score.text().await.unwrap_or_default()
    );
    for attempt in ["first delivery", "GitHub's retry"] {
        let push = http
            .post(format!("http://{addr}/hooks/github/push"))
            .header("content-type", "application/json")
            .header("x-github-delivery", delivery.to_string())
            .header("x-hub-signature-256", &github_signature)
            .body(PUSH)
            .send()
            .await
            .map_err(|e| aura_core::Error::unavailable("the push request failed").with_source(e))?;
        let status = push.status();
        println!(
            "POST /hooks/github/push ({attempt}) → {status} {}",
            push.text().await.unwrap_or_default()
        );
    }
    let forged = http
        .post(format!("http://{addr}/hooks/github/push"))
        .header("x-hub-signature-256", "sha256=00")
        .body(PUSH)
        .send()
        .await
        .map_err(|e| aura_core::Error::unavailable("the forged request failed").with_source(e))?;
    println!(
        "POST /hooks/github/push (forged) → {} {}",
        forged.status(),
        forged.text().await.unwrap_or_default()
    );

    if !once {
        println!();
        println!("Serving until Ctrl-C.");
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| aura_core::Error::internal("no Ctrl-C handler").with_source(e))?;
    }
    // Graceful: no new requests, executions in flight finish.
    triggers.shutdown().await;
    stop.cancel();
    server
        .await
        .map_err(|e| aura_core::Error::internal("the server task").with_source(e))?
        .map_err(|e| aura_core::Error::internal("the server").with_source(e))?;
    Ok(())
}
