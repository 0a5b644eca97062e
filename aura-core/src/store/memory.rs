//! The embedded, in-memory store.

use foldhash::HashMap;
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use super::memory_entry::{Entry, Kept, Live};
use super::{
    ConcurrencyLimits, Cursor, ExecutionRecord, ExecutionStore, ExecutionSummary, Lease, NodeResult, Page, PageRequest,
    PayloadKey, Prune,
};
use crate::error::{Error, Result};

/// Keeps executions in memory: the default store, fast, and gone when the process ends.
///
/// It keeps the exact payloads behind redacted or truncated records (for re-runs), in memory
/// only, and dropped with their execution.
///
/// It keeps every unfinished execution and the newest finished ones, up to a retention limit
/// (10,000 by default): older finished records are dropped, so that a long-running host does
/// not grow without bound.
///
/// Executions are spread over shards, each with its own lock, so that concurrent executions
/// saving their node results do not wait on one another. A finished record is kept in a
/// compact binary form (MessagePack: a few hundred bytes for a small flow, instead of a tree of
/// maps several times that), read back on [`ExecutionStore::get`]; so that keeping many is
/// cheap. The oldest, dropped for retention, lends its buffers to the next record to finish.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Mutex<HashMap<Uuid, Entry>>]>,
    finished: Mutex<std::collections::VecDeque<Uuid>>,
    retain: usize,
    /// Trigger state, the audit trail and deployed scenarios (`memory_state.rs`).
    pub(super) state: super::memory_state::State,
    /// Woken when an execution is created without a lease: work for the workers.
    work: Arc<tokio::sync::Notify>,
    /// Held by a `claim_next`, so that two never count the same room of a limited scenario.
    claiming: Mutex<()>,
}

/// How many shards: a few per core is plenty.
const SHARDS: usize = 32;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_retention(10_000)
    }
}

impl MemoryStore {
    /// An empty store keeping the newest 10,000 finished executions.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store keeping the newest `finished` finished executions (and every unfinished
    /// one).
    pub fn with_retention(finished: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            finished: Mutex::default(),
            retain: finished,
            state: super::memory_state::State::default(),
            work: Arc::default(),
            claiming: Mutex::default(),
        }
    }

    /// How many executions it holds.
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.shard_at(i).len()).sum()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shard of an execution. UUID v7 ends in random bits: they spread evenly.
    fn shard(&self, id: Uuid) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        self.shard_at((id.as_u128() % SHARDS as u128) as usize)
    }

    fn shard_at(&self, i: usize) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        self.shards[i].lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn missing(id: Uuid) -> Error {
    Error::not_found("no such execution").with_context("execution", id.to_string())
}

impl MemoryStore {
    /// Removes executions, and their place in the finished queue.
    pub(super) fn remove(&self, ids: &[Uuid]) {
        for id in ids {
            self.shard(*id).remove(id);
        }
        let gone: std::collections::HashSet<&Uuid> = ids.iter().collect();
        self.finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id| !gone.contains(id));
    }

    /// Every finished execution's id, start and scenario, newest first.
    fn finished_ids(&self) -> Vec<(Uuid, chrono::DateTime<Utc>, String)> {
        let mut out = Vec::new();
        for i in 0..SHARDS {
            out.extend(self.shard_at(i).values().filter(|e| e.is_finished()).map(|e| {
                let (id, started, scenario) = e.prune_key();
                (id, started, scenario.to_owned())
            }));
        }
        out.sort_by_key(|(id, ..)| std::cmp::Reverse(*id));
        out
    }
}

impl MemoryStore {
    /// Adds a new execution's record, leased or not.
    fn insert(&self, record: &ExecutionRecord, lease: Option<Lease>) -> Result<()> {
        let mut map = self.shard(record.id);
        if map.contains_key(&record.id) {
            return Err(
                Error::conflict("this execution exists already").with_context("execution", record.id.to_string())
            );
        }
        // No room reserved for the nodes to come: the engine hands this store their results
        // at its waits and at the end (where the whole record replaces this copy), not one by
        // one, so a reservation would be an allocation the size of every node, made for
        // nothing on most executions.
        let mut live = Live::new(record.clone(), HashMap::default());
        live.lease = lease;
        let mut entry = Entry::Live(Box::new(live));
        entry.keep()?;
        map.insert(record.id, entry);
        Ok(())
    }

    /// Inserts or replaces a node's result.
    fn save(&self, execution_id: Uuid, result: &NodeResult) -> Result<()> {
        let mut map = self.shard(execution_id);
        let entry = map.get_mut(&execution_id).ok_or_else(|| missing(execution_id))?;
        let finished = entry.is_finished();
        entry.live()?.save(result);
        if finished {
            entry.keep()?;
        }
        Ok(())
    }

