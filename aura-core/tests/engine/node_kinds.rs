//! Every node kind: what each one does with its input and where it leads.

use super::*;

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
