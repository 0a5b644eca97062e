//! [`MemoryStore`] as a [`TriggerStateStore`], an [`AuditLog`], a [`ScenarioStore`] and an
//! [`OutboxStore`]: in memory, bounded (but for the outbox, which holds what was accepted),
//! for tests and the embedded default.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Mutex as AsyncMutex;

use super::outbox::{OutboxEntry, OutboxStore};
use super::scenarios::{DeployedScenario, ScenarioStore, version_conflict};
use super::triggers::{PollCommit, PollOutcome, TriggerKey, TriggerStateStore, distinct, mark};
use super::{Cursor, ExecutionStore, MemoryStore, Page, PageRequest};
use crate::audit::{AuditEntry, AuditLog};
use crate::error::{Error, Result};

/// Dedupe keys kept at most, by default: past it, the soonest to expire go first.
const DEDUPE_CAPACITY: usize = 100_000;
/// Audit entries kept at most, by default: past it, the oldest go.
const AUDIT_CAPACITY: usize = 10_000;

/// What a [`MemoryStore`] keeps beside executions.
#[derive(Debug)]
pub(crate) struct State {
    /// An async lock: a poll's commit holds it while it creates executions.
    triggers: AsyncMutex<Triggers>,
    audit: parking_lot::Mutex<VecDeque<AuditEntry>>,
    audit_capacity: usize,
    scenarios: parking_lot::Mutex<BTreeMap<(String, u32), DeployedScenario>>,
    /// Rate limits shared by the engines using the store.
    rates: super::LocalRates,
    /// Outbound deliveries not yet finished, by id (ids sort by creation).
    outbox: parking_lot::Mutex<BTreeMap<uuid::Uuid, OutboxEntry>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            triggers: AsyncMutex::new(Triggers {
                capacity: DEDUPE_CAPACITY,
                ..Triggers::default()
            }),
            audit: parking_lot::Mutex::default(),
            audit_capacity: AUDIT_CAPACITY,
            rates: super::LocalRates::default(),
            scenarios: parking_lot::Mutex::default(),
            outbox: parking_lot::Mutex::default(),
        }
    }
}

type Dedupe = (TriggerKey, String);

#[derive(Debug, Default)]
struct Triggers {
    cursors: HashMap<TriggerKey, Value>,
    /// Each key's expiry.
    dedupe: HashMap<Dedupe, DateTime<Utc>>,
    /// The same keys by expiry, soonest first: what pruning and the bound take from.
    by_expiry: BTreeSet<(DateTime<Utc>, Dedupe)>,
    capacity: usize,
}

impl Triggers {
    /// Which of `keys` are new at `now` (not kept, or expired).
    fn fresh(&self, key: &TriggerKey, keys: &[&str], now: DateTime<Utc>) -> HashSet<String> {
        keys.iter()
            .filter(|k| {
                self.dedupe
                    .get(&(key.clone(), (**k).to_owned()))
                    .is_none_or(|until| *until <= now)
            })
            .map(|k| (*k).to_owned())
            .collect()
    }

    fn keep(&mut self, key: &TriggerKey, keys: &HashSet<String>, expires_at: DateTime<Utc>, now: DateTime<Utc>) {
        for k in keys {
            let dedupe = (key.clone(), k.clone());
            if let Some(old) = self.dedupe.insert(dedupe.clone(), expires_at) {
                self.by_expiry.remove(&(old, dedupe.clone()));
            }
            self.by_expiry.insert((expires_at, dedupe));
        }
        if self.dedupe.len() > self.capacity {
            self.prune(now, usize::MAX);
        }
        // Still too many: the soonest to expire go (bounded memory beats a perfect memory).
        while self.dedupe.len() > self.capacity {
            let Some((_, dedupe)) = self.by_expiry.pop_first() else {
                break;
            };
            self.dedupe.remove(&dedupe);
        }
    }

    fn prune(&mut self, now: DateTime<Utc>, batch: usize) -> usize {
        let mut gone = 0;
        while gone < batch {
            match self.by_expiry.first() {
                Some((until, _)) if *until <= now => {}
                _ => break,
            }
            let Some((_, dedupe)) = self.by_expiry.pop_first() else {
                break;
            };
            self.dedupe.remove(&dedupe);
            gone += 1;
        }
        gone
    }
}

impl MemoryStore {
    /// Keeps at most `keys` dedupe keys (default 100,000): past it, expired keys go, then the
    /// soonest to expire (an item seen long ago may then run again).
    #[must_use]
    pub fn with_dedupe_capacity(mut self, keys: usize) -> Self {
        self.state.triggers.get_mut().capacity = keys;
        self
    }
}

#[async_trait]
impl TriggerStateStore for MemoryStore {
    async fn cursor(&self, key: &TriggerKey) -> Result<Option<Value>> {
        Ok(self.state.triggers.lock().await.cursors.get(key).cloned())
    }

    async fn set_cursor(&self, key: &TriggerKey, cursor: &Value) -> Result<()> {
        self.state
            .triggers
            .lock()
            .await
            .cursors
            .insert(key.clone(), cursor.clone());
        Ok(())
    }

    async fn remember(
        &self,
        key: &TriggerKey,
        keys: &[String],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        let mut triggers = self.state.triggers.lock().await;
        let wanted = distinct(keys.iter().map(String::as_str));
        let fresh = triggers.fresh(key, &wanted, now);
        triggers.keep(key, &fresh, expires_at, now);
        Ok(mark(keys.iter().map(String::as_str), &fresh))
    }

    async fn prune_dedupe(&self, now: DateTime<Utc>, batch: usize) -> Result<usize> {
        Ok(self.state.triggers.lock().await.prune(now, batch))
    }

