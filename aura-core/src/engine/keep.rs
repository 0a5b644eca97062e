//! [`Keep`]: which executions' records the engine keeps in its store.

/// Which executions' records the engine keeps in its [`crate::store::ExecutionStore`]
/// ([`super::EngineBuilder::keep`]).
///
/// | policy | store writes | after a crash |
/// | --- | --- | --- |
/// | [`Keep::all`] (default) | every node's result checkpointed before its successors start (on a durable store; pure nodes' and, on a store that is not durable, every node's with the next checkpoint that is waited for), the end recorded | [`super::Engine::recover`] resumes every unfinished execution from its last checkpoint |
/// | [`Keep::sampled`] | nothing while it runs; at the end, the whole record of every execution that did not complete and of 1 in `n` that did | nothing to resume: an execution in flight is lost with the process |
/// | [`Keep::none`] | nothing at all | nothing to resume |
///
/// Whatever the policy, [`super::ExecutionHandle::wait`] and [`super::Engine::execute`] return
/// the whole record, events flow, and webhook responses are answered: only the store is
/// spared. `sampled` and `none` are for hosts that answer at once and keep their own logs (a
/// high-volume webhook, say), where the store's work would be most of the cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keep {
    /// Keep 1 in this many completed executions (0: none).
    completed_one_in: u32,
    /// Keep every execution that did not complete (failed, cancelled).
    unsuccessful: bool,
    /// Checkpoint each node as it ends.
    checkpoint: bool,
}

impl Default for Keep {
    fn default() -> Self {
        Self::all()
    }
}

impl Keep {
    /// Every execution, checkpointed after each node (the default; what crash resume needs).
    pub fn all() -> Self {
        Self {
            completed_one_in: 1,
            unsuccessful: true,
            checkpoint: true,
        }
    }

    /// No record at all: the engine never writes to its store.
    pub fn none() -> Self {
        Self {
            completed_one_in: 0,
            unsuccessful: false,
            checkpoint: false,
        }
    }

    /// Every execution that did not complete, and 1 in `completed_one_in` of those that did
    /// (0: none of them), each written whole when it ends.
    pub fn sampled(completed_one_in: u32) -> Self {
        Self {
            completed_one_in,
            unsuccessful: true,
            checkpoint: false,
        }
    }

    /// Whether each node's result is written as it ends.
    pub(crate) fn checkpoints(self) -> bool {
        self.checkpoint
    }

    /// Whether no record is ever written ([`Keep::none`]).
    pub(crate) fn keeps_nothing(self) -> bool {
        !self.checkpoint && !self.unsuccessful && self.completed_one_in == 0
    }

    /// Whether an execution that ended so is kept; `completed` counts the completed executions
    /// seen so far (for the 1 in N).
    pub(crate) fn keeps(self, completed_ok: bool, completed: &std::sync::atomic::AtomicU64) -> bool {
        if self.checkpoint {
            return true;
        }
        if !completed_ok {
            return self.unsuccessful;
        }
        match self.completed_one_in {
            0 => false,
            1 => true,
            n => completed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .is_multiple_of(u64::from(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn sampling_keeps_every_unsuccessful_and_one_in_n_completed() {
        let seen = AtomicU64::new(0);
        let keep = Keep::sampled(3);
        let kept = (0..9).filter(|_| keep.keeps(true, &seen)).count();
        assert_eq!(kept, 3);
        assert!(keep.keeps(false, &seen));
        assert!(!Keep::none().keeps(false, &seen));
        assert!(!Keep::none().keeps(true, &seen));
        assert!(Keep::all().keeps(true, &seen) && Keep::all().checkpoints());
        assert!(!Keep::sampled(0).keeps(true, &seen));
    }
}
