//! Reference scenarios: the flows Aura's benchmarks, examples and tests share, so that each is
//! written once.

use aura_core::scenario::{NodeBuilder, Scenario};
use serde_json::json;

/// The webhook flow the benchmarks measure (issue #10's): `hook → score → check → reply`.
///
/// `score` sets `{"score": trigger.value}`, `check` routes `"true"` when the score is over 10,
/// and `reply` answers `200` with `{"ok": true, "score": …}`: a `POST {"value": 42}` is
/// answered `{"ok": true, "score": 42}`. Every node is pure (calls nothing). Its id is
/// `score`.
pub fn webhook_score() -> Scenario {
    Scenario::builder("score", "Score")
        .node(NodeBuilder::trigger("hook").next(["score"]))
        .node(NodeBuilder::set("score", json!({ "score": "{{ trigger.value }}" })).next(["check"]))
        .node(NodeBuilder::if_("check", "steps.score.output.score > 10").route("true", ["reply"]))
        .node(
            NodeBuilder::respond("reply", 200).input(json!({ "ok": true, "score": "{{ steps.score.output.score }}" })),
        )
        .build()
}
