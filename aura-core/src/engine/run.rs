//! The executor: walks a plan for one execution.
//!
//! A *frame* holds the outputs of one pass over a part of the graph: the root frame runs the
//! scenario, and each element of an iterate node runs its body in a child frame that sees its
//! parents' outputs. In a frame, a node runs once every predecessor in the frame has finished
//! (completed or skipped) and at least one of them led to it; a node no route led to is
//! skipped, and the skip flows on. Ready nodes run concurrently (one task, many futures), and
//! each node's result is checkpointed in the store before its successors start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};
use minijinja::Value as Jinja;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use super::events::{EventKind, ExecutionEvent};
use super::handle::{ExecutionHandle, Pause, PauseGate};
use super::limits::ResultCache;
use super::redact::Redactor;
use super::{ExecuteOptions, Inner};
use crate::compile::Plan;
use crate::context::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::expr::{Scope, StepOutputs, step_value};
use crate::node::{NodeOutput, Route};
use crate::scenario::OnError;
use crate::scenario::nodes::{ResponseSlot, SubScenarioRunner, SubScenarios};
use crate::store::{ExecutionRecord, ExecutionStatus, NodeResult, NodeStatus};

pub(super) async fn start(
    engine: Arc<Inner>,
    plan: Arc<Plan>,
    trigger: Value,
    options: ExecuteOptions,
    existing: Option<ExecutionRecord>,
) -> Result<ExecutionHandle> {
    let id = options.execution_id.unwrap_or_else(Uuid::now_v7);
    let trigger = Arc::new(trigger);
    let connections = plan.nodes.iter().filter_map(|n| n.connection.clone()).collect();
    let redactor = Redactor::new(connections, engine.payload_limit);
    let record = match existing {
        Some(record) => record,
        None => {
            let record = ExecutionRecord {
                id,
                scenario_id: plan.id().to_owned(),
                scenario_version: plan.version(),
                trigger: redactor.clean(&trigger),
                status: ExecutionStatus::Running,
                started_at: Utc::now(),
                ended_at: None,
                nodes: Vec::with_capacity(plan.nodes.len()),
                output: None,
                error: None,
                rerun_of: options.rerun_of,
            };
            engine.store.create(&record).await?;
            record
        }
    };
    let mut slots = HashMap::with_capacity(plan.nodes.len());
    slots.extend(
        record
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some(((*plan.index.get(&*n.node_id)?, n.item), i))),
    );
    let cancel = options
        .parent_cancel
        .as_ref()
        .map_or_else(CancellationToken::new, CancellationToken::child_token);
    let events = engine.events.subscribe();
    // Channels only for what this execution can use.
    let (response, response_rx) = if plan.responds {
        let (tx, rx) = watch::channel(None);
        (Some(ResponseSlot(Arc::new(tx))), Some(rx))
    } else {
        (None, None)
    };
    let pause = options.breakpoint.is_some().then(|| Arc::new(PauseGate::default()));
    let id_str: Arc<str> = id.to_string().into();
    let exec = Arc::new(Exec {
        trigger_jinja: Arc::default(),
        sub: engine
            .sub_scenarios
            .get_or_init(|| SubScenarios(Arc::new(Runner(Arc::downgrade(&engine)))))
            .clone(),
        engine,
        plan,
        id,
        id_str,
        trigger,
        options,
        cancel: cancel.clone(),
        started_utc: Utc::now(),
        started_instant: Instant::now(),
        state: Mutex::new(State { record, slots }),
        redactor,
        response,
        pause: pause.clone(),
    });
    let resubscribe = exec.engine.events.clone();
    let task = tokio::spawn(exec.run());
    Ok(ExecutionHandle {
        id,
        task,
        cancel,
        events: Some(events),
        resubscribe,
        response: response_rx,
        pause,
    })
}

struct Exec {
    engine: Arc<Inner>,
    plan: Arc<Plan>,
    id: Uuid,
    id_str: Arc<str>,
    trigger: Arc<Value>,
    trigger_jinja: Arc<std::sync::OnceLock<Jinja>>,
    options: ExecuteOptions,
    cancel: CancellationToken,
    state: Mutex<State>,
    started_utc: chrono::DateTime<Utc>,
    started_instant: Instant,
    redactor: Redactor,
    response: Option<ResponseSlot>,
    sub: SubScenarios,
    pause: Option<Arc<PauseGate>>,
}

