//! Checkpoints: each node's result saved in the store, and the pause at a breakpoint.

use std::future::{Ready, ready};

use futures::future::Either;

use super::*;

impl Exec {
    /// Stops after `idx` when it is the breakpoint, until resumed. The check is made before
    /// any future: only a stop makes one (boxed), so a node's future carries none of it.
    pub(super) fn breakpoint(&self, idx: usize) -> Option<BoxFuture<'_, ()>> {
        let node = &self.plan.nodes[idx];
        let pause = self.pause.as_ref()?;
        if self.options.breakpoint.as_deref() != Some(&*node.id) {
            return None;
        }
        Some(Box::pin(async move {
            // One stop at a time: elements of a concurrent iterate body queue here.
            let _turn = pause.turn.lock().await;
            // What someone looking at the store sees: every result so far.
            if let Err(e) = self.write_nodes(None).await {
                tracing::warn!(execution = %self.id, error = %e, "the results before a breakpoint could not be written");
            }
            let resumed = pause.resume.notified();
            pause.state.send_replace(Pause::At(node.id.clone()));
            self.emit(|| EventKind::Paused { node: node.id.clone() });
            resumed.await;
        }))
    }

    /// Before a wait in memory: the deferred results go to the store, so that while the
    /// execution waits the store shows every result so far. A failed write is logged; the
    /// next checkpoint (at the latest the end) writes them again, and fails the run if it
    /// cannot.
    pub(super) async fn write_before_wait(&self) {
        if self.checkpoints
            && let Err(e) = self.write_nodes(None).await
        {
            tracing::warn!(execution = %self.id, error = %e, "the results before a wait could not be written");
        }
    }

    /// Adds a node's result to the record as running (not checkpointed: a node in flight is
    /// not in the store). `input` is the real one until the node ends or is stopped, when it is
    /// replaced by its redacted copy.
    pub(super) fn begin(&self, idx: usize, item: Option<usize>, started_at: chrono::DateTime<Utc>, input: &Arc<Value>) {
        let mut state = self.lock();
        let r = match state.slots.get(idx, item) {
            Some(slot) => {
                let r = &mut state.record.nodes[slot];
                r.input = input.clone();
                r
            }
            // Made with its input (not a placeholder replaced at once).
            None => {
                let slot = upsert(&mut state, idx, item, pending(&self.ids, idx, item, input.clone()));
                &mut state.record.nodes[slot]
            }
        };
        r.status = NodeStatus::Running;
        r.attempts = 1;
        r.started_at = Some(started_at);
    }

    /// Saves a running node (its input redacted) before it is called: after a crash, the
    /// resume knows that this call may have happened.
    pub(super) async fn save_running(&self, idx: usize, item: Option<usize>) -> Result<()> {
        let result = {
            let mut state = self.lock();
            let slot = slot(&mut state, &self.ids, idx, item);
            let mut result = state.record.nodes[slot].clone();
            result.input = self.clean(&result.input);
            result
        };
        self.write_nodes(Some(result)).await
    }

    /// Writes the deferred results of pure nodes, then `own`, then `end`: under the
    /// execution's lease when it has one (so that a process that lost it cannot write), in
    /// one queued batch.
    pub(super) async fn write_nodes(&self, own: Option<NodeResult>) -> Result<()> {
        self.write_all(own, None).await
    }

    async fn write_all(&self, own: Option<NodeResult>, end: Option<&ExecutionRecord>) -> Result<()> {
        // A store that keeps the end whole reads the deferred results there: no copies for it.
        let whole = end.is_some() && self.engine.store.keeps_whole_end();
        let (slots, mut nodes): (Vec<usize>, Vec<NodeResult>) = {
            let mut state = self.lock();
            let slots = state.deferred.take();
            if whole {
                (slots, Vec::new())
            } else {
                // At the end the results have moved to `end`.
                let results = end.map_or(&state.record.nodes, |record| &record.nodes);
                let nodes = slots
                    .iter()
                    .filter_map(|&slot| results.get(slot))
                    .map(|r| {
                        let mut r = r.clone();
                        if r.status == NodeStatus::Running {
                            // Run again since it was deferred: its input is the real one.
                            r.input = self.clean(&r.input);
                        }
                        r
                    })
                    .collect();
                (slots, nodes)
            }
        };
        nodes.extend(own);
        let written = self.write_to_store(&nodes, end).await;
        if written.is_err() {
            // Still to be written: with the next checkpoint.
            let mut state = self.lock();
            for slot in slots {
                state.deferred.mark(slot);
            }
        }
        written
    }

    async fn write_to_store(&self, nodes: &[NodeResult], end: Option<&ExecutionRecord>) -> Result<()> {
        let store = &self.engine.store;
        if let Some(record) = end
            && !record.trigger_cleaned
            && !self.created.initialized()
        {
            // Nothing of it written yet: its whole record, in one write. (A trigger the record
            // keeps redacted has its exact payload to write too: that goes the long way.)
            store
                .create_finished(record, &self.engine.owner, self.engine.lease)
                .await?;
            // (Nothing else writes at the end.)
            let _ = self.created.set(());
            return Ok(());
        }
        self.ensure_created().await?;
        match &self.options.lease {
            Some(lease) if !nodes.is_empty() || end.is_some() => store.checkpoint_leased(lease, nodes, end).await,
            Some(_) => Ok(()),
            None => {
                for node in nodes {
                    store.save_node(self.id, node).await?;
                }
                match end {
                    Some(record) => store.finish(record).await,
                    None => Ok(()),
                }
            }
        }
    }

    /// Writes the execution's creation if it was put off ([`Exec::created`]): leased to this
    /// engine, with its trigger's exact payload when the record keeps a redacted copy.
    pub(super) async fn ensure_created(&self) -> Result<()> {
        if self.created.initialized() {
            return Ok(());
        }
        // Boxed: the copy of the record and the writes would widen the future of every write
        // (at the end, past the allocator's thread cache: see `Exec::finish`).
        Box::pin(self.create_put_off()).await
    }

    async fn create_put_off(&self) -> Result<()> {
        self.created
            .get_or_try_init(|| async {
                let Some(lease) = &self.options.lease else {
                    return Ok(());
                };
                let running = self.lock().record.as_created();
                let store = &self.engine.store;
                store
                    .create_leased(&running, &self.engine.owner, self.engine.lease)
                    .await?;
                super::super::worker::heartbeat(&self.engine);
                if running.trigger_cleaned {
                    store
                        .save_exact_leased(lease, &PayloadKey::Trigger, &self.trigger)
                        .await?;
                }
                Ok::<(), Error>(())
            })
            .await
            .map(|&()| ())
    }

    /// An execution that goes on after `start` (or `execute`) first gave the caller's task
    /// back is written to the store now, so that it can be looked up while it runs. Should
    /// that fail, its next write tries again and ends it with the error.
    pub(super) async fn publish(&self) {
        if let Err(e) = self.ensure_created().await {
            tracing::warn!(execution = %self.id, error = %e, "the running execution could not be written to the store: its next write tries again");
        }
    }

    /// Writes the end with the deferred results before it.
    pub(super) async fn write_end(&self, record: &ExecutionRecord) -> Result<()> {
        self.write_all(None, Some(record)).await
    }

    /// Writes an exact payload, under the execution's lease when it has one.
    async fn store_exact(&self, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        self.ensure_created().await?;
        match &self.options.lease {
            Some(lease) => self.engine.store.save_exact_leased(lease, key, value).await,
            None => self.engine.store.save_exact(self.id, key, value).await,
        }
    }

    /// Counts another attempt of a running node.
    pub(super) fn count_attempt(&self, idx: usize, item: Option<usize>, attempt: u32) {
        let mut state = self.lock();
        if let Some(slot) = state.slots.get(idx, item) {
            state.record.nodes[slot].attempts = attempt;
        }
    }

    /// Records the nodes that were running when the execution was stopped (cancelled, out of
    /// time, or failed in another branch): `status`, the attempts so far, and the error that
    /// stopped them.
    pub(super) async fn stop_running(&self, status: NodeStatus, err: &Error) -> Result<()> {
        let now = Utc::now();
        {
            let mut state = self.lock();
            let error = self.redactor.error(err);
            let stopped: Vec<usize> = state
                .record
                .nodes
                .iter_mut()
                .enumerate()
                .filter(|(_, r)| matches!(r.status, NodeStatus::Running | NodeStatus::Waiting))
                .map(|(slot, r)| {
                    let mut error = error.clone();
                    error.context.push(("node".to_owned(), r.node_id.to_string()));
                    r.status = status;
                    r.input = self.clean(&r.input);
                    r.error = Some(Box::new(error));
                    r.ended_at = Some(now);
                    slot
                })
                .collect();
            if self.checkpoints {
                for slot in stopped {
                    state.deferred.mark(slot);
                }
            }
        }
        if self.checkpoints {
            self.write_nodes(None).await?;
        }
        Ok(())
    }

    /// A payload as the record keeps it: cleaned (secrets redacted, truncated), or as it is when
    /// the record is cleaned whole if ever read ([`Exec::raw_payloads`]).
    pub(super) fn clean(&self, value: &Arc<Value>) -> Arc<Value> {
        if self.raw_payloads {
            return value.clone();
        }
        self.redactor.clean(value)
    }

    /// [`clean`](Self::clean) on a payload the caller gives up.
    pub(super) fn clean_shared(&self, value: Arc<Value>) -> Arc<Value> {
        if self.raw_payloads {
            return value;
        }
        self.redactor.clean_shared(value)
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
        let recorded = self.clean(value);
        let cleaned = !Arc::ptr_eq(&recorded, value);
        if cleaned {
            let key = PayloadKey::Output {
                node: self.plan.nodes[idx].id.clone(),
                item,
            };
            if self.checkpoints {
                // Boxed: a cleaned output is the rarer case, and its write would widen every
                // node's future.
                Box::pin(self.store_exact(&key, value)).await?;
            } else {
                self.lock().exact.push((key, value.clone()));
            }
        }
        Ok((recorded, cleaned))
    }

    /// Updates a node's result in the record and checkpoints it in the store: at once, or,
    /// for a pure node (and any node, on a store that does not outlive the process, where an
    /// earlier write saves nothing from a crash), with the next checkpoint that is waited for.
    pub(super) fn save(
        &self,
        idx: usize,
        item: Option<usize>,
        update: impl FnOnce(&mut NodeResult),
    ) -> Either<Ready<Result<()>>, BoxFuture<'_, Result<()>>> {
        // The record is updated at once; only a write to a durable store makes a future (boxed:
        // the write would otherwise widen every node's future).
        let result = {
            let mut state = self.lock();
            let slot = slot(&mut state, &self.ids, idx, item);
            let result = &mut state.record.nodes[slot];
            update(result);
            if !self.checkpoints {
                return Either::Left(ready(Ok(())));
            }
            if self.plan.nodes[idx].info.pure || !self.durable {
                state.deferred.mark(slot);
                return Either::Left(ready(Ok(())));
            }
            result.clone()
        };
        Either::Right(Box::pin(self.write_nodes(Some(result))))
    }
}

/// The slot of a node's result in the record, added (pending) when it has none yet.
pub(super) fn slot(state: &mut State, ids: &PlanIds, idx: usize, item: Option<usize>) -> usize {
    if let Some(i) = state.slots.get(idx, item) {
        return i;
    }
    upsert(state, idx, item, pending(ids, idx, item, null()))
}

/// A node's result before it runs.
fn pending(ids: &PlanIds, idx: usize, item: Option<usize>, input: Arc<Value>) -> NodeResult {
    NodeResult {
        node_id: ids.nodes[idx].clone(),
        item,
        status: NodeStatus::Pending,
        input,
        output: None,
        output_cleaned: false,
        error: None,
        attempts: 0,
        route: None,
        pinned: false,
        started_at: None,
        ended_at: None,
    }
}

pub(super) fn upsert(state: &mut State, idx: usize, item: Option<usize>, result: NodeResult) -> usize {
    match state.slots.get(idx, item) {
        Some(i) => {
            state.record.nodes[i] = result;
            i
        }
        None => {
            let i = state.record.nodes.len();
            state.record.nodes.push(result);
            state.slots.insert(idx, item, i);
            i
        }
    }
}
