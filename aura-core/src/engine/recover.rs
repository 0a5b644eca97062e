//! Running recorded executions again: a re-run of a failed one, the recovery of one that never
//! finished (the process stopped while it ran).
//!
//! Both reuse the recorded outputs of the nodes that completed, exactly: where the record holds
//! a redacted or truncated copy, the exact value comes from the store
//! ([`crate::store::ExecutionStore::exact`]); a store that does not keep it makes the re-run
//! fail with an error that says so, rather than feed `"[redacted]"` to the next node.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::{Engine, ExecuteOptions, ExecutionHandle, Pinned, run};
use crate::compile::Plan;
use crate::error::{Error, Result};
use crate::store::{ExecutionRecord, NodeStatus, PayloadKey};

impl Engine {
    /// Runs a failed (or cancelled) execution again as a new execution: the nodes that had
    /// completed are not called again (inside iterate bodies: per element), their recorded
    /// outputs are reused exactly; the run starts over from the node that failed.
    pub async fn rerun(&self, execution_id: Uuid) -> Result<ExecutionHandle> {
        let (plan, record, options) = self.recovery(execution_id).await?;
        let trigger = self.exact_trigger(&record).await?;
        let options = ExecuteOptions {
            rerun_of: Some(execution_id),
            // A re-run is asked for by someone who checked: nothing is held back.
            in_flight: std::collections::HashSet::new(),
            ..options
        };
        run::start(self.inner.clone(), plan, trigger, options, None).await
    }

    /// Recovers an execution that never finished (the process stopped while it ran): it goes on
    /// under its own id from its last completed nodes. The engine first claims the execution
    /// in the store under its owner id ([`super::EngineBuilder::owner`]), so that two processes
    /// do not both recover it: a live lease of another owner is a [`crate::ErrorKind::Conflict`].
    pub async fn recover(&self, execution_id: Uuid) -> Result<ExecutionHandle> {
        let lease = self
            .inner
            .store
            .claim(execution_id, &self.inner.owner, self.inner.lease)
            .await?
            .ok_or_else(|| {
                Error::conflict("the execution is finished, unknown, or claimed by another process")
                    .with_context("execution", execution_id.to_string())
            })?;
        let recovered = self.recover_claimed(execution_id, lease.clone()).await;
        if recovered.is_err() {
            self.inner.store.release(&lease).await?;
        }
        recovered
    }

    async fn recover_claimed(&self, execution_id: Uuid, lease: crate::store::Lease) -> Result<ExecutionHandle> {
        let (plan, record, options) = self.recovery(execution_id).await?;
        if record.status.is_finished() {
            return Err(Error::conflict("this execution has finished; use rerun")
                .with_context("execution", execution_id.to_string()));
        }
        let trigger = self.exact_trigger(&record).await?;
        let options = ExecuteOptions {
            execution_id: Some(execution_id),
            lease: Some(lease),
            ..options
        };
        run::start(self.inner.clone(), plan, trigger, options, Some(record)).await
    }

    /// Recovers every unfinished execution this engine can claim (call once at start-up; the
    /// ones another process holds are left to it).
    pub async fn recover_all(&self) -> Result<Vec<ExecutionHandle>> {
        let mut handles = Vec::new();
        for record in self.inner.store.unfinished().await? {
            let Some(lease) = self
                .inner
                .store
                .claim(record.id, &self.inner.owner, self.inner.lease)
                .await?
            else {
                continue;
            };
            match self.recover_claimed(record.id, lease.clone()).await {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    self.inner.store.release(&lease).await?;
                    return Err(e);
                }
            }
        }
        Ok(handles)
    }

    /// The trigger data exactly as it came.
    async fn exact_trigger(&self, record: &ExecutionRecord) -> Result<Value> {
        if !record.trigger_cleaned {
            return Ok((*record.trigger).clone());
        }
        let exact = self.inner.store.exact(record.id, &PayloadKey::Trigger).await?;
        exact.map(Arc::unwrap_or_clone).ok_or_else(|| {
            Error::not_found(
                "the trigger data is stored redacted or truncated and the store keeps no exact copy: \
                 the execution cannot be run again",
            )
            .with_context("execution", record.id.to_string())
        })
    }

    async fn recovery(&self, execution_id: Uuid) -> Result<(Arc<Plan>, ExecutionRecord, ExecuteOptions)> {
        let record =
            self.inner.store.get(execution_id).await?.ok_or_else(|| {
                Error::not_found("no such execution").with_context("execution", execution_id.to_string())
            })?;
        let plan = self.plan(&record.scenario_id).ok_or_else(|| {
            Error::not_found("the execution's scenario is not deployed")
                .with_context("scenario", record.scenario_id.clone())
        })?;
        let mut options = ExecuteOptions::default();
        for n in record.nodes.iter().filter(|n| n.status == NodeStatus::Running) {
            options.in_flight.insert((n.node_id.clone(), n.item));
        }
        for n in record.nodes.iter().filter(|n| n.status == NodeStatus::Completed) {
            let output = if n.output_cleaned {
                let key = PayloadKey::Output {
                    node: n.node_id.clone(),
                    item: n.item,
                };
                self.inner.store.exact(record.id, &key).await?.ok_or_else(|| {
                    Error::not_found(
                        "the node's output is stored redacted or truncated and the store keeps no \
                         exact copy: the execution cannot be run again",
                    )
                    .with_context("execution", record.id.to_string())
                    .with_context("node", n.node_id.to_string())
                })?
            } else {
                match &n.output {
                    Some(output) => output.clone(),
                    None => continue,
                }
            };
            let pinned = Pinned {
                output,
                route: n.route.clone(),
            };
            match n.item {
                None => {
                    options.pinned.insert(n.node_id.to_string(), pinned);
                }
                Some(item) => {
                    options.reused.insert((n.node_id.clone(), item), pinned);
                }
            }
        }
        Ok((plan, record, options))
    }
}
