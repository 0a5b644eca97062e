//! What the delivery tests share: the signing secret, a dispatcher on a manual clock, a
//! local receiver, and waits bounded in real time.

#![allow(dead_code)] // Each test file uses a part.

use std::future::Future;
use std::time::Duration;

use aura_core::clock::ManualClock;
use aura_core::delivery::{AutoDisable, DeliveryEvent, Endpoint, MessageId, RetrySchedule, WebhookDispatcher};
use aura_core::net::SsrfGuard;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::sync::broadcast;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The raw key the tests sign with: it must never show anywhere.
pub(crate) const CANARY: &str = "canary-7Hq2-secret-key";

pub(crate) fn secret() -> String {
    format!("whsec_{}", STANDARD.encode(CANARY))
}

pub(crate) fn loopback() -> SsrfGuard {
    SsrfGuard::new()
        .allow_network("127.0.0.0/8")
        .unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn dispatcher(clock: &ManualClock, schedule: RetrySchedule, auto_disable: AutoDisable) -> WebhookDispatcher {
    WebhookDispatcher::builder()
        .clock(clock.shared())
        .guard(loopback())
        .schedule(schedule)
        .auto_disable(auto_disable)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn endpoint(id: &str, server: &MockServer) -> Endpoint {
    Endpoint::new(id, format!("{}/hooks", server.uri()), secret()).event_type("*")
}

/// Polls `check` until it gives something (real time, bounded: a hang fails, a slow machine
/// does not).
pub(crate) async fn until<T>(mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..2_000 {
        if let Some(found) = check() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the condition never held");
}

/// The next event that `pick` accepts.
pub(crate) async fn event<T>(
    events: &mut broadcast::Receiver<DeliveryEvent>,
    mut pick: impl FnMut(&DeliveryEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(e) => panic!("events ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no such event came"))
}

pub(crate) fn delivered(event: &DeliveryEvent) -> Option<(Vec<MessageId>, u32)> {
    match event {
        DeliveryEvent::Delivered { messages, attempts, .. } => Some((messages.clone(), *attempts)),
        _ => None,
    }
}

pub(crate) fn failed(event: &DeliveryEvent) -> Option<(u32, String)> {
    match event {
        DeliveryEvent::Failed { attempts, error, .. } => Some((*attempts, error.clone())),
        _ => None,
    }
}

pub(crate) async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

pub(crate) async fn respond(server: &MockServer, status: u16, times: Option<u64>) {
    let mock = Mock::given(method("POST")).respond_with(ResponseTemplate::new(status));
    match times {
        Some(n) => mock.up_to_n_times(n).mount(server).await,
        None => mock.mount(server).await,
    }
}

pub(crate) fn header(request: &wiremock::Request, name: &str) -> String {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub(crate) async fn with_timeout<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("took too long"))
}
