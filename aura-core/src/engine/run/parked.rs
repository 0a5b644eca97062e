//! Executions parked in the store: an execution whose wait is long leaves memory, and the
//! engine that parked it takes it up again when it wakes, for the handle that follows it (or
//! reads its end from the store when another process took it up).

use super::*;

/// What the handle of an execution parked in the store follows it with: given to the
/// execution that goes on after the wake, so that the handle sees its events and response.
#[derive(Clone, Debug, Default)]
pub(crate) struct Followed {
    pub(crate) events: Option<Arc<ExecutionEvents>>,
    pub(crate) response: Option<ResponseSlot>,
    /// How much of its max duration it had spent when it parked.
    pub(crate) spent: Duration,
}

/// What is left in memory of an execution parked in the store.
pub(super) struct Parted {
    /// Weak: a parked execution does not keep its engine alive.
    engine: Weak<Inner>,
    id: Uuid,
    cancel: CancellationToken,
    followed: Followed,
}

impl Exec {
    /// Parks the execution in the store for `wait` ([`crate::store::ExecutionStore::park_leased`]);
    /// `None` when the store did not (it then waits in memory).
    pub(super) async fn park_in_store(&self, wait: Duration, spent: Duration) -> Option<Parted> {
        let lease = self.options.lease.as_ref()?;
        // Resumed from the store: every result so far goes there first.
        if let Err(e) = self.write_nodes(None).await {
            tracing::warn!(execution = %self.id, error = %e, "the results before a park could not be written: it waits in memory");
            return None;
        }
        match self.engine.store.park_leased(lease, wait).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::warn!(execution = %self.id, error = %e, "the execution could not be parked in the store: it waits in memory");
                return None;
            }
        }
        tracing::debug!(execution = %self.id, ?wait, "parked in the store");
        Some(Parted {
            engine: Arc::downgrade(&self.engine),
            id: self.id,
            cancel: (*self.cancel).clone(),
            followed: Followed {
                events: self.events.get().cloned(),
                response: self.response.clone(),
                spent,
            },
        })
    }
}

impl Parted {
    /// Waits for the execution to wake (or to be cancelled), takes it up again and runs it to
    /// its end; when another process took it up, polls the store for its end.
    /// (Boxed: the execution may park in the store again, and be followed again.)
    pub(super) fn follow(self, wait: Duration) -> BoxFuture<'static, Result<ExecutionRecord>> {
        Box::pin(self.follow_inner(wait))
    }

    async fn follow_inner(self, wait: Duration) -> Result<ExecutionRecord> {
        // The store's times are real time (tokio's clock), not the engine's clock.
        let stopped = match self.engine.upgrade() {
            Some(inner) => inner.stopped.clone(),
            None => CancellationToken::new(),
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => {}
            () = stopped.cancelled() => {}
            () = tokio::time::sleep(wait) => {}
        }
        loop {
            let Some(inner) = self.engine.upgrade() else {
                return Err(Error::unavailable(
                    "the engine was dropped while the execution was parked in the store: a worker of a \
                     process sharing the store, or a restart, takes it up when it wakes",
                )
                .with_context("execution", self.id.to_string()));
            };
            // A cancel takes the execution up before it wakes, to end it.
            match inner.store.wake(self.id, &inner.owner, inner.lease).await {
                Ok(Some(lease)) => {
                    let engine = super::super::Engine { inner: inner.clone() };
                    // Boxed: while the execution sleeps in the store, this future stays small.
                    let resumed: BoxFuture<'_, _> =
                        Box::pin(engine.resume_parked(self.id, lease, self.followed.clone(), self.cancel.clone()));
                    let resumed = resumed.await?;
                    if let Some(record) = resumed {
                        return Ok(record);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(execution = %self.id, error = %e, "a parked execution could not be taken up"),
            }
            // Not this engine's to run (another process took it up, or it has not woken yet on
            // the store's clock): its end is read from the store.
            match inner.store.get(self.id).await {
                Ok(Some(record)) if record.status.is_finished() => return Ok(record),
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(Error::not_found("the execution parked in the store is gone from it")
                        .with_context("execution", self.id.to_string()));
                }
                Err(e) => tracing::warn!(execution = %self.id, error = %e, "a parked execution could not be read"),
            }
            let every = inner.poll_interval;
            drop(inner);
            tokio::select! {
                () = stopped.cancelled() => {}
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
