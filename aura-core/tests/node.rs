//! User-defined node kinds: deserialized from a scenario's JSON into `Box<dyn Node>`, prepared
//! against the registry, run with routes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::borrow::Cow;

use aura_core::node::{Node, NodeOutput, PrepareContext, Route};
use aura_core::{Action, Context, Error, ErrorKind, Registry, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A branching node: routes on a numeric threshold.
#[derive(Debug, Serialize, Deserialize)]
struct Threshold {
    field: String,
    at_least: f64,
}

#[typetag::serde(name = "test_threshold")]
#[async_trait::async_trait]
impl Node for Threshold {
    fn routes(&self) -> Cow<'static, [Cow<'static, str>]> {
        Cow::Borrowed(&[Cow::Borrowed("hot"), Cow::Borrowed("cold")])
    }

    async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
        let value = input[&self.field].as_f64().ok_or_else(|| {
            Error::invalid_input(
                "not a number",
                vec![aura_core::Violation::new(
                    format!("/{}", self.field),
                    "must be a number",
                )],
            )
        })?;
        let route = if value >= self.at_least { "hot" } else { "cold" };
        Ok(NodeOutput::branch(input, route))
    }
}

/// A node that resolves an action when prepared and calls it when run.
#[derive(Debug, Serialize, Deserialize)]
struct CallAction {
    action: String,
    #[serde(skip)]
    resolved: Option<Action>,
}

#[typetag::serde(name = "test_call_action")]
#[async_trait::async_trait]
impl Node for CallAction {
    async fn prepare(&mut self, cx: &PrepareContext<'_>) -> Result<()> {
        let action = cx
            .registry
            .action(&self.action)
            .await
            .map_err(|e| e.with_context("field", "/config/action"))?;
        self.resolved = Some(action);
        Ok(())
    }

    fn input_schema(&self) -> Option<&aura_core::Schema> {
        self.resolved.as_ref().map(Action::input_schema)
    }

    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        let action = self
            .resolved
            .as_ref()
            .ok_or_else(|| Error::internal("node was not prepared"))?;
        Ok(NodeOutput::next(action.call(cx.clone(), input).await?))
    }
}

#[tokio::test]
async fn a_json_node_deserializes_into_a_boxed_node_and_branches() {
    let node: Box<dyn Node> =
        serde_json::from_value(json!({ "kind": "test_threshold", "config": { "field": "score", "at_least": 50 } }))
            .unwrap();
    assert_eq!(node.routes().len(), 2);
    let hot = node.run(&Context::new(), json!({ "score": 80 })).await.unwrap();
    assert_eq!(hot.route, Route::Branch("hot".into()));
    assert_eq!(hot.value, json!({ "score": 80 }));
    let cold = node.run(&Context::new(), json!({ "score": 10 })).await.unwrap();
    assert_eq!(cold.route, Route::Branch("cold".into()));
    let err = node.run(&Context::new(), json!({})).await.unwrap_err();
    assert_eq!(err.violations()[0].path, "/score");

    // And back to the same JSON.
    let back = serde_json::to_value(&node).unwrap();
    assert_eq!(
        back,
        json!({ "kind": "test_threshold", "config": { "field": "score", "at_least": 50.0 } })
    );
}

#[test]
fn an_unknown_kind_is_a_clear_deserialization_error() {
    let err = serde_json::from_value::<Box<dyn Node>>(json!({ "kind": "no_such_kind", "config": {} })).unwrap_err();
    assert!(err.to_string().contains("no_such_kind"), "{err}");
}

#[tokio::test]
async fn prepare_resolves_against_the_registry() {
    struct Echo;
    #[async_trait::async_trait]
    impl aura_core::App for Echo {
        fn manifest(&self) -> aura_core::AppManifest {
            aura_core::AppManifest::new("echo", "Echo", aura_core::semver::Version::new(1, 0, 0))
        }
        fn actions(&self) -> Vec<aura_core::ActionDef> {
            vec![aura_core::ActionDef::new("say", |_cx: Context, s: String| async move {
                Ok(s)
            })]
        }
    }
    let registry = Registry::new();
    registry.register(Echo).unwrap();

    let mut node: Box<dyn Node> =
        serde_json::from_value(json!({ "kind": "test_call_action", "config": { "action": "echo.say" } })).unwrap();
    let cx = PrepareContext {
        registry: &registry,
        scenario_id: "s1",
        node_id: "n1",
    };
    node.prepare(&cx).await.unwrap();
    assert!(node.input_schema().is_some());
    let out = node.run(&Context::new(), json!("hi")).await.unwrap();
    assert_eq!(out, NodeOutput::next(json!("hi")));

    let mut missing: Box<dyn Node> =
        serde_json::from_value(json!({ "kind": "test_call_action", "config": { "action": "echo.shout" } })).unwrap();
    let err = missing.prepare(&cx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.context_value("field"), Some("/config/action"));
}
