//! The `code` node: a JavaScript function body run in the [`Sandbox`] (see [`crate::code`]).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::code::{Inputs, Level, Sandbox, Script};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::expr::Scope;
use crate::node::{Node, NodeInfo, NodeOutput, PrepareContext, SharedOutput};

/// Runs a JavaScript function body; its result is the output.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeNode {
    /// The body of a function of `trigger`, `steps`, `item`, `index`, `input`, `execution`.
    pub code: String,
    #[serde(skip)]
    script: Option<Script>,
    #[serde(skip)]
    node_id: Option<Arc<str>>,
}

impl CodeNode {
    /// A code node with this function body.
    pub fn new(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            script: None,
            node_id: None,
        }
    }

    fn execute(&self, cx: &Context, input: &Value) -> Result<Value> {
        let script = self
            .script
            .as_ref()
            .ok_or_else(|| Error::internal("the code node was not prepared"))?;
        let sandbox = cx.extension::<Sandbox>().unwrap_or_else(|| Sandbox::shared());
        let scope = cx.extension::<Scope>();
        let steps = |id: &str| scope.and_then(|s| s.step_json(id));
        let inputs = Inputs {
            trigger: scope.and_then(Scope::trigger_json),
            steps: &steps,
            item: scope.and_then(Scope::item_json),
            index: scope.and_then(Scope::index),
            input,
            execution: scope.and_then(Scope::execution_ids),
        };
        let outcome = sandbox.run(script, &inputs);
        let node = self.node_id.as_deref().unwrap_or_default();
        for (level, line) in &outcome.console.lines {
            match level {
                Level::Debug => tracing::debug!(target: "aura::code", node, "{line}"),
                Level::Info => tracing::info!(target: "aura::code", node, "{line}"),
                Level::Warn => tracing::warn!(target: "aura::code", node, "{line}"),
                Level::Error => tracing::error!(target: "aura::code", node, "{line}"),
            }
        }
        if outcome.console.dropped > 0 {
            tracing::warn!(target: "aura::code", node, dropped = outcome.console.dropped, "console output over the limit was dropped");
        }
        outcome.output.map_err(|e| {
            let console = &outcome.console;
            let mut err = Error::from(e);
            if !console.lines.is_empty() {
                let mut text: Vec<&str> = console.lines.iter().map(|(_, l)| l.as_str()).collect();
                let dropped = format!("({} more lines dropped)", console.dropped);
                if console.dropped > 0 {
                    text.push(&dropped);
                }
                err = err.with_context("console", text.join("\n"));
            }
            err
        })
    }
}

#[typetag::serde(name = "code")]
#[async_trait]
impl Node for CodeNode {
    async fn prepare(&mut self, cx: &PrepareContext<'_>) -> Result<()> {
        self.script = Some(Script::compile(&self.code).map_err(Error::from)?);
        self.node_id = Some(cx.node_id.into());
        Ok(())
    }

    fn info(&self) -> NodeInfo {
        NodeInfo::pure_step()
    }

    fn reads(&self) -> Vec<(Cow<'static, str>, BTreeSet<String>)> {
        self.script
            .iter()
            .map(|s| {
                let steps = s.steps().iter().map(|id| format!("steps.{id}")).collect();
                (Cow::Borrowed("/config/code"), steps)
            })
            .collect()
    }

    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        self.execute(cx, &input).map(NodeOutput::next)
    }

    async fn run_shared(&self, cx: &Context, input: Arc<Value>) -> Result<SharedOutput> {
        self.execute(cx, &input).map(|v| SharedOutput::next(Arc::new(v)))
    }
}
