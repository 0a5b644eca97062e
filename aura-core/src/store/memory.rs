//! The embedded, in-memory store.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use uuid::Uuid;

use super::{ExecutionRecord, ExecutionSummary, NodeResult, Store};
use crate::error::{Error, Result};

/// Keeps executions in memory: the default store, fast, and gone when the process ends.
///
/// It keeps every unfinished execution and the newest finished ones, up to a retention limit
/// (10,000 by default): older finished records are dropped, so that a long-running host does
/// not grow without bound.
///
/// Executions are spread over shards, each with its own lock, so that concurrent executions
/// saving their node results do not wait on one another.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Mutex<HashMap<Uuid, Entry>>]>,
    finished: Mutex<std::collections::VecDeque<Uuid>>,
    retain: usize,
}

/// How many shards: a few per core is plenty.
const SHARDS: usize = 32;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_retention(10_000)
    }
}

/// A record and where each node result sits in it, so that saving a result costs O(1) even in
/// executions with many iterations.
#[derive(Debug)]
struct Entry {
    record: ExecutionRecord,
    slots: HashMap<(Arc<str>, Option<usize>), usize>,
}

impl Entry {
    fn new(record: ExecutionRecord) -> Self {
        let mut slots = HashMap::with_capacity(record.nodes.capacity());
        slots.extend(
            record
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| ((n.node_id.clone(), n.item), i)),
        );
        Self { record, slots }
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

#[async_trait]
impl Store for MemoryStore {
    async fn create(&self, record: &ExecutionRecord) -> Result<()> {
        let mut map = self.shard(record.id);
        if map.contains_key(&record.id) {
            return Err(
                Error::conflict("this execution exists already").with_context("execution", record.id.to_string())
            );
        }
        let mut copy = record.clone();
        // Room for every node up front: saving a result never reallocates.
        copy.nodes
            .reserve(record.nodes.capacity().saturating_sub(copy.nodes.len()));
        map.insert(record.id, Entry::new(copy));
        Ok(())
    }

    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> Result<()> {
        let mut map = self.shard(execution_id);
        let entry = map.get_mut(&execution_id).ok_or_else(|| missing(execution_id))?;
        match entry.slots.get(&(result.node_id.clone(), result.item)) {
            Some(&i) => entry.record.nodes[i] = result.clone(),
            None => {
                entry
                    .slots
                    .insert((result.node_id.clone(), result.item), entry.record.nodes.len());
                entry.record.nodes.push(result.clone());
            }
        }
        Ok(())
    }

    async fn finish(&self, record: &ExecutionRecord) -> Result<()> {
        let mut map = self.shard(record.id);
        let stored = &mut map.get_mut(&record.id).ok_or_else(|| missing(record.id))?.record;
        let newly_finished = !stored.status.is_finished() && record.status.is_finished();
        stored.status = record.status;
        stored.ended_at = record.ended_at;
        stored.output = record.output.clone();
        stored.error = record.error.clone();
        drop(map);
        if newly_finished {
            let expired: Vec<Uuid> = {
                let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
                finished.push_back(record.id);
                let excess = finished.len().saturating_sub(self.retain);
                finished.drain(..excess).collect()
            };
            for old in expired {
                self.shard(old).remove(&old);
            }
        }
        Ok(())
    }

    async fn get(&self, execution_id: Uuid) -> Result<Option<ExecutionRecord>> {
        Ok(self.shard(execution_id).get(&execution_id).map(|e| e.record.clone()))
    }

    async fn list(&self, scenario_id: &str, limit: usize) -> Result<Vec<ExecutionSummary>> {
        let mut out: Vec<ExecutionSummary> = Vec::new();
        for i in 0..SHARDS {
            let map = self.shard_at(i);
            out.extend(
                map.values()
                    .filter(|e| e.record.scenario_id == scenario_id)
                    .map(|e| e.record.summary()),
            );
        }
        // UUID v7 ids sort by creation time.
        out.sort_by_key(|s| std::cmp::Reverse(s.id));
        out.truncate(limit);
        Ok(out)
    }

    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>> {
        let mut out: Vec<ExecutionRecord> = Vec::new();
        for i in 0..SHARDS {
            let map = self.shard_at(i);
            out.extend(
                map.values()
                    .filter(|e| !e.record.status.is_finished())
                    .map(|e| e.record.clone()),
            );
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
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
            status,
            started_at: chrono::Utc::now(),
            ended_at: None,
            nodes: Vec::new(),
            output: None,
            error: None,
            rerun_of: None,
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
