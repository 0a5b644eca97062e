//! How sub-scenario nodes run a deployed scenario through this engine.

use super::*;

/// How deep in sub-scenarios an execution runs (absent: 0, a top-level execution).
#[derive(Clone, Copy, Debug)]
pub(super) struct Depth(pub(super) u32);

/// Runs sub-scenarios for [`crate::scenario::nodes::SubScenarioNode`].
pub(super) struct Runner(pub(super) Weak<Inner>);

impl SubScenarioRunner for Runner {
    fn run(&self, scenario_id: &str, input: Value, parent: &Context) -> BoxFuture<'static, Result<Value>> {
        let engine = self.0.upgrade().map(|inner| super::super::Engine { inner });
        let scenario_id = scenario_id.to_owned();
        let cancel = parent.cancellation().clone();
        let depth = parent.extension::<Depth>().map_or(0, |d| d.0) + 1;
        let node = parent.node_id().unwrap_or_default().to_owned();
        let caller = parent.scenario_id().unwrap_or_default().to_owned();
        Box::pin(async move {
            let engine = engine.ok_or_else(|| Error::cancelled("the engine is shutting down"))?;
            let limit = engine.inner.max_depth;
            if depth > limit {
                return Err(Error::invalid_definition(format!(
                    "sub-scenarios nest deeper than the engine allows ({limit} levels): is there a cycle?"
                ))
                .with_context("scenario", caller)
                .with_context("node", node)
                .with_context("sub_scenario", scenario_id));
            }
            let plan = engine.plan(&scenario_id).ok_or_else(|| {
                Error::not_found("no deployed scenario with this id").with_context("scenario", scenario_id.clone())
            })?;
            let options = ExecuteOptions {
                parent_cancel: Some(cancel),
                depth,
                ..ExecuteOptions::default()
            };
            let record = engine.execute_with(&plan, input, options).await?;
            record.result().map(|o| o.cloned().unwrap_or(Value::Null))
        })
    }
}
