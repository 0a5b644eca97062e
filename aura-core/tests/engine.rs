//! The executor's behaviour: every node kind, parallelism, retries, timeouts, error policies,
//! limits, cancellation, pinned data, breakpoints, re-runs, resumes and redaction.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::app::RateLimit;
use aura_core::connection::Credentials;
use aura_core::engine::{Engine, EventKind, ExecuteOptions};
use aura_core::scenario::{NodeBuilder, OnError, RetryPolicy, Scenario};
use aura_core::store::{ExecutionRecord, ExecutionStatus, NodeResult, NodeStatus};
use aura_core::{ActionDef, App, AppManifest, Context, ErrorKind};
use aura_testkit::{Failure, Harness, MockAction, MockApp};
use serde_json::{Value, json};

fn linear(id: &str, nodes: Vec<NodeBuilder>) -> Scenario {
    Scenario::builder(id, id).nodes(nodes).build()
}

async fn run(h: &Harness, scenario: Scenario, trigger: Value) -> ExecutionRecord {
    h.run(scenario, trigger).await.unwrap().record
}

fn status(r: &ExecutionRecord, node: &str) -> Option<NodeStatus> {
    r.node(node).map(|n| n.status)
}

// ---------------------------------------------------------------------------------------------
// Node kinds
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn action_and_set_nodes_map_their_inputs() {
    let create = MockAction::new("create").respond_with(|input, _| Ok(json!({ "id": 42, "email": input["email"] })));
    let h = Harness::new().app(MockApp::new("crm").action(create.clone()));
    let s = linear(
        "s",
        vec![
            NodeBuilder::trigger("t").next(["create"]),
            NodeBuilder::action("create", "crm.create")
                .input(json!({ "email": "{{ trigger.email | lower }}", "tags": "{{ trigger.tags }}" }))
                .next(["shape"]),
            NodeBuilder::set(
                "shape",
                json!({ "contact": "{{ steps.create.output.id }}", "greeting": "Hi {{ trigger.name }}" }),
            ),
        ],
    );
    let r = run(
        &h,
        s,
        json!({ "email": "ADA@X.TEST", "name": "Ada", "tags": ["a", "b"] }),
    )
    .await;
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(
        create.calls()[0].input,
        json!({ "email": "ada@x.test", "tags": ["a", "b"] })
    );
    assert_eq!(
        r.node("shape").unwrap().output.as_deref(),
        Some(&json!({ "contact": 42, "greeting": "Hi Ada" }))
    );
    assert_eq!(r.output, Some(json!({ "contact": 42, "greeting": "Hi Ada" })));
}

#[tokio::test]
async fn if_routes_and_the_other_branch_is_skipped() {
    let h = Harness::new();
    let s = || {
        linear(
            "if",
            vec![
                NodeBuilder::trigger("t").next(["check"]),
                NodeBuilder::if_("check", "trigger.score >= 50")
                    .route("true", ["hot"])
                    .route("false", ["cold"]),
                NodeBuilder::set("hot", json!("hot")).next(["after_hot"]),
                NodeBuilder::set("after_hot", json!("after")),
                NodeBuilder::set("cold", json!("cold")),
            ],
        )
    };
    let r = run(&h, s(), json!({ "score": 80 })).await;
    assert_eq!(
        (status(&r, "hot"), status(&r, "after_hot"), status(&r, "cold")),
        (
            Some(NodeStatus::Completed),
            Some(NodeStatus::Completed),
            Some(NodeStatus::Skipped)
        )
    );
    assert_eq!(r.node("check").unwrap().route.as_deref(), Some("true"));
    let r = run(&h, s(), json!({ "score": 10 })).await;
    assert_eq!(
        (status(&r, "hot"), status(&r, "after_hot"), status(&r, "cold")),
        (
            Some(NodeStatus::Skipped),
            Some(NodeStatus::Skipped),
            Some(NodeStatus::Completed)
        )
    );
}

