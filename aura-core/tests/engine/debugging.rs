//! Testing and debugging: pinned data, breakpoints, re-runs, resumes.

use super::*;

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
