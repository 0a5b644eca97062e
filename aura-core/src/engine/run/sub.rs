//! How sub-scenario nodes run a deployed scenario through this engine.

use super::*;

/// Runs sub-scenarios for [`crate::scenario::nodes::SubScenarioNode`].
pub(super) struct Runner(pub(super) Weak<Inner>);

impl SubScenarioRunner for Runner {
    fn run(&self, scenario_id: &str, input: Value, parent: &Context) -> BoxFuture<'static, Result<Value>> {
        let engine = self.0.upgrade().map(|inner| super::super::Engine { inner });
        let scenario_id = scenario_id.to_owned();
        let cancel = parent.cancellation().clone();
        Box::pin(async move {
            let engine = engine.ok_or_else(|| Error::cancelled("the engine is shutting down"))?;
            let plan = engine.plan(&scenario_id).ok_or_else(|| {
                Error::not_found("no deployed scenario with this id").with_context("scenario", scenario_id.clone())
            })?;
            let options = ExecuteOptions {
                parent_cancel: Some(cancel),
                ..ExecuteOptions::default()
            };
            let record = engine.execute_with(&plan, input, options).await?;
            record.result().map(|o| o.cloned().unwrap_or(Value::Null))
        })
    }
}