#[tokio::test]
async fn switch_takes_the_first_matching_case_or_default() {
    let h = Harness::new();
    let s = || {
        linear(
            "switch",
            vec![
                NodeBuilder::trigger("t").next(["route"]),
                NodeBuilder::switch(
                    "route",
                    [
                        ("eu", "trigger.country in ['FR', 'DE']"),
                        ("us", "trigger.country == 'US'"),
                    ],
                )
                .route("eu", ["eu"])
                .route("us", ["us"])
                .route("default", ["other"]),
                NodeBuilder::set("eu", json!("eu")),
                NodeBuilder::set("us", json!("us")),
                NodeBuilder::set("other", json!("other")),
            ],
        )
    };
    for (country, expected) in [("DE", "eu"), ("US", "us"), ("JP", "other")] {
        let r = run(&h, s(), json!({ "country": country })).await;
        assert_eq!(r.output, Some(json!(expected)), "{country}");
        assert_eq!(
            r.node("route").unwrap().route.as_deref(),
            Some(if expected == "other" { "default" } else { expected })
        );
    }
}

#[tokio::test]
async fn filter_ends_its_branch() {
    let h = Harness::new();
    let s = || {
        linear(
            "filter",
            vec![
                NodeBuilder::trigger("t").next(["only_approved"]),
                NodeBuilder::filter("only_approved", "input.status == 'Approved'").next(["publish"]),
                NodeBuilder::set("publish", json!({ "published": "{{ trigger.id }}" })),
            ],
        )
    };
    let r = run(&h, s(), json!({ "id": 1, "status": "Approved" })).await;
    assert_eq!(status(&r, "publish"), Some(NodeStatus::Completed));
    let r = run(&h, s(), json!({ "id": 2, "status": "Draft" })).await;
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(status(&r, "publish"), Some(NodeStatus::Skipped));
}

#[tokio::test]
async fn iterate_runs_the_body_per_element_and_aggregate_collects_in_order() {
    let enrich = MockAction::new("enrich").respond_with(|input, _| Ok(json!({ "email": input["email"], "ok": true })));
    let h = Harness::new().app(MockApp::new("crm").action(enrich.clone()));
    let s = linear(
        "iter",
        vec![
            NodeBuilder::trigger("t").next(["each"]),
            NodeBuilder::iterate("each", 3)
                .input(json!("{{ trigger.leads }}"))
                .next(["keep"]),
            NodeBuilder::filter("keep", "item.score > 10").next(["enrich"]),
            NodeBuilder::action("enrich", "crm.enrich")
                .input(json!({ "email": "{{ item.email }}", "n": "{{ index }}" }))
                .next(["all"]),
            NodeBuilder::aggregate("all", "each")
                .input(json!({ "email": "{{ steps.enrich.output.email }}", "i": "{{ index }}" }))
                .next(["count"]),
            NodeBuilder::set("count", json!({ "n": "{{ steps.all.output | length }}" })),
        ],
    );
    let leads: Vec<Value> = (0..6)
        .map(|i| json!({ "email": format!("l{i}@x.test"), "score": i * 5 }))
        .collect();
    let r = run(&h, s, json!({ "leads": leads })).await;
    assert_eq!(r.status, ExecutionStatus::Completed, "{:?}", r.error);
    // Scores 0, 5, 10 are filtered out; 15, 20, 25 are kept, in order.
    assert_eq!(
        r.node("all").unwrap().output.as_deref(),
        Some(
            &json!([{ "email": "l3@x.test", "i": 3 }, { "email": "l4@x.test", "i": 4 }, { "email": "l5@x.test", "i": 5 }])
        )
    );
    assert_eq!(r.output, Some(json!({ "n": 3 })));
    assert_eq!(enrich.call_count(), 3);
    assert_eq!(r.node_runs("keep").count(), 6);
    assert_eq!(
        r.node_runs("enrich")
            .filter(|n| n.status == NodeStatus::Skipped)
            .count(),
        3
    );
}

