//! Concurrency, retries, timeouts, error policies and limits.

use super::*;

fn barrier_app(barrier: Arc<tokio::sync::Barrier>) -> impl App {
    struct Meet(Arc<tokio::sync::Barrier>);
    #[async_trait::async_trait]
    impl App for Meet {
        fn manifest(&self) -> AppManifest {
            AppManifest::new("meet", "Meet", aura_core::semver::Version::new(1, 0, 0))
        }
        fn actions(&self) -> Vec<ActionDef> {
            let b = self.0.clone();
            vec![ActionDef::from_json("meet", json!(true), json!(true), move |_cx, v| {
                let b = b.clone();
                async move {
                    b.wait().await;
                    Ok(v)
                }
            })]
        }
    }
    Meet(barrier)
}

#[tokio::test]
async fn independent_branches_really_overlap() {
    // Each branch waits at a barrier for the other: if they ran one after the other, neither
    // would ever get past it.
    let h = Harness::new();
    h.registry()
        .register(barrier_app(Arc::new(tokio::sync::Barrier::new(2))))
        .unwrap();
    let s = linear(
        "parallel",
        vec![
            NodeBuilder::trigger("t").next(["left", "right"]),
            NodeBuilder::action("left", "meet.meet").input(json!("l")),
            NodeBuilder::action("right", "meet.meet").input(json!("r")),
        ],
    );
    let r = tokio::time::timeout(Duration::from_secs(30), run(&h, s, json!({})))
        .await
        .expect("the branches deadlocked");
    assert_eq!(r.output, Some(json!({ "left": "l", "right": "r" })));
}