    /// Keeps an exact payload.
    fn keep_exact(&self, execution_id: Uuid, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        let mut map = self.shard(execution_id);
        let entry = map.get_mut(&execution_id).ok_or_else(|| missing(execution_id))?;
        entry.exact().insert(key.clone(), value.clone());
        Ok(())
    }

    /// Records an execution's end; a finished one is compacted (its lease goes with its live
    /// state) and the oldest finished beyond the retention are dropped.
    fn end(&self, record: &ExecutionRecord) -> Result<()> {
        let mut map = self.shard(record.id);
        let entry = map.get_mut(&record.id).ok_or_else(|| missing(record.id))?;
        let newly_finished = !entry.is_finished() && record.status.is_finished();
        let stored = &mut entry.live()?.record;
        stored.status = record.status;
        stored.ended_at = record.ended_at;
        stored.output = record.output.clone();
        stored.error = record.error.clone();
        entry.keep()?;
        drop(map);
        if newly_finished {
            self.retire(record.id);
        }
        Ok(())
    }
}

impl MemoryStore {
    /// Records an execution's end from its whole record (every node result in it): written
    /// compact at once (outside the shard's lock), its node results not applied one by one.
    fn end_whole(&self, record: &ExecutionRecord) -> Result<()> {
        if !record.status.is_finished() {
            return self.end(record);
        }
        let mut kept = Kept::new(record)?;
        let mut map = self.shard(record.id);
        let entry = map.get_mut(&record.id).ok_or_else(|| missing(record.id))?;
        let newly_finished = !entry.is_finished();
        kept.exact = std::mem::take(entry.exact());
        *entry = Entry::Kept(kept);
        drop(map);
        if newly_finished {
            self.retire(record.id);
        }
        Ok(())
    }

    /// Counts a newly finished execution, and drops the oldest finished beyond the retention.
    fn retire(&self, id: Uuid) {
        let mut id = Some(id);
        // One at a time (there is rarely more than one), each shard's lock taken after the
        // list's is released.
        loop {
            let expired = {
                let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(id) = id.take() {
                    finished.push_back(id);
                }
                if finished.len() <= self.retain {
                    return;
                }
                finished.pop_front()
            };
            let Some(old) = expired else { return };
            let removed = self.shard(old).remove(&old);
            // Its buffers for the next record to finish (outside the shard's lock).
            if let Some(Entry::Kept(kept)) = removed {
                Kept::spare(kept);
            }
        }
    }
}

#[async_trait]
impl ExecutionStore for MemoryStore {
    fn trigger_state(&self) -> Option<&dyn crate::store::TriggerStateStore> {
        Some(self)
    }

    async fn create(&self, record: &ExecutionRecord) -> Result<()> {
        self.insert(record, None)?;
        self.work.notify_waiters();
        Ok(())
    }

