//! The walk: which nodes of a frame are ready, run them, follow the edges they take.

use super::*;

/// What a finished node leads to.
pub(super) struct Step {
    /// The node whose edges to follow (an iterate's aggregate, after its body).
    pub(super) from: usize,
    /// Which of its edges are taken.
    pub(super) targets: Targets,
    /// A node to skip as well (the aggregate of an iterate that did not run its body).
    pub(super) also_skip: Option<usize>,
}

/// Which edges of a node are taken.
pub(super) enum Targets {
    /// None: the branch ends here.
    None,
    /// `next`.
    Next,
    /// One named route (as the node named it: most name a route they hold, with no copy).
    Route(std::borrow::Cow<'static, str>),
    /// The error route.
    Error,
    /// A given list (the body entries of an iterate).
    List(Vec<usize>),
    /// None yet: the node waits, parked ([`Route::Wait`](crate::node::Route::Wait)); its
    /// edges are followed when it ends.
    Parked(Box<Waiting>),
}

/// A node that waits, parked: what comes after its wait.
pub(super) struct Waiting {
    pub(super) idx: usize,
    pub(super) then: Then,
    /// When the wait ends, on the engine's clock.
    pub(super) until: Duration,
}

/// What a parked node does when its wait ends.
pub(super) enum Then {
    /// It ended well and waits before its successors run ([`Route::Wait`]): it completes.
    Complete(Done),
    /// Its call failed and its retry is due after a long back-off: it is called again, its
    /// attempts so far counted.
    Retry { attempts: u32 },
}

/// How a walk ended.
pub(super) enum Walked {
    /// Every node that could run has.
    Done,
    /// It stopped at a parked node, with nothing else in flight: what it needs to go on.
    Parked(Box<WalkState>),
}

/// Where a walk of the root frame stood when it parked.
pub(super) struct WalkState {
    pending: Vec<usize>,
    taken: Vec<bool>,
    pub(super) waiting: Box<Waiting>,
}

impl Targets {
    pub(super) fn resolve<'p>(&'p self, node: &'p crate::compile::PlanNode) -> &'p [usize] {
        match self {
            Self::None => &[],
            Self::Next => &node.next,
            Self::Route(r) => node.routes.get(&**r).map_or(&[], Vec::as_slice),
            Self::Error => &node.error_route,
            Self::List(list) => list,
            Self::Parked(_) => &[],
        }
    }
}

pub(super) enum Entry {
    Root,
    Body(usize),
    /// A parked walk of the root frame, going on once its node's wait is over.
    Resume(Box<WalkState>),
}

impl Exec {
    pub(super) fn in_frame(&self, frame: &Frame, node: usize) -> bool {
        self.plan.nodes[node].in_body_of == frame.iterate
    }

    pub(super) fn walk<'a>(self: &'a Arc<Self>, frame: &'a Arc<Frame>, entry: Entry) -> BoxFuture<'a, Result<Walked>> {
        Box::pin(async move {
            let values = Arc::new(PassShared {
                scope: self.scope(frame),
                sub: self.sub.clone(),
                depth: (self.options.depth > 0).then_some(sub::Depth(self.options.depth)),
                response: self.response.clone(),
            });
            let pass = Pass {
                frame: frame.clone(),
                run: crate::context::RunParts::for_pass(
                    self.engine.http.clone(),
                    self.cancel.clone(),
                    self.ids.scenario.clone(),
                    self.id_str.clone(),
                    self.engine.extensions.clone(),
                    values.clone(),
                ),
                values,
            };
            let pass = &pass;
            let nodes = &self.plan.nodes;
            let counts = || -> Vec<usize> {
                nodes
                    .iter()
                    .map(|n| {
                        n.preds
                            .iter()
                            .filter(|&&p| self.in_frame(frame, p) || Some(p) == frame.iterate)
                            .count()
                    })
                    .collect()
            };
            let mut ready = Vec::new();
            let mut resumed = None;
            let (mut pending, mut taken) = match entry {
                Entry::Resume(state) => {
                    let WalkState {
                        pending,
                        taken,
                        waiting,
                    } = *state;
                    resumed = Some(waiting);
                    (pending, taken)
                }
                entry => {
                    let mut pending = counts();
                    // (Not `vec![false; n]`: glibc serves a zeroed allocation past its thread cache.)
                    let mut taken: Vec<bool> = std::iter::repeat_n(false, nodes.len()).collect();
                    match entry {
                        Entry::Body(it) => {
                            let entries = Targets::List(nodes[it].succ.clone());
                            self.propagate(frame, it, &entries, &mut pending, &mut taken, &mut ready)
                                .await?;
                        }
                        _ => ready.push(self.plan.root),
                    }
                    (pending, taken)
                }
            };
            // Created only when two nodes run at once: a linear chain never needs it.
            let mut running: Option<FuturesUnordered<_>> = None;
            // The context of the last node run inline, for the next one's to reuse.
            let mut spare: Option<Context> = None;
            loop {
                let step = if let Some(waiting) = resumed.take() {
                    // The parked node's wait is over: it ends (or is tried again) first.
                    match waiting.then {
                        Then::Complete(done) => self.complete(pass, waiting.idx, done).await,
                        Then::Retry { attempts } => {
                            self.run_node_after(pass, waiting.idx, frame.iterate.is_none(), Some(attempts), None)
                                .await
                        }
                    }
                } else if running.as_ref().is_none_or(FuturesUnordered::is_empty) && ready.len() == 1 {
                    // A lone ready node with nothing else in flight (a linear chain) runs
                    // inline, without a task slot; in the root frame, its wait may park.
                    let node = ready.pop().unwrap_or_default();
                    self.run_node(pass, node, frame.iterate.is_none(), Some(&mut spare))
                        .await
                } else {
                    for node in ready.drain(..) {
                        running
                            .get_or_insert_with(FuturesUnordered::new)
                            .push(self.run_node(pass, node, false, None));
                    }
                    let Some(running) = running.as_mut() else { break };
                    match running.next().await {
                        Some(step) => step,
                        None => break,
                    }
                };
                let step = step?;
                if let Targets::Parked(waiting) = step.targets {
                    return Ok(Walked::Parked(Box::new(WalkState {
                        pending,
                        taken,
                        waiting,
                    })));
                }
                self.propagate(frame, step.from, &step.targets, &mut pending, &mut taken, &mut ready)
                    .await?;
                if let Some(skip) = step.also_skip {
                    self.skip_cascade(frame, skip, &mut pending, &mut taken, &mut ready)
                        .await?;
                }
            }
            Ok(Walked::Done)
        })
    }

    /// `from` finished, leading to `targets`: count it off its successors in this frame.
    pub(super) async fn propagate(
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
        let aggregate = frame
            .iterate
            .and_then(|it| self.plan.nodes[it].body.as_ref()?.aggregate);
        for &s in &node.succ {
            if !self.in_frame(frame, s) {
                if Some(s) == aggregate && targets.contains(&s) {
                    frame
                        .reached_aggregate
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                continue;
            }
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
    pub(super) fn skip_cascade<'a>(
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
            self.emit(|| EventKind::NodeSkipped { node: n.id.clone() });
            self.propagate(frame, node, &Targets::None, pending, taken, ready)
                .await?;
            if let Some(agg) = n.body.as_ref().and_then(|b| b.aggregate) {
                self.skip_cascade(frame, agg, pending, taken, ready).await?;
            }
            Ok(())
        })
    }
}