async fn retry_delays(h: &Harness, s: Scenario) -> (ExecutionRecord, Vec<Duration>) {
    let plan = h.engine().deploy(s).await.unwrap();
    let mut handle = h.engine().start(&plan, json!({})).await.unwrap();
    let mut events = handle.events();
    let mut delays = Vec::new();
    while let Some(e) = events.next().await {
        if let EventKind::NodeRetrying { delay, .. } = e.kind {
            delays.push(delay);
        }
    }
    (handle.wait().await.unwrap(), delays)
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially_with_jitter() {
    let flaky = MockAction::new("flaky")
        .idempotent(true)
        .fail_times(3, ErrorKind::Unavailable)
        .returns(json!("ok"));
    let h = Harness::new().app(MockApp::new("svc").action(flaky.clone()));
    let retry = RetryPolicy {
        retries: 5,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
    };
    let s = linear(
        "retry",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.flaky").retry(retry),
        ],
    );
    let (r, delays) = retry_delays(&h, s).await;
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(r.node("call").unwrap().attempts, 4);
    assert_eq!(flaky.call_count(), 4);
    assert_eq!(delays.len(), 3);
    // base × 2^n, plus up to one more such step of jitter.
    for (n, d) in delays.iter().enumerate() {
        let floor = Duration::from_secs(1 << n);
        assert!(*d >= floor && *d <= floor * 2, "retry {n} waited {d:?}");
    }
    let attempts: Vec<u32> = flaky.calls().iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    // Every attempt carries the same idempotency key.
    let keys: std::collections::BTreeSet<_> = flaky.calls().iter().map(|c| c.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retries_honour_retry_after_and_stop_at_the_limit() {
    let limited = MockAction::new("limited").fail_times(10, Failure::rate_limited(Some(Duration::from_secs(30))));
    let h = Harness::new().app(MockApp::new("svc").action(limited.clone()));
    let s = linear(
        "ra",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.limited").retry(RetryPolicy::new(2)),
        ],
    );
    let (r, delays) = retry_delays(&h, s).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(limited.call_count(), 3);
    assert!(delays.iter().all(|d| *d >= Duration::from_secs(30)), "{delays:?}");
    assert_eq!(r.node("call").unwrap().error.as_ref().unwrap().kind, "rate_limited");
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_and_maybe_accepted_writes_are_not_retried() {
    let bad = MockAction::new("bad").fail_times(5, ErrorKind::InvalidInput);
    let write = MockAction::new("write")
        .idempotent(false)
        .fail_times(5, ErrorKind::Timeout);
    let h = Harness::new().app(MockApp::new("svc").action(bad.clone()).action(write.clone()));
    let s = linear(
        "p",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.bad").retry(RetryPolicy::new(3)),
        ],
    );
    assert_eq!(run(&h, s, json!({})).await.status, ExecutionStatus::Failed);
    assert_eq!(bad.call_count(), 1);
    let s = linear(
        "w",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.write").retry(RetryPolicy::new(3)),
        ],
    );
    assert_eq!(run(&h, s, json!({})).await.status, ExecutionStatus::Failed);
    assert_eq!(
        write.call_count(),
        1,
        "a timed-out write may have been accepted: no blind retry"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_timeout_fails_the_attempt() {
    let slow = MockAction::new("slow").latency(Duration::from_secs(120));
    let h = Harness::new().app(MockApp::new("svc").action(slow));
    let s = linear(
        "to",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.slow").timeout(Duration::from_secs(5)),
        ],
    );
    let r = run(&h, s, json!({})).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(r.node("call").unwrap().error.as_ref().unwrap().kind, "timeout");
}

#[tokio::test(start_paused = true)]
async fn the_max_duration_fails_the_execution() {
    let h = Harness::new();
    let s = Scenario::builder("long", "Long")
        .max_duration(Duration::from_secs(10))
        .node(NodeBuilder::trigger("t").next(["wait"]))
        .node(NodeBuilder::delay("wait", Duration::from_secs(3600)))
        .build();
    let r = run(&h, s, json!({})).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(r.error.unwrap().kind, "timeout");
}

fn policy_scenario(on_error: OnError) -> Scenario {
    let routed = matches!(on_error, OnError::Route(_));
    let mut nodes = vec![
        NodeBuilder::trigger("t").next(["fail"]),
        NodeBuilder::action("fail", "svc.fail")
            .on_error(on_error)
            .next(["after"]),
        NodeBuilder::set(
            "after",
            json!({ "saw": "{{ steps.fail.output.error.kind | default('nothing') }}" }),
        ),
    ];
    if routed {
        nodes.push(NodeBuilder::set(
            "handler",
            json!({ "handled": "{{ steps.fail.output.error.kind }}" }),
        ));
    }
    linear("policy", nodes)
}

#[tokio::test]
async fn error_policy_stop_continue_and_route() {
    let h =
        Harness::new().app(MockApp::new("svc").action(MockAction::new("fail").fail_times(100, Failure::upstream(400))));

    let r = run(&h, policy_scenario(OnError::Stop), json!({})).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    assert_eq!(status(&r, "fail"), Some(NodeStatus::Failed));
    assert_eq!(status(&r, "after"), None, "nothing runs after a stop");
    let err = r.error.unwrap();
    assert_eq!(err.kind, "upstream");
    assert!(err.context.iter().any(|(k, v)| k == "node" && v == "fail"));

    let r = run(&h, policy_scenario(OnError::Continue), json!({})).await;
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(status(&r, "fail"), Some(NodeStatus::Failed));
    assert_eq!(
        r.node("after").unwrap().output.as_deref(),
        Some(&json!({ "saw": "upstream" }))
    );

    let r = run(&h, policy_scenario(OnError::Route(vec!["handler".into()])), json!({})).await;
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(status(&r, "after"), Some(NodeStatus::Skipped));
    assert_eq!(
        r.node("handler").unwrap().output.as_deref(),
        Some(&json!({ "handled": "upstream" }))
    );
}

#[tokio::test]
async fn the_error_scenario_gets_the_failed_execution() {
    let h =
        Harness::new().app(MockApp::new("svc").action(MockAction::new("fail").fail_times(100, ErrorKind::Forbidden)));
    let alerts = MockAction::new("alert");
    let h = h.app(MockApp::new("ops").action(alerts.clone()));
    h.engine()
        .deploy(linear(
            "on_error",
            vec![
                NodeBuilder::trigger("t").next(["alert"]),
                NodeBuilder::action("alert", "ops.alert")
                    .input(json!({ "failed": "{{ trigger.failed_node }}", "kind": "{{ trigger.error.kind }}" })),
            ],
        ))
        .await
        .unwrap();
    let s = Scenario::builder("main", "Main")
        .error_scenario("on_error")
        .node(NodeBuilder::trigger("t").next(["fail"]))
        .node(NodeBuilder::action("fail", "svc.fail"))
        .build();
    let r = run(&h, s, json!({})).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    for _ in 0..200 {
        if alerts.call_count() > 0 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        alerts.calls()[0].input,
        json!({ "failed": "fail", "kind": "forbidden" })
    );
}

#[tokio::test]
async fn the_per_connection_rate_limit_holds_calls_back() {
    let api = MockAction::new("call").returns(json!("ok"));
    let registry = Arc::new(aura_core::Registry::new());
    registry
        .register(
            MockApp::new("svc")
                .auth(aura_core::app::AuthMethod::Bearer)
                .action(api.clone()),
        )
        .unwrap();
    let connections = Arc::new(aura_core::connection::Connections::new());
    connections.insert_record(
        aura_core::ConnectionRecord::new("svc", "main", Credentials::bearer("t0k3n-abc")).with_id("main"),
    );
    // One call per hour on this connection.
    let engine = Engine::builder(registry)
        .connections(connections)
        .rate_limit("main", RateLimit::new(1, Duration::from_secs(3600)))
        .build();
    let s = linear(
        "rl",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.call").connection("main"),
        ],
    );
    let plan = engine.deploy(s).await.unwrap();
    let first = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(first.status, ExecutionStatus::Completed);
    let second = engine.start(&plan, json!({})).await.unwrap();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(api.call_count(), 1, "the second call must wait for the bucket");
    second.cancel();
    assert_eq!(second.wait().await.unwrap().status, ExecutionStatus::Cancelled);
}

