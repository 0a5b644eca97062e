//! The provider table: the providers as one immutable snapshot ([`Table`]), replaced whole
//! (copy-on-write) when a provider is added or removed, and the live state each provider
//! carries from one snapshot to the next.
//!
//! This is the layer under the call loop: it knows providers ([`crate::provider`]), their
//! counters and budgets ([`crate::track`]), their health ([`crate::health`]) and retry budgets
//! ([`crate::failover`]), and nothing of selection, decisions or the router itself, so that
//! [`crate::select`] and the decision record can read it while [`Router`](crate::Router)
//! builds and swaps it.
//!
//! | idea | file |
//! | --- | --- |
//! | the table, its groups and per-provider, per-operation state | `mod.rs` |
//! | the few numbers selection reads for every provider, packed | `hot.rs` |

mod hot;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aura_core::rate_limit::RateLimiter;

pub(crate) use self::hot::{HotArena, LIMIT_BUDGET, LIMIT_IN_FLIGHT, LIMIT_RATE};
use self::hot::{HotChunk, HotRef, HotSlot};
use crate::failover::RetryBudgetState;
use crate::health::{Health, ProbeState, Transition};
use crate::provider::{CostModel, Handler, Provider};
use crate::track::{BudgetState, OpStats};

/// Every provider, and for each (capability, operation) the providers that serve it. Read once
/// per call through an `ArcSwap`; never locked.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) providers: Vec<Arc<ProviderState>>,
    pub(crate) by_id: NameMap<usize>,
    pub(crate) routes: NameMap<NameMap<Group>>,
}

/// The providers of one (capability, operation).
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) capability: Arc<CapabilityState>,
    pub(crate) operation: Arc<str>,
    /// In registration order.
    pub(crate) members: Vec<Member>,
}

/// One provider of a group: where its hot state is, its index in `Table::providers`, and the
/// index of the operation in its `ops`.
#[derive(Debug)]
pub(crate) struct Member {
    hot: Arc<HotChunk>,
    slot: u32,
    pub(crate) provider: u32,
    pub(crate) op: u32,
}

impl Member {
    /// Its hot state, read without touching the provider's own memory.
    pub(crate) fn hot(&self) -> &HotSlot {
        self.hot.slot(self.slot)
    }
}

/// What the router keeps per capability: its budget and its retry budget.
#[derive(Debug)]
pub(crate) struct CapabilityState {
    pub(crate) name: Arc<str>,
    pub(crate) budget: Option<BudgetState>,
    pub(crate) retries: RetryBudgetState,
}

/// A provider and its live state. What selection reads for every provider on every call is
/// in its [`HotSlot`], packed with other providers' (see `hot.rs`).
#[derive(Debug)]
pub(crate) struct ProviderState {
    pub(crate) hot: HotRef,
    pub(crate) in_flight: AtomicU64,
    pub(crate) ops: Vec<OpState>,
    pub(crate) def: Provider,
    pub(crate) limiter: Option<RateLimiter>,
    pub(crate) budget: Option<BudgetState>,
    pub(crate) probes: ProbeState,
}

/// One operation of a provider and its live state.
#[derive(Debug)]
pub(crate) struct OpState {
    pub(crate) capability: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) handler: HandlerDebug,
    pub(crate) idempotent: bool,
    pub(crate) honours_key: bool,
    pub(crate) cost: CostModel,
    pub(crate) stats: OpStats,
    pub(crate) health: Health,
}

/// A [`Handler`] with a `Debug` that says nothing.
#[derive(Clone)]
pub(crate) struct HandlerDebug(pub(crate) Handler);

impl std::fmt::Debug for HandlerDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handler")
    }
}

impl OpState {
    /// Whether running this operation again (after an error that may have been accepted, at
    /// once on several providers, as a hedge) is safe: it is idempotent, or the request has an
    /// idempotency key it honours.
    pub(crate) fn repeatable(&self, has_key: bool) -> bool {
        self.idempotent || (has_key && self.honours_key)
    }
}

