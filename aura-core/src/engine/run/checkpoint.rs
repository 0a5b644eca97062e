//! Checkpoints: each node's result saved in the store, and the pause at a breakpoint.

use super::*;

impl Exec {
    /// Stops after `idx` when it is the breakpoint, until resumed.
    pub(super) async fn breakpoint(&self, idx: usize) {
        let node = &self.plan.nodes[idx];
        if let Some(pause) = &self.pause
            && self.options.breakpoint.as_deref() == Some(&*node.id)
        {
            // One stop at a time: elements of a concurrent iterate body queue here.
            let _turn = pause.turn.lock().await;
            let resumed = pause.resume.notified();
            pause.state.send_replace(Pause::At(node.id.clone()));
            self.emit(EventKind::Paused { node: node.id.clone() });
            resumed.await;
        }
    }

    /// Records the nodes that were running when the execution was stopped (cancelled, or out
    /// of time): `status`, the attempts so far, and the error that stopped them.
    pub(super) async fn stop_running(&self, status: NodeStatus, err: &Error) -> Result<()> {
        let running: Vec<((usize, Option<usize>), Running)> = self.lock().running.drain().collect();
        let now = Utc::now();
        for ((idx, item), run) in running {
            let input = self.redactor.clean(&run.input);
            let attempts = run.attempts.load(std::sync::atomic::Ordering::Relaxed);
            let mut error = self.redactor.error(err);
            error
                .context
                .push(("node".to_owned(), self.plan.nodes[idx].id.to_string()));
            self.save(idx, item, |r| {
                r.status = status;
                r.input = input;
                r.attempts = attempts;
                r.error = Some(error);
                r.started_at = Some(run.started_at);
                r.ended_at = Some(now);
            })
            .await?;
        }
        Ok(())
    }

    /// A node's output as the record keeps it, and whether that is not the output itself
    /// (secrets redacted, truncated): then the exact output goes to the store first, for
    /// re-runs and resumes.
    pub(super) async fn recorded(
        &self,
        idx: usize,
        item: Option<usize>,
        value: &Arc<Value>,
    ) -> Result<(Arc<Value>, bool)> {
        let recorded = self.redactor.clean(value);
        let cleaned = !Arc::ptr_eq(&recorded, value);
        if cleaned {
            let key = PayloadKey::Output {
                node: self.plan.nodes[idx].id.clone(),
                item,
            };
            self.engine.store.save_exact(self.id, &key, value).await?;
        }
        Ok((recorded, cleaned))
    }

    /// Updates a node's result in the record and checkpoints it in the store.
    pub(super) async fn save(
        &self,
        idx: usize,
        item: Option<usize>,
        update: impl FnOnce(&mut NodeResult),
    ) -> Result<()> {
        let result = {
            let mut state = self.lock();
            state.running.remove(&(idx, item));
            let slot = match state.slots.get(&(idx, item)) {
                Some(&i) => i,
                None => {
                    let blank = NodeResult {
                        node_id: self.plan.nodes[idx].id.clone(),
                        item,
                        status: NodeStatus::Pending,
                        input: Arc::new(Value::Null),
                        output: None,
                        output_cleaned: false,
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

pub(super) fn upsert(state: &mut State, idx: usize, item: Option<usize>, result: NodeResult) -> usize {
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