/// Two engines (two workers) sharing their rate limits through one store: the second call on
/// the connection waits, though it is the second engine's first.
#[tokio::test]
async fn a_shared_rate_limit_holds_across_engines() {
    let api = MockAction::new("call").returns(json!("ok"));
    let registry = Arc::new(aura_core::Registry::new());
    registry
        .register(
            MockApp::new("svc")
                .auth(aura_core::app::AuthMethod::Bearer)
                .action(api.clone()),
        )
        .unwrap();
    let connections = Arc::new(aura_core::connection::Connections::new());
    connections.insert_record(
        aura_core::ConnectionRecord::new("svc", "main", Credentials::bearer("t0k3n-abc")).with_id("main"),
    );
    let shared = Arc::new(aura_core::store::MemoryStore::new());
    let engine = |shared: Option<Arc<aura_core::store::MemoryStore>>| {
        let builder = Engine::builder(registry.clone())
            .connections(connections.clone())
            .rate_limit("main", RateLimit::new(1, Duration::from_secs(3600)));
        match shared {
            Some(store) => builder.shared_rate_limits(store),
            None => builder,
        }
        .build()
    };
    let s = || {
        linear(
            "rl",
            vec![
                NodeBuilder::trigger("t").next(["call"]),
                NodeBuilder::action("call", "svc.call").connection("main"),
            ],
        )
    };
    let (first, second) = (engine(Some(shared.clone())), engine(Some(shared)));
    let plan = first.deploy(s()).await.unwrap();
    assert_eq!(
        first.execute(&plan, json!({})).await.unwrap().status,
        ExecutionStatus::Completed
    );
    let plan = second.deploy(s()).await.unwrap();
    let waiting = second.start(&plan, json!({})).await.unwrap();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        api.call_count(),
        1,
        "the second engine's call waits for the shared limit"
    );
    waiting.cancel();
    assert_eq!(waiting.wait().await.unwrap().status, ExecutionStatus::Cancelled);

    // Without sharing, an engine of its own limits only its own calls: it calls at once.
    let alone = engine(None);
    let plan = alone.deploy(s()).await.unwrap();
    assert_eq!(
        alone.execute(&plan, json!({})).await.unwrap().status,
        ExecutionStatus::Completed
    );
    assert_eq!(api.call_count(), 2);
}

