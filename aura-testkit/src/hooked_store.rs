//! [`HookedStore`]: an execution store that passes every call to another one, after showing it
//! to a hook of the test's that may fail it: to count what the engine writes, or to play a
//! database that is away.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aura_core::Result;
use aura_core::store::{
    ConcurrencyLimits, ExecutionRecord, ExecutionStore, ExecutionSummary, Lease, NodeResult, Page, PageRequest,
    PayloadKey, PollCommit, PollOutcome, Prune, StoreAvailability, TriggerKey, TriggerStateStore,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// One call on the store, as the hook of a [`HookedStore`] sees it (before it is made).
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreCall<'a> {
    /// [`ExecutionStore::create`], or the creation of [`ExecutionStore::create_leased`].
    Create(&'a ExecutionRecord),
    /// [`ExecutionStore::save_node`] or [`ExecutionStore::save_node_leased`].
    SaveNode(Uuid, &'a NodeResult),
    /// [`ExecutionStore::finish`] or [`ExecutionStore::finish_leased`].
    Finish(&'a ExecutionRecord),
    /// [`ExecutionStore::get`].
    Get(Uuid),
    /// [`ExecutionStore::list`], of this scenario.
    List(&'a str),
    /// [`ExecutionStore::unfinished`].
    Unfinished,
    /// [`ExecutionStore::prune`].
    Prune(&'a Prune),
    /// [`ExecutionStore::claim`] or [`ExecutionStore::wake`], by this owner.
    Claim(Uuid, &'a str),
    /// [`ExecutionStore::claim_next`], by this owner.
    ClaimNext(&'a str),
    /// [`ExecutionStore::renew`], [`ExecutionStore::release`] or
    /// [`ExecutionStore::park_leased`] of this lease.
    Lease(&'a Lease),
    /// [`ExecutionStore::renew_owned`], of this owner.
    RenewOwned(&'a str),
    /// [`ExecutionStore::save_exact`] or [`ExecutionStore::save_exact_leased`].
    SaveExact(Uuid, &'a PayloadKey),
    /// [`ExecutionStore::exact`].
    Exact(Uuid, &'a PayloadKey),
    /// [`TriggerStateStore::cursor`] or [`TriggerStateStore::set_cursor`] of this trigger.
    Cursor(&'a TriggerKey),
    /// [`TriggerStateStore::remember`] or [`TriggerStateStore::prune_dedupe`].
    Remember,
    /// [`TriggerStateStore::commit_poll`] or [`TriggerStateStore::commit_delivery`]: a
    /// poll's (or a delivery's) items and cursor, committed at once (an error from the hook
    /// plays a crash before the commit: nothing of it is kept).
    CommitPoll(&'a PollCommit),
}

type Hook = dyn Fn(&StoreCall<'_>) -> Result<()> + Send + Sync;

/// An [`ExecutionStore`] that shows each call to a hook, then makes it on the store it wraps;
/// an error from the hook fails the call without reaching that store.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use aura_core::store::MemoryStore;
/// use aura_testkit::{HookedStore, StoreCall};
///
/// // Counts the node results the engine checkpoints; fails every claim (a database away).
/// let saved = Arc::new(AtomicUsize::new(0));
/// let counted = saved.clone();
/// let store = HookedStore::new(Arc::new(MemoryStore::new()), move |call| match call {
///     StoreCall::SaveNode(..) => {
///         counted.fetch_add(1, Ordering::Relaxed);
///         Ok(())
///     }
///     StoreCall::ClaimNext(_) => Err(aura_core::Error::unavailable("the database is away")),
///     _ => Ok(()),
/// });
/// # drop(store);
/// ```
pub struct HookedStore {
    inner: Arc<dyn ExecutionStore>,
    hook: Box<Hook>,
    durable: Option<bool>,
    keeps_exact: bool,
}

impl fmt::Debug for HookedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookedStore")
            .field("durable", &self.is_durable())
            .field("keeps_exact", &self.keeps_exact)
            .finish_non_exhaustive()
    }
}

impl HookedStore {
    /// Wraps `inner`, showing each call to `hook` first.
    pub fn new(
        inner: Arc<dyn ExecutionStore>,
        hook: impl Fn(&StoreCall<'_>) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            hook: Box::new(hook),
            durable: None,
            keeps_exact: true,
        }
    }

    /// Says the store is durable or not ([`ExecutionStore::is_durable`]), whatever the
    /// wrapped one says.
    #[must_use]
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = Some(durable);
        self
    }

    /// Whether exact payloads reach the wrapped store (default `true`); `false` plays a store
    /// that keeps none: they are dropped, and none is found.
    #[must_use]
    pub fn keeps_exact(mut self, keeps: bool) -> Self {
        self.keeps_exact = keeps;
        self
    }

    fn see(&self, call: &StoreCall<'_>) -> Result<()> {
        (self.hook)(call)
    }
}

#[async_trait::async_trait]
impl ExecutionStore for HookedStore {
    fn is_durable(&self) -> bool {
        self.durable.unwrap_or_else(|| self.inner.is_durable())
    }

    async fn create(&self, record: &ExecutionRecord) -> Result<()> {
        self.see(&StoreCall::Create(record))?;
        self.inner.create(record).await
    }

    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> Result<()> {
        self.see(&StoreCall::SaveNode(execution_id, result))?;
        self.inner.save_node(execution_id, result).await
    }

    async fn finish(&self, record: &ExecutionRecord) -> Result<()> {
        self.see(&StoreCall::Finish(record))?;
        self.inner.finish(record).await
    }

    async fn get(&self, execution_id: Uuid) -> Result<Option<ExecutionRecord>> {
        self.see(&StoreCall::Get(execution_id))?;
        self.inner.get(execution_id).await
    }

    async fn list(&self, scenario_id: &str, page: PageRequest) -> Result<Page<ExecutionSummary>> {
        self.see(&StoreCall::List(scenario_id))?;
        self.inner.list(scenario_id, page).await
    }

    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>> {
        self.see(&StoreCall::Unfinished)?;
        self.inner.unfinished().await
    }

    async fn prune(&self, prune: Prune) -> Result<usize> {
        self.see(&StoreCall::Prune(&prune))?;
        self.inner.prune(prune).await
    }

    async fn claim(&self, execution_id: Uuid, owner: &str, lease: Duration) -> Result<Option<Lease>> {
        self.see(&StoreCall::Claim(execution_id, owner))?;
        self.inner.claim(execution_id, owner, lease).await
    }

    async fn renew(&self, lease: &Lease, extend: Duration) -> Result<Option<Lease>> {
        self.see(&StoreCall::Lease(lease))?;
        self.inner.renew(lease, extend).await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        self.see(&StoreCall::Lease(lease))?;
        self.inner.release(lease).await
    }

    async fn renew_owned(&self, owner: &str, extend: Duration) -> Result<u64> {
        self.see(&StoreCall::RenewOwned(owner))?;
        self.inner.renew_owned(owner, extend).await
    }

    async fn create_leased(&self, record: &ExecutionRecord, owner: &str, length: Duration) -> Result<Lease> {
        self.see(&StoreCall::Create(record))?;
        self.inner.create_leased(record, owner, length).await
    }

    async fn save_node_leased(&self, lease: &Lease, result: &NodeResult) -> Result<()> {
        self.see(&StoreCall::SaveNode(lease.execution_id, result))?;
        self.inner.save_node_leased(lease, result).await
    }

    async fn save_exact_leased(&self, lease: &Lease, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        self.see(&StoreCall::SaveExact(lease.execution_id, key))?;
        if !self.keeps_exact {
            return Ok(());
        }
        self.inner.save_exact_leased(lease, key, value).await
    }

    async fn finish_leased(&self, lease: &Lease, record: &ExecutionRecord) -> Result<()> {
        self.see(&StoreCall::Finish(record))?;
        self.inner.finish_leased(lease, record).await
    }

    async fn park_leased(&self, lease: &Lease, wake_in: Duration) -> Result<bool> {
        self.see(&StoreCall::Lease(lease))?;
        self.inner.park_leased(lease, wake_in).await
    }

    async fn wake(&self, execution_id: Uuid, owner: &str, length: Duration) -> Result<Option<Lease>> {
        self.see(&StoreCall::Claim(execution_id, owner))?;
        self.inner.wake(execution_id, owner, length).await
    }

    async fn claim_next(
        &self,
        owner: &str,
        length: Duration,
        limit: usize,
        limits: &ConcurrencyLimits,
    ) -> Result<Vec<Lease>> {
        self.see(&StoreCall::ClaimNext(owner))?;
        self.inner.claim_next(owner, length, limit, limits).await
    }

    fn work_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.inner.work_signal()
    }

    fn availability(&self) -> Option<tokio::sync::watch::Receiver<StoreAvailability>> {
        self.inner.availability()
    }

    fn trigger_state(&self) -> Option<&dyn TriggerStateStore> {
        // Its calls pass the hook too, when the wrapped store keeps trigger state.
        self.inner.trigger_state().map(|_| self as &dyn TriggerStateStore)
    }

    async fn save_exact(&self, execution_id: Uuid, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        self.see(&StoreCall::SaveExact(execution_id, key))?;
        if !self.keeps_exact {
            return Ok(());
        }
        self.inner.save_exact(execution_id, key, value).await
    }

    async fn exact(&self, execution_id: Uuid, key: &PayloadKey) -> Result<Option<Arc<Value>>> {
        self.see(&StoreCall::Exact(execution_id, key))?;
        if !self.keeps_exact {
            return Ok(None);
        }
        self.inner.exact(execution_id, key).await
    }
}

/// The wrapped store's trigger state, which [`ExecutionStore::trigger_state`] offers only when
/// the wrapped store keeps one.
fn state(inner: &Arc<dyn ExecutionStore>) -> Result<&dyn TriggerStateStore> {
    inner
        .trigger_state()
        .ok_or_else(|| aura_core::Error::internal("the wrapped store keeps no trigger state"))
}

#[async_trait::async_trait]
impl TriggerStateStore for HookedStore {
    async fn cursor(&self, key: &TriggerKey) -> Result<Option<Value>> {
        self.see(&StoreCall::Cursor(key))?;
        state(&self.inner)?.cursor(key).await
    }

    async fn set_cursor(&self, key: &TriggerKey, cursor: &Value) -> Result<()> {
        self.see(&StoreCall::Cursor(key))?;
        state(&self.inner)?.set_cursor(key, cursor).await
    }

    async fn remember(
        &self,
        key: &TriggerKey,
        keys: &[String],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        self.see(&StoreCall::Remember)?;
        state(&self.inner)?.remember(key, keys, expires_at, now).await
    }

    async fn prune_dedupe(&self, now: DateTime<Utc>, batch: usize) -> Result<usize> {
        self.see(&StoreCall::Remember)?;
        state(&self.inner)?.prune_dedupe(now, batch).await
    }

    async fn commit_poll(&self, commit: &PollCommit) -> Result<PollOutcome> {
        self.see(&StoreCall::CommitPoll(commit))?;
        state(&self.inner)?.commit_poll(commit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aura_core::store::MemoryStore;

    // A hook that passes everything leaves a store that passes the whole behaviour suite.
    crate::store_behavior!(async {
        crate::behavior::store::StoreFixture::new(Arc::new(HookedStore::new(Arc::new(MemoryStore::new()), |_| Ok(()))))
            .keeps_exact(true)
    });

    #[tokio::test]
    async fn a_hook_sees_each_call_and_its_error_fails_the_call_before_the_store() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let store = HookedStore::new(Arc::new(MemoryStore::new()), move |call| {
            log.lock().unwrap().push(
                format!("{call:?}")
                    .split(['(', ' '])
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            );
            match call {
                StoreCall::Get(_) => Err(aura_core::Error::unavailable("away")),
                _ => Ok(()),
            }
        })
        .keeps_exact(false);
        let record = crate::behavior::store::record("s");
        store.create(&record).await.unwrap();
        assert_eq!(
            store.get(record.id).await.unwrap_err().kind(),
            aura_core::ErrorKind::Unavailable
        );
        store
            .save_exact(record.id, &PayloadKey::Trigger, &Arc::new(serde_json::json!(1)))
            .await
            .unwrap();
        assert_eq!(
            store.exact(record.id, &PayloadKey::Trigger).await.unwrap(),
            None,
            "kept none"
        );
        assert_eq!(*seen.lock().unwrap(), ["Create", "Get", "SaveExact", "Exact"]);
    }
}
