//! [`ConcurrencyLimits`]: how many executions of a scenario may run at once across every
//! process sharing a store.

use std::collections::BTreeMap;

/// The most executions of each scenario that may run at once (scenario id → max), honoured by
/// [`ExecutionStore::claim_next`](crate::store::ExecutionStore::claim_next) across every process
/// sharing the store.
///
/// Running means holding a live lease: an execution a worker claimed, and one an engine
/// started itself on that store (leased from its creation); not one parked in the store until
/// it wakes, nor one waiting in the queue. A worker ([`crate::engine::Engine::work`]) passes
/// the `max_concurrent` setting of each scenario deployed in its engine, so that a claim never
/// takes an execution of a scenario that already runs its max, wherever it runs.
///
/// ```
/// use aura_core::store::ConcurrencyLimits;
///
/// let limits = ConcurrencyLimits::new().with("invoices", 2);
/// assert_eq!(limits.get("invoices"), Some(2));
/// assert_eq!(limits.get("other"), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConcurrencyLimits(BTreeMap<String, u32>);

impl ConcurrencyLimits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `max` executions of `scenario` at once.
    #[must_use]
    pub fn with(mut self, scenario: impl Into<String>, max: u32) -> Self {
        self.0.insert(scenario.into(), max);
        self
    }

    /// The limit of `scenario`, if it has one.
    pub fn get(&self, scenario: &str) -> Option<u32> {
        self.0.get(scenario).copied()
    }

    /// Whether no scenario is limited.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each limited scenario and its max, by scenario id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.0.iter().map(|(s, max)| (s.as_str(), *max))
    }
}

impl<S: Into<String>> FromIterator<(S, u32)> for ConcurrencyLimits {
    fn from_iter<I: IntoIterator<Item = (S, u32)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(s, max)| (s.into(), max)).collect())
    }
}
