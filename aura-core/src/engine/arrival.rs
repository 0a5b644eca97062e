//! What the trigger runtime needs of the engine: the record of an execution it commits to the
//! store itself (with a poll's cursor, a delivery's dedupe key), the deployed plans, the clock.

use std::sync::Arc;

use serde_json::Value;

use super::{Engine, run};
use crate::clock::Clock;
use crate::compile::Plan;
use crate::store::ExecutionRecord;

impl Engine {
    /// The clock the engine follows (retry back-off, delays, max durations), which the
    /// trigger runtime's schedules and polls follow too.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Every deployed scenario (the latest version of each).
    pub fn plans(&self) -> Vec<Arc<Plan>> {
        self.inner
            .plans
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The record of a new execution of `plan` for `trigger`, exactly as [`Engine::start`]
    /// would create it (the trigger redacted and truncated as records keep it:
    /// `trigger_cleaned` says whether that is not the trigger itself).
    pub(crate) fn new_execution(&self, plan: &Plan, trigger: &Arc<Value>) -> ExecutionRecord {
        let redactor = run::redactor(&self.inner, plan);
        let now = chrono::Utc::now();
        run::new_record(Some(&redactor), plan, run::execution_id(now), now, trigger, None)
    }
}
