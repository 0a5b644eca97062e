//! Outbound webhook delivery, against a local receiver (wiremock on 127.0.0.1, allowed through
//! the SSRF guard explicitly) and a manual clock: no test waits for real time to pass, and none
//! asserts on how long anything took in real time.

use std::time::Duration;

use aura_core::ErrorKind;
use aura_core::clock::{Clock, ManualClock};
use aura_core::delivery::{
    AttemptOutcome, AutoDisable, Batching, DeliveryEvent, Endpoint, MessageId, RetrySchedule, WEBHOOK_ID,
    WebhookDispatcher,
};
use aura_core::net::SsrfGuard;
use aura_core::store::PageRequest;
use aura_core::trigger::{WebhookRequest, WebhookVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "delivery_common/mod.rs"]
mod common;

use common::*;

#[tokio::test]
async fn a_delivery_is_signed_so_the_standard_webhooks_verifier_accepts_it() {
    let server = MockServer::start().await;
    respond(&server, 204, None).await;
    let clock = ManualClock::new();
    let dispatcher = dispatcher(&clock, RetrySchedule::default(), AutoDisable::default());
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(endpoint("ops", &server))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let id = dispatcher
        .send("execution.failed", json!({ "scenario_id": "billing", "error": "boom" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (messages, attempts) = event(&mut events, delivered).await;
    assert_eq!((messages, attempts), (vec![id.clone()], 1));

    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert_eq!(header(got, WEBHOOK_ID), id.as_str());
    assert_eq!(header(got, "content-type"), "application/json");
    let body: Value = serde_json::from_slice(&got.body).unwrap_or_default();
    assert_eq!(body["type"], "execution.failed");
    assert_eq!(body["data"], json!({ "scenario_id": "billing", "error": "boom" }));

    let mut request = WebhookRequest::post("/hooks", got.body.clone());
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        request = request.header(name, &header(got, name));
    }
    let request = request.build().unwrap_or_else(|e| panic!("{e}"));
    let verified = WebhookVerifier::standard_webhooks(secret())
        .verify(&request, chrono::Utc::now())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.delivery_id.as_deref(), Some(id.as_str()));
    // Another secret does not verify it.
    let other = format!("whsec_{}", STANDARD.encode("another key"));
    assert!(
        WebhookVerifier::standard_webhooks(other)
            .verify(&request, chrono::Utc::now())
            .is_err()
    );
    dispatcher.shutdown().await;
    assert_eq!(
        dispatcher.send("x", json!({})).await.map(|_| ()).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_with_jitter_and_the_same_webhook_id() {
    let server = MockServer::start().await;
    respond(&server, 500, Some(2)).await;
    respond(&server, 200, None).await;
    let clock = ManualClock::new();
    let dispatcher = dispatcher(&clock, RetrySchedule::default(), AutoDisable::default());
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(endpoint("ops", &server))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let id = dispatcher
        .send("invoice.paid", json!({ "n": 1 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (messages, attempts) = event(&mut events, delivered).await;
    assert_eq!((messages, attempts), (vec![id.clone()], 3));

    let received = requests(&server).await;
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| header(r, WEBHOOK_ID) == id.as_str()));

    // Newest first.
    let log = dispatcher
        .log("ops", &PageRequest::first(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let attempts: Vec<_> = log.items.iter().rev().collect();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0].at, Duration::ZERO);
    let second = attempts[1].at - attempts[0].at;
    let third = attempts[2].at - attempts[1].at;
    assert!(
        second >= Duration::from_secs(4) && second <= Duration::from_secs(6),
        "{second:?}"
    );
    assert!(
        third >= Duration::from_secs(240) && third <= Duration::from_secs(360),
        "{third:?}"
    );
    assert_eq!(attempts[0].status, Some(500));
    assert!(matches!(attempts[0].outcome, AttemptOutcome::Retrying { .. }));
    assert_eq!(attempts[2].outcome, AttemptOutcome::Delivered);
    assert_eq!(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), vec![1, 2, 3]);

    // Stats follow the log.
    let stats = dispatcher.stats("ops").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((stats.attempts, stats.successes, stats.failures), (3, 1, 2));
    assert!((stats.success_rate() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(stats.last_status, Some(200));
    assert_eq!(stats.last_attempt_at, Some(attempts[2].at));
    assert!(stats.enabled);
    assert_eq!(stats.failing_since, None);

    // Pages of the log.
    let first = dispatcher
        .log("ops", &PageRequest::first(2))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.items.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![3, 2]);
    let next = first.next.unwrap_or_else(|| panic!("a next page"));
    let rest = dispatcher
        .log("ops", &PageRequest::first(2).after(next))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rest.items.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![1]);
    assert_eq!(rest.next, None);
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn a_4xx_or_a_redirect_is_not_retried() {
    for (status, location) in [(400u16, None), (410, None), (302, Some("http://127.0.0.1:1/elsewhere"))] {
        let server = MockServer::start().await;
        let mut answer = ResponseTemplate::new(status);
        if let Some(location) = location {
            answer = answer.insert_header("location", location);
        }
        Mock::given(method("POST")).respond_with(answer).mount(&server).await;
        let clock = ManualClock::new();
        let dispatcher = dispatcher(&clock, RetrySchedule::default(), AutoDisable::never());
        let mut events = dispatcher.subscribe();
        dispatcher
            .add_endpoint(endpoint("ops", &server))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        dispatcher
            .send("a.b", json!({}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (attempts, error) = event(&mut events, failed).await;
        assert_eq!(attempts, 1, "{status}");
        assert!(error.contains(&status.to_string()), "{error}");
        assert_eq!(requests(&server).await.len(), 1, "{status}");
        let stats = dispatcher.stats("ops").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((stats.failed_deliveries, stats.last_status), (1, Some(status)));
        dispatcher.shutdown().await;
    }
}

#[tokio::test]
async fn retry_after_on_429_is_honoured_when_longer_than_the_schedule() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    respond(&server, 200, None).await;
    let clock = ManualClock::new();
    let schedule = RetrySchedule::new([Duration::ZERO, Duration::from_secs(5)]).jitter(0.0);
    let dispatcher = dispatcher(&clock, schedule, AutoDisable::default());
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(endpoint("ops", &server))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    dispatcher
        .send("a.b", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    event(&mut events, delivered).await;

    let log = dispatcher
        .log("ops", &PageRequest::first(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let (second, first) = (&log.items[0], &log.items[1]);
    assert_eq!(first.status, Some(429));
    assert_eq!(
        first.outcome,
        AttemptOutcome::Retrying {
            after: Duration::from_secs(120)
        }
    );
    assert!(second.at - first.at >= Duration::from_secs(120));
}

#[tokio::test]
async fn an_attempt_that_outlives_its_timeout_fails_and_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    respond(&server, 200, None).await;
    let clock = ManualClock::new();
    let schedule = RetrySchedule::new([Duration::ZERO, Duration::from_secs(1)]).jitter(0.0);
    let dispatcher = dispatcher(&clock, schedule, AutoDisable::default());
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(endpoint("slow", &server).timeout(Duration::from_secs(10)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    dispatcher
        .send("a.b", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Once the receiver holds the request, time moves past the timeout (only the test moves
    // it), until the attempt gives up.
    for _ in 0..2_000 {
        if !requests(&server).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let log = &dispatcher;
    let first = until(|| {
        let page = log.log("slow", &PageRequest::first(10)).ok()?;
        match page.items.into_iter().last() {
            Some(attempt) => Some(attempt),
            None => {
                clock.advance(Duration::from_secs(11));
                None
            }
        }
    })
    .await;
    assert_eq!(first.status, None);
    assert!(
        first.error.as_deref().unwrap_or_default().contains("timeout"),
        "{first:?}"
    );
    assert!(first.latency >= Duration::from_secs(10));
    assert!(matches!(first.outcome, AttemptOutcome::Retrying { .. }));
    let (_, attempts) = event(&mut events, delivered).await;
    assert_eq!(attempts, 2);
    with_timeout(dispatcher.shutdown()).await;
}

#[tokio::test]
async fn an_endpoint_failing_message_after_message_is_disabled_with_an_event() {
    let server = MockServer::start().await;
    respond(&server, 503, None).await;
    let clock = ManualClock::new();
    let schedule = RetrySchedule::new([Duration::ZERO, Duration::from_secs(5)]);
    let rules = AutoDisable {
        failed_messages: Some(2),
        failing_for: None,
    };
    let dispatcher = dispatcher(&clock, schedule, rules);
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(endpoint("down", &server))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    dispatcher
        .send("a.b", json!({ "n": 1 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event(&mut events, failed).await.0, 2);
    assert!(dispatcher.stats("down").unwrap_or_else(|e| panic!("{e}")).enabled);
    dispatcher
        .send("a.b", json!({ "n": 2 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let reason = event(&mut events, |e| match e {
        DeliveryEvent::EndpointDisabled { endpoint, reason } => Some((endpoint.clone(), reason.clone())),
        _ => None,
    })
    .await;
    assert_eq!(reason.0, "down");
    assert!(reason.1.contains("2 deliveries in a row"), "{}", reason.1);

    let stats = dispatcher.stats("down").unwrap_or_else(|e| panic!("{e}"));
    assert!(!stats.enabled);
    assert_eq!((stats.failed_in_a_row, stats.attempts), (2, 4));

    // Nothing more goes to it; enabled again, it gets messages again.
    dispatcher
        .send("a.b", json!({ "n": 3 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(requests(&server).await.len(), 4);
    dispatcher
        .set_enabled("down", true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    dispatcher
        .send("a.b", json!({ "n": 4 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    event(&mut events, failed).await;
    assert_eq!(requests(&server).await.len(), 6);
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_failing_for_longer_than_allowed_is_disabled() {
    let server = MockServer::start().await;
    respond(&server, 500, None).await;
    let clock = ManualClock::new();
    let rules = AutoDisable {
        failed_messages: None,
        failing_for: Some(Duration::from_secs(24 * 3600)),
    };
    // The default schedule spans about 27.6 hours without jitter (its ±20% could bring it under
    // the day): one message spent is more than a day.
    let dispatcher = dispatcher(&clock, RetrySchedule::default().jitter(0.0), rules);
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(endpoint("down", &server))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    dispatcher
        .send("a.b", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event(&mut events, failed).await.0, 8);
    event(&mut events, |e| {
        matches!(e, DeliveryEvent::EndpointDisabled { .. }).then_some(())
    })
    .await;
    assert!(clock.now() >= Duration::from_secs(24 * 3600));
    assert!(!dispatcher.stats("down").unwrap_or_else(|e| panic!("{e}")).enabled);
}

#[tokio::test]
async fn event_types_filters_and_transforms_decide_what_is_sent() {
    let server = MockServer::start().await;
    respond(&server, 200, None).await;
    let clock = ManualClock::new();
    let dispatcher = dispatcher(&clock, RetrySchedule::default(), AutoDisable::default());
    let mut events = dispatcher.subscribe();
    let big_payments = Endpoint::new("big", format!("{}/hooks", server.uri()), secret())
        .event_type("payment.*")
        .filter("trigger.data.amount > 100")
        .transform(json!({
            "text": "{{ trigger.type }} of {{ trigger.data.amount }}",
            "amount": "{{ trigger.data.amount }}",
            "source": "aura",
        }));
    dispatcher
        .add_endpoint(big_payments)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    dispatcher
        .send("payment.succeeded", json!({ "amount": 50 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    dispatcher
        .send("refund.created", json!({ "amount": 500 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = dispatcher
        .send("payment.succeeded", json!({ "amount": 500 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event(&mut events, delivered).await.0, vec![id]);
    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    let body: Value = serde_json::from_slice(&received[0].body).unwrap_or_default();
    assert_eq!(
        body,
        json!({ "text": "payment.succeeded of 500", "amount": 500, "source": "aura" })
    );

    // Bad expressions are refused when the endpoint is added, naming it and the field.
    let err = dispatcher
        .add_endpoint(endpoint("bad", &server).filter("trigger.data.amount >"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(
        (err.context_value("endpoint"), err.context_value("field")),
        (Some("bad"), Some("/filter"))
    );
    let err = dispatcher
        .add_endpoint(endpoint("bad", &server).transform(json!({ "a": { "b": "{{ trigger.( }}" } })))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("field"), Some("/transform/a/b"));
    assert_eq!(err.violations()[0].path, "/transform/a/b");
    assert_eq!(dispatcher.endpoints(), vec!["big".to_owned()]);
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn batches_group_messages_by_size_or_delay() {
    let server = MockServer::start().await;
    respond(&server, 200, None).await;
    let clock = ManualClock::new();
    let dispatcher = dispatcher(&clock, RetrySchedule::default(), AutoDisable::default());
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(endpoint("batched", &server).batch(Batching::new(3, Duration::from_secs(3600))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let mut ids: Vec<MessageId> = Vec::new();
    for n in 0..3 {
        ids.push(
            dispatcher
                .send("a.b", json!({ "n": n }))
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let (messages, _) = event(&mut events, delivered).await;
    assert_eq!(messages, ids);
    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    let body: Value = serde_json::from_slice(&received[0].body).unwrap_or_default();
    let ns: Vec<&Value> = body
        .as_array()
        .map(|items| items.iter().map(|i| &i["data"]["n"]).collect())
        .unwrap_or_default();
    assert_eq!(ns, vec![&json!(0), &json!(1), &json!(2)]);
    // A batch has its own webhook-id.
    assert!(ids.iter().all(|id| header(&received[0], WEBHOOK_ID) != id.as_str()));

    // A lone message waits for the delay, on the dispatcher's clock.
    let lone = dispatcher
        .send("a.b", json!({ "n": 3 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until(|| {
        let page = dispatcher.log("batched", &PageRequest::first(10)).ok()?;
        if page.items.len() == 2 {
            return Some(());
        }
        clock.advance(Duration::from_secs(600));
        None
    })
    .await;
    assert_eq!(event(&mut events, delivered).await.0, vec![lone]);
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn a_message_is_redelivered_on_demand_with_its_id() {
    let server = MockServer::start().await;
    respond(&server, 200, None).await;
    let clock = ManualClock::new();
    let dispatcher = dispatcher(&clock, RetrySchedule::default(), AutoDisable::default());
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(endpoint("ops", &server))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = dispatcher
        .send("a.b", json!({ "n": 1 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    event(&mut events, delivered).await;

    assert_eq!(dispatcher.redeliver(&id).await.unwrap_or_else(|e| panic!("{e}")), 1);
    assert_eq!(event(&mut events, delivered).await.0, vec![id.clone()]);
    let received = requests(&server).await;
    assert_eq!(received.len(), 2);
    assert_eq!(header(&received[1], WEBHOOK_ID), id.as_str());
    assert_eq!(received[0].body, received[1].body);

    let err = dispatcher.redeliver(&MessageId::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(dispatcher.stats("ops").unwrap_or_else(|e| panic!("{e}")).successes, 2);
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn the_ssrf_guard_refuses_private_targets_unless_allowed() {
    let guard = SsrfGuard::new();
    for url in [
        "http://127.0.0.1/",
        "http://10.0.0.7:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
    ] {
        let err = guard.check_url(url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden, "{url}");
        assert!(err.context_value("host").is_some(), "{url}");
        assert!(SsrfGuard::allow_all().check_url(url).await.is_ok(), "{url}");
    }
    assert!(
        SsrfGuard::new()
            .allow_host("localhost")
            .check_url("http://localhost:9/")
            .await
            .is_ok()
    );

    // An endpoint at an address is refused when added.
    let clock = ManualClock::new();
    let strict = WebhookDispatcher::builder()
        .clock(clock.shared())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = strict
        .add_endpoint(Endpoint::new("local", "http://127.0.0.1:9/x", secret()).event_type("*"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.context_value("field"), Some("/url"));

    // A name resolving to loopback is refused when connecting, for good, and nothing is sent.
    let server = MockServer::start().await;
    respond(&server, 200, None).await;
    let port = server.address().port();
    let mut events = strict.subscribe();
    strict
        .add_endpoint(Endpoint::new("named", format!("http://localhost:{port}/hooks"), secret()).event_type("*"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    strict.send("a.b", json!({})).await.unwrap_or_else(|e| panic!("{e}"));
    let (attempts, error) = event(&mut events, failed).await;
    assert_eq!(attempts, 1);
    assert!(error.starts_with("forbidden"), "{error}");
    assert!(requests(&server).await.is_empty());
    strict.shutdown().await;
}

#[tokio::test]
async fn secrets_never_show_in_debug_errors_logs_or_events() {
    let encoded = STANDARD.encode(CANARY);
    let leaks = |text: &str| text.contains(CANARY) || text.contains(&encoded);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("nope"))
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let dispatcher = dispatcher(&clock, RetrySchedule::default(), AutoDisable::default());
    let mut events = dispatcher.subscribe();
    let ep = endpoint("ops", &server);
    assert!(!leaks(&format!("{ep:?}")));
    dispatcher.add_endpoint(ep).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!leaks(&format!("{dispatcher:?}")));
    dispatcher
        .send("a.b", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let event = event(&mut events, |e| Some(e.clone())).await;
    assert!(!leaks(&format!("{event:?}")));
    let log = dispatcher
        .log("ops", &PageRequest::first(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!leaks(&format!("{log:?}")));

    // A secret that is not base64, and bad definitions next to a good secret.
    for bad in [
        Endpoint::new("x", "https://example.com/", format!("whsec_{CANARY}!")),
        Endpoint::new("x", "https://example.com/", secret()).filter("(("),
        Endpoint::new("x", "ftp://example.com/", secret()),
    ] {
        let err = dispatcher.add_endpoint(bad).await.unwrap_err();
        assert!(!leaks(&err.to_string()) && !leaks(&format!("{err:?}")), "{err:?}");
    }
    let err = dispatcher
        .add_endpoint(Endpoint::new("x", "https://example.com/", format!("whsec_{CANARY}!")))
        .await
        .unwrap_err();
    assert_eq!(err.context_value("field"), Some("/secret"));
    dispatcher.shutdown().await;
}

/// A receiver answering 200, and a dispatcher (on a manual clock) with one endpoint there
/// subscribed to `event_type`, and its events.
async fn subscribed(
    event_type: &str,
) -> (
    MockServer,
    ManualClock,
    WebhookDispatcher,
    broadcast::Receiver<DeliveryEvent>,
) {
    let server = MockServer::start().await;
    respond(&server, 200, None).await;
    let clock = ManualClock::new();
    let dispatcher = dispatcher(&clock, RetrySchedule::default(), AutoDisable::default());
    let events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(Endpoint::new("ops", format!("{}/hooks", server.uri()), secret()).event_type(event_type))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (server, clock, dispatcher, events)
}

#[tokio::test]
async fn aura_execution_events_are_delivered_by_type() {
    use aura_core::engine::{EventKind, ExecutionEvent};
    use aura_core::store::ExecutionStatus;

    let (server, _clock, dispatcher, mut events) = subscribed("execution.failed").await;
    let event = |kind| ExecutionEvent {
        execution_id: uuid::Uuid::nil(),
        scenario_id: "billing".into(),
        kind,
    };
    let progress = event(EventKind::NodeSkipped { node: "a".into() });
    assert_eq!(dispatcher.send_execution_event(&progress).await.ok(), Some(None));
    dispatcher
        .send_execution_event(&event(EventKind::Finished {
            status: ExecutionStatus::Completed,
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = dispatcher
        .send_execution_event(&event(EventKind::Finished {
            status: ExecutionStatus::Failed,
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Some(event_of(&mut events).await), id);
    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    let body: Value = serde_json::from_slice(&received[0].body).unwrap_or_default();
    assert_eq!(body["type"], "execution.failed");
    assert_eq!(body["data"]["scenario_id"], "billing");
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn connection_trouble_is_delivered_and_routine_changes_are_not() {
    use aura_core::connection::ConnectionStatus;
    use aura_core::connection::{ConnectionEvent, ConnectionEventKind};

    let (server, _clock, dispatcher, mut delivered_events) = subscribed("connection.*").await;
    // Forwarded from a manager's event stream.
    let (tx, rx) = broadcast::channel(16);
    dispatcher.forward_connections(rx).unwrap_or_else(|e| panic!("{e}"));
    let event = |kind| ConnectionEvent {
        connection_id: "crm-main".into(),
        app_id: "crm".into(),
        kind,
    };
    tx.send(event(ConnectionEventKind::TokenRefreshed {
        version: 2,
        expires_at: None,
    }))
    .unwrap();
    tx.send(event(ConnectionEventKind::RefreshFailed {
        error: "unauthorized",
        oauth2_error: Some("invalid_grant".into()),
    }))
    .unwrap();
    tx.send(event(ConnectionEventKind::StatusChanged {
        from: ConnectionStatus::Active,
        to: ConnectionStatus::Error,
    }))
    .unwrap();
    event_of(&mut delivered_events).await;
    event_of(&mut delivered_events).await;
    let mut types: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap_or_default()["type"].to_string())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [r#""connection.refresh_failed""#, r#""connection.status_changed""#]
    );
    dispatcher.shutdown().await;
}

async fn event_of(events: &mut broadcast::Receiver<DeliveryEvent>) -> MessageId {
    let (mut messages, _) = event(events, delivered).await;
    messages.remove(0)
}

#[tokio::test]
async fn a_transform_that_fails_on_an_event_is_logged_as_a_failed_attempt() {
    let server = MockServer::start().await;
    respond(&server, 200, None).await;
    let clock = ManualClock::new();
    let dispatcher = dispatcher(&clock, RetrySchedule::default(), AutoDisable::default());
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(endpoint("ops", &server).transform(json!({ "x": "{{ trigger.data.missing.deep }}" })))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    dispatcher
        .send("a.b", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (attempts, error) = event(&mut events, failed).await;
    assert_eq!(attempts, 1);
    assert!(error.contains("ops"), "{error}");
    let log = dispatcher
        .log("ops", &PageRequest::first(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((log.items.len(), log.items[0].status), (1, None));
    assert!(requests(&server).await.is_empty());
    dispatcher.shutdown().await;
}
