//! [`Operation`]: one capability + operation a provider serves, and the function that does it.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use aura_core::{Action, Context, Result};
use serde_json::Value;

use super::CostModel;

/// A boxed, sendable future, as operation and probe functions return them.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The function behind an operation: a context and an input to a JSON result.
pub type Handler = Arc<dyn Fn(Context, Value) -> BoxFuture<Result<Value>> + Send + Sync>;

/// One (capability, operation) pair a provider serves, with the function that serves it,
/// whether it is safe to run twice, and optionally its own cost model.
///
/// Backed by an aura-core [`Action`] ([`from_action`](Self::from_action), which also takes the
/// action's idempotency) or by any async function ([`new`](Self::new)):
///
/// ```
/// use aura_router::Operation;
/// use serde_json::{Value, json};
///
/// let op = Operation::new("chat", "complete", |_cx, input: Value| async move {
///     Ok(json!({ "text": format!("echo: {}", input["prompt"]) }))
/// })
/// .idempotent(true);
/// assert_eq!(op.capability(), "chat");
/// assert_eq!(op.name(), "complete");
/// ```
#[derive(Clone)]
pub struct Operation {
    pub(crate) capability: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) handler: Handler,
    pub(crate) idempotent: bool,
    pub(crate) honours_key: bool,
    pub(crate) cost: Option<CostModel>,
}

impl Operation {
    /// An operation served by an async function `(Context, Value) -> Result<Value>`. Not
    /// idempotent unless declared so with [`idempotent`](Self::idempotent).
    pub fn new<F, Fut>(capability: impl Into<Arc<str>>, operation: impl Into<Arc<str>>, handler: F) -> Self
    where
        F: Fn(Context, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value>> + Send + 'static,
    {
        Self::from_handler(
            capability,
            operation,
            Arc::new(move |cx, input| Box::pin(handler(cx, input)) as BoxFuture<Result<Value>>),
        )
    }

    /// An operation served by an already boxed [`Handler`].
    pub fn from_handler(capability: impl Into<Arc<str>>, operation: impl Into<Arc<str>>, handler: Handler) -> Self {
        Self {
            capability: capability.into(),
            name: operation.into(),
            handler,
            idempotent: false,
            honours_key: false,
            cost: None,
        }
    }

    /// An operation served by a compiled aura-core action: its input is validated against the
    /// action's schema on every call, and it is idempotent when the action says it is.
    pub fn from_action(capability: impl Into<Arc<str>>, operation: impl Into<Arc<str>>, action: Action) -> Self {
        let idempotent = action.is_idempotent();
        let handler: Handler = Arc::new(move |cx, input| {
            let action = action.clone();
            Box::pin(async move { action.call(cx, input).await })
        });
        Self::from_handler(capability, operation, handler).idempotent(idempotent)
    }

    /// Declares whether running the operation twice has the effect of running it once. Only
    /// idempotent operations (or requests with an idempotency key the operation
    /// [honours](Self::honours_idempotency_key)) are tried again after an error that
    /// [may have been accepted](aura_core::Error::may_have_been_accepted), run in parallel or
    /// hedged.
    #[must_use]
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Declares whether the service deduplicates calls by the request's idempotency key (it
    /// reads it from the [`Context`] and sends it on, like Stripe's `Idempotency-Key`), so that
    /// a call with a key may be repeated safely — including on another provider of the same
    /// capability, which must then share that deduplication (the same service behind several
    /// regions or accounts). Default: no — a key alone proves nothing (the engine gives every
    /// node call one), so a non-idempotent operation that does not honour it is never repeated
    /// after an error that may have been accepted.
    #[must_use]
    pub fn honours_idempotency_key(mut self, honours: bool) -> Self {
        self.honours_key = honours;
        self
    }

    /// A cost model for this operation, instead of the provider's.
    #[must_use]
    pub fn cost(mut self, cost: CostModel) -> Self {
        self.cost = Some(cost);
        self
    }

    /// The capability (`"chat"`).
    pub fn capability(&self) -> &str {
        &self.capability
    }

    /// The operation within the capability (`"complete"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is declared idempotent.
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }

    /// Whether it is declared to deduplicate calls by idempotency key.
    pub fn honours_key(&self) -> bool {
        self.honours_key
    }
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation")
            .field("capability", &self.capability)
            .field("name", &self.name)
            .field("idempotent", &self.idempotent)
            .field("honours_key", &self.honours_key)
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}