#[tokio::test]
async fn the_idempotency_key_is_execution_node_and_item() {
    let call = MockAction::new("call");
    let each = MockAction::new("each");
    let h = Harness::new().app(MockApp::new("svc").action(call.clone()).action(each.clone()));
    let s = linear(
        "keys",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.call").next(["loop"]),
            NodeBuilder::iterate("loop", 1)
                .input(json!("{{ trigger.items }}"))
                .next(["el"]),
            NodeBuilder::action("el", "svc.each"),
        ],
    );
    let r = run(&h, s, json!({ "items": [1, 2] })).await;
    assert_eq!(r.status, ExecutionStatus::Completed, "{:?}", r.error);
    let id = r.id;
    assert_eq!(call.calls()[0].idempotency_key.as_deref(), Some(&*format!("{id}/call")));
    let keys: Vec<_> = each
        .calls()
        .iter()
        .map(|c| c.idempotency_key.clone().unwrap())
        .collect();
    assert_eq!(keys, [format!("{id}/el/0"), format!("{id}/el/1")]);
}

#[tokio::test]
async fn an_element_a_filter_drops_right_before_the_aggregate_is_not_aggregated() {
    let h = Harness::new();
    let s = linear(
        "iter_filter_last",
        vec![
            NodeBuilder::trigger("t").next(["each"]),
            NodeBuilder::iterate("each", 2)
                .input(json!("{{ trigger.numbers }}"))
                .next(["odd"]),
            NodeBuilder::filter("odd", "item % 2 == 1").next(["all"]),
            NodeBuilder::aggregate("all", "each"),
        ],
    );
    let r = run(&h, s, json!({ "numbers": [1, 2, 3] })).await;
    assert_eq!(r.status, ExecutionStatus::Completed, "{:?}", r.error);
    assert_eq!(r.node("all").unwrap().output.as_deref(), Some(&json!([1, 3])));
}

#[tokio::test]
async fn iterate_over_something_else_than_an_array_fails_clearly() {
    let h = Harness::new();
    let s = linear(
        "iter_bad",
        vec![
            NodeBuilder::trigger("t").next(["each"]),
            NodeBuilder::iterate("each", 1)
                .input(json!("{{ trigger.n }}"))
                .next(["x"]),
            NodeBuilder::set("x", json!(1)),
        ],
    );
    let r = run(&h, s, json!({ "n": 5 })).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    let e = r.error.unwrap();
    assert!(e.message.contains("array"), "{e:?}");
    assert!(e.context.iter().any(|(k, v)| k == "node" && v == "each"));
}

#[tokio::test]
async fn merge_waits_for_every_branch_and_has_each_output() {
    let h = Harness::new();
    let s = linear(
        "merge",
        vec![
            NodeBuilder::trigger("t").next(["a", "b"]),
            NodeBuilder::set("a", json!({ "from": "a" })).next(["both"]),
            NodeBuilder::set("b", json!({ "from": "b" })).next(["both"]),
            NodeBuilder::merge("both"),
        ],
    );
    let r = run(&h, s, json!({})).await;
    assert_eq!(r.output, Some(json!({ "a": { "from": "a" }, "b": { "from": "b" } })));
}

#[tokio::test]
async fn sub_scenarios_run_and_return_their_output() {
    let h = Harness::new();
    let child = linear(
        "child",
        vec![
            NodeBuilder::trigger("t").next(["double"]),
            NodeBuilder::set("double", json!({ "doubled": "{{ trigger.n * 2 }}" })),
        ],
    );
    h.engine().deploy(child).await.unwrap();
    let parent = linear(
        "parent",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::sub_scenario("call", "child")
                .input(json!({ "n": "{{ trigger.n }}" }))
                .next(["use"]),
            NodeBuilder::set("use", json!("{{ steps.call.output.doubled + 1 }}")),
        ],
    );
    let r = run(&h, parent, json!({ "n": 20 })).await;
    assert_eq!(r.output, Some(json!(41)));

    let missing = linear(
        "p2",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::sub_scenario("call", "nope"),
        ],
    );
    // A sub-scenario that is not deployed is refused at deploy (see tests/compile_references.rs).
    let err = h.run(missing, json!({})).await.unwrap_err();
    assert_eq!(err.kind(), aura_core::ErrorKind::InvalidDefinition);
}