struct State {
    record: ExecutionRecord,
    /// Where each (node, item) result sits in `record.nodes`.
    slots: HashMap<(usize, Option<usize>), usize>,
}

/// One pass over (part of) the graph.
struct Frame {
    parent: Option<Arc<Frame>>,
    /// The iterate node whose body this frame runs (`None`: the root frame).
    iterate: Option<usize>,
    /// The element and its index.
    item: Option<(usize, Arc<Value>, Jinja)>,
    outputs: Mutex<Vec<Option<Output>>>,
}

#[derive(Clone)]
struct Output {
    json: Arc<Value>,
    /// `steps.<id>` as expressions see it, converted on first read.
    step: Option<Jinja>,
}

impl Output {
    fn new(json: Arc<Value>) -> Self {
        Self { json, step: None }
    }
}

impl Frame {
    fn root(nodes: usize) -> Self {
        Self {
            parent: None,
            iterate: None,
            item: None,
            outputs: Mutex::new(vec![None; nodes]),
        }
    }

    fn child(parent: &Arc<Frame>, iterate: usize, index: usize, item: Value, nodes: usize) -> Self {
        let jinja = Scope::convert(&item);
        Self {
            parent: Some(parent.clone()),
            iterate: Some(iterate),
            item: Some((index, Arc::new(item), jinja)),
            outputs: Mutex::new(vec![None; nodes]),
        }
    }

    fn set(&self, node: usize, value: Arc<Value>) {
        self.outputs.lock().unwrap_or_else(PoisonError::into_inner)[node] = Some(Output::new(value));
    }

    fn own(&self, node: usize) -> Option<Output> {
        self.outputs.lock().unwrap_or_else(PoisonError::into_inner)[node].clone()
    }

    /// A node's output here or in an enclosing frame.
    fn lookup(&self, node: usize) -> Option<Output> {
        self.own(node).or_else(|| self.parent.as_ref()?.lookup(node))
    }

    /// `steps.<node>` here or in an enclosing frame, converted once.
    fn step(&self, node: usize) -> Option<Jinja> {
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

    fn item_index(&self) -> Option<usize> {
        self.item.as_ref().map(|(i, _, _)| *i)
    }
}

struct FrameSteps {
    frame: Arc<Frame>,
    plan: Arc<Plan>,
}

impl StepOutputs for FrameSteps {
    fn output(&self, node_id: &str) -> Option<Jinja> {
        self.step(node_id)?.get_attr("output").ok()
    }

    fn step(&self, node_id: &str) -> Option<Jinja> {
        self.frame.step(*self.plan.index.get(node_id)?)
    }

