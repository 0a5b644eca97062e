//! Providers: who can serve a capability's operations, at what weight, tier, cost and limits.
//!
//! The bottom layer of the crate's vocabulary: the definitions here (ids, operations, cost
//! models, limits) use no other module of the crate; the table, tracking, selection and the
//! router all build on them.
//!
//! | idea | here |
//! | --- | --- |
//! | a provider and its builder | [`Provider`], [`ProviderBuilder`], [`ProviderId`] |
//! | one operation it serves | [`Operation`] (an aura-core action or any async function) |
//! | what a call costs | [`CostModel`], [`Meter`], [`Cost`] |
//! | how fast it may be called | [`RateLimit`] (aura-core's one rate-limit type, re-exported) |
//! | how much it may spend per window | [`Budget`] (its running state is tracked in [`crate::track`]) |

mod budget;
mod cost;
mod operation;

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use aura_core::{Action, Context, Error, Result};
use serde::{Serialize, Serializer};

pub use self::budget::Budget;
pub use self::cost::{Cost, CostModel, Meter};
pub use self::operation::{BoxFuture, Handler, Operation};

/// How fast a provider may be called: aura-core's one [`RateLimit`], enforced before dispatch by
/// its [`RateLimiter`](aura_core::rate_limit::RateLimiter) (a provider without room is skipped,
/// and the decision record says so).
pub use aura_core::rate_limit::RateLimit;

/// A provider's id (`"openai"`, `"youtube-eu"`). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(Arc<str>);

impl ProviderId {
    /// An id.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Borrow<str> for ProviderId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ProviderId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for ProviderId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl Serialize for ProviderId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ProviderId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Self(<Arc<str>>::deserialize(d)?))
    }
}

/// An active health check: `Ok(())` when the provider is fine.
pub type Probe = Arc<dyn Fn(Context) -> BoxFuture<Result<()>> + Send + Sync>;

/// A provider: an id, the operations it serves and how the router should treat it.
///
/// Built with [`Provider::builder`] and added to a router with
/// [`Router::add`](crate::Router::add). The definition is immutable; its weight can be changed
/// at run time with [`Router::set_weight`](crate::Router::set_weight).
#[derive(Clone)]
pub struct Provider {
    pub(crate) id: ProviderId,
    pub(crate) weight: u32,
    pub(crate) priority: u32,
    pub(crate) cost: CostModel,
    pub(crate) tags: Vec<(Arc<str>, Arc<str>)>,
    pub(crate) max_in_flight: Option<usize>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) budget: Option<Budget>,
    pub(crate) probe: Option<Probe>,
    pub(crate) operations: Vec<Operation>,
}

impl Provider {
    /// Starts a provider with this id: weight 1, tier 0, free, no limits, no operations yet.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aura_router::{Budget, CostModel, Operation, Provider, RateLimit};
    /// use serde_json::{Value, json};
    ///
    /// let provider = Provider::builder("openai")
    ///     .weight(3)
    ///     .priority(0)
    ///     .cost(CostModel::per_call(0.0).per_unit("/usage/total_tokens", 2e-6))
    ///     .tag("region", "us")
    ///     .max_in_flight(64)
    ///     .rate_limit(RateLimit::per_second(50))
    ///     .budget(Budget::new(10.0, Duration::from_secs(3600)))
    ///     .operation(
    ///         Operation::new("chat", "complete", |_cx, _input: Value| async move {
    ///             Ok(json!({ "text": "hi", "usage": { "total_tokens": 12 } }))
    ///         })
    ///         .idempotent(true),
    ///     )
    ///     .build()?;
    /// assert_eq!(provider.id().as_str(), "openai");
    /// # Ok::<(), aura_core::Error>(())
    /// ```
    pub fn builder(id: impl Into<Arc<str>>) -> ProviderBuilder {
        ProviderBuilder {
            provider: Provider {
                id: ProviderId::new(id),
                weight: 1,
                priority: 0,
                cost: CostModel::free(),
                tags: Vec::new(),
                max_in_flight: None,
                rate_limit: None,
                budget: None,
                probe: None,
                operations: Vec::new(),
            },
        }
    }

