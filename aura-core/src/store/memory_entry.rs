//! The in-memory store's entries: an execution live while it runs, compact once finished, and
//! the spare room of finished records dropped for retention.

use std::sync::Arc;

use chrono::Utc;
use foldhash::HashMap;
use serde_json::Value;
use uuid::Uuid;

use super::{ExecutionRecord, ExecutionSummary, Lease, NodeResult, PayloadKey};
use crate::error::{Error, Result};

/// One execution: live while it runs, compact once finished.
#[derive(Debug)]
pub(super) enum Entry {
    Live(Box<Live>),
    Kept(Box<Kept>),
}

/// A running execution's record and where each node result sits in it, so that saving a
/// result costs O(1) even in executions with many iterations.
#[derive(Debug)]
pub(super) struct Live {
    pub(super) record: ExecutionRecord,
    /// Where each node's result sits, once there are more than [`SCAN`] (fewer are found by
    /// a scan, which is faster and allocates nothing).
    pub(super) slots: HashMap<(Arc<str>, Option<usize>), usize>,
    pub(super) exact: HashMap<PayloadKey, Arc<Value>>,
    pub(super) lease: Option<Lease>,
}

/// A finished execution: its summary, for listings and pruning, and the record in its compact
/// form.
#[derive(Debug)]
pub(super) struct Kept {
    pub(super) summary: ExecutionSummary,
    pub(super) compact: Vec<u8>,
    pub(super) exact: HashMap<PayloadKey, Arc<Value>>,
}

/// Up to this many node results, a result's place is found by a scan.
const SCAN: usize = 16;

impl Live {
    pub(super) fn new(record: ExecutionRecord, exact: HashMap<PayloadKey, Arc<Value>>) -> Self {
        let mut live = Self {
            record,
            slots: HashMap::default(),
            exact,
            lease: None,
        };
        if live.record.nodes.len() > SCAN {
            live.index();
        }
        live
    }

    fn index(&mut self) {
        self.slots = self
            .record
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| ((n.node_id.clone(), n.item), i))
            .collect();
    }

    /// Inserts or replaces one node's result.
    pub(super) fn save(&mut self, result: &NodeResult) {
        let nodes = &mut self.record.nodes;
        let found = if nodes.len() <= SCAN {
            nodes
                .iter()
                .position(|n| n.item == result.item && n.node_id == result.node_id)
        } else {
            self.slots.get(&(result.node_id.clone(), result.item)).copied()
        };
        match found {
            Some(i) => nodes[i] = result.clone(),
            None => {
                nodes.push(result.clone());
                if nodes.len() > SCAN {
                    if self.slots.is_empty() {
                        self.index();
                    } else {
                        self.slots
                            .insert((result.node_id.clone(), result.item), nodes.len() - 1);
                    }
                }
            }
        }
    }
}

impl Entry {
    pub(super) fn summary(&self) -> ExecutionSummary {
        match self {
            Self::Live(live) => live.record.summary(),
            Self::Kept(kept) => kept.summary.clone(),
        }
    }

    pub(super) fn is_finished(&self) -> bool {
        match self {
            Self::Live(live) => live.record.status.is_finished(),
            Self::Kept(_) => true,
        }
    }

    /// What pruning looks at: id, start and scenario.
    pub(super) fn prune_key(&self) -> (Uuid, chrono::DateTime<Utc>, &str) {
        match self {
            Self::Live(live) => (live.record.id, live.record.started_at, &live.record.scenario_id),
            Self::Kept(kept) => (kept.summary.id, kept.summary.started_at, &kept.summary.scenario_id),
        }
    }

    pub(super) fn record(&self) -> Result<ExecutionRecord> {
        match self {
            Self::Live(live) => Ok(live.record.clone()),
            Self::Kept(kept) => super::compact::decode(&kept.compact)
                .map_err(|e| e.with_context("execution", kept.summary.id.to_string())),
        }
    }

    /// The live form, read back from JSON when the execution had finished (a rare write to a
    /// finished execution).
    pub(super) fn live(&mut self) -> Result<&mut Live> {
        if matches!(self, Self::Kept(_)) {
            let record = self.record()?;
            let exact = std::mem::take(self.exact());
            *self = Self::Live(Box::new(Live::new(record, exact)));
        }
        match self {
            Self::Live(live) => Ok(live),
            Self::Kept(_) => Err(Error::internal("a kept execution record could not be read back")),
        }
    }

    /// The compact form of a finished execution (kept live if it cannot be written: nothing is
    /// lost).
    pub(super) fn keep(&mut self) -> Result<()> {
        let Self::Live(live) = self else { return Ok(()) };
        if !live.record.status.is_finished() {
            return Ok(());
        }
        let mut kept = Kept::new(&live.record)?;
        kept.exact = std::mem::take(&mut live.exact);
        *self = Self::Kept(kept);
        Ok(())
    }

    pub(super) fn exact(&mut self) -> &mut HashMap<PayloadKey, Arc<Value>> {
        match self {
            Self::Live(live) => &mut live.exact,
            Self::Kept(kept) => &mut kept.exact,
        }
    }
}

/// A compact record's buffer larger than this is not kept spare (a large record would hold
/// its room for the small ones that reuse it).
const SPARE_BYTES: usize = 4096;

thread_local! {
    /// The entry of a finished record dropped for retention, emptied, for the next record to
    /// finish: in a steady state (one record dropped for each one kept), keeping a record
    /// allocates and frees nothing. Without it each record's buffers are freed on whichever
    /// thread drops it — often another than the one that allocated them, where glibc's
    /// allocator takes its arena's lock — and allocated again for the next one.
    ///
    /// One per thread, shared by the thread's stores: the thread that keeps a record is the
    /// one that then drops the oldest for retention, and it keeps the next. No lock and no
    /// count is shared between threads (a shared list here, locked twice per execution by
    /// every worker, moved its cache line from core to core at every execution).
    static SPARE: std::cell::Cell<Option<Box<Kept>>> = const { std::cell::Cell::new(None) };
}

impl Kept {
    /// `record` in its compact form, in this thread's spare entry's room when it has one (its
    /// exact payloads are the caller's to move in once this has succeeded).
    pub(super) fn new(record: &ExecutionRecord) -> Result<Box<Self>> {
        let spare = SPARE.with(std::cell::Cell::take);
        let Some(mut kept) = spare else {
            let mut compact = Vec::new();
            super::compact::encode_into(record, &mut compact)?;
            return Ok(Box::new(Self {
                summary: record.summary(),
                compact,
                exact: HashMap::default(),
            }));
        };
        super::compact::encode_into(record, &mut kept.compact)?;
        let s = &mut kept.summary;
        s.id = record.id;
        s.scenario_id.clone_from(&record.scenario_id);
        s.status = record.status;
        s.started_at = record.started_at;
        s.ended_at = record.ended_at;
        Ok(kept)
    }

    /// How many spare entries this thread holds (0 or 1).
    #[cfg(test)]
    pub(super) fn spares() -> usize {
        SPARE.with(|spare| {
            let held = spare.take();
            let n = usize::from(held.is_some());
            spare.set(held);
            n
        })
    }

    /// Keeps a dropped record's entry for the next one on this thread (dropped when it is
    /// large, or holds exact payloads; the spare held before goes).
    pub(super) fn spare(kept: Box<Self>) {
        if kept.compact.capacity() > SPARE_BYTES || !kept.exact.is_empty() {
            return;
        }
        SPARE.with(|spare| spare.set(Some(kept)));
    }
}