    fn output_json(&self, node_id: &str) -> Option<Arc<Value>> {
        Some(self.frame.lookup(*self.plan.index.get(node_id)?)?.json)
    }
}

/// What every node of one frame shares: the expression scope and the context extensions.
struct Pass {
    frame: Arc<Frame>,
    scope: Scope,
    extensions: Arc<http::Extensions>,
}

/// What a finished node leads to.
struct Step {
    /// The node whose edges to follow (an iterate's aggregate, after its body).
    from: usize,
    /// Which of its edges are taken.
    targets: Targets,
    /// A node to skip as well (the aggregate of an iterate that did not run its body).
    also_skip: Option<usize>,
}

/// Which edges of a node are taken.
enum Targets {
    /// None: the branch ends here.
    None,
    /// `next`.
    Next,
    /// One named route.
    Route(String),
    /// The error route.
    Error,
    /// A given list (the body entries of an iterate).
    List(Vec<usize>),
}

impl Targets {
    fn resolve<'p>(&'p self, node: &'p crate::compile::PlanNode) -> &'p [usize] {
        match self {
            Self::None => &[],
            Self::Next => &node.next,
            Self::Route(r) => node.routes.get(r).map_or(&[], Vec::as_slice),
            Self::Error => &node.error_route,
            Self::List(list) => list,
        }
    }
}

enum Entry {
    Root,
    Body(usize),
}

impl Exec {
    async fn run(self: Arc<Self>) -> Result<ExecutionRecord> {
        let span = tracing::info_span!("execution", scenario = %self.plan.id(), execution = %self.id);
        let this = self.clone();
        async move {
            let permit = match &this.plan.concurrency {
                Some(sem) => tokio::select! {
                    biased;
                    () = this.cancel.cancelled() => None,
                    permit = sem.clone().acquire_owned() => permit.ok(),
                },
                None => None,
            };
            if this.plan.concurrency.is_some() && permit.is_none() {
                return this
                    .finish(Err(Error::cancelled("cancelled while waiting for a concurrency slot")))
                    .await;
            }
            this.emit(EventKind::Started);
            let max = this.plan.settings().max_duration;
            let root = Arc::new(Frame::root(this.plan.nodes.len()));
            let outcome = tokio::select! {
                biased;
                () = this.cancel.cancelled() => Err(Error::cancelled("the execution was cancelled")),
                walked = tokio::time::timeout(max, this.walk(&root, Entry::Root)) => match walked {
                    Ok(result) => result,
                    Err(_) => {
                        this.cancel.cancel();
                        Err(Error::timeout(format!("the execution ran longer than its max duration ({max:?})")))
                    }
                },
            };
            let outcome = outcome.map(|()| this.output(&root));
            drop(permit);
            this.finish(outcome).await
        }
        .instrument(span)
        .await
    }

    /// The execution's output: the respond node's body, else the leaf nodes' outputs.
    fn output(&self, root: &Frame) -> Value {
        if let Some(slot) = &self.response
            && let Some(r) = slot.0.borrow().as_ref()
        {
            return r.body.clone();
        }
        let leaves: Vec<(usize, Output)> = self
            .plan
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.in_body_of.is_none() && n.succ.is_empty())
            .filter_map(|(i, _)| Some((i, root.own(i)?)))
            .collect();
        match leaves.as_slice() {
            [] => Value::Null,
            [(_, only)] => (*only.json).clone(),
            many => Value::Object(
                many.iter()
                    .map(|(i, o)| (self.plan.nodes[*i].id.to_string(), (*o.json).clone()))
                    .collect(),
            ),
        }
    }

    async fn finish(self: &Arc<Self>, outcome: Result<Value>) -> Result<ExecutionRecord> {
        let (status, output, error) = match outcome {
            Ok(output) => (ExecutionStatus::Completed, Some(output), None),
            Err(e) if e.kind() == ErrorKind::Cancelled => (ExecutionStatus::Cancelled, None, Some(e)),
            Err(e) => (ExecutionStatus::Failed, None, Some(e)),
        };
        let record = {
            let mut state = self.lock();
            state.record.status = status;
            state.record.ended_at = Some(Utc::now());
            state.record.output = output.map(|o| Arc::unwrap_or_clone(self.redactor.clean(&Arc::new(o))));
            state.record.error = error.as_ref().map(|e| self.redactor.error(e));
            state.record.clone()
        };
        let stored = self.engine.store.finish(&record).await;
        if let Some(pause) = &self.pause {
            pause.state.send_replace(Pause::Finished);
        }
        stored?;
        self.emit(EventKind::Finished { status });
        let status_label = match status {
            ExecutionStatus::Completed => "completed",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
            ExecutionStatus::Running => "running",
        };
        metrics::counter!("aura_executions_total", "scenario" => self.plan.id.clone(), "status" => status_label)
            .increment(1);
        if let Some(d) = record.duration() {
            metrics::histogram!("aura_execution_duration_seconds", "scenario" => self.plan.id.clone())
                .record(d.as_secs_f64());
        }
        if status == ExecutionStatus::Failed {
            self.run_error_scenario(&record);
        }
        Ok(record)
    }

