//! [`HotSlot`]: the few numbers selection reads for every provider on every call, packed side
//! by side in shared chunks, so that filtering a thousand providers reads 24 KiB of
//! contiguous memory instead of a scattered cache line per provider.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

/// Slots per chunk (one bit each in [`HotChunk::used`]).
const CHUNK: usize = 64;

/// A provider's hot state. Lives as long as the provider's state does, whichever tables
/// still hold it.
#[derive(Debug, Default)]
pub(crate) struct HotSlot {
    pub(crate) weight: AtomicU32,
    /// How many of its operations are not healthy (ejected or probing); 0: no need to look.
    pub(crate) unhealthy_ops: AtomicU32,
    /// Rate-limited until (router clock, nanoseconds).
    pub(crate) cooldown_until: AtomicU64,
    /// Which limits it has ([`LIMIT_BUDGET`] …), so that providers without any skip them.
    pub(crate) limits: AtomicU8,
}

/// It has a budget.
pub(crate) const LIMIT_BUDGET: u8 = 1;
/// It has a rate limit.
pub(crate) const LIMIT_RATE: u8 = 2;
/// It has a maximum of calls in flight.
pub(crate) const LIMIT_IN_FLIGHT: u8 = 4;

impl HotSlot {
    pub(crate) fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    pub(crate) fn limits(&self) -> u8 {
        self.limits.load(Ordering::Relaxed)
    }

    pub(crate) fn cooldown_until(&self) -> u64 {
        self.cooldown_until.load(Ordering::Relaxed)
    }

    pub(crate) fn unhealthy_ops(&self) -> u32 {
        self.unhealthy_ops.load(Ordering::Acquire)
    }
}

/// Slots for [`CHUNK`] providers.
pub(crate) struct HotChunk {
    slots: [HotSlot; CHUNK],
    used: AtomicU64,
}

impl HotChunk {
    pub(crate) fn slot(&self, i: u32) -> &HotSlot {
        &self.slots[i as usize % CHUNK]
    }
}

impl fmt::Debug for HotChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HotChunk({} used)", self.used.load(Ordering::Relaxed).count_ones())
    }
}

/// A provider's claim on its slot; gives the slot back when dropped.
#[derive(Debug)]
pub(crate) struct HotRef {
    chunk: Arc<HotChunk>,
    slot: u32,
}

impl HotRef {
    /// Where the slot is, for a table's groups to read it without going through the provider.
    pub(crate) fn location(&self) -> (Arc<HotChunk>, u32) {
        (self.chunk.clone(), self.slot)
    }
}

impl Deref for HotRef {
    type Target = HotSlot;

    fn deref(&self) -> &HotSlot {
        self.chunk.slot(self.slot)
    }
}

impl Drop for HotRef {
    fn drop(&mut self) {
        self.chunk.used.fetch_and(!(1u64 << self.slot), Ordering::AcqRel);
    }
}

/// Hands out slots, packing providers registered together side by side. Used under the
/// router's writer lock.
#[derive(Debug, Default)]
pub(crate) struct HotArena {
    chunks: Vec<Arc<HotChunk>>,
}

impl HotArena {
    /// A fresh slot set to `weight` and `limits`.
    pub(crate) fn alloc(&mut self, weight: u32, limits: u8) -> HotRef {
        let claimed = self.chunks.iter().find_map(|chunk| {
            let mut used = chunk.used.load(Ordering::Acquire);
            while used != u64::MAX {
                let slot = used.trailing_ones();
                match chunk
                    .used
                    .compare_exchange(used, used | (1u64 << slot), Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return Some((chunk.clone(), slot)),
                    Err(now) => used = now,
                }
            }
            None
        });
        let (chunk, slot) = claimed.unwrap_or_else(|| {
            let chunk = Arc::new(HotChunk {
                slots: std::array::from_fn(|_| HotSlot::default()),
                used: AtomicU64::new(1),
            });
            self.chunks.push(chunk.clone());
            (chunk, 0)
        });
        let hot = HotRef { chunk, slot };
        hot.weight.store(weight, Ordering::Relaxed);
        hot.unhealthy_ops.store(0, Ordering::Relaxed);
        hot.cooldown_until.store(0, Ordering::Relaxed);
        hot.limits.store(limits, Ordering::Relaxed);
        hot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_packed_and_reused() {
        let mut arena = HotArena::default();
        let refs: Vec<HotRef> = (0..70).map(|i| arena.alloc(i, 0)).collect();
        assert_eq!(arena.chunks.len(), 2);
        assert_eq!(refs[3].weight(), 3);
        assert_eq!((refs[63].slot, refs[64].slot), (63, 0));
        drop(refs);
        let again = arena.alloc(9, LIMIT_RATE);
        assert_eq!((again.slot, again.weight(), again.limits()), (0, 9, LIMIT_RATE));
        assert_eq!(arena.chunks.len(), 2);
    }
}
