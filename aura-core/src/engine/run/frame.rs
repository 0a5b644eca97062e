//! Frames: the outputs of one pass over (part of) the graph, and the scope expressions see.

use super::*;

/// One pass over (part of) the graph. Its own `steps.<id>` for expressions
/// ([`StepOutputs`]): the scope of a pass holds the frame itself.
pub(super) struct Frame {
    /// The plan, for the node ids expressions name.
    plan: Arc<Plan>,
    pub(super) parent: Option<Arc<Frame>>,
    /// The iterate node whose body this frame runs (`None`: the root frame).
    pub(super) iterate: Option<usize>,
    /// The element and its index.
    pub(super) item: Option<(usize, Arc<Value>, Jinja)>,
    pub(super) outputs: Mutex<Vec<Option<Output>>>,
    /// Whether an edge taken in this frame led to the iterate's aggregate (an element a
    /// filter dropped, or a branch that stopped, does not count in the aggregate).
    pub(super) reached_aggregate: std::sync::atomic::AtomicBool,
}

#[derive(Clone)]
pub(super) struct Output {
    pub(super) json: Arc<Value>,
    /// `steps.<id>` as expressions see it, converted on first read.
    pub(super) step: Option<Jinja>,
}

impl Output {
    pub(super) fn new(json: Arc<Value>) -> Self {
        Self { json, step: None }
    }
}

impl Frame {
    pub(super) fn root(plan: Arc<Plan>) -> Self {
        let nodes = plan.nodes.len();
        Self {
            plan,
            parent: None,
            iterate: None,
            item: None,
            outputs: Mutex::new(vec![None; nodes]),
            reached_aggregate: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(super) fn child(parent: &Arc<Frame>, iterate: usize, index: usize, item: Value, nodes: usize) -> Self {
        let jinja = Scope::convert(&item);
        Self {
            plan: parent.plan.clone(),
            parent: Some(parent.clone()),
            iterate: Some(iterate),
            item: Some((index, Arc::new(item), jinja)),
            outputs: Mutex::new(vec![None; nodes]),
            reached_aggregate: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(super) fn set(&self, node: usize, value: Arc<Value>) {
        self.outputs.lock().unwrap_or_else(PoisonError::into_inner)[node] = Some(Output::new(value));
    }

    pub(super) fn own(&self, node: usize) -> Option<Output> {
        self.outputs.lock().unwrap_or_else(PoisonError::into_inner)[node].clone()
    }

    /// A node's output as JSON, here or in an enclosing frame (without its converted form).
    pub(super) fn json(&self, node: usize) -> Option<Arc<Value>> {
        let own = self.outputs.lock().unwrap_or_else(PoisonError::into_inner)[node]
            .as_ref()
            .map(|o| o.json.clone());
        own.or_else(|| self.parent.as_ref()?.json(node))
    }

    /// `steps.<node>` here or in an enclosing frame, converted once.
    pub(super) fn step(&self, node: usize) -> Option<Jinja> {
        {
            let mut outputs = self.outputs.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(out) = outputs[node].as_mut() {
                return Some(
                    out.step
                        .get_or_insert_with(|| step_value(Scope::convert(&out.json)))
                        .clone(),
                );
            }
        }
        self.parent.as_ref()?.step(node)
    }

    pub(super) fn item_index(&self) -> Option<usize> {
        self.item.as_ref().map(|(i, _, _)| *i)
    }
}

impl StepOutputs for Frame {
    fn output(&self, node_id: &str) -> Option<Jinja> {
        StepOutputs::step(self, node_id)?.get_attr("output").ok()
    }

    fn step(&self, node_id: &str) -> Option<Jinja> {
        Frame::step(self, *self.plan.index.get(node_id)?)
    }

    fn output_json(&self, node_id: &str) -> Option<Arc<Value>> {
        self.json(*self.plan.index.get(node_id)?)
    }
}

/// What every node of one frame shares: the frame, and the values their contexts find by
/// type (the expression scope among them).
pub(super) struct Pass {
    pub(super) frame: Arc<Frame>,
    pub(super) values: Arc<PassShared>,
    /// What every node context of the pass has in common (the values above among them).
    pub(super) run: Arc<crate::context::RunParts>,
}

/// The values a node's context finds by type ([`Context::extension`]) in a pass: the
/// expression scope, the sub-scenario runner, the depth of a child scenario, the webhook's
/// response slot.
pub(super) struct PassShared {
    pub(super) scope: Scope,
    pub(super) sub: SubScenarios,
    pub(super) depth: Option<sub::Depth>,
    pub(super) response: Option<ResponseSlot>,
}

impl crate::context::PassValues for PassShared {
    fn get(&self, id: std::any::TypeId) -> Option<&(dyn std::any::Any + Send + Sync)> {
        use std::any::TypeId;
        if id == TypeId::of::<Scope>() {
            Some(&self.scope)
        } else if id == TypeId::of::<SubScenarios>() {
            Some(&self.sub)
        } else if id == TypeId::of::<sub::Depth>() {
            self.depth.as_ref().map(|d| d as _)
        } else if id == TypeId::of::<ResponseSlot>() {
            self.response.as_ref().map(|r| r as _)
        } else {
            None
        }
    }
}

impl Exec {
    pub(super) fn scope(&self, frame: &Arc<Frame>) -> Scope {
        let scope = Scope::for_execution(
            self.trigger.clone(),
            self.trigger_jinja.clone(),
            frame.clone(),
            self.id_str.clone(),
            self.ids.scenario.clone(),
        );
        match &frame.item {
            Some((i, json, jinja)) => scope.with_item_json(json.clone(), jinja.clone(), *i),
            None => scope,
        }
    }
}