    fn run_error_scenario(&self, record: &ExecutionRecord) {
        let Some(id) = &self.plan.settings().error_policy.error_scenario else {
            return;
        };
        let engine = super::Engine {
            inner: self.engine.clone(),
        };
        let Some(plan) = engine.plan(id) else {
            tracing::warn!(error_scenario = %id, "the error scenario is not deployed");
            return;
        };
        let failed_node = record
            .nodes
            .iter()
            .rev()
            .find(|n| n.status == NodeStatus::Failed)
            .map(|n| n.node_id.clone());
        let details = json!({
            "execution_id": record.id,
            "scenario_id": record.scenario_id,
            "error": record.error,
            "failed_node": failed_node,
        });
        tokio::spawn(async move {
            if let Err(e) = engine.start(&plan, details).await {
                tracing::warn!(error = %e, "the error scenario could not start");
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, kind: EventKind) {
        // No subscriber is the normal case, not an error.
        let _ = self.engine.events.send(ExecutionEvent {
            execution_id: self.id,
            scenario_id: self.plan.id.clone(),
            kind,
        });
    }

    fn in_frame(&self, frame: &Frame, node: usize) -> bool {
        self.plan.nodes[node].in_body_of == frame.iterate
    }

    fn walk<'a>(self: &'a Arc<Self>, frame: &'a Arc<Frame>, entry: Entry) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let scope = self.scope(frame);
            let mut extensions = self.engine.extensions.clone();
            extensions.insert(scope.clone());
            extensions.insert(self.sub.clone());
            if let Some(slot) = &self.response {
                extensions.insert(slot.clone());
            }
            let pass = Pass {
                frame: frame.clone(),
                scope,
                extensions: Arc::new(extensions),
            };
            let pass = &pass;
            let nodes = &self.plan.nodes;
            let mut pending: Vec<usize> = nodes
                .iter()
                .map(|n| {
                    n.preds
                        .iter()
                        .filter(|&&p| self.in_frame(frame, p) || Some(p) == frame.iterate)
                        .count()
                })
                .collect();
            let mut taken = vec![false; nodes.len()];
            let mut ready = Vec::new();
            match entry {
                Entry::Root => ready.push(self.plan.root),
                Entry::Body(it) => {
                    let entries = Targets::List(nodes[it].succ.clone());
                    self.propagate(frame, it, &entries, &mut pending, &mut taken, &mut ready)
                        .await?;
                }
            }
            // Created only when two nodes run at once: a linear chain never needs it.
            let mut running: Option<FuturesUnordered<_>> = None;
            loop {
                // A lone ready node with nothing else in flight (a linear chain) runs inline,
                // without a task slot.
                let step = if running.as_ref().is_none_or(FuturesUnordered::is_empty) && ready.len() == 1 {
                    let node = ready.pop().unwrap_or_default();
                    self.run_node(pass, node).await
                } else {
                    for node in ready.drain(..) {
                        running
                            .get_or_insert_with(FuturesUnordered::new)
                            .push(self.run_node(pass, node));
                    }
                    let Some(running) = running.as_mut() else { break };
                    match running.next().await {
                        Some(step) => step,
                        None => break,
                    }
                };
                let step = step?;
                self.propagate(frame, step.from, &step.targets, &mut pending, &mut taken, &mut ready)
                    .await?;
                if let Some(skip) = step.also_skip {
                    self.skip_cascade(frame, skip, &mut pending, &mut taken, &mut ready)
                        .await?;
                }
            }
            Ok(())
        })
    }

    /// `from` finished, leading to `targets`: count it off its successors in this frame.
    async fn propagate(
        &self,
        frame: &Frame,
        from: usize,
        targets: &Targets,
        pending: &mut [usize],
        taken: &mut [bool],
        ready: &mut Vec<usize>,
    ) -> Result<()> {
        let node = &self.plan.nodes[from];
        let targets = targets.resolve(node);
        let mut skipped = Vec::new();
        for &s in node.succ.iter().filter(|&&s| self.in_frame(frame, s)) {
            if targets.contains(&s) {
                taken[s] = true;
            }
            pending[s] -= 1;
            if pending[s] == 0 {
                if taken[s] { ready.push(s) } else { skipped.push(s) }
            }
        }
        for s in skipped {
            self.skip_cascade(frame, s, pending, taken, ready).await?;
        }
        Ok(())
    }

