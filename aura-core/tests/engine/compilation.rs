//! What compiling a scenario checks, through the engine.

use super::*;

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
