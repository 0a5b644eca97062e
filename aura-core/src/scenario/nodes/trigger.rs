//! The `trigger` node: a scenario's entry, and what starts it.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::Context;
use crate::error::Result;
use crate::node::{Node, NodeInfo, NodeOutput, NodeRole, PrepareContext, SharedOutput};
use crate::schema::Schema;
use crate::trigger::Trigger;
use crate::trigger::setup::{PollSetup, ScheduleSetup, TriggerSetup, WebhookSetup};

/// The entry of a scenario: what starts it (see [`crate::trigger::setup`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerNode {
    /// An app trigger (`"forms.submission"`) whose output schema the data must fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Served as a webhook by the trigger runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSetup>,
    /// Fired on a schedule by the trigger runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSetup>,
    /// How the trigger runtime polls the app trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollSetup>,
    #[serde(skip)]
    resolved: Option<Trigger>,
    #[serde(skip)]
    setup: Option<TriggerSetup>,
}

impl TriggerNode {
    /// A trigger node, optionally bound to an app trigger.
    pub fn new(trigger: Option<String>) -> Self {
        Self {
            trigger,
            ..Self::default()
        }
    }
}

#[typetag::serde(name = "trigger")]
#[async_trait]
impl Node for TriggerNode {
    async fn prepare(&mut self, cx: &PrepareContext<'_>) -> Result<()> {
        if let Some(reference) = &self.trigger {
            self.resolved = Some(
                cx.registry
                    .trigger(reference)
                    .await
                    .map_err(|e| e.with_context("field", "/config/trigger"))?,
            );
        }
        self.setup = crate::trigger::setup::check(
            self.webhook.as_ref(),
            self.schedule.as_ref(),
            self.poll.as_ref(),
            self.resolved.as_ref(),
        )?;
        Ok(())
    }

    fn trigger_setup(&self) -> Option<TriggerSetup> {
        self.setup.clone()
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            pure: true,
            role: NodeRole::Trigger,
            idempotent: true,
            reference: self.trigger.clone(),
            ..NodeInfo::default()
        }
    }

    fn output_schema(&self) -> Option<&Schema> {
        self.resolved.as_ref().map(Trigger::output_schema)
    }

    async fn run(&self, _cx: &Context, input: Value) -> Result<NodeOutput> {
        if let Some(trigger) = &self.resolved {
            trigger.output_schema().validate(&input, "trigger data")?;
        }
        Ok(NodeOutput::next(input))
    }

    fn run_now(&self, _cx: &Context, input: &Arc<Value>) -> Option<Result<SharedOutput>> {
        if let Some(trigger) = &self.resolved
            && let Err(e) = trigger.output_schema().validate(input, "trigger data")
        {
            return Some(Err(e));
        }
        Some(Ok(SharedOutput::next(input.clone())))
    }
}