impl ProviderState {
    pub(crate) fn new(def: Provider, arena: &mut HotArena) -> Self {
        let ops = def
            .operations
            .iter()
            .map(|op| OpState {
                capability: op.capability.clone(),
                name: op.name.clone(),
                handler: HandlerDebug(op.handler.clone()),
                idempotent: op.idempotent,
                honours_key: op.honours_key,
                cost: op.cost.clone().unwrap_or_else(|| def.cost.clone()),
                stats: OpStats::default(),
                health: Health::default(),
            })
            .collect();
        let limits = if def.budget.is_some() { LIMIT_BUDGET } else { 0 }
            | if def.rate_limit.is_some() { LIMIT_RATE } else { 0 }
            | if def.max_in_flight.is_some() {
                LIMIT_IN_FLIGHT
            } else {
                0
            };
        Self {
            hot: arena.alloc(def.weight, limits),
            in_flight: AtomicU64::new(0),
            ops,
            limiter: def.rate_limit.map(RateLimiter::new),
            budget: def.budget.map(BudgetState::new),
            probes: ProbeState::default(),
            def,
        }
    }

    pub(crate) fn weight(&self) -> u32 {
        self.hot.weight()
    }

    /// Keeps [`HotSlot::unhealthy_ops`] in step with a health transition of one of its
    /// operations.
    pub(crate) fn count_transition(&self, transition: Option<Transition>) {
        match transition {
            Some(Transition::Ejected { from_healthy: true, .. }) => {
                self.hot.unhealthy_ops.fetch_add(1, Ordering::AcqRel);
            }
            Some(Transition::Recovered) => {
                self.hot.unhealthy_ops.fetch_sub(1, Ordering::AcqRel);
            }
            _ => {}
        }
    }
}

impl Table {
    /// A table of `providers`, with the capability states taken from `capabilities` (created
    /// there when new, so that they outlive this snapshot).
    pub(crate) fn build(
        providers: Vec<Arc<ProviderState>>,
        capabilities: &mut HashMap<Arc<str>, Arc<CapabilityState>>,
        new_capability: &dyn Fn(&Arc<str>) -> CapabilityState,
    ) -> Self {
        let mut by_id = NameMap::with_capacity_and_hasher(providers.len(), Default::default());
        let mut routes: NameMap<NameMap<Group>> = NameMap::default();
        for (p, provider) in providers.iter().enumerate() {
            by_id.insert(provider.def.id.shared(), p);
            for (o, op) in provider.ops.iter().enumerate() {
                let capability = capabilities
                    .entry(op.capability.clone())
                    .or_insert_with(|| Arc::new(new_capability(&op.capability)))
                    .clone();
                routes
                    .entry(op.capability.clone())
                    .or_default()
                    .entry(op.name.clone())
                    .or_insert_with(|| Group {
                        capability,
                        operation: op.name.clone(),
                        members: Vec::new(),
                    })
                    .members
                    .push({
                        let (hot, slot) = provider.hot.location();
                        Member {
                            hot,
                            slot,
                            provider: index(p),
                            op: index(o),
                        }
                    });
            }
        }
        Self {
            providers,
            by_id,
            routes,
        }
    }

    pub(crate) fn group(&self, capability: &str, operation: &str) -> Option<&Group> {
        self.routes.get(capability)?.get(operation)
    }

    pub(crate) fn provider(&self, id: &str) -> Option<&Arc<ProviderState>> {
        self.by_id.get(id).map(|&i| &self.providers[i])
    }
}

/// A map keyed by names the host registered (provider ids, capabilities, operations), hashed
/// with [`NameHasher`].
pub(crate) type NameMap<V> = HashMap<Arc<str>, V, BuildHasherDefault<NameHasher>>;

/// FxHash's mixing, for the route index: every call hashes a capability and an operation name,
/// and SipHash would cost more than the rest of a small lookup. The keys in the maps are the
/// host's own names, so hash flooding is not a concern.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NameHasher(u64);

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(word);
            self.add(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A table index as `u32` (a router with more than four billion providers is not a thing).
pub(crate) fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}