#[tokio::test]
async fn max_concurrent_executions_wait_in_order() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    struct Gated(Arc<tokio::sync::Semaphore>, Arc<std::sync::Mutex<Vec<i64>>>);
    #[async_trait::async_trait]
    impl App for Gated {
        fn manifest(&self) -> AppManifest {
            AppManifest::new("gated", "Gated", aura_core::semver::Version::new(1, 0, 0))
        }
        fn actions(&self) -> Vec<ActionDef> {
            let (gate, order) = (self.0.clone(), self.1.clone());
            vec![ActionDef::from_json(
                "work",
                json!(true),
                json!(true),
                move |_cx, v: Value| {
                    let (gate, order) = (gate.clone(), order.clone());
                    async move {
                        order.lock().unwrap().push(v["n"].as_i64().unwrap_or(-1));
                        gate.acquire()
                            .await
                            .map_err(|_| aura_core::Error::internal("closed"))?
                            .forget();
                        Ok(v)
                    }
                },
            )]
        }
    }
    let h = Harness::new();
    h.registry().register(Gated(gate.clone(), order.clone())).unwrap();
    let s = Scenario::builder("one_at_a_time", "One at a time")
        .max_concurrent(1)
        .node(NodeBuilder::trigger("t").next(["work"]))
        .node(NodeBuilder::action("work", "gated.work"))
        .build();
    let plan = h.engine().deploy(s).await.unwrap();
    let mut handles = Vec::new();
    for n in 0..3 {
        handles.push(h.engine().start(&plan, json!({ "n": n })).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(*order.lock().unwrap(), [0], "only one execution may run");
    gate.add_permits(3);
    for handle in handles {
        assert_eq!(handle.wait().await.unwrap().status, ExecutionStatus::Completed);
    }
    assert_eq!(
        *order.lock().unwrap(),
        [0, 1, 2],
        "waiting executions run in arrival order"
    );
}

#[tokio::test]
async fn cancellation_stops_in_flight_nodes() {
    let h = Harness::new().app(MockApp::new("svc").action(MockAction::new("hang").latency(Duration::from_secs(3600))));
    let s = linear(
        "c",
        vec![
            NodeBuilder::trigger("t").next(["hang"]),
            NodeBuilder::action("hang", "svc.hang").next(["after"]),
            NodeBuilder::set("after", json!(1)),
        ],
    );
    let plan = h.engine().deploy(s).await.unwrap();
    let handle = h.engine().start(&plan, json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    handle.cancel();
    let r = tokio::time::timeout(Duration::from_secs(30), handle.wait())
        .await
        .expect("cancel was not prompt")
        .unwrap();
    assert_eq!(r.status, ExecutionStatus::Cancelled);
    assert_eq!(status(&r, "after"), None);
    let stored = h.engine().store().get(r.id).await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Cancelled);
}

#[tokio::test]
async fn cacheable_actions_reuse_results() {
    let lookup = MockAction::new("lookup")
        .cacheable(Duration::from_secs(600))
        .respond_with(|input, n| Ok(json!({ "for": input, "call": n })));
    let h = Harness::new().app(MockApp::new("geo").action(lookup.clone()));
    let s = || {
        linear(
            "cache",
            vec![
                NodeBuilder::trigger("t").next(["find"]),
                NodeBuilder::action("find", "geo.lookup").input(json!({ "ip": "{{ trigger.ip }}" })),
            ],
        )
    };
    let a = run(&h, s(), json!({ "ip": "10.0.0.1" })).await;
    let b = run(&h, s(), json!({ "ip": "10.0.0.1" })).await;
    let c = run(&h, s(), json!({ "ip": "10.0.0.2" })).await;
    assert_eq!(a.output, b.output);
    assert_ne!(a.output, c.output);
    assert_eq!(lookup.call_count(), 2);
}