#[tokio::test(start_paused = true)]
async fn delay_waits_on_tokio_time() {
    let h = Harness::new();
    let s = Scenario::builder("delay", "Delay")
        .max_duration(Duration::from_secs(7200))
        .node(NodeBuilder::trigger("t").next(["wait"]))
        .node(NodeBuilder::delay("wait", Duration::from_secs(3600)))
        .build();
    let started = tokio::time::Instant::now();
    let r = run(&h, s, json!({ "x": 1 })).await;
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert!(started.elapsed() >= Duration::from_secs(3600));
    assert_eq!(r.output, Some(json!({ "x": 1 })));
}

#[tokio::test]
async fn respond_answers_the_webhook_caller_before_the_end() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let slow = {
        let gate = gate.clone();
        ActionDef::from_json("slow", json!(true), json!(true), move |_cx, v| {
            let gate = gate.clone();
            async move {
                gate.notified().await;
                Ok(v)
            }
        })
    };
    struct Slow(std::sync::Mutex<Option<ActionDef>>);
    #[async_trait::async_trait]
    impl App for Slow {
        fn manifest(&self) -> AppManifest {
            AppManifest::new("slow", "Slow", aura_core::semver::Version::new(1, 0, 0))
        }
        fn actions(&self) -> Vec<ActionDef> {
            self.0.lock().unwrap().take().into_iter().collect()
        }
    }
    let h = Harness::new();
    h.registry().register(Slow(std::sync::Mutex::new(Some(slow)))).unwrap();
    let s = linear(
        "hook",
        vec![
            NodeBuilder::trigger("t").next(["ack"]),
            NodeBuilder::respond("ack", 202)
                .input(json!({ "received": "{{ trigger.id }}" }))
                .next(["work"]),
            NodeBuilder::action("work", "slow.slow"),
        ],
    );
    let plan = h.engine().deploy(s).await.unwrap();
    let mut handle = h.engine().start(&plan, json!({ "id": "evt_1" })).await.unwrap();
    let response = handle.response().await.unwrap();
    assert_eq!(response.status, 202);
    assert_eq!(*response.body, json!({ "received": "evt_1" }));
    gate.notify_one();
    let r = handle.wait().await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(r.output, Some(json!({ "received": "evt_1" })));
}

// ---------------------------------------------------------------------------------------------
// Concurrency, retries, timeouts, error policies, limits
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn compile_errors_list_every_problem_with_node_ids() {
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Contact {
        email: String,
        name: String,
    }
    let h = Harness::new()
        .app(
            MockApp::new("crm")
                .auth(aura_core::app::AuthMethod::Bearer)
                .action(MockAction::new("create").input::<Contact>()),
        )
        .app(MockApp::new("mail").action(MockAction::new("send")))
        .connection("mail-conn", "mail", Credentials::None);
    let s = linear(
        "broken",
        vec![
            NodeBuilder::trigger("t").next(["create", "ghost"]),
            NodeBuilder::action("create", "crm.create")
                .connection("mail-conn")
                .input(json!({ "emial": "{{ trigger.email }}", "name": "{{ trigger.name" }))
                .next(["loop_a"]),
            NodeBuilder::action("unknown_app", "nope.send"),
            NodeBuilder::action("unknown_action", "mail.fly").next(["loop_a"]),
            NodeBuilder::set("loop_a", json!("{{ steps.loop_b.output }}")).next(["loop_b"]),
            NodeBuilder::set("loop_b", json!(1)).next(["loop_a"]),
            NodeBuilder::if_("branch", "(").route("maybe", ["loop_a"]),
            NodeBuilder::set("reads_later", json!("{{ steps.create_later.output }}")),
        ],
    );
    let err = h.engine().compile(s).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    let paths: Vec<&str> = err.violations().iter().map(|v| v.path.as_str()).collect();
    for expected in [
        "/nodes/t/next/1",           // leads to an unknown node
        "/nodes/create/connection",  // connection of the wrong app
        "/nodes/create/input/emial", // not in the action's input schema
        "/nodes/create/input/email", // required, not mapped
        "/nodes/create/input/name",  // does not parse
        "/nodes/unknown_app/config/action",
        "/nodes/unknown_action/config/action",
        "/nodes/loop_a",      // cycle
        "/nodes/unknown_app", // unreachable
        "/nodes/branch/config/condition",
        "/nodes/branch/routes/maybe", // no such route
        "/nodes/reads_later/input",   // not a node
    ] {
        assert!(paths.contains(&expected), "missing {expected} in {paths:#?}");
    }
    assert!(err.to_string().contains("broken"));
}