    /// Its id.
    pub fn id(&self) -> &ProviderId {
        &self.id
    }

    /// Its static weight (0: registered, receives no traffic).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Its priority tier (0 first).
    pub fn priority(&self) -> u32 {
        self.priority
    }

    /// Its tags.
    pub fn tags(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tags.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The operations it serves.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The value of one tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("weight", &self.weight)
            .field("priority", &self.priority)
            .field("cost", &self.cost)
            .field("tags", &self.tags)
            .field("max_in_flight", &self.max_in_flight)
            .field("rate_limit", &self.rate_limit)
            .field("budget", &self.budget)
            .field("probe", &self.probe.is_some())
            .field("operations", &self.operations)
            .finish()
    }
}

/// Builds a [`Provider`]; see [`Provider::builder`].
#[derive(Debug)]
#[must_use]
pub struct ProviderBuilder {
    provider: Provider,
}

impl ProviderBuilder {
    /// The static weight: its share of traffic under weighted strategies (default 1). Weight 0
    /// keeps the provider registered but sends it no traffic.
    pub fn weight(mut self, weight: u32) -> Self {
        self.provider.weight = weight;
        self
    }

    /// The priority tier, 0 first (default 0). [`Priority`](crate::select::Priority) tries
    /// lower tiers first.
    pub fn priority(mut self, tier: u32) -> Self {
        self.provider.priority = tier;
        self
    }

    /// The cost model of every operation that has none of its own (default: free).
    pub fn cost(mut self, cost: CostModel) -> Self {
        self.provider.cost = cost;
        self
    }

    /// Adds a tag (`region = eu`); requests can require tags.
    pub fn tag(mut self, key: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        let key = key.into();
        self.provider.tags.retain(|(k, _)| *k != key);
        self.provider.tags.push((key, value.into()));
        self
    }

    /// At most this many calls in flight at once, over all operations.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.provider.max_in_flight = Some(max);
        self
    }

    /// A rate limit over all operations.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.provider.rate_limit = Some(limit);
        self
    }

    /// A spending budget over a time window: once spent, the provider gets no traffic until
    /// the window restarts.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.provider.budget = Some(budget);
        self
    }

    /// An active health check, run by [`Router::check_health`](crate::Router::check_health)
    /// and the task [`Router::spawn_health_checks`](crate::Router::spawn_health_checks) starts.
    pub fn probe<F, Fut>(mut self, probe: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.provider.probe = Some(Arc::new(move |cx| Box::pin(probe(cx)) as BoxFuture<Result<()>>));
        self
    }

    /// Adds an operation it serves.
    pub fn operation(mut self, operation: Operation) -> Self {
        self.provider.operations.push(operation);
        self
    }

    /// Adds an operation served by a compiled aura-core action (see
    /// [`Operation::from_action`]).
    pub fn action(self, capability: impl Into<Arc<str>>, operation: impl Into<Arc<str>>, action: Action) -> Self {
        self.operation(Operation::from_action(capability, operation, action))
    }

    /// Checks the definition: a non-empty id, at least one operation, non-empty names, no
    /// operation twice.
    pub fn build(self) -> Result<Provider> {
        let p = self.provider;
        let fail = |msg: String| Err(Error::invalid_definition(msg).with_context("provider", p.id.to_string()));
        if p.id.as_str().is_empty() {
            return fail("a provider id cannot be empty".into());
        }
        if p.operations.is_empty() {
            return fail("a provider must serve at least one operation".into());
        }
        for (i, op) in p.operations.iter().enumerate() {
            if op.capability.is_empty() || op.name.is_empty() {
                return fail("capability and operation names cannot be empty".into());
            }
            if p.operations[..i]
                .iter()
                .any(|o| o.capability == op.capability && o.name == op.name)
            {
                return fail(format!("operation {}.{} is declared twice", op.capability, op.name));
            }
        }
        Ok(p)
    }
}
