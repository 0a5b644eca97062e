//! Running recorded executions again: a re-run of a failed one, the recovery of one that never
//! finished (the process stopped while it ran).
//!
//! Both reuse the recorded outputs of the nodes that completed, exactly: where the record holds
//! a redacted or truncated copy, the exact value comes from the store
//! ([`crate::store::ExecutionStore::exact`]); a store that does not keep it makes the re-run
//! fail with an error that says so, rather than feed `"[redacted]"` to the next node.
//!
//! Both run the scenario version the execution recorded: the deployed plan when its version is
//! that one; otherwise, with a scenario store ([`super::EngineBuilder::scenarios`]), that
//! version's definition from the store, compiled once and kept. Without a scenario store they
//! run the plan deployed now. A restarted engine calls [`Engine::load_deployed`] first, then
//! [`Engine::recover_all`].

use std::sync::{Arc, PoisonError};

use serde_json::Value;
use uuid::Uuid;

use super::{Engine, ExecuteOptions, ExecutionHandle, Pinned, run};
use crate::compile::{CompileOptions, Plan, compile_with};
use crate::error::{Error, Result};
use crate::store::{ExecutionRecord, NodeStatus, PayloadKey};

impl Engine {
    /// Deploys again, from the scenario store ([`super::EngineBuilder::scenarios`]), the latest
    /// version of every scenario kept there, and returns their plans (none without a scenario
    /// store). Call it at start-up, before [`Engine::recover_all`], so that the executions to
    /// recover find their scenarios. Scenarios deployed in this engine already are replaced by
    /// the store's latest version; nothing is written to the store. When one fails to compile
    /// (an app it uses is not registered …), the error names its scenario and version, and
    /// none is deployed.
    pub async fn load_deployed(&self) -> Result<Vec<Arc<Plan>>> {
        let Some(store) = &self.inner.scenarios else {
            return Ok(Vec::new());
        };
        let latest = store.latest_scenarios().await?;
        let mut known: Vec<String> = latest.iter().map(|d| d.scenario_id.clone()).collect();
        known.extend(
            self.inner
                .plans
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .keys()
                .cloned(),
        );
        let mut plans = Vec::with_capacity(latest.len());
        for deployed in &latest {
            // Each may call the others, whatever their order: all are known.
            let options = CompileOptions::new()
                .known_scenarios(known.iter().cloned())
                .late_binding(self.inner.late_binding);
            let plan = compile_with(
                deployed.scenario()?,
                &self.inner.registry,
                &self.inner.connections,
                &options,
            )
            .await
            .map_err(|e| {
                e.with_context("scenario", deployed.scenario_id.clone())
                    .with_context("version", deployed.version.to_string())
            })?;
            plans.push(Arc::new(plan));
        }
        // Their cycles were checked when they were deployed.
        let mut deployed = self.inner.plans.write().unwrap_or_else(PoisonError::into_inner);
        for plan in &plans {
            deployed.insert(plan.id().to_owned(), plan.clone());
        }
        Ok(plans)
    }