    async fn commit_poll(&self, commit: &PollCommit) -> Result<PollOutcome> {
        crate::store::triggers::check_ids(commit)?;
        let mut triggers = self.state.triggers.lock().await;
        let keys = || commit.items.iter().map(|i| i.dedupe_key.as_str());
        let fresh = triggers.fresh(&commit.key, &distinct(keys()), commit.now);
        let new = mark(keys(), &fresh);
        // Nothing is kept until every execution is created; one that fails undoes the others.
        let mut created = Vec::new();
        for (item, _) in commit.items.iter().zip(&new).filter(|(_, new)| **new) {
            if let Err(err) = self.create(&item.execution).await {
                self.remove(&created);
                return Err(err);
            }
            created.push(item.execution.id);
            if let Some(exact) = &item.exact_trigger
                && let Err(err) = self
                    .save_exact(item.execution.id, &crate::store::PayloadKey::Trigger, exact)
                    .await
            {
                self.remove(&created);
                return Err(err);
            }
        }
        triggers.keep(&commit.key, &fresh, commit.expires_at, commit.now);
        if let Some(cursor) = &commit.cursor {
            triggers.cursors.insert(commit.key.clone(), cursor.clone());
        }
        Ok(PollOutcome { new })
    }
}

fn audit_cursor(cursor: &Cursor) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(cursor.as_str()).map_err(|_| {
        Error::invalid_input("not a cursor of this store", Vec::new())
            .with_context("cursor", cursor.as_str().to_owned())
    })
}

#[async_trait]
impl super::RateLimitStore for MemoryStore {
    async fn take_rate(
        &self,
        key: &str,
        limit: crate::rate_limit::RateLimit,
    ) -> Result<std::result::Result<(), std::time::Duration>> {
        Ok(self.state.rates.take(key, limit))
    }
}

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn write_outbox(&self, put: &[OutboxEntry], remove: &[uuid::Uuid]) -> Result<()> {
        let mut outbox = self.state.outbox.lock();
        for id in remove {
            outbox.remove(id);
        }
        for entry in put {
            outbox.insert(entry.id, entry.clone());
        }
        Ok(())
    }

    async fn outbox(&self, endpoint: &str) -> Result<Vec<OutboxEntry>> {
        let outbox = self.state.outbox.lock();
        Ok(outbox.values().filter(|e| e.endpoint == endpoint).cloned().collect())
    }

    async fn clear_outbox(&self, endpoint: &str) -> Result<u64> {
        let mut outbox = self.state.outbox.lock();
        let before = outbox.len();
        outbox.retain(|_, e| e.endpoint != endpoint);
        Ok((before - outbox.len()) as u64)
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append(&self, entry: &AuditEntry) -> Result<()> {
        let mut audit = self.state.audit.lock();
        // Kept in id order (time order): the entry goes where its id sorts (the end, nearly
        // always).
        match audit.binary_search_by(|e| e.id.cmp(&entry.id)) {
            Ok(_) => {
                return Err(
                    Error::conflict("this audit entry exists already").with_context("key", entry.id.to_string())
                );
            }
            Err(at) => audit.insert(at, entry.clone()),
        }
        while audit.len() > self.state.audit_capacity {
            audit.pop_front();
        }
        Ok(())
    }

    async fn list_audit(&self, page: PageRequest) -> Result<Page<AuditEntry>> {
        let after = page.after.as_ref().map(audit_cursor).transpose()?;
        let audit = self.state.audit.lock();
        let mut items: Vec<AuditEntry> = audit
            .iter()
            .rev()
            .filter(|e| after.is_none_or(|a| e.id < a))
            .take(page.limit.saturating_add(1))
            .cloned()
            .collect();
        let more = items.len() > page.limit;
        items.truncate(page.limit);
        let next = match items.last() {
            Some(last) if more => Some(Cursor::new(last.id.to_string())),
            _ => None,
        };
        Ok(Page { items, next })
    }
}

#[async_trait]
impl ScenarioStore for MemoryStore {
    async fn save_scenario(&self, deployed: &DeployedScenario) -> Result<bool> {
        let mut scenarios = self.state.scenarios.lock();
        let key = (deployed.scenario_id.clone(), deployed.version);
        match scenarios.get(&key) {
            Some(kept) if kept.definition == deployed.definition => Ok(false),
            Some(_) => Err(version_conflict(&deployed.scenario_id, deployed.version)),
            None => {
                scenarios.insert(key, deployed.clone());
                Ok(true)
            }
        }
    }

    async fn scenario(&self, scenario_id: &str, version: u32) -> Result<Option<DeployedScenario>> {
        Ok(self
            .state
            .scenarios
            .lock()
            .get(&(scenario_id.to_owned(), version))
            .cloned())
    }

    async fn latest_scenario(&self, scenario_id: &str) -> Result<Option<DeployedScenario>> {
        let scenarios = self.state.scenarios.lock();
        Ok(scenarios
            .range((scenario_id.to_owned(), 0)..=(scenario_id.to_owned(), u32::MAX))
            .next_back()
            .map(|(_, d)| d.clone()))
    }

    async fn latest_scenarios(&self) -> Result<Vec<DeployedScenario>> {
        let scenarios = self.state.scenarios.lock();
        let mut latest: BTreeMap<&str, &DeployedScenario> = BTreeMap::new();
        for ((id, _), d) in scenarios.iter() {
            latest.insert(id, d);
        }
        Ok(latest.into_values().cloned().collect())
    }

    async fn scenario_versions(&self, scenario_id: &str) -> Result<Vec<u32>> {
        let scenarios = self.state.scenarios.lock();
        Ok(scenarios
            .range((scenario_id.to_owned(), 0)..=(scenario_id.to_owned(), u32::MAX))
            .map(|((_, v), _)| *v)
            .collect())
    }
}