    /// Records `node` as skipped and flows the skip on.
    fn skip_cascade<'a>(
        &'a self,
        frame: &'a Frame,
        node: usize,
        pending: &'a mut [usize],
        taken: &'a mut [bool],
        ready: &'a mut Vec<usize>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let n = &self.plan.nodes[node];
            self.save(node, frame.item_index(), |r| r.status = NodeStatus::Skipped)
                .await?;
            self.emit(EventKind::NodeSkipped { node: n.id.clone() });
            self.propagate(frame, node, &Targets::None, pending, taken, ready)
                .await?;
            if let Some(agg) = n.body.as_ref().and_then(|b| b.aggregate) {
                self.skip_cascade(frame, agg, pending, taken, ready).await?;
            }
            Ok(())
        })
    }

    async fn run_node(self: &Arc<Self>, pass: &Pass, idx: usize) -> Result<Step> {
        let frame = &pass.frame;
        let node = &self.plan.nodes[idx];
        let item = frame.item_index();

        if frame.iterate.is_none()
            && let Some(pinned) = self.options.pinned.get(&*node.id)
        {
            let output = Arc::new(pinned.output.clone());
            frame.set(idx, output.clone());
            let route = pinned.route.clone();
            let recorded = self.redactor.clean(&output);
            self.save(idx, None, |r| {
                r.status = NodeStatus::Completed;
                r.output = Some(recorded);
                r.route.clone_from(&route);
                r.pinned = true;
            })
            .await?;
            if let Some(body) = &node.body {
                if let Some(agg) = body.aggregate
                    && let Some(done) = self.options.pinned.get(&*self.plan.nodes[agg].id)
                {
                    let agg_output = Arc::new(done.output.clone());
                    frame.set(agg, agg_output.clone());
                    let agg_output = self.redactor.clean(&agg_output);
                    self.save(agg, None, |r| {
                        r.status = NodeStatus::Completed;
                        r.output = Some(agg_output);
                        r.pinned = true;
                    })
                    .await?;
                    return Ok(Step {
                        from: agg,
                        targets: Targets::Next,
                        also_skip: None,
                    });
                }
                return self.iterate(frame, idx, &output).await;
            }
            let targets = match route {
                Some(r) => Targets::Route(r),
                None => Targets::Next,
            };
            return Ok(Step {
                from: idx,
                targets,
                also_skip: None,
            });
        }

        let clock = Instant::now();
        // One clock read: wall time from the execution's start plus the monotonic offset.
        let started_at = self.started_utc + (clock - self.started_instant);
        self.emit(EventKind::NodeStarted {
            node: node.id.clone(),
            item,
        });
        let input = match self.build_input(pass, idx) {
            Ok(input) => input,
            Err(e) => return self.failed(frame, idx, Arc::new(Value::Null), e, 0, started_at).await,
        };
        // The result is recorded when the node ends; while it runs, the event stream shows it.

        match self.attempts(pass, idx, &input).await {
            Ok((out, attempts)) => {
                let NodeOutput { value, route } = out;
                let (targets, route_name) = match route {
                    Route::Next => (Targets::Next, None),
                    Route::Branch(r) => {
                        let r = r.into_owned();
                        (Targets::Route(r.clone()), Some(r))
                    }
                    Route::Stop => (Targets::None, None),
                };
                let value = Arc::new(value);
                frame.set(idx, value.clone());
                let recorded = self.redactor.clean(&value);
                let recorded_input = self.redactor.clean(&input);
                let elapsed = clock.elapsed();
                let ended_at = started_at + elapsed;
                self.save(idx, item, |r| {
                    r.status = NodeStatus::Completed;
                    r.input = recorded_input;
                    r.started_at = Some(started_at);
                    r.output = Some(recorded);
                    r.attempts = attempts;
                    r.route = route_name;
                    r.ended_at = Some(ended_at);
                })
                .await?;
                self.emit(EventKind::NodeCompleted {
                    node: node.id.clone(),
                    item,
                    duration: elapsed,
                });
                node.duration_metric.record(elapsed.as_secs_f64());
                self.breakpoint(idx).await;
                if node.body.is_some() {
                    return self.iterate(frame, idx, &value).await;
                }
                Ok(Step {
                    from: idx,
                    targets,
                    also_skip: None,
                })
            }
            Err((e, attempts)) => self.failed(frame, idx, input, e, attempts, started_at).await,
        }
    }

    async fn failed(
        &self,
        frame: &Frame,
        idx: usize,
        input: Arc<Value>,
        err: Error,
        attempts: u32,
        started_at: chrono::DateTime<Utc>,
    ) -> Result<Step> {
        let node = &self.plan.nodes[idx];
        let item = frame.item_index();
        let err = if err.context_value("node").is_some() {
            err
        } else {
            err.with_context("node", node.id.to_string())
        };
        let record = self.redactor.error(&err);
        let error_output = Arc::new(json!({ "error": record }));
        let continues = !matches!(node.on_error, OnError::Stop);
        if continues {
            frame.set(idx, error_output.clone());
        }
        let recorded_input = self.redactor.clean(&input);
        self.save(idx, item, |r| {
            r.status = NodeStatus::Failed;
            r.input = recorded_input;
            r.error = Some(record.clone());
            r.output = continues.then(|| error_output.clone());
            r.attempts = attempts;
            r.started_at.get_or_insert(started_at);
            r.ended_at = Some(Utc::now());
        })
        .await?;
        self.emit(EventKind::NodeFailed {
            node: node.id.clone(),
            item,
            error: err.kind().as_str(),
        });
        metrics::counter!("aura_node_failures_total", "scenario" => self.plan.id.clone(), "node" => node.id.clone())
            .increment(1);
        let also_skip = node.body.as_ref().and_then(|b| b.aggregate);
        match &node.on_error {
            OnError::Stop => Err(err),
            OnError::Continue => {
                let targets = if node.body.is_some() {
                    Targets::None
                } else {
                    Targets::Next
                };
                Ok(Step {
                    from: idx,
                    targets,
                    also_skip,
                })
            }
            OnError::Route(_) => Ok(Step {
                from: idx,
                targets: Targets::Error,
                also_skip,
            }),
        }
    }

    /// Runs an iterate node's body once per element; returns the step after its aggregate.
    async fn iterate(self: &Arc<Self>, frame: &Arc<Frame>, it: usize, array: &Value) -> Result<Step> {
        let node = &self.plan.nodes[it];
        let Some(body) = &node.body else {
            return Ok(Step {
                from: it,
                targets: Targets::None,
                also_skip: None,
            });
        };
        let items = array.as_array().cloned().unwrap_or_default();
        let total = self.plan.nodes.len();
        let results: Vec<Option<Value>> = stream::iter(items.into_iter().enumerate())
            .map(|(i, item)| {
                let child = Arc::new(Frame::child(frame, it, i, item, total));
                async move {
                    self.walk(&child, Entry::Body(it)).await?;
                    match body.aggregate {
                        Some(agg) => self.aggregate_item(&child, agg),
                        None => Ok(None),
                    }
                }
            })
            .buffered(body.concurrency.max(1))
            .try_collect()
            .await?;
        let Some(agg) = body.aggregate else {
            return Ok(Step {
                from: it,
                targets: Targets::None,
                also_skip: None,
            });
        };
        let collected = Arc::new(Value::Array(results.into_iter().flatten().collect()));
        frame.set(agg, collected.clone());
        let recorded = self.redactor.clean(&collected);
        let now = Utc::now();
        self.save(agg, frame.item_index(), |r| {
            r.status = NodeStatus::Completed;
            r.output = Some(recorded);
            r.attempts = 1;
            r.started_at = Some(now);
            r.ended_at = Some(now);
        })
        .await?;
        self.emit(EventKind::NodeCompleted {
            node: self.plan.nodes[agg].id.clone(),
            item: frame.item_index(),
            duration: Duration::ZERO,
        });
        self.breakpoint(agg).await;
        Ok(Step {
            from: agg,
            targets: Targets::Next,
            also_skip: None,
        })
    }

    /// One element's contribution to an aggregate: `None` when no branch of the body reached it.
    fn aggregate_item(&self, child: &Arc<Frame>, agg: usize) -> Result<Option<Value>> {
        let node = &self.plan.nodes[agg];
        if !node.preds.iter().any(|&p| child.own(p).is_some()) {
            return Ok(None);
        }
        match &node.mapping {
            Some(m) => m
                .eval(&self.scope(child))
                .map(Some)
                .map_err(|e| e.with_context("node", node.id.to_string())),
            None => Ok(Some(Arc::unwrap_or_clone(self.default_input(child, agg)))),
        }
    }

    fn scope(&self, frame: &Arc<Frame>) -> Scope {
        let scope = Scope::from_parts(self.trigger.clone(), self.trigger_jinja.clone())
            .with_steps(Arc::new(FrameSteps {
                frame: frame.clone(),
                plan: self.plan.clone(),
            }))
            .with_execution_ids(self.id_str.clone(), self.plan.id.clone());
        match &frame.item {
            Some((i, json, jinja)) => scope.with_item_json(json.clone(), jinja.clone(), *i),
            None => scope,
        }
    }

    fn build_input(&self, pass: &Pass, idx: usize) -> Result<Arc<Value>> {
        let node = &self.plan.nodes[idx];
        match &node.mapping {
            Some(m) => m.eval(&pass.scope).map(Arc::new),
            None => Ok(self.default_input(&pass.frame, idx)),
        }
    }

    /// Without a mapping: the trigger data for the trigger node, the element for the first
    /// node of an iterate body, the predecessor's output, or every predecessor's by id.
    /// (Shared, not copied, when it is one value that exists already.)
    fn default_input(&self, frame: &Frame, idx: usize) -> Arc<Value> {
        if idx == self.plan.root {
            return self.trigger.clone();
        }
        let node = &self.plan.nodes[idx];
        let from = |p: usize| -> Option<Arc<Value>> {
            if Some(p) == frame.iterate {
                return frame.item.as_ref().map(|(_, item, _)| item.clone());
            }
            frame.lookup(p).map(|o| o.json)
        };
        match node.preds.as_slice() {
            [only] => from(*only).unwrap_or_else(|| Arc::new(Value::Null)),
            many => Arc::new(Value::Object(
                many.iter()
                    .filter_map(|&p| Some((self.plan.nodes[p].id.to_string(), Arc::unwrap_or_clone(from(p)?))))
                    .collect::<Map<_, _>>(),
            )),
        }
    }

    /// Runs the node, retrying retryable errors. Non-idempotent nodes are retried only when the
    /// request cannot have been accepted (rate limited, service unavailable).
    async fn attempts(
        self: &Arc<Self>,
        pass: &Pass,
        idx: usize,
        input: &Value,
    ) -> std::result::Result<(NodeOutput, u32), (Error, u32)> {
        let frame = &pass.frame;
        let node = &self.plan.nodes[idx];
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let key = {
            let mut key = String::with_capacity(self.id_str.len() + node.id.len() + 8);
            key.push_str(&self.id_str);
            key.push('/');
            key.push_str(&node.id);
            if let Some(i) = frame.item_index() {
                key.push('/');
                key.push_str(&i.to_string());
            }
            Arc::<str>::from(key)
        };
        let cx = self.context(pass, idx, key);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(node.retry.base_delay)
            .with_max_delay(node.retry.max_delay)
            .with_max_times(node.retry.retries as usize)
            .with_jitter();
        let idempotent = node.info.idempotent;
        let result = (|| async {
            let n = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            self.attempt(&cx, idx, input, n).await
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &Error| {
            e.is_retryable() && (idempotent || matches!(e.kind(), ErrorKind::RateLimited | ErrorKind::Unavailable))
        })
        .adjust(|e: &Error, delay: Option<Duration>| match (e.retry_after(), delay) {
            (Some(after), Some(d)) => Some(after.max(d)),
            (_, d) => d,
        })
        .notify(|e: &Error, delay: Duration| {
            self.emit(EventKind::NodeRetrying {
                node: node.id.clone(),
                attempt: attempts.load(std::sync::atomic::Ordering::Relaxed),
                delay,
                error: e.kind().as_str(),
            });
        })
        .await;
        let n = attempts.load(std::sync::atomic::Ordering::Relaxed);
        result.map(|out| (out, n)).map_err(|e| (e, n))
    }

    fn context(self: &Arc<Self>, pass: &Pass, idx: usize, key: Arc<str>) -> Context {
        let node = &self.plan.nodes[idx];
        let span = tracing::debug_span!("node", node = %node.id, reference = node.info.reference.as_deref(), item = pass.frame.item_index());
        let mut builder = Context::builder()
            .http(self.engine.http.clone())
            .cancellation(self.cancel.clone())
            .idempotency_key(key)
            .span(span)
            .scenario_id(self.plan.id.clone())
            .execution_id(self.id_str.clone())
            .node_id(node.id.clone())
            .extensions(pass.extensions.clone());
        if let Some(conn) = &node.connection {
            builder = builder.connection(conn.clone());
        }
        builder.build()
    }

    async fn attempt(&self, cx: &Context, idx: usize, input: &Value, n: u32) -> Result<NodeOutput> {
        let node = &self.plan.nodes[idx];
        let cx = if n == 1 {
            cx.clone()
        } else {
            cx.to_builder().attempt(n).build()
        };
        if let Some(conn) = &node.connection {
            self.engine.limiters.acquire(conn.id(), node.info.rate_limit).await;
        }
        let cache_key = match (&node.info.cache_ttl, &node.info.reference) {
            (Some(_), Some(reference)) => Some(ResultCache::key(
                reference,
                node.connection.as_ref().map(|c| c.id()),
                input,
            )),
            _ => None,
        };
        if let Some(key) = &cache_key
            && let Some(hit) = self.engine.cache.get(key)
        {
            return Ok(NodeOutput::next((*hit).clone()));
        }
        let run = node.node.run(&cx, input.clone());
        let out = match node.timeout {
            Some(limit) => tokio::time::timeout(limit, run)
                .await
                .map_err(|_| Error::timeout(format!("the node took longer than its timeout ({limit:?})")))??,
            None => run.await?,
        };
        if let (Some(key), Some(ttl)) = (cache_key, node.info.cache_ttl) {
            self.engine.cache.put(key, Arc::new(out.value.clone()), ttl);
        }
        Ok(out)
    }

    /// Stops after `idx` when it is the breakpoint, until resumed.
    async fn breakpoint(&self, idx: usize) {
        let node = &self.plan.nodes[idx];
        if let Some(pause) = &self.pause
            && self.options.breakpoint.as_deref() == Some(&*node.id)
        {
            let resumed = pause.resume.notified();
            pause.state.send_replace(Pause::At(node.id.clone()));
            self.emit(EventKind::Paused { node: node.id.clone() });
            resumed.await;
        }
    }

    /// Updates a node's result in the record and checkpoints it in the store.
    async fn save(&self, idx: usize, item: Option<usize>, update: impl FnOnce(&mut NodeResult)) -> Result<()> {
        let result = {
            let mut state = self.lock();
            let slot = match state.slots.get(&(idx, item)) {
                Some(&i) => i,
                None => {
                    let blank = NodeResult {
                        node_id: self.plan.nodes[idx].id.clone(),
                        item,
                        status: NodeStatus::Pending,
                        input: Arc::new(Value::Null),
                        output: None,
                        error: None,
                        attempts: 0,
                        route: None,
                        pinned: false,
                        started_at: None,
                        ended_at: None,
                    };
                    upsert(&mut state, idx, item, blank)
                }
            };
            let result = &mut state.record.nodes[slot];
            update(result);
            result.clone()
        };
        self.engine.store.save_node(self.id, &result).await
    }
}

fn upsert(state: &mut State, idx: usize, item: Option<usize>, result: NodeResult) -> usize {
    match state.slots.get(&(idx, item)) {
        Some(&i) => {
            state.record.nodes[i] = result;
            i
        }
        None => {
            let i = state.record.nodes.len();
            state.record.nodes.push(result);
            state.slots.insert((idx, item), i);
            i
        }
    }
}

/// Runs sub-scenarios for [`crate::scenario::nodes::SubScenarioNode`].
struct Runner(Weak<Inner>);

impl SubScenarioRunner for Runner {
    fn run(&self, scenario_id: &str, input: Value, parent: &Context) -> BoxFuture<'static, Result<Value>> {
        let engine = self.0.upgrade().map(|inner| super::Engine { inner });
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