    /// The plan of the scenario version `record` ran (see the module docs).
    async fn plan_for(&self, record: &ExecutionRecord) -> Result<Arc<Plan>> {
        let (id, version) = (&record.scenario_id, record.scenario_version);
        let current = self.plan(id);
        if let Some(plan) = &current
            && plan.version() == version
        {
            return Ok(plan.clone());
        }
        let Some(store) = &self.inner.scenarios else {
            return current.ok_or_else(|| {
                Error::not_found("the execution's scenario is not deployed").with_context("scenario", id.clone())
            });
        };
        let key = (id.clone(), version);
        let kept = self
            .inner
            .versions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(plan) = kept {
            return Ok(plan);
        }
        let deployed = store.scenario(id, version).await?.ok_or_else(|| {
            Error::not_found(format!(
                "version {version} of scenario {id}, which the execution ran, is not in the scenario store"
            ))
            .with_context("scenario", id.clone())
            .with_context("version", version.to_string())
            .with_context("execution", record.id.to_string())
        })?;
        let plan = self.compile(deployed.scenario()?).await?;
        self.inner
            .versions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, plan.clone());
        Ok(plan)
    }

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
        self.recover_claimed(execution_id, lease).await?.ok_or_else(|| {
            Error::conflict("this execution has finished; use rerun")
                .with_context("execution", execution_id.to_string())
        })
    }

    /// Recovers an execution this engine has claimed (`lease`), keeping the lease alive while
    /// it runs; `None` when it has finished meanwhile (its process finished it between
    /// another's listing and this claim). When it does not start, the lease is given up
    /// again, so that a later claim (here or elsewhere) can take it.
    pub(super) async fn recover_claimed(
        &self,
        execution_id: Uuid,
        lease: crate::store::Lease,
    ) -> Result<Option<ExecutionHandle>> {
        let started = self.start_claimed(execution_id, lease.clone()).await;
        if !matches!(started, Ok(Some(_)))
            && let Err(e) = self.inner.store.release(&lease).await
        {
            // The heartbeat renews every lease of this engine: this one stays held until the
            // engine stops.
            tracing::warn!(execution = %execution_id, error = %e, "a claimed execution's lease could not be given up");
        }
        started
    }

    async fn start_claimed(&self, execution_id: Uuid, lease: crate::store::Lease) -> Result<Option<ExecutionHandle>> {
        super::worker::heartbeat(&self.inner);
        let (plan, record, options) = self.recovery(execution_id).await?;
        if record.status.is_finished() {
            return Ok(None);
        }
        let trigger = self.exact_trigger(&record).await?;
        let options = ExecuteOptions {
            execution_id: Some(execution_id),
            lease: Some(lease),
            ..options
        };
        run::start(self.inner.clone(), plan, trigger, options, Some(record))
            .await
            .map(Some)
    }

    /// Takes up an execution this engine parked in the store and has claimed again (`lease`),
    /// and runs it to its end for the handle that followed it (`followed`, `cancel`): `None`
    /// when it has finished meanwhile. When it does not start, the lease is given up again.
    pub(super) async fn resume_parked(
        &self,
        execution_id: Uuid,
        lease: crate::store::Lease,
        followed: run::Followed,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<Option<ExecutionRecord>> {
        super::worker::heartbeat(&self.inner);
        let prepared = async {
            let (plan, record, options) = self.recovery(execution_id).await?;
            if record.status.is_finished() {
                return Ok(None);
            }
            let trigger = self.exact_trigger(&record).await?;
            Ok(Some((plan, record, options, trigger)))
        }
        .await;
        let (plan, record, options, trigger) = match prepared {
            Ok(Some(prepared)) => prepared,
            not_started => {
                if let Err(e) = self.inner.store.release(&lease).await {
                    tracing::warn!(execution = %execution_id, error = %e, "a claimed execution's lease could not be given up");
                }
                return not_started.map(|_| None);
            }
        };
        let options = ExecuteOptions {
            execution_id: Some(execution_id),
            lease: Some(lease),
            followed: Some(followed),
            parent_cancel: Some(cancel),
            ..options
        };
        run::resume_parked(self.inner.clone(), plan, trigger, options, record)
            .await
            .map(Some)
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
            if let Some(handle) = self.recover_claimed(record.id, lease).await? {
                handles.push(handle);
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
        let plan = self.plan_for(&record).await?;
        let mut options = ExecuteOptions::default();
        for n in record.nodes.iter().filter(|n| n.status == NodeStatus::Running) {
            options.in_flight.insert((n.node_id.clone(), n.item));
        }
        // A waiting node without an output waits for its retry.
        for n in record
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Waiting && n.output.is_none())
        {
            let due = n.ended_at.unwrap_or_else(chrono::Utc::now);
            options.retry_at.insert((n.node_id.clone(), n.item), (due, n.attempts));
        }
        for n in record
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Completed || (n.status == NodeStatus::Waiting && n.output.is_some()))
        {
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
                wakes_at: (n.status == NodeStatus::Waiting).then(|| n.ended_at.unwrap_or_else(chrono::Utc::now)),
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
