//! Attempts: the node's call with retries, back-off, timeout, rate limit and cache.

use super::*;

/// How a node's attempts ended.
pub(super) enum Attempted {
    /// One succeeded: its output, and how many attempts it took in all.
    Done(SharedOutput, u32),
    /// They failed (for good, or with the retries spent): the last error, the attempts.
    Failed(Error, u32),
    /// One failed and the next is due only after a back-off long enough to park the execution
    /// in the store: the error, the attempts so far, the back-off.
    Later(Error, u32, Duration),
}

impl Exec {
    /// Runs the node, retrying retryable errors. A node that is not idempotent is retried only
    /// when the failed request cannot have been accepted ([`Error::may_have_been_accepted`]: the
    /// one rule the router follows too). An error whose retries are spent leaves marked
    /// [persistent](Error::persistent), so that an outer layer (a parent scenario) does not
    /// run the whole retried operation again.
    ///
    /// `done`: the attempts made before (a retry taken up after a park), which count against
    /// the policy's retries. `park`: a back-off at least this long is not slept here but
    /// answered as [`Attempted::Later`], so that the execution parks in the store.
    pub(super) async fn attempts(
        self: &Arc<Self>,
        pass: &Pass,
        idx: usize,
        cx: &Context,
        input: &Arc<Value>,
        done: u32,
        park: Option<Duration>,
    ) -> Attempted {
        let frame = &pass.frame;
        let node = &self.plan.nodes[idx];
        let retries = node.retry.retries.saturating_sub(done);
        if retries == 0 {
            // No retry left (or none asked for): one attempt, without the retry machinery.
            let n = done + 1;
            return match self.attempt(cx, idx, input, n).await {
                Ok(out) => Attempted::Done(out, n),
                Err(e) => Attempted::Failed(spent(e), n),
            };
        }
        let attempts = std::sync::atomic::AtomicU32::new(done);
        let attempts = &attempts;
        // A back-off long enough to park: the retries stop here, and the execution parks.
        let later = std::sync::Mutex::new(None::<Duration>);
        let later = &later;
        let item = frame.item_index();
        let backoff = ExponentialBuilder::default()
            .with_min_delay(node.retry.base_delay)
            .with_max_delay(node.retry.max_delay)
            .with_max_times(retries as usize)
            .with_jitter();
        let idempotent = node.info.idempotent;
        let sleeper = ClockSleeper(self.engine.clock.clone());
        // Boxed: only nodes with retries take this path, and the retry machinery would widen
        // every node's future.
        let result = Box::pin(
            (|| async {
                let n = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                self.attempt(cx, idx, input, n).await
            })
            .retry(backoff)
            .sleep(sleeper)
            .when(|e: &Error| retry_allowed(e, idempotent))
            // Jitter never takes a wait past `max_delay`; a service's `Retry-After` may.
            .adjust(|e: &Error, delay: Option<Duration>| {
                let capped = delay.map(|d| d.min(node.retry.max_delay));
                let delay = match (e.retry_after(), capped) {
                    (Some(after), Some(d)) => Some(after.max(d)),
                    (_, d) => d,
                };
                match (delay, park) {
                    (Some(d), Some(threshold)) if d >= threshold => {
                        *later.lock().unwrap_or_else(PoisonError::into_inner) = Some(d);
                        None
                    }
                    _ => delay,
                }
            })
            .notify(|e: &Error, delay: Duration| {
                let attempt = attempts.load(std::sync::atomic::Ordering::Relaxed);
                self.count_attempt(idx, item, attempt + 1);
                self.emit(|| EventKind::NodeRetrying {
                    node: node.id.clone(),
                    attempt,
                    delay,
                    error: e.kind().as_str(),
                });
            }),
        )
        .await;
        let n = attempts.load(std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(out) => Attempted::Done(out, n),
            Err(e) => {
                if let Some(wait) = *later.lock().unwrap_or_else(PoisonError::into_inner) {
                    return Attempted::Later(e, n, wait);
                }
                Attempted::Failed(if n > node.retry.retries { spent(e) } else { e }, n)
            }
        }
    }

    /// The node's context; its idempotency key (`execution/node[/item]`, the same across
    /// attempts and resumes) is built only if the node reads it. Made in `spare` when nothing
    /// else holds that one (a context is made for every node: this saves its allocation).
    pub(super) fn context(self: &Arc<Self>, pass: &Pass, idx: usize, spare: Option<Context>) -> Context {
        let node = &self.plan.nodes[idx];
        // None when no tracing subscriber would take it (see `Exec::span`).
        let span = if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug_span!("node", node = %node.id, reference = node.info.reference.as_deref(), item = pass.frame.item_index())
        } else {
            tracing::Span::none()
        };
        let parts = crate::context::NodeContext {
            connection: node.connection.clone(),
            span,
            node_id: self.ids.nodes[idx].clone(),
            item: pass.frame.item_index(),
            run: pass.run.clone(),
        };
        match spare {
            Some(mut cx) => match cx.renew(parts) {
                Ok(()) => cx,
                Err(parts) => parts.into(),
            },
            None => parts.into(),
        }
    }

    pub(super) async fn attempt(&self, cx: &Context, idx: usize, input: &Arc<Value>, n: u32) -> Result<SharedOutput> {
        let node = &self.plan.nodes[idx];
        // A later attempt says its number; the first uses the node's context as it is.
        let later;
        let cx = if n == 1 {
            cx
        } else {
            later = cx.to_builder().attempt(n).build();
            &later
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
            return Ok(SharedOutput::next(hit));
        }
        let run = node.node.run_shared(cx, input.clone());
        let out = match node.timeout {
            Some(limit) => {
                let clock = &*self.engine.clock;
                match crate::clock::within(clock, clock.now(), limit, run).await {
                    Some(out) => out?,
                    None => {
                        return Err(Error::timeout(format!(
                            "the node took longer than its timeout ({limit:?})"
                        )));
                    }
                }
            }
            None => run.await?,
        };
        if let (Some(key), Some(ttl)) = (cache_key, node.info.cache_ttl) {
            self.engine.cache.put(key, out.value.clone(), ttl);
        }
        Ok(out)
    }
}

/// The error of a node whose retries are spent: a retryable one leaves
/// [persistent](Error::persistent), so that an outer layer does not try it again.
pub(super) fn spent(e: Error) -> Error {
    if e.is_retryable() { e.persistent() } else { e }
}

/// Whether a failed attempt may be tried again: the error is retryable, and the node is
/// idempotent or the request cannot have been accepted.
fn retry_allowed(e: &Error, idempotent: bool) -> bool {
    e.is_retryable() && (idempotent || !e.may_have_been_accepted())
}

/// Back-off sleeps on the engine's clock.
struct ClockSleeper(Arc<dyn crate::clock::Clock>);

impl backon::Sleeper for ClockSleeper {
    type Sleep = crate::clock::Sleep;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        self.0.sleep(delay)
    }
}
