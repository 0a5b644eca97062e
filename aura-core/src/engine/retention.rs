//! [`Retention`]: how long finished execution records stay in the store, and the engine's task
//! that prunes them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::store::{ExecutionStore, Prune};

/// Which finished executions the engine prunes from its store, and how often
/// ([`super::EngineBuilder::retention`]).
///
/// The engine then runs one task that prunes its store when it starts and again every
/// [`every`](Self::every) (10 minutes by default): it deletes the finished executions that
/// started more than [`max_age`](Self::max_age) ago, and those beyond the newest
/// [`keep_per_scenario`](Self::keep_per_scenario) of their scenario (the union of the two, as
/// [`Prune`] does). Unfinished executions are never pruned. Without a rule, nothing is deleted.
///
/// The engine's [`Clock`] measures both the interval and the age (the wall time when the task
/// started, plus the time since then on the clock), so that a
/// [`ManualClock`](crate::clock::ManualClock) drives it in tests. A prune that fails is logged
/// (`tracing::warn!`) and tried again at the next interval. The task ends when the engine (its
/// last clone) is dropped. Engines sharing one store may each have a retention: their prunes
/// overlap harmlessly (an execution is deleted once).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use aura_core::engine::{Engine, Retention};
/// use aura_core::Registry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // The last 1,000 executions of each scenario, none older than a week, checked hourly.
/// let retention = Retention::new()
///     .keep_per_scenario(1_000)
///     .max_age(Duration::from_secs(7 * 24 * 3600))
///     .every(Duration::from_secs(3600));
/// let engine = Engine::builder(Arc::new(Registry::new())).retention(retention).build();
/// # drop(engine);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    max_age: Option<Duration>,
    keep_per_scenario: Option<usize>,
    every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self::new()
    }
}

impl Retention {
    /// How often the engine prunes by default: every 10 minutes.
    pub const DEFAULT_EVERY: Duration = Duration::from_secs(600);

    /// No rule yet (deletes nothing), every 10 minutes; add a rule.
    pub fn new() -> Self {
        Self {
            max_age: None,
            keep_per_scenario: None,
            every: Self::DEFAULT_EVERY,
        }
    }

    /// Deletes finished executions that started more than `age` ago.
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keeps at most the newest `count` finished executions of each scenario.
    #[must_use]
    pub fn keep_per_scenario(mut self, count: usize) -> Self {
        self.keep_per_scenario = Some(count);
        self
    }

    /// How often to prune (default [`DEFAULT_EVERY`](Self::DEFAULT_EVERY), 10 minutes). A zero
    /// interval counts as one second: the task never spins.
    #[must_use]
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = interval;
        self
    }

    /// The prune this retention asks for at `now`.
    pub fn prune_at(&self, now: DateTime<Utc>) -> Prune {
        let mut prune = Prune::new();
        if let Some(age) = self.max_age {
            // An age beyond what chrono can subtract reaches before every execution: no cut.
            if let Some(cut) = chrono::Duration::from_std(age)
                .ok()
                .and_then(|age| now.checked_sub_signed(age))
            {
                prune = prune.older_than(cut);
            }
        }
        if let Some(count) = self.keep_per_scenario {
            prune = prune.keep_newest_per_scenario(count);
        }
        prune
    }

    /// The interval, at least a second.
    fn interval(&self) -> Duration {
        self.every.max(Duration::from_secs(1))
    }

    /// Starts the pruning task on the current tokio runtime; it ends when `stop` is cancelled.
    /// Outside a runtime nothing starts, and a warning says so.
    pub(super) fn spawn(self, store: Arc<dyn ExecutionStore>, clock: Arc<dyn Clock>, stop: CancellationToken) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("the engine was built outside a tokio runtime: its retention task does not run");
            return;
        };
        runtime.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = self.run(store.as_ref(), clock.as_ref()) => {}
            }
        });
    }

    /// Prunes now and after every interval, for ever.
    async fn run(self, store: &dyn ExecutionStore, clock: &dyn Clock) {
        let (started_wall, started) = (Utc::now(), clock.now());
        loop {
            // The next tick is set before pruning: time the clock moves meanwhile counts.
            let next = clock.deadline(self.interval());
            let elapsed =
                chrono::Duration::from_std(clock.now().saturating_sub(started)).unwrap_or(chrono::Duration::MAX);
            let now = started_wall
                .checked_add_signed(elapsed)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let prune = self.prune_at(now);
            if !prune.is_empty() {
                match store.prune(prune).await {
                    Ok(0) => {}
                    Ok(gone) => tracing::debug!(gone, "retention pruned finished executions"),
                    Err(e) => tracing::warn!(error = %e, "retention could not prune the store; trying again later"),
                }
            }
            next.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prune_cuts_at_now_minus_the_max_age() {
        let now = Utc::now();
        let prune = Retention::new()
            .max_age(Duration::from_secs(3600))
            .keep_per_scenario(5)
            .prune_at(now);
        assert_eq!(prune.older_than, Some(now - chrono::Duration::hours(1)));
        assert_eq!(prune.keep_per_scenario, Some(5));
        assert_eq!(prune.keep_newest, None);
    }

    #[test]
    fn no_rule_prunes_nothing_and_a_huge_age_cuts_nowhere() {
        assert!(Retention::new().prune_at(Utc::now()).is_empty());
        assert!(Retention::new().max_age(Duration::MAX).prune_at(Utc::now()).is_empty());
    }
}
