//! Records and events: what is kept, redacted and emitted.

use super::*;

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