    fn work_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.work.clone())
    }

    async fn create_leased(&self, record: &ExecutionRecord, owner: &str, length: Duration) -> Result<Lease> {
        let lease = Lease::from_now(record.id, owner, length);
        self.insert(record, Some(lease.clone()))?;
        Ok(lease)
    }

    /// Written compact at once: no live state is made for it.
    async fn create_finished(&self, record: &ExecutionRecord, _owner: &str, _length: Duration) -> Result<()> {
        if !record.status.is_finished() {
            return Err(
                Error::invalid_input("create_finished takes a finished execution's record", Vec::new())
                    .with_context("execution", record.id.to_string()),
            );
        }
        let kept = Kept::new(record)?;
        match self.shard(record.id).entry(record.id) {
            std::collections::hash_map::Entry::Occupied(_) => {
                return Err(
                    Error::conflict("this execution exists already").with_context("execution", record.id.to_string())
                );
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Entry::Kept(kept));
            }
        }
        self.retire(record.id);
        Ok(())
    }

    async fn finish_leased(&self, _lease: &Lease, record: &ExecutionRecord) -> Result<()> {
        // A finished execution is compacted: its lease goes with its live state.
        self.end(record)
    }

    /// Nothing of it outlives the process.
    fn is_durable(&self) -> bool {
        false
    }

    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> Result<()> {
        self.save(execution_id, result)
    }

    /// In one process: nobody to fence out.
    async fn save_node_leased(&self, lease: &Lease, result: &NodeResult) -> Result<()> {
        self.save(lease.execution_id, result)
    }

    /// With an end, the whole record is kept as it is (it holds `nodes` too).
    fn keeps_whole_end(&self) -> bool {
        true
    }

    async fn checkpoint_leased(
        &self,
        lease: &Lease,
        nodes: &[NodeResult],
        end: Option<&ExecutionRecord>,
    ) -> Result<()> {
        match end {
            Some(record) => self.end_whole(record),
            None => nodes.iter().try_for_each(|node| self.save(lease.execution_id, node)),
        }
    }

    async fn finish(&self, record: &ExecutionRecord) -> Result<()> {
        self.end(record)
    }

    async fn get(&self, execution_id: Uuid) -> Result<Option<ExecutionRecord>> {
        self.shard(execution_id)
            .get(&execution_id)
            .map(Entry::record)
            .transpose()
    }

    async fn list(&self, scenario_id: &str, page: PageRequest) -> Result<Page<ExecutionSummary>> {
        let after = match &page.after {
            Some(cursor) => Some(Uuid::parse_str(cursor.as_str()).map_err(|_| {
                Error::invalid_input("not a cursor of this store", Vec::new())
                    .with_context("cursor", cursor.as_str().to_owned())
            })?),
            None => None,
        };
        let mut out: Vec<ExecutionSummary> = Vec::new();
        for i in 0..SHARDS {
            let map = self.shard_at(i);
            out.extend(
                map.values()
                    .map(Entry::summary)
                    .filter(|s| s.scenario_id == scenario_id && after.is_none_or(|a| s.id < a)),
            );
        }
        // UUID v7 ids sort by creation time.
        out.sort_by_key(|s| std::cmp::Reverse(s.id));
        let more = out.len() > page.limit;
        out.truncate(page.limit);
        let next = match out.last() {
            Some(last) if more => Some(Cursor::new(last.id.to_string())),
            _ => None,
        };
        Ok(Page { items: out, next })
    }

    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>> {
        let mut out: Vec<ExecutionRecord> = Vec::new();
        for i in 0..SHARDS {
            let map = self.shard_at(i);
            out.extend(map.values().filter_map(|e| match e {
                Entry::Live(live) if !live.record.status.is_finished() => Some(live.record.clone()),
                _ => None,
            }));
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn prune(&self, prune: Prune) -> Result<usize> {
        if prune.is_empty() {
            return Ok(0);
        }
        let finished = self.finished_ids();
        // How many of each scenario's were seen so far, newest first.
        let mut seen: HashMap<&str, usize> = HashMap::default();
        let gone: Vec<Uuid> = finished
            .iter()
            .enumerate()
            .filter(|(i, (_, started, scenario))| {
                let rank = seen.entry(scenario.as_str()).or_default();
                let beyond_scenario = prune.keep_per_scenario.is_some_and(|keep| *rank >= keep);
                *rank += 1;
                beyond_scenario
                    || prune.keep_newest.is_some_and(|keep| *i >= keep)
                    || prune.older_than.is_some_and(|t| *started < t)
            })
            .map(|(_, (id, ..))| *id)
            .collect();
        self.remove(&gone);
        Ok(gone.len())
    }

    async fn claim_next(
        &self,
        owner: &str,
        length: Duration,
        limit: usize,
        limits: &ConcurrencyLimits,
    ) -> Result<Vec<Lease>> {
        // One claim at a time: the room of each limited scenario is counted, then taken.
        let _claiming = self.claiming.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Utc::now();
        let unfinished = |live: &Live| !live.record.status.is_finished();
        let free = |live: &Live| unfinished(live) && live.lease.as_ref().is_none_or(|held| !held.is_live(now));
        let mut candidates: Vec<(Uuid, Option<String>)> = Vec::new();
        // Room left per limited scenario: its max less the executions holding a live lease.
        let mut room: HashMap<String, u32> = limits.iter().map(|(s, max)| (s.to_owned(), max)).collect();
        for shard in &self.shards {
            let map = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, entry) in map.iter() {
                let Entry::Live(live) = entry else { continue };
                let limited = room.contains_key(&live.record.scenario_id);
                if free(live) {
                    candidates.push((*id, limited.then(|| live.record.scenario_id.clone())));
                } else if limited
                    && unfinished(live)
                    && live.lease.as_ref().is_some_and(|held| !held.owner.is_empty())
                    && let Some(left) = room.get_mut(&live.record.scenario_id)
                {
                    *left = left.saturating_sub(1);
                }
            }
        }
        // UUID v7: oldest first.
        candidates.sort_unstable();
        let mut claimed = Vec::new();
        for (id, scenario) in candidates {
            if claimed.len() >= limit {
                break;
            }
            if let Some(scenario) = &scenario
                && room.get(scenario).is_some_and(|left| *left == 0)
            {
                continue;
            }
            let mut map = self.shard(id);
            // Checked again under the lock: another claimer may have been faster.
            if let Some(Entry::Live(live)) = map.get_mut(&id)
                && free(live)
            {
                let lease = Lease::from_now(id, owner, length);
                live.lease = Some(lease.clone());
                claimed.push(lease);
                if let Some(left) = scenario.as_ref().and_then(|s| room.get_mut(s)) {
                    *left -= 1;
                }
            }
        }
        Ok(claimed)
    }

    async fn claim(&self, execution_id: Uuid, owner: &str, lease: Duration) -> Result<Option<Lease>> {
        let mut map = self.shard(execution_id);
        let Some(Entry::Live(entry)) = map.get_mut(&execution_id) else {
            return Ok(None);
        };
        if entry.record.status.is_finished() {
            return Ok(None);
        }
        if let Some(held) = &entry.lease
            && held.owner != owner
            && held.is_live(Utc::now())
        {
            return Ok(None);
        }
        let new = Lease::from_now(execution_id, owner, lease);
        entry.lease = Some(new.clone());
        Ok(Some(new))
    }

    async fn renew(&self, lease: &Lease, extend: Duration) -> Result<Option<Lease>> {
        let mut map = self.shard(lease.execution_id);
        let Some(Entry::Live(entry)) = map.get_mut(&lease.execution_id) else {
            return Ok(None);
        };
        match &entry.lease {
            Some(held) if held.owner == lease.owner => {
                let new = Lease::from_now(lease.execution_id, &lease.owner, extend);
                entry.lease = Some(new.clone());
                Ok(Some(new))
            }
            _ => Ok(None),
        }
    }

    async fn renew_owned(&self, owner: &str, extend: Duration) -> Result<u64> {
        let until = Lease::from_now(Uuid::nil(), owner, extend).until;
        let mut renewed = 0;
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for entry in map.values_mut() {
                if let Entry::Live(live) = entry
                    && let Some(held) = &mut live.lease
                    && held.owner == owner
                {
                    held.until = until;
                    renewed += 1;
                }
            }
        }
        Ok(renewed)
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let mut map = self.shard(lease.execution_id);
        if let Some(Entry::Live(entry)) = map.get_mut(&lease.execution_id)
            && entry.lease.as_ref().is_some_and(|held| held.owner == lease.owner)
        {
            entry.lease = None;
        }
        Ok(())
    }

    async fn save_exact(&self, execution_id: Uuid, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        self.keep_exact(execution_id, key, value)
    }

    async fn save_exact_leased(&self, lease: &Lease, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        self.keep_exact(lease.execution_id, key, value)
    }

    async fn exact(&self, execution_id: Uuid, key: &PayloadKey) -> Result<Option<Arc<Value>>> {
        Ok(self.shard(execution_id).get(&execution_id).and_then(|e| match e {
            Entry::Live(live) => live.exact.get(key).cloned(),
            Entry::Kept(kept) => kept.exact.get(key).cloned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ExecutionStatus;

    fn record(status: ExecutionStatus) -> ExecutionRecord {
        ExecutionRecord {
            id: Uuid::now_v7(),
            scenario_id: "s".into(),
            scenario_version: 1,
            trigger: Arc::new(serde_json::Value::Null),
            trigger_cleaned: false,
            status,
            started_at: chrono::Utc::now(),
            ended_at: None,
            nodes: Vec::new(),
            output: None,
            error: None,
            rerun_of: None,
        }
    }

    /// A record dropped for retention lends its entry to the next one to finish, which reads
    /// back whole (record and summary), whether it is larger or smaller.
    #[tokio::test]
    async fn a_record_kept_in_the_room_of_a_dropped_one_reads_back_whole() {
        let store = MemoryStore::with_retention(1);
        for i in 0..6 {
            let mut r = record(ExecutionStatus::Running);
            r.scenario_id = format!("scenario-{}", "x".repeat(6 - i));
            store.create(&r).await.unwrap();
            r.status = ExecutionStatus::Completed;
            r.ended_at = Some(chrono::Utc::now());
            r.output = Some(serde_json::json!({ "n": i, "text": "y".repeat((i % 3) * 500) }));
            store.finish(&r).await.unwrap();
            assert_eq!(store.get(r.id).await.unwrap().as_ref(), Some(&r), "record {i}");
            let summary = store.shard(r.id).get(&r.id).unwrap().summary();
            assert_eq!(summary, r.summary(), "summary {i}");
            assert_eq!(store.len(), 1);
            assert_eq!(
                Kept::spares(),
                usize::from(i > 0),
                "the dropped record's entry is spare"
            );
        }
    }

    #[tokio::test]
    async fn only_the_newest_finished_executions_are_kept() {
        let store = MemoryStore::with_retention(2);
        let running = record(ExecutionStatus::Running);
        store.create(&running).await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..4 {
            let mut r = record(ExecutionStatus::Running);
            store.create(&r).await.unwrap();
            r.status = ExecutionStatus::Completed;
            store.finish(&r).await.unwrap();
            ids.push(r.id);
        }
        assert_eq!(store.len(), 3, "two finished and the running one");
        assert!(store.get(ids[0]).await.unwrap().is_none());
        assert!(store.get(ids[3]).await.unwrap().is_some());
        assert!(store.get(running.id).await.unwrap().is_some());
    }
}