#[tokio::test]
async fn a_missing_connection_and_a_non_upstream_reference_are_caught() {
    let h = Harness::new().app(
        MockApp::new("crm")
            .auth(aura_core::app::AuthMethod::Bearer)
            .action(MockAction::new("create")),
    );
    let s = linear(
        "s",
        vec![
            NodeBuilder::trigger("t").next(["a", "b"]),
            NodeBuilder::action("a", "crm.create").input(json!({ "x": "{{ steps.b.output }}" })),
            NodeBuilder::set("b", json!({ "y": "{{ item }}" })),
        ],
    );
    let err = h.engine().compile(s).await.unwrap_err();
    let messages: Vec<String> = err.violations().iter().map(ToString::to_string).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("/nodes/a/connection") && m.contains("needs a connection")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("/nodes/a/input/x") && m.contains("does not run before")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("/nodes/b/input") && m.contains("iterate")),
        "{messages:#?}"
    );
}

#[tokio::test]
async fn a_scenario_needs_exactly_one_trigger() {
    let h = Harness::new();
    let err = h
        .engine()
        .compile(linear("none", vec![NodeBuilder::set("a", json!(1))]))
        .await
        .unwrap_err();
    assert!(err.violations()[0].message.contains("trigger"));
    let err = h
        .engine()
        .compile(linear(
            "two",
            vec![NodeBuilder::trigger("a").next(["b"]), NodeBuilder::trigger("b")],
        ))
        .await
        .unwrap_err();
    assert!(
        err.violations().iter().any(|v| v.path.starts_with("/nodes/b")),
        "{:?}",
        err.violations()
    );
}

// ---------------------------------------------------------------------------------------------
// Test and debug
// ---------------------------------------------------------------------------------------------

fn three_steps() -> Scenario {
    linear(
        "steps",
        vec![
            NodeBuilder::trigger("t").next(["find"]),
            NodeBuilder::action("find", "crm.find")
                .input(json!({ "email": "{{ trigger.email }}" }))
                .next(["update"]),
            NodeBuilder::action("update", "crm.update")
                .input(json!({ "id": "{{ steps.find.output.id }}" }))
                .next(["notify"]),
            NodeBuilder::action("notify", "crm.notify").input(json!({ "id": "{{ steps.update.output.id }}" })),
        ],
    )
}

fn crm() -> (MockApp, MockAction, MockAction, MockAction) {
    let find = MockAction::new("find").returns(json!({ "id": 7 }));
    let update = MockAction::new("update");
    let notify = MockAction::new("notify");
    (
        MockApp::new("crm")
            .action(find.clone())
            .action(update.clone())
            .action(notify.clone()),
        find,
        update,
        notify,
    )
}

#[tokio::test]
async fn pinned_data_replaces_a_node() {
    let (app, find, update, _) = crm();
    let h = Harness::new().app(app);
    let options = ExecuteOptions::new().pin("find", json!({ "id": 99 }));
    let r = h
        .run_with(three_steps(), json!({ "email": "a@x.test" }), options)
        .await
        .unwrap()
        .record;
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(find.call_count(), 0);
    assert!(r.node("find").unwrap().pinned);
    assert_eq!(update.calls()[0].input, json!({ "id": 99 }));
}

#[tokio::test]
async fn step_by_step_stops_after_a_node_and_goes_on() {
    let (app, _, update, notify) = crm();
    let h = Harness::new().app(app);
    let plan = h.engine().deploy(three_steps()).await.unwrap();
    let handle = h
        .engine()
        .start_with(
            &plan,
            json!({ "email": "a@x.test" }),
            ExecuteOptions::new().breakpoint("update"),
        )
        .await
        .unwrap();
    assert_eq!(handle.paused().await.as_deref(), Some("update"));
    let so_far = h.engine().store().get(handle.id()).await.unwrap().unwrap();
    assert_eq!(so_far.node("update").unwrap().status, NodeStatus::Completed);
    assert_eq!(
        so_far.node("update").unwrap().output.as_deref(),
        Some(&json!({ "id": 7 }))
    );
    assert!(so_far.node("notify").is_none());
    assert_eq!((update.call_count(), notify.call_count()), (1, 0));
    handle.continue_run();
    let r = handle.wait().await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(notify.call_count(), 1);
}

#[tokio::test]
async fn a_failed_execution_reruns_from_the_failed_node() {
    let find = MockAction::new("find").returns(json!({ "id": 7 }));
    let update = MockAction::new("update").fail_on_call(1, Failure::upstream(400));
    let notify = MockAction::new("notify");
    let h = Harness::new().app(
        MockApp::new("crm")
            .action(find.clone())
            .action(update.clone())
            .action(notify.clone()),
    );
    let first = run(&h, three_steps(), json!({ "email": "a@x.test" })).await;
    assert_eq!(first.status, ExecutionStatus::Failed);
    assert_eq!(status(&first, "update"), Some(NodeStatus::Failed));

    let again = h.engine().rerun(first.id).await.unwrap().wait().await.unwrap();
    assert_eq!(again.status, ExecutionStatus::Completed);
    assert_eq!(again.rerun_of, Some(first.id));
    assert_ne!(again.id, first.id);
    assert_eq!(find.call_count(), 1, "completed nodes are not called again");
    assert!(again.node("find").unwrap().pinned);
    assert_eq!(update.call_count(), 2);
    assert_eq!(update.calls()[1].input, json!({ "id": 7 }));
    assert_eq!(notify.call_count(), 1);
}

#[tokio::test]
async fn an_interrupted_execution_resumes_from_its_last_completed_node() {
    let (app, find, update, notify) = crm();
    let h = Harness::new().app(app);
    h.engine().deploy(three_steps()).await.unwrap();
    // What a durable store holds after a crash right after `find` completed.
    let id = uuid::Uuid::now_v7();
    let done = |node: &str, output: Value| NodeResult {
        node_id: node.into(),
        item: None,
        status: NodeStatus::Completed,
        input: Arc::new(json!({})),
        output: Some(Arc::new(output)),
        output_cleaned: false,
        error: None,
        attempts: 1,
        route: None,
        pinned: false,
        started_at: Some(chrono::Utc::now()),
        ended_at: Some(chrono::Utc::now()),
    };
    let record = ExecutionRecord {
        id,
        scenario_id: "steps".into(),
        scenario_version: 1,
        trigger: Arc::new(json!({ "email": "a@x.test" })),
        trigger_cleaned: false,
        status: ExecutionStatus::Running,
        started_at: chrono::Utc::now(),
        ended_at: None,
        nodes: vec![
            done("t", json!({ "email": "a@x.test" })),
            done("find", json!({ "id": 5 })),
        ],
        output: None,
        error: None,
        rerun_of: None,
    };
    h.engine().store().create(&record).await.unwrap();
    assert_eq!(h.engine().store().unfinished().await.unwrap().len(), 1);

    let resumed = h.engine().recover_all().await.unwrap();
    assert_eq!(resumed.len(), 1);
    let r = resumed.into_iter().next().unwrap().wait().await.unwrap();
    assert_eq!(r.id, id);
    assert_eq!(r.status, ExecutionStatus::Completed);
    assert_eq!(find.call_count(), 0);
    assert_eq!(update.calls()[0].input, json!({ "id": 5 }));
    assert_eq!(notify.call_count(), 1);
    assert!(h.engine().store().unfinished().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Records and events
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn records_redact_secrets_and_truncate_big_payloads() {
    const SECRET: &str = "sk_live_CANARY_9f8e7d";
    let leaky = MockAction::new("leaky")
        .respond_with(|_, _| Ok(json!({ "echo": format!("used {SECRET}"), "password": "hunter2", "ok": true })));
    let h = Harness::new()
        .app(
            MockApp::new("svc")
                .auth(aura_core::app::AuthMethod::Bearer)
                .action(leaky),
        )
        .connection("svc-main", "svc", Credentials::bearer(SECRET));
    let s = linear(
        "redact",
        vec![
            NodeBuilder::trigger("t").next(["call"]),
            NodeBuilder::action("call", "svc.leaky")
                .connection("svc-main")
                .input(json!({ "note": "{{ trigger.note }}", "big": "{{ trigger.big }}" })),
        ],
    );
    let r = run(
        &h,
        s,
        json!({ "note": format!("token {SECRET}"), "big": "x".repeat(300_000) }),
    )
    .await;
    assert_eq!(r.status, ExecutionStatus::Completed);
    let stored = serde_json::to_string(&h.engine().store().get(r.id).await.unwrap().unwrap()).unwrap();
    assert!(!stored.contains(SECRET), "the secret reached the stored record");
    assert!(!stored.contains("hunter2"));
    assert_eq!(
        r.node("call").unwrap().output.as_ref().unwrap()["password"],
        "[redacted]"
    );
    assert_eq!(r.node("call").unwrap().input["$truncated"], true);
    assert_eq!(r.trigger["$truncated"], true);
}

#[tokio::test]
async fn events_tell_the_story_in_order() {
    let h = Harness::new();
    let s = linear(
        "ev",
        vec![
            NodeBuilder::trigger("t").next(["a"]),
            NodeBuilder::filter("a", "false").next(["b"]),
            NodeBuilder::set("b", json!(1)),
        ],
    );
    let plan = h.engine().deploy(s).await.unwrap();
    let mut handle = h.engine().start(&plan, json!({})).await.unwrap();
    let mut events = handle.events();
    let mut story = Vec::new();
    while let Some(e) = events.next().await {
        story.push(match e.kind {
            EventKind::Started => "started".to_owned(),
            EventKind::NodeStarted { node, .. } => format!("start {node}"),
            EventKind::NodeCompleted { node, .. } => format!("done {node}"),
            EventKind::NodeSkipped { node } => format!("skip {node}"),
            EventKind::Finished { status } => format!("finished {status:?}"),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(
        story,
        [
            "started",
            "start t",
            "done t",
            "start a",
            "done a",
            "skip b",
            "finished Completed"
        ]
    );
    handle.wait().await.unwrap();
}

#[tokio::test]
async fn many_executions_run_at_once() {
    let h = Harness::new().app(MockApp::new("svc").action(MockAction::new("echo").latency(Duration::from_millis(20))));
    let s = linear(
        "many",
        vec![
            NodeBuilder::trigger("t").next(["echo"]),
            NodeBuilder::action("echo", "svc.echo").input(json!("{{ trigger.n }}")),
        ],
    );
    let plan = h.engine().deploy(s).await.unwrap();
    let mut handles = Vec::new();
    for n in 0..500 {
        handles.push(h.engine().start(&plan, json!({ "n": n })).await.unwrap());
    }
    for (n, handle) in handles.into_iter().enumerate() {
        let r = handle.wait().await.unwrap();
        assert_eq!(r.output, Some(json!(n)));
    }
    assert_eq!(
        h.engine()
            .store()
            .list("many", aura_core::store::PageRequest::first(1000))
            .await
            .unwrap()
            .items
            .len(),
        500
    );
}

#[tokio::test]
async fn invalid_action_input_fails_the_node_with_paths() {
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Contact {
        email: String,
    }
    let h = Harness::new().app(MockApp::new("crm").action(MockAction::new("create").input::<Contact>()));
    let s = linear(
        "v",
        vec![
            NodeBuilder::trigger("t").next(["create"]),
            NodeBuilder::action("create", "crm.create").input(json!({ "email": "{{ trigger.n }}" })),
        ],
    );
    let r = run(&h, s, json!({ "n": 5 })).await;
    assert_eq!(r.status, ExecutionStatus::Failed);
    let e = r.node("create").unwrap().error.clone().unwrap();
    assert_eq!(e.kind, "invalid_input");
    assert_eq!(e.violations[0].path, "/email");
    // Context reached the action: execution id, node id.
    let _ = Context::new();
}
